//! Invariant checkers: they watch what the engine persists and applies, and
//! what the edge really does, and name every rule that is broken.

use std::time::Duration;

use cutover_core::engine::{Actor, CutoverState, Event, EventKind, Phase};
use cutover_core::judge::Verdict;
use cutover_core::measure::PerSide;
use cutover_core::plan::Plan;
use cutover_core::units::{Timestamp, Weight};

/// Mirrors the store and the edge; collects violations instead of panicking
/// so a run reports all of them with their time.
#[derive(Clone, Debug)]
pub struct Checker {
    steps: Vec<(Weight, Duration)>,
    min_samples: u64,
    stored_version: u64,
    last_intent: Option<Weight>,
    /// A rollback started and no operator has started the cutover since.
    rolled_back: bool,
    step_started_at: Option<Timestamp>,
    last_analysis: Option<(Verdict, PerSide<u64>, Timestamp)>,
    violations: Vec<String>,
}

impl Checker {
    pub fn new(plan: &Plan) -> Checker {
        Checker {
            steps: plan.schedule.steps.iter().map(|s| (s.weight, s.hold)).collect(),
            min_samples: plan.guardrails.min_samples,
            stored_version: 0,
            last_intent: None,
            rolled_back: false,
            step_started_at: None,
            last_analysis: None,
            violations: Vec::new(),
        }
    }

    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    fn violation(&mut self, at: Timestamp, rule: &str, detail: String) {
        if self.violations.len() < 100 {
            self.violations.push(format!("{at} {rule}: {detail}"));
        }
    }

    fn step_weight(&self, step: usize) -> Weight {
        self.steps.get(step).map_or(Weight::ZERO, |s| s.0)
    }

    /// A `Persist` the store accepted.
    pub fn persisted(&mut self, state: &CutoverState, events: &[Event]) {
        let at = state.updated_at;
        if state.version != self.stored_version + 1 {
            self.violation(at, "version", format!("stored {} then {}", self.stored_version, state.version));
        }
        self.stored_version = state.version;
        if state.weight > self.step_weight(state.step) {
            self.violation(at, "weight-above-step", format!("{} at step {}", state.weight, state.step));
        }
        let started_here = events.iter().any(|e| matches!(e.kind, EventKind::Started { .. }));
        for e in events {
            self.event(e, started_here);
        }
    }

    fn event(&mut self, e: &Event, started_here: bool) {
        let at = e.at;
        match &e.kind {
            EventKind::Started { .. } => {
                self.rolled_back = false;
                self.last_analysis = None;
            }
            EventKind::WeightIntent { from, to, step } => {
                if *to > self.step_weight(*step) {
                    self.violation(at, "weight-above-step", format!("intent {to} at step {step}"));
                }
                if self.rolled_back && *to > Weight::ZERO {
                    self.violation(at, "raised-after-rollback", format!("intent {to} with no operator start"));
                }
                let failed = self.last_analysis.is_some_and(|a| a.0 == Verdict::Fail);
                if to > from && failed && !started_here {
                    self.violation(at, "raised-after-fail", format!("{from} -> {to} after a failed verdict"));
                }
                if to > from {
                    self.step_started_at = None;
                }
                self.last_intent = Some(*to);
            }
            EventKind::WeightConfirmed { weight }
                if Some(*weight) == self.last_intent && self.step_started_at.is_none() =>
            {
                self.step_started_at = Some(at);
            }
            EventKind::Analysis { analysis, .. } => {
                self.last_analysis = Some((analysis.verdict, analysis.samples, analysis.window.to));
            }
            EventKind::StepAdvanced { from_step, promoted, .. } => {
                self.check_advance(at, *from_step, *promoted, "advance");
                self.last_analysis = None;
            }
            EventKind::Completed => {
                let promoted = matches!(e.actor, Actor::Operator(_));
                self.check_advance(at, self.steps.len().saturating_sub(1), promoted, "complete");
            }
            EventKind::RollbackStarted { .. } => self.rolled_back = true,
            _ => {}
        }
    }

    /// No advance without hold + pass (an operator's promote skips the hold,
    /// never a failure).
    fn check_advance(&mut self, at: Timestamp, from_step: usize, promoted: bool, what: &str) {
        let last = self.last_analysis;
        if promoted {
            if last.is_some_and(|a| a.0 == Verdict::Fail) {
                self.violation(at, "promoted-past-fail", format!("{what} from step {from_step}"));
            }
            return;
        }
        let hold = self.steps.get(from_step).map_or(Duration::ZERO, |s| s.1);
        let Some(started) = self.step_started_at else {
            return self.violation(
                at,
                "advance-unconfirmed",
                format!("{what} from step {from_step} before the edge confirmed it"),
            );
        };
        let hold_end = started + hold;
        if at < hold_end {
            self.violation(at, "advance-before-hold", format!("{what} from step {from_step}; hold ends {hold_end}"));
        }
        match last {
            Some((Verdict::Pass, samples, judged_to)) => {
                if samples.legacy < self.min_samples || samples.serverless < self.min_samples {
                    self.violation(at, "advance-without-samples", format!("{what} on {samples:?}"));
                }
                if judged_to < hold_end {
                    self.violation(
                        at,
                        "advance-on-stale-pass",
                        format!("{what}: pass covered to {judged_to}, hold ends {hold_end}"),
                    );
                }
            }
            other => self.violation(
                at,
                "advance-without-pass",
                format!("{what} from step {from_step} on {:?}", other.map(|a| a.0)),
            ),
        }
    }

    /// An `ApplyWeight` the driver carried out.
    pub fn applied(&mut self, at: Timestamp, weight: Weight) {
        if self.last_intent != Some(weight) {
            self.violation(
                at,
                "apply-without-intent",
                format!("applied {weight}, last persisted intent {:?}", self.last_intent),
            );
        }
    }

    /// The edge after every step of the run.
    pub fn world(&mut self, at: Timestamp, edge: Weight, state: &CutoverState) {
        if matches!(state.phase, Phase::RolledBack { .. } | Phase::Aborted) && edge != Weight::ZERO {
            self.violation(at, "edge-up-after-rollback", format!("edge at {edge} in {}", state.phase));
        }
        if state.phase != Phase::Pending && edge > self.step_weight(state.step) {
            self.violation(
                at,
                "edge-above-step",
                format!("edge at {edge}, step {} is {}", state.step, self.step_weight(state.step)),
            );
        }
    }
}
