//! Every function binary under generated API Gateway events (payload 2.0,
//! as the HTTP API sends them): any method, path, query, headers, cookies
//! and body a client can put in a request, the body plain or base64. DynamoDB is a moto of the test's own, the backend a stub that
//! answers. No event may end in an invocation error or a 5xx; every
//! answer says which side served it; every refusal is a JSON error with a
//! code and a message. 150 events a run across the seven functions;
//! `CUTOVER_FUZZ_CASES=N` for a longer hunt (`cargo xtask fuzz`).

mod common;

use base64::Engine as _;
use common::{moto_with_table, Function, BINARIES};
use cutover_testkit::http::{Answer, Stub};
use cutover_testkit::lambda::apigw_http_event;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

/// What a client controls in an event.
#[derive(Clone, Debug)]
struct Client {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    cookies: Option<Vec<String>>,
    body: Option<String>,
    /// The body base64-encoded, as API Gateway sends a binary one. (Never a
    /// body marked base64 that is not: API Gateway encodes it itself, and
    /// lambda_http panics on one, which its runtime reports as an
    /// invocation error before any handler runs.)
    base64: bool,
}

impl Client {
    /// The event API Gateway sends for it: testkit's, with the query, the
    /// cookies and a base64 body filled in.
    fn event(&self) -> String {
        let headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = match &self.body {
            Some(body) if self.base64 => Some(base64::engine::general_purpose::STANDARD.encode(body)),
            body => body.clone(),
        };
        let event = apigw_http_event(&self.method, &self.path, &headers, body.as_deref());
        let mut event: Value = serde_json::from_str(&event).expect("testkit's event is JSON");
        event["rawQueryString"] = json!(self.query);
        event["isBase64Encoded"] = json!(self.base64 && self.body.is_some());
        if let Some(cookies) = &self.cookies {
            event["cookies"] = json!(cookies);
        }
        event.to_string()
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._~-]{1,12}",
        "[a-z]{60,70}",
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e%2E".to_owned()),
        Just("%ff".to_owned()),
        Just("%00".to_owned()),
        Just("%E2%9C%93".to_owned()),
        "(%[0-9a-fA-F]{2}){1,4}",
        "[!$&'()*+,;=:@a-z]{1,8}",
    ]
}

/// A path on `template`'s route (`/api/users/{userId}/context`), each
/// parameter a generated segment.
fn on_route(template: String) -> impl Strategy<Value = String> {
    let params = template.matches('{').count();
    proptest::collection::vec(segment(), params).prop_map(move |segments| {
        let mut path = String::new();
        let mut rest = template.as_str();
        for segment in segments {
            let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) else { break };
            path.push_str(&rest[..open]);
            path.push_str(&segment);
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        path
    })
}

fn path() -> impl Strategy<Value = String> {
    let shaped = prop_oneof![
        segment().prop_map(|s| format!("/api/users/{s}/context")),
        segment().prop_map(|s| format!("/api/workflows/{s}/mapping")),
        segment().prop_map(|s| format!("/api/metadata/{s}")),
        segment().prop_map(|s| format!("/api/reports/{s}")),
        Just("/api/health".to_owned()),
    ];
    prop_oneof![
        4 => shaped,
        1 => "/api(/[a-zA-Z0-9._%-]{0,10}){0,4}",
        1 => "/[!-~]{0,30}",
    ]
}

