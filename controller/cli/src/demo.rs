//! `cutover demo`: a whole cutover on this machine, with real HTTP traffic.
//!
//! It starts two origins (`cutover origin`, legacy and serverless), the
//! weighted edge in front of them (`cutover edge`) and the control-plane
//! daemon (`cutover serve`), each a process of its own; creates and starts
//! the cutover through the daemon's API (on a compressed clock), then sends
//! open-loop traffic through the edge until the cutover settles, showing
//! its progress; `--inject` makes the new side regress at a step. It ends
//! with a report drawn from the audit trail and the edge's numbers; with
//! `--keep` the daemon keeps serving until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use cutover_core::engine::{CutoverState, EventKind, Phase};
use cutover_core::judge::CheckName;
use cutover_core::measure::{Measurement, SideSample};
use cutover_core::plan::Plan;
use cutover_core::store::Store;
use cutover_core::units::{format_duration, Weight};
use cutover_local::load;
use cutover_local::{Keep, PROBE_HEADER};
use http::Request;
use http_body_util::{BodyExt, Full};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use crate::api::CreateCutover;
use crate::client::Client;
use crate::failure::Failure;
use crate::run::exit_code;
use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// The plan to rehearse (its [target.local] addresses are replaced by the demo's origins); the default plan when left out.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// How many times faster than real time the plan runs (1200: the 48 h default plan in 2.4 minutes).
    #[arg(long, default_value_t = 1200.0)]
    speed: f64,
    /// User requests per second through the edge, open loop.
    #[arg(long, default_value_t = 800.0)]
    rate: f64,
    /// Make the new side regress when a step begins: 'step=4,errors=5%', 'step=2,latency=+40ms' or 'step=3,outage'.
    #[arg(long)]
    inject: Option<Inject>,
    /// Kill the daemon with SIGKILL when this step begins, and start it
    /// again: it resumes the same cutover from the store.
    #[arg(long)]
    kill_controller_at_step: Option<usize>,
    /// Keep the daemon, the edge and the origins running after the cutover
    /// settles (until Ctrl-C), to try the API and the CLI against them.
    #[arg(long)]
    keep: bool,
    /// Where the cutover is recorded: a SQLite file, or dynamodb://TABLE (with
    /// --endpoint-url-dynamodb for an emulator). Logs go beside a SQLite file, else to .cutover/.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    store: StoreAt,
}

/// A regression to inject into the serverless origin when a step begins.
#[derive(Clone, Debug, PartialEq)]
pub struct Inject {
    /// 1-based, as `cutover plan show` numbers steps.
    step: usize,
    error_rate: f64,
    extra_latency_ms: f64,
    outage: bool,
}

impl FromStr for Inject {
    type Err = String;

    fn from_str(spec: &str) -> Result<Inject, String> {
        let usage = "give step=N and a fault: errors=P% (a share of requests failing), latency=+Nms, or outage; \
                     e.g. 'step=4,errors=5%'";
        let mut inject = Inject { step: 0, error_rate: 0.0, extra_latency_ms: 0.0, outage: false };
        for part in spec.split(',').map(str::trim) {
            match part.split_once('=') {
                Some(("step", n)) => {
                    inject.step = n.parse().map_err(|_| format!("step={n}: a step number; {usage}"))?
                }
                Some(("errors", p)) => {
                    let percent: f64 =
                        p.strip_suffix('%').unwrap_or(p).parse().map_err(|_| format!("errors={p}: {usage}"))?;
                    if !(0.0..=100.0).contains(&percent) {
                        return Err(format!("errors={p}: a percentage from 0 to 100"));
                    }
                    inject.error_rate = percent / 100.0;
                }
                Some(("latency", ms)) => {
                    let value = ms.trim_start_matches('+').trim_end_matches("ms");
                    inject.extra_latency_ms = value.parse().map_err(|_| format!("latency={ms}: {usage}"))?;
                    if !(0.0..=10_000.0).contains(&inject.extra_latency_ms) {
                        return Err(format!("latency={ms}: from +0ms to +10000ms"));
                    }
                }
                None if part == "outage" => inject.outage = true,
                _ => return Err(format!("{part:?}: {usage}")),
            }
        }
        if inject.step == 0 {
            return Err(format!("no step: {usage}"));
        }
        if inject.error_rate == 0.0 && inject.extra_latency_ms == 0.0 && !inject.outage {
            return Err(format!("no fault: {usage}"));
        }
        Ok(inject)
    }
}

