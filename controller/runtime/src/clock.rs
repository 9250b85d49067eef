//! The engine's clock: wall-clock time through a cutover's [`TimeScale`]
//! (real time, or compressed for the demo and rehearsals).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cutover_core::ports::Clock;
use cutover_core::store::TimeScale;
use cutover_core::units::Timestamp;

pub(crate) fn wall_now() -> Timestamp {
    Timestamp::from_ms(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64))
}

/// Engine time `speed` times faster than the wall clock (durations are
/// scaled; nothing is skipped). Being a function of the wall clock and the
/// stored scale, it continues the same timeline after a restart.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    scale: TimeScale,
}

impl ScaledClock {
    pub fn new(scale: TimeScale) -> ScaledClock {
        ScaledClock { scale }
    }

    /// A scale anchored at this instant: engine time starts at wall time.
    pub fn starting_now(speed: f64) -> TimeScale {
        TimeScale { speed: speed.max(f64::MIN_POSITIVE), anchor: wall_now() }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        self.scale.engine_time(wall_now())
    }

    async fn sleep_until(&self, t: Timestamp) {
        let wait = self.scale.wall_time(t).as_ms().saturating_sub(wall_now().as_ms());
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }

    fn virtual_span(&self, wall: Duration) -> Duration {
        wall.mul_f64(self.scale.speed)
    }

    fn wall_ms(&self, t: Timestamp) -> u64 {
        self.scale.wall_time(t).as_ms()
    }
}
