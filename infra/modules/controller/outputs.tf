output "table_name" {
  value = aws_dynamodb_table.controller.name
}

output "role_arn" {
  value = aws_iam_role.controller.arn
}

# The policy as attached, for the contract test and for review.
output "policy" {
  value = local.policy
}

# The control API inside the VPC: `cutover status --server` and the dashboard.
output "api_url" {
  value = "http://${aws_lb.api.dns_name}:${local.port}"
}

output "autoscaling_group" {
  value = aws_autoscaling_group.controller.name
}

# The unit as rendered, for the tests and for review.
output "unit" {
  value = local.unit
}
