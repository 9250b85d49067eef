//! The HTTP backend client against a local stub server: answers, status
//! codes, timeouts, refused connections, oversized bodies, trace headers
//! and connection reuse.

use std::time::Duration;

use cutover_api::backend::{Backend, BackendError, Trace};
use cutover_api_aws::{HttpBackend, MAX_BACKEND_BODY_BYTES};
use cutover_testkit::http::{Answer, Received, Stub};

/// `/status/N` answers N, `/slow` waits 2 s, `/huge` sends more than the
/// client accepts, anything else answers `{}`.
fn stub() -> Stub {
    Stub::start(|request: &Received| match request.path.as_str() {
        "/slow" => Answer { delay: Duration::from_secs(2), ..Answer::json(200, "{}") },
        "/huge" => Answer::json(200, vec![b'x'; MAX_BACKEND_BODY_BYTES + 1]),
        path => match path.strip_prefix("/status/") {
            Some(status) => Answer::json(status.parse().unwrap_or(500), "{}"),
            None => Answer::json(200, "{}"),
        },
    })
}

fn trace() -> Trace {
    Trace { request_id: "req-7".into(), trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into()) }
}

#[tokio::test]
async fn answers_carry_the_trace_and_reuse_one_connection() {
    let stub = stub();
    let backend = HttpBackend::new(&format!("{}/", stub.base()), Duration::from_secs(1)).unwrap();
    for _ in 0..3 {
        let answer = backend.get("/metadata/m1", &trace()).await.unwrap();
        assert_eq!(answer.status, 200);
    }
    let first = &stub.received()[0];
    assert_eq!(first.path, "/metadata/m1");
    assert_eq!(first.header("x-request-id"), Some("req-7"));
    assert_eq!(first.header("x-amzn-trace-id"), trace().trace_id.as_deref());
    assert_eq!(stub.connections(), 1, "three calls, one connection");
}

#[tokio::test]
async fn status_codes_are_passed_up_for_the_handler_to_map() {
    let stub = stub();
    let backend = HttpBackend::new(stub.base(), Duration::from_secs(1)).unwrap();
    assert_eq!(backend.get("/status/503", &trace()).await.unwrap().status, 503);
    assert_eq!(backend.get("/status/404", &trace()).await.unwrap().status, 404);
}

#[tokio::test]
async fn a_slow_backend_times_out() {
    let stub = stub();
    let backend = HttpBackend::new(stub.base(), Duration::from_millis(200)).unwrap();
    assert_eq!(backend.get("/slow", &trace()).await, Err(BackendError::Timeout(Duration::from_millis(200))));
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let port = cutover_testkit::free_port();
    let backend = HttpBackend::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).unwrap();
    let err = backend.get("/reports/r1", &trace()).await.unwrap_err();
    assert!(matches!(&err, BackendError::Unreachable(m) if m.to_lowercase().contains("connect")), "{err}");
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let stub = stub();
    let backend = HttpBackend::new(stub.base(), Duration::from_secs(5)).unwrap();
    assert_eq!(backend.get("/huge", &trace()).await, Err(BackendError::TooLarge(MAX_BACKEND_BODY_BYTES)));
}

#[test]
fn a_bad_base_url_is_named() {
    let err = HttpBackend::new("backend.internal", Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.to_string(), "the backend URL must look like https://backend.internal; got \"backend.internal\"");
}
