//! Scenario tests of the engine contract, driven by hand.

use std::time::Duration;

use cutover_core::engine::*;
use cutover_core::judge::{ThresholdJudge, Verdict};
use cutover_core::measure::{MeasureError, Measurement, PerSide, SideSample, Source, Window};
use cutover_core::plan::{NoDataAction, Plan};
use cutover_core::units::{Timestamp, Weight};

const T0: Timestamp = Timestamp(1_795_867_200_000); // 2026-11-28T12:00:00Z

/// The default plan, judged every 5 minutes by the threshold judge with a
/// 2 pp error allowance: round numbers for scenarios written by hand.
fn plan() -> Plan {
    let mut plan = Plan::default_plan();
    plan.guardrails.interval = Duration::from_secs(300);
    plan.guardrails.errors.max_increase_pp = 2.0;
    plan
}

struct Rig {
    engine: Engine<ThresholdJudge>,
    now: Timestamp,
    store: Vec<Event>,
    /// The latest apply asked for, answered by `confirm` and `edge`.
    last_apply: Option<ApplyId>,
    epoch: u64,
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn side(requests: u64, errors: u64, ms: f64) -> SideSample {
    let mut s = SideSample { requests, errors, ..Default::default() };
    s.latency_ms.record_n(ms, requests as u32);
    s
}

fn healthy() -> Measurement {
    Measurement {
        traffic: PerSide { legacy: side(400, 2, 38.0), serverless: side(100, 0, 31.0) },
        ..Default::default()
    }
}

fn failing_errors() -> Measurement {
    Measurement {
        traffic: PerSide { legacy: side(400, 2, 38.0), serverless: side(1000, 500, 31.0) },
        ..Default::default()
    }
}

fn slow() -> Measurement {
    Measurement {
        traffic: PerSide { legacy: side(400, 2, 38.0), serverless: side(100, 0, 400.0) },
        ..Default::default()
    }
}

fn sparse() -> Measurement {
    Measurement { traffic: PerSide { legacy: side(400, 2, 38.0), serverless: side(0, 0, 31.0) }, ..Default::default() }
}

impl Rig {
    fn with_plan(plan: Plan) -> Rig {
        let judge = ThresholdJudge::new(plan.guardrails);
        let mut rig =
            Rig { engine: Engine::new("c1", plan, judge, T0), now: T0, store: Vec::new(), last_apply: None, epoch: 0 };
        let out = rig.lease();
        assert!(out.effects.is_empty(), "a pending cutover does nothing on lease: {out:?}");
        rig
    }

    fn new() -> Rig {
        Rig::with_plan(plan())
    }

    /// Started, with the first step's weight confirmed at the edge.
    fn started() -> Rig {
        let mut rig = Rig::new();
        let _ = rig.command(Command::Start);
        let _ = rig.confirm();
        rig
    }

    fn send(&mut self, input: Input) -> Output {
        let out = self.engine.handle(self.now, input);
        let mut persisted: Option<Weight> = None;
        for e in &out.effects {
            match e {
                Effect::Persist { state, events } => {
                    assert_eq!(state.version, self.store.last().map_or(0, |e| e.version) + 1, "versions go up by one");
                    persisted = Some(state.weight);
                    self.store.extend(events.iter().cloned());
                }
                Effect::ApplyWeight { id, weight, .. } => {
                    self.last_apply = Some(*id);
                    // Write-ahead: the weight was persisted as intent, in this batch or before.
                    let intended = persisted.unwrap_or(self.engine.state().weight);
                    assert_eq!(*weight, intended);
                    assert!(
                        self.store.iter().rev().find_map(|e| match e.kind {
                            EventKind::WeightIntent { to, .. } => Some(to),
                            _ => None,
                        }) == Some(*weight),
                        "apply without a persisted intent"
                    );
                }
                _ => {}
            }
        }
        out
    }

    fn lease(&mut self) -> Output {
        self.epoch += 1;
        self.send(Input::LeaseGained { epoch: self.epoch })
    }

