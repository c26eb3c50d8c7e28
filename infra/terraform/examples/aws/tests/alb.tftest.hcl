# The load balancer: HTTPS only, and a serve task takes traffic only while /readyz answers 200.

mock_provider "aws" {
  source = "./tests"
}

run "serve_tasks_are_health_checked_on_readyz_behind_https" {
  command = apply
  module {
    source = "../../modules/alb"
  }
  variables {
    name            = "lectern-test"
    vpc_id          = "vpc-0123456789abcdef0"
    subnet_ids      = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = one(aws_lb_target_group.serve.health_check).path == "/readyz" && one(aws_lb_target_group.serve.health_check).matcher == "200"
    error_message = "the target group must check /readyz and want 200"
  }
  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && startswith(aws_lb_listener.https.ssl_policy, "ELBSecurityPolicy-TLS13")
    error_message = "the API must be served over TLS 1.2+ with a TLS 1.3 policy"
  }
  assert {
    condition     = one(one(aws_lb_listener.http.default_action).redirect).protocol == "HTTPS"
    error_message = "plain HTTP must redirect to HTTPS"
  }
  assert {
    condition     = aws_lb.lectern.drop_invalid_header_fields
    error_message = "invalid header fields must be dropped (request smuggling)"
  }
}
