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

impl Side {
    pub const BOTH: [Side; 2] = [Side::Legacy, Side::Serverless];

    /// `legacy` or `serverless`: the side's name in headers, output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Legacy => "legacy",
            Side::Serverless => "serverless",
        }
    }

    /// The inverse of [`Side::as_str`].
    pub fn parse(name: &str) -> Option<Side> {
        Side::BOTH.into_iter().find(|s| s.as_str() == name)
    }
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
/// mergeable. Quantiles are read at a bucket's geometric middle. Buckets are
/// allocated up to the highest one used, so an empty histogram costs nothing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
}

impl PartialEq for Histogram {
    fn eq(&self, other: &Self) -> bool {
        let used = |c: &[u32]| c.len() - c.iter().rev().take_while(|n| **n == 0).count();
        self.total == other.total && self.counts[..used(&self.counts)] == other.counts[..used(&other.counts)]
    }
}

impl Eq for Histogram {}

const BUCKET_GROWTH: f64 = 1.04;
const BUCKET_MIN_MS: f64 = 0.1;
const BUCKETS: usize = 400;
// `f64::ln` is not const; these are ln(BUCKET_MIN_MS) and 1 / ln(BUCKET_GROWTH),
// checked against the computed values in the tests.
const LN_BUCKET_MIN_MS: f64 = -2.3025850929940455;
const INV_LN_BUCKET_GROWTH: f64 = 25.496731691028337;

impl Histogram {
    fn slot(&mut self, bucket: usize) -> &mut u32 {
        if bucket >= self.counts.len() {
            self.counts.resize(bucket + 1, 0);
        }
        &mut self.counts[bucket]
    }

    fn bucket(ms: f64) -> usize {
        Self::bucket_ln(ms.ln())
    }

    /// Bucket of a latency given as `ln(ms)`; NaN and tiny values go to 0.
    fn bucket_ln(ln_ms: f64) -> usize {
        let i = (ln_ms - LN_BUCKET_MIN_MS) * INV_LN_BUCKET_GROWTH;
        if i.is_nan() || i <= 0.0 {
            return 0;
        }
        (i as usize).min(BUCKETS - 1)
    }

    fn bucket_value(i: usize) -> f64 {
        BUCKET_MIN_MS * BUCKET_GROWTH.powf(i as f64 + 0.5)
    }

    pub fn record(&mut self, ms: f64) {
        self.record_n(ms, 1);
    }

    pub fn record_n(&mut self, ms: f64, n: u32) {
        let b = self.slot(Self::bucket(ms.max(0.0)));
        *b = b.saturating_add(n);
        self.total += u64::from(n);
    }

    /// Records a latency given as its natural logarithm, `ln(ms)`: lognormal
    /// samplers have it already and skip an `exp` and a `ln` per request.
    pub fn record_ln(&mut self, ln_ms: f64) {
        let b = self.slot(Self::bucket_ln(ln_ms));
        *b = b.saturating_add(1);
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
    }

    /// The same shape with `total` values: how samples of unequal weight
    /// are pooled without claiming more of them than they are worth. Whole
    /// counts by systematic rounding of the running sum, so every
    /// cumulative count (every quantile, every count above a limit) is
    /// within one of its exact share, a thin tail spread over many buckets
    /// included, and the result holds exactly `total`.
    pub fn resized(&self, total: u64) -> Histogram {
        if self.total == 0 || total == 0 {
            return Histogram::default();
        }
        let factor = total as f64 / self.total as f64;
        let mut counts = vec![0u32; self.counts.len()];
        let (mut exact, mut given) = (0.0, 0u64);
        for (slot, c) in counts.iter_mut().zip(&self.counts) {
            exact += f64::from(*c) * factor;
            let upto = ((exact + 0.5).floor() as u64).min(total);
            *slot = u32::try_from(upto - given).unwrap_or(u32::MAX);
            given = upto;
        }
        // Floating-point sums may end a hair short of `total`.
        if let Some(last) = counts.iter_mut().rev().find(|c| **c > 0) {
            *last += u32::try_from(total - given).unwrap_or(0);
        }
        Histogram { counts, total }
    }

