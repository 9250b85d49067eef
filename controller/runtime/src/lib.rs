//! The controller's driver: runs one cutover's sans-IO engine against the
//! ports that touch the world — a [`Store`], an [`EdgePort`], a
//! [`MetricsPort`], a [`Notifier`] and a [`Clock`] — keeping the driver's side of the
//! engine's contract (see `cutover_core::engine`):
//!
//! * a `Persist` is durable before the next effect runs; when it fails the
//!   rest of the batch is dropped and the engine rebuilt from the store;
//! * every `ApplyWeight` and `Measure` is answered, in order;
//! * nothing happens without the lease: it is taken before the engine
//!   starts, renewed on wall-clock time (also under a compressed clock),
//!   and every commit names its epoch, so a paused ex-leader is fenced off;
//! * operators' commands arrive through the store's inbox, so `cutover
//!   rollback` in another terminal reaches a running controller;
//! * notifications never wait: they are handed to the [`Notifier`] and
//!   flushed (bounded) when the driver stops.

mod clock;
mod notify;

use clock::wall_now;

use std::collections::VecDeque;
use std::time::Duration;

use cutover_core::engine::{Command, CutoverState, EdgeResult, Effect, Engine, Input, Phase};
use cutover_core::judge::Judge;
use cutover_core::plan::Plan;
use cutover_core::store::{Lease, Store, StoreError};

pub use clock::ScaledClock;
pub use cutover_core::ports::{Clock, EdgeError, EdgePort, MetricsPort, Notifier};
pub use notify::Webhooks;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Names this controller in the lease (unique per process).
    pub holder: String,
    /// How long a lease lives without renewal, in wall-clock time.
    pub lease_ttl: Duration,
    /// How often, in wall-clock time, the inbox is read and the lease renewed.
    pub poll: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            holder: format!("controller-{}", std::process::id()),
            lease_ttl: Duration::from_secs(15),
            poll: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("no cutover {0} in the store")]
    NotFound(String),
    /// Another controller took the lease: this one stopped.
    #[error("cutover {0}: the lease passed to another controller; this one stopped")]
    LeaseLost(String),
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

/// A phase the driver has nothing more to do in.
fn settled(phase: Phase) -> bool {
    matches!(phase, Phase::Completed | Phase::RolledBack { .. } | Phase::Aborted)
}

impl<S: Store, E: EdgePort, M: MetricsPort, C: Clock, N: Notifier> Driver<S, E, M, C, N> {
    /// Drives cutover `id` with `plan` until it settles (Completed,
    /// RolledBack or Aborted) or the lease is lost. Waits for a lease held
    /// by another live controller to expire first. Notifications still on
    /// their way are flushed before it returns.
    pub async fn run<J: Judge>(
        &self,
        id: &str,
        plan: &Plan,
        judge: impl Fn(&Plan) -> J,
    ) -> Result<CutoverState, DriverError> {
        let outcome = self.drive(id, plan, judge).await;
        self.notifier.flush().await;
        outcome
    }

    async fn drive<J: Judge>(
        &self,
        id: &str,
        plan: &Plan,
        judge: impl Fn(&Plan) -> J,
    ) -> Result<CutoverState, DriverError> {
        let mut lease = self.acquire(id).await?;
        let stored = self.store.load(id).await?.ok_or_else(|| DriverError::NotFound(id.to_owned()))?;
        let mut engine = Engine::restore(plan.clone(), stored.state, judge(plan));
        let mut inputs = VecDeque::from([Input::LeaseGained { epoch: lease.epoch }]);
        let mut renew_at = wall_now() + self.settings.lease_ttl / 3;
        tracing::info!(cutover = id, epoch = lease.epoch, holder = %lease.holder, "lease gained");
        loop {
            while let Some(input) = inputs.pop_front() {
                let output = engine.handle(self.clock.now(), input);
                if let Some(reason) = output.rejected {
                    tracing::warn!(cutover = id, %reason, "command refused");
                }
                if let Err(e) = self.carry_out(output.effects, &mut engine, &mut inputs, lease.epoch).await {
                    tracing::warn!(cutover = id, error = %e, "a write failed; rebuilding from the store");
                    if matches!(e, StoreError::Fenced { .. }) {
                        let _ = engine.handle(self.clock.now(), Input::LeaseLost);
                        return Err(DriverError::LeaseLost(id.to_owned()));
                    }
                    engine = self.rebuild(id, plan, &judge, lease.epoch, &mut inputs).await?;
                }
            }
            if wall_now() >= renew_at {
                lease = match self.store.acquire(id, &self.settings.holder, wall_now(), self.settings.lease_ttl).await {
                    Ok(renewed) if renewed.epoch == lease.epoch => renewed,
                    Ok(retaken) => {
                        // The lease had expired (this process stalled) and was
                        // taken afresh: someone may have written meanwhile.
                        tracing::warn!(
                            cutover = id,
                            epoch = retaken.epoch,
                            "lease had expired; retaken, rebuilding from the store"
                        );
                        engine = self.rebuild(id, plan, &judge, retaken.epoch, &mut inputs).await?;
                        retaken
                    }
                    Err(StoreError::LeaseHeld { .. } | StoreError::Fenced { .. }) => {
                        let _ = engine.handle(self.clock.now(), Input::LeaseLost);
                        return Err(DriverError::LeaseLost(id.to_owned()));
                    }
                    Err(e) => {
                        tracing::warn!(cutover = id, error = %e, "lease renewal failed; retrying");
                        lease
                    }
                };
                renew_at = wall_now() + self.settings.lease_ttl / 3;
            }
            for request in self.store.take(id, lease.epoch).await? {
                match Command::parse(&request.command) {
                    Some(command) => {
                        tracing::info!(cutover = id, command = command.as_str(), actor = %request.actor, reason = ?request.reason, "operator command");
                        inputs.push_back(Input::Command { command, actor: request.actor, reason: request.reason });
                    }
                    None => {
                        tracing::warn!(cutover = id, command = %request.command, "unknown command in the inbox; ignored")
                    }
                }
            }
            // Settled and nothing asked of it: done. (Commands are read first,
            // so an operator can still roll a completed cutover back.)
            if settled(engine.state().phase) && inputs.is_empty() {
                let _ = self.store.release(id, &lease).await;
                return Ok(engine.state().clone());
            }
            if inputs.is_empty() {
                let poll = self.clock.now() + self.clock.virtual_span(self.settings.poll);
                let wake = engine.next_wake().map_or(poll, |t| t.min(poll));
                self.clock.sleep_until(wake).await;
                inputs.push_back(Input::Tick);
            }
        }
    }

