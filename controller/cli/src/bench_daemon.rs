//! `cutover bench daemon`: what `cutover serve` costs while it works. It
//! starts two origins, one edge per cutover (each cutover owns its edge, as
//! each owns a distribution in AWS) and a daemon, all as processes of their
//! own; creates and starts the cutovers through the API on a compressed
//! clock; opens live streams on them; then, while the daemon drives them,
//! samples its resident memory and CPU time from /proc, and times
//! `GET /v1/cutovers/{id}` at a fixed open-loop rate. Prints a table.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::CreateCutover;
use crate::client::Client;
use crate::demo::{plan_toml, secret, start, start_edge, Local, LocalRun, Process};
use crate::failure::Failure;
use crate::stores::StoreAt;
use cutover_local::{load, Keep};

#[derive(clap::Args)]
pub struct DaemonBenchArgs {
    /// Cutovers driven at once, each with an edge of its own.
    #[arg(long, default_value_t = 20)]
    cutovers: usize,
    /// Live streams (SSE) open on them, spread evenly.
    #[arg(long, default_value_t = 50)]
    watchers: usize,
    /// How much faster than real time the cutovers run.
    #[arg(long, default_value_t = 1200.0)]
    speed: f64,
    /// Seconds of sampling the daemon's memory and CPU.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// GET /v1/cutovers/{id} per second, open loop, for `get_seconds`.
    #[arg(long, default_value_t = 500.0)]
    get_rate: f64,
    #[arg(long, default_value_t = 10)]
    get_seconds: u64,
}

/// Resident memory (KiB) and CPU time (clock ticks) of process `pid`.
pub(crate) fn usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some((rss, utime + stime))
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the running system.
    #[allow(unsafe_code)]
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Holds a live stream of cutover `id` open (raw HTTP/1.0, as a browser
/// would hold it) until it ends, counting its frames.
pub(crate) async fn watch(server: &str, token: &str, id: &str, frames: &AtomicU64) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(server).await else { return };
    let request = format!("GET /v1/cutovers/{id}/stream HTTP/1.0\r\nauthorization: Bearer {token}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = stream.read(&mut buffer).await {
        let events = buffer[..n].windows(2).filter(|w| w == b"\n\n").count() as u64;
        frames.fetch_add(events, Ordering::Relaxed);
    }
}

pub async fn run(args: &DaemonBenchArgs) -> Result<ExitCode, Failure> {
    if args.cutovers == 0 || args.cutovers > 200 || args.watchers > 2000 || args.seconds == 0 {
        return Err(Failure::input("--cutovers 1 to 200, --watchers up to 2000, --seconds above 0"));
    }
    if !(args.speed >= 1.0 && args.speed <= 100_000.0 && args.get_rate > 0.0 && args.get_rate <= 20_000.0) {
        return Err(Failure::input("--speed 1 to 100000, --get-rate above 0 and at most 20000"));
    }
    Ok(bench(args).await?)
}

