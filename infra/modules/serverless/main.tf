# The serverless side: an API Gateway HTTP API whose routes are the route
# contract (api-lambdas/routes.json, read here, never copied), one Lambda
# function per route, each with a role granting exactly its contract's
# DynamoDB actions on its own key prefix, and the application's table.

locals {
  contract = jsondecode(file(coalesce(var.routes_file, "${path.module}/../../../api-lambdas/routes.json")))
  routes   = { for route in local.contract.routes : route.function => route }
  table    = local.contract.table

  # Each function's budget: each of its store calls is bounded at 3 s (one
  # per action it holds: get-metadata reads, calls the backend, then
  # writes), the backend's at BACKEND_TIMEOUT_MS, plus a second for itself.
  timeouts = {
    for name, route in local.routes : name => (
      1 + 3 * length(route.dynamodb) + (route.backend ? ceil(var.backend_timeout_ms / 1000) : 0)
    )
  }
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# --- the application's table ------------------------------------------------

resource "aws_dynamodb_table" "app" {
  name                        = "${var.name}-app"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = local.table.partition_key
  deletion_protection_enabled = true

  attribute {
    name = local.table.partition_key
    type = "S"
  }

  ttl {
    attribute_name = local.table.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# --- one function per route ---------------------------------------------------

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.routes
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.routes

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  # X-Ray's write actions take no resource.
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # Exactly the contract's actions, on items whose partition key starts
  # with the contract's prefix.
  dynamic "statement" {
    for_each = length(each.value.dynamodb) > 0 ? [each.value] : []
    content {
      sid       = "Contract"
      actions   = statement.value.dynamodb
      resources = [aws_dynamodb_table.app.arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = ["${statement.value.key_prefix}*"]
      }
    }
  }
}

# In a VPC, Lambda makes the functions' network interfaces with their roles.
resource "aws_iam_role_policy_attachment" "vpc" {
  for_each   = length(var.vpc_subnet_ids) > 0 ? local.routes : {}
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy" "function" {
  for_each = local.routes
  name     = "contract"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.routes
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "function" {
  # API Gateway invokes these synchronously: a dead-letter queue only
  # catches asynchronous invocations, so there is nothing for one to hold.
  #checkov:skip=CKV_AWS_116:synchronous invocations only (API Gateway); a DLQ catches async ones
  # They reach DynamoDB and the backend over TLS, signed with their roles; a
  # VPC adds ENIs to cold starts and NAT to every backend call. Give
  # vpc_subnet_ids when the backend is reachable only inside one.
  #checkov:skip=CKV_AWS_117:VPC optional (vpc_subnet_ids); DynamoDB and the backend are reached over TLS with IAM
  # Reserved concurrency carves capacity out of the account's pool and
  # throttles a step that brings more users than it holds; `cutover
  # preflight` checks the account's unreserved concurrency against the peak.
  #checkov:skip=CKV_AWS_115:pre-flight checks the account's concurrency against the peak; a cap would throttle a step
  # The zips are built and checked in CI (cargo xtask package-lambdas); add
  # an AWS Signer code-signing configuration where policy demands one.
  #checkov:skip=CKV_AWS_272:packages built and verified by cargo xtask package-lambdas
  for_each         = local.routes
  function_name    = "${var.name}-${each.key}"
  role             = aws_iam_role.function[each.key].arn
  architectures    = ["arm64"]
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  filename         = "${var.zips_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.zips_dir}/${each.key}/bootstrap.zip")
  memory_size      = var.memory_mb
  timeout          = local.timeouts[each.key]
  kms_key_arn      = var.kms_key_arn

  tracing_config {
    mode = "Active"
  }

  dynamic "vpc_config" {
    for_each = length(var.vpc_subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  dynamic "environment" {
    for_each = length(each.value.dynamodb) > 0 || each.value.backend || var.origin_secret != null ? [each.value] : []
    content {
      variables = merge(
        var.origin_secret != null ? { ORIGIN_SECRET = var.origin_secret } : {},
        length(environment.value.dynamodb) > 0 ? { TABLE_NAME = aws_dynamodb_table.app.name } : {},
        environment.value.backend ? { BACKEND_URL = var.backend_url, BACKEND_TIMEOUT_MS = tostring(var.backend_timeout_ms) } : {},
      )
    }
  }

  # The log group first, with its retention: a function that logs before it
  # exists gets one that keeps logs for ever.
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function, aws_iam_role_policy_attachment.vpc]
  tags       = var.tags
}

# --- the HTTP API ---------------------------------------------------------------

resource "aws_apigatewayv2_api" "api" {
  name          = var.name
  protocol_type = "HTTP"
  description   = "The serverless side of ${var.name}: one route per entry of the route contract"
  tags          = var.tags
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.api.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      routeKey         = "$context.routeKey"
      status           = "$context.status"
      latency          = "$context.responseLatency"
      integrationError = "$context.integrationErrorMessage"
      xrayTraceId      = "$context.xrayTraceId"
    })
  }

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "function" {
  for_each               = local.routes
  api_id                 = aws_apigatewayv2_api.api.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = min(30000, (local.timeouts[each.key] + 1) * 1000)
}

resource "aws_apigatewayv2_route" "function" {
  # The routes are the existing API's, which has no authorizer of its own
  # on either side (the internal API trusts its network). The default
  # execute-api endpoint is on the internet, so the functions serve only
  # requests carrying the secret CloudFront adds (ORIGIN_SECRET,
  # x-origin-verify): the API is reached through the distribution only.
  #checkov:skip=CKV_AWS_309:no authorizer on either side, as before the cutover; the functions serve only requests through CloudFront (ORIGIN_SECRET)
  for_each  = local.routes
  api_id    = aws_apigatewayv2_api.api.id
  route_key = "${each.value.method} ${each.value.path}"
  target    = "integrations/${aws_apigatewayv2_integration.function[each.key].id}"
}

resource "aws_lambda_permission" "api" {
  for_each      = local.routes
  statement_id  = "AllowTheHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.api.execution_arn}/*/${each.value.method}/*"
}
