//! The handlers: one per [`Function`], over any [`ItemStore`] and [`Backend`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH};
use http::{HeaderMap, Request, Response, StatusCode};
use tracing::Instrument;

use crate::backend::{Backend, BackendError, Trace};
use crate::domain;
use crate::error::ApiError;
use crate::routes::{self, Function, Lookup, Route};
use crate::store::{Entity, Expect, Item, ItemStore, ItemStoreError, Key};

/// Names the side that answered: the controller checks the edge split by it.
pub const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
/// `1` on the first answer of a fresh process (a Lambda cold start).
pub const COLD_START: HeaderName = HeaderName::from_static("x-cold-start");
/// `hit`, `miss` or `stale` on metadata answers.
pub const CACHE: HeaderName = HeaderName::from_static("x-cache");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The X-Ray trace header, passed on to the backend.
pub const TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

#[derive(Debug, Clone)]
pub struct Config {
    /// The `x-served-by` value.
    pub side: String,
    /// How long a metadata item fetched from the backend is served from the
    /// store before it is fetched again.
    pub metadata_ttl: Duration,
    /// A Lambda function serves only its own route; the local server, all.
    pub only: Option<Function>,
    /// Unix seconds now (a parameter so tests can move time).
    pub clock: fn() -> u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            side: routes::contract().side.clone(),
            metadata_ttl: Duration::from_secs(300),
            only: None,
            clock: unix_now,
        }
    }
}

/// Seconds since the Unix epoch (the items' `updated_at`, cache expiry).
pub fn unix_now() -> u64 {
    cutover_base::clock::unix_ms() / 1000
}

/// One request's identity, from the runtime that received it.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub trace: Trace,
    /// This is the process's first request.
    pub cold_start: bool,
}

pub struct App<S, B> {
    store: S,
    backend: B,
    config: Config,
}

/// A success, before headers.
struct Reply {
    status: StatusCode,
    body: String,
    etag: Option<u64>,
    cache: Option<&'static str>,
}

impl Reply {
    fn ok(body: String) -> Reply {
        Reply { status: StatusCode::OK, body, etag: None, cache: None }
    }
}

impl<S: ItemStore, B: Backend> App<S, B> {
    pub fn new(store: S, backend: B, config: Config) -> App<S, B> {
        App { store, backend, config }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Answers one request. Never fails: every error is an answer.
    pub async fn handle(&self, request: Request<Bytes>, invocation: &Invocation) -> Response<Bytes> {
        let trace = &invocation.trace;
        let span = tracing::info_span!(
            "request",
            request_id = %trace.request_id,
            trace_id = trace.trace_id.as_deref().unwrap_or_default(),
        );
        async {
            let started = Instant::now();
            let (function, result) = self.dispatch(&request, trace).await;
            let response = self.render(result, invocation);
            let status = response.status().as_u16();
            let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            let function = function.map_or("none", Function::name);
            let (method, path) = (request.method().as_str(), request.uri().path());
            if status >= 500 {
                tracing::warn!(function, method, path, status, elapsed_ms, "answered");
            } else {
                tracing::info!(function, method, path, status, elapsed_ms, "answered");
            }
            response
        }
        .instrument(span)
        .await
    }

    /// The answer to a request refused before it reached a handler (for
    /// example by a server's body limit), in the same shape as any other.
    pub fn reject(&self, error: ApiError, invocation: &Invocation) -> Response<Bytes> {
        self.render(Err(error), invocation)
    }

    async fn dispatch(&self, request: &Request<Bytes>, trace: &Trace) -> (Option<Function>, Result<Reply, ApiError>) {
        let (method, path) = (request.method(), request.uri().path());
        let (route, params) = match routes::lookup(method, path) {
            Lookup::Found(route, params) => (route, params),
            Lookup::MethodNotAllowed(allowed) => {
                let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
                let mut e = ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{path} takes {allow}, not {method}"),
                );
                e.allow = Some(allow);
                return (None, Err(e));
            }
            Lookup::BadEncoding(name) => {
                let e = ApiError::bad_request("invalid_id", format!("{name} is not valid percent-encoded UTF-8"));
                return (None, Err(e));
            }
            Lookup::NotFound => return (None, Err(ApiError::not_found(format!("no route matches {method} {path}")))),
        };
        let function = route.function;
        if let Some(only) = self.config.only.filter(|only| *only != function) {
            let own = only.route();
            let e = ApiError::not_found(format!("this function serves only {} {}", own.method, own.path));
            return (Some(function), Err(e));
        }
        if let Some(bad) = params.iter().find_map(|p| domain::check_param(p.name, &p.value).err()) {
            return (Some(function), Err(bad));
        }
        let id = params.first().map_or("", |p| p.value.as_str());
        let result = match function {
            Function::Health => {
                Ok(Reply::ok(serde_json::json!({"status": "ok", "side": self.config.side}).to_string()))
            }
            Function::GetUserContext => self.get_versioned(Entity::UserContext, id).await,
            Function::PutUserContext => self.put_versioned(Entity::UserContext, id, request).await,
            Function::GetWorkflowMapping => self.get_versioned(Entity::WorkflowMapping, id).await,
            Function::PutWorkflowMapping => self.put_versioned(Entity::WorkflowMapping, id, request).await,
            Function::GetMetadata => self.get_metadata(id, trace).await,
            Function::GetReport => self.get_report(route, id, trace).await,
        };
        (Some(function), result)
    }

