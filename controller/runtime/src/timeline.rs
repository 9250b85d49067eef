//! Which side a user request went to, from its cohort bucket and when it
//! was served: the edge routes bucket `b` to the new side while `b <
//! weight`, so a source that sees each request's bucket but not its origin
//! (CloudFront's real-time logs) learns its side from the weight in force
//! then. [`Timed`] keeps that record as the controller's edge writes,
//! verifies and reads the weight.
//!
//! A change is not instant: from the write until the edge is seen routing
//! by the new weight, and for [`SETTLE`] after (verification sees a few
//! edge locations, not all), a bucket between the two weights may be on
//! either side and is *unknown*. So is any time before the first thing the
//! controller saw, except when that was weight 0 (see
//! [`WeightTimeline::observed`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover_core::engine::{Event, EventKind, Verification};
use cutover_core::measure::Side;
use cutover_core::ports::{Clock, EdgeError, EdgePort};
use cutover_core::units::Weight;

/// How long after a change was verified buckets between the two weights
/// stay unknown.
pub const SETTLE: Duration = Duration::from_secs(60);
/// How far back the record goes: Kinesis keeps 24 h by default.
const KEEP_MS: u64 = 25 * 3_600_000;

/// From `from_ms` until the next span: buckets below `lo` are on the new
/// side, buckets from `hi` on the old one, those between unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    from_ms: u64,
    lo: u16,
    hi: u16,
}

#[derive(Debug, Default)]
struct Record {
    spans: Vec<Span>,
    /// The latest instant the edge was known to hold the last span's weight.
    seen_ms: u64,
}

impl Record {
    fn at(&self, at_ms: u64) -> Option<Span> {
        let i = self.spans.partition_point(|s| s.from_ms <= at_ms);
        i.checked_sub(1).map(|i| self.spans[i])
    }

    fn push(&mut self, span: Span) {
        // A span starting where (or before) the newest one does replaces it:
        // time only moves forward here, so that one never took effect.
        while self.spans.last().is_some_and(|s| s.from_ms >= span.from_ms) {
            self.spans.pop();
        }
        if self.spans.last().is_some_and(|s| (s.lo, s.hi) == (span.lo, span.hi)) {
            return;
        }
        self.spans.push(span);
        let newest = span.from_ms;
        let keep_from = self.spans.partition_point(|s| s.from_ms + KEEP_MS < newest);
        // Keep the span in force at the cut-off.
        self.spans.drain(..keep_from.saturating_sub(1));
    }

    /// The weight the newest span settles on, if it is settled.
    fn settled(&self) -> Option<u16> {
        self.spans.last().filter(|s| s.lo == s.hi).map(|s| s.lo)
    }

    /// Buckets between the weight in force and `to` unknown from
    /// `since_ms` (or since the change already under way started), `to`
    /// settled from `until_ms`.
    fn change(&mut self, since_ms: u64, to: u16, until_ms: u64) {
        match self.spans.last_mut() {
            Some(s) if s.lo != s.hi && s.from_ms <= since_ms => (s.lo, s.hi) = (s.lo.min(to), s.hi.max(to)),
            Some(s) => {
                let span = Span { from_ms: since_ms.max(s.from_ms), lo: s.lo.min(to), hi: s.hi.max(to) };
                self.push(span);
            }
            None => self.push(Span { from_ms: since_ms, lo: 0, hi: 10_000 }),
        }
        self.push(Span { from_ms: until_ms, lo: to, hi: to });
    }
}

/// The weights the edge held over time. Clones share one record.
#[derive(Clone, Debug, Default)]
pub struct WeightTimeline(Arc<Mutex<Record>>);

impl WeightTimeline {
    fn with<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The side a request of `bucket` served at `at_ms` (Unix ms) went to;
    /// `None` when it could have been either.
    pub fn side(&self, at_ms: u64, bucket: u16) -> Option<Side> {
        let span = self.with(|r| r.at(at_ms))?;
        if bucket < span.lo {
            Some(Side::Serverless)
        } else if bucket >= span.hi {
            Some(Side::Legacy)
        } else {
            None
        }
    }

