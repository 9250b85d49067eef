//! The local weighted edge: a reverse proxy that does on this machine what
//! the CloudFront Function does in AWS, and records what CloudWatch and
//! X-Ray would report.
//!
//! * `/api/*` goes to the serverless upstream when the request's cohort
//!   bucket ([`cutover_core::cohort`]) is below the weight, else to legacy.
//!   The cohort key is the plan's header or cookie, falling back to the
//!   client's address; anything that cannot be decided goes to legacy.
//!   Every other path goes to legacy untouched and is not recorded.
//! * A request with `x-cutover-probe: legacy|serverless` is a controller
//!   probe: pinned to that side and recorded apart from user traffic.
//! * The admin surface has a listener of its own (`EdgeConfig::admin_listen`),
//!   as a KeyValueStore's API is not the distribution's: users reach only
//!   the traffic listener, where `/_cutover/*` is not found. The weight is
//!   read and set on `/_cutover/weight` with the same optimistic
//!   concurrency as a CloudFront KeyValueStore: `GET` gives the weight and
//!   an `ETag`; `PUT` needs `If-Match` with it (412 otherwise).
//! * Per side and per slot of wall time (`EdgeConfig::slot`, 1 s in real
//!   time, finer under a compressed demo clock) it keeps requests, errors
//!   (5xx or no answer), warm latency (time to the upstream's response
//!   headers) and cold starts (`x-cold-start: 1` from the upstream), and
//!   each user request's cohort bucket (what CloudWatch cannot tell);
//!   `/_cutover/metrics?from_ms=&to_ms=` returns a window of them as a
//!   [`Measurement`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover_base::clock::unix_ms;

use bytes::Bytes;
use cutover_core::cohort;
use cutover_core::measure::{Histogram, Hop, Measurement, PerSide, Side, Source};
use cutover_core::plan::CohortKey;
use cutover_core::units::Weight;
use http::header::{HeaderValue, CONTENT_TYPE, COOKIE, ETAG, HOST, IF_MATCH};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

/// Marks a controller probe and names the side it must reach.
pub const PROBE_HEADER: &str = "x-cutover-probe";
/// Slots older than [`Keep::fine`] are merged this many to one.
const COARSE: u64 = 60;
/// How long an upstream may take to send its response headers.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Users' requests (and the controller's probes).
    pub listen: SocketAddr,
    /// The weight and the recorded metrics: for the controller only.
    pub admin_listen: SocketAddr,
    /// Base URLs, such as `http://127.0.0.1:8081`.
    pub legacy: Uri,
    pub serverless: Uri,
    pub cohort: CohortKey,
    pub salt: String,
    /// The recording granularity: windows are measured in whole slots.
    pub slot: Duration,
    /// How much of what was recorded is kept.
    pub keep: Keep,
}

/// How many slots the edge keeps: the last `fine` as recorded, then
/// `coarse` more merged [`COARSE`] to one. The default (with 1 s slots:
/// the last 50 minutes as recorded, and 3.5 days merged, a whole 48 h
/// cutover and its lookback, which a restarted controller reads again)
/// bounds the edge's memory however long it runs; the memory soak keeps
/// fewer, so that the bound is reached within its warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    pub fine: u64,
    pub coarse: usize,
}

impl Default for Keep {
    fn default() -> Keep {
        Keep { fine: 3_000, coarse: 5_000 }
    }
}

/// `FINE,COARSE`, as `cutover edge --keep-slots` takes it.
impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.fine, self.coarse)
    }
}

impl std::str::FromStr for Keep {
    type Err = String;

