//! The wait between tries: doubling from a first wait up to a cap.

use std::time::Duration;

/// Waits that double from `first` after each failure, never above `max`.
///
/// Every retry loop in cutover takes one of these constants, so the shape
/// (and its overflow behaviour: none, at any count) is written once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max }
    }

    /// The wait after `failures` failures in a row: `first` after one,
    /// twice that after two, and so on up to `max`. Zero failures wait
    /// nothing.
    pub fn after(&self, failures: u32) -> Duration {
        let Some(doublings) = failures.checked_sub(1) else { return Duration::ZERO };
        // 2^31 times any first wait is past any cap worth having.
        let factor = 1u32 << doublings.min(31);
        self.first.checked_mul(factor).map_or(self.max, |wait| wait.min(self.max))
    }

    /// [`Backoff::after`], stretched by `spread` (0.0 to 1.0) of half again,
    /// so two callers that fail together do not try again together. The
    /// caller chooses `spread` (from its own identity, or at random).
    pub fn spread(&self, failures: u32, spread: f64) -> Duration {
        let wait = self.after(failures);
        let spread = if spread.is_nan() { 0.0 } else { spread.clamp(0.0, 1.0) };
        wait + wait.mul_f64(spread / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));

    #[test]
    fn waits_double_from_the_first_up_to_the_cap() {
        let waits: Vec<u64> = (0..8).map(|n| B.after(n).as_millis() as u64).collect();
        assert_eq!(waits, [0, 250, 500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn no_count_of_failures_overflows() {
        for n in [31, 32, 33, 64, 1000, u32::MAX] {
            assert_eq!(B.after(n), B.max);
        }
        let huge = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        assert_eq!(huge.after(40), Duration::MAX);
    }

    #[test]
    fn a_spread_adds_at_most_half_again() {
        assert_eq!(B.spread(2, 0.0), Duration::from_millis(500));
        assert_eq!(B.spread(2, 1.0), Duration::from_millis(750));
        assert_eq!(B.spread(2, 7.0), Duration::from_millis(750));
        assert_eq!(B.spread(2, f64::NAN), Duration::from_millis(500));
    }
}
