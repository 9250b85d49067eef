use std::time::Duration;

use cutover_core::plan::{EdgeTarget, Plan, Target, DEFAULT_PLAN};
use cutover_core::units::Weight;
use proptest::prelude::*;

#[test]
fn default_plan_is_valid_and_spans_48_hours() {
    let plan = Plan::parse(DEFAULT_PLAN).unwrap();
    assert_eq!(plan.duration(), Duration::from_secs(48 * 3600));
    assert_eq!(plan.schedule.steps.first().unwrap().weight, Weight::from_bps(100).unwrap());
    assert_eq!(plan.schedule.steps.last().unwrap().weight, Weight::FULL);
    assert!(matches!(plan.target.edge, EdgeTarget::Local(_)));
    assert_eq!(plan.target.salt, "internal-api");
}

fn problems(text: &str) -> Vec<String> {
    Plan::parse(text).unwrap_err().problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn every_problem_is_reported_with_path_and_line() {
    let text = r#"
[target]
nmae = "x"

[[schedule.steps]]
weight = 10
hold = "2h"

[[schedule.steps]]
weight = 5
hold = "0m"

[[schedule.steps]]
weight = 120
hold = "-1h"

[[schedule.steps]]
weight = 1.005
hold = 3

[guardrails]
min_samples = 0
flavour = "x"

[notify]
webhooks = ["http://example.com/hook", "ftp://x"]
"#;
    let got = problems(text);
    let expect = [
        "target.name (line 2): missing; add name = \"my-api\"",
        "target.local (line 2): missing; add [target.local] (one machine) or [target.cloudfront] (AWS)",
        "target.nmae (line 3): unknown key; did you mean `name`?",
        "schedule.steps[1].weight = 5 (line 10): weights never go down; the step before is at 10%",
        "schedule.steps[1].hold = \"0m\" (line 11): a hold must be longer than zero",
        "schedule.steps[2].weight = 120 (line 14): a weight is at most 100",
        "schedule.steps[2].hold = \"-1h\" (line 15): a duration cannot be negative",
        "schedule.steps[3].weight = 1.005 (line 18): a weight has at most two decimals (it is stored in basis points)",
        "schedule.steps[3].hold = 3 (line 19): expected a duration string like \"2h\", found integer",
        "guardrails.min_samples = 0 (line 22): min_samples is a whole number from 1 to 1000000",
        "guardrails.flavour (line 23): unknown key; expected one of: interval, min_samples, failure_limit, alpha, lookback, errors, client_errors, latency, cold_start, no_data, shared_failure",
        "notify.webhooks[0] = \"http://example.com/hook\" (line 26): a webhook leaves this machine: use https://",
        "notify.webhooks[1] = \"ftp://x\" (line 26): expected an https:// URL with a host",
    ];
    assert_eq!(got, expect, "\n{}", got.join("\n"));
}

#[test]
fn a_missing_target_and_schedule_are_named() {
    let got = problems("# empty\n");
    assert_eq!(
        got,
        [
            "target (line 1): missing; add a [target] table naming what is cut over",
            "schedule (line 1): missing; add [[schedule.steps]] tables, each with weight and hold",
        ]
    );
}

#[test]
fn syntax_errors_have_lines() {
    let got = problems("[target]\nname = \"x\nfoo = [\n");
    assert!(got.iter().all(|p| p.starts_with("(syntax) (line ")), "{got:?}");
    assert!(got[0].contains("(line 2)"), "{got:?}");
}

#[test]
fn cloudfront_mode_needs_metrics_and_valid_ids() {
    let text = DEFAULT_PLAN.replace(
        "[target.local]\nlegacy_url = \"http://127.0.0.1:8081\"\nserverless_url = \"http://127.0.0.1:8082\"",
        "[target.cloudfront]\ndistribution_id = \"e2qw\"\nkvs_arn = \"arn:aws:s3:::bucket\"\nweight_key = \"w\"\nserverless_origin_id = \"apigw\"",
    );
    let got = problems(&text);
    assert!(got.iter().any(|p| p.starts_with("target.cloudfront.distribution_id = \"e2qw\"")), "{got:?}");
    assert!(got.iter().any(|p| p.starts_with("target.cloudfront.kvs_arn = ")), "{got:?}");
    assert!(got.iter().any(|p| p.starts_with("target.metrics (line ") && p.contains("[target.metrics]")), "{got:?}");
}

#[test]
fn freeze_windows_wrap_midnight() {
    // The default ends with [notify]; the freeze table goes before it.
    let (head, notify) = DEFAULT_PLAN.split_at(DEFAULT_PLAN.find("[notify]").unwrap());
    let text = format!("{head}[[schedule.freeze]]\nfrom_hour = 22\nto_hour = 6\n\n{notify}");
    let plan = Plan::parse(&text).unwrap();
    assert!(plan.is_frozen_hour(23) && plan.is_frozen_hour(0) && plan.is_frozen_hour(5));
    assert!(!plan.is_frozen_hour(6) && !plan.is_frozen_hour(21));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cutover_testkit::fuzz_cases(2000)))]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Plan::parse(&text);
    }

    #[test]
    fn mutated_default_plans_never_panic(cut in 0usize..DEFAULT_PLAN.len(), junk in "[\\[\\]=\"a-z0-9._ \n-]{0,12}") {
        let mut text = DEFAULT_PLAN.to_string();
        let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(cut, &junk);
        if let Err(e) = Plan::parse(&text) {
            prop_assert!(!e.problems.is_empty());
            prop_assert!(e.problems.iter().all(|p| p.line >= 1));
        }
    }
}

