//! `cutover soak`, short: a compressed cutover under two replicas whose
//! leader is SIGKILLed four times and SIGSTOPped past its lease once, on
//! the embedded store and on DynamoDB in moto. It must end completed, with
//! no audit event lost or decided twice, its hash chain intact, every
//! notification delivered and every operator command handled once (the
//! command checks; it exits non-zero else).
//!
//! The long soak is the same command: `cargo run --release -p cutover --
//! soak` (50 kills, 3 stops, the default plan), or this test with
//! `CUTOVER_SOAK_KILLS=50 CUTOVER_SOAK_STOPS=3 CUTOVER_SOAK_PLAN=default`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-soak-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The default plan with every step held an hour: seven hours of plan time.
fn short_plan(dir: &Path) -> String {
    if setting("CUTOVER_SOAK_PLAN", "short") == "default" {
        return "default".into();
    }
    let default = Command::new(env!("CARGO_BIN_EXE_cutover")).args(["plan", "init"]).output().unwrap().stdout;
    let text = String::from_utf8(default).unwrap();
    let short: String = text
        .lines()
        .map(|line| if line.starts_with("hold = ") { "hold = \"1h\"" } else { line })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(short, text, "the default plan holds its steps with `hold = ...` lines");
    let path = dir.join("short.toml");
    std::fs::write(&path, short).unwrap();
    path.to_string_lossy().into_owned()
}

fn soak(dir: &Path, store: &[&str]) {
    let plan = short_plan(dir);
    let (kills, stops) = (setting("CUTOVER_SOAK_KILLS", "4"), setting("CUTOVER_SOAK_STOPS", "1"));
    let mut args = vec!["soak", "--kills", &kills, "--stops", &stops];
    if plan != "default" {
        args.extend(["--plan", &plan]);
    }
    args.extend_from_slice(store);
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(&args)
        .current_dir(dir)
        .env("CUTOVER_LOG", "info")
        .output()
        .expect("run cutover soak");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "cutover soak {args:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    for check in ["outcome", "audit events lost", "decided twice", "hash chain", "notifications", "operator commands"] {
        let line = stdout.lines().find(|l| l.starts_with(check)).unwrap_or_else(|| panic!("no {check} row:\n{stdout}"));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(stdout.contains(&format!("{kills} SIGKILL, {stops} SIGSTOP")), "every disruption happened:\n{stdout}");
}

#[test]
fn a_leader_killed_and_stopped_loses_nothing_sqlite() {
    let dir = temp_dir("sqlite");
    let store = dir.join("soak.db");
    soak(&dir, &["--store", store.to_str().unwrap()]);
}

#[cfg(feature = "aws")]
#[test]
fn a_leader_killed_and_stopped_loses_nothing_dynamodb() {
    // Serial: moto's threaded server does not isolate conditional writes,
    // and the replicas race for leases.
    let moto = cutover_testkit::Moto::start_serial();
    let dir = temp_dir("dynamodb");
    soak(&dir, &["--store", "dynamodb://cutover-soak", "--endpoint-url-dynamodb", moto.endpoint()]);
}
