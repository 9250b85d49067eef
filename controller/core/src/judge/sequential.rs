//! The sequential judge: anytime-valid tests on every request, restarted at
//! each step, so the engine may look after every window without inflating
//! the chance of rolling back a healthy cutover.
//!
//! Each check is an e-process: a nonnegative supermartingale under "the new
//! side is no worse", built as a mixture of likelihood ratios over a grid of
//! one-sided alternatives. By Ville's inequality the chance that it *ever*
//! reaches `1 / a` under the null is at most `a`, however often it is looked
//! at. The plan's `alpha` is split evenly across steps, and within a step
//! half to `error_rate`, 5 % to `client_errors` and 11.25 % to each other
//! check (see [`SHARES`]);
//! the union bound keeps the whole cutover's false-rollback chance under
//! `alpha`. Each step starts tests of its own, and the previous step's keep
//! running beside them on their own share of alpha (an e-process's bound
//! holds for ever, so running on costs nothing): a regression that began
//! late in a step keeps the evidence it gathered there. A check fails the
//! first time either reaches its threshold and stays failed for the step. Each
//! likelihood ratio is floored (see [`Floored`]) so that a regression that
//! starts late in a long, healthy step is not buried under hours of evidence
//! for the null; the floor costs `ln 4` on the threshold.
//!
//! - `error_rate` is the average of two e-processes (an average of
//!   e-processes is one):
//!   - the *count test* (Lindon & Malek): given that a window's stratum
//!     (user traffic, or probes) saw `e` errors, under the null each lands
//!     on the new side with probability `p0 = n_new / (n_new + n_old)`, its
//!     share of the stratum's requests. It compares the two sides over the
//!     same minutes, so a failure both share moves nothing; odds ratios
//!     1.5–30.
//!   - the *reference test*: null "the new side's error rate is at most the
//!     old side's rate over the plan's `lookback` before the start and the
//!     cutover so far (an upper bound of it, per stratum) plus half of
//!     `max_increase_pp`", alternatives from 1.5× that
//!     to 90 %. It needs no old-side requests in the same minutes, which is
//!     what judges the 100 % step (the old side has only probes there) and
//!     an outage at 1 % (~5 nats per failed request). Minutes in which the
//!     old side itself failed (see *shared failures*) are left out of it.
//!
//!   A fail also needs the step's observed increase (against the old side in
//!   the step, or its reference rate when the step has too few old-side
//!   requests) to reach `max_increase_pp`, so a significant but negligible
//!   increase never rolls back.
//! - **Shared failures.** A window in which the old side's errors are far
//!   above its own reference (more than `ln 100` nats of evidence, at least
//!   2 pp more, two errors at least) is a failure both sides may share. For
//!   that window and the next [`SHARED_LINGER`], the reference test and the
//!   old side's reference leave it out, and the analysis says so
//!   (`shared_failure`): the engine holds the step, and pauses it when it
//!   lasts. A window whose old side looks bad at all (`ln 5`, in a stratum
//!   or in both together) is left out of the reference test too: probes fire at the same
//!   instants on both sides, so one old-side probe failing beside the new
//!   side's is the sharpest sign there is. The count test still runs, so a
//!   new side failing *more* than the old one is still caught. The gates
//!   depend only on the old side's requests, which are independent of the
//!   new side's, so leaving windows out never raises the chance of a false
//!   rollback.
//! - **Chronic cohorts.** Users are sticky: all of one user's requests land
//!   on one side, so a user who fails whichever side serves them (a broken
//!   client, bad data) raises the new side's rate the day their bucket
//!   crosses the weight, and the tests above, which assume requests fail
//!   independently, call that a regression (3 of 300 users failing 30 %
//!   rolled back 29 % of healthy cutovers). When the source knows each user
//!   request's cohort bucket (`Measurement::cohorts`: the local edge, the
//!   simulator, the edge's real-time logs in AWS mode), the judge keeps what each whole percent of the bucket
//!   space (about 1 % of the users) did on the old side, the lookback
//!   included. A percent whose own past shows at least twice the old
//!   side's rate, with `ln 100` nats of evidence in three failed requests or
//!   more, is *chronic* (at `ln 20` chance excesses among a hundred
//!   percents left enough healthy users out to slow the tests by minutes): its users are left out of the user stratum's
//!   tests on both sides (and out of the increase a fail must reach). 4xx
//!   have chronic percents of their own. Which percents are chronic is
//!   decided on the windows before, never on the outcomes it leaves out,
//!   so the count test's ratio is still a likelihood ratio; the reference
//!   test's rate, pooled over the percents that are not chronic, comes out
//!   a little lower than all users' (a percent is chronic for a high past),
//!   a strictness its upper bound and margin absorb. Users alike keep the
//!   side-against-side power; a user who starts failing only after moving
//!   is, as far as anything can tell, the new side's fault. Without
//!   cohorts (CloudWatch's counts per side alone) users are judged as before.
//! - `latency_p50`, `latency_p99`: the allowance is the old side's quantile
//!   (all legacy user requests of the lookback and the cutover so far, fixed before each
//!   window), scaled by the *load factor* — the old side's median over the
//!   last half hour (or, when it has too few requests then, at the same UTC
//!   hour earlier in the cutover) against its median over the cutover — and
//!   widened by `max_ratio` / `max_extra_ms`. So latency that rises with
//!   load on both sides moves the allowance with it. Under the null at most
//!   `1 - q` of new-side warm requests exceed it; the test is a one-sided
//!   mixture SPRT on that share (alternatives 1.5–10× it). Probes are a
//!   second stratum, held to allowances from the old side's *probes* (their
//!   route is not the users'), once those number 1000; both strata feed one
//!   mixture, each alternative betting the same multiple of the null share
//!   in each, so their evidence adds. (A second test
//!   at the 99.9th percentile was tried: it caught `p99 ×2` from the 10 %
//!   step sooner, but also rolled back 30 % of runs whose p99 stayed inside
//!   the allowance, since a fatter tail leaves p99.9 first. A check named
//!   p99 judges p99.)
//! - `client_errors`: the count test on 4xx answers, side against side in
//!   the same minutes (no reference to the past: how often clients err
//!   depends on the clients); a fail needs the step's increase to reach
//!   `client_errors.max_increase_pp`. Non-critical by default.
//! - `cold_start_p99`: the same test on the share of cold starts slower than
//!   `max_p99_ms` (null: at most 1 %).
//! - `cold_start_share`: the same test on the share of new-side requests
//!   that met a cold start (null: at most `max_share`).
//!
//! **Pass** means: at least `min_samples` requests on each side in this step
//! (and, for latency, at least `min_samples` warm new-side requests, users'
//! or probes judged against the old side's probes, and a baseline of 1000
//! old-side ones), and no check's e-value has reached its
//! threshold. Too few samples is Inconclusive — but a Fail needs no minimum:
//! the e-value is valid at any sample size, which is what lets an outage at a
//! 1 % step roll back within minutes.

use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::measure::{Cohorts, Histogram, SideSample};
use crate::plan::{Guardrails, LatencyCheck, Plan};

/// Odds ratios (new-side error rate / old-side) the count test bets on.
const ERROR_ODDS: [f64; 6] = [1.5, 2.0, 3.0, 5.0, 10.0, 30.0];
/// The reference test bets on these multiples of its null rate, and on
/// these absolute rates (outages).
const REFERENCE_MULTIPLES: [f64; 5] = [1.5, 2.0, 3.0, 5.0, 10.0];
const REFERENCE_RATES: [f64; 2] = [0.5, 0.9];
const REFERENCE_ALTS: usize = REFERENCE_MULTIPLES.len() + REFERENCE_RATES.len();
/// Alternatives of the exceedance tests, as multiples of the null share.
const EXCEED_MULTIPLES: [f64; 5] = [1.5, 2.0, 3.0, 5.0, 10.0];
/// Old-side warm requests needed before its quantiles are trusted.
pub const BASELINE_MIN: u64 = 1000;
/// Old-side requests a load factor is read from, and over how long.
const LOAD_MIN: u64 = 300;
const LOAD_SPAN_MS: u64 = 30 * 60_000;
/// A shared failure: the old side's window, against its reference, carries
/// at least this much evidence (nats) and this much excess rate, in at
/// least two failed requests (one failed probe says little).
const SHARED_EVIDENCE: f64 = 4.605; // ln 100
const SHARED_MIN_EXCESS: f64 = 0.02;
/// Less evidence leaves a window out of the reference test (losing a
/// window costs little; judging a shared failure costs a rollback).
const SHARED_GATE_EVIDENCE: f64 = 1.609; // ln 5
/// Windows after a shared failure that are treated as part of it.
const SHARED_LINGER: u32 = 3;

