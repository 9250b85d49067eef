# One target, composed: the serverless side and the controller's home.
# (The edge wiring on the existing distribution and the monitoring follow
# as modules of their own; infra/README.md says what is written so far.)

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

provider "aws" {
  region = var.region
}

module "serverless" {
  source      = "../modules/serverless"
  name        = var.name
  zips_dir    = "${path.root}/../../target/lambda-zips"
  backend_url = var.backend_url
  tags        = var.tags
}

module "controller" {
  source          = "../modules/controller"
  name            = var.name
  table_name      = "${var.name}-cutover"
  kvs_id          = var.kvs_id
  api_id          = module.serverless.api_id
  edge_log_stream = var.edge_log_stream
  tags            = var.tags
}
