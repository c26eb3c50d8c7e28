variable "region" {
  description = "AWS region of everything except CloudFront's certificate (which is in us-east-1)."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of this deployment (e.g. lectern-prod); prefixes every resource. Lowercase letters, digits and hyphens."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,27}$", var.name))
    error_message = "name must be 3-28 lowercase letters, digits or hyphens, starting with a letter (it prefixes bucket, load balancer and database names)."
  }
}

variable "media_bucket_name" {
  description = "Name of the media bucket (globally unique). Null: \"<name>-media-<account id>\"."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "Existing VPC to deploy into."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the VPC (the load balancer), in two availability zones at least."
  type        = list(string)
  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids needs two subnets at least (an ALB spans two availability zones)."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets with outbound access (NAT gateway or VPC endpoints): the tasks, the database and Redis."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs two subnets at least (RDS and ElastiCache subnet groups span two availability zones)."
  }
}

variable "api_domain_name" {
  description = "Domain name clients reach the API at (LECTERN_PUBLIC_URL is https://<this>); point it at the load_balancer_dns_name output."
  type        = string
}

variable "api_certificate_arn" {
  description = "ACM certificate (in var.region) for api_domain_name."
  type        = string
}

variable "image_tag" {
  description = "Tag of the lectern image in the ECR repository this module creates (push it before the services can start)."
  type        = string
}

variable "cdn_public_key_pem" {
  description = "The CDN public key printed by `lectern keys generate` (PEM). Public; its private half goes into the cdn-signing-key secret."
  type        = string
}

variable "cdn_aliases" {
  description = "Custom domain names of the CloudFront distribution (needs cdn_certificate_arn); empty for the cloudfront.net name."
  type        = list(string)
  default     = []
}

variable "cdn_certificate_arn" {
  description = "ACM certificate in us-east-1 for cdn_aliases, or null."
  type        = string
  default     = null
}

variable "cors_origins" {
  description = "Browser origins of the sites that upload and play (LECTERN_CORS_ORIGINS, the bucket's and the CDN's CORS). Empty: none for the API and the bucket, any for the CDN."
  type        = list(string)
  default     = []
}

variable "transcoder" {
  description = "Where the ladder is encoded: \"local\" (in the worker tasks) or \"mediaconvert\"."
  type        = string
  default     = "local"
  validation {
    condition     = contains(["local", "mediaconvert"], var.transcoder)
    error_message = "transcoder must be \"local\" or \"mediaconvert\"."
  }
}

variable "serve" {
  description = "Size of the API service: task CPU units and memory (MiB), task count bounds, CPU target for autoscaling."
  type = object({
    cpu                = number
    memory             = number
    min_count          = number
    max_count          = number
    cpu_target_percent = number
  })
  default = {
    cpu                = 512
    memory             = 1024
    min_count          = 2
    max_count          = 6
    cpu_target_percent = 60
  }
}

variable "worker" {
  description = "Size of the worker service: task CPU units and memory (MiB), scratch disk (GiB), task count bounds, queued transcodes that add a task, and jobs run at once per task (LECTERN_WORKERS)."
  type = object({
    cpu              = number
    memory           = number
    disk_gb          = number
    min_count        = number
    max_count        = number
    scale_out_above  = number
    workers_per_task = number
  })
  default = {
    cpu              = 4096
    memory           = 8192
    disk_gb          = 100
    min_count        = 1
    max_count        = 8
    scale_out_above  = 2
    workers_per_task = 2
  }
}

variable "database" {
  description = "RDS PostgreSQL: instance class, standby in a second zone, backup days, deletion protection."
  type = object({
    instance_class        = string
    multi_az              = bool
    backup_retention_days = number
    deletion_protection   = bool
  })
  default = {
    instance_class        = "db.t4g.medium"
    multi_az              = true
    backup_retention_days = 14
    deletion_protection   = true
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type for the shared rate-limit counters."
  type        = string
  default     = "cache.t4g.micro"
}

variable "provider_secret_names" {
  description = "Settings holding provider secrets (e.g. LECTERN_OAUTH_GOOGLE_CLIENT_SECRET): a Secrets Manager secret is made for each and passed to both services. Their values are put with the AWS CLI, never here."
  type        = set(string)
  default     = []
}

variable "settings" {
  description = "Further plain LECTERN_* settings for both services (see the README's Configuration). Secrets do not belong here."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for key in keys(var.settings) : !can(regex("(SECRET|PASSWORD|DATABASE_URL)", key))])
    error_message = "settings must not hold secrets (a name with SECRET, PASSWORD or DATABASE_URL): list it in provider_secret_names and put its value in Secrets Manager."
  }
}

variable "alarm_emails" {
  description = "Addresses that receive CloudWatch alarms."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the services' logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource besides Application and Environment."
  type        = map(string)
  default     = {}
}
