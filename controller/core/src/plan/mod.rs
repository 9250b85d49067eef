//! The plan: what to move, how fast, and what counts as a regression.
//!
//! A plan is written in TOML (see [`DEFAULT_PLAN`] for the annotated default)
//! and read with [`Plan::parse`], which reports *every* problem it finds with
//! its TOML path and line, never the first one only.

mod decode;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use decode::{PlanError, PlanProblem};

use crate::measure::Side;
use crate::units::{format_duration, Weight};

/// The annotated plan `cutover plan init` writes: 48 hours from 1 % to 100 %.
pub const DEFAULT_PLAN: &str = include_str!("default-plan.toml");

/// Limits that keep a plan (and everything sized by it) small.
pub const STEPS_MAX: usize = 100;
pub const WEBHOOKS_MAX: usize = 10;
pub const HOLD_MAX: Duration = Duration::from_secs(30 * 86_400);
/// The longest `guardrails.lookback`: CloudWatch keeps one-minute datapoints
/// for 15 days.
pub const LOOKBACK_MAX: Duration = Duration::from_secs(14 * 86_400);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub target: Target,
    pub schedule: Schedule,
    pub guardrails: Guardrails,
    pub notify: Notify,
    pub costs: Costs,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub edge: EdgeTarget,
    /// Who a request belongs to, for sticky bucketing at the edge.
    pub cohort: CohortKey,
    /// Mixed into the cohort hash so two cutovers split users independently.
    pub salt: String,
    /// Where the numbers come from in AWS; `None` in local mode.
    pub metrics: Option<MetricSources>,
}

/// Where the weight is applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeTarget {
    CloudFront(CloudFrontEdge),
    Local(LocalEdge),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloudFrontEdge {
    pub distribution_id: String,
    pub kvs_arn: String,
    pub weight_key: String,
    pub serverless_origin_id: String,
    /// Where in the KeyValueStore the probe token lives: the CloudFront
    /// Function honours a probe's pin only with it.
    pub probe_token_key: String,
    /// The controller's probes through the distribution, per side and minute.
    pub probes_per_minute: u32,
    /// Where the CloudFront Function sends a request when it cannot read
    /// the weight: the old side until the cutover completes, the new one
    /// after (before the ALB is retired; runbooks/decommission.md).
    pub when_store_unreadable: Side,
}

/// The controller's probes per side and minute by default: 28 800 a day to
/// each side, what the judge benchmark measures its detection times with.
pub const PROBES_PER_MINUTE: u32 = 20;