async fn bench(args: &DaemonBenchArgs) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("cutover-bench-daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("cutover.db");
    let run = LocalRun::new(&StoreAt::Sqlite(db.clone()), "bench")?;
    let log = |name: &str| run.log(name);
    let (legacy, serverless) = run.origins().await?;
    let base = cutover_core::plan::DEFAULT_PLAN;
    let mut local = Local::new(&legacy, &serverless);
    let edge_plan = dir.join("edge-plan.toml");
    std::fs::write(&edge_plan, plan_toml(base, &local)?)?;
    eprintln!("starting {} edges, the origins and the daemon", args.cutovers);
    let mut edges: Vec<Process> = Vec::new();
    for n in 0..args.cutovers {
        let edge = start_edge(&edge_plan, 1000, Keep::default(), &log(&format!("edge-{n}"))).await?;
        edges.push(edge);
    }
    let token = secret()?;
    let tokens = format!("bench admin {token}");
    let store = db.to_string_lossy().into_owned();
    let daemon = start(
        &["serve", "--listen", "127.0.0.1:0", "--store", &store],
        &[("CUTOVER_TOKENS", &tokens), ("CUTOVER_LOG", "warn")],
        &log("serve"),
        &["cutover serve listening on http://"],
    )
    .await?;
    let pid = daemon.child.id().context("the daemon's pid")?;
    let server = daemon.address().to_owned();
    let api = Client::new(&format!("http://{server}"), Some(token.clone()))?;
    let ids: Vec<String> = (0..args.cutovers).map(|n| format!("bench-{n:03}")).collect();
    let idle = usage(pid).map_or(0, |(rss, _)| rss);
    for (id, edge) in ids.iter().zip(&edges) {
        local.set_edge(edge);
        let create = CreateCutover {
            id: id.clone(),
            plan: plan_toml(base, &local)?,
            start: true,
            speed: Some(args.speed),
            reason: Some("bench".into()),
            at: None,
        };
        api.create(&create).await.map_err(|e| anyhow::anyhow!("create {id}: {e}"))?;
    }

    // The watchers: raw HTTP/1.0 streams, read and counted.
    let frames = Arc::new(AtomicU64::new(0));
    let mut watchers = tokio::task::JoinSet::new();
    for n in 0..args.watchers {
        let (server, token, id, frames) = (server.clone(), token.clone(), ids[n % ids.len()].clone(), frames.clone());
        watchers.spawn(async move { watch(&server, &token, &id, &frames).await });
    }

    tokio::time::sleep(Duration::from_secs(3)).await; // let every cutover start
    let ticks = ticks_per_second();
    let (start_rss, start_cpu) = usage(pid).context("the daemon's /proc")?;
    let (started, start_frames) = (Instant::now(), frames.load(Ordering::Relaxed));
    let mut peak = start_rss;
    for s in 1..=args.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss, _) = usage(pid).context("the daemon's /proc")?;
        peak = peak.max(rss);
        eprint!("\r  sampling the daemon: {s}/{} s, RSS {:.1} MiB", args.seconds, rss as f64 / 1024.0);
    }
    eprintln!();
    let (end_rss, end_cpu) = usage(pid).context("the daemon's /proc")?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = (end_cpu - start_cpu) as f64 / ticks / wall;
    let streamed = (frames.load(Ordering::Relaxed) - start_frames) as f64 / wall;

    // GET /v1/cutovers/{id} at a fixed rate, while all of the above goes on.
    eprintln!("GET /v1/cutovers/{{id}} at {} requests/s for {} s", args.get_rate, args.get_seconds);
    let client = load::client();
    let auth = format!("Bearer {token}");
    let make = |n: u64| {
        let id = &ids[n as usize % ids.len()];
        Request::get(format!("http://{server}/v1/cutovers/{id}"))
            .header("authorization", &auth)
            .body(Full::new(Bytes::new()))
            .expect("a valid request")
    };
    let report = load::open_loop(
        &client,
        args.get_rate,
        Duration::from_secs(args.get_seconds),
        Duration::from_secs(5),
        load::Latencies::Keep,
        make,
    )
    .await;
    let get_cpu_end = usage(pid).map_or(end_cpu, |(_, cpu)| cpu);
    let get_cpu = (get_cpu_end - end_cpu) as f64 / ticks / args.get_seconds as f64;

    // What the cutovers did meanwhile, by the API.
    let views = api.list().await?;
    let analyses: u64 = {
        let sample = &views[0].id;
        api.history(sample).await?.iter().filter(|e| e.kind.name() == "analysis").count() as u64
    };
    watchers.abort_all();
    drop((daemon, edges, legacy, serverless));
    let ms = |us: Option<u32>| us.map_or("-".into(), |us| format!("{:.2} ms", f64::from(us) / 1000.0));
    println!(
        "\ncutover serve driving {} cutovers at {}x with {} SSE watchers ({} s sampled; no user traffic):\n",
        args.cutovers, args.speed, args.watchers, args.seconds
    );
    println!("| what | figure |");
    println!("|---|---|");
    println!("| RSS idle (no cutover) | {:.1} MiB |", idle as f64 / 1024.0);
    println!(
        "| RSS while driving: start / peak / end | {:.1} / {:.1} / {:.1} MiB |",
        start_rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        end_rss as f64 / 1024.0
    );
    println!("| CPU while driving | {:.0} % of one core |", cpu * 100.0);
    println!("| SSE frames delivered | {streamed:.0} /s |");
    println!("| analyses recorded by {} so far | {analyses} |", views[0].id);
    println!(
        "| GET /v1/cutovers/{{id}} at {} /s: p50 / p99 / p99.9 | {} / {} / {} ({} sent, {} failed) |",
        args.get_rate,
        ms(report.quantile_us(0.5)),
        ms(report.quantile_us(0.99)),
        ms(report.quantile_us(0.999)),
        report.sent,
        report.failed
    );
    println!("| CPU while also answering the GETs | {:.0} % of one core |", get_cpu * 100.0);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
