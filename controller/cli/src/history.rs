//! `cutover history [ID]`: the cutovers in the store, or one cutover's
//! audit trail, as a table or as JSON for scripts.

use std::process::ExitCode;

use anyhow::Context;
use cutover_core::engine::{Actor, CutoverState, Event, EventKind};
use cutover_core::measure::describe_hops;
use cutover_core::store::Store;

use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};
use crate::EXIT_INPUT;

/// Exit code of `history --verify` when the hash chain is broken.
pub const EXIT_TAMPERED: u8 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub fn run(
    at: &StoreAt,
    aws: &EndpointArgs,
    id: Option<&str>,
    output: Output,
    verify: bool,
) -> anyhow::Result<ExitCode> {
    let store_path = at;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the runtime")?;
    runtime.block_on(async {
        let Some(store) = AnyStore::open(at, Open::Existing, aws).await? else {
            eprintln!(
                "error: no store at {at}: a cutover run writes one there; pass --store (or set CUTOVER_STORE) to read another"
            );
            return Ok(ExitCode::from(EXIT_INPUT));
        };
        if let (Some(id), true) = (id, verify) {
            return verify_trail(&store, at, id).await;
        }
        match id {
            None => {
                let cutovers = store.list().await?;
                match output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(&cutovers)?),
                    Output::Table if cutovers.is_empty() => println!("no cutovers in {store_path}"),
                    Output::Table => print_cutovers(&cutovers),
                }
            }
            Some(id) => {
                if store.load(id).await?.is_none() {
                    eprintln!("error: no cutover {id} in {store_path}; `cutover history` lists them");
                    return Ok(ExitCode::from(EXIT_INPUT));
                }
                let events = store.history(id).await?;
                match output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(&events)?),
                    Output::Table => print_events(&events),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Recomputes every link of the trail's hash chain and checks the head.
async fn verify_trail(store: &AnyStore, at: &StoreAt, id: &str) -> anyhow::Result<ExitCode> {
    let Some(trail) = store.trail(id).await? else {
        eprintln!("error: no cutover {id} in {at}; `cutover history` lists them");
        return Ok(ExitCode::from(EXIT_INPUT));
    };
    match cutover_core::audit::verify(&trail) {
        Ok(count) => {
            println!("cutover {id}: audit trail intact: {count} events, every hash links, head {}", trail.head);
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("cutover {id}: audit trail BROKEN: {broken}");
            Ok(ExitCode::from(EXIT_TAMPERED))
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
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_core::engine::{Decision, HoldReason};
    use cutover_core::judge::{Analysis, Verdict};
    use cutover_core::measure::{Hop, PerSide, Window};
    use cutover_core::units::{Timestamp, Weight};

    #[test]
    fn an_analysis_shows_where_the_time_went() {
        let at = Timestamp::from_ms(1_795_867_200_000);
        let hop = |name: &str, source: &str, depth: u8, p50: f64, p99: f64| Hop {
            name: name.into(),
            source: source.into(),
            depth,
            samples: 41,
            p50_ms: Some(p50),
            p99_ms: Some(p99),
        };
        let mut analysis = Analysis::from_checks(Window { from: at, to: at }, PerSide::default(), vec![]);
        analysis.verdict = Verdict::Pass;
        analysis.hops.serverless =
            vec![hop("api_gateway", "cloudwatch", 0, 33.2, 56.0), hop("dynamodb", "xray", 1, 6.25, 12.0)];
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
        assert_eq!(lines.len(), 2, "{lines:#?}");
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
