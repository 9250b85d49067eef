//! Every port of the controller faulted at once (`cutover simulate --faults
//! all`): edge writes that fail, conflict, time out, verify late or never,
//! edge outages and drift; metric reads that fail, come late, partial,
//! empty or slow; store writes that fail before or after committing;
//! crashes, lapsed leases, stalls past the lease (a second controller takes
//! over, the first wakes fenced with its write in flight), clock jumps;
//! commands from several operators at random times. The checker runs after
//! every step; these tests hold it to zero violations, and show that it
//! would see one.

use cutover_core::judge::SequentialJudge;
use cutover_core::plan::Plan;
use cutover_sim::{run, run_seeds, Port, Scenario, Summary, Traffic};

fn judge(plan: &Plan) -> SequentialJudge {
    SequentialJudge::new(plan)
}

/// A quiet API (5,000 requests a day) with every port faulted: the faults
/// are the subject, and fewer requests make each run cheap enough for
/// 10,000 of them in CI.
fn faulted() -> Scenario {
    Scenario { traffic: Traffic::diurnal(5_000.0), ..Scenario::default() }.with_port_faults(&Port::ALL)
}

fn seeds(default: u64) -> u64 {
    std::env::var("CUTOVER_FAULT_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn ten_thousand_runs_with_every_port_faulted_break_no_invariant() {
    let n = seeds(10_000);
    let results = run_seeds(&Plan::default_plan(), &faulted(), 0..n, 2, &judge, &|_| {});
    let s = Summary::new(&results);
    let shown: Vec<_> = s.violations.iter().take(20).collect();
    assert!(s.violations.is_empty(), "{} violations; replay with cutover simulate --faults all --requests-per-day 5000 --seeds 1 --seed-start SEED:\n{shown:#?}", s.violations.len());
    // The faults happened, each of them many times: a run that faulted
    // nothing would pass too.
    let p = &s.ports;
    let happened = [
        ("store writes failed before committing", p.store_failed_before),
        ("store writes failed after committing", p.store_failed_after),
        ("takeovers", p.takeovers),
        ("stalled leaders fenced", p.fenced),
        ("drift", p.drifts),
        ("stale edge writes refused", p.stale_writes_refused),
        ("operator commands", p.commands),
        ("refused commands", p.refused),
    ];
    for (what, count) in happened {
        assert!(u64::from(count) >= n / 100, "only {count} {what} in {n} runs\n{}", s.table());
    }
    assert!(s.crashes >= n / 100, "{}", s.table());
    for outcome in ["Completed", "RolledBack", "Aborted"] {
        assert!(s.outcomes.get(outcome).is_some_and(|k| *k as u64 >= n / 20), "{outcome}\n{}", s.table());
    }
}

#[test]
fn a_faulted_run_is_the_same_every_time() {
    let plan = Plan::default_plan();
    let s = faulted();
    for seed in [3, 17] {
        assert_eq!(run(&plan, &s, seed, &judge, &[]), run(&plan, &s, seed, &judge, &[]));
    }
}

#[test]
fn each_port_alone_breaks_nothing() {
    for port in Port::ALL {
        let s = Scenario { traffic: Traffic::diurnal(5_000.0), ..Scenario::default() }.with_port_faults(&[port]);
        let results = run_seeds(&Plan::default_plan(), &s, 0..seeds(100).min(200), 2, &judge, &|_| {});
        let summary = Summary::new(&results);
        assert!(summary.violations.is_empty(), "{}: {:#?}", port.name(), summary.violations);
    }
}

/// The edge's version check (a KVS ETag) is what keeps a controller that
/// stalled between reading and writing the edge from putting back a weight
/// the cutover has moved past. Without it, the checker sees it happen.
#[test]
fn without_the_edges_version_check_a_stalled_leaders_write_lands_out_of_order() {
    let mut s = faulted();
    s.ports.edge_ignores_versions = true;
    let results = run_seeds(&Plan::default_plan(), &s, 0..200, 2, &judge, &|_| {});
    let summary = Summary::new(&results);
    let out_of_order = summary.violations.iter().filter(|(_, v)| v.contains("landed-out-of-order")).count();
    assert!(out_of_order > 0, "{:#?}", summary.violations);
}
