"""The Terraform in infra/, checked offline (no terraform binary here):
every file parses, and what it builds keeps the project's contracts.

Run by ./tests/run: .venv/bin/python -m unittest discover -s infra/tests
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import unittest

import hcl2

INFRA = pathlib.Path(__file__).resolve().parent.parent
ROOT = INFRA.parent
CONTRACT = json.loads((ROOT / "api-lambdas/routes.json").read_text())
POLICY = json.loads((INFRA / "controller-policy.json").read_text())


def clean(value):
    """python-hcl2 8 keeps HCL's quotes and marks blocks: strip both."""
    if isinstance(value, dict):
        return {clean_key(k): clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean_key(key):
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def load(path):
    with open(path) as f:
        return clean(hcl2.load(f))


def resources(doc, kind, section="resource"):
    """name → body of every `resource "kind" "name"` (or `data`, with section="data") in a parsed file."""
    out = {}
    for block in doc.get(section, []):
        for k, named in block.items():
            if k == kind:
                out.update(named)
    return out


def data_sources(doc, kind):
    return resources(doc, kind, "data")


def one(blocks):
    assert isinstance(blocks, list) and len(blocks) == 1, blocks
    return blocks[0]


TF_FILES = sorted(INFRA.rglob("*.tf"))
SERVERLESS = load(INFRA / "modules/serverless/main.tf")
CONTROLLER = load(INFRA / "modules/controller/main.tf")
EDGE = load(INFRA / "modules/edge/main.tf")
EXAMPLE_EDGE = load(INFRA / "example/edge.tf")
HOST = load(INFRA / "modules/controller/host.tf")
MONITORING = load(INFRA / "modules/monitoring/main.tf")
EXAMPLE = load(INFRA / "example/main.tf")
# The metric names the controller publishes (controller/core/src/dashboard.rs).
PUBLISHED = dict(
    re.findall(r'pub const ([A-Z_]+): &str = "([^"]+)";', (ROOT / "controller/core/src/dashboard.rs").read_text())
)


def render(template, values):
    """Terraform's templatefile() for the templates here: ${name} only."""
    used = set(re.findall(r"\$\{(\w+)\}", template))
    missing = used - set(values)
    assert not missing, f"not given: {missing}"
    return re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), template), used


class EveryFileParses(unittest.TestCase):
    def test_every_tf_file_parses(self):
        self.assertGreater(len(TF_FILES), 6)
        for path in TF_FILES:
            with self.subTest(path=str(path.relative_to(ROOT))):
                load(path)

    def test_the_example_has_a_tfvars_example_for_every_variable_without_a_default(self):
        variables = load(INFRA / "example/variables.tf")["variable"]
        required = {name for block in variables for name, body in block.items() if "default" not in body}
        example = (INFRA / "example/terraform.tfvars.example").read_text()
        given = set(re.findall(r"^([a-z_]+)\s*=", example, re.M))
        self.assertEqual(required - given, set(), "variables the example does not show")


class EverySkippedCheckIsJustified(unittest.TestCase):
    def test_each_checkov_skip_has_a_reason_and_a_comment_above_it(self):
        skips = 0
        for path in TF_FILES:
            lines = path.read_text().splitlines()
            for i, line in enumerate(lines):
                if "checkov:skip=" not in line:
                    continue
                skips += 1
                with self.subTest(path=path.name, line=i + 1):
                    check, _, reason = line.split("checkov:skip=", 1)[1].partition(":")
                    self.assertRegex(check, r"^CKV2?_AWS_\d+$")
                    self.assertGreater(len(reason.strip()), 20, "a skip says why")
                    # The why, in words, right above the skips (a comment, not only the tags).
                    j = i - 1
                    while j >= 0 and "checkov:skip=" in lines[j]:
                        j -= 1
                    self.assertTrue(j >= 0 and lines[j].strip().startswith("#"), "a comment above the skips")
        self.assertGreater(skips, 0)


