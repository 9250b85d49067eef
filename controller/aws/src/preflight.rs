//! `cutover preflight PLAN`: what must be true before a real cutover can
//! start, checked one line at a time, each failure with its fix. Every call
//! is a read but one: with no probe token in the KeyValueStore, one is
//! written (at random, as the controller would on its first run), since
//! the pinned probes need it.

use aws_sdk_apigatewayv2::types::IntegrationType;
use aws_sdk_cloudfront::types::{CacheBehavior, DistributionConfig, EventType, FunctionRuntime, FunctionStage, Method};
use aws_sdk_lambda::types::TracingMode;
use aws_sdk_xray::types::TraceSegmentDestination;
use cutover_core::edge_function;
use cutover_core::measure::Side;
use cutover_core::plan::{CloudFrontEdge, CohortKey, EdgeLogs, MetricSources};
use cutover_core::ports::{EdgeError, EdgePort};
use cutover_core::units::Weight;

use cutover_runtime::probes::PROBE_TOKEN_HEADER;
use cutover_runtime::system_now;
use cutover_runtime::verify::probe_client;
pub use cutover_runtime::verify::{answered_by, PROBE_HEADER, SERVED_BY};

use crate::cloudwatch::{dimension, query};
use crate::xray::TRACED_MIN_REQUESTS;
use crate::{AwsFailure, Clients, FailureKind, KvsEdge};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreflightOutcome {
    Pass(String),
    Fail {
        found: String,
        fix: String,
    },
    /// Not checked, because a check it needs failed.
    Skipped(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub outcome: PreflightOutcome,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, outcome: PreflightOutcome::Pass(detail.into()) }
    }

    fn fail(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, outcome: PreflightOutcome::Fail { found: found.into(), fix: fix.into() } }
    }

    fn skip(name: &'static str, why: impl Into<String>) -> Check {
        Check { name, outcome: PreflightOutcome::Skipped(why.into()) }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, PreflightOutcome::Fail { .. })
    }
}

pub struct Preflight {
    pub clients: Clients,
    pub edge: CloudFrontEdge,
    pub metrics: Option<MetricSources>,
    /// The plan's cohort key: what the edge logs must carry.
    pub cohort: CohortKey,
    /// Where to probe: the distribution's own domain when `None`.
    pub edge_url: Option<String>,
    /// A cheap GET route both sides serve.
    pub probe_path: String,
    /// Unreserved account concurrency below this fails.
    pub min_unreserved_concurrency: i32,
    /// The function's code as it must run for this plan
    /// (`cutover_core::edge_function::render`).
    pub function_code: String,
}

const API_PATTERN: &str = "/api/*";
const HOUR_MS: u64 = 3_600_000;
/// With Transaction Search on, the share of spans X-Ray must index as
/// traces for the controller to see what X-Ray alone would show it.
const INDEXED_MIN_PERCENT: f64 = 100.0;
/// CloudFront's managed policies, by their fixed ids.
pub const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
pub const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
pub const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";
/// What the API's routes use, and so what `/api/*` must allow.
pub const METHODS: [Method; 7] =
    [Method::Get, Method::Head, Method::Options, Method::Put, Method::Post, Method::Patch, Method::Delete];

// A behaviour without policies carries the legacy cache settings: deprecated
// in the API, still what older distributions hold, so read them.

#[allow(deprecated)]
fn legacy_ttls(api: &CacheBehavior) -> (i64, i64, i64) {
    (api.min_ttl().unwrap_or(0), api.default_ttl().unwrap_or(0), api.max_ttl().unwrap_or(0))
}

#[allow(deprecated)]
fn legacy_forwarded_headers(api: &CacheBehavior) -> Vec<String> {
    api.forwarded_values().and_then(|f| f.headers()).map(|h| h.items().to_vec()).unwrap_or_default()
}

/// The distribution's `/api/*` cache behaviour, if it has one.
fn api_behaviour(config: &DistributionConfig) -> Option<&CacheBehavior> {
    config.cache_behaviors().map(|b| b.items()).unwrap_or_default().iter().find(|b| b.path_pattern() == API_PATTERN)
}

/// A read AWS refused or failed: the grant when it was refused, else a retry.
fn unreadable(name: &'static str, failure: AwsFailure, action: &str) -> Check {
    let fix = match failure.kind {
        FailureKind::Denied => format!("grant the controller {action}"),
        _ => "run preflight again; if it stays unreadable, check the region the controller uses".to_owned(),
    };
    Check::fail(name, failure.message, fix)
}

/// Every method the API uses reaches an origin: CloudFront answers the
/// others itself (403), before the function runs.
fn check_methods(api: &CacheBehavior) -> Check {
    let name = "/api/* methods";
    let allowed = api.allowed_methods().map(|m| m.items()).unwrap_or_default();
    let missing: Vec<&str> = METHODS.iter().filter(|m| !allowed.contains(m)).map(Method::as_str).collect();
    if missing.is_empty() {
        Check::pass(name, "all seven")
    } else {
        Check::fail(
            name,
            format!("{} not allowed", missing.join(", ")),
            "allow GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE on /api/*",
        )
    }
}

