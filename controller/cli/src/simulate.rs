//! `cutover simulate`: whole cutovers on a virtual clock against simulated
//! traffic, through the real engine and judge.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cutover_core::judge::{SequentialJudge, ThresholdJudge};
use cutover_core::plan::Plan;
use cutover_core::units::{format_hours, Timestamp, Weight};
use cutover_sim::{run_seeds, Regression, RunReport, Scenario, Summary};

use crate::failure::Failure;
use crate::plan::{load_plan, offset};

#[derive(clap::Args)]
pub struct SimulateArgs {
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
pub enum JudgeName {
    /// Anytime-valid sequential tests (what the controller uses).
    Sequential,
    /// Fixed thresholds on the step's totals (the first, plain judge).
    Threshold,
}

pub fn run(args: &SimulateArgs) -> Result<ExitCode, Failure> {
    let plan = match &args.plan {
        Some(path) => load_plan(path)?,
        None => Plan::default_plan(),
    };
    if !(args.requests_per_day > 0.0 && args.requests_per_day <= 1e8) {
        return Err(Failure::input("--requests-per-day must be above 0 and at most 100000000"));
    }
    if !(0.0..=0.5).contains(&args.crash_rate) {
        return Err(Failure::input("--crash-rate is a chance from 0 to 0.5"));
    }
    if args.seeds == 0 || args.seeds > 1_000_000 {
        return Err(Failure::input("--seeds is from 1 to 1000000"));
    }
    if args.probes_per_minute > 600 {
        return Err(Failure::input("--probes-per-minute is at most 600"));
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
