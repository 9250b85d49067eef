//! What a measurement of one window says about each side.
//!
//! Every source (CloudWatch, X-Ray, probes, the local edge, the simulator) is
//! normalised into these types once, at its adapter: latency in milliseconds,
//! counts as counts. Missing data is a [`MeasureError`], never zeros.

use serde::{Deserialize, Serialize};

use crate::units::Timestamp;

/// The two backends behind the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// ALB → EC2 (Express): where traffic is today.
    Legacy,
    /// API Gateway → Lambda: where traffic is going.
    Serverless,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerSide<T> {
    pub legacy: T,
    pub serverless: T,
}

impl<T> PerSide<T> {
    pub fn get(&self, side: Side) -> &T {
        match side {
            Side::Legacy => &self.legacy,
            Side::Serverless => &self.serverless,
        }
    }

    pub fn get_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Legacy => &mut self.legacy,
            Side::Serverless => &mut self.serverless,
        }
    }
}

/// A half-open span of time `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Log-bucketed latency histogram: ~2 % relative error from 0.1 ms to 10 min,
/// mergeable, fixed size. Quantiles are read at a bucket's geometric middle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
}

const BUCKET_GROWTH: f64 = 1.04;
const BUCKET_MIN_MS: f64 = 0.1;
const BUCKETS: usize = 400;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl Histogram {
    fn bucket(ms: f64) -> usize {
        if ms.is_nan() || ms <= BUCKET_MIN_MS {
            return 0;
        }
        let i = ((ms / BUCKET_MIN_MS).ln() / BUCKET_GROWTH.ln()) as usize;
        i.min(BUCKETS - 1)
    }

    fn bucket_value(i: usize) -> f64 {
        BUCKET_MIN_MS * BUCKET_GROWTH.powf(i as f64 + 0.5)
    }

    pub fn record(&mut self, ms: f64) {
        self.record_n(ms, 1);
    }

    pub fn record_n(&mut self, ms: f64, n: u32) {
        let b = &mut self.counts[Self::bucket(ms)];
        *b = b.saturating_add(n);
        self.total += u64::from(n);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q`-quantile (0..=1) in ms; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(Self::bucket_value(i));
            }
        }
        Some(Self::bucket_value(BUCKETS - 1))
    }
}

/// What one side did in a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SideSample {
    pub requests: u64,
    /// 5xx answers and requests that got no answer.
    pub errors: u64,
    /// Warm requests only; cold starts are kept apart.
    pub latency_ms: Histogram,
    pub cold_starts: u64,
    pub cold_latency_ms: Histogram,
}

impl SideSample {
    pub fn merge(&mut self, other: &SideSample) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.latency_ms.merge(&other.latency_ms);
        self.cold_starts += other.cold_starts;
        self.cold_latency_ms.merge(&other.cold_latency_ms);
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
}

/// One window's evidence: user traffic and the controller's own probes, per side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub traffic: PerSide<SideSample>,
    /// Synthetic requests pinned to each side: evidence that does not depend
    /// on the weight, so the legacy side is still seen at 100 %.
    pub probes: PerSide<SideSample>,
}

impl Measurement {
    /// Traffic and probes of one side together.
    pub fn combined(&self, side: Side) -> SideSample {
        let mut s = self.traffic.get(side).clone();
        s.merge(self.probes.get(side));
        s
    }

    pub fn merge(&mut self, other: &Measurement) {
        for side in [Side::Legacy, Side::Serverless] {
            self.traffic.get_mut(side).merge(other.traffic.get(side));
            self.probes.get_mut(side).merge(other.probes.get(side));
        }
    }
}

/// A source could not be read: the judge's verdict is Error, never Pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct MeasureError {
    /// Which source failed (`cloudwatch`, `xray`, `probes`, `local-edge`, ...).
    pub source_name: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_bucket_error() {
        let mut h = Histogram::default();
        for ms in 1..=1000 {
            h.record(f64::from(ms));
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((p50 / 500.0 - 1.0).abs() < 0.03, "{p50}");
        assert!((p99 / 990.0 - 1.0).abs() < 0.03, "{p99}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn merging_adds_counts() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(10.0);
        b.record_n(1e9, 3);
        b.record(f64::NAN);
        a.merge(&b);
        assert_eq!(a.count(), 5);
        assert!(a.quantile(1.0).unwrap() > 500_000.0);
    }
}