    /// Answers the latest apply.
    fn edge(&mut self, answer: impl FnOnce(ApplyId, Weight) -> EdgeResult) -> Output {
        let id = self.last_apply.expect("an apply to answer");
        let weight = self.engine.state().weight;
        self.send(Input::Edge(answer(id, weight)))
    }

    /// An operator's command, numbered as the inbox would: after the last
    /// one handled.
    fn command(&mut self, command: Command) -> Output {
        let seq = self.engine.state().commands_handled + 1;
        self.send(Input::Command { seq, command, actor: "alice".into(), reason: None })
    }

    fn at(&mut self, d: Duration) -> Output {
        self.now = self.now + d;
        self.send(Input::Tick)
    }

    fn confirm(&mut self) -> Output {
        self.edge(|id, weight| EdgeResult::Applied { id, weight })
    }

    /// Runs time forward to the next measure request and answers it.
    fn measure_with(&mut self, m: Measurement) -> Output {
        let wake = self.engine.next_wake().expect("a wake-up while progressing");
        self.now = wake;
        let out = self.send(Input::Tick);
        let window = out
            .effects
            .iter()
            .find_map(|e| match e {
                Effect::Measure { window } => Some(*window),
                _ => None,
            })
            .unwrap_or_else(|| panic!("expected a measure request at {}: {out:?}", self.now));
        self.send(Input::Measured { window, result: Ok(m) })
    }

    fn phase(&self) -> Phase {
        self.engine.state().phase
    }

    fn weight(&self) -> Weight {
        self.engine.state().weight
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.store.iter().map(|e| e.kind.name()).collect()
    }
}

fn applies(out: &Output) -> Vec<Weight> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            Effect::ApplyWeight { weight, .. } => Some(*weight),
            _ => None,
        })
        .collect()
}

fn measures(out: &Output) -> Vec<Window> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Measure { window } => Some(*window),
            _ => None,
        })
        .collect()
}

fn pct(p: u16) -> Weight {
    Weight::from_bps(p * 100).unwrap()
}

#[test]
fn start_persists_intent_before_applying() {
    let mut rig = Rig::new();
    let out = rig.command(Command::Start);
    assert!(matches!(out.effects[0], Effect::Persist { .. }));
    assert_eq!(applies(&out), [pct(1)]);
    assert_eq!(rig.kinds(), ["started", "weight_intent"]);
    assert_eq!(rig.engine.state().started_by.as_deref(), Some("alice"));
    assert_eq!(rig.phase(), Phase::Progressing);
}

#[test]
fn advances_only_after_hold_and_pass() {
    let mut rig = Rig::started();
    // 2 h hold, 5 min interval: 23 passes inside the hold never advance.
    for _ in 0..23 {
        let out = rig.measure_with(healthy());
        assert!(applies(&out).is_empty());
        assert_eq!(rig.engine.state().step, 0);
    }
    let out = rig.measure_with(healthy());
    assert_eq!(rig.now, T0 + Duration::from_secs(2 * 3600));
    assert_eq!(applies(&out), [pct(5)]);
    assert_eq!(rig.engine.state().step, 1);
    let last = rig.store.iter().rev().find(|e| e.kind.name() == "analysis").unwrap();
    match &last.kind {
        EventKind::Analysis { decision, analysis, .. } => {
            assert_eq!(*decision, Decision::Advance { to_step: 1 });
            assert_eq!(analysis.verdict, Verdict::Pass);
            for c in analysis.checks.iter().filter(|c| c.check != cutover_core::judge::CheckName::ColdStartP99) {
                assert!(c.legacy.is_some() && c.serverless.is_some() && c.limit.is_some(), "numbers behind {c:?}");
            }
        }
        _ => unreachable!(),
    }
}

