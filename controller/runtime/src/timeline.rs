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
//! controller saw, except back to the store's last modification
//! ([`WeightTimeline::held_since`]).

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
    /// Sorted by `from_ms`; the last one lasts for ever.
    spans: Vec<Span>,
    /// The latest instant the edge was seen holding what the record says
    /// (a read or a verification): a weight someone else wrote changed
    /// after it.
    seen_ms: u64,
    /// The last write's verification failed: the edge may not route by
    /// what the store holds, so nothing settles until one succeeds.
    unverified: bool,
}

impl Record {
    fn at(&self, at_ms: u64) -> Option<Span> {
        let i = self.spans.partition_point(|s| s.from_ms <= at_ms);
        i.checked_sub(1).map(|i| self.spans[i])
    }

    /// A span boundary at `at_ms` (splitting the span in force there), and
    /// its index.
    fn split(&mut self, at_ms: u64) -> usize {
        let i = self.spans.partition_point(|s| s.from_ms < at_ms);
        if self.spans.get(i).is_some_and(|s| s.from_ms == at_ms) {
            return i;
        }
        let (lo, hi) = match i.checked_sub(1).map(|j| self.spans[j]) {
            Some(s) => (s.lo, s.hi),
            // Before anything was known: every bucket unknown.
            None => (0, 10_000),
        };
        self.spans.insert(i, Span { from_ms: at_ms, lo, hi });
        i
    }

    /// From `from_ms` on, buckets between what each span says and `weight`
    /// may be on either side.
    fn widen(&mut self, from_ms: u64, weight: u16) {
        let i = self.split(from_ms);
        for s in &mut self.spans[i..] {
            (s.lo, s.hi) = (s.lo.min(weight), s.hi.max(weight));
        }
        self.tidy();
    }

    /// From `from_ms` on, `weight` and nothing else.
    fn settle(&mut self, from_ms: u64, weight: u16) {
        let i = self.split(from_ms);
        self.spans.truncate(i);
        self.spans.push(Span { from_ms, lo: weight, hi: weight });
        self.tidy();
    }

    /// Neighbours that say the same merged; older than [`KEEP_MS`] before
    /// the newest dropped (the one in force at the cut-off kept).
    fn tidy(&mut self) {
        self.spans.dedup_by(|later, earlier| (later.lo, later.hi) == (earlier.lo, earlier.hi));
        let newest = self.spans.last().map_or(0, |s| s.from_ms);
        let old = self.spans.partition_point(|s| s.from_ms + KEEP_MS < newest);
        self.spans.drain(..old.saturating_sub(1));
    }

