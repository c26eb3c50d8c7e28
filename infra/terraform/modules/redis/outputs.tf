output "url" {
  description = "REDIS_URL."
  value       = "redis://${aws_elasticache_replication_group.lectern.primary_endpoint_address}:6379"
}