class TheRoutesAreTheContract(unittest.TestCase):
    def test_routes_are_read_from_routes_json_never_copied(self):
        local = one(SERVERLESS["locals"])
        self.assertIn("jsondecode(file(", local["contract"])
        self.assertIn("api-lambdas/routes.json", local["contract"])
        self.assertIn("for route in local.contract.routes : route.function => route", local["routes"])
        for path in TF_FILES:
            text = path.read_text()
            for route in CONTRACT["routes"]:
                with self.subTest(path=path.name, route=route["path"]):
                    self.assertNotIn(route["path"], text, "a route written into Terraform instead of read")
                    self.assertNotIn(f'"{route["function"]}"', text, "a function named in Terraform")

    def test_one_route_integration_and_function_per_contract_entry(self):
        for kind in ("aws_lambda_function", "aws_apigatewayv2_route", "aws_apigatewayv2_integration",
                     "aws_iam_role", "aws_iam_role_policy", "aws_cloudwatch_log_group", "aws_lambda_permission"):
            with self.subTest(kind=kind):
                body = resources(SERVERLESS, kind)
                per_route = [b for b in body.values() if b.get("for_each") == "${local.routes}"]
                self.assertEqual(len(per_route), 1, f"one {kind} per route")
        route = resources(SERVERLESS, "aws_apigatewayv2_route")["function"]
        self.assertEqual(route["route_key"], "${each.value.method} ${each.value.path}")
        self.assertEqual(route["target"], "integrations/${aws_apigatewayv2_integration.function[each.key].id}")

    def test_the_functions_are_the_packages(self):
        function = resources(SERVERLESS, "aws_lambda_function")["function"]
        self.assertEqual(function["filename"], "${var.zips_dir}/${each.key}/bootstrap.zip")
        self.assertEqual(function["architectures"], ["arm64"])
        self.assertEqual(function["runtime"], "provided.al2023")
        self.assertEqual(function["handler"], "bootstrap")
        self.assertEqual(one(function["tracing_config"])["mode"], "Active")
        # Where `cargo xtask package-lambdas` writes them, and where the example looks.
        package = (ROOT / "xtask/src/package.rs").read_text()
        self.assertIn('LAMBDA_DIR: &str = "target/lambda-zips"', package)
        self.assertIn('.join(name).join("bootstrap.zip")', package)
        example = load(INFRA / "example/main.tf")
        serverless = next(m["serverless"] for m in example["module"] if "serverless" in m)
        self.assertTrue(serverless["zips_dir"].endswith("/target/lambda-zips"), serverless["zips_dir"])
        # The binaries packaged are the contract's functions.
        binaries = {p.stem for p in (ROOT / "api-lambdas/functions/src/bin").glob("*.rs")}
        self.assertEqual(binaries, {r["function"] for r in CONTRACT["routes"]})

    def test_a_functions_timeout_covers_each_of_its_calls(self):
        # Each DynamoDB action is a call bounded at 3 s (get-metadata reads,
        # calls the backend, writes), the backend's at BACKEND_TIMEOUT_MS.
        timeouts = one(SERVERLESS["locals"])["timeouts"]
        self.assertIn("3 * length(route.dynamodb)", timeouts)
        self.assertIn("ceil(var.backend_timeout_ms / 1000)", timeouts)
        dynamo = (ROOT / "api-lambdas/aws/src/dynamo.rs").read_text()
        self.assertIn(".operation_timeout(Duration::from_secs(3))", dynamo)
        worst = max(1 + 3 * len(r["dynamodb"]) + (3 if r["backend"] else 0) for r in CONTRACT["routes"])
        self.assertLessEqual(worst + 1, 30, "API Gateway waits 30 s at most")

    def test_the_api_is_http_with_default_stage_and_payload_2(self):
        api = resources(SERVERLESS, "aws_apigatewayv2_api")["api"]
        self.assertEqual(api["protocol_type"], "HTTP")
        stage = resources(SERVERLESS, "aws_apigatewayv2_stage")["default"]
        self.assertEqual((stage["name"], stage["auto_deploy"]), ("$default", True))
        integration = resources(SERVERLESS, "aws_apigatewayv2_integration")["function"]
        self.assertEqual(integration["integration_type"], "AWS_PROXY")
        self.assertEqual(integration["payload_format_version"], "2.0")
        self.assertIn("min(30000,", integration["timeout_milliseconds"], "API Gateway's limit is 30 s")

    def test_the_function_settings_are_those_the_handlers_read(self):
        function = resources(SERVERLESS, "aws_lambda_function")["function"]
        environment = next(d["environment"] for d in function["dynamic"] if "environment" in d)
        variables = one(environment["content"])["variables"]
        set_here = set(re.findall(r"\b([A-Z][A-Z_]+) =", variables))
        # The settings the functions read (api-lambdas/functions/src/lib.rs).
        lib = (ROOT / "api-lambdas/functions/src/lib.rs").read_text()
        read = (set(re.findall(r'required\("([A-Z_]+)"', lib)) | set(re.findall(r'number\("([A-Z_]+)"', lib))
                | set(re.findall(r'env::var\("([A-Z_]+)"\)', lib)))
        self.assertTrue(read, "the functions' settings were not found")
        self.assertEqual(set_here - read, set(), "Terraform sets what no function reads")
        self.assertIn("TABLE_NAME", set_here)
        self.assertIn("BACKEND_URL", set_here)
        self.assertIn("ORIGIN_SECRET", set_here)


