//! `cutover plan init|check|show|advise`, and reading a plan file for any command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use cutover_core::plan::{CohortKey, Edge, NoDataAction, Plan, DEFAULT_PLAN};
use cutover_core::units::{format_duration, format_hours};

use crate::failure::Failure;

#[derive(Subcommand)]
pub enum PlanCmd {
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
    /// Simulate a plan on your own traffic: how fast each step would catch an outage, +1 and +5 pp errors,
    /// p50 and p99 doubling; which steps are too short or too quiet; and the holds and probe rate that are not.
    Advise(crate::advise::AdviseArgs),
    /// Print the CloudFront Function for a plan's [target.cloudfront]: infra/edge-function/function.js rendered
    /// as Terraform's templatefile() renders it, the code pre-flight expects live.
    EdgeFunction { file: PathBuf },
}

pub async fn run(command: PlanCmd, aws: &crate::stores::EndpointArgs) -> Result<ExitCode, Failure> {
    match command {
        PlanCmd::Init { output } => plan_init(output.as_deref()),
        PlanCmd::Check { file } => plan_check(&file),
        PlanCmd::Show { file } => plan_show(&file),
        PlanCmd::Advise(args) => crate::advise::run(&args, aws).await,
        PlanCmd::EdgeFunction { file } => edge_function(&file),
    }
}

fn edge_function(path: &Path) -> Result<ExitCode, Failure> {
    let plan = load_plan(path)?;
    let cutover_core::plan::Edge::CloudFront(edge) = &plan.target.edge else {
        return Err(Failure::input(format!(
            "{}: the plan's target is local ([target.local]); the CloudFront Function is for a [target.cloudfront] \
             target",
            path.display()
        )));
    };
    let code = cutover_core::edge_function::render(&plan.target, edge)
        .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?;
    print!("{code}");
    Ok(ExitCode::SUCCESS)
}

pub fn load_plan(path: &Path) -> Result<Plan, Failure> {
    load_plan_text(path).map(|(_, plan)| plan)
}

/// [`load_plan`], also returning the text as read (to store beside the cutover).
pub fn load_plan_text(path: &Path) -> Result<(String, Plan), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read plan {}: {e}", path.display())))?;
    match Plan::parse(&text) {
        Ok(plan) => Ok((text, plan)),
        Err(err) => {
            let n = err.problems.len();
            for p in &err.problems {
                eprintln!("{}: {p}", path.display());
            }
            eprintln!("{}: {n} problem{}; the plan was not used", path.display(), if n == 1 { "" } else { "s" });
            Err(Failure::Said)
        }
    }
}

fn plan_init(output: Option<&Path>) -> Result<ExitCode, Failure> {
    let Some(path) = output else {
        std::io::stdout().write_all(DEFAULT_PLAN.as_bytes()).context("write the plan")?;
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
            return Err(Failure::input(format!(
                "{} exists; choose another --output or remove it first",
                path.display()
            )));
        }
        Err(e) => return Err(anyhow::Error::from(e).context(format!("creating {}", path.display())).into()),
    }
    eprintln!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn plan_check(path: &Path) -> Result<ExitCode, Failure> {
    let plan = load_plan(path)?;
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
pub fn offset(d: Duration) -> String {
    let m = d.as_secs() / 60;
    match m % 60 {
        0 => format!("+{}h", m / 60),
        r => format!("+{}h{r:02}m", m / 60),
    }
}

fn plan_show(path: &Path) -> Result<ExitCode, Failure> {
    let plan = load_plan(path)?;
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
    println!(
        "  client_errors   4xx: new ≤ old + {} pp{}",
        g.client_errors.max_increase_pp,
        if g.client_errors.critical { ", critical" } else { "" }
    );
    println!("  latency_p50     {}", lat(&g.latency_p50));
    println!("  latency_p99     {}", lat(&g.latency_p99));
    let critical = if g.cold_start.critical { ", critical" } else { "" };
    println!("  cold_start_p99  ≤ {} ms{critical}", g.cold_start.max_p99_ms);
    println!("  cold_start_share ≤ {} % of new-side requests{critical}", 100.0 * g.cold_start.max_share);
    println!("  failure_limit   {} failed analyses in a step roll back", g.failure_limit);
    println!("  alpha           {} chance at most of rolling back a healthy cutover (sequential judge)", g.alpha);
    let then = match g.no_data.then {
        NoDataAction::Rollback => "roll back",
        NoDataAction::Pause => "pause",
    };
    println!("  no_data         hold at most {}, then {then}", format_duration(g.no_data.max_hold));
    println!(
        "  shared_failure  the old side failing too: hold, and pause after {}",
        format_duration(g.shared_failure.max_hold)
    );
    if !plan.notify.webhooks.is_empty() {
        println!("notify   {}", plan.notify.webhooks.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
