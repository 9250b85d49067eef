//! `cutover plan init|check|show|advise`, and reading a plan file for any command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use cutover_core::plan::{CohortKey, EdgeTarget, NoDataAction, Plan, DEFAULT_PLAN};
use cutover_core::units::{format_duration, format_hours};

use crate::failure::Failure;

#[derive(Subcommand)]
pub enum PlanCmd {
    /// Print the annotated default plan (48 h, 1 % → 100 %), or write it to a file.
    Init {
        /// Write here instead of standard output (never overwrites).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// A plan for the target Terraform deployed: the file `terraform output -json` writes in the root
        /// module (infra/example's outputs name the distribution, the KeyValueStore, the API, the functions,
        /// the ALB and the cohort).
        #[arg(long, value_name = "OUTPUT.json")]
        from_terraform: Option<PathBuf>,
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
        PlanCmd::Init { output, from_terraform } => {
            let text = match from_terraform {
                Some(path) => terraform_plan(&path)?,
                None => DEFAULT_PLAN.to_owned(),
            };
            plan_init(&text, output.as_deref())
        }
        PlanCmd::Check { file } => plan_check(&file),
        PlanCmd::Show { file } => plan_show(&file),
        PlanCmd::Advise(args) => crate::advise::run(&args, aws).await,
        PlanCmd::EdgeFunction { file } => edge_function(&file),
    }
}

fn edge_function(path: &Path) -> Result<ExitCode, Failure> {
    let plan = load_plan(path)?;
    let cutover_core::plan::EdgeTarget::CloudFront(edge) = &plan.target.edge else {
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

/// The outputs a plan is made from (`terraform output -json`): each one's
/// name, the plan key it fills, and whether the plan needs it.
const TERRAFORM_OUTPUTS: [(&str, &str, bool); 16] = [
    // The target's name is the cohort salt the edge function was rendered
    // with (infra/modules/edge): the two must bucket users alike.
    ("name", "name", true),
    ("cohort_header", "cohort", true),
    ("distribution_id", "distribution_id", true),
    ("kvs_arn", "kvs_arn", true),
    ("weight_key", "weight_key", true),
    ("serverless_origin_id", "serverless_origin_id", true),
    ("probe_token_key", "probe_token_key", false),
    ("api_id", "api_id", true),
    ("api_stage", "api_stage", true),
    ("lambda_functions", "lambda_functions", true),
    ("alb_load_balancer", "alb_load_balancer", true),
    ("alb_target_group", "alb_target_group", true),
    ("xray_legacy_service", "xray_legacy_service", true),
    ("when_store_unreadable", "when_store_unreadable", false),
    ("edge_log_stream_arn", "stream_arn", false),
    // The real-time log configuration's fields, in its order: the plan
    // must list them as the configuration writes them.
    ("edge_log_fields", "fields", false),
];

/// The default plan, its AWS target filled from `terraform output -json`
/// (and its local target taken out): the same annotated file, the values
/// Terraform deployed.
fn terraform_plan(path: &Path) -> Result<String, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
    let outputs: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
        Failure::input(format!(
            "{}: not the JSON `terraform output -json` writes ({e}); run it in the root module and save what it prints",
            path.display()
        ))
    })?;
    let mut values = Vec::new();
    let mut problems = Vec::new();
    for (output, key, required) in TERRAFORM_OUTPUTS {
        // `terraform output -json` gives {"value": …, "type": …, "sensitive": …} per output.
        let value = outputs.get(output).map(|o| o.get("value").unwrap_or(o));
        let toml = match value {
            None if required => {
                problems.push(format!(
                    "output {output}: missing; declare it in the root module (infra/example/outputs.tf has it)"
                ));
                continue;
            }
            None => continue,
            Some(serde_json::Value::String(s)) if output == "cohort_header" => match s.as_str() {
                // No cohort header: the edge buckets by viewer IP, the plan's cohort left out.
                "" => String::new(),
                header => format!("{{ header = {} }}", serde_json::Value::String(header.to_owned())),
            },
            Some(serde_json::Value::String(s)) if !s.is_empty() => serde_json::Value::String(s.clone()).to_string(),
            // The functions: a map (name in the route contract → function name) or a list.
            Some(serde_json::Value::Object(map)) if output == "lambda_functions" => {
                let names: Vec<&serde_json::Value> = map.values().collect();
                serde_json::to_string(&names).unwrap_or_default()
            }
            Some(serde_json::Value::Array(list)) if output == "lambda_functions" || output == "edge_log_fields" => {
                serde_json::to_string(list).unwrap_or_default()
            }
            Some(serde_json::Value::Null) if !required => continue,
            Some(other) => {
                problems.push(format!("output {output} = {other}: expected a non-empty string"));
                continue;
            }
        };
        values.push((key, toml));
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{}: {p}", path.display());
        }
        eprintln!(
            "{}: {} problem{}; no plan was written",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        return Err(Failure::Said);
    }
    let edge_logs = values.iter().any(|(key, _)| *key == "stream_arn");
    // Keys of the AWS tables the outputs leave to the plan's defaults: left
    // commented, so the decoder derives them (a probe token key beside the
    // weight key), never the example's own values.
    let defaulted: Vec<&str> = TERRAFORM_OUTPUTS
        .iter()
        .filter(|(_, key, required)| {
            !required && !["stream_arn", "fields"].contains(key) && !values.iter().any(|(k, _)| k == key)
        })
        .map(|(_, key, _)| *key)
        .collect();
    let (plan, unwritten) = aws_plan_from(DEFAULT_PLAN, &values, &defaulted, edge_logs);
    if !unwritten.is_empty() {
        return Err(Failure::Other(anyhow::anyhow!(
            "the default plan has no line for {}: this cutover cannot fill it from the outputs",
            unwritten.join(", ")
        )));
    }
    if let Err(err) = Plan::parse(&plan) {
        for p in &err.problems {
            eprintln!("{}: {p}", path.display());
        }
        return Err(Failure::input(format!("{}: the outputs do not make a valid plan", path.display())));
    }
    Ok(plan)
}

