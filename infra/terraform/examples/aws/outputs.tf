output "load_balancer_dns_name" {
  description = "Point api_domain_name (CNAME or alias) here."
  value       = module.alb.dns_name
}

output "ecr_repository_url" {
  description = "Push the lectern image here, tagged image_tag."
  value       = module.ecr.repository_url
}

output "media_bucket" {
  description = "The media bucket."
  value       = module.media_bucket.id
}

output "cdn_base_url" {
  description = "LECTERN_CDN_BASE_URL (already set on the services)."
  value       = module.cdn.base_url
}

output "cdn_key_pair_id" {
  description = "LECTERN_CDN_KEY_PAIR_ID (already set on the services)."
  value       = module.cdn.key_pair_id
}

output "database_address" {
  description = "RDS host name, for DATABASE_URL."
  value       = module.database.address
}

output "database_master_secret_arn" {
  description = "Secret holding the RDS master user's password (managed by RDS), for DATABASE_URL."
  value       = module.database.master_user_secret_arn
}

output "secret_arns" {
  description = "Secrets to fill before the services start, keyed by the setting they feed."
  value       = module.secrets.arns
}

output "ecs_cluster" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.lectern.name
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.alarms.topic_arn
}

output "serve_task_policy" {
  description = "What the serve tasks may do in AWS (IAM policy JSON)."
  value       = module.serve.task_policy
}

output "worker_task_policy" {
  description = "What the worker tasks may do in AWS (IAM policy JSON)."
  value       = module.worker.task_policy
}

output "serve_container_definitions" {
  description = "The serve task's container definitions (JSON)."
  value       = module.serve.container_definitions
}

output "worker_container_definitions" {
  description = "The worker task's container definitions (JSON)."
  value       = module.worker.container_definitions
}

output "job_wakeups_queue" {
  description = "The SQS wake-up queue (LECTERN_SQS_QUEUE_URL of the workers) and the name its CloudWatch metrics carry."
  value       = { url = module.job_wakeups.queue_url, name = module.job_wakeups.queue_name }
}
