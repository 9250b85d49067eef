//! Both sides' numbers from CloudWatch: one `GetMetricData` call per
//! window (paged if CloudWatch pages it), every query in it.
//!
//! | side | namespace | metrics | unit as sent |
//! |---|---|---|---|
//! | legacy | `AWS/ApplicationELB` | `TargetResponseTime` percentiles, `RequestCount`, `HTTPCode_Target_5XX_Count`, `HTTPCode_ELB_5XX_Count` | **seconds** |
//! | serverless | `AWS/ApiGateway` (HTTP API) | `Latency` and `IntegrationLatency` percentiles, `Count`, `5xx` | milliseconds |
//! | serverless | `AWS/Lambda` | `Errors`, `Throttles`, `ConcurrentExecutions` per function | counts |
//!
//! Units are normalised here, once: latencies become milliseconds in the
//! judge's [`Histogram`]. CloudWatch gives percentiles, not samples, so each
//! minute's histogram is rebuilt from its percentiles (p10 … p99.9): the
//! requests between two percentiles are recorded at their geometric middle.
//! The judge's quantile and exceedance checks read those back within the
//! histogram's ~4 % bucket width plus the spacing of the percentiles.
//!
//! Missing data is missing, never zero: a minute with requests but no
//! percentiles, a result CloudWatch marks partial, or a source that failed
//! is a [`MeasureError`]. A minute with no `RequestCount` datapoint is a
//! minute without requests (CloudWatch writes none then).
//!
//! One-minute data shows up about two minutes late, so the window asked for
//! is read [`LAG`] earlier, in whole minutes. AWS cutovers run at real time
//! (speed 1), so engine time is wall time here. Later still is not rare, and
//! a minute not yet published reads as a minute without requests: where the
//! pinned side answered the controller's own probes in a minute (at least
//! [`PUBLISHED_MIN_PROBES`] below 500, away from its edges) and CloudWatch counts
//! fewer requests there, the minute is not published yet and the read is a
//! *late* [`MeasureError`]: the engine asks again a little later, from the
//! same start, instead of judging part of the window.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, StatusCode};
use aws_sdk_cloudwatch::Client;
use cutover_core::measure::{
    Histogram, Hop, MeasureError, Measurement, PerSide, RouteFigures, Side, SideSample, Source, Window,
};
use cutover_core::plan::MetricSources;
use cutover_core::ports::MetricsPort;

use crate::edge_logs::{EdgeLogRead, EdgeLogSource, MAX_LEFT_OUT};
use crate::xray::{TraceSample, XRaySource, XRAY_MIN_TRACES};
use crate::{AwsFailure, ATTEMPT_TIMEOUT, CALL_TIMEOUT, MAX_ATTEMPTS};
use aws_smithy_types::timeout::TimeoutConfig;
use cutover_runtime::probes::{edge_hop, ProbeLog};