/// The AWS block `plan init` writes as comments must be valid once uncommented.
/// The default plan with its commented AWS target in place of the local one.
fn aws_plan() -> String {
    let local = "[target.local]\nlegacy_url = \"http://127.0.0.1:8081\"\nserverless_url = \"http://127.0.0.1:8082\"\n";
    assert!(DEFAULT_PLAN.contains(local));
    let text = DEFAULT_PLAN.replace(local, "");
    for table in ["# [target.cloudfront]", "# [target.metrics]"] {
        assert!(text.contains(table), "{table}");
    }
    // Uncomment from `# [target.cloudfront]` to the next empty line.
    let mut inside = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            inside = (inside || l == "# [target.cloudfront]") && !l.is_empty();
            match l.strip_prefix('#') {
                Some(rest) if inside => rest.trim_start().to_string(),
                _ => l.to_string(),
            }
        })
        .collect();
    lines.join("\n")
}

#[test]
fn the_commented_aws_target_in_the_default_plan_is_valid() {
    let text = aws_plan();
    let plan = Plan::parse(&text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
    let EdgeTarget::CloudFront(cf) = &plan.target.edge else { panic!("expected the CloudFront edge") };
    assert_eq!(cf.distribution_id, "E2QWRUHAPOMQZL");
    let metrics = plan.target.metrics.unwrap();
    assert_eq!(metrics.api_stage, "$default");
    assert_eq!(metrics.lambda_functions.len(), 2);
    assert_eq!(metrics.xray_legacy_service, "internal-api-express");
    assert_eq!((cf.probes_per_minute, cf.probe_token_key.as_str()), (20, "internal-api/probe-token"));
    let logs = metrics.edge_logs.expect("the edge logs");
    assert!(logs.stream_arn.ends_with(":stream/internal-api-edge-logs"));
    assert_eq!(logs.fields.len(), 8);
}

/// `dashboards/internal-api.cloudwatch.json` is the default AWS plan's
/// CloudWatch dashboard, as `cutover dashboard cloudwatch` writes it.
#[test]
fn the_committed_dashboard_is_the_default_plans() {
    let plan = Plan::parse(&aws_plan()).unwrap_or_else(|e| panic!("{e}"));
    let body = cutover_core::dashboard::cloudwatch(&plan.target, "us-east-1").unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dashboards/internal-api.cloudwatch.json");
    if std::env::var_os("CUTOVER_WRITE_DASHBOARD").is_some() {
        std::fs::write(path, format!("{}\n", serde_json::to_string_pretty(&body).unwrap())).unwrap();
    }
    let committed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        committed == body,
        "dashboards/internal-api.cloudwatch.json is stale: write it again with \
         `CUTOVER_WRITE_DASHBOARD=1 cargo test -p cutover-core --test plan committed_dashboard`"
    );
}

/// The edge logs must carry what the cohort key is read from, in a stream
/// named by its ARN; without the table AWS mode has no cohorts.
#[test]
fn the_edge_logs_carry_the_cohort_key() {
    let text = aws_plan();
    let fields = "fields = [\"timestamp\", \"c-ip\", \"sc-status\", \"time-taken\", \"cs-uri-stem\", \"cs-user-agent\", \"cs-headers\", \"cs-headers-count\"]";
    assert!(text.contains(fields));
    let by_cookie = text.replace("cohort = { header = \"x-user-id\" }", "cohort = { cookie = \"uid\" }");
    let found = problems(&by_cookie);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("target.metrics.edge_logs.fields = [\"timestamp\""), "{found:?}");
    assert!(found[0].contains("add \"cs-cookie\" to the real-time log configuration and here"), "{found:?}");
    let no_status = text.replace("\"sc-status\", ", "");
    let found = problems(&no_status);
    assert!(found.len() == 1 && found[0].contains("add \"sc-status\""), "{found:?}");
    let bad_arn =
        text.replace("arn:aws:kinesis:us-east-1:123456789012:stream/", "arn:aws:kinesis:us-east-1:1234:stream/");
    let found = problems(&bad_arn);
    assert!(found.len() == 1 && found[0].contains("expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME"), "{found:?}");
    let start = text.find("[target.metrics.edge_logs]").unwrap();
    let without = format!("{}{}", &text[..start], &text[text[start..].find("\n\n").unwrap() + start..]);
    let plan = Plan::parse(&without).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.target.metrics.unwrap().edge_logs, None);
}

