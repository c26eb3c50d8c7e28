# CloudFront: the bucket is reachable only through origin access control from this one
# distribution, every path needs a Lectern signature, manifests and segments are cached apart.

mock_provider "aws" {
  source = "./tests"
}

variables {
  name                        = "lectern-test"
  bucket_id                   = "lectern-test-media"
  bucket_arn                  = "arn:aws:s3:::lectern-test-media"
  bucket_regional_domain_name = "lectern-test-media.s3.eu-west-1.amazonaws.com"
  public_key_pem              = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n"
}

run "the_bucket_is_reached_only_through_origin_access_control" {
  command = apply
  module {
    source = "../../modules/cdn"
  }

  assert {
    condition     = one(aws_cloudfront_distribution.media.origin).origin_access_control_id == aws_cloudfront_origin_access_control.media.id
    error_message = "the S3 origin must use the origin access control"
  }
  assert {
    condition     = length(one(aws_cloudfront_distribution.media.origin).s3_origin_config) == 0 && length(one(aws_cloudfront_distribution.media.origin).custom_origin_config) == 0
    error_message = "no legacy origin access identity and no public website endpoint"
  }
  assert {
    condition     = aws_cloudfront_origin_access_control.media.signing_behavior == "always" && aws_cloudfront_origin_access_control.media.signing_protocol == "sigv4"
    error_message = "CloudFront must sign every request to the bucket"
  }
  assert {
    condition = alltrue([
      for statement in jsondecode(aws_s3_bucket_policy.media.policy).Statement :
      statement.Effect == "Deny" || (
        statement.Principal == { Service = "cloudfront.amazonaws.com" } &&
        try(statement.Condition.StringEquals["AWS:SourceArn"], "") == aws_cloudfront_distribution.media.arn &&
        statement.Action == "s3:GetObject" &&
        statement.Resource == "arn:aws:s3:::lectern-test-media/assets/*"
      )
    ])
    error_message = "the bucket policy may allow only this distribution to read published media"
  }
  assert {
    condition     = length([for statement in jsondecode(aws_s3_bucket_policy.media.policy).Statement : statement if statement.Effect == "Deny" && try(statement.Condition.Bool["aws:SecureTransport"], "") == "false"]) == 1
    error_message = "plain-HTTP access to the bucket must be denied"
  }
}

run "every_path_needs_a_lectern_signature_over_https" {
  command = apply
  module {
    source = "../../modules/cdn"
  }

  assert {
    condition = alltrue(concat(
      [for b in aws_cloudfront_distribution.media.default_cache_behavior : toset(b.trusted_key_groups) == toset([aws_cloudfront_key_group.lectern.id]) && b.viewer_protocol_policy == "redirect-to-https"],
      [for b in aws_cloudfront_distribution.media.ordered_cache_behavior : toset(b.trusted_key_groups) == toset([aws_cloudfront_key_group.lectern.id]) && b.viewer_protocol_policy == "redirect-to-https"],
    ))
    error_message = "every cache behaviour must require the trusted key group and HTTPS"
  }
  assert {
    condition     = toset(aws_cloudfront_key_group.lectern.items) == toset([aws_cloudfront_public_key.lectern.id]) && aws_cloudfront_public_key.lectern.encoded_key == var.public_key_pem
    error_message = "the key group must hold Lectern's public key"
  }
  assert {
    condition     = output.key_pair_id == aws_cloudfront_public_key.lectern.id
    error_message = "LECTERN_CDN_KEY_PAIR_ID must be the public key's id"
  }
}

run "manifests_are_cached_briefly_and_segments_for_long" {
  command = apply
  module {
    source = "../../modules/cdn"
  }

  assert {
    condition     = aws_cloudfront_cache_policy.manifests.max_ttl == 10 && aws_cloudfront_cache_policy.segments.min_ttl == 0 && aws_cloudfront_cache_policy.segments.default_ttl == 31536000
    error_message = "manifests live 10 s in the cache, segments a year"
  }
  assert {
    condition     = join(",", sort([for b in aws_cloudfront_distribution.media.ordered_cache_behavior : b.path_pattern])) == "assets/*.m3u8,assets/*.mpd" && alltrue([for b in aws_cloudfront_distribution.media.ordered_cache_behavior : b.cache_policy_id == aws_cloudfront_cache_policy.manifests.id])
    error_message = "HLS and DASH manifests must use the manifest cache policy"
  }
  assert {
    condition     = one(aws_cloudfront_distribution.media.default_cache_behavior).cache_policy_id == aws_cloudfront_cache_policy.segments.id
    error_message = "everything else (segments, images) must use the segment cache policy"
  }
  assert {
    condition = alltrue([
      for p in [aws_cloudfront_cache_policy.segments, aws_cloudfront_cache_policy.manifests] :
      one(one(p.parameters_in_cache_key_and_forwarded_to_origin).query_strings_config).query_string_behavior == "none" &&
      one(one(p.parameters_in_cache_key_and_forwarded_to_origin).cookies_config).cookie_behavior == "none"
    ])
    error_message = "signatures (query strings, cookies) must stay out of the cache key, so viewers share the cache"
  }
  assert {
    condition     = one(one(aws_cloudfront_response_headers_policy.cors.cors_config).access_control_allow_origins).items == toset(["*"])
    error_message = "without origins, any origin may play (every request is still signed)"
  }
}

run "a_key_that_is_not_a_public_key_pem_is_refused" {
  command = plan
  module {
    source = "../../modules/cdn"
  }
  variables {
    public_key_pem = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
  }
  expect_failures = [var.public_key_pem]
}
