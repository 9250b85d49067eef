# What tells a person that the controller needs them: the CloudWatch
# dashboard from dashboards/ and three alarms to an SNS topic, on the
# metrics the controller publishes in the Cutover namespace
# (controller/core/src/dashboard.rs names them):
# - no ControllerHeartbeat for 5 minutes: no `cutover serve
#   --cloudwatch-heartbeat` replica is alive (runbooks/controller-down.md);
# - LongestPauseSeconds at 30 minutes or more: a cutover has been paused
#   that long (runbooks/paused.md);
# - any Rollbacks for the target: a rollback started (runbooks/rollback.md).

data "aws_caller_identity" "current" {}

# The topic's key. Not AWS's own `alias/aws/sns`: its policy cannot be
# changed to let CloudWatch use it, and an alarm whose topic it cannot
# encrypt for sends nothing.
resource "aws_kms_key" "alarms" {
  count               = var.kms_key_arn == null ? 1 : 0
  description         = "${var.name}: the cutover alarms' SNS topic"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
  tags                = var.tags
}

data "aws_iam_policy_document" "key" {
  # A key policy: its "*" resource is this key alone, and the account's
  # statement is the one every KMS key needs so IAM can grant its use.
  #checkov:skip=CKV_AWS_111:a key policy's resource "*" is the key itself; the account statement is KMS's default
  #checkov:skip=CKV_AWS_356:a key policy's resource "*" is the key itself
  #checkov:skip=CKV_AWS_109:the account's own statement, without which IAM policies cannot grant the key
  statement {
    sid       = "TheAccount"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-cutover-alarms"
  kms_master_key_id = coalesce(var.kms_key_arn, try(aws_kms_key.alarms[0].arn, null))
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "heartbeat_missing" {
  alarm_name          = "${var.name}-cutover-controller-down"
  alarm_description   = "No cutover serve replica has published a heartbeat for ${var.heartbeat_minutes} minutes: runbooks/controller-down.md"
  namespace           = "Cutover"
  metric_name         = "ControllerHeartbeat"
  statistic           = "SampleCount"
  period              = 60
  evaluation_periods  = var.heartbeat_minutes
  datapoints_to_alarm = var.heartbeat_minutes
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  # No data is the failure this alarm is for.
  treat_missing_data = "breaching"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
  tags               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "paused_too_long" {
  alarm_name          = "${var.name}-cutover-paused"
  alarm_description   = "A cutover has been paused for ${var.paused_minutes} minutes or more: runbooks/paused.md"
  namespace           = "Cutover"
  metric_name         = "LongestPauseSeconds"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.paused_minutes * 60
  comparison_operator = "GreaterThanOrEqualToThreshold"
  # Without heartbeats the heartbeat alarm speaks; this one keeps its
  # state (a minute with no beat must not flap it to OK and back).
  treat_missing_data = "ignore"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
  tags               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "rollback" {
  alarm_name          = "${var.name}-cutover-rollback"
  alarm_description   = "A rollback of ${var.target_name} started: runbooks/rollback.md"
  namespace           = "Cutover"
  metric_name         = "Rollbacks"
  dimensions          = { Target = var.target_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

# The body `cutover dashboard cloudwatch --plan PLAN` printed for this
# target (dashboards/README.md); none when not given.
resource "aws_cloudwatch_dashboard" "cutover" {
  count          = var.dashboard_body == null ? 0 : 1
  dashboard_name = "${var.name}-cutover"
  dashboard_body = var.dashboard_body
}
