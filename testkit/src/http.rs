//! Just enough HTTP/1.1 for stand-in servers: keep-alive, content-length
//! and chunked request bodies. Threads, no async runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What a [`Stub`] answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Extra response headers, as `name: value` lines' parts.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer { status, body: body.into(), delay: Duration::ZERO, headers: Vec::new() }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = dyn Fn(&Received) -> Answer + Send + Sync;

/// An HTTP server on a loopback port of its own that answers with a
/// closure, and records every request and connection.
pub struct Stub {
    base: String,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Stub {
    pub fn start(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a stub port");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let (count, log) = (connections.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let (log, handler) = (log.clone(), handler.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
                    let mut writer = stream;
                    while let Some(request) = read_request(&mut reader) {
                        log.lock().expect("stub log").push(request.clone());
                        let answer = handler(&request);
                        std::thread::sleep(answer.delay);
                        let headers: String = answer.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
                        if !respond(&mut writer, answer.status, &headers, &answer.body) {
                            return;
                        }
                    }
                });
            }
        });
        Stub { base, connections, received }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("stub log").clone()
    }
}

/// Reads one request; `None` at the end of the connection or on garbage.
pub(crate) fn read_request(reader: &mut impl BufRead) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let headers = read_headers(reader)?;
    let mut request = Received { method, path, headers, body: Vec::new() };
    if request.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length = request.header("content-length").map_or(Some(0), |v| v.parse().ok())?;
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body).ok()?;
    }
    Some(request)
}

/// Writes one response; `false` if the peer is gone.
pub(crate) fn respond(writer: &mut impl Write, status: u16, headers: &str, body: &[u8]) -> bool {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body)).is_ok()
}

/// A response as received by [`raw_request`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Connects to `host:port`, sends `request` as it is and reads one
/// response (with a content-length). For tests that must send what a
/// client library would not.
pub fn raw_request(address: &str, request: &[u8]) -> Option<Response> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    stream.write_all(request).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let headers = read_headers(&mut reader)?;
    let length: usize = headers.iter().find(|(n, _)| n == "content-length")?.1.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Response { status, headers, body })
}

/// Header lines up to the blank line, names lower-cased.
fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            return Some(headers);
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}
