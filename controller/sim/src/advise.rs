//! `cutover plan advise`: the simulator run on a target's own traffic shape,
//! step by step, to say how fast each kind of regression would be caught in
//! each step, which steps are too short or too quiet to catch them before
//! they end, and what holds and probe rate would.

use std::time::Duration;

use cutover_core::judge::SequentialJudge;
use cutover_core::plan::{Plan, Step};
use cutover_core::units::Weight;

use crate::model::{Fault, RegressionKind, Scenario};
pub use crate::summary::short;
use crate::summary::{quantile, run_seeds};

/// The regressions the advisor asks about, and whether a step must catch
/// them before it ends (the others are reported, not required: +1 pp at a
/// 1 % step is beyond any judge's reach in two hours).
pub const FAULTS: [(&str, RegressionKind, bool); 5] = [
    ("outage", RegressionKind::Outage, true),
    ("errors +5 pp", RegressionKind::ErrorsPlusPp(5.0), true),
    ("p50 ×2", RegressionKind::P50Times(2.0), true),
    ("errors +1 pp", RegressionKind::ErrorsPlusPp(1.0), false),
    ("p99 ×2", RegressionKind::P99Times(2.0), false),
];

/// Quiet-side probe rates tried when an outage is caught too slowly.
pub const PROBE_RATES: [u32; 4] = [10, 20, 30, 60];
/// The outage detection (median, at the first step) a probe rate must reach.
pub const OUTAGE_TARGET: Duration = Duration::from_secs(120);
/// The longest hold the advisor suggests; past it a step is "too quiet".
pub const HOLD_CAP: Duration = Duration::from_secs(24 * 3600);

/// How one regression fared when it began in one step.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub runs: usize,
    /// Rolled back after the onset (in any step).
    pub caught: usize,
    /// Rolled back before the step it began in would have ended.
    pub within_step: usize,
    pub median: Option<Duration>,
    pub p90: Option<Duration>,
    /// New-side requests served between the onset and the rollback, median.
    pub exposed: Option<u64>,
}

/// One step's figures.
#[derive(Clone, Debug)]
pub struct StepAdvice {
    pub step: usize,
    pub weight: Weight,
    pub hold: Duration,
    /// How far into the step each regression begins.
    pub onset_into_step: Duration,
    /// New-side user requests per hour at this step, on average over its hold.
    pub new_side_per_hour: f64,
    /// One per [`FAULTS`] entry.
    pub cells: Vec<Cell>,
    /// Why the step is too short or too quiet for a regression it must
    /// catch (an outage, +5 pp, p50 ×2), one line each.
    pub flags: Vec<String>,
    /// The same for the others (+1 pp, p99 ×2): worth knowing, not required.
    pub notes: Vec<String>,
    /// A hold long enough to catch the required regressions (p90) before it ends.
    pub suggested_hold: Duration,
    /// With the suggested holds, simulated again: the required regressions'
    /// cells (empty when the hold is unchanged).
    pub checked: Vec<Cell>,
}

#[derive(Clone, Debug)]
pub struct Advice {
    pub steps: Vec<StepAdvice>,
    /// The plan with the suggested holds.
    pub suggested: Plan,
    /// Quiet-side probes per minute the advice assumes, and the rate it
    /// suggests (the same when the assumed rate suffices).
    pub probes: (u32, u32),
    /// The outage detection at the first step with the suggested rate, and
    /// whether it meets [`OUTAGE_TARGET`] (the highest rate tried may not).
    pub outage_at_first_step: Option<Duration>,
    pub probes_meet_target: bool,
}

