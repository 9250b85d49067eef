//! `cutover bench memory`: does any long-running process keep growing?
//!
//! It starts what a local cutover runs (the two origins, the edge and
//! `cutover serve`, each a process of its own), creates a compressed
//! cutover through the API that stays active for the whole run, sends user
//! traffic through the edge from this process (the demo's load generator,
//! so this process stands for the demo's), and reads the control API as a
//! dashboard does (a live stream, and GETs at a fixed rate). It samples
//! every process's resident memory each second and, after the warm-up,
//! judges each: it keeps rising when each third of what follows the
//! warm-up sits higher than the one before, and the last more than
//! [`ALLOWANCE`] above the first. Exits 1 if any process keeps rising.
//!
//! The edge keeps its recorded slots up to a bound (`--keep-slots`); here
//! it keeps few enough that the bound is reached within the warm-up, so
//! what it does afterwards is growth, not filling.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use cutover_core::plan::Plan;
use cutover_local::{load, Keep};
use http::Request;
use http_body_util::Full;

use crate::api::CreateCutover;
use crate::bench_daemon::usage;
use crate::client::Client;
use crate::demo::{plan_toml, secret, slot_ms, start, LocalRun, Process, Stage};
use crate::failure::Failure;
use crate::stores::StoreAt;

#[derive(clap::Args)]
pub struct MemoryBenchArgs {
    /// Seconds of load in all, the warm-up included.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Seconds at the start that are not judged: caches fill, the edge's kept slots reach
    /// their bound.
    #[arg(long, default_value_t = 60)]
    warm_up: u64,
    /// User requests per second through the edge, open loop.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// GET /v1/cutovers/{id} per second (a dashboard's polling), besides one live stream.
    #[arg(long, default_value_t = 20.0)]
    api_rate: f64,
    /// Where the cutover is recorded (a SQLite file); logs go beside it.
    #[arg(long, default_value = ".cutover/memory.db")]
    store: StoreAt,
}

/// How far the last third after the warm-up may sit above the first
/// before a process that rose through all three is called growing: 2 MiB,
/// or 5 % of where it stood, whichever is more.
pub const ALLOWANCE: Allowance = Allowance { kib: 2048, fraction: 0.05 };

#[derive(Clone, Copy, Debug)]
pub struct Allowance {
    kib: u64,
    fraction: f64,
}

/// One process's resident memory over the run, a sample a second (KiB).
struct Series {
    name: &'static str,
    pid: u32,
    kib: Vec<u64>,
}

/// What became of one process after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judged {
    /// Median of each third of the samples after the warm-up (KiB).
    pub thirds: [u64; 3],
    /// Least-squares slope over those samples, KiB a minute.
    pub kib_per_minute: f64,
    pub rising: bool,
}

/// Judges the samples taken after the warm-up (one a second).
pub fn judge(after_warm_up: &[u64], allowance: Allowance) -> Option<Judged> {
    if after_warm_up.len() < 6 {
        return None;
    }
    let third = after_warm_up.len() / 3;
    let median = |part: &[u64]| {
        let mut part = part.to_vec();
        part.sort_unstable();
        part[part.len() / 2]
    };
    let thirds = [
        median(&after_warm_up[..third]),
        median(&after_warm_up[third..2 * third]),
        median(&after_warm_up[2 * third..]),
    ];
    let allowed = allowance.kib.max((thirds[0] as f64 * allowance.fraction) as u64);
    let rising = thirds[0] < thirds[1] && thirds[1] < thirds[2] && thirds[2] > thirds[0] + allowed;
    Some(Judged { thirds, kib_per_minute: slope(after_warm_up) * 60.0, rising })
}

