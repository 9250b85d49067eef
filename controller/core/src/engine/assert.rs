//! What the engine accepts and what it emits, checked on every call in
//! every build (after TigerBeetle: they walk only the call's own
//! effects). A broken one panics rather than act on a state that broke
//! the engine's own rules: the driver's task ends, the store still
//! holds the last good state, and the daemon lets the lease go. The
//! simulator's checker holds the same rules from outside.

use super::*;

impl<J: Judge> Engine<J> {
    /// Whether `id` names an apply this engine issued, or one of an
    /// earlier lease's (a late answer across a restart).
    pub(super) fn issued(&self, id: ApplyId) -> bool {
        id.epoch < self.epoch || (id.epoch == self.epoch && id.seq <= self.apply_seq)
    }

    pub(super) fn assert_emitted(&self, effects: &[Effect], handled_before: u64) {
        let mut persisted: Option<(&CutoverState, &[Event])> = None;
        for effect in effects {
            match effect {
                Effect::Persist { state, events } => {
                    assert!(!events.is_empty(), "engine assertion: a write with no events");
                    for (i, e) in events.iter().enumerate() {
                        assert!(
                            e.version == state.version && usize::from(e.index) == i && e.cutover_id == state.id,
                            "engine assertion: event {}.{} of {} in write {} of {}",
                            e.version,
                            e.index,
                            e.cutover_id,
                            state.version,
                            state.id
                        );
                    }
                    let step = self.plan.schedule.steps.get(state.step).map(|s| s.weight);
                    assert!(
                        step.is_some_and(|w| state.weight <= w),
                        "engine assertion: weight {} at step {} (of {})",
                        state.weight,
                        state.step,
                        self.plan.schedule.steps.len()
                    );
                    assert_eq!(
                        state.paused_since.is_some(),
                        matches!(state.phase, Phase::Paused { .. }),
                        "engine assertion: paused since {:?} in {}",
                        state.paused_since,
                        state.phase
                    );
                    let intent = events.iter().rev().find_map(|e| match e.kind {
                        EventKind::WeightIntent { to, .. } => Some(to),
                        _ => None,
                    });
                    assert!(
                        intent.is_none_or(|to| to == state.weight),
                        "engine assertion: intent {intent:?} written with weight {}",
                        state.weight
                    );
                    persisted = Some((state, events));
                }
                Effect::ApplyWeight { weight, .. } => assert!(
                    *weight == self.persisted_weight && self.state.phase.is_active(),
                    "engine assertion: applying {weight} in {}, the last written weight is {}",
                    self.state.phase,
                    self.persisted_weight
                ),
                Effect::Measure { window } => assert!(
                    window.from < window.to && window.to <= self.now,
                    "engine assertion: measuring {window:?} at {}",
                    self.now
                ),
                Effect::Notify { event } => assert!(
                    persisted.is_some_and(|(_, events)| events.contains(event)),
                    "engine assertion: a notification of {}, not written in the same call",
                    event.describe()
                ),
                Effect::ReadEdge => {}
            }
        }
        // A command counts as handled only by a write that says so.
        let handled = self.state.commands_handled;
        assert!(
            handled == handled_before || persisted.is_some_and(|(state, _)| state.commands_handled == handled),
            "engine assertion: command {handled} handled without a write that records it"
        );
    }
}
