//! Verdicts, the numbers behind them, and the [`Judge`] interface.
//!
//! A judge compares the new (serverless) side against the old (legacy) side.
//! Its verdict is one of Pass, Inconclusive (not enough data yet), Error (a
//! source could not be read) or Fail — "could not measure" is never "pass".
//! The overall verdict is the worst of the checks.

use serde::{Deserialize, Serialize};

use crate::measure::{no_hops, Hop, MeasureError, Measurement, PerSide, RouteFigures, Side, Window};
use crate::units::{Timestamp, Weight};

/// Ordered by severity: `max` of two verdicts is the worse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Inconclusive,
    Error,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
            Verdict::Fail => "fail",
        }
    }
}

/// The checks a judge runs; the names are used verbatim in audit events,
/// dashboards and runbooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    ErrorRate,
    LatencyP50,
    LatencyP99,
    ColdStartP99,
    /// The share of new-side requests that met a cold start (a storm of
    /// them is felt by users even when each is fast enough).
    ColdStartShare,
    /// 4xx answers: more of them on the new side means a route or a
    /// contract is wrong (404, 412, 428), not that the client erred more.
    ClientErrors,
    /// Not a comparison: a source could not be read.
    Source,
}

impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::ErrorRate => "error_rate",
            CheckName::LatencyP50 => "latency_p50",
            CheckName::LatencyP99 => "latency_p99",
            CheckName::ColdStartP99 => "cold_start_p99",
            CheckName::ColdStartShare => "cold_start_share",
            CheckName::ClientErrors => "client_errors",
            CheckName::Source => "source",
        }
    }
}

/// What a check's figures are in (written as in the audit trail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "ms")]
    Ms,
    #[serde(rename = "percent")]
    Percent,
    /// The share of requests that succeeded (Flagger's request success
    /// rate, as the benchmark's baseline judges report it).
    #[serde(rename = "percent success")]
    PercentSuccess,
    /// No figures: a check on a source's state.
    #[serde(rename = "")]
    Unitless,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Percent => "percent",
            Unit::PercentSuccess => "percent success",
            Unit::Unitless => "",
        }
    }
}

/// One check's verdict with the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: CheckName,
    pub verdict: Verdict,
    /// A critical Fail rolls back at once.
    pub critical: bool,
    /// The observed value per side, in `unit`; `None` where there was no data.
    pub legacy: Option<f64>,
    pub serverless: Option<f64>,
    /// The largest value the new side may have and still pass, in `unit`.
    pub limit: Option<f64>,
    pub unit: Unit,
    pub samples: PerSide<u64>,
    /// One line a person can read: why this verdict.
    pub reason: String,
    /// For sequential tests: the e-value against "the new side is no worse"
    /// and the e-value at which the check fails (1 / its share of alpha).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_threshold: Option<f64>,
}

impl CheckResult {
    /// A check's result with nothing measured yet: every judge starts its
    /// results here and fills in what it knows (struct update syntax), so
    /// the shape of a result is written once.
    pub fn new(check: CheckName, critical: bool, unit: Unit) -> CheckResult {
        CheckResult {
            check,
            verdict: Verdict::Inconclusive,
            critical,
            legacy: None,
            serverless: None,
            limit: None,
            unit,
            samples: PerSide::default(),
            reason: String::new(),
            e_value: None,
            e_threshold: None,
        }
    }

    /// Records a sequential test's evidence: its e-value and the e-value at
    /// which it fails, both given in nats and reported capped at 1e12.
    pub fn with_evidence(self, log_e: f64, log_threshold: f64) -> CheckResult {
        const E_VALUE_MAX: f64 = 1e12;
        CheckResult {
            e_value: Some(log_e.exp().min(E_VALUE_MAX)),
            e_threshold: Some(log_threshold.exp().min(E_VALUE_MAX)),
            ..self
        }
    }
}

/// The judge's answer for one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub window: Window,
    pub verdict: Verdict,
    /// True when a critical check failed.
    pub critical: bool,
    /// Requests per side counted as evidence for this verdict.
    pub samples: PerSide<u64>,
    pub checks: Vec<CheckResult>,
    /// The window's hop-by-hop breakdown, as the sources gave it (the engine
    /// copies it from the measurement; judges leave it empty).
    #[serde(default, skip_serializing_if = "no_hops")]
    pub hops: PerSide<Vec<Hop>>,
    /// Set when the old side failed in the same minutes as the new one (a
    /// database, a network or a service both depend on): what was seen.
    /// Such minutes are judged only by comparing the two sides, never
    /// against the old side's past, so they are not a rollback reason; the
    /// engine holds the step while they last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_failure: Option<String>,
    /// Where each side's latency came from (the engine copies it from the
    /// measurement), so an audit reader knows what was compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_source: Option<PerSide<String>>,
    /// Each route's figures on both sides (the engine copies them from the
    /// measurement): for people, not judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteFigures>,
}

impl Analysis {
    /// The verdict for a window that could not be measured.
    pub fn error(window: Window, err: &MeasureError) -> Analysis {
        let source = CheckResult {
            verdict: Verdict::Error,
            reason: err.to_string(),
            ..CheckResult::new(CheckName::Source, false, Unit::Unitless)
        };
        Analysis {
            window,
            verdict: Verdict::Error,
            critical: false,
            samples: PerSide::default(),
            checks: vec![source],
            hops: PerSide::default(),
            shared_failure: None,
            latency_source: None,
            routes: Vec::new(),
        }
    }

    /// Builds the overall verdict from the checks: the worst one wins.
    pub fn from_checks(window: Window, samples: PerSide<u64>, checks: Vec<CheckResult>) -> Analysis {
        let verdict = checks.iter().map(|c| c.verdict).max().unwrap_or(Verdict::Inconclusive);
        let critical = checks.iter().any(|c| c.critical && c.verdict == Verdict::Fail);
        Analysis {
            window,
            verdict,
            critical,
            samples,
            checks,
            hops: PerSide::default(),
            shared_failure: None,
            latency_source: None,
            routes: Vec::new(),
        }
    }
}

/// Decides, window by window, whether the new side is as good as the old.
///
/// A judge may keep evidence across windows; `begin_step` tells it that the
/// weight changed and the evidence starts afresh.
pub trait Judge {
    /// Forget everything: a new leader rebuilds the judge's memory from the
    /// sources ([`Judge::baseline`], then a catch-up window of the step).
    fn reset(&mut self) {}
    /// What the sources show for the cutover *before* the current step:
    /// the old side's baseline, for judges that keep one.
    fn baseline(&mut self, _window: Window, _measurement: &Measurement) {}
    fn begin_step(&mut self, step: usize, weight: Weight, at: Timestamp);
    fn judge(&mut self, window: Window, measurement: &Measurement) -> Analysis;
}

mod sequential;
mod threshold;

pub use sequential::SequentialJudge;
pub use threshold::ThresholdJudge;