    fn from_str(text: &str) -> Result<Keep, String> {
        let fix = || {
            format!(
                "{text:?}: give FINE,COARSE, two whole numbers of slots, each at least 1 (the default is {})",
                Keep::default()
            )
        };
        let (fine, coarse) = text.split_once(',').ok_or_else(fix)?;
        match (fine.trim().parse::<u64>(), coarse.trim().parse::<usize>()) {
            (Ok(fine @ 1..), Ok(coarse @ 1..)) => Ok(Keep { fine, coarse }),
            _ => Err(fix()),
        }
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

struct Shared {
    config: EdgeConfig,
    /// The weight and its version (the ETag).
    weight: Mutex<(Weight, u64)>,
    /// What happened, by slot.
    slots: Mutex<Slots>,
    slot_ms: u64,
    client: Client<HttpConnector, Incoming>,
}

/// One slot of wall time: its measurement, and where each side's warm
/// requests spent their time.
#[derive(Default)]
struct Slot {
    measurement: Measurement,
    hops: PerSide<HopTimes>,
}

impl Slot {
    fn merge(&mut self, other: &Slot) {
        self.measurement.cohorts.get_or_insert_with(PerSide::default);
        self.measurement.merge_counts(&other.measurement);
        for side in Side::BOTH {
            self.hops.get_mut(side).merge(other.hops.get(side));
        }
    }
}

/// Recent slots as recorded, older ones merged [`COARSE`] to one.
struct Slots {
    keep: Keep,
    /// Slot number (wall ms / slot ms) → what happened in it.
    fine: BTreeMap<u64, Slot>,
    /// Slot number / [`COARSE`] → what happened in those slots.
    coarse: BTreeMap<u64, Slot>,
}

impl Slots {
    fn new(keep: Keep) -> Slots {
        Slots { keep, fine: BTreeMap::new(), coarse: BTreeMap::new() }
    }

    /// The slot `slot` to record in; older slots merged, the oldest dropped.
    fn at(&mut self, slot: u64) -> &mut Slot {
        while let Some(entry) = self.fine.first_entry().filter(|e| *e.key() + self.keep.fine <= slot) {
            let (old, recorded) = entry.remove_entry();
            self.coarse.entry(old / COARSE).or_default().merge(&recorded);
        }
        while self.coarse.len() > self.keep.coarse {
            self.coarse.pop_first();
        }
        self.fine.entry(slot).or_default()
    }

    /// Every slot that starts in `[first, end)`: recorded ones, and merged
    /// ones whose first slot is in it (older windows are measured to the
    /// merged granularity).
    fn within(&self, first: u64, end: u64) -> impl Iterator<Item = &Slot> {
        let end = end.max(first);
        let coarse = self.coarse.range(first.div_ceil(COARSE)..end.div_ceil(COARSE)).map(|(_, s)| s);
        coarse.chain(self.fine.range(first..end).map(|(_, s)| s))
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.fine.len(), self.coarse.len())
    }
}

/// A side's time at the edge (`edge`: arrival to the upstream's response
/// headers), in its origin and in the origin's handlers (both from the
/// origin's `Server-Timing`).
#[derive(Default)]
struct HopTimes {
    edge: Histogram,
    origin: Histogram,
    handler: Histogram,
}

impl HopTimes {
    fn merge(&mut self, other: &HopTimes) {
        self.edge.merge(&other.edge);
        self.origin.merge(&other.origin);
        self.handler.merge(&other.handler);
    }

    /// The waterfall: `edge › origin › handler`, p50/p99 each.
    fn hops(&self) -> Vec<Hop> {
        [
            ("edge", Source::LocalEdge, &self.edge),
            ("origin", Source::ServerTiming, &self.origin),
            ("handler", Source::ServerTiming, &self.handler),
        ]
        .into_iter()
        .enumerate()
        .filter(|(_, (_, _, times))| times.count() > 0)
        .map(|(depth, (name, source, times))| Hop {
            name: name.into(),
            source,
            depth: depth as u8,
            samples: times.count(),
            p50_ms: times.quantile(0.5),
            p99_ms: times.quantile(0.99),
        })
        .collect()
    }
}

/// `origin;dur=12.3, handler;dur=0.4` → (origin, handler) in ms.
fn server_timing(value: Option<&HeaderValue>) -> (Option<f64>, Option<f64>) {
    let (mut origin, mut handler) = (None, None);
    for metric in value.and_then(|v| v.to_str().ok()).unwrap_or_default().split(',') {
        let mut parts = metric.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let dur = parts
            .find_map(|p| p.strip_prefix("dur="))
            .and_then(|d| d.parse::<f64>().ok())
            .filter(|d| d.is_finite() && *d >= 0.0);
        match name {
            "origin" => origin = dur,
            "handler" => handler = dur,
            _ => {}
        }
    }
    (origin, handler)
}

/// A running edge; stops when dropped.
pub struct Edge {
    address: SocketAddr,
    admin_address: SocketAddr,
    shared: Arc<Shared>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for Edge {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Edge {
    /// Binds and starts serving at weight 0.
    pub async fn start(config: EdgeConfig) -> std::io::Result<Edge> {
        for (name, uri) in [("legacy", &config.legacy), ("serverless", &config.serverless)] {
            if uri.scheme_str() != Some("http") || uri.authority().is_none() {
                let message = format!("the {name} upstream must be an http:// URL with a host; got {uri}");
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, message));
            }
        }
        let listener = TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let admin_listener = TcpListener::bind(config.admin_listen).await?;
        let admin_address = admin_listener.local_addr()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(cutover_listen::CLIENT_IDLE_TIMEOUT)
            .build(connector);
        let shared = Arc::new(Shared {
            slot_ms: (config.slot.as_millis() as u64).max(1),
            slots: Mutex::new(Slots::new(config.keep)),
            config,
            weight: Mutex::new((Weight::ZERO, 1)),
            client,
        });
        let tasks = [serve(listener, shared.clone(), false), serve(admin_listener, shared.clone(), true)];
        Ok(Edge { address, admin_address, shared, tasks })
    }

