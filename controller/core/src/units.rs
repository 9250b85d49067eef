//! Units that cross every boundary: instants, spans of time, and traffic weights.
//!
//! Time is milliseconds since the Unix epoch, always passed in by the caller;
//! nothing in this crate reads a clock.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An instant, in milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const fn from_ms(ms: u64) -> Self {
        Self(ms)
    }

    pub const fn as_ms(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Hour of the day in UTC, 0..=23.
    pub fn utc_hour(self) -> u8 {
        ((self.0 / 3_600_000) % 24) as u8
    }

    /// The start of the next UTC hour after `self`.
    pub fn next_utc_hour(self) -> Timestamp {
        Self((self.0 / 3_600_000 + 1) * 3_600_000)
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(d)))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, to the second, without a date library.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
    }
}

impl Timestamp {
    /// Parses RFC 3339 in UTC, `2026-12-01T02:00:00Z` (fractions of a
    /// second allowed), without a date library.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let bad = || format!("{text:?}: give a UTC time as 2026-12-01T02:00:00Z");
        let body = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')).ok_or_else(bad)?;
        let (date, time) = body.split_once(['T', 't']).ok_or_else(bad)?;
        let num = |s: &str, len: usize| {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i64>().ok()).flatten()
        };
        let mut d = date.split('-');
        let (y, m, day) = match (d.next(), d.next(), d.next(), d.next()) {
            (Some(y), Some(m), Some(day), None) => (num(y, 4), num(m, 2), num(day, 2)),
            _ => return Err(bad()),
        };
        let (whole, fraction) = time.split_once('.').unwrap_or((time, ""));
        let mut t = whole.split(':');
        let (h, min, s) = match (t.next(), t.next(), t.next(), t.next()) {
            (Some(h), Some(min), Some(s), None) => (num(h, 2), num(min, 2), num(s, 2)),
            _ => return Err(bad()),
        };
        let (Some(y), Some(m), Some(day), Some(h), Some(min), Some(s)) = (y, m, day, h, min, s) else {
            return Err(bad());
        };
        if !fraction.bytes().all(|b| b.is_ascii_digit()) || !(1..=12).contains(&m) || h > 23 || min > 59 || s > 60 {
            return Err(bad());
        }
        let days = days_from_civil(y, m as u32, day as u32);
        if day < 1 || civil_from_days(days) != (y, m as u32, day as u32) || y < 1970 {
            return Err(format!("{text:?}: no such date"));
        }
        let ms = fraction.get(..3).map_or(0, |f| format!("{f:0<3}").parse::<u64>().unwrap_or(0));
        let secs = days as u64 * 86_400 + h as u64 * 3600 + min as u64 * 60 + s as u64;
        Ok(Timestamp(secs * 1000 + ms))
    }
}

/// Howard Hinnant's civil-to-days algorithm: days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses `"2h"`, `"30m"`, `"90s"`, `"1d"`, `"1h30m"`, `"500ms"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; write it like \"2h\", \"30m\" or \"90s\"".into());
    }
    if t.starts_with('-') {
        return Err("a duration cannot be negative".into());
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at \"{rest}\"; write it like \"2h\" or \"1h30m\""));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("number too large in \"{t}\""))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("\"{t}\" has no unit; add one of ms, s, m, h, d")),
            u => return Err(format!("unknown unit \"{u}\"; use one of ms, s, m, h, d")),
        };
        rest = &rest[unit_len..];
        total =
            n.checked_mul(unit_ms).and_then(|v| total.checked_add(v)).ok_or_else(|| format!("\"{t}\" is too long"))?;
    }
    Ok(Duration::from_millis(total))
}

/// The shortest exact rendering: `2h`, `1h30m`, `45s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = duration_ms(d);
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Hours for spans people plan in: `48h`, `26h30m`; under an hour as
/// [`format_duration`] (`45m`, `90s`). Seconds past the minute are dropped.
pub fn format_hours(d: Duration) -> String {
    let m = d.as_secs() / 60;
    match (m / 60, m % 60) {
        (0, _) => format_duration(d),
        (h, 0) => format!("{h}h"),
        (h, r) => format!("{h}h{r:02}m"),
    }
}

