//! `cutover bench judge|edge`: benchmarks, printed as tables.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use cutover_core::judge::SequentialJudge;
use cutover_core::plan::Plan;
use cutover_core::units::{format_duration, format_hours};

use crate::failure::Failure;

#[derive(Subcommand)]
pub enum BenchCmd {
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
    /// What `cutover serve` costs: RSS and CPU driving many cutovers with live streams open,
    /// and GET /v1/cutovers/{id} latency meanwhile.
    Daemon(crate::bench_daemon::DaemonBenchArgs),
}

pub async fn run(command: BenchCmd) -> Result<ExitCode, Failure> {
    match command {
        BenchCmd::Judge { null_runs, runs, threads } => bench_judge(null_runs, runs, threads),
        BenchCmd::Edge { rate, seconds, rounds } => crate::edge::bench(rate, seconds, rounds).await,
        BenchCmd::Daemon(args) => crate::bench_daemon::run(&args).await,
    }
}

fn bench_judge(null_runs: u64, runs: u64, threads: Option<usize>) -> Result<ExitCode, Failure> {
    if !(1..=100_000).contains(&null_runs) || !(1..=100_000).contains(&runs) {
        return Err(Failure::input("--null-runs and --runs are from 1 to 100000"));
    }
    let plan = Plan::default_plan();
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let cfg = cutover_sim::bench::BenchConfig { null_runs, runs, threads };
    let rows = cutover_sim::bench::rows(&plan);
    let per_judge: u64 = rows.iter().map(|r| if r.healthy { null_runs } else { runs }).sum();
    println!(
        "judging the default plan (48 h, 1 % → 100 %, every {}) at 100K requests/day: {} scenarios, {null_runs} runs \
         per healthy one and {runs} per fault, per judge, same seeds, {threads} threads",
        format_duration(plan.guardrails.interval),
        rows.len(),
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
        use cutover_sim::baseline::{AlarmJudge, FlaggerJudge};
        use cutover_sim::bench::column;
        let column = match i {
            0 => column(name, &plan, &rows, cfg, &SequentialJudge::new, &progress),
            1 => column(name, &plan, &rows, cfg, &FlaggerJudge::new, &progress),
            _ => column(name, &plan, &rows, cfg, &AlarmJudge::new, &progress),
        };
        if tty {
            eprintln!();
        }
        tracing::info!(judge = name, elapsed_s = started.elapsed().as_secs_f64(), "judge benchmarked");
        columns.push(column);
    }
    println!();
    print!("{}", cutover_sim::bench::table(&rows, &columns));
    println!();
    println!(
        "cells: detection delay from the fault's onset ({} into the step) to the rollback decision, median / p90 · \
         new-side requests in between (median) · share of runs caught after the onset; for healthy runs and \
         failures that are not the new side's fault (shared, legacy, inside the allowances): the share rolled back",
        format_hours(cutover_sim::bench::ONSET_INTO_STEP)
    );
    println!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
