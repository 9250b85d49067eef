//! The data port: items by key, written under a version condition.
//!
//! Two calls, each one DynamoDB action, so the contract's IAM list can be
//! checked against what the handlers really call: [`ItemStore::get`] is
//! `dynamodb:GetItem`, [`ItemStore::put`] is `dynamodb:PutItem`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

/// Which kind of thing a key names; each has its own key prefix, which the
/// contract's `key_prefix` (and so IAM) scopes each function to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    UserContext,
    Metadata,
    WorkflowMapping,
}

impl Entity {
    pub const fn prefix(self) -> &'static str {
        match self {
            Entity::UserContext => "user#",
            Entity::Metadata => "metadata#",
            Entity::WorkflowMapping => "workflow#",
        }
    }
}

/// A partition key: an entity prefix and a validated id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    pub fn new(entity: Entity, id: &str) -> Key {
        Key(format!("{}{id}", entity.prefix()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Compact JSON, as the handlers validated it.
    pub body: String,
    /// 1 when created, +1 on every replace; the ETag of the item.
    pub version: u64,
    /// Unix seconds after which a cached item is stale (the table's TTL
    /// attribute: DynamoDB deletes such items eventually, not at once).
    pub expires_at: Option<u64>,
}

/// The condition a write is made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Only if no item has the key (create).
    Absent,
    /// Only if the stored item has this version (replace).
    Version(u64),
    /// Unconditionally (cache fills).
    Anything,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemStoreError {
    /// The condition did not hold: someone else wrote first.
    #[error("the item changed since it was read")]
    ConditionFailed,
    /// The store could not answer. `retryable` says whether the same call
    /// later may succeed (throttling, timeouts) or needs a person (access
    /// denied, missing table).
    #[error("{message}")]
    Unavailable { message: String, retryable: bool },
}

pub trait ItemStore: Send + Sync + 'static {
    /// The item, if any (a strongly consistent read).
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Item>, ItemStoreError>> + Send;
    /// Writes `item` if `expect` holds.
    fn put(&self, key: &Key, item: &Item, expect: Expect) -> impl Future<Output = Result<(), ItemStoreError>> + Send;
}

/// One store shared by several apps (the local server's sides, tests).
impl<S: ItemStore> ItemStore for std::sync::Arc<S> {
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Item>, ItemStoreError>> + Send {
        S::get(self, key)
    }

    fn put(&self, key: &Key, item: &Item, expect: Expect) -> impl Future<Output = Result<(), ItemStoreError>> + Send {
        S::put(self, key, item, expect)
    }
}

/// A function whose contract names no DynamoDB action is built with no
/// store: `None` refuses every call, so a handler that strays outside its
/// contract fails loudly in tests rather than at the IAM boundary in AWS.
impl<S: ItemStore> ItemStore for Option<S> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, ItemStoreError> {
        match self {
            Some(store) => store.get(key).await,
            None => Err(no_store()),
        }
    }

    async fn put(&self, key: &Key, item: &Item, expect: Expect) -> Result<(), ItemStoreError> {
        match self {
            Some(store) => store.put(key, item, expect).await,
            None => Err(no_store()),
        }
    }
}

/// The store of a function whose contract names no DynamoDB action, as a
/// type: like `None`, it refuses every call, and a binary built with it
/// links no store at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Absent;

impl ItemStore for Absent {
    async fn get(&self, _: &Key) -> Result<Option<Item>, ItemStoreError> {
        Err(no_store())
    }

    async fn put(&self, _: &Key, _: &Item, _: Expect) -> Result<(), ItemStoreError> {
        Err(no_store())
    }
}

fn no_store() -> ItemStoreError {
    ItemStoreError::Unavailable {
        message: "this function has no DynamoDB access in api-lambdas/routes.json".into(),
        retryable: false,
    }
}

/// The in-memory store: for the local server and the tests.
#[derive(Debug, Default)]
pub struct MemoryItemStore {
    items: Mutex<HashMap<Key, Item>>,
}

impl MemoryItemStore {
    pub fn new() -> MemoryItemStore {
        MemoryItemStore::default()
    }

