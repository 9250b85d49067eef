//! `cutover bench judge|edge|daemon|memory`: benchmarks, printed as tables.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use cutover_core::judge::SequentialJudge;
use cutover_core::plan::{Plan, PROBES_PER_MINUTE};
use cutover_core::units::{format_duration, format_hours};

use crate::failure::Failure;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// The judge against Flagger-, Argo Rollouts- and Kayenta-style judges, each tuned to at most 1 % false
    /// rollbacks first; same seeds.
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
        /// Synthetic probes per side per minute in every scenario (the controller's rate by default).
        #[arg(long, default_value_t = PROBES_PER_MINUTE, value_parser = clap::value_parser!(u32).range(0..=600))]
        probes_per_minute: u32,
        /// Probes per minute to a side carrying at most 10 % of the users (at least --probes-per-minute).
        #[arg(long, default_value_t = PROBES_PER_MINUTE, value_parser = clap::value_parser!(u32).range(0..=600))]
        quiet_side_probes_per_minute: u32,
        /// The metric source cannot tell users' cohort buckets (AWS mode), so users are judged side
        /// against side.
        #[arg(long)]
        without_cohorts: bool,
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
        /// Leave every process where the scheduler puts it (by default the load generator gets a
        /// core of its own, the upstream and the edge the other).
        #[arg(long)]
        no_pin: bool,
    },
    /// An upstream that answers at once (for `bench edge`, which starts it).
    #[command(hide = true)]
    Upstream {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
    },
    /// What `cutover serve` costs: RSS and CPU driving many cutovers with live streams open,
    /// and GET /v1/cutovers/{id} latency meanwhile.
    Daemon(crate::bench_daemon::DaemonBenchArgs),
    /// Whether any long-running process (origins, edge, daemon, load generator) keeps growing:
    /// RSS each second under a live cutover and steady load; exits 1 if one keeps rising.
    Memory(crate::bench_memory::MemoryBenchArgs),
}

pub async fn run(command: BenchCmd) -> Result<ExitCode, Failure> {
    match command {
        BenchCmd::Judge {
            null_runs,
            runs,
            threads,
            probes_per_minute,
            quiet_side_probes_per_minute,
            without_cohorts,
        } => {
            let probes = (probes_per_minute, quiet_side_probes_per_minute);
            bench_judge(null_runs, runs, threads, probes, !without_cohorts)
        }
        BenchCmd::Edge { rate, seconds, rounds, no_pin } => crate::edge::bench(rate, seconds, rounds, !no_pin).await,
        BenchCmd::Upstream { listen } => crate::edge::instant_upstream(listen).await,
        BenchCmd::Daemon(args) => crate::bench_daemon::run(&args).await,
        BenchCmd::Memory(args) => crate::bench_memory::run(&args).await,
    }
}

/// The first seed of the peers' tuning runs: apart from the table's seeds.
const TUNING_SEEDS: u64 = 1_000_000;

fn bench_judge(
    null_runs: u64,
    runs: u64,
    threads: Option<usize>,
    probes: (u32, u32),
    cohort_evidence: bool,
) -> Result<ExitCode, Failure> {
    if !(1..=100_000).contains(&null_runs) || !(1..=100_000).contains(&runs) {
        return Err(Failure::input("--null-runs and --runs are from 1 to 100000"));
    }
    let plan = Plan::default_plan();
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let cfg = cutover_sim::bench::BenchConfig { null_runs, runs, threads };
    let with_probes = |s: cutover_sim::Scenario| cutover_sim::Scenario {
        probes_per_minute: probes.0,
        quiet_side_probes_per_minute: probes.1,
        cohort_evidence,
        ..s
    };
    let rows: Vec<_> = cutover_sim::bench::rows(&plan)
        .into_iter()
        .map(|r| cutover_sim::bench::Row { scenario: with_probes(r.scenario), ..r })
        .collect();
    let per_judge: u64 = rows.iter().map(|r| if r.healthy { null_runs } else { runs }).sum();
    println!(
        "judging the default plan (48 h, 1 % → 100 %, every {}) at 100K requests/day, {} probe(s)/min per side and \
         {} to a quiet side: {} scenarios, {null_runs} runs per healthy one and {runs} per fault, per judge, same \
         seeds, {threads} threads",
        format_duration(plan.guardrails.interval),
        probes.0,
        probes.1.max(probes.0),
        rows.len(),
    );
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    // Each peer tuned first, on healthy runs of their own (other seeds than
    // the table's): its most eager configuration with at most 1 % false rollbacks.
    use cutover_sim::baseline::{tune, Peer, PeerConfig, PeerJudge};
    let tuning_runs = null_runs.min(1000);
    let mut peers: Vec<PeerConfig> = Vec::new();
    for peer in [Peer::Flagger, Peer::Argo, Peer::Kayenta] {
        if tty {
            eprint!("\r  tuning {peer:?} on {tuning_runs} healthy runs…");
        }
        let (config, rate) =
            tune(peer, &plan, &with_probes(cutover_sim::Scenario::default()), tuning_runs, TUNING_SEEDS, 0.01, threads);
        println!("  {config}: {:.1} % false rollbacks on {tuning_runs} tuning runs", 100.0 * rate);
        peers.push(config);
    }
    if tty {
        eprintln!();
    }
    let mut columns = Vec::new();
    let names: Vec<String> =
        std::iter::once("sequential (cutover)".to_string()).chain(peers.iter().map(|p| p.to_string())).collect();
    for (i, name) in names.iter().enumerate() {
        let done = std::sync::atomic::AtomicU64::new(0);
        let progress = |_: u64| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if tty && (n % 50 == 0 || n == per_judge) {
                eprint!("\r  {name}: {n}/{per_judge} runs");
            }
        };
        use cutover_sim::bench::column;
        let short = name.split(" (").next().unwrap_or(name);
        let column = match i.checked_sub(1).map(|p| peers[p]) {
            None => column(short, &plan, &rows, cfg, &SequentialJudge::new, &progress),
            Some(config) => column(short, &plan, &rows, cfg, &move |_: &Plan| PeerJudge::new(config), &progress),
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
