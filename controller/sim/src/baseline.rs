//! Peer-style judges, for the benchmark only: the controller never uses them.
//!
//! Each looks at the new side as its original does, with the knobs its own
//! documentation gives for low traffic, and is tuned by [`tune`] to at most
//! 1 % false rollbacks on healthy runs before its detection is compared, so
//! the benchmark compares judges at the same false-rollback rate.
//!
//! - Flagger (`analysis.interval`, `threshold`, a metric's minimum request
//!   count): every interval, the new side's request success rate must be at
//!   least 99 % and its request duration p99 at most 500 ms; failed checks
//!   are counted over the whole rollout and `threshold` of them roll back.
//!   An interval with fewer requests than the minimum is not checked (a
//!   metric template's minimum request count).
//! - Argo Rollouts (an AnalysisTemplate's `interval`, `failureLimit`,
//!   `consecutiveErrorLimit`): every interval one measurement of the success
//!   rate, `successCondition: result >= 0.99`; more than `failureLimit`
//!   failed measurements over the rollout (a background analysis), or more
//!   than `consecutiveErrorLimit` errors in a row (no data: the query
//!   returns nothing), fail the analysis.
//! - Kayenta (a canary analysis's `interval`, its minimum data points):
//!   every interval, each metric's per-minute series of both sides (error
//!   rate, warm p99) is compared with a one-sided Mann–Whitney test at 98 %
//!   confidence, failing only when the new side's median is also beyond a
//!   tolerance (25 %, or +0.5 pp for errors; Kayenta's own effect size is
//!   the Hodges–Lehmann estimate, approximated here by the medians). The
//!   score is the share of metrics with data passing; below 75 the canary
//!   fails. A metric with fewer minutes of data than the minimum is left out
//!   of the score (Kayenta's "no data").
//!
//! Their failures are critical: they roll back at once. A check that failed
//! below its limit holds the step (Inconclusive), as their promotion stops.

use std::fmt;
use std::time::Duration;

use cutover_core::judge::{Analysis, CheckName, CheckResult, Judge, Unit, Verdict};
use cutover_core::measure::{Measurement, PerSide, Side, SideSample, Window};
use cutover_core::plan::Plan;
use cutover_core::units::{format_duration, Timestamp, Weight};

use crate::model::Scenario;
use crate::summary::run_seeds;

/// Sample sizes of the step so far, which the engine checks before advancing.
#[derive(Clone, Copy, Debug, Default)]
struct StepSamples(PerSide<u64>);

impl StepSamples {
    fn add(&mut self, m: &Measurement) -> PerSide<u64> {
        self.0.legacy += m.combined(Side::Legacy).requests;
        self.0.serverless += m.combined(Side::Serverless).requests;
        self.0
    }
}

/// Windows gathered until an interval is complete.
#[derive(Clone, Debug, Default)]
struct Interval {
    started: Option<Timestamp>,
    minutes: Vec<PerSide<SideSample>>,
}

impl Interval {
    /// Adds a window; the interval's samples once `length` has passed.
    fn add(&mut self, window: Window, m: &Measurement, length: Duration) -> Option<Interval> {
        let started = *self.started.get_or_insert(window.from);
        self.minutes.push(PerSide { legacy: m.combined(Side::Legacy), serverless: m.combined(Side::Serverless) });
        (window.to.since(started) >= length).then(|| std::mem::take(self))
    }

    /// The new side over the whole interval.
    fn new_side(&self) -> SideSample {
        let mut total = SideSample::default();
        self.minutes.iter().for_each(|m| total.merge(&m.serverless));
        total
    }
}

fn result(check: CheckName, verdict: Verdict, new: Option<f64>, limit: f64, unit: Unit, reason: String) -> CheckResult {
    CheckResult { verdict, serverless: new, limit: Some(limit), reason, ..CheckResult::new(check, true, unit) }
}

fn success_pct(s: &SideSample) -> Option<f64> {
    s.error_rate().map(|r| 100.0 * (1.0 - r))
}

/// All of a new side's latencies (warm and cold: a user feels both).
fn all_latency_p99(s: &SideSample) -> Option<f64> {
    let mut h = s.latency_ms.clone();
    h.merge(&s.cold_latency_ms);
    h.quantile(0.99)
}

