//! The ports the controller's driver runs the engine against, besides the
//! [`crate::store::Store`]: where the weight is applied, where the numbers
//! come from, who hears about it, and what time it is. Adapters implement them for AWS
//! (CloudFront KeyValueStore, CloudWatch and X-Ray) and for local mode (the
//! local edge); `cutover-runtime` drives them.

use std::future::Future;

use crate::engine::{Event, Verification};
use crate::measure::{MeasureError, Measurement, Window};
use crate::units::{Timestamp, Weight};

/// Where the weight is applied.
///
/// An apply is two calls: the write ([`EdgePort::apply`]), which the driver
/// makes one at a time and in order, and the check that it took effect
/// ([`EdgePort::verify`]), which may take minutes (edge propagation) and
/// runs beside everything else: a rollback's write never waits for the
/// previous weight's verification.
pub trait EdgePort: Send + Sync {
    /// Sets the weight to `weight`, where the cutover last wrote `expected`.
    /// Reads the live weight first and follows [`before_write`]: a weight
    /// someone else wrote is [`EdgeError::Drift`], never overwritten.
    fn apply(&self, weight: Weight, expected: Weight) -> impl Future<Output = Result<(), EdgeError>> + Send;

    /// After a successful [`EdgePort::apply`] of `weight`: waits until the
    /// edge is seen to route by it, and says how it was seen; `Ok(None)`
    /// when this edge has no way to look (the default).
    /// [`EdgeError::Unverified`] when it kept disagreeing.
    fn verify(&self, weight: Weight) -> impl Future<Output = Result<Option<Verification>, EdgeError>> + Send {
        let _ = weight;
        std::future::ready(Ok(None))
    }

    /// The weight the edge holds now (a missing value reads as 0, as the
    /// edge itself treats it).
    fn read(&self) -> impl Future<Output = Result<Weight, EdgeError>> + Send;
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// The edge's version changed under us (an ETag mismatch).
    #[error("the edge changed under us")]
    Conflict,
    /// The edge holds a weight this cutover did not write.
    #[error("the edge holds {found}, which this cutover did not write")]
    Drift { found: Weight },
    /// Written, but probes through the edge kept disagreeing.
    #[error("{0}")]
    Unverified(String),
    #[error("{0}")]
    Failed(String),
}

/// What an edge adapter does after reading the live weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// The edge already holds the weight (a repeated apply): done.
    AlreadyThere,
    /// Write it, conditioned on the version just read.
    Write,
}

/// The drift rule, the same for every edge: `live` is what the edge holds,
/// `weight` what is to be applied, `expected` what this cutover last wrote.
/// A rollback (weight 0) is applied over anything: 0 is the fail-safe every
/// party agrees on, and a rollback must never wait for a person.
pub fn before_write(live: Weight, weight: Weight, expected: Weight) -> Result<Write, EdgeError> {
    if live == weight {
        Ok(Write::AlreadyThere)
    } else if live == expected || weight == Weight::ZERO {
        Ok(Write::Write)
    } else {
        Err(EdgeError::Drift { found: live })
    }
}

/// Where the numbers come from.
pub trait MetricsPort: Send + Sync {
    fn measure(&self, window: Window) -> impl Future<Output = Result<Measurement, MeasureError>> + Send;
}

/// Who hears about the events people act on (rollbacks, pauses, drift,
/// completion): the engine's `Notify` effects. The audit trail is the record
/// and the outbox (the events are written before they are notified); a
/// notification must never hold up the control loop.
pub trait Notifier: Send + Sync {
    /// The driver holds the lease: send what the trail still owes.
    fn lead(&self) {}

    /// Hands `event` (persisted) over for delivery and returns at once.
    fn notify(&self, event: &Event);

    /// Whether everything owed has been delivered (or refused for good): a
    /// settled cutover's driver keeps its lease until then, for a while.
    fn drained(&self) -> bool {
        true
    }

    /// Waits, for a bounded time, until what was handed over is delivered or
    /// given up on: called when the driver stops, so the last word (completed,
    /// rolled back) is sent before the process exits.
    fn flush(&self) -> impl Future<Output = ()> + Send;
}

/// Time for the engine: real, or compressed for the demo and rehearsals.
pub trait Clock: Send + Sync {
    /// The engine's now.
    fn now(&self) -> Timestamp;
    /// The wall-clock time now, whatever the engine's scale: what leases
    /// and the driver's deadlines are measured in.
    fn wall_now(&self) -> Timestamp;
    /// Returns once the engine's now has reached `t`.
    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send;
    /// The wall-clock time (Unix ms) at which engine time is `t`: where a
    /// metric source that records in wall time finds a window.
    fn wall_ms(&self, t: Timestamp) -> u64;
}
