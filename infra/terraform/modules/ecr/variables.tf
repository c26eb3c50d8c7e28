variable "name" {
  description = "Repository name."
  type        = string
}

variable "keep_images" {
  description = "How many tagged images to keep; older ones are expired."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