    /// The weight the record says the edge settles on, if it does.
    fn settled(&self) -> Option<u16> {
        self.spans.last().filter(|s| s.lo == s.hi).map(|s| s.lo)
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

    /// Whether nothing is known yet.
    pub fn is_empty(&self) -> bool {
        self.with(|r| r.spans.is_empty())
    }

    /// Nothing known yet, and the store holds `weight` unchanged since
    /// `since_ms` (its last modification: before it, nothing is known).
    pub fn held_since(&self, since_ms: u64, at_ms: u64, weight: Weight) {
        self.with(|r| {
            if r.spans.is_empty() {
                r.settle(since_ms.min(at_ms), weight.bps());
                r.seen_ms = at_ms;
            }
        });
    }

    /// The edge was seen holding `weight` at `at_ms` (when the look
    /// began). A first sight holds from then. Either end of the
    /// controller's own write in flight (it landed, or did not) settles
    /// [`SETTLE`] after this sight, once verified; any other weight
    /// (somebody else wrote it) leaves every bucket unknown since the last
    /// sight: who knows what it held in between.
    pub fn observed(&self, at_ms: u64, weight: Weight) {
        let w = weight.bps();
        self.with(|r| {
            if r.spans.is_empty() {
                r.settle(at_ms, w);
            } else if r.settled() != Some(w) {
                let since = r.seen_ms.min(at_ms);
                // A write in flight from one weight to another: either end.
                let expected = r.spans.last().is_some_and(|s| s.lo < s.hi && (w == s.lo || w == s.hi));
                if !expected {
                    // Not what anyone here wrote: it may have held other
                    // weights since the last sight too.
                    r.widen(since, 0);
                    r.widen(since, 10_000);
                }
                r.widen(since, w);
                if !(expected && r.unverified) {
                    r.settle(at_ms + SETTLE.as_millis() as u64, w);
                    r.unverified = false;
                }
            }
            r.seen_ms = r.seen_ms.max(at_ms);
        });
    }

    /// The probes kept seeing the edge route otherwise than the write
    /// asked: its buckets stay unknown until a verification succeeds.
    pub fn unverified(&self) {
        self.with(|r| r.unverified = true);
    }

    /// The controller starts writing `weight` at `at_ms`: until it is seen
    /// to route by it, buckets between the weight in force and this one
    /// are unknown.
    pub fn writing(&self, at_ms: u64, weight: Weight) {
        self.with(|r| r.widen(at_ms, weight.bps()));
    }

    /// A write found `weight` there instead of what the cutover last wrote
    /// (the drift rule): somebody else wrote it, some time since the last
    /// sight.
    pub fn drifted(&self, at_ms: u64, weight: Weight) {
        self.lost();
        self.observed(at_ms, weight);
    }

    /// The edge holds a weight nobody here knows (a write's ETag went
    /// stale under it): every bucket unknown from the last sight until the
    /// next one.
    pub fn lost(&self) {
        self.with(|r| {
            let since = r.seen_ms;
            r.widen(since, 0);
            r.widen(since, 10_000);
        });
    }

    /// `weight` was seen routing at `at_ms` (or taken as routing, where
    /// the edge cannot be looked at): settled [`SETTLE`] later.
    pub fn verified(&self, at_ms: u64, weight: Weight) {
        let w = weight.bps();
        self.with(|r| {
            // The write widened from its start ([`WeightTimeline::writing`]).
            r.widen(at_ms, w);
            r.settle(at_ms + SETTLE.as_millis() as u64, w);
            r.seen_ms = r.seen_ms.max(at_ms);
            r.unverified = false;
        });
    }
}

impl WeightTimeline {
    /// Rebuilds the record from a cutover's audit trail, for a controller
    /// that takes over one under way: the edge was at 0 when it started
    /// (pre-flight requires it), each intent is a write's start, each
    /// confirmation its verification, each drift a sight of a weight
    /// somebody else wrote (and the write after it, on resume, a write:
    /// unknown until confirmed). `at` is engine time, wall time for the
    /// AWS edge (speed 1), which is what the logs are stamped with.
    pub fn replay(&self, events: &[Event]) {
        for e in events {
            let at = e.at.as_ms();
            match &e.kind {
                // At 0 when it started (the first write's drift rule says
                // so); before, nothing is known.
                EventKind::Started { .. } => self.held_since(at, at, Weight::ZERO),
                EventKind::EdgeUnverified { .. } => self.unverified(),
                EventKind::WeightIntent { to, .. } => self.writing(at, *to),
                EventKind::WeightConfirmed { weight, .. } => self.verified(at, *weight),
                EventKind::EdgeDrift { found, wanted, .. } => {
                    self.drifted(at, *found);
                    self.writing(at, *wanted);
                }
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
        // What is there before the write: a rollback writes 0 over any
        // weight, and a weight already there is not written, so the write's
        // own answer would not tell.
        let looked = self.clock.wall_now().as_ms();
        if let Ok(live) = self.inner.read().await {
            self.timeline.observed(looked, live);
        }
        self.timeline.writing(self.clock.wall_now().as_ms(), weight);
        let applied = self.inner.apply(weight, expected).await;
        match &applied {
            Err(EdgeError::Drift { found }) => self.timeline.drifted(self.clock.wall_now().as_ms(), *found),
            Err(EdgeError::Conflict) => self.timeline.lost(),
            _ => {}
        }
        applied
    }

    async fn verify(&self, weight: Weight) -> Result<Option<Verification>, EdgeError> {
        let verified = self.inner.verify(weight).await;
        // `Ok(None)`: this edge cannot be looked at (a cohort by address
        // leaves probes no bucket to choose); the engine takes the write as
        // done, and so does the record, [`SETTLE`] later.
        match &verified {
            Ok(_) => self.timeline.verified(self.clock.wall_now().as_ms(), weight),
            Err(_) => self.timeline.unverified(),
        }
        verified
    }

    async fn read(&self) -> Result<Weight, EdgeError> {
        // Stamped when the look began: a weight written while it was under
        // way is not claimed as seen.
        let looked = self.clock.wall_now().as_ms();
        let read = self.inner.read().await;
        if let Ok(weight) = &read {
            self.timeline.observed(looked, *weight);
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
        t.held_since(0, 1_000_000, w(0));
        assert_eq!(t.side(5, 0), Some(Side::Legacy), "unchanged since the store's last modification");
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
        assert_eq!(t.side(1_600_000, 100), None, "to what, in between, nobody here knows");
        assert_eq!(t.side(1_700_000 + S, 600), Some(Side::Serverless));
    }

    #[test]
    fn a_write_the_probes_never_saw_routing_stays_unknown_until_one_is_verified() {
        let t = WeightTimeline::default();
        t.held_since(0, 0, w(0));
        t.writing(1_000, w(2_500));
        t.unverified();
        t.observed(200_000, w(2_500));
        assert_eq!(t.side(1_000_000, 100), None, "the store took it; the edge may not route by it");
        t.verified(1_100_000, w(2_500));
        assert_eq!(t.side(1_100_000 + S, 100), Some(Side::Serverless));
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

/// Against a model of the real edge: whatever the controller's writes,
/// failures, reads and other people's writes, the record never names a side
/// a request could not have gone to. It may only say "unknown".
#[cfg(test)]
mod never_wrong {
    use super::*;

    /// The KeyValueStore's value over time; an edge location may still
    /// route by any value the store held in the last [`SETTLE`].
    struct Truth(Vec<(u64, u16)>);

    impl Truth {
        fn at(&self, t: u64) -> u16 {
            self.0.iter().rev().find(|(at, _)| *at <= t).map_or(0, |(_, w)| *w)
        }

        fn possible(&self, t: u64, bucket: u16) -> (bool, bool) {
            let from = t.saturating_sub(SETTLE.as_millis() as u64);
            let mut held: Vec<u16> = self.0.iter().filter(|(at, _)| (from..=t).contains(at)).map(|(_, w)| *w).collect();
            held.push(self.at(from));
            (held.iter().any(|w| bucket < *w), held.iter().any(|w| bucket >= *w))
        }
    }

    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    #[test]
    fn the_record_never_names_a_side_a_request_could_not_have_taken() {
        let (mut looked, mut placed) = (0u64, 0u64);
        for seed in 0..400u64 {
            let mut rng = seed.wrapping_mul(0x9e37_79b9) | 1;
            let t0 = 10_000_000;
            let (record, mut truth) = (WeightTimeline::default(), Truth(vec![(0, 0)]));
            // The store last modified half an hour before the first look.
            let modified = t0 - 1_800_000;
            record.held_since(modified, t0, Weight::ZERO);
            let (mut now, mut written) = (t0, 0u16);
            for _ in 0..30 {
                now += 1_000 + next(&mut rng) % 600_000;
                let w = Weight::from_bps((next(&mut rng) % 10_001) as u16).unwrap();
                match next(&mut rng) % 6 {
                    // The controller writes under the drift rule: the live
                    // weight first, and someone else's is not written over
                    // (found, then taken as written once resumed).
                    0 | 1 => {
                        // `Timed` looks before it writes.
                        record.observed(now, Weight::from_bps(truth.at(now)).unwrap());
                        record.writing(now, w);
                        let live = truth.at(now);
                        if live != written {
                            record.drifted(now, Weight::from_bps(live).unwrap());
                            written = live;
                        } else {
                            let landed = now + next(&mut rng) % 2_000;
                            truth.0.push((landed, w.bps()));
                            // Nothing happens while the probes look: a
                            // weight written meanwhile would fail them.
                            now = landed + next(&mut rng) % 50_000;
                            record.verified(now, w);
                            written = w.bps();
                        }
                    }
                    // Someone else writes between the read and the write:
                    // the ETag is stale, nothing is written.
                    2 => {
                        record.writing(now, w);
                        truth.0.push((now, (next(&mut rng) % 10_001) as u16));
                        record.lost();
                    }
                    // Somebody else writes; nobody here is told.
                    3 => truth.0.push((now, w.bps())),
                    // A rollback: 0 over whatever is there (no drift rule),
                    // looked at first.
                    4 if next(&mut rng) % 2 == 0 => {
                        record.observed(now, Weight::from_bps(truth.at(now)).unwrap());
                        record.writing(now, Weight::ZERO);
                        truth.0.push((now, 0));
                        now += next(&mut rng) % 50_000;
                        record.verified(now, Weight::ZERO);
                        written = 0;
                    }
                    // The controller reads the store.
                    _ => record.observed(now, Weight::from_bps(truth.at(now)).unwrap()),
                }
                truth.0.sort_by_key(|(at, _)| *at);
            }
            // A last read, as the engine makes with every window.
            now += 1_000;
            record.observed(now, Weight::from_bps(truth.at(now)).unwrap());
            for _ in 0..2_000 {
                let (t, bucket) =
                    (t0 - 3_600_000 + next(&mut rng) % (now - t0 + 3_600_000), (next(&mut rng) % 10_000) as u16);
                let (new, old) = truth.possible(t, bucket);
                let named = record.side(t, bucket);
                match named {
                    Some(Side::Serverless) => assert!(new && !old, "seed {seed}: {t} {bucket} named serverless"),
                    Some(Side::Legacy) => assert!(old && !new, "seed {seed}: {t} {bucket} named legacy"),
                    None => {}
                }
                if t < modified {
                    assert_eq!(named, None, "seed {seed}: {t} is before anything was known");
                } else if t >= t0 {
                    looked += 1;
                    placed += u64::from(named.is_some());
                }
            }
        }
        // Not by saying "unknown" everywhere: after the first look over a
        // third of requests are placed (41 %), though a sixth of the events
        // are somebody else's writes, each leaving everything unknown back
        // to the last sight.
        assert!(placed * 3 > looked, "placed {placed} of {looked}");
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
            event(900_000, EventKind::Started { steps: 2, plan_sha256: None }),
            event(1_000_000, EventKind::WeightIntent { from: w(0), to: w(100), step: 0 }),
            event(1_005_000, EventKind::WeightConfirmed { weight: w(100), verification: None }),
        ]);
        assert_eq!(t.side(0, 50), None, "before the start nothing is known");
        assert_eq!(t.side(950_000, 50), Some(Side::Legacy), "at 0 from the start");
        assert_eq!(t.side(1_002_000, 50), None);
        assert_eq!(t.side(1_065_000, 50), Some(Side::Serverless));
        t.replay(&[event(2_000_000, EventKind::EdgeDrift { expected: w(100), found: w(300), wanted: w(500) })]);
        assert_eq!(t.side(1_065_000, 50), None, "somebody wrote some time after the last sight");
        assert_eq!(t.side(2_100_000, 400), None, "between the two, until the write over it is confirmed");
        assert_eq!(t.side(2_100_000, 200), Some(Side::Serverless), "below both");
        assert_eq!(t.side(2_100_000, 600), Some(Side::Legacy), "above both");
    }
}