/// Least-squares slope of evenly spaced samples, per sample.
fn slope(samples: &[u64]) -> f64 {
    let n = samples.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = samples.iter().sum::<u64>() as f64 / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in samples.iter().enumerate() {
        let dx = x as f64 - mean_x;
        sxy += dx * (*y as f64 - mean_y);
        sxx += dx * dx;
    }
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

pub async fn run(args: &MemoryBenchArgs) -> Result<ExitCode, Failure> {
    if args.seconds > 86_400 || args.warm_up < 10 || args.seconds < args.warm_up + 30 {
        return Err(Failure::input(format!(
            "--seconds {} --warm-up {}: give a warm-up of at least 10 s and at least 30 s after it (at most a day in all)",
            args.seconds, args.warm_up
        )));
    }
    if !(args.rate.is_finite() && (10.0..=20_000.0).contains(&args.rate)) {
        return Err(Failure::input(format!("--rate {}: give 10 to 20000 requests a second", args.rate)));
    }
    if !(args.api_rate.is_finite() && (0.0..=1000.0).contains(&args.api_rate)) {
        return Err(Failure::input(format!("--api-rate {}: give 0 to 1000 requests a second", args.api_rate)));
    }
    if !matches!(args.store, StoreAt::Sqlite(_)) {
        return Err(Failure::input("--store: give a SQLite file; the memory soak runs on the embedded store"));
    }
    Ok(bench(args).await?)
}

async fn bench(args: &MemoryBenchArgs) -> anyhow::Result<ExitCode> {
    let plan = Plan::default_plan();
    let text = cutover_core::plan::DEFAULT_PLAN;
    // Slow enough that the cutover is still stepping when the run ends.
    let wall = Duration::from_secs(args.seconds).mul_f64(1.5);
    let speed = (plan.duration().as_secs_f64() / wall.as_secs_f64()).max(1.0);
    let slot_ms = slot_ms(&plan, speed);
    // The edge keeps ten judging intervals as recorded, and merged slots
    // for at most half the warm-up more.
    let fine = 50u64;
    let coarse = ((args.warm_up * 1000 / 2 / slot_ms).saturating_sub(fine) / 60).max(1) as usize;

    let run = LocalRun::new(&args.store, "memory")?;
    let log = |name: &str| run.log(name);
    let Stage { legacy, serverless, edge, local, .. } = run.stage(text, slot_ms, Keep { fine, coarse }).await?;
    let plan_text = plan_toml(text, &local)?;

    let token = secret()?;
    let tokens = format!("memory admin {token}");
    let store = args.store.to_string();
    let serve_args = ["serve", "--listen", "127.0.0.1:0", "--store", &store, "--lease-ttl", "1"];
    let daemon =
        start(&serve_args, &[("CUTOVER_TOKENS", &tokens)], &log("serve"), &["cutover serve listening on http://"])
            .await?;
    let server = daemon.address().to_owned();
    let api = Client::new(&format!("http://{server}"), Some(token.clone()))?;
    let create = CreateCutover {
        id: run.id.clone(),
        plan: plan_text,
        start: true,
        speed: Some(speed),
        reason: Some("cutover bench memory".into()),
        at: None,
    };
    api.create(&create).await.map_err(|e| anyhow::anyhow!("create the cutover through the API: {e}"))?;
    println!(
        "cutover bench memory {}: {} s ({} s warm-up), {:.0} user requests/s through the edge, {:.0} API reads/s \
         and a live stream; the default plan at {speed:.0}x; the edge keeps {fine} slots of {slot_ms} ms and \
         {coarse} merged; logs in {}",
        run.id,
        args.seconds,
        args.warm_up,
        args.rate,
        args.api_rate,
        run.dir.display()
    );

    let traffic = tokio::spawn(crate::demo::traffic(edge.address().to_owned(), args.rate));
    let watcher = tokio::spawn(watch(server.clone(), token.clone(), run.id.clone()));
    let reads = tokio::spawn(dashboard(server.clone(), token.clone(), run.id.clone(), args.api_rate));

    let pid = |process: &Process| process.child.id().context("a child's pid");
    let mut series = vec![
        Series { name: "legacy origin", pid: pid(&legacy)?, kib: Vec::new() },
        Series { name: "serverless origin", pid: pid(&serverless)?, kib: Vec::new() },
        Series { name: "edge", pid: pid(&edge)?, kib: Vec::new() },
        Series { name: "serve (daemon)", pid: pid(&daemon)?, kib: Vec::new() },
        Series { name: "load generator", pid: std::process::id(), kib: Vec::new() },
    ];
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for second in 0..=args.seconds {
        tick.tick().await;
        for s in &mut series {
            let (kib, _) = usage(s.pid).with_context(|| format!("{} ({}) is gone; see its log", s.name, s.pid))?;
            s.kib.push(kib);
        }
        progress(second, args, &series);
    }
    let took = started.elapsed();
    traffic.abort();
    watcher.abort();
    reads.abort();
    let view = api.get(&run.id).await.map_err(|e| anyhow::anyhow!("read the cutover back: {e}"))?;
    drop((daemon, edge, legacy, serverless));
    eprintln!();

    let warm = args.warm_up as usize;
    println!(
        "\n{:<18} {:>10} {:>10} {:>10} {:>28} {:>10}  verdict",
        "process", "at warm-up", "at end", "peak", "thirds after warm-up (MiB)", "KiB/min"
    );
    let mut growing = Vec::new();
    for s in &series {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let judged = judge(&s.kib[warm.min(s.kib.len())..], ALLOWANCE).context("too few samples")?;
        let [a, b, c] = judged.thirds;
        let verdict = if judged.rising { "KEEPS RISING" } else { "flat" };
        println!(
            "{:<18} {:>10.1} {:>10.1} {:>10.1} {:>28} {:>+10.0}  {verdict}",
            s.name,
            mib(s.kib[warm.min(s.kib.len() - 1)]),
            mib(*s.kib.last().unwrap_or(&0)),
            mib(s.kib.iter().copied().max().unwrap_or(0)),
            format!("{:.1} / {:.1} / {:.1}", mib(a), mib(b), mib(c)),
            judged.kib_per_minute,
        );
        if judged.rising {
            growing.push(s.name);
        }
    }
    println!("\nRSS over the run, each row scaled to its own range (| marks the end of the warm-up):");
    for s in &series {
        println!("{:<18} {}", s.name, chart(&s.kib, warm, 72));
    }
    println!(
        "\nthe cutover meanwhile: {} at step {} of {}, weight {:.2} %; {:.0} s of wall time",
        view.phase,
        view.step,
        view.steps,
        f64::from(view.weight_bps) / 100.0,
        took.as_secs_f64()
    );
    if growing.is_empty() {
        println!("memory: every process flat after the warm-up");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("memory: {} kept rising after the warm-up", growing.join(", "));
        Ok(ExitCode::FAILURE)
    }
}

/// The samples as one line of block characters, at most `width` wide, with
/// `|` where the warm-up ends.
fn chart(kib: &[u64], warm: usize, width: usize) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (low, high) = (kib.iter().copied().min().unwrap_or(0), kib.iter().copied().max().unwrap_or(0));
    let per = kib.len().div_ceil(width.max(1)).max(1);
    let mut out = String::new();
    for (n, chunk) in kib.chunks(per).enumerate() {
        if n * per <= warm && warm < (n + 1) * per {
            out.push('|');
        }
        let value = chunk.iter().copied().max().unwrap_or(0);
        let level = if high == low { 0 } else { ((value - low) * 7 / (high - low)) as usize };
        out.push(BLOCKS[level.min(7)]);
    }
    out.push_str(&format!("  {:.1}–{:.1} MiB", low as f64 / 1024.0, high as f64 / 1024.0));
    out
}

