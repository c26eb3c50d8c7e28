output "queue_arn" {
  description = "Queue ARN: LECTERN_MEDIACONVERT_QUEUE."
  value       = aws_media_convert_queue.lectern.arn
}

output "role_arn" {
  description = "Job role ARN: LECTERN_MEDIACONVERT_ROLE_ARN."
  value       = aws_iam_role.jobs.arn
}