/// Requests by which the edge's lines and CloudWatch's count of a side may
/// differ on top of [`MAX_LEFT_OUT`] (a request at a minute's edge).
const UNLIKE_MIN: u64 = 3;
/// How far behind the engine's window CloudWatch is read.
pub const LAG: Duration = Duration::from_secs(180);
/// A minute in which this many of the controller's probes reached a side's
/// origin must show at least as many requests there once published.
pub const PUBLISHED_MIN_PROBES: u64 = 3;
/// Probes this close to a minute's edges are not counted for it: one sent
/// at 12:00:59.9 may be counted in 12:01.
const MINUTE_EDGE_MS: u64 = 5_000;
const PERIOD_SECS: i32 = 60;
const MINUTE_MS: u64 = 60_000;
/// The percentiles asked for, as CloudWatch names them, and their ranks.
const PERCENTILES: [(&str, f64); 8] = [
    ("p10", 0.10),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

/// What was read for one window, normalised, beyond what the judge takes:
/// for dashboards and the audit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CloudWatchReading {
    pub measurement: Measurement,
    /// API Gateway's whole latency (its own time and the integration's),
    /// p50 and p99 in ms over the window, when there was traffic: the
    /// breakdown's `api_gateway` hop (the judge reads the integration's).
    pub gateway_p50_ms: Option<f64>,
    pub gateway_p99_ms: Option<f64>,
    pub lambda_errors: u64,
    pub lambda_throttles: u64,
    /// The highest per-minute `ConcurrentExecutions` of any function.
    pub lambda_peak_concurrency: Option<f64>,
    /// The window actually read (the asked one, [`LAG`] earlier, in minutes).
    pub read_from_ms: u64,
    pub read_to_ms: u64,
    /// The ALB's own 5xx over the window (no healthy target, a timeout):
    /// counted in the old side's errors unless the plan says `alb_shared`.
    pub alb_own_5xx: u64,
    /// Each function's invocations over the window, in the plan's order.
    pub lambda_invocations: Vec<u64>,
    /// Each function's slowest per-minute `Duration` p99 over the window
    /// (ms), in the plan's order: the dashboard's Lambda panel, in the audit.
    pub lambda_duration_p99_ms: Vec<Option<f64>>,
    /// X-Ray's samples over the same window, when X-Ray is a source; when
    /// both sides have at least [`XRAY_MIN_TRACES`] of them, both are judged
    /// on their latencies (never one side on X-Ray, the other on CloudWatch).
    pub xray: Option<PerSide<TraceSample>>,
    /// The edge's real-time logs over the same window, when they are a
    /// source: what was read and left out (the users' cohorts themselves
    /// are moved to [`Measurement::cohorts`]).
    pub edge_logs: Option<EdgeLogRead>,
}

pub struct CloudWatchMetrics {
    client: Client,
    sources: MetricSources,
    xray: Option<XRaySource>,
    probes: Option<ProbeLog>,
    edge_logs: Option<EdgeLogSource>,
}

pub(crate) fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

pub(crate) fn query(
    id: String,
    namespace: &str,
    name: &str,
    dimensions: Vec<Dimension>,
    stat: &str,
) -> MetricDataQuery {
    let metric = Metric::builder().namespace(namespace).metric_name(name).set_dimensions(Some(dimensions)).build();
    let stat = MetricStat::builder().metric(metric).period(PERIOD_SECS).stat(stat).build();
    MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
}

/// Query ids: `[a-z][a-zA-Z0-9_]*`; percentiles' dots become underscores.
fn id(side: &str, metric: &str, stat: &str) -> String {
    format!("{side}_{metric}_{}", stat.replace('.', "_")).to_lowercase()
}

impl CloudWatchMetrics {
    pub fn new(client: Client, sources: MetricSources) -> CloudWatchMetrics {
        CloudWatchMetrics { client, sources, xray: None, probes: None, edge_logs: None }
    }

    /// Judges latency on X-Ray's samples where there are enough of them.
    pub fn with_xray(mut self, xray: XRaySource) -> CloudWatchMetrics {
        self.xray = Some(xray);
        self
    }

    /// The controller's probes ([`cutover_runtime::probes::ProbeDriver`])
    /// are the probe stratum, taken out of CloudWatch's counts (which cannot
    /// tell them from users), and each side's `edge` hop, above CloudWatch's
    /// and X-Ray's.
    pub fn with_probes(mut self, log: ProbeLog) -> CloudWatchMetrics {
        self.probes = Some(log);
        self
    }

    /// Each user request's cohort from the edge's real-time logs, over the
    /// window CloudWatch is read for: users who fail on either side are
    /// then left out of the error tests, as in local mode.
    pub fn with_edge_logs(mut self, logs: EdgeLogSource) -> CloudWatchMetrics {
        self.edge_logs = Some(logs);
        self
    }

