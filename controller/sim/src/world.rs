//! The simulated traffic: requests generated between the engine's calls, at
//! the weight the edge really had, and measured exactly as asked.

use std::time::Duration;

use cutover_core::measure::{CohortCount, Cohorts, Measurement, PerSide, SideSample, Window};
use cutover_core::units::{Timestamp, Weight};

use crate::model::{Affects, Scenario, SideModel};
use crate::rng::{mix, Rng};

/// One simulated request.
#[derive(Clone, Copy, Debug)]
struct Req {
    /// The user's cohort bucket (user traffic only).
    bucket: u16,
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

/// A side's share at or below which it is "quiet" and gets the quiet-side probe rate.
const QUIET_SHARE_BPS: u16 = 1000;

pub struct World<'s> {
    scenario: &'s Scenario,
    rng: Rng,
    pub now: Timestamp,
    /// The weight the edge really applies.
    pub edge: Weight,
    /// Each user's cohort bucket (0..10 000), when users are modelled.
    user_buckets: Vec<u16>,
    /// Every request so far, in time order: a controller that restarts asks
    /// again for the whole step, as it would ask CloudWatch.
    reqs: Vec<Req>,
    /// `(from, first request)` of each generated slice. The world is run up
    /// to every instant the engine is called at, and windows start and end at
    /// such instants, so a window is always a whole number of slices.
    slices: Vec<(Timestamp, usize)>,
    /// New-side user requests since the new side's own fault began.
    pub exposed: u64,
    /// Set once the rollback is decided; exposure stops counting then.
    pub exposure_closed: bool,
}