    /// Takes back what `merge` added: `other` must have been merged in.
    pub fn remove(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_sub(*b);
        }
        self.total = self.total.saturating_sub(other.total);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// How many values lie in buckets wholly above `ms`'s bucket. A value in
    /// the same bucket as `ms` counts as not above: at ~4 % resolution, ties
    /// go to "within the limit" on both sides alike.
    pub fn count_above(&self, ms: f64) -> u64 {
        let b = Self::bucket(ms.max(0.0));
        self.counts.get(b + 1..).map_or(0, |above| above.iter().map(|c| u64::from(*c)).sum())
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

/// For `skip_serializing_if`: a count of nothing is left out.
pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one side did in a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SideSample {
    pub requests: u64,
    /// 5xx answers and requests that got no answer.
    pub errors: u64,
    /// 4xx answers (not errors: judged apart, as `client_errors`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_errors: u64,
    /// Warm requests only; cold starts are kept apart.
    pub latency_ms: Histogram,
    pub cold_starts: u64,
    pub cold_latency_ms: Histogram,
    /// How many requests were looked at for a cold start, when not every
    /// one was (X-Ray's traces read whole); `cold_starts` is of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_checked: Option<u64>,
}

impl SideSample {
    pub fn merge(&mut self, other: &SideSample) {
        self.cold_checked = match (self.cold_checked, other.cold_checked) {
            (None, None) => None,
            _ => Some(self.cold_sample().0 + other.cold_sample().0),
        };
        self.requests += other.requests;
        self.errors += other.errors;
        self.client_errors += other.client_errors;
        self.latency_ms.merge(&other.latency_ms);
        self.cold_starts += other.cold_starts;
        self.cold_latency_ms.merge(&other.cold_latency_ms);
    }

    /// Requests looked at for a cold start, and how many met one.
    pub fn cold_sample(&self) -> (u64, u64) {
        (self.cold_checked.unwrap_or(self.requests), self.cold_starts)
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
    /// Where each side's time went, hop by hop, when a source can tell
    /// (CloudWatch and X-Ray traces); for people, not for the judge.
    #[serde(default, skip_serializing_if = "no_hops")]
    pub hops: PerSide<Vec<Hop>>,
    /// Where each side's user-traffic latency came from, when the sources
    /// say (both sides of a check always from the same point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_source: Option<PerSide<String>>,
    /// The user traffic of each side by cohort bucket, when the source saw
    /// every user request's bucket (the local edge, the simulator, the
    /// edge's real-time logs in AWS mode); `None`
    /// when it cannot tell. Users are sticky, so one user's errors all land
    /// on one side: the judge leaves out the users whose own past shows they
    /// fail on either side (chronic cohorts, see `judge::sequential`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohorts: Option<PerSide<Cohorts>>,
    /// Each route's figures on both sides, when a source can tell routes
    /// apart (X-Ray: the old side's URLs, the new side's one function per
    /// route); for people, not for the judge: one route regressing among
    /// seven shows here before it moves the side's totals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteFigures>,
}

/// One route's figures on both sides over a window, from one source for
/// both (X-Ray's traces: sampled, so these count traces, not requests).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteFigures {
    /// The contract's method and path: `GET /api/users/{userId}/context`.
    pub route: String,
    pub sides: PerSide<RouteSide>,
}

/// One side of a route over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteSide {
    /// Complete traces read.
    pub traces: u64,
    /// Of those, the ones that failed (5xx).
    pub faults: u64,
    /// Of the others (cold starts apart), in ms.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One route on a line: `GET /api/reports/{reportId}  legacy 41/120 ms, 0 of
/// 52 failed › serverless 35/240 ms, 1 of 48 failed · p99 ×2.0`.
pub fn describe_route(r: &RouteFigures) -> String {
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| if v < 10.0 { format!("{v:.1}") } else { format!("{v:.0}") });
    let side = |name: &str, s: &RouteSide| {
        format!("{name} {}/{} ms, {} of {} failed", ms(s.p50_ms), ms(s.p99_ms), s.faults, s.traces)
    };
    let mut line =
        format!("{}  {} › {}", r.route, side("legacy", &r.sides.legacy), side("serverless", &r.sides.serverless));
    if let (Some(old), Some(new)) = (r.sides.legacy.p99_ms, r.sides.serverless.p99_ms) {
        if old > 0.0 {
            line += &format!(" · p99 ×{:.1}", new / old);
        }
    }
    line
}

/// User requests of one cohort bucket in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortCount {
    /// In `0..10_000` (see [`crate::cohort::bucket`]).
    pub bucket: u16,
    pub requests: u64,
    /// 5xx answers and requests that got no answer.
    pub errors: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub client_errors: u64,
}

