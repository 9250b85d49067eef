//! One simulated cutover: the engine driven on a virtual clock against the
//! simulated world, with seeded fakes for the edge, the sources, the store and
//! crashes, and the invariant checker watching every step.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use cutover_core::engine::{
    Actor, ApplyId, Command, CutoverState, EdgeResult, Effect, Engine, Event, EventKind, Input, Phase, RollbackReason,
    Verification,
};
use cutover_core::judge::Judge;
use cutover_core::measure::{MeasureError, Measurement, Source, Window};
use cutover_core::plan::Plan;
use cutover_core::ports::{before_write, EdgeError, Write};
use cutover_core::units::{Timestamp, Weight};

use crate::check::Checker;
use crate::model::{PortFaults, Scenario};
use crate::rng::Rng;
use crate::world::{uniform, World};

/// What happened in one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub seed: u64,
    pub phase: Phase,
    /// Steps whose hold passed (advances, plus the last step on completion).
    pub steps_completed: usize,
    pub regression_at: Option<Timestamp>,
    /// When the first rollback was decided, and why.
    pub rollback: Option<(Timestamp, RollbackReason)>,
    /// New-side user requests from the regression's onset to the rollback decision.
    pub exposed_requests: u64,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub events: usize,
    pub crashes: u32,
    pub violations: Vec<String>,
    /// Notable audit events, in order, as one line each.
    pub milestones: Vec<(Timestamp, String)>,
    /// Every change of the weight the edge really applied.
    pub edge_changes: Vec<(Timestamp, Weight)>,
    /// What the port faults did (all zero without them).
    pub ports: PortCounts,
}

impl PortCounts {
    pub fn add(&mut self, other: &PortCounts) {
        self.store_failed_before += other.store_failed_before;
        self.store_failed_after += other.store_failed_after;
        self.takeovers += other.takeovers;
        self.fenced += other.fenced;
        self.drifts += other.drifts;
        self.stale_writes_refused += other.stale_writes_refused;
        self.commands += other.commands;
        self.refused += other.refused;
        self.notifications_from_outbox += other.notifications_from_outbox;
    }
}

/// What the faults at the controller's ports did in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortCounts {
    /// Store writes that failed before committing, and after.
    pub store_failed_before: u32,
    pub store_failed_after: u32,
    /// Another controller took the lease (a stall past it, or a lapsed lease).
    pub takeovers: u32,
    /// A stalled leader woke to find another controller leading: the
    /// driver's lease check before its next write stops it.
    pub fenced: u32,
    /// Writes to the edge by someone else.
    pub drifts: u32,
    /// Edge writes that landed after another write: refused by the
    /// edge's version check (its ETag), not applied.
    pub stale_writes_refused: u32,
    /// Operator commands sent, and those the controller refused.
    pub commands: u32,
    pub refused: u32,
    /// Notifications of persisted events their process never handed over
    /// (it died, or a write failed, between the two): the trail is the
    /// outbox, and the next leader sends them from there.
    pub notifications_from_outbox: u32,
}

impl RunReport {
    /// Time from the regression's onset to the rollback decision.
    pub fn detection(&self) -> Option<Duration> {
        match (self.regression_at, self.rollback) {
            (Some(r), Some((at, _))) if at >= r => Some(at.since(r)),
            _ => None,
        }
    }

    /// A rollback decided by the controller before anything was wrong.
    pub fn false_rollback(&self) -> bool {
        match self.rollback {
            Some((at, reason)) if !matches!(reason, RollbackReason::Operator | RollbackReason::Abort) => {
                self.regression_at.is_none_or(|r| at < r)
            }
            _ => false,
        }
    }
}

/// An operator command at a time since the run began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scripted {
    pub after: Duration,
    pub command: Command,
}

/// The lease's time to live, and how long a standby waits past it (the
/// driver's defaults).
const LEASE_TTL: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(500);
/// The driver's bound on one edge write: its deadline, but never more
/// than a third of the lease (30 s and 15 s by default).
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// The driver's bound on one edge verification.
const VERIFY_DEADLINE: Duration = Duration::from_secs(300);
/// How long a rollback may take once the edge takes writes and a
/// controller leads: retries at the longest backoff, each perhaps waiting
/// out a verification that never agrees.
const ROLLBACK_BOUND: Duration = Duration::from_secs(30 * 60);

