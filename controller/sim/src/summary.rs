//! Many seeds at once: run them on every core, then summarise as a table.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cutover_core::judge::Judge;
use cutover_core::plan::Plan;
use cutover_core::units::{format_duration, format_hours};

use crate::model::Scenario;
use crate::run::{run, PortCounts, RunReport, Scripted};

/// A run's report, or the panic that ended it.
pub type Outcome = Result<(RunReport, Duration), String>;

/// Runs `seeds` on `threads` threads. Each seed's result depends on the seed
/// alone, never on the thread or the order. `progress` hears each finished run.
pub fn run_seeds<J: Judge>(
    plan: &Plan,
    scenario: &Scenario,
    seeds: std::ops::Range<u64>,
    threads: usize,
    make_judge: &(dyn Fn(&Plan) -> J + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<(u64, Outcome)> {
    let next = AtomicU64::new(seeds.start);
    let done = AtomicU64::new(0);
    let mut results: Vec<(u64, Outcome)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= seeds.end {
                            return out;
                        }
                        let t = Instant::now();
                        let result = catch_unwind(AssertUnwindSafe(|| {
                            run(plan, scenario, seed, make_judge, &[] as &[Scripted])
                        }))
                        .map(|r| (r, t.elapsed()))
                        .map_err(|p| panic_text(&*p));
                        out.push((seed, result));
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    results.sort_by_key(|(seed, _)| *seed);
    results
}

/// What a caught panic said.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// The figures `cutover simulate` prints.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub runs: usize,
    pub outcomes: BTreeMap<String, usize>,
    pub false_rollbacks: usize,
    pub rollback_reasons: BTreeMap<String, usize>,
    pub regressed_runs: usize,
    pub detections: Vec<Duration>,
    pub exposed: Vec<u64>,
    pub steps_completed: Vec<usize>,
    pub durations: Vec<Duration>,
    pub crashes: u64,
    /// What the port faults did, over all runs.
    pub ports: PortCounts,
    pub violations: Vec<(u64, String)>,
    pub run_times: Vec<Duration>,
}

impl Summary {
    pub fn new(results: &[(u64, Outcome)]) -> Summary {
        let mut s = Summary { runs: results.len(), ..Summary::default() };
        for (seed, outcome) in results {
            match outcome {
                Err(panic) => {
                    *s.outcomes.entry("panicked".into()).or_default() += 1;
                    s.violations.push((*seed, format!("no-panic: {panic}")));
                }
                Ok((r, wall)) => {
                    let name = match r.phase {
                        p if p.is_active() => format!("{} (unfinished when time ran out)", p.name()),
                        p => p.name().to_string(),
                    };
                    *s.outcomes.entry(name).or_default() += 1;
                    s.false_rollbacks += usize::from(r.false_rollback());
                    if let Some((_, reason)) = r.rollback {
                        *s.rollback_reasons.entry(reason.to_string()).or_default() += 1;
                    }
                    if r.regression_at.is_some() {
                        s.regressed_runs += 1;
                    }
                    if let Some(d) = r.detection() {
                        s.detections.push(d);
                        s.exposed.push(r.exposed_requests);
                    }
                    s.steps_completed.push(r.steps_completed);
                    s.durations.push(r.ended_at.since(r.started_at));
                    s.crashes += u64::from(r.crashes);
                    s.ports.add(&r.ports);
                    s.violations.extend(r.violations.iter().map(|v| (*seed, v.clone())));
                    s.run_times.push(*wall);
                }
            }
        }
        s.detections.sort();
        s.exposed.sort_unstable();
        s.steps_completed.sort_unstable();
        s.durations.sort();
        s.run_times.sort();
        s
    }

    /// Rows of (figure, value), in the order they are printed.
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        let pct = |n: usize| format!("{n} ({:.1} %)", 100.0 * n as f64 / self.runs.max(1) as f64);
        for (outcome, n) in &self.outcomes {
            rows.push((format!("outcome {outcome}"), pct(*n)));
        }
        for (reason, n) in &self.rollback_reasons {
            rows.push((format!("rollback reason {reason}"), pct(*n)));
        }
        rows.push(("false rollbacks".into(), pct(self.false_rollbacks)));
        if self.regressed_runs > 0 {
            rows.push(("regression caught".into(), pct(self.detections.len())));
            let d = |q| quantile(&self.detections, q).map_or("-".into(), |d: Duration| format_duration(round_s(d)));
            rows.push(("regression → rollback median".into(), d(0.5)));
            rows.push(("regression → rollback p90".into(), d(0.9)));
            let e = |q| quantile(&self.exposed, q).map_or("-".into(), |n: u64| n.to_string());
            rows.push(("new-side requests exposed median".into(), e(0.5)));
        }
        let steps = |q| quantile(&self.steps_completed, q).map_or("-".into(), |n: usize| n.to_string());
        rows.push((
            "steps completed min / median / max".into(),
            format!("{} / {} / {}", steps(0.0), steps(0.5), steps(1.0)),
        ));
        let dur = |q| quantile(&self.durations, q).map_or("-".into(), format_hours);
        rows.push(("cutover length median / p90".into(), format!("{} / {}", dur(0.5), dur(0.9))));
        if self.crashes > 0 {
            rows.push(("controller crashes survived".into(), self.crashes.to_string()));
        }
        let p = &self.ports;
        let pairs = [
            ("store writes failed before / after committing", p.store_failed_before, p.store_failed_after),
            ("leases taken over / stalled leaders fenced", p.takeovers, p.fenced),
            ("edge drifts / stale edge writes refused", p.drifts, p.stale_writes_refused),
            ("operator commands sent / refused", p.commands, p.refused),
        ];
        for (name, a, b) in pairs.into_iter().filter(|(_, a, b)| a + b > 0) {
            rows.push((name.to_string(), format!("{a} / {b}")));
        }
        if p.notifications_from_outbox > 0 {
            rows.push(("notifications left to the outbox".into(), p.notifications_from_outbox.to_string()));
        }
        rows.push(("invariant violations".into(), self.violations.len().to_string()));
        let ms = |q| {
            quantile(&self.run_times, q).map_or("-".into(), |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3))
        };
        rows.push(("wall time per 48 h run median / p90".into(), format!("{} / {}", ms(0.5), ms(0.9))));
        rows
    }

    pub fn table(&self) -> String {
        let rows = self.rows();
        let w = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "  {k:<w$}  {v}");
        }
        out
    }
}

/// A delay for a table cell: whole seconds under an hour (`1m48s`), whole
/// minutes from an hour on (`4h28m`).
pub fn short(d: Duration) -> String {
    format_hours(round_s(d))
}

fn round_s(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// Nearest-rank quantile of sorted values.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}
