//! Runs one [`Function`] as an AWS Lambda function behind API Gateway
//! (HTTP API, payload format 2.0). Each binary in `src/bin/` is one route
//! of `api-lambdas/routes.json` and calls [`main`] with its function.
//!
//! Each binary names its ports in its type parameters —
//! `main::<DynamoItemStore, Absent>(Function::GetUserContext)` — so it links
//! only what its contract needs: health neither the AWS SDK nor an HTTP
//! client, get-report no SDK, the DynamoDB routes no HTTP client. Init
//! refuses a binary whose ports disagree with `routes.json`. A port is made
//! once per process and reused by every invocation; both clients share one
//! trust store (`cutover_api_aws::tls`).
//!
//! Environment:
//!
//! | variable | needed by | meaning |
//! |---|---|---|
//! | `TABLE_NAME` | routes with DynamoDB actions | the table Terraform made |
//! | `BACKEND_URL` | routes with `"backend": true` | e.g. `https://backend.internal` |
//! | `BACKEND_TIMEOUT_MS` | optional, 3000 | per backend call, connect to last byte |
//! | `METADATA_TTL_SECONDS` | optional, 300 | how long fetched metadata is served from DynamoDB |
//! | `ORIGIN_SECRET` | optional | when set, only requests carrying it in `x-origin-verify` are served (CloudFront adds it on the API Gateway origin): the API's own endpoint is on the internet |
//! | `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | routes with DynamoDB actions | set by Lambda |
//! | `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`) | optional | an emulator, such as moto |
//! | `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG` | optional, info | log filter |

#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cutover_api::backend::{Backend, Trace};
use cutover_api::routes::Function;
use cutover_api::store::ItemStore;
pub use cutover_api::Absent;
use cutover_api::{App, Config, Invocation};
pub use cutover_api_aws::{DynamoItemStore, HttpBackend};
use lambda_http::{Body, Request, RequestExt, Response};

/// What can stop a function before it serves anything. Each names the
/// variable and what to set it to.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} is not set: this binary runs inside AWS Lambda (or a Runtime API stand-in); to serve the routes on this machine run api-local")]
    NotInLambda(&'static str),
    #[error("{name} is not set: the {function} function needs it ({hint})")]
    Missing { name: &'static str, function: &'static str, hint: &'static str },
    #[error("{name}={value:?} is not valid: {hint}")]
    Invalid { name: &'static str, value: String, hint: String },
    #[error("this binary is built {built}, but api-lambdas/routes.json says the {function} function {contract}: change its src/bin/{function}.rs to match")]
    Contract { function: &'static str, built: String, contract: String },
    #[error("the Lambda runtime stopped: {0}")]
    Runtime(String),
}

/// One of a function's ports (its store, its backend), made from the
/// environment once, at init.
pub trait Port: Sized {
    /// Whether the port reaches anything (the contract must agree).
    const PRESENT: bool;
    fn init(function: Function) -> impl Future<Output = Result<Self, InitError>>;
}

impl Port for Absent {
    const PRESENT: bool = false;
    async fn init(_: Function) -> Result<Absent, InitError> {
        Ok(Absent)
    }
}

impl Port for DynamoItemStore {
    const PRESENT: bool = true;
    async fn init(function: Function) -> Result<DynamoItemStore, InitError> {
        let table = required("TABLE_NAME", function, "the DynamoDB table")?;
        // A backend over TLS too: both clients take the one trust store.
        let share_roots =
            function.route().backend && std::env::var("BACKEND_URL").is_ok_and(|url| url.starts_with("https://"));
        DynamoItemStore::for_lambda(table, share_roots).map_err(|hint| InitError::Invalid {
            name: "AWS_REGION",
            value: String::new(),
            hint,
        })
    }
}

impl Port for HttpBackend {
    const PRESENT: bool = true;
    async fn init(function: Function) -> Result<HttpBackend, InitError> {
        let url = required("BACKEND_URL", function, "the existing backend, such as https://backend.internal")?;
        let timeout = Duration::from_millis(number("BACKEND_TIMEOUT_MS", 3000)?);
        HttpBackend::new(&url, timeout).map_err(|e| InitError::Invalid {
            name: "BACKEND_URL",
            value: url,
            hint: e.to_string(),
        })
    }
}

/// The whole life of a function process, with store `S` and backend `B`
/// ([`Absent`] for one its contract does not give it). Logs are JSON lines
/// (CloudWatch Logs reads them as structured events).
pub fn main<S: Port + ItemStore, B: Port + Backend>(function: Function) -> ExitCode {
    init_logs();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::<S, B>(function)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(function = function.name(), error = %e, "function stopped");
            ExitCode::FAILURE
        }
    }
}

/// Builds the app for `function` from the environment and serves
/// invocations until the runtime stops.
pub async fn run<S: Port + ItemStore, B: Port + Backend>(function: Function) -> Result<(), InitError> {
    ports_agree::<S, B>(function)?;
    for name in ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] {
        std::env::var_os(name).ok_or(InitError::NotInLambda(name))?;
    }
    let store = S::init(function).await?;
    let backend = B::init(function).await?;
    let config = Config {
        only: Some(function),
        metadata_ttl: Duration::from_secs(number("METADATA_TTL_SECONDS", 300)?),
        ..Config::default()
    };
    let app = App::new(store, backend, config);
    let cold = AtomicBool::new(true);
    let origin_secret = std::env::var("ORIGIN_SECRET").ok().filter(|s| !s.is_empty());
    if origin_secret.as_ref().is_some_and(|s| s.len() < 16) {
        return Err(InitError::Invalid {
            name: "ORIGIN_SECRET",
            value: "(withheld)".into(),
            hint: "give at least 16 characters, or leave it unset".into(),
        });
    }
    tracing::info!(function = function.name(), origin_checked = origin_secret.is_some(), "ready");
    let origin_secret = origin_secret.as_deref();
    let handler = lambda_http::service_fn(|event: Request| invoke(&app, &cold, origin_secret, event));
    lambda_http::run(handler).await.map_err(|e| InitError::Runtime(e.to_string()))
}

