//! `cutover`: the command line. Thin by design: it parses arguments, starts
//! one async runtime, hands each subcommand to its module, and turns a
//! [`Failure`] into its exit code (in `failure.rs`, the one place that
//! decides them).

// Two calls into libc need it (SIGPIPE, sysconf), each allowed where it is.
#![deny(unsafe_code)]

mod advise;
mod api;
mod bench;
mod bench_daemon;
mod bench_memory;
mod client;
mod create;
mod dashboard;
mod demo;
mod drive;
mod edge;
mod failure;
mod history;
mod origin;
mod page;
mod plan;
mod preflight;
mod report;
mod run;
mod series;
mod serve;
mod simulate;
mod soak;
mod stores;
mod tls;
mod tokens;
mod view;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use cutover_core::engine::Command;
use cutover_core::plan::Plan;

use crate::failure::Failure;

#[derive(Parser)]
#[command(
    name = "cutover",
    version,
    about = "Move a live HTTP API from one backend to another, step by step, with automatic rollback."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    #[command(flatten)]
    aws: stores::EndpointArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write, check and show plan files.
    #[command(subcommand)]
    Plan(plan::PlanCmd),
    /// Run whole cutovers on a virtual clock against simulated traffic.
    Simulate(simulate::SimulateArgs),
    /// Benchmarks (printed as tables).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Dashboards as code: the CloudWatch dashboard body for a plan's AWS target.
    #[command(subcommand)]
    Dashboard(dashboard::DashboardCmd),
    /// List the cutovers, or show one's audit trail (from the store, or a daemon with --server).
    History(history::HistoryArgs),
    /// One cutover live: weight, step, the next step, both sides' numbers and each check's evidence.
    Status(run::StatusArgs),
    /// One cutover live in the terminal: weight, sparklines of both sides, the checks, events; keys to pause and roll back.
    Watch(watch::WatchArgs),
    /// Write one cutover as a self-contained HTML report (charts, steps, every event, the hash chain's head).
    Report(report::ReportArgs),
    /// A whole cutover on this machine: origins, edge, the daemon and traffic, on a compressed clock.
    Demo(demo::DemoArgs),
    /// Kill the leading daemon replica 50 times (and stop it past its lease) during a compressed
    /// cutover; then check that nothing was lost, decided twice or left unsent, and report.
    Soak(soak::SoakArgs),
    /// Drive one cutover in the foreground until it settles (exit 0 completed, 3 rolled back, 4 aborted).
    Run(run::RunArgs),
    /// Roll a cutover back to 0 %: through the running controller, or by itself when none runs.
    Rollback(run::RollbackArgs),
    /// Start a Pending (or rolled-back) cutover; with --plan, create one and start it now or --at a time.
    Start(run::StartArgs),
    /// Hold the current step (rollbacks still happen).
    Pause(run::CommandArgs),
    /// Go on after a pause; after drift, accept the weight found and apply the step's over it.
    Resume(run::CommandArgs),
    /// Skip the rest of the current step's hold (never past a failing verdict).
    Promote(run::CommandArgs),
    /// Stop for good at 0 %.
    Abort(run::CommandArgs),
    /// Check a CloudFront target before a real cutover: a line per check, each failure with its fix.
    Preflight(preflight::PreflightArgs),
    /// Run one of the local demo's origins (legacy or serverless), with fault knobs.
    Origin(origin::OriginArgs),
    /// The control-plane daemon: leads every cutover in its store whose lease it can take, and
    /// serves the control API (/v1), /metrics, /healthz and /readyz.
    Serve(serve::ServeArgs),
    /// Run the local weighted edge in front of the plan's [target.local] upstreams.
    Edge {
        /// The plan (its target's upstreams, cohort key and salt); the default plan when left out.
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Where users' requests arrive (port 0 picks a free one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Where the controller reads and sets the weight and reads the metrics: never the users' port.
        #[arg(long, default_value = "127.0.0.1:8079")]
        admin_listen: std::net::SocketAddr,
        /// Recording granularity in milliseconds: metric windows are whole slots.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        slot_ms: u64,
        /// Slots kept: FINE as recorded, then COARSE more merged 60 to one. Bounds the edge's
        /// memory; the default keeps a 48 h cutover and its lookback at 1 s slots.
        #[arg(long, value_name = "FINE,COARSE", default_value_t)]
        keep_slots: cutover_local::Keep,
    },
}

fn main() -> ExitCode {
    // `cutover history | head` must end quietly when head has read enough,
    // as other Unix tools do, not panic on the closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal before any thread
    // starts; nothing else in the process handles SIGPIPE.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cutover_base::logs::init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Other(anyhow::Error::from(e).context("start the async runtime")).exit(),
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(failure) => failure.exit(),
    }
}

/// Every subcommand, each in its own module.
async fn dispatch(cli: Cli) -> Result<ExitCode, Failure> {
    let aws = &cli.aws;
    match cli.command {
        Cmd::Plan(command) => plan::run(command, aws).await,
        Cmd::Simulate(args) => simulate::run(&args),
        Cmd::Bench(command) => bench::run(command).await,
        Cmd::Dashboard(command) => dashboard::run(&command),
        Cmd::Origin(args) => origin::run(&args).await,
        Cmd::Run(args) => run::run(&args, aws).await,
        Cmd::Rollback(args) => run::rollback(&args, aws).await,
        Cmd::Start(args) => run::start(&args, aws).await,
        Cmd::Pause(args) => run::send_command(&args, Command::Pause, aws).await,
        Cmd::Resume(args) => run::send_command(&args, Command::Resume, aws).await,
        Cmd::Promote(args) => run::send_command(&args, Command::Promote, aws).await,
        Cmd::Abort(args) => run::send_command(&args, Command::Abort, aws).await,
        Cmd::Status(args) => run::status(&args, aws).await,
        Cmd::Report(args) => report::run(&args, aws).await,
        Cmd::Watch(args) => watch::run(&args, aws).await,
        Cmd::Demo(args) => demo::run(&args, aws).await,
        Cmd::Soak(args) => soak::run(&args, aws).await,
        Cmd::Serve(args) => serve::run(&args, aws).await,
        Cmd::Preflight(args) => preflight::run(&args, aws).await,
        Cmd::History(args) => history::run(&args, aws).await,
        Cmd::Edge { plan, listen, admin_listen, slot_ms, keep_slots } => {
            let plan = match plan.as_deref() {
                Some(path) => plan::load_plan(path)?,
                None => Plan::default_plan(),
            };
            edge::run(&plan, listen, admin_listen, Duration::from_millis(slot_ms), keep_slots).await
        }
    }
}

/// `20261128-131500`: a sortable UTC stamp for names.
fn now_compact() -> String {
    cutover_runtime::system_now().to_string().replace(['-', ':'], "").replace('T', "-").trim_end_matches('Z').to_owned()
}
