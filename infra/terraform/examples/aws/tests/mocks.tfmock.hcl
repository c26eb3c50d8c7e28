# Values the mocked AWS provider returns where a real one would compute them: ARNs and ids in
# their real shapes, so the assertions can compare them.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}

mock_data "aws_region" {
  defaults = {
    name = "eu-west-1"
  }
}

mock_data "aws_vpc" {
  defaults = {
    cidr_block = "10.0.0.0/16"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn                         = "arn:aws:s3:::lectern-test-media"
    bucket_regional_domain_name = "lectern-test-media.s3.eu-west-1.amazonaws.com"
  }
}

mock_resource "aws_cloudfront_distribution" {
  defaults = {
    id          = "EDFDVBD6EXAMPLE"
    arn         = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE"
    domain_name = "d111111abcdef8.cloudfront.net"
  }
}

mock_resource "aws_cloudfront_origin_access_control" {
  defaults = {
    id = "E2QWRUHAPOMQZL"
  }
}

mock_resource "aws_cloudfront_key_group" {
  defaults = {
    id = "KG-lectern"
  }
}

mock_resource "aws_cloudfront_public_key" {
  defaults = {
    id = "K2JCJMDEHXQW5F"
  }
}

mock_resource "aws_media_convert_queue" {
  defaults = {
    arn = "arn:aws:mediaconvert:eu-west-1:123456789012:queues/lectern-test-transcode"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/lectern-test-role"
  }
}

mock_resource "aws_kms_key" {
  defaults = {
    arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lectern-test/secret-AbCdEf"
  }
}

mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/lectern-test"
    repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/lectern-test"
  }
}

mock_resource "aws_ecs_cluster" {
  defaults = {
    arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/lectern-test"
  }
}

mock_resource "aws_ecs_task_definition" {
  defaults = {
    arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/lectern-test:1"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/lectern-test/50dc6c495c0c9188"
    arn_suffix = "app/lectern-test/50dc6c495c0c9188"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lectern-test-serve/73e2d6bc24d8a067"
    arn_suffix = "targetgroup/lectern-test-serve/73e2d6bc24d8a067"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/lectern/test"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:123456789012:lectern-test-alarms"
  }
}

mock_resource "aws_appautoscaling_policy" {
  defaults = {
    arn = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:1:resource/ecs/service/lectern-test/x:policyName/x"
  }
}

mock_resource "aws_db_instance" {
  defaults = {
    address = "lectern-test.abcdefghijkl.eu-west-1.rds.amazonaws.com"
    port    = 5432
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf"
      kms_key_id    = "arn:aws:kms:eu-west-1:123456789012:key/aws-rds"
      secret_status = "active"
    }]
  }
}

mock_resource "aws_elasticache_replication_group" {
  defaults = {
    primary_endpoint_address = "master.lectern-test.abcdef.euw1.cache.amazonaws.com"
  }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/lectern-test-job-wakeups"
    arn = "arn:aws:sqs:eu-west-1:123456789012:lectern-test-job-wakeups"
  }
}
