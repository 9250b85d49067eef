//! The controller's own probes, for targets whose sources cannot tell a
//! probe from a user (CloudWatch): a steady stream of GETs through the
//! edge, each pinned to a side and authenticated with the probe token, and
//! a log of what they saw that the metrics port reads per window as the
//! measurement's probe stratum. The local edge records the probes it
//! pins itself.
//!
//! Probes are what judges a side that carries few users (the old side at
//! the last step, the new one at the first): they come at a fixed rate
//! whatever the weight, to both sides at the same instants, so a failure
//! both share shows on both.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use cutover_core::measure::{Hop, PerSide, Side, SideSample, Source};
use cutover_core::ports::Clock;

use crate::verify::{answered_by, probe_client, PROBE_HEADER, SERVED_BY};

/// The header that proves a pin comes from the controller: the edge honours
/// `x-cutover-probe` only with the probe token (see `infra/edge-function`).
pub const PROBE_TOKEN_HEADER: &str = "x-cutover-probe-token";
/// How long the log keeps a probe: windows are read minutes late.
const KEEP_MS: u64 = 3 * 3_600_000;

/// What became of one probe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProbeOutcome {
    /// Answered below 500 by the side it was pinned to, in this many ms.
    Answered(f64),
    /// A 5xx: an origin's, API Gateway's (a Lambda that crashed, timed out
    /// or was throttled answers without the app's `x-served-by`) or the
    /// edge's. Counted where CloudWatch counts it too.
    ServerError,
    /// No answer: refused, reset, or over the client's 5 s.
    NoAnswer,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    /// When it was sent (wall time, Unix ms): the window it belongs to.
    at_ms: u64,
    side: Side,
    outcome: ProbeOutcome,
}

#[derive(Debug, Default)]
struct Log {
    records: VecDeque<Record>,
    /// Probes the other side answered: the pin did not hold (a stale token).
    misrouted: u64,
}

/// What the probes saw. Clones share one log.
#[derive(Clone, Debug, Default)]
pub struct ProbeLog(Arc<Mutex<Log>>);

impl ProbeLog {
    fn with<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        // A panic elsewhere while holding the lock leaves records, not a
        // broken invariant: keep using them.
        f(&mut self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// A probe sent at `at_ms`, pinned to `side`, and what became of it.
    pub fn record(&self, at_ms: u64, side: Side, outcome: ProbeOutcome) {
        self.with(|log| {
            let at = log.records.partition_point(|r| r.at_ms <= at_ms);
            log.records.insert(at, Record { at_ms, side, outcome });
            let newest = log.records.back().map_or(at_ms, |r| r.at_ms);
            while log.records.front().is_some_and(|r| r.at_ms + KEEP_MS < newest) {
                log.records.pop_front();
            }
        });
    }

    pub fn record_misrouted(&self) {
        self.with(|log| log.misrouted += 1);
    }

    /// Probes the other side answered, so far.
    pub fn misrouted(&self) -> u64 {
        self.with(|log| log.misrouted)
    }

    /// The probes sent in `[from_ms, to_ms)`, per side: each one a request,
    /// a 5xx or no answer an error, an answer a (warm) latency. A probe
    /// cannot tell a cold start: none is looked at (`cold_checked` 0), so
    /// probes never dilute the new side's cold-start share.
    pub fn sample(&self, from_ms: u64, to_ms: u64) -> PerSide<SideSample> {
        self.in_window(from_ms, to_ms, |sample, r| {
            let side = sample.get_mut(r.side);
            side.requests += 1;
            match r.outcome {
                ProbeOutcome::Answered(ms) => side.latency_ms.record(ms),
                ProbeOutcome::ServerError | ProbeOutcome::NoAnswer => side.errors += 1,
            }
        })
    }

    /// The window's probes that reached an origin (or API Gateway) and
    /// came back: what CloudWatch counted among its requests, and among its
    /// 5xx. Probes that got no answer may never have reached one.
    pub fn counted_by_origins(&self, from_ms: u64, to_ms: u64) -> PerSide<SideSample> {
        self.in_window(from_ms, to_ms, |sample, r| {
            let side = sample.get_mut(r.side);
            match r.outcome {
                ProbeOutcome::Answered(_) => side.requests += 1,
                ProbeOutcome::ServerError => {
                    side.requests += 1;
                    side.errors += 1;
                }
                ProbeOutcome::NoAnswer => {}
            }
        })
    }

    fn in_window(
        &self,
        from_ms: u64,
        to_ms: u64,
        mut add: impl FnMut(&mut PerSide<SideSample>, &Record),
    ) -> PerSide<SideSample> {
        self.with(|log| {
            let mut sample = PerSide::<SideSample>::default();
            sample.legacy.cold_checked = Some(0);
            sample.serverless.cold_checked = Some(0);
            let first = log.records.partition_point(|r| r.at_ms < from_ms);
            for r in log.records.range(first..).take_while(|r| r.at_ms < to_ms) {
                add(&mut sample, r);
            }
            sample
        })
    }
}

/// The `edge` hop of a side's breakdown from its probes: edge, origin and
/// all behind it, as a client sees them.
pub fn edge_hop(probes: &SideSample) -> Option<Hop> {
    let times = &probes.latency_ms;
    (times.count() > 0).then(|| Hop {
        name: "edge".into(),
        source: Source::Probes,
        depth: 0,
        samples: times.count(),
        p50_ms: times.quantile(0.5),
        p99_ms: times.quantile(0.99),
    })
}

/// Sends `per_minute` probes a minute to each side through the edge.
pub struct ProbeDriver {
    client: reqwest::Client,
    url: String,
    per_minute: u32,
    token: watch::Receiver<String>,
    log: ProbeLog,
}

impl ProbeDriver {
    /// `base`: the edge (`https://d123.cloudfront.net`); `path`: a cheap GET
    /// both sides serve; `token`: the probe token, kept current by whoever
    /// reads it from where the edge does.
    pub fn new(base: &str, path: &str, per_minute: u32, token: watch::Receiver<String>, log: ProbeLog) -> Self {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        ProbeDriver { client: probe_client(), url, per_minute, token, log }
    }

