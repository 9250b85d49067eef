//! The store of record in AWS: one DynamoDB table, key `pk` (the cutover)
//! and `sk` (what of it).
//!
//! | sk | item |
//! |---|---|
//! | `state` | `version`, `state` (JSON), `plan` (TOML), `speed`, `anchor_ms`, `updated_at`, `head` |
//! | `event#{version:020}#{index:05}` | `body` (JSON, as hashed), `hash` |
//! | `lease` | `holder`, `epoch`, `expires_at` |
//! | `inbox` | `next`: the inbox's sequence counter |
//! | `inbox#{seq:020}` | `body` (a request, JSON) |
//! | `delivered#{webhook}` | `place`: `{version:020}#{index:05}` of the last notification sent |
//!
//! and one registry partition, key `cutovers` (no cutover's key: those all
//! begin `cutover#`), an item `registry#{id}` per cutover, written with its
//! first state: listing the cutovers is a `Query` there and a
//! `BatchGetItem` of their states, never a scan of every event.
//!
//! A commit is one `TransactWriteItems`: a `ConditionCheck` that the lease
//! item still carries the writer's epoch, the state update conditioned on
//! the previous version, and a put per event conditioned on its absence.
//! Any condition failing cancels all of it. Keys sort so that one `Query`
//! reads a trail or an inbox in order.
//!
//! Every transaction carries a `ClientRequestToken` derived from what it
//! writes, so the SDK's own retry of one whose answer was lost (a timeout
//! after DynamoDB committed it) is a no-op instead of a version conflict.
//! A cancellation is classified by its reasons: a failed condition is a
//! race the caller answers (who won), contention or throttling
//! (`TransactionConflict`, `ThrottlingError`, a transaction still in
//! progress) is tried again with a fresh token after a short backoff, and a
//! `ValidationError` (an item over 400 KB) is reported as what it is.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete, KeySchemaElement,
    KeyType, KeysAndAttributes, Put, ScalarAttributeType, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use cutover_base::Backoff;
use cutover_core::audit::{self, Record, Trail};
use cutover_core::engine::{CutoverState, Event};
use cutover_core::store::{Lease, Request, Store, StoreError, Stored, TimeScale};
use cutover_core::units::Timestamp;

use crate::AwsFailure;

/// IAM authorises a `TransactWriteItems` by its parts.
const TRANSACT_ACTIONS: &str =
    "dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem and dynamodb:ConditionCheckItem (TransactWriteItems)";

/// DynamoDB's limit on items per transaction; two go to the lease check and
/// the state (or to the state and the registry entry).
const MAX_EVENTS_PER_COMMIT: usize = 98;

/// The registry's partition key: not `cutover#…`, so no cutover's.
const REGISTRY_PK: &str = "cutovers";
/// `BatchGetItem` takes at most this many keys.
const BATCH_GET_MAX: usize = 100;
/// Tries of a transaction cancelled by contention or throttling, and the
/// waits between them (with jitter): 0.05 + 0.1 + 0.2 + 0.4 s.
const TRANSACT_TRIES: u32 = 5;
const TRANSACT_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(400));

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn pk(id: &str) -> AttributeValue {
    s(format!("cutover#{id}"))
}

fn key(id: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), pk(id)), ("sk".to_owned(), s(sk))])
}

fn registry_sk(id: &str) -> String {
    format!("registry#{id}")
}

fn event_sk(version: u64, index: u16) -> String {
    format!("event#{version:020}#{index:05}")
}

fn failed<E>(action: &'static str, err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = AwsFailure::from_sdk(action, &err);
    StoreError::Unavailable { retryable: failure.retryable(), message: failure.message }
}

fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(StoreError::Corrupt(format!("attribute `{name}` is missing or not a string"))),
    }
}

fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => {
            value.parse().map_err(|_| StoreError::Corrupt(format!("attribute `{name}` is not a number: {value}")))
        }
        _ => Err(StoreError::Corrupt(format!("attribute `{name}` is missing or not a number"))),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn built<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Corrupt(format!("cannot build a DynamoDB request: {e}")))
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore { client, table: table.into() }
    }

    /// Creates the table (on-demand, `pk`/`sk` strings) if it is missing:
    /// for emulators and first runs. In AWS, Terraform owns the table.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let exists = self.client.describe_table().table_name(&self.table).send().await;
        if exists.is_ok() {
            return Ok(());
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let schema = |name: &str, key_type| KeySchemaElement::builder().attribute_name(name).key_type(key_type).build();
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(built(attribute("pk"))?)
            .attribute_definitions(built(attribute("sk"))?)
            .key_schema(built(schema("pk", KeyType::Hash))?)
            .key_schema(built(schema("sk", KeyType::Range))?)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Created meanwhile: by another process, or by this call's first
            // attempt, whose answer came too late and was tried again.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => Ok(()),
            Err(e) => Err(failed("dynamodb:CreateTable", e)),
        }
    }

    async fn get(&self, id: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(id, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("dynamodb:GetItem", e))?;
        Ok(out.item)
    }

    /// Every item of `id` whose sort key starts with `prefix`, in key order.
    async fn query(&self, id: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", pk(id))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| failed("dynamodb:Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// The lease epoch stored for `id`, if any.
    async fn current_epoch(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.get(id, "lease").await?.map(|item| number(&item, "epoch")).transpose()
    }

    /// Runs one transaction: `Ok`, `Err(None)` when a condition failed (the
    /// caller says who won), or the error. `what` names it in errors;
    /// `content` (what it writes, in a stable form) seeds its idempotency
    /// token, so the same write made again asks for the same token.
    async fn transact(
        &self,
        what: &str,
        content: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), Option<StoreError>> {
        let seed = audit::sha256_hex(format!("{what}\n{content}").as_bytes());
        let (mut reason, mut token_try) = (String::new(), 0);
        for attempt in 0..TRANSACT_TRIES {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt, &seed)).await;
            }
            // A fresh token after a cancellation (that try wrote nothing,
            // and a used token answers as it did the first time); the same
            // one while DynamoDB still runs a try with it, which may commit.
            let token = format!("{}-{token_try}", &seed[..32]);
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(token)
                .send()
                .await;
            let e = match sent {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let cancelled = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    token_try += 1;
                    classify(c.cancellation_reasons())
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    Cancelled::Contended("a transaction with the same token is still in progress".into())
                }
                _ => return Err(Some(failed(TRANSACT_ACTIONS, e))),
            };
            match cancelled {
                Cancelled::Condition => return Err(None),
                Cancelled::Invalid(why) => {
                    let message = format!("DynamoDB refused {what} as invalid ({why}); nothing was written");
                    return Err(Some(StoreError::Unavailable { message, retryable: false }));
                }
                Cancelled::Contended(why) => reason = why,
            }
        }
        let message = format!("DynamoDB cancelled {what} {TRANSACT_TRIES} times ({reason}); nothing was written");
        Err(Some(StoreError::Unavailable { message, retryable: true }))
    }

    /// The state items of `ids` (at most [`BATCH_GET_MAX`]), read
    /// consistently; keys DynamoDB leaves unprocessed (throttling) are asked
    /// again after a backoff.
    async fn batch_get_states(&self, ids: &[String]) -> Result<Vec<Item>, StoreError> {
        let keys: Vec<Item> = ids.iter().map(|id| key(id, "state")).collect();
        let mut pending = Some(built(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build())?);
        let mut items = Vec::new();
        for attempt in 0..TRANSACT_TRIES {
            let Some(request) = pending.take() else { break };
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt, "0000")).await;
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| failed("dynamodb:BatchGetItem", e))?;
            items.extend(out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
            pending = out.unprocessed_keys.unwrap_or_default().remove(&self.table).filter(|k| !k.keys().is_empty());
        }
        if pending.is_some() {
            let message = "DynamoDB kept some cutovers' states unprocessed (throttled); list again".to_owned();
            return Err(StoreError::Unavailable { message, retryable: true });
        }
        Ok(items)
    }

    fn event_puts(&self, events: &[Event], head: &str) -> Result<(Vec<TransactWriteItem>, String), StoreError> {
        if events.len() > MAX_EVENTS_PER_COMMIT {
            return Err(StoreError::Corrupt(format!(
                "a commit of {} events is more than one DynamoDB transaction holds ({MAX_EVENTS_PER_COMMIT})",
                events.len()
            )));
        }
        let bodies = events.iter().map(to_json).collect::<Result<Vec<_>, _>>()?;
        let hashes = audit::seal(head, bodies.iter().map(String::as_str));
        let mut puts = Vec::with_capacity(events.len());
        for ((event, body), hash) in events.iter().zip(bodies).zip(&hashes) {
            let mut item = key(&event.cutover_id, &event_sk(event.version, event.index));
            item.insert("body".into(), s(body));
            item.insert("hash".into(), s(hash.clone()));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)");
            puts.push(TransactWriteItem::builder().put(built(put.build())?).build());
        }
        Ok((puts, hashes.last().cloned().unwrap_or_else(|| head.to_owned())))
    }
}

