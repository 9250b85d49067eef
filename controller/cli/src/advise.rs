//! `cutover plan advise`: the plan simulated on the target's own traffic
//! (a CSV, or the ALB's request history in CloudWatch), a table per step,
//! the steps that are too short or too quiet, a suggested plan, and the
//! weight and the exposure drawn by the hour.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cutover_core::plan::{EdgeTarget, Plan};
use cutover_core::units::{format_duration, Timestamp};
use cutover_sim::advise::{advise, short, Advice, FAULTS};
use cutover_sim::{Scenario, Traffic};

use crate::failure::Failure;
use crate::plan::load_plan;
use crate::stores::EndpointArgs;

#[derive(clap::Args)]
pub struct AdviseArgs {
    /// The plan to advise on.
    #[arg(long)]
    plan: PathBuf,
    /// Requests per minute as CSV: one row per minute, the count in the last column (a header allowed).
    #[arg(long, value_name = "FILE", conflicts_with = "from_cloudwatch", required_unless_present = "from_cloudwatch")]
    traffic: Option<PathBuf>,
    /// Read the ALB's RequestCount of the last --days days from CloudWatch instead (a [target.cloudfront]
    /// plan with [target.metrics]; needs the `aws` feature).
    #[arg(long)]
    from_cloudwatch: bool,
    /// Days of CloudWatch history (one-minute data is kept for 15).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u64).range(1..=15))]
    days: u64,
    /// Simulated runs per step and regression.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    runs: u64,
    /// Probes per minute to each side, as the probe driver sends them (the plan's by default).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=600))]
    probes_per_minute: Option<u32>,
    /// Probes per minute to a side carrying at most 10 % of the users (at least --probes-per-minute).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=600))]
    quiet_side_probes_per_minute: Option<u32>,
    /// Worker threads; all cores when left out.
    #[arg(long)]
    threads: Option<usize>,
}

pub async fn run(args: &AdviseArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let plan = load_plan(&args.plan)?;
    let (per_minute, start, source) = match &args.traffic {
        Some(path) => {
            let minutes = crate::simulate::read_traffic(path)?;
            (minutes, Scenario::default().start, path.display().to_string())
        }
        None => from_cloudwatch(&plan, args, aws).await?,
    };
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // What the controller will send for this plan, unless asked otherwise.
    let probes = args.probes_per_minute.unwrap_or(match &plan.target.edge {
        EdgeTarget::CloudFront(cf) => cf.probes_per_minute,
        EdgeTarget::Local(local) => local.probes_per_minute,
    });
    let base = Scenario {
        traffic: Traffic::recorded(per_minute.clone(), start),
        start,
        probes_per_minute: probes,
        quiet_side_probes_per_minute: args.quiet_side_probes_per_minute.unwrap_or(probes).max(probes),
        // The local edge tells each user request's cohort, and so do the
        // edge's real-time logs; CloudWatch alone does not.
        cohort_evidence: matches!(plan.target.edge, EdgeTarget::Local(_))
            || plan.target.metrics.as_ref().is_some_and(|m| m.edge_logs.is_some()),
        ..Scenario::default()
    };
    let days = per_minute.len() as f64 / 1440.0;
    println!(
        "advising plan \"{}\" ({} steps, {}) on {source}: {:.1} days, {:.0} requests/day on average; \
         {} runs per step and regression, {} probe(s)/min per side and {} to a quiet side",
        plan.target.name,
        plan.schedule.steps.len(),
        format_duration(plan.duration()),
        days,
        base.traffic.requests_per_day,
        args.runs,
        base.probes_per_minute,
        base.quiet_side_probes_per_minute,
    );
    let total = args.runs * (plan.schedule.steps.len() * FAULTS.len()) as u64;
    let done = AtomicU64::new(0);
    let tty = std::io::stderr().is_terminal();
    let progress = |_: u64| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if tty && (n % 20 == 0 || n == total) {
            eprint!("\r  {n}/{total} runs");
        }
    };
    let advice = advise(&plan, &base, args.runs, threads, &progress);
    if tty {
        eprintln!();
    }
    print!("{}", report(&plan, &base, &advice));
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "aws"))]
async fn from_cloudwatch(_: &Plan, _: &AdviseArgs, _: &EndpointArgs) -> Result<(Vec<f64>, Timestamp, String), Failure> {
    Err(Failure::Input(format!("--from-cloudwatch: {}", crate::stores::WITHOUT_AWS)))
}

