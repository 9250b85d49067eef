//! The control API that `cutover serve` answers, under `/v1`, with
//! `/healthz`, `/readyz` and `/metrics` beside it. Everything a person or a
//! script does with a cutover goes through here: create (admin), commands
//! (operator), reads and the live stream (viewer). Errors are RFC 9457
//! problem documents. The OpenAPI document (`/v1/openapi.json`) is generated
//! from these handlers' own annotations, so it cannot drift from them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cutover_core::engine::{Command, Event};
use cutover_core::plan::Plan;
use cutover_core::ports::Clock;
use cutover_core::store::{Request, Store, StoreError};
use cutover_core::units::Timestamp;
use cutover_runtime::ScaledClock;
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::series::{ChainStatus, Series};
use crate::serve::Daemon;
use crate::tokens::Role;
use crate::view::CutoverView;

/// The largest request body accepted (a plan is a few kilobytes).
pub const BODY_LIMIT: usize = 256 * 1024;
/// How often a live stream looks for what was written.
const STREAM_POLL: Duration = Duration::from_millis(250);

/// An RFC 9457 problem document: what went wrong and how to fix it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Every problem found, each with its place and fix (a plan's lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            problems: Vec::new(),
        }
    }

    fn with_problems(mut self, problems: Vec<String>) -> Problem {
        self.problems = problems;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(&self)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A store that could not answer is the server's problem, said as such.
fn unavailable(e: StoreError) -> Problem {
    tracing::warn!(error = %e, "store error behind an API call");
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, format!("the store did not answer: {e}"))
}

/// Who is calling, as their token names them.
struct Caller {
    name: String,
    role: Role,
}

/// The caller, if their token grants `need`.
fn authorize(daemon: &Daemon, headers: &HeaderMap, need: Role) -> Result<Caller, Problem> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    if daemon.tokens.is_empty() {
        // No tokens configured (a loopback-only daemon): anyone may read;
        // nobody may act through the API.
        return match need {
            Role::Viewer => Ok(Caller { name: "anonymous".into(), role: Role::Viewer }),
            _ => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "this daemon has no tokens, so it only serves reads: start it with --tokens FILE or CUTOVER_TOKENS",
            )),
        };
    }
    let Some(presented) = presented else {
        return Err(Problem::new(StatusCode::UNAUTHORIZED, "send Authorization: Bearer <token>"));
    };
    let Some(token) = daemon.tokens.find(presented.as_bytes()) else {
        return Err(Problem::new(StatusCode::UNAUTHORIZED, "the token is not one this daemon knows"));
    };
    if token.role < need {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!("{} holds the {} role; this needs {}", token.name, token.role.as_str(), need.as_str()),
        ));
    }
    Ok(Caller { name: token.name.clone(), role: token.role })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "cutover control API", description = "Create, watch, command and audit cutovers."),
    modifiers(&Bearer),
    components(schemas(Problem))
)]
struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The router, and the OpenAPI document generated from it.
pub fn router(daemon: Arc<Daemon>) -> axum::Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(list_cutovers, create_cutover))
        .routes(routes!(get_cutover))
        .routes(routes!(send_command))
        .routes(routes!(audit_trail))
        .routes(routes!(stream))
        .routes(routes!(series))
        .routes(routes!(whoami))
        .routes(routes!(plan_text))
        .split_for_parts();
    let doc = Arc::new(doc);
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/", axum::routing::get(crate::page::dashboard))
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "no such route; see /v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "this route does not take that method; see /v1/openapi.json")
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Answers a client can take gzipped are (the page, a 48-hour series:
        // a fifth of the bytes); tower-http leaves event streams alone.
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
        .with_state(daemon)
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The store answers: this replica can lead cutovers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn readyz(State(daemon): State<Arc<Daemon>>) -> Result<Json<Health>, Problem> {
    daemon.store.list().await.map_err(unavailable)?;
    Ok(Json(Health { status: "ready".into() }))
}

/// Prometheus text: each cutover's weight, phase and step; for those this
/// replica leads, each side's latest p50/p99/error rate and each check's
/// e-value and threshold; counters of what this replica decided.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn metrics(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Result<Response, Problem> {
    authorize(&daemon, &headers, Role::Viewer)?;
    let states = daemon.store.list().await.map_err(unavailable)?;
    let text = daemon.metrics_text(&states);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Every cutover in the store, newest first.
#[utoipa::path(
    get,
    path = "/v1/cutovers",
    tag = "cutovers",
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = [CutoverView]),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_cutovers(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
) -> Result<Json<Vec<CutoverView>>, Problem> {
    authorize(&daemon, &headers, Role::Viewer)?;
    let states = daemon.store.list().await.map_err(unavailable)?;
    let mut views = Vec::with_capacity(states.len());
    for state in states {
        if let Some(stored) = daemon.store.load(&state.id).await.map_err(unavailable)? {
            views.push(CutoverView::new(&stored, None));
        }
    }
    Ok(Json(views))
}

