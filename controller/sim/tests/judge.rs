//! Statistical properties of the sequential judge, checked by simulation
//! with fixed seeds.

use cutover_core::judge::SequentialJudge;
use cutover_core::plan::Plan;
use cutover_sim::{run_seeds, Scenario, Summary};

/// The method's guarantee: over a whole 48 h plan, a healthy cutover is
/// rolled back with probability at most `alpha` (Ville's inequality per
/// check and step, a union bound over them).
#[test]
fn over_2000_healthy_cutovers_false_rollbacks_stay_under_alpha() {
    let plan = Plan::default_plan();
    let runs = 2000;
    let results = run_seeds(&plan, &Scenario::default(), 0..runs, 2, &SequentialJudge::new, &|_| {});
    let s = Summary::new(&results);
    assert!(s.violations.is_empty(), "{:?}", &s.violations[..s.violations.len().min(3)]);
    let rate = s.false_rollbacks as f64 / runs as f64;
    assert!(rate <= plan.guardrails.alpha, "false rollbacks {rate} over {runs} runs, bound {}", plan.guardrails.alpha);
    assert_eq!(s.outcomes.get("Completed").copied().unwrap_or(0) + s.false_rollbacks, runs as usize, "{}", s.table());
}
