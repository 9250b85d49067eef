//! `cutover history [ID]`: the cutovers in the store, or one cutover's
//! audit trail, as a table or as JSON for scripts.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use cutover_core::engine::{Actor, CutoverState, Event};
use cutover_core::store::Store;
use cutover_local::SqliteStore;

use crate::EXIT_INPUT;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub fn run(store_path: &Path, id: Option<&str>, output: Output) -> anyhow::Result<ExitCode> {
    if !store_path.exists() {
        eprintln!(
            "error: no store at {}: a cutover run writes one there; pass --store (or set CUTOVER_STORE) to read another",
            store_path.display()
        );
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    let store = SqliteStore::open_existing(store_path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the runtime")?;
    runtime.block_on(async {
        match id {
            None => {
                let cutovers = store.list().await?;
                match output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(&cutovers)?),
                    Output::Table if cutovers.is_empty() => println!("no cutovers in {}", store_path.display()),
                    Output::Table => print_cutovers(&cutovers),
                }
            }
            Some(id) => {
                if store.load(id).await?.is_none() {
                    eprintln!("error: no cutover {id} in {}; `cutover history` lists them", store_path.display());
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
        let actor = match &e.actor {
            Actor::Controller => "controller".to_owned(),
            Actor::Operator(name) => name.clone(),
        };
        println!(
            "{:>7}  {:<20}  {:<12}  {}",
            format!("{}.{}", e.version, e.index),
            e.at.to_string(),
            actor,
            e.describe()
        );
    }
}
