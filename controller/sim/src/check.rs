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
    /// The last operator command a stored state covers.
    commands_handled: u64,
    last_intent: Option<Weight>,
    /// A rollback started and no operator has started the cutover since.
    rolled_back: bool,
    step_started_at: Option<Timestamp>,
    last_analysis: Option<(Verdict, PerSide<u64>, Timestamp)>,
    /// The stored step and phase as the events so far leave them.
    step: usize,
    phase: Phase,
    /// Weights persisted as intents since the cutover last started.
    intended: Vec<Weight>,
    /// When the rollback under way was decided, and whether it was
    /// reported stuck already.
    rollback_since: Option<(Timestamp, bool)>,
    /// The latest-issued edge write that reached the edge.
    last_landed: Option<u64>,
    violations: Vec<String>,
}

impl Checker {
    pub fn new(plan: &Plan) -> Checker {
        Checker {
            steps: plan.schedule.steps.iter().map(|s| (s.weight, s.hold)).collect(),
            min_samples: plan.guardrails.min_samples,
            stored_version: 0,
            commands_handled: 0,
            last_intent: None,
            rolled_back: false,
            step_started_at: None,
            last_analysis: None,
            step: 0,
            phase: Phase::Pending,
            intended: Vec::new(),
            rollback_since: None,
            last_landed: None,
            violations: Vec::new(),
        }
    }

    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// A rule the caller checked itself.
    pub fn report(&mut self, at: Timestamp, rule: &str, detail: String) {
        self.violation(at, rule, detail);
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
        if state.paused_since.is_some() != matches!(state.phase, Phase::Paused { .. }) {
            self.violation(at, "paused-since", format!("{:?} in {}", state.paused_since, state.phase));
        }
        self.stored_version = state.version;
        if state.commands_handled < self.commands_handled {
            let detail =
                format!("commands handled through {}, then through {}", self.commands_handled, state.commands_handled);
            self.violation(at, "command-handled-twice", detail);
        }
        self.commands_handled = state.commands_handled;
        if state.weight > self.step_weight(state.step) {
            self.violation(at, "weight-above-step", format!("{} at step {}", state.weight, state.step));
        }
        let started_here = events.iter().any(|e| matches!(e.kind, EventKind::Started { .. }));
        for (i, e) in events.iter().enumerate() {
            if (e.version, usize::from(e.index)) != (state.version, i) {
                let place = format!("{}.{i}", state.version);
                self.violation(at, "event-numbering", format!("event {}.{} at {place}", e.version, e.index));
            }
            self.event(e, started_here);
        }
        (self.step, self.phase) = (state.step, state.phase);
    }

    /// Each decision once: a controller rebuilt from the store after a
    /// write it could not confirm must not make it again.
    fn decided_once(&mut self, e: &Event) {
        let (at, phase) = (e.at, self.phase);
        match &e.kind {
            EventKind::Started { .. } if !matches!(phase, Phase::Pending | Phase::RolledBack { .. }) => {
                self.violation(at, "decided-twice", format!("started in {phase}"));
            }
            EventKind::StepAdvanced { from_step, .. } if *from_step != self.step => {
                self.violation(at, "decided-twice", format!("advanced from step {from_step} at step {}", self.step));
            }
            EventKind::Completed if phase == Phase::Completed => {
                self.violation(at, "decided-twice", "completed twice".into());
            }
            EventKind::RolledBack { .. } if !matches!(phase, Phase::RollingBack { .. }) => {
                self.violation(at, "decided-twice", format!("rolled back in {phase}"));
            }
            EventKind::Aborted if matches!(phase, Phase::Aborted | Phase::Completed) => {
                self.violation(at, "decided-twice", format!("aborted in {phase}"));
            }
            _ => {}
        }
        match e.kind {
            EventKind::Started { .. } => (self.step, self.phase) = (0, Phase::Progressing),
            EventKind::StepAdvanced { to_step, .. } => self.step = to_step,
            EventKind::Completed => self.phase = Phase::Completed,
            EventKind::RolledBack { reason } => self.phase = Phase::RolledBack { reason },
            EventKind::Aborted => self.phase = Phase::Aborted,
            _ => {}
        }
    }

    /// A controller's write reached the edge: only a weight persisted as
    /// an intent since the cutover last started may, and never after a
    /// write issued later (by any controller) landed: the edge would go
    /// back to a weight the audit log has moved past.
    /// `order` counts edge writes as they were issued, by any controller.
    pub fn landed(&mut self, at: Timestamp, order: u64, weight: Weight) {
        if !self.intended.contains(&weight) {
            self.violation(at, "landed-without-intent", format!("{weight} landed; intents {:?}", self.intended));
        }
        if let Some(last) = self.last_landed.filter(|last| *last > order) {
            self.violation(at, "landed-out-of-order", format!("write {order} ({weight}) landed after write {last}"));
        }
        self.last_landed = Some(self.last_landed.map_or(order, |last| last.max(order)));
    }

