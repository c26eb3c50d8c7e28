output "id" {
  description = "Bucket name."
  value       = aws_s3_bucket.media.id
}

output "arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.media.arn
}

output "regional_domain_name" {
  description = "Regional domain name, CloudFront's origin."
  value       = aws_s3_bucket.media.bucket_regional_domain_name
}

output "versioning_status" {
  description = "Versioning state (Enabled)."
  value       = aws_s3_bucket_versioning.media.versioning_configuration[0].status
}
