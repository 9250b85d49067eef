//! `cutover edge` (the local weighted edge as a process of its own) and
//! `cutover bench edge` (what the edge adds to a request's latency).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use cutover_core::plan::{EdgeTarget, Plan, DEFAULT_PLAN};
use cutover_local::load::{self, Latencies::Keep, LoadReport};
use cutover_local::{Edge, EdgeConfig};
use http::{Request, Response};
use http_body_util::Full;
use hyper::service::service_fn;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpListener;

use crate::failure::Failure;

/// Runs the edge in front of the plan's `[target.local]` upstreams until
/// SIGINT or SIGTERM. Prints `cutover edge listening on http://ADDR`, then
/// `cutover edge admin on http://ADDR` (the weight and the metrics).
pub async fn run(
    plan: &Plan,
    listen: SocketAddr,
    admin_listen: SocketAddr,
    slot: Duration,
    keep: cutover_local::Keep,
) -> Result<ExitCode, Failure> {
    let EdgeTarget::Local(local) = &plan.target.edge else {
        return Err(Failure::input(
            "the plan's target is CloudFront; `cutover edge` runs in local mode only ([target.local])",
        ));
    };
    let parse = |name: &str, url: &str| {
        url.parse::<http::Uri>().with_context(|| format!("target.local.{name} = {url:?} is not a URL"))
    };
    let config = EdgeConfig {
        listen,
        admin_listen,
        legacy: parse("legacy_url", &local.legacy_url)?,
        serverless: parse("serverless_url", &local.serverless_url)?,
        cohort: plan.target.cohort.clone(),
        salt: plan.target.salt.clone(),
        slot,
        keep,
    };
    {
        let edge = match Edge::start(config).await {
            Ok(edge) => edge,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                return Err(Failure::input(format!("{e}")));
            }
            Err(e) => return Err(anyhow::Error::from(e).context(format!("listen on {listen}")).into()),
        };
        let stop = shutdown_signal();
        // One write, so that a reader who stops after the first line cannot
        // close the pipe between the two (the edge would die of SIGPIPE).
        print!(
            "cutover edge listening on http://{}\ncutover edge admin on http://{}\n",
            edge.address(),
            edge.admin_address()
        );
        std::io::Write::flush(&mut std::io::stdout())?;
        tracing::info!(address = %edge.address(), admin = %edge.admin_address(), legacy = %local.legacy_url, serverless = %local.serverless_url, "edge up");
        stop.await;
        tracing::info!("edge stopping");
        Ok(ExitCode::SUCCESS)
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when it is first awaited: call it before announcing an
/// address, or a SIGTERM sent right after the announcement would find the
/// default action and kill the process instead of stopping it cleanly.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut terminate, mut interrupt) = (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok());
    async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
        match signal {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        tokio::select! {
            () = received(terminate.as_mut()) => {}
            () = received(interrupt.as_mut()) => {}
        }
    }
}

