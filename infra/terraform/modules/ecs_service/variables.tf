variable "name" {
  description = "Service name (also the task family, log group and role name prefix)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name (autoscaling resource id)."
  type        = string
}

variable "image" {
  description = "Container image (REGISTRY/NAME:TAG) of lectern."
  type        = string
}

variable "command" {
  description = "Arguments to the lectern entrypoint: [\"serve\"] or [\"worker\"]."
  type        = list(string)
}

variable "cpu" {
  description = "Task CPU units (1024 = one vCPU)."
  type        = number
}

variable "memory" {
  description = "Task memory in MiB."
  type        = number
}

variable "ephemeral_storage_gb" {
  description = "Task scratch disk (21-200 GiB); a worker needs room for a source and its encoded package."
  type        = number
  default     = 21
}

variable "desired_count" {
  description = "Tasks started at creation; autoscaling moves it between min_count and max_count afterwards."
  type        = number
}

variable "min_count" {
  description = "Fewest tasks autoscaling leaves."
  type        = number
}

variable "max_count" {
  description = "Most tasks autoscaling starts."
  type        = number
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks (with a NAT gateway or VPC endpoints for S3, ECR, Secrets Manager, CloudWatch)."
  type        = list(string)
}

variable "environment" {
  description = "Plain settings (LECTERN_* variables). Never secrets: those go in secret_environment or secret_files."
  type        = map(string)
  default     = {}
}

variable "secret_environment" {
  description = "Environment variable -> Secrets Manager secret ARN, injected by ECS at start (DATABASE_URL, provider secrets)."
  type        = map(string)
  default     = {}
}

variable "secret_files" {
  description = "Settings Lectern reads from files (LECTERN_CDN_KEY_FILE, ...) -> Secrets Manager secret ARN. An init container writes each secret to a file (mode 0600, owned by the lectern user) on a task-local volume, and the variable names that file."
  type        = map(string)
  default     = {}
}

variable "secret_kms_key_arn" {
  description = "KMS key the secrets are encrypted with."
  type        = string
}

variable "task_policy_json" {
  description = "IAM policy (JSON) of the task role: what Lectern itself may do in AWS."
  type        = string
}

variable "container_port" {
  description = "Port Lectern listens on (LECTERN_LISTEN), for serve; null for worker."
  type        = number
  default     = null
}

variable "load_balancer" {
  description = "Target group and the ALB's security group, for serve; null for worker."
  type = object({
    target_group_arn  = string
    security_group_id = string
  })
  default = null
}

variable "metrics_sidecar" {
  description = "Run the CloudWatch agent next to lectern, scraping its /metrics and publishing lectern_queue_depth{kind} to CloudWatch (namespace metrics_namespace) for the worker's autoscaling. Needs container_port."
  type        = bool
  default     = false
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the scraped metrics."
  type        = string
  default     = "Lectern"
}

variable "cloudwatch_agent_image" {
  description = "CloudWatch agent image for the metrics sidecar."
  type        = string
  default     = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300049.1b929"
}

variable "cpu_target_percent" {
  description = "Target-tracking scaling on average CPU; null for none."
  type        = number
  default     = null
}

variable "queue_scaling" {
  description = "Step scaling on a queue-depth metric (the worker): one more task while the deepest reading of metric_name{kind} stays above scale_out_above for two minutes, one fewer after fifteen minutes at zero. Null for none."
  type = object({
    namespace       = string
    metric_name     = string
    kind            = string
    scale_out_above = number
  })
  default = null
}

variable "stop_timeout_seconds" {
  description = "Seconds between SIGTERM and SIGKILL (Fargate allows 120); lectern drains within LECTERN_SHUTDOWN_TIMEOUT."
  type        = number
  default     = 60
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the service's logs (and the metrics sidecar's)."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the log group, or null for CloudWatch's own encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