    /// The edge was seen holding `weight` at `at_ms`. The first sight of 0
    /// is taken to have held before (the weight a cutover starts from: the
    /// hour before it is the judge's lookback); any other first sight
    /// holds from then. A weight other than the one recorded (somebody
    /// else wrote it) changed at an unknown time since the last sight.
    pub fn observed(&self, at_ms: u64, weight: Weight) {
        let w = weight.bps();
        self.with(|r| {
            match r.settled() {
                Some(settled) if settled == w => {}
                _ if r.spans.is_empty() => {
                    let from_ms = if w == 0 { 0 } else { at_ms };
                    r.push(Span { from_ms, lo: w, hi: w });
                }
                _ => {
                    let since = r.seen_ms.min(at_ms);
                    r.change(since, w, at_ms + SETTLE.as_millis() as u64);
                }
            }
            r.seen_ms = r.seen_ms.max(at_ms);
        });
    }

    /// The controller starts writing `weight` at `at_ms`: until it is
    /// verified, buckets between the old weight and this one are unknown.
    pub fn writing(&self, at_ms: u64, weight: Weight) {
        self.with(|r| {
            let (lo, hi) = match r.spans.last() {
                Some(s) => (s.lo.min(weight.bps()), s.hi.max(weight.bps())),
                None => (0, 10_000),
            };
            r.push(Span { from_ms: at_ms, lo, hi });
        });
    }

    /// `weight` was seen routing at `at_ms` (or taken as routing, where
    /// the edge cannot be looked at): settled [`SETTLE`] later.
    pub fn verified(&self, at_ms: u64, weight: Weight) {
        self.with(|r| {
            let until = at_ms + SETTLE.as_millis() as u64;
            r.change(at_ms, weight.bps(), until);
            r.seen_ms = r.seen_ms.max(until);
        });
    }
}

impl WeightTimeline {
    /// Rebuilds the record from a cutover's audit trail, for a controller
    /// that takes over one under way: the edge was at 0 when it started
    /// (pre-flight requires it), each intent is a write's start, each
    /// confirmation its verification, each drift a sight of a weight
    /// somebody else wrote. `at` is engine time, wall time for the AWS
    /// edge (speed 1), which is what the logs are stamped with.
    pub fn replay(&self, events: &[Event]) {
        for e in events {
            let at = e.at.as_ms();
            match &e.kind {
                EventKind::Started { .. } => self.observed(at, Weight::ZERO),
                EventKind::WeightIntent { to, .. } => self.writing(at, *to),
                EventKind::WeightConfirmed { weight, .. } => self.verified(at, *weight),
                EventKind::EdgeDrift { found, .. } => self.observed(at, *found),
                _ => {}
            }
        }
    }
}

/// An edge that records in a [`WeightTimeline`] what it writes, sees
/// verified and reads.
pub struct Timed<E, C> {
    inner: E,
    clock: C,
    timeline: WeightTimeline,
}

impl<E, C> Timed<E, C> {
    pub fn new(inner: E, clock: C, timeline: WeightTimeline) -> Timed<E, C> {
        Timed { inner, clock, timeline }
    }
}

impl<E: EdgePort, C: Clock> EdgePort for Timed<E, C> {
    async fn apply(&self, weight: Weight, expected: Weight) -> Result<(), EdgeError> {
        self.timeline.writing(self.clock.wall_now().as_ms(), weight);
        self.inner.apply(weight, expected).await
    }

    async fn verify(&self, weight: Weight) -> Result<Option<Verification>, EdgeError> {
        let verified = self.inner.verify(weight).await;
        // `Ok(None)`: this edge cannot be looked at (a cohort by address
        // leaves probes no bucket to choose); the engine takes the write as
        // done, and so does the record, [`SETTLE`] later.
        if verified.is_ok() {
            self.timeline.verified(self.clock.wall_now().as_ms(), weight);
        }
        verified
    }