impl CloudFrontEdge {
    /// Beside the weight: `my-api/weight` → `my-api/probe-token`.
    pub fn default_probe_token_key(weight_key: &str) -> String {
        match weight_key.rsplit_once('/') {
            Some((prefix, _)) => format!("{prefix}/probe-token"),
            None => "probe-token".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalEdge {
    pub legacy_url: String,
    pub serverless_url: String,
    /// Where users' requests (and the verification probes) reach the local edge.
    pub edge_url: String,
    /// The local edge's admin listener: its weight and its recorded metrics,
    /// never on the users' port.
    pub admin_url: String,
    /// The controller's probes through the edge, per side and minute, as
    /// in AWS mode (the local edge pins them without a token). Sent at real
    /// time only: a compressed run (the demo) has its own pinned traffic.
    #[serde(default = "default_probes_per_minute")]
    pub probes_per_minute: u32,
}

fn default_probes_per_minute() -> u32 {
    PROBES_PER_MINUTE
}

impl LocalEdge {
    /// Where `cutover edge` listens by default.
    pub const EDGE_URL: &str = "http://127.0.0.1:8080";
    /// Where `cutover edge` serves its admin surface by default.
    pub const ADMIN_URL: &str = "http://127.0.0.1:8079";
}

/// The source of the cohort key; the viewer IP when the request has none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CohortKey {
    Header(String),
    Cookie(String),
    ViewerIp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSources {
    pub alb_load_balancer: String,
    pub alb_target_group: String,
    pub api_id: String,
    pub api_stage: String,
    /// The new side's functions: each one's errors, throttles, invocations
    /// and concurrency, and (with X-Ray) each one's traces: in X-Ray every
    /// function is its own service, named after it.
    pub lambda_functions: Vec<String>,
    /// The old side's X-Ray service (the app's SDK names it): both sides'
    /// latency samples and the new side's cold starts come from X-Ray.
    /// Empty only in a plan stored before X-Ray was required
    /// ([`Plan::parse_stored`]): judged on CloudWatch alone, as it was.
    pub xray_legacy_service: String,
    /// The ALB also serves other applications: its own 5xx (no healthy
    /// target, a timeout) cannot be told apart by target group, so they are
    /// reported beside the old side's errors, not counted in them.
    pub alb_shared: bool,
    /// CloudFront's real-time logs of the `/api/*` behaviour, in Kinesis:
    /// each user request's cohort, which CloudWatch cannot tell.
    #[serde(default)]
    pub edge_logs: Option<EdgeLogs>,
}

/// A real-time log configuration's stream and fields, in the order the
/// configuration lists them (the order of the tab-separated values).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeLogs {
    pub stream_arn: String,
    pub fields: Vec<String>,
}

impl EdgeLogs {
    /// The fields the controller reads: when, what status, which path
    /// (the stream may carry other behaviours' requests), whether the
    /// request was its own probe (by user agent), and the cohort key as
    /// the CloudFront Function takes it (the header or cookie, else the
    /// viewer IP; `cs-headers-count` tells a cut-off header list).
    pub fn required_fields(cohort: &CohortKey) -> Vec<&'static str> {
        let mut fields = vec!["timestamp", "sc-status", "cs-uri-stem", "cs-user-agent", "c-ip"];
        match cohort {
            CohortKey::Header(_) => fields.extend(["cs-headers", "cs-headers-count"]),
            CohortKey::Cookie(_) => fields.push("cs-cookie"),
            CohortKey::ViewerIp => {}
        }
        fields
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub steps: Vec<Step>,
    pub freeze: Vec<FreezeWindow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub weight: Weight,
    #[serde(with = "duration_text")]
    pub hold: Duration,
}

/// UTC hours `[from_hour, to_hour)` in which the controller never advances;
/// wraps past midnight when `from_hour > to_hour`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeWindow {
    pub from_hour: u8,
    pub to_hour: u8,
}

impl FreezeWindow {
    pub fn contains_hour(&self, hour: u8) -> bool {
        if self.from_hour <= self.to_hour {
            (self.from_hour..self.to_hour).contains(&hour)
        } else {
            hour >= self.from_hour || hour < self.to_hour
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guardrails {
    /// How often the judge looks at a new window of data.
    #[serde(with = "duration_text")]
    pub interval: Duration,
    /// Requests each side must have shown in the step before a Pass counts.
    pub min_samples: u64,
    /// Non-critical failed analyses in one step that roll back.
    pub failure_limit: u32,
    /// The chance of rolling back a healthy cutover that the sequential judge
    /// allows over the whole plan (split across steps and checks).
    pub alpha: f64,
    pub errors: ErrorCheck,
    /// 4xx answers, side against side in the same minutes.
    #[serde(default = "default_client_errors")]
    pub client_errors: ErrorCheck,
    pub latency_p50: LatencyCheck,
    pub latency_p99: LatencyCheck,
    pub cold_start: ColdStartCheck,
    pub no_data: NoDataPolicy,
    pub shared_failure: SharedFailurePolicy,
    /// How much of the old side's history before the start the judge learns
    /// its usual error rate and latency from (zero: none, only the cutover's
    /// own minutes).
    #[serde(default = "default_lookback", with = "duration_text")]
    pub lookback: Duration,
}

fn default_client_errors() -> ErrorCheck {
    Guardrails::default().client_errors
}

fn default_lookback() -> Duration {
    Guardrails::default().lookback
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorCheck {
    /// Largest tolerated `error_rate(new) - error_rate(old)`, in percentage points.
    pub max_increase_pp: f64,
    pub critical: bool,
}

/// Fails when the new side is over *every* limit given: a 1 ms p50 becoming
/// 2 ms doubles it, but stays inside `max_extra_ms = 10`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyCheck {
    pub max_ratio: Option<f64>,
    pub max_extra_ms: Option<f64>,
    pub critical: bool,
}

impl LatencyCheck {
    /// The largest latency the new side may show when the old side shows
    /// `old_ms`: the most generous of the limits given.
    pub fn allowance(&self, old_ms: f64) -> f64 {
        let by_ratio = self.max_ratio.map(|r| old_ms * r);
        let by_extra = self.max_extra_ms.map(|e| old_ms + e);
        by_ratio.into_iter().chain(by_extra).fold(old_ms, f64::max)
    }
}

/// Cold starts are their own population: their latency never counts as warm
/// latency, and is held to its own absolute limit; how many there are is
/// held to `max_share` (users feel a storm of them however fast each is).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColdStartCheck {
    pub max_p99_ms: f64,
    /// The largest share of new-side requests that may meet a cold start (0..1).
    pub max_share: f64,
    pub critical: bool,
}

/// The old side failing in the same minutes as the new one is not the new
/// side's fault: the step holds while it lasts, and pauses after `max_hold`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedFailurePolicy {
    #[serde(with = "duration_text")]
    pub max_hold: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoDataPolicy {
    /// How long the step may hold because a source could not be read.
    #[serde(with = "duration_text")]
    pub max_hold: Duration,
    pub then: NoDataAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoDataAction {
    Rollback,
    Pause,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub webhooks: Vec<String>,
}

/// What each side costs, in USD, so the dashboard and the report measure
/// the saving from the requests each side really served. The defaults are
/// us-east-1 list prices (2026); a plan states its own.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Costs {
    /// API Gateway HTTP API, per million requests.
    pub api_gateway_per_million: f64,
    /// Lambda, per million requests.
    pub lambda_per_million: f64,
    /// Lambda duration, per GB-second (ARM64).
    pub lambda_gb_second: f64,
    /// The functions' memory size.
    pub lambda_memory_mb: f64,
    /// The legacy fleet per hour, whatever its share of the traffic
    /// (instances and the load balancer).
    pub legacy_per_hour: f64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            api_gateway_per_million: 1.0,
            lambda_per_million: 0.2,
            lambda_gb_second: 0.000_013_333_4,
            lambda_memory_mb: 128.0,
            // 2 × m6g.large ($0.077) and the ALB ($0.0225).
            legacy_per_hour: 0.1765,
        }
    }
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            interval: Duration::from_secs(60),
            min_samples: 50,
            failure_limit: 3,
            alpha: 0.01,
            errors: ErrorCheck { max_increase_pp: 0.5, critical: true },
            client_errors: ErrorCheck { max_increase_pp: 1.0, critical: false },
            latency_p50: LatencyCheck { max_ratio: Some(1.25), max_extra_ms: Some(10.0), critical: false },
            latency_p99: LatencyCheck { max_ratio: Some(1.25), max_extra_ms: Some(25.0), critical: false },
            cold_start: ColdStartCheck { max_p99_ms: 1500.0, max_share: 0.05, critical: false },
            no_data: NoDataPolicy { max_hold: Duration::from_secs(1800), then: NoDataAction::Rollback },
            shared_failure: SharedFailurePolicy { max_hold: Duration::from_secs(1800) },
            lookback: Duration::from_secs(3600),
        }
    }
}

