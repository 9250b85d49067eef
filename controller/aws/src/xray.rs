//! Per-side samples from X-Ray, in two reads per side and window:
//!
//! 1. `GetTraceSummaries` for the side's service over the window, every
//!    page: response times, faults, errors, throttles of every sampled
//!    request. X-Ray samples (by default 1 request a second plus 5 %), so
//!    these are latency samples, not totals: counts come from CloudWatch,
//!    and these samples replace CloudWatch's percentile-rebuilt histogram
//!    when there are at least [`XRAY_MIN_TRACES`] of them.
//! 2. `BatchGetTraces` (5 ids a call, paged) for up to [`DETAILED_TRACES`]
//!    of those, spread evenly over the window: their segment documents give
//!    the hop-by-hop breakdown ([`Hop`]) and the cold starts. A Lambda
//!    function's segment holds an `Initialization` subsegment when the
//!    request met a cold start; such a trace's response time is a cold
//!    latency, kept out of the warm histogram (cold starts are judged on
//!    their own limit). Traces not read whole cannot be told apart and stay
//!    warm.
//!
//! Where the traces start: HTTP APIs send nothing to X-Ray, so the new
//! side's traces start at Lambda; the ALB sends nothing either, so the old
//! side's start at the Express app's own SDK. Both leave out the front door
//! alike (CloudWatch's hops cover it). Times in X-Ray are seconds; they
//! become milliseconds here.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_xray::primitives::DateTime;
use aws_sdk_xray::Client;
use cutover_api::routes::{self, Lookup, Route};
use cutover_core::measure::{Histogram, Hop, MeasureError, PerSide, RouteSide, Source};
use http::Method;
use serde_json::Value;

use crate::AwsFailure;

/// Below this many traces a side keeps CloudWatch's histogram.
pub const XRAY_MIN_TRACES: u64 = 30;
/// Traces read whole per side and window: 8 `BatchGetTraces` calls.
pub const DETAILED_TRACES: usize = 40;
/// Summaries read per service and window at most: X-Ray answers 5
/// `GetTraceSummaries` a second, so a two-day baseline read whole would take
/// longer than the driver allows a read.
pub const SUMMARY_BUDGET: usize = 3000;
/// A window longer than this is read in chunks spread over it...
const CHUNK_MS: u64 = 15 * 60_000;
/// ...at most this many.
const CHUNKS_MAX: u64 = 24;
/// `BatchGetTraces` takes at most this many ids a call.
const IDS_PER_CALL: usize = 5;

/// What one side's traces say over a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceSample {
    /// Complete traces read (partial ones are left out: their response time is not final).
    pub traces: u64,
    pub partial: u64,
    pub faults: u64,
    pub errors: u64,
    pub throttles: u64,
    /// Response times of the complete traces that did not fault and met no
    /// cold start that was seen, in ms.
    pub latency_ms: Histogram,
    /// Traces whose segment documents were read (at most [`DETAILED_TRACES`]
    /// a service; for the new side's functions pooled, their effective
    /// number once weighted by traffic).
    pub detailed: u64,
    /// Of those, the ones that met a Lambda cold start, and their response times.
    pub cold_starts: u64,
    pub cold_latency_ms: Histogram,
    /// The detailed traces' breakdown, outermost hop first.
    pub hops: Vec<Hop>,
    /// The window was too long to read whole: these are a sample of its
    /// traces spread over it (see [`SUMMARY_BUDGET`]).
    pub budgeted: bool,
    /// The same traces by the contract's route (`GET /api/health`).
    pub routes: BTreeMap<String, RouteSide>,
}

pub struct XRaySource {
    client: Client,
    legacy: String,
    functions: Vec<String>,
    /// Each function's route in the contract, found once.
    routes: Vec<Option<String>>,
}

/// A complete trace's summary, kept until its documents are read.
struct Summary {
    id: String,
    response_ms: Option<f64>,
    fault: bool,
    /// The contract's route its HTTP method and URL lead to, when the
    /// trace carries them (the app's segments do; Lambda's do not).
    route: Option<&'static Route>,
}

