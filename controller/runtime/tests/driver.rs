//! The driver runs the real engine and judge against the embedded store,
//! with a recording edge and scripted metric sources, on tokio's paused
//! clock: hours of a cutover pass in milliseconds and nothing depends on how
//! busy the machine is. A short plan completes, a regression rolls back, an
//! operator's rollback sent through the store's inbox is obeyed; a rollback
//! is written while a verification hangs; a ten-minute read never lets the
//! lease lapse; and a lease held elsewhere is waited for a bounded time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cutover_core::engine::{Command, CutoverState, Event, EventKind, PauseReason, Phase, RollbackReason, Verification};
use cutover_core::judge::SequentialJudge;
use cutover_core::measure::{Histogram, MeasureError, Measurement, SideSample, Window};
use cutover_core::plan::{Plan, Step};
use cutover_core::ports::{before_write, Write};
use cutover_core::store::{CommitWatch, Request, Store, StoreError, TimeScale, Watched};
use cutover_core::units::Weight;
use cutover_local::SqliteStore;
use cutover_runtime::{Clock, Driver, DriverError, EdgeError, EdgePort, MetricsPort, Notifier, ScaledClock, Settings};
use tokio::time::Instant;

/// An edge that keeps its weight and the drift rule, and records when each
/// weight was written. `someone_else` makes another party write a weight
/// right after the cutover first applies one; `hang_verify` makes the
/// verification of any weight above 0 take that long.
#[derive(Default)]
struct RecordingEdge {
    applied: Mutex<Vec<(Instant, Weight)>>,
    live: Mutex<Weight>,
    someone_else: Mutex<Option<(Weight, Weight)>>,
    hang_verify: Option<Duration>,
}

impl RecordingEdge {
    fn weights(&self) -> Vec<Weight> {
        self.applied.lock().unwrap().iter().map(|(_, w)| *w).collect()
    }

    fn written_at(&self, weight: Weight) -> Option<Instant> {
        self.applied.lock().unwrap().iter().find(|(_, w)| *w == weight).map(|(t, _)| *t)
    }
}

impl EdgePort for &RecordingEdge {
    async fn apply(&self, weight: Weight, expected: Weight) -> Result<(), EdgeError> {
        let mut live = self.live.lock().unwrap();
        if before_write(*live, weight, expected)? == Write::Write {
            *live = weight;
            self.applied.lock().unwrap().push((Instant::now(), weight));
        }
        let mut someone_else = self.someone_else.lock().unwrap();
        if let Some((after, writes)) = *someone_else {
            if after == weight {
                *live = writes;
                *someone_else = None;
            }
        }
        Ok(())
    }

    async fn verify(&self, weight: Weight) -> Result<Option<Verification>, EdgeError> {
        if let Some(hang) = self.hang_verify.filter(|_| weight > Weight::ZERO) {
            tokio::time::sleep(hang).await;
        }
        Ok(None)
    }

    async fn read(&self) -> Result<Weight, EdgeError> {
        Ok(*self.live.lock().unwrap())
    }
}

/// 200 requests a minute per side, latencies 30–49 ms on both; the new
/// side fails `serverless_error_percent` of its requests. Windows longer
/// than `slow_over` take `slow_for` to read.
#[derive(Default)]
struct ScriptedMetrics {
    serverless_error_percent: u64,
    slow_over: Option<Duration>,
    slow_for: Duration,
    slow_reads: AtomicUsize,
}

impl ScriptedMetrics {
    fn failing(percent: u64) -> ScriptedMetrics {
        ScriptedMetrics { serverless_error_percent: percent, ..ScriptedMetrics::default() }
    }
}

