//! Arbitrary input sequences for property tests: the engine driven by a list
//! of [`Action`]s (time passing, measurements of every kind, edge answers,
//! operator commands, lease changes, crashes) with the checker watching.

use std::collections::VecDeque;
use std::time::Duration;

use cutover_core::engine::{ApplyId, Command, CutoverState, EdgeResult, Effect, Engine, Input, Output, Phase};
use cutover_core::judge::{Judge, SequentialJudge, ThresholdJudge};
use cutover_core::measure::{MeasureError, Measurement, PerSide, SideSample, Source, Window};
use cutover_core::plan::Plan;
use cutover_core::units::{Timestamp, Weight};

use crate::check::Checker;

/// What a measurement says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptedReading {
    Healthy,
    /// The new side's latency is 10x.
    Slow,
    /// Half the new side's requests fail.
    Errors,
    /// Almost no traffic on the new side.
    Sparse,
    /// The source could not be read.
    SourceDown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeAnswer {
    Applied,
    Failed,
    Conflict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Let this many seconds pass, then tick.
    Wait(u32),
    /// Answer the oldest measure request.
    Measure(ScriptedReading),
    /// Answer the oldest apply.
    Edge(EdgeAnswer),
    Command(Command),
    LeaseLost,
    LeaseGained,
    /// The controller dies and a new one restores from the store.
    Crash,
}

fn side(requests: u64, errors: u64, ms: f64) -> SideSample {
    let mut s = SideSample { requests, errors, ..Default::default() };
    s.latency_ms.record_n(ms, requests.saturating_sub(errors) as u32);
    s
}

fn reading(r: ScriptedReading) -> Result<Measurement, MeasureError> {
    let legacy = side(300, 1, 38.0);
    let serverless = match r {
        ScriptedReading::Healthy => side(60, 0, 31.0),
        ScriptedReading::Slow => side(60, 0, 310.0),
        ScriptedReading::Errors => side(60, 30, 31.0),
        ScriptedReading::Sparse => side(1, 0, 31.0),
        ScriptedReading::SourceDown => {
            return Err(MeasureError::new(Source::Simulated, "source down"));
        }
    };
    Ok(Measurement { traffic: PerSide { legacy, serverless }, ..Measurement::default() })
}

/// The result of driving one script.
#[derive(Clone, Debug)]
pub struct ScriptReport {
    pub phase: Phase,
    pub violations: Vec<String>,
}

/// Which judge a script runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JudgeKind {
    Threshold,
    Sequential,
}

/// The engine, its fake ports, and the checker watching both.
struct Rig<'p, J> {
    plan: &'p Plan,
    make_judge: &'p dyn Fn(&Plan) -> J,
    engine: Engine<J>,
    checker: Checker,
    stored: Option<CutoverState>,
    edge: Weight,
    applies: VecDeque<(ApplyId, Weight)>,
    epoch: u64,
    measures: VecDeque<Window>,
    now: Timestamp,
}

impl<J: Judge> Rig<'_, J> {
    fn feed(&mut self, input: Input) {
        let out: Output = self.engine.handle(self.now, input);
        for e in out.effects {
            match e {
                Effect::Persist { state, events } => {
                    self.checker.persisted(&state, &events);
                    self.stored = Some(state);
                }
                Effect::ApplyWeight { id, weight, .. } => {
                    self.checker.applied(self.now, weight);
                    self.applies.push_back((id, weight));
                }
                Effect::Measure { window } => self.measures.push_back(window),
                // Scripts are about the engine's own answers; drift has its own tests.
                Effect::ReadEdge | Effect::Notify { .. } => {}
            }
        }
        self.checker.world(self.now, self.edge, self.engine.state());
    }

    /// A new lease, with a higher epoch than any before.
    fn lease(&mut self) -> Input {
        self.epoch += 1;
        Input::LeaseGained { epoch: self.epoch }
    }

    fn input_for(&mut self, action: Action) -> Input {
        match action {
            Action::Wait(s) => {
                self.now = self.now + Duration::from_secs(u64::from(s));
                Input::Tick
            }
            Action::Measure(r) => match self.measures.pop_front() {
                Some(window) => Input::Measured { window, result: reading(r) },
                None => Input::Tick,
            },
            Action::Edge(a) => match self.applies.pop_front() {
                Some((id, weight)) => Input::Edge(match a {
                    EdgeAnswer::Applied => {
                        self.edge = weight;
                        EdgeResult::Applied { id, weight }
                    }
                    EdgeAnswer::Failed => EdgeResult::Failed { id, weight, error: "script".into() },
                    EdgeAnswer::Conflict => EdgeResult::Conflict { id, weight },
                }),
                None => Input::Tick,
            },
            Action::Command(command) => {
                let seq = self.engine.state().commands_handled + 1;
                Input::Command { seq, command, actor: "script".into(), reason: None }
            }
            Action::LeaseLost => Input::LeaseLost,
            Action::LeaseGained => self.lease(),
            Action::Crash => {
                if let Some(state) = self.stored.clone() {
                    self.engine = Engine::restore(self.plan.clone(), state, (self.make_judge)(self.plan));
                }
                self.lease()
            }
        }
    }
}

/// Drives a fresh engine (leader, started at `start`) through `actions`, then
/// lets a healthy edge answer everything for a while: a rollback in progress
/// must finish. Returns every violated invariant.
pub fn drive(plan: &Plan, start: Timestamp, actions: &[Action], judge: JudgeKind) -> ScriptReport {
    match judge {
        JudgeKind::Threshold => drive_with(plan, start, actions, &|p: &Plan| ThresholdJudge::new(p.guardrails)),
        JudgeKind::Sequential => drive_with(plan, start, actions, &SequentialJudge::new),
    }
}

fn drive_with<J: Judge>(
    plan: &Plan,
    start: Timestamp,
    actions: &[Action],
    make_judge: &dyn Fn(&Plan) -> J,
) -> ScriptReport {
    let mut rig = Rig {
        plan,
        make_judge,
        engine: Engine::new("script", plan.clone(), make_judge(plan), start),
        checker: Checker::new(plan),
        stored: None,
        edge: Weight::ZERO,
        applies: VecDeque::new(),
        epoch: 0,
        measures: VecDeque::new(),
        now: start,
    };
    let lease = rig.lease();
    rig.feed(lease);
    rig.feed(Input::Command { seq: 1, command: Command::Start, actor: "script".into(), reason: None });
    for action in actions {
        let input = rig.input_for(*action);
        rig.feed(input);
    }

    // Liveness: with the lease and a working edge, a rollback completes.
    let lease = rig.lease();
    rig.feed(lease);
    for _ in 0..50 {
        while let Some((id, weight)) = rig.applies.pop_front() {
            rig.edge = weight;
            rig.feed(Input::Edge(EdgeResult::Applied { id, weight }));
        }
        rig.now = rig.engine.next_wake().unwrap_or(rig.now + Duration::from_secs(60)).max(rig.now);
        rig.feed(Input::Tick);
    }
    let mut violations = rig.checker.violations().to_vec();
    let phase = rig.engine.state().phase;
    if matches!(phase, Phase::RollingBack { .. }) {
        violations.push(format!("{} rollback-stuck: still {phase} with a working edge", rig.now));
    }
    ScriptReport { phase, violations }
}
