//! Whole cutovers with real processes: `cutover demo` starts two origins,
//! the edge and the controller as processes of their own and sends real
//! HTTP traffic through the edge. A short plan completes; an injected
//! regression rolls back with the failing verdict recorded; a controller
//! killed with SIGKILL resumes the same cutover with an unbroken audit
//! trail; `cutover rollback` from another process stops a running one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Two steps, 10 % and 100 %, 30 minutes each: 6 s at 600x.
fn short_plan(dir: &Path) -> PathBuf {
    let default = Command::new(env!("CARGO_BIN_EXE_cutover")).args(["plan", "init"]).output().unwrap().stdout;
    let text = String::from_utf8(default).unwrap();
    let (head, rest) = text.split_once("[[schedule.steps]]").unwrap();
    let tail = &rest[rest.find("# UTC hours").unwrap()..];
    let plan = format!(
        "{head}[[schedule.steps]]\nweight = 10\nhold = \"30m\"\n\n[[schedule.steps]]\nweight = 100\nhold = \"30m\"\n\n{tail}"
    );
    let path = dir.join("short.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs in the temporary directory: a demo on DynamoDB writes its report
/// where it runs.
fn cutover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .env("CUTOVER_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("runs")
}

/// One whole cutover at a time: they measure latency, and several at once
/// on a 2-core machine starve each other (nextest runs them one at a time
/// too: `.config/nextest.toml`).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn demo(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    demo_in(dir, dir.join("cutover.db").to_str().unwrap(), extra)
}

fn demo_in(dir: &Path, store: &str, extra: &[&str]) -> (Option<i32>, String) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let plan = short_plan(dir);
    let mut args = vec!["demo", "--plan", plan.to_str().unwrap(), "--store", store];
    args.extend_from_slice(&["--speed", "600", "--rate", "250"]);
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(&args)
        .env("CUTOVER_LOG", "warn")
        .current_dir(dir)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// The one cutover in the store, and its audit trail.
fn recorded(dir: &Path) -> (Value, Vec<Value>) {
    recorded_in(dir.join("cutover.db").to_str().unwrap(), &[])
}

fn recorded_in(store: &str, extra: &[&str]) -> (Value, Vec<Value>) {
    let list = cutover(&[&["history", "--store", store, "--output", "json"], extra].concat());
    let list: Value = serde_json::from_slice(&list.stdout).expect("a JSON list");
    let cutover_state = list.as_array().unwrap()[0].clone();
    let id = cutover_state["id"].as_str().unwrap();
    let verified = cutover(&[&["history", id, "--verify", "--store", store], extra].concat());
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && said.contains("audit trail intact"), "{said}");
    let trail = cutover(&[&["history", id, "--store", store, "--output", "json"], extra].concat());
    let trail: Value = serde_json::from_slice(&trail.stdout).expect("a JSON trail");
    (cutover_state, trail.as_array().unwrap().clone())
}

fn names(trail: &[Value]) -> Vec<&str> {
    trail.iter().map(|e| e["kind"]["event"].as_str().unwrap()).collect()
}

/// No version missing, none twice, every (version, index) once, in order.
fn assert_unbroken(trail: &[Value]) {
    let keys: Vec<(u64, u64)> =
        trail.iter().map(|e| (e["version"].as_u64().unwrap(), e["index"].as_u64().unwrap())).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "order: {keys:?}");
    let mut versions: Vec<u64> = keys.iter().map(|k| k.0).collect();
    versions.dedup();
    assert!(versions.windows(2).all(|w| w[1] == w[0] + 1), "a version is missing: {versions:?}");
}

#[test]
fn a_short_plan_runs_to_completion() {
    let dir = temp_dir("complete");
    let (code, output) = demo(&dir, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains(": Completed"), "{output}");
    assert!(output.contains("before → after"), "{output}");
    let (state, trail) = recorded(&dir);
    assert_eq!(state["phase"]["phase"], "completed");
    assert_eq!(state["weight"], 10_000);
    let names = names(&trail);
    assert_eq!(names.iter().filter(|n| **n == "step_advanced").count(), 1, "{names:?}");
    assert_eq!(names.last(), Some(&"completed"));
    assert_unbroken(&trail);
}

