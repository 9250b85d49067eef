//! The controller's driver: runs one cutover's sans-IO engine against the
//! ports that touch the world — a [`Store`], an [`EdgePort`], a
//! [`MetricsPort`], a [`Notifier`] and a [`Clock`] — keeping the driver's
//! side of the engine's contract (see `cutover_core::engine`):
//!
//! * a `Persist` is durable before the next effect runs; when it fails the
//!   rest of the batch is dropped and the engine rebuilt from the store;
//! * edge writes run one at a time, in the order asked; each write's
//!   verification, every metric read and every edge read run beside them;
//! * every request is bounded in wall-clock time ([`Deadlines`]) and
//!   answered, with a failure if its bound passes;
//! * the loop never waits on a request: while one is in flight it keeps
//!   renewing the lease, reading operators' commands from the store's
//!   inbox and ticking the engine, so a rollback issued while an edge
//!   verification hangs is written as soon as the edge takes writes;
//! * nothing is written without the lease: it is taken (waiting at most
//!   [`Settings::acquire_wait`] for another holder) before the engine
//!   starts, renewed every third of its time to live, checked before every
//!   write, and every commit names its epoch, so a controller that was
//!   paused past its lease is fenced off and says so;
//! * notifications never wait: they are handed to the [`Notifier`], which
//!   sends them from the trail (the outbox) while the lease is held, and
//!   flushes them (bounded) before a stopped driver releases it.
//!
//! All waiting is on tokio's clock and the [`Clock`]'s wall time, so tests
//! run hours of a cutover under `tokio::time::pause`.

#![forbid(unsafe_code)]

mod clock;
mod notify;
pub mod probes;
pub mod timeline;
pub mod verify;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use cutover_core::engine::{ApplyId, CutoverState, EdgeResult, Effect, Engine, Input, Verification};
use cutover_core::judge::Judge;
use cutover_core::measure::{MeasureError, Source, Window};
use cutover_core::plan::Plan;
use cutover_core::store::{Lease, Store, StoreError};
use cutover_core::units::{Timestamp, Weight};
use futures_util::stream::{FuturesUnordered, StreamExt};

pub use clock::{system_now, ScaledClock};
pub use cutover_core::ports::{Clock, EdgeError, EdgePort, MetricsPort, Notifier};
pub use notify::{idempotency_key, undelivered, Webhooks};

#[derive(Clone, Debug)]
pub struct Settings {
    /// Names this controller in the lease (unique per process).
    pub holder: String,
    /// How long a lease lives without renewal, in wall-clock time. It is
    /// renewed every third of that.
    pub lease_ttl: Duration,
    /// How often, in wall-clock time, the inbox is read and the engine ticked.
    pub poll: Duration,
    /// How long [`Driver::run`] waits for a lease that another live
    /// controller holds before giving up with [`DriverError::LeaseHeld`]
    /// (zero: one try).
    pub acquire_wait: Duration,
    pub deadlines: Deadlines,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            holder: holder_name("controller"),
            lease_ttl: Duration::from_secs(15),
            poll: Duration::from_millis(500),
            acquire_wait: Duration::from_secs(30),
            deadlines: Deadlines::default(),
        }
    }
}

/// A lease holder's name unique to this process: the host, the pid, and a
/// random suffix (in containers every process may be pid 1, and a second
/// replica with the same name would renew the first one's lease as its own).
pub fn holder_name(prefix: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let suffix = cutover_base::random::hex::<4>().unwrap_or_else(|_| format!("{:08x}", system_now().as_ms() as u32));
    format!("{prefix}-{host}-{}-{suffix}", std::process::id())
}