/// A new cutover.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCutover {
    /// Letters, digits and `-` `_` `.`; at most 100 characters.
    pub id: String,
    /// The plan, as TOML (what `cutover plan init` writes).
    pub plan: String,
    /// Start it at once (as the caller) instead of leaving it pending.
    #[serde(default)]
    pub start: bool,
    /// Run its clock this many times faster than real time (a rehearsal;
    /// local targets only). 1 when left out.
    #[serde(default)]
    pub speed: Option<f64>,
    /// Why, for the audit trail (recorded on `started`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Start it by itself at this time (RFC 3339 UTC, e.g.
    /// `2026-12-01T02:00:00Z`; after a freeze window it falls in), in the
    /// caller's name: shown as `scheduled` until then. Not with `start`.
    #[serde(default)]
    pub at: Option<String>,
}

/// The `{id}` of a cutover's path. axum's own `Path` refuses what it cannot
/// decode (`%ff`) in plain text; this says it as a problem document.
struct CutoverId(String);

impl<S: Send + Sync> FromRequestParts<S> for CutoverId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Problem> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(CutoverId(id)),
            Err(rejection) => Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the cutover id in the path: {}; ids are letters, digits, - _ and .", rejection.body_text()),
            )),
        }
    }
}

fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 100 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A JSON body, or the problem with it.
fn json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, Problem> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json"));
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("the body is not the JSON this route takes: {e}")))
}

/// Creates a cutover from a plan, checked exactly as `cutover plan check`
/// checks it; the replicas of this store lead it from then on.
#[utoipa::path(
    post,
    path = "/v1/cutovers",
    tag = "cutovers",
    request_body = CreateCutover,
    security(("bearer" = [])),
    responses(
        (status = 201, body = CutoverView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_cutover(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<CutoverView>), Problem> {
    let caller = authorize(&daemon, &headers, Role::Admin)?;
    let create: CreateCutover = json_body(&headers, &body)?;
    let mut problems = Vec::new();
    if !is_id(&create.id) {
        problems.push(format!("id = {:?}: use 1 to 100 letters, digits, - _ or .", create.id));
    }
    let speed = create.speed.unwrap_or(1.0);
    if create.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        problems.push("reason: empty; say why, or leave it out".into());
    }
    let at = match create.at.as_deref().map(Timestamp::parse_rfc3339).transpose() {
        Ok(at) => at,
        Err(e) => {
            problems.push(format!("at = {e}"));
            None
        }
    };
    let plan = Plan::parse(&create.plan);
    if let Err(err) = &plan {
        problems.extend(err.problems.iter().map(|p| format!("plan: {p}")));
    }
    let checked = crate::create::problems(plan.as_ref().ok(), speed, at);
    problems.extend(checked.into_iter().map(|(field, fix)| format!("{field} = {fix}")));
    if at.is_some() && create.start {
        problems.push("at and start: give one (start now, or at a time)".into());
    }
    if !problems.is_empty() {
        let n = problems.len();
        let detail = format!("{n} problem{}; nothing was created", if n == 1 { "" } else { "s" });
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_problems(problems));
    }
    let new = crate::create::New {
        id: &create.id,
        plan: &create.plan,
        speed,
        at,
        start: create.start,
        actor: &caller.name,
        reason: create.reason,
    };
    match crate::create::create(&daemon.store, new).await {
        Ok(_) => {}
        Err(StoreError::Exists(id)) => {
            return Err(Problem::new(StatusCode::CONFLICT, format!("cutover {id} exists already; pick another id")))
        }
        Err(e) => return Err(unavailable(e)),
    }
    tracing::info!(cutover = %create.id, actor = %caller.name, speed, "cutover created through the API");
    daemon.nudge(&create.id);
    let stored = daemon.store.load(&create.id).await.map_err(unavailable)?;
    let stored = stored.ok_or_else(|| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "created, then not found"))?;
    Ok((StatusCode::CREATED, Json(CutoverView::new(&stored, None))))
}

