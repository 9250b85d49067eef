//! `cargo xtask fuzz`: every fuzz target at once, longer than `./tests/run`
//! runs them (release builds, `CUTOVER_FUZZ_CASES` cases each), and
//! schemathesis against api-local with more examples per operation. Prints
//! a table; fails if any target found something.

use std::process::Command;
use std::time::Instant;

use anyhow::bail;

use crate::root;

/// A target: what it hunts in, and the cargo test that runs it.
const TARGETS: &[(&str, &[&str])] = &[
    ("plan decoder (bytes, mutated plans)", &["-p", "cutover-core", "--test", "plan"]),
    ("cohort cookie, KVS weight, bucket", &["-p", "cutover-core", "--test", "cohort"]),
    ("API handlers (cutover-api)", &["-p", "cutover-api", "--test", "handlers"]),
    ("control API (cutover serve)", &["-p", "cutover", "--bin", "cutover", "api::fuzz"]),
    ("Lambda functions, API Gateway events", &["-p", "cutover-api-lambda", "--test", "fuzz"]),
    ("request heads on the wire (every server)", &["-p", "cutover-listen", "--test", "fuzz"]),
];

pub fn run(cases: u32, examples: u32) -> anyhow::Result<()> {
    let root = root();
    let mut rows = Vec::new();
    for (name, args) in TARGETS {
        eprintln!("== {name}: {cases} cases");
        let started = Instant::now();
        let status = Command::new("cargo")
            .current_dir(&root)
            .args(["test", "--release", "--locked"])
            .args(*args)
            .env("CUTOVER_FUZZ_CASES", cases.to_string())
            .status()?;
        rows.push((name.to_string(), cases, started.elapsed().as_secs_f64(), status.success()));
    }
    eprintln!("== schemathesis against api-local: {examples} examples per operation");
    let started = Instant::now();
    let built =
        Command::new("cargo").current_dir(&root).args(["build", "-p", "cutover-api-local", "--locked"]).status()?;
    let status = if built.success() {
        Command::new(root.join(".venv/bin/python"))
            .current_dir(&root)
            .args(["-m", "unittest", "discover", "-s", "api-lambdas/tests"])
            .env("SCHEMATHESIS_EXAMPLES", examples.to_string())
            .status()?
    } else {
        built
    };
    rows.push(("api-local (schemathesis)".into(), examples, started.elapsed().as_secs_f64(), status.success()));

    println!("\n{:<40} {:>8} {:>9}  result", "target", "cases", "seconds");
    for (name, cases, secs, ok) in &rows {
        println!("{name:<40} {cases:>8} {secs:>9.1}  {}", if *ok { "nothing found" } else { "FAILED (above)" });
    }
    if rows.iter().any(|row| !row.3) {
        bail!("a fuzz target failed; its minimal input is printed above");
    }
    Ok(())
}
