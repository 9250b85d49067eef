//! `cutover report ID`: one cutover as a self-contained HTML file for a
//! change record — the dashboard's own page with the cutover's data inside
//! (the plan, the charts, the before/after table per step, the hops, the
//! cost, every event of the trail and its hash chain's head). It opens
//! offline: no request leaves it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use crate::client::{Client, ServerArgs};
use crate::failure::Failure;
use crate::series::Series;
use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};
use crate::view::CutoverView;
use cutover_core::engine::{Event, EventKind};
use cutover_core::store::Store;

#[derive(Args)]
pub struct ReportArgs {
    /// The cutover (finished or running).
    pub id: String,
    /// Where to write it; `-` for standard output. Default: cutover-report-ID.html here.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What the report's page draws.
#[derive(Serialize)]
pub struct ReportData {
    /// When it was written (RFC 3339, UTC).
    pub generated_at: String,
    pub view: CutoverView,
    pub series: Series,
    /// The plan it ran, as stored.
    pub plan: String,
}

pub async fn run(args: &ReportArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let data = match Client::from_args(&args.server)? {
        Some(client) => {
            let view = client.get(&args.id).await?;
            let series = client.series(&args.id, None).await?;
            let plan = client.plan(&args.id).await?.toml;
            // Everything of the trail, not the page's newest lines.
            ReportData { generated_at: cutover_runtime::system_now().to_string(), view, series, plan }
        }
        None => {
            let at = &args.store;
            let Some(store) = AnyStore::open(at, Open::Existing, aws).await? else {
                return Err(Failure::input(format!("no store at {at}; pass --store (or set CUTOVER_STORE)")));
            };
            match from_store(&store, &args.id, usize::MAX).await? {
                Some(data) => data,
                None => {
                    return Err(Failure::input(format!("no cutover {} in {at}; `cutover history` lists them", args.id)))
                }
            }
        }
    };
    match args.out.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            print!("{}", crate::page::report(&data).context("encode the report")?);
        }
        out => {
            let path = out.map_or_else(|| default_path(&args.id), PathBuf::from);
            eprintln!("{}", write(&data, &path)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cutover-report-ID.html`.
pub fn default_path(id: &str) -> PathBuf {
    PathBuf::from(format!("cutover-report-{id}.html"))
}

/// The report's data read from a store; `None` when it has no such cutover.
/// The report's data read from a store, with the trail's newest `recent`
/// lines (`usize::MAX`: all); `None` when it has no such cutover. One read
/// of the trail serves the series and the view's latest analysis.
pub async fn from_store(store: &AnyStore, id: &str, recent: usize) -> Result<Option<ReportData>, Failure> {
    let Some(stored) = store.load(id).await? else { return Ok(None) };
    let trail = store.trail(id).await?.unwrap_or_else(|| cutover_core::audit::Trail {
        head: cutover_core::audit::GENESIS.into(),
        records: Vec::new(),
    });
    let latest = trail
        .records
        .iter()
        .rev()
        .filter_map(|r| serde_json::from_str::<Event>(&r.body).ok())
        .find(|e| matches!(e.kind, EventKind::Analysis { .. }));
    Ok(Some(ReportData {
        generated_at: cutover_runtime::system_now().to_string(),
        view: CutoverView::new(&stored, latest.as_ref()),
        series: Series::build(&stored, &trail, recent),
        plan: shareable_plan(&stored.plan),
    }))
}

/// A plan as it may be shown to anyone who may read the cutover: its
/// webhooks' addresses cut to scheme and host (a Slack incoming webhook's
/// path is its password).
pub fn shareable_plan(text: &str) -> String {
    let Ok(plan) = cutover_core::plan::Plan::parse_stored(text) else { return text.to_owned() };
    plan.notify.webhooks.iter().fold(text.to_owned(), |text, hook| match url::Url::parse(hook) {
        Ok(url) => {
            text.replace(hook, &format!("{}://{}/… (path withheld)", url.scheme(), url.host_str().unwrap_or("")))
        }
        Err(_) => text.replace(hook, "(withheld)"),
    })
}

/// Writes the report to `path`: to a file of its own beside it, synced,
/// then renamed over it, so a report is whole or absent.
pub fn write(data: &ReportData, path: &Path) -> Result<String, Failure> {
    use std::io::Write as _;
    let html = crate::page::report(data).context("encode the report")?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = PathBuf::from(partial);
    let written = std::fs::File::create(&partial)
        .and_then(|mut file| file.write_all(html.as_bytes()).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&partial, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(anyhow::anyhow!("write {}: {e}", path.display()).into());
    }
    let chain = &data.series.chain;
    Ok(format!(
        "wrote {} ({} KB, opens offline): {} steps, {} analyses, {} events, hash chain {} (head {})",
        path.display(),
        html.len() / 1024,
        data.series.steps.len(),
        data.series.analyses.at_ms.len(),
        chain.events,
        if chain.intact { "intact" } else { "BROKEN" },
        chain.head
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_plan_withholds_its_webhooks_paths() {
        let hook = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        let plan = cutover_core::plan::DEFAULT_PLAN.replace("webhooks = []", &format!("webhooks = [\"{hook}\"]"));
        let shared = shareable_plan(&plan);
        assert!(!shared.contains("XXXXSECRET") && !shared.contains("/services/"), "{shared}");
        assert!(shared.contains("webhooks = [\"https://hooks.slack.com/… (path withheld)\"]"), "{shared}");
        assert_eq!(shared.len() + hook.len(), plan.len() + "https://hooks.slack.com/… (path withheld)".len());
        // Nothing else changes; a plan without webhooks is as stored.
        assert_eq!(shareable_plan(cutover_core::plan::DEFAULT_PLAN), cutover_core::plan::DEFAULT_PLAN);
    }
}
