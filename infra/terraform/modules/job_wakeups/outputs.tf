output "queue_url" {
  description = "The queue's URL, for LECTERN_SQS_QUEUE_URL."
  value       = aws_sqs_queue.wakeups.id
}

output "queue_arn" {
  description = "The queue's ARN."
  value       = aws_sqs_queue.wakeups.arn
}

output "queue_name" {
  description = "The queue's name: the QueueName dimension of its CloudWatch metrics."
  value       = aws_sqs_queue.wakeups.name
}

output "worker_statements" {
  description = "IAM statements for a worker task role: forward queued jobs, receive and delete wake-ups, on this queue only."
  value = [{
    Sid      = "JobWakeups"
    Effect   = "Allow"
    Action   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"]
    Resource = [aws_sqs_queue.wakeups.arn]
  }]
}