#[test]
fn where_the_edge_sends_requests_it_cannot_weigh() {
    use cutover_core::measure::Side;
    let text = aws_plan();
    let side = |text: &str| match Plan::parse(text).map(|p| p.target.edge) {
        Ok(EdgeTarget::CloudFront(cf)) => cf.when_store_unreadable,
        other => panic!("{other:?}"),
    };
    assert_eq!(side(&text), Side::Legacy);
    assert_eq!(side(&text.replace("when_store_unreadable = \"legacy\"\n", "")), Side::Legacy, "until completed");
    let done = text.replace("when_store_unreadable = \"legacy\"", "when_store_unreadable = \"serverless\"");
    assert_eq!(side(&done), Side::Serverless);
    let found = problems(&text.replace("when_store_unreadable = \"legacy\"", "when_store_unreadable = \"alb\""));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("target.cloudfront.when_store_unreadable = \"alb\" (line "), "{found:?}");
}

#[test]
fn the_probes_have_defaults_and_limits() {
    let text = aws_plan();
    let without =
        text.replace("probes_per_minute = 20\n", "").replace("probe_token_key = \"internal-api/probe-token\"\n", "");
    let plan = Plan::parse(&without).unwrap_or_else(|e| panic!("{e}"));
    let EdgeTarget::CloudFront(cf) = &plan.target.edge else { panic!("expected the CloudFront edge") };
    assert_eq!(
        (cf.probes_per_minute, cf.probe_token_key.as_str()),
        (20, "internal-api/probe-token"),
        "beside the weight"
    );
    let found = problems(
        &text
            .replace("probes_per_minute = 20", "probes_per_minute = 601")
            .replace("probe_token_key = \"internal-api/probe-token\"", "probe_token_key = \"\""),
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("target.cloudfront.probes_per_minute = 601 (line "), "{found:?}");
    assert!(found[1].starts_with("target.cloudfront.probe_token_key = \"\" (line "), "{found:?}");
}

/// Every Lambda function is its own X-Ray service: one name for the new
/// side would read one function's traces and call them all of it.
#[test]
fn the_new_sides_xray_services_are_its_functions() {
    let text = aws_plan();
    let one_service = text.replace(
        "xray_legacy_service = \"internal-api-express\"",
        "xray_legacy_service = \"internal-api-express\"\nxray_serverless_service = \"internal-api-lambda\"",
    );
    let found = problems(&one_service);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("target.metrics.xray_serverless_service = \"internal-api-lambda\" (line "),
        "{found:?}"
    );
    assert!(found[0].contains("every function in lambda_functions"), "{found:?}");
    let no_functions = text.replace(
        "lambda_functions = [\"internal-api-health\", \"internal-api-user-context\"]",
        "lambda_functions = []",
    );
    let found = problems(&no_functions);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("target.metrics.lambda_functions = [] (line "), "{found:?}");
    assert!(found[0].contains("name the new side's functions"), "{found:?}");
    // X-Ray is not optional: without it the new side's cold starts go unseen.
    let without_xray = text.replace("xray_legacy_service = \"internal-api-express\"\n", "");
    let found = problems(&without_xray);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("target.metrics.xray_legacy_service (line "), "{found:?}");
    assert!(found[0].contains("missing; add xray_legacy_service"), "{found:?}");
}

/// Local mode probes as AWS mode does, 20 a minute to each side unless
/// told otherwise.
#[test]
fn local_mode_probes_too() {
    let EdgeTarget::Local(local) = Plan::default_plan().target.edge else { panic!("the default plan is local") };
    assert_eq!(local.probes_per_minute, 20);
    let none = DEFAULT_PLAN.replacen("# probes_per_minute = 20", "probes_per_minute = 0", 1);
    let Ok(Plan { target: Target { edge: EdgeTarget::Local(local), .. }, .. }) = Plan::parse(&none) else {
        panic!("{none}")
    };
    assert_eq!(local.probes_per_minute, 0);
    let found = problems(&DEFAULT_PLAN.replacen("# probes_per_minute = 20", "probes_per_minute = 601", 1));
    assert!(found.len() == 1 && found[0].starts_with("target.local.probes_per_minute = 601 (line "), "{found:?}");
}