    fn items(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Item>> {
        // A panic while holding the lock cannot leave a half-written item:
        // every change below is a single insert.
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ItemStore for MemoryItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, ItemStoreError> {
        Ok(self.items().get(key).cloned())
    }

    async fn put(&self, key: &Key, item: &Item, expect: Expect) -> Result<(), ItemStoreError> {
        let mut items = self.items();
        let holds = match expect {
            Expect::Absent => !items.contains_key(key),
            Expect::Version(v) => items.get(key).is_some_and(|i| i.version == v),
            Expect::Anything => true,
        };
        if !holds {
            return Err(ItemStoreError::ConditionFailed);
        }
        items.insert(key.clone(), item.clone());
        Ok(())
    }
}

/// The behaviour every [`ItemStore`] must have, written once and run against
/// each implementation (`MemoryItemStore` here, `DynamoItemStore` against moto).
/// Keys are made unique with `namespace` so runs can share a table.
pub mod conformance {
    use super::*;

    /// Runs every check; panics with the check's name on the first failure.
    pub async fn run<S: ItemStore>(store: &S, namespace: &str) {
        get_of_a_missing_key_is_none(store, namespace).await;
        create_then_replace_by_version(store, namespace).await;
        items_round_trip_exactly(store, namespace).await;
        unconditional_writes_overwrite(store, namespace).await;
        concurrent_replaces_have_one_winner(store, namespace).await;
    }

    fn key(namespace: &str, entity: Entity, name: &str) -> Key {
        Key::new(entity, &format!("{namespace}-{name}"))
    }

    fn item(body: &str, version: u64) -> Item {
        Item { body: body.into(), version, expires_at: None }
    }

    async fn get_of_a_missing_key_is_none<S: ItemStore>(store: &S, ns: &str) {
        let got = store.get(&key(ns, Entity::UserContext, "missing")).await;
        assert_eq!(got, Ok(None), "get of a missing key");
    }

    async fn create_then_replace_by_version<S: ItemStore>(store: &S, ns: &str) {
        let k = key(ns, Entity::UserContext, "versioned");
        assert_eq!(store.put(&k, &item("{\"v\":1}", 1), Expect::Absent).await, Ok(()), "create");
        assert_eq!(
            store.put(&k, &item("{\"v\":9}", 1), Expect::Absent).await,
            Err(ItemStoreError::ConditionFailed),
            "a second create must fail"
        );
        assert_eq!(
            store.put(&k, &item("{\"v\":9}", 3), Expect::Version(2)).await,
            Err(ItemStoreError::ConditionFailed),
            "a replace of a version that is not stored must fail"
        );
        assert_eq!(store.put(&k, &item("{\"v\":2}", 2), Expect::Version(1)).await, Ok(()), "replace");
        assert_eq!(store.get(&k).await, Ok(Some(item("{\"v\":2}", 2))), "read after replace");
        let absent = key(ns, Entity::UserContext, "never-created");
        assert_eq!(
            store.put(&absent, &item("{}", 2), Expect::Version(1)).await,
            Err(ItemStoreError::ConditionFailed),
            "a replace of a missing item must fail"
        );
        assert_eq!(store.get(&absent).await, Ok(None), "a failed write leaves nothing behind");
    }

    async fn items_round_trip_exactly<S: ItemStore>(store: &S, ns: &str) {
        let body = format!(r#"{{"name":"Zoë ✓","pad":"{}","n":1.5e300}}"#, "x".repeat(15_000));
        let written = Item { body, version: 7, expires_at: Some(4_102_444_800) };
        let k = key(ns, Entity::Metadata, "round-trip");
        store.put(&k, &written, Expect::Anything).await.expect("unconditional put");
        assert_eq!(store.get(&k).await, Ok(Some(written)), "an item reads back exactly as written");
    }

    async fn unconditional_writes_overwrite<S: ItemStore>(store: &S, ns: &str) {
        let k = key(ns, Entity::Metadata, "cache");
        let first = Item { body: "{\"a\":1}".into(), version: 1, expires_at: Some(100) };
        let second = Item { body: "{\"a\":2}".into(), version: 1, expires_at: None };
        store.put(&k, &first, Expect::Anything).await.expect("first fill");
        store.put(&k, &second, Expect::Anything).await.expect("second fill");
        assert_eq!(store.get(&k).await, Ok(Some(second)), "the last unconditional write wins whole");
    }

    async fn concurrent_replaces_have_one_winner<S: ItemStore>(store: &S, ns: &str) {
        let k = key(ns, Entity::WorkflowMapping, "raced");
        store.put(&k, &item("{}", 1), Expect::Absent).await.expect("create");
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let k = &k;
                async move { store.put(k, &item(&format!("{{\"writer\":{w}}}"), 2), Expect::Version(1)).await }
            })
            .collect();
        let results = crate::join_all(writers).await;
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "exactly one of 8 racing replaces of version 1 wins: {results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(ItemStoreError::ConditionFailed))), "{results:?}");
        let stored = store.get(&k).await.expect("get").expect("item");
        assert_eq!(stored.version, 2);
        let winner = results.iter().position(|r| r.is_ok()).unwrap_or_default();
        assert_eq!(stored.body, format!("{{\"writer\":{winner}}}"), "the stored body is the winner's");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance::run(&MemoryItemStore::new(), "mem").await;
    }

    #[tokio::test]
    async fn no_store_refuses_and_says_why() {
        let err = None::<MemoryItemStore>.get(&Key::new(Entity::UserContext, "u")).await.unwrap_err();
        assert!(err.to_string().contains("routes.json"));
    }
}