/// One cutover: its phase, weight, step, when the next step is due, and
/// the latest analysis with both sides' numbers and each check's evidence.
#[utoipa::path(
    get,
    path = "/v1/cutovers/{id}",
    tag = "cutovers",
    params(("id" = String, Path, description = "The cutover's id")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = CutoverView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_cutover(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    CutoverId(id): CutoverId,
) -> Result<Json<CutoverView>, Problem> {
    authorize(&daemon, &headers, Role::Viewer)?;
    let stored = daemon.store.load(&id).await.map_err(unavailable)?.ok_or_else(|| not_found(&id))?;
    let (latest, _) = daemon.tail(&id).await.map_err(unavailable)?;
    Ok(Json(CutoverView::new(&stored, latest.as_ref())))
}

fn not_found(id: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, format!("no cutover {id}; GET /v1/cutovers lists them"))
}

/// An operator's command in the API's schema: the core's [`Command`], by
/// the names it is written in everywhere (CLI, audit, runbooks).
fn command_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("An operator's command."))
        .enum_values(Some(Command::ALL.map(Command::as_str)))
        .build()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    #[schema(schema_with = command_schema)]
    pub command: Command,
    /// Why, in the operator's words: recorded on the events it causes.
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandAccepted {
    /// Its place in the cutover's inbox.
    pub seq: u64,
    #[schema(schema_with = command_schema)]
    pub command: Command,
    /// Who sent it, as the audit trail will record it.
    pub actor: String,
}

/// Sends a command to the cutover's leader (through the store, so it
/// reaches whichever replica leads). Accepted is not done: the audit trail
/// and the stream show what the leader made of it.
#[utoipa::path(
    post,
    path = "/v1/cutovers/{id}/commands",
    tag = "cutovers",
    params(("id" = String, Path, description = "The cutover's id")),
    request_body = CommandRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, body = CommandAccepted),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn send_command(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    CutoverId(id): CutoverId,
    body: Bytes,
) -> Result<(StatusCode, Json<CommandAccepted>), Problem> {
    let caller = authorize(&daemon, &headers, Role::Operator)?;
    let request: CommandRequest = json_body(&headers, &body)?;
    if request.reason.trim().is_empty() {
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "reason: empty; say why, for the audit trail"));
    }
    let stored = daemon.store.load(&id).await.map_err(unavailable)?.ok_or_else(|| not_found(&id))?;
    let at = ScaledClock::new(stored.time).now();
    let command = request.command;
    let inbox = Request { seq: 0, command, actor: caller.name.clone(), reason: Some(request.reason), at };
    let seq = match daemon.store.send(&id, &inbox).await {
        Ok(seq) => seq,
        Err(StoreError::NotFound(_)) => return Err(not_found(&id)),
        Err(e) => return Err(unavailable(e)),
    };
    tracing::info!(cutover = %id, command = command.as_str(), actor = %caller.name, seq, "command sent");
    daemon.nudge(&id);
    Ok((StatusCode::ACCEPTED, Json(CommandAccepted { seq, command, actor: caller.name })))
}

/// A page of the audit trail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrailPage {
    /// The events, oldest first, as the store holds them.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Event>,
    /// Pass as `after` for the next page; absent at the end of the trail.
    pub next: Option<String>,
    pub chain: ChainStatus,
}

