"""The Terraform in infra/, checked offline (no terraform binary here):
every file parses, and what it builds keeps the project's contracts.

Run by ./tests/run: .venv/bin/python -m unittest discover -s infra/tests
"""

import json
import pathlib
import re
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


def resources(doc, kind):
    """name → body of every `resource "kind" "name"` in a parsed file."""
    out = {}
    for block in doc.get("resource", []):
        for k, named in block.items():
            if k == kind:
                out.update(named)
    return out


def data_sources(doc, kind):
    out = {}
    for block in doc.get("data", []):
        for k, named in block.items():
            if k == kind:
                out.update(named)
    return out


def one(blocks):
    assert isinstance(blocks, list) and len(blocks) == 1, blocks
    return blocks[0]


TF_FILES = sorted(INFRA.rglob("*.tf"))
SERVERLESS = load(INFRA / "modules/serverless/main.tf")
CONTROLLER = load(INFRA / "modules/controller/main.tf")
EDGE = load(INFRA / "modules/edge/main.tf")
EXAMPLE_EDGE = load(INFRA / "example/edge.tf")


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


if __name__ == "__main__":
    unittest.main()