/// Below this many requests in a window (CloudWatch's count) a side or a
/// function may show no traces; above it none at all means tracing is off.
pub const TRACED_MIN_REQUESTS: u64 = 10;

impl XRaySource {
    /// `legacy`: the old side's X-Ray service (the plan's
    /// `xray_legacy_service`); `functions`: the new side's Lambda functions,
    /// each its own X-Ray service (the plan's `lambda_functions`).
    pub fn new(client: Client, legacy: String, functions: Vec<String>) -> XRaySource {
        let routes = functions.iter().map(|f| function_route(f).map(route_name)).collect();
        XRaySource { client, legacy, functions, routes }
    }

    /// Both sides' samples over `[from_ms, to_ms)` of wall time, given
    /// CloudWatch's counts over it: the old side's requests and each
    /// function's invocations (in the order of `functions`). The new side's
    /// sample pools its functions' traces weighted by their invocations (X-Ray
    /// keeps the first request a second of each function and 5 % of the
    /// rest, so a quiet function's traces are far more of its traffic than a
    /// busy one's). A side or function that served requests and left no
    /// trace at all is an error: tracing is off, and a pass would rest on
    /// nothing.
    pub async fn sample(
        &self,
        from_ms: u64,
        to_ms: u64,
        legacy_requests: u64,
        invocations: &[u64],
    ) -> Result<PerSide<TraceSample>, MeasureError> {
        let mut hops = HopTable::default();
        let mut legacy = self.side(&self.legacy, from_ms, to_ms, DETAILED_TRACES, &mut hops).await?;
        legacy.hops = hops.finish();
        if legacy_requests >= TRACED_MIN_REQUESTS && legacy.traces + legacy.partial == 0 {
            return Err(fail(format!(
                "X-Ray has no trace of service \"{}\" while the ALB counted {legacy_requests} requests: check the \
                 app's X-Ray SDK names its segments so (the plan's xray_legacy_service) and the daemon runs",
                self.legacy
            )));
        }
        let total: u64 = invocations.iter().sum();
        let mut parts = Vec::with_capacity(self.functions.len());
        let mut hops = HopTable::default();
        for (i, function) in self.functions.iter().enumerate() {
            let invoked = invocations.get(i).copied().unwrap_or(0);
            // The detailed reads shared out by traffic, a few for each.
            let budget = (DETAILED_TRACES as u64 * invoked).checked_div(total).unwrap_or(0).max(5) as usize;
            let sample = self.side(function, from_ms, to_ms, budget, &mut hops).await?;
            if invoked >= TRACED_MIN_REQUESTS && sample.traces + sample.partial == 0 {
                return Err(fail(format!(
                    "X-Ray has no trace of function {function} while CloudWatch counted {invoked} invocations: turn \
                     on its active tracing (TracingConfig Mode=Active; `cutover preflight` checks every function)"
                )));
            }
            parts.push((sample, invoked));
        }
        let mut serverless = pool(&parts);
        // One function per route: each function's traces are its route's.
        for (route, (sample, _)) in self.routes.iter().zip(&parts) {
            if let Some(route) = route {
                let side = RouteSide { traces: sample.traces, faults: sample.faults, ..RouteSide::default() };
                serverless.routes.insert(route.clone(), with_quantiles(side, &sample.latency_ms));
            }
        }
        serverless.hops = hops.finish();
        Ok(PerSide { legacy, serverless })
    }