    /// The users' cohorts from the edge's lines over `[from, to)`, into
    /// `measurement` when they can be trusted: read whole, fewer than
    /// [`MAX_LEFT_OUT`] of them left out, and per side as many as
    /// CloudWatch counted (within [`MAX_LEFT_OUT`], a few requests, and the
    /// lines left out). Else the window's users are judged on CloudWatch's
    /// counts, side against side, and the reason is logged: a stream that
    /// stopped, a configuration detached, a wrong side would otherwise
    /// replace the users' errors with zeros.
    async fn edge_cohorts(
        &self,
        logs: &EdgeLogSource,
        measurement: &mut Measurement,
        from: u64,
        to: u64,
    ) -> EdgeLogRead {
        let mut read = match logs.read(from, to).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "the edge's lines could not be read: the window's users are judged without cohorts");
                return EdgeLogRead::default();
            }
        };
        let left_out = read.side_unknown + read.unreadable;
        let unlike = read.cohorts.as_ref().and_then(|cohorts| {
            Side::BOTH.into_iter().find_map(|side| {
                let lines = cohorts.get(side).requests();
                let counted = measurement.traffic.get(side).requests;
                let slack = (MAX_LEFT_OUT * counted as f64).ceil() as u64 + UNLIKE_MIN + left_out;
                (lines.abs_diff(counted) > slack).then_some((side, lines, counted))
            })
        });
        match (&read.cohorts, unlike) {
            (None, _) => tracing::warn!(
                lines = read.lines,
                side_unknown = read.side_unknown,
                unreadable = read.unreadable,
                "over {} % of the window's edge log lines left out: its users are judged without cohorts",
                MAX_LEFT_OUT * 100.0
            ),
            (Some(_), Some((side, lines, counted))) => {
                tracing::warn!(
                    side = side.as_str(),
                    lines,
                    counted,
                    "the edge logged a different number of the side's requests than CloudWatch counted: the \
                     window's users are judged without cohorts"
                );
                read.cohorts = None;
            }
            (Some(_), None) => {}
        }
        measurement.cohorts = read.cohorts.take();
        read
    }

    /// Every query of one window, in one list.
    fn queries(&self) -> Vec<MetricDataQuery> {
        queries(&self.sources)
    }
}

/// One metric the adapter reads: what a dashboard may show beside the judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricRead {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
}

/// Every metric the adapter reads for `sources`.
pub fn metrics_read(sources: &MetricSources) -> Vec<MetricRead> {
    queries(sources)
        .iter()
        .filter_map(|q| {
            let stat = q.metric_stat()?;
            let metric = stat.metric()?;
            let dimensions = metric
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap_or_default().to_owned(), d.value().unwrap_or_default().to_owned()));
            Some(MetricRead {
                namespace: metric.namespace()?.to_owned(),
                name: metric.metric_name()?.to_owned(),
                dimensions: dimensions.collect(),
                stat: stat.stat()?.to_owned(),
            })
        })
        .collect()
}

/// Every query of one window for `sources`.
fn queries(sources: &MetricSources) -> Vec<MetricDataQuery> {
    let s = sources;
    let alb = || vec![dimension("LoadBalancer", &s.alb_load_balancer), dimension("TargetGroup", &s.alb_target_group)];
    let api = || vec![dimension("ApiId", &s.api_id), dimension("Stage", &s.api_stage)];
    let mut queries = Vec::new();
    for (stat, _) in PERCENTILES {
        queries.push(query(id("legacy", "latency", stat), "AWS/ApplicationELB", "TargetResponseTime", alb(), stat));
        // Time in the backend as its proxy sees it, on both sides: the
        // ALB's wait on its target against API Gateway's on its
        // integration (Lambda). The whole path is the probes' to judge.
        queries.push(query(id("serverless", "latency", stat), "AWS/ApiGateway", "IntegrationLatency", api(), stat));
    }
    let alb_sum =
        |part: &str, metric: &str| query(id("legacy", part, "sum"), "AWS/ApplicationELB", metric, alb(), "Sum");
    queries.push(alb_sum("requests", "RequestCount"));
    queries.push(alb_sum("target5xx", "HTTPCode_Target_5XX_Count"));
    let lb = vec![dimension("LoadBalancer", &s.alb_load_balancer)];
    queries.push(query(id("legacy", "elb5xx", "sum"), "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum"));
    queries.push(query(id("serverless", "requests", "sum"), "AWS/ApiGateway", "Count", api(), "Sum"));
    queries.push(query(id("serverless", "5xx", "sum"), "AWS/ApiGateway", "5xx", api(), "Sum"));
    queries.push(alb_sum("target4xx", "HTTPCode_Target_4XX_Count"));
    queries.push(query(id("serverless", "4xx", "sum"), "AWS/ApiGateway", "4xx", api(), "Sum"));
    for stat in ["p50", "p99"] {
        queries.push(query(id("serverless", "gateway", stat), "AWS/ApiGateway", "Latency", api(), stat));
    }
    for (n, function) in s.lambda_functions.iter().enumerate() {
        let dims = || vec![dimension("FunctionName", function)];
        queries.push(query(format!("lambda{n}_errors"), "AWS/Lambda", "Errors", dims(), "Sum"));
        queries.push(query(format!("lambda{n}_throttles"), "AWS/Lambda", "Throttles", dims(), "Sum"));
        queries.push(query(format!("lambda{n}_invocations"), "AWS/Lambda", "Invocations", dims(), "Sum"));
        queries.push(query(format!("lambda{n}_duration"), "AWS/Lambda", "Duration", dims(), "p99"));
        queries.push(query(format!("lambda{n}_concurrency"), "AWS/Lambda", "ConcurrentExecutions", dims(), "Maximum"));
    }
    queries
}

