# The modules whose AWS services moto (https://github.com/getmoto/moto) implements, applied for
# real against moto's server by scripts/test-infra.sh (`terraform test` here, which applies,
# asserts, then destroys). The mocked-provider tests of examples/aws check the whole deployment's
# plan; this one checks that AWS APIs (as moto models them) accept what the modules create.
#
# Not here, because moto does not implement them or not enough of them to apply: MediaConvert
# queues (no MediaConvert in moto), the CloudFront distribution with its key group, cache and
# response-headers policies (moto's CloudFront lacks cache and response-headers policies), the
# RDS, ElastiCache and ECS/ALB modules (they need a VPC with subnets in several zones; moto's
# answers to their waiters are not what the provider polls for). Those stay covered by the
# mocked-provider tests and checkov.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true
  endpoints {
    s3             = var.moto_endpoint
    sqs            = var.moto_endpoint
    iam            = var.moto_endpoint
    sts            = var.moto_endpoint
    kms            = var.moto_endpoint
    secretsmanager = var.moto_endpoint
    ecr            = var.moto_endpoint
  }
}

module "media_bucket" {
  source               = "../../modules/media_bucket"
  name                 = "${var.name}-media"
  cors_allowed_origins = ["https://lectern.example"]
  force_destroy        = true
}

module "job_wakeups" {
  source = "../../modules/job_wakeups"
  name   = var.name
}

module "secrets" {
  source                = "../../modules/secrets"
  name                  = var.name
  provider_secret_names = ["LECTERN_OAUTH_GOOGLE_CLIENT_SECRET"]
  recovery_window_days  = 0
}

module "ecr" {
  source = "../../modules/ecr"
  name   = var.name
}

# The worker's task role with the same statements as examples/aws gives it: its bucket's
# prefixes and its wake-up queue.
resource "aws_iam_role" "worker" {
  name = "${var.name}-worker-task"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "worker" {
  name = "lectern"
  role = aws_iam_role.worker.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "ObjectsUnderLecternsPrefixes"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["${module.media_bucket.arn}/uploads/*", "${module.media_bucket.arn}/assets/*"]
      },
    ], module.job_wakeups.worker_statements)
  })
}

# Read back from moto through the provider's data sources, after everything above exists: the
# test asserts on what the API answers, not on what Terraform sent.
data "aws_sqs_queue" "wakeups" {
  name       = "${var.name}-job-wakeups"
  depends_on = [module.job_wakeups]
}

data "aws_iam_role" "worker" {
  name       = aws_iam_role.worker.name
  depends_on = [aws_iam_role_policy.worker]
}

data "aws_ecr_repository" "lectern" {
  name       = var.name
  depends_on = [module.ecr]
}

data "aws_secretsmanager_secret" "database_url" {
  name       = "${var.name}/database-url"
  depends_on = [module.secrets]
}
