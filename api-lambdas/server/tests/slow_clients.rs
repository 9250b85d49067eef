//! Clients that trickle (issue 17, found from outside): a request whose
//! headers or body never finish arriving no longer holds its connection
//! forever.

use std::sync::Arc;
use std::time::Duration;

use cutover_api::store::MemoryItemStore;
use cutover_api::{Absent, App, Config};
use cutover_api_server::{serve, Faults, Limits, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server with short bounds; its address.
async fn start() -> std::net::SocketAddr {
    let mut server = Server::new(App::new(MemoryItemStore::new(), Absent, Config::default()), Faults::default());
    server.limits = Limits {
        max_connections: 8,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, Arc::new(server), std::future::pending()));
    address
}

/// Everything the server sends until it closes the connection. The bound
/// is a hang's, not a measurement: the server's own bound is 300 ms.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut said = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut said)).await;
    assert!(read.is_ok(), "the server still holds the connection: {}", String::from_utf8_lossy(&said));
    String::from_utf8_lossy(&said).into_owned()
}

#[tokio::test]
async fn headers_that_never_end_lose_the_connection() {
    let address = start().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /api/health HTTP/1.1\r\nhost: local\r\nx-slow: ").await.unwrap();
    until_closed(&mut stream).await;
    // The server still serves others.
    let mut fresh = TcpStream::connect(address).await.unwrap();
    fresh.write_all(b"GET /api/health HTTP/1.1\r\nhost: local\r\nconnection: close\r\n\r\n").await.unwrap();
    let said = until_closed(&mut fresh).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
}

#[tokio::test]
async fn a_body_that_never_ends_is_a_408_that_says_so() {
    let address = start().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = "PUT /api/users/u-1/context HTTP/1.1\r\nhost: local\r\ncontent-type: application/json\r\n\
                if-none-match: *\r\ncontent-length: 40\r\n\r\n{\"theme\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let said = until_closed(&mut stream).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("\"error\":\"request_timeout\"") && said.contains("x-served-by: serverless"), "{said}");
}

/// An idle kept-alive connection is closed too: waiting for the next
/// request's headers is bounded like the first's.
#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let address = start().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /api/health HTTP/1.1\r\nhost: local\r\n\r\n").await.unwrap();
    let said = until_closed(&mut stream).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
}