/// Each check's share of a step's alpha.
pub const SHARES: [(CheckName, f64); 6] = [
    (CheckName::ErrorRate, 0.5),
    (CheckName::ClientErrors, 0.05),
    (CheckName::LatencyP50, 0.1125),
    (CheckName::LatencyP99, 0.1125),
    (CheckName::ColdStartP99, 0.1125),
    (CheckName::ColdStartShare, 0.1125),
];

/// `ln(Σ exp(x_k) / K)`: the log of an equal-weight mixture.
fn log_mean_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + (xs.iter().map(|x| (x - max).exp()).sum::<f64>() / xs.len() as f64).ln()
}

/// Log-likelihood ratios of `K` alternatives, each floored at `-floor` nats.
///
/// A plain mixture started at the step's beginning is useless for a change
/// that comes late: hours of healthy requests bury each component tens or
/// hundreds of nats deep (we measured -160 for `latency_p50` thirty minutes
/// into the 10 % step). Flooring bounds the burial. It costs little: with
/// `D_t` the mixture of the floored ratios, `E[D_t | past] <= D_(t-1) +
/// e^-floor` under the null, so `D_t + (T - t) e^-floor` is a nonnegative
/// supermartingale up to window `T`, and Ville's inequality gives
/// `P(max D_t >= h) <= (1 + T e^-floor) / h`. See [`floored_log_threshold`].
#[derive(Clone, Debug)]
pub(crate) struct Floored<const K: usize> {
    log_lr: [f64; K],
    floor: f64,
}

impl<const K: usize> Floored<K> {
    pub(crate) fn new(floor: f64) -> Self {
        Floored { log_lr: [0.0; K], floor }
    }

    fn add(&mut self, k: usize, inc: f64) {
        // `max` would turn a NaN into the floor: evidence for the null.
        debug_assert!(!inc.is_nan(), "a NaN likelihood ratio for alternative {k}");
        self.log_lr[k] = (self.log_lr[k] + inc).max(-self.floor);
    }

    pub(crate) fn log_e(&self) -> f64 {
        log_mean_exp(&self.log_lr)
    }
}

/// The threshold (in nats) a floored e-process with floor `ln(4 × horizon)`
/// (up to two floored increments a window, one per stratum) must
/// reach after `windows` windows for a false alarm chance of at most `a`,
/// given `ln(1 / a)`. Windows are counted in blocks that double past the
/// horizon, block `k` getting `a / 2^(k+1)`: `ln(2^(k+1) (1 + 2^k) / a)`, so
/// `ln(4 / a)` within the horizon and valid however long a step runs.
pub(crate) fn floored_log_threshold(log_one_over_a: f64, horizon: u64, windows: u64) -> f64 {
    let (t, n) = (horizon.max(1) as f64, windows as f64);
    let k = if n <= t { 0.0 } else { (n / t).log2().ceil() };
    log_one_over_a + (k + 1.0) * std::f64::consts::LN_2 + (1.0 + k.exp2()).ln()
}

/// The log-likelihood ratio of `e` failures in `n` Bernoulli trials, rate
/// `p1` against `p0` (a term with no trials counts 0, even where its
/// logarithm is infinite).
fn bernoulli_llr(n: f64, e: f64, p1: f64, p0: f64) -> f64 {
    let term = |count: f64, ratio: f64| if count > 0.0 { count * ratio.ln() } else { 0.0 };
    term(e, p1 / p0) + term(n - e, (1.0 - p1) / (1.0 - p0))
}

/// Lindon–Malek: where do a window's errors land?
#[derive(Clone, Debug)]
pub(crate) struct ErrorCountTest {
    ev: Floored<{ ERROR_ODDS.len() }>,
}

impl ErrorCountTest {
    pub(crate) fn new(floor: f64) -> Self {
        ErrorCountTest { ev: Floored::new(floor) }
    }

    /// One stratum of one window: requests and errors per side.
    pub(crate) fn observe(&mut self, n_old: u64, e_old: u64, n_new: u64, e_new: u64) {
        if n_old == 0 || n_new == 0 || e_old + e_new == 0 {
            return; // no information about where errors land
        }
        let (n_old, n_new) = (n_old as f64, n_new as f64);
        let p0 = n_new / (n_new + n_old);
        for (k, theta) in ERROR_ODDS.into_iter().enumerate() {
            let p1 = theta * n_new / (theta * n_new + n_old);
            self.ev.add(k, e_new as f64 * (p1 / p0).ln() + e_old as f64 * ((1.0 - p1) / (1.0 - p0)).ln());
        }
    }

    pub(crate) fn log_e(&self) -> f64 {
        self.ev.log_e()
    }
}

/// Is the new side worse than the old side has been? Null: its error rate
/// is at most `r0`, given per window.
#[derive(Clone, Debug)]
pub(crate) struct ReferenceTest {
    ev: Floored<REFERENCE_ALTS>,
}

impl ReferenceTest {
    pub(crate) fn new(floor: f64) -> Self {
        ReferenceTest { ev: Floored::new(floor) }
    }

    /// `e` of `n` new-side requests failed; `r0` bounds the rate under the null.
    pub(crate) fn observe(&mut self, n: u64, e: u64, r0: f64) {
        if n == 0 {
            return;
        }
        let (n, e) = (n as f64, e.min(n) as f64);
        let alts = REFERENCE_MULTIPLES.map(|m| (m * r0).min(0.95)).into_iter().chain(REFERENCE_RATES);
        for (k, r1) in alts.enumerate() {
            if r1 > r0 {
                self.ev.add(k, bernoulli_llr(n, e, r1, r0));
            }
        }
    }

    pub(crate) fn log_e(&self) -> f64 {
        self.ev.log_e()
    }
}

/// One-sided mixture SPRT for a Bernoulli share: null `share <= null`.
#[derive(Clone, Debug)]
pub(crate) struct ExceedanceTest {
    null: f64,
    alts: [f64; EXCEED_MULTIPLES.len()],
    ev: Floored<{ EXCEED_MULTIPLES.len() }>,
}

impl ExceedanceTest {
    pub(crate) fn new(null: f64, floor: f64) -> Self {
        let alts = EXCEED_MULTIPLES.map(|m| (null * m).min(0.5 * (1.0 + null)).max(null + 1e-9));
        ExceedanceTest { null, alts, ev: Floored::new(floor) }
    }

    /// `k` of `n` new observations exceeded the allowance.
    pub(crate) fn observe(&mut self, n: u64, k: u64) {
        let (n, k) = (n as f64, k.min(n) as f64);
        for (i, p1) in self.alts.into_iter().enumerate() {
            self.ev.add(i, bernoulli_llr(n, k, p1, self.null));
        }
    }

    pub(crate) fn log_e(&self) -> f64 {
        self.ev.log_e()
    }
}

/// Errors and requests: a rate with an upper bound.
#[derive(Clone, Copy, Debug, Default)]
struct Rate {
    requests: u64,
    errors: u64,
}

impl Rate {
    fn add(&mut self, s: &SideSample) {
        self.add_counts(s.requests, s.errors);
    }

    fn add_counts(&mut self, requests: u64, errors: u64) {
        self.requests += requests;
        self.errors += errors;
    }

    /// The plain rate in percent, `None` without requests.
    fn percent(self) -> Option<f64> {
        (self.requests > 0).then(|| 100.0 * self.errors as f64 / self.requests as f64)
    }

    /// A smoothed estimate (a Jeffreys-like prior keeps it off 0).
    fn estimate(self) -> f64 {
        (self.errors as f64 + 0.5) / (self.requests as f64 + 1.0)
    }

    /// An upper bound that holds at every look, not only at one: the
    /// estimate plus an iterated-logarithm multiple of its standard error
    /// (a stitched boundary after Howard et al. 2021, at 0.1 %) and a
    /// small-sample term; loose when few requests were seen. The variance
    /// is the estimate's own, so the bound is approximate for tiny rates,
    /// which the small-sample term and the test's margin cover.
    fn upper(self) -> f64 {
        let (r, n) = (self.estimate(), self.requests as f64 + 1.0);
        let z2 = 2.0 * (1.4 * (2.0 * n).ln().max(1.0).ln() + (5.2f64 / 0.001).ln());
        (r + (z2 * r * (1.0 - r) / n).sqrt() + z2 / (2.0 * n)).min(0.99)
    }
}

