//! Operators' commands.

use super::*;
use crate::judge::Verdict;

impl<J: Judge> Engine<J> {
    pub(super) fn on_command(
        &mut self,
        now: Timestamp,
        command: Command,
        actor: Actor,
        tx: &mut Txn,
    ) -> Result<(), String> {
        let phase = self.state.phase;
        let refuse = || Err(format!("a {} cutover cannot {}", phase.name(), command.as_str()));
        match command {
            Command::Start => {
                if !matches!(phase, Phase::Pending | Phase::RolledBack { .. }) {
                    return refuse();
                }
                self.start(now, &actor, tx);
            }
            Command::Pause => {
                if phase != Phase::Progressing {
                    return refuse();
                }
                self.state.phase = Phase::Paused { reason: PauseReason::Operator };
                tx.record(&actor, EventKind::Paused { reason: PauseReason::Operator });
            }
            Command::Resume => {
                if !matches!(phase, Phase::Paused { .. }) {
                    return refuse();
                }
                self.state.phase = Phase::Progressing;
                self.state.no_data_since = None;
                self.state.shared_failure_since = None;
                tx.record(&actor, EventKind::Resumed);
                if let Some(found) = self.state.drift_found.take() {
                    // The operator looked at what someone else wrote and
                    // resumed: take it as the last written weight, and apply
                    // the intent over it.
                    self.state.written = found;
                    self.edge = EdgeProgress::default();
                    tx.apply = true;
                } else if phase == (Phase::Paused { reason: PauseReason::Unverified }) {
                    // Apply (and verify) again.
                    self.edge = EdgeProgress::default();
                    tx.apply = true;
                }
            }
            Command::Rollback => match phase {
                Phase::Progressing | Phase::Paused { .. } | Phase::Completed => {
                    self.start_rollback(RollbackReason::Operator, &actor, tx);
                }
                Phase::RollingBack { .. } => {
                    // Already under way: retry the edge now instead of waiting.
                    if !self.edge.in_flight {
                        self.edge.retry_at = Some(now);
                    }
                    return Err("a rollback is already under way; its edge write is tried again now".into());
                }
                _ => return refuse(),
            },
            Command::Promote => {
                if !matches!(phase, Phase::Progressing | Phase::Paused { .. }) {
                    return refuse();
                }
                if self.state.step_started_at.is_none() {
                    return Err("the edge has not confirmed this step's weight yet; promote after it has".into());
                }
                if self.state.last_verdict == Some(Verdict::Fail) {
                    return Err(
                        "the latest analysis failed; a failing step is not promoted (roll back, or wait for a pass)"
                            .into(),
                    );
                }
                let to = self.state.step + 1;
                let decision = if to < self.plan.schedule.steps.len() {
                    Decision::Advance { to_step: to }
                } else {
                    Decision::Complete
                };
                self.execute(decision, &actor, tx);
            }
            Command::Abort => match phase {
                Phase::Pending | Phase::RolledBack { .. } => {
                    self.state.phase = Phase::Aborted;
                    tx.record(&actor, EventKind::Aborted);
                }
                Phase::Progressing | Phase::Paused { .. } | Phase::RollingBack { .. } => {
                    self.start_rollback(RollbackReason::Abort, &actor, tx);
                }
                _ => return refuse(),
            },
        }
        Ok(())
    }

    /// Begins at the first step, as `actor`.
    pub(super) fn start(&mut self, now: Timestamp, actor: &Actor, tx: &mut Txn) {
        self.state.phase = Phase::Progressing;
        self.state.started_at = Some(now);
        self.state.start_at = None;
        self.state.started_by = match actor {
            Actor::Operator(who) => Some(who.clone()),
            Actor::Controller => None,
        };
        let (steps, plan_sha256) = (self.plan.schedule.steps.len(), self.state.plan_sha256.clone());
        tx.record(actor, EventKind::Started { steps, plan_sha256 });
        self.enter_step(0, actor, tx);
        self.measure.baseline_wanted = self.baseline_window(now);
    }
}
