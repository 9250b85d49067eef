//! `api-local`: every route of `api-lambdas/routes.json` served by one HTTP
//! server, running the same handlers as the Lambda functions, over an
//! in-memory store or DynamoDB (AWS or an emulator). For the local demo,
//! the tests and development. Settings can come from the same environment
//! variables the functions read.

mod faults;

use std::convert::Infallible;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use cutover_api::backend::Trace;
use cutover_api::store::{Expect, Item, Key, MemoryStore, Store, StoreError};
use cutover_api::{domain, ApiError, App, Config, Invocation, TRACE_ID};
use cutover_api_aws::{DynamoStore, Endpoint, HttpBackend};
use faults::{Fate, FaultState, Faults};
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreKind {
    Memory,
    Dynamodb,
}

/// The two stores this server can run over.
enum AnyStore {
    Memory(MemoryStore),
    Dynamo(DynamoStore),
}

impl Store for AnyStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        match self {
            AnyStore::Memory(s) => s.get(key).await,
            AnyStore::Dynamo(s) => s.get(key).await,
        }
    }

    async fn put(&self, key: &Key, item: &Item, expect: Expect) -> Result<(), StoreError> {
        match self {
            AnyStore::Memory(s) => s.put(key, item, expect).await,
            AnyStore::Dynamo(s) => s.put(key, item, expect).await,
        }
    }
}

type LocalApp = App<AnyStore, Option<HttpBackend>>;

/// What every connection shares.
struct Server {
    app: LocalApp,
    faults: FaultState,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
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
        StoreKind::Memory => AnyStore::Memory(MemoryStore::new()),
        StoreKind::Dynamodb => {
            let endpoint = args.dynamodb_endpoint.clone().map_or(Endpoint::Aws, Endpoint::Url);
            let store = DynamoStore::connect(&endpoint, &args.table).await;
            if args.create_table {
                store.create_table().await.with_context(|| format!("create table {}", args.table))?;
            }
            AnyStore::Dynamo(store)
        }
    };
    let config = Config {
        side: args.side.clone(),
        metadata_ttl: Duration::from_secs(args.metadata_ttl_seconds),
        ..Config::default()
    };
    let server = Arc::new(Server { app: App::new(store, backend, config), faults: FaultState::new(faults) });
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // The one line on stdout: scripts and tests read the address from it.
    println!("api-local listening on http://{address}");
    tracing::info!(%address, store = ?args.store, side = %args.side, "listening");

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let server = server.clone();
                let service = service_fn(move |request| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(answer(&server, request).await) }
                });
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after 10 s; stopping anyway");
    }
    Ok(())
}

async fn answer(server: &Server, request: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let app = &server.app;
    let trace_id = request.headers().get(TRACE_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut invocation = Invocation { trace: Trace { request_id: next_request_id(), trace_id }, cold_start: false };
    if request.uri().path() == "/_faults" {
        return faults_admin(server, request).await;
    }
    match server.faults.decide() {
        Fate::Outage => {
            let outage = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "outage", "this side is down (fault injected)");
            return app.reject(outage, &invocation).map(Full::new);
        }
        Fate::Error => {
            let error =
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "injected_error", "a fault injected on purpose");
            return app.reject(error, &invocation).map(Full::new);
        }
        Fate::Serve { delay, cold } => {
            invocation.cold_start = cold;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }
    let (parts, body) = request.into_parts();
    let response = match Limited::new(body, domain::MAX_BODY_BYTES).collect().await {
        Ok(body) => app.handle(http::Request::from_parts(parts, body.to_bytes()), &invocation).await,
        Err(e) => {
            let error = if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("a request body is at most {} bytes", domain::MAX_BODY_BYTES),
                )
            } else {
                ApiError::bad_request("invalid_body", format!("the request body could not be read: {e}"))
            };
            app.reject(error, &invocation)
        }
    };
    response.map(Full::new)
}

/// `GET /_faults` shows the knobs; `PUT /_faults` with a JSON object sets
/// them all (fields left out are 0 / off).
async fn faults_admin(server: &Server, request: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let json = |status: StatusCode, body: String| {
        let mut response = http::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        response
    };
    let invalid = |message: String| {
        json(StatusCode::BAD_REQUEST, serde_json::json!({"error": "invalid_faults", "message": message}).to_string())
    };
    match request.method().as_str() {
        "GET" => json(StatusCode::OK, serde_json::to_string(&server.faults.get()).unwrap_or_default()),
        "PUT" => {
            let body = match Limited::new(request.into_body(), 4096).collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) => return invalid(format!("the body could not be read: {e}")),
            };
            let faults: Faults = match serde_json::from_slice(&body) {
                Ok(faults) => faults,
                Err(e) => return invalid(format!("{e}; fields: latency_ms, error_rate, outage, cold_start_rate, cold_start_ms")),
            };
            if let Err(problem) = faults.check() {
                return invalid(problem);
            }
            tracing::info!(?faults, "faults set");
            server.faults.set(faults.clone());
            json(StatusCode::OK, serde_json::to_string(&faults).unwrap_or_default())
        }
        other => json(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({"error": "method_not_allowed", "message": format!("/_faults takes GET, PUT, not {other}")})
                .to_string(),
        ),
    }
}

/// `local-<process start>-<n>`: unique across restarts, ordered within one.
fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    });
    format!("local-{:x}-{}", *START, NEXT.fetch_add(1, Ordering::Relaxed))
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

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
