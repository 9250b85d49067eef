//! A cutover over time, as the web dashboard and `cutover report` draw it:
//! the weight (planned and at the edge, rollbacks marked), each analysis's
//! before/after numbers, a table per step, where the time went on each side
//! (the hops), what each side cost, the audit trail's latest lines and the
//! state of its hash chain. Built from the stored trail alone, in one place,
//! so the page, the report and the API can only show the same numbers.
//!
//! Times are the cutover's own clock in Unix ms (what the audit trail
//! records): a rehearsal at 1200x spans 48 hours here as a real cutover does.

use cutover_core::audit::{self, Trail};
use cutover_core::engine::{Actor, Event, EventKind};
use cutover_core::judge::Verdict;
use cutover_core::measure::Hop;
use cutover_core::plan::{Costs, Plan};
use cutover_core::store::Stored;
use cutover_core::units::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::view::{AnalysisView, SideView};

/// Hours in a month, as AWS prices a month.
const HOURS_PER_MONTH: f64 = 730.0;

/// Everything the dashboard draws of one cutover.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Series {
    pub id: String,
    /// When the cutover (last) started, on its own clock (Unix ms).
    pub started_ms: Option<u64>,
    /// The newest event's time: where the charts end.
    pub last_ms: Option<u64>,
    /// The weight the plan intends over time (basis points from each time on).
    pub planned: Vec<WeightPoint>,
    /// The weight the edge confirmed over time.
    pub weight: Vec<WeightPoint>,
    /// What happened that a chart marks: starts, step changes, pauses,
    /// rollbacks, drift, operators' commands.
    pub marks: Vec<Mark>,
    /// Every analysis, one column per figure (nulls where there was no data).
    pub analyses: Columns,
    /// Each step's last analysis: the before/after table.
    pub steps: Vec<StepRow>,
    /// Where the time went on each side, from the newest analysis that saw hops.
    pub hops: Hops,
    pub cost: CostView,
    /// The audit trail's newest lines (all of them in a report), oldest first.
    pub events: Vec<EventLine>,
    /// Events before `events` left out (the trail is longer than a page shows).
    pub events_omitted: usize,
    pub chain: ChainStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WeightPoint {
    pub at_ms: u64,
    pub bps: u16,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Mark {
    pub at_ms: u64,
    /// The event's name: `rollback_started`, `paused`, `step_advanced`, ...
    pub event: String,
    pub actor: String,
    pub text: String,
}

/// Each analysis's figures, column by column (compact for thousands of rows).
/// Latencies and error rates are the step's so far, as the judge compared them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Columns {
    pub at_ms: Vec<u64>,
    /// From 1.
    pub step: Vec<usize>,
    pub weight_bps: Vec<u16>,
    pub verdict: Vec<String>,
    pub legacy_p50_ms: Vec<Option<f64>>,
    pub legacy_p99_ms: Vec<Option<f64>>,
    pub legacy_error_percent: Vec<Option<f64>>,
    pub legacy_requests: Vec<u64>,
    pub serverless_p50_ms: Vec<Option<f64>>,
    pub serverless_p99_ms: Vec<Option<f64>>,
    pub serverless_error_percent: Vec<Option<f64>>,
    pub serverless_requests: Vec<u64>,
}

impl Columns {
    fn push(&mut self, at_ms: u64, step: usize, weight_bps: u16, view: &AnalysisView) {
        self.at_ms.push(at_ms);
        self.step.push(step);
        self.weight_bps.push(weight_bps);
        self.verdict.push(view.verdict.clone());
        let (l, s) = (&view.legacy, &view.serverless);
        self.legacy_p50_ms.push(l.p50_ms.map(round1));
        self.legacy_p99_ms.push(l.p99_ms.map(round1));
        self.legacy_error_percent.push(l.error_percent.map(round3));
        self.legacy_requests.push(l.requests);
        self.serverless_p50_ms.push(s.p50_ms.map(round1));
        self.serverless_p99_ms.push(s.p99_ms.map(round1));
        self.serverless_error_percent.push(s.error_percent.map(round3));
        self.serverless_requests.push(s.requests);
    }
}

