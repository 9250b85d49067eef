# The edge's real-time logs of /api/*, for plans with
# [target.metrics.edge_logs]: a Kinesis data stream (on demand, kept 24 h)
# and a real-time log configuration writing every request to it, with the
# fields the controller reads, in the order the plan lists them
# (`edge_log_fields`, which `cutover plan init --from-terraform` copies).
# With them the judge knows each user request's cohort, so a user who
# fails on both sides is not counted against the new one.

locals {
  edge_log_fields = concat(
    ["timestamp", "c-ip", "sc-status", "time-taken", "cs-uri-stem", "cs-user-agent"],
    var.cohort_cookie == "" && var.cohort_header != "" ? ["cs-headers", "cs-headers-count"] : [],
    var.cohort_cookie != "" ? ["cs-cookie"] : [],
  )
}

resource "aws_kinesis_stream" "edge_logs" {
  count            = var.edge_logs ? 1 : 0
  name             = "${var.name}-edge-logs"
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = var.edge_logs_kms_key
  tags             = var.tags

  stream_mode_details {
    stream_mode = "ON_DEMAND"
  }
}

data "aws_iam_policy_document" "edge_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
  }
}

# What CloudFront needs to write the stream (and encrypt for it).
data "aws_iam_policy_document" "edge_logs" {
  count = var.edge_logs ? 1 : 0
  statement {
    sid       = "TheStream"
    actions   = ["kinesis:DescribeStreamSummary", "kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [aws_kinesis_stream.edge_logs[0].arn]
  }
  statement {
    sid       = "TheStreamsKey"
    actions   = ["kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["kinesis.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "edge_logs" {
  count              = var.edge_logs ? 1 : 0
  name               = "${var.name}-edge-logs"
  assume_role_policy = data.aws_iam_policy_document.edge_logs_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "edge_logs" {
  count  = var.edge_logs ? 1 : 0
  name   = "write-the-edge-logs"
  role   = aws_iam_role.edge_logs[0].id
  policy = data.aws_iam_policy_document.edge_logs[0].json
}

resource "aws_cloudfront_realtime_log_config" "api" {
  count         = var.edge_logs ? 1 : 0
  name          = "${var.name}-api"
  sampling_rate = 100
  fields        = local.edge_log_fields

  endpoint {
    stream_type = "Kinesis"
    kinesis_stream_config {
      role_arn   = aws_iam_role.edge_logs[0].arn
      stream_arn = aws_kinesis_stream.edge_logs[0].arn
    }
  }

  depends_on = [aws_iam_role_policy.edge_logs]
}

data "aws_region" "current" {}
