//! The local edge over real HTTP, between two stub upstreams: sticky
//! bucketing against `cutover_core::cohort`, the weight's ETag rules,
//! probes, other paths, and what it records.

use std::time::{SystemTime, UNIX_EPOCH};

use cutover_core::cohort;
use cutover_core::measure::Side;
use cutover_core::plan::CohortKey;
use cutover_core::units::Weight;
use cutover_local::{Edge, EdgeConfig};
use cutover_testkit::http::{raw_request, Answer, Received, Stub};
use serde_json::Value;

/// An edge on its own runtime (kept alive by the returned value) in front
/// of a legacy and a serverless stub that name themselves in the body.
struct Setup {
    edge: Edge,
    _runtime: tokio::runtime::Runtime,
    _legacy: Stub,
    serverless: Stub,
}

fn upstream(side: &'static str) -> Stub {
    Stub::start(move |request: &Received| match request.path.as_str() {
        "/api/fail" => Answer::json(503, format!(r#"{{"side":"{side}"}}"#)),
        "/api/cold" => Answer::json(200, format!(r#"{{"side":"{side}"}}"#)).with_header("x-cold-start", "1"),
        _ => Answer::json(200, format!(r#"{{"side":"{side}"}}"#)),
    })
}

fn setup(cohort: CohortKey) -> Setup {
    let (legacy, serverless) = (upstream("legacy"), upstream("serverless"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let config = EdgeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        legacy: legacy.base().parse().unwrap(),
        serverless: serverless.base().parse().unwrap(),
        cohort,
        salt: "internal-api".into(),
        slot: std::time::Duration::from_secs(1),
        keep: cutover_local::Keep::default(),
    };
    let edge = runtime.block_on(Edge::start(config)).expect("start the edge");
    Setup { edge, _runtime: runtime, _legacy: legacy, serverless }
}

impl Setup {
    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Option<String>, Value) {
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
        let address = match path.starts_with("/_cutover/") {
            true => self.edge.admin_address().to_string(),
            false => self.edge.address().to_string(),
        };
        let response = raw_request(&address, request.as_bytes()).expect("an answer from the edge");
        let etag = response.header("etag").map(str::to_owned);
        (response.status, etag, serde_json::from_slice(&response.body).unwrap_or(Value::Null))
    }

    fn side_of(&self, path: &str, headers: &[(&str, &str)]) -> String {
        let (status, _, body) = self.send("GET", path, headers, "");
        assert!(status < 500 || path == "/api/fail", "{path}: {status} {body}");
        body["side"].as_str().unwrap_or("none").to_owned()
    }

    fn set_weight(&self, bps: u16) {
        let (_, etag, _) = self.send("GET", "/_cutover/weight", &[], "");
        let etag = etag.expect("an ETag");
        let (status, _, body) =
            self.send("PUT", "/_cutover/weight", &[("if-match", &etag)], &format!(r#"{{"weight_bps":{bps}}}"#));
        assert_eq!(status, 200, "{body}");
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn requests_split_by_the_cohort_bucket_and_stay_put_as_the_weight_grows() {
    let setup = setup(CohortKey::Header("x-user-id".into()));
    assert_eq!(setup.side_of("/api/health", &[("x-user-id", "user-1")]), "legacy", "weight 0: everybody on legacy");
    for bps in [2_500u16, 5_000, 10_000] {
        setup.set_weight(bps);
        let weight = Weight::from_bps(bps).unwrap();
        for n in 0..40 {
            let user = format!("user-{n}");
            let expected = cohort::side(cohort::bucket("internal-api", &user), weight).as_str();
            assert_eq!(setup.side_of("/api/health", &[("x-user-id", &user)]), expected, "{user} at {bps} bps");
        }
    }
    assert_eq!(setup.edge.weight(), Weight::FULL);
    assert_eq!(setup.side_of("/index.html", &[("x-user-id", "user-1")]), "legacy", "other paths stay on legacy");
}

#[test]
fn the_weight_needs_the_current_etag() {
    let setup = setup(CohortKey::ViewerIp);
    let (status, etag, body) = setup.send("GET", "/_cutover/weight", &[], "");
    assert_eq!((status, etag.as_deref(), body["weight_bps"].as_u64()), (200, Some("\"1\""), Some(0)));
    let put = |headers: &[(&str, &str)], body: &str| setup.send("PUT", "/_cutover/weight", headers, body);
    assert_eq!(put(&[], r#"{"weight_bps":100}"#).0, 428);
    assert_eq!(put(&[("if-match", "\"7\"")], r#"{"weight_bps":100}"#).0, 412);
    assert_eq!(put(&[("if-match", "\"1\"")], r#"{"weight_bps":10001}"#).0, 400);
    let (status, etag, _) = put(&[("if-match", "\"1\"")], r#"{"weight_bps":100}"#);
    assert_eq!((status, etag.as_deref()), (200, Some("\"2\"")));
    assert_eq!(put(&[("if-match", "\"1\"")], r#"{"weight_bps":0}"#).0, 412, "a stale ETag loses");
    assert_eq!(setup.edge.weight(), Weight::from_bps(100).unwrap());
}

/// A client of the edge cannot move the weight or read the recording:
/// the admin surface is not on the users' port.
#[test]
fn users_cannot_reach_the_admin_surface() {
    let setup = setup(CohortKey::ViewerIp);
    let users = setup.edge.address().to_string();
    for request in [
        "PUT /_cutover/weight HTTP/1.1\r\nhost: edge\r\nif-match: \"1\"\r\nconnection: close\r\ncontent-length: 20\r\n\r\n{\"weight_bps\":10000}",
        "GET /_cutover/metrics?from_ms=0&to_ms=1 HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n",
    ] {
        let response = raw_request(&users, request.as_bytes()).expect("an answer");
        assert_eq!(response.status, 404, "{request}");
    }
    assert_eq!(setup.edge.weight(), Weight::ZERO, "the weight did not move");
    assert!(setup._legacy.received().is_empty(), "nor was it forwarded");
}

#[test]
fn the_cookie_then_the_client_address_name_the_cohort() {
    let setup = setup(CohortKey::Cookie("cohort".into()));
    // Find a cohort key on each side at 50 %.
    let half = Weight::from_bps(5_000).unwrap();
    let key_on = |side: Side| {
        (0..).map(|n| format!("k{n}")).find(|k| cohort::side(cohort::bucket("internal-api", k), half) == side).unwrap()
    };
    setup.set_weight(5_000);
    let cookie = format!("session=x; cohort={}", key_on(Side::Serverless));
    assert_eq!(setup.side_of("/api/health", &[("cookie", &cookie)]), "serverless");
    let cookie = format!("cohort={}; theme=dark", key_on(Side::Legacy));
    assert_eq!(setup.side_of("/api/health", &[("cookie", &cookie)]), "legacy");
    let by_address = cohort::side(cohort::bucket("internal-api", "127.0.0.1"), half).as_str();
    assert_eq!(setup.side_of("/api/health", &[]), by_address, "no cookie: the client address decides");
}

#[test]
fn it_records_what_each_side_did_and_probes_apart() {
    let setup = setup(CohortKey::Header("x-user-id".into()));
    let from = now_ms() / 1000 * 1000;
    setup.set_weight(10_000);
    for _ in 0..5 {
        setup.side_of("/api/health", &[("x-user-id", "u")]);
    }
    setup.side_of("/api/fail", &[("x-user-id", "u")]);
    setup.side_of("/api/cold", &[("x-user-id", "u")]);
    assert_eq!(setup.side_of("/api/health", &[("x-cutover-probe", "legacy")]), "legacy", "a probe is pinned");
    setup.side_of("/index.html", &[]);
    let to = now_ms() / 1000 * 1000 + 1000;

    let (status, _, window) = setup.send("GET", &format!("/_cutover/metrics?from_ms={from}&to_ms={to}"), &[], "");
    assert_eq!(status, 200);
    let serverless = &window["traffic"]["serverless"];
    assert_eq!(serverless["requests"], 7);
    assert_eq!(serverless["errors"], 1, "the 503");
    assert_eq!(serverless["cold_starts"], 1);
    assert_eq!(window["traffic"]["legacy"]["requests"], 0, "other paths are not recorded");
    assert_eq!(window["probes"]["legacy"]["requests"], 1);
    // Users are counted by cohort bucket (what CloudWatch cannot tell); probes are not users.
    let bucket = cohort::bucket("internal-api", "u");
    assert_eq!(
        window["cohorts"],
        serde_json::json!({ "legacy": [], "serverless": [{ "bucket": bucket, "requests": 7, "errors": 1 }] })
    );
    let measured = setup.edge.measure(from, to);
    assert_eq!(measured.traffic.serverless.latency_ms.count(), 5, "warm answers only");
    assert_eq!(setup.edge.measure(from, from).traffic.serverless.requests, 0, "an empty window");

    let (status, _, body) = setup.send("GET", "/_cutover/metrics?from_ms=9", &[], "");
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_window")));
    assert!(setup.serverless.received().iter().all(|r| r.header("x-forwarded-for") == Some("127.0.0.1")));
}

#[test]
fn a_side_that_is_down_is_a_502_and_an_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let legacy = upstream("legacy");
    let down = format!("http://127.0.0.1:{}", cutover_testkit::free_port());
    let config = EdgeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        legacy: legacy.base().parse().unwrap(),
        serverless: down.parse().unwrap(),
        cohort: CohortKey::ViewerIp,
        salt: "s".into(),
        slot: std::time::Duration::from_secs(1),
        keep: cutover_local::Keep::default(),
    };
    let edge = runtime.block_on(Edge::start(config)).unwrap();
    let setup = Setup { edge, _runtime: runtime, _legacy: legacy, serverless: upstream("unused") };
    setup.set_weight(10_000);
    let from = now_ms() / 1000 * 1000;
    let (status, _, body) = setup.send("GET", "/api/health", &[], "");
    assert_eq!((status, body["error"].as_str()), (502, Some("bad_gateway")));
    let measured = setup.edge.measure(from, now_ms() / 1000 * 1000 + 1000);
    assert_eq!((measured.traffic.serverless.requests, measured.traffic.serverless.errors), (1, 1));
}

#[test]
fn a_bad_upstream_url_is_refused_at_start() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let config = EdgeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        legacy: "https://legacy.internal".parse().unwrap(),
        serverless: "http://127.0.0.1:1".parse().unwrap(),
        cohort: CohortKey::ViewerIp,
        salt: "s".into(),
        slot: std::time::Duration::from_secs(1),
        keep: cutover_local::Keep::default(),
    };
    let err = runtime.block_on(Edge::start(config)).err().expect("refused");
    assert!(err.to_string().contains("the legacy upstream must be an http:// URL"), "{err}");
}

/// A client that trickles its headers loses the connection (the header
/// read timeout every server here keeps, 10 s), on the users' port and the
/// admin one, and the edge goes on serving.
#[test]
fn a_trickling_client_does_not_hold_a_connection() {
    use std::io::{Read, Write};
    let setup = setup(CohortKey::Header("x-user-id".into()));
    let slow: Vec<_> = [setup.edge.address(), setup.edge.admin_address()]
        .into_iter()
        .map(|address| {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream.write_all(b"GET /api/health HTTP/1.1\r\nhost: edge\r\nx-slow: ").unwrap();
            // A hang's bound, not a measurement: the edge's own is 10 s.
            stream.set_read_timeout(Some(std::time::Duration::from_secs(40))).unwrap();
            (address, stream)
        })
        .collect();
    for (address, mut stream) in slow {
        let closed = stream.read_to_end(&mut Vec::new());
        assert!(closed.is_ok(), "{address} still holds the connection: {closed:?}");
    }
    assert_eq!(setup.side_of("/api/health", &[("x-user-id", "u-1")]), "legacy");
}