/// How long each kind of request may take, in wall-clock time, before the
/// driver answers it as failed.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// One edge write (read, drift rule, conditional write).
    pub write: Duration,
    /// One verification, on top of its verifier's own bound.
    pub verify: Duration,
    /// One read of the edge's weight.
    pub read: Duration,
    /// A metric read may take as long as the wall time its window covers,
    /// but never less than `measure_min` nor more than `measure_max`: a
    /// one-minute window is read within a minute, the old side's baseline
    /// over two days within a quarter of an hour.
    pub measure_min: Duration,
    pub measure_max: Duration,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            write: Duration::from_secs(30),
            verify: Duration::from_secs(300),
            read: Duration::from_secs(30),
            measure_min: Duration::from_secs(30),
            measure_max: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("no cutover {0} in the store")]
    NotFound(String),
    /// Another controller holds the lease, and did not give it up within
    /// [`Settings::acquire_wait`].
    #[error("cutover {id} is driven by {holder} (its lease runs until {until}); not taken")]
    LeaseHeld { id: String, holder: String, until: Timestamp },
    /// The lease passed to another controller while this one ran (it was
    /// stopped or cut off past the lease's time to live): fenced, it wrote
    /// nothing more and stopped.
    #[error("cutover {id}: the lease passed to {holder}; this controller was fenced off and stopped")]
    LeaseLost { id: String, holder: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Driver<S, E, M, C, N> {
    pub store: S,
    pub edge: E,
    pub metrics: M,
    pub notifier: N,
    pub clock: C,
    pub settings: Settings,
}

/// How long a settled cutover's driver keeps its lease for notifications
/// still owed (a webhook down, retried with backoff).
pub const OUTBOX_PATIENCE: Duration = Duration::from_secs(120);

type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An edge write in flight: which apply, which weight, and the write.
type Writing<'a> = (ApplyId, Weight, Pending<'a, Result<(), EdgeError>>);

/// Why the loop cannot go on with the engine it has.
enum Stop {
    /// The lease is someone else's now.
    Lost { holder: String },
    /// A write failed, or the lease was retaken after lapsing: rebuild the
    /// engine from the store, as after a crash.
    Rebuild(String),
    /// The store is out of reach and the lease can no longer be vouched for.
    Store(StoreError),
}

/// The requests in flight, and the edge writes waiting their turn.
struct Work<'a> {
    queued: VecDeque<(ApplyId, Weight, Weight)>,
    writing: Option<Writing<'a>>,
    verifying: Option<Pending<'a, Input>>,
    /// Metric reads.
    reads: FuturesUnordered<Pending<'a, Input>>,
    /// Reads of the edge's weight, dropped when a new apply is asked for.
    edge_reads: FuturesUnordered<Pending<'a, Input>>,
}

/// What finished. Handled at once, one at a time: not worth a box.
#[allow(clippy::large_enum_variant)]
enum Done {
    Written { id: ApplyId, weight: Weight, result: Result<(), EdgeError> },
    Answer(Input),
}

impl<'a> Work<'a> {
    fn new() -> Work<'a> {
        Work {
            queued: VecDeque::new(),
            writing: None,
            verifying: None,
            reads: FuturesUnordered::new(),
            edge_reads: FuturesUnordered::new(),
        }
    }

    fn idle(&self) -> bool {
        self.queued.is_empty()
            && self.writing.is_none()
            && self.verifying.is_none()
            && self.reads.is_empty()
            && self.edge_reads.is_empty()
    }

    /// The next request to finish; pending for ever when none is in flight.
    async fn next(&mut self) -> Done {
        std::future::poll_fn(|cx| {
            if let Some((id, weight, write)) = &mut self.writing {
                if let Poll::Ready(result) = write.as_mut().poll(cx) {
                    let (id, weight) = (*id, *weight);
                    self.writing = None;
                    return Poll::Ready(Done::Written { id, weight, result });
                }
            }
            if let Some(verify) = &mut self.verifying {
                if let Poll::Ready(input) = verify.as_mut().poll(cx) {
                    self.verifying = None;
                    return Poll::Ready(Done::Answer(input));
                }
            }
            if let Poll::Ready(Some(input)) = self.reads.poll_next_unpin(cx) {
                return Poll::Ready(Done::Answer(input));
            }
            match self.edge_reads.poll_next_unpin(cx) {
                Poll::Ready(Some(input)) => Poll::Ready(Done::Answer(input)),
                _ => Poll::Pending,
            }
        })
        .await
    }
}

/// `request`'s answer, or `late`'s when it takes longer than `limit`:
/// every request the driver makes is answered, one way or the other.
async fn within<T>(limit: Duration, request: impl Future<Output = T>, late: impl FnOnce(String) -> T) -> T {
    match tokio::time::timeout(limit, request).await {
        Ok(answer) => answer,
        Err(_) => late(format!("no answer within {} s", limit.as_secs())),
    }
}

/// When a lease is due for renewal: a third of its time to live after it
/// was taken or last renewed.
fn renewal_due(lease: &Lease, ttl: Duration) -> Timestamp {
    Timestamp::from_ms(lease.expires_at.as_ms().saturating_sub((ttl * 2 / 3).as_millis() as u64))
}

