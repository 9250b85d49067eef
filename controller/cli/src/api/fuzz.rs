//! The control API under generated requests: any method, path, query,
//! headers and body a client can send, with an admin's token, a viewer's,
//! a stranger's or none, against a daemon holding one cutover. No answer
//! is a 5xx, nothing panics, and every refusal is a problem document whose
//! detail says what was wrong. 300 cases a run; `CUTOVER_FUZZ_CASES=N` for
//! a longer hunt (`cargo xtask fuzz`).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use tower::ServiceExt;

use super::Problem;
use crate::serve::Daemon;
use crate::stores::AnyStore;
use crate::tokens::Tokens;

const ADMIN: &str = "admin-secret-for-fuzzing-01";
const VIEWER: &str = "viewer-secret-for-fuzzing-2";

/// A generated request, before it is checked as a URI.
#[derive(Clone, Debug)]
struct Call {
    method: Method,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    last_event_id: Option<String>,
    body: Vec<u8>,
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c1".to_owned()),
        Just("missing".to_owned()),
        "[a-zA-Z0-9._-]{1,12}",
        "[a-z]{101}",
        Just("..".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("%ff%fe".to_owned()),
        Just("c1%00".to_owned()),
        "[ -~]{0,16}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("?limit=5".to_owned()),
        Just("?limit=-1".to_owned()),
        Just("?limit=99999999999999999999999".to_owned()),
        Just("?after=1.0".to_owned()),
        Just("?after=x.y".to_owned()),
        Just("?after=18446744073709551615.65535".to_owned()),
        Just("?events=0".to_owned()),
        Just("?events=%ff".to_owned()),
        "\\?[a-z=&0-9%.]{0,24}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let fixed = prop_oneof![
        Just("/healthz"),
        Just("/readyz"),
        Just("/metrics"),
        Just("/v1/cutovers"),
        Just("/v1/whoami"),
        Just("/v1/openapi.json"),
        Just("/"),
    ]
    .prop_map(str::to_owned);
    let under = prop_oneof![
        Just(""),
        Just("/commands"),
        Just("/events"),
        Just("/series"),
        Just("/plan"),
        Just("/stream"),
        Just("/nothing"),
    ];
    prop_oneof![
        (fixed, query()).prop_map(|(path, query)| format!("{path}{query}")),
        (id(), under, query()).prop_map(|(id, under, query)| format!("/v1/cutovers/{id}{under}{query}")),
        "/[ -~]{0,30}",
    ]
}

fn json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Bodies: nothing, bytes, any JSON, and the two request shapes with
/// fields of every type and value.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let plan = prop_oneof![
        Just(cutover_core::plan::DEFAULT_PLAN.to_owned()),
        (0..cutover_core::plan::DEFAULT_PLAN.len(), "[\\[\\]=\"a-z0-9._ \n-]{0,12}").prop_map(|(cut, junk)| {
            let plan = cutover_core::plan::DEFAULT_PLAN;
            let cut = (0..=cut).rev().find(|&i| plan.is_char_boundary(i)).unwrap_or(0);
            format!("{}{junk}{}", &plan[..cut], &plan[cut..])
        }),
        ".{0,40}",
    ];
    let create = (id(), plan, json(1), json(1), json(1), json(1)).prop_map(|(id, plan, start, speed, reason, at)| {
        serde_json::json!({"id": id, "plan": plan, "start": start, "speed": speed, "reason": reason, "at": at})
    });
    let command = (
        prop_oneof![
            Just("pause".to_owned()),
            Just("resume".to_owned()),
            Just("rollback".to_owned()),
            Just("promote".to_owned()),
            Just("abort".to_owned()),
            Just("start".to_owned()),
            ".{0,10}",
        ],
        json(1),
    )
        .prop_map(|(command, reason)| serde_json::json!({"command": command, "reason": reason}));
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..200),
        json(3).prop_map(|v| v.to_string().into_bytes()),
        create.prop_map(|v| v.to_string().into_bytes()),
        command.prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// An operator's command to the cutover there is, with the admin's token:
/// the requests that reach furthest, so a share of their own.
fn command_call() -> impl Strategy<Value = Call> {
    let command = prop_oneof![
        Just("pause"),
        Just("resume"),
        Just("rollback"),
        Just("promote"),
        Just("abort"),
        Just("start"),
        Just("nonsense"),
    ];
    (command, ".{0,30}").prop_map(|(command, reason)| Call {
        method: Method::POST,
        path: "/v1/cutovers/c1/commands".into(),
        authorization: Some(format!("Bearer {ADMIN}")),
        content_type: Some("application/json".into()),
        last_event_id: None,
        body: serde_json::json!({"command": command, "reason": reason}).to_string().into_bytes(),
    })
}

