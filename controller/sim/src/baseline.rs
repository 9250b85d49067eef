//! Peer-style judges, for the benchmark only: the controller never uses them.
//!
//! Both look at one window at a time, as their originals do, and at the new
//! side only. Their failures are critical: they roll back at once.

use cutover_core::judge::{Analysis, CheckName, CheckResult, Judge, Verdict};
use cutover_core::measure::{Measurement, PerSide, Side, Window};
use cutover_core::plan::Plan;
use cutover_core::units::{Timestamp, Weight};

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

fn check(check: CheckName, verdict: Verdict, new: Option<f64>, limit: f64, unit: &str, reason: String) -> CheckResult {
    CheckResult { verdict, serverless: new, limit: Some(limit), reason, ..CheckResult::new(check, true, unit) }
}

/// Flagger-style: each 1-minute window, the new side's success rate must be
/// at least 99 % and its p99 at most a fixed number of ms; one failed check
/// (Flagger's `threshold: 1`) rolls back. A window without requests holds.
#[derive(Clone, Debug)]
pub struct FlaggerJudge {
    min_success_pct: f64,
    max_p99_ms: f64,
    step: StepSamples,
}

impl FlaggerJudge {
    /// 99 % success and p99 ≤ 500 ms (Flagger's documented example values).
    pub fn new(_plan: &Plan) -> Self {
        FlaggerJudge { min_success_pct: 99.0, max_p99_ms: 500.0, step: StepSamples::default() }
    }
}

impl Judge for FlaggerJudge {
    fn begin_step(&mut self, _step: usize, _weight: Weight, _at: Timestamp) {
        self.step = StepSamples::default();
    }

    fn judge(&mut self, window: Window, m: &Measurement) -> Analysis {
        let samples = self.step.add(m);
        let new = m.combined(Side::Serverless);
        let success = new.error_rate().map(|r| 100.0 * (1.0 - r));
        let p99 = new.latency_ms.quantile(0.99);
        let verdict_of = |ok: Option<bool>| match ok {
            None => Verdict::Inconclusive,
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Fail,
        };
        let checks = vec![
            check(
                CheckName::ErrorRate,
                verdict_of(success.map(|s| s >= self.min_success_pct)),
                success,
                self.min_success_pct,
                "percent success",
                format!("request-success-rate {success:?} vs {} %", self.min_success_pct),
            ),
            check(
                CheckName::LatencyP99,
                verdict_of(p99.map(|p| p <= self.max_p99_ms)),
                p99,
                self.max_p99_ms,
                "ms",
                format!("request-duration p99 {p99:?} vs {} ms", self.max_p99_ms),
            ),
        ];
        Analysis::from_checks(window, samples, checks)
    }
}

/// CloudWatch-alarm-style: the new side's error rate per 1-minute period,
/// breaching above 1 %; 3 of 3 datapoints breaching raise the alarm, which
/// rolls back (as CodeDeploy does). Missing data is not breaching.
#[derive(Clone, Debug)]
pub struct AlarmJudge {
    max_error_pct: f64,
    datapoints: u32,
    breaching_in_a_row: u32,
    step: StepSamples,
}

impl AlarmJudge {
    pub fn new(_plan: &Plan) -> Self {
        AlarmJudge { max_error_pct: 1.0, datapoints: 3, breaching_in_a_row: 0, step: StepSamples::default() }
    }
}

impl Judge for AlarmJudge {
    fn begin_step(&mut self, _step: usize, _weight: Weight, _at: Timestamp) {
        self.step = StepSamples::default();
        self.breaching_in_a_row = 0;
    }

    fn judge(&mut self, window: Window, m: &Measurement) -> Analysis {
        let samples = self.step.add(m);
        let rate = m.combined(Side::Serverless).error_rate().map(|r| 100.0 * r);
        let breaching = rate.is_some_and(|r| r > self.max_error_pct);
        self.breaching_in_a_row = if breaching { self.breaching_in_a_row + 1 } else { 0 };
        let alarm = self.breaching_in_a_row >= self.datapoints;
        let verdict = match (alarm, rate) {
            (true, _) => Verdict::Fail,
            (false, None) => Verdict::Inconclusive,
            (false, Some(_)) => Verdict::Pass,
        };
        let reason =
            format!("error rate {rate:?} %, {} of {} datapoints breaching", self.breaching_in_a_row, self.datapoints);
        let checks = vec![check(CheckName::ErrorRate, verdict, rate, self.max_error_pct, "percent", reason)];
        Analysis::from_checks(window, samples, checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_core::measure::SideSample;

    fn window(new_requests: u64, new_errors: u64) -> Measurement {
        let mut m = Measurement::default();
        m.traffic.serverless = SideSample { requests: new_requests, errors: new_errors, ..Default::default() };
        m.traffic.serverless.latency_ms.record_n(30.0, (new_requests - new_errors) as u32);
        m
    }

    const W: Window = Window { from: Timestamp(0), to: Timestamp(60_000) };

    #[test]
    fn flagger_fails_on_one_bad_minute() {
        let mut j = FlaggerJudge::new(&Plan::default_plan());
        assert_eq!(j.judge(W, &window(100, 0)).verdict, Verdict::Pass);
        let a = j.judge(W, &window(3, 1));
        assert_eq!(a.verdict, Verdict::Fail);
        assert!(a.critical);
        assert_eq!(j.judge(W, &window(0, 0)).verdict, Verdict::Inconclusive);
    }

    #[test]
    fn the_alarm_needs_three_breaching_minutes_in_a_row() {
        let mut j = AlarmJudge::new(&Plan::default_plan());
        let verdicts: Vec<Verdict> = [(10, 1), (10, 1), (0, 0), (10, 1), (10, 1), (10, 1)]
            .iter()
            .map(|(n, e)| j.judge(W, &window(*n, *e)).verdict)
            .collect();
        use Verdict::*;
        assert_eq!(verdicts, [Pass, Pass, Inconclusive, Pass, Pass, Fail]);
    }
}
