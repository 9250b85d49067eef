//! The simulated world: traffic, the two sides, the edge, the sources, and
//! the faults injected into either side or both.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cutover_core::units::{format_duration, parse_duration, Timestamp};

/// User traffic: requests per day with a diurnal cycle, or a recorded
/// shape (requests per minute, one per minute from the run's start, repeated).
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    pub requests_per_day: f64,
    /// 0 = flat; 0.6 = the busiest hour sees 1.6x the average, the quietest 0.4x.
    pub diurnal_amplitude: f64,
    /// The busiest hour of the day, UTC.
    pub peak_hour_utc: f64,
    /// Requests per minute from a file (`cutover simulate --traffic`): when
    /// set, it replaces the diurnal cycle; minute `i` of the run has
    /// `profile[i % len]`.
    pub profile: Option<Arc<Vec<f64>>>,
    /// Where minute 0 of `profile` falls.
    pub profile_start: Timestamp,
}

impl Traffic {
    /// 100K requests/day, peak at 15:00 UTC, quietest hour 0.4x the average.
    pub fn diurnal(requests_per_day: f64) -> Traffic {
        Traffic {
            requests_per_day,
            diurnal_amplitude: 0.6,
            peak_hour_utc: 15.0,
            profile: None,
            profile_start: Timestamp::from_ms(0),
        }
    }

    /// A recorded shape, requests per minute from `start`.
    pub fn recorded(per_minute: Vec<f64>, start: Timestamp) -> Traffic {
        let per_day = per_minute.iter().sum::<f64>() * 1440.0 / per_minute.len().max(1) as f64;
        Traffic {
            requests_per_day: per_day,
            profile: Some(Arc::new(per_minute)),
            profile_start: start,
            ..Self::diurnal(0.0)
        }
    }

    /// Requests per minute at `t`.
    pub fn per_minute(&self, t: Timestamp) -> f64 {
        if let Some(p) = self.profile.as_ref().filter(|p| !p.is_empty()) {
            // The profile repeats, before its start too (a lookback).
            let minute = (t.as_ms() as i64 - self.profile_start.as_ms() as i64).div_euclid(60_000);
            return p[minute.rem_euclid(p.len() as i64) as usize];
        }
        let hour = (t.as_ms() % 86_400_000) as f64 / 3_600_000.0;
        let phase = 2.0 * std::f64::consts::PI * (hour - self.peak_hour_utc) / 24.0;
        self.requests_per_day / 1440.0 * (1.0 + self.diurnal_amplitude * phase.cos())
    }

    /// The average requests per minute (what "load 1.0" means).
    pub fn mean_per_minute(&self) -> f64 {
        self.requests_per_day / 1440.0
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

/// Which side a fault hits. `Both` is a failure of something both depend
/// on (a database, a downstream service, the network): not the new side's
/// fault, so rolling back for it is a false rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affects {
    Serverless,
    Legacy,
    Both,
}

impl Affects {
    pub fn hits(self, serverless: bool) -> bool {
        match self {
            Affects::Serverless => serverless,
            Affects::Legacy => !serverless,
            Affects::Both => true,
        }
    }
}

/// How a fault's strength changes over time once it began.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// Full strength from the onset.
    Step,
    /// From nothing to full strength over this long, then full.
    Ramp(Duration),
    /// Full strength for `on`, absent for `off`, repeated.
    Flap { on: Duration, off: Duration },
}

/// What goes wrong, where, when and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    pub affects: Affects,
    pub kind: RegressionKind,
    /// Time since the run began.
    pub at: Duration,
    /// How long it lasts; for ever when `None`.
    pub lasts: Option<Duration>,
    pub shape: Shape,
}

/// The old name: a fault of the new side alone.
pub type Regression = Fault;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RegressionKind {
    /// Error rate up by this many percentage points.
    ErrorsPlusPp(f64),
    /// p99 multiplied, p50 unchanged (a fatter tail).
    P99Times(f64),
    /// The whole distribution multiplied (p50 and p99 alike).
    P50Times(f64),
    /// Every request fails.
    Outage,
    /// The share of cold starts multiplied (a cold-start storm: each still
    /// as fast as before).
    ColdTimes(f64),
}

