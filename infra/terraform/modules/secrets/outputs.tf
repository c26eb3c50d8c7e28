output "arns" {
  description = "Secret ARNs keyed by the environment variable the services read them from."
  value       = { for env, secret in aws_secretsmanager_secret.this : env => secret.arn }
}

output "kms_key_arn" {
  description = "KMS key encrypting the secrets; the task execution role may decrypt with it."
  value       = aws_kms_key.secrets.arn
}
