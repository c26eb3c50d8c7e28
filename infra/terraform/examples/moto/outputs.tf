output "bucket" {
  description = "The media bucket's name."
  value       = module.media_bucket.id
}

output "queue_url" {
  description = "The wake-up queue's URL."
  value       = module.job_wakeups.queue_url
}

output "secret_arns" {
  description = "The Secrets Manager entries, by the setting they feed."
  value       = module.secrets.arns
}

output "worker_role" {
  description = "The worker task role's name."
  value       = aws_iam_role.worker.name
}