/// The window's hop-by-hop breakdown travels from the measurement into
/// the analysis event beside the verdict; the trail stays as it was for a
/// source without one (nothing is written for no hops).
#[test]
fn the_windows_hops_are_recorded_with_its_analysis() {
    let mut rig = Rig::started();
    let hop = |name: &str, depth: u8, p50: f64| cutover_core::measure::Hop {
        name: name.into(),
        source: Source::XRay,
        depth,
        samples: 40,
        p50_ms: Some(p50),
        p99_ms: Some(p50 * 2.0),
    };
    let mut m = healthy();
    m.hops.serverless = vec![hop("lambda", 0, 28.0), hop("dynamodb", 1, 6.0)];
    let _ = rig.measure_with(m.clone());
    let _ = rig.measure_with(healthy());
    let analyses: Vec<&cutover_core::judge::Analysis> = rig
        .store
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Analysis { analysis, .. } => Some(analysis),
            _ => None,
        })
        .collect();
    assert_eq!(analyses[0].hops, m.hops);
    assert!(analyses[1].hops.serverless.is_empty());
    let json = |a: &cutover_core::judge::Analysis| serde_json::to_string(a).unwrap();
    assert!(json(analyses[0]).contains(r#""hops":{"legacy":[],"serverless":[{"name":"lambda""#));
    assert!(!json(analyses[1]).contains("hops"), "no hops, no field: {}", json(analyses[1]));
}

#[test]
fn inconclusive_holds_forever() {
    let mut rig = Rig::started();
    for _ in 0..60 {
        let out = rig.measure_with(sparse());
        assert!(applies(&out).is_empty());
    }
    assert_eq!(rig.engine.state().last_verdict, Some(Verdict::Inconclusive));
    assert_eq!(rig.phase(), Phase::Progressing);
    assert_eq!(rig.weight(), pct(1));
}

#[test]
fn critical_fail_rolls_back_retries_until_confirmed_and_stays_down() {
    let mut rig = Rig::started();
    let out = rig.measure_with(failing_errors());
    assert_eq!(applies(&out), [Weight::ZERO]);
    assert!(matches!(rig.phase(), Phase::RollingBack { reason: RollbackReason::CriticalFail { .. } }));
    assert!(out
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Notify { event } if event.kind.name() == "rollback_started")));
    // The edge fails twice; each failure is retried after a growing backoff.
    let _ = rig.edge(|id, weight| EdgeResult::Failed { id, weight, error: "throttled".into() });
    assert_eq!(rig.engine.next_wake(), Some(rig.now + Duration::from_secs(1)));
    assert_eq!(applies(&rig.at(Duration::from_secs(1))), [Weight::ZERO]);
    let _ = rig.edge(|id, weight| EdgeResult::Conflict { id, weight });
    assert_eq!(rig.engine.next_wake(), Some(rig.now + Duration::from_secs(2)));
    assert_eq!(applies(&rig.at(Duration::from_secs(2))), [Weight::ZERO]);
    let _ = rig.confirm();
    assert!(matches!(rig.phase(), Phase::RolledBack { .. }));
    assert_eq!(rig.engine.next_wake(), None);
    for _ in 0..10 {
        assert!(rig.at(minutes(60)).effects.is_empty());
    }
    // Only an operator raises it again, from the first step.
    assert!(rig.command(Command::Resume).rejected.is_some());
    assert!(rig.command(Command::Promote).rejected.is_some());
    assert_eq!(applies(&rig.command(Command::Start)), [pct(1)]);
}