/// A figure as the page shows it (0.1 ms): the JSON stays small.
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One step's before/after: its last analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepRow {
    /// From 1.
    pub step: usize,
    pub weight_bps: u16,
    /// Its first and last analysis.
    pub from_ms: u64,
    pub to_ms: u64,
    pub verdict: String,
    /// What the controller decided on its last analysis: `advance to step 3`, `rollback (...)`.
    pub decision: String,
    pub legacy: SideView,
    pub serverless: SideView,
}

/// Each side's hops from the newest analysis that saw that side's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Hops {
    pub legacy: SideHops,
    pub serverless: SideHops,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SideHops {
    /// The analysis they come from; absent when no source gave any.
    pub at_ms: Option<u64>,
    #[schema(value_type = Vec<Object>)]
    pub hops: Vec<Hop>,
}

/// What each side cost over the cutover so far, from the plan's prices and
/// the requests each side served, and what a month would cost each way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostView {
    /// Hours since the start (the cutover's clock).
    pub hours: f64,
    pub legacy_requests: u64,
    pub serverless_requests: u64,
    /// The legacy fleet runs whatever its share: hours × its hourly price.
    pub legacy_usd: f64,
    /// Requests × (API Gateway + Lambda request prices) + GB-seconds.
    pub serverless_usd: f64,
    /// The Lambda duration billed per request (rounded up to the ms).
    pub lambda_ms: Option<f64>,
    /// Where `lambda_ms` came from: the `lambda` or `function` hop's p50, or
    /// the new side's p50 at the edge (an upper bound).
    pub lambda_ms_from: Option<String>,
    /// A month (730 h) of both sides' traffic at its rate so far, all on one
    /// side or the other.
    pub month_legacy_usd: Option<f64>,
    pub month_serverless_usd: Option<f64>,
    #[schema(value_type = Object)]
    pub prices: Costs,
}

/// One line of the audit trail, as `cutover history` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventLine {
    /// `VERSION.INDEX`.
    pub place: String,
    pub at_ms: u64,
    pub actor: String,
    pub event: String,
    pub text: String,
    /// Worth a line in a timeline (not intents, not analyses that passed or waited).
    pub milestone: bool,
}

/// What recomputing the audit trail's hash chain found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChainStatus {
    pub intact: bool,
    /// Events the chain covers.
    pub events: usize,
    /// The hash the cutover's state names as its newest event's.
    #[serde(default)]
    pub head: String,
    /// The first thing found wrong, when not intact.
    pub problem: Option<String>,
}

impl ChainStatus {
    pub fn of(trail: &Trail) -> ChainStatus {
        match audit::verify(trail) {
            Ok(events) => ChainStatus { intact: true, events, head: trail.head.clone(), problem: None },
            Err(e) => ChainStatus {
                intact: false,
                events: trail.records.len(),
                head: trail.head.clone(),
                problem: Some(e.to_string()),
            },
        }
    }
}

pub fn actor_name(actor: &Actor) -> &str {
    match actor {
        Actor::Controller => "controller",
        Actor::Operator(name) => name,
    }
}