impl RegressionKind {
    /// The model with this fault at `strength` (0 = absent, 1 = full).
    pub fn apply(self, m: &SideModel, strength: f64) -> SideModel {
        let mut m = m.clone();
        let s = strength.clamp(0.0, 1.0);
        match self {
            RegressionKind::ErrorsPlusPp(pp) => m.error_rate = (m.error_rate + s * pp / 100.0).min(1.0),
            RegressionKind::P99Times(y) => m.latency_sigma += s * y.ln() / 2.326,
            RegressionKind::P50Times(y) => m.latency_ms_p50 *= y.powf(s),
            RegressionKind::Outage => m.error_rate += s * (1.0 - m.error_rate),
            RegressionKind::ColdTimes(y) => m.cold_start_rate = (m.cold_start_rate * y.powf(s)).min(1.0),
        }
        m
    }
}

impl Fault {
    /// A fault of the new side, at full strength from `at` on.
    pub fn new_side(kind: RegressionKind, at: Duration) -> Fault {
        Fault { affects: Affects::Serverless, kind, at, lasts: None, shape: Shape::Step }
    }

    /// Its strength `since` the run began: 0 before the onset and after the end.
    pub fn strength(&self, since: Duration) -> f64 {
        let Some(into) = since.checked_sub(self.at) else { return 0.0 };
        if self.lasts.is_some_and(|l| into >= l) {
            return 0.0;
        }
        match self.shape {
            Shape::Step => 1.0,
            Shape::Ramp(over) if over.is_zero() => 1.0,
            Shape::Ramp(over) => (into.as_secs_f64() / over.as_secs_f64()).min(1.0),
            Shape::Flap { on, off } => {
                let cycle = (on + off).as_millis().max(1);
                f64::from(u8::from(into.as_millis() % cycle < on.as_millis()))
            }
        }
    }

    /// Whether its strength jumps anywhere in `(from, to)` (times since the
    /// run began): a slice that holds a jump is sampled request by request.
    pub fn jumps_within(&self, from: Duration, to: Duration) -> bool {
        let inside = |t: Duration| t > from && t < to;
        if inside(self.at) || self.lasts.is_some_and(|l| inside(self.at + l)) {
            return true;
        }
        match self.shape {
            Shape::Flap { on, off } if to > self.at => {
                // A jump every `on` and `off`; a slice longer than either holds one.
                let (a, b) = (from.max(self.at), to);
                b - a > on.min(off) || (self.strength(a) != self.strength(b.saturating_sub(Duration::from_millis(1))))
            }
            _ => false,
        }
    }
}

impl fmt::Display for RegressionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RegressionKind::ErrorsPlusPp(pp) => write!(f, "errors+{pp}pp"),
            RegressionKind::P99Times(y) => write!(f, "p99x{y}"),
            RegressionKind::P50Times(y) => write!(f, "p50x{y}"),
            RegressionKind::Outage => write!(f, "outage"),
            RegressionKind::ColdTimes(y) => write!(f, "coldx{y}"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.affects {
            Affects::Serverless => {}
            Affects::Legacy => write!(f, "legacy:")?,
            Affects::Both => write!(f, "both:")?,
        }
        write!(f, "{}@{}", self.kind, cutover_core::units::format_hours(self.at))?;
        if let Some(l) = self.lasts {
            write!(f, ",for={}", format_duration(l))?;
        }
        match self.shape {
            Shape::Step => Ok(()),
            Shape::Ramp(d) => write!(f, ",ramp={}", format_duration(d)),
            Shape::Flap { on, off } => write!(f, ",flap={}/{}", format_duration(on), format_duration(off)),
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    /// `[SIDE:]KIND@TIME[,for=D][,ramp=D | ,flap=ON/OFF]`: SIDE is
    /// `serverless` (the default), `legacy` or `both`; KIND is `errors+Npp`,
    /// `p99xN`, `p50xN`, `coldxN` or `outage`. E.g. `errors+5pp@20h`,
    /// `both:outage@1h,for=5m`, `p99x2@6h30m,ramp=1h`, `outage@3h,flap=2m/10m`.
    fn from_str(s: &str) -> Result<Fault, String> {
        const FORMS: &str = "use [legacy:|both:]KIND@TIME[,for=D][,ramp=D|,flap=ON/OFF] with KIND errors+Npp, p99xN, \
                             p50xN, coldxN or outage (e.g. errors+5pp@20h, both:outage@1h,for=5m)";
        let mut parts = s.split(',');
        let head = parts.next().unwrap_or_default();
        let (affects, head) = match head.split_once(':') {
            Some(("serverless", rest)) => (Affects::Serverless, rest),
            Some(("legacy", rest)) => (Affects::Legacy, rest),
            Some(("both", rest)) => (Affects::Both, rest),
            Some((side, _)) => return Err(format!("unknown side \"{side}\" in \"{s}\"; {FORMS}")),
            None => (Affects::Serverless, head),
        };
        let (what, at) = head.split_once('@').ok_or_else(|| format!("\"{s}\" has no @TIME; {FORMS}"))?;
        let duration = |text: &str| parse_duration(text).map_err(|e| format!("the time in \"{s}\": {e}"));
        let at = duration(at)?;
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
        } else if let Some(y) = what.strip_prefix("coldx") {
            RegressionKind::ColdTimes(number(y)?)
        } else {
            return Err(format!("unknown fault \"{what}\"; {FORMS}"));
        };
        let mut fault = Fault { affects, kind, at, lasts: None, shape: Shape::Step };
        for part in parts {
            match part.split_once('=') {
                Some(("for", d)) => fault.lasts = Some(duration(d)?).filter(|d| !d.is_zero()),
                Some(("ramp", d)) => fault.shape = Shape::Ramp(duration(d)?),
                Some(("flap", on_off)) => {
                    let (on, off) = on_off
                        .split_once('/')
                        .ok_or_else(|| format!("flap={on_off} in \"{s}\": use flap=ON/OFF, e.g. flap=2m/10m"))?;
                    let (on, off) = (duration(on)?, duration(off)?);
                    if on.is_zero() || off.is_zero() {
                        return Err(format!("flap={on_off} in \"{s}\": both times are above 0"));
                    }
                    fault.shape = Shape::Flap { on, off };
                }
                _ => return Err(format!("\"{part}\" in \"{s}\"; {FORMS}")),
            }
        }
        Ok(fault)
    }
}