    /// A rollback under way must finish within `bound` of `since` (when
    /// the edge last came back and a controller last began to lead).
    pub fn rollback_progress(&mut self, at: Timestamp, state: &CutoverState, since: Timestamp, bound: Duration) {
        let Some((decided, reported)) = self.rollback_since else { return };
        if !reported && matches!(state.phase, Phase::RollingBack { .. }) && at > decided.max(since) + bound {
            self.rollback_since = Some((decided, true));
            let from = decided.max(since);
            self.violation(
                at,
                "rollback-stuck",
                format!("rolling back since {decided}; edge and leader up since {from}"),
            );
        }
    }

    /// At the end: every command sent was handled, by a write that says so
    /// (none lost in a crash; with the monotony above, none twice).
    pub fn commands(&mut self, at: Timestamp, sent: u64, state: &CutoverState) {
        if state.commands_handled != sent {
            let detail = format!("{sent} sent, the store's state covers {}", state.commands_handled);
            self.violation(at, "command-lost", detail);
        }
    }

    /// The whole audit log at the end: every version once, in order, each
    /// write's events numbered from 0, the last version the state's.
    pub fn audit(&mut self, log: &[Event], state: &CutoverState) {
        let mut prev: Option<(u64, u16)> = None;
        for e in log {
            let at = (e.version, e.index);
            if !cutover_core::audit::follows(prev, at) {
                let after = prev.map_or("the start".into(), |(v, i)| format!("{v}.{i}"));
                return self.violation(e.at, "audit-log", format!("event {}.{} after {after}", e.version, e.index));
            }
            prev = Some(at);
        }
        let last = log.last().map_or(0, |e| e.version);
        if last != state.version {
            self.violation(
                state.updated_at,
                "audit-log",
                format!("log ends at version {last}, state is {}", state.version),
            );
        }
    }

