//! `cutover bench memory`, short: every long-running process of a local
//! cutover (the two origins, the edge, the daemon, the load generator)
//! under steady load for 100 s, and none may keep rising after a 40 s
//! warm-up (the command judges; it exits non-zero else).
//!
//! The long soak is the same command: `cargo run --release -p cutover --
//! bench memory` (300 s at 1000 requests/s), or this test with
//! `CUTOVER_MEMORY_SECONDS=1800`.

use std::process::Command;

#[test]
fn no_long_running_process_keeps_growing() {
    let dir = std::env::temp_dir().join(format!("cutover-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seconds = std::env::var("CUTOVER_MEMORY_SECONDS").unwrap_or_else(|_| "100".into());
    let store = dir.join("memory.db");
    let args = ["bench", "memory", "--seconds", &seconds, "--warm-up", "40", "--rate", "300"];
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .args(["--store", store.to_str().unwrap()])
        .current_dir(&dir)
        .env("CUTOVER_LOG", "warn")
        .output()
        .expect("run cutover bench memory");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    assert!(out.status.success(), "cutover bench memory failed ({}):\n{stdout}\n{stderr}", out.status);
    for process in ["legacy origin", "serverless origin", "edge", "serve (daemon)", "load generator"] {
        let row =
            stdout.lines().find(|l| l.starts_with(process)).unwrap_or_else(|| panic!("no {process} row:\n{stdout}"));
        assert!(row.ends_with("flat"), "{row}");
    }
    assert!(stdout.contains("memory: every process flat after the warm-up"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
