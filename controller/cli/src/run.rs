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
use cutover_runtime::{Driver, DriverError, ScaledClock, Settings};

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
    /// The local edge to drive.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub edge: String,
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
        if !matches!(plan.target.edge, EdgeTarget::Local(_)) {
            eprintln!("error: the plan's target is CloudFront; `cutover run` drives a local edge ([target.local])");
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
        let driver = Driver {
            store: store.clone(),
            edge: LocalEdgePort::new(&args.edge),
            metrics: LocalMetricsPort::new(&args.edge, clock),
            clock,
            settings: Settings {
                poll: Duration::from_millis(100),
                lease_ttl: Duration::from_secs_f64(args.lease_ttl),
                ..Settings::default()
            },
        };
        match driver.run(&args.id, &plan, SequentialJudge::new).await {
            Ok(state) => {
                println!("cutover {}: {}", args.id, state.phase);
                Ok(ExitCode::from(exit_code(state.phase)))
            }
            Err(DriverError::LeaseLost(id)) => {
                eprintln!("cutover {id}: another controller took over; this one stopped");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
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
    /// The local edge, driven by this command itself when no controller is running.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub edge: String,
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
        let Some(store) = AnyStore::open(&args.store, Open::Existing, aws).await? else {
            eprintln!("error: no store at {}; pass --store (or set CUTOVER_STORE)", args.store);
            return Ok(ExitCode::from(EXIT_INPUT));
        };
        let Some(stored) = store.load(&args.id).await? else {
            eprintln!("error: no cutover {} in {}; `cutover history` lists them", args.id, args.store);
            return Ok(ExitCode::from(EXIT_INPUT));
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
                let driver = Driver {
                    store: store.clone(),
                    edge: LocalEdgePort::new(&args.edge),
                    metrics: LocalMetricsPort::new(&args.edge, clock),
                    clock,
                    settings,
                };
                match tokio::time::timeout(Duration::from_secs(120), driver.run(&args.id, &plan, SequentialJudge::new))
                    .await
                {
                    Ok(Ok(state)) => state,
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => {
                        anyhow::bail!("the rollback did not settle within 2 minutes; see `cutover history {}`", args.id)
                    }
                }
            }
        };
        println!("cutover {}: {}", args.id, state.phase);
        Ok(ExitCode::from(if matches!(state.phase, Phase::RolledBack { .. } | Phase::Aborted) { 0 } else { 1 }))
    })
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
