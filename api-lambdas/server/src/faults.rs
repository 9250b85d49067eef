//! Fault knobs for rehearsals and the local demo: extra latency, an error
//! rate, an outage and cold starts, set at start (flags) or at any time
//! through `GET/PUT /_faults`.

use std::sync::Mutex;
use std::time::Duration;

use cutover_base::rng::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Median added latency, ms (log-normal spread, σ = 0.25).
    pub latency_ms: f64,
    /// Share of requests answered 500, 0 to 1.
    pub error_rate: f64,
    /// Every request answered 503.
    pub outage: bool,
    /// Share of requests that are cold starts, 0 to 1.
    pub cold_start_rate: f64,
    /// Extra latency of a cold start, ms.
    pub cold_start_ms: f64,
}

impl Faults {
    /// Every field in range, or the first one that is not, named.
    pub fn check(&self) -> Result<(), String> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} = {v}: a share from 0 to 1"))
            }
        };
        let millis = |name: &str, v: f64| {
            if (0.0..=60_000.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} = {v}: milliseconds from 0 to 60000"))
            }
        };
        share("error_rate", self.error_rate)?;
        share("cold_start_rate", self.cold_start_rate)?;
        millis("latency_ms", self.latency_ms)?;
        millis("cold_start_ms", self.cold_start_ms)
    }
}

/// What happens to one request.
#[derive(Debug, PartialEq)]
pub enum Fate {
    Outage,
    Error,
    Serve { delay: Duration, cold: bool },
}

pub struct FaultState {
    faults: Mutex<Faults>,
    rng: Mutex<Rng>,
}

impl FaultState {
    /// Knobs that draw differently in every process.
    pub fn new(faults: Faults) -> FaultState {
        let seed = cutover_base::random::seed().unwrap_or_else(|_| cutover_base::clock::unix_ms());
        FaultState::seeded(faults, seed)
    }

    /// Knobs whose draws `seed` fixes (tests).
    pub fn seeded(faults: Faults, seed: u64) -> FaultState {
        FaultState { faults: Mutex::new(faults), rng: Mutex::new(Rng::new(seed)) }
    }

    pub fn get(&self) -> Faults {
        self.faults.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    pub fn decide(&self) -> Fate {
        let faults = self.get();
        if faults.outage {
            return Fate::Outage;
        }
        // One lock for the request's draws.
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        if faults.error_rate > 0.0 && rng.chance(faults.error_rate) {
            return Fate::Error;
        }
        let cold = faults.cold_start_rate > 0.0 && rng.chance(faults.cold_start_rate);
        let mut ms = 0.0;
        if faults.latency_ms > 0.0 {
            ms += faults.latency_ms * (0.25 * rng.normal()).exp();
        }
        if cold {
            ms += faults.cold_start_ms;
        }
        Fate::Serve { delay: Duration::from_secs_f64(ms / 1e3), cold }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_latency_follow_the_knobs() {
        let state = FaultState::seeded(Faults { error_rate: 0.2, latency_ms: 30.0, ..Faults::default() }, 17);
        let fates: Vec<Fate> = (0..20_000).map(|_| state.decide()).collect();
        let errors = fates.iter().filter(|f| **f == Fate::Error).count() as f64 / 20_000.0;
        assert!((errors - 0.2).abs() < 0.02, "error share {errors}");
        let mut delays: Vec<f64> = fates
            .iter()
            .filter_map(|f| match f {
                Fate::Serve { delay, .. } => Some(delay.as_secs_f64() * 1e3),
                _ => None,
            })
            .collect();
        delays.sort_by(f64::total_cmp);
        let median = delays[delays.len() / 2];
        assert!((median - 30.0).abs() < 1.5, "median delay {median} ms");
        state.set(Faults { outage: true, ..Faults::default() });
        assert_eq!(state.decide(), Fate::Outage);
    }

    #[test]
    fn out_of_range_knobs_are_named() {
        assert_eq!(
            Faults { error_rate: 1.5, ..Faults::default() }.check().unwrap_err(),
            "error_rate = 1.5: a share from 0 to 1"
        );
        assert!(Faults { latency_ms: -1.0, ..Faults::default() }.check().unwrap_err().starts_with("latency_ms"));
        assert!(Faults::default().check().is_ok());
    }
}