    async fn side(
        &self,
        service: &str,
        from_ms: u64,
        to_ms: u64,
        detailed: usize,
        hops: &mut HopTable,
    ) -> Result<TraceSample, MeasureError> {
        // Quotes inside the name would end the filter's string early.
        if service.contains('"') {
            return Err(fail(format!("X-Ray service name {service:?} holds a double quote")));
        }
        let mut sample = TraceSample::default();
        let summaries = self.summaries(service, from_ms, to_ms, &mut sample).await?;
        let chosen = spread(&summaries, detailed);
        let documents = self.documents(&chosen).await?;
        let mut cold = HashSet::new();
        for (id, segments) in &documents {
            let walk = walk_trace(segments);
            if walk.cold_start {
                cold.insert(id.as_str());
            }
            hops.add(&walk.hops);
        }
        sample.detailed = documents.len() as u64;
        // By the contract's (method, path): named once, at the end.
        let mut routes: BTreeMap<(&str, &str), (RouteSide, Histogram)> = BTreeMap::new();
        for s in &summaries {
            let mut route = s.route.map(|r| routes.entry((r.method.as_str(), r.path.as_str())).or_default());
            if let Some((side, _)) = route.as_mut() {
                side.traces += 1;
                side.faults += u64::from(s.fault);
            }
            match s.response_ms {
                Some(ms) if cold.contains(s.id.as_str()) => {
                    sample.cold_starts += 1;
                    sample.cold_latency_ms.record(ms);
                }
                Some(ms) if !s.fault => {
                    sample.latency_ms.record(ms);
                    if let Some((_, warm)) = route {
                        warm.record(ms);
                    }
                }
                _ => {}
            }
        }
        sample.routes = routes
            .into_iter()
            .map(|((method, path), (side, warm))| (format!("{method} {path}"), with_quantiles(side, &warm)))
            .collect();
        Ok(sample)
    }

    /// The service's summaries over the window; counts go straight into
    /// `sample`. A short window is read whole. A long one (a baseline over
    /// a day or two: hundreds of thousands of traces, at 5 calls a second)
    /// is read as up to [`CHUNKS_MAX`] chunks spread over it, each up to its
    /// share of [`SUMMARY_BUDGET`]: a sample of its latencies, not all of
    /// them, read within the driver's deadline ([`TraceSample::budgeted`]).
    async fn summaries(
        &self,
        service: &str,
        from_ms: u64,
        to_ms: u64,
        sample: &mut TraceSample,
    ) -> Result<Vec<Summary>, MeasureError> {
        let span = to_ms.saturating_sub(from_ms).max(1);
        let chunks = span.div_ceil(CHUNK_MS).clamp(1, CHUNKS_MAX);
        let per_chunk = SUMMARY_BUDGET / chunks as usize;
        let mut summaries = Vec::new();
        for c in 0..chunks {
            let (start, end) = (from_ms + span * c / chunks, from_ms + span * (c + 1) / chunks);
            let mut read = 0;
            let mut next: Option<String> = None;
            loop {
                let out = self
                    .client
                    .get_trace_summaries()
                    .start_time(DateTime::from_millis(start as i64))
                    .end_time(DateTime::from_millis(end as i64))
                    .filter_expression(format!("service(\"{service}\")"))
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| fail(AwsFailure::from_sdk("xray:GetTraceSummaries", &e).message))?;
                for trace in out.trace_summaries() {
                    read += 1;
                    if trace.is_partial() == Some(true) {
                        sample.partial += 1;
                        continue;
                    }
                    sample.traces += 1;
                    let fault = trace.has_fault() == Some(true);
                    sample.faults += u64::from(fault);
                    sample.errors += u64::from(trace.has_error() == Some(true));
                    sample.throttles += u64::from(trace.has_throttle() == Some(true));
                    let response_ms =
                        trace.response_time().filter(|s| s.is_finite() && *s >= 0.0).map(|seconds| seconds * 1000.0);
                    let route = trace.http().and_then(|h| contract_route(h.http_method()?, h.http_url()?));
                    summaries.push(Summary {
                        id: trace.id().unwrap_or_default().to_owned(),
                        response_ms,
                        fault,
                        route,
                    });
                }
                match out.next_token().filter(|token| !token.is_empty()) {
                    Some(_) if read >= per_chunk => {
                        sample.budgeted = true;
                        break;
                    }
                    Some(token) => next = Some(token.to_owned()),
                    None => break,
                }
            }
        }
        Ok(summaries)
    }

    /// The segment documents of `ids`, parsed, per trace id. Ids X-Ray
    /// leaves unprocessed are skipped: a smaller sample, not an error.
    async fn documents(&self, ids: &[&str]) -> Result<Vec<(String, Vec<Value>)>, MeasureError> {
        let mut traces = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_CALL) {
            let mut next: Option<String> = None;
            loop {
                let out = self
                    .client
                    .batch_get_traces()
                    .set_trace_ids(Some(chunk.iter().map(|id| (*id).to_owned()).collect()))
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| fail(AwsFailure::from_sdk("xray:BatchGetTraces", &e).message))?;
                for trace in out.traces() {
                    let segments = trace
                        .segments()
                        .iter()
                        .filter_map(|s| s.document())
                        .map(serde_json::from_str::<Value>)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| fail(format!("a segment document X-Ray sent is not JSON: {e}")))?;
                    traces.push((trace.id().unwrap_or_default().to_owned(), segments));
                }
                match out.next_token() {
                    Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(traces)
    }
}