/// Users with sticky cohorts: each request comes from one of `count` users,
/// and a user's requests all land on the side their cohort is bucketed to,
/// as at the real edge. `sick` of them fail `sick_error_rate` of their
/// requests on either side (a broken client, bad data): their errors come
/// in clusters, not one request at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Users {
    pub count: u32,
    pub sick: u32,
    pub sick_error_rate: f64,
}

/// Everything about a simulated run except the plan and the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub start: Timestamp,
    pub traffic: Traffic,
    pub legacy: SideModel,
    pub serverless: SideModel,
    /// What goes wrong; a rollback is a detection only for a fault of the
    /// new side alone, and a false rollback otherwise.
    pub faults: Vec<Fault>,
    /// Latency rises with load on both sides: at `k`, a minute with `x`
    /// times the average traffic has its latencies scaled by
    /// `1 + k * (x - 1)` (0 = latency does not depend on load).
    pub latency_load_slope: f64,
    /// Sticky users, or `None` for requests independent of each other.
    pub users: Option<Users>,
    /// Whether the metric source tells each user request's cohort bucket
    /// (local mode's edge does; CloudWatch's per-side counts do not).
    pub cohort_evidence: bool,
    /// Synthetic probes per side per minute, pinned to each side.
    pub probes_per_minute: u32,
    /// Probes per minute to a side that carries at most 10 % of the users
    /// (the new side early on, the old side at the last steps): evidence
    /// where user traffic is thin. Never fewer than `probes_per_minute`.
    pub quiet_side_probes_per_minute: u32,
    /// Time from ApplyWeight to the edge's answer (uniform in the range).
    pub edge_delay: (Duration, Duration),
    /// Chance that one apply fails, and that it conflicts.
    pub edge_failure_rate: f64,
    pub edge_conflict_rate: f64,
    /// Time from Measure to its answer, and the chance a source fails.
    pub measure_delay: Duration,
    pub measure_failure_rate: f64,
    /// Chance that a source answers "not published yet" (CloudWatch's late
    /// datapoints): the engine asks again later.
    pub measure_late_rate: f64,
    /// Chance that the controller dies right after a persist: the rest of the
    /// batch is lost and a new engine restores from the store.
    pub crash_rate: f64,
    /// How long past the plan's own length the run may go on.
    pub overtime: Duration,
    /// Faults at the controller's own ports (`cutover simulate --faults`).
    pub ports: PortFaults,
}

impl Scenario {
    /// The default scenario with `faults`.
    pub fn with_faults(faults: Vec<Fault>) -> Scenario {
        Scenario { faults, ..Scenario::default() }
    }

    /// When the first fault of the new side alone begins: the onset a
    /// rollback is measured from.
    pub fn regression_at(&self) -> Option<Duration> {
        self.faults.iter().filter(|f| f.affects == Affects::Serverless).map(|f| f.at).min()
    }
}