/// Sample sizes and estimates of the current step.
#[derive(Clone, Debug, Default)]
struct StepTotals {
    /// Traffic and probes together, per side.
    totals: PerSide<SideSample>,
    /// What the error tests judged, per side (users of chronically
    /// failing cohorts left out), for the increase a fail must reach:
    /// requests and 5xx, requests and 4xx.
    judged: PerSide<[Rate; 2]>,
    /// New-side warm user requests, for the new side's quantile estimates.
    new_warm: Histogram,
    /// New-side warm probes judged against the old side's probes: evidence
    /// too, so a step no user landed in (a few users, a 1 % step) is not
    /// held for ever.
    new_probes_judged: u64,
}

/// One step's tests. Each step starts its own (a union over the steps'
/// alphas): measured on the benchmark, a fresh start at each step detects a
/// regression that begins early in a step ~20 % sooner than one floored test
/// over the whole cutover, which pays `ln(plan windows)` of burial once. The
/// previous step's tests run on beside them (the judge's `carried`).
#[derive(Clone, Debug)]
struct Evidence {
    errors: ErrorCountTest,
    /// 4xx, side against side in the same minutes.
    client: ErrorCountTest,
    reference: ReferenceTest,
    p50: ExceedanceTest,
    p99: ExceedanceTest,
    cold: ExceedanceTest,
    cold_share: ExceedanceTest,
    /// `log_e` and the threshold it reached when each check failed; a
    /// failed check stays failed.
    failed: BTreeMap<CheckName, (f64, f64)>,
    /// Windows judged in this step, and the step's expected number (the
    /// floors' horizon).
    windows: u64,
    horizon: u64,
}

impl Evidence {
    fn new(horizon: u64, cold_share: f64) -> Self {
        let floor = (4.0 * horizon.max(1) as f64).ln();
        Evidence {
            errors: ErrorCountTest::new(floor),
            client: ErrorCountTest::new(floor),
            reference: ReferenceTest::new(floor),
            p50: ExceedanceTest::new(0.5, floor),
            p99: ExceedanceTest::new(0.01, floor),
            cold: ExceedanceTest::new(0.01, floor),
            cold_share: ExceedanceTest::new(cold_share, floor),
            failed: BTreeMap::new(),
            windows: 0,
            horizon: horizon.max(1),
        }
    }
}

/// One window's observations, as every live test takes them.
#[derive(Clone, Copy, Debug, Default)]
struct Observations {
    /// Per stratum: old requests, old errors, new requests, new errors.
    counts: [(u64, u64, u64, u64); 2],
    /// The same for 4xx answers.
    client: [(u64, u64, u64, u64); 2],
    /// Per stratum: new requests, new errors and the null's rate, unless
    /// the window is left out as a shared failure.
    reference: [Option<(u64, u64, f64)>; 2],
    /// Per stratum: new-side warm requests and how many were over each
    /// allowance (users against the old side's users, probes against its
    /// probes, once either has a baseline).
    p50: [Option<(u64, u64)>; 2],
    p99: [Option<(u64, u64)>; 2],
    /// Per stratum: cold starts and how many were over the limit; requests
    /// and how many were cold.
    cold: [(u64, u64); 2],
    cold_share: [(u64, u64); 2],
}

impl Evidence {
    fn observe(&mut self, o: &Observations) {
        for i in 0..2 {
            let (n_old, e_old, n_new, e_new) = o.counts[i];
            self.errors.observe(n_old, e_old, n_new, e_new);
            let (n_old, c_old, n_new, c_new) = o.client[i];
            self.client.observe(n_old, c_old, n_new, c_new);
            if let Some((n, e, r0)) = o.reference[i] {
                self.reference.observe(n, e, r0);
            }
            self.cold.observe(o.cold[i].0, o.cold[i].1);
            self.cold_share.observe(o.cold_share[i].0, o.cold_share[i].1);
        }
        // One mixture over both strata: each alternative bets the same
        // multiple of the null share in each, so the product of the strata's
        // ratios is one likelihood ratio and the sum adds their evidence.
        for i in 0..2 {
            for (seen, test) in [(o.p50[i], &mut self.p50), (o.p99[i], &mut self.p99)] {
                if let Some((n, k)) = seen {
                    test.observe(n, k);
                }
            }
        }
        self.windows += 1;
    }
}

/// What the old side has shown over the cutover so far.
#[derive(Clone, Debug, Default)]
struct OldSide {
    /// Warm user-request latency: the quantiles the allowances start from.
    latency: Histogram,
    /// Warm probe latency: the probes' own baseline (their route is not
    /// the users').
    probe_latency: Histogram,
    /// The same by UTC hour of day, for the load factor when the old side
    /// has too few recent requests (the last steps).
    by_hour: [Histogram; 24],
    /// The last half hour's windows: `(window end, latency)`, and their sum
    /// (kept as they come and go, not merged again every window).
    recent: VecDeque<(Timestamp, Histogram)>,
    recent_total: Histogram,
    /// Error rates per stratum (user traffic, probes), shared failures left out.
    errors: [Rate; 2],
}

impl OldSide {
    /// Its error rate over both strata together.
    fn usual(&self) -> Rate {
        let [traffic, probes] = self.errors;
        Rate { requests: traffic.requests + probes.requests, errors: traffic.errors + probes.errors }
    }

    fn record_latency(&mut self, window: Window, h: &Histogram) {
        self.latency.merge(h);
        self.by_hour[usize::from(window.from.utc_hour()) % 24].merge(h);
        self.recent_total.merge(h);
        self.recent.push_back((window.to, h.clone()));
    }

    /// How much slower (above 1) or faster the old side is now than over the
    /// cutover: recent median (the last half hour's windows and `current`)
    /// against the cutover's median.
    fn load_factor(&mut self, window: Window, current: &Histogram) -> f64 {
        while self.recent.front().is_some_and(|(to, _)| to.as_ms() + LOAD_SPAN_MS < window.to.as_ms()) {
            if let Some((_, h)) = self.recent.pop_front() {
                self.recent_total.remove(&h);
            }
        }
        let Some(overall) = self.latency.quantile(0.5) else { return 1.0 };
        let mut recent = self.recent_total.clone();
        recent.merge(current);
        let hour = self.by_hour.get(usize::from(window.from.utc_hour()));
        let now = if recent.count() >= LOAD_MIN {
            recent.quantile(0.5)
        } else {
            hour.filter(|h| h.count() >= LOAD_MIN).and_then(|h| h.quantile(0.5))
        };
        // Only ever widened: when weight leaves the old side its load (and
        // latency) falls while the new side's rises, and a shrinking
        // allowance would turn that into false rollbacks.
        now.map_or(1.0, |m| (m / overall).clamp(1.0, 3.0))
    }
}

/// Users by cohort, when the source knows each user request's bucket:
/// whole percents of the bucket space (about 1 % of the users each).
const PERCENTS: usize = 100;

fn percent(bucket: u16) -> usize {
    usize::from(bucket / 100).min(PERCENTS - 1)
}

/// A cohort percent is *chronic* (its users fail whichever side serves
/// them: a broken client, bad data) when its own past on the old side
/// carries this much evidence (nats) of a rate at least twice the old
/// side's, in at least this many failed requests.
const CHRONIC_EVIDENCE: f64 = 4.605; // ln 100
const CHRONIC_MIN_ERRORS: u64 = 3;

/// Which percents are chronic, for 5xx and for 4xx.
type Chronic = [[bool; PERCENTS]; 2];

/// What each cohort percent's users did while on the old side: requests
/// and 5xx, requests and 4xx; recorded shared failures left out.
#[derive(Clone, Debug)]
struct CohortPast([[Rate; PERCENTS]; 2]);

impl Default for CohortPast {
    fn default() -> Self {
        CohortPast([[Rate::default(); PERCENTS]; 2])
    }
}

/// One window's users outside the chronic percents: per side, requests
/// and 5xx, requests and 4xx.
type Outside = PerSide<[Rate; 2]>;

impl CohortPast {
    /// The chronic percents, on the windows recorded so far: each against
    /// the rate of all of them together.
    fn chronic(&self) -> Chronic {
        let mut chronic = [[false; PERCENTS]; 2];
        for (past, chronic) in self.0.iter().zip(&mut chronic) {
            let usual = Self::sum(past, &[false; PERCENTS]).estimate();
            for (r, chronic) in past.iter().zip(chronic) {
                let seen = r.errors as f64 / r.requests.max(1) as f64;
                *chronic = r.errors >= CHRONIC_MIN_ERRORS
                    && seen >= 2.0 * usual
                    && bernoulli_llr(r.requests as f64, r.errors as f64, seen, usual) >= CHRONIC_EVIDENCE;
            }
        }
        chronic
    }

