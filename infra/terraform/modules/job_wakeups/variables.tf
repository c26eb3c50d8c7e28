variable "name" {
  description = "Prefix of the queue's name (the queue is <name>-job-wakeups)."
  type        = string
}

variable "message_retention_seconds" {
  description = "How long an unreceived wake-up stays in the queue (60 s to 14 days)."
  type        = number
  default     = 3600
  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "SQS keeps messages between 60 seconds and 14 days."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
