//! The cutover engine: a sans-IO state machine.
//!
//! Contract (after quinn-proto): [`Engine::handle`] takes `(now, input)` and
//! returns the [`Effect`]s the driver must carry out, in order; it performs no
//! I/O and reads no clock. [`Engine::next_wake`] says when to call again with
//! [`Input::Tick`]. The driver's side of the contract:
//!
//! - run the effects of one [`Output`] in order; a [`Effect::Persist`] must be
//!   durable before the next effect runs. If it fails (a version conflict or a
//!   lost lease), drop the rest of the batch and rebuild the engine from the
//!   stored state with [`Engine::restore`]: a crash and a failed write take
//!   the same path. Drop the old engine's requests in flight with it: a
//!   rebuilt engine under the same lease numbers its applies afresh, so
//!   an answer meant for its predecessor could pass for its own;
//! - apply weights one at a time, in the order asked, and answer every
//!   [`Effect::ApplyWeight`] with an [`Input::Edge`] carrying its [`ApplyId`];
//!   answer every [`Effect::Measure`] with an [`Input::Measured`];
//! - start with [`Input::LeaseGained`]: a follower does nothing. Each lease
//!   carries a new, higher epoch (the fencing token).
//!
//! An answer counts only if its apply was issued for the current intent: an
//! older apply of the same weight (say a 0 from an earlier rollback) answering
//! late must not confirm a newer intent, or the edge could end up at a weight
//! nobody recorded. A late success of a timed-out apply of the current intent
//! does count: the edge applies in order, so it holds that weight.
//!
//! The engine asserts its side of the contract on every call, in every
//! build: what it accepts (no answer to an apply it never issued, no
//! lease going back) and what it emits (each write's events numbered,
//! the weight within its step, an apply only of the last written weight,
//! a notification only of an event written in the same call).
//!
//! Every weight the engine applies was persisted as a `weight_intent` event
//! first (write-ahead), so after a crash [`Input::LeaseGained`] re-applies the
//! recorded intent: the edge converges to what the audit log says.
//!
//! The engine keeps no deadline on its own requests: how long an edge write
//! or a metric read may take is a matter of wall-clock time, which the
//! engine never sees (a demo at 1200× would otherwise time a 50 ms read out
//! after one engine minute). The driver bounds every request in wall time
//! and answers it with a failure when the bound passes, so every effect is
//! answered, as the contract asks.

mod assert;
mod commands;
mod contract;
mod edge;
mod measuring;
mod state;
mod step;
mod timers;

pub use contract::*;
pub use edge::EDGE_BACKOFF;
pub use measuring::LATE_MAX;
pub use state::*;

use crate::judge::Judge;
use crate::measure::Window;
use crate::plan::Plan;
use crate::units::{Timestamp, Weight};
use edge::EdgeProgress;
use measuring::MeasureProgress;

/// What one call to `handle` will persist and do.
#[derive(Default)]
struct Txn {
    events: Vec<(Actor, EventKind)>,
    /// The operator's reason for the command being handled.
    reason: Option<String>,
    apply: bool,
    measures: Vec<Window>,
}

impl Txn {
    fn record(&mut self, actor: &Actor, kind: EventKind) {
        self.events.push((actor.clone(), kind));
    }
}

/// One cutover's decision-maker. See the module docs for the contract.
pub struct Engine<J> {
    plan: Plan,
    judge: J,
    state: CutoverState,
    leader: bool,
    /// The lease's fencing token; with `apply_seq`, names each apply.
    epoch: u64,
    apply_seq: u64,
    /// The time of the call being handled, which never goes back: the
    /// handlers are passed it as `now`; the timers read it here.
    now: Timestamp,
    /// The weight of the last persisted state: the only weight an apply
    /// may carry (write-ahead).
    persisted_weight: Weight,
    edge: EdgeProgress,
    measure: MeasureProgress,
}

impl<J: Judge> Engine<J> {
    /// A new cutover, Pending at weight 0. Nothing is persisted until it starts.
    pub fn new(id: impl Into<String>, plan: Plan, judge: J, now: Timestamp) -> Self {
        Self::restore(plan, CutoverState::new(id, now), judge)
    }

    /// An engine for a recorded state, e.g. after a restart. It acts after
    /// [`Input::LeaseGained`], re-applying the recorded weight intent first.
    pub fn restore(plan: Plan, state: CutoverState, judge: J) -> Self {
        let (now, persisted_weight) = (state.updated_at, state.weight);
        Engine {
            plan,
            judge,
            state,
            leader: false,
            epoch: 0,
            apply_seq: 0,
            now,
            persisted_weight,
            edge: EdgeProgress::default(),
            measure: MeasureProgress::default(),
        }
    }

