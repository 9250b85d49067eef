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
