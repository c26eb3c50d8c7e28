variable "name" {
  description = "Name of the load balancer and its target group."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets (two availability zones at least)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the API's domain name (HTTPS listener)."
  type        = string
}

variable "allowed_cidr_blocks" {
  description = "Addresses allowed to reach the API."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "container_port" {
  description = "Port Lectern listens on in its task (LECTERN_LISTEN)."
  type        = number
  default     = 8080
}

variable "idle_timeout_seconds" {
  description = "ALB idle timeout; uploads stream large bodies, so it is longer than the default 60 s."
  type        = number
  default     = 300
}

variable "access_logs_bucket" {
  description = "S3 bucket for ALB access logs, or null for none."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