/// Who took a lease, as far as a fenced write can tell.
fn holder_of(current: Option<u64>) -> String {
    current.map_or("another controller".into(), |epoch| format!("the controller with epoch {epoch}"))
}

fn write_answer(id: ApplyId, weight: Weight, error: EdgeError) -> EdgeResult {
    match error {
        EdgeError::Conflict => EdgeResult::Conflict { id, weight },
        EdgeError::Drift { found } => EdgeResult::Drift { id, weight, found },
        EdgeError::Unverified(reason) => EdgeResult::Unverified { id, weight, reason },
        EdgeError::Failed(error) => EdgeResult::Failed { id, weight, error },
    }
}

fn verify_answer(id: ApplyId, weight: Weight, result: Result<Option<Verification>, EdgeError>) -> EdgeResult {
    match result {
        Ok(None) => EdgeResult::Applied { id, weight },
        Ok(Some(verification)) => EdgeResult::Verified { id, weight, verification },
        Err(error) => write_answer(id, weight, error),
    }
}

impl<S: Store, E: EdgePort, M: MetricsPort, C: Clock, N: Notifier> Driver<S, E, M, C, N> {
    /// Drives cutover `id` with `plan` until it settles (Completed,
    /// RolledBack or Aborted) or the lease is lost. Waits up to
    /// [`Settings::acquire_wait`] for a lease held by another live
    /// controller. A settled cutover's lease is kept while its notifications
    /// are owed (up to [`OUTBOX_PATIENCE`]).
    pub async fn run<J: Judge>(
        &self,
        id: &str,
        plan: &Plan,
        judge: impl Fn(&Plan) -> J,
    ) -> Result<CutoverState, DriverError> {
        self.run_until(id, plan, judge, None, std::future::pending()).await
    }

    /// [`Driver::run`], starting with `lease` when one was taken already
    /// (the daemon takes leases itself, one try each), and stopping early
    /// when `stop` completes: the edge write in flight is let finish (within
    /// its deadline), notifications are flushed (bounded), the lease is
    /// released for another controller to take at once, and the state as
    /// it stands is returned.
    pub async fn run_until<J: Judge>(
        &self,
        id: &str,
        plan: &Plan,
        judge: impl Fn(&Plan) -> J,
        lease: Option<Lease>,
        stop: impl Future<Output = ()>,
    ) -> Result<CutoverState, DriverError> {
        let lease = match lease {
            Some(lease) => Ok(lease),
            None => self.acquire(id).await,
        };
        match lease {
            Ok(lease) => self.drive(id, plan, judge, lease, stop).await,
            Err(e) => Err(e),
        }
    }

