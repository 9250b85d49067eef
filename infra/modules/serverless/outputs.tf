output "api_id" {
  value = aws_apigatewayv2_api.api.id
}

output "api_stage" {
  value = aws_apigatewayv2_stage.default.name
}

# What CloudFront's origin needs: the API's host name, without the scheme.
output "api_domain" {
  value = replace(aws_apigatewayv2_api.api.api_endpoint, "https://", "")
}

output "function_names" {
  description = "Each route's function, by its name in the route contract."
  value       = { for name, function in aws_lambda_function.function : name => function.function_name }
}

output "table_name" {
  value = aws_dynamodb_table.app.name
}
