# The controller's home: its table (state, audit trail, leases, the
# operators' inbox in one table) and the role `cutover serve` runs as, whose
# policy is infra/controller-policy.json with this account's names filled in.

locals {
  # The policy file names its resources with placeholders; fill them, and
  # leave out the edge logs' statement when the plan does not read them.
  filled = replace(replace(replace(replace(replace(replace(
    file("${path.module}/../../controller-policy.json"),
    "REGION", data.aws_region.current.name),
    "ACCOUNT", data.aws_caller_identity.current.account_id),
    "CUTOVER_TABLE", var.table_name),
    "KVS_ID", var.kvs_id),
    "API_ID", var.api_id),
  "EDGE_LOG_STREAM", coalesce(var.edge_log_stream, "none"))
  document = jsondecode(local.filled)
  policy = jsonencode(merge(local.document, {
    Statement = [for s in local.document.Statement : s if var.edge_log_stream != null || s.Sid != "TheEdgeLogs"]
  }))
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_dynamodb_table" "controller" {
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = true

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
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

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = var.assumed_by
    }
  }
}

resource "aws_iam_role" "controller" {
  name               = "${var.name}-controller"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "controller" {
  name   = "cutover-controller"
  role   = aws_iam_role.controller.id
  policy = local.policy
}