/// Pools samples of unequal weight: `(histogram, requests it stands for)`.
/// Each of a part's values stands for `traffic / count` requests; the pool
/// has the traffic-weighted mixture's shape and Kish's effective sample
/// size, `(Σ w)² / Σ w²` over the values, so weighting claims no more
/// evidence than the traces hold. Parts without traffic (or without
/// values) are left out; with no traffic anywhere the values are merged as
/// they are.
pub fn pool_weighted(parts: &[(&Histogram, f64)]) -> Histogram {
    let weighted: Vec<(&Histogram, f64)> =
        parts.iter().filter(|(h, n)| h.count() > 0 && *n > 0.0).map(|(h, n)| (*h, *n)).collect();
    if weighted.is_empty() {
        let mut merged = Histogram::default();
        parts.iter().for_each(|(h, _)| merged.merge(h));
        return merged;
    }
    let traffic: f64 = weighted.iter().map(|(_, n)| n).sum();
    let effective = effective_size(weighted.iter().map(|(h, n)| (h.count() as f64, *n)));
    let mut pooled = Histogram::default();
    for (h, n) in weighted {
        pooled.merge(&h.resized((effective * n / traffic).round() as u64));
    }
    pooled
}

/// Kish's effective sample size of parts `(values, requests they stand
/// for)`: each value weighs `requests / values`, and `(Σ w)² / Σ w²` over
/// all values is `(Σ requests)² / Σ (requests² / values)`.
fn effective_size(parts: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (traffic, squares) = parts.fold((0.0, 0.0), |(t, q), (values, n)| (t + n, q + n * n / values));
    traffic * traffic / squares
}

/// `GET /api/users/{userId}/context`.
fn route_name(route: &Route) -> String {
    format!("{} {}", route.method, route.path)
}

fn with_quantiles(side: RouteSide, warm: &Histogram) -> RouteSide {
    RouteSide { p50_ms: warm.quantile(0.5), p99_ms: warm.quantile(0.99), ..side }
}

/// The contract's route for a traced request (`GET`,
/// `https://host/api/users/42/context?x=1`), if it has one.
fn contract_route(method: &str, url: &str) -> Option<&'static Route> {
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    match routes::lookup(&method, path) {
        Lookup::Found(route, _) => Some(route),
        _ => None,
    }
}

/// The contract's route of a deployed function: its name (an alias or
/// version after `:` aside) is the contract's function name, or ends with
/// `-` and it (`internal-api-get-report`); the longest such name wins.
fn function_route(deployed: &str) -> Option<&'static Route> {
    let deployed = deployed.split(':').next().unwrap_or(deployed);
    let names = |r: &&Route| {
        let name = r.function.name();
        deployed == name || deployed.strip_suffix(name).is_some_and(|prefix| prefix.ends_with('-'))
    };
    routes::contract().routes.iter().filter(names).max_by_key(|r| r.function.name().len())
}