impl CohortCount {
    /// Adds `other`'s counts (of the same bucket) to these.
    fn absorb(&mut self, other: &CohortCount) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.client_errors += other.client_errors;
    }
}

/// Per-bucket counts of one side's user traffic, sorted by bucket, one
/// entry per bucket that saw a request (sparse: a window sees few buckets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cohorts(Vec<CohortCount>);

impl Cohorts {
    /// Requests of every bucket together.
    pub fn requests(&self) -> u64 {
        self.0.iter().map(|c| c.requests).sum()
    }

    /// Counts one request of `bucket`.
    pub fn record(&mut self, bucket: u16, failed: bool, client_error: bool) {
        let one =
            CohortCount { bucket, requests: 1, errors: u64::from(failed), client_errors: u64::from(client_error) };
        match self.0.binary_search_by_key(&bucket, |c| c.bucket) {
            Ok(i) => self.0[i].absorb(&one),
            Err(i) => self.0.insert(i, one),
        }
    }

    /// Builds from counts in any order, adding up repeated buckets.
    pub fn from_unsorted(mut counts: Vec<CohortCount>) -> Cohorts {
        counts.sort_unstable_by_key(|c| c.bucket);
        counts.dedup_by(|c, kept| {
            let same = c.bucket == kept.bucket;
            if same {
                kept.absorb(c);
            }
            same
        });
        Cohorts(counts)
    }

    /// Adds `other`'s counts: one pass over both sorted lists.
    pub fn merge(&mut self, other: &Cohorts) {
        if other.0.is_empty() {
            return;
        }
        let mine = std::mem::take(&mut self.0);
        let mut merged = Vec::with_capacity(mine.len() + other.0.len());
        let (mut a, mut b) = (mine.into_iter().peekable(), other.0.iter().copied().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.bucket < y.bucket => a.next(),
                (Some(x), Some(y)) if x.bucket > y.bucket => b.next(),
                (Some(_), Some(_)) => a.next().zip(b.next()).map(|(mut x, y)| {
                    x.absorb(&y);
                    x
                }),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            merged.extend(next);
        }
        self.0 = merged;
    }

    pub fn iter(&self) -> impl Iterator<Item = &CohortCount> {
        self.0.iter()
    }
}

/// One hop on a side's path and how long requests spent in it. Hops nest:
/// each lies within the nearest one above it with a smaller `depth`, so a
/// side's list reads as a waterfall (`api_gateway` › `integration` ›
/// `lambda` › `function` › `dynamodb`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    /// `edge` (probes through the distribution, timed by the controller);
    /// `api_gateway`, `integration`, `alb_target` (CloudWatch); `lambda`,
    /// `function`, `init` (cold starts), an AWS service such as `dynamodb`,
    /// `db` (SQL), `remote` (HTTP calls), or an app's X-Ray service name.
    pub name: String,
    pub source: Source,
    /// 0 for the outermost hop.
    pub depth: u8,
    /// Requests (CloudWatch), traces (X-Ray) or probes the hop was seen in.
    pub samples: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// True when neither side has a hop (what is left out of the JSON).
pub fn no_hops(hops: &PerSide<Vec<Hop>>) -> bool {
    hops.legacy.is_empty() && hops.serverless.is_empty()
}

/// One side's hops on a line: `api_gateway 33/56 ms › integration 30/50 ms ›
/// lambda 28/49 ms (38 traces)` (p50/p99).
pub fn describe_hops(hops: &[Hop]) -> String {
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| if v < 10.0 { format!("{v:.1}") } else { format!("{v:.0}") });
    let parts: Vec<String> = hops
        .iter()
        .map(|h| {
            let seen = match h.source {
                Source::XRay => format!(" ({} traces)", h.samples),
                Source::Probes => format!(" ({} probes)", h.samples),
                _ => String::new(),
            };
            format!("{} {}/{} ms{seen}", h.name, ms(h.p50_ms), ms(h.p99_ms))
        })
        .collect();
    parts.join(" › ")
}