/// The same whole cutover with its state, audit trail, lease and inbox in
/// DynamoDB (moto, started here): the controller process writes through
/// `TransactWriteItems`, and the trail's hash chain verifies.
#[cfg(feature = "aws")]
#[test]
fn a_cutover_recorded_in_dynamodb_completes() {
    let moto = cutover_testkit::Moto::start();
    let dir = temp_dir("dynamodb");
    let endpoint = ["--endpoint-url-dynamodb", moto.endpoint()];
    let (code, output) = demo_in(&dir, "dynamodb://cutover-demo", &endpoint);
    assert_eq!(code, Some(0), "{output}");
    // Its report, where it ran (the store has no directory of its own).
    assert!(output.contains("wrote cutover-report-"), "{output}");
    let (state, trail) = recorded_in("dynamodb://cutover-demo", &endpoint);
    let report = dir.join(format!("cutover-report-{}.html", state["id"].as_str().unwrap()));
    let html = std::fs::read_to_string(report).unwrap();
    assert!(html.contains(r#""chain":{"intact":true"#) && html.contains(r#""phase":"completed""#));
    assert_eq!(state["phase"]["phase"], "completed");
    assert_eq!(names(&trail).last(), Some(&"completed"));
    assert_unbroken(&trail);
}

#[test]
fn an_injected_regression_rolls_back_with_the_numbers_that_caused_it() {
    let dir = temp_dir("inject");
    let (code, output) = demo(&dir, &["--inject", "step=1,errors=20%"]);
    assert_eq!(code, Some(3), "rolled back is exit 3: {output}");
    assert!(output.contains("the verdict that rolled it back"), "{output}");
    let (state, trail) = recorded(&dir);
    assert_eq!(state["phase"]["phase"], "rolled_back");
    assert_eq!(state["weight"], 0, "the edge is back at 0");
    assert_eq!(state["edge_weight"], 0, "and the edge confirmed it");
    let failed = trail
        .iter()
        .find(|e| e["kind"]["event"] == "analysis" && e["kind"]["analysis"]["verdict"] == "fail")
        .expect("the failing verdict is in the audit trail");
    let check = failed["kind"]["analysis"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["verdict"] == "fail")
        .expect("the failing check");
    assert_eq!(check["check"], "error_rate");
    assert!(check["serverless"].as_f64().unwrap() > 5.0, "with its numbers: {check}");
    assert!(check["e_value"].as_f64().unwrap() >= check["e_threshold"].as_f64().unwrap());
    assert_eq!(names(&trail).last(), Some(&"rolled_back"));
    assert_unbroken(&trail);
}

#[test]
fn a_controller_killed_mid_run_resumes_the_same_cutover() {
    let dir = temp_dir("kill");
    let (code, output) = demo(&dir, &["--kill-controller-at-step", "2"]);
    assert!(output.contains("killed the controller (cutover serve, SIGKILL) at step 2"), "{output}");
    assert_eq!(code, Some(0), "{output}");
    let (state, trail) = recorded(&dir);
    assert_eq!(state["phase"]["phase"], "completed");
    let names = names(&trail);
    assert_eq!(names.iter().filter(|n| **n == "started").count(), 1, "one cutover, not two: {names:?}");
    assert_eq!(names.iter().filter(|n| **n == "step_advanced").count(), 1, "{names:?}");
    assert_unbroken(&trail);
}

#[test]
fn an_operator_rolls_back_a_running_cutover_from_another_process() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("rollback");
    let plan = short_plan(&dir);
    let store = dir.join("cutover.db");
    // Slow enough that the rollback lands mid-run: 60 s of wall time.
    let mut running = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["demo", "--plan", plan.to_str().unwrap(), "--store", store.to_str().unwrap()])
        .args(["--speed", "60", "--rate", "300"])
        .env("CUTOVER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let started = Instant::now();
    let id = loop {
        assert!(started.elapsed() < Duration::from_secs(30), "the demo never started its cutover");
        std::thread::sleep(Duration::from_millis(200));
        if !store.exists() {
            continue;
        }
        let list = cutover(&["history", "--store", store.to_str().unwrap(), "--output", "json"]);
        let Ok(list) = serde_json::from_slice::<Value>(&list.stdout) else { continue };
        if let Some(first) = list.as_array().and_then(|l| l.first()) {
            if first["phase"]["phase"] == "progressing" {
                break first["id"].as_str().unwrap().to_owned();
            }
        }
    };
    let out = cutover(&["rollback", &id, "--reason", "p99 looks off", "--store", store.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("the running controller"), "{stdout}");
    assert!(stdout.contains("RolledBack(operator)"), "{stdout}");
    let status = running.wait().unwrap();
    assert_eq!(status.code(), Some(3), "the demo ends rolled back");
    let (state, trail) = recorded(&dir);
    assert_eq!(state["weight"], 0);
    let rollback = trail.iter().find(|e| e["kind"]["event"] == "rollback_started").expect("rollback_started");
    assert_eq!(rollback["reason"], "p99 looks off", "the reason is in the audit trail");
    assert_unbroken(&trail);
}