fn progress(second: u64, args: &MemoryBenchArgs, series: &[Series]) {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return;
    }
    let phase = if second < args.warm_up { "warming up" } else { "judging" };
    let now: Vec<String> = series
        .iter()
        .map(|s| {
            format!(
                "{} {:.1}",
                s.name.split(' ').next().unwrap_or(s.name),
                s.kib.last().copied().unwrap_or(0) as f64 / 1024.0
            )
        })
        .collect();
    eprint!("\r  {second}/{} s {phase}; MiB: {}   ", args.seconds, now.join(", "));
}

/// A live stream of the cutover, read and dropped as it comes, reopened if
/// it ends.
async fn watch(server: String, token: String, id: String) {
    let frames = std::sync::atomic::AtomicU64::new(0);
    loop {
        crate::bench_daemon::watch(&server, &token, &id, &frames).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// GET /v1/cutovers/{id} at `rate`, as a dashboard polls.
async fn dashboard(server: String, token: String, id: String, rate: f64) {
    if rate <= 0.0 {
        return;
    }
    let client = load::client();
    let auth = format!("Bearer {token}");
    let make = |_n: u64| {
        Request::get(format!("http://{server}/v1/cutovers/{id}"))
            .header("authorization", &auth)
            .body(Full::new(Bytes::new()))
            .expect("a valid request")
    };
    let day = Duration::from_secs(24 * 3600);
    load::open_loop(&client, rate, day, Duration::from_secs(5), load::Latencies::CountOnly, make).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(n: usize, f: impl Fn(usize) -> f64) -> Vec<u64> {
        (0..n).map(|i| f(i).max(0.0) as u64).collect()
    }

    #[test]
    fn flat_and_noisy_memory_is_flat() {
        let flat = samples(120, |_| 40_000.0);
        assert!(!judge(&flat, ALLOWANCE).unwrap().rising);
        // Noise of ±1.5 MiB, and one step up early that then holds.
        let noisy =
            samples(120, |i| 40_000.0 + 1_500.0 * ((i as f64) * 1.7).sin() + if i > 10 { 3_000.0 } else { 0.0 });
        assert!(!judge(&noisy, ALLOWANCE).unwrap().rising);
        // Filling to a bound within the first third.
        let bounded = samples(120, |i| 30_000.0 + 10_000.0 * (1.0 - (-(i as f64) / 8.0).exp()));
        assert!(!judge(&bounded, ALLOWANCE).unwrap().rising);
    }

    #[test]
    fn steady_growth_is_rising() {
        // 2 KB for each of 500 requests a second: the load generator's old leak.
        let leak = samples(120, |i| 30_000.0 + 1_000.0 * i as f64);
        let judged = judge(&leak, ALLOWANCE).unwrap();
        assert!(judged.rising, "{judged:?}");
        assert!((judged.kib_per_minute - 60_000.0).abs() < 1.0, "{judged:?}");
        // 100 KiB a second is slow, and still seen over two minutes.
        let slow = samples(120, |i| 30_000.0 + 100.0 * i as f64 + 300.0 * ((i as f64) * 2.3).sin());
        assert!(judge(&slow, ALLOWANCE).unwrap().rising);
    }

    #[test]
    fn the_chart_marks_the_warm_up() {
        let line = chart(&[1024, 2048, 3072, 4096], 2, 72);
        assert!(line.starts_with("▁▃|▅█"), "{line}");
        assert!(line.ends_with("1.0–4.0 MiB"), "{line}");
    }
}
