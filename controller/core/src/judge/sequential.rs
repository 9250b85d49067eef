//! The sequential judge: anytime-valid tests on every request, restarted at
//! each step, so the engine may look after every window without inflating
//! the chance of rolling back a healthy cutover.
//!
//! Each check is an e-process: a nonnegative supermartingale under "the new
//! side is no worse", built as a mixture of likelihood ratios over a grid of
//! one-sided alternatives. By Ville's inequality the chance that it *ever*
//! reaches `1 / a` under the null is at most `a`, however often it is looked
//! at. The plan's `alpha` is split evenly across steps, and within a step
//! half to `error_rate` and a sixth to each latency and cold-start check; the
//! union bound keeps the whole cutover's false-rollback chance under
//! `alpha`. The tests restart at each step; a check fails the first time its
//! e-value reaches its threshold and stays failed for the step. Each
//! likelihood ratio is floored (see [`Floored`]) so that a regression that
//! starts late in a long, healthy step is not buried under hours of evidence
//! for the null; the floor costs `ln 4` on the threshold.
//!
//! - `error_rate` (Lindon & Malek's count test): given that a window's
//!   stratum (user traffic, or probes) saw `e` errors, under the null each
//!   lands on the new side with probability `p0 = n_new / (n_new + n_old)`,
//!   its share of the stratum's requests. Conditioning on the window makes
//!   the test immune to the error rate drifting over the day. Alternatives
//!   are odds ratios 1.5–30. It is averaged with an *availability* test
//!   (the average of two e-processes is one): null "the new side's error
//!   rate is at most the old side's (cutover so far, per stratum) plus
//!   5 pp", alternatives 50 % and 90 %, ~3 nats per failed request during
//!   an outage. A fail also needs the step's observed increase to reach
//!   `max_increase_pp`, so a significant but negligible increase never
//!   rolls back.
//! - `latency_p50`, `latency_p99`: the allowance is the old side's quantile
//!   (from all legacy user requests of the cutover so far, fixed before each
//!   window) widened by `max_ratio` / `max_extra_ms`. Under the null at most
//!   `1 - q` of new-side warm requests exceed it; the test is a one-sided
//!   mixture SPRT on that share (alternatives 1.5–10× it).
//! - `cold_start_p99`: the same test on the share of cold starts slower than
//!   `max_p99_ms` (null: at most 1 %).
//!
//! **Pass** means: at least `min_samples` requests on each side in this step
//! (and, for latency, at least `min_samples` warm new-side requests and a
//! baseline of 1000 old-side ones), and no check's e-value has reached its
//! threshold. Too few samples is Inconclusive — but a Fail needs no minimum:
//! the e-value is valid at any sample size, which is what lets an outage at a
//! 1 % step roll back within minutes.

use super::*;
use crate::measure::{Histogram, SideSample};
use crate::plan::{LatencyCheck, Plan};

/// Odds ratios (new-side error rate / old-side) the error test bets on.
const ERROR_ODDS: [f64; 6] = [1.5, 2.0, 3.0, 5.0, 10.0, 30.0];
/// Error rates the availability test bets on, and the margin over the old
/// side's rate that its null allows.
const OUTAGE_RATES: [f64; 2] = [0.5, 0.9];
const OUTAGE_MARGIN: f64 = 0.05;
/// Alternatives of the exceedance tests, as multiples of the null share.
const EXCEED_MULTIPLES: [f64; 5] = [1.5, 2.0, 3.0, 5.0, 10.0];
/// Old-side warm requests needed before its quantiles are trusted.
pub const BASELINE_MIN: u64 = 1000;
/// The e-values reported are capped here (they only need to say "huge").
const E_VALUE_MAX: f64 = 1e12;

/// Shares of each step's alpha, per check.
const SHARE_ERRORS: f64 = 0.5;
const SHARE_LATENCY_P50: f64 = 1.0 / 6.0;
const SHARE_LATENCY_P99: f64 = 1.0 / 6.0;
const SHARE_COLD_START: f64 = 1.0 / 6.0;