/// The write a command causes records its inbox number, refused or not:
/// read again (by a new leader after a crash, or after a rebuild), it is
/// not handled twice.
#[test]
fn a_command_is_handled_once_by_the_write_that_records_it() {
    let mut rig = Rig::new();
    let bob = |seq, command| Input::Command { seq, command, actor: "bob".into(), reason: Some("why not".into()) };
    let out = rig.send(bob(1, Command::Pause));
    assert_eq!(out.rejected.as_deref(), Some("a Pending cutover cannot pause"));
    let Some(Effect::Persist { state, events }) = out.effects.first() else { panic!("no write: {out:?}") };
    assert_eq!(state.commands_handled, 1);
    assert!(
        matches!(&events[..], [Event { kind: EventKind::CommandRefused { command: Command::Pause, why }, .. }]
            if why == "a Pending cutover cannot pause"),
        "{events:?}"
    );
    assert_eq!(events[0].describe(), "pause refused by bob: a Pending cutover cannot pause: \"why not\"");
    let again = rig.send(bob(1, Command::Pause));
    assert!(again.effects.is_empty() && again.rejected.is_none(), "handled before: {again:?}");

    let out = rig.send(bob(2, Command::Start));
    let Some(Effect::Persist { state, .. }) = out.effects.first() else { panic!("no write: {out:?}") };
    assert_eq!((state.phase, state.commands_handled), (Phase::Progressing, 2));
    // A new leader from that write: the start, read again, does nothing.
    let mut engine = Engine::restore(plan(), state.clone(), ThresholdJudge::new(plan().guardrails));
    let _ = engine.handle(rig.now, Input::LeaseGained { epoch: 2 });
    let again = engine.handle(rig.now, bob(2, Command::Start));
    assert!(again.effects.iter().all(|e| !matches!(e, Effect::Persist { .. })), "started twice: {again:?}");
    assert_eq!(engine.state().commands_handled, 2);
}

#[test]
fn non_critical_failures_roll_back_at_the_limit() {
    let mut rig = Rig::started();
    assert!(applies(&rig.measure_with(slow())).is_empty());
    assert!(applies(&rig.measure_with(slow())).is_empty());
    assert_eq!(rig.engine.state().failures, 2);
    let out = rig.measure_with(slow());
    assert_eq!(applies(&out), [Weight::ZERO]);
    assert_eq!(rig.phase(), Phase::RollingBack { reason: RollbackReason::FailureLimit });
}

#[test]
fn no_data_holds_then_follows_the_policy() {
    let mut rig = Rig::started();
    let err = MeasureError::new(Source::CloudWatch, "throttled");
    for _ in 0..6 {
        let wake = rig.engine.next_wake().unwrap();
        rig.now = wake;
        let out = rig.send(Input::Tick);
        let Some(Effect::Measure { window }) =
            out.effects.iter().find(|e| matches!(e, Effect::Measure { .. })).cloned()
        else {
            panic!("no measure: {out:?}")
        };
        let out = rig.send(Input::Measured { window, result: Err(err.clone()) });
        assert!(applies(&out).is_empty(), "Error holds (30 min policy)");
    }
    // 30 minutes after the first error, the policy rolls back.
    let first = rig
        .store
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Analysis { analysis, .. } if analysis.verdict == Verdict::Error))
        .unwrap()
        .at;
    let wake = rig.engine.next_wake().unwrap();
    assert_eq!(wake, first + minutes(30));
    rig.now = wake;
    let out = rig.send(Input::Tick);
    assert_eq!(applies(&out), [Weight::ZERO]);
    assert_eq!(rig.phase(), Phase::RollingBack { reason: RollbackReason::NoData });
}

