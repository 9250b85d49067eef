variable "name" {
  description = "Prefix of the function's and the KeyValueStore's names; the cohort salt when `salt` is not given."
  type        = string
}

variable "weight_key" {
  description = "The plan's [target.cloudfront] weight_key."
  type        = string
}

variable "probe_token_key" {
  description = "The plan's probe_token_key; beside the weight (NAME/probe-token) when null."
  type        = string
  default     = null
}

variable "serverless_origin_id" {
  description = "The distribution's id for the API Gateway origin (the plan's serverless_origin_id)."
  type        = string
  default     = "api-gateway"
}

variable "salt" {
  description = "The plan's target.salt (the target's name when null)."
  type        = string
  default     = null
}

variable "cohort_header" {
  description = "The header naming the client (the plan's cohort = { header = ... }), or empty."
  type        = string
  default     = "x-user-id"
}

variable "cohort_cookie" {
  description = "The cookie naming the client (cohort = { cookie = ... }), or empty."
  type        = string
  default     = ""
}

variable "when_store_unreadable" {
  description = "Where requests go when the weight cannot be read: legacy until the cutover completes, serverless after."
  type        = string
  default     = "legacy"

  validation {
    condition     = contains(["legacy", "serverless"], var.when_store_unreadable)
    error_message = "when_store_unreadable is legacy or serverless."
  }
}