/// `ln(Σ exp(x_k) / K)`: the log of an equal-weight mixture.
fn log_mean_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + (xs.iter().map(|x| (x - max).exp()).sum::<f64>() / xs.len() as f64).ln()
}

/// Log-likelihood ratios of `K` alternatives, each floored at `-floor` nats.
///
/// A plain mixture started at the step's beginning is useless for a change
/// that comes late: hours of healthy requests bury each component tens or
/// hundreds of nats deep (we measured -160 for `latency_p50` thirty minutes
/// into the 10 % step). Flooring bounds the burial. It costs little: with
/// `D_t` the mixture of the floored ratios, `E[D_t | past] <= D_(t-1) +
/// e^-floor` under the null, so `D_t + (T - t) e^-floor` is a nonnegative
/// supermartingale up to window `T`, and Ville's inequality gives
/// `P(max D_t >= h) <= (1 + T e^-floor) / h`. See [`floored_log_threshold`].
#[derive(Clone, Debug)]
pub(crate) struct Floored<const K: usize> {
    log_lr: [f64; K],
    floor: f64,
}

impl<const K: usize> Floored<K> {
    pub(crate) fn new(floor: f64) -> Self {
        Floored { log_lr: [0.0; K], floor }
    }

    fn add(&mut self, k: usize, inc: f64) {
        self.log_lr[k] = (self.log_lr[k] + inc).max(-self.floor);
    }

    pub(crate) fn log_e(&self) -> f64 {
        log_mean_exp(&self.log_lr)
    }
}

/// The threshold (in nats) a floored e-process with floor `ln(horizon)` must
/// reach after `windows` windows for a false alarm chance of at most `a`,
/// given `ln(1 / a)`. Windows are counted in blocks that double past the
/// horizon, block `k` getting `a / 2^(k+1)`: `ln(2^(k+1) (1 + 2^k) / a)`, so
/// `ln(4 / a)` within the horizon and valid however long a step runs.
pub(crate) fn floored_log_threshold(log_one_over_a: f64, horizon: u64, windows: u64) -> f64 {
    let (t, n) = (horizon.max(1) as f64, windows as f64);
    let k = if n <= t { 0.0 } else { (n / t).log2().ceil() };
    log_one_over_a + (k + 1.0) * std::f64::consts::LN_2 + (1.0 + k.exp2()).ln()
}

/// Lindon–Malek: where do a window's errors land?
#[derive(Clone, Debug)]
pub(crate) struct ErrorCountTest {
    ev: Floored<{ ERROR_ODDS.len() }>,
}

impl ErrorCountTest {
    pub(crate) fn new(floor: f64) -> Self {
        ErrorCountTest { ev: Floored::new(floor) }
    }

    /// One stratum of one window: requests and errors per side.
    pub(crate) fn observe(&mut self, n_old: u64, e_old: u64, n_new: u64, e_new: u64) {
        if n_old == 0 || n_new == 0 || e_old + e_new == 0 {
            return; // no information about where errors land
        }
        let (n_old, n_new) = (n_old as f64, n_new as f64);
        let p0 = n_new / (n_new + n_old);
        for (k, theta) in ERROR_ODDS.into_iter().enumerate() {
            let p1 = theta * n_new / (theta * n_new + n_old);
            self.ev.add(k, e_new as f64 * (p1 / p0).ln() + e_old as f64 * ((1.0 - p1) / (1.0 - p0)).ln());
        }
    }

    pub(crate) fn log_e(&self) -> f64 {
        self.ev.log_e()
    }
}

/// Is the new side plainly broken? Null: its error rate is at most `r0`.
#[derive(Clone, Debug)]
pub(crate) struct AvailabilityTest {
    ev: Floored<{ OUTAGE_RATES.len() }>,
}

impl AvailabilityTest {
    pub(crate) fn new(floor: f64) -> Self {
        AvailabilityTest { ev: Floored::new(floor) }
    }

