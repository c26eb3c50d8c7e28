variable "name" {
  description = "Name prefix of the distribution's policies and key group."
  type        = string
}

variable "bucket_id" {
  description = "Media bucket name."
  type        = string
}

variable "bucket_arn" {
  description = "Media bucket ARN."
  type        = string
}

variable "bucket_regional_domain_name" {
  description = "Media bucket's regional domain name (the origin)."
  type        = string
}

variable "public_key_pem" {
  description = "Lectern's CDN public key (PEM), as printed by `lectern keys generate`. Public by nature: CloudFront verifies playback signatures with it."
  type        = string
  validation {
    condition     = can(regex("-----BEGIN PUBLIC KEY-----", var.public_key_pem))
    error_message = "public_key_pem must be a PEM public key (-----BEGIN PUBLIC KEY-----), as `lectern keys generate` prints it."
  }
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to fetch manifests and segments (the players' sites). Empty list: any origin (\"*\"), which is safe because every request still needs a signature."
  type        = list(string)
  default     = []
}

variable "manifest_max_age_seconds" {
  description = "How long CloudFront caches manifests (.m3u8, .mpd). Short, so a republished version is seen soon; match LECTERN_CDN_MANIFEST_MAX_AGE."
  type        = number
  default     = 10
}

variable "segment_max_age_seconds" {
  description = "How long CloudFront caches segments and images; they never change under one name (each version has its own prefix)."
  type        = number
  default     = 31536000
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"
}

variable "aliases" {
  description = "Custom domain names of the distribution (needs acm_certificate_arn). Empty: the cloudfront.net name."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate (in us-east-1) for the aliases. Null with no aliases."
  type        = string
  default     = null
}

variable "web_acl_id" {
  description = "ARN of a WAFv2 web ACL (scope CLOUDFRONT) to attach, or null."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
