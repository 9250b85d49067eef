//! One cutover as people look at it: where the weight is, what the next
//! step is and when, and the latest before/after comparison with each
//! check's evidence. The control API serves it (`GET /v1/cutovers/{id}`),
//! `cutover status` prints it (from the API or the store): one shape, built
//! in one place.

use std::time::Duration;

use cutover_core::engine::{CutoverState, Event, EventKind, Phase};
use cutover_core::judge::{Analysis, CheckName};
use cutover_core::plan::Plan;
use cutover_core::store::{Store, StoreError, Stored};
use cutover_core::units::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A cutover's state, its schedule position and its latest analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CutoverView {
    pub id: String,
    /// `scheduled`, `pending`, `progressing`, `paused`, `rolling_back`, `rolled_back`, `completed` or `aborted`.
    pub phase: String,
    /// Why it is paused or rolling (rolled) back: `operator`, `drift`, `critical_fail:error_rate`, ...
    pub reason: Option<String>,
    /// The weight intended at the edge, in basis points (10000 = 100 %).
    pub weight_bps: u16,
    /// The weight the edge last confirmed; absent when unknown.
    pub edge_weight_bps: Option<u16>,
    /// The current step, from 1.
    pub step: usize,
    pub steps: usize,
    /// The next step's weight; absent at the last step.
    pub next_weight_bps: Option<u16>,
    /// When the current step's hold ends (RFC 3339, wall clock): the next
    /// step comes then at the earliest, given a passing analysis.
    pub next_step_at: Option<String>,
    /// Each persisted change bumps it by one.
    pub version: u64,
    pub started_by: Option<String>,
    pub started_at: Option<String>,
    /// When a scheduled cutover starts by itself (RFC 3339), and who scheduled it.
    pub start_at: Option<String>,
    pub scheduled_by: Option<String>,
    /// SHA-256 of the plan it runs.
    pub plan_sha256: Option<String>,
    /// The inbox number (`seq`) of the last operator command it has
    /// handled, carried out or refused: one sent with a higher number waits.
    pub commands_handled: u64,
    pub updated_at: String,
    /// How many times faster than real time its clock runs (1: a real cutover).
    pub speed: f64,
    /// The latest analysis of this step; absent before the first.
    pub analysis: Option<AnalysisView>,
}

/// One analysis: both sides' numbers and each check's evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalysisView {
    /// When it was recorded (RFC 3339).
    pub at: String,
    /// `pass`, `inconclusive`, `error` or `fail`: the worst of its checks.
    pub verdict: String,
    pub legacy: SideView,
    pub serverless: SideView,
    pub checks: Vec<CheckView>,
    /// Set when the old side failed in the same minutes (a shared failure):
    /// what was seen. The step holds while it lasts.
    pub shared_failure: Option<String>,
}

/// One side of the before/after comparison, over the step so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SideView {
    pub requests: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Errors as a percentage of requests.
    pub error_percent: Option<f64>,
}

/// One check of an analysis, with the numbers behind its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    /// `error_rate`, `client_errors`, `latency_p50`, `latency_p99`, `cold_start_p99`, `cold_start_share` or `source`.
    pub check: String,
    pub verdict: String,
    pub critical: bool,
    pub legacy: Option<f64>,
    pub serverless: Option<f64>,
    /// The allowance the new side is held to.
    pub limit: Option<f64>,
    pub unit: String,
    /// The evidence against "the new side is no worse"; the check fails
    /// when it reaches `e_threshold`.
    pub e_value: Option<f64>,
    pub e_threshold: Option<f64>,
    pub samples_legacy: u64,
    pub samples_serverless: u64,
    pub reason: String,
}

fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

/// The phase's name in the audit trail's words, and its reason.
pub fn phase_words(phase: Phase) -> (String, Option<String>) {
    let name = match phase {
        Phase::Pending => "pending",
        Phase::Progressing => "progressing",
        Phase::Paused { .. } => "paused",
        Phase::RollingBack { .. } => "rolling_back",
        Phase::RolledBack { .. } => "rolled_back",
        Phase::Completed => "completed",
        Phase::Aborted => "aborted",
    };
    let reason = match phase {
        Phase::Paused { reason } => Some(reason.as_str().to_owned()),
        Phase::RollingBack { reason } | Phase::RolledBack { reason } => Some(reason.to_string()),
        _ => None,
    };
    (name.to_owned(), reason)
}

impl CutoverView {
    /// Builds the view of a stored cutover, given the newest analysis of
    /// its trail (if any).
    pub fn new(stored: &Stored, latest: Option<&Event>) -> CutoverView {
        let state: &CutoverState = &stored.state;
        let plan = Plan::parse_stored(&stored.plan).ok();
        let steps = plan.as_ref().map_or(0, |p| p.schedule.steps.len());
        let step_plan = |i: usize| plan.as_ref().and_then(|p| p.schedule.steps.get(i));
        let hold: Option<Duration> = step_plan(state.step).map(|s| s.hold);
        let next_step_at = match (state.phase, state.step_started_at, hold) {
            (Phase::Progressing | Phase::Paused { .. }, Some(started), Some(hold)) => {
                Some(rfc3339(stored.time.wall_time(started + hold)))
            }
            _ => None,
        };
        let (mut phase, reason) = phase_words(state.phase);
        if state.phase == Phase::Pending && state.start_at.is_some() {
            phase = "scheduled".into();
        }
        let analysis = latest.and_then(|event| match &event.kind {
            EventKind::Analysis { step, analysis, .. } if *step == state.step => {
                Some(AnalysisView::new(stored.time.wall_time(event.at), analysis))
            }
            _ => None,
        });
        CutoverView {
            id: state.id.clone(),
            phase,
            reason,
            weight_bps: state.weight.bps(),
            edge_weight_bps: state.edge_weight.map(|w| w.bps()),
            step: state.step + 1,
            steps,
            next_weight_bps: step_plan(state.step + 1).map(|s| s.weight.bps()),
            next_step_at,
            version: state.version,
            started_by: state.started_by.clone(),
            started_at: state.started_at.map(|t| rfc3339(stored.time.wall_time(t))),
            start_at: state.start_at.map(|t| rfc3339(stored.time.wall_time(t))),
            scheduled_by: state.scheduled_by.clone(),
            plan_sha256: state.plan_sha256.clone(),
            commands_handled: state.commands_handled,
            updated_at: rfc3339(stored.time.wall_time(state.updated_at)),
            speed: stored.time.speed,
            analysis,
        }
    }
}

