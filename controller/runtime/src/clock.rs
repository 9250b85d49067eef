//! A compressed clock for the demo and rehearsals.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cutover_core::ports::Clock;
use cutover_core::units::Timestamp;

/// Engine time that runs `speed` times faster than the wall clock, from
/// `origin` (speed 1 is real time). Durations are scaled; nothing is skipped.
#[derive(Clone, Debug)]
pub struct ScaledClock {
    origin: Timestamp,
    started: Instant,
    /// Unix ms at `started`.
    started_wall_ms: u64,
    speed: f64,
}

impl ScaledClock {
    pub fn new(origin: Timestamp, speed: f64) -> ScaledClock {
        let started_wall_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        ScaledClock { origin, started: Instant::now(), started_wall_ms, speed: speed.max(f64::MIN_POSITIVE) }
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

    fn wall_ms(&self, t: Timestamp) -> u64 {
        let ahead = (t.as_ms() as f64 - self.origin.as_ms() as f64) / self.speed;
        (self.started_wall_ms as f64 + ahead).max(0.0).round() as u64
    }
}
