//! `cutover simulate`: whole cutovers on a virtual clock against simulated
//! traffic, through the real engine and judge.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cutover_core::judge::{SequentialJudge, ThresholdJudge};
use cutover_core::plan::{Plan, PROBES_PER_MINUTE};
use cutover_core::units::{format_hours, Timestamp, Weight};
use cutover_sim::{run_seeds, Fault, Port, RunReport, Scenario, Summary, Traffic, Users};

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
    /// A fault to inject, repeatable: [legacy:|both:]KIND@TIME[,for=D][,ramp=D|,flap=ON/OFF], KIND one of
    /// errors+Npp, p99xN, p50xN, coldxN, outage (e.g. errors+5pp@20h, both:outage@1h,for=5m). A rollback counts
    /// as a detection only for a fault of the new side alone.
    #[arg(long = "fault", alias = "regression", value_name = "FAULT")]
    side_faults: Vec<Fault>,
    /// Requests per minute from a CSV file (the last column of each row, one row per minute, a header
    /// allowed), repeated if shorter than the run; replaces --requests-per-day.
    #[arg(long, value_name = "FILE")]
    traffic: Option<PathBuf>,
    /// Latency rising with load on both sides: a minute with x times the average traffic has its
    /// latencies scaled by 1 + K (x - 1).
    #[arg(long, default_value_t = 0.0, value_name = "K")]
    latency_load_slope: f64,
    /// Sticky users: COUNT users whose requests all land on their cohort's side, SICK of them failing
    /// RATE of their requests on either side (COUNT, COUNT:SICK:RATE; e.g. 300:3:30%).
    #[arg(long, value_name = "COUNT[:SICK:RATE]")]
    users: Option<String>,
    /// User requests per day (diurnal cycle around this average).
    #[arg(long, default_value_t = 100_000.0)]
    requests_per_day: f64,
    /// Chance that the controller crashes after any write (restart from the store).
    #[arg(long, default_value_t = 0.0)]
    crash_rate: f64,
    /// Fault the controller's own ports (not the sides, which --fault is for): all, none, or a list of
    /// edge (failed, conflicting, timed-out, late- and never-verified writes, outages, drift), metrics
    /// (failed, late, partial, empty, slow reads), store (writes failing before or after committing,
    /// crashes), leader (lapsed leases, stalls past the lease, a second controller), clock (jumps),
    /// operators (commands from several people at random times).
    #[arg(long, value_name = "PORTS", default_value = "none", value_parser = parse_ports)]
    faults: Ports,
    /// Synthetic probes per side per minute, pinned to each side (the controller's rate by default).
    #[arg(long, default_value_t = PROBES_PER_MINUTE)]
    probes_per_minute: u32,
    /// Probes per minute to a side carrying at most 10 % of the users (at least --probes-per-minute).
    #[arg(long, default_value_t = PROBES_PER_MINUTE)]
    quiet_side_probes_per_minute: u32,
    /// The metric source cannot tell users' cohort buckets (AWS mode: CloudWatch counts per side), so
    /// users are judged side against side, as if each request failed independently.
    #[arg(long)]
    without_cohorts: bool,
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
    if args.probes_per_minute > 600 || args.quiet_side_probes_per_minute > 600 {
        return Err(Failure::input("--probes-per-minute and --quiet-side-probes-per-minute are at most 600"));
    }
    if !(-0.9..=5.0).contains(&args.latency_load_slope) {
        return Err(Failure::input("--latency-load-slope is from -0.9 to 5"));
    }
    let with_ports = Scenario::default().with_port_faults(&args.faults.0);
    let mut scenario = Scenario {
        faults: args.side_faults.clone(),
        crash_rate: args.crash_rate.max(with_ports.crash_rate),
        probes_per_minute: args.probes_per_minute,
        quiet_side_probes_per_minute: args.quiet_side_probes_per_minute,
        latency_load_slope: args.latency_load_slope,
        users: args.users.as_deref().map(parse_users).transpose()?,
        cohort_evidence: !args.without_cohorts,
        ..with_ports
    };
    scenario.traffic = match &args.traffic {
        Some(path) => Traffic::recorded(read_traffic(path)?, scenario.start),
        None => Traffic::diurnal(args.requests_per_day),
    };
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let seeds = args.seed_start..args.seed_start.saturating_add(args.seeds);

    println!(
        "simulating {} × plan \"{}\" ({} steps, {}) at {:.0} requests/day{}{}, {} judge, {} thread{}",
        args.seeds,
        plan.target.name,
        plan.schedule.steps.len(),
        format_hours(plan.duration()),
        scenario.traffic.requests_per_day,
        fault_list(&args.side_faults, ", faults "),
        port_list(&args.faults.0, ", faulted ports "),
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
        "replay one with: cutover simulate --seeds 1 --seed-start SEED{}{}",
        fault_list(&args.side_faults, " --fault "),
        port_list(&args.faults.0, " --faults ")
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

/// `" --fault a --fault b"`-style text for the faults, or nothing.
fn fault_list(faults: &[Fault], sep: &str) -> String {
    faults.iter().map(|f| format!("{sep}{f}")).collect()
}

/// The ports `--faults` names.
#[derive(Clone, Debug)]
pub struct Ports(Vec<Port>);

fn parse_ports(text: &str) -> Result<Ports, String> {
    Port::parse_list(text).map(Ports)
}

/// `"<sep>edge,store"` for faulted ports, or nothing.
fn port_list(ports: &[Port], sep: &str) -> String {
    if ports.is_empty() {
        return String::new();
    }
    let names: Vec<_> = ports.iter().map(|p| p.name()).collect();
    format!("{sep}{}", names.join(","))
}

/// `COUNT` or `COUNT:SICK:RATE` (RATE in percent, `%` optional).
fn parse_users(text: &str) -> Result<Users, Failure> {
    let bad = || Failure::input(format!("--users {text}: use COUNT or COUNT:SICK:RATE, e.g. 300 or 300:3:30%"));
    let mut parts = text.split(':');
    let count: u32 =
        parts.next().and_then(|c| c.parse().ok()).filter(|c| (1..=1_000_000).contains(c)).ok_or_else(bad)?;
    let (sick, rate) = match (parts.next(), parts.next(), parts.next()) {
        (None, None, None) => (0, 0.0),
        (Some(sick), Some(rate), None) => {
            let sick: u32 = sick.parse().ok().filter(|s| *s <= count).ok_or_else(bad)?;
            let rate: f64 =
                rate.trim_end_matches('%').parse().ok().filter(|r| (0.0..=100.0).contains(r)).ok_or_else(bad)?;
            (sick, rate / 100.0)
        }
        _ => return Err(bad()),
    };
    Ok(Users { count, sick, sick_error_rate: rate })
}

/// Requests per minute from a CSV file: the last column of each row; a
/// first row that is not a number is a header. Every problem names its line.
pub fn read_traffic(path: &std::path::Path) -> Result<Vec<f64>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read the traffic file {}: {e}", path.display())))?;
    parse_traffic(&text).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

pub fn parse_traffic(text: &str) -> Result<Vec<f64>, String> {
    let mut minutes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let last = line.rsplit(',').next().unwrap_or_default().trim();
        match last.parse::<f64>() {
            Ok(n) if (0.0..=1e7).contains(&n) => minutes.push(n),
            Ok(_) => return Err(format!("line {}: {last} is not a request count from 0 to 10000000", i + 1)),
            Err(_) if minutes.is_empty() && i == 0 => {} // a header
            Err(_) => {
                return Err(format!(
                    "line {}: \"{last}\" is not a number; each row ends with the requests of one minute",
                    i + 1
                ))
            }
        }
    }
    if minutes.is_empty() {
        return Err("no rows: give one row per minute ending with its request count".into());
    }
    if minutes.iter().all(|n| *n == 0.0) {
        return Err("every minute has 0 requests: there is nothing to judge".into());
    }
    Ok(minutes)
}