impl AnalysisView {
    pub fn new(at: Timestamp, analysis: &Analysis) -> AnalysisView {
        let check = |name: CheckName| analysis.checks.iter().find(|c| c.check == name);
        let side = |pick: fn(&cutover_core::judge::CheckResult) -> Option<f64>, requests: u64| SideView {
            requests,
            p50_ms: check(CheckName::LatencyP50).and_then(pick),
            p99_ms: check(CheckName::LatencyP99).and_then(pick),
            error_percent: check(CheckName::ErrorRate).and_then(pick),
        };
        AnalysisView {
            at: rfc3339(at),
            verdict: analysis.verdict.as_str().to_owned(),
            legacy: side(|c| c.legacy, analysis.samples.legacy),
            serverless: side(|c| c.serverless, analysis.samples.serverless),
            checks: analysis
                .checks
                .iter()
                .map(|c| CheckView {
                    check: c.check.as_str().to_owned(),
                    verdict: c.verdict.as_str().to_owned(),
                    critical: c.critical,
                    legacy: c.legacy,
                    serverless: c.serverless,
                    limit: c.limit,
                    unit: c.unit.as_str().to_owned(),
                    e_value: c.e_value,
                    e_threshold: c.e_threshold,
                    samples_legacy: c.samples.legacy,
                    samples_serverless: c.samples.serverless,
                    reason: c.reason.clone(),
                })
                .collect(),
            shared_failure: analysis.shared_failure.clone(),
        }
    }
}

/// The newest `analysis` event of a trail, read page by page from `after`
/// on; returns it with where reading stopped, so a caller that keeps the
/// place reads only what is new next time.
pub async fn latest_analysis<S: Store>(
    store: &S,
    id: &str,
    mut after: Option<(u64, u16)>,
    mut latest: Option<Event>,
) -> Result<(Option<Event>, Option<(u64, u16)>), StoreError> {
    const PAGE: usize = 1000;
    loop {
        let page = store.history_after(id, after, PAGE).await?;
        if let Some(analysis) = page.iter().rev().find(|e| matches!(e.kind, EventKind::Analysis { .. })) {
            latest = Some(analysis.clone());
        }
        if let Some(last) = page.last() {
            after = Some((last.version, last.index));
        }
        if page.len() < PAGE {
            return Ok((latest, after));
        }
    }
}

impl std::fmt::Display for CutoverView {
    /// The terminal's view: `cutover status ID`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |bps: u16| format!("{}%", f64::from(bps) / 100.0);
        let phase = match &self.reason {
            Some(reason) => format!("{} ({reason})", self.phase),
            None => self.phase.clone(),
        };
        writeln!(f, "cutover {}: {phase}, step {}/{} at {}", self.id, self.step, self.steps, pct(self.weight_bps))?;
        match (&self.next_weight_bps, &self.next_step_at) {
            (Some(next), Some(at)) => {
                writeln!(f, "  next: {} at {at} at the earliest (with a passing analysis)", pct(*next))?
            }
            (Some(next), None) => writeln!(f, "  next: {} once this step's weight is confirmed and held", pct(*next))?,
            (None, Some(at)) => writeln!(f, "  last step: completes at {at} at the earliest")?,
            (None, None) => {}
        }
        if let (Some(at), Some(by)) = (&self.start_at, &self.scheduled_by) {
            writeln!(f, "  scheduled by {by} to start at {at}")?;
        }
        if self.speed != 1.0 {
            writeln!(f, "  clock: {}x real time (a rehearsal)", self.speed)?;
        }
        let Some(a) = &self.analysis else {
            return writeln!(f, "  no analysis of this step yet");
        };
        writeln!(f, "  latest analysis {} : {}", a.at, a.verdict)?;
        let num = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.1}{unit}"));
        writeln!(f, "    {:<11} {:>9} {:>10} {:>10} {:>8}", "side", "requests", "p50", "p99", "errors")?;
        for (name, side) in [("legacy", &a.legacy), ("serverless", &a.serverless)] {
            writeln!(
                f,
                "    {name:<11} {:>9} {:>10} {:>10} {:>8}",
                side.requests,
                num(side.p50_ms, " ms"),
                num(side.p99_ms, " ms"),
                num(side.error_percent, "%")
            )?;
        }
        if let Some(shared) = &a.shared_failure {
            writeln!(f, "    shared failure: {shared}")?;
        }
        writeln!(f, "    {:<16} {:<13} {:>10} {:>10}  samples old/new", "check", "verdict", "e-value", "threshold")?;
        for c in &a.checks {
            let e = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
            writeln!(
                f,
                "    {:<16} {:<13} {:>10} {:>10}  {}/{}",
                c.check,
                c.verdict,
                e(c.e_value),
                e(c.e_threshold),
                c.samples_legacy,
                c.samples_serverless
            )?;
        }
        Ok(())
    }
}