    fn event(&mut self, e: &Event, started_here: bool) {
        let at = e.at;
        self.decided_once(e);
        match &e.kind {
            EventKind::Started { .. } => {
                self.rolled_back = false;
                self.last_analysis = None;
                self.intended.clear();
            }
            EventKind::WeightIntent { from, to, step } => {
                if !self.intended.contains(to) {
                    self.intended.push(*to);
                }
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
            EventKind::WeightConfirmed { weight, .. }
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
            EventKind::RollbackStarted { .. } => {
                self.rolled_back = true;
                self.rollback_since.get_or_insert((at, false));
            }
            EventKind::RolledBack { .. } | EventKind::Aborted => self.rollback_since = None,
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

#[cfg(test)]
mod tests {
    //! The checker must catch what it claims to: each test breaks one rule.

    use super::*;
    use cutover_core::engine::{Decision, HoldReason, RollbackReason};
    use cutover_core::judge::Analysis;
    use cutover_core::measure::Window;

    const T0: Timestamp = Timestamp(1_795_867_200_000);

    fn plan() -> Plan {
        Plan::default_plan()
    }

    fn event(version: u64, at: Timestamp, kind: EventKind) -> Event {
        Event { cutover_id: "c".into(), version, index: 0, at, actor: Actor::Controller, kind, reason: None }
    }

    fn state(version: u64, step: usize, weight: Weight, at: Timestamp) -> CutoverState {
        let mut s = CutoverState::new("c", at);
        s.version = version;
        s.step = step;
        s.weight = weight;
        s.phase = Phase::Progressing;
        s
    }

    fn pct(p: u16) -> Weight {
        Weight::from_bps(p * 100).unwrap()
    }

    fn rules(c: &Checker) -> Vec<String> {
        c.violations().iter().map(|v| v.split(' ').nth(1).unwrap_or("").trim_end_matches(':').to_string()).collect()
    }

    fn intent(c: &mut Checker, version: u64, step: usize, from: Weight, to: Weight, at: Timestamp) {
        c.persisted(&state(version, step, to, at), &[event(version, at, EventKind::WeightIntent { from, to, step })]);
    }

    fn analysis(verdict: cutover_core::judge::Verdict, to: Timestamp) -> EventKind {
        let a = Analysis {
            verdict,
            ..Analysis::from_checks(Window { from: T0, to }, PerSide { legacy: 1000, serverless: 1000 }, vec![])
        };
        EventKind::Analysis {
            step: 0,
            weight: pct(1),
            failures: 0,
            analysis: a,
            decision: Decision::Hold { reason: HoldReason::HoldTime },
        }
    }

    #[test]
    fn catches_an_apply_without_intent_and_a_skipped_version() {
        let mut c = Checker::new(&plan());
        c.applied(T0, pct(1));
        c.persisted(&state(2, 0, pct(1), T0), &[]);
        assert_eq!(rules(&c), ["apply-without-intent", "version"]);
    }

    #[test]
    fn catches_weights_above_the_step_at_the_edge_and_in_intents() {
        let mut c = Checker::new(&plan());
        intent(&mut c, 1, 0, Weight::ZERO, pct(5), T0);
        c.world(T0, pct(50), &state(1, 0, pct(1), T0));
        assert_eq!(rules(&c), ["weight-above-step", "weight-above-step", "edge-above-step"]);
    }

    #[test]
    fn catches_an_advance_before_the_hold_and_without_a_pass() {
        let mut c = Checker::new(&plan());
        intent(&mut c, 1, 0, Weight::ZERO, pct(1), T0);
        c.persisted(
            &state(2, 0, pct(1), T0),
            &[event(2, T0, EventKind::WeightConfirmed { weight: pct(1), verification: None })],
        );
        let at = T0 + std::time::Duration::from_secs(600);
        let advance = EventKind::StepAdvanced { from_step: 0, to_step: 1, weight: pct(5), promoted: false };
        c.persisted(
            &state(3, 1, pct(5), at),
            &[
                event(3, at, analysis(cutover_core::judge::Verdict::Inconclusive, at)),
                Event { index: 1, ..event(3, at, advance) },
            ],
        );
        assert_eq!(rules(&c), ["advance-before-hold", "advance-without-pass"]);
    }

    #[test]
    fn catches_a_raise_after_a_fail_and_after_a_rollback() {
        let mut c = Checker::new(&plan());
        intent(&mut c, 1, 1, Weight::ZERO, pct(5), T0);
        c.persisted(&state(2, 1, pct(5), T0), &[event(2, T0, analysis(cutover_core::judge::Verdict::Fail, T0))]);
        let rollback = EventKind::RollbackStarted { reason: RollbackReason::FailureLimit };
        c.persisted(&state(3, 1, Weight::ZERO, T0), &[event(3, T0, rollback)]);
        intent(&mut c, 4, 1, Weight::ZERO, pct(5), T0);
        assert_eq!(rules(&c), ["raised-after-rollback", "raised-after-fail"]);
        let mut rolled_back = state(4, 1, Weight::ZERO, T0);
        rolled_back.phase = Phase::RolledBack { reason: RollbackReason::FailureLimit };
        c.world(T0, pct(1), &rolled_back);
        assert_eq!(rules(&c).last().map(String::as_str), Some("edge-up-after-rollback"));
    }

    #[test]
    fn catches_a_decision_made_twice_and_a_broken_audit_log() {
        let mut c = Checker::new(&plan());
        intent(&mut c, 1, 0, Weight::ZERO, pct(1), T0);
        let advance = EventKind::StepAdvanced { from_step: 0, to_step: 1, weight: pct(5), promoted: true };
        c.persisted(&state(2, 1, pct(5), T0), &[event(2, T0, advance.clone())]);
        assert_eq!(rules(&c), Vec::<String>::new());
        // A controller rebuilt from the store advances from step 0 again.
        c.persisted(&state(3, 1, pct(5), T0), &[event(3, T0, advance)]);
        assert_eq!(rules(&c), ["decided-twice"]);
        let log = [event(1, T0, EventKind::Resumed), event(3, T0, EventKind::Resumed)];
        c.audit(&log, &state(3, 1, pct(5), T0));
        assert_eq!(rules(&c), ["decided-twice", "audit-log"]);
    }

    #[test]
    fn catches_a_write_landing_without_intent_or_out_of_order() {
        let mut c = Checker::new(&plan());
        intent(&mut c, 1, 0, Weight::ZERO, pct(1), T0);
        c.landed(T0, 2, pct(1));
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        c.landed(T0, 3, pct(50));
        c.landed(T0, 1, pct(1));
        assert_eq!(rules(&c), ["landed-without-intent", "landed-out-of-order"]);
    }

    #[test]
    fn catches_a_rollback_that_does_not_finish_once_it_can_and_says_so_once() {
        let mut c = Checker::new(&plan());
        intent(&mut c, 1, 0, Weight::ZERO, pct(1), T0);
        let mut rolling = state(2, 0, Weight::ZERO, T0);
        rolling.phase = Phase::RollingBack { reason: RollbackReason::Operator };
        c.persisted(&rolling, &[event(2, T0, EventKind::RollbackStarted { reason: RollbackReason::Operator })]);
        let bound = Duration::from_secs(1800);
        // The edge came back 20 minutes in: the bound counts from then.
        let back = T0 + Duration::from_secs(1200);
        c.rollback_progress(T0 + Duration::from_secs(2400), &rolling, back, bound);
        assert!(c.violations().is_empty());
        c.rollback_progress(T0 + Duration::from_secs(3100), &rolling, back, bound);
        c.rollback_progress(T0 + Duration::from_secs(4000), &rolling, back, bound);
        assert_eq!(rules(&c), ["rollback-stuck"]);
    }
}