#[test]
fn an_empty_salt_is_refused() {
    let text = DEFAULT_PLAN.replace("# salt = \"internal-api\"", "salt = \"\"");
    let got = problems(&text);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("target.salt = \"\" (line "), "{got:?}");
}

#[test]
fn a_problem_in_one_guardrails_table_does_not_hide_the_next_ones() {
    let text = DEFAULT_PLAN
        .replace("max_share = 0.05", "max_share = 0.9")
        .replace("then = \"rollback\"", "then = \"panic\"")
        .replace(
            "[guardrails.shared_failure]\nmax_hold = \"30m\"",
            "[guardrails.shared_failure]\nmax_hold = \"0m\"\nmax_hlod = \"1h\"",
        );
    let found = problems(&text);
    for needle in [
        "guardrails.cold_start.max_share = 0.9",
        "guardrails.no_data.then",
        "guardrails.shared_failure.max_hold = \"0m\"",
        "guardrails.shared_failure.max_hlod",
    ] {
        assert!(found.iter().any(|p| p.contains(needle)), "no problem for {needle}: {found:#?}");
    }
}

#[test]
fn the_lookback_may_be_zero_and_at_most_fourteen_days() {
    let with = |value: &str| DEFAULT_PLAN.replace("lookback = \"1h\"", &format!("lookback = {value}"));
    assert_eq!(Plan::parse(&with("\"0s\"")).map(|p| p.guardrails.lookback), Ok(Duration::ZERO));
    assert_eq!(Plan::parse(&with("\"14d\"")).map(|p| p.guardrails.lookback), Ok(Duration::from_secs(14 * 86_400)));
    let found = problems(&with("\"15d\""));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("guardrails.lookback = \"15d\" (line ") && found[0].ends_with("is at most 14d"),
        "{found:?}"
    );
}

#[test]
fn an_upper_case_cohort_header_is_refused_with_its_lower_case() {
    let text = DEFAULT_PLAN.replace("cohort = { header = \"x-user-id\" }", "cohort = { header = \"X-User-Id\" }");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("target.cohort = { header = \"X-User-Id\" } (line "), "{found:?}");
    assert!(found[0].contains("write the header name in lower case, \"x-user-id\""), "{found:?}");
}

/// A plan stored with a cutover by an earlier version must still read, so
/// that cutover can resume and roll back after an upgrade: the rules added
/// since are relaxed for stored plans only.
#[test]
fn a_plan_stored_by_an_earlier_version_still_reads() {
    let old = aws_plan()
        .replace("xray_legacy_service = \"internal-api-express\"", "xray_serverless_service = \"internal-api-lambda\"")
        .replace("cohort = { header = \"x-user-id\" }", "cohort = { header = \"X-User-Id\" }");
    assert!(Plan::parse(&old).is_err(), "a new plan like it is refused");
    let plan = Plan::parse_stored(&old).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.target.metrics.unwrap().xray_legacy_service, "", "judged on CloudWatch alone, as it was");
    assert_eq!(plan.target.cohort, cutover_core::plan::CohortKey::Header("x-user-id".into()));
    assert_eq!(Plan::parse_stored(DEFAULT_PLAN), Plan::parse(DEFAULT_PLAN), "a current plan reads the same");
}

#[test]
fn costs_default_to_list_prices_and_bad_ones_name_their_key() {
    use cutover_core::plan::Costs;
    let plan = Plan::parse(DEFAULT_PLAN).unwrap();
    assert_eq!(plan.costs, Costs::default());
    let without = DEFAULT_PLAN.split("\n[costs]").next().unwrap();
    assert_eq!(Plan::parse(without).unwrap().costs, Costs::default());
    let own = DEFAULT_PLAN.replace("legacy_per_hour = 0.1765", "legacy_per_hour = 2.5");
    assert_eq!(Plan::parse(&own).unwrap().costs.legacy_per_hour, 2.5);
    let bad = DEFAULT_PLAN
        .replace("lambda_memory_mb = 128", "lambda_memory_mb = 100")
        .replace("api_gateway_per_million = 1.00", "api_gateway_per_million = -1")
        .replace("legacy_per_hour = 0.1765", "legacy_per_hour = 0.1765\nlegacy_per_day = 4");
    let found = problems(&bad);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().any(|p| p.contains("costs.lambda_memory_mb") && p.contains("128 to 10240")), "{found:#?}");
    assert!(found.iter().any(|p| p.contains("costs.api_gateway_per_million") && p.contains("between 0")), "{found:#?}");
    assert!(found.iter().any(|p| p.contains("costs.legacy_per_day") && p.contains("legacy_per_hour")), "{found:#?}");
}
