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

variable "distribution_id" {
  description = "The existing CloudFront distribution in front of the API (imported)."
  type        = string
}

variable "legacy_origin_id" {
  description = "The distribution's id for the ALB origin, as it is today."
  type        = string
  default     = "alb"
}

variable "alb_domain" {
  description = "A DNS name of the ALB that its HTTPS certificate covers (e.g. origin.internal-api.example.com, a CNAME to the ALB): /api/* does not forward the viewer's Host (API Gateway answers only to its own), so CloudFront checks the ALB's certificate against this name, and the ALB's listener rules must not route on the viewer's host."
  type        = string
}

variable "aliases" {
  type    = list(string)
  default = []
}

variable "acm_certificate_arn" {
  description = "The certificate for the aliases (us-east-1); the CloudFront default when null."
  type        = string
  default     = null
}

variable "web_acl_id" {
  type    = string
  default = null
}

variable "default_cache_policy_id" {
  description = "The default behaviour's cache policy, as it is today (Managed-CachingOptimized's id by default)."
  type        = string
  default     = "658327ea-f89d-4fab-a63d-7e88639e58f6"
}

variable "weight_key" {
  description = "Where the weight lives in the KeyValueStore (the plan's weight_key)."
  type        = string
  default     = "internal-api/weight"
}

variable "cohort_header" {
  description = "The header naming the client (the plan's cohort)."
  type        = string
  default     = "x-user-id"
}

variable "edge_logs" {
  description = "Log every /api/* request to a Kinesis stream the controller reads (each user's cohort for the judge; infra/README.md)."
  type        = bool
  default     = false
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "alb_load_balancer" {
  description = "The ALB's CloudWatch dimension: app/NAME/ID (the end of its ARN)."
  type        = string
}

variable "alb_target_group" {
  description = "The target group's CloudWatch dimension: targetgroup/NAME/ID."
  type        = string
}

variable "xray_legacy_service" {
  description = "The Express app's X-Ray service name."
  type        = string
}

variable "when_store_unreadable" {
  description = "Where the edge sends requests when it cannot read the weight: legacy until the cutover completes, serverless after (runbooks/decommission.md). The plan's value: --from-terraform reads it from the outputs."
  type        = string
  default     = "legacy"
}

variable "controller_subnet_ids" {
  description = "Private subnets, in two or more zones, for the controller's replicas and its internal load balancer."
  type        = list(string)
}

variable "controller_allowed_cidrs" {
  description = "Who else may reach the control API, besides the VPC's own block (a VPN's range)."
  type        = list(string)
  default     = []
}

variable "controller_tokens_parameter" {
  description = "The SSM SecureString parameter holding the control API's tokens (infra/README.md makes it)."
  type        = string
  default     = "/cutover/tokens"
}

variable "alarm_emails" {
  description = "Who the controller's alarms (down, paused 30 minutes, rollback) are sent to."
  type        = list(string)
  default     = []
}

variable "dashboard_file" {
  description = "The CloudWatch dashboard body `cutover dashboard cloudwatch` wrote for this target; null for none yet."
  type        = string
  default     = null
}