impl Preflight {
    /// Runs every check, in order; a check whose input is missing is skipped.
    pub async fn run(&self) -> Vec<Check> {
        let mut checks = vec![self.check_region()];
        let id = &self.edge.distribution_id;
        let distribution = match self.clients.cloudfront.get_distribution().id(id).send().await {
            Ok(out) => out.distribution,
            Err(e) => {
                let failure = AwsFailure::from_sdk("cloudfront:GetDistribution", &e);
                let found = if e.as_service_error().is_some_and(|e| e.is_no_such_distribution()) {
                    format!("no distribution {id}")
                } else {
                    failure.message
                };
                checks.push(Check::fail(
                    "distribution",
                    found,
                    "set [target.cloudfront] distribution_id to the distribution in front of the API \
                     (aws cloudfront list-distributions)",
                ));
                None
            }
        };
        let config = distribution.as_ref().and_then(|d| d.distribution_config.clone());
        let domain = distribution.as_ref().map(|d| d.domain_name().to_owned());
        match (&distribution, &config) {
            (Some(d), Some(config)) => {
                checks.push(Check::pass("distribution", format!("{id} at {} ({})", d.domain_name(), d.status())));
                self.check_behaviour(config, &mut checks).await;
            }
            (Some(_), None) => checks.push(Check::fail(
                "distribution",
                "no configuration returned",
                "check cloudfront:GetDistribution access",
            )),
            _ => {
                for name in [
                    "/api/* behaviour",
                    "/api/* caching",
                    "/api/* methods",
                    "/api/* host header",
                    "edge function",
                    "legacy origin",
                    "serverless origin",
                    "function store",
                    "function code",
                ] {
                    checks.push(Check::skip(name, "the distribution could not be read"));
                }
            }
        }
        checks.push(self.check_store().await);
        checks.push(self.check_weight().await);
        let base = self.edge_url.clone().or(domain.map(|d| format!("https://{d}")));
        // The edge honours a pin only with the probe token (written at
        // random when missing, as the controller would on its first run).
        let token = self.kvs().probe_token(&self.edge.probe_token_key).await;
        for side in Side::BOTH {
            checks.push(self.check_side(base.as_deref(), side, &token).await);
        }
        checks.push(self.check_concurrency().await);
        checks.push(self.check_integrations().await);
        checks.push(self.check_tracing().await);
        checks.push(self.check_indexing().await);
        checks.push(self.check_xray_services().await);
        if let Some(logs) = self.metrics.as_ref().and_then(|m| m.edge_logs.as_ref()) {
            checks.push(self.check_edge_logs(logs, config.as_ref().and_then(api_behaviour)).await);
        }
        checks
    }

    /// The region the regional services are read in: none configured and
    /// every CloudWatch, X-Ray, Lambda and API Gateway call fails; the edge
    /// logs' stream must be in it.
    fn check_region(&self) -> Check {
        let name = "region";
        let Some(region) = self.clients.cloudwatch.config().region().map(|r| r.as_ref().to_owned()) else {
            return Check::fail(
                name,
                "no AWS region configured",
                "set AWS_REGION (or region in the AWS profile) to the region of the ALB, the HTTP API and the \
                 Lambda functions",
            );
        };
        let stream = self.metrics.as_ref().and_then(|m| m.edge_logs.as_ref()).map(|l| l.stream_arn.as_str());
        match stream.and_then(|arn| arn.split(':').nth(3)) {
            Some(other) if other != region => Check::fail(
                name,
                format!("the edge logs' stream is in {other}, the controller reads {region}"),
                format!("run the controller in {other} (AWS_REGION), or give the real-time logs a stream in {region}"),
            ),
            _ => Check::pass(name, format!("{region} (CloudWatch, X-Ray, Lambda, API Gateway; CloudFront is global)")),
        }
    }