/// The new side's sample from its functions' (sample, invocations).
fn pool(parts: &[(TraceSample, u64)]) -> TraceSample {
    let mut pooled = TraceSample::default();
    for (s, _) in parts {
        pooled.budgeted |= s.budgeted;
        pooled.traces += s.traces;
        pooled.partial += s.partial;
        pooled.faults += s.faults;
        pooled.errors += s.errors;
        pooled.throttles += s.throttles;
    }
    let warm: Vec<(&Histogram, f64)> = parts.iter().map(|(s, n)| (&s.latency_ms, *n as f64)).collect();
    pooled.latency_ms = pool_weighted(&warm);
    // Cold starts stand for each function's estimated cold starts, not its
    // invocations: a busy function's one cold trace must not outweigh a
    // quiet one that cold-starts on every request.
    let cold: Vec<(&Histogram, f64)> = parts
        .iter()
        .map(|(s, n)| (&s.cold_latency_ms, *n as f64 * s.cold_starts as f64 / s.detailed.max(1) as f64))
        .collect();
    pooled.cold_latency_ms = pool_weighted(&cold);
    // Cold starts among the traces read whole, as a share of each
    // function's traffic: the same weighting, on a yes/no per trace.
    let read: Vec<(f64, f64, f64)> = parts
        .iter()
        .filter(|(s, n)| s.detailed > 0 && *n > 0)
        .map(|(s, n)| (s.detailed as f64, s.cold_starts as f64, *n as f64))
        .collect();
    let traffic: f64 = read.iter().map(|(_, _, n)| n).sum();
    if traffic > 0.0 {
        let effective = effective_size(read.iter().map(|(d, _, n)| (*d, *n)));
        let share = read.iter().map(|(d, c, n)| n * c / d).sum::<f64>() / traffic;
        pooled.detailed = effective.round() as u64;
        pooled.cold_starts = (share * effective).round() as u64;
    } else {
        pooled.detailed = parts.iter().map(|(s, _)| s.detailed).sum();
        pooled.cold_starts = parts.iter().map(|(s, _)| s.cold_starts).sum();
    }
    pooled
}

fn fail(message: String) -> MeasureError {
    MeasureError::new(Source::XRay, message)
}

/// At most `n` ids, evenly spread over the summaries in the order X-Ray
/// listed them, so the detailed sample is not the first page only.
fn spread(summaries: &[Summary], n: usize) -> Vec<&str> {
    let usable: Vec<&str> = summaries.iter().map(|s| s.id.as_str()).filter(|id| !id.is_empty()).collect();
    if usable.len() <= n {
        return usable;
    }
    (0..n).map(|i| usable[i * usable.len() / n]).collect()
}

/// What one trace's documents say.
#[derive(Debug, Default, PartialEq)]
struct TraceWalk {
    /// `(name, depth, ms)` in the order first met; a hop met twice (two
    /// DynamoDB calls) is summed.
    hops: Vec<(String, u8, f64)>,
    cold_start: bool,
}

impl TraceWalk {
    fn add(&mut self, name: &str, depth: u8, ms: f64) {
        match self.hops.iter_mut().find(|(n, ..)| n == name) {
            Some((_, _, total)) => *total += ms,
            None => self.hops.push((name.to_owned(), depth, ms)),
        }
    }
}

/// Walks a trace's segments: the Lambda service (`lambda`) and function
/// (`function`) segments, an app's own segment (by its service name), and
/// inside them the subsegments that are hops: `init` (a cold start), AWS
/// calls by service (`dynamodb`), SQL (`db`) and other HTTP calls
/// (`remote`). Inferred segments repeat what a subsegment already says and
/// are skipped; other subsegments are looked through.
fn walk_trace(segments: &[Value]) -> TraceWalk {
    let mut walk = TraceWalk::default();
    for segment in segments {
        if segment.get("inferred").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let (name, depth) = match segment.get("origin").and_then(Value::as_str) {
            Some("AWS::Lambda") => ("lambda".to_owned(), 0),
            Some("AWS::Lambda::Function") => ("function".to_owned(), 1),
            _ => match segment.get("name").and_then(Value::as_str) {
                Some(name) => (name.to_owned(), 0),
                None => continue,
            },
        };
        if let Some(ms) = span_ms(segment) {
            walk.add(&name, depth, ms);
        }
        walk_subsegments(segment, depth + 1, &mut walk);
    }
    walk
}