fn call() -> impl Strategy<Value = Call> {
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::PATCH),
        Just(Method::HEAD),
        Just(Method::OPTIONS),
    ];
    let authorization = prop_oneof![
        Just(None),
        Just(Some(format!("Bearer {ADMIN}"))),
        Just(Some(format!("Bearer {VIEWER}"))),
        Just(Some("Bearer".to_owned())),
        "[ -~]{0,40}".prop_map(Some),
    ];
    let content_type = prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/json; charset=utf-8".to_owned())),
        Just(Some("text/plain".to_owned())),
        "[ -~]{0,20}".prop_map(Some),
    ];
    let last_event_id = prop_oneof![Just(None), "[ -~]{0,24}".prop_map(Some)];
    (method, path(), authorization, content_type, last_event_id, body()).prop_map(
        |(method, path, authorization, content_type, last_event_id, body)| Call {
            method,
            path,
            authorization,
            content_type,
            last_event_id,
            body,
        },
    )
}

/// `path` as a client sends it: what may not stand in a URI percent-encoded
/// (a `%` stays, so broken escapes still arrive).
fn encoded(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%?".contains(c) {
            out.push(c);
        } else {
            let mut bytes = [0; 4];
            c.encode_utf8(&mut bytes).bytes().for_each(|b| out.push_str(&format!("%{b:02X}")));
        }
    }
    out
}

fn request(call: &Call) -> Option<Request<Body>> {
    let mut request = Request::builder().method(call.method.clone()).uri(encoded(&call.path));
    for (name, value) in [
        (header::AUTHORIZATION, &call.authorization),
        (header::CONTENT_TYPE, &call.content_type),
        (header::HeaderName::from_static("last-event-id"), &call.last_event_id),
    ] {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    // A header value no client could send is not the server's to answer.
    request.body(Body::from(call.body.clone())).ok()
}

#[test]
fn no_request_gets_a_5xx_and_every_refusal_says_why() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("cutover-api-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = AnyStore::Sqlite(cutover_local::SqliteStore::open(dir.join("cutover.db")).unwrap());
    let tokens = Tokens::parse(&format!("root admin {ADMIN}\nwatcher viewer {VIEWER}"), "test").unwrap();
    let (daemon, _serving) = Daemon::for_tests(store, tokens);
    let router = super::router(daemon);
    let create = serde_json::json!({"id": "c1", "plan": cutover_core::plan::DEFAULT_PLAN});
    let created = runtime.block_on(
        router.clone().oneshot(
            Request::post("/v1/cutovers")
                .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(create.to_string()))
                .unwrap(),
        ),
    );
    assert_eq!(created.unwrap().status(), StatusCode::CREATED);

    let mut runner = TestRunner::new(Config { cases: runner_cases(), failure_persistence: None, ..Config::default() });
    let unsendable = std::sync::atomic::AtomicU32::new(0);
    let calls = prop_oneof![4 => call(), 1 => command_call()];
    let outcome = runner.run(&calls, |call| {
        let Some(request) = request(&call) else {
            unsendable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        };
        let response = runtime.block_on(router.clone().oneshot(request)).unwrap();
        let status = response.status();
        prop_assert!(status.as_u16() < 500, "{} {} answered {status}", call.method, call.path);
        let streaming = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.to_str().is_ok_and(|t| t.starts_with("text/event-stream")));
        if status.is_client_error() && call.method != Method::HEAD && !streaming {
            let kind = response.headers().get(header::CONTENT_TYPE).cloned();
            let body = runtime.block_on(response.into_body().collect()).unwrap().to_bytes();
            prop_assert_eq!(
                kind.as_ref().and_then(|k| k.to_str().ok()),
                Some("application/problem+json"),
                "{} {}: {}",
                call.method,
                call.path,
                String::from_utf8_lossy(&body)
            );
            let problem: Problem = serde_json::from_slice(&body).map_err(|e| {
                TestCaseError::fail(format!("{} {}: not a problem document: {e}", call.method, call.path))
            })?;
            prop_assert_eq!(problem.status, status.as_u16());
            prop_assert!(!problem.detail.trim().is_empty(), "{} {}: a problem with no detail", call.method, call.path);
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    let unsendable = unsendable.into_inner();
    assert!(unsendable * 20 <= runner_cases(), "{unsendable} requests could not be built: the generator is off");
}

fn runner_cases() -> u32 {
    cutover_testkit::fuzz_cases(300)
}