class EachRoleIsItsContract(unittest.TestCase):
    def test_a_functions_dynamodb_actions_are_its_contracts_on_its_key_prefix(self):
        document = data_sources(SERVERLESS, "aws_iam_policy_document")["function"]
        self.assertEqual(document["for_each"], "${local.routes}")
        fixed = document["statement"]
        self.assertEqual([s["sid"] for s in fixed], ["Logs", "Tracing"])
        for statement in fixed:
            self.assertFalse(any(a.startswith("dynamodb:") for a in statement["actions"]))
        contract = one(one(document["dynamic"])["statement"]["content"])
        self.assertEqual(contract["actions"], "${statement.value.dynamodb}")
        self.assertEqual(contract["resources"], ["${aws_dynamodb_table.app.arn}"])
        condition = one(contract["condition"])
        self.assertEqual(condition["test"], "ForAllValues:StringLike")
        self.assertEqual(condition["variable"], "dynamodb:LeadingKeys")
        self.assertEqual(condition["values"], ["${statement.value.key_prefix}*"])
        # Every route with DynamoDB actions has a prefix to confine them to,
        # and only DynamoDB actions are listed.
        for route in CONTRACT["routes"]:
            with self.subTest(function=route["function"]):
                if route["dynamodb"]:
                    self.assertTrue(route["key_prefix"])
                self.assertTrue(all(a.startswith("dynamodb:") for a in route["dynamodb"]))

    def test_the_app_table_is_the_contracts(self):
        table = resources(SERVERLESS, "aws_dynamodb_table")["app"]
        self.assertEqual(table["hash_key"], "${local.table.partition_key}")
        self.assertEqual(one(table["ttl"])["attribute_name"], "${local.table.ttl_attribute}")
        self.assertTrue(one(table["point_in_time_recovery"])["enabled"])
        self.assertEqual(table["billing_mode"], "PAY_PER_REQUEST")


class TheControllersRoleIsThePolicyFile(unittest.TestCase):
    def test_the_policy_is_controller_policy_json_with_its_placeholders_filled(self):
        local = one(CONTROLLER["locals"])
        self.assertIn('file("${path.module}/../../controller-policy.json")', local["filled"])
        placeholders = set()
        for statement in POLICY["Statement"]:
            resources_ = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for arn in resources_:
                placeholders |= set(re.findall(r"\b[A-Z][A-Z_]{2,}\b", arn))
        filled = set(re.findall(r'"([A-Z][A-Z_]+)", ', local["filled"]))
        self.assertEqual(placeholders, filled, "each placeholder of the policy file is filled, and only those")
        policy = resources(CONTROLLER, "aws_iam_role_policy")["controller"]
        self.assertEqual(policy["policy"], "${local.policy}")
        # Only the edge logs' statement is ever left out.
        self.assertIn('s.Sid != "TheEdgeLogs"', local["policy"])
        self.assertIn("TheEdgeLogs", {s["Sid"] for s in POLICY["Statement"]})

    def test_the_controllers_table_is_what_the_store_expects(self):
        table = resources(CONTROLLER, "aws_dynamodb_table")["controller"]
        self.assertEqual((table["hash_key"], table["range_key"]), ("pk", "sk"))
        self.assertEqual(table["billing_mode"], "PAY_PER_REQUEST")
        self.assertTrue(table["deletion_protection_enabled"])
        self.assertTrue(one(table["point_in_time_recovery"])["enabled"])
        # The store's own keys (controller/aws/src/dynamo.rs).
        dynamo = (ROOT / "controller/aws/src/dynamo.rs").read_text()
        self.assertIn('"pk"', dynamo)
        self.assertIn('"sk"', dynamo)