/// Faults at the controller's own ports, on top of the scenario's edge
/// failures and conflicts, failed and late metric reads, and crashes: what
/// `cutover simulate --faults` turns on. Rates are chances per request;
/// `*_per_day` are Poisson rates over the run. All zero by default, and a
/// run with none of them draws exactly the random numbers it drew before
/// they existed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortFaults {
    /// An edge write that outlives the driver's deadline (5 s): answered
    /// "failed" then, it goes on and may land after the driver's next
    /// write began (the edge's version check decides).
    pub edge_timeout_rate: f64,
    /// A landed write whose verification takes 1 to 10 minutes: it agrees
    /// within the driver's 300 s bound, or is unverified at it.
    pub verify_late_rate: f64,
    /// A landed write whose verification never agrees (unverified).
    pub unverified_rate: f64,
    /// Spells in which every edge write and read fails, per day (1 to 30
    /// minutes each).
    pub edge_outages_per_day: f64,
    /// Someone else writes the edge (drift), per day.
    pub drift_per_day: f64,
    /// A metric read that covers only the first part of its window.
    pub measure_partial_rate: f64,
    /// A metric read that finds no data at all.
    pub measure_empty_rate: f64,
    /// A metric read answered minutes late (past the driver's deadline,
    /// as a failure).
    pub measure_slow_rate: f64,
    /// A store write that fails before it commits.
    pub store_fail_before_rate: f64,
    /// A store write that commits and still reports a failure (the caller
    /// cannot tell which): the driver rebuilds from the store either way.
    pub store_fail_after_rate: f64,
    /// The leader's lease lapses (its renewals failed) and another
    /// controller takes over a little later, per day.
    pub lease_lost_per_day: f64,
    /// The leader stalls (SIGSTOP, a paused VM), per day: up to the lease's
    /// time to live it is a pause; past it another controller takes over
    /// and the first wakes fenced, its edge write possibly still in flight.
    pub stalls_per_day: f64,
    /// Chance that the leader stalls between reading the edge and writing
    /// it, past its lease: the write goes out when it wakes, after another
    /// controller has taken over (only the edge's version check stops it).
    pub stall_mid_write_rate: f64,
    /// The leader is suspended for 1 to 60 minutes with no stand-by to take
    /// over (a paused VM, a laptop lid), per day: time jumps under it; it
    /// wakes with every timer overdue and its lease lapsed, retakes it and
    /// rebuilds from the store.
    pub time_jumps_per_day: f64,
    /// Operator commands from several people at random times, per day.
    pub commands_per_day: f64,
    /// Someone on call resumes a cutover the controller paused (drift, an
    /// unverified edge, no data), after 5 minutes to an hour.
    pub on_call: bool,
    /// Not a fault but a what-if: the edge writes whatever it is sent,
    /// ignoring the version its writer read (an edge without ETags). It
    /// shows what the version check prevents.
    pub edge_ignores_versions: bool,
}

/// The ports of the controller that `--faults` can fault, each a group of
/// the faults above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// Writes that fail, conflict, time out, verify late or never; outages; drift.
    Edge,
    /// Reads that fail, come late, partial, empty or slow.
    Metrics,
    /// Writes that fail before or after committing; crashes after a write.
    Store,
    /// Lapsed leases, stalls past the lease, a second controller.
    Leader,
    /// Time jumping under the leader (suspended with no stand-by).
    Clock,
    /// Commands from several people at random times.
    Operators,
}

impl Port {
    pub const ALL: [Port; 6] = [Port::Edge, Port::Metrics, Port::Store, Port::Leader, Port::Clock, Port::Operators];

    pub fn name(self) -> &'static str {
        match self {
            Port::Edge => "edge",
            Port::Metrics => "metrics",
            Port::Store => "store",
            Port::Leader => "leader",
            Port::Clock => "clock",
            Port::Operators => "operators",
        }
    }

    /// `all`, `none`, or a comma-separated list of port names.
    pub fn parse_list(text: &str) -> Result<Vec<Port>, String> {
        match text.trim() {
            "all" => return Ok(Port::ALL.to_vec()),
            "none" => return Ok(Vec::new()),
            _ => {}
        }
        let names = || Port::ALL.map(Port::name).join(", ");
        text.split(',')
            .map(|name| {
                let name = name.trim();
                Port::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| {
                    format!("unknown port \"{name}\" in --faults {text}: use all, none, or a list of {}", names())
                })
            })
            .collect()
    }
}

impl PortFaults {
    pub fn any(&self) -> bool {
        *self != PortFaults::default()
    }
}