    /// Probes until the task is dropped; `clock` stamps each probe with the
    /// wall time the metric sources use. Each probe runs on its own task, so
    /// a slow answer (up to the client's 5 s) never delays the next.
    pub async fn run<C: Clock + Send + Sync + 'static>(self, clock: C) {
        if self.per_minute == 0 {
            return std::future::pending().await;
        }
        let mut ticks = tokio::time::interval(Duration::from_secs(60) / self.per_minute);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let at_ms = clock.wall_now().as_ms();
            let token = self.token.borrow().clone();
            for side in Side::BOTH {
                let request = self
                    .client
                    .get(&self.url)
                    .header(PROBE_HEADER, side.as_str())
                    .header(PROBE_TOKEN_HEADER, token.as_str());
                let log = self.log.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let outcome = match request.send().await {
                        // A 5xx is the pinned side's failure whoever sent it:
                        // API Gateway's and the edge's carry no `x-served-by`.
                        Ok(response) if response.status().is_server_error() => Some(ProbeOutcome::ServerError),
                        Ok(response) => {
                            let served_by = response.headers().get(SERVED_BY).and_then(|v| v.to_str().ok());
                            // An answer from the other side: the pin did not hold.
                            let pinned = answered_by(served_by) == side;
                            match response.bytes().await {
                                Ok(_) if pinned => {
                                    Some(ProbeOutcome::Answered(started.elapsed().as_secs_f64() * 1000.0))
                                }
                                Ok(_) => None,
                                Err(_) => Some(ProbeOutcome::NoAnswer),
                            }
                        }
                        Err(_) => Some(ProbeOutcome::NoAnswer),
                    };
                    match outcome {
                        Some(outcome) => log.record(at_ms, side, outcome),
                        None => log.record_misrouted(),
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_the_probes_sent_in_it() {
        let log = ProbeLog::default();
        log.record(60_000, Side::Legacy, ProbeOutcome::Answered(40.0));
        log.record(119_999, Side::Serverless, ProbeOutcome::ServerError);
        log.record(100_000, Side::Serverless, ProbeOutcome::NoAnswer);
        log.record(90_000, Side::Serverless, ProbeOutcome::Answered(30.0));
        log.record(120_000, Side::Legacy, ProbeOutcome::Answered(41.0));
        let s = log.sample(60_000, 120_000);
        assert_eq!((s.legacy.requests, s.legacy.errors, s.legacy.latency_ms.count()), (1, 0, 1));
        assert_eq!((s.serverless.requests, s.serverless.errors, s.serverless.latency_ms.count()), (3, 2, 1));
        assert_eq!(s.serverless.cold_sample(), (0, 0), "a probe cannot tell a cold start");
        let counted = log.counted_by_origins(60_000, 120_000).serverless;
        assert_eq!((counted.requests, counted.errors), (2, 1), "the probe with no answer may not have reached one");
        assert_eq!(log.sample(120_000, 180_000).legacy.requests, 1);
        let hop = edge_hop(&s.serverless).unwrap();
        assert_eq!((hop.name.as_str(), hop.samples), ("edge", 1));
        assert!(edge_hop(&log.sample(0, 1).legacy).is_none());
    }

    #[test]
    fn the_log_forgets_what_no_window_will_ask_for() {
        let log = ProbeLog::default();
        log.record(0, Side::Legacy, ProbeOutcome::Answered(1.0));
        log.record(KEEP_MS, Side::Legacy, ProbeOutcome::Answered(1.0));
        assert_eq!(log.sample(0, u64::MAX).legacy.requests, 2);
        log.record(KEEP_MS + 1, Side::Legacy, ProbeOutcome::Answered(1.0));
        assert_eq!(log.sample(0, u64::MAX).legacy.requests, 2, "the first is over three hours older");
    }
}
