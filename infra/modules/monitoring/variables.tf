variable "name" {
  description = "Prefix of the alarms', topic's and dashboard's names."
  type        = string
}

variable "target_name" {
  description = "The plan's [target] name: the Target dimension of Cutover/Rollbacks."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses the alarms go to (each confirms its subscription once)."
  type        = list(string)
  default     = []
}

variable "heartbeat_minutes" {
  description = "Minutes without a heartbeat before the controller counts as down."
  type        = number
  default     = 5
  validation {
    condition     = var.heartbeat_minutes >= 2 && var.heartbeat_minutes <= 60
    error_message = "heartbeat_minutes: give 2 to 60 (a replica beats once a minute)."
  }
}

variable "paused_minutes" {
  description = "Minutes a cutover may stay paused before the alarm."
  type        = number
  default     = 30
}

variable "dashboard_body" {
  description = "The CloudWatch dashboard body (file(...) of what `cutover dashboard cloudwatch` printed); null for none."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "A customer-managed KMS key for the topic, whose policy lets cloudwatch.amazonaws.com use it (kms:Decrypt, kms:GenerateDataKey*); null makes one."
  type        = string
  default     = null
}

variable "tags" {
  type    = map(string)
  default = {}
}