    pub fn state(&self) -> &CutoverState {
        &self.state
    }

    /// Handles one input at `now`: what the driver must do, in order.
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Output {
        // Time never runs backwards inside the engine, whatever the driver says.
        let now = now.max(self.now);
        self.now = now;
        let mut tx = Txn::default();
        let mut rejected = None;
        let handled_before = self.state.commands_handled;
        match input {
            Input::LeaseGained { epoch } => {
                assert!(
                    epoch >= self.epoch,
                    "engine assertion: the lease's epoch went back from {} to {epoch}",
                    self.epoch
                );
                self.leader = true;
                // `apply_seq` keeps counting: ids stay unique even if a lease
                // were (wrongly) granted twice with the same epoch.
                self.epoch = epoch;
                self.reconcile(&mut tx);
            }
            Input::LeaseLost => {
                self.leader = false;
                self.edge = EdgeProgress::default();
                self.measure = MeasureProgress::default();
            }
            Input::Command { .. } if !self.leader => {
                rejected = Some("this controller does not hold the lease".to_string());
            }
            _ if !self.leader => {}
            Input::Tick => {}
            Input::Edge(ref result) if !self.issued(result.id()) => {
                panic!("engine assertion: an answer to apply {:?}, which this lease never issued", result.id())
            }
            Input::Measured { window, result } => self.on_measured(now, window, result, &mut tx),
            Input::Edge(result) => self.on_edge(now, result, &mut tx),
            Input::EdgeRead(found) => self.on_edge_read(found, &mut tx),
            Input::Command { seq, .. } if seq <= self.state.commands_handled => {}
            Input::Command { seq, command, actor, reason } => {
                tx.reason = reason;
                self.state.commands_handled = seq;
                let actor = Actor::Operator(actor);
                if let Err(why) = self.on_command(now, command, actor.clone(), &mut tx) {
                    tx.record(&actor, EventKind::CommandRefused { command, why: why.clone() });
                    rejected = Some(why);
                }
            }
        }
        if self.leader {
            self.poll(now, &mut tx);
        }
        let effects = self.finish(now, tx);
        self.assert_emitted(&effects, handled_before);
        Output { effects, rejected }
    }

    /// Turns the transaction into effects: persist first (write-ahead), then
    /// the edge, then measuring, then notifications of what was persisted.
    fn finish(&mut self, now: Timestamp, tx: Txn) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut notifications = Vec::new();
        if !tx.events.is_empty() {
            self.state.version += 1;
            self.state.updated_at = now;
            self.state.paused_since = match self.state.phase {
                Phase::Paused { .. } => self.state.paused_since.or(Some(now)),
                _ => None,
            };
            let reason = tx.reason;
            let events: Vec<Event> = tx
                .events
                .into_iter()
                .enumerate()
                .map(|(i, (actor, kind))| Event {
                    cutover_id: self.state.id.clone(),
                    version: self.state.version,
                    index: i as u16,
                    at: now,
                    reason: reason.clone().filter(|_| matches!(actor, Actor::Operator(_))),
                    actor,
                    kind,
                })
                .collect();
            // Only what notifies is copied: most writes are an analysis.
            let notifies = events.iter().filter(|event| event.kind.notifies());
            notifications.extend(notifies.map(|event| Effect::Notify { event: event.clone() }));
            effects.push(Effect::Persist { state: self.state.clone(), events });
            self.persisted_weight = self.state.weight;
        }
        if tx.apply && self.state.phase.is_active() {
            self.apply_seq += 1;
            let id = ApplyId { epoch: self.epoch, seq: self.apply_seq };
            self.edge.intent_since.get_or_insert(id);
            self.edge.latest = Some(id);
            self.edge.in_flight = true;
            effects.push(Effect::ApplyWeight { id, weight: self.state.weight, expected: self.state.written });
        }
        // A rollback or advance later in the same call cancels a request.
        for window in tx.measures {
            let step_window = self.measure.in_flight == Some(window);
            let baseline = self.measure.baseline_in_flight && self.measure.baseline_wanted == Some(window);
            if step_window || baseline {
                effects.push(Effect::Measure { window });
            }
            if step_window && self.edge.latest.is_none() {
                effects.push(Effect::ReadEdge);
            }
        }
        effects.append(&mut notifications);
        effects
    }
}