impl Series {
    /// The series of a stored cutover from its trail, with its newest
    /// `recent` events as lines (`usize::MAX`: all of them). An event whose
    /// stored JSON no longer reads is counted against the chain, not shown.
    pub fn build(stored: &Stored, trail: &Trail, recent: usize) -> Series {
        let chain = ChainStatus::of(trail);
        let events: Vec<Event> = trail.records.iter().filter_map(|r| serde_json::from_str(&r.body).ok()).collect();
        let plan = Plan::parse_stored(&stored.plan).ok();
        let state = &stored.state;
        let started_ms = state.started_at.map(Timestamp::as_ms);

        let mut planned = Vec::new();
        if let (Some(plan), Some(mut at)) = (&plan, state.started_at) {
            for step in &plan.schedule.steps {
                planned.push(WeightPoint { at_ms: at.as_ms(), bps: step.weight.bps() });
                at = at + step.hold;
            }
            planned
                .push(WeightPoint { at_ms: at.as_ms(), bps: plan.schedule.steps.last().map_or(0, |s| s.weight.bps()) });
        }

        let mut weight = Vec::new();
        let mut marks = Vec::new();
        let mut analyses = Columns::default();
        let mut steps: Vec<StepRow> = Vec::new();
        let mut hops = Hops::default();
        for event in &events {
            let at_ms = event.at.as_ms();
            let mark = || Mark {
                at_ms,
                event: event.kind.name().into(),
                actor: actor_name(&event.actor).into(),
                text: event.describe(),
            };
            match &event.kind {
                EventKind::Started { .. } => {
                    // A start after a rollback begins the series again (the
                    // trail keeps the earlier run; its lines stay below).
                    weight.clear();
                    marks.clear();
                    analyses = Columns::default();
                    steps.clear();
                    hops = Hops::default();
                    weight.push(WeightPoint { at_ms, bps: 0 });
                    marks.push(mark());
                }
                EventKind::WeightConfirmed { weight: w, .. } => weight.push(WeightPoint { at_ms, bps: w.bps() }),
                EventKind::Analysis { step, weight: w, analysis, decision, .. } => {
                    let view = AnalysisView::new(event.at, analysis);
                    analyses.push(at_ms, step + 1, w.bps(), &view);
                    for (seen, kept) in
                        [(&analysis.hops.legacy, &mut hops.legacy), (&analysis.hops.serverless, &mut hops.serverless)]
                    {
                        if !seen.is_empty() {
                            *kept = SideHops { at_ms: Some(at_ms), hops: seen.clone() };
                        }
                    }
                    let row = StepRow {
                        step: step + 1,
                        weight_bps: w.bps(),
                        from_ms: at_ms,
                        to_ms: at_ms,
                        verdict: view.verdict,
                        decision: decision.describe(),
                        legacy: view.legacy,
                        serverless: view.serverless,
                    };
                    match steps.last_mut() {
                        // A window that could not be measured says nothing of
                        // the step's figures: it keeps the last ones measured.
                        Some(last) if last.step == row.step && analysis.verdict == Verdict::Error => {
                            (last.to_ms, last.verdict, last.decision) = (row.to_ms, row.verdict, row.decision)
                        }
                        Some(last) if last.step == row.step && last.weight_bps == row.weight_bps => {
                            *last = StepRow { from_ms: last.from_ms, ..row }
                        }
                        _ => steps.push(row),
                    }
                }
                EventKind::WeightIntent { .. } | EventKind::EdgeFailed { .. } | EventKind::EdgeUnverified { .. } => {}
                _ => marks.push(mark()),
            }
        }

        let last_ms = events.last().map(|e| e.at.as_ms());
        let costs = plan.as_ref().map_or_else(Costs::default, |p| p.costs);
        let cost = CostView::new(costs, started_ms, last_ms, &steps, &hops);
        let skip = events.len().saturating_sub(recent);
        let lines = events[skip..]
            .iter()
            .map(|e| EventLine {
                place: format!("{}.{}", e.version, e.index),
                at_ms: e.at.as_ms(),
                actor: actor_name(&e.actor).into(),
                event: e.kind.name().into(),
                text: e.describe(),
                milestone: e.is_milestone() || matches!(e.actor, Actor::Operator(_)),
            })
            .collect();
        Series {
            id: state.id.clone(),
            started_ms,
            last_ms,
            planned,
            weight,
            marks,
            analyses,
            steps,
            hops,
            cost,
            events: lines,
            events_omitted: skip,
            chain,
        }
    }
}