    async fn drive<J: Judge>(
        &self,
        id: &str,
        plan: &Plan,
        judge: impl Fn(&Plan) -> J,
        mut lease: Lease,
        stop: impl Future<Output = ()>,
    ) -> Result<CutoverState, DriverError> {
        let mut stop = std::pin::pin!(stop);
        // Renewal is due a third of the way through the lease, counted from
        // the lease itself: a daemon may hand over one it took a moment ago.
        let mut renew_at = renewal_due(&lease, self.settings.lease_ttl);
        let mut engine = self.restore(id, plan, &judge).await?;
        let mut inputs = VecDeque::from([Input::LeaseGained { epoch: lease.epoch }]);
        let mut work = Work::new();
        let mut housekeeping = tokio::time::interval(self.settings.poll);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(cutover = id, epoch = lease.epoch, holder = %lease.holder, "lease gained");
        self.notifier.lead();
        // A settled cutover keeps its lease while its notifications go out
        // (the next leader would send them, but none comes for a settled
        // cutover unless the daemon looks): until this wall-clock time.
        let mut outbox_until = None;
        // After a `Stop`: the engine rebuilt from the store (or the driver's
        // end), nothing in flight, and a fresh start. The operators'
        // commands its state does not cover are still in the inbox: they
        // are read again.
        macro_rules! recover {
            ($stop:expr) => {{
                engine = self.after($stop, id, plan, &judge, &mut engine).await?;
                work = Work::new();
                inputs = VecDeque::from([Input::LeaseGained { epoch: lease.epoch }]);
            }};
        }
        loop {
            while let Some(input) = inputs.pop_front() {
                let output = engine.handle(self.clock.now(), input);
                if let Some(reason) = output.rejected {
                    tracing::warn!(cutover = id, %reason, "command refused");
                }
                let carried = self.carry_out(output.effects, &mut work, &mut lease, &mut renew_at).await;
                if let Err(stop) = carried {
                    recover!(stop);
                }
            }
            if work.writing.is_none() {
                if let Some((apply, weight, expected)) = work.queued.pop_front() {
                    // Writing to the edge is acting for the cutover: only
                    // with a lease known to be live.
                    if let Err(stop) = self.keep_lease(id, &mut lease, &mut renew_at, true).await {
                        recover!(stop);
                        continue;
                    }
                    // A write never outlives a third of the lease it was
                    // started under (the lease has at least two thirds left).
                    let limit = self.settings.deadlines.write.min(self.settings.lease_ttl / 3);
                    let write = within(limit, self.edge.apply(weight, expected), |late| {
                        Err(EdgeError::Failed(format!("the edge: {late}")))
                    });
                    work.writing = Some((apply, weight, Box::pin(write)));
                }
            }
            if engine.state().phase.is_settled() && work.idle() {
                // One last look: an operator may roll a completed cutover
                // back. An inbox that cannot be read is looked at again,
                // not taken for empty.
                match self.inbox(id, &lease, engine.state()).await {
                    Ok(None) => tokio::time::sleep(self.settings.poll).await,
                    Ok(Some(commands)) if commands.is_empty() && self.owes_notifications(&mut outbox_until) => {
                        if let Err(stop) = self.keep_lease(id, &mut lease, &mut renew_at, false).await {
                            recover!(stop);
                            continue;
                        }
                        tokio::select! {
                            () = &mut stop => {}
                            () = tokio::time::sleep(self.settings.poll) => continue,
                        }
                        let _ = self.store.release(id, &lease).await;
                        tracing::info!(cutover = id, "stopped with notifications owed; lease released");
                        return Ok(engine.state().clone());
                    }
                    Ok(Some(commands)) if commands.is_empty() => {
                        let _ = self.store.release(id, &lease).await;
                        tracing::info!(cutover = id, phase = %engine.state().phase, "settled; lease released");
                        return Ok(engine.state().clone());
                    }
                    Ok(Some(commands)) => inputs.extend(commands),
                    Err(stop) => recover!(stop),
                }
                continue;
            }
            let wake = engine.next_wake();
            tokio::select! {
                biased;
                () = &mut stop => {
                    if let Some((_, _, write)) = work.writing.take() {
                        let _ = write.await; // bounded by its deadline
                    }
                    // While the lease is still ours (its last third kept
                    // as a margin): two senders at once would repeat
                    // events out of order.
                    let left = lease.expires_at.as_ms().saturating_sub(self.clock.wall_now().as_ms());
                    let margin = self.settings.lease_ttl / 3;
                    let within = Duration::from_millis(left).saturating_sub(margin);
                    let _ = tokio::time::timeout(within, self.notifier.flush()).await;
                    let _ = self.store.release(id, &lease).await;
                    tracing::info!(cutover = id, phase = %engine.state().phase, "stopped; lease released");
                    return Ok(engine.state().clone());
                }
                _ = housekeeping.tick() => {
                    let kept = match self.keep_lease(id, &mut lease, &mut renew_at, false).await {
                        Ok(()) => self.inbox(id, &lease, engine.state()).await,
                        Err(stop) => Err(stop),
                    };
                    match kept {
                        Ok(commands) => {
                            inputs.extend(commands.into_iter().flatten());
                            inputs.push_back(Input::Tick);
                        }
                        Err(stop) => recover!(stop),
                    }
                }
                done = work.next() => match done {
                    Done::Answer(input) => inputs.push_back(input),
                    Done::Written { id: apply, weight, result: Ok(()) } => {
                        if work.queued.is_empty() {
                            let verify = within(self.settings.deadlines.verify, self.edge.verify(weight), |late| {
                                Err(EdgeError::Unverified(format!("the probes: {late}")))
                            });
                            work.verifying =
                                Some(Box::pin(async move { Input::Edge(verify_answer(apply, weight, verify.await)) }));
                        }
                        // Else a newer apply waits: this weight is history,
                        // and its answer would count for nothing.
                    }
                    Done::Written { id: apply, weight, result: Err(error) } => {
                        inputs.push_back(Input::Edge(write_answer(apply, weight, error)));
                    }
                },
                () = self.clock.sleep_until(wake.unwrap_or(Timestamp::from_ms(0))), if wake.is_some() => {
                    inputs.push_back(Input::Tick);
                }
            }
        }
    }