    /// `e` of `n` new-side requests failed; `r0` bounds the rate under the null.
    pub(crate) fn observe(&mut self, n: u64, e: u64, r0: f64) {
        let (n, e) = (n as f64, e.min(n) as f64);
        for (k, r1) in OUTAGE_RATES.into_iter().enumerate() {
            if r1 > r0 {
                self.ev.add(k, e * (r1 / r0).ln() + (n - e) * ((1.0 - r1) / (1.0 - r0)).ln());
            }
        }
    }

    pub(crate) fn log_e(&self) -> f64 {
        self.ev.log_e()
    }
}

/// One-sided mixture SPRT for a Bernoulli share: null `share <= null`.
#[derive(Clone, Debug)]
pub(crate) struct ExceedanceTest {
    null: f64,
    alts: [f64; EXCEED_MULTIPLES.len()],
    ev: Floored<{ EXCEED_MULTIPLES.len() }>,
}

impl ExceedanceTest {
    pub(crate) fn new(null: f64, floor: f64) -> Self {
        let alts = EXCEED_MULTIPLES.map(|m| (null * m).min(0.5 * (1.0 + null)).max(null + 1e-9));
        ExceedanceTest { null, alts, ev: Floored::new(floor) }
    }

    /// `k` of `n` new observations exceeded the allowance.
    pub(crate) fn observe(&mut self, n: u64, k: u64) {
        let (n, k) = (n as f64, k.min(n) as f64);
        for (i, p1) in self.alts.into_iter().enumerate() {
            self.ev.add(i, k * (p1 / self.null).ln() + (n - k) * ((1.0 - p1) / (1.0 - self.null)).ln());
        }
    }

    pub(crate) fn log_e(&self) -> f64 {
        self.ev.log_e()
    }
}

/// Sample sizes and estimates of the current step.
#[derive(Clone, Debug, Default)]
struct StepTotals {
    /// Traffic and probes together, per side.
    totals: PerSide<SideSample>,
    /// New-side warm user requests, for the new side's quantile estimates.
    new_warm: Histogram,
}

/// The tests of the current step. They restart at each step (a union over
/// the steps' alphas): measured on the benchmark, a fresh start at each step
/// detects a regression that begins early in a step ~20 % sooner than one
/// floored test over the whole cutover, which pays `ln(plan windows)` of
/// burial once and keeps evidence across steps.
#[derive(Clone, Debug)]
struct Evidence {
    errors: ErrorCountTest,
    availability: AvailabilityTest,
    p50: ExceedanceTest,
    p99: ExceedanceTest,
    cold: ExceedanceTest,
    /// `log_e` at the moment each check failed; a failed check stays failed.
    failed: [Option<f64>; 4],
    /// Windows judged, and the horizon the floors are sized for.
    windows: u64,
    horizon: u64,
}

impl Evidence {
    /// `planned_windows`: the step's hold in windows. The floors' horizon is
    /// four times that; past it the thresholds rise (see [`floored_log_threshold`]).
    fn new(planned_windows: u64) -> Self {
        let horizon = 4 * planned_windows.max(1);
        let floor = (horizon as f64).ln();
        Evidence {
            errors: ErrorCountTest::new(floor),
            availability: AvailabilityTest::new(floor),
            p50: ExceedanceTest::new(0.5, floor),
            p99: ExceedanceTest::new(0.01, floor),
            cold: ExceedanceTest::new(0.01, floor),
            failed: [None; 4],
            windows: 0,
            horizon,
        }
    }
}

/// The judge the controller uses. See the module docs for the method.
#[derive(Clone, Debug)]
pub struct SequentialJudge {
    guardrails: crate::plan::Guardrails,
    /// `ln(1 / alpha_check_step)` for errors, p50, p99, cold starts.
    log_one_over_a: [f64; 4],
    step: StepTotals,
    ev: Evidence,
    /// The old side's warm user latency over the whole cutover: the baseline
    /// survives steps because the old side does not change.
    baseline: Histogram,
    /// The old side's requests and errors over the whole cutover, per
    /// stratum (user traffic, probes): the availability test's null.
    baseline_errors: [(u64, u64); 2],
    /// Each step's hold in windows.
    step_windows: Vec<u64>,
}