/// Why DynamoDB cancelled a transaction.
#[derive(Debug, PartialEq)]
enum Cancelled {
    /// A condition failed: another write got there first.
    Condition,
    /// Contention or throttling: nothing was written; try again.
    Contended(String),
    /// The request itself is wrong (too large, malformed): trying again
    /// cannot help.
    Invalid(String),
}

/// Reads the per-item reasons DynamoDB gives (`None` for an item that was
/// fine): a refusal outranks a failed condition, which outranks contention.
/// No reasons at all (an emulator's answer) reads as a failed condition.
fn classify(reasons: &[CancellationReason]) -> Cancelled {
    let says = |code: &str| {
        reasons.iter().find(|r| r.code() == Some(code)).map(|r| {
            let message = r.message().unwrap_or("no message");
            format!("{code}: {message}")
        })
    };
    if let Some(why) = says("ValidationError").or_else(|| says("ItemCollectionSizeLimitExceeded")) {
        return Cancelled::Invalid(why);
    }
    if says("ConditionalCheckFailed").is_some() {
        return Cancelled::Condition;
    }
    ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"]
        .into_iter()
        .find_map(says)
        .map_or(Cancelled::Condition, Cancelled::Contended)
}

/// The wait before try `attempt` (1-based): [`TRANSACT_BACKOFF`], spread
/// by `seed` (two writers contending for one item wait different times).
fn backoff(attempt: u32, seed: &str) -> Duration {
    let jitter = u64::from_str_radix(seed.get(..4).unwrap_or("0"), 16).unwrap_or(0) % 1000;
    TRANSACT_BACKOFF.spread(attempt, jitter as f64 / 1000.0)
}

