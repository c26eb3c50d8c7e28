variable "name" {
  description = "Name prefix of the queue and role."
  type        = string
}

variable "bucket_arn" {
  description = "Media bucket ARN: jobs read sources under assets/*/source/ and uploads/, and write packages under assets/."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
