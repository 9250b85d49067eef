//! One simulated cutover: the engine driven on a virtual clock against the
//! simulated world, with seeded fakes for the edge, the sources, the store and
//! crashes, and the invariant checker watching every step.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use cutover_core::engine::{
    Command, CutoverState, EdgeResult, Effect, Engine, EventKind, Input, Phase, RollbackReason,
};
use cutover_core::judge::Judge;
use cutover_core::measure::{MeasureError, Window};
use cutover_core::plan::Plan;
use cutover_core::units::{Timestamp, Weight};

use crate::check::Checker;
use crate::model::Scenario;
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

enum Pending {
    Edge(EdgeResult),
    Measured(Window, Box<Result<cutover_core::measure::Measurement, MeasureError>>),
    Command(Command),
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

    let start = scenario.start;
    let horizon = start + plan.duration() + scenario.overtime;
    let mut world = World::new(scenario, world_rng, plan.guardrails.lookback);
    let mut checker = Checker::new(plan);
    let mut engine = Engine::new(format!("sim-{seed}"), plan.clone(), make_judge(plan), start);
    let mut stored: Option<CutoverState> = None;
    let mut events = 0usize;
    let mut crashes = 0u32;
    let mut steps_completed = 0usize;
    let mut rollback = None;
    let mut milestones = Vec::new();
    let mut edge_changes = Vec::new();
    // The edge applies one weight at a time, in order (as the real driver does).
    let mut edge_free_at = start;

    let mut queue = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<Reverse<Queued>>, at: Timestamp, what: Pending| {
        seq += 1;
        queue.push(Reverse(Queued { at, seq, what }));
    };
    push(&mut queue, start, Pending::Command(Command::Start));
    for s in script {
        push(&mut queue, start + s.after, Pending::Command(s.command));
    }

    let mut epoch = 1;
    let mut inputs = vec![Input::LeaseGained { epoch }];
    let mut now = start;
    loop {
        // Feed the engine everything due now; effects may enqueue more.
        while let Some(input) = inputs.pop() {
            let out = engine.handle(now, input);
            let mut crashed = false;
            for effect in out.effects {
                match effect {
                    Effect::Persist { state, events: batch } => {
                        checker.persisted(&state, &batch);
                        for e in &batch {
                            if e.is_milestone() {
                                milestones.push((e.at, e.describe()));
                            }
                            match e.kind {
                                EventKind::StepAdvanced { .. } | EventKind::Completed => steps_completed += 1,
                                EventKind::RollbackStarted { reason } if rollback.is_none() => {
                                    rollback = Some((e.at, reason));
                                    world.exposure_closed = true;
                                }
                                _ => {}
                            }
                        }
                        events += batch.len();
                        stored = Some(state);
                        if scenario.crash_rate > 0.0 && crash_rng.chance(scenario.crash_rate) {
                            crashed = true;
                            break;
                        }
                    }
                    Effect::ApplyWeight { id, weight, .. } => {
                        checker.applied(now, weight);
                        let at = (now + uniform(&mut edge_rng, scenario.edge_delay)).max(edge_free_at);
                        edge_free_at = at + Duration::from_millis(1);
                        let roll = edge_rng.f64();
                        let result = if roll < scenario.edge_failure_rate {
                            EdgeResult::Failed { id, weight, error: "simulated edge failure".into() }
                        } else if roll < scenario.edge_failure_rate + scenario.edge_conflict_rate {
                            EdgeResult::Conflict { id, weight }
                        } else {
                            EdgeResult::Applied { id, weight }
                        };
                        push(&mut queue, at, Pending::Edge(result));
                    }
                    Effect::Measure { window } => {
                        let result = if measure_rng.chance(scenario.measure_failure_rate) {
                            Err(MeasureError::new("sim", "simulated source failure"))
                        } else if scenario.measure_late_rate > 0.0 && measure_rng.chance(scenario.measure_late_rate) {
                            Err(MeasureError::late("sim", "simulated datapoints not published yet"))
                        } else {
                            Ok(world.measure(window))
                        };
                        push(&mut queue, now + scenario.measure_delay, Pending::Measured(window, Box::new(result)));
                    }
                    // Nobody else writes the simulated edge: it reads as applied.
                    Effect::ReadEdge => inputs.push(Input::EdgeRead(Ok(world.edge))),
                    Effect::Notify { .. } => {}
                }
            }
            if crashed {
                // The process died after its last write: a new one takes over
                // from the store; answers still in flight reach the new one.
                crashes += 1;
                let state = stored.clone().expect("a crash follows a persist");
                engine = Engine::restore(plan.clone(), state, make_judge(plan));
                inputs.clear();
                epoch += 1;
                inputs.push(Input::LeaseGained { epoch });
            }
            checker.world(now, world.edge, engine.state());
        }

        let settled = !engine.state().phase.is_active() && engine.state().phase != Phase::Pending;
        let commands_left = queue.iter().any(|q| matches!(q.0.what, Pending::Command(_)));
        if settled && !commands_left {
            break;
        }
        let next_queued = queue.peek().map(|q| q.0.at);
        let next = match (next_queued, engine.next_wake()) {
            (Some(q), Some(w)) => q.min(w),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => break,
        };
        if next > horizon {
            break;
        }
        now = next.max(now);
        world.run_until(now);
        if next_queued == Some(next) {
            let Reverse(q) = queue.pop().expect("peeked");
            inputs.push(match q.what {
                Pending::Edge(result) => {
                    if let EdgeResult::Applied { weight, .. } = result {
                        if world.edge != weight {
                            edge_changes.push((now, weight));
                        }
                        world.edge = weight;
                    }
                    Input::Edge(result)
                }
                Pending::Measured(window, result) => Input::Measured { window, result: *result },
                Pending::Command(command) => Input::Command { command, actor: "sim-operator".into(), reason: None },
            });
        } else {
            inputs.push(Input::Tick);
        }
    }

    RunReport {
        seed,
        phase: engine.state().phase,
        steps_completed,
        regression_at: world.regression_at(),
        rollback,
        exposed_requests: world.exposed,
        started_at: start,
        ended_at: now,
        events,
        crashes,
        violations: checker.violations().to_vec(),
        milestones,
        edge_changes,
    }
}
