output "function_arn" {
  value = aws_cloudfront_function.router.arn
}

output "kvs_arn" {
  value = aws_cloudfront_key_value_store.cutover.arn
}

# The id in the store's ARN (…:key-value-store/ID): the resource's own id is its name.
output "kvs_id" {
  value = element(split("/", aws_cloudfront_key_value_store.cutover.arn), 1)
}

output "weight_key" {
  value = var.weight_key
}

output "probe_token_key" {
  value = local.probe_token_key
}

output "serverless_origin_id" {
  value = var.serverless_origin_id
}

output "cache_policy_id" {
  value = data.aws_cloudfront_cache_policy.disabled.id
}

output "origin_request_policy_id" {
  value = data.aws_cloudfront_origin_request_policy.all_but_host.id
}

output "origin_secret" {
  description = "What CloudFront sends in x-origin-verify on the API Gateway origin; the functions' ORIGIN_SECRET."
  value       = random_password.origin_secret.result
  sensitive   = true
}

# The edge logs, when made: the behaviour's configuration, the stream the
# controller reads (its name for the controller's policy) and the fields
# in their order (the plan's `fields`).
output "realtime_log_config_arn" {
  value = try(aws_cloudfront_realtime_log_config.api[0].arn, null)
}

output "edge_log_stream_arn" {
  value = try(aws_kinesis_stream.edge_logs[0].arn, null)
}

output "edge_log_stream_name" {
  value = try(aws_kinesis_stream.edge_logs[0].name, null)
}

output "edge_log_fields" {
  value = var.edge_logs ? local.edge_log_fields : null
}
