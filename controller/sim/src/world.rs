//! The simulated traffic: requests generated between the engine's calls, at
//! the weight the edge really had, and measured exactly as asked.

use std::time::Duration;

use cutover_core::measure::{Measurement, SideSample, Window};
use cutover_core::units::{Timestamp, Weight};

use crate::model::{Scenario, SideModel};
use crate::rng::Rng;

/// One simulated request.
#[derive(Clone, Copy, Debug)]
struct Req {
    serverless: bool,
    probe: bool,
    cold: bool,
    error: bool,
    /// `ln(latency in ms)`: the lognormal sampler's native form.
    ln_latency_ms: f32,
}

/// A side model prepared for sampling millions of requests.
#[derive(Clone, Copy, Debug)]
struct Sampler {
    ln_p50: f64,
    sigma: f64,
    error_rate: f64,
    cold_start_rate: f64,
    cold_start_ms_p50: f64,
}

impl From<&SideModel> for Sampler {
    fn from(m: &SideModel) -> Sampler {
        Sampler {
            ln_p50: m.latency_ms_p50.ln(),
            sigma: m.latency_sigma,
            error_rate: m.error_rate,
            cold_start_rate: m.cold_start_rate,
            cold_start_ms_p50: m.cold_start_ms_p50,
        }
    }
}

pub struct World<'s> {
    scenario: &'s Scenario,
    legacy: Sampler,
    serverless: Sampler,
    regressed: Sampler,
    rng: Rng,
    pub now: Timestamp,
    /// The weight the edge really applies.
    pub edge: Weight,
    /// Every request so far, in time order: a controller that restarts asks
    /// again for the whole step, as it would ask CloudWatch.
    reqs: Vec<Req>,
    /// `(from, first request)` of each generated slice. The world is run up
    /// to every instant the engine is called at, and windows start and end at
    /// such instants, so a window is always a whole number of slices.
    slices: Vec<(Timestamp, usize)>,
    /// New-side user requests since the regression began.
    pub exposed: u64,
    /// Set once the rollback is decided; exposure stops counting then.
    pub exposure_closed: bool,
}

impl<'s> World<'s> {
    pub fn new(scenario: &'s Scenario, rng: Rng) -> World<'s> {
        let regressed =
            scenario.regression.map_or_else(|| scenario.serverless.clone(), |r| r.kind.apply(&scenario.serverless));
        World {
            scenario,
            legacy: Sampler::from(&scenario.legacy),
            serverless: Sampler::from(&scenario.serverless),
            regressed: Sampler::from(&regressed),
            rng,
            now: scenario.start,
            edge: Weight::ZERO,
            reqs: Vec::new(),
            slices: Vec::new(),
            exposed: 0,
            exposure_closed: false,
        }
    }

    pub fn regression_at(&self) -> Option<Timestamp> {
        self.scenario.regression.map(|r| self.scenario.start + r.at)
    }

    /// Generates the traffic of `[self.now, to)` at the current edge weight.
    pub fn run_until(&mut self, to: Timestamp) {
        if to <= self.now {
            return;
        }
        let from = self.now;
        self.now = to;
        self.slices.push((from, self.reqs.len()));
        let s = self.scenario;
        let onset = self.regression_at();
        let regressed = |at: Timestamp| onset.is_some_and(|r| at >= r);
        let minutes = to.since(from).as_secs_f64() / 60.0;
        let n = self.rng.poisson(s.traffic.per_minute(from) * minutes);
        let n_new = self.rng.binomial(n, self.edge.fraction());
        let span_ms = to.as_ms() - from.as_ms();
        // Only a slice the regression begins inside needs each request's time.
        let onset_inside = onset.is_some_and(|r| r > from && r < to);
        for i in 0..n {
            let serverless = i < n_new;
            let at = if onset_inside { Timestamp::from_ms(from.as_ms() + self.rng.below(span_ms)) } else { from };
            let model = match (serverless, regressed(at)) {
                (false, _) => &self.legacy,
                (true, false) => &self.serverless,
                (true, true) => {
                    if !self.exposure_closed {
                        self.exposed += 1;
                    }
                    &self.regressed
                }
            };
            let req = sample(&mut self.rng, model, serverless, false);
            self.reqs.push(req);
        }
        // Probes fire on every whole minute, one per side, pinned.
        for minute in from.as_ms().div_ceil(60_000)..to.as_ms().div_ceil(60_000) {
            let at = Timestamp::from_ms(minute * 60_000);
            let new_model = if regressed(at) { &self.regressed } else { &self.serverless };
            for _ in 0..s.probes_per_minute {
                let legacy = sample(&mut self.rng, &self.legacy, false, true);
                let serverless = sample(&mut self.rng, new_model, true, true);
                self.reqs.push(legacy);
                self.reqs.push(serverless);
            }
        }
    }

    /// Everything generated in `window` (any window, however old).
    pub fn measure(&mut self, window: Window) -> Measurement {
        self.run_until(window.to);
        let mut m = Measurement::default();
        let slice_at = |t: Timestamp| {
            let i = self.slices.partition_point(|(from, _)| *from < t);
            self.slices.get(i).map_or(self.reqs.len(), |(_, start)| *start)
        };
        let (first, end) = (slice_at(window.from), slice_at(window.to));
        for r in &self.reqs[first..end.max(first)] {
            let side: &mut SideSample = match (r.probe, r.serverless) {
                (false, false) => &mut m.traffic.legacy,
                (false, true) => &mut m.traffic.serverless,
                (true, false) => &mut m.probes.legacy,
                (true, true) => &mut m.probes.serverless,
            };
            side.requests += 1;
            if r.cold {
                side.cold_starts += 1;
            }
            if r.error {
                side.errors += 1;
            } else if r.cold {
                side.cold_latency_ms.record_ln(f64::from(r.ln_latency_ms));
            } else {
                side.latency_ms.record_ln(f64::from(r.ln_latency_ms));
            }
        }
        m
    }
}

fn sample(rng: &mut Rng, m: &Sampler, serverless: bool, probe: bool) -> Req {
    let cold = m.cold_start_rate > 0.0 && rng.chance(m.cold_start_rate);
    let error = rng.chance(m.error_rate);
    let mut ln_latency_ms = m.ln_p50 + m.sigma * rng.normal();
    if cold {
        let cold_ms = m.cold_start_ms_p50 * (0.3 * rng.normal()).exp();
        ln_latency_ms = (ln_latency_ms.exp() + cold_ms).ln();
    }
    Req { serverless, probe, cold, error, ln_latency_ms: ln_latency_ms as f32 }
}

/// Uniform in `[lo, hi]`.
pub fn uniform(rng: &mut Rng, (lo, hi): (Duration, Duration)) -> Duration {
    let span = hi.saturating_sub(lo).as_millis() as u64;
    lo + Duration::from_millis(if span == 0 { 0 } else { rng.below(span + 1) })
}
