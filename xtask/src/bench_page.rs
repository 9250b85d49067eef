//! `cargo xtask bench-page`: the web dashboard of a finished 48-hour
//! cutover (the default demo: ~2 900 events, one analysis a minute), opened
//! again and again in headless chromium against `cutover serve` (release
//! build). Prints the first render (navigation → every chart and table
//! drawn, the page's own `cutover:drawn` mark) and the bytes transferred.
//! The demo's store is kept in target/bench-page/ and reused (`--fresh`
//! runs the demo again, ~2.5 minutes).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use serde_json::Value;

use crate::{root, run as run_command, venv_path};

/// What the budget says (issue 15).
const RENDER_BUDGET_MS: f64 = 1000.0;
const TRANSFER_BUDGET_KB: f64 = 300.0;

pub fn run(runs: usize, fresh: bool) -> anyhow::Result<()> {
    let root = root();
    let python = root.join(".venv/bin/python");
    if !python.exists() || !std::path::Path::new("/usr/bin/chromium").exists() {
        bail!("needs .venv (Playwright) and /usr/bin/chromium: run `cargo xtask setup`");
    }
    eprintln!("bench-page: cargo build --release -p cutover");
    run_command(Command::new("cargo").args(["build", "--release", "--quiet", "-p", "cutover"]).current_dir(&root))?;
    let cutover = root.join("target/release/cutover");
    let dir = root.join("target/bench-page");
    let store = dir.join("cutover.db");
    if fresh || !store.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        eprintln!("bench-page: a whole default cutover to draw (cutover demo, about 2.5 minutes)");
        run_command(
            Command::new(&cutover)
                .args(["demo", "--store"])
                .arg(&store)
                .current_dir(&dir)
                .env("CUTOVER_LOG", "warn")
                .stdout(Stdio::null()),
        )?;
    }
    let listed = Command::new(&cutover).args(["history", "--output", "json", "--store"]).arg(&store).output()?;
    let listed: Value = serde_json::from_slice(&listed.stdout).context("the cutovers in the bench's store")?;
    let id = listed[0]["id"].as_str().context("a cutover in the bench's store")?.to_owned();
    let events = Command::new(&cutover).args(["history", &id, "--output", "json", "--store"]).arg(&store).output()?;
    let events = serde_json::from_slice::<Value>(&events.stdout)?.as_array().map_or(0, Vec::len);

    let token = "bench-page-viewer-token-0001";
    let mut serve = Command::new(&cutover)
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .env("CUTOVER_TOKENS", format!("bench viewer {token}"))
        .env("CUTOVER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start cutover serve")?;
    let mut first = String::new();
    BufReader::new(serve.stdout.take().context("serve's output")?).read_line(&mut first)?;
    let server = first.trim().strip_prefix("cutover serve listening on ").map(str::to_owned);
    let measured = server.context("cutover serve did not say where it listens").and_then(|server| {
        eprintln!("bench-page: {runs} fresh page loads of {id} ({events} events) in headless chromium");
        let script = root.join("controller/cli/tests/browser/bench_page.py");
        let out = Command::new(&python)
            .arg(script)
            .args([server.as_str(), &id, token, &runs.to_string()])
            .env("PATH", venv_path())
            .output()?;
        if !out.status.success() {
            bail!("the page benchmark failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(serde_json::from_slice::<Value>(&out.stdout)?)
    });
    let _ = serve.kill();
    let _ = serve.wait();
    let m = measured?;
    let kb = |key: &str| m[key].as_f64().unwrap_or(0.0) / 1024.0;
    let render = &m["first_render_ms"];
    let analyses = m["runs"][0]["analyses"].as_u64().unwrap_or(0);
    println!(
        "\nthe dashboard of a finished 48 h cutover ({events} events, {analyses} analyses), {runs} fresh loads:\n"
    );
    println!("| what | figure | budget |");
    println!("|---|---|---|");
    println!(
        "| first render (navigation → all drawn) | median {:.0} ms (min {:.0}, max {:.0}); the first load, which builds the series the daemon then serves again: {:.0} ms | ≤ {RENDER_BUDGET_MS:.0} ms |",
        render["median"].as_f64().unwrap_or(f64::NAN),
        render["min"].as_f64().unwrap_or(f64::NAN),
        render["max"].as_f64().unwrap_or(f64::NAN),
        m["runs"][0]["first_render_ms"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "| transferred (gzip) | {:.0} KB: the page {:.0} KB, the series {:.0} KB, the rest {:.0} KB | ≤ {TRANSFER_BUDGET_KB:.0} KB |",
        kb("total_bytes"),
        kb("document_bytes"),
        kb("series_bytes"),
        kb("total_bytes") - kb("document_bytes") - kb("series_bytes")
    );
    Ok(())
}
