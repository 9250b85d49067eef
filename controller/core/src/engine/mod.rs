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

mod state;

use std::time::Duration;

pub use state::*;

use crate::judge::{Analysis, CheckName, Judge, Verdict};
use crate::measure::{MeasureError, Measurement, PerSide, Window};
use crate::plan::{NoDataAction, Plan};
use crate::units::{Timestamp, Weight};
use cutover_base::Backoff;

/// Edge retries back off from 1 s, doubling, up to a minute.
pub const EDGE_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

// Inputs are handled one at a time and never stored in bulk: boxing the
// measurement would only add an allocation per window.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Time has passed; the engine re-evaluates (level-triggered).
    Tick,
    /// The answer to an [`Effect::Measure`].
    Measured { window: Window, result: Result<Measurement, MeasureError> },
    /// The answer to an [`Effect::ApplyWeight`].
    Edge(EdgeResult),
    /// The answer to an [`Effect::ReadEdge`]: the weight there, or why it
    /// could not be read (ignored: measuring covers an unreachable side).
    EdgeRead(Result<Weight, String>),
    /// An operator's command, as the store's inbox numbered it. The write
    /// that handles it (its events, or [`EventKind::CommandRefused`])
    /// records `seq` in [`CutoverState::commands_handled`]; a command at or
    /// below that number was handled before and is ignored, so one read
    /// again (after a crash, by a new leader) is never handled twice.
    Command {
        seq: u64,
        command: Command,
        actor: String,
        /// Why, in the operator's words; recorded on the events it causes.
        reason: Option<String>,
    },
    /// This engine now holds the lease: it may act. `epoch` is the lease's
    /// fencing token, higher than any earlier holder's.
    LeaseGained { epoch: u64 },
    /// Another controller may act now: stop at once.
    LeaseLost,
}

/// Names one apply: unique across restarts because the epoch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplyId {
    pub epoch: u64,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeResult {
    Applied {
        id: ApplyId,
        weight: Weight,
    },
    Failed {
        id: ApplyId,
        weight: Weight,
        error: String,
    },
    /// The edge's version changed under us (KVS ETag mismatch); retried.
    Conflict {
        id: ApplyId,
        weight: Weight,
    },
    /// The edge holds `found`, which this cutover did not write: not applied.
    Drift {
        id: ApplyId,
        weight: Weight,
        found: Weight,
    },
    /// Applied, and probes through the edge agree: as `Applied`, recorded
    /// with how it was verified.
    Verified {
        id: ApplyId,
        weight: Weight,
        verification: Verification,
    },
    /// Applied, but probes through the edge kept disagreeing.
    Unverified {
        id: ApplyId,
        weight: Weight,
        reason: String,
    },
}

impl EdgeResult {
    pub fn id(&self) -> ApplyId {
        match self {
            EdgeResult::Applied { id, .. }
            | EdgeResult::Failed { id, .. }
            | EdgeResult::Conflict { id, .. }
            | EdgeResult::Drift { id, .. }
            | EdgeResult::Verified { id, .. }
            | EdgeResult::Unverified { id, .. } => *id,
        }
    }
}

/// What an operator can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Begin at the first step (also after a rollback).
    Start,
    Pause,
    Resume,
    Rollback,
    /// Skip the rest of the hold (never past a failing verdict).
    Promote,
    /// Weight back to 0 and stop for good.
    Abort,
}

impl Command {
    pub const ALL: [Command; 6] =
        [Command::Start, Command::Pause, Command::Resume, Command::Rollback, Command::Promote, Command::Abort];

    /// The inverse of [`Command::as_str`].
    pub fn parse(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Rollback => "rollback",
            Command::Promote => "promote",
            Command::Abort => "abort",
        }
    }
}

/// Work for the driver, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Write the state and its events atomically, conditioned on
    /// `state.version - 1` being the stored version.
    Persist { state: CutoverState, events: Vec<Event> },
    /// Set the edge's weight (its intent is already persisted). `expected`
    /// is the weight the cutover last wrote there: finding anything else
    /// but it or `weight` is drift ([`EdgeResult::Drift`]), except that a
    /// weight of 0 (a rollback) is always applied.
    ApplyWeight { id: ApplyId, weight: Weight, expected: Weight },
    /// Read the weight the edge holds now, answered with
    /// [`Input::EdgeRead`]: asked with every window while a step holds, so
    /// drift is seen within one interval.
    ReadEdge,
    /// Measure both sides over the window.
    Measure { window: Window },
    /// Tell people (webhooks) about an event that was just persisted (one
    /// that [`EventKind::notifies`]). The trail is the outbox: a driver
    /// that dies before sending it, the next leader sends it from there.
    Notify { event: Event },
}

