output "repository_url" {
  description = "Where to push the image (REGISTRY/NAME)."
  value       = aws_ecr_repository.lectern.repository_url
}

output "arn" {
  description = "Repository ARN."
  value       = aws_ecr_repository.lectern.arn
}