impl MetricsPort for &ScriptedMetrics {
    async fn measure(&self, window: Window) -> Result<Measurement, MeasureError> {
        let span = window.to.since(window.from);
        if self.slow_over.is_some_and(|over| span > over) {
            self.slow_reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.slow_for).await;
        }
        let requests = (200.0 * span.as_secs_f64() / 60.0).round() as u64;
        let side = |error_percent: u64| {
            let mut latency_ms = Histogram::default();
            for n in 0..requests.min(20_000) {
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

/// Remembers what it was asked to tell, as the audit trail names it.
#[derive(Default)]
struct Heard(Mutex<Vec<&'static str>>);

impl Notifier for &Heard {
    fn notify(&self, event: &Event) {
        self.0.lock().unwrap().push(event.kind.name());
    }

    async fn flush(&self) {}
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

fn five() -> Weight {
    Weight::from_bps(500).unwrap()
}

fn store(name: &str) -> SqliteStore {
    let dir = std::env::temp_dir().join(format!("cutover-driver-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    SqliteStore::open(dir.join("cutover.db")).unwrap()
}

thread_local! {
    /// One wall clock per test (each test has a thread and a runtime of its
    /// own): every party of a test must agree on the time.
    static CLOCK: ScaledClock = ScaledClock::on_tokio_time(TimeScale::REAL);
}

fn clock() -> ScaledClock {
    CLOCK.with(|c| *c)
}

/// A week of virtual time: a driver that hangs fails the test at once
/// (the paused clock jumps straight to this deadline), never slowly.
const PATIENCE: Duration = Duration::from_secs(7 * 24 * 3600);

async fn send(store: &SqliteStore, command: Command) {
    let reason = Some(format!("{}, because the test says so", command.as_str()));
    let request = Request { seq: 0, command, actor: "ana".into(), reason, at: clock().now() };
    store.send("c1", &request).await.unwrap();
}

async fn create(store: &SqliteStore) {
    store.create("(test plan)", TimeScale::REAL, &CutoverState::new("c1", clock().now()), &[]).await.unwrap();
}

fn driver<'a>(
    store: &SqliteStore,
    edge: &'a RecordingEdge,
    metrics: &'a ScriptedMetrics,
    heard: &'a Heard,
    holder: &str,
) -> Driver<SqliteStore, &'a RecordingEdge, &'a ScriptedMetrics, ScaledClock, &'a Heard> {
    Driver {
        store: store.clone(),
        edge,
        metrics,
        notifier: heard,
        clock: clock(),
        settings: Settings { holder: holder.into(), ..Settings::default() },
    }
}

/// Creates the cutover, queues the operators' commands, and drives it.
async fn drive(
    store: &SqliteStore,
    edge: &RecordingEdge,
    metrics: &ScriptedMetrics,
    commands: &[Command],
) -> CutoverState {
    create(store).await;
    for command in commands {
        send(store, *command).await;
    }
    let heard = Heard::default();
    let driver = driver(store, edge, metrics, &heard, "controller-a");
    tokio::time::timeout(PATIENCE, driver.run("c1", &short_plan(), SequentialJudge::new))
        .await
        .expect("the cutover settles")
        .expect("the driver runs")
}

#[tokio::test(start_paused = true)]
async fn a_healthy_cutover_completes_with_every_decision_recorded() {
    let (store, edge) = (store("healthy"), RecordingEdge::default());
    let state = drive(&store, &edge, &ScriptedMetrics::default(), &[Command::Start]).await;
    assert_eq!(state.phase, Phase::Completed);
    assert_eq!(edge.weights(), vec![five(), Weight::FULL]);

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

#[tokio::test(start_paused = true)]
async fn a_regression_on_the_new_side_rolls_back_to_zero() {
    let (store, edge) = (store("regression"), RecordingEdge::default());
    let state = drive(&store, &edge, &ScriptedMetrics::failing(20), &[Command::Start]).await;
    assert!(matches!(state.phase, Phase::RolledBack { .. }), "{:?}", state.phase);
    assert_eq!(edge.weights().last(), Some(&Weight::ZERO));
    let history = store.history("c1").await.unwrap();
    let failed = history.iter().find_map(|e| match &e.kind {
        EventKind::Analysis { analysis, .. } if analysis.verdict.as_str() == "fail" => Some(analysis.clone()),
        _ => None,
    });
    let failed = failed.expect("the failing verdict is in the audit trail");
    assert!(failed.samples.serverless > 0, "with its numbers: {failed:?}");
}

#[tokio::test(start_paused = true)]
async fn an_operators_rollback_through_the_inbox_is_obeyed() {
    let (store, edge) = (store("operator"), RecordingEdge::default());
    let state = drive(&store, &edge, &ScriptedMetrics::default(), &[Command::Start, Command::Rollback]).await;
    assert_eq!(state.phase, Phase::RolledBack { reason: RollbackReason::Operator });
    assert_eq!(edge.weights().last(), Some(&Weight::ZERO));
    let history = store.history("c1").await.unwrap();
    let rollback = history.iter().find(|e| e.kind.name() == "rollback_started").expect("rollback_started");
    assert_eq!(rollback.reason.as_deref(), Some("rollback, because the test says so"), "the operator's words are kept");
    assert!(rollback.describe().ends_with(": \"rollback, because the test says so\""), "{}", rollback.describe());
    let controller_events = history.iter().filter(|e| e.actor == cutover_core::engine::Actor::Controller);
    assert!(controller_events.clone().count() > 0 && controller_events.clone().all(|e| e.reason.is_none()));
}

/// Someone sets the weight by hand while a step holds: the controller sees
/// it at its next read, records what it expected and found, and pauses
/// without writing; an operator's resume takes it from there. The notifier
/// hears each of those, in order.
#[tokio::test(start_paused = true)]
async fn a_weight_written_by_someone_else_pauses_until_an_operator_resumes() {
    let (store, edge) = (store("drift"), RecordingEdge::default());
    let thirty = Weight::from_bps(3000).unwrap();
    *edge.someone_else.lock().unwrap() = Some((five(), thirty));
    create(&store).await;
    send(&store, Command::Start).await;
    let heard = Heard::default();
    let metrics = ScriptedMetrics::default();
    let (driver, plan) = (driver(&store, &edge, &metrics, &heard, "controller-a"), short_plan());
    let resumer = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stored = store.load("c1").await.unwrap().unwrap();
            if stored.state.phase == (Phase::Paused { reason: PauseReason::Drift }) {
                return send(&store, Command::Resume).await;
            }
        }
    };
    let (state, ()) =
        tokio::time::timeout(PATIENCE, async { tokio::join!(driver.run("c1", &plan, SequentialJudge::new), resumer) })
            .await
            .expect("settles");
    assert_eq!(state.expect("the driver runs").phase, Phase::Completed);
    let history = store.history("c1").await.unwrap();
    let drift = history.iter().find_map(|e| match e.kind {
        EventKind::EdgeDrift { expected, found, wanted } => Some((expected, found, wanted)),
        _ => None,
    });
    assert_eq!(drift, Some((five(), thirty, five())), "what it expected and what it found are recorded");
    let names: Vec<&str> = history.iter().map(|e| e.kind.name()).collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("{name} in {names:?}"));
    assert!(position("edge_drift") < position("paused") && position("paused") < position("resumed"), "{names:?}");
    assert_eq!(edge.weights(), vec![five(), five(), Weight::FULL], "the resume re-applied the intent");
    assert_eq!(*heard.0.lock().unwrap(), ["started", "edge_drift", "paused", "resumed", "completed"]);
}

/// A verification that hangs for two minutes (an edge slow to propagate)
/// does not hold up an operator's rollback: the rollback's write reaches
/// the edge within one poll of the command, and the cutover settles
/// RolledBack without waiting for the verification.
#[tokio::test(start_paused = true)]
async fn a_rollback_is_written_while_a_verification_hangs() {
    let store = store("hanging-verification");
    let edge = RecordingEdge { hang_verify: Some(Duration::from_secs(120)), ..RecordingEdge::default() };
    let (metrics, heard) = (ScriptedMetrics::default(), Heard::default());
    create(&store).await;
    send(&store, Command::Start).await;
    let (driver, plan) = (driver(&store, &edge, &metrics, &heard, "controller-a"), short_plan());
    let operator = async {
        while edge.written_at(five()).is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        send(&store, Command::Rollback).await;
        Instant::now()
    };
    let (state, sent) =
        tokio::time::timeout(PATIENCE, async { tokio::join!(driver.run("c1", &plan, SequentialJudge::new), operator) })
            .await
            .expect("settles");
    assert_eq!(state.expect("the driver runs").phase, Phase::RolledBack { reason: RollbackReason::Operator });
    let (wrote_five, wrote_zero) = (edge.written_at(five()).unwrap(), edge.written_at(Weight::ZERO).unwrap());
    let after_command = wrote_zero.duration_since(sent);
    assert!(
        after_command <= Settings::default().poll + Duration::from_millis(100),
        "the rollback reached the edge {after_command:?} after the command"
    );
    assert!(wrote_zero.duration_since(wrote_five) < Duration::from_secs(11), "not after the 120 s verification");
}

/// A controller dies mid-cutover; the next one reads the old side's
/// baseline again, and that read takes ten minutes. All along it keeps the
/// lease: a contender asking every second never gets it, and no lapse
/// forces a retake (the next epoch after it is its own plus one).
#[tokio::test(start_paused = true)]
async fn a_ten_minute_read_never_lets_the_lease_lapse() {
    let (store, edge, heard) = (store("slow-read"), RecordingEdge::default(), Heard::default());
    create(&store).await;
    send(&store, Command::Start).await;
    let fast = ScriptedMetrics::default();
    let (first, plan) = (driver(&store, &edge, &fast, &heard, "controller-a"), short_plan());
    let in_second_step = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let state = store.load("c1").await.unwrap().unwrap().state;
            if state.step == 1 && state.step_started_at.is_some() {
                return;
            }
        }
    };
    tokio::select! {
        outcome = first.run("c1", &plan, SequentialJudge::new) => panic!("ended early: {outcome:?}"),
        () = in_second_step => {} // the first controller dies here, its lease left to run out
    }
    tokio::time::sleep(Settings::default().lease_ttl + Duration::from_secs(1)).await;

    let slow = ScriptedMetrics {
        slow_over: Some(Duration::from_secs(10 * 60)),
        slow_for: Duration::from_secs(600),
        ..ScriptedMetrics::default()
    };
    let second = driver(&store, &edge, &slow, &heard, "controller-b");
    let taken = AtomicUsize::new(0);
    let contender = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        loop {
            match store.acquire("c1", "contender", clock().wall_now(), Duration::from_secs(15)).await {
                Ok(lease) => {
                    taken.fetch_add(1, Ordering::SeqCst);
                    store.release("c1", &lease).await.unwrap();
                }
                Err(cutover_core::store::StoreError::LeaseHeld { holder, .. }) => {
                    assert_eq!(holder, "controller-b")
                }
                Err(e) => panic!("{e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let state = tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            state = second.run("c1", &plan, SequentialJudge::new) => state,
            () = contender => unreachable!(),
        }
    })
    .await
    .expect("settles")
    .expect("the second controller runs");
    assert_eq!(state.phase, Phase::Completed);
    assert!(slow.slow_reads.load(Ordering::SeqCst) >= 1, "the baseline read took ten minutes");
    assert_eq!(taken.load(Ordering::SeqCst), 0, "the contender never got the lease");
    let after = store.acquire("c1", "auditor", clock().wall_now(), Duration::from_secs(15)).await.unwrap();
    assert_eq!(after.epoch, 3, "two leases before this one: the first controller's and the second's, never retaken");
}

/// Another controller holds the lease for an hour: `run` waits for
/// `acquire_wait`, then says who holds it and until when.
#[tokio::test(start_paused = true)]
async fn lease_acquisition_is_bounded_and_names_the_holder() {
    let (store, edge, metrics, heard) =
        (store("held"), RecordingEdge::default(), ScriptedMetrics::default(), Heard::default());
    create(&store).await;
    send(&store, Command::Start).await; // a driver that ignored the lease would apply 5 %
    let held =
        store.acquire("c1", "controller-elsewhere", clock().wall_now(), Duration::from_secs(3600)).await.unwrap();
    let driver = driver(&store, &edge, &metrics, &heard, "controller-a");
    let started = Instant::now();
    let plan = short_plan();
    let run = driver.run("c1", &plan, SequentialJudge::new);
    let err = tokio::time::timeout(PATIENCE, run).await.expect("gives up").unwrap_err();
    let waited = started.elapsed();
    let DriverError::LeaseHeld { holder, until, .. } = &err else { panic!("{err}") };
    assert_eq!((holder.as_str(), *until), ("controller-elsewhere", held.expires_at));
    assert!(
        err.to_string().starts_with("cutover c1 is driven by controller-elsewhere (its lease runs until 20"),
        "{err}"
    );
    let bound = Settings::default().acquire_wait;
    assert!(waited >= bound && waited <= bound + Settings::default().poll, "gave up after {waited:?}");
    assert!(edge.weights().is_empty(), "nothing was applied");
}

#[tokio::test(start_paused = true)]
async fn a_missing_cutover_is_named() {
    let (store, edge, metrics, heard) =
        (store("missing"), RecordingEdge::default(), ScriptedMetrics::default(), Heard::default());
    let err = driver(&store, &edge, &metrics, &heard, "controller-a")
        .run("nope", &short_plan(), SequentialJudge::new)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no cutover nope in the store");
}

/// Refuses the first commit holding an event of one kind, as if another
/// write had got there first: the driver rebuilds from the store.
#[derive(Clone)]
struct FailsFirst {
    kind: &'static str,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FailsFirst {
    fn of(kind: &'static str) -> FailsFirst {
        FailsFirst { kind, failed: Default::default() }
    }
}

impl CommitWatch for FailsFirst {
    fn before(&self, state: &CutoverState, events: &[Event]) -> Result<(), StoreError> {
        let hit = events.iter().any(|e| e.kind.name() == self.kind);
        if hit && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(StoreError::VersionConflict { id: state.id.clone(), follows: state.version - 1, stored: None });
        }
        Ok(())
    }
}

