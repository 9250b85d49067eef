# The edge's cutover pieces: the KeyValueStore holding the weight (0 at
# first; the controller writes it from then on) and the probe token, and the
# CloudFront Function that reads them, rendered from edge-function/function.js.
# The distribution itself is the team's (example/ imports it): it gets the
# API Gateway origin and the /api/* behaviour from this module's outputs.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
    random = {
      source = "hashicorp/random"
    }
  }
}

locals {
  probe_token_key = coalesce(var.probe_token_key, length(split("/", var.weight_key)) > 1 ? "${join("/", slice(split("/", var.weight_key), 0, length(split("/", var.weight_key)) - 1))}/probe-token" : "probe-token")
}

resource "aws_cloudfront_key_value_store" "cutover" {
  name    = "${var.name}-cutover"
  comment = "cutover: the share of /api/* on the serverless side (basis points) and the probe token"
}

# 0 % at first. The controller owns the value from then on: Terraform never
# writes it again (a later apply must not move users).
resource "aws_cloudfrontkeyvaluestore_key" "weight" {
  key_value_store_arn = aws_cloudfront_key_value_store.cutover.arn
  key                 = var.weight_key
  value               = "0"

  lifecycle {
    ignore_changes = [value]
  }
}

resource "random_password" "probe_token" {
  length  = 40
  special = false
}

# The controller's probes prove themselves with it; rotate it by writing a
# new one (the controller reads it at each start).
resource "aws_cloudfrontkeyvaluestore_key" "probe_token" {
  key_value_store_arn = aws_cloudfront_key_value_store.cutover.arn
  key                 = local.probe_token_key
  value               = random_password.probe_token.result

  lifecycle {
    ignore_changes = [value]
  }
}

# Sent by CloudFront on the API Gateway origin (x-origin-verify) and
# checked by the functions (ORIGIN_SECRET): the API's own endpoint is on
# the internet, and only requests through the distribution are served.
resource "random_password" "origin_secret" {
  length  = 40
  special = false
}

resource "aws_cloudfront_function" "router" {
  name    = "${var.name}-weight"
  runtime = "cloudfront-js-2.0"
  comment = "cutover: sends each /api/* request to the ALB or API Gateway by sticky cohort"
  publish = true
  code = templatefile("${path.module}/../../edge-function/function.js", {
    weight_key            = var.weight_key
    probe_token_key       = local.probe_token_key
    serverless_origin_id  = var.serverless_origin_id
    salt                  = coalesce(var.salt, var.name)
    cohort_header         = var.cohort_header
    cohort_cookie         = var.cohort_cookie
    when_store_unreadable = var.when_store_unreadable
  })
  key_value_store_associations = [aws_cloudfront_key_value_store.cutover.arn]
}

# /api/* is never cached (each answer is a user's own), and the viewer's
# Host never reaches an origin (API Gateway answers only to its own name).
data "aws_cloudfront_cache_policy" "disabled" {
  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "all_but_host" {
  name = "Managed-AllViewerExceptHostHeader"
}