#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct Output {
    pub effects: Vec<Effect>,
    /// Why a command was refused, when it was.
    pub rejected: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct EdgeProgress {
    /// The first apply of the current intent: successes from here on confirm it.
    intent_since: Option<ApplyId>,
    /// The latest apply still awaited; only its failure counts.
    latest: Option<ApplyId>,
    /// Whether an apply is awaited (the driver answers every one).
    in_flight: bool,
    retry_at: Option<Timestamp>,
    attempts: u32,
}

#[derive(Clone, Debug, Default)]
struct MeasureProgress {
    /// The end of the last window asked for.
    measured_to: Option<Timestamp>,
    in_flight: Option<Window>,
    /// Evidence from before this step that a new leader must read again
    /// (the old side's baseline), and whether it has been asked for.
    baseline_wanted: Option<Window>,
    baseline_in_flight: bool,
    /// After a failed baseline read: not asked again before this.
    baseline_not_before: Option<Timestamp>,
    /// A new leader took over between a step's intent and its confirmation:
    /// the judge's memory is empty, so the baseline is read again once the
    /// edge confirms (from the cutover's start to then).
    baseline_on_confirm: bool,
    /// A window the source had not published in full yet, when it first
    /// said so, and when to ask for it again (the same window: a steady
    /// delay would leave a growing one's newest minute unpublished for ever).
    late: Option<LateWindow>,
}

#[derive(Clone, Copy, Debug)]
struct LateWindow {
    window: Window,
    since: Timestamp,
    retry_at: Timestamp,
}

impl MeasureProgress {
    /// Starts measuring a step afresh from `from`; a baseline still wanted stays wanted.
    fn restart_step(&mut self, from: Option<Timestamp>) {
        self.measured_to = from;
        self.in_flight = None;
        self.late = None;
    }
}

