# A whole Lectern deployment on AWS: the API (`lectern serve`) and the workers (`lectern worker`)
# as two Fargate services behind one ALB, PostgreSQL on RDS, Redis on ElastiCache, media in S3
# served through CloudFront with Lectern-signed URLs, MediaConvert optional. Each service's task
# role allows only what that service does.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  bucket_name = coalesce(var.media_bucket_name, "${var.name}-media-${data.aws_caller_identity.current.account_id}")
  account     = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.name
}

module "media_bucket" {
  source               = "../../modules/media_bucket"
  name                 = local.bucket_name
  cors_allowed_origins = var.cors_origins
}

module "cdn" {
  source                      = "../../modules/cdn"
  name                        = var.name
  bucket_id                   = module.media_bucket.id
  bucket_arn                  = module.media_bucket.arn
  bucket_regional_domain_name = module.media_bucket.regional_domain_name
  public_key_pem              = var.cdn_public_key_pem
  cors_allowed_origins        = var.cors_origins
  aliases                     = var.cdn_aliases
  acm_certificate_arn         = var.cdn_certificate_arn
}

module "mediaconvert" {
  source     = "../../modules/mediaconvert"
  name       = var.name
  bucket_arn = module.media_bucket.arn
}

module "ecr" {
  source = "../../modules/ecr"
  name   = var.name
}

module "secrets" {
  source                = "../../modules/secrets"
  name                  = var.name
  provider_secret_names = var.provider_secret_names
}

# The job queue's optional SQS wake-up channel (issue 19): workers forward queued job ids and
# wake on them; PostgreSQL stays the queue.
module "job_wakeups" {
  source = "../../modules/job_wakeups"
  name   = var.name
}

module "alb" {
  source          = "../../modules/alb"
  name            = var.name
  vpc_id          = var.vpc_id
  subnet_ids      = var.public_subnet_ids
  certificate_arn = var.api_certificate_arn
}

module "database" {
  source                 = "../../modules/database"
  name                   = var.name
  vpc_id                 = var.vpc_id
  subnet_ids             = var.private_subnet_ids
  client_security_groups = { serve = module.serve.security_group_id, worker = module.worker.security_group_id }
  instance_class         = var.database.instance_class
  multi_az               = var.database.multi_az
  backup_retention_days  = var.database.backup_retention_days
  deletion_protection    = var.database.deletion_protection
}

module "redis" {
  source                 = "../../modules/redis"
  name                   = var.name
  vpc_id                 = var.vpc_id
  subnet_ids             = var.private_subnet_ids
  client_security_groups = { serve = module.serve.security_group_id }
  node_type              = var.redis_node_type
}

resource "aws_ecs_cluster" "lectern" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

locals {
  bucket_arn = module.media_bucket.arn

  # What both services do with the bucket: Lectern only ever touches uploads/ and assets/.
  bucket_statements = [
    {
      Sid      = "ObjectsUnderLecternsPrefixes"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
      Resource = ["${local.bucket_arn}/uploads/*", "${local.bucket_arn}/assets/*"]
    },
    {
      Sid      = "ListLecternsPrefixes"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
      Resource = [local.bucket_arn]
      Condition = {
        StringLike = { "s3:prefix" = ["uploads/*", "assets/*", ""] }
      }
    },
    {
      Sid      = "InvalidateTheDistribution"
      Effect   = "Allow"
      Action   = ["cloudfront:CreateInvalidation"]
      Resource = [module.cdn.distribution_arn]
    },
  ]

  mediaconvert_statements = [
    {
      Sid      = "SubmitToLecternsQueue"
      Effect   = "Allow"
      Action   = ["mediaconvert:CreateJob"]
      Resource = [module.mediaconvert.queue_arn]
    },
    {
      Sid      = "FollowAndCancelJobs"
      Effect   = "Allow"
      Action   = ["mediaconvert:GetJob", "mediaconvert:CancelJob"]
      Resource = ["arn:aws:mediaconvert:${local.region}:${local.account}:jobs/*"]
    },
    {
      Sid      = "HandTheJobRoleToMediaConvert"
      Effect   = "Allow"
      Action   = ["iam:PassRole"]
      Resource = [module.mediaconvert.role_arn]
      Condition = {
        StringEquals = { "iam:PassedToService" = "mediaconvert.amazonaws.com" }
      }
    },
  ]

  serve_policy  = jsonencode({ Version = "2012-10-17", Statement = local.bucket_statements })
  worker_policy = jsonencode({ Version = "2012-10-17", Statement = concat(local.bucket_statements, local.mediaconvert_statements, module.job_wakeups.worker_statements) })

  common_settings = merge({
    LECTERN_STORAGE                    = "s3"
    LECTERN_S3_BUCKET                  = module.media_bucket.id
    LECTERN_S3_REGION                  = local.region
    LECTERN_PUBLIC_URL                 = "https://${var.api_domain_name}"
    LECTERN_CDN_BASE_URL               = module.cdn.base_url
    LECTERN_CDN_KEY_PAIR_ID            = module.cdn.key_pair_id
    LECTERN_CLOUDFRONT_DISTRIBUTION_ID = module.cdn.distribution_id
    LECTERN_DB_CREATE                  = "false"
    LECTERN_LOG_FORMAT                 = "json"
    LECTERN_DATA_DIR                   = "/var/lib/lectern"
    LECTERN_TRANSCODER                 = var.transcoder
    LECTERN_MEDIACONVERT_ROLE_ARN      = module.mediaconvert.role_arn
    LECTERN_MEDIACONVERT_QUEUE         = module.mediaconvert.queue_arn
    REDIS_URL                          = module.redis.url
    }, length(var.cors_origins) > 0 ? { LECTERN_CORS_ORIGINS = join(",", var.cors_origins) } : {},
  var.settings)

  secret_environment = merge(
    { DATABASE_URL = module.secrets.arns["DATABASE_URL"] },
    { for env in var.provider_secret_names : env => module.secrets.arns[env] },
  )
  secret_files = {
    for env in ["LECTERN_CDN_KEY_FILE", "LECTERN_TOKEN_KEY_FILE", "LECTERN_CERTIFICATE_KEY_FILE", "LECTERN_WEBHOOK_KEY_FILE"] :
    env => module.secrets.arns[env]
  }
  image = "${module.ecr.repository_url}:${var.image_tag}"
}

