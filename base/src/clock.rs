//! The wall clock, read in one place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch by this machine's clock; 0 for a clock
/// set before 1970 (nothing here is dated that early, and a caller that
/// compares times sees a jump it already handles).
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_reads_after_this_code_was_written() {
        // 2025-01-01T00:00:00Z: a clock before it is wrong, not slow.
        assert!(super::unix_ms() > 1_735_689_600_000);
    }
}
