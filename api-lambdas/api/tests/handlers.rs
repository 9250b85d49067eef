//! The handlers called directly, over the in-memory store and a scripted
//! backend: every route, every way a request can be wrong, and the
//! contract's IAM lists checked against the calls the handlers really make.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cutover_api::backend::{Backend, BackendError, BackendResponse, Trace};
use cutover_api::routes::{contract, Function};
use cutover_api::store::{Entity, Expect, Item, ItemStore, ItemStoreError, Key, MemoryItemStore};
use cutover_api::{App, Config, Invocation};
use http::{Method, Request, Response};
use serde_json::{json, Value};

#[derive(Default)]
struct ScriptedBackend {
    answers: Mutex<VecDeque<Result<BackendResponse, BackendError>>>,
    calls: Mutex<Vec<(String, Trace)>>,
}

impl ScriptedBackend {
    fn then(&self, answer: Result<BackendResponse, BackendError>) -> &Self {
        self.answers.lock().unwrap().push_back(answer);
        self
    }
    fn json(&self, status: u16, body: &str) -> &Self {
        self.then(Ok(BackendResponse { status, body: Bytes::from(body.to_owned()) }))
    }
    fn calls(&self) -> Vec<(String, Trace)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Backend for ScriptedBackend {
    async fn get(&self, path: &str, trace: &Trace) -> Result<BackendResponse, BackendError> {
        self.calls.lock().unwrap().push((path.to_owned(), trace.clone()));
        self.answers.lock().unwrap().pop_front().expect("the test scripted an answer for every backend call")
    }
}

type TestApp = App<MemoryItemStore, Arc<ScriptedBackend>>;

fn app_with(config: Config) -> (TestApp, Arc<ScriptedBackend>) {
    let backend = Arc::new(ScriptedBackend::default());
    (App::new(MemoryItemStore::new(), backend.clone(), config), backend)
}

fn app() -> (TestApp, Arc<ScriptedBackend>) {
    app_with(Config::default())
}

fn invocation() -> Invocation {
    Invocation {
        trace: Trace { request_id: "req-1".into(), trace_id: Some("Root=1-67891233-abcdef012345678912345678".into()) },
        cold_start: false,
    }
}

fn request(method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Bytes> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Bytes::from(body.to_owned())).unwrap()
}

async fn call<S: ItemStore, B: Backend>(app: &App<S, B>, req: Request<Bytes>) -> (u16, Value, Response<Bytes>) {
    let response = app.handle(req, &invocation()).await;
    let body: Value = serde_json::from_slice(response.body()).expect("every answer is JSON");
    (response.status().as_u16(), body, response)
}

async fn get<S: ItemStore, B: Backend>(app: &App<S, B>, path: &str) -> (u16, Value, Response<Bytes>) {
    call(app, request(Method::GET, path, &[], "")).await
}

async fn put<S: ItemStore, B: Backend>(
    app: &App<S, B>,
    path: &str,
    precondition: (&str, &str),
    body: &str,
) -> (u16, Value, Response<Bytes>) {
    call(app, request(Method::PUT, path, &[("content-type", "application/json"), precondition], body)).await
}

fn header<'r>(response: &'r Response<Bytes>, name: &str) -> Option<&'r str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

const CREATE: (&str, &str) = ("if-none-match", "*");

#[tokio::test]
async fn health_names_the_side_and_every_answer_carries_it() {
    let (app, _) = app();
    let (status, body, response) = get(&app, "/api/health").await;
    assert_eq!((status, body), (200, json!({"status": "ok", "side": "serverless"})));
    assert_eq!(header(&response, "x-served-by"), Some("serverless"));
    assert_eq!(header(&response, "x-request-id"), Some("req-1"));
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(header(&response, "x-cold-start"), None);
    let (_, _, response) = get(&app, "/api/nowhere").await;
    assert_eq!(header(&response, "x-served-by"), Some("serverless"), "errors too");
}

#[tokio::test]
async fn a_cold_start_is_marked() {
    let (app, _) = app();
    let cold = Invocation { cold_start: true, ..invocation() };
    let response = app.handle(request(Method::GET, "/api/health", &[], ""), &cold).await;
    assert_eq!(header(&response, "x-cold-start"), Some("1"));
}