impl CloudWatchMetrics {
    /// Reads one window (shifted by [`LAG`], in whole minutes).
    pub async fn read(&self, window: Window) -> Result<CloudWatchReading, MeasureError> {
        let fail = |message: String| MeasureError::new(Source::CloudWatch, message);
        let lag = LAG.as_millis() as u64;
        let from = window.from.as_ms().saturating_sub(lag) / MINUTE_MS * MINUTE_MS;
        let to = window.to.as_ms().saturating_sub(lag) / MINUTE_MS * MINUTE_MS;
        if to <= from {
            return Err(fail(format!(
                "the window {}–{} holds no whole minute once read {} s late; CloudWatch's period is 60 s, so the \
                 plan's interval must be at least 2m",
                window.from,
                window.to,
                LAG.as_secs()
            )));
        }
        let queries = self.queries();
        let mut series: HashMap<String, BTreeMap<i64, f64>> = HashMap::new();
        let mut next = None;
        loop {
            let out = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_millis(from as i64))
                .end_time(DateTime::from_millis(to as i64))
                .set_next_token(next)
                .customize()
                .config_override(sized_to(to - from))
                .send()
                .await
                .map_err(|e| fail(AwsFailure::from_sdk("cloudwatch:GetMetricData", &e).message))?;
            let mut partial = false;
            for result in out.metric_data_results() {
                partial |= collect(result, &mut series).map_err(fail)?;
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                // Partial with nothing more to page: data is missing.
                _ if partial => return Err(fail("CloudWatch marked the data partial and sent no next page".into())),
                _ => break,
            }
        }
        if let Some(minute) = self.probes.as_ref().and_then(|log| unpublished(&series, log, from, to)) {
            tracing::info!(%minute, "CloudWatch has not published the whole window yet; asked again later");
            return Err(MeasureError::late(Source::CloudWatch, minute));
        }
        let mut reading = CloudWatchReading { read_from_ms: from, read_to_ms: to, ..CloudWatchReading::default() };
        for side in Side::BOTH {
            *reading.measurement.traffic.get_mut(side) =
                side_sample(&series, side.as_str(), !self.sources.alb_shared).map_err(fail)?;
        }
        let sum = |id: &str| series.get(id).map_or(0.0, |points| points.values().sum::<f64>());
        reading.alb_own_5xx = sum(&id("legacy", "elb5xx", "sum")).round() as u64;
        let combined = |stat: &str| {
            // Weighted by each minute's requests: the window's middle, near enough for a dashboard.
            let (values, counts) =
                (series.get(&id("serverless", "gateway", stat))?, series.get(&id("serverless", "requests", "sum"))?);
            let (mut total, mut weight) = (0.0, 0.0);
            for (minute, value) in values {
                let n = counts.get(minute).copied().unwrap_or(0.0);
                total += value * n;
                weight += n;
            }
            (weight > 0.0).then(|| total / weight)
        };
        reading.gateway_p50_ms = combined("p50");
        reading.gateway_p99_ms = combined("p99");
        reading.measurement.latency_source = Some(PerSide {
            legacy: "cloudwatch: ALB TargetResponseTime".into(),
            serverless: "cloudwatch: API Gateway IntegrationLatency".into(),
        });
        reading.measurement.hops = reading.cloudwatch_hops();
        reading.lambda_invocations = (0..self.sources.lambda_functions.len())
            .map(|n| sum(&format!("lambda{n}_invocations")).round() as u64)
            .collect();
        if let Some(xray) = &self.xray {
            // X-Ray is the only source of cold starts: unreadable, the
            // window is not measured (judging without it would pass the
            // cold-start checks on nothing).
            let legacy_requests = reading.measurement.traffic.legacy.requests;
            let samples = xray.sample(from, to, legacy_requests, &reading.lambda_invocations).await?;
            reading.apply_xray(&samples);
            reading.xray = Some(samples);
        }
        if let Some(log) = &self.probes {
            let (probes, counted) = (log.sample(from, to), log.counted_by_origins(from, to));
            for side in Side::BOTH {
                // Only what reached an origin and came back is in CloudWatch's counts.
                let (traffic, probed) = (reading.measurement.traffic.get_mut(side), counted.get(side));
                traffic.requests = traffic.requests.saturating_sub(probed.requests);
                traffic.errors = traffic.errors.saturating_sub(probed.errors).min(traffic.requests);
            }
            reading.top_with(PerSide { legacy: edge_hop(&probes.legacy), serverless: edge_hop(&probes.serverless) });
            reading.measurement.probes = probes;
        }
        if let Some(logs) = &self.edge_logs {
            reading.edge_logs = Some(self.edge_cohorts(logs, &mut reading.measurement, from, to).await);
        }
        let highest = |id: &str| series.get(id).and_then(|p| p.values().copied().reduce(f64::max));
        for n in 0..self.sources.lambda_functions.len() {
            reading.lambda_errors += sum(&format!("lambda{n}_errors")).round() as u64;
            reading.lambda_throttles += sum(&format!("lambda{n}_throttles")).round() as u64;
            reading.lambda_duration_p99_ms.push(highest(&format!("lambda{n}_duration")));
            let peak = highest(&format!("lambda{n}_concurrency"));
            reading.lambda_peak_concurrency = match (reading.lambda_peak_concurrency, peak) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(reading)
    }
}

