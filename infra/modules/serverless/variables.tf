variable "name" {
  description = "Prefix of every name: the API, its functions, their roles and logs, the table."
  type        = string
}

variable "routes_file" {
  description = "The route contract: one route, one function."
  type        = string
  default     = null
}

variable "zips_dir" {
  description = "Where `cargo xtask package-lambdas` wrote <function>/bootstrap.zip."
  type        = string
}

variable "backend_url" {
  description = "The existing backend the functions with `backend: true` call (http(s)://host[:port][/prefix])."
  type        = string
}

variable "backend_timeout_ms" {
  description = "How long a function waits for the backend (BACKEND_TIMEOUT_MS)."
  type        = number
  default     = 3000
}

variable "memory_mb" {
  description = "Each function's memory. The handlers peak at 7-12 MiB (cargo xtask bench-cold-start)."
  type        = number
  default     = 128
}

variable "log_retention_days" {
  description = "How long the functions' and the API's logs are kept (a year: they are the cutover's evidence too)."
  type        = number
  default     = 365
}

variable "vpc_subnet_ids" {
  description = "Subnets to run the functions in, when the backend is reachable only inside a VPC; none by default."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "The functions' security groups in the VPC: give them with vpc_subnet_ids (Lambda refuses subnets without)."
  type        = list(string)
  default     = []
}

variable "throttling_burst_limit" {
  type    = number
  default = 500
}

variable "throttling_rate_limit" {
  type    = number
  default = 1000
}

variable "kms_key_arn" {
  description = "A customer-managed KMS key for the table, the logs and the functions' environment; AWS-owned keys when null."
  type        = string
  default     = null
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "origin_secret" {
  description = "When set, the functions serve only requests carrying it in x-origin-verify (what CloudFront adds on the API Gateway origin)."
  type        = string
  default     = null
  sensitive   = true
}
