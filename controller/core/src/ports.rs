//! The ports the controller's driver runs the engine against, besides the
//! [`crate::store::Store`]: where the weight is applied, where the numbers
//! come from, and what time it is. Adapters implement them for AWS
//! (CloudFront KeyValueStore, CloudWatch and X-Ray) and for local mode (the
//! local edge); `cutover-runtime` drives them.

use std::future::Future;
use std::time::Duration;

use crate::measure::{MeasureError, Measurement, Window};
use crate::units::{Timestamp, Weight};

/// Where the weight is applied.
pub trait EdgePort: Send + Sync {
    fn apply(&self, weight: Weight) -> impl Future<Output = Result<(), EdgeError>> + Send;
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// The edge's version changed under us (an ETag mismatch).
    #[error("the edge changed under us")]
    Conflict,
    #[error("{0}")]
    Failed(String),
}

/// Where the numbers come from.
pub trait MetricsPort: Send + Sync {
    fn measure(&self, window: Window) -> impl Future<Output = Result<Measurement, MeasureError>> + Send;
}

/// Time for the engine: real, or compressed for the demo and rehearsals.
pub trait Clock: Send + Sync {
    /// The engine's now.
    fn now(&self) -> Timestamp;
    /// Returns once the engine's now has reached `t`.
    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send;
    /// How much engine time passes in `wall` of wall-clock time.
    fn virtual_span(&self, wall: Duration) -> Duration;
    /// The wall-clock time (Unix ms) at which engine time is `t`: where a
    /// metric source that records in wall time finds a window.
    fn wall_ms(&self, t: Timestamp) -> u64;
}