impl CloudWatchReading {
    /// The hops CloudWatch sees: the ALB's wait on its targets; API
    /// Gateway's whole latency and, within it, the integration's.
    fn cloudwatch_hops(&self) -> PerSide<Vec<Hop>> {
        let traffic = &self.measurement.traffic;
        let hop = |name: &str, depth: u8, samples: u64, p50_ms: Option<f64>, p99_ms: Option<f64>| Hop {
            name: name.into(),
            source: Source::CloudWatch,
            depth,
            samples,
            p50_ms,
            p99_ms,
        };
        let of = |name: &str, sample: &SideSample| {
            let h = &sample.latency_ms;
            hop(name, 0, sample.requests, h.quantile(0.5), h.quantile(0.99))
        };
        let mut hops = PerSide::<Vec<Hop>>::default();
        if traffic.legacy.requests > 0 {
            hops.legacy.push(of("alb_target", &traffic.legacy));
        }
        let serverless = &traffic.serverless;
        if serverless.requests > 0 {
            if self.gateway_p50_ms.is_some() || self.gateway_p99_ms.is_some() {
                let (p50, p99) = (self.gateway_p50_ms, self.gateway_p99_ms);
                hops.serverless.push(hop("api_gateway", 0, serverless.requests, p50, p99));
            }
            let integration = of("integration", serverless);
            let depth = u8::from(!hops.serverless.is_empty());
            hops.serverless.push(Hop { depth, ..integration });
        }
        hops
    }

    /// Puts each side's `edge` hop on top of the others.
    fn top_with(&mut self, edge: PerSide<Option<Hop>>) {
        for (side, hop) in [(Side::Legacy, edge.legacy), (Side::Serverless, edge.serverless)] {
            if let Some(hop) = hop {
                let hops = self.measurement.hops.get_mut(side);
                hops.iter_mut().for_each(|h| h.depth += 1);
                hops.insert(0, hop);
            }
        }
    }