    /// X-Ray knows the services the plan names: the old side's app (all of
    /// today's traffic, so it shows within the hour), and every function
    /// that was invoked in the hour. A function with active tracing whose
    /// role cannot write to X-Ray shows nowhere, and the new side's traces
    /// and cold starts would be missing at the first window it serves.
    async fn check_xray_services(&self) -> Check {
        let name = "x-ray services";
        let Some(sources) = self.metrics.as_ref().filter(|m| !m.xray_legacy_service.is_empty()) else {
            return Check::skip(name, "the plan names no [target.metrics] xray_legacy_service");
        };
        let now_ms = system_now().as_ms();
        let (from, to) = (now_ms.saturating_sub(HOUR_MS) as i64, now_ms as i64);
        let mut seen = std::collections::BTreeSet::new();
        let mut next = None;
        loop {
            let graph = self
                .clients
                .xray
                .get_service_graph()
                .start_time(aws_sdk_xray::primitives::DateTime::from_millis(from))
                .end_time(aws_sdk_xray::primitives::DateTime::from_millis(to))
                .set_next_token(next)
                .send()
                .await;
            let graph = match graph {
                Ok(graph) => graph,
                Err(e) => {
                    let action = "xray:GetServiceGraph";
                    return unreadable(name, AwsFailure::from_sdk(action, &e), action);
                }
            };
            for service in graph.services() {
                seen.extend(service.name().map(str::to_owned));
                seen.extend(service.names().iter().cloned());
            }
            match graph.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        let legacy = &sources.xray_legacy_service;
        if !seen.contains(legacy) {
            let listed =
                if seen.is_empty() { "none".to_owned() } else { seen.iter().cloned().collect::<Vec<_>>().join(", ") };
            return Check::fail(
                name,
                format!("no trace of service \"{legacy}\" in the last hour (X-Ray saw: {listed})"),
                "set xray_legacy_service to the name the app's X-Ray SDK gives its segments \
                 (AWSXRay.express.openSegment('NAME')), or instrument the app",
            );
        }
        let invocations = match self.invocations(&sources.lambda_functions, from, to).await {
            Ok(counts) => counts,
            Err(failure) => return unreadable(name, failure, "cloudwatch:GetMetricData"),
        };
        let untraced: Vec<String> = sources
            .lambda_functions
            .iter()
            .zip(&invocations)
            .filter(|(f, n)| **n >= TRACED_MIN_REQUESTS && !seen.contains(*f))
            .map(|(f, n)| format!("{f} ({n} invocations)"))
            .collect();
        if !untraced.is_empty() {
            return Check::fail(
                name,
                format!("invoked in the last hour, never traced: {}", untraced.join(", ")),
                "let each function's role write to X-Ray (the AWSXRayDaemonWriteAccess managed policy) \
                 and keep active tracing on",
            );
        }
        let functions = &sources.lambda_functions;
        let traced = functions.iter().filter(|f| seen.contains(*f)).count();
        let mut detail = format!("{legacy} and {traced} of {} functions traced in the last hour", functions.len());
        if traced < functions.len() {
            detail += "; the others were not invoked (at weight 0 only probes reach the new side)";
        }
        Check::pass(name, detail)
    }

    /// Each function's invocations from `from` to `to` (Unix ms), in order.
    async fn invocations(&self, functions: &[String], from: i64, to: i64) -> Result<Vec<u64>, AwsFailure> {
        // The adapter's own per-minute query, summed over the hour.
        let queries = functions.iter().enumerate().map(|(n, f)| {
            query(format!("f{n}"), "AWS/Lambda", "Invocations", vec![dimension("FunctionName", f)], "Sum")
        });
        let out = self
            .clients
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.collect()))
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(from))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_millis(to))
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("cloudwatch:GetMetricData", &e))?;
        let mut counts = vec![0u64; functions.len()];
        for result in out.metric_data_results() {
            let n = result.id().and_then(|id| id.strip_prefix('f')).and_then(|n| n.parse::<usize>().ok());
            if let Some(count) = n.and_then(|n| counts.get_mut(n)) {
                *count += result.values().iter().sum::<f64>().max(0.0).round() as u64;
            }
        }
        Ok(counts)
    }

    /// The plan reads each request's cohort from the edge's real-time logs:
    /// a configuration on `/api/*` that logs every request, with the plan's
    /// fields in the plan's order, into the plan's stream, which exists.
    async fn check_edge_logs(&self, logs: &EdgeLogs, api: Option<&CacheBehavior>) -> Check {
        let name = "edge logs";
        let Some(api) = api else {
            return Check::skip(name, "no /api/* behaviour");
        };
        let Some(arn) = api.realtime_log_config_arn() else {
            return Check::fail(
                name,
                "no real-time log configuration on /api/*",
                format!(
                    "create one (sampling rate 100, fields {}, Kinesis stream {}) and attach it to /api/* (infra/)",
                    logs.fields.join(","),
                    logs.stream_arn
                ),
            );
        };
        let config = match self.clients.cloudfront.get_realtime_log_config().arn(arn).send().await {
            Ok(out) => out.realtime_log_config,
            Err(e) => {
                return Check::fail(
                    name,
                    AwsFailure::from_sdk("cloudfront:GetRealtimeLogConfig", &e).message,
                    "check the controller's IAM policy (infra/controller-policy.json)",
                )
            }
        };
        let Some(config) = config else {
            return Check::fail(
                name,
                format!("{arn} returned no configuration"),
                "check cloudfront:GetRealtimeLogConfig access",
            );
        };
        if config.fields() != logs.fields.as_slice() {
            return Check::fail(
                name,
                format!("{} logs fields {}", config.name(), config.fields().join(",")),
                format!(
                    "set [target.metrics.edge_logs] fields to the configuration's, in its order, each of {} among them",
                    EdgeLogs::required_fields(&self.cohort).join(", ")
                ),
            );
        }
        if config.sampling_rate() != 100 {
            return Check::fail(
                name,
                format!("{} logs {} % of requests", config.name(), config.sampling_rate()),
                "set its sampling rate to 100: a user whose requests are not all logged is judged on a part of them",
            );
        }
        let streams: Vec<&str> =
            config.end_points().iter().filter_map(|e| e.kinesis_stream_config().map(|k| k.stream_arn())).collect();
        if !streams.contains(&logs.stream_arn.as_str()) {
            return Check::fail(
                name,
                format!(
                    "{} writes to {}",
                    config.name(),
                    if streams.is_empty() { "no Kinesis stream".into() } else { streams.join(", ") }
                ),
                "set [target.metrics.edge_logs] stream_arn to the configuration's stream",
            );
        }
        match self.clients.kinesis.describe_stream_summary().stream_arn(&logs.stream_arn).send().await {
            Ok(out) => {
                let status = out.stream_description_summary().map(|s| s.stream_status().as_str().to_owned());
                match status.as_deref() {
                    Some("ACTIVE" | "UPDATING") => {
                        Check::pass(name, format!("{} logs every /api/* request to {}", config.name(), logs.stream_arn))
                    }
                    other => Check::fail(
                        name,
                        format!("{} is {}", logs.stream_arn, other.unwrap_or("of no status")),
                        "wait until the stream is ACTIVE",
                    ),
                }
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Check::fail(
                name,
                format!("no stream {}", logs.stream_arn),
                "create the stream the configuration writes to (infra/), or fix stream_arn",
            ),
            Err(e) => {
                let action = "kinesis:DescribeStreamSummary";
                unreadable(name, AwsFailure::from_sdk(action, &e), action)
            }
        }
    }

    /// `/api/*` must not cache: a cached answer reaches neither side, so
    /// neither is measured, and a rollback would not reach it.
    async fn check_caching(&self, api: &CacheBehavior) -> Check {
        let name = "/api/* caching";
        let fix = format!("use the managed CachingDisabled cache policy ({CACHING_DISABLED}) on /api/*");
        let ttls = match api.cache_policy_id().filter(|id| !id.is_empty()) {
            Some(CACHING_DISABLED) => return Check::pass(name, "CachingDisabled"),
            Some(id) => match self.clients.cloudfront.get_cache_policy().id(id).send().await {
                Ok(out) => {
                    let config = out.cache_policy.and_then(|p| p.cache_policy_config);
                    let Some(c) = config else {
                        return Check::fail(name, format!("cache policy {id} has no configuration"), fix);
                    };
                    (
                        format!("cache policy {}", c.name()),
                        c.min_ttl(),
                        c.default_ttl().unwrap_or(0),
                        c.max_ttl().unwrap_or(0),
                    )
                }
                Err(e) => {
                    let failure = AwsFailure::from_sdk("cloudfront:GetCachePolicy", &e);
                    return Check::fail(
                        name,
                        failure.message,
                        "grant cloudfront:GetCachePolicy, or fix the behaviour's policy",
                    );
                }
            },
            // The legacy settings on the behaviour itself.
            None => {
                let (min, default, max) = legacy_ttls(api);
                ("the behaviour's own TTLs".to_owned(), min, default, max)
            }
        };
        match ttls {
            (what, 0, 0, 0) => Check::pass(name, format!("{what}: TTLs 0")),
            (what, min, default, max) => {
                Check::fail(name, format!("{what} caches (TTL min {min} s, default {default} s, max {max} s)"), fix)
            }
        }
    }

    /// API Gateway answers 403 to a `Host` that is not its own: the viewer's
    /// must not be forwarded to it.
    async fn check_host_header(&self, api: &CacheBehavior) -> Check {
        let name = "/api/* host header";
        let fix = format!(
            "use the managed AllViewerExceptHostHeader origin request policy ({ALL_VIEWER_EXCEPT_HOST}) on /api/*: \
             API Gateway refuses a Host not its own (403)"
        );
        let forwards_host = |headers: &[String]| headers.iter().any(|h| h.eq_ignore_ascii_case("host") || h == "*");
        match api.origin_request_policy_id().filter(|id| !id.is_empty()) {
            Some(ALL_VIEWER_EXCEPT_HOST) => Check::pass(name, "AllViewerExceptHostHeader"),
            Some(ALL_VIEWER) => {
                Check::fail(name, "the AllViewer origin request policy forwards the viewer's Host", fix)
            }
            Some(id) => match self.clients.cloudfront.get_origin_request_policy().id(id).send().await {
                Ok(out) => {
                    let config = out.origin_request_policy.and_then(|p| p.origin_request_policy_config);
                    let Some(c) = config else {
                        return Check::fail(name, format!("origin request policy {id} has no configuration"), fix);
                    };
                    let headers = c.headers_config();
                    let listed: Vec<String> =
                        headers.and_then(|h| h.headers()).map(|h| h.items().to_vec()).unwrap_or_default();
                    let behavior = headers.map(|h| h.header_behavior().clone());
                    use aws_sdk_cloudfront::types::OriginRequestPolicyHeaderBehavior as B;
                    let forwards = match behavior {
                        Some(B::AllViewer) | Some(B::AllViewerAndWhitelistCloudFront) => true,
                        Some(B::Whitelist) => forwards_host(&listed),
                        _ => false,
                    };
                    if forwards {
                        Check::fail(name, format!("origin request policy {} forwards the viewer's Host", c.name()), fix)
                    } else {
                        Check::pass(name, format!("origin request policy {} keeps Host", c.name()))
                    }
                }
                Err(e) => {
                    let failure = AwsFailure::from_sdk("cloudfront:GetOriginRequestPolicy", &e);
                    Check::fail(
                        name,
                        failure.message,
                        "grant cloudfront:GetOriginRequestPolicy, or fix the behaviour's policy",
                    )
                }
            },
            None => {
                if forwards_host(&legacy_forwarded_headers(api)) {
                    Check::fail(name, "the behaviour's forwarded headers include Host", fix)
                } else {
                    Check::pass(name, "Host not forwarded")
                }
            }
        }
    }

    /// Every function traces actively: X-Ray is where the new side's
    /// latency samples and cold starts come from.
    async fn check_tracing(&self) -> Check {
        let name = "function tracing";
        let Some(sources) = &self.metrics else {
            return Check::skip(name, "the plan names no [target.metrics] lambda_functions");
        };
        let mut off = Vec::new();
        for function in &sources.lambda_functions {
            match self.clients.lambda.get_function_configuration().function_name(function).send().await {
                Ok(out) if out.tracing_config().and_then(|t| t.mode()) == Some(&TracingMode::Active) => {}
                Ok(_) => off.push(function.as_str()),
                Err(e) => {
                    let failure = AwsFailure::from_sdk("lambda:GetFunctionConfiguration", &e);
                    return Check::fail(
                        name,
                        format!("{function}: {}", failure.message),
                        "deploy the function, or fix [target.metrics] lambda_functions",
                    );
                }
            }
        }
        match off.as_slice() {
            [] => Check::pass(name, format!("active on all {}", sources.lambda_functions.len())),
            off => Check::fail(
                name,
                format!("no active tracing on {}", off.join(", ")),
                format!(
                    "aws lambda update-function-configuration --tracing-config Mode=Active --function-name {} \
                     (each), and let it write to X-Ray (AWSXRayDaemonWriteAccess)",
                    off[0]
                ),
            ),
        }
    }

    async fn check_behaviour(&self, config: &DistributionConfig, checks: &mut Vec<Check>) {
        let Some(api) = api_behaviour(config) else {
            let behaviours = config.cache_behaviors().map(|b| b.items()).unwrap_or_default();
            let patterns: Vec<&str> = behaviours.iter().map(CacheBehavior::path_pattern).collect();
            checks.push(Check::fail(
                "/api/* behaviour",
                format!(
                    "no cache behaviour for {API_PATTERN} (found: {})",
                    if patterns.is_empty() { "none".into() } else { patterns.join(", ") }
                ),
                "add a /api/* cache behaviour whose origin is the ALB (infra/)",
            ));
            for name in ["/api/* caching", "/api/* methods", "/api/* host header", "edge function", "legacy origin"] {
                checks.push(Check::skip(name, "no /api/* behaviour"));
            }
            checks.push(Check::skip("function store", "no /api/* behaviour"));
            checks.push(Check::skip("function code", "no /api/* behaviour"));
            checks.push(self.check_origin(config, "serverless origin", &self.edge.serverless_origin_id));
            return;
        };
        checks.push(Check::pass("/api/* behaviour", format!("origin {}", api.target_origin_id())));
        checks.push(self.check_caching(api).await);
        checks.push(check_methods(api));
        checks.push(self.check_host_header(api).await);
        let viewer_request = api
            .function_associations()
            .map(|f| f.items())
            .unwrap_or_default()
            .iter()
            .find(|f| *f.event_type() == EventType::ViewerRequest)
            .map(|f| f.function_arn().to_owned());
        match &viewer_request {
            Some(arn) => checks.push(Check::pass("edge function", format!("{arn} at viewer-request"))),
            None => checks.push(Check::fail(
                "edge function",
                "no CloudFront Function at viewer-request on /api/*",
                "publish infra/edge-function/function.js (runtime cloudfront-js-2.0) and associate it with the \
                 /api/* behaviour at viewer-request (infra/)",
            )),
        }
        checks.push(self.check_origin(config, "legacy origin", api.target_origin_id()));
        checks.push(self.check_origin(config, "serverless origin", &self.edge.serverless_origin_id));
        match viewer_request {
            Some(arn) => {
                checks.push(self.check_function(&arn).await);
                checks.push(self.check_code(&arn).await);
            }
            None => {
                checks.push(Check::skip("function store", "no edge function"));
                checks.push(Check::skip("function code", "no edge function"));
            }
        }
    }

    fn check_origin(&self, config: &DistributionConfig, name: &'static str, origin_id: &str) -> Check {
        let origins = config.origins().map(|o| o.items()).unwrap_or_default();
        let stage = self.metrics.as_ref().map(|m| m.api_stage.as_str());
        match origins.iter().find(|o| o.id() == origin_id) {
            // The $default stage serves the API at its root: a path (or a
            // named stage) would put every route under another prefix.
            Some(origin) if name == "serverless origin" && origin.origin_path().is_some_and(|p| !p.is_empty()) => {
                Check::fail(
                    name,
                    format!("{origin_id} has origin path {}", origin.origin_path().unwrap_or_default()),
                    "remove the origin path: the HTTP API's $default stage serves /api/* at its root",
                )
            }
            Some(_) if name == "serverless origin" && stage.is_some_and(|s| s != "$default") => Check::fail(
                name,
                format!("the plan's api_stage is {}", stage.unwrap_or_default()),
                "serve the HTTP API from its $default stage (auto-deploy) and set api_stage = \"$default\"",
            ),
            Some(origin) => Check::pass(name, format!("{origin_id} → {}", origin.domain_name())),
            None => {
                let ids: Vec<&str> = origins.iter().map(|o| o.id()).collect();
                let fix = if name == "serverless origin" {
                    format!(
                        "add an origin with id {origin_id} pointing at the API Gateway domain, or set \
                         [target.cloudfront] serverless_origin_id to its id"
                    )
                } else {
                    format!("add the ALB as origin {origin_id}, or point /api/* at the ALB's origin")
                };
                Check::fail(name, format!("no origin {origin_id} (origins: {})", ids.join(", ")), fix)
            }
        }
    }

    /// The live code is `infra/edge-function/function.js` rendered for this
    /// plan: an older function (one that honours pins without the token, or
    /// reads another key) or another salt would split users otherwise than
    /// the controller verifies.
    async fn check_code(&self, arn: &str) -> Check {
        let name = "function code";
        let function = arn.rsplit('/').next().unwrap_or(arn);
        let fix = format!(
            "publish the rendered function: cutover plan edge-function PLAN > function.js, then aws cloudfront \
             update-function --name {function} (and publish-function), or terraform apply"
        );
        let live = match self.clients.cloudfront.get_function().name(function).stage(FunctionStage::Live).send().await {
            Ok(out) => out.function_code.map(|code| code.into_inner()).unwrap_or_default(),
            Err(e) => {
                let failure = AwsFailure::from_sdk("cloudfront:GetFunction", &e);
                return Check::fail(name, failure.message, "check the function is published (LIVE)");
            }
        };
        let live = String::from_utf8_lossy(&live);
        match edge_function::first_difference(&live, &self.function_code) {
            None => Check::pass(name, format!("{function} is function.js rendered for this plan")),
            Some((line, found, expected)) => Check::fail(
                name,
                format!("{function} differs from function.js rendered for this plan at line {line}: `{}` where `{}` belongs", found.trim(), expected.trim()),
                fix,
            ),
        }
    }

    async fn check_function(&self, arn: &str) -> Check {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        let described = self.clients.cloudfront.describe_function().name(name).stage(FunctionStage::Live).send().await;
        let summary = match described {
            Ok(out) => out.function_summary,
            Err(e) => {
                let failure = AwsFailure::from_sdk("cloudfront:DescribeFunction", &e);
                return Check::fail(
                    "function store",
                    failure.message,
                    "check the function exists and is published (LIVE)",
                );
            }
        };
        let Some(config) = summary.as_ref().and_then(|s| s.function_config()) else {
            return Check::fail("function store", format!("{name} has no configuration"), "publish the function");
        };
        if *config.runtime() != FunctionRuntime::CloudfrontJs20 {
            return Check::fail(
                "function store",
                format!("{name} runs {}", config.runtime().as_str()),
                "the function needs runtime cloudfront-js-2.0 (KeyValueStore and origin selection)",
            );
        }
        let stores = config.key_value_store_associations().map(|a| a.items()).unwrap_or_default();
        if stores.iter().any(|s| s.key_value_store_arn() == self.edge.kvs_arn) {
            Check::pass("function store", format!("{name} (cloudfront-js-2.0) reads {}", self.edge.kvs_arn))
        } else {
            Check::fail(
                "function store",
                format!("{name} is not associated with {}", self.edge.kvs_arn),
                "associate the KeyValueStore with the function (infra/), or fix [target.cloudfront] kvs_arn",
            )
        }
    }

    /// The plan's KeyValueStore, at the weight's key.
    fn kvs(&self) -> KvsEdge {
        KvsEdge::new(self.clients.keyvaluestore.clone(), &self.edge.kvs_arn, &self.edge.weight_key)
    }

    /// Every Lambda integration of the plan's API sends payload format 2.0:
    /// the functions' `lambda_http` is built for HTTP API v2 events alone, so
    /// a 1.0 event does not deserialize and every request on the route is a 500.
    async fn check_integrations(&self) -> Check {
        let name = "serverless integrations";
        let Some(sources) = &self.metrics else {
            return Check::skip(name, "the plan names no [target.metrics] api_id");
        };
        let api = &sources.api_id;
        let (mut lambda, mut wrong, mut next) = (0, Vec::new(), None);
        loop {
            let out = self.clients.apigateway.get_integrations().api_id(api).set_next_token(next).send().await;
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    let failure = AwsFailure::from_sdk("apigateway:GET", &e);
                    let fix = match failure.kind {
                        FailureKind::Denied => "grant the controller apigateway:GET on the API".to_owned(),
                        _ => "check [target.metrics] api_id: the HTTP API's id (aws apigatewayv2 get-apis)".to_owned(),
                    };
                    return Check::fail(name, format!("API {api}: {}", failure.message), fix);
                }
            };
            for integration in out.items() {
                if integration.integration_type() != Some(&IntegrationType::AwsProxy) {
                    continue;
                }
                lambda += 1;
                let version = integration.payload_format_version().unwrap_or("1.0");
                if version != "2.0" {
                    let id = integration.integration_id().unwrap_or("?");
                    wrong.push(format!("{id} ({})", integration.integration_uri().unwrap_or("no URI")));
                }
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        match (lambda, wrong.as_slice()) {
            (0, _) => Check::fail(
                name,
                format!("API {api} has no Lambda integration"),
                "create the routes of api-lambdas/routes.json, each to its function (infra/)",
            ),
            (n, []) => Check::pass(name, format!("{n} Lambda integrations, payload format 2.0")),
            (_, wrong) => Check::fail(
                name,
                format!("payload format 1.0 on {}", wrong.join(", ")),
                format!(
                    "the functions read 2.0 events: aws apigatewayv2 update-integration --api-id {api} \
                     --payload-format-version 2.0 --integration-id {} (each)",
                    wrong[0].split(' ').next().unwrap_or("?")
                ),
            ),
        }
    }

    /// Where X-Ray sends spans: with CloudWatch Transaction Search on, only
    /// the indexed share of them (1 % by default) becomes the trace
    /// summaries the controller reads, so cold starts and latency would be
    /// judged on a hundredth of the traces the functions leave.
    async fn check_indexing(&self) -> Check {
        let name = "x-ray indexing";
        let unread = |failure: AwsFailure, action: &str| unreadable(name, failure, action);
        let destination = match self.clients.xray.get_trace_segment_destination().send().await {
            Ok(out) => out.destination().cloned(),
            Err(e) => {
                let action = "xray:GetTraceSegmentDestination";
                return unread(AwsFailure::from_sdk(action, &e), action);
            }
        };
        if destination != Some(TraceSegmentDestination::CloudWatchLogs) {
            return Check::pass(name, "spans go to X-Ray: every sampled trace is summarised");
        }
        let rules = match self.clients.xray.get_indexing_rules().send().await {
            Ok(out) => out.indexing_rules().to_vec(),
            Err(e) => {
                let action = "xray:GetIndexingRules";
                return unread(AwsFailure::from_sdk(action, &e), action);
            }
        };
        let percent = rules
            .iter()
            .filter_map(|r| r.rule().and_then(|v| v.as_probabilistic().ok()))
            .map(|p| p.actual_sampling_percentage().unwrap_or(p.desired_sampling_percentage()))
            .reduce(f64::max)
            .unwrap_or(0.0);
        if percent >= INDEXED_MIN_PERCENT {
            return Check::pass(name, format!("Transaction Search on, {percent} % of spans indexed as traces"));
        }
        Check::fail(
            name,
            format!("Transaction Search on: {percent} % of spans indexed as traces, the rest only in CloudWatch Logs"),
            format!(
                "index at least {INDEXED_MIN_PERCENT} % for the cutover (aws xray update-indexing-rule --name Default \
                 --rule '{{\"Probabilistic\":{{\"DesiredSamplingPercentage\":100}}}}'; billed by the span), or send \
                 spans to X-Ray (aws xray update-trace-segment-destination --destination XRay)"
            ),
        )
    }

    /// The KeyValueStore exists and is `READY`: a store still provisioning,
    /// or one that failed to, takes no writes the edge will read.
    async fn check_store(&self) -> Check {
        let name = "key value store";
        let arn = &self.edge.kvs_arn;
        match self.kvs().describe().await {
            Ok(d) => match d.status() {
                Some("READY") | None => Check::pass(
                    name,
                    format!("{arn}: {}, {} keys", d.status().unwrap_or("status not given"), d.item_count()),
                ),
                Some(status) => {
                    let why = d.failure_reason().map(|r| format!(" ({r})")).unwrap_or_default();
                    Check::fail(
                        name,
                        format!("{arn} is {status}{why}"),
                        "wait until it is READY (aws cloudfront-keyvaluestore describe-key-value-store --kvs-arn …); \
                         one that failed to provision must be created again and [target.cloudfront] kvs_arn set to it",
                    )
                }
            },
            Err(e) => Check::fail(
                name,
                e.message,
                "create it (aws cloudfront create-key-value-store --name …) and set [target.cloudfront] kvs_arn to \
                 its ARN, or grant the controller cloudfront-keyvaluestore:DescribeKeyValueStore",
            ),
        }
    }

    async fn check_weight(&self) -> Check {
        match self.kvs().read().await {
            Ok(w) if w == Weight::ZERO => Check::pass("weight is 0", format!("{} reads 0", self.edge.weight_key)),
            Ok(w) => Check::fail(
                "weight is 0",
                format!("{} reads {w}", self.edge.weight_key),
                "a cutover starts at 0 %: roll the previous one back (cutover rollback ID) or put 0 under the key",
            ),
            Err(e) => Check::fail(
                "weight is 0",
                e.to_string(),
                "check [target.cloudfront] kvs_arn and weight_key, and the controller's cloudfront-keyvaluestore access",
            ),
        }
    }

    /// A probe pinned to `side` through the edge must be answered by it.
    async fn check_side(&self, base: Option<&str>, side: Side, token: &Result<String, EdgeError>) -> Check {
        let name = if side == Side::Legacy { "legacy answers" } else { "serverless answers" };
        let label = side.as_str();
        let Some(base) = base else {
            return Check::skip(name, "no distribution domain to probe (pass --edge-url)");
        };
        let token = match token {
            Ok(token) => token,
            Err(e) => {
                return Check::fail(
                    name,
                    format!("the probe token at {}: {e}", self.edge.probe_token_key),
                    "check [target.cloudfront] kvs_arn and probe_token_key, and the controller's \
                     cloudfront-keyvaluestore access (GetKey, PutKey)",
                )
            }
        };
        let url = format!("{}{}", base.trim_end_matches('/'), self.probe_path);
        let pinned = probe_client().get(&url).header(PROBE_HEADER, side.as_str()).header(PROBE_TOKEN_HEADER, token);
        let answer = pinned.send().await;
        match answer {
            Err(e) => Check::fail(name, format!("GET {url}: {e}"), "check the distribution is deployed and reachable"),
            Ok(response) => {
                let status = response.status();
                let served_by = response.headers().get(SERVED_BY).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let right_side = answered_by(served_by.as_deref()) == side;
                if !status.is_success() {
                    Check::fail(
                        name,
                        format!("GET {url} pinned to {label} answered {status}"),
                        format!("make {label} serve GET {} with 2xx", self.probe_path),
                    )
                } else if !right_side {
                    Check::fail(
                        name,
                        format!("GET {url} pinned to {label} was answered by {}", served_by.as_deref().unwrap_or("a side without x-served-by")),
                        "publish the current infra/edge-function/function.js (it honours x-cutover-probe with the probe token from probe_token_key), and have each side set x-served-by",
                    )
                } else {
                    Check::pass(name, format!("{status} from {}", served_by.as_deref().unwrap_or(label)))
                }
            }
        }
    }

    async fn check_concurrency(&self) -> Check {
        let name = "lambda concurrency";
        let Some(sources) = &self.metrics else {
            return Check::skip(name, "the plan names no [target.metrics] lambda_functions");
        };
        let mut found = Vec::new();
        for function in &sources.lambda_functions {
            match self.clients.lambda.get_function_concurrency().function_name(function).send().await {
                Ok(out) if out.reserved_concurrent_executions() == Some(0) => {
                    return Check::fail(
                        name,
                        format!("{function} has reserved concurrency 0: every request is throttled"),
                        format!("aws lambda delete-function-concurrency --function-name {function}"),
                    )
                }
                Ok(out) => found.push(match out.reserved_concurrent_executions() {
                    Some(n) => format!("{function} reserved {n}"),
                    None => format!("{function} unreserved"),
                }),
                Err(e) => {
                    let failure = AwsFailure::from_sdk("lambda:GetFunctionConcurrency", &e);
                    return Check::fail(
                        name,
                        failure.message,
                        format!("deploy {function}, or fix [target.metrics] lambda_functions"),
                    );
                }
            }
        }
        match self.clients.lambda.get_account_settings().send().await {
            Ok(out) => {
                let unreserved = out.account_limit().and_then(|l| l.unreserved_concurrent_executions()).unwrap_or(0);
                if unreserved < self.min_unreserved_concurrency {
                    Check::fail(
                        name,
                        format!("{unreserved} unreserved concurrent executions in the account"),
                        format!(
                            "ask for a higher Lambda concurrency quota (at least {})",
                            self.min_unreserved_concurrency
                        ),
                    )
                } else {
                    Check::pass(name, format!("{unreserved} unreserved; {}", found.join(", ")))
                }
            }
            Err(e) => Check::fail(
                name,
                AwsFailure::from_sdk("lambda:GetAccountSettings", &e).message,
                "grant lambda:GetAccountSettings",
            ),
        }
    }
}