/// The serverless origin's latency profile, which an injection adds to.
const SERVERLESS_MEDIAN_MS: f64 = 31.0;

pub(crate) struct Process {
    /// Killed when dropped.
    pub(crate) child: Child,
    /// What its first lines said, after each expected prefix.
    pub(crate) addresses: Vec<String>,
}

impl Process {
    pub(crate) fn address(&self) -> &str {
        &self.addresses[0]
    }
}

/// A local run's id (`demo-20261130-101500-123`) and the folder its logs and
/// plan go to: beside a SQLite store, else `.cutover/`.
pub(crate) struct LocalRun {
    pub(crate) dir: PathBuf,
    pub(crate) id: String,
}

impl LocalRun {
    pub(crate) fn new(store: &StoreAt, kind: &str) -> anyhow::Result<LocalRun> {
        let dir = match store {
            StoreAt::Sqlite(path) => {
                path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
            }
            StoreAt::Dynamo(_) => PathBuf::from(".cutover"),
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let id = format!("{kind}-{}-{:03}", crate::now_compact(), cutover_base::clock::unix_ms() % 1000);
        Ok(LocalRun { dir, id })
    }

    /// Where process `name` logs.
    pub(crate) fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.{name}.log", self.id))
    }

    /// The two origins, legacy and serverless, each a process of its own.
    pub(crate) async fn origins(&self) -> anyhow::Result<(Process, Process)> {
        let side = |side: &'static str| async move {
            let line = format!("cutover origin ({side}) listening on http://");
            start(&["origin", "--side", side], &[], &self.log(side), &[&line]).await
        };
        Ok((side("legacy").await?, side("serverless").await?))
    }

    /// The origins and an edge in front of them (recording in slots of
    /// `slot_ms`, keeping `keep`), and the plan's `[target.local]` pointed
    /// at them; the edge reads `plan_text` with the origins' addresses from
    /// `<id>.plan.toml`.
    pub(crate) async fn stage(&self, plan_text: &str, slot_ms: u64, keep: Keep) -> anyhow::Result<Stage> {
        let (legacy, serverless) = self.origins().await?;
        let mut local = Local::new(&legacy, &serverless);
        let plan_path = self.dir.join(format!("{}.plan.toml", self.id));
        std::fs::write(&plan_path, plan_toml(plan_text, &local)?)
            .with_context(|| format!("write {}", plan_path.display()))?;
        let edge = start_edge(&plan_path, slot_ms, keep, &self.log("edge")).await?;
        local.set_edge(&edge);
        Ok(Stage { legacy, serverless, edge, local, plan_path })
    }
}

/// A local run's origins and edge, and where their plan is.
pub(crate) struct Stage {
    pub(crate) legacy: Process,
    pub(crate) serverless: Process,
    /// Its addresses: users', then admin.
    pub(crate) edge: Process,
    pub(crate) local: Local,
    pub(crate) plan_path: PathBuf,
}

/// How long the edge's slots are for a plan run at `speed`: a fifth of a
/// judging interval, in wall time (5 ms to 1 s).
pub(crate) fn slot_ms(plan: &Plan, speed: f64) -> u64 {
    ((plan.guardrails.interval.as_secs_f64() * 1e3 / speed / 5.0).round() as u64).clamp(5, 1000)
}

