output "dns_name" {
  description = "The load balancer's DNS name (point the API's domain name at it)."
  value       = aws_lb.lectern.dns_name
}

output "security_group_id" {
  description = "Security group of the load balancer (the serve tasks admit it)."
  value       = aws_security_group.alb.id
}

output "target_group_arn" {
  description = "Target group of the serve tasks."
  value       = aws_lb_target_group.serve.arn
}

output "arn_suffix" {
  description = "Load balancer ARN suffix (CloudWatch dimension)."
  value       = aws_lb.lectern.arn_suffix
}

output "target_group_arn_suffix" {
  description = "Target group ARN suffix (CloudWatch dimension)."
  value       = aws_lb_target_group.serve.arn_suffix
}
