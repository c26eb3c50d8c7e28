# Applied for real against moto's server (scripts/test-infra.sh starts it and passes
# moto_endpoint), read back through data sources, then destroyed.

variables {
  name = "lectern-moto"
}

run "the_modules_apply_against_moto_and_read_back" {
  command = apply

  assert {
    condition     = endswith(output.queue_url, "/lectern-moto-job-wakeups") && data.aws_sqs_queue.wakeups.url == output.queue_url
    error_message = "the wake-up queue exists at the URL the module gives"
  }
  assert {
    condition     = module.media_bucket.versioning_status == "Enabled"
    error_message = "the media bucket is versioned"
  }
  assert {
    condition     = length(output.secret_arns) == 6 && alltrue([for arn in values(output.secret_arns) : startswith(arn, "arn:aws:secretsmanager:us-east-1:")])
    error_message = "one Secrets Manager entry per key and provider secret"
  }
  assert {
    condition     = data.aws_secretsmanager_secret.database_url.kms_key_id != "" && data.aws_secretsmanager_secret.database_url.kms_key_id != null
    error_message = "secrets are encrypted with the module's KMS key"
  }
  assert {
    condition     = jsondecode(data.aws_iam_role.worker.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com"
    error_message = "only ECS tasks may assume the worker role"
  }
  assert {
    condition     = data.aws_ecr_repository.lectern.image_tag_mutability == "IMMUTABLE"
    error_message = "image tags are immutable"
  }
}
