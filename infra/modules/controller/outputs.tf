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
