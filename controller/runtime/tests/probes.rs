//! The probe driver against a stand-in edge that honours a pin only with
//! the right token, as the CloudFront Function does: probes with a stale
//! token are answered by whichever side the edge buckets them to and are
//! left out of the log; with the current token each side's answers (and
//! failures) are logged under the side they were pinned to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cutover_core::measure::Side;
use cutover_core::store::TimeScale;
use cutover_runtime::probes::{ProbeDriver, ProbeLog, PROBE_TOKEN_HEADER};
use cutover_runtime::ScaledClock;
use cutover_testkit::http::{Answer, Stub};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// Waits (real time: a real server answers) until `done` holds, at most 20 s.
async fn until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "not within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn pinned_probes_are_logged_per_side_and_misrouted_ones_are_not() {
    let serverless_answers = Arc::new(AtomicUsize::new(0));
    let counter = serverless_answers.clone();
    let edge = Stub::start(move |r| {
        let pinned = (r.header(PROBE_TOKEN_HEADER) == Some(TOKEN)).then(|| r.header("x-cutover-probe")).flatten();
        match pinned {
            // Every third answer of the new side is API Gateway's own 503
            // (a throttled Lambda): no `x-served-by`, still the new side's failure.
            Some("serverless") => match counter.fetch_add(1, Ordering::SeqCst) % 3 {
                0 => Answer::json(503, "{}"),
                _ => Answer::json(200, "{}").with_header("x-served-by", "serverless"),
            },
            Some("legacy") => Answer::json(200, "{}"),
            // Not pinned: the edge's weight sends this one to the new side.
            _ => Answer::json(200, "{}").with_header("x-served-by", "serverless"),
        }
    });
    let (token, reader) = tokio::sync::watch::channel("stale-token-0000000000000000000".to_owned());
    let log = ProbeLog::default();
    let driver = ProbeDriver::new(edge.base(), "/api/health", 1200, reader, log.clone());
    let task = tokio::spawn(driver.run(ScaledClock::new(TimeScale::REAL)));

    // A stale token: the pins are ignored, the new side answers both.
    until(|| log.misrouted() >= 6).await;
    let everything = |log: &ProbeLog| log.sample(0, u64::MAX);
    assert_eq!(everything(&log).legacy.requests, 0, "a legacy probe answered by the new side is not the old side's");
    let stale = everything(&log).serverless.requests;

    token.send(TOKEN.to_owned()).unwrap();
    until(|| {
        let s = everything(&log);
        s.legacy.requests >= 10 && s.serverless.errors >= 3
    })
    .await;
    task.abort();
    let s = everything(&log);
    assert_eq!(s.legacy.errors, 0);
    assert_eq!(s.legacy.latency_ms.count(), s.legacy.requests, "every answered probe is timed");
    assert!(s.serverless.requests > stale);
    assert_eq!(s.serverless.latency_ms.count() + s.serverless.errors, s.serverless.requests);
    let received = edge.received();
    assert!(received.iter().all(|r| r.path == "/api/health" && r.header(PROBE_TOKEN_HEADER).is_some()));
    let pinned = |side: Side| received.iter().filter(|r| r.header("x-cutover-probe") == Some(side.as_str())).count();
    assert!(pinned(Side::Legacy) > 0 && pinned(Side::Serverless) > 0, "both sides probed");
    assert!(serverless_answers.load(Ordering::SeqCst) >= 3);
}
