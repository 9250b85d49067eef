//! The DynamoDB store against moto (started and stopped by this test):
//! the same conformance suite as the embedded store, plus what only a
//! shared table can show.

use cutover_aws::{Clients, DynamoStore, Endpoints};
use cutover_core::audit::{verify, Broken};
use cutover_core::store::{conformance, Store};
use cutover_testkit::Moto;

async fn store(moto: &Moto, table: &str) -> DynamoStore {
    let endpoints = Endpoints { dynamodb: Some(moto.endpoint().to_owned()), ..Endpoints::default() };
    let store = DynamoStore::new(Clients::new(&endpoints).await.dynamodb, table);
    store.create_table().await.expect("create the table");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_store_conforms() {
    let moto = Moto::start();
    let store = store(&moto, "cutover-conformance").await;
    conformance::run(&store, "ddb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_event_breaks_the_hash_chain() {
    let moto = Moto::start();
    let store = store(&moto, "cutover-tamper").await;
    conformance::run(&store, "tamper").await;
    let trail = store.trail("tamper-chain").await.unwrap().unwrap();
    assert_eq!(verify(&trail), Ok(3));
    // Whoever can write the table rewrites an event's body in place.
    let endpoints = Endpoints { dynamodb: Some(moto.endpoint().to_owned()), ..Endpoints::default() };
    let raw = Clients::new(&endpoints).await.dynamodb;
    let body = trail.records[1].body.replace("completed", "aborted");
    raw.update_item()
        .table_name("cutover-tamper")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("cutover#tamper-chain".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("event#{:020}#{:05}", 2, 0)))
        .update_expression("SET body = :body")
        .expression_attribute_values(":body", aws_sdk_dynamodb::types::AttributeValue::S(body))
        .send()
        .await
        .expect("tamper");
    let trail = store.trail("tamper-chain").await.unwrap().unwrap();
    assert_eq!(verify(&trail), Err(Broken::Event { version: 2, index: 0 }));
}

/// Eight writers race for the same next version: the transactions'
/// conditions let exactly one win. (Against a moto serving one request at a
/// time: threaded moto does not isolate transactions, DynamoDB does.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_have_one_winner() {
    use cutover_core::engine::CutoverState;
    use cutover_core::store::{StoreError, TimeScale};
    use cutover_core::units::Timestamp;

    let moto = Moto::start_serial();
    let store = store(&moto, "cutover-race").await;
    let mut one = CutoverState::new("raced", Timestamp::from_ms(0));
    one.version = 1;
    store.create("plan", TimeScale::REAL, &one, &[]).await.expect("create");
    let epoch = store.acquire("raced", "leader", Timestamp::from_ms(0), std::time::Duration::from_secs(600)).await;
    let epoch = epoch.expect("acquire").epoch;
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let (store, mut two) = (store.clone(), one.clone());
            two.version = 2;
            two.started_by = Some(format!("racer-{n}"));
            tokio::spawn(async move { store.commit(epoch, &two, &[]).await })
        })
        .collect();
    let mut results = Vec::new();
    for racer in racers {
        results.push(racer.await.expect("join"));
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::VersionConflict { .. }))), "{results:?}");
    let stored = store.load("raced").await.expect("load").expect("exists");
    let winner = results.iter().position(Result::is_ok).expect("a winner");
    assert_eq!(stored.state.started_by, Some(format!("racer-{winner}")));
}
