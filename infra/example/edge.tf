# The edge: the cutover's KeyValueStore and function, and the existing
# distribution, imported and given the API Gateway origin and the /api/*
# behaviour. Describe your distribution as it is (aliases, certificate,
# other behaviours) before the first apply: `terraform plan` must show only
# the additions below.

module "edge" {
  source                = "../modules/edge"
  name                  = var.name
  weight_key            = var.weight_key
  serverless_origin_id  = "api-gateway"
  cohort_header         = var.cohort_header
  when_store_unreadable = var.when_store_unreadable
  edge_logs             = var.edge_logs
  tags                  = var.tags
}

import {
  to = aws_cloudfront_distribution.main
  id = var.distribution_id
}

resource "aws_cloudfront_distribution" "main" {
  # Your distribution's own settings stay as they are; these checks concern
  # them, not what the cutover adds: name your WAF, logging and origin
  # failover here if you have them.
  #checkov:skip=CKV_AWS_68:the distribution's WAF is the team's own (web_acl_id), not the cutover's
  #checkov:skip=CKV_AWS_86:the distribution's access logging is the team's own; the cutover reads real-time logs
  #checkov:skip=CKV_AWS_310:origin failover would undo the weight: the edge function picks the origin
  #checkov:skip=CKV_AWS_374:geo restriction is the team's own policy
  #checkov:skip=CKV2_AWS_32:response headers are the application's, the same on both sides
  #checkov:skip=CKV2_AWS_47:the WAF's rules are the team's own (web_acl_id)
  #checkov:skip=CKV2_AWS_42:a custom certificate is the team's own (aliases, viewer_certificate)
  #checkov:skip=CKV_AWS_305:an API's distribution serves no root object
  enabled         = true
  is_ipv6_enabled = true
  comment         = var.name
  aliases         = var.aliases
  web_acl_id      = var.web_acl_id

  # The old side: the ALB, as the distribution has it today.
  origin {
    origin_id   = var.legacy_origin_id
    domain_name = var.alb_domain
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  # The new side: API Gateway, chosen per request by the edge function;
  # the secret tells the functions a request came through here.
  origin {
    origin_id   = module.edge.serverless_origin_id
    domain_name = module.serverless.api_domain
    custom_header {
      name  = "x-origin-verify"
      value = module.edge.origin_secret
    }
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id       = var.legacy_origin_id
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD", "OPTIONS"]
    cached_methods         = ["GET", "HEAD"]
    cache_policy_id        = var.default_cache_policy_id
    compress               = true
  }

  # /api/*: the ALB by default, API Gateway when the function says so; all
  # methods, no caching, the viewer's Host kept from the origins.
  ordered_cache_behavior {
    path_pattern             = "/api/*"
    target_origin_id         = var.legacy_origin_id
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods           = ["GET", "HEAD"]
    cache_policy_id          = module.edge.cache_policy_id
    origin_request_policy_id = module.edge.origin_request_policy_id
    compress                 = true

    function_association {
      event_type   = "viewer-request"
      function_arn = module.edge.function_arn
    }

    # Each request's cohort for the judge, when edge_logs is on.
    realtime_log_config_arn = module.edge.realtime_log_config_arn
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn            = var.acm_certificate_arn
    cloudfront_default_certificate = var.acm_certificate_arn == null
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  tags = var.tags

  # The team's production distribution: a mistaken destroy, or a change
  # that forces replacement, must stop here.
  lifecycle {
    prevent_destroy = true
  }
}
