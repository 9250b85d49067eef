# One target, composed: the serverless side, the edge (edge.tf), the
# controller's home (its table, role and the replicas that run `cutover
# serve`) and the monitoring (dashboard, alarms). infra/README.md walks
# through applying it.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

module "serverless" {
  source      = "../modules/serverless"
  name        = var.name
  zips_dir    = "${path.root}/../../target/lambda-zips"
  backend_url = var.backend_url
  # Only requests through the distribution are served (the edge module's secret).
  origin_secret = module.edge.origin_secret
  tags          = var.tags
}

module "controller" {
  source          = "../modules/controller"
  name            = var.name
  table_name      = "${var.name}-cutover"
  kvs_id          = module.edge.kvs_id
  api_id          = module.serverless.api_id
  edge_log_stream = module.edge.edge_log_stream_name
  # `cargo xtask package-controller` builds it.
  binary_path      = "${path.root}/../../target/controller/cutover-aarch64"
  subnet_ids       = var.controller_subnet_ids
  allowed_cidrs    = var.controller_allowed_cidrs
  tokens_parameter = var.controller_tokens_parameter
  tags             = var.tags
}

module "monitoring" {
  source       = "../modules/monitoring"
  name         = var.name
  target_name  = var.name
  alarm_emails = var.alarm_emails
  # What `cutover dashboard cloudwatch --plan plan.toml` printed for this target.
  dashboard_body = var.dashboard_file == null ? null : file(var.dashboard_file)
  tags           = var.tags
}