    /// Takes in X-Ray's samples: a side's latency where it has enough
    /// traces, the new side's cold starts where traces were read whole, and
    /// both sides' hops beneath CloudWatch's.
    fn apply_xray(&mut self, samples: &PerSide<TraceSample>) {
        // Both sides from X-Ray or neither: a check compares like with like.
        // Counted after pooling: the new side's pool holds its effective size.
        let both = Side::BOTH.iter().all(|s| samples.get(*s).latency_ms.count() >= XRAY_MIN_TRACES);
        if both {
            self.measurement.latency_source = Some(PerSide {
                legacy: "xray: the app's segments".into(),
                serverless: "xray: the functions' Lambda segments".into(),
            });
        }
        for side in Side::BOTH {
            let sample = samples.get(side);
            let traffic = self.measurement.traffic.get_mut(side);
            if both {
                traffic.latency_ms = sample.latency_ms.clone();
            }
            if side == Side::Serverless {
                // Cold starts are known of the traces read whole only.
                traffic.cold_checked = Some(sample.detailed);
                traffic.cold_starts = sample.cold_starts;
                traffic.cold_latency_ms = sample.cold_latency_ms.clone();
            }
            let hops = self.measurement.hops.get_mut(side);
            let beneath = hops.iter().map(|h| h.depth + 1).max().unwrap_or(0);
            hops.extend(sample.hops.iter().map(|h| Hop { depth: h.depth + beneath, ..h.clone() }));
        }
        // Every route either side's traces reached, both sides from X-Ray.
        let mut names: Vec<&String> = samples.legacy.routes.keys().chain(samples.serverless.routes.keys()).collect();
        names.sort();
        names.dedup();
        self.measurement.routes = names
            .into_iter()
            .map(|name| {
                let of = |side: Side| samples.get(side).routes.get(name).copied().unwrap_or_default();
                RouteFigures {
                    route: name.clone(),
                    sides: PerSide { legacy: of(Side::Legacy), serverless: of(Side::Serverless) },
                }
            })
            .collect();
    }
}

/// Timeouts for a `GetMetricData` over `span_ms`: the SDK-wide ones for a
/// few minutes, and a second more per attempt for every two hours read, up
/// to 30 s (a 48 h baseline with 7 functions is ~150 000 datapoints in two
/// pages; 14 days of `RequestCount` for `plan advise` is 20 160).
fn timeouts_for(span_ms: u64) -> TimeoutConfig {
    let extra = Duration::from_secs(span_ms.div_ceil(2 * 3_600_000));
    let attempt = (ATTEMPT_TIMEOUT + extra).min(Duration::from_secs(30));
    TimeoutConfig::builder()
        .operation_attempt_timeout(attempt)
        .operation_timeout((attempt * MAX_ATTEMPTS).max(CALL_TIMEOUT))
        .build()
}

fn sized_to(span_ms: u64) -> aws_sdk_cloudwatch::config::Builder {
    aws_sdk_cloudwatch::config::Builder::default().timeout_config(timeouts_for(span_ms))
}

/// The first minute of `[from, to)` CloudWatch has not published in full,
/// as a sentence: one in which it counts fewer requests on a side than the
/// controller's probes that side answered.
fn unpublished(series: &HashMap<String, BTreeMap<i64, f64>>, log: &ProbeLog, from: u64, to: u64) -> Option<String> {
    for m in (from..to).step_by(MINUTE_MS as usize) {
        // Only probes the pinned side answered below 500 surely reached it:
        // a 5xx may be the edge's own (an origin it cannot reach), and
        // counting those would turn an outage into a late read.
        let probed = log.sample(m + MINUTE_EDGE_MS, m + MINUTE_MS - MINUTE_EDGE_MS);
        for side in Side::BOTH {
            let answered = probed.get(side);
            let probes = answered.requests - answered.errors;
            let counted = series
                .get(&id(side.as_str(), "requests", "sum"))
                .and_then(|p| p.get(&(m as i64)))
                .copied()
                .unwrap_or(0.0);
            if probes >= PUBLISHED_MIN_PROBES && counted < probes as f64 {
                let at = cutover_core::units::Timestamp::from_ms(m);
                return Some(format!(
                    "the {} side's minute from {at} is not published yet: {counted:.0} requests counted where the \
                     controller's own probes made {probes}",
                    side.as_str()
                ));
            }
        }
    }
    None
}