/// One row of the nominal timeline: when a step would start and end if every
/// analysis passed on time and no freeze window intervened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimelineRow {
    pub step: usize,
    pub weight: Weight,
    pub starts_at: Duration,
    pub ends_at: Duration,
}

impl Plan {
    /// Parses and validates a plan; the error lists every problem found.
    pub fn parse(text: &str) -> Result<Plan, PlanError> {
        decode::decode(text)
    }

    /// Reads a plan stored with a cutover, perhaps by an earlier version:
    /// rules added since are relaxed, so a cutover started before an
    /// upgrade can still resume and roll back. New plans use [`Plan::parse`].
    pub fn parse_stored(text: &str) -> Result<Plan, PlanError> {
        decode::decode_stored(text)
    }

    /// The built-in default plan (the one `cutover plan init` writes).
    pub fn default_plan() -> Plan {
        Plan::parse(DEFAULT_PLAN).expect("the built-in default plan is valid (tested)")
    }

    pub fn timeline(&self) -> Vec<TimelineRow> {
        let mut at = Duration::ZERO;
        self.schedule
            .steps
            .iter()
            .enumerate()
            .map(|(step, s)| {
                let row = TimelineRow { step, weight: s.weight, starts_at: at, ends_at: at + s.hold };
                at += s.hold;
                row
            })
            .collect()
    }

    /// Sum of all holds: the shortest time the whole cutover can take.
    pub fn duration(&self) -> Duration {
        self.schedule.steps.iter().map(|s| s.hold).sum()
    }

    pub fn is_frozen_hour(&self, utc_hour: u8) -> bool {
        self.schedule.freeze.iter().any(|w| w.contains_hour(utc_hour))
    }
}

/// Durations travel as the same text the plan uses (`"2h"`).
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::units::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
