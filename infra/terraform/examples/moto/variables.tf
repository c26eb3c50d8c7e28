variable "moto_endpoint" {
  description = "URL of moto's server, e.g. http://127.0.0.1:5000."
  type        = string
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "lectern-moto"
}
