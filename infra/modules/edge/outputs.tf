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
