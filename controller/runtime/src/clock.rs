//! The engine's clock: wall-clock time through a cutover's [`TimeScale`]
//! (real time, or compressed for the demo and rehearsals).
//!
//! Wall-clock time itself comes from the system, or, in tests, from tokio's
//! clock: under `tokio::time::pause` a test drives hours of leases,
//! deadlines and holds in microseconds, and nothing depends on how busy the
//! machine is.

use std::time::Duration;

use cutover_core::ports::Clock;
use cutover_core::store::TimeScale;
use cutover_core::units::Timestamp;

/// The system's wall-clock time.
pub fn system_now() -> Timestamp {
    Timestamp::from_ms(cutover_base::clock::unix_ms())
}

/// Where wall-clock time comes from.
#[derive(Clone, Copy, Debug)]
enum Wall {
    System,
    /// The system's time when the clock was made, moved on by tokio's clock.
    Tokio {
        at_ms: u64,
        at: tokio::time::Instant,
    },
}

impl Wall {
    fn now(self) -> Timestamp {
        match self {
            Wall::System => system_now(),
            Wall::Tokio { at_ms, at } => Timestamp::from_ms(at_ms + at.elapsed().as_millis() as u64),
        }
    }
}

/// Engine time `speed` times faster than the wall clock (durations are
/// scaled; nothing is skipped). Being a function of the wall clock and the
/// stored scale, it continues the same timeline after a restart.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    scale: TimeScale,
    wall: Wall,
}

impl ScaledClock {
    /// On the system's clock.
    pub fn new(scale: TimeScale) -> ScaledClock {
        ScaledClock { scale, wall: Wall::System }
    }

    /// On tokio's clock, starting from the system's time now: for tests
    /// under `tokio::time::pause`.
    pub fn on_tokio_time(scale: TimeScale) -> ScaledClock {
        ScaledClock { scale, wall: Wall::Tokio { at_ms: system_now().as_ms(), at: tokio::time::Instant::now() } }
    }

    /// A scale anchored at this instant: engine time starts at wall time.
    pub fn starting_now(speed: f64) -> TimeScale {
        TimeScale { speed: speed.max(f64::MIN_POSITIVE), anchor: system_now() }
    }

    pub fn scale(&self) -> TimeScale {
        self.scale
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        self.scale.engine_time(self.wall.now())
    }

    fn wall_now(&self) -> Timestamp {
        self.wall.now()
    }

    async fn sleep_until(&self, t: Timestamp) {
        // One millisecond over: waking a rounding error early would only
        // tick the engine for nothing and sleep again.
        let wait = self.scale.wall_time(t).as_ms().saturating_sub(self.wall.now().as_ms());
        tokio::time::sleep(Duration::from_millis(wait + 1)).await;
    }

    fn wall_ms(&self, t: Timestamp) -> u64 {
        self.scale.wall_time(t).as_ms()
    }
}