    /// The percents of `past` not `left_out`, together.
    fn sum(past: &[Rate; PERCENTS], left_out: &[bool; PERCENTS]) -> Rate {
        past.iter().zip(left_out).filter(|(_, out)| !**out).fold(Rate::default(), |mut a, (r, _)| {
            a.add_counts(r.requests, r.errors);
            a
        })
    }

    /// The old side's users outside the chronic percents (5xx).
    fn usual(&self, chronic: &Chronic) -> Rate {
        Self::sum(&self.0[0], &chronic[0])
    }

    /// One window's users outside `chronic`, added up.
    fn outside(cohorts: &PerSide<Cohorts>, chronic: &Chronic) -> Outside {
        let mut outside = Outside::default();
        for side in Side::BOTH {
            for c in cohorts.get(side).iter() {
                for (k, count) in [c.errors, c.client_errors].into_iter().enumerate() {
                    if !chronic[k][percent(c.bucket)] {
                        outside.get_mut(side)[k].add_counts(c.requests, count);
                    }
                }
            }
        }
        outside
    }

    fn record(&mut self, old: &Cohorts) {
        for c in old.iter() {
            let p = percent(c.bucket);
            self.0[0][p].add_counts(c.requests, c.errors);
            self.0[1][p].add_counts(c.requests, c.client_errors);
        }
    }
}

/// The controller's judge (see the module documentation).
#[derive(Clone, Debug)]
pub struct SequentialJudge {
    guardrails: Guardrails,
    /// `ln(1 / a)` per check: the step's alpha times the check's share.
    log_one_over_a: BTreeMap<CheckName, f64>,
    step: StepTotals,
    ev: Evidence,
    /// The previous step's tests, still observing: a regression that began
    /// late in a step keeps the evidence it gathered there.
    carried: Option<Evidence>,
    old: OldSide,
    cohorts: CohortPast,
    /// The old side's usual rate over what the error tests judge (users of
    /// chronic cohorts left out when they are known), for the increase a
    /// fail must reach when the step has few old-side requests.
    judged_usual: Rate,
    /// Windows still treated as part of a shared failure.
    shared_linger: u32,
    /// Expected windows per step, for the floors' horizon.
    step_windows: Vec<u64>,
}

impl SequentialJudge {
    pub fn new(plan: &Plan) -> Self {
        let g = plan.guardrails;
        let steps = plan.schedule.steps.len().max(1) as f64;
        let log_one_over_a = SHARES.iter().map(|(c, share)| (*c, -(g.alpha / steps * share).ln())).collect();
        let windows =
            |hold: std::time::Duration| (hold.as_secs_f64() / g.interval.as_secs_f64().max(1.0)).ceil() as u64;
        SequentialJudge {
            guardrails: g,
            log_one_over_a,
            step: StepTotals::default(),
            ev: Evidence::new(1, g.cold_start.max_share),
            carried: None,
            old: OldSide::default(),
            cohorts: CohortPast::default(),
            judged_usual: Rate::default(),
            shared_linger: 0,
            step_windows: plan.schedule.steps.iter().map(|s| windows(s.hold).max(1)).collect(),
        }
    }

    /// `check`'s e-value and threshold (nats): of this step's test, or of
    /// the previous step's, which runs on (on its own share of alpha),
    /// whichever is nearer its threshold.
    fn evidence(&self, check: CheckName, log_e: impl Fn(&Evidence) -> f64) -> (f64, f64) {
        let base = self.log_one_over_a.get(&check).copied().unwrap_or(f64::INFINITY);
        let of = |ev: &Evidence| (log_e(ev), floored_log_threshold(base, ev.horizon, ev.windows));
        let now = of(&self.ev);
        match self.carried.as_ref().map(of) {
            Some(carried) if carried.0 - carried.1 > now.0 - now.1 => carried,
            _ => now,
        }
    }

    /// The moment `check` failed (its e-value then, and the threshold it
    /// reached), latching it on the first crossing that `material` allows.
    fn latch(&mut self, check: CheckName, (log_e, threshold): (f64, f64), material: bool) -> Option<(f64, f64)> {
        if !self.ev.failed.contains_key(&check) && material && log_e >= threshold {
            self.ev.failed.insert(check, (log_e, threshold));
        }
        self.ev.failed.get(&check).copied()
    }

    /// The verdict and reason of a sequential check: failed (with the
    /// e-value it failed at), too little data, or a pass.
    fn verdict(failed: Option<(f64, f64)>, what: &str, short: Option<String>) -> (Verdict, String) {
        match (failed, short) {
            (Some((at, threshold)), _) => {
                (Verdict::Fail, format!("{what}; e-value {:.3e} reached {:.3e}", at.exp().min(1e12), threshold.exp()))
            }
            (None, Some(why)) => (Verdict::Inconclusive, why),
            (None, None) => (Verdict::Pass, format!("{what}, no evidence of regression")),
        }
    }

    fn error_check(&mut self, samples: PerSide<u64>) -> CheckResult {
        let g = self.guardrails;
        let check = CheckName::ErrorRate;
        let [step_old, _] = self.step.judged.legacy;
        // The old side's rate: in this step when it has enough requests here,
        // else over the cutover so far (the 100 % step has only probes).
        let old = if step_old.requests >= g.min_samples {
            step_old.percent()
        } else {
            self.judged_usual.percent().or_else(|| step_old.percent())
        };
        let new = self.step.judged.serverless[0].percent();
        let increase = old.zip(new).map(|(o, n)| n - o);
        let material = increase.is_some_and(|d| d >= g.errors.max_increase_pp);
        let (count, reference) = (self.ev.errors.log_e(), self.ev.reference.log_e());
        let (log_e, threshold) = self.evidence(check, |ev| log_mean_exp(&[ev.errors.log_e(), ev.reference.log_e()]));
        let failed = self.latch(check, (log_e, threshold), material);
        let d = increase.unwrap_or(0.0);
        let what = match failed {
            Some(_) if reference > count => format!("error rate {d:+.2} pp against the old side's usual rate"),
            _ => format!("error rate {d:+.2} pp"),
        };
        let (verdict, reason) = Self::verdict(failed, &what, self.too_few(samples));
        CheckResult {
            verdict,
            legacy: old,
            serverless: new,
            limit: old.map(|o| o + g.errors.max_increase_pp),
            samples,
            reason,
            ..CheckResult::new(check, g.errors.critical, Unit::Percent)
        }
        .with_evidence(log_e, threshold)
    }

    /// Why a pass cannot count yet: a side with fewer than `min_samples`
    /// requests in the step.
    fn too_few(&self, samples: PerSide<u64>) -> Option<String> {
        let min = self.guardrails.min_samples;
        (samples.legacy < min || samples.serverless < min).then(|| format!("fewer than {min} requests on a side"))
    }

    /// 4xx answers, the new side against the old in the same minutes (the
    /// count test only: how often clients err depends on the clients and
    /// the hour, so no reference to the old side's past). A fail also needs
    /// the step's increase to reach `client_errors.max_increase_pp`.
    fn client_check(&mut self, samples: PerSide<u64>) -> CheckResult {
        let c = self.guardrails.client_errors;
        let check = CheckName::ClientErrors;
        let (old, new) = (self.step.judged.legacy[1].percent(), self.step.judged.serverless[1].percent());
        let increase = old.zip(new).map(|(o, n)| n - o);
        let material = increase.is_some_and(|d| d >= c.max_increase_pp);
        let (log_e, threshold) = self.evidence(check, |ev| ev.client.log_e());
        let failed = self.latch(check, (log_e, threshold), material);
        let what = format!("4xx rate {:+.2} pp", increase.unwrap_or(0.0));
        let (verdict, reason) = Self::verdict(failed, &what, self.too_few(samples));
        CheckResult {
            verdict,
            legacy: old,
            serverless: new,
            limit: old.map(|o| o + c.max_increase_pp),
            samples,
            reason,
            ..CheckResult::new(check, c.critical, Unit::Percent)
        }
        .with_evidence(log_e, threshold)
    }

