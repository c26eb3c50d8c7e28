# CloudFront in front of the media bucket. Viewers need a URL (or cookies) signed with Lectern's
# CDN key, which CloudFront checks against the trusted key group; CloudFront reaches the bucket
# only through origin access control, and the bucket policy admits nothing but this distribution.

resource "aws_cloudfront_public_key" "lectern" {
  name        = "${var.name}-cdn-key"
  comment     = "Lectern CDN signing key (lectern keys generate)"
  encoded_key = var.public_key_pem
}

resource "aws_cloudfront_key_group" "lectern" {
  name    = "${var.name}-signers"
  comment = "Keys whose signatures CloudFront accepts for Lectern playback"
  items   = [aws_cloudfront_public_key.lectern.id]
}

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media"
  description                       = "CloudFront reads the Lectern media bucket with SigV4"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Segments and images: cached for long, one copy for every viewer. The signature's query string
# and cookies are checked by CloudFront and left out of the cache key.
resource "aws_cloudfront_cache_policy" "segments" {
  name        = "${var.name}-segments"
  comment     = "Immutable media segments and images"
  min_ttl     = 0
  default_ttl = var.segment_max_age_seconds
  max_ttl     = var.segment_max_age_seconds
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = false
    enable_accept_encoding_gzip   = false
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# Manifests: text, compressible, and short-lived in the cache.
resource "aws_cloudfront_cache_policy" "manifests" {
  name        = "${var.name}-manifests"
  comment     = "HLS and DASH manifests"
  min_ttl     = 0
  default_ttl = var.manifest_max_age_seconds
  max_ttl     = var.manifest_max_age_seconds
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = true
    enable_accept_encoding_gzip   = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "cors" {
  name    = "${var.name}-cors"
  comment = "CORS for browser players"
  cors_config {
    access_control_allow_credentials = false
    access_control_allow_headers {
      items = ["Range", "Origin"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }
    access_control_allow_origins {
      items = length(var.cors_allowed_origins) > 0 ? var.cors_allowed_origins : ["*"]
    }
    access_control_expose_headers {
      items = ["Content-Length", "Content-Range", "ETag"]
    }
    access_control_max_age_sec = 3600
    origin_override            = true
  }
  security_headers_config {
    content_type_options {
      override = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
}

locals {
  origin_id = "media-bucket"
  manifest_patterns = [
    "assets/*.m3u8",
    "assets/*.mpd",
  ]
}

resource "aws_cloudfront_distribution" "media" {
  enabled         = true
  is_ipv6_enabled = true
  comment         = "Lectern media (${var.name})"
  price_class     = var.price_class
  aliases         = var.aliases
  web_acl_id      = var.web_acl_id
  http_version    = "http2and3"
  tags            = var.tags

  origin {
    origin_id                = local.origin_id
    domain_name              = var.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  default_cache_behavior {
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = aws_cloudfront_cache_policy.segments.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.cors.id
    trusted_key_groups         = [aws_cloudfront_key_group.lectern.id]
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.manifest_patterns
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = local.origin_id
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = aws_cloudfront_cache_policy.manifests.id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.cors.id
      trusted_key_groups         = [aws_cloudfront_key_group.lectern.id]
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == null
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }
}

# The only way into the bucket from outside the account: this distribution, reading published
# packages under assets/. Plain HTTP requests are refused for everyone.
resource "aws_s3_bucket_policy" "media" {
  bucket = var.bucket_id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CloudFrontReadsPublishedMedia"
        Effect    = "Allow"
        Principal = { Service = "cloudfront.amazonaws.com" }
        Action    = "s3:GetObject"
        Resource  = "${var.bucket_arn}/assets/*"
        Condition = {
          StringEquals = { "AWS:SourceArn" = aws_cloudfront_distribution.media.arn }
        }
      },
      {
        Sid       = "DenyPlainHttp"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [var.bucket_arn, "${var.bucket_arn}/*"]
        Condition = {
          Bool = { "aws:SecureTransport" = "false" }
        }
      },
    ]
  })
}
