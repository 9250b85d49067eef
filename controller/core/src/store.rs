//! The store port: where a cutover's state, plan, audit trail, leadership
//! lease and operators' inbox live.
//!
//! Implemented by the embedded SQLite store (local mode) and, later, by
//! DynamoDB; both must pass [`conformance`]. The rules every store keeps:
//!
//! 1. **A state and its events are one write.** [`Store::commit`] stores the
//!    new state and appends its events atomically, or does neither.
//! 2. **Versions go up by one.** A commit of version `n` succeeds only over
//!    stored version `n - 1`; anything else is a [`StoreError::VersionConflict`].
//! 3. **Only the lease holder writes.** Every commit names the lease epoch it
//!    holds; a commit under an older epoch is [`StoreError::Fenced`], so a
//!    paused ex-leader can never overwrite its successor.
//! 4. **Events are append-only**: never changed, never removed, read back in
//!    `(version, index)` order.
//! 5. **Epochs only grow.** Taking over an expired lease gives an epoch
//!    higher than any before it.
//! 6. **The trail is hash-chained** ([`crate::audit`]): every event is stored
//!    with its link hash, and the state record with the newest one (the
//!    head), in the same write.
//! 7. **The trail is the notifications' outbox.** The events people act on
//!    ([`EventKind::notifies`](crate::engine::EventKind::notifies)) are
//!    written with the state like any other; per webhook the store keeps
//!    only the place of the last one delivered ([`Store::delivered`]), which
//!    never moves back. Whoever leads sends what lies after it.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::Trail;
use crate::engine::{CutoverState, Event};
use crate::units::Timestamp;

/// A cutover as stored: its latest state, the plan it runs (TOML text, so
/// that any process can rebuild its engine) and its time scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub state: CutoverState,
    pub plan: String,
    pub time: TimeScale,
}

/// How a cutover's engine time relates to wall-clock time:
/// `engine = anchor + (wall - anchor) × speed`. Real cutovers run at speed
/// 1; rehearsals and the demo compress time. Stored with the cutover, so a
/// controller restarted after a crash continues the same timeline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeScale {
    pub speed: f64,
    pub anchor: Timestamp,
}

impl TimeScale {
    pub const REAL: TimeScale = TimeScale { speed: 1.0, anchor: Timestamp::from_ms(0) };

    /// Engine time at wall-clock time `wall`.
    pub fn engine_time(&self, wall: Timestamp) -> Timestamp {
        let ahead = (wall.as_ms() as f64 - self.anchor.as_ms() as f64) * self.speed;
        Timestamp::from_ms((self.anchor.as_ms() as f64 + ahead).max(0.0).round() as u64)
    }

    /// Wall-clock time at engine time `t`.
    pub fn wall_time(&self, t: Timestamp) -> Timestamp {
        let ahead = (t.as_ms() as f64 - self.anchor.as_ms() as f64) / self.speed;
        Timestamp::from_ms((self.anchor.as_ms() as f64 + ahead).max(0.0).round() as u64)
    }
}

/// The right to drive one cutover, until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    /// The fencing token: higher than every earlier holder's.
    pub epoch: u64,
    pub expires_at: Timestamp,
}

/// An operator's command, waiting in the inbox until a write of the
/// cutover's state covers it ([`CutoverState::commands_handled`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Order of arrival, assigned by the store.
    pub seq: u64,
    pub command: crate::engine::Command,
    pub actor: String,
    pub reason: Option<String>,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another write got there first; reload and decide again.
    #[error("cutover {id}: the stored version is {stored:?}, but this write follows version {follows}")]
    VersionConflict { id: String, follows: u64, stored: Option<u64> },
    /// The writer's lease epoch is no longer current: stop at once.
    #[error("cutover {id}: lease epoch {epoch} has been superseded (current: {current:?})")]
    Fenced { id: String, epoch: u64, current: Option<u64> },
    /// Someone else holds a live lease on the cutover.
    #[error("cutover {id} is driven by {holder} until {expires_at}")]
    LeaseHeld { id: String, holder: String, expires_at: Timestamp },
    #[error("cutover {0} exists already")]
    Exists(String),
    #[error("no cutover {0}")]
    NotFound(String),
    /// The store could not be reached or written; `retryable` says whether
    /// the same call later may succeed.
    #[error("{message}")]
    Unavailable { message: String, retryable: bool },
    /// What is stored cannot be read back (written by something else?).
    #[error("cutover store holds unreadable data: {0}")]
    Corrupt(String),
}