impl CostView {
    fn new(prices: Costs, started_ms: Option<u64>, last_ms: Option<u64>, steps: &[StepRow], hops: &Hops) -> CostView {
        let hours = match (started_ms, last_ms) {
            (Some(from), Some(to)) if to > from => (to - from) as f64 / 3_600_000.0,
            _ => 0.0,
        };
        let legacy_requests: u64 = steps.iter().map(|s| s.legacy.requests).sum();
        let serverless_requests: u64 = steps.iter().map(|s| s.serverless.requests).sum();
        let measured = hops
            .serverless
            .hops
            .iter()
            .find(|h| (h.name == "lambda" || h.name == "function") && h.p50_ms.is_some())
            .map(|h| (h.p50_ms, format!("the {} hop's p50", h.name)));
        let at_edge = steps.iter().rev().find_map(|s| s.serverless.p50_ms);
        let (lambda_ms, lambda_ms_from) = match measured {
            Some((ms, from)) => (ms, Some(from)),
            None => (at_edge, at_edge.map(|_| "the serverless side's p50 at the edge (an upper bound)".to_owned())),
        };
        let lambda_ms = lambda_ms.map(f64::ceil);
        let per_request = |ms: f64| {
            (prices.api_gateway_per_million + prices.lambda_per_million) / 1e6
                + ms / 1000.0 * prices.lambda_memory_mb / 1024.0 * prices.lambda_gb_second
        };
        let serverless_usd = lambda_ms.map_or(0.0, |ms| serverless_requests as f64 * per_request(ms));
        let rate = (hours > 0.0).then(|| (legacy_requests + serverless_requests) as f64 / hours);
        CostView {
            hours,
            legacy_requests,
            serverless_requests,
            legacy_usd: hours * prices.legacy_per_hour,
            serverless_usd,
            lambda_ms,
            lambda_ms_from,
            month_legacy_usd: rate.map(|_| HOURS_PER_MONTH * prices.legacy_per_hour),
            month_serverless_usd: rate.zip(lambda_ms).map(|(rate, ms)| rate * HOURS_PER_MONTH * per_request(ms)),
            prices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_core::audit::{seal, Record, GENESIS};
    use cutover_core::engine::{CutoverState, Decision, HoldReason, RollbackReason};
    use cutover_core::judge::{Analysis, CheckName, CheckResult, Unit, Verdict};
    use cutover_core::measure::{PerSide, Source, Window};
    use cutover_core::plan::DEFAULT_PLAN;
    use cutover_core::store::TimeScale;
    use cutover_core::units::Weight;

    const T0: u64 = 1_795_870_800_000;
    const MIN: u64 = 60_000;

    fn analysis(
        step: usize,
        bps: u16,
        legacy_p50: f64,
        serverless_p50: f64,
        requests: (u64, u64),
        hops: bool,
    ) -> EventKind {
        let latency = CheckResult {
            legacy: Some(legacy_p50),
            serverless: Some(serverless_p50),
            verdict: Verdict::Pass,
            ..CheckResult::new(CheckName::LatencyP50, false, Unit::Ms)
        };
        let errors = CheckResult {
            legacy: Some(0.0),
            serverless: Some(0.5),
            verdict: Verdict::Pass,
            ..CheckResult::new(CheckName::ErrorRate, true, Unit::Percent)
        };
        let samples = PerSide { legacy: requests.0, serverless: requests.1 };
        let window = Window { from: Timestamp::from_ms(T0), to: Timestamp::from_ms(T0 + MIN) };
        let mut analysis = Analysis::from_checks(window, samples, vec![errors, latency]);
        if hops {
            let hop = |name: &str, depth, p50| Hop {
                name: name.into(),
                source: Source::XRay,
                depth,
                samples: 40,
                p50_ms: Some(p50),
                p99_ms: Some(p50 * 2.0),
            };
            analysis.hops.serverless = vec![hop("api_gateway", 0, 33.0), hop("lambda", 1, 20.4)];
        }
        EventKind::Analysis {
            step,
            weight: Weight::from_bps(bps).unwrap(),
            failures: 0,
            analysis,
            decision: Decision::Hold { reason: HoldReason::HoldTime },
        }
    }

    fn w(bps: u16) -> Weight {
        Weight::from_bps(bps).unwrap()
    }

    /// A cutover that ran two steps and was rolled back by an operator.
    fn cutover() -> (Stored, Trail) {
        sealed(vec![
            (0, Actor::Operator("ana".into()), EventKind::Started { steps: 7, plan_sha256: None }),
            (0, Actor::Controller, EventKind::WeightIntent { from: w(0), to: w(100), step: 0 }),
            (1, Actor::Controller, EventKind::WeightConfirmed { weight: w(100), verification: None }),
            (30, Actor::Controller, analysis(0, 100, 40.0, 30.0, (1000, 10), false)),
            (60, Actor::Controller, analysis(0, 100, 41.0, 31.0, (2000, 20), false)),
            (61, Actor::Controller, EventKind::WeightConfirmed { weight: w(500), verification: None }),
            (90, Actor::Controller, analysis(1, 500, 42.0, 60.0, (3000, 150), true)),
            (91, Actor::Operator("bo".into()), EventKind::RollbackStarted { reason: RollbackReason::Operator }),
            (92, Actor::Controller, EventKind::RolledBack { reason: RollbackReason::Operator }),
        ])
    }

    /// A trail of `kinds` (minute, actor, kind) as a store holds it, sealed.
    fn sealed(kinds: Vec<(u64, Actor, EventKind)>) -> (Stored, Trail) {
        let events: Vec<Event> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, (minute, actor, kind))| Event {
                cutover_id: "c1".into(),
                version: i as u64 + 1,
                index: 0,
                at: Timestamp::from_ms(T0 + minute * MIN),
                actor,
                kind,
                reason: None,
            })
            .collect();
        let bodies: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        let hashes = seal(GENESIS, bodies.iter().map(String::as_str));
        let records = events
            .iter()
            .zip(bodies)
            .zip(&hashes)
            .map(|((e, body), hash)| Record { version: e.version, index: e.index, body, hash: hash.clone() })
            .collect();
        let trail = Trail { head: hashes.last().unwrap().clone(), records };
        let mut state = CutoverState::new("c1", Timestamp::from_ms(T0));
        let last_start = events.iter().rev().find(|e| matches!(e.kind, EventKind::Started { .. }));
        state.started_at = last_start.map(|e| e.at);
        let stored = Stored { state, plan: DEFAULT_PLAN.into(), time: TimeScale::REAL };
        (stored, trail)
    }

