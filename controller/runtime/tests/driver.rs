//! The driver runs the real engine and judge against the embedded store,
//! with a recording edge and scripted metric sources, on a compressed
//! clock: a short plan completes, a regression rolls back, and an
//! operator's rollback sent through the store's inbox is obeyed, and the
//! plan's webhooks hear about it.

use std::sync::Mutex;
use std::time::Duration;

use cutover_core::engine::{CutoverState, EventKind, PauseReason, Phase, RollbackReason};
use cutover_core::judge::SequentialJudge;
use cutover_core::measure::{Histogram, MeasureError, Measurement, SideSample, Window};
use cutover_core::plan::{Plan, Step};
use cutover_core::store::{Request, Store, TimeScale};
use cutover_core::units::{Timestamp, Weight};
use cutover_local::SqliteStore;
use cutover_runtime::{Driver, EdgeError, EdgePort, MetricsPort, ScaledClock, Settings, Webhooks};
use cutover_testkit::http::{Answer, Stub};

/// An edge that keeps its weight and the drift rule; `someone_else` makes
/// another party write a weight right after the cutover first applies one.
#[derive(Default)]
struct RecordingEdge {
    applied: Mutex<Vec<Weight>>,
    live: Mutex<Weight>,
    someone_else: Mutex<Option<(Weight, Weight)>>,
}

impl EdgePort for &RecordingEdge {
    async fn apply(
        &self,
        weight: Weight,
        expected: Weight,
    ) -> Result<Option<cutover_core::engine::Verification>, EdgeError> {
        let mut live = self.live.lock().unwrap();
        if cutover_core::ports::before_write(*live, weight, expected)? == cutover_core::ports::Write::Write {
            *live = weight;
            self.applied.lock().unwrap().push(weight);
        }
        let mut someone_else = self.someone_else.lock().unwrap();
        if let Some((after, writes)) = *someone_else {
            if after == weight {
                *live = writes;
                *someone_else = None;
            }
        }
        Ok(None)
    }

    async fn read(&self) -> Result<Weight, EdgeError> {
        Ok(*self.live.lock().unwrap())
    }
}

/// 200 requests a minute per side, latencies 30–49 ms on both; the new
/// side fails `serverless_error_percent` of its requests.
struct ScriptedMetrics {
    serverless_error_percent: u64,
}

impl MetricsPort for ScriptedMetrics {
    async fn measure(&self, window: Window) -> Result<Measurement, MeasureError> {
        let minutes = window.to.since(window.from).as_secs_f64() / 60.0;
        let requests = (200.0 * minutes).round() as u64;
        let side = |error_percent: u64| {
            let mut latency_ms = Histogram::default();
            for n in 0..requests {
                latency_ms.record(30.0 + (n % 20) as f64);
            }
            SideSample { requests, errors: requests * error_percent / 100, latency_ms, ..SideSample::default() }
        };
        let mut measurement = Measurement::default();
        measurement.traffic.legacy = side(0);
        measurement.traffic.serverless = side(self.serverless_error_percent);
        Ok(measurement)
    }
}

/// Two steps, 5 % and 100 %, 15 minutes each.
fn short_plan() -> Plan {
    let mut plan = Plan::default_plan();
    plan.schedule.steps = vec![
        Step { weight: Weight::from_bps(500).unwrap(), hold: Duration::from_secs(15 * 60) },
        Step { weight: Weight::FULL, hold: Duration::from_secs(15 * 60) },
    ];
    plan.schedule.freeze.clear();
    plan
}