/// Starts `cutover ARGS...` and reads an address from each of its first
/// lines, which start with `prefixes` in order.
pub(crate) async fn start(
    args: &[&str],
    env: &[(&str, &str)],
    log: &Path,
    prefixes: &[&str],
) -> anyhow::Result<Process> {
    let exe = std::env::current_exe().context("find the cutover binary")?;
    let log_file = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
    let mut child = Command::new(exe)
        .args(args)
        .envs(env.iter().copied())
        .env("CUTOVER_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start cutover {}", args.join(" ")))?;
    let stdout = child.stdout.take().context("its stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut addresses = Vec::new();
    for prefix in prefixes {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .with_context(|| format!("cutover {} did not start within 10 s (see {})", args[0], log.display()))??
            .with_context(|| format!("cutover {} ended at start (see {})", args[0], log.display()))?;
        let address = line.trim().strip_prefix(prefix).with_context(|| format!("unexpected line {line:?}"))?;
        addresses.push(address.to_owned());
    }
    Ok(Process { child, addresses })
}

/// `cutover edge` on free ports for users and admin, in front of `plan`'s
/// upstreams, recording in slots of `slot_ms` and keeping `keep`; its
/// addresses in that order.
pub(crate) async fn start_edge(plan: &Path, slot_ms: u64, keep: Keep, log: &Path) -> anyhow::Result<Process> {
    let (plan, slot, keep) = (plan.to_string_lossy(), slot_ms.to_string(), keep.to_string());
    let mut args = vec!["edge", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--plan", &plan];
    args.extend(["--slot-ms", &slot, "--keep-slots", &keep]);
    start(&args, &[], log, &["cutover edge listening on http://", "cutover edge admin on http://"]).await
}

/// A secret for the demo's own admin token: 16 random bytes, in hex.
pub(crate) fn secret() -> anyhow::Result<String> {
    cutover_base::random::hex::<16>().context("read /dev/urandom")
}

pub async fn run(args: &DemoArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let (text, plan) = match &args.plan {
        Some(path) => crate::plan::load_plan_text(path)?,
        None => (cutover_core::plan::DEFAULT_PLAN.to_owned(), Plan::default_plan()),
    };
    if !(args.speed.is_finite() && args.speed >= 1.0 && args.speed <= 100_000.0) {
        return Err(Failure::input(format!("--speed {}: give a factor from 1 to 100000", args.speed)));
    }
    if !(args.rate.is_finite() && args.rate >= 10.0 && args.rate <= 20_000.0) {
        return Err(Failure::input(format!("--rate {}: give 10 to 20000 requests a second", args.rate)));
    }
    if let Some(inject) = &args.inject {
        if inject.step > plan.schedule.steps.len() {
            return Err(Failure::input(format!(
                "--inject step={}: the plan has {} steps",
                inject.step,
                plan.schedule.steps.len()
            )));
        }
    }
    Ok(demo(args, aws, &text, plan).await?)
}

async fn demo(args: &DemoArgs, aws: &EndpointArgs, plan_text: &str, plan: Plan) -> anyhow::Result<ExitCode> {
    let run = LocalRun::new(&args.store, "demo")?;
    let id = run.id.clone();
    let log = |name: &str| run.log(name);
    // The edge reads its upstreams from the plan; the plan then learns the
    // edge's own addresses, and is written again as the cutover runs it.
    let Stage { legacy, serverless, edge, local, plan_path } =
        run.stage(plan_text, slot_ms(&plan, args.speed), Keep::default()).await?;
    let plan_text = plan_toml(plan_text, &local)?;
    std::fs::write(&plan_path, &plan_text).with_context(|| format!("write {}", plan_path.display()))?;

    // The daemon, with an admin token of the demo's own and a viewer's
    // (the dashboard's read-only link).
    let token = secret()?;
    let viewer = secret()?;
    let tokens = format!("demo admin {token}\nwatcher viewer {viewer}");
    let store_arg = args.store.to_string();
    let mut serve_args = vec!["serve", "--listen", "127.0.0.1:0", "--store", &store_arg, "--lease-ttl", "1"];
    if let Some(url) = &aws.endpoint_url_dynamodb {
        serve_args.extend(["--endpoint-url-dynamodb", url]);
    }
    let serve_env = [("CUTOVER_TOKENS", tokens.as_str())];
    let prefix = ["cutover serve listening on http://"];
    let mut daemon = start(&serve_args, &serve_env, &log("serve"), &prefix).await?;
    let server = format!("http://{}", daemon.address());
    let api = Client::new(&server, Some(token.clone()))?;
    let store = AnyStore::open(&args.store, Open::Create, aws).await?.context("the store")?;
    let create = CreateCutover {
        id: id.clone(),
        plan: plan_text,
        start: true,
        speed: Some(args.speed),
        reason: Some("cutover demo".into()),
        at: None,
    };
    api.create(&create).await.map_err(|e| anyhow::anyhow!("create the cutover through the API: {e}"))?;

    println!(
        "cutover demo {id}: {} steps over {} of plan time at {}x ({} of wall time), {:.0} requests/s",
        plan.schedule.steps.len(),
        format_duration(plan.duration()),
        args.speed,
        format_duration(plan.duration().div_f64(args.speed)),
        args.rate
    );
    println!(
        "  legacy {}  serverless {}  edge {} (admin {})  store {}",
        legacy.address(),
        serverless.address(),
        edge.address(),
        edge.addresses[1],
        args.store
    );
    println!("  control API {server} (try: CUTOVER_SERVER={server} CUTOVER_TOKEN={token} cutover status {id})");
    println!("  dashboard  {server}/#/cutovers/{id}?token={token}");
    println!("  read-only  {server}/#/cutovers/{id}?token={viewer}");
    if let Some(inject) = &args.inject {
        println!("  will inject into serverless at step {}: {}", inject.step, describe(inject));
    }

    let traffic = tokio::spawn(traffic(edge.address().to_owned(), args.rate));
    let started = Instant::now();
    let client = load::client();
    let mut injected = false;
    let mut killed = false;
    let state = loop {
        let state = store.load(&id).await?.map(|s| s.state);
        if let Some(state) = &state {
            if state.phase.is_settled() {
                break state.clone();
            }
        }
        if let Some(status) = daemon.child.try_wait()? {
            bail!("the daemon exited with {status}; see {}", log("serve").display());
        }
        if let (Some(state), Some(step), false) = (&state, args.kill_controller_at_step, killed) {
            if state.step + 1 >= step && state.phase.is_active() {
                daemon.child.kill().await.context("kill the daemon")?;
                killed = true;
                eprintln!(
                    "\r\x1b[2Kkilled the controller (cutover serve, SIGKILL) at step {}; starting it again",
                    state.step + 1
                );
                daemon = start(&serve_args, &serve_env, &log("serve-restarted"), &prefix).await?;
            }
        }
        if let (Some(state), Some(inject), false) = (&state, &args.inject, injected) {
            if state.step + 1 >= inject.step && state.phase == Phase::Progressing {
                inject_fault(&client, serverless.address(), inject).await?;
                injected = true;
                eprintln!("\r\x1b[2Kinjected into serverless at step {}: {}", state.step + 1, describe(inject));
            }
        }
        let recent = recent_window(&client, &edge.addresses[1], &plan, args.speed).await;
        show_progress(state.as_ref(), &plan, recent.as_ref(), started.elapsed());
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    traffic.abort();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    let whole = metrics(&client, &edge.addresses[1], 0, u64::MAX / 2).await;
    report(&store, &state, &plan, whole.as_ref()).await?;
    // The same cutover as a page that opens offline, beside the store.
    let report_path = match &args.store {
        StoreAt::Sqlite(path) => path.parent().unwrap_or(Path::new(".")).join(crate::report::default_path(&id)),
        _ => crate::report::default_path(&id),
    };
    match crate::report::from_store(&store, &id, usize::MAX).await {
        Ok(Some(data)) => match crate::report::write(&data, &report_path) {
            Ok(said) => println!("\n{said}"),
            Err(e) => eprintln!("could not write the report: {e}"),
        },
        Ok(None) => {}
        Err(e) => eprintln!("could not read the cutover for its report: {e}"),
    }
    if args.keep {
        println!("\nstill serving (Ctrl-C to stop): control API {server}, edge http://{}", edge.address());
        println!("  dashboard {server}/#/cutovers/{id}?token={token}");
        println!("  export CUTOVER_SERVER={server} CUTOVER_TOKEN={token}");
        println!("  cutover status {id}; cutover history {id}; cutover rollback {id} --reason \"...\"");
        crate::edge::shutdown_signal().await;
    }
    drop((legacy, serverless, edge, daemon));
    println!("\naudit trail: cutover history {id} --store {}", args.store);
    Ok(ExitCode::from(exit_code(state.phase)))
}

fn describe(inject: &Inject) -> String {
    let mut faults = Vec::new();
    if inject.error_rate > 0.0 {
        faults.push(format!("{}% of requests fail", inject.error_rate * 100.0));
    }
    if inject.extra_latency_ms > 0.0 {
        faults.push(format!("+{} ms latency", inject.extra_latency_ms));
    }
    if inject.outage {
        faults.push("an outage".to_owned());
    }
    faults.join(", ")
}

/// The demo's own addresses for the plan's `[target.local]`.
pub(crate) struct Local {
    pub(crate) legacy: String,
    pub(crate) serverless: String,
    /// The edge's users' and admin addresses, once it listens.
    pub(crate) edge: Option<(String, String)>,
}

impl Local {
    /// Two running origins, no edge yet.
    pub(crate) fn new(legacy: &Process, serverless: &Process) -> Local {
        let url = |p: &Process| format!("http://{}", p.address());
        Local { legacy: url(legacy), serverless: url(serverless), edge: None }
    }

    /// The edge `edge` listens: users' address first, then admin.
    pub(crate) fn set_edge(&mut self, edge: &Process) {
        self.edge = Some((format!("http://{}", edge.addresses[0]), format!("http://{}", edge.addresses[1])));
    }
}

/// The plan with its `[target.local]` pointed at the demo's processes.
pub(crate) fn plan_toml(text: &str, local: &Local) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut in_local = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_local = trimmed.starts_with("[target.local]");
        }
        let key = trimmed.trim_start_matches('#').trim_start().split_once('=').map(|(k, _)| k.trim());
        match key.filter(|_| in_local) {
            Some("legacy_url") => out.push_str(&format!("legacy_url = \"{}\"", local.legacy)),
            Some("serverless_url") => out.push_str(&format!("serverless_url = \"{}\"", local.serverless)),
            Some("edge_url" | "admin_url") => continue,
            _ => out.push_str(line),
        }
        out.push('\n');
        if let (true, Some((edge, admin))) = (trimmed.starts_with("[target.local]"), &local.edge) {
            out.push_str(&format!("edge_url = \"{edge}\"\nadmin_url = \"{admin}\"\n"));
        }
    }
    if Plan::parse(&out).is_err() {
        bail!("the plan with the demo's origins does not parse; does it have a [target.local] table?");
    }
    Ok(out)
}