/// A peer judge's knobs, ordered by [`grid`] from the most eager to the most patient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PeerConfig {
    Flagger { interval: Duration, threshold: u32, min_requests: u64 },
    Argo { interval: Duration, failure_limit: u32, consecutive_error_limit: u32 },
    Kayenta { interval: Duration, min_points: usize },
}

impl fmt::Display for PeerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PeerConfig::Flagger { interval, threshold, min_requests } => write!(
                f,
                "flagger-style (interval {}, threshold {threshold}, ≥ {min_requests} req)",
                format_duration(interval)
            ),
            PeerConfig::Argo { interval, failure_limit, consecutive_error_limit } => write!(
                f,
                "argo-style (interval {}, failureLimit {failure_limit}, consecutiveErrorLimit {consecutive_error_limit})",
                format_duration(interval)
            ),
            PeerConfig::Kayenta { interval, min_points } => {
                write!(f, "kayenta-style (interval {}, ≥ {min_points} points)", format_duration(interval))
            }
        }
    }
}

/// The kinds of peer judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Flagger,
    Argo,
    Kayenta,
}

/// Each peer's configurations, from the most eager to the most patient: the
/// intervals and limits their documentation suggests, lengthened for low traffic.
pub fn grid(peer: Peer) -> Vec<PeerConfig> {
    let m = |n: u64| Duration::from_secs(n * 60);
    match peer {
        Peer::Flagger => {
            [(1, 1, 1), (5, 5, 10), (10, 5, 20), (10, 10, 50), (30, 10, 100), (60, 10, 200), (60, 20, 200)]
                .map(|(i, threshold, min_requests)| PeerConfig::Flagger { interval: m(i), threshold, min_requests })
                .to_vec()
        }
        Peer::Argo => [(1, 0, 4), (5, 3, 4), (10, 5, 4), (30, 5, 4), (30, 10, 8), (60, 10, 8), (60, 20, 12)]
            .map(|(i, failure_limit, consecutive_error_limit)| PeerConfig::Argo {
                interval: m(i),
                failure_limit,
                consecutive_error_limit,
            })
            .to_vec(),
        Peer::Kayenta => [(30, 10), (60, 20), (60, 30), (120, 30), (240, 60), (480, 120)]
            .map(|(i, min_points)| PeerConfig::Kayenta { interval: m(i), min_points })
            .to_vec(),
    }
}

/// One peer judge with one configuration.
#[derive(Clone, Debug)]
pub struct PeerJudge {
    config: PeerConfig,
    step: StepSamples,
    interval: Interval,
    /// Failed checks (Flagger) or measurements (Argo) in this step, and
    /// errors in a row (Argo).
    failed: u32,
    errors_in_a_row: u32,
    /// The latest interval's verdict, repeated until the next one.
    latest: Vec<CheckResult>,
}

impl PeerJudge {
    pub fn new(config: PeerConfig) -> PeerJudge {
        PeerJudge {
            config,
            step: StepSamples::default(),
            interval: Interval::default(),
            failed: 0,
            errors_in_a_row: 0,
            latest: Vec::new(),
        }
    }

    fn flagger(&mut self, i: &Interval, threshold: u32, min_requests: u64) -> Vec<CheckResult> {
        let new = i.new_side();
        if new.requests < min_requests {
            let why = format!("{} requests, fewer than {min_requests}: not checked", new.requests);
            return vec![result(CheckName::ErrorRate, Verdict::Inconclusive, None, 99.0, Unit::PercentSuccess, why)];
        }
        let success = success_pct(&new);
        let p99 = all_latency_p99(&new);
        let failed_now = success.is_some_and(|s| s < 99.0) || p99.is_some_and(|p| p > 500.0);
        self.failed += u32::from(failed_now);
        let verdict = match (self.failed >= threshold, failed_now) {
            (true, _) => Verdict::Fail,
            (false, true) => Verdict::Inconclusive,
            (false, false) => Verdict::Pass,
        };
        let why = format!("success {success:?} %, p99 {p99:?} ms; {} of {threshold} failed checks", self.failed);
        vec![result(CheckName::ErrorRate, verdict, success, 99.0, Unit::PercentSuccess, why)]
    }

