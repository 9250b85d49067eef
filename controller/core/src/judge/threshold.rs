//! The plain judge: fixed thresholds over everything seen in the step.

use super::*;
use crate::measure::{Side, SideSample};
use crate::plan::{Guardrails, LatencyCheck};

/// The plain judge: fixed thresholds over everything seen since the step
/// began (ratios, extra ms, percentage points, minimum samples).
#[derive(Clone, Debug)]
pub struct ThresholdJudge {
    guardrails: Guardrails,
    step: PerSide<SideSample>,
}

impl ThresholdJudge {
    pub fn new(guardrails: Guardrails) -> Self {
        ThresholdJudge { guardrails, step: PerSide::default() }
    }

    fn error_rate(&self, samples: PerSide<u64>) -> CheckResult {
        let g = &self.guardrails;
        let rate = |s: &SideSample| s.error_rate().map(|r| r * 100.0);
        let (old, new) = (rate(&self.step.legacy), rate(&self.step.serverless));
        let limit = old.map(|o| o + g.errors.max_increase_pp);
        let (verdict, reason) = match (old, new, limit) {
            _ if samples.legacy < g.min_samples || samples.serverless < g.min_samples => {
                (Verdict::Inconclusive, format!("fewer than {} requests on a side", g.min_samples))
            }
            (Some(_), Some(new), Some(limit)) if new > limit => {
                (Verdict::Fail, format!("error rate {new:.2}% is over {limit:.2}%"))
            }
            (Some(_), Some(new), Some(limit)) => (Verdict::Pass, format!("error rate {new:.2}% is within {limit:.2}%")),
            _ => (Verdict::Inconclusive, "no requests".into()),
        };
        CheckResult {
            verdict,
            legacy: old,
            serverless: new,
            limit,
            samples,
            reason,
            ..CheckResult::new(CheckName::ErrorRate, g.errors.critical, Unit::Percent)
        }
    }

    fn latency(&self, check: CheckName, q: f64, limits: &LatencyCheck) -> CheckResult {
        let g = &self.guardrails;
        let samples = PerSide {
            legacy: self.step.legacy.latency_ms.count(),
            serverless: self.step.serverless.latency_ms.count(),
        };
        let old = self.step.legacy.latency_ms.quantile(q);
        let new = self.step.serverless.latency_ms.quantile(q);
        let limit = old.map(|o| limits.allowance(o));
        let (verdict, reason) = match (new, limit) {
            _ if samples.legacy < g.min_samples || samples.serverless < g.min_samples => {
                (Verdict::Inconclusive, format!("fewer than {} warm requests on a side", g.min_samples))
            }
            (Some(new), Some(limit)) if new > limit => {
                (Verdict::Fail, format!("{} {new:.1} ms is over {limit:.1} ms", check.as_str()))
            }
            (Some(new), Some(limit)) => {
                (Verdict::Pass, format!("{} {new:.1} ms is within {limit:.1} ms", check.as_str()))
            }
            _ => (Verdict::Inconclusive, "no warm requests".into()),
        };
        CheckResult {
            verdict,
            legacy: old,
            serverless: new,
            limit,
            samples,
            reason,
            ..CheckResult::new(check, limits.critical, Unit::Ms)
        }
    }

    fn cold_start(&self) -> CheckResult {
        let c = &self.guardrails.cold_start;
        let cold = &self.step.serverless;
        let p99 = cold.cold_latency_ms.quantile(0.99);
        let (verdict, reason) = match p99 {
            Some(p) if p > c.max_p99_ms => {
                (Verdict::Fail, format!("cold-start p99 {p:.0} ms is over {:.0} ms", c.max_p99_ms))
            }
            Some(p) => (Verdict::Pass, format!("cold-start p99 {p:.0} ms is within {:.0} ms", c.max_p99_ms)),
            None => (Verdict::Pass, "no cold starts".into()),
        };
        CheckResult {
            verdict,
            legacy: self.step.legacy.cold_latency_ms.quantile(0.99),
            serverless: p99,
            limit: Some(c.max_p99_ms),
            samples: PerSide { legacy: self.step.legacy.cold_starts, serverless: cold.cold_starts },
            reason,
            ..CheckResult::new(CheckName::ColdStartP99, c.critical, Unit::Ms)
        }
    }
}

