//! The embedded store passes the store conformance suite, in a file of its
//! own, and keeps its rules across processes' connections.

use cutover_core::store::{conformance, Store};
use cutover_local::SqliteStore;

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a temp folder");
    dir.join("cutover.db")
}

#[tokio::test]
async fn the_sqlite_store_conforms() {
    let store = SqliteStore::open(temp_path("conformance")).expect("open");
    conformance::run(&store, "sqlite").await;
}

/// Two connections to one file stand for two processes: what one commits
/// the other sees, and the lease held through one fences the other.
#[tokio::test]
async fn two_connections_share_one_truth() {
    let path = temp_path("shared");
    let one = SqliteStore::open(&path).expect("open one");
    let two = SqliteStore::open(&path).expect("open two");
    conformance::run(&one, "first").await;
    let listed = two.list().await.expect("list through the other connection");
    assert!(listed.iter().any(|s| s.id == "first-commits"), "{listed:?}");
    assert_eq!(two.history("first-commits").await.expect("history").len(), 2);
}

#[tokio::test]
async fn audit_events_cannot_be_changed_even_with_sql() {
    let path = temp_path("append-only");
    let store = SqliteStore::open(&path).expect("open");
    conformance::run(&store, "audit").await;
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    let update = raw.execute("UPDATE events SET body = '{}'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = raw.execute("DELETE FROM events", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[test]
fn a_store_in_a_missing_folder_names_the_path() {
    let err = SqliteStore::open("/nonexistent-folder/cutover.db").unwrap_err();
    assert!(err.to_string().contains("/nonexistent-folder/cutover.db"), "{err}");
}

/// Eight connections race to commit the same next version: SQLite's
/// immediate transactions let exactly one win; the rest see the conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_from_many_connections_have_one_winner() {
    use cutover_core::engine::CutoverState;
    use cutover_core::store::StoreError;
    use cutover_core::units::Timestamp;

    let path = temp_path("race");
    let first = SqliteStore::open(&path).expect("open");
    let state = CutoverState::new("raced", Timestamp::from_ms(0));
    let mut one = state.clone();
    one.version = 1;
    first.create("plan", cutover_core::store::TimeScale::REAL, &one, &[]).await.expect("create");
    let lease = first.acquire("raced", "leader", Timestamp::from_ms(0), std::time::Duration::from_secs(60)).await;
    let epoch = lease.expect("acquire").epoch;
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let path = path.clone();
            let mut two = one.clone();
            two.version = 2;
            two.started_by = Some(format!("racer-{n}"));
            tokio::spawn(async move { SqliteStore::open(&path).expect("open").commit(epoch, &two, &[]).await })
        })
        .collect();
    let mut results = Vec::new();
    for racer in racers {
        results.push(racer.await.expect("join"));
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::VersionConflict { .. }))), "{results:?}");
    let stored = first.load("raced").await.expect("load").expect("exists");
    let winner = results.iter().position(Result::is_ok).expect("a winner");
    assert_eq!(stored.state.started_by, Some(format!("racer-{winner}")));
}

/// Someone who drops the triggers and edits an event is caught by the hash
/// chain: `cutover history ID --verify` names the event.
#[tokio::test]
async fn an_edited_event_breaks_the_hash_chain() {
    use cutover_core::audit::{verify, Broken};

    let path = temp_path("tamper");
    let store = SqliteStore::open(&path).expect("open");
    conformance::run(&store, "tamper").await;
    assert_eq!(verify(&store.trail("tamper-chain").await.unwrap().unwrap()), Ok(3));
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    raw.execute_batch(
        "DROP TRIGGER events_are_never_changed;
         UPDATE events SET body = replace(body, 'completed', 'aborted') WHERE cutover_id = 'tamper-chain' AND version = 2 AND idx = 0;",
    )
    .expect("tamper");
    let trail = store.trail("tamper-chain").await.unwrap().unwrap();
    assert_eq!(verify(&trail), Err(Broken::Event { version: 2, index: 0 }));
}

/// A store from before the hash chain is upgraded when opened: its
/// cutovers' existing events are sealed in order, and their trails verify.
#[tokio::test]
async fn a_store_from_before_the_hash_chain_is_upgraded_and_sealed() {
    let path = temp_path("old-schema");
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    raw.execute_batch(
        r#"CREATE TABLE cutovers (id TEXT PRIMARY KEY, version INTEGER NOT NULL, state TEXT NOT NULL, plan TEXT NOT NULL,
             speed REAL NOT NULL, anchor_ms INTEGER NOT NULL, updated_at INTEGER NOT NULL);
           CREATE TABLE events (cutover_id TEXT NOT NULL REFERENCES cutovers(id), version INTEGER NOT NULL,
             idx INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (cutover_id, version, idx));
           CREATE TRIGGER events_are_never_changed BEFORE UPDATE ON events
             BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
           INSERT INTO cutovers VALUES ('old', 2, '{}', 'plan', 1.0, 0, 0);
           INSERT INTO events VALUES ('old', 1, 0, '{"a":1}'), ('old', 2, 0, '{"b":2}'), ('old', 2, 1, '{"c":3}');"#,
    )
    .expect("an old store");
    drop(raw);
    let store = SqliteStore::open(&path).expect("opened and upgraded");
    let trail = store.trail("old").await.unwrap().unwrap();
    assert_eq!(cutover_core::audit::verify(&trail), Ok(3), "the old events are sealed in order");
    let raw = rusqlite::Connection::open(&path).expect("raw connection");
    let update = raw.execute("UPDATE events SET body = '{}'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"), "the trigger is back");
    drop(store);
    SqliteStore::open(&path).expect("opens again without upgrading twice");
}
