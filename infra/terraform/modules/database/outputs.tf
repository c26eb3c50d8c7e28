output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.lectern.address
}

output "port" {
  description = "Port (5432)."
  value       = aws_db_instance.lectern.port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret (JSON with username and password) that RDS manages; DATABASE_URL is built from it."
  value       = aws_db_instance.lectern.master_user_secret[0].secret_arn
}

output "identifier" {
  description = "Instance identifier (for CloudWatch alarms)."
  value       = aws_db_instance.lectern.identifier
}
