# The optional SQS wake-up channel of Lectern's job queue (LECTERN_SQS_QUEUE_URL). PostgreSQL
# stays the queue: a message's body is a job id, and a worker woken by one still claims the job
# from the database. Workers take messages only while one of their job slots is idle, so
# ApproximateNumberOfMessagesVisible is the work waiting for capacity, a native CloudWatch
# metric the worker service can scale on.

resource "aws_sqs_queue" "wakeups" {
  name = "${var.name}-job-wakeups"
  # A wake-up is worth nothing after a poll interval or two; old ones only inflate the depth.
  message_retention_seconds = var.message_retention_seconds
  # A received message is deleted at once; one a worker died holding comes back after this and
  # wakes someone else, which costs nothing.
  visibility_timeout_seconds = 30
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  tags                       = var.tags
}

# Only the task roles given may use the queue, and only over TLS.
resource "aws_sqs_queue_policy" "wakeups" {
  queue_url = aws_sqs_queue.wakeups.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyPlainHttp"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = aws_sqs_queue.wakeups.arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}
