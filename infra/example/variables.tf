variable "region" {
  type = string
}

variable "name" {
  description = "The API's name: every resource's prefix (internal-api)."
  type        = string
}

variable "backend_url" {
  description = "The existing backend some routes call (routes.json: backend = true)."
  type        = string
}

variable "kvs_id" {
  description = "The KeyValueStore the CloudFront Function reads the weight from."
  type        = string
}

variable "edge_log_stream" {
  type    = string
  default = null
}

variable "tags" {
  type    = map(string)
  default = {}
}