/// CloudWatch's datapoints can arrive minutes late: a window the source
/// says is not published yet is asked again, the same window, an interval
/// later, and judged once, whole; one still unpublished `LATE_MAX` after
/// the source first said so is judged an error like any source failure.
#[test]
fn a_window_not_yet_published_is_asked_again() {
    let mut rig = Rig::started();
    let next_window = |rig: &mut Rig| {
        rig.now = rig.engine.next_wake().unwrap();
        let out = rig.send(Input::Tick);
        measures(&out).first().copied().unwrap_or_else(|| panic!("no measure: {out:?}"))
    };
    let analyses = |rig: &Rig| rig.store.iter().filter(|e| matches!(e.kind, EventKind::Analysis { .. })).count();
    let first = next_window(&mut rig);
    let before = analyses(&rig);
    let out = rig
        .send(Input::Measured { window: first, result: Err(MeasureError::late(Source::CloudWatch, "minute 12:03")) });
    assert!(out.effects.iter().all(|e| !matches!(e, Effect::Persist { .. })), "nothing recorded: {out:?}");
    assert_eq!(analyses(&rig), before);
    let asked = rig.now;
    let again = next_window(&mut rig);
    assert_eq!(again, first, "the same window");
    assert_eq!(rig.now, asked + plan().guardrails.interval, "an interval later");
    let out = rig.send(Input::Measured { window: again, result: Ok(healthy()) });
    assert_eq!(analyses(&rig), before + 1, "judged once, whole");
    // The next window was due meanwhile: asked at once, from where the late one ended.
    let next = measures(&out).first().copied().unwrap_or_else(|| panic!("no measure: {out:?}"));
    assert_eq!((next.from, next.to), (first.to, rig.now));
    // Still unpublished ten minutes after it was first said to be: an error.
    let mut window = next;
    let first_said = rig.now;
    while rig.now < first_said + LATE_MAX {
        let _ =
            rig.send(Input::Measured { window, result: Err(MeasureError::late(Source::CloudWatch, "still missing")) });
        let asked = next_window(&mut rig);
        assert_eq!(asked, window);
        window = asked;
    }
    let _ = rig.send(Input::Measured { window, result: Err(MeasureError::late(Source::CloudWatch, "still missing")) });
    let last = rig.store.iter().rev().find(|e| matches!(e.kind, EventKind::Analysis { .. })).unwrap();
    assert!(
        matches!(&last.kind, EventKind::Analysis { analysis, .. } if analysis.verdict == Verdict::Error),
        "{last:?}"
    );
}

#[test]
fn no_data_pause_policy_pauses() {
    let mut plan = plan();
    plan.guardrails.no_data.then = NoDataAction::Pause;
    let mut rig = Rig::with_plan(plan);
    let _ = rig.command(Command::Start);
    let _ = rig.confirm();
    // The source never answers: the driver answers each request with an
    // error when its deadline passes.
    for _ in 0..20 {
        let wake = rig.engine.next_wake().unwrap();
        rig.now = wake;
        let out = rig.send(Input::Tick);
        for window in measures(&out) {
            let late = MeasureError::new(Source::Metrics, "no answer within 30 s");
            let _ = rig.send(Input::Measured { window, result: Err(late) });
        }
    }
    assert_eq!(rig.phase(), Phase::Paused { reason: PauseReason::NoData });
    assert_eq!(rig.weight(), pct(1));
}

#[test]
fn a_crash_between_intent_and_apply_is_resolved_on_restart() {
    let mut rig = Rig::new();
    let out = rig.command(Command::Start);
    let Effect::Persist { state, .. } = &out.effects[0] else { panic!() };
    // The process dies before ApplyWeight runs; a new one restores the state.
    let plan = plan();
    let judge = ThresholdJudge::new(plan.guardrails);
    let mut engine = Engine::restore(plan, state.clone(), judge);
    assert!(engine.handle(rig.now, Input::Tick).effects.is_empty(), "a follower does nothing");
    let out = engine.handle(rig.now, Input::LeaseGained { epoch: 2 });
    assert_eq!(applies(&out), [pct(1)]);
}

#[test]
fn a_follower_never_acts() {
    let mut rig = Rig::started();
    let _ = rig.send(Input::LeaseLost);
    assert_eq!(rig.engine.next_wake(), None);
    assert!(rig.at(minutes(600)).effects.is_empty());
    let out = rig.command(Command::Rollback);
    assert!(out.rejected.is_some() && out.effects.is_empty());
    // Regaining the lease re-applies the recorded weight and measures again.
    let out = rig.lease();
    assert_eq!(applies(&out), [pct(1)]);
}