impl Measurement {
    /// Traffic and probes of one side together.
    pub fn combined(&self, side: Side) -> SideSample {
        let mut s = self.traffic.get(side).clone();
        s.merge(self.probes.get(side));
        s
    }

    /// Adds `other`'s counts (its hops and sources are not summed: they
    /// describe one read). Cohorts stay known only if both knew them.
    pub fn merge_counts(&mut self, other: &Measurement) {
        for side in Side::BOTH {
            self.traffic.get_mut(side).merge(other.traffic.get(side));
            self.probes.get_mut(side).merge(other.probes.get(side));
        }
        self.cohorts = match (self.cohorts.take(), &other.cohorts) {
            (Some(mut mine), Some(theirs)) => {
                mine.legacy.merge(&theirs.legacy);
                mine.serverless.merge(&theirs.serverless);
                Some(mine)
            }
            _ => None,
        };
    }
}

/// Where figures come from, as the audit trail writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// The controller's own probes through the edge.
    #[serde(rename = "probes")]
    Probes,
    #[serde(rename = "cloudwatch")]
    CloudWatch,
    #[serde(rename = "xray")]
    XRay,
    /// The local edge: its timing of each request, and its metrics endpoint.
    #[serde(rename = "local-edge", alias = "edge")]
    LocalEdge,
    /// The origin's `Server-Timing` header, relayed by the local edge.
    #[serde(rename = "server-timing")]
    ServerTiming,
    /// The metrics port as a whole: the driver's bound on one read.
    #[serde(rename = "metrics", alias = "measure")]
    Metrics,
    /// The simulator's made-up sources.
    #[serde(rename = "simulated", alias = "sim", alias = "script")]
    Simulated,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Probes => "probes",
            Source::CloudWatch => "cloudwatch",
            Source::XRay => "xray",
            Source::LocalEdge => "local-edge",
            Source::ServerTiming => "server-timing",
            Source::Metrics => "metrics",
            Source::Simulated => "simulated",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source could not be read: the judge's verdict is Error, never Pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct MeasureError {
    /// Which source failed.
    pub source_name: Source,
    pub message: String,
    /// The source has not published all of the window yet (CloudWatch's
    /// datapoints can arrive minutes late): the engine asks for it again
    /// a little later instead of judging part of it, for a while.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

impl MeasureError {
    pub fn new(source_name: Source, message: impl Into<String>) -> MeasureError {
        MeasureError { source_name, message: message.into(), late: false }
    }