fn walk_subsegments(parent: &Value, depth: u8, walk: &mut TraceWalk) {
    let Some(children) = parent.get("subsegments").and_then(Value::as_array) else { return };
    for sub in children {
        let name = sub.get("name").and_then(Value::as_str).unwrap_or_default();
        let namespace = sub.get("namespace").and_then(Value::as_str);
        let hop = if name == "Initialization" {
            walk.cold_start = true;
            Some("init".to_owned())
        } else if sub.get("sql").is_some() {
            Some("db".to_owned())
        } else if namespace == Some("aws") && !name.is_empty() {
            Some(name.to_lowercase())
        } else if namespace == Some("remote") {
            Some("remote".to_owned())
        } else {
            None
        };
        match hop {
            Some(hop) => {
                if let Some(ms) = span_ms(sub) {
                    walk.add(&hop, depth, ms);
                }
                walk_subsegments(sub, depth + 1, walk);
            }
            // `Invocation`, `Overhead`, the app's own spans: looked through.
            None => walk_subsegments(sub, depth, walk),
        }
    }
}

/// A finished span's length in ms; `None` while in progress or malformed.
fn span_ms(span: &Value) -> Option<f64> {
    if span.get("in_progress").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let start = span.get("start_time")?.as_f64()?;
    let end = span.get("end_time")?.as_f64()?;
    let ms = (end - start) * 1000.0;
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

/// Each hop's per-trace times over many traces.
#[derive(Default)]
struct HopTable {
    order: Vec<(String, u8)>,
    times: HashMap<String, Histogram>,
}

impl HopTable {
    fn add(&mut self, hops: &[(String, u8, f64)]) {
        for (name, depth, ms) in hops {
            let times = self.times.entry(name.clone()).or_insert_with(|| {
                self.order.push((name.clone(), *depth));
                Histogram::default()
            });
            times.record(*ms);
        }
    }

    /// Outermost first; within a depth, in the order first met.
    fn finish(mut self) -> Vec<Hop> {
        self.order.sort_by_key(|(_, depth)| *depth);
        self.order
            .into_iter()
            .map(|(name, depth)| {
                let times = self.times.remove(&name).unwrap_or_default();
                Hop {
                    source: Source::XRay,
                    depth,
                    samples: times.count(),
                    p50_ms: times.quantile(0.5),
                    p99_ms: times.quantile(0.99),
                    name,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployed_function_is_its_contract_routes() {
        let path = |deployed: &str| function_route(deployed).map(|r| format!("{} {}", r.method, r.path));
        assert_eq!(path("get-report").as_deref(), Some("GET /api/reports/{reportId}"));
        assert_eq!(path("internal-api-put-user-context").as_deref(), Some("PUT /api/users/{userId}/context"));
        assert_eq!(path("internal-api-get-user-context:live").as_deref(), Some("GET /api/users/{userId}/context"));
        assert_eq!(path("internal-api-reporting"), None);
        assert_eq!(path("internal-apiget-report"), None, "a whole name, after a dash");
    }

    /// A Lambda trace as X-Ray returns it: the service segment, the
    /// function segment with a cold start and two DynamoDB calls (one
    /// inside the handler's own subsegment), and DynamoDB's inferred segment.
    fn cold_lambda_trace() -> Vec<Value> {
        vec![
            json!({"id": "a", "name": "get-report", "origin": "AWS::Lambda", "start_time": 100.000, "end_time": 100.310}),
            json!({"id": "b", "name": "get-report", "origin": "AWS::Lambda::Function",
                   "start_time": 100.005, "end_time": 100.300, "subsegments": [
                {"name": "Initialization", "start_time": 100.005, "end_time": 100.205},
                {"name": "Invocation", "start_time": 100.205, "end_time": 100.295, "subsegments": [
                    {"name": "DynamoDB", "namespace": "aws", "start_time": 100.210, "end_time": 100.230},
                    {"name": "render", "start_time": 100.230, "end_time": 100.290, "subsegments": [
                        {"name": "DynamoDB", "namespace": "aws", "start_time": 100.240, "end_time": 100.250}
                    ]}
                ]},
                {"name": "Overhead", "start_time": 100.295, "end_time": 100.300}
            ]}),
            json!({"id": "c", "name": "DynamoDB", "origin": "AWS::DynamoDB::Table", "inferred": true,
                   "start_time": 100.210, "end_time": 100.230}),
        ]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn a_lambda_trace_gives_its_hops_and_its_cold_start() {
        let walk = walk_trace(&cold_lambda_trace());
        assert!(walk.cold_start);
        let names: Vec<(&str, u8)> = walk.hops.iter().map(|(n, d, _)| (n.as_str(), *d)).collect();
        assert_eq!(names, [("lambda", 0), ("function", 1), ("init", 2), ("dynamodb", 2)]);
        let ms: Vec<f64> = walk.hops.iter().map(|h| h.2).collect();
        assert!(close(ms[0], 310.0) && close(ms[2], 200.0), "{ms:?}");
        assert!(close(ms[3], 30.0), "two calls summed, the inferred segment not counted again: {ms:?}");
    }

    #[test]
    fn an_express_trace_gives_its_database_and_remote_calls() {
        let trace = [json!({"name": "internal-api-express", "origin": "AWS::EC2::Instance",
        "start_time": 1.0, "end_time": 1.040, "subsegments": [
            {"name": "orders@db.internal", "namespace": "remote", "sql": {"database_type": "PostgreSQL"},
             "start_time": 1.002, "end_time": 1.020},
            {"name": "billing.internal", "namespace": "remote", "start_time": 1.020, "end_time": 1.035},
            {"name": "in progress", "namespace": "remote", "start_time": 1.035, "in_progress": true}
        ]})];
        let walk = walk_trace(&trace);
        assert!(!walk.cold_start);
        let names: Vec<&str> = walk.hops.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(names, ["internal-api-express", "db", "remote"], "an unfinished call has no length");
    }

    #[test]
    fn odd_documents_are_skipped_not_fatal() {
        let trace = [json!({"origin": "AWS::Lambda"}), json!("text"), json!({"subsegments": 3})];
        let walk = walk_trace(&trace);
        assert_eq!(walk, TraceWalk::default());
    }

    #[test]
    fn the_detailed_sample_is_spread_over_the_window() {
        let summaries: Vec<Summary> = (0..100)
            .map(|i| Summary { id: format!("t{i}"), response_ms: Some(1.0), fault: false, route: None })
            .collect();
        let chosen = spread(&summaries, 4);
        assert_eq!(chosen, ["t0", "t25", "t50", "t75"]);
        assert_eq!(spread(&summaries[..3], 4).len(), 3);
    }

    #[test]
    fn hop_table_reads_percentiles_per_hop() {
        let mut table = HopTable::default();
        for ms in 1..=100 {
            table.add(&[("function".into(), 1, f64::from(ms)), ("lambda".into(), 0, f64::from(ms) + 5.0)]);
        }
        table.add(&[("init".into(), 2, 180.0)]);
        let hops = table.finish();
        let names: Vec<&str> = hops.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["lambda", "function", "init"], "outermost first");
        assert_eq!((hops[1].samples, hops[2].samples), (100, 1));
        let p50 = hops[1].p50_ms.unwrap();
        assert!((48.0..=52.0).contains(&p50), "{p50}");
    }
}