impl Scenario {
    /// `self` with `ports` faulted: each group's faults of [`PortFaults`],
    /// and the scenario's own edge failures and conflicts, failed and
    /// late metric reads, and crashes at higher rates.
    pub fn with_port_faults(mut self, ports: &[Port]) -> Scenario {
        let f = &mut self.ports;
        for port in ports {
            match port {
                Port::Edge => {
                    self.edge_failure_rate = 0.05;
                    self.edge_conflict_rate = 0.03;
                    f.edge_timeout_rate = 0.05;
                    f.verify_late_rate = 0.1;
                    f.unverified_rate = 0.01;
                    f.edge_outages_per_day = 1.0;
                    f.drift_per_day = 0.5;
                }
                Port::Metrics => {
                    self.measure_failure_rate = 0.01;
                    self.measure_late_rate = 0.02;
                    f.measure_partial_rate = 0.05;
                    f.measure_empty_rate = 0.02;
                    f.measure_slow_rate = 0.03;
                }
                // Each rebuild reads the whole cutover's evidence again, so
                // a few per run, not dozens: about 5 of each in 48 hours.
                Port::Store => {
                    self.crash_rate = 0.002;
                    f.store_fail_before_rate = 0.002;
                    f.store_fail_after_rate = 0.002;
                }
                Port::Leader => {
                    f.lease_lost_per_day = 1.0;
                    f.stalls_per_day = 3.0;
                    f.stall_mid_write_rate = 0.03;
                }
                Port::Clock => f.time_jumps_per_day = 1.0,
                Port::Operators => {
                    f.commands_per_day = 3.0;
                    f.on_call = true;
                }
            }
        }
        self
    }
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            // 2026-11-28T12:00:00Z: a Saturday noon; only hours matter.
            start: Timestamp::from_ms(1_795_867_200_000),
            traffic: Traffic::diurnal(100_000.0),
            legacy: SideModel::legacy(),
            serverless: SideModel::serverless(),
            faults: Vec::new(),
            latency_load_slope: 0.0,
            users: None,
            cohort_evidence: true,
            probes_per_minute: 1,
            quiet_side_probes_per_minute: 10,
            edge_delay: (Duration::from_secs(2), Duration::from_secs(20)),
            edge_failure_rate: 0.02,
            edge_conflict_rate: 0.01,
            measure_delay: Duration::from_secs(30),
            measure_failure_rate: 0.002,
            measure_late_rate: 0.0,
            crash_rate: 0.0,
            overtime: Duration::from_secs(24 * 3600),
            ports: PortFaults::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_print_back() {
        for text in [
            "errors+5pp@20h",
            "p99x1.5@10h",
            "p50x1.2@30m",
            "outage@2h",
            "coldx20@6h",
            "both:outage@1h,for=5m",
            "legacy:errors+30pp@6h30m,for=15m",
            "p99x2@6h,ramp=1h",
            "outage@3h,flap=2m/10m",
        ] {
            let r: Fault = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        for bad in ["errors+5@20h", "outage", "p99x-1@1h", "errors+500pp@1h", "left:outage@1h", "outage@1h,flap=2m"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
    }

    #[test]
    fn strength_follows_the_shape() {
        let h = |n: u64| Duration::from_secs(n * 60);
        let f: Fault = "outage@10m,for=30m,flap=2m/3m".parse().unwrap();
        let s: Vec<f64> = [9, 10, 11, 12, 13, 15, 16, 40].map(|m| f.strength(h(m))).to_vec();
        assert_eq!(s, [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
        assert!(f.jumps_within(h(11), h(13)) && !f.jumps_within(h(12) + Duration::from_secs(1), h(14)));
        let r: Fault = "p99x2@1h,ramp=1h".parse().unwrap();
        assert_eq!(r.strength(Duration::from_secs(5400)), 0.5);
        assert_eq!(r.strength(Duration::from_secs(9000)), 1.0);
    }

    #[test]
    fn traffic_averages_to_the_daily_rate() {
        let t = Traffic::diurnal(100_000.0);
        let day: f64 = (0..1440).map(|m| t.per_minute(Timestamp::from_ms(m * 60_000))).sum();
        assert!((day / 100_000.0 - 1.0).abs() < 1e-9, "{day}");
        let r = Traffic::recorded(vec![10.0, 30.0], Timestamp::from_ms(60_000));
        assert_eq!(r.per_minute(Timestamp::from_ms(60_000)), 10.0);
        assert_eq!(r.per_minute(Timestamp::from_ms(180_000)), 10.0);
        assert_eq!(r.mean_per_minute(), 20.0);
    }
}
