//! `api-local`: every route of `api-lambdas/routes.json` served by one HTTP
//! server, running the same handlers as the Lambda functions, over an
//! in-memory store or DynamoDB (AWS or an emulator), for development and
//! the tests. Settings can come from the same environment variables the
//! functions read. The serving itself, with its fault knobs, is
//! `cutover-api-server`, which `cutover origin` also runs for the demo.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use cutover_api::store::{Expect, Item, ItemStore, ItemStoreError, Key, MemoryItemStore};
use cutover_api::{App, Config};
use cutover_api_aws::{DynamoItemStore, Endpoint, HttpBackend};
use cutover_api_server::{Faults, Server};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(name = "api-local", version, about = "Serve every route of the serverless side on one HTTP server")]
struct Args {
    /// Address to listen on (port 0 picks a free one; the chosen address is
    /// printed as `listening on http://...`).
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// Where items are kept.
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    store: StoreKind,
    /// DynamoDB table (with --store dynamodb).
    #[arg(long, env = "TABLE_NAME", default_value = "cutover-api")]
    table: String,
    /// DynamoDB endpoint URL, for an emulator such as moto (with --store
    /// dynamodb). Without it, AWS with the standard credential chain.
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    dynamodb_endpoint: Option<String>,
    /// Create the table if it is missing (for emulators; in AWS, Terraform
    /// owns the table).
    #[arg(long)]
    create_table: bool,
    /// The existing backend, for metadata and reports; without it those
    /// routes answer 502.
    #[arg(long, env = "BACKEND_URL")]
    backend_url: Option<String>,
    /// Timeout of each backend call, connect to last byte.
    #[arg(long, env = "BACKEND_TIMEOUT_MS", default_value_t = 3000)]
    backend_timeout_ms: u64,
    /// How long fetched metadata is served from the store.
    #[arg(long, env = "METADATA_TTL_SECONDS", default_value_t = 300)]
    metadata_ttl_seconds: u64,
    /// The `x-served-by` value of every answer.
    #[arg(long, default_value = "serverless")]
    side: String,
    /// Fault knob: median added latency, ms (also `PUT /_faults` at run time).
    #[arg(long, default_value_t = 0.0)]
    latency_ms: f64,
    /// Fault knob: share of requests answered 500, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fault knob: share of requests that are cold starts (marked x-cold-start: 1), 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    cold_start_rate: f64,
    /// Fault knob: the extra latency of a cold start, ms.
    #[arg(long, default_value_t = 250.0)]
    cold_start_ms: f64,
    /// Print the route contract as an OpenAPI 3.0 document (generated from
    /// routes.json) and exit.
    #[arg(long)]
    openapi: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreKind {
    Memory,
    Dynamodb,
}

/// The two stores this server can run over.
enum AnyItemStore {
    Memory(MemoryItemStore),
    Dynamo(DynamoItemStore),
}

impl ItemStore for AnyItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, ItemStoreError> {
        match self {
            AnyItemStore::Memory(s) => s.get(key).await,
            AnyItemStore::Dynamo(s) => s.get(key).await,
        }
    }

    async fn put(&self, key: &Key, item: &Item, expect: Expect) -> Result<(), ItemStoreError> {
        match self {
            AnyItemStore::Memory(s) => s.put(key, item, expect).await,
            AnyItemStore::Dynamo(s) => s.put(key, item, expect).await,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.openapi {
        let doc = serde_json::to_string_pretty(&cutover_api::openapi::document()).unwrap_or_default();
        println!("{doc}");
        return ExitCode::SUCCESS;
    }
    cutover_base::logs::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let faults = Faults {
        latency_ms: args.latency_ms,
        error_rate: args.error_rate,
        outage: false,
        cold_start_rate: args.cold_start_rate,
        cold_start_ms: args.cold_start_ms,
    };
    if let Err(problem) = faults.check() {
        anyhow::bail!("--{}", problem.replacen('_', "-", 2).replacen(" = ", " ", 1));
    }
    let backend = match &args.backend_url {
        Some(url) => {
            Some(HttpBackend::new(url, Duration::from_millis(args.backend_timeout_ms)).context("--backend-url")?)
        }
        None => None,
    };
    let store = match args.store {
        StoreKind::Memory => AnyItemStore::Memory(MemoryItemStore::new()),
        StoreKind::Dynamodb => {
            let endpoint = args.dynamodb_endpoint.clone().map_or(Endpoint::Aws, Endpoint::Url);
            let store = DynamoItemStore::connect(&endpoint, &args.table).await;
            if args.create_table {
                store.create_table().await.with_context(|| format!("create table {}", args.table))?;
            }
            AnyItemStore::Dynamo(store)
        }
    };
    let config = Config {
        side: args.side.clone(),
        metadata_ttl: Duration::from_secs(args.metadata_ttl_seconds),
        ..Config::default()
    };
    let server = Arc::new(Server::new(App::new(store, backend, config), faults));
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the address from it.
    println!("api-local listening on http://{address}");
    tracing::info!(%address, store = ?args.store, side = %args.side, "listening");

    cutover_api_server::serve(listener, server, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}
