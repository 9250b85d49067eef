output "topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  value = [
    aws_cloudwatch_metric_alarm.heartbeat_missing.alarm_name,
    aws_cloudwatch_metric_alarm.paused_too_long.alarm_name,
    aws_cloudwatch_metric_alarm.rollback.alarm_name,
  ]
}
