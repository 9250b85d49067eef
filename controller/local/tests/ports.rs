//! The driver's ports on a real local edge: the weight with its ETag
//! rules, a conflict, an edge that is down, and a window of metrics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cutover_core::measure::{Source, Window};
use cutover_core::plan::CohortKey;
use cutover_core::ports::{Clock, EdgeError, EdgePort, MetricsPort};
use cutover_core::units::{Timestamp, Weight};
use cutover_local::{Edge, EdgeConfig, LocalEdgePort, LocalMetricsPort};
use cutover_testkit::http::{raw_request, Answer, Received, Stub};

/// Engine time is wall time.
struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_ms(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
    }
    fn wall_now(&self) -> Timestamp {
        self.now()
    }
    async fn sleep_until(&self, t: Timestamp) {
        tokio::time::sleep(Duration::from_millis(t.as_ms().saturating_sub(self.now().as_ms()))).await;
    }
    fn wall_ms(&self, t: Timestamp) -> u64 {
        t.as_ms()
    }
}

async fn edge(upstream: &Stub) -> Edge {
    let config = EdgeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        legacy: upstream.base().parse().unwrap(),
        serverless: upstream.base().parse().unwrap(),
        cohort: CohortKey::ViewerIp,
        salt: "s".into(),
        slot: Duration::from_millis(50),
        keep: cutover_local::Keep::default(),
    };
    Edge::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_port_sets_the_weight() {
    let upstream = Stub::start(|_: &Received| Answer::json(200, "{}"));
    let edge = edge(&upstream).await;
    let port = LocalEdgePort::new(format!("http://{}", edge.admin_address()));
    let five = Weight::from_bps(500).unwrap();
    port.apply(five, Weight::ZERO).await.unwrap();
    assert_eq!(edge.weight(), five);
    assert_eq!(port.read().await, Ok(five));
    port.apply(five, Weight::ZERO).await.unwrap();
    assert_eq!(edge.weight(), five, "applying what is there is done at once");
    port.apply(Weight::ZERO, five).await.unwrap();
    assert_eq!(edge.weight(), Weight::ZERO);
}

/// A weight someone else wrote is not overwritten by a step; a rollback to
/// 0 is applied over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_someone_else_wrote_is_drift() {
    let upstream = Stub::start(|_: &Received| Answer::json(200, "{}"));
    let edge = edge(&upstream).await;
    let port = LocalEdgePort::new(format!("http://{}", edge.admin_address()));
    let (five, ten, thirty) =
        (Weight::from_bps(500).unwrap(), Weight::from_bps(1000).unwrap(), Weight::from_bps(3000).unwrap());
    port.apply(five, Weight::ZERO).await.unwrap();
    // Someone else, through the same admin API, with a valid ETag.
    LocalEdgePort::new(format!("http://{}", edge.admin_address())).apply(thirty, five).await.unwrap();
    assert_eq!(port.apply(ten, five).await, Err(EdgeError::Drift { found: thirty }));
    assert_eq!(edge.weight(), thirty, "left as found");
    port.apply(Weight::ZERO, five).await.unwrap();
    assert_eq!(edge.weight(), Weight::ZERO, "a rollback goes through");
}

#[tokio::test]
async fn a_changed_etag_is_a_conflict_and_a_dead_edge_a_failure() {
    // An edge whose weight always changes between the GET and the PUT.
    let racing = Stub::start(|request: &Received| match request.method.as_str() {
        "GET" => Answer::json(200, r#"{"weight_bps":0}"#).with_header("etag", "\"1\""),
        _ => Answer::json(412, r#"{"error":"precondition_failed","message":"the weight changed"}"#),
    });
    let port = LocalEdgePort::new(racing.base());
    assert_eq!(port.apply(Weight::FULL, Weight::ZERO).await, Err(EdgeError::Conflict));

    let dead = format!("http://127.0.0.1:{}", cutover_testkit::free_port());
    let err = LocalEdgePort::new(&dead).apply(Weight::FULL, Weight::ZERO).await.unwrap_err();
    assert!(matches!(&err, EdgeError::Failed(m) if m.contains("the local edge did not answer")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_port_reads_a_window() {
    let upstream = Stub::start(|_: &Received| Answer::json(200, "{}"));
    let edge = edge(&upstream).await;
    let from = WallClock.now();
    let address = edge.address().to_string();
    tokio::task::spawn_blocking(move || {
        for _ in 0..4 {
            raw_request(&address, b"GET /api/health HTTP/1.1\r\nhost: e\r\nconnection: close\r\n\r\n").unwrap();
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let to = WallClock.now();
    let port = LocalMetricsPort::new(format!("http://{}", edge.admin_address()), WallClock);
    let measured = port.measure(Window { from: Timestamp::from_ms(from.as_ms() - 50), to }).await.unwrap();
    assert_eq!(measured.traffic.legacy.requests, 4, "weight 0: all four on legacy");

    let dead = LocalMetricsPort::new(format!("http://127.0.0.1:{}", cutover_testkit::free_port()), WallClock);
    let err = dead.measure(Window { from, to }).await.unwrap_err();
    assert_eq!(err.source_name, Source::LocalEdge);
}