impl Store for DynamoStore {
    async fn create(
        &self,
        plan: &str,
        time: TimeScale,
        state: &CutoverState,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let (mut items, head) = self.event_puts(events, audit::GENESIS)?;
        let state_json = to_json(state)?;
        let content = format!("{state_json}\n{head}");
        let mut item = key(&state.id, "state");
        item.insert("version".into(), n(state.version));
        item.insert("state".into(), s(state_json));
        item.insert("plan".into(), s(plan));
        item.insert("speed".into(), n(time.speed));
        item.insert("anchor_ms".into(), n(time.anchor.as_ms()));
        item.insert("updated_at".into(), n(state.updated_at.as_ms()));
        item.insert("head".into(), s(head));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)");
        items.insert(0, TransactWriteItem::builder().put(built(put.build())?).build());
        let mut entry =
            HashMap::from([("pk".to_owned(), s(REGISTRY_PK)), ("sk".to_owned(), s(registry_sk(&state.id)))]);
        entry.insert("id".into(), s(&state.id));
        let register = Put::builder().table_name(&self.table).set_item(Some(entry));
        items.insert(1, TransactWriteItem::builder().put(built(register.build())?).build());
        match self.transact(&format!("the creation of cutover {}", state.id), &content, items).await {
            Ok(()) => Ok(()),
            Err(None) => Err(StoreError::Exists(state.id.clone())),
            Err(Some(e)) => Err(e),
        }
    }

    async fn commit(&self, epoch: u64, state: &CutoverState, events: &[Event]) -> Result<(), StoreError> {
        let id = state.id.as_str();
        let follows = state.version.saturating_sub(1);
        // Read first to answer precisely (and to chain after the head); the
        // transaction's conditions are what guard the write.
        let stored = self.get(id, "state").await?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        let current = self.current_epoch(id).await?;
        if current != Some(epoch) {
            return Err(StoreError::Fenced { id: id.to_owned(), epoch, current });
        }
        let stored_version: u64 = number(&stored, "version")?;
        if stored_version != follows || state.version == 0 {
            return Err(StoreError::VersionConflict { id: id.to_owned(), follows, stored: Some(stored_version) });
        }
        let (mut items, head) = self.event_puts(events, text(&stored, "head")?)?;
        let state_json = to_json(state)?;
        let content = format!("{epoch}\n{state_json}\n{head}");
        let fence = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(id, "lease")))
            .condition_expression("epoch = :epoch")
            .expression_attribute_values(":epoch", n(epoch));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(id, "state")))
            .update_expression("SET version = :version, #state = :state, updated_at = :updated, head = :head")
            .condition_expression("version = :follows")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":version", n(state.version))
            .expression_attribute_values(":state", s(state_json))
            .expression_attribute_values(":updated", n(state.updated_at.as_ms()))
            .expression_attribute_values(":head", s(head))
            .expression_attribute_values(":follows", n(follows));
        items.insert(0, TransactWriteItem::builder().condition_check(built(fence.build())?).build());
        items.insert(1, TransactWriteItem::builder().update(built(update.build())?).build());
        match self.transact(&format!("version {} of cutover {id}", state.version), &content, items).await {
            Ok(()) => Ok(()),
            Err(Some(e)) => Err(e),
            // Someone wrote between the read and the transaction: say who won.
            Err(None) => {
                let current = self.current_epoch(id).await?;
                if current != Some(epoch) {
                    return Err(StoreError::Fenced { id: id.to_owned(), epoch, current });
                }
                let stored = self.get(id, "state").await?.map(|item| number(&item, "version")).transpose()?;
                Err(StoreError::VersionConflict { id: id.to_owned(), follows, stored })
            }
        }
    }

    async fn load(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let Some(item) = self.get(id, "state").await? else {
            return Ok(None);
        };
        let time =
            TimeScale { speed: number(&item, "speed")?, anchor: Timestamp::from_ms(number(&item, "anchor_ms")?) };
        Ok(Some(Stored { state: from_json(text(&item, "state")?)?, plan: text(&item, "plan")?.to_owned(), time }))
    }

    async fn list(&self) -> Result<Vec<CutoverState>, StoreError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(REGISTRY_PK))
                .expression_attribute_values(":prefix", s("registry#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| failed("dynamodb:Query", e))?;
            for item in out.items.unwrap_or_default() {
                ids.push(text(&item, "id")?.to_owned());
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let mut states = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET_MAX) {
            for item in self.batch_get_states(chunk).await? {
                states.push(from_json::<CutoverState>(text(&item, "state")?)?);
            }
        }
        states.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| b.id.cmp(&a.id)));
        Ok(states)
    }

    async fn history_after(&self, id: &str, after: Option<(u64, u16)>, limit: usize) -> Result<Vec<Event>, StoreError> {
        // Event keys sort by (version, index): one key range, read in order
        // until the page is full. `event#~` sorts after every event key.
        let from = after.map_or_else(|| "event#".to_owned(), |(v, i)| event_sk(v, i));
        let mut events = Vec::new();
        let mut start = None;
        while events.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", pk(id))
                .expression_attribute_values(":from", s(&from))
                .expression_attribute_values(":to", s("event#~"))
                .consistent_read(true)
                .limit(i32::try_from(limit - events.len() + 1).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| failed("dynamodb:Query", e))?;
            for item in out.items.unwrap_or_default() {
                if text(&item, "sk")? != from && events.len() < limit {
                    events.push(from_json(text(&item, "body")?)?);
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(events)
    }

    async fn history(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        self.query(id, "event#").await?.iter().map(|item| from_json(text(item, "body")?)).collect()
    }

    async fn trail(&self, id: &str) -> Result<Option<Trail>, StoreError> {
        let Some(state) = self.get(id, "state").await? else {
            return Ok(None);
        };
        let records = self
            .query(id, "event#")
            .await?
            .iter()
            .map(|item| {
                let sk = text(item, "sk")?;
                let mut parts = sk.split('#').skip(1);
                let mut place = || parts.next().and_then(|p| p.parse::<u64>().ok());
                let (Some(version), Some(index)) = (place(), place()) else {
                    return Err(StoreError::Corrupt(format!("an event key that is not event#VERSION#INDEX: {sk}")));
                };
                Ok(Record {
                    version,
                    index: u16::try_from(index).map_err(|_| StoreError::Corrupt(format!("event index in {sk}")))?,
                    body: text(item, "body")?.to_owned(),
                    hash: text(item, "hash")?.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Trail { head: text(&state, "head")?.to_owned(), records }))
    }

    async fn acquire(&self, id: &str, holder: &str, now: Timestamp, ttl: Duration) -> Result<Lease, StoreError> {
        if self.get(id, "state").await?.is_none() {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        let expires_at = now + ttl;
        // A race with another taker loses on the condition; read again.
        for _ in 0..5 {
            let lease = self.get(id, "lease").await?;
            let (epoch, condition, previous) = match &lease {
                Some(item) => {
                    let (current, epoch, until) =
                        (text(item, "holder")?, number::<u64>(item, "epoch")?, number::<u64>(item, "expires_at")?);
                    if until > now.as_ms() {
                        if current != holder {
                            let expires_at = Timestamp::from_ms(until);
                            return Err(StoreError::LeaseHeld { id: id.into(), holder: current.into(), expires_at });
                        }
                        (epoch, "epoch = :previous", Some(epoch))
                    } else {
                        (epoch + 1, "epoch = :previous", Some(epoch))
                    }
                }
                None => (1, "attribute_not_exists(pk)", None),
            };
            let mut item = key(id, "lease");
            item.insert("holder".into(), s(holder));
            item.insert("epoch".into(), n(epoch));
            item.insert("expires_at".into(), n(expires_at.as_ms()));
            let mut put =
                self.client.put_item().table_name(&self.table).set_item(Some(item)).condition_expression(condition);
            if let Some(previous) = previous {
                put = put.expression_attribute_values(":previous", n(previous));
            }
            match put.send().await {
                Ok(_) => return Ok(Lease { holder: holder.to_owned(), epoch, expires_at }),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => continue,
                Err(e) => return Err(failed("dynamodb:PutItem", e)),
            }
        }
        Err(StoreError::Unavailable {
            message: format!("cutover {id}: the lease kept changing under us"),
            retryable: true,
        })
    }

    async fn release(&self, id: &str, lease: &Lease) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, "lease")))
            .update_expression("SET expires_at = :zero")
            .condition_expression("epoch = :epoch")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":epoch", n(lease.epoch))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let current = self.current_epoch(id).await?;
                Err(StoreError::Fenced { id: id.to_owned(), epoch: lease.epoch, current })
            }
            Err(e) => Err(failed("dynamodb:UpdateItem", e)),
        }
    }

    async fn send(&self, id: &str, request: &Request) -> Result<u64, StoreError> {
        if self.get(id, "state").await?.is_none() {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        let counter = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, "inbox")))
            .update_expression("ADD #next :one")
            .expression_attribute_names("#next", "next")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| failed("dynamodb:UpdateItem", e))?;
        let seq: u64 = number(&counter.attributes.unwrap_or_default(), "next")?;
        let mut item = key(id, &format!("inbox#{seq:020}"));
        item.insert("body".into(), s(to_json(&Request { seq, ..request.clone() })?));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| failed("dynamodb:PutItem", e))?;
        Ok(seq)
    }

    async fn commands(&self, id: &str, epoch: u64, handled: u64) -> Result<Vec<Request>, StoreError> {
        let current = self.current_epoch(id).await?;
        if current != Some(epoch) {
            return Err(StoreError::Fenced { id: id.to_owned(), epoch, current });
        }
        let mut queued = Vec::new();
        let mut covered = Vec::new();
        for item in self.query(id, "inbox#").await? {
            let request = from_json::<Request>(text(&item, "body")?)?;
            match request.seq <= handled {
                true => covered.push(text(&item, "sk")?.to_owned()),
                false => queued.push(request),
            }
        }
        // What a persisted state covers goes, in one transaction per call
        // fenced by the epoch (any more go at the next call: a leader reads
        // every poll). Nothing is lost if it fails: covered commands are
        // never handled again, and the next read removes them.
        if !covered.is_empty() {
            let fence = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(id, "lease")))
                .condition_expression("epoch = :epoch")
                .expression_attribute_values(":epoch", n(epoch));
            let mut items = vec![TransactWriteItem::builder().condition_check(built(fence.build())?).build()];
            let batch = &covered[..covered.len().min(MAX_EVENTS_PER_COMMIT)];
            for sk in batch {
                let delete = Delete::builder().table_name(&self.table).set_key(Some(key(id, sk)));
                items.push(TransactWriteItem::builder().delete(built(delete.build())?).build());
            }
            let content = format!("{epoch}\n{}", batch.join(","));
            match self.transact(&format!("clearing cutover {id}'s inbox"), &content, items).await {
                Ok(()) => {}
                Err(Some(e)) => return Err(e),
                Err(None) => {
                    let current = self.current_epoch(id).await?;
                    return Err(StoreError::Fenced { id: id.to_owned(), epoch, current });
                }
            }
        }
        Ok(queued)
    }

    async fn delivered(&self, id: &str, webhook: &str) -> Result<Option<(u64, u16)>, StoreError> {
        let Some(item) = self.get(id, &format!("delivered#{webhook}")).await? else { return Ok(None) };
        let place = text(&item, "place")?;
        let parsed = place.split_once('#').and_then(|(v, i)| Some((v.parse().ok()?, i.parse().ok()?)));
        parsed.map(Some).ok_or_else(|| StoreError::Corrupt(format!("delivered place `{place}` is not VERSION#INDEX")))
    }

    async fn mark_delivered(&self, id: &str, webhook: &str, (version, index): (u64, u16)) -> Result<(), StoreError> {
        // Zero-padded, the place compares as a string the way it does as
        // numbers: one condition keeps the mark from moving back.
        let place = event_sk(version, index).trim_start_matches("event#").to_owned();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id, &format!("delivered#{webhook}"))))
            .update_expression("SET place = :place")
            .condition_expression("attribute_not_exists(place) OR place < :place")
            .expression_attribute_values(":place", s(place))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(failed("dynamodb:UpdateItem", e)),
        }
    }
}
