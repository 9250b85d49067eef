//! Edge verification against the real local edge (the same bucketing as
//! the CloudFront Function) with two stand-in origins: a weight change is
//! verified by probes just either side of the threshold, and an edge that
//! keeps answering from the wrong side is reported, not trusted.

use std::time::Duration;

use cutover_aws::{Verified, Verifier};
use cutover_core::plan::CohortKey;
use cutover_core::ports::{EdgeError, EdgePort};
use cutover_core::units::Weight;
use cutover_local::{Edge, EdgeConfig, LocalEdgePort};
use cutover_testkit::http::{Answer, Received, Stub};

fn side(name: &'static str) -> Stub {
    Stub::start(move |_: &Received| Answer::json(200, r#"{"status":"ok"}"#).with_header("x-served-by", name))
}

fn verifier(base: String, max_wait: Duration) -> Verifier {
    Verifier {
        base,
        path: "/api/health".into(),
        cohort: CohortKey::Header("x-user-id".into()),
        salt: "internal-api".into(),
        max_wait,
    }
}

async fn edge(legacy: &Stub, serverless: &Stub) -> Edge {
    let config = EdgeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        legacy: legacy.base().parse().unwrap(),
        serverless: serverless.base().parse().unwrap(),
        cohort: CohortKey::Header("x-user-id".into()),
        salt: "internal-api".into(),
        slot: Duration::from_millis(100),
        keep: cutover_local::Keep::default(),
    };
    Edge::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_change_is_verified_through_the_edge() {
    let (legacy, serverless) = (side("legacy"), side("serverless"));
    let edge = edge(&legacy, &serverless).await;
    let base = format!("http://{}", edge.address());
    let admin = format!("http://{}", edge.admin_address());
    let verified = Verified::new(LocalEdgePort::new(&admin), verifier(base.clone(), Duration::from_secs(5)));
    for (bps, expected) in [(2_500, 0), (10_000, 2_500), (0, 10_000)] {
        let weight = Weight::from_bps(bps).unwrap();
        verified.apply(weight, Weight::from_bps(expected).unwrap()).await.expect("written");
        let v = verified.verify(weight).await.expect("verified").expect("probed");
        assert_eq!(v.rounds, 1, "the local edge applies at once");
        assert_eq!(v.serverless_us.is_some(), bps > 0, "{bps}: a key below the threshold exists only above 0");
        assert_eq!(v.legacy_us.is_some(), bps < 10_000, "{bps}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_that_keeps_disagreeing_is_unverified() {
    let (legacy, serverless) = (side("legacy"), side("serverless"));
    let edge = edge(&legacy, &serverless).await;
    // The weight is written, but the probes reach something that always
    // answers from the ALB, as a distribution without the function would.
    let stale = side("legacy");
    let port = LocalEdgePort::new(format!("http://{}", edge.admin_address()));
    let verified = Verified::new(port, verifier(stale.base().to_owned(), Duration::from_millis(600)));
    let half = Weight::from_bps(5_000).unwrap();
    verified.apply(half, Weight::ZERO).await.expect("the write itself succeeds");
    let err = verified.verify(half).await.unwrap_err();
    let EdgeError::Unverified(reason) = err else { panic!("{err:?}") };
    assert!(reason.contains("below the threshold 5000") && reason.contains("answered by legacy"), "{reason}");
    assert!(reason.contains("probe rounds"), "{reason}");
}