/// The people who send commands when operators are simulated.
const OPERATORS: [&str; 3] = ["alice", "bob", "carol"];

/// How an edge write issued now will turn out (drawn when it is issued,
/// so the random stream does not depend on what happens meanwhile).
#[derive(Clone, Copy, Debug)]
enum Fate {
    Failed,
    Conflict,
    /// It reaches the edge (which may still refuse it: drift, a stale
    /// version), `stall` later than it would have when the leader stalls
    /// between its read and its write. With `timeout` it takes longer than
    /// the driver waits: answered as failed at the deadline, it may land
    /// after the driver's next write has begun.
    Lands {
        timeout: bool,
        verify: VerifyFate,
        stall: Option<Duration>,
    },
}

impl VerifyFate {
    /// How long after the write its answer comes: the driver waits for
    /// the verification, at most its bound.
    fn takes(self) -> Duration {
        match self {
            VerifyFate::None => Duration::ZERO,
            VerifyFate::After(d) => d.min(VERIFY_DEADLINE),
            VerifyFate::Never => VERIFY_DEADLINE,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum VerifyFate {
    /// No verifier: answered as applied at once.
    None,
    /// Probes agree after this long.
    After(Duration),
    /// Probes never agree: unverified at the driver's bound.
    Never,
}

enum Pending {
    /// An edge write begins: the edge is read, the drift rule applied.
    EdgeStart {
        from: Asker,
        id: ApplyId,
        weight: Weight,
        expected: Weight,
        land_at: Timestamp,
        fate: Fate,
    },
    /// The write reaches the edge, conditioned on the version read at its start.
    EdgeLand {
        from: Asker,
        id: ApplyId,
        weight: Weight,
        version: u64,
        timeout: bool,
        verify: VerifyFate,
    },
    /// An answer for whichever controller leads when it arrives.
    Answer(Asker, Box<Input>),
    Command(Command, &'static str),
    /// Someone else writes the edge.
    Drift(Weight),
    /// The leader stops for this long (when `of` names its epoch, only
    /// that leader). With `jump` no stand-by is there to take over: it
    /// wakes to find its lease lapsed, retakes it and rebuilds.
    Stall {
        lasts: Duration,
        jump: bool,
        of: Option<u64>,
    },
    /// The stalled controller with this epoch wakes.
    Wake {
        epoch: u64,
        jump: bool,
    },
    /// The leader's lease lapses: it stops.
    LeaseLost,
    /// A standby controller takes the lease from the holder of `epoch`
    /// (`None`: from nobody).
    Takeover {
        from: Option<u64>,
    },
}

/// Which engine asked, and in what order edge writes were issued.
#[derive(Clone, Copy, Debug)]
struct Asker {
    epoch: u64,
    /// Counts engines: a rebuild under the same lease is a new one.
    engine: u64,
    /// Counts edge writes across all engines.
    write: u64,
}

struct Queued {
    at: Timestamp,
    seq: u64,
    what: Pending,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Queue {
    heap: BinaryHeap<Reverse<Queued>>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: Timestamp, what: Pending) {
        self.seq += 1;
        self.heap.push(Reverse(Queued { at, seq: self.seq, what }));
    }

    fn extend(&mut self, at: Timestamp, what: Option<Pending>) {
        if let Some(what) = what {
            self.push(at, what);
        }
    }
}

/// The store as the driver sees it: one state, its audit log, the lease's
/// epoch; conditional commits; writes that fail before or after committing.
struct SimStore {
    state: CutoverState,
    log: Vec<Event>,
    epoch: u64,
}

enum CommitError {
    /// Failed before (`false`) or after (`true`) committing.
    Failed { committed: bool },
}

/// The edge: its weight, its version (a KVS ETag), and whether the
/// cutover wrote what it holds.
struct SimEdge {
    version: u64,
    ours: bool,
    /// Spells of unavailability.
    outages: Vec<(Timestamp, Timestamp)>,
}

impl SimEdge {
    fn down(&self, at: Timestamp) -> bool {
        self.outages.iter().any(|(from, to)| *from <= at && at < *to)
    }

    /// When the last outage before `at` ended (the run's start if none).
    fn up_since(&self, at: Timestamp, start: Timestamp) -> Timestamp {
        self.outages.iter().filter(|(_, to)| *to <= at).map(|(_, to)| *to).max().unwrap_or(start).max(start)
    }
}

/// The controller that holds the lease, if any.
struct Leader<J> {
    engine: Engine<J>,
    epoch: u64,
    /// This engine's number: answers to an engine rebuilt under the same
    /// lease are dropped, as the driver drops its work in flight (the
    /// apply ids of the two could be the same).
    number: u64,
    /// Stalled (or its clock jumped) until this time: inputs wait.
    asleep: bool,
    waiting: Vec<Input>,
    /// The last inbox number this engine has read; when it is built, its
    /// state's `commands_handled` (the driver reads after that).
    read_through: u64,
}

/// A controller that leads under `epoch`, its engine rebuilt from the
/// store's `state`; `engines` counts every engine made.
fn rebuilt<J: Judge>(
    plan: &Plan,
    state: &CutoverState,
    make_judge: &dyn Fn(&Plan) -> J,
    engines: &mut u64,
    epoch: u64,
) -> Leader<J> {
    *engines += 1;
    let engine = Engine::restore(plan.clone(), state.clone(), make_judge(plan));
    let read_through = state.commands_handled;
    Leader { engine, epoch, number: *engines, asleep: false, waiting: Vec::new(), read_through }
}

/// Poisson-many instants uniformly over `[from, to)`.
fn arrivals(rng: &mut Rng, per_day: f64, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    if per_day <= 0.0 || to <= from {
        return Vec::new();
    }
    let span = to.as_ms() - from.as_ms();
    let n = rng.poisson(per_day * span as f64 / 86_400_000.0);
    (0..n).map(|_| Timestamp::from_ms(from.as_ms() + rng.below(span))).collect()
}

fn between(rng: &mut Rng, lo_s: u64, hi_s: u64) -> Duration {
    uniform(rng, (Duration::from_secs(lo_s), Duration::from_secs(hi_s)))
}

/// Schedules the run's port faults: edge outages, drift, stalls, clock
/// jumps, lapsed leases and operators' commands.
fn schedule(ports: &PortFaults, rng: &mut Rng, queue: &mut Queue, from: Timestamp, to: Timestamp) -> SimEdge {
    let mut outages: Vec<_> = arrivals(rng, ports.edge_outages_per_day, from, to)
        .into_iter()
        .map(|at| (at, at + between(rng, 60, 30 * 60)))
        .collect();
    outages.sort();
    for at in arrivals(rng, ports.drift_per_day, from, to) {
        let weights = [0u16, 100, 500, 1000, 2500, 5000, 10_000];
        let w = weights[rng.below(weights.len() as u64) as usize];
        queue.push(at, Pending::Drift(Weight::from_bps(w).unwrap_or(Weight::ZERO)));
    }
    for at in arrivals(rng, ports.stalls_per_day, from, to) {
        // Half of them within the lease, half past it.
        // (Renewed every 5 s with a 15 s time to live, a lease may lapse
        // 10 s after a stall begins: "within" is up to 9 s.)
        let lasts = if rng.chance(0.5) { between(rng, 1, 9) } else { between(rng, 20, 30 * 60) };
        queue.push(at, Pending::Stall { lasts, jump: false, of: None });
    }
    for at in arrivals(rng, ports.time_jumps_per_day, from, to) {
        queue.push(at, Pending::Stall { lasts: between(rng, 60, 3600), jump: true, of: None });
    }
    for at in arrivals(rng, ports.lease_lost_per_day, from, to) {
        queue.push(at, Pending::LeaseLost);
    }
    for at in arrivals(rng, ports.commands_per_day, from, to) {
        // Mostly pauses and resumes; a rollback, a start or a promote now
        // and then; an abort rarely (it ends the run).
        let roll = rng.below(100);
        let command = match roll {
            0..=29 => Command::Pause,
            30..=64 => Command::Resume,
            65..=74 => Command::Promote,
            75..=84 => Command::Rollback,
            85..=96 => Command::Start,
            _ => Command::Abort,
        };
        let who = OPERATORS[rng.below(OPERATORS.len() as u64) as usize];
        queue.push(at, Pending::Command(command, who));
    }
    SimEdge { version: 0, ours: true, outages }
}

/// Runs the plan once: an operator starts it at the scenario's start, then
/// `script` runs, and the engine does the rest until it settles or time runs out.
pub fn run<J: Judge>(
    plan: &Plan,
    scenario: &Scenario,
    seed: u64,
    make_judge: &dyn Fn(&Plan) -> J,
    script: &[Scripted],
) -> RunReport {
    let mut root = Rng::new(seed);
    let world_rng = root.fork(1);
    let mut edge_rng = root.fork(2);
    let mut measure_rng = root.fork(3);
    let mut crash_rng = root.fork(4);
    // Drawn only with port faults on: a run without them keeps its streams.
    let mut port_rng = root.fork(5);
    let ports = &scenario.ports;
    let faulted = ports.any();

    let start = scenario.start;
    let horizon = start + plan.duration() + scenario.overtime;
    let mut world = World::new(scenario, world_rng, plan.guardrails.lookback);
    let mut checker = Checker::new(plan);
    let mut store = SimStore { state: CutoverState::new(format!("sim-{seed}"), start), log: Vec::new(), epoch: 1 };
    let (mut engines, mut writes) = (0u64, 0u64);
    let mut leader = Some(rebuilt(plan, &store.state, make_judge, &mut engines, 1));
    let mut counts = PortCounts::default();
    let mut crashes = 0u32;
    let mut steps_completed = 0usize;
    let mut rollback = None;
    let mut milestones = Vec::new();
    let mut edge_changes = Vec::new();
    // The edge applies one weight at a time, in order (as the real driver does).
    let mut edge_free_at = start;
    // When a controller last began to lead (a rollback's clock restarts then).
    let mut led_since = start;

    let mut queue = Queue { heap: BinaryHeap::new(), seq: 0 };
    queue.push(start, Pending::Command(Command::Start, "sim-operator"));
    for s in script {
        queue.push(start + s.after, Pending::Command(s.command, "sim-operator"));
    }
    let mut edge = if faulted {
        schedule(ports, &mut port_rng, &mut queue, start, start + plan.duration())
    } else {
        SimEdge { version: 0, ours: true, outages: Vec::new() }
    };
    // Commands wait here, numbered, until a persisted state covers them
    // (`commands_handled`): whoever leads and is awake reads them.
    let mut inbox: Vec<(u64, Command, &'static str)> = Vec::new();
    let mut sent = 0u64;

    // Inputs for the leader, handled last first.
    let mut inputs = vec![Input::LeaseGained { epoch: 1 }];
    let mut now = start;
    loop {
        inbox.retain(|(seq, ..)| *seq > store.state.commands_handled);
        let unread = |l: &Leader<J>| !l.asleep && inbox.last().is_some_and(|(seq, ..)| *seq > l.read_through);
        if let Some(l) = leader.as_mut().filter(|l| unread(l)) {
            // Read in the order sent, after what is already due (the
            // inputs are a stack).
            let fresh = inbox.iter().rev().take_while(|(seq, ..)| *seq > l.read_through);
            let mut fresh: Vec<Input> = fresh
                .map(|&(seq, command, who)| Input::Command {
                    seq,
                    command,
                    actor: who.into(),
                    reason: Some(format!("{who} at {now}")),
                })
                .collect();
            l.read_through = inbox.last().map_or(l.read_through, |(seq, ..)| *seq);
            fresh.append(&mut inputs);
            inputs = fresh;
        }
        // Feed the leader everything due now; effects may enqueue more.
        while let Some(input) = inputs.pop() {
            let Some(l) = leader.as_mut() else {
                inputs.clear();
                break;
            };
            if l.asleep {
                l.waiting.push(input);
                continue;
            }
            let command = matches!(input, Input::Command { .. }).then(|| input.clone());
            let asker = Asker { epoch: l.epoch, engine: l.number, write: 0 };
            let out = l.engine.handle(now, input);
            if out.rejected.is_some() && command.is_some() {
                counts.refused += 1;
            }
            // Why the rest of this batch is lost, if it is.
            enum Cut {
                Crash,
                Rebuild,
            }
            let mut cut = None;
            let mut effects = out.effects.into_iter();
            for effect in effects.by_ref() {
                match effect {
                    Effect::Persist { state, events: batch } => {
                        let result = if faulted && port_rng.chance(ports.store_fail_before_rate) {
                            Err(CommitError::Failed { committed: false })
                        } else {
                            checker.persisted(&state, &batch);
                            for e in &batch {
                                if e.is_milestone() {
                                    milestones.push((e.at, e.describe()));
                                }
                                match e.kind {
                                    EventKind::Paused { .. } if ports.on_call && e.actor == Actor::Controller => {
                                        let after = between(&mut port_rng, 5 * 60, 3600);
                                        queue.push(now + after, Pending::Command(Command::Resume, "on-call"));
                                    }
                                    EventKind::StepAdvanced { .. } | EventKind::Completed => steps_completed += 1,
                                    EventKind::RollbackStarted { reason } if rollback.is_none() => {
                                        rollback = Some((e.at, reason));
                                        world.exposure_closed = true;
                                    }
                                    _ => {}
                                }
                            }
                            store.state = state;
                            store.log.extend(batch);
                            if faulted && port_rng.chance(ports.store_fail_after_rate) {
                                Err(CommitError::Failed { committed: true })
                            } else {
                                Ok(())
                            }
                        };
                        match result {
                            Ok(()) => {}
                            Err(CommitError::Failed { committed }) => {
                                if committed {
                                    counts.store_failed_after += 1;
                                } else {
                                    counts.store_failed_before += 1;
                                }
                                cut = Some(Cut::Rebuild);
                                break;
                            }
                        }
                        if scenario.crash_rate > 0.0 && crash_rng.chance(scenario.crash_rate) {
                            cut = Some(Cut::Crash);
                            break;
                        }
                    }
                    Effect::ApplyWeight { id, weight, expected } => {
                        checker.applied(now, weight);
                        let delay = uniform(&mut edge_rng, scenario.edge_delay);
                        let roll = edge_rng.f64();
                        // Without port faults a write and its verification
                        // take `edge_delay`, one after another, read as they
                        // land (nobody else writes the edge), at the
                        // instants runs always had. With them a write takes
                        // 0.2 to 4 s (or past the driver's deadline), the
                        // next one begins when the driver has its answer,
                        // and verification follows.
                        let (began, land_at, timeout) = if faulted {
                            let began = now.max(edge_free_at);
                            let timeout = port_rng.chance(ports.edge_timeout_rate);
                            let takes = if timeout {
                                between(&mut port_rng, 6, 120)
                            } else {
                                Duration::from_millis(200 + port_rng.below(3_800))
                            };
                            edge_free_at = began + takes.min(WRITE_DEADLINE) + Duration::from_millis(1);
                            (began, began + takes, timeout)
                        } else {
                            let land_at = (now + delay).max(edge_free_at);
                            edge_free_at = land_at + Duration::from_millis(1);
                            (land_at, land_at, false)
                        };
                        let fate = if roll < scenario.edge_failure_rate {
                            Fate::Failed
                        } else if roll < scenario.edge_failure_rate + scenario.edge_conflict_rate {
                            Fate::Conflict
                        } else if faulted {
                            let r = port_rng.f64();
                            let verify = if r < ports.unverified_rate {
                                VerifyFate::Never
                            } else if r < ports.unverified_rate + ports.verify_late_rate {
                                VerifyFate::After(between(&mut port_rng, 60, 600))
                            } else {
                                VerifyFate::After(between(&mut port_rng, 1, 20))
                            };
                            let stall = port_rng
                                .chance(ports.stall_mid_write_rate)
                                .then(|| between(&mut port_rng, 20, 30 * 60));
                            Fate::Lands { timeout, verify, stall }
                        } else {
                            Fate::Lands { timeout: false, verify: VerifyFate::None, stall: None }
                        };
                        writes += 1;
                        let from = Asker { write: writes, ..asker };
                        queue.push(began, Pending::EdgeStart { from, id, weight, expected, land_at, fate });
                    }
                    Effect::Measure { window } => {
                        let (delay, result) = if measure_rng.chance(scenario.measure_failure_rate) {
                            (
                                scenario.measure_delay,
                                Err(MeasureError::new(Source::Simulated, "simulated source failure")),
                            )
                        } else if scenario.measure_late_rate > 0.0 && measure_rng.chance(scenario.measure_late_rate) {
                            let late = MeasureError::late(Source::Simulated, "simulated datapoints not published yet");
                            (scenario.measure_delay, Err(late))
                        } else if faulted {
                            measure_faulted(&mut world, &mut port_rng, ports, window, scenario.measure_delay)
                        } else {
                            (scenario.measure_delay, Ok(world.measure(window)))
                        };
                        queue.push(now + delay, Pending::Answer(asker, Box::new(Input::Measured { window, result })));
                    }
                    Effect::ReadEdge => {
                        let read = if edge.down(now) { Err("the edge is unavailable".into()) } else { Ok(world.edge) };
                        inputs.push(Input::EdgeRead(read));
                    }
                    Effect::Notify { event } => {
                        let persisted = store
                            .log
                            .binary_search_by_key(&(event.version, event.index), |e| (e.version, e.index))
                            .is_ok_and(|i| store.log[i] == event);
                        if !persisted {
                            checker.report(now, "notify-unpersisted", event.describe());
                        }
                    }
                }
            }
            // Notifications the cut batch never hands over: the next leader sends them from the trail (the outbox).
            let lost = effects.filter(|e| matches!(e, Effect::Notify { .. })).count();
            match cut {
                None => {}
                Some(Cut::Crash) => {
                    // The process died after its last write: a new one takes over
                    // from the store; answers still in flight reach the new one.
                    crashes += 1;
                    counts.notifications_from_outbox += lost as u32;
                    store.epoch += 1;
                    leader = Some(rebuilt(plan, &store.state, make_judge, &mut engines, store.epoch));
                    led_since = now;
                    inputs.clear();
                    inputs.push(Input::LeaseGained { epoch: store.epoch });
                }
                Some(Cut::Rebuild) => {
                    // The driver drops the batch and rebuilds from the store;
                    // commands not covered by it are read from the inbox again.
                    counts.notifications_from_outbox += lost as u32;
                    *l = rebuilt(plan, &store.state, make_judge, &mut engines, l.epoch);
                    inputs.clear();
                    inputs.push(Input::LeaseGained { epoch: l.epoch });
                }
            }
            if edge.ours {
                checker.world(now, world.edge, &store.state);
            }
        }
        if leader.as_ref().is_some_and(|l| !l.asleep) && !edge.down(now) {
            let since = edge.up_since(now, start).max(led_since);
            checker.rollback_progress(now, &store.state, since, ROLLBACK_BOUND);
        }

        let settled = !store.state.phase.is_active() && store.state.phase != Phase::Pending;
        let unhandled = inbox.iter().any(|(seq, ..)| *seq > store.state.commands_handled);
        let commands_left = unhandled || queue.heap.iter().any(|q| matches!(q.0.what, Pending::Command(..)));
        if settled && !commands_left {
            break;
        }
        // A leader rebuilt in this round has not read the inbox yet: it
        // reads it now, before time moves on.
        if leader.as_ref().is_some_and(unread) {
            continue;
        }
        let next_queued = queue.heap.peek().map(|q| q.0.at);
        let wake = leader.as_ref().filter(|l| !l.asleep).and_then(|l| l.engine.next_wake());
        let next = match (next_queued, wake) {
            (Some(q), Some(w)) => q.min(w),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => {
                // Every request is answered and nothing is due: an engine
                // progressing or rolling back here waits for something that
                // never comes (a paused one waits for a person, by design).
                let moving = |p: Phase| matches!(p, Phase::Progressing | Phase::RollingBack { .. });
                if moving(store.state.phase) || leader.as_ref().is_some_and(|l| moving(l.engine.state().phase)) {
                    checker.report(now, "stalled", format!("nothing left to wait for in {}", store.state.phase));
                }
                break;
            }
        };
        if next > horizon {
            break;
        }
        now = next.max(now);
        world.run_until(now);
        if next_queued != Some(next) {
            inputs.push(Input::Tick);
            continue;
        }
        let Reverse(q) = queue.heap.pop().expect("peeked");
        match q.what {
            Pending::EdgeStart { from, id, weight, expected, land_at, fate } => {
                let answer = |result| Pending::Answer(from, Box::new(Input::Edge(result)));
                match fate {
                    _ if edge.down(now) => {
                        let error = "the edge is unavailable".into();
                        queue.push(land_at, answer(EdgeResult::Failed { id, weight, error }));
                    }
                    Fate::Failed => {
                        let error = "simulated edge failure".into();
                        queue.push(land_at, answer(EdgeResult::Failed { id, weight, error }));
                    }
                    Fate::Conflict => queue.push(land_at, answer(EdgeResult::Conflict { id, weight })),
                    Fate::Lands { timeout, verify, stall } => {
                        if timeout {
                            // The driver gives up at its deadline; the write goes on.
                            let error = format!("the edge: no answer within {} s", WRITE_DEADLINE.as_secs());
                            queue.push(now + WRITE_DEADLINE, answer(EdgeResult::Failed { id, weight, error }));
                        }
                        let answer = |result| (!timeout).then(|| answer(result));
                        match before_write(world.edge, weight, expected) {
                            Ok(Write::AlreadyThere) => {
                                let result = verified(id, weight, verify);
                                queue.extend(land_at + verify.takes(), answer(result));
                            }
                            Ok(Write::Write) => {
                                let version = edge.version;
                                let land_at = match stall {
                                    Some(lasts) => {
                                        let of = Some(from.epoch);
                                        queue.push(now, Pending::Stall { lasts, jump: false, of });
                                        land_at + lasts
                                    }
                                    None => land_at,
                                };
                                queue.push(land_at, Pending::EdgeLand { from, id, weight, version, timeout, verify });
                            }
                            Err(EdgeError::Drift { found }) => {
                                queue.extend(land_at, answer(EdgeResult::Drift { id, weight, found }))
                            }
                            Err(other) => unreachable!("before_write answers drift only, not {other}"),
                        }
                    }
                }
            }
            Pending::EdgeLand { from, id, weight, version, timeout, verify } => {
                let result = if edge.down(now) {
                    EdgeResult::Failed { id, weight, error: "the edge is unavailable".into() }
                } else if edge.version != version && !ports.edge_ignores_versions {
                    counts.stale_writes_refused += 1;
                    EdgeResult::Conflict { id, weight }
                } else {
                    checker.landed(now, from.write, weight);
                    if world.edge != weight {
                        edge_changes.push((now, weight));
                    }
                    world.edge = weight;
                    edge.version += 1;
                    edge.ours = true;
                    verified(id, weight, verify)
                };
                let landed = matches!(
                    result,
                    EdgeResult::Applied { .. } | EdgeResult::Verified { .. } | EdgeResult::Unverified { .. }
                );
                // A write the driver gave up on was answered at its deadline.
                if !timeout {
                    let at = if landed { now + verify.takes() } else { now };
                    queue.push(at, Pending::Answer(from, Box::new(Input::Edge(result))));
                }
            }
            Pending::Answer(from, input) => {
                // The driver drops its requests in flight when it rebuilds
                // the engine under the same lease; across leases (a crash,
                // a takeover) a late answer may still reach the new engine,
                // whose apply ids differ by epoch.
                if !leader.as_ref().is_some_and(|l| l.epoch == from.epoch && l.number != from.engine) {
                    inputs.push(*input);
                }
            }
            Pending::Command(command, who) => {
                sent += 1;
                if faulted {
                    counts.commands += 1;
                    inbox.push((sent, command, who));
                } else {
                    inputs.push(Input::Command { seq: sent, command, actor: who.into(), reason: None });
                }
            }
            Pending::Drift(weight) => {
                counts.drifts += 1;
                if world.edge != weight {
                    edge_changes.push((now, weight));
                }
                world.edge = weight;
                edge.version += 1;
                edge.ours = false;
            }
            Pending::Stall { lasts, jump, of } => {
                if let Some(l) = leader.as_mut().filter(|l| !l.asleep && of.is_none_or(|e| e == l.epoch)) {
                    l.asleep = true;
                    l.waiting.append(&mut inputs);
                    queue.push(now + lasts, Pending::Wake { epoch: l.epoch, jump });
                    if !jump && lasts > LEASE_TTL {
                        queue.push(now + LEASE_TTL + POLL, Pending::Takeover { from: Some(l.epoch) });
                    }
                }
            }
            Pending::Wake { epoch, jump } => match leader.as_mut() {
                Some(l) if l.epoch == epoch && jump => {
                    // Its lease lapsed while its clock jumped: it retakes the
                    // lease (a new epoch) and rebuilds; commands come from
                    // the inbox again.
                    store.epoch += 1;
                    *l = rebuilt(plan, &store.state, make_judge, &mut engines, store.epoch);
                    led_since = now;
                    inputs = vec![Input::LeaseGained { epoch: l.epoch }];
                }
                Some(l) if l.epoch == epoch => {
                    // A pause within the lease: everything waiting, then on.
                    l.asleep = false;
                    inputs = std::mem::take(&mut l.waiting);
                    inputs.reverse();
                    inputs.insert(0, Input::Tick);
                }
                // Another controller leads now: this one finds itself
                // fenced before its next write and stops. Its last edge
                // write may still land; the edge's version refuses it.
                _ => counts.fenced += 1,
            },
            Pending::LeaseLost => {
                if let Some(mut l) = leader.take_if(|l| !l.asleep) {
                    let _ = l.engine.handle(now, Input::LeaseLost);
                    inputs.clear();
                    queue.push(now + between(&mut port_rng, 15, 120), Pending::Takeover { from: None });
                }
            }
            Pending::Takeover { from } => {
                if leader.as_ref().map(|l| l.epoch) == from {
                    counts.takeovers += 1;
                    store.epoch += 1;
                    leader = Some(rebuilt(plan, &store.state, make_judge, &mut engines, store.epoch));
                    led_since = now;
                    inputs = vec![Input::LeaseGained { epoch: store.epoch }];
                }
            }
        }
    }

    checker.commands(now, sent, &store.state);
    checker.audit(&store.log, &store.state);
    RunReport {
        seed,
        phase: store.state.phase,
        steps_completed,
        regression_at: world.regression_at(),
        rollback,
        exposed_requests: world.exposed,
        started_at: start,
        ended_at: now,
        events: store.log.len(),
        crashes,
        violations: checker.violations().to_vec(),
        milestones,
        edge_changes,
        ports: counts,
    }
}

/// A landed write's answer, as its verification will give it.
fn verified(id: ApplyId, weight: Weight, verify: VerifyFate) -> EdgeResult {
    match verify {
        VerifyFate::None => EdgeResult::Applied { id, weight },
        VerifyFate::After(d) if d > VERIFY_DEADLINE => EdgeResult::Unverified {
            id,
            weight,
            reason: format!("the probes: no answer within {} s", VERIFY_DEADLINE.as_secs()),
        },
        VerifyFate::After(d) => EdgeResult::Verified {
            id,
            weight,
            verification: Verification {
                rounds: (d.as_secs() / 5).max(1) as u32,
                waited_ms: d.as_millis() as u64,
                legacy_us: Some(38_000),
                serverless_us: Some(31_000),
            },
        },
        VerifyFate::Never => {
            EdgeResult::Unverified { id, weight, reason: "probes kept disagreeing (simulated)".into() }
        }
    }
}

/// A metric read with the metric ports faulted: partial, empty or slow.
fn measure_faulted(
    world: &mut World<'_>,
    rng: &mut Rng,
    ports: &PortFaults,
    window: Window,
    delay: Duration,
) -> (Duration, Result<Measurement, MeasureError>) {
    let roll = rng.f64();
    let (partial, empty) = (ports.measure_partial_rate, ports.measure_empty_rate);
    if roll < partial {
        // Only the first part of the window has been published.
        let span = window.to.as_ms() - window.from.as_ms();
        let to = Timestamp::from_ms(window.from.as_ms() + span * (1 + rng.below(9)) / 10);
        (delay, Ok(world.measure(Window { from: window.from, to })))
    } else if roll < partial + empty {
        world.run_until(window.to);
        (delay, Ok(Measurement::default()))
    } else if roll < partial + empty + ports.measure_slow_rate {
        // Minutes late: past the driver's bound (the window's length,
        // from 30 s to 15 min) it is answered as a failure at the bound.
        let slow = between(rng, 30, 20 * 60);
        let covers = Duration::from_millis(window.to.as_ms() - window.from.as_ms());
        let bound = covers.clamp(Duration::from_secs(30), Duration::from_secs(15 * 60));
        if slow > bound {
            let late = format!("no answer within {} s", bound.as_secs());
            (bound, Err(MeasureError::new(Source::Metrics, late)))
        } else {
            (slow, Ok(world.measure(window)))
        }
    } else {
        (delay, Ok(world.measure(window)))
    }
}
