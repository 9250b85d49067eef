variable "name" {
  description = "Prefix of the controller's names."
  type        = string
}

variable "table_name" {
  description = "The controller's DynamoDB table (the plan's store: dynamodb://TABLE)."
  type        = string
}

variable "kvs_id" {
  description = "The KeyValueStore's id (the last part of its ARN) the controller writes the weight to."
  type        = string
}

variable "api_id" {
  description = "The serverless side's HTTP API id (pre-flight reads its routes)."
  type        = string
}

variable "edge_log_stream" {
  description = "The Kinesis stream of the edge's real-time logs, when the plan reads them; null leaves that statement out."
  type        = string
  default     = null
}

variable "assumed_by" {
  description = "The services that run `cutover serve` and assume its role (the instances of host.tf)."
  type        = list(string)
  default     = ["ec2.amazonaws.com"]
}

variable "kms_key_arn" {
  type    = string
  default = null
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "binary_path" {
  description = "The ARM64 cutover binary `cargo xtask package-controller` built (target/controller/cutover-aarch64)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two or more zones) for the replicas and the internal load balancer, with a NAT gateway: the probes go through the distribution on the internet, and AWS APIs are reached over HTTPS."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: give at least two subnets, in different zones, so one zone down leaves a replica."
  }
}

variable "allowed_cidrs" {
  description = "Who else may reach the control API, besides the VPC's own CIDR block (a VPN's range, a peered VPC)."
  type        = list(string)
  default     = []
}

variable "session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore for Session Manager shells and port forwards (it also grants ssm:GetParameter on every parameter)."
  type        = bool
  default     = true
}

variable "tokens_parameter" {
  description = "The SSM SecureString parameter holding the API's tokens, a `NAME ROLE SECRET` line each (made outside Terraform: infra/README.md)."
  type        = string
  validation {
    condition     = startswith(var.tokens_parameter, "/")
    error_message = "tokens_parameter: give the parameter's full name, starting with /, such as /cutover/tokens."
  }
}

variable "instance_type" {
  description = "An ARM64 (Graviton) type: the binary is built for aarch64."
  type        = string
  default     = "t4g.small"
  validation {
    condition     = can(regex("^[a-z]+[0-9]+g[a-z]*\\.", var.instance_type))
    error_message = "instance_type: give a Graviton (ARM64) type such as t4g.small; the binary is built for aarch64."
  }
}

variable "replicas" {
  description = "How many replicas serve; leases in the store let one drive each cutover."
  type        = number
  default     = 2
}

variable "lease_ttl" {
  description = "Seconds a lease outlives a replica that died (cutover serve --lease-ttl)."
  type        = number
  default     = 15
}