    async fn get_versioned(&self, entity: Entity, id: &str) -> Result<Reply, ApiError> {
        match self.store.get(&Key::new(entity, id)).await.map_err(store_error)? {
            Some(item) => Ok(Reply { etag: Some(item.version), ..Reply::ok(item.body) }),
            None => Err(ApiError::not_found(format!("no {} is stored for {id}", noun(entity)))),
        }
    }

    async fn put_versioned(&self, entity: Entity, id: &str, request: &Request<Bytes>) -> Result<Reply, ApiError> {
        let precondition = precondition(request.headers())?;
        domain::check_json_content_type(request.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes))?;
        let body = match entity {
            Entity::WorkflowMapping => domain::parse_workflow_mapping(request.body())?,
            _ => domain::parse_user_context(request.body())?,
        };
        let (version, expect, status) = match precondition {
            Precondition::Create => (1, Expect::Absent, StatusCode::CREATED),
            Precondition::Replace(v) => match v.checked_add(1) {
                Some(next) => (next, Expect::Version(v), StatusCode::OK),
                // No item can be at the last version: nothing is ever written past it.
                None => {
                    return Err(ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "precondition_failed",
                        format!("no {} for {id} is at version {v}; GET it again and retry with its ETag", noun(entity)),
                    ))
                }
            },
        };
        let item = Item { body, version, expires_at: None };
        match self.store.put(&Key::new(entity, id), &item, expect).await {
            Ok(()) => Ok(Reply { status, etag: Some(version), ..Reply::ok(item.body) }),
            Err(ItemStoreError::ConditionFailed) => {
                let what = noun(entity);
                let message = match precondition {
                    Precondition::Create => {
                        format!("a {what} for {id} already exists; GET it and send its ETag in If-Match to replace it")
                    }
                    Precondition::Replace(v) => format!(
                        "the {what} for {id} is not at version {v} any more (or was never created); \
                         GET it again and retry with its ETag"
                    ),
                };
                Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", message))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Served from the store while fresh; otherwise fetched from the backend
    /// and stored for `metadata_ttl`. If the backend fails, a stale copy is
    /// better than an error.
    async fn get_metadata(&self, name: &str, trace: &Trace) -> Result<Reply, ApiError> {
        let key = Key::new(Entity::Metadata, name);
        let now = (self.config.clock)();
        let cached = self.store.get(&key).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "metadata cache read failed; asking the backend");
            None
        });
        if let Some(item) = cached.as_ref().filter(|i| i.expires_at.is_some_and(|t| t > now)) {
            return Ok(Reply { cache: Some("hit"), ..Reply::ok(item.body.clone()) });
        }
        let fetched = self.fetch_json("metadata", &format!("/metadata/{name}"), trace).await;
        match (fetched, cached) {
            (Ok(Some(body)), _) => {
                let item = Item { body, version: 1, expires_at: Some(now + self.config.metadata_ttl.as_secs()) };
                if let Err(e) = self.store.put(&key, &item, Expect::Anything).await {
                    tracing::warn!(error = %e, "metadata cache write failed; answering uncached");
                }
                Ok(Reply { cache: Some("miss"), ..Reply::ok(item.body) })
            }
            (Ok(None), _) => Err(ApiError::not_found(format!("no metadata is named {name}"))),
            (Err(e), Some(stale)) => {
                tracing::warn!(error = %e, "metadata backend failed; answering a stale copy");
                Ok(Reply { cache: Some("stale"), ..Reply::ok(stale.body) })
            }
            (Err(e), None) => Err(e),
        }
    }

    async fn get_report(&self, route: &Route, id: &str, trace: &Trace) -> Result<Reply, ApiError> {
        debug_assert!(route.backend);
        match self.fetch_json("reports", &format!("/reports/{id}"), trace).await? {
            Some(body) => Ok(Reply::ok(body)),
            None => Err(ApiError::not_found(format!("no report is named {id}"))),
        }
    }

    /// A JSON body from the backend: `Ok(None)` for its 404, a 502 or 504
    /// naming what went wrong for anything else that is not a 200.
    async fn fetch_json(&self, what: &str, path: &str, trace: &Trace) -> Result<Option<String>, ApiError> {
        let bad_gateway = |message: String| ApiError::new(StatusCode::BAD_GATEWAY, "backend_error", message);
        let response = self.backend.get(path, trace).await.map_err(|e| match e {
            BackendError::Timeout(after) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "backend_timeout",
                format!("the {what} backend did not answer within {} ms", after.as_millis()),
            ),
            other => bad_gateway(format!("the {what} backend failed: {other}")),
        })?;
        match response.status {
            200 => match serde_json::from_slice::<serde_json::Value>(&response.body) {
                Ok(value) => Ok(Some(value.to_string())),
                Err(e) => Err(bad_gateway(format!("the {what} backend answered a body that is not JSON: {e}"))),
            },
            404 => Ok(None),
            status => Err(bad_gateway(format!("the {what} backend answered {status}"))),
        }
    }

    fn render(&self, result: Result<Reply, ApiError>, invocation: &Invocation) -> Response<Bytes> {
        let (reply, allow) = match result {
            Ok(reply) => (reply, None),
            Err(e) => {
                let body = e.body();
                (Reply { status: e.status, body, etag: None, cache: None }, e.allow)
            }
        };
        let mut response = Response::new(Bytes::from(reply.body));
        *response.status_mut() = reply.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let mut put = |name: HeaderName, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        put(SERVED_BY, &self.config.side);
        put(REQUEST_ID, &invocation.trace.request_id);
        if let Some(version) = reply.etag {
            put(ETAG, &format!("\"{version}\""));
        }
        if let Some(cache) = reply.cache {
            put(CACHE, cache);
        }
        if let Some(allow) = allow {
            put(ALLOW, &allow);
        }
        if invocation.cold_start {
            put(COLD_START, "1");
        }
        response
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precondition {
    Create,
    Replace(u64),
}

/// A PUT must say what it expects to replace, so that of two writers who
/// read the same version, one wins and the other learns it lost.
/// One rule, whatever the header's shape: one header line, holding one
/// strong ETag as this API writes them (`"N"`, N a version in plain
/// decimal: no sign, no leading zero, no list, no `W/`).
fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_precondition", m);
    let one = |name: &http::HeaderName| -> Result<Option<String>, ApiError> {
        let mut lines = headers.get_all(name).iter();
        let Some(first) = lines.next() else { return Ok(None) };
        if lines.next().is_some() {
            return Err(invalid(format!("send one {name} header, not several")));
        }
        Ok(Some(first.to_str().unwrap_or("(not text)").trim().to_owned()))
    };
    let version = |tag: &str| -> Option<u64> {
        let digits = tag.strip_prefix('"')?.strip_suffix('"')?;
        let plain = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !(digits.len() > 1 && digits.starts_with('0'));
        plain.then(|| digits.parse().ok()).flatten()
    };
    match (one(&IF_MATCH)?, one(&IF_NONE_MATCH)?) {
        (Some(_), Some(_)) => Err(invalid("send If-Match or If-None-Match, not both".into())),
        (Some(tag), None) => version(&tag)
            .map(Precondition::Replace)
            .ok_or_else(|| invalid(format!("If-Match must be the one ETag of a GET, such as \"3\"; got {tag}"))),
        (None, Some(tag)) if tag == "*" => Ok(Precondition::Create),
        (None, Some(tag)) => Err(invalid(format!("If-None-Match on a PUT must be *; got {tag}"))),
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "a PUT must say what it replaces: send If-Match with the ETag of your GET, or If-None-Match: * to create",
        )),
    }
}

fn noun(entity: Entity) -> &'static str {
    match entity {
        Entity::UserContext => "user context",
        Entity::WorkflowMapping => "workflow mapping",
        Entity::Metadata => "metadata item",
    }
}

fn store_error(e: ItemStoreError) -> ApiError {
    match e {
        ItemStoreError::Unavailable { retryable: true, message } => {
            tracing::warn!(error = %message, "store unavailable");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the data store is busy; retry shortly")
        }
        other => {
            tracing::error!(error = %other, "store failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the data store refused the request")
        }
    }
}