    /// Whether a settled cutover should keep its lease a poll longer for
    /// its notifications: while any are owed, up to [`OUTBOX_PATIENCE`].
    fn owes_notifications(&self, until: &mut Option<Timestamp>) -> bool {
        if self.notifier.drained() {
            return false;
        }
        let now = self.clock.wall_now();
        let until = *until.get_or_insert(now + OUTBOX_PATIENCE);
        if now >= until {
            tracing::warn!(
                "webhooks still owed notifications after {} s; releasing the lease (a daemon sends them later)",
                OUTBOX_PATIENCE.as_secs()
            );
        }
        now < until
    }

    /// What a [`Stop`] leaves: a rebuilt engine, or the driver's end.
    async fn after<J: Judge>(
        &self,
        stop: Stop,
        id: &str,
        plan: &Plan,
        judge: &impl Fn(&Plan) -> J,
        engine: &mut Engine<J>,
    ) -> Result<Engine<J>, DriverError> {
        let lost = |engine: &mut Engine<J>, holder: String| {
            let _ = engine.handle(self.clock.now(), Input::LeaseLost);
            tracing::error!(
                cutover = id,
                %holder,
                "fenced: the lease passed to {holder} while this controller was stopped or cut off; \
                 it writes nothing more for this cutover and stops"
            );
            DriverError::LeaseLost { id: id.to_owned(), holder }
        };
        match stop {
            Stop::Lost { holder } => Err(lost(engine, holder)),
            Stop::Store(e) => {
                let _ = engine.handle(self.clock.now(), Input::LeaseLost);
                tracing::error!(cutover = id, error = %e, "the store is out of reach and the lease lapsed; stopping");
                Err(DriverError::Store(e))
            }
            Stop::Rebuild(why) => {
                tracing::warn!(cutover = id, %why, "rebuilding the engine from the store");
                // Not in a tight loop: a write that keeps failing is tried
                // again a poll later (the lease is checked before it).
                tokio::time::sleep(self.settings.poll).await;
                self.restore(id, plan, judge).await
            }
        }
    }

    async fn restore<J: Judge>(
        &self,
        id: &str,
        plan: &Plan,
        judge: &impl Fn(&Plan) -> J,
    ) -> Result<Engine<J>, DriverError> {
        let stored = self.store.load(id).await?.ok_or_else(|| DriverError::NotFound(id.to_owned()))?;
        Ok(Engine::restore(plan.clone(), stored.state, judge(plan)))
    }

    /// Renews the lease when a third of its time has passed. With
    /// `before_write`, a lease that cannot be renewed and has lapsed stops
    /// the loop; otherwise a failed renewal is retried at the next round.
    async fn keep_lease(
        &self,
        id: &str,
        lease: &mut Lease,
        renew_at: &mut Timestamp,
        before_write: bool,
    ) -> Result<(), Stop> {
        let now = self.clock.wall_now();
        if now < *renew_at {
            return Ok(());
        }
        match self.store.acquire(id, &self.settings.holder, now, self.settings.lease_ttl).await {
            Ok(renewed) if renewed.epoch == lease.epoch => {
                *lease = renewed;
                *renew_at = renewal_due(lease, self.settings.lease_ttl);
                Ok(())
            }
            Ok(retaken) => {
                // It had lapsed (this process stalled) and was taken afresh:
                // someone may have written meanwhile.
                tracing::warn!(cutover = id, epoch = retaken.epoch, "lease had lapsed; retaken, rebuilding");
                *lease = retaken;
                *renew_at = renewal_due(lease, self.settings.lease_ttl);
                Err(Stop::Rebuild("the lease had lapsed and was retaken".into()))
            }
            Err(StoreError::LeaseHeld { holder, .. }) => Err(Stop::Lost { holder }),
            Err(StoreError::Fenced { current, .. }) => Err(Stop::Lost { holder: holder_of(current) }),
            Err(e) if before_write && now >= lease.expires_at => Err(Stop::Store(e)),
            Err(e) => {
                tracing::warn!(cutover = id, error = %e, "lease renewal failed; retrying");
                Ok(())
            }
        }
    }

