//! `cutover run ID`: the controller for one cutover in local mode. Creates
//! the cutover in the store if it is new (with its plan and time scale),
//! or resumes it as recorded, and drives it until it settles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cutover_core::engine::{CutoverState, Phase};
use cutover_core::judge::SequentialJudge;
use cutover_core::plan::{Edge as EdgeTarget, Plan};
use cutover_core::ports::Clock;
use cutover_core::store::{Request, Store, StoreError};
use cutover_local::{LocalEdgePort, LocalMetricsPort};

use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};
use cutover_aws::{Clients, CloudWatchMetrics, EdgeProbe, KvsEdge, Verified, Verifier, XRaySource};
use cutover_core::measure::PerSide;
use cutover_core::plan::MetricSources;
use cutover_runtime::{Driver, DriverError, ScaledClock, Settings, Webhooks};

use crate::EXIT_INPUT;

/// Exit code of a cutover that ended rolled back.
pub const EXIT_ROLLED_BACK: u8 = 3;
/// Exit code of a cutover that an operator aborted.
pub const EXIT_ABORTED: u8 = 4;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The cutover's id (created if the store has none by that name).
    pub id: String,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    /// The plan of a new cutover (a resumed one keeps its recorded plan); the default plan when left out.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Run a new cutover's clock this many times faster than real time (a rehearsal).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// The local edge to drive ([target.local]); for [target.cloudfront], where verification probes go
    /// (the distribution's own domain when left out).
    #[arg(long)]
    pub edge: Option<String>,
    /// A GET route both sides serve, for the verification probes.
    #[arg(long, default_value = "/api/health")]
    pub probe_path: String,
    /// Start a new cutover at once (otherwise it waits, Pending, for `start`).
    #[arg(long)]
    pub start: bool,
    /// How long the lease outlives this process if it dies, in wall-clock seconds.
    #[arg(long, default_value_t = 15.0)]
    pub lease_ttl: f64,
}

pub fn operator() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "operator".into())
}