/// `default` with its `[target.local]` table taken out and its commented AWS
/// tables in, each `key = …` the outputs name set to their value, each key
/// in `defaulted` left commented; the edge logs' table only with a stream.
/// Also returns the keys of `values` no line took.
fn aws_plan_from(
    default: &str,
    values: &[(&str, String)],
    defaulted: &[&str],
    edge_logs: bool,
) -> (String, Vec<String>) {
    let mut written = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let (mut local, mut aws, mut target) = (false, false, false);
    for line in default.lines() {
        if line.starts_with('[') {
            target = line == "[target]";
        }
        if line.starts_with("# Local mode:") {
            continue;
        }
        if line == "[target.local]" {
            local = true;
            continue;
        }
        if local {
            // The local table and its comments end at the AWS tables' heading comment.
            if line.starts_with("# AWS mode") {
                local = false;
            } else {
                continue;
            }
        }
        if line == "# [target.cloudfront]" {
            aws = true;
        }
        if aws && line.is_empty() {
            aws = false;
        }
        if aws && !edge_logs && line.starts_with("# # CloudFront's real-time logs") {
            aws = false;
        }
        let line = match line.strip_prefix('#') {
            Some(rest) if aws => rest.strip_prefix(' ').unwrap_or(rest).to_owned(),
            _ => line.to_owned(),
        };
        let key = line.split_once(" = ").map(|(key, _)| key.trim());
        if aws && key.is_some_and(|key| defaulted.contains(&key)) {
            out.push(format!("# {line}"));
            continue;
        }
        // A value the outputs give, for a line of the AWS tables or the
        // target's name and cohort.
        let set = key
            .and_then(|key| values.iter().find(|(k, _)| *k == key))
            .filter(|(key, _)| aws || (target && matches!(*key, "name" | "cohort")));
        match set {
            Some((key, value)) => {
                written.insert(*key);
                out.push(match (*key, value.is_empty()) {
                    ("cohort", true) => "# cohort: none given, so requests are bucketed by viewer IP".to_owned(),
                    _ => format!("{key} = {value}"),
                });
            }
            None => out.push(line),
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    let text = text.replace(
        "# AWS mode: replace [target.local] with these two tables.",
        "# AWS mode, from `terraform output -json` (cutover plan init --from-terraform).",
    );
    let unwritten = values.iter().filter(|(k, _)| !written.contains(k)).map(|(k, _)| (*k).to_owned()).collect();
    (text, unwritten)
}

fn plan_init(text: &str, output: Option<&Path>) -> Result<ExitCode, Failure> {
    let Some(path) = output else {
        std::io::stdout().write_all(text.as_bytes()).context("write the plan")?;
        return Ok(ExitCode::SUCCESS);
    };
    // Written whole to a temporary file, then linked into place: a failed
    // write leaves nothing half-written, and linking never overwrites.
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
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
        EdgeTarget::Local(l) => format!("local edge: legacy {} / serverless {}", l.legacy_url, l.serverless_url),
        EdgeTarget::CloudFront(c) => {
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