fn header() -> impl Strategy<Value = (String, String)> {
    let value = "[ -~]{0,30}";
    prop_oneof![
        (
            Just("if-match".to_owned()),
            prop_oneof![
                Just("\"1\"".to_owned()),
                Just("\"18446744073709551615\"".to_owned()),
                Just("\"01\"".to_owned()),
                Just("W/\"1\"".to_owned()),
                Just("*".to_owned()),
                Just("\"1\", \"2\"".to_owned()),
                "\"[0-9]{1,25}\"",
                value.prop_map(String::from),
            ]
        ),
        (Just("if-none-match".to_owned()), prop_oneof![Just("*".to_owned()), value.prop_map(String::from)]),
        (
            Just("content-type".to_owned()),
            prop_oneof![
                Just("application/json".to_owned()),
                Just("text/plain".to_owned()),
                value.prop_map(String::from),
            ]
        ),
        (Just("x-origin-verify".to_owned()), value.prop_map(String::from)),
        (Just("x-user-id".to_owned()), value.prop_map(String::from)),
        ("[a-z][a-z0-9-]{0,15}", value.prop_map(String::from)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
        "[a-z]{5000,5100}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_]{1,10}", inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some(r#"{"theme":"dark"}"#.to_owned())),
        Just(Some(r#"{"ingest":"queue-a"}"#.to_owned())),
        json_value().prop_map(|v| Some(v.to_string())),
        ".{0,60}".prop_map(Some),
    ]
}

/// Events for the function of route `method template`: most on its own
/// route (the rest get a 404 or 405 before any handler runs).
fn client(method: String, template: String) -> impl Strategy<Value = Client> {
    let path = prop_oneof![6 => on_route(template), 1 => path()];
    let method = prop_oneof![
        14 => Just(method),
        1 => Just("GET".to_owned()),
        1 => Just("PUT".to_owned()),
        1 => Just("POST".to_owned()),
        1 => Just("DELETE".to_owned()),
        1 => Just("HEAD".to_owned()),
        1 => Just("OPTIONS".to_owned()),
        1 => "[A-Z]{1,8}",
    ];
    let cookies = prop_oneof![Just(None), proptest::collection::vec("[ -~]{0,20}", 0..3).prop_map(Some)];
    let base64 = prop_oneof![3 => Just(false), 1 => Just(true)];
    (method, path, "[a-z0-9=&%._-]{0,20}", proptest::collection::vec(header(), 0..5), cookies, body(), base64).prop_map(
        |(method, path, query, headers, cookies, body, base64)| Client {
            method,
            path,
            query,
            headers,
            cookies,
            body,
            base64,
        },
    )
}

#[test]
fn no_client_input_ends_in_an_invocation_error_or_a_5xx() {
    let moto = moto_with_table("fuzz");
    let backend = Stub::start(|_| Answer::json(200, r#"{"rows":[],"name":"weekly"}"#));
    let binaries = BINARIES;
    let env = [("TABLE_NAME", "fuzz"), ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint()), ("BACKEND_URL", backend.base())];
    let functions: Vec<(&str, std::sync::Mutex<Function>)> = binaries
        .iter()
        .map(|(name, binary)| (*name, std::sync::Mutex::new(Function::start(binary, name, &env))))
        .collect();
    let contract = cutover_api::routes::contract();
    let routes: Vec<(String, String)> = binaries
        .iter()
        .map(|(name, _)| {
            let route = contract.routes.iter().find(|r| r.function.name() == *name).expect("a route per binary");
            (route.method.as_str().to_owned(), route.path.clone())
        })
        .collect();
    let events = (0..functions.len()).prop_flat_map(move |which| {
        let (method, template) = routes[which].clone();
        (Just(which), client(method, template))
    });

    let config = Config {
        cases: cutover_testkit::fuzz_cases(150),
        failure_persistence: None,
        // A case that hangs costs its 10 s each time it is shrunk.
        max_shrink_iters: 64,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    // Answers from a handler (not the route table's 404 and 405): a
    // generator that stopped reaching them would pass for nothing.
    let handled = std::sync::atomic::AtomicU32::new(0);
    let outcome = runner.run(&events, |(which, client)| {
        let (name, function) = &functions[which];
        let mut function = function.lock().unwrap();
        let Some(completion) = function.answer(client.event(), Duration::from_secs(10)) else {
            let state = function.exited().map_or("still running".to_owned(), |status| format!("exited: {status}"));
            return Err(TestCaseError::fail(format!("{name} ({state}): no answer within 10 s to {client:?}")));
        };
        let said = String::from_utf8_lossy(&completion.body).into_owned();
        prop_assert_eq!(completion.kind, "response", "{}: {:?} ended in {}", name, client, said);
        let answer = completion.json();
        let status = answer["statusCode"].as_u64().unwrap_or(0);
        prop_assert!((200..500).contains(&status), "{}: {:?} answered {}", name, client, said);
        prop_assert_eq!(&answer["headers"]["x-served-by"], "serverless", "{}: {}", name, said);
        if !matches!(status, 404 | 405) {
            handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if status >= 400 && client.method != "HEAD" {
            let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default()).unwrap_or_default();
            let named = body["error"].as_str().is_some_and(|e| !e.is_empty())
                && body["message"].as_str().is_some_and(|m| !m.is_empty());
            prop_assert!(named, "{}: {:?}: a refusal without its code and message: {}", name, client, said);
        }
        Ok(())
    });
    for (_, function) in functions {
        function.into_inner().unwrap().stop();
    }
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let (handled, cases) = (handled.into_inner(), cutover_testkit::fuzz_cases(150));
    assert!(handled * 3 >= cases, "only {handled} of {cases} events reached a handler: the generator is off");
}
