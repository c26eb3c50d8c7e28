# One Lectern role (`serve` or `worker`) as an ECS Fargate service: its task definition, its
# own task role (least privilege, given by the caller), logs, and autoscaling. serve and worker
# are two instances of this module, so each scales on its own.

data "aws_region" "current" {}

locals {
  keys_dir          = "/run/lectern/keys"
  has_secret_files  = length(var.secret_files) > 0
  metrics_log_group = "/lectern/${var.name}/metrics"

  # Secret files: an init container receives each secret as an environment variable named like
  # the setting, writes it to the task-local volume, and exits; lectern starts after it and
  # reads the files. The lectern user (uid 10001 in the image) owns them, mode 0600.
  keys_container = {
    name       = "keys"
    image      = var.image
    essential  = false
    user       = "0"
    entryPoint = ["/bin/sh", "-c"]
    command = [join(" ", [
      "set -eu; umask 077;",
      "for name in ${join(" ", sort(keys(var.secret_files)))}; do",
      "printf '%s' \"$(printenv \"$name\")\" > \"${local.keys_dir}/$name\";",
      "done; chown -R 10001:10001 ${local.keys_dir}",
    ])]
    secrets     = [for env, arn in var.secret_files : { name = env, valueFrom = arn }]
    mountPoints = [{ sourceVolume = "keys", containerPath = local.keys_dir, readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "keys"
      }
    }
  }

  environment = merge(
    var.environment,
    { for env, _ in var.secret_files : env => "${local.keys_dir}/${env}" },
    var.container_port == null ? {} : { LECTERN_LISTEN = "0.0.0.0:${var.container_port}" },
  )

  lectern_container = {
    name                   = "lectern"
    image                  = var.image
    essential              = true
    command                = var.command
    readonlyRootFilesystem = false
    stopTimeout            = var.stop_timeout_seconds
    environment            = [for name in sort(keys(local.environment)) : { name = name, value = local.environment[name] }]
    secrets                = [for env, arn in var.secret_environment : { name = env, valueFrom = arn }]
    portMappings           = var.container_port == null ? [] : [{ containerPort = var.container_port, protocol = "tcp" }]
    mountPoints            = local.has_secret_files ? [{ sourceVolume = "keys", containerPath = local.keys_dir, readOnly = true }] : []
    dependsOn              = local.has_secret_files ? [{ containerName = "keys", condition = "SUCCESS" }] : []
    healthCheck = var.container_port == null ? null : {
      command     = ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:${var.container_port}/readyz"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "lectern"
      }
    }
  }

  # The CloudWatch agent scrapes lectern's /metrics inside the task and publishes the queue
  # gauges as CloudWatch metrics (embedded metric format), which the worker's scaling reads.
  metrics_container = {
    name      = "metrics"
    image     = var.cloudwatch_agent_image
    essential = false
    environment = [
      {
        name = "PROMETHEUS_CONFIG_CONTENT"
        value = yamlencode({
          global = { scrape_interval = "30s", scrape_timeout = "10s" }
          scrape_configs = [{
            job_name       = "lectern"
            static_configs = [{ targets = ["localhost:${coalesce(var.container_port, 8080)}"] }]
          }]
        })
      },
      {
        name = "CW_CONFIG_CONTENT"
        value = jsonencode({
          logs = {
            force_flush_interval = 5
            metrics_collected = {
              prometheus = {
                log_group_name         = local.metrics_log_group
                prometheus_config_path = "env:PROMETHEUS_CONFIG_CONTENT"
                emf_processor = {
                  metric_namespace = var.metrics_namespace
                  metric_declaration = [{
                    source_labels    = ["job"]
                    label_matcher    = "^lectern$"
                    dimensions       = [["kind"]]
                    metric_selectors = ["^lectern_queue_depth$", "^lectern_queue_oldest_age_seconds$"]
                  }]
                }
              }
            }
          }
        })
      },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "metrics"
      }
    }
  }

  containers = concat(
    local.has_secret_files ? [local.keys_container] : [],
    [local.lectern_container],
    var.metrics_sidecar ? [local.metrics_container] : [],
  )
}

resource "aws_cloudwatch_log_group" "service" {
  name              = "/lectern/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "metrics" {
  count             = var.metrics_sidecar ? 1 : 0
  name              = local.metrics_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

# The execution role: what ECS needs to start the task (pull the image, write logs, read this
# service's secrets and nothing else).
resource "aws_iam_role" "execution" {
  name = "${var.name}-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secrets" {
  count = length(var.secret_environment) + length(var.secret_files) > 0 ? 1 : 0
  name  = "read-secrets"
  role  = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadThisServicesSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = sort(distinct(concat(values(var.secret_environment), values(var.secret_files))))
      },
      {
        Sid      = "DecryptThem"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.secret_kms_key_arn]
      },
    ]
  })
}

