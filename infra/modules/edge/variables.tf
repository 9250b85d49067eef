variable "name" {
  description = "Prefix of the function's and the KeyValueStore's names; the cohort salt when `salt` is not given."
  type        = string
}

variable "weight_key" {
  description = "The plan's [target.cloudfront] weight_key."
  type        = string

  # Rendered into the function's JavaScript between single quotes.
  validation {
    condition     = !can(regex("['\\\\\n\r]", var.weight_key))
    error_message = "weight_key: no quote, backslash or line break."
  }
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

  # CloudFront Functions see header names lower-cased: "X-User-Id" would
  # never match, and every user would be bucketed by IP (the plan refuses
  # it too).
  validation {
    condition     = can(regex("^[a-z0-9_.-]*$", var.cohort_header))
    error_message = "cohort_header: a header name in lower case (letters, digits, - _ .)."
  }
}

variable "cohort_cookie" {
  description = "The cookie naming the client (cohort = { cookie = ... }), or empty."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]*$", var.cohort_cookie))
    error_message = "cohort_cookie: letters, digits, - _ . only."
  }
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

variable "edge_logs" {
  description = "Write /api/*'s real-time logs to a Kinesis stream the controller reads ([target.metrics.edge_logs])."
  type        = bool
  default     = false
}

variable "edge_logs_kms_key" {
  description = "The KMS key the edge logs' stream is encrypted with."
  type        = string
  default     = "alias/aws/kinesis"
}

variable "tags" {
  type    = map(string)
  default = {}
}
