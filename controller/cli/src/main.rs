//! `cutover`: the command line. Thin by design: it parses arguments, reads
//! files, and hands everything else to the core and simulation crates.

mod demo;
mod edge;
mod history;
mod origin;
mod preflight;
mod run;
mod stores;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use cutover_core::judge::{SequentialJudge, ThresholdJudge};
use cutover_core::plan::{CohortKey, Edge, NoDataAction, Plan, DEFAULT_PLAN};
use cutover_core::units::{format_duration, format_hours};
use cutover_core::units::{Timestamp, Weight};
use cutover_sim::{run_seeds, Regression, RunReport, Scenario, Summary};

/// Exit code for bad input (a plan with problems, a bad flag value).
const EXIT_INPUT: u8 = 2;

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
    Plan(PlanCmd),
    /// Run whole cutovers on a virtual clock against simulated traffic.
    Simulate(SimulateArgs),
    /// Benchmarks (printed as tables).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// List the cutovers in the store, or show one's audit trail.
    History {
        /// A cutover's id: its audit trail (every weight change, verdict and command). Without it: every cutover.
        id: Option<String>,
        /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
        #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
        store: stores::StoreAt,
        /// A table for people or JSON for scripts.
        #[arg(long, value_enum, default_value_t = history::Output::Table)]
        output: history::Output,
        /// Check the audit trail's hash chain instead of printing it: exit 0 if intact, 5 if broken.
        #[arg(long, requires = "id")]
        verify: bool,
    },
    /// A whole cutover on this machine: origins, edge, controller and traffic, on a compressed clock.
    Demo(demo::DemoArgs),
    /// Drive one cutover in local mode until it settles (exit 0 completed, 3 rolled back, 4 aborted).
    Run(run::RunArgs),
    /// Roll a cutover back to 0 %: through the running controller, or by itself when none runs.
    Rollback(run::RollbackArgs),
    /// Start a Pending (or rolled-back) cutover: its controller takes the command.
    Start(run::CommandArgs),
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
    /// Run the local weighted edge in front of the plan's [target.local] upstreams.
    Edge {
        /// The plan (its target's upstreams, cohort key and salt); the default plan when left out.
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Where to listen (port 0 picks a free one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Recording granularity in milliseconds: metric windows are whole slots.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
        slot_ms: u64,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// The judge against Flagger-style and CloudWatch-alarm-style judges, same seeds.
    Judge {
        /// Healthy 48 h runs per judge (the false-rollback rate).
        #[arg(long, default_value_t = 1000)]
        null_runs: u64,
        /// Runs per judge and regression scenario.
        #[arg(long, default_value_t = 200)]
        runs: u64,
        /// Worker threads; all cores when left out.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The local edge's added latency against calling the upstream directly.
    Edge {
        /// Requests per second, open loop.
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        /// Seconds of load each way (direct and through the edge).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Alternating rounds the seconds are split into.
        #[arg(long, default_value_t = 5)]
        rounds: u32,
    },
}

#[derive(Subcommand)]
enum PlanCmd {
    /// Print the annotated default plan (48 h, 1 % → 100 %), or write it to a file.
    Init {
        /// Write here instead of standard output (never overwrites).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a plan; lists every problem with its TOML path and line, exits 2 on any.
    Check { file: PathBuf },
    /// Show a plan's timeline, guardrails and target.
    Show { file: PathBuf },
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// The plan to simulate; the built-in default plan when left out.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// How many seeded runs.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed (runs use seed-start .. seed-start + seeds).
    #[arg(long, default_value_t = 0)]
    seed_start: u64,
    /// Inject a regression into the new side: errors+Npp@T, p99xN@T, p50xN@T or outage@T.
    #[arg(long)]
    regression: Option<Regression>,
    /// User requests per day (diurnal cycle around this average).
    #[arg(long, default_value_t = 100_000.0)]
    requests_per_day: f64,
    /// Chance that the controller crashes after any write (restart from the store).
    #[arg(long, default_value_t = 0.0)]
    crash_rate: f64,
    /// Synthetic probes per side per minute, pinned to each side.
    #[arg(long, default_value_t = 1)]
    probes_per_minute: u32,
    /// Worker threads; all cores when left out.
    #[arg(long)]
    threads: Option<usize>,
    /// Which judge decides.
    #[arg(long, value_enum, default_value_t = JudgeName::Sequential)]
    judge: JudgeName,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum JudgeName {
    /// Anytime-valid sequential tests (what the controller uses).
    Sequential,
    /// Fixed thresholds on the step's totals (the first, plain judge).
    Threshold,
}

fn main() -> ExitCode {
    // `cutover history | head` must end quietly when head has read enough,
    // as other Unix tools do, not panic on the closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal before any thread
    // starts; nothing else in the process handles SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Plan(PlanCmd::Init { output }) => plan_init(output.as_deref()),
        Cmd::Plan(PlanCmd::Check { file }) => plan_check(&file),
        Cmd::Plan(PlanCmd::Show { file }) => plan_show(&file),
        Cmd::Simulate(args) => simulate(&args),
        Cmd::Bench(BenchCmd::Judge { null_runs, runs, threads }) => bench_judge(null_runs, runs, threads),
        Cmd::Bench(BenchCmd::Edge { rate, seconds, rounds }) => edge::bench(rate, seconds, rounds),
        Cmd::Origin(args) => origin::run(&args),
        Cmd::Run(args) => run::run(&args, &cli.aws),
        Cmd::Rollback(args) => run::rollback(&args, &cli.aws),
        Cmd::Start(args) => run::send_command(&args, "start", &cli.aws),
        Cmd::Pause(args) => run::send_command(&args, "pause", &cli.aws),
        Cmd::Resume(args) => run::send_command(&args, "resume", &cli.aws),
        Cmd::Promote(args) => run::send_command(&args, "promote", &cli.aws),
        Cmd::Abort(args) => run::send_command(&args, "abort", &cli.aws),
        Cmd::Demo(args) => demo::run(&args, &cli.aws),
        Cmd::Preflight(args) => preflight::run(&args, &cli.aws),
        Cmd::History { id, store, output, verify } => history::run(&store, &cli.aws, id.as_deref(), output, verify),
        Cmd::Edge { plan, listen, slot_ms } => {
            match plan.as_deref().map(load_plan).unwrap_or_else(|| Ok(Plan::default_plan())) {
                Ok(plan) => edge::run(&plan, listen, Duration::from_millis(slot_ms)),
                Err(code) => Ok(code),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Unix milliseconds now.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn unix_timestamp() -> Timestamp {
    Timestamp::from_ms(unix_ms())
}

/// `20261128-131500`: a sortable UTC stamp for names.
fn now_compact() -> String {
    Timestamp::from_ms(unix_ms()).to_string().replace(['-', ':'], "").replace('T', "-").trim_end_matches('Z').to_owned()
}

/// Logs go to stderr: human-readable on a terminal, JSON lines otherwise.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// Reads and validates a plan; on problems prints them all and returns the exit code.
fn load_plan(path: &Path) -> Result<Plan, ExitCode> {
    load_plan_text(path).map(|(_, plan)| plan)
}

/// [`load_plan`], also returning the text as read (to store beside the cutover).
fn load_plan_text(path: &Path) -> Result<(String, Plan), ExitCode> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read plan {}: {e}", path.display());
            return Err(ExitCode::from(EXIT_INPUT));
        }
    };
    match Plan::parse(&text) {
        Ok(plan) => Ok((text, plan)),
        Err(err) => {
            let n = err.problems.len();
            for p in &err.problems {
                eprintln!("{}: {p}", path.display());
            }
            eprintln!("{}: {n} problem{}; the plan was not used", path.display(), if n == 1 { "" } else { "s" });
            Err(ExitCode::from(EXIT_INPUT))
        }
    }
}

fn plan_init(output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(path) = output else {
        std::io::stdout().write_all(DEFAULT_PLAN.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    };
    // Written whole to a temporary file, then linked into place: a failed
    // write leaves nothing half-written, and linking never overwrites.
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, DEFAULT_PLAN).with_context(|| format!("writing {}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("error: {} exists; choose another --output or remove it first", path.display());
            return Ok(ExitCode::from(EXIT_INPUT));
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    eprintln!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn plan_check(path: &Path) -> anyhow::Result<ExitCode> {
    let plan = match load_plan(path) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    println!(
        "{}: ok — {} steps over {}, target {}",
        path.display(),
        plan.schedule.steps.len(),
        format_hours(plan.duration()),
        plan.target.name
    );
    Ok(ExitCode::SUCCESS)
}

/// `+26h`, `+1h30m`: offsets from the start, in hours, which is how people plan.
fn offset(d: Duration) -> String {
    let m = d.as_secs() / 60;
    match m % 60 {
        0 => format!("+{}h", m / 60),
        r => format!("+{}h{r:02}m", m / 60),
    }
}

fn plan_show(path: &Path) -> anyhow::Result<ExitCode> {
    let plan = match load_plan(path) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let t = &plan.target;
    let edge = match &t.edge {
        Edge::Local(l) => format!("local edge: legacy {} / serverless {}", l.legacy_url, l.serverless_url),
        Edge::CloudFront(c) => {
            format!("CloudFront {} (KVS key {}, origin {})", c.distribution_id, c.weight_key, c.serverless_origin_id)
        }
    };
    let cohort = match &t.cohort {
        CohortKey::Header(h) => format!("header {h}"),
        CohortKey::Cookie(c) => format!("cookie {c}"),
        CohortKey::ViewerIp => "viewer IP".into(),
    };
    println!("target   {} — {edge}", t.name);
    println!("cohort   {cohort}, falling back to the viewer IP; salt \"{}\"", t.salt);
    println!();
    println!("  step  weight  starts   ends     hold   share of /api/* on the new side");
    for row in plan.timeline() {
        let bar = "█".repeat(usize::from(row.weight.bps()).div_ceil(250));
        println!(
            "  {:>4}  {:>6}  {:<7}  {:<7}  {:<5}  {bar}",
            row.step + 1,
            row.weight.to_string(),
            offset(row.starts_at),
            offset(row.ends_at),
            format_duration(row.ends_at - row.starts_at),
        );
    }
    println!("  total {} at the earliest: each step also waits for a passing analysis", offset(plan.duration()));
    for w in &plan.schedule.freeze {
        println!(
            "  freeze {:02}:00–{:02}:00 UTC: holds, never advances (rollbacks still happen)",
            w.from_hour, w.to_hour
        );
    }
    let g = &plan.guardrails;
    let lat = |c: &cutover_core::plan::LatencyCheck| {
        let mut parts = Vec::new();
        if let Some(r) = c.max_ratio {
            parts.push(format!("≤ {r}× old"));
        }
        if let Some(e) = c.max_extra_ms {
            parts.push(format!("≤ old + {e} ms"));
        }
        format!("{}{}", parts.join(" or "), if c.critical { ", critical" } else { "" })
    };
    println!();
    println!(
        "guardrails, judged every {} on at least {} requests per side:",
        format_duration(g.interval),
        g.min_samples
    );
    println!(
        "  error_rate      new ≤ old + {} pp{}",
        g.errors.max_increase_pp,
        if g.errors.critical { ", critical" } else { "" }
    );
    println!("  latency_p50     {}", lat(&g.latency_p50));
    println!("  latency_p99     {}", lat(&g.latency_p99));
    println!(
        "  cold_start_p99  ≤ {} ms{}",
        g.cold_start.max_p99_ms,
        if g.cold_start.critical { ", critical" } else { "" }
    );
    println!("  failure_limit   {} failed analyses in a step roll back", g.failure_limit);
    println!("  alpha           {} chance at most of rolling back a healthy cutover (sequential judge)", g.alpha);
    let then = match g.no_data.then {
        NoDataAction::Rollback => "roll back",
        NoDataAction::Pause => "pause",
    };
    println!("  no_data         hold at most {}, then {then}", format_duration(g.no_data.max_hold));
    if !plan.notify.webhooks.is_empty() {
        println!("notify   {}", plan.notify.webhooks.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let plan = match &args.plan {
        Some(path) => match load_plan(path) {
            Ok(p) => p,
            Err(code) => return Ok(code),
        },
        None => Plan::default_plan(),
    };
    if !(args.requests_per_day > 0.0 && args.requests_per_day <= 1e8) {
        eprintln!("error: --requests-per-day must be above 0 and at most 100000000");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    if !(0.0..=0.5).contains(&args.crash_rate) {
        eprintln!("error: --crash-rate is a chance from 0 to 0.5");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    if args.seeds == 0 || args.seeds > 1_000_000 {
        eprintln!("error: --seeds is from 1 to 1000000");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    if args.probes_per_minute > 600 {
        eprintln!("error: --probes-per-minute is at most 600");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let mut scenario = Scenario {
        regression: args.regression,
        crash_rate: args.crash_rate,
        probes_per_minute: args.probes_per_minute,
        ..Scenario::default()
    };
    scenario.traffic.requests_per_day = args.requests_per_day;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let seeds = args.seed_start..args.seed_start.saturating_add(args.seeds);

    println!(
        "simulating {} × plan \"{}\" ({} steps, {}) at {} requests/day{}, {} judge, {} thread{}",
        args.seeds,
        plan.target.name,
        plan.schedule.steps.len(),
        format_hours(plan.duration()),
        args.requests_per_day,
        args.regression.map(|r| format!(", regression {r}")).unwrap_or_default(),
        match args.judge {
            JudgeName::Sequential => "sequential",
            JudgeName::Threshold => "threshold",
        },
        threads,
        if threads == 1 { "" } else { "s" },
    );
    let tty = std::io::stderr().is_terminal();
    let total = args.seeds;
    let progress = move |done: u64| {
        if tty && (done % 25 == 0 || done == total) {
            eprint!("\r  {done}/{total} runs");
            if done == total {
                eprintln!();
            }
        }
    };
    let started = Instant::now();
    let results = match args.judge {
        JudgeName::Sequential => run_seeds(&plan, &scenario, seeds, threads, &SequentialJudge::new, &progress),
        JudgeName::Threshold => {
            run_seeds(&plan, &scenario, seeds, threads, &|p: &Plan| ThresholdJudge::new(p.guardrails), &progress)
        }
    };
    let wall = started.elapsed();
    let summary = Summary::new(&results);
    tracing::info!(
        seeds = args.seeds,
        wall_s = wall.as_secs_f64(),
        violations = summary.violations.len(),
        "simulate finished"
    );
    if let [(_, Ok((report, _)))] = results.as_slice() {
        print_run(report);
    }
    print!("{}", summary.table());
    println!("  total wall time {:.2} s", wall.as_secs_f64());
    if summary.violations.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    println!("invariant violations (seed: rule):");
    for (seed, v) in summary.violations.iter().take(20) {
        println!("  {seed}: {v}");
    }
    println!(
        "replay one with: cutover simulate --seeds 1 --seed-start SEED{}",
        args.regression.map(|r| format!(" --regression {r}")).unwrap_or_default()
    );
    Ok(ExitCode::FAILURE)
}

/// One run told as its audit trail, then the edge's weight drawn by the hour.
fn print_run(r: &RunReport) {
    println!("seed {}: {} after {}", r.seed, r.phase, format_hours(r.ended_at.since(r.started_at)));
    for (at, line) in &r.milestones {
        println!("  {:<8} {line}", offset(at.since(r.started_at)));
    }
    println!();
    println!("edge weight by hour (▁ ≤ 12.5 %, █ = 100 %):");
    println!("  {}", sparkline(r.started_at, r.ended_at, &r.edge_changes));
    println!();
}

/// The highest weight the edge applied in each hour, as block characters.
fn sparkline(start: Timestamp, end: Timestamp, changes: &[(Timestamp, Weight)]) -> String {
    const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let hours = end.since(start).as_secs().div_ceil(3600).max(1);
    let mut weight = Weight::ZERO;
    let mut next = changes.iter().peekable();
    (0..hours)
        .map(|h| {
            let hour_end = start + Duration::from_secs((h + 1) * 3600);
            let mut peak = weight;
            while let Some((_, w)) = next.next_if(|(t, _)| *t < hour_end) {
                weight = *w;
                peak = peak.max(weight);
            }
            LEVELS[usize::from(peak.bps()).div_ceil(1250)]
        })
        .collect()
}

fn bench_judge(null_runs: u64, runs: u64, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    if !(1..=100_000).contains(&null_runs) || !(1..=100_000).contains(&runs) {
        eprintln!("error: --null-runs and --runs are from 1 to 100000");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let plan = Plan::default_plan();
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let cfg = cutover_sim::bench::BenchConfig { null_runs, runs, threads };
    let scenarios = (cutover_sim::bench::KINDS.len() * cutover_sim::bench::onsets(&plan).len()) as u64;
    let per_judge = null_runs + scenarios * runs;
    println!(
        "judging the default plan (48 h, 1 % → 100 %, every {}) at 100K requests/day: {null_runs} healthy runs and \
         {runs} runs per regression, per judge, same seeds, {threads} threads",
        format_duration(plan.guardrails.interval)
    );
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut columns = Vec::new();
    let judges = ["sequential (cutover)", "flagger-style", "alarm-style"];
    for (i, name) in judges.iter().enumerate() {
        let done = std::sync::atomic::AtomicU64::new(0);
        let progress = |_: u64| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if tty && (n % 50 == 0 || n == per_judge) {
                eprint!("\r  {name}: {n}/{per_judge} runs");
            }
        };
        let column = match i {
            0 => cutover_sim::bench::column(name, &plan, cfg, &SequentialJudge::new, &progress),
            1 => cutover_sim::bench::column(name, &plan, cfg, &cutover_sim::baseline::FlaggerJudge::new, &progress),
            _ => cutover_sim::bench::column(name, &plan, cfg, &cutover_sim::baseline::AlarmJudge::new, &progress),
        };
        if tty {
            eprintln!();
        }
        tracing::info!(judge = name, elapsed_s = started.elapsed().as_secs_f64(), "judge benchmarked");
        columns.push(column);
    }
    println!();
    print!("{}", cutover_sim::bench::table(&plan, &columns));
    println!();
    println!(
        "cells: detection delay from the regression's onset ({} into the step) to the rollback decision, \
         median / p90 · new-side requests in between (median) · share of runs caught after the onset",
        format_hours(cutover_sim::bench::ONSET_INTO_STEP)
    );
    println!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