impl Judge for ThresholdJudge {
    fn begin_step(&mut self, _step: usize, _weight: Weight, _at: Timestamp) {
        self.step = PerSide::default();
    }

    fn judge(&mut self, window: Window, m: &Measurement) -> Analysis {
        for side in Side::BOTH {
            self.step.get_mut(side).merge(&m.combined(side));
        }
        let samples = PerSide { legacy: self.step.legacy.requests, serverless: self.step.serverless.requests };
        let g = self.guardrails;
        let checks = vec![
            self.error_rate(samples),
            self.latency(CheckName::LatencyP50, 0.50, &g.latency_p50),
            self.latency(CheckName::LatencyP99, 0.99, &g.latency_p99),
            self.cold_start(),
        ];
        Analysis::from_checks(window, samples, checks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(requests: u64, errors: u64, latency_ms: f64) -> SideSample {
        let mut s = SideSample { requests, errors, ..Default::default() };
        s.latency_ms.record_n(latency_ms, requests as u32);
        s
    }

    fn window() -> Window {
        Window { from: Timestamp(0), to: Timestamp(60_000) }
    }

    fn judge(legacy: SideSample, serverless: SideSample) -> Analysis {
        let mut j = ThresholdJudge::new(Guardrails::default());
        let m = Measurement { traffic: PerSide { legacy, serverless }, ..Measurement::default() };
        j.judge(window(), &m)
    }

    #[test]
    fn healthy_sides_pass() {
        let a = judge(side(1000, 5, 38.0), side(100, 1, 31.0));
        assert_eq!(a.verdict, Verdict::Pass, "{a:#?}");
        assert_eq!(a.samples, PerSide { legacy: 1000, serverless: 100 });
    }

    #[test]
    fn too_few_samples_is_inconclusive_not_pass() {
        let a = judge(side(1000, 5, 38.0), side(10, 0, 31.0));
        assert_eq!(a.verdict, Verdict::Inconclusive);
    }

    #[test]
    fn error_increase_over_the_limit_fails_critically() {
        let a = judge(side(1000, 5, 38.0), side(100, 5, 31.0));
        assert_eq!(a.verdict, Verdict::Fail);
        assert!(a.critical);
        let e = &a.checks[0];
        assert_eq!(e.check, CheckName::ErrorRate);
        assert_eq!((e.legacy, e.serverless, e.limit), (Some(0.5), Some(5.0), Some(1.0)));
    }

    #[test]
    fn latency_fails_only_over_every_limit() {
        // p50 38 -> 45: ratio 1.18 and +7 ms: inside both.
        assert_eq!(judge(side(1000, 0, 38.0), side(100, 0, 45.0)).verdict, Verdict::Pass);
        // p50 38 -> 60: over ratio 1.25 (47.5) and over +10 ms (48).
        let a = judge(side(1000, 0, 38.0), side(100, 0, 60.0));
        assert_eq!(a.verdict, Verdict::Fail);
        assert!(!a.critical);
        // 1 ms -> 5 ms: 5x the ratio, but within +10 ms.
        assert_eq!(judge(side(1000, 0, 1.0), side(100, 0, 5.0)).verdict, Verdict::Pass);
    }

    #[test]
    fn evidence_accumulates_within_a_step_and_resets_on_begin_step() {
        let mut j = ThresholdJudge::new(Guardrails::default());
        let m = Measurement {
            traffic: PerSide { legacy: side(30, 0, 38.0), serverless: side(30, 0, 31.0) },
            ..Measurement::default()
        };
        assert_eq!(j.judge(window(), &m).verdict, Verdict::Inconclusive);
        assert_eq!(j.judge(window(), &m).verdict, Verdict::Pass);
        j.begin_step(1, Weight::FULL, Timestamp(0));
        assert_eq!(j.judge(window(), &m).verdict, Verdict::Inconclusive);
    }

    #[test]
    fn verdict_order_is_severity() {
        assert!(
            Verdict::Pass < Verdict::Inconclusive
                && Verdict::Inconclusive < Verdict::Error
                && Verdict::Error < Verdict::Fail
        );
    }
}
