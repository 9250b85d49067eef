output "api_id" {
  value = module.serverless.api_id
}

output "api_stage" {
  value = module.serverless.api_stage
}

output "api_domain" {
  value = module.serverless.api_domain
}

output "lambda_functions" {
  value = module.serverless.function_names
}

output "app_table" {
  value = module.serverless.table_name
}

output "controller_table" {
  value = module.controller.table_name
}

output "controller_role_arn" {
  value = module.controller.role_arn
}

# Inside the VPC (or through an SSM port forward): cutover status --server URL.
output "controller_api_url" {
  value = module.controller.api_url
}

output "alarm_topic_arn" {
  value = module.monitoring.topic_arn
}

output "distribution_id" {
  value = aws_cloudfront_distribution.main.id
}

output "kvs_arn" {
  value = module.edge.kvs_arn
}

output "weight_key" {
  value = module.edge.weight_key
}

output "probe_token_key" {
  value = module.edge.probe_token_key
}

output "serverless_origin_id" {
  value = module.edge.serverless_origin_id
}

# What `cutover plan init --from-terraform` reads besides the above: the
# target's name (the cohort salt the function was rendered with), its
# cohort, and where the numbers come from.
output "name" {
  value = var.name
}

output "cohort_header" {
  value = var.cohort_header
}

output "alb_load_balancer" {
  value = var.alb_load_balancer
}

output "alb_target_group" {
  value = var.alb_target_group
}

output "xray_legacy_service" {
  value = var.xray_legacy_service
}

output "edge_log_stream_arn" {
  description = "The Kinesis stream of the edge's real-time logs (edge_logs = true), else null."
  value       = module.edge.edge_log_stream_arn
}

output "edge_log_fields" {
  description = "The real-time log configuration's fields, in its order (the plan's [target.metrics.edge_logs] fields)."
  value       = module.edge.edge_log_fields
}

output "when_store_unreadable" {
  value = var.when_store_unreadable
}