    /// `allowance`: the new side's limit this window (old quantile × load,
    /// widened); `old`: the old side's quantile it came from.
    fn latency_check(
        &mut self,
        check: CheckName,
        q: f64,
        limits: LatencyCheck,
        old: Option<(f64, f64)>,
    ) -> CheckResult {
        let min = self.guardrails.min_samples;
        let new = self.step.new_warm.quantile(q);
        let (log_e, threshold) =
            self.evidence(check, |ev| if check == CheckName::LatencyP50 { ev.p50.log_e() } else { ev.p99.log_e() });
        let failed = self.latch(check, (log_e, threshold), true);
        let probes = self.step.new_probes_judged;
        let samples = PerSide { legacy: self.old.latency.count(), serverless: self.step.new_warm.count() + probes };
        let name = check.as_str();
        let what = match (failed, new, old) {
            (Some(_), _, _) => format!("{name}: too many new-side requests over the allowance"),
            (None, Some(new), Some((_, allowance))) => format!("{name} {new:.1} ms, allowance {allowance:.1} ms"),
            (None, None, Some(_)) => {
                format!("{name}: no user request on the new side yet; {probes} probes judged against the old side's")
            }
            (None, _, None) => String::new(),
        };
        let short = if old.is_none() {
            Some(format!("fewer than {BASELINE_MIN} old-side requests for a baseline"))
        } else {
            (samples.serverless < min).then(|| format!("fewer than {min} warm new-side requests (users and probes)"))
        };
        let (verdict, reason) = Self::verdict(failed, &what, short);
        CheckResult {
            verdict,
            legacy: old.map(|(o, _)| o),
            serverless: new,
            limit: old.map(|(_, a)| a),
            samples,
            reason,
            ..CheckResult::new(check, limits.critical, Unit::Ms)
        }
        .with_evidence(log_e, threshold)
    }

    fn cold_start_check(&mut self) -> CheckResult {
        let c = self.guardrails.cold_start;
        let check = CheckName::ColdStartP99;
        let new = &self.step.totals.serverless;
        let p99 = new.cold_latency_ms.quantile(0.99);
        let n = new.cold_starts;
        let (log_e, threshold) = self.evidence(check, |ev| ev.cold.log_e());
        let failed = self.latch(check, (log_e, threshold), true);
        let what = match (failed, p99) {
            (Some(_), _) => format!("more than 1 % of cold starts over {:.0} ms", c.max_p99_ms),
            (None, Some(p)) => format!("cold-start p99 {p:.0} ms over {n} cold starts, limit {:.0} ms", c.max_p99_ms),
            (None, None) => "no cold starts".into(),
        };
        let (verdict, reason) = Self::verdict(failed, &what, None);
        CheckResult {
            verdict,
            serverless: p99,
            limit: Some(c.max_p99_ms),
            samples: PerSide { legacy: self.step.totals.legacy.cold_starts, serverless: n },
            reason,
            ..CheckResult::new(check, c.critical, Unit::Ms)
        }
        .with_evidence(log_e, threshold)
    }

    fn cold_share_check(&mut self) -> CheckResult {
        let c = self.guardrails.cold_start;
        let check = CheckName::ColdStartShare;
        let share = |s: &SideSample| {
            let (checked, cold) = s.cold_sample();
            (checked > 0).then(|| 100.0 * cold as f64 / checked as f64)
        };
        let totals = &self.step.totals;
        let (old, new) = (share(&totals.legacy), share(&totals.serverless));
        let samples = PerSide { legacy: totals.legacy.cold_sample().0, serverless: totals.serverless.cold_sample().0 };
        // Where cold starts are read from traces, none read whole is no
        // evidence at all: not a pass.
        let unseen = totals.serverless.requests >= self.guardrails.min_samples && new.is_none();
        let short = unseen.then(|| "no new-side request was looked at for a cold start".to_owned());
        let (log_e, threshold) = self.evidence(check, |ev| ev.cold_share.log_e());
        let failed = self.latch(check, (log_e, threshold), true);
        let limit = 100.0 * c.max_share;
        let what = match failed {
            Some(_) => format!("more than {limit:.1} % of new-side requests met a cold start"),
            None => format!("{:.2} % of new-side requests met a cold start, limit {limit:.1} %", new.unwrap_or(0.0)),
        };
        let (verdict, reason) = Self::verdict(failed, &what, short);
        CheckResult {
            verdict,
            legacy: old,
            serverless: new,
            limit: Some(limit),
            samples,
            reason,
            ..CheckResult::new(check, c.critical, Unit::Percent)
        }
        .with_evidence(log_e, threshold)
    }

    /// How strongly the old side's `sample` says it failed against its usual
    /// rate `usual`: nats of evidence (0 when it did no worse), and whether
    /// the excess is at least [`SHARED_MIN_EXCESS`].
    fn old_side_failing(sample: &SideSample, usual: Rate) -> (f64, bool) {
        if sample.requests == 0 {
            return (0.0, false);
        }
        let (r0, seen) = (usual.estimate(), sample.errors as f64 / sample.requests as f64);
        let evidence =
            if seen > r0 { bernoulli_llr(sample.requests as f64, sample.errors as f64, seen, r0) } else { 0.0 };
        (evidence, seen - r0 >= SHARED_MIN_EXCESS)
    }

    /// Did the old side fail in this window, against its own reference?
    /// Per stratum, whether its reference test leaves the window out (the
    /// probes of both sides fire at the same instants, so an old-side probe
    /// failing beside new-side ones is the sharpest sign); and, on the
    /// window's old-side requests together, what to record (a shared
    /// failure the engine holds for).
    fn shared_failure(&self, m: &Measurement) -> ([bool; 2], Option<String>) {
        let mut gate = [false; 2];
        for (i, stratum) in [&m.traffic, &m.probes].into_iter().enumerate() {
            let (evidence, material) = Self::old_side_failing(&stratum.legacy, self.old.errors[i]);
            gate[i] = material && evidence >= SHARED_GATE_EVIDENCE;
        }
        let old = m.combined(Side::Legacy);
        let usual = self.old.usual();
        let (evidence, material) = Self::old_side_failing(&old, usual);
        if material && evidence >= SHARED_GATE_EVIDENCE {
            // At the last steps the old side has only probes: they speak
            // for the user traffic too.
            gate = [true; 2];
        }
        // Recorded (the engine holds for it) only when the new side failed
        // in the same window too: the old side failing alone is its own
        // trouble, not a reason to stop the cutover.
        let new = m.combined(Side::Serverless);
        let new_failing = new.errors >= 1
            && new.requests > 0
            && new.errors as f64 / new.requests as f64 - usual.estimate() >= SHARED_MIN_EXCESS;
        let record = (old.errors >= 2 && material && evidence >= SHARED_EVIDENCE && new_failing).then(|| {
            format!(
                "the old side failed too: {} of {} requests ({:.1} %) against {:.2} % before, the new side {} of {}",
                old.errors,
                old.requests,
                100.0 * old.errors as f64 / old.requests as f64,
                100.0 * usual.estimate(),
                new.errors,
                new.requests
            )
        });
        if record.is_some() {
            gate = [true; 2];
        }
        (gate, record)
    }
}

impl Judge for SequentialJudge {
    fn reset(&mut self) {
        self.step = StepTotals::default();
        self.ev = Evidence::new(1, self.guardrails.cold_start.max_share);
        self.carried = None;
        self.old = OldSide::default();
        self.cohorts = CohortPast::default();
        self.judged_usual = Rate::default();
        self.shared_linger = 0;
    }

    fn baseline(&mut self, _window: Window, m: &Measurement) {
        // One aggregate over hours: its latency is the baseline's, but it
        // says nothing about any hour of the day or the last half hour.
        self.old.latency.merge(&m.traffic.legacy.latency_ms);
        self.old.probe_latency.merge(&m.probes.legacy.latency_ms);
        for (i, stratum) in [&m.traffic, &m.probes].into_iter().enumerate() {
            self.old.errors[i].add(&stratum.legacy);
        }
        if let Some(c) = &m.cohorts {
            self.cohorts.record(&c.legacy);
        }
    }

    fn begin_step(&mut self, step: usize, _weight: Weight, _at: Timestamp) {
        self.step = StepTotals::default();
        let horizon = self.step_windows.get(step).copied().unwrap_or(1);
        let previous = std::mem::replace(&mut self.ev, Evidence::new(horizon, self.guardrails.cold_start.max_share));
        // Only a step that was judged has evidence worth carrying; its
        // failures were its own step's.
        self.carried = (previous.windows > 0).then_some(Evidence { failed: BTreeMap::new(), ..previous });
    }