pub fn run(args: &RunArgs, aws: &EndpointArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 100_000.0) {
        eprintln!("error: --speed {}: give a factor from above 0 to 100000 (1 is real time)", args.speed);
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    if !(args.lease_ttl.is_finite() && (0.3..=600.0).contains(&args.lease_ttl)) {
        eprintln!("error: --lease-ttl {}: give 0.3 to 600 seconds", args.lease_ttl);
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async {
        let store = AnyStore::open(&args.store, Open::Create, aws).await?.context("the store")?;
        let (plan, scale) = match store.load(&args.id).await? {
            Some(stored) => match Plan::parse(&stored.plan) {
                Ok(plan) => (plan, stored.time),
                Err(e) => anyhow::bail!("the recorded plan of {} no longer parses: {e}", args.id),
            },
            None => {
                let (text, plan) = match read_plan(args.plan.as_deref()) {
                    Ok(p) => p,
                    Err(code) => return Ok(code),
                };
                let scale = ScaledClock::starting_now(args.speed);
                let now = ScaledClock::new(scale).now();
                store.create(&text, scale, &CutoverState::new(&args.id, now), &[]).await?;
                tracing::info!(cutover = %args.id, speed = args.speed, "cutover created");
                (plan, scale)
            }
        };
        if matches!(plan.target.edge, EdgeTarget::CloudFront(_)) && scale.speed != 1.0 {
            eprintln!(
                "error: --speed {}: a CloudFront target runs at real time (CloudWatch's clock is the wall's)",
                scale.speed
            );
            return Ok(ExitCode::from(EXIT_INPUT));
        }
        if args.start {
            let request = Request {
                seq: 0,
                command: "start".into(),
                actor: operator(),
                reason: None,
                at: ScaledClock::new(scale).now(),
            };
            store.send(&args.id, &request).await?;
        }
        let clock = ScaledClock::new(scale);
        let settings = Settings {
            poll: Duration::from_millis(100),
            lease_ttl: Duration::from_secs_f64(args.lease_ttl),
            ..Settings::default()
        };
        let outcome =
            match drive(&store, &plan, clock, settings, &args.id, args.edge.as_deref(), &args.probe_path, aws).await? {
                Ok(outcome) => outcome,
                Err(code) => return Ok(code),
            };
        match outcome {
            Ok(state) => {
                println!("cutover {}: {}", args.id, state.phase);
                Ok(ExitCode::from(exit_code(state.phase)))
            }
            Err(e @ (DriverError::LeaseLost { .. } | DriverError::LeaseHeld { .. })) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// Drives cutover `id` against the plan's target: the local edge and its
/// metrics, or the KeyValueStore and CloudWatch; weight changes verified by
/// probes through the edge either way. `Err(code)`: bad input, said.
#[allow(clippy::too_many_arguments)]
async fn drive(
    store: &AnyStore,
    plan: &Plan,
    clock: ScaledClock,
    settings: Settings,
    id: &str,
    edge: Option<&str>,
    probe_path: &str,
    aws: &EndpointArgs,
) -> anyhow::Result<Result<Result<CutoverState, DriverError>, ExitCode>> {
    let outcome = match &plan.target.edge {
        EdgeTarget::Local(_) => {
            let edge_url = edge.map(str::to_owned).unwrap_or_else(|| "http://127.0.0.1:8080".into());
            let verifier = verifier(plan, &edge_url, probe_path, Duration::from_secs(10));
            let driver = Driver {
                store: store.clone(),
                edge: Verified::new(LocalEdgePort::new(&edge_url), verifier),
                metrics: LocalMetricsPort::new(&edge_url, clock),
                notifier: Webhooks::new(&plan.notify.webhooks),
                clock,
                settings,
            };
            driver.run(id, plan, SequentialJudge::new).await
        }
        EdgeTarget::CloudFront(target) => {
            let Some(sources) = plan.target.metrics.clone() else {
                eprintln!(
                    "error: a [target.cloudfront] plan needs [target.metrics] (where CloudWatch finds both sides)"
                );
                return Ok(Err(ExitCode::from(EXIT_INPUT)));
            };
            let clients = Clients::new(&aws.endpoints()).await;
            let edge_url = match edge {
                Some(url) => url.to_owned(),
                None => {
                    let out = clients.cloudfront.get_distribution().id(&target.distribution_id).send().await;
                    match out.ok().and_then(|o| o.distribution).map(|d| d.domain_name().to_owned()) {
                        Some(domain) => format!("https://{domain}"),
                        None => anyhow::bail!(
                            "cannot read distribution {}: run `cutover preflight` for what is missing",
                            target.distribution_id
                        ),
                    }
                }
            };
            let kvs = KvsEdge::new(clients.keyvaluestore.clone(), &target.kvs_arn, &target.weight_key);
            let driver = Driver {
                store: store.clone(),
                edge: Verified::new(kvs, verifier(plan, &edge_url, probe_path, Duration::from_secs(120))),
                metrics: metrics_for(&clients, sources).with_edge_probe(EdgeProbe::new(
                    &edge_url,
                    probe_path,
                    EDGE_PROBES_PER_SIDE,
                )),
                notifier: Webhooks::new(&plan.notify.webhooks),
                clock,
                settings,
            };
            driver.run(id, plan, SequentialJudge::new).await
        }
    };
    Ok(Ok(outcome))
}

/// Probes per side through the distribution with each window read: the
/// breakdown's `edge` hop (p50/p99 over these).
const EDGE_PROBES_PER_SIDE: usize = 10;

/// CloudWatch, with X-Ray's latencies when the plan names both sides' services.
fn metrics_for(clients: &Clients, sources: MetricSources) -> CloudWatchMetrics {
    let services = sources.xray_legacy_service.clone().zip(sources.xray_serverless_service.clone());
    let metrics = CloudWatchMetrics::new(clients.cloudwatch.clone(), sources);
    match services {
        Some((legacy, serverless)) => {
            metrics.with_xray(XRaySource::new(clients.xray.clone(), PerSide { legacy, serverless }))
        }
        None => metrics,
    }
}

/// Probes through `edge_url` with the plan's cohort key and salt.
fn verifier(plan: &Plan, edge_url: &str, path: &str, max_wait: Duration) -> Verifier {
    Verifier {
        base: edge_url.to_owned(),
        path: path.to_owned(),
        cohort: plan.target.cohort.clone(),
        salt: plan.target.salt.clone(),
        max_wait,
    }
}

/// 0 completed, 3 rolled back, 4 aborted.
pub fn exit_code(phase: Phase) -> u8 {
    match phase {
        Phase::Completed => 0,
        Phase::RolledBack { .. } => EXIT_ROLLED_BACK,
        Phase::Aborted => EXIT_ABORTED,
        _ => 1,
    }
}

/// The plan's text and its parse; problems are printed and exit 2.
fn read_plan(path: Option<&Path>) -> Result<(String, Plan), ExitCode> {
    let Some(path) = path else {
        return Ok((cutover_core::plan::DEFAULT_PLAN.to_owned(), Plan::default_plan()));
    };
    crate::load_plan_text(path)
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The cutover to roll back.
    pub id: String,
    /// Why, for the audit trail and the people reading it.
    #[arg(long)]
    pub reason: String,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    /// The local edge, driven by this command itself when no controller is running; for
    /// [target.cloudfront], where verification probes go (the distribution's domain when left out).
    #[arg(long)]
    pub edge: Option<String>,
    /// A GET route both sides serve, for the verification probes.
    #[arg(long, default_value = "/api/health")]
    pub probe_path: String,
}

/// Sends the rollback to the cutover's inbox. A running controller takes
/// it within its poll; with none running, this command takes the lease and
/// drives the rollback itself until the edge confirms 0 %.
pub fn rollback(args: &RollbackArgs, aws: &EndpointArgs) -> anyhow::Result<ExitCode> {
    if args.reason.trim().is_empty() {
        eprintln!("error: --reason is empty: say why, for the audit trail");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async {
        let (store, stored) = match open_cutover(&args.store, &args.id, aws).await? {
            Ok(found) => found,
            Err(code) => return Ok(code),
        };
        let clock = ScaledClock::new(stored.time);
        let request = Request {
            seq: 0,
            command: "rollback".into(),
            actor: operator(),
            reason: Some(args.reason.clone()),
            at: clock.now(),
        };
        store.send(&args.id, &request).await?;
        println!("rollback of {} sent by {} ({})", args.id, request.actor, args.reason);
        let settings = Settings { poll: Duration::from_millis(100), ..Settings::default() };
        let state = match store.acquire(&args.id, &settings.holder, crate::unix_timestamp(), settings.lease_ttl).await {
            // A controller is running: it takes the command; wait for the outcome.
            Err(StoreError::LeaseHeld { holder, .. }) => {
                println!("the running controller ({holder}) takes it; waiting for the edge to confirm 0%");
                wait_settled(&store, &args.id, Duration::from_secs(120)).await?
            }
            Err(e) => return Err(e.into()),
            // None is running: drive the rollback here, against the edge.
            Ok(_) => {
                let plan = Plan::parse(&stored.plan)
                    .map_err(|e| anyhow::anyhow!("the recorded plan of {} no longer parses: {e}", args.id))?;
                let edge = args.edge.as_deref();
                let rollback = drive(&store, &plan, clock, settings, &args.id, edge, &args.probe_path, aws);
                match tokio::time::timeout(Duration::from_secs(180), rollback).await {
                    Ok(Ok(Ok(Ok(state)))) => state,
                    Ok(Ok(Ok(Err(e)))) => return Err(e.into()),
                    Ok(Ok(Err(code))) => return Ok(code),
                    Ok(Err(e)) => return Err(e),
                    Err(_) => {
                        anyhow::bail!("the rollback did not settle within 3 minutes; see `cutover history {}`", args.id)
                    }
                }
            }
        };
        println!("cutover {}: {}", args.id, state.phase);
        Ok(ExitCode::from(if matches!(state.phase, Phase::RolledBack { .. } | Phase::Aborted) { 0 } else { 1 }))
    })
}

/// The existing store at `at` and cutover `id` in it; `Err(code)` when
/// either is missing, said on stderr with the fix.
async fn open_cutover(
    at: &StoreAt,
    id: &str,
    aws: &EndpointArgs,
) -> anyhow::Result<Result<(AnyStore, cutover_core::store::Stored), ExitCode>> {
    let Some(store) = AnyStore::open(at, Open::Existing, aws).await? else {
        eprintln!("error: no store at {at}; pass --store (or set CUTOVER_STORE)");
        return Ok(Err(ExitCode::from(EXIT_INPUT)));
    };
    let Some(stored) = store.load(id).await? else {
        eprintln!("error: no cutover {id} in {at}; `cutover history` lists them");
        return Ok(Err(ExitCode::from(EXIT_INPUT)));
    };
    Ok(Ok((store, stored)))
}

/// Polls the store until the cutover is RolledBack, Completed or Aborted.
async fn wait_settled(store: &AnyStore, id: &str, limit: Duration) -> anyhow::Result<CutoverState> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let state = store.load(id).await?.map(|s| s.state).context("the cutover disappeared from the store")?;
        if matches!(state.phase, Phase::RolledBack { .. } | Phase::Completed | Phase::Aborted) {
            return Ok(state);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "cutover {id} is still {} after {} s; see `cutover history {id}`",
                state.phase,
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(clap::Args)]
pub struct CommandArgs {
    /// The cutover.
    pub id: String,
    /// Why, for the audit trail.
    #[arg(long)]
    pub reason: Option<String>,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
}

/// Queues `start`, `pause`, `resume`, `promote` or `abort` in the cutover's
/// inbox; its controller (running now, or the next `cutover run ID`) takes
/// it and records the outcome in the audit trail.
pub fn send_command(args: &CommandArgs, command: &str, aws: &EndpointArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(async {
        let (store, stored) = match open_cutover(&args.store, &args.id, aws).await? {
            Ok(found) => found,
            Err(code) => return Ok(code),
        };
        let request = Request {
            seq: 0,
            command: command.into(),
            actor: operator(),
            reason: args.reason.clone(),
            at: ScaledClock::new(stored.time).now(),
        };
        let seq = store.send(&args.id, &request).await?;
        println!(
            "{command} of {} queued (#{seq}) by {}; its controller takes it within a second \
             (`cutover history {}` shows what it did)",
            args.id, request.actor, args.id
        );
        Ok(ExitCode::SUCCESS)
    })
}