#[cfg(feature = "aws")]
async fn from_cloudwatch(
    plan: &Plan,
    args: &AdviseArgs,
    aws: &EndpointArgs,
) -> Result<(Vec<f64>, Timestamp, String), Failure> {
    let Some(metrics) = &plan.target.metrics else {
        return Err(Failure::input(format!(
            "{}: --from-cloudwatch reads the ALB named in [target.metrics] alb_load_balancer; the plan has none \
             (or give --traffic FILE)",
            args.plan.display()
        )));
    };
    let clients = cutover_aws::Clients::new(&aws.endpoints()).await;
    let now = cutover_runtime::system_now().as_ms();
    let from = now.saturating_sub(args.days * 86_400_000);
    let minutes = cutover_aws::request_history(&clients.cloudwatch, &metrics.alb_load_balancer, from, now)
        .await
        .map_err(|e| Failure::Other(anyhow::anyhow!("{e}")))?;
    if minutes.iter().all(|n| *n == 0.0) {
        return Err(Failure::input(format!(
            "CloudWatch has no RequestCount for {} in the last {} days: check [target.metrics] alb_load_balancer",
            metrics.alb_load_balancer, args.days
        )));
    }
    let source = format!("CloudWatch RequestCount of {}", metrics.alb_load_balancer);
    Ok((minutes, Timestamp::from_ms(from / 60_000 * 60_000), source))
}