    fn judge(&mut self, window: Window, m: &Measurement) -> Analysis {
        let g = self.guardrails;
        // Shared failures first: they decide what the reference test sees.
        let (mut gate, shared_now) = self.shared_failure(m);
        let shared = match &shared_now {
            Some(_) => {
                self.shared_linger = SHARED_LINGER;
                shared_now.clone()
            }
            None if self.shared_linger > 0 => {
                self.shared_linger -= 1;
                gate = [true; 2];
                Some("shortly after the old side failed too; judged only side against side".into())
            }
            None => None,
        };
        let mut obs = Observations::default();
        // Errors: user traffic and probes are separate strata (their error
        // rates may differ; each is fair between the sides).
        let margin = g.errors.max_increase_pp / 200.0;
        // Users of chronic cohorts are left out of the error tests on both
        // sides, chosen on the windows before this one.
        let users = m.cohorts.as_ref().map(|c| {
            let chronic = self.cohorts.chronic();
            let usual = self.cohorts.usual(&chronic);
            if shared_now.is_none() {
                self.cohorts.record(&c.legacy);
            }
            (CohortPast::outside(c, &chronic), usual)
        });
        for (i, stratum) in [&m.traffic, &m.probes].into_iter().enumerate() {
            let (old, new) = (&stratum.legacy, &stratum.serverless);
            let mut errors = (old.requests, old.errors, new.requests, new.errors);
            let mut client = (old.requests, old.client_errors, new.requests, new.client_errors);
            let mut usual = self.old.errors[i];
            if let (0, Some((outside, outside_usual))) = (i, &users) {
                let ([o5, o4], [n5, n4]) = (outside.legacy, outside.serverless);
                errors = (o5.requests, o5.errors, n5.requests, n5.errors);
                client = (o4.requests, o4.errors, n4.requests, n4.errors);
                usual = *outside_usual;
            }
            obs.counts[i] = errors;
            obs.client[i] = client;
            let judged = &mut self.step.judged;
            judged.legacy[0].add_counts(errors.0, errors.1);
            judged.serverless[0].add_counts(errors.2, errors.3);
            judged.legacy[1].add_counts(client.0, client.1);
            judged.serverless[1].add_counts(client.2, client.3);
            if !gate[i] {
                // Against the old side's rate before this window.
                let r0 = (usual.upper() + margin).min(0.99);
                obs.reference[i] = Some((errors.2, errors.3, r0));
            }
            // The old side's usual rate takes every window but a recorded
            // shared failure: leaving out the windows it merely looked bad
            // in would bias it low (its unlucky minutes gone, its lucky ones
            // kept), and the test with it.
            if shared_now.is_none() {
                self.old.errors[i].add(old);
            }
        }

        self.judged_usual = match &users {
            Some((_, outside)) => {
                let probes = self.old.errors[1];
                Rate { requests: outside.requests + probes.requests, errors: outside.errors + probes.errors }
            }
            None => self.old.usual(),
        };
        // Latency: against the baseline as it stood before this window,
        // scaled by how loaded the old side is now.
        let old_warm = &m.traffic.legacy.latency_ms;
        let load = self.old.load_factor(window, old_warm);
        let allowance = |baseline: &Histogram, q: f64, limits: LatencyCheck| {
            let trusted = baseline.count() >= BASELINE_MIN;
            baseline.quantile(q).filter(|_| trusted).map(|o| o * load).map(|o| (o, limits.allowance(o)))
        };
        let (p50, p99) =
            (allowance(&self.old.latency, 0.5, g.latency_p50), allowance(&self.old.latency, 0.99, g.latency_p99));
        let new = &m.traffic.serverless.latency_ms;
        obs.p50[0] = p50.map(|(_, allowance)| (new.count(), new.count_above(allowance)));
        obs.p99[0] = p99.map(|(_, allowance)| (new.count(), new.count_above(allowance)));
        let probes = &m.probes.serverless.latency_ms;
        let probe_allowance = |q, limits| allowance(&self.old.probe_latency, q, limits).map(|(_, a)| a);
        obs.p50[1] = probe_allowance(0.5, g.latency_p50).map(|a| (probes.count(), probes.count_above(a)));
        obs.p99[1] = probe_allowance(0.99, g.latency_p99).map(|a| (probes.count(), probes.count_above(a)));
        if obs.p50[1].is_some() && obs.p99[1].is_some() {
            self.step.new_probes_judged += probes.count();
        }
        self.old.probe_latency.merge(&m.probes.legacy.latency_ms);
        self.old.record_latency(window, old_warm);
        self.step.new_warm.merge(new);
        // Cold starts, user traffic and probes alike: how slow, and how many.
        for (i, stratum) in [&m.traffic, &m.probes].into_iter().enumerate() {
            let s = &stratum.serverless;
            obs.cold[i] = (s.cold_latency_ms.count(), s.cold_latency_ms.count_above(g.cold_start.max_p99_ms));
            obs.cold_share[i] = s.cold_sample();
        }
        self.ev.observe(&obs);
        if let Some(carried) = self.carried.as_mut() {
            carried.observe(&obs);
        }
        for side in Side::BOTH {
            self.step.totals.get_mut(side).merge(&m.combined(side));
        }

        let samples =
            PerSide { legacy: self.step.totals.legacy.requests, serverless: self.step.totals.serverless.requests };
        let checks = vec![
            self.error_check(samples),
            self.client_check(samples),
            self.latency_check(CheckName::LatencyP50, 0.5, g.latency_p50, p50),
            self.latency_check(CheckName::LatencyP99, 0.99, g.latency_p99, p99),
            self.cold_start_check(),
            self.cold_share_check(),
        ];
        Analysis { shared_failure: shared, ..Analysis::from_checks(window, samples, checks) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::CohortCount;

    #[test]
    fn the_error_test_matches_the_binomial_likelihood_ratio() {
        // Equal traffic (p0 = 1/2), 3 errors on the new side, none on the old:
        // each odds ratio t bets p1 = t / (t + 1), so LR = (2t / (t + 1))^3.
        let mut t = ErrorCountTest::new(f64::INFINITY);
        t.observe(500, 0, 500, 3);
        let expected = ERROR_ODDS.iter().map(|t| (2.0 * t / (t + 1.0)).powi(3)).sum::<f64>() / 6.0;
        assert!((t.log_e().exp() - expected).abs() < 1e-9, "{} vs {expected}", t.log_e().exp());
        // An error on the old side is evidence the other way.
        let mut u = ErrorCountTest::new(f64::INFINITY);
        u.observe(500, 3, 500, 0);
        assert!(u.log_e() < 0.0);
        // Windows without errors or without traffic on a side say nothing.
        let mut v = ErrorCountTest::new(f64::INFINITY);
        v.observe(500, 0, 500, 0);
        v.observe(0, 2, 500, 2);
        assert_eq!(v.log_e(), 0.0);
    }

    #[test]
    fn the_exceedance_test_matches_the_bernoulli_likelihood_ratio() {
        // 5 of 100 over the allowance; null 1 %, alternatives 1.5 %..10 %.
        let mut t = ExceedanceTest::new(0.01, f64::INFINITY);
        t.observe(100, 5);
        let lr = |p: f64| (p / 0.01f64).powi(5) * ((1.0 - p) / 0.99f64).powi(95);
        let expected = [0.015, 0.02, 0.03, 0.05, 0.1].map(lr).iter().sum::<f64>() / 5.0;
        assert!((t.log_e().exp() / expected - 1.0).abs() < 1e-9, "{} vs {expected}", t.log_e().exp());
    }

    #[test]
    fn the_reference_test_bets_above_its_null_only() {
        // Null 1 %: every alternative is above it; 2 of 100 failed.
        let mut t = ReferenceTest::new(f64::INFINITY);
        t.observe(100, 2, 0.01);
        let lr = |p: f64| (p / 0.01f64).powi(2) * ((1.0 - p) / 0.99f64).powi(98);
        let expected = [0.015, 0.02, 0.03, 0.05, 0.1, 0.5, 0.9].map(lr).iter().sum::<f64>() / 7.0;
        assert!((t.log_e().exp() / expected - 1.0).abs() < 1e-9, "{} vs {expected}", t.log_e().exp());
        // Null 60 %: the multiples are capped at 95 %, and 50 % does not bet.
        let mut u = ReferenceTest::new(f64::INFINITY);
        u.observe(10, 10, 0.6);
        let expected = (2.0 * 1.5f64.powi(10) + 4.0 * (0.95f64 / 0.6).powi(10) + 1.0) / 7.0;
        assert!((u.log_e().exp() / expected - 1.0).abs() < 1e-9, "{} vs {expected}", u.log_e().exp());
    }

    #[test]
    fn the_p50_alternatives_stay_below_one() {
        let t = ExceedanceTest::new(0.5, f64::INFINITY);
        assert!(t.alts.iter().all(|p| *p > 0.5 && *p < 1.0), "{:?}", t.alts);
    }

    /// Uniform draws in [0, 1) from a fixed seed.
    fn uniform_from(seed: u64) -> impl FnMut() -> f64 {
        let mut rng = cutover_base::rng::Rng::new(seed);
        move || rng.f64()
    }

    /// Ville's inequality, checked: under the null the e-process reaches
    /// 1 / a at *any* of many looks in at most a fraction a of sequences.
    #[test]
    fn under_the_null_the_error_test_rarely_ever_crosses() {
        let a: f64 = 0.05;
        let runs = 4000;
        let mut crossed = 0;
        let mut uniform = uniform_from(0x9E37_79B9_7F4A_7C15);
        for _ in 0..runs {
            let mut t = ErrorCountTest::new(f64::INFINITY);
            // 300 windows of 20 old / 5 new requests, 2 % errors on both sides.
            let hit = (0..300).any(|_| {
                let e_old = (0..20).filter(|_| uniform() < 0.02).count() as u64;
                let e_new = (0..5).filter(|_| uniform() < 0.02).count() as u64;
                t.observe(20, e_old, 5, e_new);
                t.log_e() >= (1.0 / a).ln()
            });
            crossed += usize::from(hit);
        }
        let rate = crossed as f64 / runs as f64;
        assert!(rate <= a, "crossed in {rate} of null runs, bound {a}");
        assert!(rate > 0.0, "a test that never crosses under the null has no power either");
    }

    /// The reference test at its null's boundary keeps the promise too.
    #[test]
    fn under_the_null_the_reference_test_rarely_ever_crosses() {
        let a: f64 = 0.05;
        let (runs, windows) = (4000, 300);
        let mut uniform = uniform_from(0x5DEE_CE66_D1CE_4E5B);
        let crossed = (0..runs)
            .filter(|_| {
                let mut t = ReferenceTest::new(f64::INFINITY);
                (0..windows).any(|_| {
                    let e = (0..20).filter(|_| uniform() < 0.02).count() as u64;
                    t.observe(20, e, 0.02);
                    t.log_e() >= (1.0 / a).ln()
                })
            })
            .count();
        let rate = crossed as f64 / runs as f64;
        assert!(rate <= a, "crossed in {rate} of null runs, bound {a}");
    }

    /// The floored version keeps its promise too, with its own threshold,
    /// over more windows than its horizon.
    #[test]
    fn under_the_null_the_floored_test_rarely_ever_crosses() {
        let a: f64 = 0.05;
        let (runs, windows, horizon) = (4000, 400, 100);
        let mut uniform = uniform_from(0x2545_F491_4F6C_DD1D);
        let crossed = (0..runs)
            .filter(|_| {
                let mut t = ExceedanceTest::new(0.1, (horizon as f64).ln());
                (1..=windows).any(|n| {
                    let k = (0..10).filter(|_| uniform() < 0.1).count() as u64;
                    t.observe(10, k);
                    t.log_e() >= floored_log_threshold((1.0 / a).ln(), horizon, n)
                })
            })
            .count();
        let rate = crossed as f64 / runs as f64;
        assert!(rate <= a, "crossed in {rate} of null runs, bound {a}");
    }

    #[test]
    fn floored_thresholds_grow_only_past_the_horizon() {
        let base = 10.0;
        assert!((floored_log_threshold(base, 100, 1) - (base + 4f64.ln())).abs() < 1e-12);
        assert_eq!(floored_log_threshold(base, 100, 100), floored_log_threshold(base, 100, 1));
        let past = floored_log_threshold(base, 100, 101);
        assert!((past - (base + 4f64.ln() + 3f64.ln() - 2f64.ln() + 2f64.ln())).abs() < 1e-12, "{past}");
    }

    fn side(requests: u64, errors: u64) -> SideSample {
        let mut s = SideSample { requests, errors, ..Default::default() };
        s.latency_ms.record_n(30.0, (requests - errors) as u32);
        s
    }

    const W: Window = Window { from: Timestamp(0), to: Timestamp(60_000) };

    /// The default plan's judge at the 1 % step after `windows` healthy
    /// minutes (70 old-side requests, 1 new-side), none of them failing.
    fn after_healthy_minutes(windows: usize) -> SequentialJudge {
        let mut j = SequentialJudge::new(&Plan::default_plan());
        j.begin_step(0, Weight::from_bps(100).unwrap(), Timestamp(0));
        let mut healthy = Measurement::default();
        healthy.traffic.legacy = side(70, 0);
        healthy.traffic.serverless = side(1, 0);
        for _ in 0..windows {
            assert_ne!(j.judge(W, &healthy).verdict, Verdict::Fail);
        }
        j
    }

    #[test]
    fn an_outage_at_a_one_percent_step_fails_within_a_few_windows() {
        let mut j = after_healthy_minutes(30);
        let mut m = Measurement::default();
        m.traffic.legacy = side(70, 0);
        m.probes.legacy = side(1, 0);
        m.probes.serverless = side(1, 1);
        m.traffic.serverless = side(1, 1);
        let verdicts: Vec<Verdict> = (0..5).map(|_| j.judge(W, &m).verdict).collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Fail), "{verdicts:?}");
        assert!(verdicts.iter().position(|v| *v == Verdict::Fail).unwrap() <= 2, "{verdicts:?}");
    }

