variable "name" {
  description = "Replication group id and name prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets."
  type        = list(string)
}

variable "client_security_groups" {
  description = "Security groups allowed to connect on 6379 (the serve tasks), keyed by a fixed name (e.g. serve, worker) so the plan knows the rules before the groups exist."
  type        = map(string)
}

variable "node_type" {
  description = "Cache node type."
  type        = string
  default     = "cache.t4g.micro"
}

variable "replicas" {
  description = "Read replicas besides the primary (at least 1: failover to another availability zone is always on)."
  type        = number
  default     = 1
  validation {
    condition     = var.replicas >= 1
    error_message = "replicas must be at least 1 (automatic failover needs a replica)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