/// An upstream that answers at once, so what is measured is the edge:
/// `cutover bench upstream` serves it (a process of its own, so that it
/// can sit on the edge's core and not the load generator's).
pub async fn instant_upstream(listen: SocketAddr) -> Result<ExitCode, Failure> {
    let listener = TcpListener::bind(listen).await.with_context(|| format!("listen on {listen}"))?;
    let stop = shutdown_signal();
    println!("cutover upstream listening on http://{}", listener.local_addr()?);
    std::io::Write::flush(&mut std::io::stdout())?;
    let answer = |_peer| {
        service_fn(|_request| async {
            let mut response = Response::new(Full::new(Bytes::from_static(br#"{"status":"ok"}"#)));
            response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
            Ok::<_, Infallible>(response)
        })
    };
    cutover_listen::Listener::new(listener, cutover_listen::Limits::default()).serve(answer, stop).await;
    Ok(ExitCode::SUCCESS)
}

/// Open-loop load at `rate` for `seconds`, half straight to an upstream,
/// half through a `cutover edge` process in front of it, in alternating
/// rounds so drift in the machine's load hits both alike. With two cores
/// or more, this process (the load generator) is pinned to the first and
/// the upstream and the edge to the second, so the generator's own work
/// does not queue behind theirs (nor theirs behind it).
pub async fn bench(rate: f64, seconds: u64, rounds: u32, pin_cores: bool) -> Result<ExitCode, Failure> {
    if !(rate > 0.0 && seconds > 0 && rounds > 0) {
        return Err(Failure::input("--rate, --seconds and --rounds must be positive"));
    }
    {
        let cores = allowed_cpus();
        let (first, second) = match cores.as_slice() {
            [first, second, ..] if pin_cores => (first.to_string(), second.to_string()),
            _ => (String::new(), String::new()),
        };
        let pinned = !second.is_empty() && pin(std::process::id(), &first, true).await;
        let others = pinned.then_some(second.as_str());
        let (mut upstream_child, upstream) =
            spawn(&["bench", "upstream"], "cutover upstream listening on http://", others).await?;
        let dir = std::env::temp_dir().join(format!("cutover-bench-edge-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let plan_path = dir.join("plan.toml");
        let url = format!("http://{upstream}");
        let plan = DEFAULT_PLAN.replace("http://127.0.0.1:8081", &url).replace("http://127.0.0.1:8082", &url);
        std::fs::write(&plan_path, plan)?;
        let plan_arg = plan_path.to_string_lossy();
        let edge_args = ["edge", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--plan", &plan_arg];
        let (mut child, edge) = spawn(&edge_args, "cutover edge listening on http://", others).await?;
        if let Some(pid) = child.id() {
            eprintln!("the edge is process {pid} (profile it with: perf record -g -p {pid})");
        }

        let client = load::client();
        let target = |base: SocketAddr| {
            move |n: u64| {
                Request::get(format!("http://{base}/api/health"))
                    .header("x-user-id", format!("user-{}", n % 1000))
                    .body(Full::new(Bytes::new()))
                    .expect("a valid request")
            }
        };
        let round = Duration::from_secs_f64(seconds as f64 / f64::from(rounds));
        let timeout = Duration::from_secs(5);
        eprintln!("warming up (1 s each way)");
        load::open_loop(&client, rate, Duration::from_secs(1), timeout, Keep, target(upstream)).await;
        load::open_loop(&client, rate, Duration::from_secs(1), timeout, Keep, target(edge)).await;
        let (mut direct, mut through) = (LoadReport::default(), LoadReport::default());
        for r in 1..=rounds {
            eprint!("\rround {r}/{rounds}: direct");
            direct.merge(load::open_loop(&client, rate, round, timeout, Keep, target(upstream)).await);
            eprint!("\rround {r}/{rounds}: through the edge");
            through.merge(load::open_loop(&client, rate, round, timeout, Keep, target(edge)).await);
        }
        eprintln!();
        let _ = child.kill().await;
        let _ = upstream_child.kill().await;
        let _ = std::fs::remove_dir_all(&dir);

        let placement = if pinned {
            format!("the load generator on CPU {first}, the upstream and the edge on CPU {second}")
        } else {
            "unpinned (--no-pin, one CPU, or no taskset)".to_owned()
        };
        println!(
            "{rate:.0} requests/s open loop, {seconds} s each way in {rounds} alternating rounds, {placement}; \
             latency = send to last byte, microseconds\n"
        );
        println!("{:<20} {:>9} {:>8} {:>8} {:>8} {:>8}", "path", "requests", "failed", "p50", "p99", "p99.9");
        for (name, report) in [("direct to upstream", &direct), ("through the edge", &through)] {
            println!(
                "{name:<20} {:>9} {:>8} {:>8} {:>8} {:>8}",
                report.sent,
                report.failed,
                micros(report.quantile_us(0.5)),
                micros(report.quantile_us(0.99)),
                micros(report.quantile_us(0.999)),
            );
        }
        let added = |q: f64| -> Option<(i64, f64)> {
            let (d, t) = (direct.quantile_us(q)?, through.quantile_us(q)?);
            Some((i64::from(t) - i64::from(d), f64::from(t) / f64::from(d.max(1))))
        };
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            if let Some((us, ratio)) = added(q) {
                println!("added by the edge at {name}: {:.3} ms ({ratio:.2}x direct)", us as f64 / 1000.0);
            }
        }
        if direct.failed + through.failed > 0 {
            return Err(anyhow::anyhow!(
                "{} requests failed; the figures above are not clean",
                direct.failed + through.failed
            )
            .into());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The CPUs this process may run on (`Cpus_allowed_list`: `0-1`, `0,2`),
/// in order; empty when that cannot be read.
fn allowed_cpus() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")) else { return Vec::new() };
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let range = match part.split_once('-') {
            Some((from, to)) => from.parse::<u32>().ok().zip(to.parse::<u32>().ok()),
            None => part.parse::<u32>().ok().map(|cpu| (cpu, cpu)),
        };
        if let Some((from, to)) = range {
            cpus.extend(from..=to);
        }
    }
    cpus
}

/// Pins process `pid` (with `all`, every thread of it) to `cores` with
/// taskset; whether it worked.
async fn pin(pid: u32, cores: &str, all: bool) -> bool {
    let mut taskset = tokio::process::Command::new("taskset");
    if all {
        taskset.arg("-a");
    }
    let status = taskset.args(["-p", "-c", cores, &pid.to_string()]).stdout(Stdio::null()).status().await;
    status.is_ok_and(|s| s.success())
}

fn micros(us: Option<u32>) -> String {
    us.map_or("-".into(), |us| format!("{us} µs"))
}

/// Starts this same binary with `args` (on `cores`, by taskset, when
/// given) and reads the address from its first line, after `prefix`.
async fn spawn(
    args: &[&str],
    prefix: &str,
    cores: Option<&str>,
) -> anyhow::Result<(tokio::process::Child, SocketAddr)> {
    let exe = std::env::current_exe().context("find the cutover binary")?;
    let mut command = match cores {
        Some(cores) => {
            let mut taskset = tokio::process::Command::new("taskset");
            taskset.args(["-c", cores]).arg(exe);
            taskset
        }
        None => tokio::process::Command::new(exe),
    };
    let mut child = command
        .args(args)
        .env("CUTOVER_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start cutover {}", args[0]))?;
    let stdout = child.stdout.take().context("its stdout")?;
    let mut reader = tokio::io::BufReader::new(stdout);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
        .await
        .with_context(|| format!("cutover {} did not start within 10 s", args[0]))??;
    // The rest of its output is not read: keep the pipe open (a closed one
    // would end a process that prints again with SIGPIPE).
    tokio::spawn(async move {
        let mut rest = String::new();
        while reader.read_line(&mut rest).await.is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    let address = line
        .trim()
        .strip_prefix(prefix)
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("unexpected first line from cutover {}: {line:?}", args[0]))?;
    Ok((child, address))
}
