//! Generated requests, well and badly formed, sent over real sockets: no
//! refusal is ever hyper's own (a 4xx without the server's header), and
//! every request the guard lets through reaches the service.
//! `CUTOVER_FUZZ_CASES` sets the number of cases (`cargo xtask fuzz`).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use cutover_listen::{Limits, Listener, Refusal};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "CONNECT"])
            .prop_map(str::to_owned),
        1 => "[A-Za-z@\\-!(){}]{0,8}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "/[a-zA-Z0-9/._~%?=&-]{0,40}",
        2 => "[ -~]{0,30}",
        1 => "http://[a-z\\[\\]:0-9.]{0,20}/[a-z]{0,5}",
        1 => (8_100usize..8_300).prop_map(|n| format!("/{}", "a".repeat(n))),
    ]
}

fn version() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.12", "http/1.1", ""])
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[a-zA-Z][a-zA-Z0-9-]{0,12}", "[ -~]{0,20}").prop_map(|(n, v)| format!("{n}: {v}")),
        2 => "[0-9 +-]{0,6}".prop_map(|v| format!("content-length: {v}")),
        2 => prop::sample::select(vec!["chunked", "gzip", "gzip, chunked", "chunked, gzip", " CHUNKED", ""])
            .prop_map(|v| format!("transfer-encoding: {v}")),
        1 => "[ -~\\t]{0,20}",
        1 => (0usize..3, 1usize..70_000).prop_map(|(i, n)| format!("x-big-{i}: {}", "v".repeat(n))),
    ]
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    let head = (method(), target(), version(), prop::collection::vec(header(), 0..8), prop::bool::ANY);
    let body = prop::collection::vec(any::<u8>(), 0..40);
    let many = prop::collection::vec(Just("x-n: 1".to_owned()), 95..106);
    (head, body, prop::option::of(many), prop::bool::weighted(0.2)).prop_map(
        |((method, target, version, mut headers, bare_lf), body, many, twice)| {
            headers.extend(many.unwrap_or_default());
            let eol = if bare_lf { "\n" } else { "\r\n" };
            let mut out = format!("{method} {target} {version}{eol}host: fuzz{eol}");
            for header in &headers {
                out.push_str(header);
                out.push_str(eol);
            }
            out.push_str(eol);
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            if twice {
                bytes.extend_from_slice(b"GET /again HTTP/1.1\r\nhost: fuzz\r\n\r\n");
            }
            bytes
        },
    )
}

/// Serves, refusing with `x-served-by: guard`; answers with `x-served-by:
/// service`.
async fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let listener = Listener::new(listener, Limits::default()).refusing(|refusal: &Refusal| {
        let mut response = http::Response::new(Bytes::from(refusal.message.clone()));
        *response.status_mut() = refusal.status;
        response.headers_mut().insert("x-served-by", http::HeaderValue::from_static("guard"));
        response
    });
    let make = |_peer| {
        service_fn(|request: http::Request<hyper::body::Incoming>| async move {
            let _ = request.into_body().collect().await;
            let mut response = http::Response::new(Full::new(Bytes::from_static(b"ok")));
            response.headers_mut().insert("x-served-by", http::HeaderValue::from_static("service"));
            Ok::<_, Infallible>(response)
        })
    };
    tokio::spawn(listener.serve(make, std::future::pending()));
    address
}

async fn exchange(address: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    // The server may refuse (and close) before it has read everything.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut said = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut said)).await;
    assert!(read.is_ok(), "the server still holds the connection");
    String::from_utf8_lossy(&said).into_owned()
}

/// Every answer on the connection, each with the name of who gave it.
fn answers(said: &str) -> Vec<(u16, Option<&str>)> {
    said.match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| {
            let rest = &said[at..];
            let status = rest.get(9..12)?.parse().ok()?;
            let head = &rest[..rest.find("\r\n\r\n").unwrap_or(rest.len())];
            let by = head.lines().find_map(|line| line.strip_prefix("x-served-by: "));
            Some((status, by))
        })
        .collect()
}

#[test]
fn no_refusal_is_hyper_bare_answer() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let address = runtime.block_on(start());
    let config = ProptestConfig { cases: cutover_testkit::fuzz_cases(256), ..ProptestConfig::default() };
    proptest!(config, |(request in request())| {
        let said = runtime.block_on(exchange(address, &request));
        let shown = String::from_utf8_lossy(&request[..request.len().min(300)]).into_owned();
        for (status, by) in answers(&said) {
            prop_assert!(by.is_some(), "an answer nobody of ours gave ({status}) to {shown:?}: {said:.300}");
            if status >= 400 {
                prop_assert_eq!(by, Some("guard"), "a refusal from the service to {:?}", shown);
            }
        }
    });
}
