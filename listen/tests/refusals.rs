//! Requests hyper cannot read are refused in the server's own words (issue
//! 17, found from outside: hyper's own 400, 414 and 431 had no body and
//! none of the server's headers), after every answer owed before them.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use cutover_listen::{Limits, Listener, Refusal};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that answers each request with its method, path and body, and
/// words refusals with a header of its own; its address.
async fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let listener = Listener::new(listener, Limits::default()).refusing(|refusal: &Refusal| {
        let mut response = http::Response::new(Bytes::from(format!("refused: {}", refusal.message)));
        *response.status_mut() = refusal.status;
        response.headers_mut().insert("x-served-by", http::HeaderValue::from_static("test"));
        response
    });
    let make = |_peer| {
        service_fn(|request: http::Request<hyper::body::Incoming>| async move {
            let said = format!("{} {} ", request.method(), request.uri().path());
            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let text = format!("{said}{}", String::from_utf8_lossy(&body));
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(text))))
        })
    };
    tokio::spawn(listener.serve(make, std::future::pending()));
    address
}

/// Sends `bytes` and reads until the server closes. The bound is a hang's,
/// not a measurement.
async fn exchange(address: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut said = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut said)).await;
    let said = String::from_utf8_lossy(&said).into_owned();
    assert!(read.is_ok(), "the server still holds the connection: {said}");
    said
}

#[tokio::test]
async fn a_bad_request_line_is_the_servers_400_with_a_body() {
    let address = start().await;
    let said = exchange(address, b"G@T / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(said.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{said}");
    assert!(said.contains("x-served-by: test\r\n") && said.contains("connection: close\r\n"), "{said}");
    assert!(said.ends_with("refused: the request's method is not a method: send one such as GET or PUT"), "{said}");
}

#[tokio::test]
async fn a_long_uri_is_a_414_and_large_headers_a_431() {
    let address = start().await;
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(cutover_listen::guard::MAX_URI));
    let said = exchange(address, long.as_bytes()).await;
    assert!(said.starts_with("HTTP/1.1 414 URI Too Long\r\n") && said.contains("x-served-by: test"), "{said}");
    let large = format!("GET / HTTP/1.1\r\nx-big: {}\r\n\r\n", "v".repeat(cutover_listen::guard::MAX_HEAD));
    let said = exchange(address, large.as_bytes()).await;
    assert!(said.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{said}");
    assert!(said.contains("x-served-by: test") && said.contains("refused: "), "{said}");
}

/// Pipelined: two good requests (one with a fixed-length body, one
/// chunked) are answered in order, then the bad one is refused.
#[tokio::test]
async fn answers_owed_before_a_bad_head_come_first() {
    let address = start().await;
    let stream = "PUT /one HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello\
                  POST /two HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
                  GET /three HTTP/1.1\r\nhost: x\r\ncontent-length: one\r\n\r\n";
    let said = exchange(address, stream.as_bytes()).await;
    let one = said.find("PUT /one hello").expect(&said);
    let two = said.find("POST /two abc").expect(&said);
    let refused = said.find("HTTP/1.1 400 Bad Request").expect(&said);
    assert!(one < two && two < refused, "{said}");
    assert!(
        said.ends_with("refused: Content-Length is not a number of bytes: send the body's length in decimal digits")
    );
}

/// A head that arrives a byte at a time is judged whole, and served.
#[tokio::test]
async fn a_trickled_good_request_is_served() {
    let address = start().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    for byte in b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" {
        stream.write_all(&[*byte]).await.unwrap();
        stream.flush().await.unwrap();
    }
    let mut said = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut said)).await.unwrap().unwrap();
    assert!(said.starts_with("HTTP/1.1 200 OK\r\n") && said.ends_with("GET /slow "), "{said}");
}