/// Runs `runs` seeds per step and regression on `base` (its traffic is the
/// target's), reporting each finished run to `progress`.
pub fn advise(plan: &Plan, base: &Scenario, runs: u64, threads: usize, progress: &(dyn Fn(u64) + Sync)) -> Advice {
    let timeline = plan.timeline();
    let mut steps = Vec::new();
    for row in &timeline {
        let onset_into_step = (row.ends_at - row.starts_at) / 4;
        let onset_into_step = onset_into_step.min(Duration::from_secs(30 * 60));
        let at = row.starts_at + onset_into_step;
        let left = row.ends_at.saturating_sub(at);
        let cells: Vec<Cell> = FAULTS
            .iter()
            .map(|(_, kind, _)| {
                let scenario = Scenario { faults: vec![Fault::new_side(*kind, at)], ..base.clone() };
                cell(plan, &scenario, runs, threads, left, progress)
            })
            .collect();
        let hours = (row.ends_at - row.starts_at).as_secs_f64() / 3600.0;
        let minutes = (row.starts_at.as_secs() / 60)..(row.ends_at.as_secs() / 60);
        let per_step: f64 =
            minutes.map(|m| base.traffic.per_minute(base.start + Duration::from_secs(m * 60))).sum::<f64>()
                * row.weight.fraction();
        let (mut flags, mut notes) = (Vec::new(), Vec::new());
        let mut needed = Duration::ZERO;
        for ((name, _, required), c) in FAULTS.iter().zip(&cells) {
            let line = match c.median {
                Some(m) if m > left => Some(format!(
                    "{name}: caught after {} (median), the step ends {} after the onset",
                    short(m),
                    short(left)
                )),
                None => Some(format!("{name}: not caught in {} runs", c.runs)),
                Some(_) => None,
            };
            if let Some(line) = line {
                if *required {
                    flags.push(line)
                } else {
                    notes.push(line)
                }
            }
            if *required {
                match c.p90 {
                    Some(p90) if c.caught * 10 >= c.runs * 9 => needed = needed.max(onset_into_step + p90),
                    _ => needed = HOLD_CAP,
                }
            }
        }
        let hold = row.ends_at - row.starts_at;
        let suggested_hold = if needed > hold { round_up_half_hour(needed).min(HOLD_CAP) } else { hold };
        if needed >= HOLD_CAP {
            flags.push(format!(
                "too quiet: {:.0} new-side requests an hour do not catch every required regression within {}",
                per_step / hours.max(1e-9),
                short(HOLD_CAP)
            ));
        }
        steps.push(StepAdvice {
            step: row.step,
            weight: row.weight,
            hold,
            onset_into_step,
            new_side_per_hour: per_step / hours.max(1e-9),
            cells,
            flags,
            notes,
            suggested_hold,
            checked: Vec::new(),
        });
    }
    let mut suggested = plan.clone();
    suggested.schedule.steps =
        steps.iter().map(|s| Step { weight: s.weight, hold: s.suggested_hold }).collect::<Vec<_>>();
    // Longer holds change when later steps start and how the tests'
    // floors are sized: simulate the required regressions again on the
    // suggested plan, for the steps whose hold changed.
    for (s, row) in steps.iter_mut().zip(suggested.timeline()) {
        if s.suggested_hold == s.hold {
            continue;
        }
        let at = row.starts_at + s.onset_into_step;
        let left = row.ends_at.saturating_sub(at);
        s.checked = FAULTS
            .iter()
            .filter(|(_, _, required)| *required)
            .map(|(_, kind, _)| {
                let scenario = Scenario { faults: vec![Fault::new_side(*kind, at)], ..base.clone() };
                cell(&suggested, &scenario, runs, threads, left, progress)
            })
            .collect();
    }
    // The probe rate: the lowest that catches an outage at the first step
    // within the target (median).
    let first = timeline.first().map(|r| r.starts_at + Duration::from_secs(5 * 60)).unwrap_or_default();
    let assumed = base.quiet_side_probes_per_minute;
    let mut probes = (assumed, assumed);
    let mut outage = steps.first().and_then(|s| s.cells.first()).and_then(|c| c.median);
    let mut probes_meet_target = outage.is_some_and(|m| m <= OUTAGE_TARGET);
    if !probes_meet_target {
        for rate in PROBE_RATES.into_iter().filter(|r| *r > assumed) {
            let scenario = Scenario {
                faults: vec![Fault::new_side(RegressionKind::Outage, first)],
                quiet_side_probes_per_minute: rate,
                ..base.clone()
            };
            let c = cell(plan, &scenario, runs, threads, Duration::MAX, progress);
            probes.1 = rate;
            outage = c.median;
            probes_meet_target = c.median.is_some_and(|m| m <= OUTAGE_TARGET);
            if probes_meet_target {
                break;
            }
        }
    }
    Advice { steps, suggested, probes, outage_at_first_step: outage, probes_meet_target }
}

fn cell(
    plan: &Plan,
    scenario: &Scenario,
    runs: u64,
    threads: usize,
    left: Duration,
    progress: &(dyn Fn(u64) + Sync),
) -> Cell {
    let results = run_seeds(plan, scenario, 0..runs, threads, &SequentialJudge::new, progress);
    let mut detections = Vec::new();
    let mut exposed = Vec::new();
    for (_, r) in &results {
        if let Ok((r, _)) = r {
            if let Some(d) = r.detection() {
                detections.push(d);
                exposed.push(r.exposed_requests);
            }
        }
    }
    detections.sort();
    exposed.sort_unstable();
    Cell {
        runs: results.len(),
        caught: detections.len(),
        within_step: detections.iter().filter(|d| **d <= left).count(),
        median: quantile(&detections, 0.5),
        p90: quantile(&detections, 0.9),
        exposed: quantile(&exposed, 0.5),
    }
}

fn round_up_half_hour(d: Duration) -> Duration {
    let half = 1800;
    Duration::from_secs(d.as_secs().div_ceil(half) * half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Traffic;

    #[test]
    fn a_busy_target_needs_no_longer_holds_and_a_quiet_one_does() {
        let plan = Plan::default_plan();
        let busy = Scenario { traffic: Traffic::diurnal(400_000.0), ..Scenario::default() };
        let advice = advise(&plan, &busy, 6, 2, &|_| {});
        assert_eq!(advice.steps.len(), 7);
        assert!(advice.steps.iter().all(|s| s.cells.iter().take(3).all(|c| c.caught == c.runs)), "{advice:#?}");
        // An eighth of the traffic, and a 1 % step of 30 minutes: too short.
        let mut short_plan = plan.clone();
        short_plan.schedule.steps[0].hold = Duration::from_secs(1800);
        let quiet = Scenario { traffic: Traffic::diurnal(12_000.0), ..Scenario::default() };
        let advice = advise(&short_plan, &quiet, 6, 2, &|_| {});
        let first = &advice.steps[0];
        assert!(!first.flags.is_empty(), "{first:#?}");
        assert!(first.suggested_hold > first.hold, "{first:#?}");
        assert_eq!(first.checked.len(), 3, "the suggested hold is simulated again: {first:#?}");
        assert_eq!(advice.suggested.schedule.steps[0].hold, first.suggested_hold);
    }
}
