# The media bucket: nothing public, versioned, and every lifecycle rule the storage bill depends on.

mock_provider "aws" {
  source = "./tests"
}

run "bucket_is_private_versioned_and_cleans_up_after_itself" {
  command = apply
  module {
    source = "../../modules/media_bucket"
  }
  variables {
    name = "lectern-test-media"
  }

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.media.block_public_acls,
      aws_s3_bucket_public_access_block.media.block_public_policy,
      aws_s3_bucket_public_access_block.media.ignore_public_acls,
      aws_s3_bucket_public_access_block.media.restrict_public_buckets,
    ])
    error_message = "every public-access block must be on"
  }
  assert {
    condition     = aws_s3_bucket_ownership_controls.media.rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)"
  }
  assert {
    condition     = output.versioning_status == "Enabled"
    error_message = "versioning must be enabled (deleted media stays recoverable for a while)"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.media.rule : one(r.abort_incomplete_multipart_upload).days_after_initiation if r.id == "abort-incomplete-multipart-uploads"]) == 2
    error_message = "incomplete multipart uploads must be aborted after 2 days"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.media.rule : r.filter[0].prefix if r.id == "expire-abandoned-uploads"]) == "uploads/"
    error_message = "abandoned uploads must expire, and only under uploads/"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.media.rule : one(r.noncurrent_version_expiration).noncurrent_days if r.id == "remove-superseded-versions"]) == 30
    error_message = "superseded object versions must be removed after 30 days"
  }
  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.media.rule : one(r.transition).storage_class if r.id == "tier-media"]) == "INTELLIGENT_TIERING"
    error_message = "old media must move to Intelligent-Tiering"
  }
  assert {
    condition     = length(aws_s3_bucket_cors_configuration.media) == 0
    error_message = "no CORS rule without origins"
  }
}

run "cors_lets_browsers_read_part_etags" {
  command = apply
  module {
    source = "../../modules/media_bucket"
  }
  variables {
    name                 = "lectern-test-media"
    cors_allowed_origins = ["https://courses.example"]
  }
  assert {
    condition     = contains(one(aws_s3_bucket_cors_configuration.media[0].cors_rule).expose_headers, "ETag")
    error_message = "a multipart upload from a browser needs the ETag header exposed"
  }
}
