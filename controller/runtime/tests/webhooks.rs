//! The plan's webhooks, against a real HTTP server on loopback: events are
//! POSTed in the order notified, a 503 is tried again, and `flush` returns
//! only once everything handed over was delivered.

use std::sync::atomic::{AtomicUsize, Ordering};

use cutover_core::engine::{Actor, Event, EventKind, PauseReason};
use cutover_core::units::{Timestamp, Weight};
use cutover_runtime::{Notifier, Webhooks};
use cutover_testkit::http::{Answer, Stub};

fn event(version: u64, kind: EventKind) -> Event {
    Event {
        cutover_id: "c1".into(),
        version,
        index: 0,
        at: Timestamp::from_ms(1_795_867_200_000 + version),
        actor: Actor::Controller,
        kind,
        reason: None,
    }
}

#[tokio::test]
async fn events_reach_the_webhook_in_order_and_a_503_is_tried_again() {
    let calls = AtomicUsize::new(0);
    let hook = Stub::start(move |_| {
        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
        Answer::json(if first { 503 } else { 204 }, "")
    });
    let webhooks = Webhooks::new(&[format!("{}/hook", hook.base())]);
    let (five, thirty) = (Weight::from_bps(500).unwrap(), Weight::from_bps(3000).unwrap());
    webhooks.notify(&event(1, EventKind::Started { steps: 2, plan_sha256: None }));
    webhooks.notify(&event(2, EventKind::EdgeDrift { expected: five, found: thirty, wanted: five }));
    webhooks.notify(&event(3, EventKind::Paused { reason: PauseReason::Drift }));
    webhooks.flush().await;

    let received = hook.received();
    let bodies: Vec<serde_json::Value> = received.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    let heard: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(heard, ["started", "started", "edge_drift", "paused"], "in order; the first try got a 503");
    assert!(received.iter().all(|r| r.method == "POST" && r.path == "/hook"));
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    let text = bodies[2]["text"].as_str().unwrap();
    assert_eq!(text, "cutover c1: edge_drift: the edge holds 30%, not 5% as last written (about to apply 5%)");
    assert_eq!(bodies[2]["record"]["kind"]["found"], serde_json::json!(3000), "the event as the audit trail has it");
}