    async fn read(&self) -> Result<Weight, EdgeError> {
        let read = self.inner.read().await;
        if let Ok(weight) = &read {
            self.timeline.observed(self.clock.wall_now().as_ms(), *weight);
        }
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(bps: u16) -> Weight {
        Weight::from_bps(bps).unwrap()
    }

    const S: u64 = 60_000;

    #[test]
    fn a_step_leaves_only_the_buckets_it_moves_unknown_until_it_settles() {
        let t = WeightTimeline::default();
        t.observed(1_000_000, w(0));
        assert_eq!(t.side(5, 0), Some(Side::Legacy), "weight 0 seen first: held before");
        t.writing(2_000_000, w(100));
        t.verified(2_010_000, w(100));
        assert_eq!(t.side(1_999_999, 50), Some(Side::Legacy));
        assert_eq!(t.side(2_005_000, 50), None, "written, not yet seen routing");
        assert_eq!(t.side(2_005_000, 150), Some(Side::Legacy), "outside the buckets moved");
        assert_eq!(t.side(2_010_000 + S - 1, 99), None, "settling");
        assert_eq!(t.side(2_010_000 + S, 99), Some(Side::Serverless));
        assert_eq!(t.side(2_010_000 + S, 100), Some(Side::Legacy));
        // A rollback to 0 moves everybody below 100 back.
        t.writing(3_000_000, w(0));
        assert_eq!(t.side(3_000_001, 0), None);
        t.verified(3_001_000, w(0));
        assert_eq!(t.side(3_001_000 + S, 0), Some(Side::Legacy));
        assert_eq!(t.side(2_500_000, 0), Some(Side::Serverless), "the past stays as it was");
    }

    #[test]
    fn a_weight_somebody_else_wrote_changed_at_an_unknown_time_since_the_last_sight() {
        let t = WeightTimeline::default();
        t.observed(1_000_000, w(500));
        assert_eq!(t.side(999_999, 0), None, "a first sight above 0 says nothing of before");
        assert_eq!(t.side(1_000_000, 499), Some(Side::Serverless));
        t.observed(1_600_000, w(500));
        t.observed(1_700_000, w(800));
        assert_eq!(t.side(1_599_999, 600), Some(Side::Legacy));
        assert_eq!(t.side(1_600_000, 600), None, "moved some time after the last sight");
        assert_eq!(t.side(1_600_000, 400), Some(Side::Serverless), "below both");
        assert_eq!(t.side(1_700_000 + S, 600), Some(Side::Serverless));
    }

    #[test]
    fn a_write_that_failed_leaves_its_buckets_unknown_until_the_edge_is_read() {
        let t = WeightTimeline::default();
        t.observed(0, w(0));
        t.writing(1_000, w(2_500));
        assert_eq!(t.side(50_000, 100), None);
        t.observed(60_000, w(0));
        assert_eq!(t.side(60_000 + S, 100), Some(Side::Legacy), "read back: it never moved");
    }
}

#[cfg(test)]
mod replay {
    use super::*;
    use cutover_core::engine::Actor;
    use cutover_core::units::Timestamp;

    fn event(at: u64, kind: EventKind) -> Event {
        Event {
            cutover_id: "c".into(),
            version: 1,
            index: 0,
            at: Timestamp::from_ms(at),
            actor: Actor::Controller,
            kind,
            reason: None,
        }
    }

    #[test]
    fn a_controller_taking_over_knows_the_sides_from_the_trail() {
        let w = |bps| Weight::from_bps(bps).unwrap();
        let t = WeightTimeline::default();
        t.replay(&[
            event(1_000_000, EventKind::Started { steps: 2, plan_sha256: None }),
            event(1_000_000, EventKind::WeightIntent { from: w(0), to: w(100), step: 0 }),
            event(1_005_000, EventKind::WeightConfirmed { weight: w(100), verification: None }),
            event(2_000_000, EventKind::EdgeDrift { expected: w(100), found: w(300), wanted: w(500) }),
        ]);
        assert_eq!(t.side(0, 50), Some(Side::Legacy), "the lookback, before the start");
        assert_eq!(t.side(1_002_000, 50), None);
        assert_eq!(t.side(1_065_000, 50), Some(Side::Serverless));
        assert_eq!(t.side(1_500_000, 200), None, "moved to 300 some time after the last sight");
        assert_eq!(t.side(1_500_000, 50), Some(Side::Serverless), "below both");
        assert_eq!(t.side(2_100_000, 200), Some(Side::Serverless), "the drift settled");
    }
}