#[test]
fn promote_skips_the_hold_but_never_a_failure() {
    let mut rig = Rig::new();
    let _ = rig.command(Command::Start);
    assert!(rig.command(Command::Promote).rejected.is_some(), "not before the edge confirmed");
    let _ = rig.confirm();
    let _ = rig.measure_with(healthy());
    let out = rig.command(Command::Promote);
    assert_eq!(applies(&out), [pct(5)]);
    assert!(rig.store.iter().any(|e| matches!(e.kind, EventKind::StepAdvanced { promoted: true, .. })));
    let _ = rig.confirm();
    let _ = rig.measure_with(slow());
    let out = rig.command(Command::Promote);
    assert!(out.rejected.unwrap().contains("failing"));
}

#[test]
fn pause_holds_but_still_rolls_back() {
    let mut rig = Rig::started();
    let _ = rig.command(Command::Pause);
    for _ in 0..30 {
        assert!(applies(&rig.measure_with(healthy())).is_empty());
    }
    assert_eq!(rig.phase(), Phase::Paused { reason: PauseReason::Operator });
    let out = rig.measure_with(failing_errors());
    assert_eq!(applies(&out), [Weight::ZERO]);
}

#[test]
fn freeze_windows_hold_the_step() {
    let mut plan = plan();
    // T0 is 12:00 UTC; the first hold ends at 14:00, inside 13-16.
    plan.schedule.freeze.push(cutover_core::plan::FreezeWindow { from_hour: 13, to_hour: 16 });
    let mut rig = Rig::with_plan(plan);
    let _ = rig.command(Command::Start);
    let _ = rig.confirm();
    // Answer every measure request with healthy data until the weight moves.
    loop {
        rig.now = rig.engine.next_wake().unwrap();
        let mut out = rig.send(Input::Tick);
        if let Some(Effect::Measure { window }) =
            out.effects.iter().find(|e| matches!(e, Effect::Measure { .. })).cloned()
        {
            out = rig.send(Input::Measured { window, result: Ok(healthy()) });
        }
        if !applies(&out).is_empty() {
            assert_eq!(applies(&out), [pct(5)]);
            break;
        }
    }
    assert_eq!(rig.now, T0 + minutes(4 * 60), "advanced when the freeze ended, at 16:00");
}

#[test]
fn abort_goes_to_zero_and_is_final() {
    let mut rig = Rig::started();
    let out = rig.command(Command::Abort);
    assert_eq!(applies(&out), [Weight::ZERO]);
    let _ = rig.confirm();
    assert_eq!(rig.phase(), Phase::Aborted);
    assert!(rig.command(Command::Start).rejected.is_some());
    assert!(rig.command(Command::Rollback).rejected.is_some());
}

#[test]
fn a_whole_healthy_cutover_completes() {
    let mut rig = Rig::started();
    let mut guard = 0;
    while rig.phase() == Phase::Progressing {
        let out = rig.measure_with(healthy());
        if !applies(&out).is_empty() {
            let _ = rig.confirm();
        }
        guard += 1;
        assert!(guard < 1000);
    }
    assert_eq!(rig.phase(), Phase::Completed);
    assert_eq!(rig.weight(), Weight::FULL);
    assert_eq!(rig.now, T0 + Duration::from_secs(48 * 3600));
    // A completed cutover can still be rolled back by an operator.
    assert_eq!(applies(&rig.command(Command::Rollback)), [Weight::ZERO]);
}

/// Found by the property test: a late answer to an earlier rollback's apply
/// of 0 must not confirm a later rollback while a 1 % apply is still queued.
#[test]
fn a_late_answer_to_an_older_apply_of_the_same_weight_confirms_nothing() {
    let mut rig = Rig::started();
    let _ = rig.command(Command::Rollback);
    let first_zero = rig.last_apply.unwrap();
    let _ = rig.lease(); // re-applies 0 under a new epoch
    let _ = rig.send(Input::Edge(EdgeResult::Applied { id: first_zero, weight: Weight::ZERO }));
    assert!(matches!(rig.phase(), Phase::RollingBack { .. }), "only the latest apply confirms");
    let _ = rig.confirm();
    assert!(matches!(rig.phase(), Phase::RolledBack { .. }));
}

