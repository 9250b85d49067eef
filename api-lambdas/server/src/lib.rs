//! The serverless side's handlers served over HTTP with hyper, over any
//! store and backend, with fault knobs: the engine of `api-local` (which
//! adds DynamoDB) and of `cutover origin` (the local demo's two origins).
//! No AWS SDK here.

#![forbid(unsafe_code)]

mod faults;

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cutover_api::backend::{Backend, Trace};
use cutover_api::store::ItemStore;
use cutover_api::{domain, ApiError, App, Invocation, TRACE_ID};
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::net::TcpListener;

pub use cutover_listen::Limits;
pub use faults::{Fate, FaultState, Faults};

/// What every connection shares: the handlers, the fault knobs and the
/// bounds on connections.
pub struct Server<S, B> {
    pub app: App<S, B>,
    pub faults: FaultState,
    pub limits: Limits,
}

impl<S: ItemStore, B: Backend> Server<S, B> {
    pub fn new(app: App<S, B>, faults: Faults) -> Server<S, B> {
        Server { app, faults: FaultState::new(faults), limits: Limits::default() }
    }
}

/// Serves `server` on `listener` until `shutdown` completes, then lets
/// requests in flight finish (for up to [`cutover_listen::DRAIN`]). A
/// request hyper could not read is refused like any other, in the side's
/// own words (its error body, its `x-served-by`).
pub async fn serve<S: ItemStore, B: Backend>(
    listener: TcpListener,
    server: Arc<Server<S, B>>,
    shutdown: impl Future<Output = ()>,
) {
    let refusing = server.clone();
    let listener = cutover_listen::Listener::new(listener, server.limits).refusing(move |refusal| {
        let invocation =
            Invocation { trace: Trace { request_id: next_request_id(), trace_id: None }, cold_start: false };
        let error = ApiError::new(refusal.status, refusal.code, refusal.message.clone());
        refusing.app.reject(error, &invocation)
    });
    let make = |_peer| {
        let server = server.clone();
        service_fn(move |request| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(answer(&server, request).await) }
        })
    };
    listener.serve(make, shutdown).await;
}

/// Answers one request, and says where its time went in `Server-Timing`:
/// `origin` (all of it, the injected latency included) and `handler` (the
/// handlers' own work). The local edge turns these into the hops of the
/// dashboard's waterfall.
async fn answer<S: ItemStore, B: Backend>(
    server: &Server<S, B>,
    request: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let app = &server.app;
    let trace_id = request.headers().get(TRACE_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut invocation = Invocation { trace: Trace { request_id: next_request_id(), trace_id }, cold_start: false };
    if request.uri().path() == "/_faults" {
        return faults_admin(server, request).await;
    }
    match server.faults.decide() {
        Fate::Outage => {
            let outage = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "outage", "this side is down (fault injected)");
            return timed(app.reject(outage, &invocation).map(Full::new), started, None);
        }
        Fate::Error => {
            let error =
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "injected_error", "a fault injected on purpose");
            return timed(app.reject(error, &invocation).map(Full::new), started, None);
        }
        Fate::Serve { delay, cold } => {
            invocation.cold_start = cold;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }
    let (parts, body) = request.into_parts();
    let handling = std::time::Instant::now();
    let read = tokio::time::timeout(server.limits.body_timeout, Limited::new(body, domain::MAX_BODY_BYTES).collect());
    let response = match read.await {
        Ok(Ok(body)) => app.handle(http::Request::from_parts(parts, body.to_bytes()), &invocation).await,
        Err(_) => {
            let error = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body did not arrive within {} s", server.limits.body_timeout.as_secs_f64()),
            );
            app.reject(error, &invocation)
        }
        Ok(Err(e)) => {
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
    let handler = handling.elapsed();
    timed(response.map(Full::new), started, Some(handler))
}

/// `response` with its `Server-Timing`.
fn timed<T>(
    mut response: http::Response<T>,
    started: std::time::Instant,
    handler: Option<Duration>,
) -> http::Response<T> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let timing = match handler {
        Some(handler) => format!("origin;dur={:.3}, handler;dur={:.3}", ms(started.elapsed()), ms(handler)),
        None => format!("origin;dur={:.3}", ms(started.elapsed())),
    };
    if let Ok(value) = http::HeaderValue::from_str(&timing) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// `GET /_faults` shows the knobs; `PUT /_faults` with a JSON object sets
/// them all (fields left out are 0 / off).
async fn faults_admin<S: ItemStore, B: Backend>(
    server: &Server<S, B>,
    request: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
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
    static START: std::sync::LazyLock<u64> = std::sync::LazyLock::new(cutover_base::clock::unix_ms);
    format!("local-{:x}-{}", *START, NEXT.fetch_add(1, Ordering::Relaxed))
}
