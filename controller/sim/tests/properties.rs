//! Property tests: arbitrary interleavings of time, measurements, edge
//! answers, operator commands, lease changes and crashes never break an
//! invariant, and never panic.

use cutover_core::engine::Command;
use cutover_core::plan::{FreezeWindow, NoDataAction, Plan};
use cutover_core::units::Timestamp;
use cutover_sim::script::{drive, Action, EdgeAnswer, JudgeKind, ScriptedReading};
use proptest::prelude::*;

const T0: Timestamp = Timestamp(1_795_867_200_000);

fn action() -> impl Strategy<Value = Action> {
    let reading = prop_oneof![
        6 => Just(ScriptedReading::Healthy),
        1 => Just(ScriptedReading::Slow),
        1 => Just(ScriptedReading::Errors),
        1 => Just(ScriptedReading::Sparse),
        1 => Just(ScriptedReading::SourceDown),
    ];
    let edge =
        prop_oneof![4 => Just(EdgeAnswer::Applied), 1 => Just(EdgeAnswer::Failed), 1 => Just(EdgeAnswer::Conflict)];
    let command = prop_oneof![
        Just(Command::Start),
        Just(Command::Pause),
        Just(Command::Resume),
        Just(Command::Rollback),
        Just(Command::Promote),
        Just(Command::Abort),
    ];
    prop_oneof![
        8 => (1u32..4 * 3600).prop_map(Action::Wait),
        8 => reading.prop_map(Action::Measure),
        6 => edge.prop_map(Action::Edge),
        1 => command.prop_map(Action::Command),
        1 => Just(Action::LeaseLost),
        1 => Just(Action::LeaseGained),
        1 => Just(Action::Crash),
    ]
}

/// The default plan, shortened so random scripts reach every step, with a
/// freeze window and either no-data policy.
fn plan(pause_on_no_data: bool, freeze: bool) -> Plan {
    let mut plan = Plan::default_plan();
    for s in &mut plan.schedule.steps {
        s.hold = std::time::Duration::from_secs(1800);
    }
    if pause_on_no_data {
        plan.guardrails.no_data.then = NoDataAction::Pause;
    }
    if freeze {
        plan.schedule.freeze.push(FreezeWindow { from_hour: 22, to_hour: 2 });
    }
    plan
}

/// 1000 cases by default; `PROPTEST_CASES=100000` for a long hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    // Failing inputs are kept as named tests below, not in files.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn invariants_hold_for_any_input_sequence(
        actions in proptest::collection::vec(action(), 0..300),
        pause in any::<bool>(),
        freeze in any::<bool>(),
        sequential in any::<bool>(),
    ) {
        let judge = if sequential { JudgeKind::Sequential } else { JudgeKind::Threshold };
        let report = drive(&plan(pause, freeze), T0, &actions, judge);
        prop_assert!(report.violations.is_empty(), "{:#?}", report.violations);
    }
}

/// A healthy edge and healthy readings take a script through every step.
#[test]
fn a_healthy_script_completes() {
    let mut actions = Vec::new();
    for _ in 0..7 {
        actions.push(Action::Edge(EdgeAnswer::Applied));
        for _ in 0..7 {
            actions.push(Action::Wait(300));
            actions.push(Action::Measure(ScriptedReading::Healthy));
        }
    }
    for judge in [JudgeKind::Threshold, JudgeKind::Sequential] {
        let report = drive(&plan(false, false), T0, &actions, judge);
        assert!(report.violations.is_empty(), "{judge:?}: {:?}", report.violations);
        assert_eq!(report.phase, cutover_core::engine::Phase::Completed, "{judge:?}");
    }
}

/// Regression, found by `invariants_hold_for_any_input_sequence`: a rollback's
/// apply of 0, answered after a restart, a new start (1 %) and a second
/// rollback had been issued, confirmed the second rollback while the 1 %
/// apply was still queued: the edge ended at 1 % in RolledBack. Applies now
/// carry ids, and only those issued for the current intent confirm it.
#[test]
fn regression_late_zero_apply_confirmed_a_later_rollback() {
    use Action::*;
    let actions = [
        Edge(EdgeAnswer::Applied),
        Wait(1),
        Wait(1),
        LeaseGained,
        Wait(1),
        Wait(299),
        Wait(300),
        LeaseGained,
        Wait(1),
        Wait(1),
        Wait(1),
        Wait(1),
        Wait(1),
        Wait(1),
        Wait(1795),
        Wait(60),
        Wait(1),
        Edge(EdgeAnswer::Applied),
        LeaseGained,
        Edge(EdgeAnswer::Applied),
        Wait(60),
        Wait(1),
        Wait(60),
        Edge(EdgeAnswer::Applied),
        Wait(2),
        Edge(EdgeAnswer::Applied),
        Command(cutover_core::engine::Command::Start),
        Wait(1),
        Command(cutover_core::engine::Command::Rollback),
        Wait(1),
        Wait(1),
    ];
    let report = drive(&plan(false, false), T0, &actions, JudgeKind::Threshold);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}
