variable "name" {
  description = "Name prefix of the secrets (name/key)."
  type        = string
}

variable "provider_secret_names" {
  description = "Extra secrets to create for external providers, keyed by the environment variable the services receive them in (e.g. LECTERN_OAUTH_GOOGLE_CLIENT_SECRET). Values are never Terraform inputs: put them with `aws secretsmanager put-secret-value`."
  type        = set(string)
  default     = []
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