    #[test]
    fn a_series_holds_what_the_trail_says() {
        let (stored, trail) = cutover();
        let s = Series::build(&stored, &trail, 200);
        assert_eq!(s.started_ms, Some(T0));
        assert_eq!(s.last_ms, Some(T0 + 92 * MIN));
        // The default plan: 7 steps from 1 % to 100 %, and where the last one ends (48 h).
        assert_eq!(s.planned.len(), 8);
        assert_eq!(s.planned[0], WeightPoint { at_ms: T0, bps: 100 });
        assert_eq!(s.planned.last().unwrap().at_ms, T0 + 48 * 60 * MIN);
        let weights: Vec<u16> = s.weight.iter().map(|p| p.bps).collect();
        assert_eq!(weights, [0, 100, 500]);
        assert_eq!(s.analyses.at_ms.len(), 3);
        assert_eq!(s.analyses.step, [1, 1, 2]);
        assert_eq!(s.analyses.serverless_p50_ms, [Some(30.0), Some(31.0), Some(60.0)]);
        assert_eq!(s.analyses.serverless_error_percent, [Some(0.5); 3]);
        // One row per step, its last analysis, spanning its first to its last.
        assert_eq!(s.steps.len(), 2);
        assert_eq!((s.steps[0].from_ms, s.steps[0].to_ms), (T0 + 30 * MIN, T0 + 60 * MIN));
        assert_eq!(s.steps[0].legacy.p50_ms, Some(41.0));
        assert_eq!(s.steps[1].serverless.requests, 150);
        assert_eq!(s.steps[1].decision, "hold (hold_time)");
        // Hops per side, from the newest analysis that had them.
        assert_eq!(s.hops.serverless.at_ms, Some(T0 + 90 * MIN));
        assert!(s.hops.legacy.hops.is_empty() && s.hops.legacy.at_ms.is_none());
        let marks: Vec<&str> = s.marks.iter().map(|m| m.event.as_str()).collect();
        assert_eq!(marks, ["started", "rollback_started", "rolled_back"]);
        assert_eq!(s.marks[1].actor, "bo");
        assert!(s.chain.intact && s.chain.events == 9 && s.chain.head == trail.head);
        assert_eq!(s.events.len(), 9);
        assert!(s.events.iter().find(|e| e.event == "rollback_started").unwrap().milestone);
    }