impl SequentialJudge {
    pub fn new(plan: &Plan) -> Self {
        let g = plan.guardrails;
        let per_step = g.alpha / plan.schedule.steps.len().max(1) as f64;
        let log_one_over_a =
            [SHARE_ERRORS, SHARE_LATENCY_P50, SHARE_LATENCY_P99, SHARE_COLD_START].map(|s| (1.0 / (per_step * s)).ln());
        let windows = |d: std::time::Duration| (d.as_millis() / plan.guardrails.interval.as_millis().max(1)) as u64;
        SequentialJudge {
            guardrails: g,
            log_one_over_a,
            step: StepTotals::default(),
            ev: Evidence::new(1),
            baseline: Histogram::default(),
            baseline_errors: [(0, 0); 2],
            step_windows: plan.schedule.steps.iter().map(|s| windows(s.hold)).collect(),
        }
    }

    /// The threshold (nats) of check `i` (errors, p50, p99, cold starts) now.
    fn log_threshold(&self, i: usize) -> f64 {
        floored_log_threshold(self.log_one_over_a[i], self.ev.horizon, self.ev.windows)
    }

    fn latch(&mut self, i: usize, log_e: f64, extra_condition: bool) -> Option<f64> {
        if self.ev.failed[i].is_none() && log_e >= self.log_threshold(i) && extra_condition {
            self.ev.failed[i] = Some(log_e);
        }
        self.ev.failed[i]
    }

    fn error_check(&mut self, samples: PerSide<u64>) -> CheckResult {
        let g = self.guardrails;
        let rate = |s: &SideSample| s.error_rate().map(|r| r * 100.0);
        let (old, new) = (rate(&self.step.totals.legacy), rate(&self.step.totals.serverless));
        let increase = old.zip(new).map(|(o, n)| n - o);
        let material = increase.is_some_and(|d| d >= g.errors.max_increase_pp);
        // The average of the two e-processes is one.
        let (count, outage) = (self.ev.errors.log_e(), self.ev.availability.log_e());
        let log_e = log_mean_exp(&[count, outage]);
        let failed = self.latch(0, log_e, material);
        let enough = samples.legacy >= g.min_samples && samples.serverless >= g.min_samples;
        let (verdict, reason) = match (failed, increase) {
            (Some(at), d) => (
                Verdict::Fail,
                format!(
                    "error rate {:+.2} pp{}, e-value {:.3e} reached {:.3e}",
                    d.unwrap_or(0.0),
                    if outage > count { " (outage)" } else { "" },
                    at.exp().min(E_VALUE_MAX),
                    self.log_threshold(0).exp()
                ),
            ),
            (None, _) if !enough => (Verdict::Inconclusive, format!("fewer than {} requests on a side", g.min_samples)),
            (None, d) => (Verdict::Pass, format!("error rate {:+.2} pp, no evidence of regression", d.unwrap_or(0.0))),
        };
        CheckResult {
            check: CheckName::ErrorRate,
            verdict,
            critical: g.errors.critical,
            legacy: old,
            serverless: new,
            limit: old.map(|o| o + g.errors.max_increase_pp),
            unit: "percent".into(),
            samples,
            reason,
            e_value: Some(log_e.exp().min(E_VALUE_MAX)),
            e_threshold: Some(self.log_threshold(0).exp()),
        }
    }

