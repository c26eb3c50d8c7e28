output "security_group_id" {
  description = "Security group of the tasks (the database and Redis admit it)."
  value       = aws_security_group.task.id
}

output "task_role_arn" {
  description = "Task role ARN."
  value       = aws_iam_role.task.arn
}

output "task_definition_arn" {
  description = "Current task definition."
  value       = aws_ecs_task_definition.service.arn
}

output "container_definitions" {
  description = "Container definitions (JSON), for inspection and tests."
  value       = aws_ecs_task_definition.service.container_definitions
}

output "log_group_name" {
  description = "CloudWatch log group of the service."
  value       = aws_cloudwatch_log_group.service.name
}

output "task_policy" {
  description = "The task role's policy (JSON), for inspection and tests."
  value       = aws_iam_role_policy.task.policy
}