#[test]
fn stale_answers_are_ignored() {
    let mut rig = Rig::started();
    let w = Window { from: T0, to: T0 + minutes(1) };
    assert!(rig.send(Input::Measured { window: w, result: Ok(failing_errors()) }).effects.is_empty());
    let stale = ApplyId { epoch: 0, seq: 99 };
    assert!(rig.send(Input::Edge(EdgeResult::Applied { id: stale, weight: pct(1) })).effects.is_empty());
    assert!(rig.send(Input::Edge(EdgeResult::Applied { id: stale, weight: pct(50) })).effects.is_empty());
    assert_eq!(rig.phase(), Phase::Progressing);
}

#[test]
fn a_restart_mid_step_measures_the_whole_step_again() {
    let mut rig = Rig::started();
    let step_started = rig.engine.state().step_started_at.unwrap();
    for _ in 0..5 {
        let _ = rig.measure_with(healthy());
    }
    // The process dies; the new one has no evidence in memory.
    let plan = plan();
    let judge = ThresholdJudge::new(plan.guardrails);
    let mut engine = Engine::restore(plan, rig.engine.state().clone(), judge);
    let out = engine.handle(rig.now, Input::LeaseGained { epoch: 9 });
    let lookback = Window { from: before(rig.engine.state().started_at.unwrap(), HOUR), to: step_started };
    assert_eq!(
        measures(&out),
        [lookback, Window { from: step_started, to: rig.now }],
        "the old side's baseline again, and a catch-up window from the step's start"
    );
}

const HOUR: Duration = Duration::from_secs(3600);

fn before(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp::from_ms(t.as_ms() - d.as_millis() as u64)
}

/// Starting asks for the old side's history before the start (the plan's
/// `lookback`), so the judge knows its usual rate and latency from the first
/// window on; `lookback = "0s"` asks for nothing.
#[test]
fn starting_reads_the_old_sides_history_before_the_start() {
    let mut rig = Rig::new();
    let out = rig.command(Command::Start);
    assert_eq!(measures(&out), [Window { from: before(rig.now, HOUR), to: rig.now }]);
    let mut plan = plan();
    plan.guardrails.lookback = Duration::ZERO;
    let mut rig = Rig::with_plan(plan);
    let out = rig.command(Command::Start);
    assert!(measures(&out).is_empty(), "{out:?}");
}

/// Killed after a step's intent, before the edge confirmed it: the new
/// leader's judge has no baseline, so it reads it once the edge confirms
/// (without it, a 100 % step, where the old side serves no users, would
/// hold Inconclusive for ever).
#[test]
fn a_restart_between_intent_and_confirmation_reads_the_baseline_on_confirmation() {
    let mut rig = Rig::started();
    let started_at = rig.engine.state().started_at.unwrap();
    loop {
        let out = rig.measure_with(healthy());
        if !applies(&out).is_empty() {
            break; // the next step's weight is intended, not yet confirmed
        }
    }
    assert!(rig.engine.state().step_started_at.is_none());
    rig.now = rig.now + minutes(1);
    let plan = plan();
    let judge = ThresholdJudge::new(plan.guardrails);
    let mut engine = Engine::restore(plan, rig.engine.state().clone(), judge);
    let out = engine.handle(rig.now, Input::LeaseGained { epoch: 9 });
    let (id, weight) = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::ApplyWeight { id, weight, .. } => Some((*id, *weight)),
            _ => None,
        })
        .expect("the intent is applied again");
    rig.now = rig.now + Duration::from_secs(5);
    let out = engine.handle(rig.now, Input::Edge(EdgeResult::Applied { id, weight }));
    let windows = measures(&out);
    let baseline = Window { from: before(started_at, HOUR), to: rig.now };
    assert_eq!(windows, [baseline], "the baseline, from the lookback before the start to the confirmation");
}

