//! `api-local` as a real process on a real port: every route over the
//! in-memory store with a stub backend, DynamoDB (moto) across restarts,
//! the body limit, bad flags, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use cutover_testkit::http::{raw_request, Answer, Received, Stub};
use cutover_testkit::Moto;
use serde_json::{json, Value};

type Headers = Vec<(String, String)>;

struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_api-local"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("TABLE_NAME")
            .env_remove("BACKEND_URL")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start api-local");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the address");
        let address = line.trim().strip_prefix("api-local listening on http://").expect("the address line").to_owned();
        Server { child, address }
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Headers, Value) {
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: local\r\nconnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
        let response = raw_request(&self.address, request.as_bytes()).expect("an HTTP answer");
        (response.status, response.headers, serde_json::from_slice(&response.body).expect("a JSON body"))
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("send SIGTERM");
        self.child.wait().expect("wait for api-local")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn every_route_over_memory_with_a_stub_backend() {
    let backend = Stub::start(|request: &Received| match request.path.as_str() {
        "/metadata/flags" => Answer::json(200, r#"{"dark_mode": true}"#),
        "/reports/r-1" => Answer::json(200, r#"{"total": 3}"#),
        _ => Answer::json(503, "{}"),
    });
    let server = Server::start(&["--backend-url", backend.base()]);

    let (status, headers, body) = server.send("GET", "/api/health", &[], "");
    assert_eq!((status, body), (200, json!({"status": "ok", "side": "serverless"})));
    assert_eq!(header(&headers, "x-served-by"), Some("serverless"));
    assert!(header(&headers, "x-request-id").is_some_and(|id| id.starts_with("local-")));

    let create = [("content-type", "application/json"), ("if-none-match", "*")];
    let (status, headers, _) = server.send("PUT", "/api/workflows/wf-1/mapping", &create, r#"{"ingest":"q1"}"#);
    assert_eq!((status, header(&headers, "etag")), (201, Some("\"1\"")));
    let (status, _, body) = server.send("GET", "/api/workflows/wf-1/mapping", &[], "");
    assert_eq!((status, body), (200, json!({"ingest": "q1"})));

    let (_, headers, body) = server.send("GET", "/api/metadata/flags", &[], "");
    assert_eq!((body, header(&headers, "x-cache")), (json!({"dark_mode": true}), Some("miss")));
    let (_, headers, _) = server.send("GET", "/api/metadata/flags", &[], "");
    assert_eq!(header(&headers, "x-cache"), Some("hit"));

    let trace = "Root=1-6748a1b2-0123456789abcdef01234567;Sampled=1";
    let (status, _, body) = server.send("GET", "/api/reports/r-1", &[("x-amzn-trace-id", trace)], "");
    assert_eq!((status, body), (200, json!({"total": 3})));
    let report_call = backend.received().into_iter().find(|r| r.path == "/reports/r-1").expect("the backend call");
    assert_eq!(report_call.header("x-amzn-trace-id"), Some(trace), "the trace id reaches the backend");
    let (status, _, body) = server.send("GET", "/api/reports/r-2", &[], "");
    assert_eq!((status, body["message"].as_str()), (502, Some("the reports backend answered 503")));

    let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(100_000));
    let (status, headers, body) = server.send("PUT", "/api/users/u1/context", &create, &big);
    assert_eq!((status, body["error"].as_str()), (413, Some("payload_too_large")));
    assert_eq!(header(&headers, "x-served-by"), Some("serverless"), "refusals carry the side too");

    let (status, _, body) = server.send("POST", "/api/health", &[], "");
    assert_eq!((status, body["error"].as_str()), (405, Some("method_not_allowed")));

    assert!(server.terminate().success(), "SIGTERM is a clean stop");
}

#[test]
fn items_in_dynamodb_survive_a_restart() {
    let moto = Moto::start();
    let args = ["--store", "dynamodb", "--dynamodb-endpoint", moto.endpoint(), "--table", "api", "--create-table"];
    let first = Server::start(&args);
    let create = [("content-type", "application/json"), ("if-none-match", "*")];
    assert_eq!(first.send("PUT", "/api/users/u-9/context", &create, r#"{"plan":"pro"}"#).0, 201);
    drop(first);

    let second = Server::start(&args);
    let (status, headers, body) = second.send("GET", "/api/users/u-9/context", &[], "");
    assert_eq!((status, body, header(&headers, "etag")), (200, json!({"plan": "pro"}), Some("\"1\"")));
}

#[test]
fn bad_flags_are_refused_with_their_name() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_api-local")).args(args).output().expect("run api-local");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run(&["--store", "postgres"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("invalid value 'postgres' for '--store"), "{stderr}");

    let (code, stderr) = run(&["--listen", "127.0.0.1:0", "--backend-url", "backend.internal"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--backend-url: the backend URL must look like https://backend.internal"), "{stderr}");
}

#[test]
fn fault_knobs_inject_outages_errors_and_cold_starts() {
    let server = Server::start(&["--side", "legacy", "--cold-start-rate", "1"]);
    let (status, headers, body) = server.send("GET", "/api/health", &[], "");
    assert_eq!((status, header(&headers, "x-cold-start")), (200, Some("1")), "{body}");
    assert_eq!(header(&headers, "x-served-by"), Some("legacy"));

    let json = [("content-type", "application/json")];
    let (status, _, body) = server.send("PUT", "/_faults", &json, r#"{"outage": true}"#);
    assert_eq!((status, body["outage"].as_bool()), (200, Some(true)));
    let (status, headers, body) = server.send("GET", "/api/health", &[], "");
    assert_eq!((status, body["error"].as_str()), (503, Some("outage")));
    assert_eq!(header(&headers, "x-served-by"), Some("legacy"), "an outage still names its side");

    server.send("PUT", "/_faults", &json, r#"{"error_rate": 1}"#);
    let (status, _, body) = server.send("GET", "/api/health", &[], "");
    assert_eq!((status, body["error"].as_str()), (500, Some("injected_error")));

    let (status, _, body) = server.send("PUT", "/_faults", &json, r#"{"error_rate": 2}"#);
    assert_eq!((status, body["message"].as_str()), (400, Some("error_rate = 2: a share from 0 to 1")));
    let (status, _, body) = server.send("PUT", "/_faults", &json, r#"{"errors": 1}"#);
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("unknown field `errors`"), "{body}");

    server.send("PUT", "/_faults", &json, "{}");
    let (status, headers, _) = server.send("GET", "/api/health", &[], "");
    assert_eq!((status, header(&headers, "x-cold-start")), (200, None), "all knobs off");
}

#[test]
fn a_bad_fault_flag_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_api-local"))
        .args(["--listen", "127.0.0.1:0", "--error-rate", "1.5"])
        .output()
        .expect("run api-local");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--error-rate 1.5: a share from 0 to 1"));
}
