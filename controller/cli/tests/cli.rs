//! The `cutover` binary, run as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn cutover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover")).args(args).env("CUTOVER_LOG", "warn").output().expect("runs")
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn plan_init_writes_a_plan_that_checks() {
    let dir = temp_dir("init");
    let plan = dir.join("p.toml");
    let out = cutover(&["plan", "init"]);
    assert!(out.status.success());
    std::fs::write(&plan, &out.stdout).unwrap();
    let out = cutover(&["plan", "check", plan.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("ok — 7 steps over 48h"), "{stdout}");
}

#[test]
fn plan_init_never_overwrites() {
    let dir = temp_dir("overwrite");
    let plan = dir.join("p.toml");
    std::fs::write(&plan, "mine").unwrap();
    let out = cutover(&["plan", "init", "--output", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), "mine");
    let fresh = dir.join("fresh.toml");
    assert!(cutover(&["plan", "init", "--output", fresh.to_str().unwrap()]).status.success());
    assert!(cutover(&["plan", "check", fresh.to_str().unwrap()]).status.success());
}

#[test]
fn a_broken_plan_exits_2_naming_every_problem() {
    let dir = temp_dir("broken");
    let plan = dir.join("bad.toml");
    let text_in = String::from_utf8(cutover(&["plan", "init"]).stdout)
        .unwrap()
        .replace("weight = 10\n", "weight = 120\n")
        .replace("hold = \"4h\"", "hold = \"0s\"")
        .replace("min_samples = 50", "min_samples = 50\nflavour = 1");
    std::fs::write(&plan, text_in).unwrap();
    let out = cutover(&["plan", "check", plan.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in [
        "schedule.steps[1].hold = \"0s\" (line ",
        "schedule.steps[2].weight = 120 (line ",
        "a weight is at most 100",
        "guardrails.flavour (line ",
        "3 problems; the plan was not used",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = cutover(&["plan", "check", "/nonexistent/plan.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("cannot read plan /nonexistent/plan.toml"));
}

#[test]
fn plan_show_prints_the_timeline() {
    let dir = temp_dir("show");
    let plan = dir.join("p.toml");
    std::fs::write(&plan, cutover(&["plan", "init"]).stdout).unwrap();
    let out = cutover(&["plan", "show", plan.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    let rows: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 7, "{stdout}");
    assert!(rows[0].contains("1%") && rows[0].contains("+0h") && rows[0].contains("+2h"), "{}", rows[0]);
    assert!(rows[6].contains("100%") && rows[6].contains("+40h") && rows[6].contains("+48h"), "{}", rows[6]);
}

#[test]
fn simulate_prints_its_table_and_rolls_back_a_regression() {
    let out = cutover(&["simulate", "--seeds", "20", "--regression", "errors+5pp@20h"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("outcome RolledBack") && stdout.contains("20 (100.0 %)"), "{stdout}");
    assert!(
        stdout.contains("invariant violations")
            && stdout.lines().any(|l| l.contains("invariant violations") && l.trim_end().ends_with(" 0")),
        "{stdout}"
    );
}

#[test]
fn a_cloudwatch_dashboard_needs_an_aws_target() {
    let dir = temp_dir("dashboard");
    let plan = dir.join("local.toml");
    std::fs::write(&plan, cutover(&["plan", "init"]).stdout).unwrap();
    let out = cutover(&["dashboard", "cloudwatch", "--plan", plan.to_str().unwrap(), "--region", "eu-west-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("[target.metrics]"), "{}", text(&out).1);
}

#[test]
fn simulate_rejects_a_bad_regression() {
    let out = cutover(&["simulate", "--regression", "errors+5@20h"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("KIND@TIME") && text(&out).1.contains("errors+Npp"), "{}", text(&out).1);
}

#[test]
fn bench_judge_prints_the_judges_side_by_side() {
    let out = cutover(&["bench", "judge", "--null-runs", "2", "--runs", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let header = stdout.lines().find(|l| l.starts_with("| scenario")).expect("a table");
    for judge in ["sequential", "flagger-style", "argo-style", "kayenta-style"] {
        assert!(header.contains(judge), "{header}");
    }
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    for class in [
        "healthy 48 h",
        "sticky users",
        "errors +1 pp from the 100 % step",
        "p99 ×2 from the 10 % step",
        "cold-start storm",
        "shared outage, 5 min at the 1 % step",
        "legacy errors +5 pp",
        "inside the allowance",
    ] {
        assert!(rows.iter().any(|r| r.contains(class)), "no row for {class}:\n{stdout}");
    }
}

#[test]
fn edge_runs_in_front_of_the_plans_upstreams_and_refuses_a_cloudfront_plan() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("edge");
    let plan = dir.join("p.toml");
    std::fs::write(&plan, cutover(&["plan", "init"]).stdout).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["edge", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--plan", plan.to_str().unwrap()])
        .env("CUTOVER_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start cutover edge");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = |prefix: &str| {
        let line = lines.next().expect("a line").unwrap();
        line.strip_prefix(prefix).unwrap_or_else(|| panic!("{prefix} in {line:?}")).to_owned()
    };
    let (users, admin) = (address("cutover edge listening on http://"), address("cutover edge admin on http://"));
    let request = b"GET /_cutover/weight HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n";
    let response = cutover_testkit::http::raw_request(&admin, request).expect("an answer");
    assert_eq!((response.status, response.header("etag")), (200, Some("\"1\"")));
    let response = cutover_testkit::http::raw_request(&users, request).expect("an answer");
    assert_eq!(response.status, 404, "the weight is not on the users' port");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success(), "SIGTERM is a clean stop");

    // The AWS-mode plan: the default's commented [target.cloudfront] and
    // [target.metrics] tables in place of [target.local].
    let local = "[target.local]\nlegacy_url = \"http://127.0.0.1:8081\"\nserverless_url = \"http://127.0.0.1:8082\"\n";
    let written = std::fs::read_to_string(&plan).unwrap().replace(local, "");
    let (head, tail) = written.split_once("# AWS mode").unwrap();
    let (aws, rest) = tail.split_once("\n\n").unwrap();
    let uncommented: Vec<&str> = aws.lines().skip(1).map(|l| l.trim_start_matches('#').trim_start()).collect();
    let cloudfront = format!("{head}{}\n\n{rest}", uncommented.join("\n"));
    std::fs::write(&plan, cloudfront).unwrap();
    let out = cutover(&[
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("local mode only"), "{stderr}");

    // The CloudFront Function for that plan, rendered as Terraform renders it.
    let out = cutover(&["plan", "edge-function", plan.to_str().unwrap()]);
    let (code, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(code.contains("const WEIGHT_KEY = 'internal-api/weight';"), "{code}");
    assert!(code.contains("const PROBE_TOKEN_KEY = 'internal-api/probe-token';"), "{code}");
    assert!(code.contains("const COHORT_HEADER = 'x-user-id';") && !code.contains("${"), "{code}");
    assert!(code.contains("async function handler(event)"), "{code}");
}

#[test]
fn a_local_plan_has_no_edge_function() {
    let dir = temp_dir("edge-function-local");
    let plan = dir.join("plan.toml");
    assert!(cutover(&["plan", "init", "-o", plan.to_str().unwrap()]).status.success());
    let out = cutover(&["plan", "edge-function", plan.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty() && stderr.contains("[target.cloudfront]"), "{stderr}");
}

#[test]
fn bench_edge_prints_both_paths_and_the_added_latency() {
    let out = cutover(&["bench", "edge", "--rate", "200", "--seconds", "1", "--rounds", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for line in ["direct to upstream", "through the edge", "added by the edge at p99"] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    let through = stdout.lines().find(|l| l.starts_with("through the edge")).unwrap();
    assert!(through.split_whitespace().nth(3) == Some("200"), "200 requests sent: {through}");
}

/// A store with two cutovers, one with an operator's rollback in its trail.
fn seeded_store(dir: &std::path::Path) -> PathBuf {
    use cutover_core::engine::{Actor, CutoverState, Event, EventKind, Phase, RollbackReason};
    use cutover_core::store::Store;
    use cutover_core::units::{Timestamp, Weight};
    let path = dir.join("cutover.db");
    let store = cutover_local::SqliteStore::open(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let at = Timestamp::from_ms(1_795_870_800_000);
        let event = |id: &str, version, index, actor, kind| Event {
            cutover_id: id.into(),
            version,
            index,
            at,
            actor,
            kind,
            reason: None,
        };
        let mut state = CutoverState::new("demo-1", at);
        state.version = 1;
        let started =
            event("demo-1", 1, 0, Actor::Operator("ana".into()), EventKind::Started { steps: 7, plan_sha256: None });
        store.create("plan", cutover_core::store::TimeScale::REAL, &state, &[started]).await.unwrap();
        let lease = store.acquire("demo-1", "test", at, std::time::Duration::from_secs(60)).await.unwrap();
        state.version = 2;
        state.phase = Phase::RolledBack { reason: RollbackReason::Operator };
        let trail = [
            event(
                "demo-1",
                2,
                0,
                Actor::Controller,
                EventKind::WeightIntent { from: Weight::ZERO, to: Weight::FULL, step: 0 },
            ),
            event(
                "demo-1",
                2,
                1,
                Actor::Operator("ana".into()),
                EventKind::RollbackStarted { reason: RollbackReason::Operator },
            ),
        ];
        store.commit(lease.epoch, &state, &trail).await.unwrap();
        let mut other = CutoverState::new("demo-0", Timestamp::from_ms(1_795_000_000_000));
        other.version = 1;
        store.create("plan", cutover_core::store::TimeScale::REAL, &other, &[]).await.unwrap();
    });
    path
}

#[test]
fn history_lists_cutovers_and_shows_an_audit_trail() {
    let dir = temp_dir("history");
    let store = seeded_store(&dir);
    let store = store.to_str().unwrap();

    let out = cutover(&["history", "--store", store]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert!(rows[0].starts_with("demo-1") && rows[0].contains("RolledBack(operator)"), "newest first: {stdout}");
    assert!(rows[1].starts_with("demo-0") && rows[1].contains("Pending"), "{stdout}");

    let out = cutover(&["history", "demo-1", "--store", store]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("1.0  2026-11-28T13:00:00Z  ana           started by ana: 7 steps"), "{stdout}");
    assert!(stdout.contains("2.1") && stdout.contains("rollback_started (operator) by ana"), "{stdout}");

    let out = cutover(&["history", "demo-1", "--store", store, "--output", "json"]);
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let kinds: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["kind"]["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "weight_intent", "rollback_started"]);

    let out = cutover(&["history", "nope", "--store", store]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no cutover nope"));
}

#[test]
fn history_without_a_store_says_where_it_looked_and_creates_nothing() {
    let dir = temp_dir("history-none");
    let missing = dir.join("missing.db");
    let out = cutover(&["history", "--store", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains(&format!("no store at {}", missing.display())));
    assert!(!missing.exists(), "a read leaves no empty store behind");
}

#[test]
fn origin_serves_the_route_contract_as_either_side() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["origin", "--side", "legacy", "--latency-ms", "1"])
        .env("CUTOVER_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start cutover origin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("cutover origin (legacy) listening on http://").expect("address").to_owned();
    let put =
        b"PUT /api/users/u1/context HTTP/1.1\r\nhost: o\r\nconnection: close\r\ncontent-type: application/json\r\n\
if-none-match: *\r\ncontent-length: 2\r\n\r\n{}";
    let response = cutover_testkit::http::raw_request(&address, put).expect("an answer");
    assert_eq!((response.status, response.header("x-served-by")), (201, Some("legacy")));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());

    let out = cutover(&["origin", "--side", "serverless", "--error-rate", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--error-rate 2: a share from 0 to 1"));
}

/// `cutover pause|resume|…` queue the command, with its reason, for the
/// cutover's controller; a missing cutover is named.
#[test]
fn operator_commands_are_queued_for_the_controller() {
    use cutover_core::engine::CutoverState;
    use cutover_core::store::{Store, TimeScale};
    use cutover_core::units::Timestamp;

    let dir = temp_dir("commands");
    let path = dir.join("cutover.db");
    let store = cutover_local::SqliteStore::open(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut state = CutoverState::new("c1", Timestamp::from_ms(0));
    state.version = 1;
    runtime.block_on(store.create("plan", TimeScale::REAL, &state, &[])).unwrap();
    let store_arg = path.to_str().unwrap();
    for command in ["pause", "resume"] {
        let out = cutover(&[command, "c1", "--reason", "checking the dashboards", "--store", store_arg]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stdout.contains(&format!("{command} of c1 queued")), "{stdout}");
    }
    let lease =
        runtime.block_on(store.acquire("c1", "test", Timestamp::from_ms(1), std::time::Duration::from_secs(60)));
    let queued = runtime.block_on(store.commands("c1", lease.unwrap().epoch, 0)).unwrap();
    let commands: Vec<_> = queued.iter().map(|r| (r.command.as_str(), r.reason.as_deref())).collect();
    assert_eq!(commands, [("pause", Some("checking the dashboards")), ("resume", Some("checking the dashboards"))]);
    let out = cutover(&["abort", "nobody", "--store", store_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no cutover nobody"));
}

#[test]
fn bench_daemon_prints_its_table() {
    let out = cutover(&[
        "bench",
        "daemon",
        "--cutovers",
        "2",
        "--watchers",
        "2",
        "--seconds",
        "1",
        "--get-rate",
        "20",
        "--get-seconds",
        "1",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for row in
        ["| RSS while driving", "| CPU while driving", "| SSE frames delivered", "| GET /v1/cutovers/{id} at 20 /s"]
    {
        assert!(stdout.contains(row), "{row:?} missing from:\n{stdout}");
    }
    assert!(stdout.contains("(20 sent, 0 failed)"), "{stdout}");
}

#[test]
fn plan_advise_simulates_a_plan_on_a_traffic_file() {
    let dir = temp_dir("advise");
    let plan = dir.join("p.toml");
    std::fs::write(&plan, cutover(&["plan", "init"]).stdout).unwrap();
    // Two days of a quiet target: 20 requests a minute by day, 1 at night.
    let mut csv = String::from("minute,requests\n");
    for m in 0..2 * 1440 {
        let busy = (8 * 60..20 * 60).contains(&(m % 1440));
        csv.push_str(&format!("{m},{}\n", if busy { 20 } else { 1 }));
    }
    let traffic = dir.join("t.csv");
    std::fs::write(&traffic, csv).unwrap();
    let out = cutover(&[
        "plan",
        "advise",
        "--plan",
        plan.to_str().unwrap(),
        "--traffic",
        traffic.to_str().unwrap(),
        "--runs",
        "3",
        // Sparse probes (the plan's 20 a minute catch all of this in time):
        // a step too quiet to catch an outage gets a longer hold.
        "--probes-per-minute",
        "1",
        "--quiet-side-probes-per-minute",
        "1",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 probe(s)/min per side and 1 to a quiet side"), "{stdout}");
    for needle in ["new-side req/h", "outage", "errors +1 pp", "p99 ×2", "by the hour", "weight", "exposure", "probes:"]
    {
        assert!(stdout.contains(needle), "no {needle:?}:\n{stdout}");
    }
    assert!(stdout.contains("too short or too quiet") && stdout.contains("suggested holds"), "{stdout}");
    // A bad row is named with its line, and nothing is simulated.
    std::fs::write(&traffic, "minute,requests\n0,12\n1,twelve\n").unwrap();
    let out = cutover(&["plan", "advise", "--plan", plan.to_str().unwrap(), "--traffic", traffic.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("line 3") && text(&out).1.contains("twelve"), "{}", text(&out).1);
}

#[test]
fn a_report_is_written_whole_and_opens_without_a_server() {
    let dir = temp_dir("report");
    let store = seeded_store(&dir);
    let store = store.to_str().unwrap();
    let out_file = dir.join("change-1234.html");
    let out = cutover(&["report", "demo-1", "--store", store, "--out", out_file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("change-1234.html") && stderr.contains("3 events, hash chain intact"), "{stderr}");
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains(r#""phase":"rolled_back""#) && html.contains(r#""event":"rollback_started""#));
    let without_svg_namespace = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_svg_namespace.contains("http://") && !without_svg_namespace.contains("https://"));
    assert!(!dir.join("change-1234.html.partial").exists());
    // To standard output, the same document.
    let out = cutover(&["report", "demo-1", "--store", store, "--out", "-"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("<!doctype html>"));

    let out = cutover(&["report", "nope", "--store", store]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no cutover nope") && stderr.contains("cutover history"), "{stderr}");
    let out = cutover(&["watch", "demo-1", "--store", store]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("draws on a terminal") && stderr.contains("cutover status demo-1"), "{stderr}");
}

/// `plan init --from-terraform`: the default plan with the AWS target
/// Terraform deployed, from what `terraform output -json` prints; every
/// output it needs is one the example root declares.
#[test]
fn a_plan_is_made_from_terraforms_outputs() {
    let dir = temp_dir("from-terraform");
    let empty = dir.join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let out = cutover(&["plan", "init", "--from-terraform", empty.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!((out.status.code(), stdout.as_str()), (Some(2), ""), "{stderr}");
    let needed: Vec<&str> =
        stderr.lines().filter_map(|l| l.split("output ").nth(1)?.split(": missing").next()).collect();
    assert!(needed.len() >= 10, "{stderr}");
    let declared =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/example/outputs.tf")).unwrap();
    for name in &needed {
        assert!(declared.contains(&format!("output \"{name}\"")), "infra/example/outputs.tf lacks {name}");
    }

    let output = |value: serde_json::Value| serde_json::json!({ "sensitive": false, "type": "string", "value": value });
    let outputs = serde_json::json!({
        "name": output("orders-api".into()),
        "cohort_header": output("x-account".into()),
        "distribution_id": output("E1ABCDEF234567".into()),
        "kvs_arn": output("arn:aws:cloudfront::111122223333:key-value-store/0a1b2c3d-1111-2222-3333-444455556666".into()),
        "weight_key": output("orders-api/weight".into()),
        "when_store_unreadable": output("serverless".into()),
        "serverless_origin_id": output("api-gateway".into()),
        "api_id": output("z9y8x7w6v5".into()),
        "api_stage": output("$default".into()),
        "lambda_functions": output(serde_json::json!({ "health": "orders-api-health", "get-report": "orders-api-get-report" })),
        "alb_load_balancer": output("app/orders-api/50dc6c495c0c9188".into()),
        "alb_target_group": output("targetgroup/orders-api/73e2d6bc24d8a067".into()),
        "xray_legacy_service": output("orders-express".into()),
        "edge_log_stream_arn": output(serde_json::Value::Null),
        "controller_role_arn": output("arn:aws:iam::111122223333:role/orders-api-controller".into()),
    });
    let file = dir.join("outputs.json");
    std::fs::write(&file, outputs.to_string()).unwrap();
    let plan = dir.join("plan.toml");
    let out =
        cutover(&["plan", "init", "--from-terraform", file.to_str().unwrap(), "--output", plan.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
    let text_ = std::fs::read_to_string(&plan).unwrap();
    assert!(!text_.contains("[target.local]") && !text_.contains("127.0.0.1"), "{text_}");
    let parsed = cutover_core::plan::Plan::parse(&text_).unwrap();
    assert_eq!((parsed.target.name.as_str(), parsed.target.salt.as_str()), ("orders-api", "orders-api"));
    assert_eq!(parsed.target.cohort, cutover_core::plan::CohortKey::Header("x-account".into()));
    let cutover_core::plan::EdgeTarget::CloudFront(edge) = &parsed.target.edge else { panic!("{text_}") };
    assert_eq!((edge.distribution_id.as_str(), edge.weight_key.as_str()), ("E1ABCDEF234567", "orders-api/weight"));
    // No probe_token_key output: the plan derives it beside the weight key,
    // never keeps the example's.
    assert_eq!(edge.probe_token_key, "orders-api/probe-token");
    assert!(text_.contains("# probe_token_key = \"internal-api/probe-token\""), "{text_}");
    assert_eq!(edge.when_store_unreadable, cutover_core::measure::Side::Serverless);
    assert!(edge.kvs_arn.ends_with("/0a1b2c3d-1111-2222-3333-444455556666"));
    let metrics = parsed.target.metrics.unwrap();
    assert_eq!(metrics.lambda_functions, ["orders-api-health", "orders-api-get-report"]);
    assert_eq!((metrics.api_id.as_str(), metrics.xray_legacy_service.as_str()), ("z9y8x7w6v5", "orders-express"));
    assert!(metrics.edge_logs.is_none(), "no stream, no edge logs");
    // The function Terraform renders (salt = the name, the plan's keys) is the one this plan expects live.
    let out = cutover(&["plan", "edge-function", plan.to_str().unwrap()]);
    let code = String::from_utf8_lossy(&out.stdout);
    assert!(code.contains("const SALT = 'orders-api';") && code.contains("const WEIGHT_KEY = 'orders-api/weight';"));
    assert!(code.contains("const COHORT_HEADER = 'x-account';"), "{code}");

    // With the edge logs (edge_logs = true): the stream, and the fields in
    // the configuration's order, whatever the default plan lists.
    let mut with_logs = outputs.clone();
    let stream = "arn:aws:kinesis:us-east-1:111122223333:stream/orders-api-edge-logs";
    let fields = [
        "timestamp",
        "c-ip",
        "sc-status",
        "time-taken",
        "cs-uri-stem",
        "cs-user-agent",
        "cs-headers",
        "cs-headers-count",
    ];
    with_logs["edge_log_stream_arn"] = output(stream.into());
    with_logs["edge_log_fields"] = output(serde_json::json!(fields));
    let file = dir.join("outputs-logs.json");
    std::fs::write(&file, with_logs.to_string()).unwrap();
    let out = cutover(&["plan", "init", "--from-terraform", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
    let parsed = cutover_core::plan::Plan::parse(&text(&out).0).unwrap();
    let logs = parsed.target.metrics.unwrap().edge_logs.expect("edge logs");
    assert_eq!((logs.stream_arn.as_str(), logs.fields), (stream, fields.map(String::from).to_vec()));
}