/// Starts cutover "c1" over a store whose first commit of `kind` fails; once
/// the edge holds 5 %, an operator sends `commands`. The state it settles in.
async fn with_one_failed_write(name: &str, kind: &'static str, commands: &[Command]) -> (CutoverState, Vec<Event>) {
    let sqlite = store(name);
    let store = Watched { inner: sqlite.clone(), watch: FailsFirst::of(kind) };
    let (edge, metrics, heard) = (RecordingEdge::default(), ScriptedMetrics::default(), Heard::default());
    create(&sqlite).await;
    send(&sqlite, Command::Start).await;
    let driver = Driver {
        store: store.clone(),
        edge: &edge,
        metrics: &metrics,
        notifier: &heard,
        clock: clock(),
        settings: Settings { holder: "controller-a".into(), ..Settings::default() },
    };
    let plan = short_plan();
    let operator = async {
        while edge.written_at(five()).is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for command in commands {
            send(&sqlite, *command).await;
        }
    };
    let both = async { tokio::join!(driver.run("c1", &plan, SequentialJudge::new), operator) };
    let (state, ()) = tokio::time::timeout(PATIENCE, both).await.expect("settles, not left paused");
    assert!(store.watch.failed.load(Ordering::SeqCst), "the first {kind} write failed");
    (state.expect("the driver runs"), sqlite.history("c1").await.unwrap())
}