    /// A fresh engine from the stored state, to be started under `epoch`
    /// (after a failed write or a retaken lease: the same path as a crash).
    async fn rebuild<J: Judge>(
        &self,
        id: &str,
        plan: &Plan,
        judge: &impl Fn(&Plan) -> J,
        epoch: u64,
        inputs: &mut VecDeque<Input>,
    ) -> Result<Engine<J>, DriverError> {
        let stored = self.store.load(id).await?.ok_or_else(|| DriverError::NotFound(id.to_owned()))?;
        *inputs = VecDeque::from([Input::LeaseGained { epoch }]);
        Ok(Engine::restore(plan.clone(), stored.state, judge(plan)))
    }

    /// Takes the lease, waiting out another live holder.
    async fn acquire(&self, id: &str) -> Result<Lease, DriverError> {
        loop {
            match self.store.acquire(id, &self.settings.holder, wall_now(), self.settings.lease_ttl).await {
                Ok(lease) => return Ok(lease),
                Err(StoreError::LeaseHeld { holder, expires_at, .. }) => {
                    tracing::info!(cutover = id, %holder, until = %expires_at, "waiting for the lease");
                    tokio::time::sleep(self.settings.poll).await;
                }
                Err(StoreError::NotFound(_)) => return Err(DriverError::NotFound(id.to_owned())),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs one batch of effects in order; stops at the first failed write.
    async fn carry_out<J: Judge>(
        &self,
        effects: Vec<Effect>,
        engine: &mut Engine<J>,
        inputs: &mut VecDeque<Input>,
        epoch: u64,
    ) -> Result<(), StoreError> {
        let id = engine.state().id.clone();
        for effect in effects {
            match effect {
                Effect::Persist { state, events } => self.store.commit(epoch, &state, &events).await?,
                Effect::ApplyWeight { id: apply, weight, expected } => {
                    let answer = match self.edge.apply(weight, expected).await {
                        Ok(None) => EdgeResult::Applied { id: apply, weight },
                        Ok(Some(verification)) => EdgeResult::Verified { id: apply, weight, verification },
                        Err(EdgeError::Unverified(reason)) => EdgeResult::Unverified { id: apply, weight, reason },
                        Err(EdgeError::Conflict) => EdgeResult::Conflict { id: apply, weight },
                        Err(EdgeError::Drift { found }) => EdgeResult::Drift { id: apply, weight, found },
                        Err(EdgeError::Failed(error)) => EdgeResult::Failed { id: apply, weight, error },
                    };
                    inputs.push_back(Input::Edge(answer));
                }
                Effect::ReadEdge => {
                    let found = self.edge.read().await.map_err(|e| e.to_string());
                    inputs.push_back(Input::EdgeRead(found));
                }
                Effect::Measure { window } => {
                    let result = self.metrics.measure(window).await;
                    inputs.push_back(Input::Measured { window, result });
                }
                Effect::Notify { event } => {
                    tracing::info!(cutover = %id, event = %event.describe(), "notify");
                    self.notifier.notify(&event);
                }
            }
        }
        Ok(())
    }
}