/// A query string's `key=value` pairs (a bare `key` has an empty value).
fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query.unwrap_or_default().split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// `"12.3"`: version 12, index 3.
fn parse_place(s: &str) -> Option<(u64, u16)> {
    let (version, index) = s.split_once('.')?;
    Some((version.parse().ok()?, index.parse().ok()?))
}

fn place(event: &Event) -> String {
    format!("{}.{}", event.version, event.index)
}

/// The audit trail, page by page, with the hash chain checked over all of it.
#[utoipa::path(
    get,
    path = "/v1/cutovers/{id}/events",
    tag = "cutovers",
    params(
        ("id" = String, Path, description = "The cutover's id"),
        ("after" = Option<String>, Query, description = "Events after this place (`VERSION.INDEX`, a page's `next`)"),
        ("limit" = Option<u32>, Query, description = "At most this many events, 1 to 1000 (default 200)"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = TrailPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn audit_trail(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    CutoverId(id): CutoverId,
    RawQuery(query): RawQuery,
) -> Result<Json<TrailPage>, Problem> {
    authorize(&daemon, &headers, Role::Viewer)?;
    let (mut after, mut limit) = (None, 200usize);
    for (key, value) in query_pairs(query.as_deref()) {
        match key {
            "after" => {
                after = Some(parse_place(value).ok_or_else(|| {
                    Problem::new(StatusCode::BAD_REQUEST, format!("after={value}: give VERSION.INDEX, e.g. 12.0"))
                })?)
            }
            "limit" => {
                limit =
                    value.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                        Problem::new(StatusCode::BAD_REQUEST, format!("limit={value}: give 1 to 1000"))
                    })?
            }
            _ => {
                return Err(Problem::new(StatusCode::BAD_REQUEST, format!("unknown parameter {key}; use after, limit")))
            }
        }
    }
    let trail = daemon.store.trail(&id).await.map_err(unavailable)?.ok_or_else(|| not_found(&id))?;
    let chain = ChainStatus::of(&trail);
    let events = daemon.store.history_after(&id, after, limit + 1).await.map_err(unavailable)?;
    let more = events.len() > limit;
    let events: Vec<Event> = events.into_iter().take(limit).collect();
    let next = events.last().filter(|_| more).map(place);
    Ok(Json(TrailPage { events, next, chain }))
}

