# Where `cutover serve` runs: two ARM64 instances (an Auto Scaling group
# across private subnets) with a systemd unit, behind an internal Network
# Load Balancer. The API is reachable only from inside the VPC (the
# allowed CIDRs); from a laptop, through an SSM port forward
# (infra/README.md). Why instances and not Fargate: infra/README.md.

locals {
  port   = 7300
  binary = "${var.name}/cutover-${filesha256(var.binary_path)}"
  unit = templatefile("${path.module}/cutover.service.tftpl", {
    region           = data.aws_region.current.name
    table            = aws_dynamodb_table.controller.name
    tokens_parameter = var.tokens_parameter
    port             = local.port
    lease_ttl        = var.lease_ttl
  })
  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    region        = data.aws_region.current.name
    bucket        = aws_s3_bucket.artifacts.id
    binary_key    = aws_s3_object.binary.key
    binary_sha256 = filesha256(var.binary_path)
    unit_base64   = base64encode(local.unit)
  })
}

data "aws_ssm_parameter" "ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

data "aws_subnet" "first" {
  id = var.subnet_ids[0]
}

data "aws_vpc" "this" {
  id = data.aws_subnet.first.vpc_id
}

# The binary `cargo xtask package-controller` built, named by its hash so a
# new build rolls the instances.
resource "aws_s3_bucket" "artifacts" {
  # The binary is built again from the repository at will, nothing acts on
  # new objects, and the bucket is private, read by one role at boot.
  #checkov:skip=CKV_AWS_144:the artifact is rebuilt from the repository; a second region adds nothing
  #checkov:skip=CKV2_AWS_62:nothing acts on new objects; the instances read one key at boot
  #checkov:skip=CKV_AWS_18:access logging needs a log bucket of its own; the bucket is private and read by one role
  bucket_prefix = "${var.name}-cutover-"
  force_destroy = true
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    id     = "old-binaries"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_object" "binary" {
  bucket = aws_s3_bucket.artifacts.id
  key    = local.binary
  source = var.binary_path
  # Not `etag`: with SSE-KMS an object's ETag is not its MD5.
  source_hash = filesha256(var.binary_path)
}

# What the instances need besides the controller's own policy: the binary,
# the tokens, and Session Manager (no SSH, no open port for people).
data "aws_iam_policy_document" "host" {
  statement {
    sid       = "TheBinary"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/${local.binary}"]
  }
  statement {
    sid       = "TheTokens"
    actions   = ["ssm:GetParameter"]
    resources = ["arn:aws:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter/${trimprefix(var.tokens_parameter, "/")}"]
  }
  # A key of your own on the bucket, the disk or the tokens: the instances
  # decrypt with it.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "TheKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "host" {
  name   = "cutover-host"
  role   = aws_iam_role.controller.id
  policy = data.aws_iam_policy_document.host.json
}

# Session Manager, for operators' shells and port forwards. Its managed
# policy also lets the instance read any parameter (ssm:GetParameter on *):
# set session_manager = false where that is too wide, and reach the
# instances another way.
resource "aws_iam_role_policy_attachment" "ssm" {
  count      = var.session_manager ? 1 : 0
  role       = aws_iam_role.controller.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "controller" {
  name = "${var.name}-controller"
  role = aws_iam_role.controller.name
}

resource "aws_security_group" "controller" {
  name_prefix = "${var.name}-controller-"
  description = "cutover serve: its API from inside the VPC only"
  vpc_id      = data.aws_vpc.this.id
  tags        = var.tags

  # The load balancer's health checks come from its own addresses in the
  # subnets: the VPC's block is always let in, plus whoever else may call.
  ingress {
    description = "the control API, from inside the VPC and the allowed ranges"
    from_port   = local.port
    to_port     = local.port
    protocol    = "tcp"
    cidr_blocks = distinct(concat([data.aws_vpc.this.cidr_block], var.allowed_cidrs))
  }

  egress {
    description = "AWS APIs (DynamoDB, CloudFront, CloudWatch, X-Ray, SSM, S3) and the probes through the distribution"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_launch_template" "controller" {
  name_prefix   = "${var.name}-controller-"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.instance_type
  user_data     = base64encode(local.user_data)
  tags          = var.tags

  iam_instance_profile {
    arn = aws_iam_instance_profile.controller.arn
  }

  network_interfaces {
    associate_public_ip_address = false
    security_groups             = [aws_security_group.controller.id]
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = 8
      volume_type = "gp3"
      encrypted   = true
      kms_key_id  = var.kms_key_arn
    }
  }

  monitoring {
    enabled = true
  }

  # A new Amazon Linux release must not roll the controllers by itself
  # (an apply during a cutover would): change image_id on purpose, with
  # `terraform apply -replace`, between cutovers.
  lifecycle {
    ignore_changes = [image_id]
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-cutover" })
  }
}

resource "aws_autoscaling_group" "controller" {
  name_prefix               = "${var.name}-controller-"
  min_size                  = var.replicas
  max_size                  = var.replicas
  desired_capacity          = var.replicas
  vpc_zone_identifier       = var.subnet_ids
  target_group_arns         = [aws_lb_target_group.api.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 120

  launch_template {
    id      = aws_launch_template.controller.id
    version = aws_launch_template.controller.latest_version
  }

  # A new binary or unit replaces one instance at a time: the other keeps
  # the leases (a replica that stops releases its own at once).
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-cutover" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_lb" "api" {
  # Internal, TCP only: cutover serve logs every API request itself (NLB
  # access logs cover TLS listeners only), and the balancer holds no state
  # that deletion protection would save.
  #checkov:skip=CKV_AWS_91:cutover serve logs its own API requests; NLB access logs record only TLS listeners
  #checkov:skip=CKV_AWS_150:the load balancer holds no state; protection would block destroy after a decommission
  name_prefix                      = "cutovr"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  enable_cross_zone_load_balancing = true
  tags                             = var.tags
}

resource "aws_lb_target_group" "api" {
  name_prefix          = "cutovr"
  port                 = local.port
  protocol             = "TCP"
  vpc_id               = data.aws_vpc.this.id
  deregistration_delay = 30
  tags                 = var.tags

  health_check {
    protocol            = "HTTP"
    path                = "/healthz"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

# TCP through to the replicas: the API's TLS, when configured, ends at
# cutover serve itself (--tls-cert/--tls-key), not here.
resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = local.port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}