    /// Not published yet (see the `late` field).
    pub fn late(source_name: Source, message: impl Into<String>) -> MeasureError {
        MeasureError { late: true, ..MeasureError::new(source_name, message) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_written_by_its_name_and_read_from_older_trails_too() {
        let all = [
            Source::Probes,
            Source::CloudWatch,
            Source::XRay,
            Source::LocalEdge,
            Source::ServerTiming,
            Source::Metrics,
            Source::Simulated,
        ];
        for source in all {
            let written = serde_json::to_string(&source).unwrap();
            assert_eq!(written, format!("\"{source}\""));
            assert_eq!(serde_json::from_str::<Source>(&written).unwrap(), source);
        }
        // Trails written before sources were an enum.
        for (old, source) in [("edge", Source::LocalEdge), ("measure", Source::Metrics), ("sim", Source::Simulated)] {
            assert_eq!(serde_json::from_str::<Source>(&format!("\"{old}\"")).unwrap(), source);
        }
        let error: MeasureError = serde_json::from_str(r#"{"source_name":"measure","message":"no answer"}"#).unwrap();
        assert_eq!(error.to_string(), "metrics: no answer");
    }

    #[test]
    fn cohorts_merge_by_bucket_in_order() {
        let count = |bucket, requests, errors| CohortCount { bucket, requests, errors, client_errors: 0 };
        let mut a = Cohorts::from_unsorted(vec![count(7, 1, 0), count(2, 3, 1), count(7, 1, 1)]);
        a.merge(&Cohorts::from_unsorted(vec![count(5, 2, 0), count(7, 4, 0), count(9000, 1, 1)]));
        assert_eq!(
            a.iter().copied().collect::<Vec<_>>(),
            [count(2, 3, 1), count(5, 2, 0), count(7, 6, 1), count(9000, 1, 1)]
        );
    }

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

    impl Histogram {
        fn tap_record(mut self, ms: f64) -> Self {
            self.record(ms);
            self
        }
    }

    #[test]
    fn bucket_constants_match_their_definition() {
        assert!((LN_BUCKET_MIN_MS - BUCKET_MIN_MS.ln()).abs() < 1e-15);
        assert!((INV_LN_BUCKET_GROWTH - 1.0 / BUCKET_GROWTH.ln()).abs() < 1e-12);
    }

    #[test]
    fn record_ln_matches_record() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        for ms in [0.3, 1.0, 31.0, 38.5, 250.0, 9e5] {
            a.record(ms);
            b.record_ln(f64::ln(ms));
        }
        assert_eq!(a, b);
    }

    #[test]
    fn count_above_skips_the_limit_bucket() {
        let mut h = Histogram::default();
        for ms in [10.0, 20.0, 30.0, 30.5, 1e9] {
            h.record(ms);
        }
        assert_eq!(h.count_above(30.0), 1, "30.5 shares 30's bucket; 1e9 is in the last");
        assert_eq!(h.count_above(5.0), 5);
        assert_eq!(h.count_above(1e12), 0);
    }

    #[test]
    fn removing_takes_back_a_merge() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(10.0);
        b.record_n(30.0, 3);
        b.record(5e5);
        let before = a.clone();
        a.merge(&b);
        a.remove(&b);
        assert_eq!(a, before);
        assert_eq!(a.quantile(1.0), before.quantile(1.0));
    }

    #[test]
    fn resizing_keeps_the_shape_and_the_exact_total() {
        let mut h = Histogram::default();
        h.record_n(10.0, 30);
        h.record_n(20.0, 60);
        h.record_n(400.0, 10);
        let half = h.resized(50);
        assert_eq!(half.count(), 50);
        assert_eq!((half.count_above(15.0), half.count_above(100.0)), (35, 5));
        let odd = h.resized(7);
        assert_eq!(odd.count(), 7, "{odd:?}");
        assert_eq!(odd.count_above(15.0), 5, "running sums 2.1, 6.3, 7.0 round to 2, 6, 7");
        // A thin tail over many buckets keeps its share: 1 % of 101 is one value.
        let mut tailed = Histogram::default();
        tailed.record_n(10.0, 990);
        for i in 0..10 {
            tailed.record(200.0 * 1.2f64.powi(i));
        }
        assert_eq!(tailed.resized(101).count_above(100.0), 1, "{:?}", tailed.resized(101));
        assert_eq!(tailed.resized(300).count_above(100.0), 3);
        assert_eq!(h.resized(0), Histogram::default());
        assert_eq!(Histogram::default().resized(5), Histogram::default());
    }

    #[test]
    fn cold_starts_looked_at_merge_with_samples_that_looked_at_all() {
        let traced = SideSample { requests: 100, cold_starts: 2, cold_checked: Some(10), ..Default::default() };
        let mut all = SideSample { requests: 50, cold_starts: 1, ..Default::default() };
        assert_eq!(all.cold_sample(), (50, 1));
        all.merge(&traced);
        assert_eq!((all.requests, all.cold_sample()), (150, (60, 3)));
    }

    #[test]
    fn merging_adds_counts() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.record(10.0);
        b.record_n(1e9, 3);
        b.record(f64::NAN);
        b.record(-1.0);
        b.record_ln(f64::NEG_INFINITY);
        assert_eq!(b.quantile(0.0), Histogram::default().tap_record(0.05).quantile(0.0));
        a.merge(&b);
        assert_eq!(a.count(), 7);
        assert!(a.quantile(1.0).unwrap() > 500_000.0);
    }
}