# The task role: what lectern itself may do, as the caller wrote it.
resource "aws_iam_role" "task" {
  name = "${var.name}-task"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "lectern"
  role   = aws_iam_role.task.id
  policy = var.task_policy_json
}

resource "aws_iam_role_policy" "metrics_sidecar" {
  count = var.metrics_sidecar ? 1 : 0
  name  = "metrics-sidecar"
  role  = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteEmbeddedMetrics"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = ["${aws_cloudwatch_log_group.metrics[0].arn}:*"]
    }]
  })
}

resource "aws_ecs_task_definition" "service" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode(local.containers)
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  ephemeral_storage {
    size_in_gib = var.ephemeral_storage_gb
  }
  dynamic "volume" {
    for_each = local.has_secret_files ? ["keys"] : []
    content {
      name = volume.value
    }
  }
  tags = var.tags
}

resource "aws_security_group" "task" {
  name        = "${var.name}-task"
  description = "Lectern ${var.name} tasks"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.task.id
  description       = "AWS APIs, S3, webhooks, identity providers"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "postgres" {
  security_group_id = aws_security_group.task.id
  description       = "PostgreSQL inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

resource "aws_vpc_security_group_egress_rule" "redis" {
  security_group_id = aws_security_group.task.id
  description       = "Redis inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 6379
  to_port           = 6379
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  count                        = var.load_balancer == null ? 0 : 1
  security_group_id            = aws_security_group.task.id
  description                  = "HTTP from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = var.load_balancer.security_group_id
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

resource "aws_ecs_service" "service" {
  name                               = var.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.service.arn
  launch_type                        = "FARGATE"
  desired_count                      = var.desired_count
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  health_check_grace_period_seconds  = var.load_balancer == null ? null : 60
  tags                               = var.tags

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "load_balancer" {
    for_each = var.load_balancer == null ? [] : [var.load_balancer]
    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = "lectern"
      container_port   = var.container_port
    }
  }

  # Autoscaling owns the count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }
}

resource "aws_appautoscaling_target" "service" {
  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.service.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_count
  max_capacity       = var.max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  count              = var.cpu_target_percent == null ? 0 : 1
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service.service_namespace
  resource_id        = aws_appautoscaling_target.service.resource_id
  scalable_dimension = aws_appautoscaling_target.service.scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "queue_out" {
  count              = var.queue_scaling == null ? 0 : 1
  name               = "${var.name}-queue-out"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.service.service_namespace
  resource_id        = aws_appautoscaling_target.service.resource_id
  scalable_dimension = aws_appautoscaling_target.service.scalable_dimension
  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 120
    metric_aggregation_type = "Maximum"
    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

resource "aws_appautoscaling_policy" "queue_in" {
  count              = var.queue_scaling == null ? 0 : 1
  name               = "${var.name}-queue-in"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.service.service_namespace
  resource_id        = aws_appautoscaling_target.service.resource_id
  scalable_dimension = aws_appautoscaling_target.service.scalable_dimension
  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 300
    metric_aggregation_type = "Maximum"
    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = -1
    }
  }
}

# Every serve task reports the same queue (it is read from the database), so the deepest
# reading is the queue's depth however many serve tasks run.
resource "aws_cloudwatch_metric_alarm" "queue_deep" {
  count               = var.queue_scaling == null ? 0 : 1
  alarm_name          = "${var.name}-queue-deep"
  alarm_description   = "Jobs of kind ${var.queue_scaling.kind} waiting: add a ${var.name} task"
  namespace           = var.queue_scaling.namespace
  metric_name         = var.queue_scaling.metric_name
  dimensions          = { kind = var.queue_scaling.kind }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_scaling.scale_out_above
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.queue_out[0].arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_empty" {
  count               = var.queue_scaling == null ? 0 : 1
  alarm_name          = "${var.name}-queue-empty"
  alarm_description   = "No ${var.queue_scaling.kind} job waiting for 15 minutes: remove a ${var.name} task"
  namespace           = var.queue_scaling.namespace
  metric_name         = var.queue_scaling.metric_name
  dimensions          = { kind = var.queue_scaling.kind }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "LessThanOrEqualToThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_appautoscaling_policy.queue_in[0].arn]
  tags                = var.tags
}
