output "distribution_id" {
  description = "Distribution id: LECTERN_CLOUDFRONT_DISTRIBUTION_ID."
  value       = aws_cloudfront_distribution.media.id
}

output "distribution_arn" {
  description = "Distribution ARN (the services' invalidation permission is scoped to it)."
  value       = aws_cloudfront_distribution.media.arn
}

output "base_url" {
  description = "LECTERN_CDN_BASE_URL."
  value       = "https://${length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.media.domain_name}"
}

output "key_pair_id" {
  description = "Id CloudFront gave the public key: LECTERN_CDN_KEY_PAIR_ID."
  value       = aws_cloudfront_public_key.lectern.id
}
