//! A minimal Lambda Runtime API, enough to run a real function binary on
//! this machine: it hands out queued events on
//! `GET /2018-06-01/runtime/invocation/next` and takes the answers, noting
//! when each arrives. Tests use it to run the functions end to end; the
//! cold-start benchmark uses it to time process start → first answer.

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::{read_request, respond};

/// An answer the function posted.
#[derive(Debug, Clone)]
pub struct Completion {
    /// `response`, `error` (of an invocation) or `init-error`.
    pub kind: &'static str,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Completion {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, String)>,
    completions: HashMap<String, Completion>,
    first_poll: Option<Instant>,
    next_id: u64,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// The Runtime API on a loopback port of its own; stops accepting when
/// dropped (a function process still polling simply gets no answer).
pub struct RuntimeApi {
    address: String,
    shared: Shared,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API port");
        let address = listener.local_addr().expect("local address").to_string();
        let shared: Shared = Arc::default();
        let for_server = Arc::downgrade(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (Ok(stream), Some(shared)) = (stream, for_server.upgrade()) else { return };
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RuntimeApi { address, shared }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queues one event; returns its request id.
    pub fn invoke(&self, event: String) -> String {
        let (lock, wake) = &*self.shared;
        let mut state = lock.lock().unwrap();
        state.next_id += 1;
        let id = format!("00000000-0000-4000-8000-{:012}", state.next_id);
        state.queue.push_back((id.clone(), event));
        wake.notify_all();
        id
    }

    /// The answer to `request_id` (or an init error), waiting up to `timeout`.
    pub fn completion(&self, request_id: &str, timeout: Duration) -> Option<Completion> {
        let (lock, wake) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(c) = state.completions.get(request_id).or_else(|| state.completions.get(INIT)) {
                return Some(c.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = wake.wait_timeout(state, left).unwrap().0;
        }
    }

    /// When the function first asked for an event: the end of its init.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.0.lock().unwrap().first_poll
    }
}

const INIT: &str = "init";

fn serve(stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let (method, path, body) = (request.method, request.path, request.body);
        let (lock, wake) = &**shared;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let mut state = lock.lock().unwrap();
            state.first_poll.get_or_insert_with(Instant::now);
            let (id, event) = loop {
                if let Some(next) = state.queue.pop_front() {
                    break next;
                }
                state = wake.wait(state).unwrap();
            };
            drop(state);
            let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
            let deadline_ms = deadline.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
            let headers = format!(
                "lambda-runtime-aws-request-id: {id}\r\nlambda-runtime-deadline-ms: {deadline_ms}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:local\r\n\
                 lambda-runtime-trace-id: Root=1-67a1b2c3-000000000000{};Parent=53995c3f42cd8ad8;Sampled=1\r\n",
                &id[id.len() - 12..]
            );
            respond(&mut writer, 200, &headers, event.as_bytes());
        } else if method == "POST" {
            let (key, kind) = match path.rsplit('/').collect::<Vec<_>>().as_slice() {
                ["error", "init", ..] => (INIT.to_owned(), "init-error"),
                ["response", id, ..] => (id.to_string(), "response"),
                ["error", id, ..] => (id.to_string(), "error"),
                _ => (String::new(), ""),
            };
            if kind.is_empty() {
                respond(&mut writer, 404, "", b"{}");
                continue;
            }
            let completion = Completion { kind, body, at: Instant::now() };
            lock.lock().unwrap().completions.insert(key, completion);
            wake.notify_all();
            respond(&mut writer, 202, "", b"{\"status\":\"OK\"}");
        } else {
            respond(&mut writer, 404, "", b"{}");
        }
    }
}

/// The environment Lambda gives a function process, pointed at `api`.
pub fn function_env(api: &RuntimeApi, function: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/local"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]local"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_SESSION_TOKEN", "local"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// An API Gateway HTTP API (payload format 2.0) event, as the function
/// receives it.
pub fn apigw_http_event(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> String {
    let headers: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), json!(v))).collect();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "cutover-test" },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_867_200_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}