    #[test]
    fn a_steps_evidence_carries_into_the_next_step() {
        let plan = Plan::default_plan();
        let mut m = Measurement::default();
        m.traffic.legacy = side(600, 3);
        m.traffic.serverless = side(60, 2);
        let error_e = |a: &Analysis| {
            let c = &a.checks[0];
            (c.e_value.unwrap().ln(), c.e_threshold.unwrap().ln(), c.verdict)
        };
        // Halfway to the threshold in the 10 % step, not failed.
        let mut carried = SequentialJudge::new(&plan);
        carried.begin_step(2, Weight::from_bps(1000).unwrap(), Timestamp(0));
        loop {
            let (e, threshold, verdict) = error_e(&carried.judge(W, &m));
            assert_ne!(verdict, Verdict::Fail);
            if e >= threshold / 2.0 {
                break;
            }
        }
        carried.begin_step(3, Weight::from_bps(2500).unwrap(), Timestamp(0));
        let mut fresh = SequentialJudge::new(&plan);
        fresh.begin_step(3, Weight::from_bps(2500).unwrap(), Timestamp(0));
        let first_fail = |j: &mut SequentialJudge| (1..200).find(|_| j.judge(W, &m).verdict == Verdict::Fail);
        let (with, without) = (first_fail(&mut carried), first_fail(&mut fresh));
        assert!(with.is_some() && with < without, "carried {with:?}, fresh {without:?}");
    }

    /// Where only some requests are looked at for a cold start (X-Ray's
    /// traces read whole), the share is of those: 10 cold of 40 looked at
    /// is a storm, whatever the 2000 requests counted around them.
    #[test]
    fn the_cold_start_share_is_of_the_requests_looked_at() {
        let judge = |checked: Option<u64>| {
            let mut j = SequentialJudge::new(&Plan::default_plan());
            j.begin_step(4, Weight::from_bps(5000).unwrap(), Timestamp(0));
            let mut m = Measurement::default();
            m.traffic.legacy = side(2000, 0);
            m.traffic.serverless = SideSample { cold_starts: 10, cold_checked: checked, ..side(2000, 0) };
            let verdicts: Vec<Verdict> = (0..30)
                .map(|_| {
                    let a = j.judge(W, &m);
                    a.checks.iter().find(|c| c.check == CheckName::ColdStartShare).map(|c| c.verdict).unwrap()
                })
                .collect();
            verdicts
        };
        assert!(judge(Some(40)).contains(&Verdict::Fail), "25 % of those looked at");
        assert!(!judge(None).contains(&Verdict::Fail), "0.5 % of every request");
        // Nothing looked at is no evidence, not a pass.
        assert_eq!(judge(Some(0)).last(), Some(&Verdict::Inconclusive));
    }