/// How long after the source first said a window was not published in
/// full it is asked for again before it is judged an error (`no_data`).
pub const LATE_MAX: Duration = Duration::from_secs(10 * 60);

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

    // ---- assertions --------------------------------------------------------
    //
    // What the engine accepts and what it emits, checked on every call in
    // every build (after TigerBeetle: they walk only the call's own
    // effects). A broken one panics rather than act on a state that broke
    // the engine's own rules: the driver's task ends, the store still
    // holds the last good state, and the daemon lets the lease go. The simulator's
    // checker holds the same rules from outside.

    /// Whether `id` names an apply this engine issued, or one of an
    /// earlier lease's (a late answer across a restart).
    fn issued(&self, id: ApplyId) -> bool {
        id.epoch < self.epoch || (id.epoch == self.epoch && id.seq <= self.apply_seq)
    }

    fn assert_emitted(&self, effects: &[Effect], handled_before: u64) {
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

    /// When the engine next wants a [`Input::Tick`]; `None` when it waits only
    /// for inputs (not the leader, or nothing in progress).
    pub fn next_wake(&self) -> Option<Timestamp> {
        if !self.leader {
            return None;
        }
        if let Some(at) = self.scheduled_start(self.now) {
            return Some(at.max(self.now));
        }
        if !self.state.phase.is_active() {
            return None;
        }
        let now = self.now;
        let g = &self.plan.guardrails;
        let measuring = self.measuring();
        let step = |t: Option<Timestamp>| t.filter(|_| measuring);
        let candidates = [
            self.edge.retry_at,
            self.measure.baseline_not_before.filter(|_| self.measure.baseline_wanted.is_some()),
            // The next window, once the last one is answered; a late one
            // first, at its own time.
            step(self.measure.measured_to.filter(|_| self.measure.in_flight.is_none()))
                .map(|t| self.measure.late.map_or(t + g.interval, |late| late.retry_at)),
            step(self.state.step_started_at).map(|t| t + self.hold()),
            step(self.state.no_data_since).map(|t| t + g.no_data.max_hold),
            step(self.state.shared_failure_since).map(|t| t + g.shared_failure.max_hold),
            (measuring && self.readiness(now) == Err(HoldReason::Frozen)).then(|| now.next_utc_hour()),
        ];
        candidates.into_iter().flatten().filter(|t| *t > now).min()
    }

    // ---- inputs ------------------------------------------------------------

    fn reconcile(&mut self, tx: &mut Txn) {
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

    fn on_measured(&mut self, now: Timestamp, window: Window, result: Result<Measurement, MeasureError>, tx: &mut Txn) {
        if self.measure.baseline_in_flight && self.measure.baseline_wanted == Some(window) {
            self.measure.baseline_in_flight = false;
            match result {
                Ok(m) => {
                    self.judge.baseline(window, &m);
                    self.measure.baseline_wanted = None;
                }
                // Asked again an interval later, not in a tight loop.
                Err(_) => self.measure.baseline_not_before = Some(now + self.plan.guardrails.interval),
            }
            return;
        }
        match self.measure.in_flight {
            Some(w) if w == window => self.measure.in_flight = None,
            _ => return, // stale: from an earlier step or a timed-out request
        }
        if !self.measuring() {
            return;
        }
        let since = self.measure.late.take().filter(|late| late.window == window).map_or(now, |late| late.since);
        if let Err(e) = &result {
            if e.late && now < since + LATE_MAX {
                // Not published yet: the same window, asked again later.
                let retry_at = now + self.plan.guardrails.interval;
                self.measure.late = Some(LateWindow { window, since, retry_at });
                return;
            }
        }
        let analysis = match result {
            Ok(mut m) => {
                // The breakdown is for the record; judges never read it.
                let (hops, latency_source) = (std::mem::take(&mut m.hops), m.latency_source.take());
                let routes = std::mem::take(&mut m.routes);
                Analysis { hops, latency_source, routes, ..self.judge.judge(window, &m) }
            }
            Err(e) => Analysis::error(window, &e),
        };
        self.on_analysis(now, analysis, tx);
    }

    fn on_analysis(&mut self, now: Timestamp, analysis: Analysis, tx: &mut Txn) {
        let s = &mut self.state;
        s.last_verdict = Some(analysis.verdict);
        s.last_samples = analysis.samples;
        s.judged_to = Some(analysis.window.to);
        if analysis.verdict == Verdict::Fail && !analysis.critical {
            s.failures += 1;
        }
        if analysis.verdict == Verdict::Error {
            s.no_data_since.get_or_insert(now);
        } else {
            s.no_data_since = None;
        }
        // A window that could not be measured says nothing either way: the
        // shared failure's clock runs on through it.
        if analysis.shared_failure.is_some() {
            s.shared_failure_since.get_or_insert(now);
        } else if analysis.verdict != Verdict::Error {
            s.shared_failure_since = None;
        }
        let decision = self.decide(now, Some(&analysis));
        tx.record(
            &Actor::Controller,
            EventKind::Analysis {
                step: self.state.step,
                weight: self.state.weight,
                failures: self.state.failures,
                analysis,
                decision,
            },
        );
        self.execute(decision, &Actor::Controller, tx);
    }

    fn on_edge(&mut self, now: Timestamp, result: EdgeResult, tx: &mut Txn) {
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
    fn on_edge_read(&mut self, found: Result<Weight, String>, tx: &mut Txn) {
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
    fn drift(&mut self, found: Weight, wanted: Weight, tx: &mut Txn) {
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
    fn edge_retry(&mut self, now: Timestamp, error: String, tx: &mut Txn) {
        self.edge.latest = None;
        self.edge.in_flight = false;
        self.edge.attempts = self.edge.attempts.saturating_add(1);
        self.edge.retry_at = Some(now + EDGE_BACKOFF.after(self.edge.attempts));
        // What the edge holds is unknown after a failed write.
        self.state.edge_weight = None;
        let (weight, attempt) = (self.state.weight, self.edge.attempts);
        tx.record(&Actor::Controller, EventKind::EdgeFailed { weight, attempt, error });
    }

    fn on_command(&mut self, now: Timestamp, command: Command, actor: Actor, tx: &mut Txn) -> Result<(), String> {
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
    fn start(&mut self, now: Timestamp, actor: &Actor, tx: &mut Txn) {
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

    /// What the judge learns the old side from, up to `to`: the plan's
    /// `lookback` before the start (the old side alone, at full load) and
    /// the cutover since. `None` when that is empty.
    fn baseline_window(&self, to: Timestamp) -> Option<Window> {
        let started = self.state.started_at?;
        let from = Timestamp::from_ms(started.as_ms().saturating_sub(self.plan.guardrails.lookback.as_millis() as u64));
        (from < to).then_some(Window { from, to })
    }

    /// When a scheduled cutover starts: its time, or the end of the freeze
    /// window its time falls in (starting raises the weight, which a freeze
    /// forbids).
    fn scheduled_start(&self, now: Timestamp) -> Option<Timestamp> {
        let at = self.state.start_at.filter(|_| self.state.phase == Phase::Pending)?;
        let mut due = at.max(now);
        if !self.plan.is_frozen_hour(due.utc_hour()) {
            return Some(at);
        }
        // The first hour outside the window (within a day: a plan frozen
        // round the clock waits a day at a time, as it would to advance).
        for _ in 0..24 {
            due = due.next_utc_hour();
            if !self.plan.is_frozen_hour(due.utc_hour()) {
                break;
            }
        }
        Some(due)
    }

    // ---- the level-triggered part -----------------------------------------

    fn poll(&mut self, now: Timestamp, tx: &mut Txn) {
        if self.scheduled_start(now).is_some_and(|t| now >= t) {
            let who = self.state.scheduled_by.clone().unwrap_or_else(|| "scheduler".into());
            tx.reason = tx.reason.take().or_else(|| self.state.start_at.map(|t| format!("scheduled for {t}")));
            self.start(now, &Actor::Operator(who), tx);
        }
        if !self.state.phase.is_active() {
            return;
        }
        if !self.edge.in_flight && self.edge.retry_at.is_some_and(|t| now >= t) {
            self.edge.retry_at = None;
            tx.apply = true;
        }
        let baseline_due = self.measure.baseline_not_before.is_none_or(|t| now >= t);
        if let (Some(window), false, true) =
            (self.measure.baseline_wanted, self.measure.baseline_in_flight, baseline_due)
        {
            self.measure.baseline_in_flight = true;
            tx.measures.push(window);
        }
        if !self.measuring() {
            return;
        }
        let interval = self.plan.guardrails.interval;
        if self.measure.in_flight.is_none() {
            match self.measure.late {
                Some(late) if now >= late.retry_at => {
                    self.measure.in_flight = Some(late.window);
                    tx.measures.push(late.window);
                }
                Some(_) => {}
                None => {
                    if let Some(from) = self.measure.measured_to.filter(|to| now >= *to + interval) {
                        let window = Window { from, to: now };
                        self.measure.measured_to = Some(now);
                        self.measure.in_flight = Some(window);
                        tx.measures.push(window);
                    }
                }
            }
        }
        if self.measuring() {
            let decision = self.decide(now, None);
            self.execute(decision, &Actor::Controller, tx);
        }
    }

    /// Progressing or paused on a step whose weight the edge confirmed.
    fn measuring(&self) -> bool {
        matches!(self.state.phase, Phase::Progressing | Phase::Paused { .. }) && self.state.step_started_at.is_some()
    }

    fn hold(&self) -> Duration {
        self.plan.schedule.steps[self.state.step].hold
    }

    /// Whether the step may advance now, and if not, why.
    fn readiness(&self, now: Timestamp) -> Result<(), HoldReason> {
        let s = &self.state;
        let Some(started) = s.step_started_at else {
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
        let hold_end = started + self.hold();
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

    fn decide(&self, now: Timestamp, analysis: Option<&Analysis>) -> Decision {
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
        if let Some(since) = self.state.no_data_since {
            if now >= since + g.no_data.max_hold {
                match g.no_data.then {
                    NoDataAction::Rollback => return Decision::Rollback { reason: RollbackReason::NoData },
                    NoDataAction::Pause if !paused => return Decision::Pause { reason: PauseReason::NoData },
                    NoDataAction::Pause => {}
                }
            }
        }
        if self.state.shared_failure_since.is_some_and(|since| now >= since + g.shared_failure.max_hold) && !paused {
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

    fn execute(&mut self, decision: Decision, actor: &Actor, tx: &mut Txn) {
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
    fn enter_step(&mut self, step: usize, actor: &Actor, tx: &mut Txn) {
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

    fn start_rollback(&mut self, reason: RollbackReason, actor: &Actor, tx: &mut Txn) {
        tx.record(actor, EventKind::RollbackStarted { reason });
        tx.record(actor, EventKind::WeightIntent { from: self.state.weight, to: Weight::ZERO, step: self.state.step });
        self.state.phase = Phase::RollingBack { reason };
        self.state.weight = Weight::ZERO;
        self.state.drift_found = None;
        self.measure = MeasureProgress::default();
        self.edge = EdgeProgress::default();
        tx.apply = true;
    }

    /// Turns the transaction into effects: persist first (write-ahead), then
    /// the edge, then measuring, then notifications of what was persisted.
    fn finish(&mut self, now: Timestamp, tx: Txn) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut events = Vec::new();
        if !tx.events.is_empty() {
            self.state.version += 1;
            self.state.updated_at = now;
            self.state.paused_since = match self.state.phase {
                Phase::Paused { .. } => self.state.paused_since.or(Some(now)),
                _ => None,
            };
            let reason = tx.reason;
            events = tx
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
            effects.push(Effect::Persist { state: self.state.clone(), events: events.clone() });
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
        let notified = events.into_iter().filter(|event| event.kind.notifies());
        effects.extend(notified.map(|event| Effect::Notify { event }));
        effects
    }
}
