//! The simulated world: traffic, the two sides, the edge, the sources, and
//! the regression injected into the new side.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use cutover_core::units::{parse_duration, Timestamp};

/// User traffic: requests per day with a diurnal cycle.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    pub requests_per_day: f64,
    /// 0 = flat; 0.6 = the busiest hour sees 1.6x the average, the quietest 0.4x.
    pub diurnal_amplitude: f64,
    /// The busiest hour of the day, UTC.
    pub peak_hour_utc: f64,
}

impl Traffic {
    /// Requests per minute at `t`.
    pub fn per_minute(&self, t: Timestamp) -> f64 {
        let hour = (t.as_ms() % 86_400_000) as f64 / 3_600_000.0;
        let phase = 2.0 * std::f64::consts::PI * (hour - self.peak_hour_utc) / 24.0;
        self.requests_per_day / 1440.0 * (1.0 + self.diurnal_amplitude * phase.cos())
    }
}

/// How one side answers: lognormal warm latency, errors, cold starts.
#[derive(Clone, Debug, PartialEq)]
pub struct SideModel {
    pub latency_ms_p50: f64,
    /// Lognormal shape; p99 = p50 * exp(2.326 * sigma).
    pub latency_sigma: f64,
    pub error_rate: f64,
    pub cold_start_rate: f64,
    /// Extra latency of a cold start (median; lognormal, sigma 0.3).
    pub cold_start_ms_p50: f64,
}

impl SideModel {
    /// ALB → EC2 Express, warm end to end ~38 ms (the reference migration).
    pub fn legacy() -> SideModel {
        SideModel {
            latency_ms_p50: 38.0,
            latency_sigma: 0.35,
            error_rate: 0.005,
            cold_start_rate: 0.0,
            cold_start_ms_p50: 0.0,
        }
    }

    /// API Gateway → Lambda, warm end to end ~31 ms; 1 % cold starts of
    /// ~250 ms (the reference Node.js figure; Rust handlers start faster).
    pub fn serverless() -> SideModel {
        SideModel {
            latency_ms_p50: 31.0,
            latency_sigma: 0.35,
            error_rate: 0.005,
            cold_start_rate: 0.01,
            cold_start_ms_p50: 250.0,
        }
    }
}

/// What goes wrong with the new side, from `at` (time since the run began).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regression {
    pub kind: RegressionKind,
    pub at: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RegressionKind {
    /// Error rate up by this many percentage points.
    ErrorsPlusPp(f64),
    /// p99 multiplied, p50 unchanged (a fatter tail).
    P99Times(f64),
    /// The whole distribution multiplied (p50 and p99 alike).
    P50Times(f64),
    /// Every request to the new side fails.
    Outage,
}

impl RegressionKind {
    pub fn apply(self, m: &SideModel) -> SideModel {
        let mut m = m.clone();
        match self {
            RegressionKind::ErrorsPlusPp(pp) => m.error_rate = (m.error_rate + pp / 100.0).min(1.0),
            RegressionKind::P99Times(y) => m.latency_sigma += y.ln() / 2.326,
            RegressionKind::P50Times(y) => m.latency_ms_p50 *= y,
            RegressionKind::Outage => m.error_rate = 1.0,
        }
        m
    }
}

impl fmt::Display for Regression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = cutover_core::units::format_hours(self.at);
        match self.kind {
            RegressionKind::ErrorsPlusPp(pp) => write!(f, "errors+{pp}pp@{at}"),
            RegressionKind::P99Times(y) => write!(f, "p99x{y}@{at}"),
            RegressionKind::P50Times(y) => write!(f, "p50x{y}@{at}"),
            RegressionKind::Outage => write!(f, "outage@{at}"),
        }
    }
}

impl FromStr for Regression {
    type Err = String;