/// The cutover live, as Server-Sent Events: a `state` event (the cutover
/// as `GET /v1/cutovers/{id}` gives it) at once and after every change, and
/// an `audit` event for every event written to its trail, with the event's
/// place as its id. Reconnecting with `Last-Event-ID` resumes after it.
#[utoipa::path(
    get,
    path = "/v1/cutovers/{id}/stream",
    tag = "cutovers",
    params(("id" = String, Path, description = "The cutover's id")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = String, content_type = "text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn stream(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    CutoverId(id): CutoverId,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Problem> {
    authorize(&daemon, &headers, Role::Viewer)?;
    let resume = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(value) => Some(parse_place(value).ok_or_else(|| {
            Problem::new(StatusCode::BAD_REQUEST, format!("Last-Event-ID {value}: give VERSION.INDEX"))
        })?),
        None => None,
    };
    daemon.store.load(&id).await.map_err(unavailable)?.ok_or_else(|| not_found(&id))?;
    let (latest, end) = daemon.tail(&id).await.map_err(unavailable)?;
    let start = Live { daemon, id, after: resume.or(end), latest, version: None, pending: Vec::new() };
    let events = futures_util::stream::unfold(start, |mut live| async move {
        // A stopping daemon ends its streams, or they would hold its
        // graceful shutdown open for ever; clients reconnect elsewhere.
        let mut stopping = live.daemon.stopping.clone();
        loop {
            if *stopping.borrow() {
                return None;
            }
            if let Some(event) = live.pending.pop() {
                return Some((Ok(event), live));
            }
            live.look().await;
            if live.pending.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(STREAM_POLL) => {}
                    _ = stopping.changed() => {}
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One live stream's place: what it sent last, and what it is about to.
struct Live {
    daemon: Arc<Daemon>,
    id: String,
    after: Option<(u64, u16)>,
    latest: Option<Event>,
    version: Option<u64>,
    /// To send, last first.
    pending: Vec<SseEvent>,
}

impl Live {
    /// Reads what was written since the last look; a store that does not
    /// answer is tried again at the next look (the stream stays open). The
    /// state is read again only when the trail moved: every change of the
    /// state is committed with its events.
    async fn look(&mut self) {
        let Ok(events) = self.daemon.store.history_after(&self.id, self.after, 500).await else { return };
        if events.is_empty() && self.version.is_some() {
            return;
        }
        let mut frames = Vec::new();
        for event in &events {
            if matches!(event.kind, cutover_core::engine::EventKind::Analysis { .. }) {
                self.latest = Some(event.clone());
            }
            if let Ok(data) = serde_json::to_string(event) {
                frames.push(SseEvent::default().event("audit").id(place(event)).data(data));
            }
            self.after = Some((event.version, event.index));
        }
        if let Ok(Some(stored)) = self.daemon.store.load(&self.id).await {
            if self.version != Some(stored.state.version) {
                self.version = Some(stored.state.version);
                let view = CutoverView::new(&stored, self.latest.as_ref());
                if let Ok(data) = serde_json::to_string(&view) {
                    frames.push(SseEvent::default().event("state").data(data));
                }
            }
        }
        frames.reverse();
        self.pending = frames;
    }
}

/// One cutover over time, for the dashboard: the weight planned and at the
/// edge, every analysis's before/after figures, each step's last analysis,
/// the hops, the cost of each side, the trail's newest lines and its hash
/// chain checked.
#[utoipa::path(
    get,
    path = "/v1/cutovers/{id}/series",
    tag = "cutovers",
    params(
        ("id" = String, Path, description = "The cutover's id"),
        ("events" = Option<String>, Query, description = "The trail's newest lines to include: 0 to 10000 (default 200), or `all`"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Series),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn series(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    CutoverId(id): CutoverId,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    authorize(&daemon, &headers, Role::Viewer)?;
    let mut recent = 200usize;
    for pair in query_pairs(query.as_deref()) {
        match pair {
            ("events", "all") => recent = usize::MAX,
            ("events", value) => {
                recent = value.parse().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
                    Problem::new(StatusCode::BAD_REQUEST, format!("events={value}: give 0 to 10000, or all"))
                })?
            }
            (key, _) => {
                return Err(Problem::new(StatusCode::BAD_REQUEST, format!("unknown parameter {key}; use events")))
            }
        }
    }
    let json = daemon.series_json(&id, recent).await.map_err(unavailable)?.ok_or_else(|| not_found(&id))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// Who the token belongs to and what it may do.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Whoami {
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// The caller, as this daemon knows their token: the dashboard shows the
/// operators' buttons only to a token that may press them.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "health",
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Whoami),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn whoami(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Result<Json<Whoami>, Problem> {
    let caller = authorize(&daemon, &headers, Role::Viewer)?;
    Ok(Json(Whoami { name: caller.name, role: caller.role.as_str().into() }))
}

/// The plan a cutover runs, as it was stored when it was created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanText {
    /// SHA-256 of the plan as stored (hex), as the `started` event records it.
    pub sha256: String,
    /// The plan's text, its webhooks' paths withheld (they are secrets).
    pub toml: String,
}

/// The plan a cutover runs (for a report or a change record).
#[utoipa::path(
    get,
    path = "/v1/cutovers/{id}/plan",
    tag = "cutovers",
    params(("id" = String, Path, description = "The cutover's id")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = PlanText),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn plan_text(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    CutoverId(id): CutoverId,
) -> Result<Json<PlanText>, Problem> {
    authorize(&daemon, &headers, Role::Viewer)?;
    let stored = daemon.store.load(&id).await.map_err(unavailable)?.ok_or_else(|| not_found(&id))?;
    let sha256 = cutover_core::audit::sha256_hex(stored.plan.as_bytes());
    Ok(Json(PlanText { sha256, toml: crate::report::shareable_plan(&stored.plan) }))
}

#[cfg(test)]
mod fuzz;
