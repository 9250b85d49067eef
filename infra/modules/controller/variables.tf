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
  description = "The services that run `cutover serve` and assume its role."
  type        = list(string)
  default     = ["ecs-tasks.amazonaws.com"]
}

variable "kms_key_arn" {
  type    = string
  default = null
}

variable "tags" {
  type    = map(string)
  default = {}
}
