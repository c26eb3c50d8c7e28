variable "name" {
  description = "Bucket name (globally unique)."
  type        = string
}

variable "upload_expiry_days" {
  description = "Objects under uploads/ older than this are deleted. Lectern moves finished uploads out and expires abandoned ones itself after LECTERN_UPLOAD_EXPIRY (24h by default); this rule is the backstop and must be longer than that setting."
  type        = number
  default     = 7
}

variable "abort_incomplete_multipart_days" {
  description = "Incomplete multipart uploads (invisible, but billed) are aborted this many days after they start."
  type        = number
  default     = 2
}

variable "noncurrent_version_expiry_days" {
  description = "Superseded and deleted object versions are kept this long (a window to undo a mistaken deletion), then removed."
  type        = number
  default     = 30
}

variable "intelligent_tiering_after_days" {
  description = "Objects under assets/ larger than 128 KiB (sources, segments, downloads) move to S3 Intelligent-Tiering after this many days, so rarely watched lectures and their sources get cheaper by themselves. Sources live under each asset's prefix (assets/{id}/source/), so no prefix rule can single them out."
  type        = number
  default     = 30
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to PUT upload parts straight to the bucket (presigned multipart uploads). Empty: no CORS rule."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a bucket that still holds media. Keep false in production."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