impl<'s> World<'s> {
    /// A world whose traffic begins `history` before the scenario's start,
    /// all of it on the old side (what the judge's lookback reads).
    pub fn new(scenario: &'s Scenario, mut rng: Rng, history: Duration) -> World<'s> {
        let user_buckets = match scenario.users {
            Some(u) => {
                let mut buckets = rng.fork(7);
                (0..u.count).map(|_| buckets.below(10_000) as u16).collect()
            }
            None => Vec::new(),
        };
        World {
            scenario,
            rng,
            now: Timestamp::from_ms(scenario.start.as_ms().saturating_sub(history.as_millis() as u64)),
            edge: Weight::ZERO,
            user_buckets,
            reqs: Vec::new(),
            slices: Vec::new(),
            exposed: 0,
            exposure_closed: false,
        }
    }

    pub fn regression_at(&self) -> Option<Timestamp> {
        self.scenario.regression_at().map(|at| self.scenario.start + at)
    }

    /// How one side answers at `t`: its model, every fault active then, and the load.
    fn sampler(&self, serverless: bool, t: Timestamp) -> Sampler {
        let s = self.scenario;
        let mut model = if serverless { s.serverless.clone() } else { s.legacy.clone() };
        let since = t.since(s.start);
        // Faults are the scenario's story, which begins at its start.
        let story = if t >= s.start { &s.faults[..] } else { &[] };
        for f in story.iter().filter(|f| f.affects.hits(serverless)) {
            let strength = f.strength(since);
            if strength > 0.0 {
                model = f.kind.apply(&model, strength);
            }
        }
        let mut sampler = Sampler::from(&model);
        if s.latency_load_slope != 0.0 {
            let load = s.traffic.per_minute(t) / s.traffic.mean_per_minute().max(1e-9);
            sampler.ln_p50 += (1.0 + s.latency_load_slope * (load - 1.0)).max(0.05).ln();
        }
        sampler
    }

    /// Whether a fault of the new side alone is acting at `t` (after its
    /// end, or between flaps, its users are served well: not exposed).
    fn new_side_faulted(&self, t: Timestamp) -> bool {
        let since = t.since(self.scenario.start);
        t >= self.scenario.start
            && self.scenario.faults.iter().any(|f| f.affects == Affects::Serverless && f.strength(since) > 0.0)
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
        let (since_from, since_to) = (from.since(s.start), to.since(s.start));
        // A slice in which some fault starts, ends or flaps is sampled
        // request by request at each request's own time.
        let jumps = s.faults.iter().any(|f| f.jumps_within(since_from, since_to));
        let at_start = [self.sampler(false, from), self.sampler(true, from)];
        let minutes = to.since(from).as_secs_f64() / 60.0;
        let n = self.rng.poisson(s.traffic.per_minute(from) * minutes);
        let span_ms = to.as_ms() - from.as_ms();
        let weight = self.edge;
        let n_new = if s.users.is_some() { 0 } else { self.rng.binomial(n, weight.fraction()) };
        for i in 0..n {
            let (serverless, sick, bucket) = match s.users {
                Some(u) => {
                    let user = self.rng.below(u64::from(u.count.max(1))) as usize;
                    let bucket = self.user_buckets.get(user).copied().unwrap_or(0);
                    (bucket < weight.bps(), (user as u32) < u.sick, bucket)
                }
                // Every request its own user: a bucket on its side of the
                // weight, from a hash (drawing it would change every
                // other scenario's random stream).
                None => {
                    let serverless = i < n_new;
                    let (lo, span) = if serverless { (0, weight.bps()) } else { (weight.bps(), 10_000 - weight.bps()) };
                    let h = mix(from.as_ms() ^ i.rotate_left(32));
                    (serverless, false, lo + (h % u64::from(span.max(1))) as u16)
                }
            };
            let at = if jumps { Timestamp::from_ms(from.as_ms() + self.rng.below(span_ms)) } else { from };
            let mut sampler = if jumps { self.sampler(serverless, at) } else { at_start[usize::from(serverless)] };
            if sick {
                let rate = s.users.map_or(0.0, |u| u.sick_error_rate);
                sampler.error_rate = sampler.error_rate.max(rate);
            }
            if serverless && !self.exposure_closed && self.new_side_faulted(at) {
                self.exposed += 1;
            }
            let req = sample(&mut self.rng, &sampler, serverless, false);
            self.reqs.push(Req { bucket, ..req });
        }
        // Probes fire on every whole minute, pinned, more of them to a quiet side.
        let quiet = s.quiet_side_probes_per_minute.max(s.probes_per_minute);
        let per_side = |share_bps: u16| if share_bps <= QUIET_SHARE_BPS { quiet } else { s.probes_per_minute };
        let (old_probes, new_probes) = (per_side(10_000 - weight.bps()), per_side(weight.bps()));
        for minute in from.as_ms().div_ceil(60_000)..to.as_ms().div_ceil(60_000) {
            let at = Timestamp::from_ms(minute * 60_000);
            let (old, new) = (self.sampler(false, at), self.sampler(true, at));
            for _ in 0..old_probes {
                let r = sample(&mut self.rng, &old, false, true);
                self.reqs.push(r);
            }
            for _ in 0..new_probes {
                let r = sample(&mut self.rng, &new, true, true);
                self.reqs.push(r);
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
        // Per side, each user request as `bucket << 1 | failed`: sorting
        // plain integers is what makes per-bucket counts cheap.
        let mut cohorts: [Vec<u32>; 2] = Default::default();
        for r in &self.reqs[first..end.max(first)] {
            if self.scenario.cohort_evidence && !r.probe {
                cohorts[usize::from(r.serverless)].push(u32::from(r.bucket) << 1 | u32::from(r.error));
            }
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
        if self.scenario.cohort_evidence {
            let [legacy, serverless] = cohorts.map(|mut keys| {
                keys.sort_unstable();
                let one = |k: u32| CohortCount {
                    bucket: (k >> 1) as u16,
                    requests: 1,
                    errors: u64::from(k & 1),
                    client_errors: 0,
                };
                Cohorts::from_unsorted(keys.into_iter().map(one).collect())
            });
            m.cohorts = Some(PerSide { legacy, serverless });
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
    Req { bucket: 0, serverless, probe, cold, error, ln_latency_ms: ln_latency_ms as f32 }
}

/// Uniform in `[lo, hi]`.
pub fn uniform(rng: &mut Rng, (lo, hi): (Duration, Duration)) -> Duration {
    let span = hi.saturating_sub(lo).as_millis() as u64;
    lo + Duration::from_millis(if span == 0 { 0 } else { rng.below(span + 1) })
}