module "serve" {
  source             = "../../modules/ecs_service"
  name               = "${var.name}-serve"
  cluster_arn        = aws_ecs_cluster.lectern.arn
  cluster_name       = aws_ecs_cluster.lectern.name
  image              = local.image
  command            = ["serve"]
  cpu                = var.serve.cpu
  memory             = var.serve.memory
  desired_count      = var.serve.min_count
  min_count          = var.serve.min_count
  max_count          = var.serve.max_count
  cpu_target_percent = var.serve.cpu_target_percent
  vpc_id             = var.vpc_id
  subnet_ids         = var.private_subnet_ids
  # The API only: jobs run in the worker service.
  environment        = merge(local.common_settings, { LECTERN_WORKERS = "0" })
  secret_environment = local.secret_environment
  secret_files       = local.secret_files
  secret_kms_key_arn = module.secrets.kms_key_arn
  task_policy_json   = local.serve_policy
  container_port     = 8080
  load_balancer = {
    target_group_arn  = module.alb.target_group_arn
    security_group_id = module.alb.security_group_id
  }
  metrics_sidecar    = true
  log_retention_days = var.log_retention_days
}

module "worker" {
  source        = "../../modules/ecs_service"
  name          = "${var.name}-worker"
  cluster_arn   = aws_ecs_cluster.lectern.arn
  cluster_name  = aws_ecs_cluster.lectern.name
  image         = local.image
  command       = ["worker"]
  cpu           = var.worker.cpu
  memory        = var.worker.memory
  desired_count = var.worker.min_count
  min_count     = var.worker.min_count
  max_count     = var.worker.max_count
  # Fargate stops a task at most 120 s after SIGTERM; a worker hands its running jobs back to the
  # queue within LECTERN_SHUTDOWN_TIMEOUT.
  stop_timeout_seconds = 120
  ephemeral_storage_gb = var.worker.disk_gb
  vpc_id               = var.vpc_id
  subnet_ids           = var.private_subnet_ids
  environment = merge(local.common_settings, {
    LECTERN_WORKERS          = tostring(var.worker.workers_per_task)
    LECTERN_MIGRATE_ON_START = "false"
    # The worker's own job counters, for a Prometheus inside the VPC (allow it in the task's
    # security group); the queue gauges come from serve.
    LECTERN_METRICS_LISTEN = "0.0.0.0:9090"
    # Wake-ups through SQS (the worker forwards queued job ids and receives them while idle).
    LECTERN_SQS_QUEUE_URL = module.job_wakeups.queue_url
  })
  secret_environment = local.secret_environment
  secret_files       = local.secret_files
  secret_kms_key_arn = module.secrets.kms_key_arn
  task_policy_json   = local.worker_policy
  queue_scaling = {
    namespace       = "Lectern"
    metric_name     = "lectern_queue_depth"
    kind            = "media.transcode"
    scale_out_above = var.worker.scale_out_above
  }
  log_retention_days = var.log_retention_days
}

module "alarms" {
  source                  = "../../modules/alarms"
  name                    = var.name
  alarm_emails            = var.alarm_emails
  alb_arn_suffix          = module.alb.arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffix
  db_identifier           = module.database.identifier
}