/// Everything the command prints after its first line.
pub fn report(plan: &Plan, base: &Scenario, advice: &Advice) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["step".to_string(), "weight".into(), "hold".into(), "new-side req/h".into()];
    header.extend(FAULTS.iter().map(|(name, _, _)| name.to_string()));
    rows.push(header);
    for s in &advice.steps {
        let mut row = vec![
            (s.step + 1).to_string(),
            s.weight.to_string(),
            format_duration(s.hold),
            format!("{:.0}", s.new_side_per_hour),
        ];
        for c in &s.cells {
            row.push(match c.median {
                None => "not caught".into(),
                Some(m) => {
                    let late = if c.within_step * 2 < c.runs { " !" } else { "" };
                    format!("{} · {} req{late}", short(m), c.exposed.unwrap_or(0))
                }
            });
        }
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let _ = writeln!(out);
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "  {}", cells.join("  "));
    }
    let _ = writeln!(
        out,
        "  (median time from the regression's onset to the rollback · new-side requests served meanwhile; \
         ! = most runs not caught before the step ended; each begins a quarter into its step, 30m at most)"
    );
    let _ = writeln!(out);
    let flagged: Vec<_> = advice.steps.iter().filter(|s| !s.flags.is_empty()).collect();
    if flagged.is_empty() {
        let _ = writeln!(out, "every step catches an outage, +5 pp errors and p50 ×2 before it ends.");
    } else {
        let _ = writeln!(out, "too short or too quiet (an outage, +5 pp errors or p50 ×2 outlast the step):");
        for s in flagged {
            for f in &s.flags {
                let _ = writeln!(out, "  step {} ({}): {f}", s.step + 1, s.weight);
            }
        }
    }
    let noted: Vec<_> = advice.steps.iter().filter(|s| !s.notes.is_empty()).collect();
    if !noted.is_empty() {
        let _ = writeln!(out, "slower than the step (+1 pp and p99 ×2 need more traffic than some steps see):");
        for s in noted {
            for n in &s.notes {
                let _ = writeln!(out, "  step {} ({}): {n}", s.step + 1, s.weight);
            }
        }
    }
    let _ = writeln!(out);
    let changed = advice.steps.iter().any(|s| s.suggested_hold != s.hold);
    if changed {
        let _ = writeln!(
            out,
            "suggested holds (long enough to catch an outage, +5 pp errors and p50 ×2 before the step ends, \
             p90), {} in all instead of {}:",
            format_duration(advice.suggested.duration()),
            format_duration(plan.duration())
        );
        for s in &advice.steps {
            let note = if s.suggested_hold != s.hold {
                format!("   # was {}", format_duration(s.hold))
            } else {
                String::new()
            };
            let _ = writeln!(out, "  [[schedule.steps]]");
            let _ = writeln!(out, "  weight = {}", s.weight.bps() as f64 / 100.0);
            let _ = writeln!(out, "  hold = \"{}\"{note}", format_duration(s.suggested_hold));
        }
        let _ = writeln!(out, "simulated again with these holds, caught before the step ends:");
        for s in advice.steps.iter().filter(|s| !s.checked.is_empty()) {
            let required = FAULTS.iter().filter(|(_, _, required)| *required);
            let parts: Vec<String> = required
                .zip(&s.checked)
                .map(|((name, _, _), c)| format!("{name} {}/{}", c.within_step, c.runs))
                .collect();
            let _ = writeln!(out, "  step {} ({}): {}", s.step + 1, s.weight, parts.join(", "));
        }
    } else {
        let _ = writeln!(out, "the plan's holds suffice.");
    }
    let (assumed, suggested) = advice.probes;
    let outage = advice.outage_at_first_step.map_or("not caught".into(), short);
    if !advice.probes_meet_target {
        let _ = writeln!(
            out,
            "probes: even {suggested} a minute to the quiet side catch an outage at the first step only in {outage} \
             (median), over the {} target: lengthen or drop the first step",
            short(cutover_sim::advise::OUTAGE_TARGET)
        );
    } else if suggested != assumed {
        let _ = writeln!(
            out,
            "probes: {suggested} a minute to the quiet side (not {assumed}) catch an outage at the first step in \
             {outage} (median)"
        );
    } else {
        let _ =
            writeln!(out, "probes: {assumed} a minute to the quiet side catch an outage at the first step in {outage}");
    }
    let _ = writeln!(out);
    let _ = write!(out, "{}", chart(base, advice));
    out
}

/// The suggested plan by the hour: its weight, and the new-side requests a
/// +5 pp regression starting that hour would reach before its rollback.
fn chart(base: &Scenario, advice: &Advice) -> String {
    const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let errors5 = FAULTS.iter().position(|(n, _, _)| *n == "errors +5 pp").unwrap_or(0);
    let mut weight = String::new();
    let mut exposure: Vec<f64> = Vec::new();
    let mut at = Duration::ZERO;
    for s in &advice.steps {
        let hours = s.suggested_hold.as_secs().div_ceil(3600);
        let median = s.cells[errors5].median.unwrap_or(s.suggested_hold);
        for h in 0..hours {
            let level = (usize::from(s.weight.bps()) * 8).div_ceil(10_000);
            weight.push(LEVELS[level.min(8)]);
            let t = base.start + at + Duration::from_secs(h * 3600);
            let per_minute = base.traffic.per_minute(t) * s.weight.fraction();
            exposure.push(per_minute * median.as_secs_f64() / 60.0);
        }
        at += s.suggested_hold;
    }
    let top = exposure.iter().copied().fold(0.0, f64::max).max(1.0);
    let drawn: String = exposure.iter().map(|e| LEVELS[((e / top) * 8.0).ceil().min(8.0) as usize]).collect();
    format!(
        "by the hour (each character one hour of the suggested plan):\n  weight    {weight}  (█ = 100 %)\n  \
         exposure  {drawn}  (requests a +5 pp regression starting then reaches before its rollback, at the median detection of its step as simulated above; █ = {top:.0})\n"
    )
}
