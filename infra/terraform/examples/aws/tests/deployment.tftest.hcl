# The whole example deployment, planned and applied against a mocked AWS provider: each
# service's task role allows only what that service does, and no secret travels as a plain
# setting.

mock_provider "aws" {
  source = "./tests"
}

variables {
  name                  = "lectern-test"
  vpc_id                = "vpc-0123456789abcdef0"
  public_subnet_ids     = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  private_subnet_ids    = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  api_domain_name       = "lectern.example"
  api_certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  image_tag             = "1.0.0"
  cdn_public_key_pem    = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n"
  transcoder            = "mediaconvert"
  provider_secret_names = ["LECTERN_OAUTH_GOOGLE_CLIENT_SECRET"]
}

run "the_worker_reaches_only_its_bucket_prefixes_and_mediaconvert" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.worker_task_policy).Statement : [
        for resource in flatten([statement.Resource]) :
        contains(["arn:aws:s3:::lectern-test-media/uploads/*", "arn:aws:s3:::lectern-test-media/assets/*"], resource) ||
        (resource == "arn:aws:s3:::lectern-test-media" && try(statement.Condition.StringLike["s3:prefix"], null) != null) ||
        resource == "arn:aws:mediaconvert:eu-west-1:123456789012:queues/lectern-test-transcode" ||
        resource == "arn:aws:mediaconvert:eu-west-1:123456789012:jobs/*" ||
        resource == "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE" ||
        (resource == "arn:aws:iam::123456789012:role/lectern-test-role" && flatten([statement.Action]) == ["iam:PassRole"]) ||
        (resource == "arn:aws:sqs:eu-west-1:123456789012:lectern-test-job-wakeups" && alltrue([for a in flatten([statement.Action]) : contains(["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"], a)]))
      ]
    ]))
    error_message = "the worker's task role may touch only uploads/ and assets/ in its bucket, its MediaConvert queue and jobs, its distribution, its wake-up queue, and pass the MediaConvert job role"
  }
  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.worker_task_policy).Statement : [
        for action in flatten([statement.Action]) :
        can(regex("^(s3|mediaconvert):[A-Za-z]+$", action)) || contains(["cloudfront:CreateInvalidation", "iam:PassRole", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"], action)
      ]
    ]))
    error_message = "the worker may use only S3, MediaConvert, invalidations, PassRole and its wake-up queue"
  }
  assert {
    condition     = one([for s in jsondecode(output.worker_task_policy).Statement : s.Condition.StringEquals["iam:PassedToService"] if contains(flatten([s.Action]), "iam:PassRole")]) == "mediaconvert.amazonaws.com"
    error_message = "the worker may pass the job role to MediaConvert only"
  }
  assert {
    condition     = alltrue([for s in jsondecode(output.worker_task_policy).Statement : s.Effect == "Allow" && !contains(flatten([s.Resource]), "*") && !anytrue([for a in flatten([s.Action]) : endswith(a, "*")])])
    error_message = "no wildcard resource or action in the worker's role"
  }
  assert {
    condition     = length([for s in jsondecode(output.serve_task_policy).Statement : s if anytrue([for a in flatten([s.Action]) : startswith(a, "mediaconvert:") || a == "iam:PassRole"])]) == 0
    error_message = "the API service must not submit transcodes nor pass roles"
  }
}

run "secrets_reach_the_tasks_only_through_secrets_manager" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for definitions in [output.serve_container_definitions, output.worker_container_definitions] : [
        for container in jsondecode(definitions) : [
          for variable in try(container.environment, []) :
          !can(regex("(SECRET|PASSWORD|PRIVATE|DATABASE_URL)", variable.name)) && !can(regex("BEGIN .*PRIVATE KEY|postgres(ql)?://", variable.value))
        ]
      ]
    ]))
    error_message = "no secret may be a plain environment variable of a task"
  }
  assert {
    condition = alltrue([
      for definitions in [output.serve_container_definitions, output.worker_container_definitions] :
      toset([for s in one([for c in jsondecode(definitions) : c if c.name == "lectern"]).secrets : s.name]) == toset(["DATABASE_URL", "LECTERN_OAUTH_GOOGLE_CLIENT_SECRET"])
    ])
    error_message = "DATABASE_URL and provider secrets must come from Secrets Manager"
  }
  assert {
    condition = alltrue(flatten([
      for definitions in [output.serve_container_definitions, output.worker_container_definitions] : [
        for c in jsondecode(definitions) : [for s in try(c.secrets, []) : startswith(s.valueFrom, "arn:aws:secretsmanager:")]
      ]
    ]))
    error_message = "every secret must be a Secrets Manager ARN"
  }
  assert {
    condition = alltrue([
      for definitions in [output.serve_container_definitions, output.worker_container_definitions] :
      one([for v in one([for c in jsondecode(definitions) : c if c.name == "lectern"]).environment : v.value if v.name == "LECTERN_CDN_KEY_FILE"]) == "/run/lectern/keys/LECTERN_CDN_KEY_FILE" &&
      toset([for s in one([for c in jsondecode(definitions) : c if c.name == "keys"]).secrets : s.name]) == toset(["LECTERN_CDN_KEY_FILE", "LECTERN_TOKEN_KEY_FILE", "LECTERN_CERTIFICATE_KEY_FILE", "LECTERN_WEBHOOK_KEY_FILE"])
    ])
    error_message = "signing keys must be written to files by the keys init container, never passed as settings"
  }
  assert {
    condition     = length(output.secret_arns) == 6
    error_message = "a secret for the database URL, three signing keys, the webhook key and the one provider secret"
  }
}

run "serve_and_worker_are_separate_services" {
  command = apply

  assert {
    condition     = one([for c in jsondecode(output.serve_container_definitions) : c.command if c.name == "lectern"]) == ["serve"] && one([for c in jsondecode(output.worker_container_definitions) : c.command if c.name == "lectern"]) == ["worker"]
    error_message = "one service runs serve, the other worker"
  }
  assert {
    condition     = one([for v in one([for c in jsondecode(output.serve_container_definitions) : c if c.name == "lectern"]).environment : v.value if v.name == "LECTERN_WORKERS"]) == "0"
    error_message = "the API tasks run no jobs: the worker service does"
  }
  assert {
    condition     = one([for v in one([for c in jsondecode(output.worker_container_definitions) : c if c.name == "lectern"]).environment : v.value if v.name == "LECTERN_SQS_QUEUE_URL"]) == "https://sqs.eu-west-1.amazonaws.com/123456789012/lectern-test-job-wakeups"
    error_message = "the workers wake on the deployment's SQS queue"
  }
  assert {
    condition     = length([for s in jsondecode(output.serve_task_policy).Statement : s if anytrue([for a in flatten([s.Action]) : startswith(a, "sqs:")])]) == 0
    error_message = "the API service has no use for the wake-up queue (the workers forward queued jobs)"
  }
  assert {
    condition     = module.alb.target_group_arn != "" && output.load_balancer_dns_name != ""
    error_message = "the load balancer must exist"
  }
}

run "a_secret_among_plain_settings_is_refused" {
  command = plan
  variables {
    settings = { LECTERN_OAUTH_GOOGLE_CLIENT_SECRET = "hunter2" }
  }
  expect_failures = [var.settings]
}