    /// `errors+5pp@20h`, `p99x1.5@10h`, `p50x1.2@30m`, `outage@2h`.
    fn from_str(s: &str) -> Result<Regression, String> {
        const FORMS: &str = "use errors+Npp@T, p99xN@T, p50xN@T or outage@T (e.g. errors+5pp@20h)";
        let (what, at) = s.split_once('@').ok_or_else(|| format!("\"{s}\" has no @TIME; {FORMS}"))?;
        let at = parse_duration(at).map_err(|e| format!("the time in \"{s}\": {e}"))?;
        let number = |text: &str| -> Result<f64, String> {
            text.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| format!("\"{text}\" in \"{s}\" is not a positive number"))
        };
        let kind = if what == "outage" {
            RegressionKind::Outage
        } else if let Some(pp) = what.strip_prefix("errors+").and_then(|r| r.strip_suffix("pp")) {
            let pp = number(pp)?;
            if pp > 100.0 {
                return Err(format!("errors+{pp}pp: at most 100 percentage points"));
            }
            RegressionKind::ErrorsPlusPp(pp)
        } else if let Some(y) = what.strip_prefix("p99x") {
            RegressionKind::P99Times(number(y)?)
        } else if let Some(y) = what.strip_prefix("p50x") {
            RegressionKind::P50Times(number(y)?)
        } else {
            return Err(format!("unknown regression \"{what}\"; {FORMS}"));
        };
        Ok(Regression { kind, at })
    }
}

/// Everything about a simulated run except the plan and the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub start: Timestamp,
    pub traffic: Traffic,
    pub legacy: SideModel,
    pub serverless: SideModel,
    pub regression: Option<Regression>,
    /// Synthetic probes per side per minute, pinned to each side.
    pub probes_per_minute: u32,
    /// Time from ApplyWeight to the edge's answer (uniform in the range).
    pub edge_delay: (Duration, Duration),
    /// Chance that one apply fails, and that it conflicts.
    pub edge_failure_rate: f64,
    pub edge_conflict_rate: f64,
    /// Time from Measure to its answer, and the chance a source fails.
    pub measure_delay: Duration,
    pub measure_failure_rate: f64,
    /// Chance that the controller dies right after a persist: the rest of the
    /// batch is lost and a new engine restores from the store.
    pub crash_rate: f64,
    /// How long past the plan's own length the run may go on.
    pub overtime: Duration,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            // 2026-11-28T12:00:00Z: a Saturday noon; only hours matter.
            start: Timestamp::from_ms(1_795_867_200_000),
            traffic: Traffic { requests_per_day: 100_000.0, diurnal_amplitude: 0.6, peak_hour_utc: 15.0 },
            legacy: SideModel::legacy(),
            serverless: SideModel::serverless(),
            regression: None,
            probes_per_minute: 1,
            edge_delay: (Duration::from_secs(2), Duration::from_secs(20)),
            edge_failure_rate: 0.02,
            edge_conflict_rate: 0.01,
            measure_delay: Duration::from_secs(30),
            measure_failure_rate: 0.002,
            crash_rate: 0.0,
            overtime: Duration::from_secs(24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regressions_parse_and_print_back() {
        for text in ["errors+5pp@20h", "p99x1.5@10h", "p50x1.2@30m", "outage@2h"] {
            let r: Regression = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        assert!("errors+5@20h".parse::<Regression>().is_err());
        assert!("outage".parse::<Regression>().is_err());
        assert!("p99x-1@1h".parse::<Regression>().is_err());
        assert!("errors+500pp@1h".parse::<Regression>().is_err());
    }

    #[test]
    fn traffic_averages_to_the_daily_rate() {
        let t = Traffic { requests_per_day: 100_000.0, diurnal_amplitude: 0.6, peak_hour_utc: 15.0 };
        let day: f64 = (0..1440).map(|m| t.per_minute(Timestamp::from_ms(m * 60_000))).sum();
        assert!((day / 100_000.0 - 1.0).abs() < 1e-9, "{day}");
    }
}