#[tokio::test]
async fn unknown_routes_methods_and_ids_are_4xx_with_a_json_error() {
    let (app, _) = app();
    let (status, body, _) = get(&app, "/api/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"error": "not_found", "message": "no route matches GET /api/nope"}));

    let (status, body, response) = call(&app, request(Method::DELETE, "/api/users/u1/context", &[], "")).await;
    assert_eq!((status, body["error"].as_str()), (405, Some("method_not_allowed")));
    assert_eq!(header(&response, "allow"), Some("GET, PUT"));

    let (status, body, _) = get(&app, "/api/users/bad%20id/context").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_id")));
    assert!(body["message"].as_str().unwrap().starts_with("userId must be 1 to 64 characters"));

    let long = format!("/api/reports/{}", "r".repeat(65));
    let (status, body, _) = get(&app, &long).await;
    assert_eq!((status, body["message"].as_str().unwrap().ends_with("got 65 characters")), (400, true));

    let (status, _, _) = get(&app, "/api/users/%ff/context").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_put_creates_then_replaces_by_etag() {
    let (app, _) = app();
    let path = "/api/users/u1/context";
    let (status, body, _) = get(&app, path).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("no user context is stored for u1")));

    let (status, body, response) = put(&app, path, CREATE, r#"{"theme": "dark", "tabs": [1, 2]}"#).await;
    assert_eq!((status, body), (201, json!({"theme": "dark", "tabs": [1, 2]})));
    assert_eq!(header(&response, "etag"), Some("\"1\""));

    let (status, body, response) = get(&app, path).await;
    assert_eq!(
        (status, body, header(&response, "etag")),
        (200, json!({"theme": "dark", "tabs": [1, 2]}), Some("\"1\""))
    );

    let (status, _, response) = put(&app, path, ("if-match", "\"1\""), r#"{"theme": "light"}"#).await;
    assert_eq!((status, header(&response, "etag")), (200, Some("\"2\"")));

    let (status, body, _) = put(&app, path, ("if-match", "\"1\""), r#"{"theme": "blue"}"#).await;
    assert_eq!((status, body["error"].as_str()), (412, Some("precondition_failed")));
    let (status, body, _) = put(&app, path, CREATE, r#"{"theme": "blue"}"#).await;
    assert_eq!((status, body["error"].as_str()), (412, Some("precondition_failed")));
    assert_eq!(get(&app, path).await.1, json!({"theme": "light"}), "the losers changed nothing");

    let (status, _, _) = put(&app, "/api/users/u2/context", ("if-match", "\"1\""), "{}").await;
    assert_eq!(status, 412, "replacing what was never created");
}

#[tokio::test]
async fn a_bad_put_is_refused_with_the_reason_and_nothing_is_written() {
    let (app, _) = app();
    let path = "/api/workflows/wf-1/mapping";
    let cases: Vec<(Request<Bytes>, u16, &str)> = vec![
        (request(Method::PUT, path, &[("content-type", "application/json")], "{}"), 428, "precondition_required"),
        (
            request(Method::PUT, path, &[("content-type", "application/json"), ("if-match", "3")], "{}"),
            400,
            "invalid_precondition",
        ),
        (request(Method::PUT, path, &[("content-type", "text/plain"), CREATE], "{}"), 415, "unsupported_media_type"),
        (request(Method::PUT, path, &[CREATE], "{}"), 415, "unsupported_media_type"),
        (request(Method::PUT, path, &[("content-type", "application/json"), CREATE], "{\"a\":"), 400, "invalid_json"),
        (request(Method::PUT, path, &[("content-type", "application/json"), CREATE], "[]"), 400, "invalid_json"),
        (
            request(Method::PUT, path, &[("content-type", "application/json"), CREATE], r#"{"step":7}"#),
            400,
            "invalid_mapping",
        ),
        (
            request(
                Method::PUT,
                path,
                &[("content-type", "application/json"), CREATE],
                &format!(r#"{{"a":"{}"}}"#, "x".repeat(40_000)),
            ),
            413,
            "payload_too_large",
        ),
    ];
    for (req, want_status, want_code) in cases {
        let (status, body, _) = call(&app, req).await;
        assert_eq!((status, body["error"].as_str()), (want_status, Some(want_code)), "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(get(&app, path).await.0, 404, "nothing was written");
}

/// Found from outside (issue 17): one strict rule for preconditions, and a
/// version that cannot overflow in any build.
#[tokio::test]
async fn if_match_is_one_plain_etag_and_the_last_version_never_wraps() {
    let (app, _) = app();
    let path = "/api/users/u-9/context";
    let (status, _, _) = put(&app, path, CREATE, r#"{"a":1}"#).await;
    assert_eq!(status, 201);
    let json = ("content-type", "application/json");
    for tag in
        [r#""01""#, r#""+1""#, r#"" 1""#, r#"W/"1""#, r#""1", "2""#, "*", r#""""#, r#""1"#, r#""99999999999999999999""#]
    {
        let (status, body, _) = call(&app, request(Method::PUT, path, &[json, ("if-match", tag)], r#"{"a":2}"#)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_precondition")), "If-Match: {tag} → {body}");
    }
    // Two header lines are refused as one line with two tags is.
    let two = request(Method::PUT, path, &[json, ("if-match", r#""1""#), ("if-match", r#""1""#)], r#"{"a":2}"#);
    let (status, body, _) = call(&app, two).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_precondition")), "{body}");
    let two = request(Method::PUT, path, &[json, ("if-none-match", "*"), ("if-none-match", "*")], r#"{"a":2}"#);
    assert_eq!(call(&app, two).await.0, 400);
    // Version 0 is plain decimal but never written: a failed precondition.
    assert_eq!(put(&app, path, ("if-match", r#""0""#), r#"{"a":2}"#).await.0, 412);
    // The last version: a failed precondition, not a panic or a wrap to 0.
    let (status, body, _) = put(&app, path, ("if-match", &format!("\"{}\"", u64::MAX)), r#"{"a":2}"#).await;
    assert_eq!((status, body["error"].as_str()), (412, Some("precondition_failed")), "{body}");
    let (status, _, response) = get(&app, path).await;
    assert_eq!((status, header(&response, "etag")), (200, Some(r#""1""#)), "nothing was written");
    // The rule still takes what GET gave.
    assert_eq!(put(&app, path, ("if-match", r#""1""#), r#"{"a":2}"#).await.0, 200);
}

/// Found from outside (issue 17): a metadata key reaches the backend as a
/// path segment, so "." and ".." (however encoded) never get that far.
#[tokio::test]
async fn dot_segments_are_not_keys() {
    let (app, backend) = app();
    for key in [".", "..", "%2e", "%2E%2e", ".%2E"] {
        let (status, body, _) = get(&app, &format!("/api/metadata/{key}")).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_id")), "{key}: {body}");
    }
    assert!(backend.calls().is_empty(), "the backend was asked for {:?}", backend.calls());
    backend.json(200, r#"{"v":1}"#);
    assert_eq!(get(&app, "/api/metadata/a.b").await.0, 200, "a dot inside a key is fine");
}

/// Many clients doing read-modify-write on one item, each retrying when it
/// loses: every update must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_lose_an_update() {
    let app = Arc::new(app().0);
    let path = "/api/users/shared/context";
    assert_eq!(put(&app, path, CREATE, "{}").await.0, 201);
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut conflicts = 0;
                loop {
                    let (_, mut body, response) = get(&app, path).await;
                    let etag = header(&response, "etag").unwrap().to_owned();
                    body[format!("writer-{w}")] = json!(true);
                    match put(&app, path, ("if-match", &etag), &body.to_string()).await.0 {
                        200 => return conflicts,
                        412 => conflicts += 1,
                        other => panic!("unexpected {other}"),
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut conflicts = 0;
    for w in writers {
        conflicts += w.await.unwrap();
    }
    let (_, body, response) = get(&app, path).await;
    assert_eq!(body.as_object().unwrap().len(), 16, "all 16 updates survived ({conflicts} conflicts retried)");
    assert_eq!(header(&response, "etag"), Some("\"17\""));
}

fn at_time_100() -> u64 {
    100
}

#[tokio::test]
async fn metadata_is_cached_until_its_ttl_then_fetched_again() {
    let config = Config { clock: at_time_100, metadata_ttl: Duration::from_secs(60), ..Config::default() };
    let (app, backend) = app_with(config);
    backend.json(200, r#"{ "flags": ["a"] }"#);
    let (status, body, response) = get(&app, "/api/metadata/feature.flags").await;
    assert_eq!((status, body, header(&response, "x-cache")), (200, json!({"flags": ["a"]}), Some("miss")));
    assert_eq!(backend.calls()[0].0, "/metadata/feature.flags");
    let key = Key::new(Entity::Metadata, "feature.flags");
    assert_eq!(app.store().get(&key).await.unwrap().unwrap().expires_at, Some(160));

    let (status, _, response) = get(&app, "/api/metadata/feature.flags").await;
    assert_eq!((status, header(&response, "x-cache")), (200, Some("hit")));
    assert_eq!(backend.calls().len(), 1, "a hit does not ask the backend");

    // Expired: fetched again.
    let expired = Item { body: "{\"old\":true}".into(), version: 1, expires_at: Some(100) };
    app.store().put(&key, &expired, Expect::Anything).await.unwrap();
    backend.json(200, r#"{"new":true}"#);
    let (_, body, response) = get(&app, "/api/metadata/feature.flags").await;
    assert_eq!((body, header(&response, "x-cache")), (json!({"new": true}), Some("miss")));
}

#[tokio::test]
async fn metadata_falls_back_to_a_stale_copy_when_the_backend_fails() {
    let (app, backend) = app_with(Config { clock: at_time_100, ..Config::default() });
    let key = Key::new(Entity::Metadata, "m1");
    let stale = Item { body: "{\"v\":1}".into(), version: 1, expires_at: Some(50) };
    app.store().put(&key, &stale, Expect::Anything).await.unwrap();
    backend.json(503, "down");
    let (status, body, response) = get(&app, "/api/metadata/m1").await;
    assert_eq!((status, body, header(&response, "x-cache")), (200, json!({"v": 1}), Some("stale")));

    backend.then(Err(BackendError::Timeout(Duration::from_millis(3000))));
    let (status, body, _) = get(&app, "/api/metadata/m2").await;
    assert_eq!(status, 504);
    assert_eq!(body["message"], "the metadata backend did not answer within 3000 ms");

    backend.json(404, "{}");
    assert_eq!(get(&app, "/api/metadata/m3").await.0, 404);
}

#[tokio::test]
async fn reports_pass_through_and_backend_failures_are_502_or_504() {
    let (app, backend) = app();
    backend.json(200, r#"{"total": 12, "rows": []}"#);
    let (status, body, _) = get(&app, "/api/reports/r-9").await;
    assert_eq!((status, body), (200, json!({"total": 12, "rows": []})));
    let (path, trace) = &backend.calls()[0];
    assert_eq!(path, "/reports/r-9");
    assert_eq!(trace, &invocation().trace, "the request and trace ids reach the backend");

    let cases: Vec<(Result<BackendResponse, BackendError>, u16, &str, &str)> = vec![
        (
            Ok(BackendResponse { status: 503, body: Bytes::new() }),
            502,
            "backend_error",
            "the reports backend answered 503",
        ),
        (
            Ok(BackendResponse { status: 400, body: Bytes::new() }),
            502,
            "backend_error",
            "the reports backend answered 400",
        ),
        (
            Ok(BackendResponse { status: 200, body: Bytes::from_static(b"<html>") }),
            502,
            "backend_error",
            "the reports backend answered a body that is not JSON",
        ),
        (
            Err(BackendError::Timeout(Duration::from_millis(250))),
            504,
            "backend_timeout",
            "the reports backend did not answer within 250 ms",
        ),
        (
            Err(BackendError::Unreachable("connection refused".into())),
            502,
            "backend_error",
            "the reports backend failed: the backend could not be reached: connection refused",
        ),
        (Ok(BackendResponse { status: 404, body: Bytes::new() }), 404, "not_found", "no report is named r-9"),
    ];
    for (answer, want_status, want_code, want_message) in cases {
        backend.then(answer);
        let (status, body, _) = get(&app, "/api/reports/r-9").await;
        assert_eq!((status, body["error"].as_str()), (want_status, Some(want_code)));
        assert!(body["message"].as_str().unwrap().starts_with(want_message), "{body}");
    }
}

#[tokio::test]
async fn a_lambda_serves_only_its_own_route() {
    let (app, _) = app_with(Config { only: Some(Function::GetReport), ..Config::default() });
    let (status, body, _) = get(&app, "/api/health").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("this function serves only GET /api/reports/{reportId}"))
    );
}

#[tokio::test]
async fn the_store_being_down_is_a_503_and_access_denied_a_500() {
    struct Down(bool);
    impl ItemStore for Down {
        async fn get(&self, _: &Key) -> Result<Option<Item>, ItemStoreError> {
            Err(ItemStoreError::Unavailable { message: "throttled".into(), retryable: self.0 })
        }
        async fn put(&self, _: &Key, _: &Item, _: Expect) -> Result<(), ItemStoreError> {
            Err(ItemStoreError::Unavailable { message: "throttled".into(), retryable: self.0 })
        }
    }
    let app = App::new(Down(true), None::<Arc<ScriptedBackend>>, Config::default());
    let (status, body, _) = get(&app, "/api/users/u1/context").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("store_unavailable")));
    let app = App::new(Down(false), None::<Arc<ScriptedBackend>>, Config::default());
    assert_eq!(get(&app, "/api/users/u1/context").await.0, 500);
}

/// Records the DynamoDB action and key of each store call.
#[derive(Default)]
struct Recording {
    inner: MemoryItemStore,
    calls: Mutex<Vec<(&'static str, String)>>,
}

impl Recording {
    fn record(&self, action: &'static str, key: &Key) {
        self.calls.lock().unwrap().push((action, key.as_str().to_owned()));
    }
}

impl ItemStore for Recording {
    async fn get(&self, key: &Key) -> Result<Option<Item>, ItemStoreError> {
        self.record("dynamodb:GetItem", key);
        self.inner.get(key).await
    }
    async fn put(&self, key: &Key, item: &Item, expect: Expect) -> Result<(), ItemStoreError> {
        self.record("dynamodb:PutItem", key);
        self.inner.put(key, item, expect).await
    }
}

/// Each function, driven down its paths, uses exactly the DynamoDB actions
/// and key prefix its contract grants, and the backend only if the contract
/// says so.
#[tokio::test]
async fn every_function_uses_exactly_what_its_contract_grants() {
    for function in Function::ALL {
        let route = function.route();
        let store = Arc::new(Recording::default());
        let backend = Arc::new(ScriptedBackend::default());
        let app = App::new(store.clone(), backend.clone(), Config { only: Some(function), ..Config::default() });
        let path = route.path_for(&["id-1"]);
        backend.json(200, r#"{"a":1}"#).json(200, r#"{"a":2}"#);
        for attempt in 0..2 {
            let req = if route.method == Method::PUT {
                let precondition = if attempt == 0 { CREATE } else { ("if-match", "\"1\"") };
                request(Method::PUT, &path, &[("content-type", "application/json"), precondition], "{}")
            } else {
                request(Method::GET, &path, &[], "")
            };
            let (status, body, _) = call(&app, req).await;
            assert!(status < 500, "{} answered {status} {body}", function.name());
        }
        let calls = store.calls.lock().unwrap().clone();
        let used: BTreeSet<String> = calls.iter().map(|(action, _)| action.to_string()).collect();
        let granted: BTreeSet<String> = route.dynamodb.iter().cloned().collect();
        assert_eq!(used, granted, "{}: DynamoDB actions used vs granted", function.name());
        let prefix = route.key_prefix.as_deref().unwrap_or("(none)");
        assert!(calls.iter().all(|(_, key)| key.starts_with(prefix)), "{}: keys {calls:?}", function.name());
        assert_eq!(!backend.calls().is_empty(), route.backend, "{}: backend use vs contract", function.name());
    }
    assert_eq!(contract().side, "serverless");
}

mod never_a_5xx {
    use super::*;
    use proptest::prelude::*;

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![Just(Method::GET), Just(Method::PUT), Just(Method::POST), Just(Method::DELETE), Just(Method::HEAD)]
    }

    fn path() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            Just("api".to_string()),
            Just("users".to_string()),
            Just("context".to_string()),
            Just("workflows".to_string()),
            Just("mapping".to_string()),
            Just("metadata".to_string()),
            "[a-zA-Z0-9%._~:-]{0,70}",
        ];
        proptest::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cutover_testkit::fuzz_cases(512)))]

        /// Whatever arrives, the answer is a JSON error body or a success,
        /// never a server error, with no backend configured.
        #[test]
        fn arbitrary_requests_get_4xx_not_5xx(
            method in method(),
            path in path(),
            content_type in prop_oneof![Just("application/json"), Just("text/plain"), Just("")],
            precondition in prop_oneof![Just(("if-none-match", "*")), Just(("if-match", "\"1\"")), Just(("if-match", "x")), Just(("x-none", ""))],
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let app = App::new(MemoryItemStore::new(), None::<Arc<ScriptedBackend>>, Config::default());
            let mut builder = Request::builder().method(method).uri(&path).header(precondition.0, precondition.1);
            if !content_type.is_empty() {
                builder = builder.header("content-type", content_type);
            }
            let req = builder.body(Bytes::from(body)).unwrap();
            let response = runtime.block_on(app.handle(req, &invocation()));
            let status = response.status().as_u16();
            let routed_to_backend = path.starts_with("/api/metadata/") || path.starts_with("/api/reports/");
            prop_assert!(status < 500 || routed_to_backend, "{path}: {status}");
            let body: Value = serde_json::from_slice(response.body()).unwrap();
            if status >= 400 {
                prop_assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
            }
        }
    }
}