/// Adds one query's datapoints to `series`; says whether CloudWatch marked
/// them partial (more on the next page); refuses failed results.
fn collect(result: &MetricDataResult, series: &mut HashMap<String, BTreeMap<i64, f64>>) -> Result<bool, String> {
    let id = result.id().unwrap_or_default().to_owned();
    let partial = match result.status_code() {
        Some(StatusCode::Complete) | None => false,
        Some(StatusCode::PartialData) => true,
        Some(status) => {
            let messages: Vec<&str> = result.messages().iter().filter_map(|m| m.value()).collect();
            return Err(format!("query {id}: CloudWatch answered {status}: {}", messages.join("; ")));
        }
    };
    if result.timestamps().len() != result.values().len() {
        return Err(format!(
            "query {id}: {} timestamps for {} values",
            result.timestamps().len(),
            result.values().len()
        ));
    }
    let points = series.entry(id).or_default();
    for (at, value) in result.timestamps().iter().zip(result.values()) {
        let ms = at.to_millis().map_err(|e| format!("a timestamp CloudWatch sent: {e}"))?;
        points.insert(ms, *value);
    }
    Ok(partial)
}

/// One side's requests, errors and latency histogram over the window.
/// One side's sample; `count_alb_5xx`: the ALB's own 5xx are the old side's
/// (the ALB serves nothing else).
fn side_sample(
    series: &HashMap<String, BTreeMap<i64, f64>>,
    side: &str,
    count_alb_5xx: bool,
) -> Result<SideSample, String> {
    // ALB latency comes in seconds, API Gateway's in milliseconds.
    let to_ms = if side == "legacy" { 1000.0 } else { 1.0 };
    let empty = BTreeMap::new();
    let requests = series.get(&id(side, "requests", "sum")).unwrap_or(&empty);
    let error_ids: &[&str] = match side {
        "legacy" if count_alb_5xx => &["target5xx", "elb5xx"],
        "legacy" => &["target5xx"],
        _ => &["5xx"],
    };
    let mut sample = SideSample::default();
    let sum = |part: &str| series.get(&id(side, part, "sum")).map_or(0.0, |p| p.values().sum::<f64>()).round() as u64;
    sample.errors = error_ids.iter().map(|part| sum(part)).sum();
    sample.client_errors = sum(if side == "legacy" { "target4xx" } else { "4xx" });
    for (minute, count) in requests {
        let count = count.round() as u64;
        if count == 0 {
            continue;
        }
        sample.requests += count;
        let mut quantiles = Vec::with_capacity(PERCENTILES.len());
        for (stat, rank) in PERCENTILES {
            if let Some(value) = series.get(&id(side, "latency", stat)).and_then(|p| p.get(minute)) {
                quantiles.push((rank, value * to_ms));
            }
        }
        if quantiles.is_empty() {
            return Err(format!(
                "{side}: {count} requests in the minute at {} but no latency percentiles: missing data, not zero",
                cutover_core::units::Timestamp::from_ms(*minute as u64)
            ));
        }
        record_from_percentiles(&mut sample.latency_ms, count, &quantiles);
    }
    Ok(sample)
}

