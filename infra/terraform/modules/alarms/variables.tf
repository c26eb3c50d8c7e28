variable "name" {
  description = "Name prefix of the alarms and the topic."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by email)."
  type        = list(string)
  default     = []
}

variable "alb_arn_suffix" {
  description = "Load balancer ARN suffix."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "Serve target group ARN suffix."
  type        = string
}

variable "db_identifier" {
  description = "RDS instance identifier."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of Lectern's scraped metrics."
  type        = string
  default     = "Lectern"
}

variable "queue_age_kinds" {
  description = "Job kinds whose oldest due job is watched."
  type        = list(string)
  default     = ["media.transcode", "media.probe", "media.import"]
}

variable "queue_age_threshold_seconds" {
  description = "Alarm when the oldest due job of a watched kind has waited longer than this."
  type        = number
  default     = 900
}

variable "http_5xx_threshold" {
  description = "Alarm when the serve tasks answer more 5xx than this in five minutes."
  type        = number
  default     = 10
}

variable "db_free_storage_threshold_bytes" {
  description = "Alarm when the database has less free storage than this."
  type        = number
  default     = 5368709120
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