    /// `old`: the old side's quantile this window was judged against.
    fn latency_check(
        &mut self,
        check: CheckName,
        q: f64,
        i: usize,
        limits: LatencyCheck,
        old: Option<f64>,
    ) -> CheckResult {
        let min = self.guardrails.min_samples;
        let new = self.step.new_warm.quantile(q);
        let log_e = if i == 1 { self.ev.p50.log_e() } else { self.ev.p99.log_e() };
        let failed = self.latch(i, log_e, true);
        let samples = PerSide { legacy: self.baseline.count(), serverless: self.step.new_warm.count() };
        let limit = old.map(|o| limits.allowance(o));
        let name = check.as_str();
        let (verdict, reason) = match (failed, new, limit) {
            (Some(at), _, _) => (
                Verdict::Fail,
                format!(
                    "{name}: too many new-side requests over the allowance; e-value {:.3e} reached {:.3e}",
                    at.exp(),
                    self.log_threshold(i).exp()
                ),
            ),
            (None, _, None) => {
                (Verdict::Inconclusive, format!("fewer than {BASELINE_MIN} old-side requests for a baseline"))
            }
            (None, _, _) if samples.serverless < min => {
                (Verdict::Inconclusive, format!("fewer than {min} warm new-side requests"))
            }
            (None, new, Some(limit)) => (
                Verdict::Pass,
                format!("{name} {:.1} ms, allowance {limit:.1} ms, no evidence of regression", new.unwrap_or(0.0)),
            ),
        };
        CheckResult {
            check,
            verdict,
            critical: limits.critical,
            legacy: old,
            serverless: new,
            limit,
            unit: "ms".into(),
            samples,
            reason,
            e_value: Some(log_e.exp().min(E_VALUE_MAX)),
            e_threshold: Some(self.log_threshold(i).exp()),
        }
    }

    fn cold_start_check(&mut self) -> CheckResult {
        let c = self.guardrails.cold_start;
        let cold = &self.step.totals.serverless;
        let p99 = cold.cold_latency_ms.quantile(0.99);
        let n = cold.cold_starts;
        let log_e = self.ev.cold.log_e();
        let failed = self.latch(3, log_e, true);
        let (verdict, reason) = match (failed, p99) {
            (Some(at), _) => (
                Verdict::Fail,
                format!(
                    "more than 1 % of cold starts over {:.0} ms; e-value {:.3e} reached {:.3e}",
                    c.max_p99_ms,
                    at.exp(),
                    self.log_threshold(3).exp()
                ),
            ),
            (None, Some(p)) => (
                Verdict::Pass,
                format!("cold-start p99 {p:.0} ms over {n} cold starts, no evidence over {:.0} ms", c.max_p99_ms),
            ),
            (None, None) => (Verdict::Pass, "no cold starts".into()),
        };
        CheckResult {
            check: CheckName::ColdStartP99,
            verdict,
            critical: c.critical,
            legacy: None,
            serverless: p99,
            limit: Some(c.max_p99_ms),
            unit: "ms".into(),
            samples: PerSide { legacy: self.step.totals.legacy.cold_starts, serverless: n },
            reason,
            e_value: Some(log_e.exp().min(E_VALUE_MAX)),
            e_threshold: Some(self.log_threshold(3).exp()),
        }
    }
}

impl Judge for SequentialJudge {
    fn reset(&mut self) {
        self.step = StepTotals::default();
        self.ev = Evidence::new(1);
        self.baseline = Histogram::default();
        self.baseline_errors = [(0, 0); 2];
    }

    fn baseline(&mut self, _window: Window, m: &Measurement) {
        self.baseline.merge(&m.traffic.legacy.latency_ms);
        for (i, stratum) in [&m.traffic, &m.probes].into_iter().enumerate() {
            self.baseline_errors[i].0 += stratum.legacy.requests;
            self.baseline_errors[i].1 += stratum.legacy.errors;
        }
    }

    fn begin_step(&mut self, step: usize, _weight: Weight, _at: Timestamp) {
        self.step = StepTotals::default();
        self.ev = Evidence::new(self.step_windows.get(step).copied().unwrap_or(1));
    }