/// Records `count` requests whose latency has the given `(rank, ms)`
/// percentiles. The share between two neighbouring percentiles is spread
/// log-evenly over eight points up to and including the upper one, so each
/// given percentile reads back as itself; the share below the first lies at
/// it, the rest above the last at it.
fn record_from_percentiles(histogram: &mut Histogram, count: u64, quantiles: &[(f64, f64)]) {
    const SPREAD: u64 = 8;
    let mut recorded = 0u64;
    let mut previous: Option<f64> = None;
    let mut record = |ms: f64, n: u64| {
        if n > 0 {
            histogram.record_n(ms, u32::try_from(n).unwrap_or(u32::MAX));
        }
    };
    for &(rank, ms) in quantiles {
        let upto = ((rank * count as f64).round() as u64).max(recorded);
        let n = upto - recorded;
        match previous {
            Some(low) if low > 0.0 && ms > low => {
                let mut placed = 0;
                for j in 1..=SPREAD {
                    let share = n * j / SPREAD - placed;
                    record(low * (ms / low).powf(j as f64 / SPREAD as f64), share);
                    placed += share;
                }
            }
            _ => record(ms, n),
        }
        recorded = upto;
        previous = Some(ms);
    }
    if let Some(last) = previous {
        record(last, count.saturating_sub(recorded));
    }
}

impl MetricsPort for CloudWatchMetrics {
    async fn measure(&self, window: Window) -> Result<Measurement, MeasureError> {
        self.read(window).await.map(|r| r.measurement)
    }
}

/// The ALB's requests per minute from `from_ms` to `to_ms` (whole minutes):
/// what `cutover plan advise --from-cloudwatch` simulates on. Before a
/// cutover every `/api/*` request reaches the ALB, so its `RequestCount` is
/// the API's traffic. CloudWatch keeps one-minute data for 15 days and
/// writes no datapoint in a minute without requests: a minute it does not
/// return had none.
pub async fn request_history(
    client: &Client,
    load_balancer: &str,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<f64>, AwsFailure> {
    let (from, to) = (from_ms / MINUTE_MS * MINUTE_MS, to_ms / MINUTE_MS * MINUTE_MS);
    let dimensions = vec![Dimension::builder().name("LoadBalancer").value(load_balancer).build()];
    let q = query("requests".into(), "AWS/ApplicationELB", "RequestCount", dimensions, "Sum");
    let mut per_minute = vec![0.0; ((to.saturating_sub(from)) / MINUTE_MS) as usize];
    let mut next = None;
    loop {
        let out = client
            .get_metric_data()
            .metric_data_queries(q.clone())
            .start_time(DateTime::from_millis(from as i64))
            .end_time(DateTime::from_millis(to as i64))
            .set_next_token(next)
            .customize()
            .config_override(sized_to(to - from))
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("cloudwatch:GetMetricData", &e))?;
        for result in out.metric_data_results() {
            for (at, value) in result.timestamps().iter().zip(result.values()) {
                let ms = at.to_millis().unwrap_or(0).max(0) as u64;
                if let Some(slot) =
                    ms.checked_sub(from).map(|d| (d / MINUTE_MS) as usize).and_then(|i| per_minute.get_mut(i))
                {
                    *slot += value.max(0.0);
                }
            }
        }
        match out.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => break,
        }
    }
    Ok(per_minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_grow_with_the_span_read() {
        let secs = |t: Option<Duration>| t.unwrap().as_secs();
        let of = |span_ms: u64| {
            let t = timeouts_for(span_ms);
            (secs(t.operation_attempt_timeout()), secs(t.operation_timeout()))
        };
        assert_eq!(of(120_000), (4, 16), "a 2-minute window");
        assert_eq!(of(48 * 3_600_000), (27, 108), "a 48 h baseline");
        assert_eq!(of(14 * 24 * 3_600_000), (30, 120), "14 days, capped");
    }

    #[test]
    fn a_histogram_rebuilt_from_percentiles_gives_them_back() {
        let mut h = Histogram::default();
        let quantiles = [
            (0.10, 20.0),
            (0.25, 25.0),
            (0.5, 30.0),
            (0.75, 40.0),
            (0.9, 60.0),
            (0.95, 80.0),
            (0.99, 150.0),
            (0.999, 400.0),
        ];
        record_from_percentiles(&mut h, 10_000, &quantiles);
        assert_eq!(h.count(), 10_000);
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((25.0..=31.5).contains(&p50), "p50 {p50}");
        assert!((80.0..=157.0).contains(&p99), "p99 {p99}");
        assert!(h.count_above(400.0) <= 10, "at most the 0.1 % above p99.9");
    }
}
