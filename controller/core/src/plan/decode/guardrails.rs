//! `[guardrails]`: the checks, their limits and the policies for no data and shared failure.

use super::{Decoder, Tbl};
use crate::plan::*;

impl Decoder<'_> {
    pub(super) fn guardrails(&mut self, mut t: Tbl) -> Option<Guardrails> {
        let d = Guardrails::default();
        let interval = self.duration(&mut t, "interval", "an interval");
        let min_samples = self.int_in(&mut t, "min_samples", 1, 1_000_000, "min_samples");
        let failure_limit = self.int_in(&mut t, "failure_limit", 1, 1000, "failure_limit");
        let alpha = self.num_in(&mut t, "alpha", 1e-9, 0.5, "alpha");
        let lookback = self.duration_up_to(
            &mut t,
            "lookback",
            "lookback (the old side's history before the start; \"0s\" for none)",
            true,
            LOOKBACK_MAX,
        );
        let errors = self.error_check(&mut t, "errors", d.errors);
        let client_errors = self.error_check(&mut t, "client_errors", d.client_errors);
        let (p50, p99) = match self.sub(&mut t, "latency") {
            Some(mut l) => {
                let p50 = self.latency(&mut l, "p50", d.latency_p50);
                let p99 = self.latency(&mut l, "p99", d.latency_p99);
                self.finish(l);
                (p50, p99)
            }
            None if t.get("latency").is_none() => (Some(d.latency_p50), Some(d.latency_p99)),
            None => (None, None),
        };
        let cold_start = match self.sub(&mut t, "cold_start") {
            Some(mut c) => {
                let max = self.num_in(&mut c, "max_p99_ms", 1.0, 900_000.0, "max_p99_ms");
                let share = self.num_in(&mut c, "max_share", 0.0001, 0.5, "max_share (a share: 0.05 is 5 %)");
                let critical = self.boolean(&mut c, "critical");
                self.finish(c);
                (|| {
                    Some(ColdStartCheck {
                        max_p99_ms: max?.unwrap_or(d.cold_start.max_p99_ms),
                        max_share: share?.unwrap_or(d.cold_start.max_share),
                        critical: critical?.unwrap_or(d.cold_start.critical),
                    })
                })()
            }
            None if t.get("cold_start").is_none() => Some(d.cold_start),
            None => None,
        };
        let no_data = match self.sub(&mut t, "no_data") {
            Some(mut n) => {
                let max_hold = self.duration(&mut n, "max_hold", "max_hold");
                let then = match self.string(&mut n, "then") {
                    None => None,
                    Some(None) => Some(d.no_data.then),
                    Some(Some(s)) => match s.as_str() {
                        "rollback" => Some(NoDataAction::Rollback),
                        "pause" => Some(NoDataAction::Pause),
                        _ => {
                            let span = n.get("then").map(|v| v.span()).unwrap_or_default();
                            self.problem(n.key_path("then"), &span, true, "expected \"rollback\" or \"pause\"");
                            None
                        }
                    },
                };
                self.finish(n);
                (|| Some(NoDataPolicy { max_hold: max_hold?.unwrap_or(d.no_data.max_hold), then: then? }))()
            }
            None if t.get("no_data").is_none() => Some(d.no_data),
            None => None,
        };
        let shared_failure = match self.sub(&mut t, "shared_failure") {
            Some(mut f) => {
                let max_hold = self.duration(&mut f, "max_hold", "max_hold");
                self.finish(f);
                max_hold.map(|h| SharedFailurePolicy { max_hold: h.unwrap_or(d.shared_failure.max_hold) })
            }
            None if t.get("shared_failure").is_none() => Some(d.shared_failure),
            None => None,
        };
        self.finish(t);
        Some(Guardrails {
            interval: interval?.unwrap_or(d.interval),
            min_samples: min_samples?.unwrap_or(d.min_samples),
            failure_limit: failure_limit?.unwrap_or(u64::from(d.failure_limit)) as u32,
            alpha: alpha?.unwrap_or(d.alpha),
            errors: errors?,
            client_errors: client_errors?,
            latency_p50: p50?,
            latency_p99: p99?,
            cold_start: cold_start?,
            no_data: no_data?,
            shared_failure: shared_failure?,
            lookback: lookback?.unwrap_or(d.lookback),
        })
    }

    /// An `[guardrails.errors]`-shaped table (`max_increase_pp`, `critical`),
    /// `default` where a key or the table is left out.
    pub(super) fn error_check(&mut self, t: &mut Tbl, key: &'static str, default: ErrorCheck) -> Option<ErrorCheck> {
        let Some(mut e) = self.sub(t, key) else {
            return t.get(key).is_none().then_some(default);
        };
        let pp = self.num_in(&mut e, "max_increase_pp", 0.0, 100.0, "max_increase_pp");
        let critical = self.boolean(&mut e, "critical");
        self.finish(e);
        // `?` inside a closure: a bad value here must not stop the tables
        // after it from being read and their problems reported.
        (|| {
            Some(ErrorCheck {
                max_increase_pp: pp?.unwrap_or(default.max_increase_pp),
                critical: critical?.unwrap_or(default.critical),
            })
        })()
    }

    pub(super) fn latency(&mut self, l: &mut Tbl, key: &'static str, default: LatencyCheck) -> Option<LatencyCheck> {
        let Some(mut c) = self.sub(l, key) else {
            return l.get(key).is_none().then_some(default);
        };
        let ratio = self.num_in(&mut c, "max_ratio", 1.0, 100.0, "max_ratio");
        let extra = self.num_in(&mut c, "max_extra_ms", 0.0, 600_000.0, "max_extra_ms");
        let critical = self.boolean(&mut c, "critical");
        let (span, path) = (c.span.clone(), c.path.clone());
        self.finish(c);
        let (ratio, extra) = (ratio?, extra?);
        if ratio.is_none() && extra.is_none() {
            self.problem(path, &span, false, "give max_ratio, max_extra_ms, or both");
            return None;
        }
        Some(LatencyCheck { max_ratio: ratio, max_extra_ms: extra, critical: critical?.unwrap_or(default.critical) })
    }
}
