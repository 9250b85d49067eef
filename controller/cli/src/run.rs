//! `cutover run ID`: the controller for one cutover, in the foreground.
//! Creates the cutover in the store if it is new (with its plan and time
//! scale), or resumes it as recorded, and drives it until it settles. Also
//! the operators' commands (`start`, `pause`, `resume`, `promote`,
//! `rollback`, `abort`) and `status`: through a daemon with `--server`, or
//! on the store directly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cutover_core::engine::{Command, CutoverState, Phase};
use cutover_core::plan::Plan;
use cutover_core::ports::Clock;
use cutover_core::store::{Request, Store, StoreError, Stored};
use cutover_core::units::Timestamp;
use cutover_runtime::{ScaledClock, Settings};

use crate::client::{Client, ServerArgs};
use crate::create::{self, New};
use crate::drive::{drive, Controller};
use crate::failure::{Failure, EXIT_ABORTED, EXIT_ROLLED_BACK};
use crate::history::Output;
use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};
use crate::view::{latest_analysis, CutoverView};

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
    /// Where verification probes go: the plan's [target.local] edge_url when left out; for
    /// [target.cloudfront], the distribution's own domain.
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

pub async fn run(args: &RunArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    if !(args.lease_ttl.is_finite() && (0.3..=600.0).contains(&args.lease_ttl)) {
        return Err(Failure::input(format!("--lease-ttl {}: give 0.3 to 600 seconds", args.lease_ttl)));
    }
    let store = AnyStore::open(&args.store, Open::Create, aws).await?.context("the store")?;
    let (plan, scale) = match store.load(&args.id).await? {
        Some(stored) => {
            let plan = Plan::parse_stored(&stored.plan)
                .map_err(|e| anyhow::anyhow!("the recorded plan of {} no longer parses: {e}", args.id))?;
            if args.start {
                let at = ScaledClock::new(stored.time).now();
                let request = Request { seq: 0, command: Command::Start, actor: operator(), reason: None, at };
                store.send(&args.id, &request).await?;
            }
            (plan, stored.time)
        }
        None => {
            let (text, plan) = read_plan(args.plan.as_deref())?;
            create::check_flags(&plan, args.speed, None)?;
            let actor = operator();
            let new = New {
                id: &args.id,
                plan: &text,
                speed: args.speed,
                at: None,
                start: args.start,
                actor: &actor,
                reason: None,
            };
            let scale = create::create(&store, new).await?;
            tracing::info!(cutover = %args.id, speed = args.speed, "cutover created");
            (plan, scale)
        }
    };
    let settings = Settings {
        poll: Duration::from_millis(100),
        lease_ttl: Duration::from_secs_f64(args.lease_ttl),
        ..Settings::default()
    };
    let reach = Controller { settings, edge: args.edge.clone(), probe_path: args.probe_path.clone(), aws: aws.clone() };
    let clock = ScaledClock::new(scale);
    let state = drive(&store, &args.id, &plan, clock, &reach, None, std::future::pending()).await?;
    println!("cutover {}: {}", args.id, state.phase);
    Ok(ExitCode::from(exit_code(state.phase)))
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

/// The plan's text and its parse (the default plan when left out).
fn read_plan(path: Option<&Path>) -> Result<(String, Plan), Failure> {
    let Some(path) = path else {
        return Ok((cutover_core::plan::DEFAULT_PLAN.to_owned(), Plan::default_plan()));
    };
    crate::plan::load_plan_text(path)
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
    /// Where verification probes go when this command drives the rollback itself (no controller
    /// running): the plan's edge_url, or for [target.cloudfront] the distribution's domain, when left out.
    #[arg(long)]
    pub edge: Option<String>,
    /// A GET route both sides serve, for the verification probes.
    #[arg(long, default_value = "/api/health")]
    pub probe_path: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How long a rollback may take to settle before the command gives up
/// waiting (the rollback itself goes on).
const ROLLBACK_WAIT: Duration = Duration::from_secs(180);

/// Sends the rollback: to the daemon with `--server`, else to the
/// cutover's inbox. A running controller takes it within its poll; with
/// none running, this command takes the lease and drives the rollback
/// itself until the edge confirms 0 %. Waits for the outcome either way.
pub async fn rollback(args: &RollbackArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    if args.reason.trim().is_empty() {
        return Err(Failure::input("--reason is empty: say why, for the audit trail"));
    }
    if let Some(client) = Client::from_args(&args.server)? {
        let sent = client.command(&args.id, Command::Rollback, &args.reason).await?;
        println!("rollback of {} sent to {} by {} (#{})", args.id, client.base(), sent.actor, sent.seq);
        let view = wait_settled_remote(&client, &args.id, ROLLBACK_WAIT).await?;
        println!("cutover {}: {}", args.id, view.phase);
        return Ok(ExitCode::from(if matches!(view.phase.as_str(), "rolled_back" | "aborted") { 0 } else { 1 }));
    }
    let (store, stored) = open_cutover(&args.store, &args.id, aws).await?;
    let clock = ScaledClock::new(stored.time);
    let request = Request {
        seq: 0,
        command: Command::Rollback,
        actor: operator(),
        reason: Some(args.reason.clone()),
        at: clock.now(),
    };
    store.send(&args.id, &request).await?;
    println!("rollback of {} sent by {} ({})", args.id, request.actor, args.reason);
    let settings = Settings { poll: Duration::from_millis(100), ..Settings::default() };
    let state = match store.acquire(&args.id, &settings.holder, cutover_runtime::system_now(), settings.lease_ttl).await
    {
        // A controller is running: it takes the command; wait for the outcome.
        Err(StoreError::LeaseHeld { holder, .. }) => {
            println!("the running controller ({holder}) takes it; waiting for the edge to confirm 0%");
            wait_settled(&store, &args.id, ROLLBACK_WAIT).await?
        }
        Err(e) => return Err(e.into()),
        // None is running: drive the rollback here, against the edge.
        Ok(lease) => {
            let plan = Plan::parse_stored(&stored.plan)
                .map_err(|e| anyhow::anyhow!("the recorded plan of {} no longer parses: {e}", args.id))?;
            let reach =
                Controller { settings, edge: args.edge.clone(), probe_path: args.probe_path.clone(), aws: aws.clone() };
            let rollback = drive(&store, &args.id, &plan, clock, &reach, Some(lease), std::future::pending());
            match tokio::time::timeout(ROLLBACK_WAIT, rollback).await {
                Ok(state) => state?,
                Err(_) => {
                    return Err(anyhow::anyhow!(
                        "the rollback did not settle within 3 minutes; see `cutover history {}`",
                        args.id
                    )
                    .into())
                }
            }
        }
    };
    println!("cutover {}: {}", args.id, state.phase);
    Ok(ExitCode::from(if matches!(state.phase, Phase::RolledBack { .. } | Phase::Aborted) { 0 } else { 1 }))
}

/// The existing store at `at` and cutover `id` in it.
async fn open_cutover(at: &StoreAt, id: &str, aws: &EndpointArgs) -> Result<(AnyStore, Stored), Failure> {
    let Some(store) = AnyStore::open(at, Open::Existing, aws).await? else {
        return Err(Failure::input(format!("no store at {at}; pass --store (or set CUTOVER_STORE)")));
    };
    let Some(stored) = store.load(id).await? else {
        return Err(Failure::input(format!("no cutover {id} in {at}; `cutover history` lists them")));
    };
    Ok((store, stored))
}

/// Polls the store until the cutover is RolledBack, Completed or Aborted.
async fn wait_settled(store: &AnyStore, id: &str, limit: Duration) -> Result<CutoverState, Failure> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let state = store.load(id).await?.map(|s| s.state).context("the cutover disappeared from the store")?;
        if state.phase.is_settled() {
            return Ok(state);
        }
        if tokio::time::Instant::now() >= deadline {
            let (phase, secs) = (state.phase, limit.as_secs());
            return Err(
                anyhow::anyhow!("cutover {id} is still {phase} after {secs} s; see `cutover history {id}`").into()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the daemon until the cutover is rolled back, completed or aborted.
async fn wait_settled_remote(client: &Client, id: &str, limit: Duration) -> Result<CutoverView, Failure> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let view = client.get(id).await?;
        if matches!(view.phase.as_str(), "rolled_back" | "completed" | "aborted") {
            return Ok(view);
        }
        if tokio::time::Instant::now() >= deadline {
            let (phase, secs) = (&view.phase, limit.as_secs());
            return Err(
                anyhow::anyhow!("cutover {id} is still {phase} after {secs} s; see `cutover history {id}`").into()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(clap::Args, Clone)]
pub struct CommandArgs {
    /// The cutover.
    pub id: String,
    /// Why, for the audit trail (required through a daemon).
    #[arg(long)]
    pub reason: Option<String>,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Sends `start`, `pause`, `resume`, `promote` or `abort`: to the daemon
/// with `--server` (as the token's name), else to the cutover's inbox in
/// the store, where its controller (running now, or the next one) takes it
/// and records the outcome in the audit trail.
pub async fn send_command(args: &CommandArgs, command: Command, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let name = command.as_str();
    if args.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(Failure::input("--reason is empty: say why, or leave it out"));
    }
    if let Some(client) = Client::from_args(&args.server)? {
        let Some(reason) = args.reason.as_deref() else {
            return Err(Failure::input(format!("--reason: say why the cutover should {name}; the daemon records it")));
        };
        let sent = client.command(&args.id, command, reason).await?;
        println!(
            "{name} of {} accepted by {} (#{}, as {}); `cutover status {}` shows what it did",
            args.id,
            client.base(),
            sent.seq,
            sent.actor,
            args.id
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (store, stored) = open_cutover(&args.store, &args.id, aws).await?;
    let at = ScaledClock::new(stored.time).now();
    let request = Request { seq: 0, command, actor: operator(), reason: args.reason.clone(), at };
    let seq = store.send(&args.id, &request).await?;
    println!(
        "{name} of {} queued (#{seq}) by {}; its controller takes it within a second \
         (`cutover history {}` shows what it did)",
        args.id, request.actor, args.id
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// The cutover.
    pub id: String,
    /// Create the cutover from this plan first (the id must be new); without it, start an existing one.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// With --plan: start by itself at this time, RFC 3339 UTC (e.g. 2026-12-01T02:00:00Z); shown as
    /// scheduled until then; a time inside a freeze window waits for its end.
    #[arg(long, requires = "plan")]
    pub at: Option<String>,
    /// With --plan: run its clock this many times faster than real time (a rehearsal, local targets).
    #[arg(long, requires = "plan", default_value_t = 1.0)]
    pub speed: f64,
    /// Why, for the audit trail (required through a daemon).
    #[arg(long)]
    pub reason: Option<String>,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `cutover start ID`: starts an existing cutover, or with `--plan` creates
/// it and starts it now or `--at` a time, through the daemon or the store.
pub async fn start(args: &StartArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let Some(path) = &args.plan else {
        let command = CommandArgs {
            id: args.id.clone(),
            reason: args.reason.clone(),
            store: args.store.clone(),
            server: args.server.clone(),
        };
        return send_command(&command, Command::Start, aws).await;
    };
    let (text, plan) = crate::plan::load_plan_text(path)?;
    if let Some(client) = Client::from_args(&args.server)? {
        let create = crate::api::CreateCutover {
            id: args.id.clone(),
            plan: text,
            start: args.at.is_none(),
            speed: Some(args.speed),
            reason: args.reason.clone(),
            at: args.at.clone(),
        };
        let view = client.create(&create).await?;
        print!("{view}");
        return Ok(ExitCode::SUCCESS);
    }
    let at = args
        .at
        .as_deref()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|e| Failure::input(format!("--at {e}")))?;
    create::check_flags(&plan, args.speed, at)?;
    let store = AnyStore::open(&args.store, Open::Create, aws).await?.context("the store")?;
    let actor = operator();
    let new = New {
        id: &args.id,
        plan: &text,
        speed: args.speed,
        at,
        start: at.is_none(),
        actor: &actor,
        reason: args.reason.clone(),
    };
    match create::create(&store, new).await {
        Err(StoreError::Exists(id)) => {
            return Err(Failure::input(format!("cutover {id} exists already; leave --plan out to start it")))
        }
        other => other?,
    };
    match at {
        Some(at) => println!("cutover {} created, scheduled by {actor} to start at {at}", args.id),
        None => println!("cutover {} created and started by {actor}", args.id),
    }
    println!("a controller drives it: `cutover serve` on this store, or `cutover run {}`", args.id);
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The cutover.
    pub id: String,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    /// A table for people or JSON for scripts (the API's own shape).
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// One cutover as `GET /v1/cutovers/{id}` gives it: from the daemon, or
/// built the same way from the store.
pub async fn status(args: &StatusArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let view = match Client::from_args(&args.server)? {
        Some(client) => client.get(&args.id).await?,
        None => {
            let (store, stored) = open_cutover(&args.store, &args.id, aws).await?;
            let (latest, _) = latest_analysis(&store, &args.id, None, None).await?;
            CutoverView::new(&stored, latest.as_ref())
        }
    };
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&view).context("encode the view")?),
        Output::Table => print!("{view}"),
    }
    Ok(ExitCode::SUCCESS)
}
