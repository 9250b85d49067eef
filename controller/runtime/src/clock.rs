//! Time for the engine: real, or compressed for the demo and rehearsals.

use std::future::Future;
use std::time::{Duration, Instant};

use cutover_core::units::Timestamp;

pub trait Clock: Send + Sync {
    /// The engine's now.
    fn now(&self) -> Timestamp;
    /// Returns once the engine's now has reached `t`.
    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send;
    /// How much engine time passes in `wall` of wall-clock time.
    fn virtual_span(&self, wall: Duration) -> Duration;
}

/// Engine time that runs `speed` times faster than the wall clock, from
/// `origin` (speed 1 is real time). Durations are scaled; nothing is skipped.
#[derive(Clone, Debug)]
pub struct ScaledClock {
    origin: Timestamp,
    started: Instant,
    speed: f64,
}

impl ScaledClock {
    pub fn new(origin: Timestamp, speed: f64) -> ScaledClock {
        ScaledClock { origin, started: Instant::now(), speed: speed.max(f64::MIN_POSITIVE) }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The wall-clock instant at which engine time reaches `t`.
    pub fn wall_instant(&self, t: Timestamp) -> Instant {
        let ahead = t.as_ms().saturating_sub(self.origin.as_ms()) as f64 / 1e3 / self.speed;
        self.started + Duration::from_secs_f64(ahead)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed().as_secs_f64() * self.speed;
        self.origin + Duration::from_secs_f64(elapsed)
    }

    async fn sleep_until(&self, t: Timestamp) {
        tokio::time::sleep_until(self.wall_instant(t).into()).await;
    }

    fn virtual_span(&self, wall: Duration) -> Duration {
        wall.mul_f64(self.speed)
    }
}