    /// Where users' requests go.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the controller reads and sets the weight and reads metrics.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_address
    }

    /// The weight now (for tests and the demo's display).
    pub fn weight(&self) -> Weight {
        lock(&self.shared.weight).0
    }

    /// What was recorded in `[from_ms, to_ms)` of wall time.
    pub fn measure(&self, from_ms: u64, to_ms: u64) -> Measurement {
        self.shared.measure(from_ms, to_ms)
    }
}

/// Serves `listener`: the admin surface, or users' traffic, within the
/// bounds every server here keeps (`cutover_listen`); a request hyper could
/// not read is refused as the edge refuses any (JSON with `error`).
fn serve(listener: TcpListener, shared: Arc<Shared>, admin: bool) -> tokio::task::JoinHandle<()> {
    let listener = cutover_listen::Listener::new(listener, cutover_listen::Limits::default());
    let make = move |peer| {
        let shared = shared.clone();
        service_fn(move |request| {
            let shared = shared.clone();
            async move {
                Ok::<_, Infallible>(match admin {
                    true => shared.admin(request).await,
                    false => shared.answer(request, peer).await,
                })
            }
        })
    };
    tokio::spawn(listener.serve(make, std::future::pending()))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<Body> {
    json(status, serde_json::json!({ "error": code, "message": message.into() }).to_string())
}

impl Shared {
    async fn answer(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = request.uri().path();
        if path.starts_with("/_cutover/") {
            return error(StatusCode::NOT_FOUND, "not_found", "the edge's admin surface has a listener of its own");
        }
        let probe = request.headers().get(PROBE_HEADER).and_then(|v| v.to_str().ok()).and_then(Side::parse);
        if !(path == "/api" || path.starts_with("/api/")) {
            return self.forward(request, Side::Legacy, peer).await.0;
        }
        // A probe has no cohort; a user's request is counted under its bucket.
        let (side, bucket) = match probe {
            Some(side) => (side, None),
            None => {
                let bucket = self.bucket_of(&request, peer);
                (cohort::side(bucket, lock(&self.weight).0), Some(bucket))
            }
        };
        let started = Instant::now();
        let (response, answered) = self.forward(request, side, peer).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let cold = response.headers().get("x-cold-start").is_some_and(|v| v == "1");
        let failed = !answered || response.status().is_server_error();
        let client_error = answered && response.status().is_client_error();
        let timing = server_timing(response.headers().get("server-timing"));
        self.record(side, bucket, elapsed_ms, (failed, client_error), cold, timing);
        response
    }

    /// Sticky bucketing, as the CloudFront Function does it: the request's
    /// cohort bucket (the side is the bucket against the weight).
    fn bucket_of(&self, request: &Request<Incoming>, peer: SocketAddr) -> u16 {
        let headers = request.headers();
        let key = match &self.config.cohort {
            CohortKey::Header(name) => headers.get(name.as_str()).and_then(|v| v.to_str().ok()).map(str::to_owned),
            CohortKey::Cookie(name) => {
                let values = headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok());
                cohort::cookie(values, name).map(str::to_owned)
            }
            CohortKey::ViewerIp => None,
        };
        let key = key.unwrap_or_else(|| peer.ip().to_string());
        cohort::bucket(&self.config.salt, &key)
    }

    /// Sends the request on to `side`; `false` when no answer came back
    /// (the edge then answers 502 or 504 itself).
    async fn forward(&self, mut request: Request<Incoming>, side: Side, peer: SocketAddr) -> (Response<Body>, bool) {
        let base = match side {
            Side::Legacy => &self.config.legacy,
            Side::Serverless => &self.config.serverless,
        };
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let mut parts = base.clone().into_parts();
        parts.path_and_query = path.parse().ok();
        let Ok(uri) = Uri::from_parts(parts) else {
            return (error(StatusCode::BAD_REQUEST, "bad_request", "the request path cannot be forwarded"), true);
        };
        *request.uri_mut() = uri;
        request.headers_mut().remove(HOST);
        if let Ok(value) = HeaderValue::from_str(&peer.ip().to_string()) {
            request.headers_mut().append("x-forwarded-for", value);
        }
        match tokio::time::timeout(UPSTREAM_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => (response.map(|body| body.boxed()), true),
            Ok(Err(e)) => {
                let message = format!("the {} side did not answer: {e}", side.as_str());
                (error(StatusCode::BAD_GATEWAY, "bad_gateway", message), false)
            }
            Err(_) => {
                let message =
                    format!("the {} side did not answer within {} s", side.as_str(), UPSTREAM_TIMEOUT.as_secs());
                (error(StatusCode::GATEWAY_TIMEOUT, "gateway_timeout", message), false)
            }
        }
    }

    /// One request: a user's in `bucket` or, without one, a probe;
    /// `(failed, client_error)` is a 5xx or no answer, and a 4xx.
    fn record(
        &self,
        side: Side,
        bucket: Option<u16>,
        elapsed_ms: f64,
        (failed, client_error): (bool, bool),
        cold: bool,
        (origin_ms, handler_ms): (Option<f64>, Option<f64>),
    ) {
        let slot = unix_ms() / self.slot_ms;
        let mut slots = lock(&self.slots);
        let Slot { measurement, hops } = slots.at(slot);
        if !cold && !failed {
            let hops = hops.get_mut(side);
            hops.edge.record(elapsed_ms);
            origin_ms.into_iter().for_each(|ms| hops.origin.record(ms));
            handler_ms.into_iter().for_each(|ms| hops.handler.record(ms));
        }
        // The edge sees every user request's bucket: its slots always know them.
        let cohorts = measurement.cohorts.get_or_insert_with(PerSide::default);
        if let Some(bucket) = bucket {
            cohorts.get_mut(side).record(bucket, failed, client_error);
        }
        let sample = match bucket {
            Some(_) => measurement.traffic.get_mut(side),
            None => measurement.probes.get_mut(side),
        };
        sample.requests += 1;
        if failed {
            sample.errors += 1;
        }
        if client_error {
            sample.client_errors += 1;
        }
        if cold {
            sample.cold_starts += 1;
            sample.cold_latency_ms.record(elapsed_ms);
        } else if !failed {
            sample.latency_ms.record(elapsed_ms);
        }
    }

    /// Every slot that starts in `[from_ms, to_ms)`.
    fn measure(&self, from_ms: u64, to_ms: u64) -> Measurement {
        let (first, end) = (from_ms.div_ceil(self.slot_ms), to_ms.div_ceil(self.slot_ms));
        let slots = lock(&self.slots);
        let mut total = Measurement { cohorts: Some(PerSide::default()), ..Measurement::default() };
        let mut hops = PerSide::<HopTimes>::default();
        for slot in slots.within(first, end) {
            total.merge_counts(&slot.measurement);
            for side in Side::BOTH {
                hops.get_mut(side).merge(slot.hops.get(side));
            }
        }
        total.hops = PerSide { legacy: hops.legacy.hops(), serverless: hops.serverless.hops() };
        total
    }

    async fn admin(&self, request: Request<Incoming>) -> Response<Body> {
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        match (method.as_str(), path.as_str()) {
            ("GET", "/_cutover/weight") => self.weight_answer(StatusCode::OK),
            ("PUT", "/_cutover/weight") => self.put_weight(request).await,
            ("GET", "/_cutover/metrics") => {
                let query = request.uri().query().unwrap_or_default();
                let param = |name: &str| {
                    query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
                };
                match (param("from_ms").map(str::parse::<u64>), param("to_ms").map(str::parse::<u64>)) {
                    (Some(Ok(from)), Some(Ok(to))) if from <= to => {
                        let body = serde_json::to_string(&self.measure(from, to)).unwrap_or_default();
                        json(StatusCode::OK, body)
                    }
                    _ => error(
                        StatusCode::BAD_REQUEST,
                        "invalid_window",
                        "give from_ms and to_ms, Unix milliseconds with from_ms <= to_ms",
                    ),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "not_found", format!("no edge admin route {method} {path}")),
        }
    }

    fn weight_answer(&self, status: StatusCode) -> Response<Body> {
        let (weight, version) = *lock(&self.weight);
        let mut response = json(status, serde_json::json!({ "weight_bps": weight.bps() }).to_string());
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
            response.headers_mut().insert(ETAG, etag);
        }
        response
    }

    /// Sets the weight if `If-Match` names the current version, as a
    /// KeyValueStore `PutKey` does.
    async fn put_weight(&self, request: Request<Incoming>) -> Response<Body> {
        let if_match = request.headers().get(IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = match http_body_util::Limited::new(request.into_body(), 1024).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "a weight is a tiny JSON object")
            }
        };
        let Some(expected) = if_match else {
            return error(
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "send If-Match with the ETag of GET /_cutover/weight",
            );
        };
        let requested = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("weight_bps").and_then(serde_json::Value::as_u64))
            .and_then(|bps| u16::try_from(bps).ok())
            .and_then(Weight::from_bps);
        let Some(weight) = requested else {
            return error(StatusCode::BAD_REQUEST, "invalid_weight", "send {\"weight_bps\": N} with N from 0 to 10000");
        };
        {
            let mut current = lock(&self.weight);
            if expected.trim_matches('"') != current.1.to_string() {
                let message = format!("the weight changed: its ETag is \"{}\", not {expected}", current.1);
                return error(StatusCode::PRECONDITION_FAILED, "precondition_failed", message);
            }
            *current = (weight, current.1 + 1);
        }
        tracing::info!(weight = %weight, "edge weight set");
        self.weight_answer(StatusCode::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(slots: &Slots, first: u64, end: u64) -> u64 {
        slots.within(first, end).map(|s| s.measurement.traffic.legacy.requests).sum()
    }

    /// A long-running edge: one request a slot for longer than it keeps.
    #[test]
    fn old_slots_are_merged_counted_once_and_memory_stays_bounded() {
        let keep = Keep::default();
        let (fine_slots, coarse_slots) = (keep.fine, keep.coarse);
        let mut slots = Slots::new(keep);
        let total = fine_slots + COARSE * (coarse_slots as u64 + 10);
        for slot in 0..total {
            slots.at(slot).measurement.traffic.legacy.requests += 1;
        }
        let (fine, coarse) = slots.len();
        assert_eq!((fine as u64, coarse), (fine_slots, coarse_slots));
        // Recent windows to the slot; older ones to the merged slot.
        assert_eq!(count(&slots, total - 100, total), 100);
        let old = (total - fine_slots) / COARSE * COARSE - 20 * COARSE;
        assert_eq!(count(&slots, old, old + 5 * COARSE), 5 * COARSE);
        assert_eq!(count(&slots, old + 1, old + 5 * COARSE), 4 * COARSE, "a merged slot counts where it starts");
        // Everything kept, each request once.
        assert_eq!(count(&slots, 0, total), fine_slots + coarse_slots as u64 * COARSE);
    }

    #[test]
    fn keep_reads_as_it_is_written() {
        assert_eq!("3000,5000".parse::<Keep>(), Ok(Keep::default()));
        assert_eq!(Keep { fine: 50, coarse: 7 }.to_string().parse::<Keep>(), Ok(Keep { fine: 50, coarse: 7 }));
        for bad in ["3000", "0,5", "5,0", "a,b", "-1,5"] {
            let said = bad.parse::<Keep>().expect_err(bad);
            assert!(said.contains("give FINE,COARSE"), "{said}");
        }
    }

    #[test]
    fn merged_slots_keep_cohorts_and_hops() {
        let mut slots = Slots::new(Keep::default());
        for slot in [0, 1] {
            let s = slots.at(slot);
            s.measurement.cohorts.get_or_insert_with(PerSide::default).serverless.record(7, slot == 1, false);
            s.hops.serverless.edge.record(3.0);
        }
        slots.at(Keep::default().fine + COARSE);
        let merged = slots.coarse.get(&0).expect("slots 0 and 1 merged");
        let cohorts = merged.measurement.cohorts.as_ref().expect("cohorts kept");
        assert_eq!(cohorts.serverless, {
            let mut c = cutover_core::measure::Cohorts::default();
            c.record(7, false, false);
            c.record(7, true, false);
            c
        });
        assert_eq!(merged.hops.serverless.edge.count(), 2);
    }
}