/// The operator's rollback, read from the inbox when its write fails, is
/// read again after the rebuild (the inbox keeps it until a write covers
/// it) and handled then, once.
#[tokio::test(start_paused = true)]
async fn a_command_whose_write_failed_is_handled_again_after_the_rebuild() {
    let (state, history) = with_one_failed_write("rebuild", "rollback_started", &[Command::Rollback]).await;
    assert_eq!(state.phase, Phase::RolledBack { reason: RollbackReason::Operator });
    let rollbacks = history.iter().filter(|e| e.kind.name() == "rollback_started").count();
    assert_eq!(rollbacks, 1, "recorded once, by the second try");
}

/// An operator pauses and at once resumes. The pause's write fails: after
/// the rebuild it is handled again before the resume, in the order sent,
/// so the cutover goes on (handled after it, the resume would be refused
/// and the cutover left paused for good).
#[tokio::test(start_paused = true)]
async fn commands_keep_their_order_when_a_write_fails() {
    let (state, history) = with_one_failed_write("order", "paused", &[Command::Pause, Command::Resume]).await;
    assert_eq!(state.phase, Phase::Completed);
    let names: Vec<_> = history.iter().map(|e| e.kind.name()).filter(|n| ["paused", "resumed"].contains(n)).collect();
    assert_eq!(names, ["paused", "resumed"]);
}

/// `run_until` stops when told: the lease is released for another
/// controller at once, and the state as it stands comes back.
#[tokio::test(start_paused = true)]
async fn a_driver_told_to_stop_releases_its_lease() {
    let (store, edge, metrics, heard) =
        (store("stop"), RecordingEdge::default(), ScriptedMetrics::default(), Heard::default());
    create(&store).await;
    send(&store, Command::Start).await;
    let driver = driver(&store, &edge, &metrics, &heard, "controller-a");
    let stop = tokio::time::sleep(Duration::from_secs(5 * 60));
    let plan = short_plan();
    let run = driver.run_until("c1", &plan, SequentialJudge::new, None, stop);
    let state = tokio::time::timeout(PATIENCE, run).await.expect("stops").expect("runs");
    assert_eq!((state.phase, state.weight), (Phase::Progressing, five()), "mid-step, as it stood");
    let taken = store.acquire("c1", "controller-b", clock().wall_now(), Duration::from_secs(15)).await;
    assert!(taken.is_ok(), "the lease was released: {taken:?}");
}
