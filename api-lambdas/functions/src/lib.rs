//! Runs one [`Function`] as an AWS Lambda function behind API Gateway
//! (HTTP API, payload format 2.0). Each binary in `src/bin/` is one route
//! of `api-lambdas/routes.json` and calls [`main`] with its function.
//!
//! Init does only what the route needs: a DynamoDB client if the contract
//! grants DynamoDB actions, an HTTP client if it calls the backend. Both
//! are made once per process and reused by every invocation.
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
//! | `AWS_ENDPOINT_URL_DYNAMODB` | optional | an emulator, such as moto |
//! | `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG` | optional, info | log filter |

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cutover_api::backend::Trace;
use cutover_api::routes::Function;
use cutover_api::{App, Config, Invocation};
use cutover_api_aws::{DynamoStore, Endpoint, HttpBackend};
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
    #[error("the Lambda runtime stopped: {0}")]
    Runtime(String),
}

/// The whole life of a function process. Logs are JSON lines (CloudWatch
/// Logs reads them as structured events).
pub fn main(function: Function) -> ExitCode {
    init_logs();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(function)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(function = function.name(), error = %e, "function stopped");
            ExitCode::FAILURE
        }
    }
}

/// Builds the app for `function` from the environment and serves
/// invocations until the runtime stops.
pub async fn run(function: Function) -> Result<(), InitError> {
    for name in ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] {
        std::env::var_os(name).ok_or(InitError::NotInLambda(name))?;
    }
    let route = function.route();
    let store = match route.dynamodb.is_empty() {
        true => None,
        false => {
            Some(DynamoStore::connect(&Endpoint::Aws, required("TABLE_NAME", function, "the DynamoDB table")?).await)
        }
    };
    let backend = match route.backend {
        false => None,
        true => {
            let url = required("BACKEND_URL", function, "the existing backend, such as https://backend.internal")?;
            let timeout = Duration::from_millis(number("BACKEND_TIMEOUT_MS", 3000)?);
            let backend = HttpBackend::new(&url, timeout).map_err(|e| InitError::Invalid {
                name: "BACKEND_URL",
                value: url,
                hint: e.to_string(),
            })?;
            Some(backend)
        }
    };
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
    S: cutover_api::store::Store,
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
    use super::same_secret;

    #[test]
    fn only_the_same_secret_passes() {
        assert!(same_secret(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcdeF", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcde", b"0123456789abcdef"));
        assert!(!same_secret(b"", b"0123456789abcdef"));
    }
}
