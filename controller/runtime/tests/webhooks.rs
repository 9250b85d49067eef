//! The plan's webhooks, from the trail in a real store to a real HTTP
//! server on loopback: only the events that notify are sent, in order, each
//! with its idempotency key; a 503 is tried again and a 400 is final; and a
//! controller that dies before sending leaves its notifications to the next
//! one, which sends them (and nothing it has no record of sending twice).

use std::sync::atomic::{AtomicUsize, Ordering};

use cutover_core::engine::{Actor, CutoverState, Event, EventKind, PauseReason};
use cutover_core::store::{webhook_key, Store, TimeScale};
use cutover_core::units::{Timestamp, Weight};
use cutover_local::SqliteStore;
use cutover_runtime::{undelivered, Notifier, Webhooks};
use cutover_testkit::http::{Answer, Received, Stub};

fn store(name: &str) -> SqliteStore {
    let dir = std::env::temp_dir().join(format!("cutover-webhooks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    SqliteStore::open(dir.join("cutover.db")).unwrap()
}

fn event(version: u64, index: u16, kind: EventKind) -> Event {
    Event {
        cutover_id: "c1".into(),
        version,
        index,
        at: Timestamp::from_ms(1_795_867_200_000 + version),
        actor: Actor::Controller,
        kind,
        reason: None,
    }
}

fn five() -> Weight {
    Weight::from_bps(500).unwrap()
}

/// What the trail of a drifted cutover holds, version by version.
fn trail() -> Vec<Vec<Event>> {
    let thirty = Weight::from_bps(3000).unwrap();
    vec![
        vec![event(1, 0, EventKind::Started { steps: 2, plan_sha256: None })],
        vec![event(2, 0, EventKind::WeightIntent { from: Weight::ZERO, to: five(), step: 0 })],
        vec![
            event(3, 0, EventKind::EdgeDrift { expected: five(), found: thirty, wanted: five() }),
            event(3, 1, EventKind::Paused { reason: PauseReason::Drift }),
        ],
    ]
}

/// Creates cutover `c1` with the first version of `trail` and commits the
/// rest under a lease.
async fn written(store: &SqliteStore, trail: &[Vec<Event>]) {
    let state = |version| CutoverState { version, ..CutoverState::new("c1", Timestamp::from_ms(0)) };
    store.create("(test plan)", TimeScale::REAL, &state(1), &trail[0]).await.unwrap();
    let lease = store.acquire("c1", "test", Timestamp::from_ms(0), std::time::Duration::from_secs(3600)).await.unwrap();
    for events in &trail[1..] {
        store.commit(lease.epoch, &state(events[0].version), events).await.unwrap();
    }
}

/// What a driver does with a batch it persisted: hand over what notifies.
fn notify_all(webhooks: &Webhooks, trail: &[Vec<Event>]) {
    trail.iter().flatten().filter(|e| e.kind.notifies()).for_each(|e| webhooks.notify(e));
}

/// A store named `name` holding the whole trail, and a webhook answering
/// with `answer`: the store, the hook, its URL and the trail.
async fn setup(
    name: &str,
    answer: impl Fn(&Received) -> Answer + Send + Sync + 'static,
) -> (SqliteStore, Stub, String, Vec<Vec<Event>>) {
    let store = store(name);
    let hook = Stub::start(answer);
    let url = format!("{}/hook", hook.base());
    let trail = trail();
    written(&store, &trail).await;
    (store, hook, url, trail)
}

fn bodies(received: &[Received]) -> Vec<serde_json::Value> {
    received.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

fn keys(received: &[Received]) -> Vec<&str> {
    received.iter().map(|r| r.header("idempotency-key").unwrap()).collect()
}

#[tokio::test]
async fn what_notifies_reaches_the_webhook_in_order_and_a_503_is_tried_again() {
    let store = store("order");
    let calls = AtomicUsize::new(0);
    let hook = Stub::start(move |_| {
        let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
        Answer::json(if first { 503 } else { 204 }, "")
    });
    let url = format!("{}/hook", hook.base());
    let trail = trail();
    written(&store, &trail).await;
    let webhooks = Webhooks::new(&store, "c1", std::slice::from_ref(&url));
    webhooks.lead();
    notify_all(&webhooks, &trail);
    webhooks.flush().await;
    assert!(webhooks.drained());

    let received = hook.received();
    let bodies = bodies(&received);
    let heard: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(heard, ["started", "started", "edge_drift", "paused"], "in order; the first try got a 503");
    assert_eq!(keys(&received), ["c1/1/0", "c1/1/0", "c1/3/0", "c1/3/1"], "the key names the event's place");
    assert_eq!(bodies[3]["id"], "c1/3/1", "the body carries the key too");
    assert!(received.iter().all(|r| r.method == "POST" && r.path == "/hook"));
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    let text = bodies[2]["text"].as_str().unwrap();
    assert_eq!(text, "cutover c1: edge_drift: the edge holds 30%, not 5% as last written (about to apply 5%)");
    assert_eq!(bodies[2]["record"]["kind"]["found"], serde_json::json!(3000), "the event as the audit trail has it");
    assert_eq!(store.delivered("c1", &webhook_key(&url)).await, Ok(Some((3, 1))), "the mark follows the last sent");
    assert_eq!(undelivered(&store, "c1", &[url]).await, Ok(false), "nothing owed");
}

#[tokio::test]
async fn a_controller_that_dies_before_sending_leaves_the_notifications_to_the_next() {
    let store = store("kill");
    let hook = Stub::start(|_| Answer::json(204, ""));
    let url = format!("{}/hook", hook.base());
    let trail = trail();
    written(&store, &trail[..1]).await;
    {
        // The first controller sends `started`...
        let first = Webhooks::new(&store, "c1", std::slice::from_ref(&url));
        first.lead();
        notify_all(&first, &trail[..1]);
        first.flush().await;
        // ...then writes the drift and the pause, and is killed before
        // handing them over (its senders die with it).
        let lease = store.acquire("c1", "test", Timestamp::from_ms(0), std::time::Duration::from_secs(3600)).await;
        for events in &trail[1..] {
            let state = CutoverState { version: events[0].version, ..CutoverState::new("c1", Timestamp::from_ms(0)) };
            store.commit(lease.as_ref().unwrap().epoch, &state, events).await.unwrap();
        }
    }
    assert_eq!(keys(&hook.received()), ["c1/1/0"]);
    assert_eq!(
        undelivered(&store, "c1", std::slice::from_ref(&url)).await,
        Ok(true),
        "the drift and the pause are owed"
    );

    // The next leader has nothing handed over: it reads the trail.
    let next = Webhooks::new(&store, "c1", std::slice::from_ref(&url));
    assert!(!next.drained(), "not drained before it has read the trail");
    next.lead();
    next.flush().await;
    assert!(next.drained());
    assert_eq!(keys(&hook.received()), ["c1/1/0", "c1/3/0", "c1/3/1"], "each once: `started` was marked as sent");
    assert_eq!(undelivered(&store, "c1", &[url]).await, Ok(false));
}

#[tokio::test]
async fn a_sent_notification_whose_mark_was_lost_is_sent_again_under_the_same_key() {
    let (store, hook, url, _) = setup("again", |_| Answer::json(204, "")).await;
    let key = webhook_key(&url);
    // Sent up to the drift, then killed before marking the pause as sent.
    store.mark_delivered("c1", &key, (3, 0)).await.unwrap();
    let webhooks = Webhooks::new(&store, "c1", std::slice::from_ref(&url));
    webhooks.lead();
    webhooks.flush().await;
    assert_eq!(keys(&hook.received()), ["c1/3/1"], "only what lies after the mark");
}

#[tokio::test]
async fn a_refusal_is_final_and_the_next_event_goes_on() {
    let (store, hook, url, trail) = setup("refused", |r: &Received| {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        Answer::json(if body["event"] == "edge_drift" { 400 } else { 204 }, "")
    })
    .await;
    let webhooks = Webhooks::new(&store, "c1", std::slice::from_ref(&url));
    webhooks.lead();
    notify_all(&webhooks, &trail);
    webhooks.flush().await;
    assert_eq!(keys(&hook.received()), ["c1/1/0", "c1/3/0", "c1/3/1"], "a 400 is not tried again");
    assert_eq!(store.delivered("c1", &webhook_key(&url)).await, Ok(Some((3, 1))));
}

#[tokio::test]
async fn nothing_is_sent_before_the_lease_and_a_cutover_from_before_outboxes_owes_nothing() {
    let (store, hook, url, trail) = setup("follower", |_| Answer::json(204, "")).await;
    assert_eq!(
        undelivered(&store, "c1", std::slice::from_ref(&url)).await,
        Ok(false),
        "no mark: its notifications went out (or not) before the trail was the outbox"
    );
    let follower = Webhooks::new(&store, "c1", std::slice::from_ref(&url));
    notify_all(&follower, &trail);
    follower.flush().await;
    // Time for a sender that ignored the lease to send.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drop(follower);
    assert!(hook.received().is_empty(), "a controller that never led sends nothing");
    assert_eq!(store.delivered("c1", &webhook_key(&url)).await, Ok(None));
}

#[tokio::test]
async fn each_webhook_keeps_its_own_mark() {
    let store = store("two");
    let up = Stub::start(|_| Answer::json(204, ""));
    let refusing = Stub::start(|_| Answer::json(404, ""));
    let urls = [format!("{}/up", up.base()), format!("{}/gone", refusing.base())];
    let trail = trail();
    written(&store, &trail).await;
    let webhooks = Webhooks::new(&store, "c1", &urls);
    webhooks.lead();
    notify_all(&webhooks, &trail);
    webhooks.flush().await;
    assert_eq!(keys(&up.received()), ["c1/1/0", "c1/3/0", "c1/3/1"]);
    assert_eq!(refusing.received().len(), 3, "one try each: a 404 is final");
    for url in &urls {
        assert_eq!(store.delivered("c1", &webhook_key(url)).await, Ok(Some((3, 1))), "{url}");
    }
}