fn store(name: &str) -> SqliteStore {
    let dir = std::env::temp_dir().join(format!("cutover-driver-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    SqliteStore::open(dir.join("cutover.db")).unwrap()
}

const ORIGIN: Timestamp = Timestamp::from_ms(1_795_867_200_000);

/// Creates the cutover, queues the operators' commands, and drives it.
async fn drive(store: &SqliteStore, edge: &RecordingEdge, errors: u64, commands: &[&str]) -> CutoverState {
    drive_plan(store, edge, errors, commands, short_plan()).await
}

async fn drive_plan(
    store: &SqliteStore,
    edge: &RecordingEdge,
    errors: u64,
    commands: &[&str],
    plan: Plan,
) -> CutoverState {
    store.create("(test plan)", TimeScale::REAL, &CutoverState::new("c1", ORIGIN), &[]).await.unwrap();
    for command in commands {
        let reason = Some(format!("{command}, because the test says so"));
        let request = Request { seq: 0, command: (*command).into(), actor: "ana".into(), reason, at: ORIGIN };
        store.send("c1", &request).await.unwrap();
    }
    let driver = Driver {
        store: store.clone(),
        edge,
        metrics: ScriptedMetrics { serverless_error_percent: errors },
        notifier: Webhooks::new(&plan.notify.webhooks),
        clock: ScaledClock::new(ScaledClock::starting_now(20_000.0)),
        settings: Settings { poll: Duration::from_millis(20), ..Settings::default() },
    };
    tokio::time::timeout(Duration::from_secs(60), driver.run("c1", &plan, SequentialJudge::new))
        .await
        .expect("the cutover settles within a minute")
        .expect("the driver runs")
}

#[tokio::test]
async fn a_healthy_cutover_completes_with_every_decision_recorded() {
    let (store, edge) = (store("healthy"), RecordingEdge::default());
    let state = drive(&store, &edge, 0, &["start"]).await;
    assert_eq!(state.phase, Phase::Completed);
    assert_eq!(*edge.applied.lock().unwrap(), vec![Weight::from_bps(500).unwrap(), Weight::FULL]);

    let history = store.history("c1").await.unwrap();
    let names: Vec<&str> = history.iter().map(|e| e.kind.name()).collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("{name} in {names:?}"));
    assert!(position("started") < position("weight_intent"));
    assert!(position("weight_intent") < position("weight_confirmed"));
    assert!(position("step_advanced") < position("completed"));
    assert!(names.contains(&"analysis"));
    let versions: Vec<(u64, u16)> = history.iter().map(|e| (e.version, e.index)).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "audit order: {versions:?}");
    assert_eq!(store.load("c1").await.unwrap().unwrap().state, state, "the store holds the final state");
}

#[tokio::test]
async fn a_regression_on_the_new_side_rolls_back_to_zero() {
    let (store, edge) = (store("regression"), RecordingEdge::default());
    let state = drive(&store, &edge, 20, &["start"]).await;
    assert!(matches!(state.phase, Phase::RolledBack { .. }), "{:?}", state.phase);
    assert_eq!(edge.applied.lock().unwrap().last(), Some(&Weight::ZERO));
    let history = store.history("c1").await.unwrap();
    let failed = history.iter().find_map(|e| match &e.kind {
        EventKind::Analysis { analysis, .. } if analysis.verdict.as_str() == "fail" => Some(analysis.clone()),
        _ => None,
    });
    let failed = failed.expect("the failing verdict is in the audit trail");
    assert!(failed.samples.serverless > 0, "with its numbers: {failed:?}");
}

#[tokio::test]
async fn an_operators_rollback_through_the_inbox_is_obeyed() {
    let (store, edge) = (store("operator"), RecordingEdge::default());
    let state = drive(&store, &edge, 0, &["start", "rollback"]).await;
    assert_eq!(state.phase, Phase::RolledBack { reason: RollbackReason::Operator });
    assert_eq!(edge.applied.lock().unwrap().last(), Some(&Weight::ZERO));
    let history = store.history("c1").await.unwrap();
    let rollback = history.iter().find(|e| e.kind.name() == "rollback_started").expect("rollback_started");
    assert_eq!(rollback.reason.as_deref(), Some("rollback, because the test says so"), "the operator's words are kept");
    assert!(rollback.describe().ends_with(": \"rollback, because the test says so\""), "{}", rollback.describe());
    let controller_events = history.iter().filter(|e| e.actor == cutover_core::engine::Actor::Controller);
    assert!(controller_events.clone().count() > 0 && controller_events.clone().all(|e| e.reason.is_none()));
}