pub trait Store: Send + Sync {
    /// Creates a cutover with its plan, time scale, first state and events.
    /// Fails with [`StoreError::Exists`] if the id is taken.
    fn create(
        &self,
        plan: &str,
        time: TimeScale,
        state: &CutoverState,
        events: &[Event],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `state` (version `n`, over stored `n - 1`) and appends
    /// `events`, atomically, if `epoch` is the current lease epoch.
    fn commit(
        &self,
        epoch: u64,
        state: &CutoverState,
        events: &[Event],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn load(&self, id: &str) -> impl Future<Output = Result<Option<Stored>, StoreError>> + Send;

    /// Every cutover's latest state, newest first (by `updated_at`).
    fn list(&self) -> impl Future<Output = Result<Vec<CutoverState>, StoreError>> + Send;

    /// The audit trail, in `(version, index)` order.
    fn history(&self, id: &str) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// At most `limit` events of the trail that come after `after` (a
    /// `(version, index)` place; `None`: from the start), in order: a page
    /// of the trail, or what was written since a reader last looked.
    fn history_after(
        &self,
        id: &str,
        after: Option<(u64, u16)>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// The audit trail as stored, with its hashes and head, for
    /// [`crate::audit::verify`]; `None` for a missing cutover.
    fn trail(&self, id: &str) -> impl Future<Output = Result<Option<Trail>, StoreError>> + Send;

    /// Takes or renews the lease on `id` for `holder` until `now + ttl`.
    /// A live lease of the same holder is renewed with its epoch; a missing
    /// or expired one is taken with a higher epoch; a live lease of another
    /// holder is [`StoreError::LeaseHeld`].
    fn acquire(
        &self,
        id: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> impl Future<Output = Result<Lease, StoreError>> + Send;

    /// Gives the lease up (it expires at once) if `lease` is still current.
    fn release(&self, id: &str, lease: &Lease) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Queues an operator's command for the cutover's leader; returns its seq.
    fn send(&self, id: &str, request: &Request) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The queued commands after `handled` (the cutover's
    /// [`CutoverState::commands_handled`]), oldest first, if `epoch` is
    /// current. Those up to `handled` are removed: a persisted state covers
    /// them. Nothing else is: a command stays until the write that handles
    /// it lands, whoever leads by then.
    fn commands(
        &self,
        id: &str,
        epoch: u64,
        handled: u64,
    ) -> impl Future<Output = Result<Vec<Request>, StoreError>> + Send;

    /// The place `(version, index)` of the last of `id`'s events that
    /// `webhook` (a [`webhook_key`]) has been sent, or given up on; `None`
    /// before the first.
    fn delivered(&self, id: &str, webhook: &str)
        -> impl Future<Output = Result<Option<(u64, u16)>, StoreError>> + Send;

    /// Records that `webhook` has had every notification of `id` up to
    /// `place`. The mark never moves back: an earlier place than the one
    /// stored changes nothing (two senders at once only send twice).
    fn mark_delivered(
        &self,
        id: &str,
        webhook: &str,
        place: (u64, u16),
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How a store names a webhook: a digest of its URL, so that the key is
/// short and the URL's secret (a Slack hook's token) is not copied into it.
pub fn webhook_key(url: &str) -> String {
    crate::audit::sha256_hex(url.as_bytes())[..32].to_owned()
}

/// What [`Watched`] does around each commit of the store it wraps.
pub trait CommitWatch: Send + Sync {
    /// Before the commit; an error refuses it (tests stage failures so).
    fn before(&self, _state: &CutoverState, _events: &[Event]) -> Result<(), StoreError> {
        Ok(())
    }

    /// After a commit that landed.
    fn after(&self, _state: &CutoverState, _events: &[Event]) {}
}

impl<W: CommitWatch> CommitWatch for std::sync::Arc<W> {
    fn before(&self, state: &CutoverState, events: &[Event]) -> Result<(), StoreError> {
        W::before(self, state, events)
    }

    fn after(&self, state: &CutoverState, events: &[Event]) {
        W::after(self, state, events)
    }
}

/// A store whose commits `watch` sees (and may refuse): the daemon counts
/// what its drivers decide this way, and tests fail a commit on purpose.
/// Everything else goes straight to `inner`.
#[derive(Clone, Debug)]
pub struct Watched<S, W> {
    pub inner: S,
    pub watch: W,
}

impl<S: Store, W: CommitWatch> Store for Watched<S, W> {
    async fn create(
        &self,
        plan: &str,
        time: TimeScale,
        state: &CutoverState,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.inner.create(plan, time, state, events).await
    }
    async fn commit(&self, epoch: u64, state: &CutoverState, events: &[Event]) -> Result<(), StoreError> {
        self.watch.before(state, events)?;
        self.inner.commit(epoch, state, events).await?;
        self.watch.after(state, events);
        Ok(())
    }
    async fn load(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        self.inner.load(id).await
    }
    async fn list(&self) -> Result<Vec<CutoverState>, StoreError> {
        self.inner.list().await
    }
    async fn history(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        self.inner.history(id).await
    }
    async fn history_after(&self, id: &str, after: Option<(u64, u16)>, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.history_after(id, after, limit).await
    }
    async fn trail(&self, id: &str) -> Result<Option<Trail>, StoreError> {
        self.inner.trail(id).await
    }
    async fn acquire(&self, id: &str, holder: &str, now: Timestamp, ttl: Duration) -> Result<Lease, StoreError> {
        self.inner.acquire(id, holder, now, ttl).await
    }
    async fn release(&self, id: &str, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release(id, lease).await
    }
    async fn send(&self, id: &str, request: &Request) -> Result<u64, StoreError> {
        self.inner.send(id, request).await
    }
    async fn commands(&self, id: &str, epoch: u64, handled: u64) -> Result<Vec<Request>, StoreError> {
        self.inner.commands(id, epoch, handled).await
    }
    async fn delivered(&self, id: &str, webhook: &str) -> Result<Option<(u64, u16)>, StoreError> {
        self.inner.delivered(id, webhook).await
    }
    async fn mark_delivered(&self, id: &str, webhook: &str, place: (u64, u16)) -> Result<(), StoreError> {
        self.inner.mark_delivered(id, webhook, place).await
    }
}

/// The behaviour every [`Store`] must have, written once and run against
/// each implementation. Each check uses its own cutover id under `prefix`.
pub mod conformance {
    use super::*;
    use crate::engine::{Actor, EventKind, PauseReason, Phase};
    use crate::units::Weight;

    /// Runs every check; panics with the check's name on the first failure.
    pub async fn run<S: Store>(store: &S, prefix: &str) {
        create_load_list(store, prefix).await;
        commits_follow_versions_and_append_events(store, prefix).await;
        leases_fence_old_leaders(store, prefix).await;
        the_inbox_hands_commands_to_the_leader(store, prefix).await;
        the_trail_is_hash_chained(store, prefix).await;
        the_trail_reads_in_pages(store, prefix).await;
        deliveries_only_move_forward(store, prefix).await;
    }

    fn state(id: &str, version: u64, at: u64) -> CutoverState {
        let mut state = CutoverState::new(id, Timestamp::from_ms(at));
        state.version = version;
        state
    }

    fn event(id: &str, version: u64, index: u16, kind: EventKind) -> Event {
        Event {
            cutover_id: id.into(),
            version,
            index,
            at: Timestamp::from_ms(1_000 * version),
            actor: Actor::Controller,
            kind,
            reason: None,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn demo_time() -> TimeScale {
        TimeScale { speed: 1200.0, anchor: Timestamp::from_ms(1_795_867_200_123) }
    }

    async fn create_load_list<S: Store>(store: &S, prefix: &str) {
        let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
        assert_eq!(store.load(&a).await, Ok(None), "load of a missing cutover");
        let started = event(&a, 1, 0, EventKind::Started { steps: 7, plan_sha256: None });
        store
            .create("plan = 'a'", TimeScale::REAL, &state(&a, 1, 10), std::slice::from_ref(&started))
            .await
            .expect("create a");
        store.create("plan = 'b'", demo_time(), &state(&b, 1, 20), &[]).await.expect("create b");
        assert_eq!(
            store.create("plan = 'again'", TimeScale::REAL, &state(&a, 1, 30), &[]).await,
            Err(StoreError::Exists(a.clone())),
            "a second create of the same id"
        );
        let stored = store.load(&a).await.expect("load").expect("a exists");
        assert_eq!(
            (stored.state, stored.plan.as_str()),
            (state(&a, 1, 10), "plan = 'a'"),
            "load returns what was created"
        );
        assert_eq!(store.history(&a).await, Ok(vec![started]), "create writes its events");
        let listed: Vec<String> =
            store.list().await.expect("list").into_iter().map(|s| s.id).filter(|id| id.starts_with(prefix)).collect();
        assert_eq!(listed, vec![b, a], "list is newest first");
    }

    async fn commits_follow_versions_and_append_events<S: Store>(store: &S, prefix: &str) {
        let id = format!("{prefix}-commits");
        store.create("plan", TimeScale::REAL, &state(&id, 1, 0), &[]).await.expect("create");
        let lease = store.acquire(&id, "leader", Timestamp::from_ms(0), HOUR).await.expect("acquire");
        let mut two = state(&id, 2, 50);
        two.phase = Phase::Progressing;
        let intent = event(&id, 2, 0, EventKind::WeightIntent { from: Weight::ZERO, to: Weight::FULL, step: 0 });
        let confirmed = event(&id, 2, 1, EventKind::WeightConfirmed { weight: Weight::FULL, verification: None });
        store.commit(lease.epoch, &two, &[intent.clone(), confirmed.clone()]).await.expect("commit 2 over 1");
        assert_eq!(
            store.commit(lease.epoch, &state(&id, 2, 60), &[event(&id, 2, 0, EventKind::Completed)]).await,
            Err(StoreError::VersionConflict { id: id.clone(), follows: 1, stored: Some(2) }),
            "a second commit of version 2"
        );
        assert_eq!(
            store.commit(lease.epoch, &state(&id, 4, 60), &[]).await,
            Err(StoreError::VersionConflict { id: id.clone(), follows: 3, stored: Some(2) }),
            "a commit that skips a version"
        );
        assert_eq!(
            store.commit(lease.epoch, &state("nobody", 2, 60), &[]).await,
            Err(StoreError::NotFound("nobody".into())),
            "a commit to a missing cutover"
        );
        let stored = store.load(&id).await.expect("load").expect("exists");
        assert_eq!(stored.state, two, "the failed commits changed nothing");
        assert_eq!(
            store.history(&id).await,
            Ok(vec![intent, confirmed]),
            "events in (version, index) order, none from failed commits"
        );
    }

    async fn leases_fence_old_leaders<S: Store>(store: &S, prefix: &str) {
        let id = format!("{prefix}-lease");
        store.create("plan", TimeScale::REAL, &state(&id, 1, 0), &[]).await.expect("create");
        let t = Timestamp::from_ms;
        let ttl = Duration::from_secs(15);
        let first = store.acquire(&id, "one", t(0), ttl).await.expect("first acquire");
        assert_eq!(first.expires_at, t(15_000));
        let renewed = store.acquire(&id, "one", t(10_000), ttl).await.expect("renew");
        assert_eq!((renewed.epoch, renewed.expires_at), (first.epoch, t(25_000)), "a renewal keeps the epoch");
        assert_eq!(
            store.acquire(&id, "two", t(20_000), ttl).await,
            Err(StoreError::LeaseHeld { id: id.clone(), holder: "one".into(), expires_at: t(25_000) }),
            "a live lease is not taken"
        );
        let second = store.acquire(&id, "two", t(25_000), ttl).await.expect("take over after expiry");
        assert!(second.epoch > first.epoch, "a take-over raises the epoch");
        assert_eq!(
            store.commit(first.epoch, &state(&id, 2, 1), &[]).await,
            Err(StoreError::Fenced { id: id.clone(), epoch: first.epoch, current: Some(second.epoch) }),
            "the old leader is fenced off"
        );
        store.commit(second.epoch, &state(&id, 2, 1), &[]).await.expect("the new leader writes");
        assert!(
            store.acquire(&id, "one", t(26_000), ttl).await.is_err(),
            "the old leader cannot come back while the new one lives"
        );
        store.release(&id, &second).await.expect("release");
        let third = store.acquire(&id, "three", t(26_000), ttl).await.expect("acquire after release");
        assert!(third.epoch > second.epoch, "epochs only grow, also after a release");
        assert_eq!(
            store.release(&id, &second).await,
            Err(StoreError::Fenced { id: id.clone(), epoch: second.epoch, current: Some(third.epoch) }),
            "a stale release changes nothing"
        );
    }

    async fn the_inbox_hands_commands_to_the_leader<S: Store>(store: &S, prefix: &str) {
        use crate::engine::Command;
        let id = format!("{prefix}-inbox");
        store.create("plan", TimeScale::REAL, &state(&id, 1, 0), &[]).await.expect("create");
        let lease = store.acquire(&id, "leader", Timestamp::from_ms(0), HOUR).await.expect("acquire");
        let request = |command| Request {
            seq: 0,
            command,
            actor: "ana".into(),
            reason: Some("p99 looks off".into()),
            at: Timestamp::from_ms(5),
        };
        let first = store.send(&id, &request(Command::Pause)).await.expect("send pause");
        let second = store.send(&id, &request(Command::Rollback)).await.expect("send rollback");
        assert!(second > first, "seqs grow");
        assert_eq!(
            store.commands(&id, lease.epoch + 1, 0).await,
            Err(StoreError::Fenced { id: id.clone(), epoch: lease.epoch + 1, current: Some(lease.epoch) }),
            "a read under another epoch is refused"
        );
        let queued = store.commands(&id, lease.epoch, 0).await.expect("read the inbox");
        let commands: Vec<_> = queued.iter().map(|r| (r.seq, r.command)).collect();
        assert_eq!(commands, vec![(first, Command::Pause), (second, Command::Rollback)], "oldest first");
        assert_eq!(queued[1].reason.as_deref(), Some("p99 looks off"));
        let again = store.commands(&id, lease.epoch, 0).await.expect("read the inbox again");
        assert_eq!(again, queued, "reading hands over nothing: a command stays until a write covers it");
        let after = store.commands(&id, lease.epoch, first).await.expect("read after the first");
        assert_eq!(after.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![second], "only what is not handled");
        assert_eq!(store.commands(&id, lease.epoch, second).await, Ok(vec![]), "covered commands are gone");
        assert_eq!(store.commands(&id, lease.epoch, 0).await, Ok(vec![]), "and stay gone");
        assert_eq!(
            store.send("nobody", &request(Command::Rollback)).await,
            Err(StoreError::NotFound("nobody".into())),
            "a command for a missing cutover"
        );
    }

    async fn the_trail_reads_in_pages<S: Store>(store: &S, prefix: &str) {
        let id = format!("{prefix}-pages");
        let started = event(&id, 1, 0, EventKind::Started { steps: 7, plan_sha256: None });
        store.create("plan", TimeScale::REAL, &state(&id, 1, 0), std::slice::from_ref(&started)).await.expect("create");
        let lease = store.acquire(&id, "leader", Timestamp::from_ms(0), HOUR).await.expect("acquire");
        let mut all = vec![started];
        for version in 2..=4 {
            let events: Vec<Event> = (0..3)
                .map(|index| event(&id, version, index, EventKind::Paused { reason: PauseReason::Operator }))
                .collect();
            store.commit(lease.epoch, &state(&id, version, version), &events).await.expect("commit");
            all.extend(events);
        }
        let mut read = Vec::new();
        let mut after = None;
        loop {
            let page = store.history_after(&id, after, 4).await.expect("a page");
            assert!(page.len() <= 4, "a page holds at most its limit");
            let Some(last) = page.last() else { break };
            after = Some((last.version, last.index));
            read.extend(page);
        }
        assert_eq!(read, all, "pages of 4 read the whole trail once, in order");
        assert_eq!(
            store.history_after(&id, Some((3, 1)), 100).await.expect("after"),
            all[6..].to_vec(),
            "after (3, 1)"
        );
        assert_eq!(store.history_after(&id, Some((4, 2)), 100).await, Ok(vec![]), "nothing after the last");
        assert_eq!(store.history_after("nobody", None, 10).await, Ok(vec![]), "no trail, no events");
    }

    async fn deliveries_only_move_forward<S: Store>(store: &S, prefix: &str) {
        let (id, other) = (format!("{prefix}-outbox"), format!("{prefix}-outbox-other"));
        let (slack, pager) = (webhook_key("https://hooks.example/slack"), webhook_key("https://hooks.example/pager"));
        store.create("plan", TimeScale::REAL, &state(&id, 1, 0), &[]).await.expect("create");
        assert_eq!(store.delivered(&id, &slack).await, Ok(None), "nothing delivered yet");
        store.mark_delivered(&id, &slack, (3, 1)).await.expect("mark (3, 1)");
        assert_eq!(store.delivered(&id, &slack).await, Ok(Some((3, 1))));
        store.mark_delivered(&id, &slack, (2, 9)).await.expect("an earlier mark is no error");
        store.mark_delivered(&id, &slack, (3, 0)).await.expect("an earlier index is no error");
        assert_eq!(store.delivered(&id, &slack).await, Ok(Some((3, 1))), "a mark never moves back");
        store.mark_delivered(&id, &slack, (3, 2)).await.expect("mark (3, 2)");
        store.mark_delivered(&id, &slack, (10, 0)).await.expect("mark (10, 0)");
        assert_eq!(store.delivered(&id, &slack).await, Ok(Some((10, 0))), "versions compare as numbers");
        assert_eq!(store.delivered(&id, &pager).await, Ok(None), "each webhook has its own mark");
        assert_eq!(store.delivered(&other, &slack).await, Ok(None), "each cutover has its own marks");
    }

    async fn the_trail_is_hash_chained<S: Store>(store: &S, prefix: &str) {
        let id = format!("{prefix}-chain");
        assert_eq!(store.trail(&id).await, Ok(None), "no trail for a missing cutover");
        let started = event(&id, 1, 0, EventKind::Started { steps: 7, plan_sha256: None });
        store.create("plan", TimeScale::REAL, &state(&id, 1, 0), &[started]).await.expect("create");
        let lease = store.acquire(&id, "leader", Timestamp::from_ms(0), HOUR).await.expect("acquire");
        let events = [
            event(&id, 2, 0, EventKind::Completed),
            event(&id, 2, 1, EventKind::Paused { reason: PauseReason::Operator }),
        ];
        store.commit(lease.epoch, &state(&id, 2, 5), &events).await.expect("commit");
        store.commit(lease.epoch, &state(&id, 3, 6), &[]).await.expect("a commit without events");
        let trail = store.trail(&id).await.expect("trail").expect("exists");
        let places: Vec<_> = trail.records.iter().map(|r| (r.version, r.index)).collect();
        assert_eq!(places, vec![(1, 0), (2, 0), (2, 1)], "the trail holds every event in order");
        assert_eq!(crate::audit::verify(&trail), Ok(3), "an untouched trail verifies, head included");
        assert_ne!(trail.head, crate::audit::GENESIS, "the head moved");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_scale_maps_both_ways() {
        let scale = TimeScale { speed: 1000.0, anchor: Timestamp::from_ms(1_000_000) };
        assert_eq!(scale.engine_time(Timestamp::from_ms(1_000_000)), Timestamp::from_ms(1_000_000));
        assert_eq!(
            scale.engine_time(Timestamp::from_ms(1_000_060)),
            Timestamp::from_ms(1_060_000),
            "60 ms is a minute"
        );
        assert_eq!(scale.wall_time(Timestamp::from_ms(1_060_000)), Timestamp::from_ms(1_000_060));
        assert_eq!(TimeScale::REAL.engine_time(Timestamp::from_ms(42)), Timestamp::from_ms(42));
    }
}