/// Users' traffic through the edge: reads and writes of the routes that
/// need no backend, from 5000 users, plus 2 % probes pinned to each side.
/// The probes are what the controller's own are, `GET /api/health` on
/// both sides: pinned requests of different kinds on each side would
/// compare one side's writes with the other's reads (each origin keeps its
/// own store, so their 4xx differ for reasons no cutover has).
pub(crate) async fn traffic(edge: String, rate: f64) {
    let client = load::client();
    let make = move |n: u64| {
        let user = format!("user-{}", (n.wrapping_mul(2_654_435_761)) % 5000);
        let probe = n % 50 == 0;
        let (method, path, body) = match n % 20 {
            _ if probe => ("GET", "/api/health".to_owned(), ""), // the controller's probe route
            0 | 1 => ("PUT", format!("/api/users/{user}/context"), r#"{"theme":"dark"}"#),
            2 => ("PUT", format!("/api/workflows/wf-{}/mapping", n % 300), r#"{"ingest":"queue-a"}"#),
            3..=5 => ("GET", format!("/api/workflows/wf-{}/mapping", n % 300), ""),
            6..=8 => ("GET", "/api/health".to_owned(), ""),
            _ => ("GET", format!("/api/users/{user}/context"), ""),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{edge}{path}"))
            .header("x-user-id", &user)
            .header("content-type", "application/json")
            .header("if-none-match", "*");
        if probe {
            request = request.header(PROBE_HEADER, if n % 100 == 0 { "legacy" } else { "serverless" });
        }
        request.body(Full::new(Bytes::from(body))).expect("a valid request")
    };
    // A day of traffic: only counted, so memory stays flat however long it runs.
    let day = Duration::from_secs(24 * 3600);
    load::open_loop(&client, rate, day, Duration::from_secs(10), load::Latencies::CountOnly, make).await;
}

async fn inject_fault(client: &load::LoadClient, origin: &str, inject: &Inject) -> anyhow::Result<()> {
    let faults = serde_json::json!({
        "latency_ms": SERVERLESS_MEDIAN_MS + inject.extra_latency_ms,
        "error_rate": inject.error_rate,
        "outage": inject.outage,
        "cold_start_rate": 0.002,
        "cold_start_ms": 20.0,
    });
    let request = Request::put(format!("http://{origin}/_faults"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(faults.to_string())))?;
    let response = client.request(request).await.context("inject the fault")?;
    if !response.status().is_success() {
        bail!("the serverless origin refused the fault: {}", response.status());
    }
    Ok(())
}

async fn metrics(client: &load::LoadClient, edge: &str, from_ms: u64, to_ms: u64) -> Option<Measurement> {
    let request = Request::get(format!("http://{edge}/_cutover/metrics?from_ms={from_ms}&to_ms={to_ms}"))
        .body(Full::default())
        .ok()?;
    let body = client.request(request).await.ok()?.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

/// The last 30 minutes of plan time, as the edge saw them.
async fn recent_window(client: &load::LoadClient, edge: &str, plan: &Plan, speed: f64) -> Option<Measurement> {
    let span_ms = (plan.guardrails.interval.as_secs_f64() * 30.0 * 1e3 / speed).max(1000.0) as u64;
    let now = cutover_base::clock::unix_ms();
    metrics(client, edge, now.saturating_sub(span_ms), now).await
}

fn figures(sample: &SideSample) -> String {
    let q = |q: f64| sample.latency_ms.quantile(q).map_or("-".to_owned(), |v| format!("{v:.0}"));
    let errors = sample.error_rate().map_or("-".to_owned(), |e| format!("{:.1}%", e * 100.0));
    format!("p50 {:>3} p99 {:>3} ms err {errors:>5}", q(0.5), q(0.99))
}

fn show_progress(state: Option<&CutoverState>, plan: &Plan, recent: Option<&Measurement>, elapsed: Duration) {
    let Some(state) = state else { return };
    let steps = plan.schedule.steps.len();
    let done: Duration = plan.schedule.steps.iter().take(state.step).map(|s| s.hold).sum();
    let fraction = (done.as_secs_f64() / plan.duration().as_secs_f64()).clamp(0.0, 1.0);
    let fraction = if state.phase == Phase::Completed { 1.0 } else { fraction };
    let width = 20;
    let filled = (fraction * width as f64).round() as usize;
    let bar: String = "█".repeat(filled) + &"░".repeat(width - filled);
    let verdict = state.last_verdict.map_or("-", |v| v.as_str());
    let (legacy, serverless) = recent.map_or((String::from("-"), String::from("-")), |m| {
        (
            figures(&m.combined(cutover_core::measure::Side::Legacy)),
            figures(&m.combined(cutover_core::measure::Side::Serverless)),
        )
    });
    let line = format!(
        "{bar} {:>5.1}s  step {}/{steps} {:>5}  {:<22}  verdict {verdict:<12}  legacy {legacy} │ serverless {serverless}",
        elapsed.as_secs_f64(),
        (state.step + 1).min(steps),
        state.weight.to_string(),
        state.phase.to_string(),
    );
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
    } else if elapsed.as_millis() % 5000 < 250 {
        eprintln!("{line}");
    }
}

/// Per step: weight, plan time, samples per side, p50/p99 old vs new,
/// error rates and the last verdict; then the overall before/after.
async fn report(
    store: &AnyStore,
    state: &CutoverState,
    plan: &Plan,
    whole: Option<&Measurement>,
) -> anyhow::Result<()> {
    let history = store.history(&state.id).await?;
    println!("\ncutover {}: {}\n", state.id, state.phase);
    println!(
        "{:>4} {:>6} {:>8}  {:>15}  {:>15}  {:>15}  {:>15}  verdict",
        "step", "weight", "time", "samples old/new", "p50 old → new", "p99 old → new", "errors old → new"
    );
    for (index, step) in plan.schedule.steps.iter().enumerate() {
        let analyses: Vec<_> = history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Analysis { step, analysis, .. } if *step == index => Some((e.at, analysis)),
                _ => None,
            })
            .collect();
        let Some((last_at, last)) = analyses.last() else { continue };
        let first_at = analyses.first().map_or(*last_at, |(at, _)| *at);
        let check = |name: CheckName| last.checks.iter().find(|c| c.check == name);
        let pair = |name: CheckName, unit: &str| {
            check(name).map_or("-".to_owned(), |c| {
                let v = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.0}"));
                format!("{} → {} {unit}", v(c.legacy), v(c.serverless))
            })
        };
        let errors = check(CheckName::ErrorRate).map_or("-".to_owned(), |c| {
            let v = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.1}%"));
            format!("{} → {}", v(c.legacy), v(c.serverless))
        });
        let span = last_at.since(first_at) + plan.guardrails.interval;
        println!(
            "{:>4} {:>6} {:>8}  {:>15}  {:>15}  {:>15}  {:>15}  {}",
            index + 1,
            step.weight.to_string(),
            format_duration(Duration::from_secs(span.as_secs() / 60 * 60)),
            format!("{}/{}", last.samples.legacy, last.samples.serverless),
            pair(CheckName::LatencyP50, "ms"),
            pair(CheckName::LatencyP99, "ms"),
            errors,
            last.verdict.as_str(),
        );
    }
    if let Some(failed) = history.iter().rev().find_map(|e| match &e.kind {
        EventKind::Analysis { analysis, .. } if analysis.verdict.as_str() == "fail" => Some(analysis),
        _ => None,
    }) {
        println!("\nthe verdict that rolled it back:");
        for check in failed.checks.iter().filter(|c| c.verdict.as_str() == "fail") {
            println!("  {}: {}", check.check.as_str(), check.reason);
        }
    }
    if let Some(whole) = whole {
        let p50 = |s: &SideSample| s.latency_ms.quantile(0.5).map_or("-".to_owned(), |v| format!("{v:.0} ms"));
        let p99 = |s: &SideSample| s.latency_ms.quantile(0.99).map_or("-".to_owned(), |v| format!("{v:.0} ms"));
        let (old, new) = (&whole.traffic.legacy, &whole.traffic.serverless);
        let errors = |s: &SideSample| s.error_rate().map_or("-".to_owned(), |e| format!("{:.2}%", e * 100.0));
        println!(
            "\nbefore → after (users' requests through the edge): p50 {} → {}, p99 {} → {}, errors {} → {}; {} + {} requests",
            p50(old),
            p50(new),
            p99(old),
            p99(new),
            errors(old),
            errors(new),
            old.requests,
            new.requests
        );
    }
    let weight = if state.weight == Weight::ZERO { "0% (all users on legacy)" } else { "" };
    if !weight.is_empty() {
        println!("edge weight now: {weight}");
    }
    Ok(())
}
