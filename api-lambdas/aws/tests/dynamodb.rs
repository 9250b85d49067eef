//! The DynamoDB store against moto, started by this test and stopped when
//! it ends: table creation, the store conformance suite, conditional
//! writes, and concurrent read-modify-write clients through the handlers.

use std::sync::Arc;

use bytes::Bytes;
use cutover_api::store::{conformance, Entity, ItemStore, ItemStoreError, Key};
use cutover_api::{App, Config, Invocation};
use cutover_api_aws::{DynamoItemStore, Endpoint};
use cutover_testkit::Moto;
use http::{Method, Request};

async fn store(moto: &Moto, table: &str) -> DynamoItemStore {
    let store = DynamoItemStore::connect(&Endpoint::Url(moto.endpoint().to_owned()), table).await;
    store.create_table().await.expect("create the table");
    store
}

#[tokio::test]
async fn the_dynamodb_store_conforms() {
    let moto = Moto::start();
    let store = store(&moto, "conformance").await;
    store.create_table().await.expect("creating an existing table is a no-op");
    conformance::run(&store, "ddb").await;
}

#[tokio::test]
async fn a_missing_table_is_named_and_not_retryable() {
    let moto = Moto::start();
    let store = DynamoItemStore::connect(&Endpoint::Url(moto.endpoint().to_owned()), "no-such-table").await;
    let err = store.get(&Key::new(Entity::UserContext, "u1")).await.unwrap_err();
    let ItemStoreError::Unavailable { message, retryable } = err else { panic!("{err:?}") };
    assert!(!retryable);
    assert!(message.contains("table no-such-table does not exist"), "{message}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retryable() {
    let port = cutover_testkit::free_port();
    let store = DynamoItemStore::connect(&Endpoint::Url(format!("http://127.0.0.1:{port}")), "t").await;
    let err = store.get(&Key::new(Entity::UserContext, "u1")).await.unwrap_err();
    assert!(matches!(err, ItemStoreError::Unavailable { retryable: true, .. }), "{err:?}");
}

/// Sixteen clients each add their own entry to one workflow mapping by
/// GET, modify, PUT with If-Match, retrying on 412. With DynamoDB's
/// conditional writes underneath, every entry must survive.
///
/// Against a serial moto: the threaded one checks a condition and writes
/// without a lock, so two racing PUTs can both win there (it lost 1 of 16
/// entries on a busy CI machine), which DynamoDB never allows. Every
/// writer reads before any writes (a barrier), so the first round
/// collides on every run, not only when the scheduler happens to
/// interleave them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_through_the_handlers_lose_nothing() {
    let moto = Moto::start_serial();
    let app = Arc::new(App::new(store(&moto, "api").await, None::<cutover_api_aws::HttpBackend>, Config::default()));
    const PATH: &str = "/api/workflows/wf-shared/mapping";
    let put = |precondition: (&'static str, String), body: String| {
        Request::builder()
            .method(Method::PUT)
            .uri(PATH)
            .header("content-type", "application/json")
            .header(precondition.0, precondition.1)
            .body(Bytes::from(body))
            .unwrap()
    };
    let created = app.handle(put(("if-none-match", "*".into()), "{}".into()), &Invocation::default()).await;
    assert_eq!(created.status(), 201);
    let all_read = Arc::new(tokio::sync::Barrier::new(16));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (app, all_read) = (app.clone(), all_read.clone());
            tokio::spawn(async move {
                let mut conflicts = 0;
                loop {
                    let get = Request::builder().uri(PATH).body(Bytes::new()).unwrap();
                    let current = app.handle(get, &Invocation::default()).await;
                    if conflicts == 0 {
                        all_read.wait().await;
                    }
                    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
                    let mut mapping: serde_json::Value = serde_json::from_slice(current.body()).unwrap();
                    mapping[format!("step-{w}")] = format!("queue-{w}").into();
                    let answer = app.handle(put(("if-match", etag), mapping.to_string()), &Invocation::default()).await;
                    match answer.status().as_u16() {
                        200 => return conflicts,
                        412 => conflicts += 1,
                        other => panic!("writer {w}: {other} {:?}", answer.body()),
                    }
                }
            })
        })
        .collect();
    let mut conflicts = 0;
    for writer in writers {
        conflicts += writer.await.unwrap();
    }
    let get = Request::builder().uri(PATH).body(Bytes::new()).unwrap();
    let last = app.handle(get, &Invocation::default()).await;
    let mapping: serde_json::Value = serde_json::from_slice(last.body()).unwrap();
    assert_eq!(mapping.as_object().unwrap().len(), 16, "every writer's entry survived; {conflicts} conflicts retried");
    assert_eq!(last.headers()["etag"], "\"17\"");
    assert!(conflicts >= 15, "all 16 read version 1 first, so 15 lose the first round: {conflicts} conflicts");
}