class TheEdgeIsWhatTheControllerAndPreflightExpect(unittest.TestCase):
    def test_the_function_is_rendered_with_exactly_its_template_variables(self):
        function = resources(EDGE, "aws_cloudfront_function")["router"]
        self.assertEqual((function["runtime"], function["publish"]), ("cloudfront-js-2.0", True))
        self.assertEqual(function["key_value_store_associations"], ["${aws_cloudfront_key_value_store.cutover.arn}"])
        code = function["code"]
        self.assertIn('templatefile("${path.module}/../../edge-function/function.js"', code)
        given = set(re.findall(r"\b([a-z_]+)\s*=", code.split("function.js\",", 1)[1]))
        source = (INFRA / "edge-function/function.js").read_text()
        wanted = set(re.findall(r"\$\{([a-z_]+)\}", source))
        self.assertEqual(given, wanted, "the variables Terraform passes are the function's")
        # And the ones `cutover plan edge-function` fills (controller/core/src/edge_function.rs).
        rust = (ROOT / "controller/core/src/edge_function.rs").read_text()
        vars_ = rust.split("let vars:", 1)[1].split("];", 1)[0]
        rendered_by_rust = set(re.findall(r'\("([a-z_]+)", ', vars_))
        self.assertEqual(wanted, rendered_by_rust)

    def test_the_weight_starts_at_0_and_terraform_never_writes_it_again(self):
        for key, value in (("weight", "0"), ("probe_token", "${random_password.probe_token.result}")):
            with self.subTest(key=key):
                resource = resources(EDGE, "aws_cloudfrontkeyvaluestore_key")[key]
                self.assertEqual(resource["value"], value)
                self.assertEqual(one(resource["lifecycle"])["ignore_changes"], ["value"])
        self.assertEqual(resources(EDGE, "aws_cloudfrontkeyvaluestore_key")["weight"]["key"], "${var.weight_key}")
        # The probe token beside the weight, as the controller derives it
        # (CloudFrontEdge::default_probe_token_key: internal-api/weight → internal-api/probe-token).
        local = one(EDGE["locals"])["probe_token_key"]
        self.assertIn('"${join("/", slice(split("/", var.weight_key), 0, length(split("/", var.weight_key)) - 1))}/probe-token"', local)
        plan = (ROOT / "controller/core/src/plan/default-plan.toml").read_text()
        self.assertIn('weight_key = "internal-api/weight"', plan)
        self.assertIn('probe_token_key = "internal-api/probe-token"', plan)
        self.assertIn('serverless_origin_id = "api-gateway"', plan)

    def test_the_api_behaviour_is_uncached_all_methods_no_host_and_routed_by_the_function(self):
        self.assertEqual(data_sources(EDGE, "aws_cloudfront_cache_policy")["disabled"]["name"], "Managed-CachingDisabled")
        self.assertEqual(data_sources(EDGE, "aws_cloudfront_origin_request_policy")["all_but_host"]["name"],
                         "Managed-AllViewerExceptHostHeader")
        distribution = resources(EXAMPLE_EDGE, "aws_cloudfront_distribution")["main"]
        api = one([b for b in distribution["ordered_cache_behavior"] if b["path_pattern"] == "/api/*"])
        self.assertEqual(set(api["allowed_methods"]), {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"})
        self.assertEqual(api["cache_policy_id"], "${module.edge.cache_policy_id}")
        self.assertEqual(api["origin_request_policy_id"], "${module.edge.origin_request_policy_id}")
        self.assertEqual(one(api["function_association"]),
                         {"event_type": "viewer-request", "function_arn": "${module.edge.function_arn}"})
        # The behaviour's own origin is the old side; the function selects the new one by its id.
        self.assertEqual(api["target_origin_id"], "${var.legacy_origin_id}")
        origins = {o["origin_id"]: o for o in distribution["origin"]}
        # Only requests through the distribution reach the functions: the
        # header the functions check, with the secret they are given.
        api_origin = origins["${module.edge.serverless_origin_id}"]
        self.assertEqual(one(api_origin["custom_header"]),
                         {"name": "x-origin-verify", "value": "${module.edge.origin_secret}"})
        lib = (ROOT / "api-lambdas/functions/src/lib.rs").read_text()
        self.assertIn('ORIGIN_HEADER: &str = "x-origin-verify"', lib)
        example = load(INFRA / "example/main.tf")
        serverless = next(m["serverless"] for m in example["module"] if "serverless" in m)
        self.assertEqual(serverless["origin_secret"], "${module.edge.origin_secret}")
        self.assertEqual(origins["${module.edge.serverless_origin_id}"]["domain_name"], "${module.serverless.api_domain}")
        for origin in origins.values():
            self.assertEqual(one(origin["custom_origin_config"])["origin_protocol_policy"], "https-only")


class ThePlanFromTerraformBucketsAsTheEdgeDoes(unittest.TestCase):
    def test_the_name_and_cohort_the_plan_reads_are_those_the_function_was_rendered_with(self):
        # The plan's salt defaults to its target name; `--from-terraform`
        # takes the name and the cohort header from the outputs below.
        function = resources(EDGE, "aws_cloudfront_function")["router"]
        self.assertIn("salt                  = coalesce(var.salt, var.name)", (INFRA / "modules/edge/main.tf").read_text())
        self.assertIn("cohort_header         = var.cohort_header", (INFRA / "modules/edge/main.tf").read_text())
        self.assertIn("templatefile(", function["code"])
        edge_call = next(m["edge"] for m in EXAMPLE_EDGE["module"] if "edge" in m)
        self.assertEqual(edge_call["name"], "${var.name}")
        self.assertEqual(edge_call["cohort_header"], "${var.cohort_header}")
        self.assertNotIn("salt", edge_call, "the example leaves the salt to the name, as the plan does")
        outputs = {name: body for block in load(INFRA / "example/outputs.tf")["output"] for name, body in block.items()}
        self.assertEqual(outputs["name"]["value"], "${var.name}")
        self.assertEqual(outputs["cohort_header"]["value"], "${var.cohort_header}")
        self.assertEqual(outputs["weight_key"]["value"], "${module.edge.weight_key}")
        self.assertEqual(outputs["probe_token_key"]["value"], "${module.edge.probe_token_key}")
        self.assertEqual(outputs["serverless_origin_id"]["value"], "${module.edge.serverless_origin_id}")
        self.assertEqual(outputs["lambda_functions"]["value"], "${module.serverless.function_names}")


class TheControllerRunsWhereItsAlarmsAndRunbooksSay(unittest.TestCase):
    UNIT = (INFRA / "modules/controller/cutover.service.tftpl").read_text()
    USER_DATA = (INFRA / "modules/controller/user-data.sh.tftpl").read_text()

    def templatefile_call(self, template):
        local = one(HOST["locals"])
        call = next(v for v in local.values() if isinstance(v, str) and template in v)
        # python-hcl2 gives the call on one line: `{a = x, b = y}`.
        arguments = call.split(", {", 1)[1]
        return set(re.findall(r"(?:^|, )(\w+) = ", arguments))

    def test_each_template_gets_exactly_its_variables(self):
        for template, text in [("cutover.service.tftpl", self.UNIT), ("user-data.sh.tftpl", self.USER_DATA)]:
            used = set(re.findall(r"\$\{(\w+)\}", text))
            self.assertEqual(self.templatefile_call(template), used, template)

    def test_the_unit_passes_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.fail("systemd-analyze is missing: cargo xtask setup installs Debian's systemd package")
        unit, _ = render(
            self.UNIT, {"region": "us-east-1", "table": "internal-api-cutover", "tokens_parameter": "/cutover/tokens",
                        "port": 7300, "lease_ttl": 15}
        )
        with tempfile.TemporaryDirectory() as root:
            for program in ["cutover", "cutover-fetch-tokens"]:
                path = pathlib.Path(root, "usr/local/bin", program)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("#!/bin/sh\n")
                path.chmod(0o755)
            shutil.copytree("/usr/lib/systemd/system", pathlib.Path(root, "usr/lib/systemd/system"), symlinks=True)
            target = pathlib.Path(root, "etc/systemd/system/cutover.service")
            target.parent.mkdir(parents=True)
            target.write_text(unit)
            run = subprocess.run([analyze, "verify", f"--root={root}", "/etc/systemd/system/cutover.service"],
                                 capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
        # systemd-analyze exits 0 on a key it ignores: any word from it is a failure here.
        self.assertEqual((run.returncode, run.stdout + run.stderr), (0, ""))

    def test_the_unit_runs_serve_with_flags_it_has_on_the_controllers_table(self):
        exec_start = next(l for l in self.UNIT.splitlines() if l.startswith("ExecStart="))
        self.assertIn(" serve --store dynamodb://${table} ", exec_start)
        serve = (ROOT / "controller/cli/src/serve.rs").read_text()
        for flag in re.findall(r"--([a-z-]+)", exec_start):
            self.assertRegex(serve, rf"pub {flag.replace('-', '_')}:", f"cutover serve has no --{flag}")
        # The heartbeat the controller-down alarm waits for.
        self.assertIn("--cloudwatch-heartbeat", exec_start)
        local = one(HOST["locals"])
        self.assertIn("table            = aws_dynamodb_table.controller.name", (INFRA / "modules/controller/host.tf").read_text())
        self.assertIn("/run/cutover/tokens", exec_start)
        self.assertIn("RuntimeDirectory=cutover", self.UNIT)
        self.assertIn("binary_sha256", local["user_data"])
        self.assertIn("sha256sum --check", self.USER_DATA)

    def test_the_api_is_reachable_only_inside_the_vpc(self):
        group = resources(HOST, "aws_security_group")["controller"]
        ingress = one(group["ingress"])
        self.assertEqual((ingress["from_port"], ingress["to_port"]), ("${local.port}", "${local.port}"))
        # The VPC's block always (the load balancer's health checks come from it), and whoever else is allowed.
        self.assertEqual(ingress["cidr_blocks"], "${distinct(concat([data.aws_vpc.this.cidr_block], var.allowed_cidrs))}")
        template = resources(HOST, "aws_launch_template")["controller"]
        self.assertFalse(one(template["network_interfaces"])["associate_public_ip_address"])
        self.assertEqual(one(template["metadata_options"])["http_tokens"], "required")
        balancer = resources(HOST, "aws_lb")["api"]
        self.assertTrue(balancer["internal"])
        group = resources(HOST, "aws_autoscaling_group")["controller"]
        self.assertEqual(group["desired_capacity"], "${var.replicas}")
        health = one(resources(HOST, "aws_lb_target_group")["api"]["health_check"])
        self.assertIn(health["path"], (ROOT / "controller/cli/src/api.rs").read_text())

    def test_the_binary_is_the_one_package_controller_builds(self):
        built = re.search(r'CONTROLLER_BINARY: &str = "([^"]+)"', (ROOT / "xtask/src/package.rs").read_text()).group(1)
        controller = next(m["controller"] for m in EXAMPLE["module"] if "controller" in m)
        self.assertEqual(controller["binary_path"], "${path.root}/../../" + built)

    def test_the_instances_assume_the_controllers_role(self):
        variables = {k: v for b in load(INFRA / "modules/controller/variables.tf")["variable"] for k, v in b.items()}
        self.assertEqual(variables["assumed_by"]["default"], ["ec2.amazonaws.com"])
        profile = resources(HOST, "aws_iam_instance_profile")["controller"]
        self.assertEqual(profile["role"], "${aws_iam_role.controller.name}")


class TheAlarmsWatchWhatTheControllerPublishes(unittest.TestCase):
    def alarms(self):
        return resources(MONITORING, "aws_cloudwatch_metric_alarm")

    def test_each_alarm_is_on_a_published_metric_to_the_topic(self):
        for name, alarm in self.alarms().items():
            self.assertEqual(alarm["namespace"], PUBLISHED["NAMESPACE"], name)
            self.assertIn(alarm["metric_name"], PUBLISHED.values(), name)
            self.assertEqual(alarm["alarm_actions"], ["${aws_sns_topic.alarms.arn}"], name)
            self.assertRegex(alarm["alarm_description"], r"runbooks/[a-z-]+\.md", name)
            runbook = re.search(r"runbooks/[a-z-]+\.md", alarm["alarm_description"]).group(0)
            self.assertTrue((ROOT / runbook).exists(), runbook)

    def test_no_heartbeat_is_the_alarm(self):
        down = self.alarms()["heartbeat_missing"]
        self.assertEqual(down["metric_name"], PUBLISHED["HEARTBEAT"])
        self.assertEqual((down["statistic"], down["comparison_operator"], down["threshold"]),
                         ("SampleCount", "LessThanThreshold", 1))
        self.assertEqual(down["treat_missing_data"], "breaching")
        self.assertNotIn("dimensions", down, "every replica beats into one series")

    def test_thirty_minutes_paused(self):
        paused = self.alarms()["paused_too_long"]
        self.assertEqual(paused["metric_name"], PUBLISHED["LONGEST_PAUSE"])
        self.assertEqual(paused["threshold"], "${var.paused_minutes * 60}")
        variables = {k: v for b in load(INFRA / "modules/monitoring/variables.tf")["variable"] for k, v in b.items()}
        self.assertEqual(variables["paused_minutes"]["default"], 30)

    def test_a_rollback_of_the_plans_target(self):
        rollback = self.alarms()["rollback"]
        self.assertEqual(rollback["metric_name"], PUBLISHED["ROLLBACKS"])
        self.assertEqual(rollback["dimensions"], {PUBLISHED["TARGET"]: "${var.target_name}"})
        monitoring = next(m["monitoring"] for m in EXAMPLE["module"] if "monitoring" in m)
        # --from-terraform makes the plan's target name from the `name` output, var.name.
        self.assertEqual(monitoring["target_name"], "${var.name}")


class TheEdgeLogsAreWhatThePlanAndPreflightRead(unittest.TestCase):
    LOGS = load(INFRA / "modules/edge/edge-logs.tf")

    def fields(self, header, cookie):
        """The module's field list, evaluated for one cohort setting."""
        expression = one(self.LOGS["locals"])["edge_log_fields"]
        lists = re.findall(r"\[([^\[\]]*)\]", expression)
        base = json.loads("[" + lists[0] + "]")
        headers = json.loads("[" + lists[1] + "]")
        cookies = json.loads("[" + lists[3] + "]")
        return base + (headers if cookie == "" and header != "" else []) + (cookies if cookie != "" else [])

    def test_the_fields_are_the_plans_in_its_order(self):
        default_plan = (ROOT / "controller/core/src/plan/default-plan.toml").read_text()
        listed = json.loads(re.search(r"^# fields = (\[.*\])$", default_plan, re.M).group(1))
        # The default plan's cohort is a header: its fields line is the module's, in order.
        self.assertEqual(self.fields("x-user-id", ""), listed)
        # Each cohort's fields include what the controller requires (controller/core/src/plan/mod.rs).
        plan_rs = (ROOT / "controller/core/src/plan/mod.rs").read_text()
        required = json.loads(re.search(r'let mut fields = vec!(\[[^\]]*\]);', plan_rs).group(1))
        self.assertTrue(set(required) <= set(self.fields("", "")))
        self.assertTrue({"cs-headers", "cs-headers-count"} <= set(self.fields("x-user-id", "")))
        self.assertIn("cs-cookie", self.fields("x-user-id", "session"))
        self.assertNotIn("cs-headers", self.fields("x-user-id", "session"), "the cookie wins, as in function.js")

    def test_the_stream_and_configuration_are_what_preflight_checks(self):
        stream = resources(self.LOGS, "aws_kinesis_stream")["edge_logs"]
        self.assertEqual(one(stream["stream_mode_details"])["stream_mode"], "ON_DEMAND")
        self.assertEqual(stream["retention_period"], 24)
        config = resources(self.LOGS, "aws_cloudfront_realtime_log_config")["api"]
        self.assertEqual((config["sampling_rate"], config["fields"]), (100, "${local.edge_log_fields}"))
        behaviour = one(resources(EXAMPLE_EDGE, "aws_cloudfront_distribution")["main"]["ordered_cache_behavior"])
        self.assertEqual(behaviour["realtime_log_config_arn"], "${module.edge.realtime_log_config_arn}")
        outputs = {name: body for block in load(INFRA / "example/outputs.tf")["output"] for name, body in block.items()}
        # What --from-terraform reads (controller/cli/src/plan.rs), and the controller's policy its stream.
        self.assertEqual(outputs["edge_log_stream_arn"]["value"], "${module.edge.edge_log_stream_arn}")
        self.assertEqual(outputs["edge_log_fields"]["value"], "${module.edge.edge_log_fields}")
        plan_rs = (ROOT / "controller/cli/src/plan.rs").read_text()
        self.assertIn('("edge_log_fields", "fields", false)', plan_rs)
        controller = next(m["controller"] for m in EXAMPLE["module"] if "controller" in m)
        self.assertEqual(controller["edge_log_stream"], "${module.edge.edge_log_stream_name}")


# Built by `cargo xtask setup` from the provider package on npm
# (infra/tests/provider_schema.py); the release the example's `~> 5.80` takes.
PROVIDER_SCHEMA = ROOT / "target/provider-schema/aws-5.99.1.json"
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}


class EveryArgumentIsInTheProvidersSchema(unittest.TestCase):
    """A misspelt argument or block fails here, not at `terraform apply`."""

    @classmethod
    def setUpClass(cls):
        if not PROVIDER_SCHEMA.exists():
            raise AssertionError(f"{PROVIDER_SCHEMA} is missing: run `cargo xtask setup` (./tests/run does)")
        cls.schema = json.loads(PROVIDER_SCHEMA.read_text())

    def problems(self, where, body, schema):
        found = []
        given = set()
        for key, value in body.items():
            if key in META_ARGUMENTS:
                continue
            if key == "dynamic":
                for dynamic in value:
                    for name, spec in dynamic.items():
                        given.add(name)
                        arg = schema.get(name)
                        if arg is None or arg["block"] is None:
                            found.append(f"{where}: no block `{name}` to make dynamic")
                            continue
                        for content in spec.get("content", []):
                            found += self.problems(f"{where}.{name}", content, arg["block"])
                continue
            given.add(key)
            arg = schema.get(key)
            if arg is None:
                near = [k for k in schema if k.split("_")[0] == key.split("_")[0]][:6]
                found.append(f"{where}: no argument `{key}` (arguments starting alike: {near})")
            elif arg["block"] is not None and isinstance(value, list) and all(isinstance(v, dict) for v in value):
                for item in value:
                    found += self.problems(f"{where}.{key}", item, arg["block"])
        for name, arg in schema.items():
            if arg["required"] and name not in given:
                found.append(f"{where}: `{name}` is required")
        return found

    def test_the_example_pins_the_release_checked_here(self):
        example = (INFRA / "example/main.tf").read_text()
        self.assertIn('version = "~> 5.80"', example)
        major, minor, _ = (int(x) for x in self.schema["version"].split("."))
        self.assertEqual(major, 5)
        self.assertGreaterEqual(minor, 80)

    def test_every_aws_resource_and_data_source_uses_only_its_arguments(self):
        problems = []
        checked = 0
        for path in TF_FILES:
            doc = load(path)
            for section, kinds in [("resource", self.schema["resource"]), ("data", self.schema["data"])]:
                for block in doc.get(section, []):
                    for kind, named in block.items():
                        if not kind.startswith("aws_"):
                            continue
                        for name, body in named.items():
                            where = f"{path.relative_to(ROOT)}: {kind}.{name}"
                            if kind not in kinds:
                                problems.append(f"{where}: no {section} type {kind} in hashicorp/aws {self.schema['version']}")
                                continue
                            checked += 1
                            problems += self.problems(where, body, kinds[kind])
        self.assertGreater(checked, 40)
        self.assertEqual(problems, [], "\n".join(problems))

    def test_the_check_can_fail(self):
        schema = self.schema["resource"]["aws_launch_template"]
        self.assertEqual(self.problems("t", {"metadata_options": [{"http_token": "required"}]}, schema),
                         ["t.metadata_options: no argument `http_token` (arguments starting alike: "
                          "['http_endpoint', 'http_protocol_ipv6', 'http_put_response_hop_limit', 'http_tokens'])"])
        alarm = self.schema["resource"]["aws_cloudwatch_metric_alarm"]
        self.assertIn("t: `alarm_name` is required", self.problems("t", {"comparison_operator": "x", "evaluation_periods": 1}, alarm))


if __name__ == "__main__":
    unittest.main()