    /// The operators' commands in the store's inbox that `state` has not
    /// handled, in the order sent; `None` when it could not be read (tried
    /// again at the next round). A command stays there until a write that
    /// handles it lands: a driver that dies first leaves it to the next.
    async fn inbox(&self, id: &str, lease: &Lease, state: &CutoverState) -> Result<Option<Vec<Input>>, Stop> {
        let requests = match self.store.commands(id, lease.epoch, state.commands_handled).await {
            Ok(requests) => requests,
            Err(StoreError::Fenced { current, .. }) => return Err(Stop::Lost { holder: holder_of(current) }),
            Err(e) => {
                tracing::warn!(cutover = id, error = %e, "the inbox could not be read; retrying");
                return Ok(None);
            }
        };
        let commands = requests.into_iter().map(|request| {
            let command = request.command.as_str();
            tracing::info!(cutover = id, seq = request.seq, command, actor = %request.actor, reason = ?request.reason, "operator command");
            Input::Command { seq: request.seq, command: request.command, actor: request.actor, reason: request.reason }
        });
        Ok(Some(commands.collect()))
    }

    /// Takes the lease, waiting at most [`Settings::acquire_wait`] for
    /// another live holder to let go.
    async fn acquire(&self, id: &str) -> Result<Lease, DriverError> {
        let give_up = tokio::time::Instant::now() + self.settings.acquire_wait;
        loop {
            let now = self.clock.wall_now();
            match self.store.acquire(id, &self.settings.holder, now, self.settings.lease_ttl).await {
                Ok(lease) => return Ok(lease),
                Err(StoreError::LeaseHeld { holder, expires_at, .. }) => {
                    if tokio::time::Instant::now() >= give_up {
                        return Err(DriverError::LeaseHeld { id: id.to_owned(), holder, until: expires_at });
                    }
                    tracing::info!(cutover = id, %holder, until = %expires_at, "waiting for the lease");
                    tokio::time::sleep(self.settings.poll).await;
                }
                Err(StoreError::NotFound(_)) => return Err(DriverError::NotFound(id.to_owned())),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Carries out one batch of effects in order: writes now, requests
    /// into `work`. Stops at the first failed write.
    async fn carry_out<'a>(
        &'a self,
        effects: Vec<Effect>,
        work: &mut Work<'a>,
        lease: &mut Lease,
        renew_at: &mut Timestamp,
    ) -> Result<(), Stop> {
        for effect in effects {
            match effect {
                Effect::Persist { state, events } => {
                    self.keep_lease(&state.id, lease, renew_at, true).await?;
                    match self.store.commit(lease.epoch, &state, &events).await {
                        Ok(()) => {}
                        Err(StoreError::Fenced { current, .. }) => {
                            return Err(Stop::Lost { holder: holder_of(current) })
                        }
                        Err(e @ (StoreError::Corrupt(_) | StoreError::Unavailable { retryable: false, .. })) => {
                            return Err(Stop::Store(e))
                        }
                        Err(e) => return Err(Stop::Rebuild(format!("a write failed: {e}"))),
                    }
                }
                Effect::ApplyWeight { id, weight, expected } => {
                    // A newer intent: the last one's verification is moot,
                    // and an edge read begun before it could report the
                    // old weight after the new one is confirmed (false drift).
                    work.verifying = None;
                    work.edge_reads = FuturesUnordered::new();
                    work.queued.push_back((id, weight, expected));
                }
                Effect::ReadEdge => {
                    let read = async { self.edge.read().await.map_err(|e| e.to_string()) };
                    let read = within(self.settings.deadlines.read, read, |late| Err(format!("the edge: {late}")));
                    work.edge_reads.push(Box::pin(async move { Input::EdgeRead(read.await) }));
                }
                Effect::Measure { window } => {
                    let measure = within(self.measure_deadline(window), self.metrics.measure(window), |late| {
                        Err(MeasureError::new(Source::Metrics, late))
                    });
                    work.reads.push(Box::pin(async move { Input::Measured { window, result: measure.await } }));
                }
                Effect::Notify { event } => {
                    tracing::info!(cutover = %event.cutover_id, event = %event.describe(), "notify");
                    self.notifier.notify(&event);
                }
            }
        }
        Ok(())
    }

    fn measure_deadline(&self, window: Window) -> Duration {
        let d = self.settings.deadlines;
        let covers = self.clock.wall_ms(window.to).saturating_sub(self.clock.wall_ms(window.from));
        Duration::from_millis(covers).clamp(d.measure_min, d.measure_max)
    }
}
