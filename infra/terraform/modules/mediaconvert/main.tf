# A MediaConvert queue of Lectern's own (on-demand pricing) and the role its jobs run as:
# MediaConvert may read the sources and write the packages of the media bucket, nothing else.

resource "aws_media_convert_queue" "lectern" {
  name         = "${var.name}-transcode"
  description  = "Lectern transcodes"
  pricing_plan = "ON_DEMAND"
  status       = "ACTIVE"
  tags         = var.tags
}

resource "aws_iam_role" "jobs" {
  name = "${var.name}-mediaconvert-jobs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "mediaconvert.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "jobs" {
  name = "media-bucket"
  role = aws_iam_role.jobs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadSources"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${var.bucket_arn}/assets/*", "${var.bucket_arn}/uploads/*"]
      },
      {
        Sid      = "WritePackages"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = ["${var.bucket_arn}/assets/*"]
      },
    ]
  })
}
