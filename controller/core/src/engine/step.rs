//! The level-triggered part: what is due now, the decision it leads to, and carrying it out.

use super::*;
use std::time::Duration;

use super::timers::Timer;
use crate::judge::{Analysis, CheckName, Verdict};
use crate::measure::{PerSide, Window};
use crate::plan::NoDataAction;

impl<J: Judge> Engine<J> {
    pub(super) fn reconcile(&mut self, tx: &mut Txn) {
        self.edge = EdgeProgress::default();
        self.measure = MeasureProgress::default();
        if !self.state.phase.is_active() {
            return;
        }
        // The recorded intent may or may not have reached the edge: apply it
        // again (idempotent) and trust only the answer. Not over drift: that
        // waits for an operator.
        tx.apply = !matches!(self.state.phase, Phase::Paused { reason: PauseReason::Drift | PauseReason::Unverified });
        if let Some(started) = self.state.step_started_at {
            // The judge's evidence lived in the old process's memory. Rather
            // than persist it, ask the sources again: the old side's baseline
            // from before this step, then the whole step so far as one
            // catch-up window.
            self.judge.reset();
            self.judge.begin_step(self.state.step, self.state.weight, started);
            self.measure.measured_to = Some(started);
            self.measure.baseline_wanted = self.baseline_window(started);
        } else {
            self.measure.baseline_on_confirm = self.state.started_at.is_some();
        }
    }

    /// Acts on every timer that is due, then decides.
    pub(super) fn poll(&mut self, now: Timestamp, tx: &mut Txn) {
        if self.due(Timer::Start) {
            let who = self.state.scheduled_by.clone().unwrap_or_else(|| "scheduler".into());
            tx.reason = tx.reason.take().or_else(|| self.state.start_at.map(|t| format!("scheduled for {t}")));
            self.start(now, &Actor::Operator(who), tx);
        }
        if self.due(Timer::EdgeRetry) {
            self.edge.retry_at = None;
            tx.apply = true;
        }
        if let Some(window) = self.measure.baseline_wanted.filter(|_| self.due(Timer::Baseline)) {
            self.measure.baseline_in_flight = true;
            tx.measures.push(window);
        }
        if let Some(from) = self.measure.measured_to.filter(|_| self.due(Timer::Window)) {
            let window = match self.measure.late {
                Some(late) => late.window,
                None => {
                    self.measure.measured_to = Some(now);
                    Window { from, to: now }
                }
            };
            self.measure.in_flight = Some(window);
            tx.measures.push(window);
        }
        if self.measuring() {
            let decision = self.decide(now, None);
            self.execute(decision, &Actor::Controller, tx);
        }
    }

    /// Progressing or paused on a step whose weight the edge confirmed.
    pub(super) fn measuring(&self) -> bool {
        matches!(self.state.phase, Phase::Progressing | Phase::Paused { .. }) && self.state.step_started_at.is_some()
    }

    pub(super) fn hold(&self) -> Duration {
        self.plan.schedule.steps[self.state.step].hold
    }

    /// Whether the step may advance now, and if not, why.
    pub(super) fn readiness(&self, now: Timestamp) -> Result<(), HoldReason> {
        let s = &self.state;
        let Some(hold_end) = self.deadline(Timer::HoldEnd) else {
            return Err(HoldReason::EdgePending);
        };
        if matches!(s.phase, Phase::Paused { .. }) {
            return Err(HoldReason::Paused);
        }
        // What the evidence says comes first: it is what an operator needs.
        let min = self.plan.guardrails.min_samples;
        match s.last_verdict {
            None => return Err(HoldReason::NotJudged),
            Some(Verdict::Inconclusive) => return Err(HoldReason::Inconclusive),
            Some(Verdict::Error) => return Err(HoldReason::NoData),
            Some(Verdict::Fail) => return Err(HoldReason::Failing),
            Some(Verdict::Pass) if s.last_samples.legacy < min || s.last_samples.serverless < min => {
                return Err(HoldReason::Inconclusive)
            }
            Some(Verdict::Pass) => {}
        }
        if s.shared_failure_since.is_some() {
            return Err(HoldReason::SharedFailure);
        }
        if now < hold_end {
            return Err(HoldReason::HoldTime);
        }
        // The pass must speak for the whole hold, not for most of it.
        if s.judged_to.is_none_or(|t| t < hold_end) {
            return Err(HoldReason::NotJudged);
        }
        if self.plan.is_frozen_hour(now.utc_hour()) {
            return Err(HoldReason::Frozen);
        }
        Ok(())
    }