/// Share of `/api/*` traffic sent to the new (serverless) side, in basis
/// points: 0 ..= 10 000, where 10 000 is 100 %.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Weight(u16);

impl Weight {
    pub const ZERO: Weight = Weight(0);
    pub const FULL: Weight = Weight(10_000);

    pub const fn from_bps(bps: u16) -> Option<Weight> {
        if bps <= 10_000 {
            Some(Weight(bps))
        } else {
            None
        }
    }

    pub const fn bps(self) -> u16 {
        self.0
    }

    /// The share as a fraction, 0.0 ..= 1.0.
    pub fn fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    /// Parses a percentage with at most two decimals (`"12.5"`, `12.25`).
    pub fn from_percent(percent: f64) -> Result<Weight, String> {
        if !percent.is_finite() {
            return Err("a weight is a number of percent, like 5 or 12.5".into());
        }
        if percent < 0.0 {
            return Err("a weight cannot be negative".into());
        }
        if percent > 100.0 {
            return Err("a weight is at most 100".into());
        }
        let bps = (percent * 100.0).round();
        if (percent * 100.0 - bps).abs() > 1e-6 {
            return Err("a weight has at most two decimals (it is stored in basis points)".into());
        }
        Ok(Weight(bps as u16))
    }
}

impl TryFrom<u16> for Weight {
    type Error = String;
    fn try_from(bps: u16) -> Result<Self, String> {
        Weight::from_bps(bps).ok_or_else(|| format!("{bps} basis points is over 10000 (100 %)"))
    }
}

impl From<Weight> for u16 {
    fn from(w: Weight) -> u16 {
        w.0
    }
}

impl fmt::Display for Weight {
    /// `5%`, `12.5%`, `0.25%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        match frac {
            0 => write!(f, "{whole}%"),
            _ if frac % 10 == 0 => write!(f, "{whole}.{}%", frac / 10),
            _ => write!(f, "{whole}.{frac:02}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_what_display_prints_and_names_what_it_cannot() {
        for ms in [0u64, 1_795_867_200_000, 1_796_256_000_000, 951_782_400_000] {
            let t = Timestamp::from_ms(ms);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Ok(t), "{t}");
        }
        assert_eq!(Timestamp::parse_rfc3339("2026-12-01T02:00:00Z").unwrap().to_string(), "2026-12-01T02:00:00Z");
        assert_eq!(Timestamp::parse_rfc3339("2026-12-01T02:00:00.250Z").unwrap().as_ms() % 1000, 250);
        for bad in [
            "2026-12-01 02:00:00",
            "2026-12-01T02:00:00+01:00",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "tomorrow",
            "",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_round_trip() {
        for (text, ms) in
            [("2h", 7_200_000), ("30m", 1_800_000), ("1h30m", 5_400_000), ("1d", 86_400_000), ("500ms", 500)]
        {
            let d = parse_duration(text).unwrap();
            assert_eq!(duration_ms(d), ms, "{text}");
            assert_eq!(format_duration(d), text);
        }
        assert!(parse_duration("-2h").is_err());
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("2y").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn hours_are_for_people() {
        let h = |s| format_hours(parse_duration(s).unwrap());
        assert_eq!(
            [h("48h"), h("1d2h"), h("26h5m"), h("30m"), h("48h4m36s")],
            ["48h", "26h", "26h05m", "30m", "48h04m"]
        );
    }

    #[test]
    fn weights_are_basis_points() {
        assert_eq!(Weight::from_percent(12.25).unwrap().bps(), 1225);
        assert_eq!(Weight::from_percent(100.0).unwrap(), Weight::FULL);
        assert!(Weight::from_percent(100.01).is_err());
        assert!(Weight::from_percent(1.005).is_err());
        assert!(Weight::from_percent(-1.0).is_err());
        assert_eq!(Weight::from_percent(12.5).unwrap().to_string(), "12.5%");
        assert_eq!(Weight::from_percent(0.25).unwrap().to_string(), "0.25%");
        assert_eq!(Weight::from_percent(5.0).unwrap().to_string(), "5%");
    }

    #[test]
    fn timestamps_render_as_utc() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_795_867_200_000).to_string(), "2026-11-28T12:00:00Z");
        assert_eq!(Timestamp(1_795_867_200_000).utc_hour(), 12);
    }
}
