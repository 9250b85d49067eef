//! `cutover history [ID]`: the cutovers, or one cutover's audit trail, as
//! a table or as JSON for scripts; from the store, or from a daemon with
//! `--server`.

use std::process::ExitCode;

use anyhow::Context;
use cutover_core::engine::{Actor, CutoverState, Event, EventKind};
use cutover_core::measure::{describe_hops, describe_route};
use cutover_core::store::Store;

use crate::client::{Client, ServerArgs};
use crate::failure::{Failure, EXIT_BROKEN_CHAIN};
use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// A cutover's id: its audit trail (every weight change, verdict and command). Without it: every cutover.
    pub id: Option<String>,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    /// A table for people or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Check the audit trail's hash chain instead of printing it: exit 0 if intact, 5 if broken.
    #[arg(long, requires = "id")]
    pub verify: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    Ok(serde_json::to_string_pretty(value).context("encode JSON")?)
}

pub async fn run(args: &HistoryArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    if let Some(client) = Client::from_args(&args.server)? {
        return remote(&client, args).await;
    }
    let at = &args.store;
    let Some(store) = AnyStore::open(at, Open::Existing, aws).await? else {
        return Err(Failure::input(format!(
            "no store at {at}: a cutover run writes one there; pass --store (or set CUTOVER_STORE) to read another"
        )));
    };
    if let (Some(id), true) = (args.id.as_deref(), args.verify) {
        return verify_trail(&store, at, id).await;
    }
    match args.id.as_deref() {
        None => {
            let cutovers = store.list().await?;
            match args.output {
                Output::Json => println!("{}", json(&cutovers)?),
                Output::Table if cutovers.is_empty() => println!("no cutovers in {at}"),
                Output::Table => print_cutovers(&cutovers),
            }
        }
        Some(id) => {
            if store.load(id).await?.is_none() {
                return Err(Failure::input(format!("no cutover {id} in {at}; `cutover history` lists them")));
            }
            let events = store.history(id).await?;
            match args.output {
                Output::Json => println!("{}", json(&events)?),
                Output::Table => print_events(&events),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The same, through the daemon's API.
async fn remote(client: &Client, args: &HistoryArgs) -> Result<ExitCode, Failure> {
    match args.id.as_deref() {
        None => {
            let views = client.list().await?;
            match args.output {
                Output::Json => println!("{}", json(&views)?),
                Output::Table if views.is_empty() => println!("no cutovers at {}", client.base()),
                Output::Table => {
                    println!("{:<24} {:<28} {:>5} {:>7}  {:<20}", "cutover", "phase", "step", "weight", "updated");
                    for v in &views {
                        let phase = v.reason.as_ref().map_or(v.phase.clone(), |r| format!("{}({r})", v.phase));
                        let weight = format!("{}%", f64::from(v.weight_bps) / 100.0);
                        println!("{:<24} {:<28} {:>5} {:>7}  {:<20}", v.id, phase, v.step, weight, v.updated_at);
                    }
                }
            }
        }
        Some(id) if args.verify => {
            let chain = client.chain(id).await?;
            if chain.intact {
                println!("cutover {id}: audit trail intact: {} events, every hash links", chain.events);
            } else {
                let problem = chain.problem.unwrap_or_default();
                println!("cutover {id}: audit trail BROKEN: {problem}");
                return Ok(ExitCode::from(EXIT_BROKEN_CHAIN));
            }
        }
        Some(id) => {
            let events = client.history(id).await?;
            match args.output {
                Output::Json => println!("{}", json(&events)?),
                Output::Table => print_events(&events),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Recomputes every link of the trail's hash chain and checks the head.
async fn verify_trail(store: &AnyStore, at: &StoreAt, id: &str) -> Result<ExitCode, Failure> {
    let Some(trail) = store.trail(id).await? else {
        return Err(Failure::input(format!("no cutover {id} in {at}; `cutover history` lists them")));
    };
    match cutover_core::audit::verify(&trail) {
        Ok(count) => {
            println!("cutover {id}: audit trail intact: {count} events, every hash links, head {}", trail.head);
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("cutover {id}: audit trail BROKEN: {broken}");
            Ok(ExitCode::from(EXIT_BROKEN_CHAIN))
        }
    }
}

fn print_cutovers(cutovers: &[CutoverState]) {
    println!("{:<24} {:<28} {:>5} {:>7}  {:<20}  {:<20}", "cutover", "phase", "step", "weight", "started", "updated");
    for c in cutovers {
        let started = c.started_at.map_or("-".into(), |t| t.to_string());
        println!(
            "{:<24} {:<28} {:>5} {:>7}  {:<20}  {:<20}",
            c.id,
            c.phase.to_string(),
            c.step + 1,
            c.weight.to_string(),
            started,
            c.updated_at.to_string()
        );
    }
}

fn print_events(events: &[Event]) {
    println!("{:>7}  {:<20}  {:<12}  event", "version", "at", "actor");
    for e in events {
        for line in event_lines(e) {
            println!("{line}");
        }
    }
}

/// An event's row, and under an analysis that saw them, each side's hops
/// (where the time went, p50/p99).
fn event_lines(e: &Event) -> Vec<String> {
    let actor = match &e.actor {
        Actor::Controller => "controller".to_owned(),
        Actor::Operator(name) => name.clone(),
    };
    let version = format!("{}.{}", e.version, e.index);
    let mut lines = vec![format!("{version:>7}  {:<20}  {actor:<12}  {}", e.at.to_string(), e.describe())];
    if let EventKind::Analysis { analysis, .. } = &e.kind {
        for (side, hops) in [("legacy", &analysis.hops.legacy), ("serverless", &analysis.hops.serverless)] {
            if !hops.is_empty() {
                lines.push(format!("{:45}    {side:<10}  {}", "", describe_hops(hops)));
            }
        }
        if let Some(from) = &analysis.latency_source {
            lines.push(format!("{:45}    {:<10}  {} against {}", "", "latency", from.legacy, from.serverless));
        }
        for route in &analysis.routes {
            lines.push(format!("{:45}    {:<10}  {}", "", "route", describe_route(route)));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_core::engine::{Decision, HoldReason};
    use cutover_core::judge::{Analysis, Verdict};
    use cutover_core::measure::{Hop, PerSide, RouteFigures, RouteSide, Source, Window};
    use cutover_core::units::{Timestamp, Weight};

    #[test]
    fn an_analysis_shows_where_the_time_went() {
        let at = Timestamp::from_ms(1_795_867_200_000);
        let hop = |name: &str, source: Source, depth: u8, p50: f64, p99: f64| Hop {
            name: name.into(),
            source,
            depth,
            samples: 41,
            p50_ms: Some(p50),
            p99_ms: Some(p99),
        };
        let mut analysis = Analysis::from_checks(Window { from: at, to: at }, PerSide::default(), vec![]);
        analysis.verdict = Verdict::Pass;
        analysis.hops.serverless =
            vec![hop("api_gateway", Source::CloudWatch, 0, 33.2, 56.0), hop("dynamodb", Source::XRay, 1, 6.25, 12.0)];
        analysis.latency_source = Some(PerSide {
            legacy: "cloudwatch: ALB TargetResponseTime".into(),
            serverless: "cloudwatch: API Gateway IntegrationLatency".into(),
        });
        let event = Event {
            cutover_id: "c1".into(),
            version: 7,
            index: 0,
            at,
            actor: Actor::Controller,
            kind: EventKind::Analysis {
                step: 0,
                weight: Weight::ZERO,
                failures: 0,
                analysis,
                decision: Decision::Hold { reason: HoldReason::HoldTime },
            },
            reason: None,
        };
        let lines = event_lines(&event);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let mut routed = event.clone();
        if let EventKind::Analysis { analysis, .. } = &mut routed.kind {
            let side = |traces, faults, p50, p99| RouteSide { traces, faults, p50_ms: Some(p50), p99_ms: Some(p99) };
            analysis.routes = vec![RouteFigures {
                route: "GET /api/reports/{reportId}".into(),
                sides: PerSide { legacy: side(52, 0, 41.0, 120.0), serverless: side(48, 1, 35.0, 240.0) },
            }];
        }
        let with_route = event_lines(&routed);
        assert!(
            with_route[3].ends_with(
                "route       GET /api/reports/{reportId}  legacy 41/120 ms, 0 of 52 failed › serverless 35/240 ms, \
                 1 of 48 failed · p99 ×2.0"
            ),
            "{}",
            with_route[3]
        );
        assert!(
            lines[2].ends_with(
                "latency     cloudwatch: ALB TargetResponseTime against cloudwatch: API Gateway IntegrationLatency"
            ),
            "{}",
            lines[2]
        );
        let event_column = lines[0].find("analysis").unwrap();
        assert_eq!(
            lines[1].find("serverless"),
            Some(event_column + 4),
            "indented under the event:\n{}",
            lines.join("\n")
        );
        assert!(
            lines[1].ends_with("serverless  api_gateway 33/56 ms › dynamodb 6.2/12 ms (41 traces)"),
            "{}",
            lines[1]
        );
    }
}