#[test]
fn a_restart_in_a_later_step_reads_the_baseline_before_the_step_again() {
    let mut rig = Rig::started();
    let started_at = rig.engine.state().started_at.unwrap();
    while rig.engine.state().step == 0 {
        let out = rig.measure_with(healthy());
        if !applies(&out).is_empty() {
            let _ = rig.confirm();
        }
    }
    let step_started = rig.engine.state().step_started_at.unwrap();
    rig.now = rig.now + minutes(12);
    let plan = plan();
    let judge = ThresholdJudge::new(plan.guardrails);
    let mut engine = Engine::restore(plan, rig.engine.state().clone(), judge);
    let out = engine.handle(rig.now, Input::LeaseGained { epoch: 9 });
    let windows = measures(&out);
    assert_eq!(
        windows,
        [Window { from: before(started_at, HOUR), to: step_started }, Window { from: step_started, to: rig.now }],
        "the baseline, then a catch-up window of the step"
    );
    // A failed baseline read is asked again an interval later, not at once.
    let out = engine.handle(
        rig.now,
        Input::Measured { window: windows[0], result: Err(MeasureError::new(Source::Simulated, "down")) },
    );
    assert!(measures(&out).is_empty(), "no tight loop: {out:?}");
    assert!(engine.next_wake().is_some_and(|t| t <= rig.now + minutes(5)), "woken to ask again");
    let out = engine.handle(rig.now + minutes(5), Input::Tick);
    assert!(measures(&out).contains(&windows[0]), "{out:?}");
}

/// A cutover created to start at a time starts by itself then, in the name
/// of whoever scheduled it, with the plan's fingerprint in `started`; a
/// time inside a freeze window waits for the window's end.
#[test]
fn a_scheduled_cutover_starts_at_its_time_and_not_in_a_freeze() {
    let mut plan = plan();
    plan.schedule.freeze.clear();
    plan.schedule.freeze.push(cutover_core::plan::FreezeWindow { from_hour: 14, to_hour: 16 });
    for (at, starts) in [(T0 + minutes(90), T0 + minutes(90)), (T0 + minutes(150), T0 + minutes(240))] {
        let mut state = CutoverState::for_plan("c1", T0, "the plan's text");
        state.start_at = Some(at);
        state.scheduled_by = Some("ana".into());
        let mut engine = Engine::restore(plan.clone(), state, ThresholdJudge::new(plan.guardrails));
        let out = engine.handle(T0, Input::LeaseGained { epoch: 1 });
        assert!(out.effects.is_empty(), "nothing before its time");
        assert_eq!(engine.next_wake(), Some(starts), "woken when it is due ({at})");
        let early = engine.handle(Timestamp::from_ms(starts.as_ms() - 1000), Input::Tick);
        assert!(early.effects.is_empty(), "not a second early");
        let out = engine.handle(starts, Input::Tick);
        let Some(Effect::Persist { events, .. }) = out.effects.first() else { panic!("{out:?}") };
        let EventKind::Started { plan_sha256, .. } = &events[0].kind else { panic!("{events:?}") };
        assert_eq!(plan_sha256.as_deref(), Some(cutover_core::audit::sha256_hex(b"the plan's text").as_str()));
        assert_eq!(events[0].actor, Actor::Operator("ana".into()));
        assert_eq!(events[0].reason.as_deref(), Some(format!("scheduled for {at}").as_str()));
        assert_eq!(applies(&out), [pct(1)]);
        assert_eq!(engine.state().start_at, None);
    }
}

#[test]
fn trails_written_before_pauses_had_reasons_still_read() {
    // A `pause` decision as older versions stored it: no reason, which
    // could only mean the no-data policy.
    let old: Decision = serde_json::from_str(r#"{"decision":"pause"}"#).unwrap();
    assert_eq!(old, Decision::Pause { reason: PauseReason::NoData });
    let new = Decision::Pause { reason: PauseReason::SharedFailure };
    let text = serde_json::to_string(&new).unwrap();
    assert_eq!(text, r#"{"decision":"pause","reason":"shared_failure"}"#);
    assert_eq!(serde_json::from_str::<Decision>(&text).unwrap(), new);
}
