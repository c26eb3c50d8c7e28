# The media bucket: uploads, sources and published packages. Nothing in it is public: browsers
# upload through presigned URLs and watch through CloudFront (origin access control), and the
# bucket policy (written by the cdn module, which knows the distribution) allows nothing else.

resource "aws_s3_bucket" "media" {
  bucket        = var.name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Versioning turns a deletion (Lectern removing a superseded version or a deleted asset) into a
# noncurrent version that the lifecycle below removes after a grace period.
resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    # SSE-S3: CloudFront's origin access control and MediaConvert read it without KMS grants.
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket                                 = aws_s3_bucket.media.id
  transition_default_minimum_object_size = "all_storage_classes_128K"

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }

  rule {
    id     = "expire-abandoned-uploads"
    status = "Enabled"
    filter {
      prefix = "uploads/"
    }
    expiration {
      days = var.upload_expiry_days
    }
  }

  rule {
    id     = "remove-superseded-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "tier-media"
    status = "Enabled"
    # Objects under 128 KiB (manifests, init segments) stay in Standard through the bucket-wide
    # minimum below rather than a size condition in this filter: the same effect, and a rule
    # that moto's S3 returns as it was given (it drops a size inside `and`), so the module
    # applies against moto too (examples/moto).
    filter {
      prefix = "assets/"
    }
    transition {
      days          = var.intelligent_tiering_after_days
      storage_class = "INTELLIGENT_TIERING"
    }
  }

  depends_on = [aws_s3_bucket_versioning.media]
}

resource "aws_s3_bucket_cors_configuration" "media" {
  count  = length(var.cors_allowed_origins) > 0 ? 1 : 0
  bucket = aws_s3_bucket.media.id
  cors_rule {
    allowed_methods = ["PUT", "GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["Content-Type", "Content-MD5", "x-amz-*"]
    # The browser needs each part's ETag to complete a multipart upload.
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}