/// Someone sets the weight by hand while a step holds: the controller sees
/// it at its next read, records what it expected and found, and pauses
/// without writing; an operator's resume takes it from there. The webhook
/// hears each of those in order, though its first answer is a 503.
#[tokio::test]
async fn a_weight_written_by_someone_else_pauses_until_an_operator_resumes() {
    let (store, edge) = (store("drift"), RecordingEdge::default());
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let hook = Stub::start(move |_| {
        let first = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        Answer::json(if first { 503 } else { 204 }, "")
    });
    let five = Weight::from_bps(500).unwrap();
    let thirty = Weight::from_bps(3000).unwrap();
    *edge.someone_else.lock().unwrap() = Some((five, thirty));
    let resumer = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let Ok(Some(stored)) = store.load("c1").await else { continue };
                if stored.state.phase == (Phase::Paused { reason: PauseReason::Drift }) {
                    let request = Request {
                        seq: 0,
                        command: "resume".into(),
                        actor: "ana".into(),
                        reason: Some("30 % was my test; carry on".into()),
                        at: ORIGIN,
                    };
                    store.send("c1", &request).await.unwrap();
                    return;
                }
            }
        })
    };
    let mut plan = short_plan();
    plan.notify.webhooks = vec![format!("{}/hook", hook.base())];
    // 4 h (0.7 s here) for the resume to arrive before the hold ends: a
    // resume after it advances straight to 100 %, not re-applying 5 %.
    plan.schedule.steps[0].hold = Duration::from_secs(4 * 3600);
    let state = drive_plan(&store, &edge, 0, &["start"], plan).await;
    resumer.await.unwrap();
    assert_eq!(state.phase, Phase::Completed);
    let history = store.history("c1").await.unwrap();
    let drift = history.iter().find_map(|e| match e.kind {
        EventKind::EdgeDrift { expected, found, wanted } => Some((expected, found, wanted)),
        _ => None,
    });
    assert_eq!(drift, Some((five, thirty, five)), "what it expected and what it found are recorded");
    let names: Vec<&str> = history.iter().map(|e| e.kind.name()).collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("{name} in {names:?}"));
    assert!(position("edge_drift") < position("paused") && position("paused") < position("resumed"), "{names:?}");
    assert_eq!(*edge.applied.lock().unwrap(), vec![five, five, Weight::FULL], "the resume re-applied the intent");

    // Flushed before `run` returned: everything is there already.
    let received = hook.received();
    let bodies: Vec<serde_json::Value> = received.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    let heard: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(
        heard,
        ["started", "started", "edge_drift", "paused", "resumed", "completed"],
        "in order; the first try of `started` got a 503 and was repeated"
    );
    assert!(received.iter().all(|r| r.method == "POST" && r.path == "/hook"));
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    let text = bodies[2]["text"].as_str().unwrap();
    assert_eq!(text, "cutover c1: edge_drift: the edge holds 30%, not 5% as last written (about to apply 5%)");
    assert_eq!(bodies[2]["record"]["kind"]["found"], serde_json::json!(3000), "the event as the audit trail has it");
}

#[tokio::test]
async fn a_missing_cutover_is_named() {
    let store = store("missing");
    let driver = Driver {
        store,
        edge: &RecordingEdge::default(),
        metrics: ScriptedMetrics { serverless_error_percent: 0 },
        notifier: Webhooks::new(&[]),
        clock: ScaledClock::new(TimeScale::REAL),
        settings: Settings::default(),
    };
    let err = driver.run("nope", &short_plan(), SequentialJudge::new).await.unwrap_err();
    assert_eq!(err.to_string(), "no cutover nope in the store");
}