    /// A route the new side lacks answers 404 where the old side answered:
    /// `client_errors` fails (non-critical), side against side; the same
    /// 4xx rate on both sides, or an increase under the allowance, does not.
    #[test]
    fn more_4xx_on_the_new_side_fail_client_errors() {
        let run = |old_4xx: u64, new_4xx: u64| {
            let mut j = SequentialJudge::new(&Plan::default_plan());
            j.begin_step(4, Weight::from_bps(5000).unwrap(), Timestamp(0));
            let mut m = Measurement::default();
            m.traffic.legacy = SideSample { client_errors: old_4xx, ..side(500, 2) };
            m.traffic.serverless = SideSample { client_errors: new_4xx, ..side(500, 2) };
            (0..60)
                .map(|_| {
                    let a = j.judge(W, &m);
                    let c = a.checks.iter().find(|c| c.check == CheckName::ClientErrors).unwrap();
                    assert!(!c.critical, "non-critical by default");
                    c.verdict
                })
                .collect::<Vec<_>>()
        };
        assert!(run(10, 30).contains(&Verdict::Fail), "2 % -> 6 %");
        assert!(!run(10, 10).contains(&Verdict::Fail), "the same rate");
        assert!(!run(10, 13).contains(&Verdict::Fail), "+0.6 pp, under the 1 pp allowance");
    }

    #[test]
    fn probes_are_judged_against_the_old_sides_probes() {
        let plan = Plan::default_plan();
        let mut j = SequentialJudge::new(&plan);
        j.begin_step(2, Weight::from_bps(1000).unwrap(), Timestamp(0));
        let spread = |n: u32, ms: f64| {
            let mut s = SideSample { requests: u64::from(n), ..Default::default() };
            s.latency_ms.record_n(ms, n - n / 100);
            s.latency_ms.record_n(ms * 2.0, n / 100);
            s
        };
        // No new-side user requests at all: only the probes can say anything.
        let mut m = Measurement::default();
        m.traffic.legacy = spread(100, 40.0);
        m.probes.legacy = spread(100, 20.0);
        m.probes.serverless = spread(100, 20.0);
        for _ in 0..12 {
            let a = j.judge(W, &m);
            assert_ne!(a.verdict, Verdict::Fail, "{a:#?}");
        }
        // Then the new side's probes slow down 10x: the p99 check fails.
        m.probes.serverless = spread(100, 200.0);
        let failed = (0..10).any(|_| {
            let a = j.judge(W, &m);
            a.checks.iter().any(|c| c.check == CheckName::LatencyP99 && c.verdict == Verdict::Fail)
        });
        assert!(failed, "slow probes against the old side's probes fail latency_p99");
    }

    #[test]
    fn a_failure_both_sides_share_is_not_the_new_sides_fault() {
        let mut j = after_healthy_minutes(60);
        // Ten minutes in which everything fails, on both sides.
        let mut down = Measurement::default();
        down.traffic.legacy = side(70, 70);
        down.traffic.serverless = side(1, 1);
        down.probes.legacy = side(1, 1);
        down.probes.serverless = side(1, 1);
        for _ in 0..10 {
            let a = j.judge(W, &down);
            assert_ne!(a.verdict, Verdict::Fail, "{a:#?}");
            assert!(a.shared_failure.as_deref().is_some_and(|s| s.contains("old side failed too")), "{a:#?}");
        }
        // The same outage on the new side alone is caught within minutes.
        let mut alone = after_healthy_minutes(60);
        let mut new_down = down.clone();
        new_down.traffic.legacy = side(70, 0);
        new_down.probes.legacy = side(1, 0);
        let verdicts: Vec<Verdict> = (0..3).map(|_| alone.judge(W, &new_down).verdict).collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Fail), "{verdicts:?}");
    }

    /// What the users of bucket 50 get wrong: 5xx (`error_rate`) or 4xx
    /// (`client_errors`).
    #[derive(Clone, Copy, PartialEq)]
    enum Failing {
        Server,
        Client,
    }

    fn count(bucket: u16, requests: u64, failed: u64, how: Failing) -> CohortCount {
        let (errors, client_errors) = if how == Failing::Server { (failed, 0) } else { (0, failed) };
        CohortCount { bucket, requests, errors, client_errors }
    }

    /// A window at the 1 % step: 70 old-side users, one request each in
    /// percents 1–70, none failing; `new` requests of the users in bucket
    /// 50 (on the new side), `failed` of them failing.
    fn sticky_window(new: u64, failed: u64, cohorts: bool, how: Failing) -> Measurement {
        let mut m = Measurement::default();
        m.traffic.legacy = side(70, 0);
        m.traffic.serverless = side(new, 0);
        let new_side = count(50, new, failed, how);
        (m.traffic.serverless.errors, m.traffic.serverless.client_errors) = (new_side.errors, new_side.client_errors);
        let old = (1..=70).map(|p| count(p * 100, 1, 0, how)).collect();
        let serverless = Cohorts::from_unsorted(vec![new_side]);
        m.cohorts = cohorts.then(|| PerSide { legacy: Cohorts::from_unsorted(old), serverless });
        m
    }

    /// The lookback: bucket 50's users failing `rate` of 600 requests, 99
    /// other percents 3 of 600 each.
    fn lookback(rate: f64, how: Failing) -> Measurement {
        let mut counts: Vec<CohortCount> = (1..100).map(|p| count(p * 100, 600, 3, how)).collect();
        counts.push(count(50, 600, (600.0 * rate) as u64, how));
        let mut m = Measurement::default();
        m.traffic.legacy = side(60_000, 0);
        m.traffic.legacy.errors = counts.iter().map(|c| c.errors).sum();
        m.traffic.legacy.client_errors = counts.iter().map(|c| c.client_errors).sum();
        m.cohorts = Some(PerSide { legacy: Cohorts::from_unsorted(counts), serverless: Cohorts::default() });
        m
    }

    /// Two hours at the 1 % step: the verdicts of `error_rate` or `client_errors`.
    fn sticky_run(rate_before: f64, cohorts: bool, how: Failing) -> Vec<Verdict> {
        let mut j = SequentialJudge::new(&Plan::default_plan());
        j.baseline(W, &lookback(rate_before, how));
        j.begin_step(0, Weight::from_bps(100).unwrap(), Timestamp(0));
        let check = if how == Failing::Server { CheckName::ErrorRate } else { CheckName::ClientErrors };
        (0..120)
            .map(|_| {
                let a = j.judge(W, &sticky_window(10, 3, cohorts, how));
                a.checks.iter().find(|c| c.check == check).map(|c| c.verdict).unwrap()
            })
            .collect()
    }

    /// Users whose requests fail whichever side serves them (a broken
    /// client) look like a regression when they land on the new side; with
    /// the cohorts known, their own past on the old side says they are not.
    #[test]
    fn a_chronically_failing_cohort_is_not_the_new_sides_fault() {
        for how in [Failing::Server, Failing::Client] {
            let known = sticky_run(0.3, true, how);
            assert!(known.iter().all(|v| *v != Verdict::Fail), "{known:?}");
            // Without cohorts, side against side, the same minutes are a regression.
            let unknown = sticky_run(0.3, false, how);
            assert_eq!(unknown.last(), Some(&Verdict::Fail), "{unknown:?}");
            // And users who did not fail before they moved are the new side's fault.
            let fine_before = sticky_run(0.005, true, how);
            assert_eq!(fine_before.last(), Some(&Verdict::Fail), "{fine_before:?}");
        }
    }

    /// A step no user lands in (few users, a 1 % step) is judged on its
    /// probes once the old side's probes give them a baseline: it passes
    /// instead of holding for ever.
    #[test]
    fn a_step_without_users_passes_latency_on_its_probes() {
        let mut j = SequentialJudge::new(&Plan::default_plan());
        let mut lookback = Measurement::default();
        lookback.traffic.legacy = side(2000, 0);
        lookback.probes.legacy = side(1200, 0);
        j.baseline(W, &lookback);
        j.begin_step(0, Weight::from_bps(100).unwrap(), Timestamp(0));
        let mut m = Measurement::default();
        m.traffic.legacy = side(70, 0);
        m.probes.legacy = side(10, 0);
        m.probes.serverless = side(10, 0);
        let latency = |a: &Analysis| -> Vec<(Verdict, String)> {
            let latency = a.checks.iter().filter(|c| matches!(c.check, CheckName::LatencyP50 | CheckName::LatencyP99));
            latency.map(|c| (c.verdict, c.reason.clone())).collect()
        };
        let first = j.judge(W, &m);
        assert_eq!(latency(&first).len(), 2, "both latency checks judged");
        assert!(latency(&first).iter().all(|(v, _)| *v == Verdict::Inconclusive), "{:?}", latency(&first));
        let fifth = (0..4).map(|_| j.judge(W, &m)).last().unwrap();
        assert_eq!(latency(&fifth).len(), 2);
        for (verdict, reason) in latency(&fifth) {
            assert_eq!(verdict, Verdict::Pass, "{reason}");
            assert!(reason.contains("no user request on the new side yet; 50 probes judged"), "{reason}");
        }
    }
}