    fn argo(&mut self, i: &Interval, failure_limit: u32, consecutive_error_limit: u32) -> Vec<CheckResult> {
        let Some(success) = success_pct(&i.new_side()) else {
            self.errors_in_a_row += 1;
            let verdict =
                if self.errors_in_a_row > consecutive_error_limit { Verdict::Fail } else { Verdict::Inconclusive };
            let why = format!("no data: {} errors in a row, limit {consecutive_error_limit}", self.errors_in_a_row);
            return vec![result(CheckName::ErrorRate, verdict, None, 99.0, Unit::PercentSuccess, why)];
        };
        self.errors_in_a_row = 0;
        let failed_now = success < 99.0;
        self.failed += u32::from(failed_now);
        let verdict = match (self.failed > failure_limit, failed_now) {
            (true, _) => Verdict::Fail,
            (false, true) => Verdict::Inconclusive,
            (false, false) => Verdict::Pass,
        };
        let why = format!("success {success:.2} %; {} failed, failureLimit {failure_limit}", self.failed);
        vec![result(CheckName::ErrorRate, verdict, Some(success), 99.0, Unit::PercentSuccess, why)]
    }

    fn kayenta(&mut self, i: &Interval, min_points: usize) -> Vec<CheckResult> {
        let series = |side: Side, f: &Metric| -> Vec<f64> { i.minutes.iter().filter_map(|m| f(m.get(side))).collect() };
        let error_rate = |s: &SideSample| s.error_rate().map(|r| 100.0 * r);
        // Warm requests: the cold starts are accepted (the reference
        // migration's ~1 %), so an operator leaves them out of the metric.
        let p99 = |s: &SideSample| s.latency_ms.quantile(0.99);
        let metrics: [(CheckName, &Metric, Unit); 2] =
            [(CheckName::ErrorRate, &error_rate, Unit::Percent), (CheckName::LatencyP99, &p99, Unit::Ms)];
        let mut checks = Vec::new();
        for (check, f, unit) in metrics {
            let (old, new) = (series(Side::Legacy, f), series(Side::Serverless, f));
            let (old_med, new_med) = (median(&old), median(&new));
            let beyond_tolerance = match (check, old_med, new_med) {
                (CheckName::ErrorRate, Some(o), Some(n)) => n > o + 0.5,
                (_, Some(o), Some(n)) => n > o * 1.25,
                _ => false,
            };
            let (verdict, why) = if old.len() < min_points || new.len() < min_points {
                // NoData: left out of the score.
                let why = format!("no data: {} and {} points, fewer than {min_points}", old.len(), new.len());
                (Verdict::Inconclusive, why)
            } else {
                let z = mann_whitney_z(&new, &old);
                // One-sided at 98 % confidence: z above 2.054.
                let high = z > 2.054 && beyond_tolerance;
                (if high { Verdict::Fail } else { Verdict::Pass }, format!("Mann–Whitney z {z:.2}"))
            };
            checks.push(result(check, verdict, new_med, old_med.unwrap_or(0.0), unit, why));
        }
        // The score: the share of the metrics with data that pass; under 75
        // the canary fails. With no metric judged there is no score: hold.
        let judged = checks.iter().filter(|c| c.verdict != Verdict::Inconclusive).count();
        let passing = checks.iter().filter(|c| c.verdict == Verdict::Pass).count();
        if judged > 0 && 100 * passing >= 75 * judged {
            checks.iter_mut().for_each(|c| c.verdict = c.verdict.min(Verdict::Pass));
        }
        checks
    }
}

/// One of a side's figures per minute (a Kayenta metric).
type Metric = dyn Fn(&SideSample) -> Option<f64>;

fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The normal approximation of the Mann–Whitney U statistic of `a` against
/// `b`, ties counted half and the variance corrected for them; positive when
/// `a` tends to be larger.
pub fn mann_whitney_z(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let mut all: Vec<(f64, bool)> = a.iter().map(|x| (*x, true)).chain(b.iter().map(|x| (*x, false))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut rank_sum_a, mut ties, mut i) = (0.0, 0.0, 0);
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_a += rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return 0.0;
    }
    (u - n1 * n2 / 2.0) / var.sqrt()
}

impl Judge for PeerJudge {
    fn begin_step(&mut self, _step: usize, _weight: Weight, _at: Timestamp) {
        // Flagger's failed checks and an Argo background analysis's failed
        // measurements count over the whole rollout, not per weight step.
        self.step = StepSamples::default();
        self.interval = Interval::default();
        self.latest.clear();
    }

