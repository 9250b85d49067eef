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
fn simulate_rejects_a_bad_regression() {
    let out = cutover(&["simulate", "--regression", "errors+5@20h"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("errors+Npp@T"), "{}", text(&out).1);
}

#[test]
fn bench_judge_prints_the_judges_side_by_side() {
    let out = cutover(&["bench", "judge", "--null-runs", "2", "--runs", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let header = stdout.lines().find(|l| l.starts_with("| scenario")).expect("a table");
    for judge in ["sequential (cutover)", "flagger-style", "alarm-style"] {
        assert!(header.contains(judge), "{header}");
    }
    let rows = stdout.lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(rows, 1 + 1 + 7 * 3, "header, healthy row, 7 regressions x 3 steps:\n{stdout}");
}
