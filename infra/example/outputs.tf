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