    fn judge(&mut self, window: Window, m: &Measurement) -> Analysis {
        let samples = self.step.add(m);
        let length = match self.config {
            PeerConfig::Flagger { interval, .. }
            | PeerConfig::Argo { interval, .. }
            | PeerConfig::Kayenta { interval, .. } => interval,
        };
        if let Some(i) = self.interval.add(window, m, length) {
            self.latest = match self.config {
                PeerConfig::Flagger { threshold, min_requests, .. } => self.flagger(&i, threshold, min_requests),
                PeerConfig::Argo { failure_limit, consecutive_error_limit, .. } => {
                    self.argo(&i, failure_limit, consecutive_error_limit)
                }
                PeerConfig::Kayenta { min_points, .. } => self.kayenta(&i, min_points),
            };
        }
        let checks = if self.latest.is_empty() {
            let why = "the first interval is not over".to_string();
            vec![result(CheckName::ErrorRate, Verdict::Inconclusive, None, 0.0, Unit::Unitless, why)]
        } else {
            self.latest.clone()
        };
        Analysis::from_checks(window, samples, checks)
    }
}

/// The most eager configuration of `peer` that rolls back at most `max_rate`
/// of `runs` healthy runs (seeds from `seed_start`), or the most patient one.
pub fn tune(
    peer: Peer,
    plan: &Plan,
    scenario: &Scenario,
    runs: u64,
    seed_start: u64,
    max_rate: f64,
    threads: usize,
) -> (PeerConfig, f64) {
    let configs = grid(peer);
    let mut last = (configs[configs.len() - 1], 1.0);
    for config in configs {
        let make = move |_: &Plan| PeerJudge::new(config);
        let results = run_seeds(plan, scenario, seed_start..seed_start + runs, threads, &make, &|_| {});
        let false_rollbacks = results.iter().filter(|(_, r)| r.as_ref().is_ok_and(|(r, _)| r.false_rollback())).count();
        let rate = false_rollbacks as f64 / runs.max(1) as f64;
        last = (config, rate);
        if rate <= max_rate {
            break;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(new_requests: u64, new_errors: u64) -> Measurement {
        let mut m = Measurement::default();
        m.traffic.serverless = SideSample { requests: new_requests, errors: new_errors, ..Default::default() };
        m.traffic.serverless.latency_ms.record_n(30.0, (new_requests - new_errors) as u32);
        m
    }

    fn minute(n: u64) -> Window {
        Window { from: Timestamp(n * 60_000), to: Timestamp((n + 1) * 60_000) }
    }

    #[test]
    fn flagger_rolls_back_at_its_threshold_of_failed_checks() {
        let config = PeerConfig::Flagger { interval: Duration::from_secs(60), threshold: 2, min_requests: 5 };
        let mut j = PeerJudge::new(config);
        let verdicts: Vec<Verdict> = [(100, 0), (3, 1), (100, 5), (100, 0), (100, 5)]
            .iter()
            .enumerate()
            .map(|(n, (r, e))| j.judge(minute(n as u64), &window(*r, *e)).verdict)
            .collect();
        use Verdict::*;
        // 3 requests are under the minimum: not a check.
        assert_eq!(verdicts, [Pass, Inconclusive, Inconclusive, Pass, Fail]);
    }

    #[test]
    fn argo_counts_failures_past_its_limit_and_errors_in_a_row() {
        let config =
            PeerConfig::Argo { interval: Duration::from_secs(120), failure_limit: 1, consecutive_error_limit: 1 };
        let mut j = PeerJudge::new(config);
        let verdicts: Vec<Verdict> = [(50, 0), (50, 0), (50, 5), (50, 0), (0, 0), (0, 0), (50, 5), (50, 5)]
            .iter()
            .enumerate()
            .map(|(n, (r, e))| j.judge(minute(n as u64), &window(*r, *e)).verdict)
            .collect();
        use Verdict::*;
        assert_eq!(verdicts, [Inconclusive, Pass, Pass, Inconclusive, Inconclusive, Inconclusive, Inconclusive, Fail]);
    }

    #[test]
    fn mann_whitney_sees_a_shift_and_not_noise() {
        let a: Vec<f64> = (0..30).map(|i| f64::from(i) + 10.0).collect();
        let b: Vec<f64> = (0..30).map(f64::from).collect();
        assert!(mann_whitney_z(&a, &b) > 2.054);
        assert!(mann_whitney_z(&b, &a) < -2.054);
        assert!(mann_whitney_z(&b, &b).abs() < 1e-9);
        assert_eq!(mann_whitney_z(&[0.0; 5], &[0.0; 5]), 0.0, "all ties: no evidence");
    }
}