    fn judge(&mut self, window: Window, m: &Measurement) -> Analysis {
        let g = self.guardrails;
        // Errors: user traffic and probes are separate strata (their error
        // rates may differ; each is fair between the sides).
        for (i, stratum) in [&m.traffic, &m.probes].into_iter().enumerate() {
            let (old, new) = (&stratum.legacy, &stratum.serverless);
            self.ev.errors.observe(old.requests, old.errors, new.requests, new.errors);
            // The old side's rate so far (before this window), smoothed.
            let (n, e) = self.baseline_errors[i];
            let r0 = ((e as f64 + 1.0) / (n as f64 + 2.0) + OUTAGE_MARGIN).min(0.99);
            self.ev.availability.observe(new.requests, new.errors, r0);
            self.baseline_errors[i].0 += old.requests;
            self.baseline_errors[i].1 += old.errors;
        }
        self.ev.windows += 1;
        // Latency: against the baseline as it stood before this window.
        let trusted = self.baseline.count() >= BASELINE_MIN;
        let old_p50 = self.baseline.quantile(0.5).filter(|_| trusted);
        let old_p99 = self.baseline.quantile(0.99).filter(|_| trusted);
        let new = &m.traffic.serverless.latency_ms;
        for (old, limits, test) in
            [(old_p50, g.latency_p50, &mut self.ev.p50), (old_p99, g.latency_p99, &mut self.ev.p99)]
        {
            if let Some(old) = old {
                test.observe(new.count(), new.count_above(limits.allowance(old)));
            }
        }
        self.baseline.merge(&m.traffic.legacy.latency_ms);
        self.step.new_warm.merge(&m.traffic.serverless.latency_ms);
        // Cold starts, user traffic and probes alike.
        for stratum in [&m.traffic, &m.probes] {
            let cold = &stratum.serverless.cold_latency_ms;
            self.ev.cold.observe(cold.count(), cold.count_above(g.cold_start.max_p99_ms));
        }
        for side in Side::BOTH {
            self.step.totals.get_mut(side).merge(&m.combined(side));
        }

        let samples =
            PerSide { legacy: self.step.totals.legacy.requests, serverless: self.step.totals.serverless.requests };
        let checks = vec![
            self.error_check(samples),
            self.latency_check(CheckName::LatencyP50, 0.5, 1, g.latency_p50, old_p50),
            self.latency_check(CheckName::LatencyP99, 0.99, 2, g.latency_p99, old_p99),
            self.cold_start_check(),
        ];
        Analysis::from_checks(window, samples, checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_test_matches_the_binomial_likelihood_ratio() {
        // Equal traffic (p0 = 1/2), 3 errors on the new side, none on the old:
        // each odds ratio t bets p1 = t / (t + 1), so LR = (2t / (t + 1))^3.
        let mut t = ErrorCountTest::new(f64::INFINITY);
        t.observe(500, 0, 500, 3);
        let expected = ERROR_ODDS.iter().map(|t| (2.0 * t / (t + 1.0)).powi(3)).sum::<f64>() / 6.0;
        assert!((t.log_e().exp() - expected).abs() < 1e-9, "{} vs {expected}", t.log_e().exp());
        // An error on the old side is evidence the other way.
        let mut u = ErrorCountTest::new(f64::INFINITY);
        u.observe(500, 3, 500, 0);
        assert!(u.log_e() < 0.0);
        // Windows without errors or without traffic on a side say nothing.
        let mut v = ErrorCountTest::new(f64::INFINITY);
        v.observe(500, 0, 500, 0);
        v.observe(0, 2, 500, 2);
        assert_eq!(v.log_e(), 0.0);
    }

    #[test]
    fn the_exceedance_test_matches_the_bernoulli_likelihood_ratio() {
        // 5 of 100 over the allowance; null 1 %, alternatives 1.5 %..10 %.
        let mut t = ExceedanceTest::new(0.01, f64::INFINITY);
        t.observe(100, 5);
        let lr = |p: f64| (p / 0.01f64).powi(5) * ((1.0 - p) / 0.99f64).powi(95);
        let expected = [0.015, 0.02, 0.03, 0.05, 0.1].map(lr).iter().sum::<f64>() / 5.0;
        assert!((t.log_e().exp() / expected - 1.0).abs() < 1e-9, "{} vs {expected}", t.log_e().exp());
    }

    #[test]
    fn the_p50_alternatives_stay_below_one() {
        let t = ExceedanceTest::new(0.5, f64::INFINITY);
        assert!(t.alts.iter().all(|p| *p > 0.5 && *p < 1.0), "{:?}", t.alts);
    }

    /// Ville's inequality, checked: under the null the e-process reaches
    /// 1 / a at *any* of many looks in at most a fraction a of sequences.
    #[test]
    fn under_the_null_the_error_test_rarely_ever_crosses() {
        let a: f64 = 0.05;
        let runs = 4000;
        let mut crossed = 0;
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..runs {
            let mut t = ErrorCountTest::new(f64::INFINITY);
            // 300 windows of 20 old / 5 new requests, 2 % errors on both sides.
            let hit = (0..300).any(|_| {
                let e_old = (0..20).filter(|_| uniform() < 0.02).count() as u64;
                let e_new = (0..5).filter(|_| uniform() < 0.02).count() as u64;
                t.observe(20, e_old, 5, e_new);
                t.log_e() >= (1.0 / a).ln()
            });
            crossed += usize::from(hit);
        }
        let rate = crossed as f64 / runs as f64;
        assert!(rate <= a, "crossed in {rate} of null runs, bound {a}");
        assert!(rate > 0.0, "a test that never crosses under the null has no power either");
    }

    /// The floored version keeps its promise too, with its own threshold,
    /// over more windows than its horizon.
    #[test]
    fn under_the_null_the_floored_test_rarely_ever_crosses() {
        let a: f64 = 0.05;
        let (runs, windows, horizon) = (4000, 400, 100);
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let crossed = (0..runs)
            .filter(|_| {
                let mut t = ExceedanceTest::new(0.1, (horizon as f64).ln());
                (1..=windows).any(|n| {
                    let k = (0..10).filter(|_| uniform() < 0.1).count() as u64;
                    t.observe(10, k);
                    t.log_e() >= floored_log_threshold((1.0 / a).ln(), horizon, n)
                })
            })
            .count();
        let rate = crossed as f64 / runs as f64;
        assert!(rate <= a, "crossed in {rate} of null runs, bound {a}");
    }

    #[test]
    fn floored_thresholds_grow_only_past_the_horizon() {
        let base = 10.0;
        assert!((floored_log_threshold(base, 100, 1) - (base + 4f64.ln())).abs() < 1e-12);
        assert_eq!(floored_log_threshold(base, 100, 100), floored_log_threshold(base, 100, 1));
        let past = floored_log_threshold(base, 100, 101);
        assert!((past - (base + 4f64.ln() + 3f64.ln() - 2f64.ln() + 2f64.ln())).abs() < 1e-12, "{past}");
    }

    #[test]
    fn an_outage_at_a_one_percent_step_fails_within_a_few_windows() {
        let plan = Plan::default_plan();
        let mut j = SequentialJudge::new(&plan);
        let w = Window { from: Timestamp(0), to: Timestamp(60_000) };
        let mut m = Measurement::default();
        m.traffic.legacy = SideSample { requests: 70, errors: 0, ..Default::default() };
        m.probes.legacy = SideSample { requests: 1, errors: 0, ..Default::default() };
        m.probes.serverless = SideSample { requests: 1, errors: 1, ..Default::default() };
        m.traffic.serverless = SideSample { requests: 1, errors: 1, ..Default::default() };
        let verdicts: Vec<Verdict> = (0..5).map(|_| j.judge(w, &m).verdict).collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Fail), "{verdicts:?}");
        assert!(verdicts.iter().position(|v| *v == Verdict::Fail).unwrap() <= 2, "{verdicts:?}");
    }
}
