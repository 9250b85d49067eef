# One target, composed: the serverless side, the edge (edge.tf) and the
# controller's home. (Where `cutover serve` runs and the monitoring follow;
# infra/README.md says what is written so far.)

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
  edge_log_stream = var.edge_log_stream
  tags            = var.tags
}