    pub(super) fn decide(&self, now: Timestamp, analysis: Option<&Analysis>) -> Decision {
        let g = &self.plan.guardrails;
        if let Some(a) = analysis.filter(|a| a.critical) {
            let check = a
                .checks
                .iter()
                .find(|c| c.critical && c.verdict == Verdict::Fail)
                .map_or(CheckName::Source, |c| c.check);
            return Decision::Rollback { reason: RollbackReason::CriticalFail { check } };
        }
        if self.state.failures >= g.failure_limit {
            return Decision::Rollback { reason: RollbackReason::FailureLimit };
        }
        let paused = matches!(self.state.phase, Phase::Paused { .. });
        if self.due(Timer::NoData) {
            match g.no_data.then {
                NoDataAction::Rollback => return Decision::Rollback { reason: RollbackReason::NoData },
                NoDataAction::Pause if !paused => return Decision::Pause { reason: PauseReason::NoData },
                NoDataAction::Pause => {}
            }
        }
        if self.due(Timer::SharedFailure) && !paused {
            return Decision::Pause { reason: PauseReason::SharedFailure };
        }
        match self.readiness(now) {
            Err(reason) => Decision::Hold { reason },
            Ok(()) if self.state.step + 1 < self.plan.schedule.steps.len() => {
                Decision::Advance { to_step: self.state.step + 1 }
            }
            Ok(()) => Decision::Complete,
        }
    }

    pub(super) fn execute(&mut self, decision: Decision, actor: &Actor, tx: &mut Txn) {
        match decision {
            Decision::Hold { .. } => {}
            Decision::Advance { to_step } => {
                let from_step = self.state.step;
                let weight = self.plan.schedule.steps[to_step].weight;
                let promoted = matches!(actor, Actor::Operator(_));
                tx.record(actor, EventKind::StepAdvanced { from_step, to_step, weight, promoted });
                self.enter_step(to_step, actor, tx);
            }
            Decision::Complete => {
                self.state.phase = Phase::Completed;
                self.measure = MeasureProgress::default();
                tx.record(actor, EventKind::Completed);
            }
            Decision::Rollback { reason } => self.start_rollback(reason, actor, tx),
            Decision::Pause { reason } => {
                self.state.phase = Phase::Paused { reason };
                tx.record(actor, EventKind::Paused { reason });
            }
        }
    }

    /// Moves to `step`: its weight is recorded as intent, then applied.
    pub(super) fn enter_step(&mut self, step: usize, actor: &Actor, tx: &mut Txn) {
        let to = self.plan.schedule.steps[step].weight;
        tx.record(actor, EventKind::WeightIntent { from: self.state.weight, to, step });
        let s = &mut self.state;
        s.step = step;
        s.weight = to;
        s.step_started_at = None;
        s.failures = 0;
        s.last_verdict = None;
        s.last_samples = PerSide::default();
        s.judged_to = None;
        s.no_data_since = None;
        s.shared_failure_since = None;
        self.measure.restart_step(None);
        self.edge = EdgeProgress::default();
        tx.apply = true;
    }

    pub(super) fn start_rollback(&mut self, reason: RollbackReason, actor: &Actor, tx: &mut Txn) {
        tx.record(actor, EventKind::RollbackStarted { reason });
        tx.record(actor, EventKind::WeightIntent { from: self.state.weight, to: Weight::ZERO, step: self.state.step });
        self.state.phase = Phase::RollingBack { reason };
        self.state.weight = Weight::ZERO;
        self.state.drift_found = None;
        self.measure = MeasureProgress::default();
        self.edge = EdgeProgress::default();
        tx.apply = true;
    }
}