/// A binary's ports are those its route's contract names: a store when it
/// grants DynamoDB actions, a backend when it says `"backend": true`.
pub fn ports_agree<S: Port, B: Port>(function: Function) -> Result<(), InitError> {
    let route = function.route();
    let contract = (!route.dynamodb.is_empty(), route.backend);
    if (S::PRESENT, B::PRESENT) == contract {
        return Ok(());
    }
    let words = |(store, backend): (bool, bool)| {
        format!(
            "{} DynamoDB and {} backend",
            if store { "with" } else { "without" },
            if backend { "with a" } else { "without a" }
        )
    };
    Err(InitError::Contract {
        function: function.name(),
        built: words((S::PRESENT, B::PRESENT)),
        contract: format!("runs {}", words(contract)),
    })
}

/// The header CloudFront adds on the API Gateway origin, and the one
/// callers who skip CloudFront cannot know.
pub const ORIGIN_HEADER: &str = "x-origin-verify";

/// `presented == secret`, in time that does not depend on where they differ.
fn same_secret(presented: &[u8], secret: &[u8]) -> bool {
    presented.len() == secret.len() && presented.iter().zip(secret).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
}

async fn invoke<S, B>(
    app: &App<S, B>,
    cold: &AtomicBool,
    origin_secret: Option<&str>,
    event: Request,
) -> Result<Response<Body>, Infallible>
where
    S: cutover_api::store::ItemStore,
    B: cutover_api::backend::Backend,
{
    let context = event.lambda_context_ref();
    let request_id = context.map(|c| c.request_id.clone()).unwrap_or_default();
    let trace_id = context
        .and_then(|c| c.xray_trace_id.clone())
        .or_else(|| std::env::var("_X_AMZN_TRACE_ID").ok())
        .or_else(|| event.headers().get("x-amzn-trace-id").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let invocation =
        Invocation { trace: Trace { request_id, trace_id }, cold_start: cold.swap(false, Ordering::Relaxed) };
    if let Some(secret) = origin_secret {
        let presented = event.headers().get(ORIGIN_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !same_secret(presented, secret.as_bytes()) {
            let refused = cutover_api::ApiError::new(
                http::StatusCode::FORBIDDEN,
                "forbidden",
                "this API is served through its CloudFront distribution; call it there",
            );
            let (parts, body) = app.reject(refused, &invocation).into_parts();
            return Ok(Response::from_parts(parts, Body::Text(String::from_utf8_lossy(&body).into_owned())));
        }
    }
    let (parts, body) = event.into_parts();
    let body = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let response = app.handle(http::Request::from_parts(parts, body), &invocation).await;
    let (parts, body) = response.into_parts();
    // Every answer is JSON text, so it goes back as text, not base64.
    Ok(Response::from_parts(parts, Body::Text(String::from_utf8_lossy(&body).into_owned())))
}

fn required(name: &'static str, function: Function, hint: &'static str) -> Result<String, InitError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(InitError::Missing { name, function: function.name(), hint }),
    }
}

fn number(name: &'static str, default: u64) -> Result<u64, InitError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value.trim().parse().map_err(|_| InitError::Invalid {
            name,
            value,
            hint: format!("give a whole number (default {default})"),
        }),
    }
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(|level| level.to_ascii_lowercase())
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stdout)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_whose_ports_disagree_with_its_contract_does_not_start() {
        assert!(ports_agree::<Absent, Absent>(Function::Health).is_ok());
        assert!(ports_agree::<DynamoItemStore, Absent>(Function::GetUserContext).is_ok());
        assert!(ports_agree::<Absent, HttpBackend>(Function::GetReport).is_ok());
        assert!(ports_agree::<DynamoItemStore, HttpBackend>(Function::GetMetadata).is_ok());
        let refused = ports_agree::<Absent, Absent>(Function::GetMetadata).unwrap_err().to_string();
        assert_eq!(
            refused,
            "this binary is built without DynamoDB and without a backend, but api-lambdas/routes.json says the \
             get-metadata function runs with DynamoDB and with a backend: change its src/bin/get-metadata.rs to match"
        );
        assert!(ports_agree::<DynamoItemStore, Absent>(Function::Health).is_err());
    }

    #[test]
    fn only_the_same_secret_passes() {
        assert!(same_secret(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcdeF", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcde", b"0123456789abcdef"));
        assert!(!same_secret(b"", b"0123456789abcdef"));
    }
}
