//! The HTTP backend client against a local stub server: answers, status
//! codes, timeouts, refused connections, oversized bodies, trace headers
//! and connection reuse.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover_api::backend::{Backend, BackendError, Trace};
use cutover_api_aws::{HttpBackend, MAX_BACKEND_BODY_BYTES};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The headers of each request the stub received, in order.
type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A keep-alive HTTP/1.1 server whose answer depends on the path:
/// `/status/N` answers N, `/slow` waits 2 s, `/huge` sends more than the
/// client accepts, anything else echoes the request's headers as JSON.
struct Stub {
    base: String,
    connections: Arc<AtomicUsize>,
    seen: Seen,
}

impl Stub {
    async fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let seen: Seen = Arc::default();
        let (count, log) = (connections.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let log = log.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                        let mut headers = Vec::new();
                        loop {
                            let mut h = String::new();
                            stream.read_line(&mut h).await.unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
                        }
                        log.lock().unwrap().push(headers.clone());
                        let (status, body) = match path.as_str() {
                            "/slow" => {
                                tokio::time::sleep(Duration::from_secs(2)).await;
                                (200, "{}".to_owned())
                            }
                            "/huge" => (200, "x".repeat(MAX_BACKEND_BODY_BYTES + 1)),
                            p if p.starts_with("/status/") => (p[8..].parse().unwrap(), "{}".to_owned()),
                            _ => (200, serde_json::to_string(&headers).unwrap()),
                        };
                        let head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n", body.len());
                        let stream = stream.get_mut();
                        if stream.write_all(head.as_bytes()).await.is_err()
                            || stream.write_all(body.as_bytes()).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Stub { base, connections, seen }
    }
}

fn trace() -> Trace {
    Trace { request_id: "req-7".into(), trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into()) }
}

#[tokio::test]
async fn answers_carry_the_trace_and_reuse_one_connection() {
    let stub = Stub::start().await;
    let backend = HttpBackend::new(&format!("{}/", stub.base), Duration::from_secs(1)).unwrap();
    for _ in 0..3 {
        let answer = backend.get("/metadata/m1", &trace()).await.unwrap();
        assert_eq!(answer.status, 200);
    }
    let headers = stub.seen.lock().unwrap()[0].clone();
    let value = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(value("x-request-id").as_deref(), Some("req-7"));
    assert_eq!(value("x-amzn-trace-id"), trace().trace_id);
    assert_eq!(stub.connections.load(Ordering::SeqCst), 1, "three calls, one connection");
}

#[tokio::test]
async fn status_codes_are_passed_up_for_the_handler_to_map() {
    let stub = Stub::start().await;
    let backend = HttpBackend::new(&stub.base, Duration::from_secs(1)).unwrap();
    assert_eq!(backend.get("/status/503", &trace()).await.unwrap().status, 503);
    assert_eq!(backend.get("/status/404", &trace()).await.unwrap().status, 404);
}

#[tokio::test]
async fn a_slow_backend_times_out() {
    let stub = Stub::start().await;
    let backend = HttpBackend::new(&stub.base, Duration::from_millis(200)).unwrap();
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
    let stub = Stub::start().await;
    let backend = HttpBackend::new(&stub.base, Duration::from_secs(5)).unwrap();
    assert_eq!(backend.get("/huge", &trace()).await, Err(BackendError::TooLarge(MAX_BACKEND_BODY_BYTES)));
}

#[test]
fn a_bad_base_url_is_named() {
    let err = HttpBackend::new("backend.internal", Duration::from_secs(1)).unwrap_err();
    assert_eq!(err.to_string(), "the backend URL must look like https://backend.internal; got \"backend.internal\"");
}
