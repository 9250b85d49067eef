//! The edge's answers: confirmation, retries, drift, verification.

use super::*;
use std::time::Duration;

use cutover_base::Backoff;

/// Edge retries back off from 1 s, doubling, up to a minute.
pub const EDGE_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

#[derive(Clone, Debug, Default)]
pub(super) struct EdgeProgress {
    /// The first apply of the current intent: successes from here on confirm it.
    pub(super) intent_since: Option<ApplyId>,
    /// The latest apply still awaited; only its failure counts.
    pub(super) latest: Option<ApplyId>,
    /// Whether an apply is awaited (the driver answers every one).
    pub(super) in_flight: bool,
    pub(super) retry_at: Option<Timestamp>,
    pub(super) attempts: u32,
}

impl<J: Judge> Engine<J> {
    pub(super) fn on_edge(&mut self, now: Timestamp, result: EdgeResult, tx: &mut Txn) {
        let (result, verification) = match result {
            EdgeResult::Verified { id, weight, verification } => {
                (EdgeResult::Applied { id, weight }, Some(verification))
            }
            other => (other, None),
        };
        let id = result.id();
        let counts = match result {
            EdgeResult::Applied { weight, .. } => {
                weight == self.state.weight && self.edge.intent_since.is_some_and(|first| id >= first)
            }
            _ => self.edge.latest == Some(id),
        };
        if !counts || !self.state.phase.is_active() {
            return; // an answer to an apply that a newer intent replaced
        }
        match result {
            EdgeResult::Applied { weight, .. } => {
                self.edge = EdgeProgress { intent_since: self.edge.intent_since, ..EdgeProgress::default() };
                let first = self.state.edge_weight != Some(weight);
                self.state.edge_weight = Some(weight);
                self.state.written = weight;
                if let Phase::RollingBack { reason } = self.state.phase {
                    tx.record(
                        &Actor::Controller,
                        EventKind::WeightConfirmed { weight, verification: verification.clone() },
                    );
                    if reason == RollbackReason::Abort {
                        self.state.phase = Phase::Aborted;
                        tx.record(&Actor::Controller, EventKind::Aborted);
                    } else {
                        self.state.phase = Phase::RolledBack { reason };
                        tx.record(&Actor::Controller, EventKind::RolledBack { reason });
                    }
                } else if self.state.step_started_at.is_none() {
                    tx.record(
                        &Actor::Controller,
                        EventKind::WeightConfirmed { weight, verification: verification.clone() },
                    );
                    self.state.step_started_at = Some(now);
                    self.judge.begin_step(self.state.step, weight, now);
                    self.measure.restart_step(Some(now));
                    if std::mem::take(&mut self.measure.baseline_on_confirm) {
                        self.measure.baseline_wanted = self.baseline_window(now);
                    }
                } else if first {
                    tx.record(
                        &Actor::Controller,
                        EventKind::WeightConfirmed { weight, verification: verification.clone() },
                    );
                }
            }
            EdgeResult::Failed { error, .. } => self.edge_retry(now, error, tx),
            EdgeResult::Conflict { .. } => {
                self.edge_retry(now, "the edge changed under us (ETag conflict); re-read and retry".into(), tx)
            }
            EdgeResult::Drift { weight, found, .. } => {
                self.edge = EdgeProgress { intent_since: self.edge.intent_since, ..EdgeProgress::default() };
                self.state.edge_weight = Some(found);
                self.drift(found, weight, tx);
            }
            EdgeResult::Unverified { weight, reason, .. } => {
                if matches!(self.state.phase, Phase::RollingBack { .. }) {
                    // A rollback is never paused: keep applying 0 until the edge agrees.
                    return self.edge_retry(now, format!("unverified: {reason}"), tx);
                }
                self.edge = EdgeProgress { intent_since: self.edge.intent_since, ..EdgeProgress::default() };
                self.state.edge_weight = None;
                tx.record(&Actor::Controller, EventKind::EdgeUnverified { weight, reason });
                if self.state.phase != (Phase::Paused { reason: PauseReason::Unverified }) {
                    tx.record(&Actor::Controller, EventKind::Paused { reason: PauseReason::Unverified });
                }
                self.state.phase = Phase::Paused { reason: PauseReason::Unverified };
            }
            EdgeResult::Verified { .. } => {} // turned into Applied above
        }
    }

    /// What a read of the edge found while a step holds.
    pub(super) fn on_edge_read(&mut self, found: Result<Weight, String>, tx: &mut Txn) {
        let Ok(found) = found else { return };
        // Only a step the edge confirmed, with no apply on its way, is
        // compared: mid-apply the edge may hold either weight.
        let settled = self.measuring() && self.edge.latest.is_none() && self.edge.retry_at.is_none();
        if settled && found != self.state.written && self.state.drift_found != Some(found) {
            self.state.edge_weight = Some(found);
            self.drift(found, self.state.weight, tx);
        }
    }

    /// Someone else wrote the edge: record it and pause (a rollback in
    /// progress is never paused; it applies 0 regardless).
    pub(super) fn drift(&mut self, found: Weight, wanted: Weight, tx: &mut Txn) {
        let expected = self.state.written;
        self.state.drift_found = Some(found);
        tx.record(&Actor::Controller, EventKind::EdgeDrift { expected, found, wanted });
        if matches!(self.state.phase, Phase::Progressing | Phase::Paused { .. }) {
            if self.state.phase != (Phase::Paused { reason: PauseReason::Drift }) {
                tx.record(&Actor::Controller, EventKind::Paused { reason: PauseReason::Drift });
            }
            self.state.phase = Phase::Paused { reason: PauseReason::Drift };
        }
    }

    /// The awaited apply failed (or never answered): retry after a backoff.
    pub(super) fn edge_retry(&mut self, now: Timestamp, error: String, tx: &mut Txn) {
        self.edge.latest = None;
        self.edge.in_flight = false;
        self.edge.attempts = self.edge.attempts.saturating_add(1);
        self.edge.retry_at = Some(now + EDGE_BACKOFF.after(self.edge.attempts));
        // What the edge holds is unknown after a failed write.
        self.state.edge_weight = None;
        let (weight, attempt) = (self.state.weight, self.edge.attempts);
        tx.record(&Actor::Controller, EventKind::EdgeFailed { weight, attempt, error });
    }
}