    #[test]
    fn the_cost_comes_from_the_requests_served_and_the_plans_prices() {
        let (stored, trail) = cutover();
        let c = Series::build(&stored, &trail, 200).cost;
        // Requests: each step's last analysis, summed.
        assert_eq!((c.legacy_requests, c.serverless_requests), (5000, 170));
        assert!((c.hours - 92.0 / 60.0).abs() < 1e-9);
        let p = Costs::default();
        assert!((c.legacy_usd - c.hours * p.legacy_per_hour).abs() < 1e-12);
        // The lambda hop's p50 (20.4 ms) billed as 21 ms.
        assert_eq!(c.lambda_ms, Some(21.0));
        assert_eq!(c.lambda_ms_from.as_deref(), Some("the lambda hop's p50"));
        let per_request = (p.api_gateway_per_million + p.lambda_per_million) / 1e6
            + 0.021 * p.lambda_memory_mb / 1024.0 * p.lambda_gb_second;
        assert!((c.serverless_usd - 170.0 * per_request).abs() < 1e-12);
        let rate = 5170.0 / c.hours;
        assert!((c.month_serverless_usd.unwrap() - rate * 730.0 * per_request).abs() < 1e-9);
        assert!((c.month_legacy_usd.unwrap() - 730.0 * p.legacy_per_hour).abs() < 1e-9);
    }

    #[test]
    fn a_changed_event_breaks_the_chain_and_recent_keeps_the_newest() {
        let (stored, mut trail) = cutover();
        trail.records[4].body = trail.records[4].body.replace("41.0", "14.0");
        let s = Series::build(&stored, &trail, 3);
        assert!(!s.chain.intact);
        assert!(s.chain.problem.as_deref().unwrap().contains("5.0"), "{:?}", s.chain.problem);
        assert_eq!(s.events.len(), 3);
        assert_eq!(s.events_omitted, 6);
        assert_eq!(s.events.last().unwrap().event, "rolled_back");
    }

    #[test]
    fn a_start_after_a_rollback_begins_the_series_again() {
        let started = || EventKind::Started { steps: 7, plan_sha256: None };
        let rolled = || EventKind::RolledBack { reason: RollbackReason::Operator };
        let (stored, trail) = sealed(vec![
            (0, Actor::Operator("ana".into()), started()),
            (1, Actor::Controller, EventKind::WeightConfirmed { weight: w(100), verification: None }),
            (30, Actor::Controller, analysis(0, 100, 40.0, 90.0, (1000, 10), true)),
            (31, Actor::Controller, rolled()),
            (120, Actor::Operator("ana".into()), started()),
            (121, Actor::Controller, EventKind::WeightConfirmed { weight: w(100), verification: None }),
            (150, Actor::Controller, analysis(0, 100, 40.0, 30.0, (500, 5), false)),
        ]);
        let s = Series::build(&stored, &trail, 200);
        assert_eq!(s.started_ms, Some(T0 + 120 * MIN));
        assert_eq!(s.analyses.at_ms, [T0 + 150 * MIN], "only the second run's analyses");
        assert_eq!(s.steps.len(), 1);
        assert_eq!((s.steps[0].from_ms, s.steps[0].legacy.requests), (T0 + 150 * MIN, 500));
        assert!(s.hops.serverless.hops.is_empty(), "the first run's hops are gone");
        assert_eq!(s.weight.first().map(|p| p.at_ms), Some(T0 + 120 * MIN));
        assert_eq!(s.events.len(), 7, "the trail keeps both runs");
        assert_eq!(s.cost.legacy_requests, 500);
    }

    #[test]
    fn a_window_that_could_not_be_measured_keeps_the_steps_figures() {
        let window = Window { from: Timestamp::from_ms(T0), to: Timestamp::from_ms(T0 + MIN) };
        let error = EventKind::Analysis {
            step: 0,
            weight: w(100),
            failures: 0,
            analysis: Analysis::error(
                window,
                &cutover_core::measure::MeasureError::new(Source::CloudWatch, "throttled"),
            ),
            decision: Decision::Hold { reason: HoldReason::NoData },
        };
        let (stored, trail) = sealed(vec![
            (0, Actor::Operator("ana".into()), EventKind::Started { steps: 7, plan_sha256: None }),
            (30, Actor::Controller, analysis(0, 100, 40.0, 30.0, (1000, 10), false)),
            (31, Actor::Controller, error),
        ]);
        let s = Series::build(&stored, &trail, 200);
        let row = &s.steps[0];
        assert_eq!((row.verdict.as_str(), row.to_ms), ("error", T0 + 31 * MIN));
        assert_eq!((row.legacy.requests, row.legacy.p50_ms), (1000, Some(40.0)));
        assert_eq!(s.cost.legacy_requests, 1000);
    }
}
