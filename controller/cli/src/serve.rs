//! `cutover serve`: the control-plane daemon. It leads every cutover in its
//! store whose lease it can take, each in a task of its own (with its own
//! tracing span), and answers the control API ([`crate::api`]).
//!
//! Replicas on one store share the work through the leases: a supervisor
//! looks at the store every second and tries, once, to take the lease of
//! each cutover that needs a leader and has none here; the store's lease
//! decides who wins. A replica that dies leaves its leases to expire, and
//! another takes them over at its next look; one that was stopped (SIGSTOP)
//! past its lease finds itself fenced when it wakes and writes nothing
//! more. SIGTERM stops taking cutovers, lets each driver finish its edge
//! write, releases its leases (another replica takes over at once) and
//! flushes notifications.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use cutover_core::engine::{CutoverState, Event, EventKind};
use cutover_core::judge::{Analysis, Unit};
use cutover_core::plan::Plan;
use cutover_core::store::{CommitWatch, Lease, Store, StoreError, Watched};
use cutover_core::units::Timestamp;
use cutover_runtime::{system_now, DriverError, ScaledClock, Settings};
use futures_util::FutureExt;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::drive::{drive, Controller};
use crate::failure::Failure;
use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};
use crate::tokens::Tokens;
use crate::view::phase_words;

/// How often the supervisor looks for cutovers to lead.
const SCAN: Duration = Duration::from_secs(1);
/// How long SIGTERM waits for the drivers to let go: longer than an edge
/// write and a notification flush together.
const DRAIN: Duration = Duration::from_secs(60);
/// How often a settled cutover that still owes notifications is led again.
const OUTBOX_LOOK: Duration = Duration::from_secs(300);
/// How long after settling a cutover is led again for its notifications:
/// after a day, news of it is history (the trail keeps it).
const OUTBOX_GIVE_UP: Duration = Duration::from_secs(24 * 3600);
/// A cutover whose leading failed (its plan no longer parses, its store
/// answers nothing) is not tried again for this long.
const COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where the control API listens (port 0 picks a free one; the address is printed).
    /// Loopback unless told otherwise; any other address needs tokens.
    #[arg(long, default_value = "127.0.0.1:7300")]
    pub listen: SocketAddr,
    /// Where cutovers are recorded: a SQLite file (local mode) or dynamodb://TABLE.
    #[arg(long, env = "CUTOVER_STORE", default_value = ".cutover/cutover.db")]
    pub store: StoreAt,
    /// The API's bearer tokens, a `NAME ROLE SECRET` line each (roles: viewer, operator, admin).
    /// Without any (here or in CUTOVER_TOKENS), the API serves reads only.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// How long a lease outlives this process if it dies, in seconds: another replica takes over after it.
    #[arg(long, default_value_t = 15.0)]
    pub lease_ttl: f64,
    /// Names this replica in leases and logs; unique per replica (default: serve-HOST-PID-RANDOM).
    #[arg(long)]
    pub holder: Option<String>,
    /// A GET route both sides serve, for the verification probes.
    #[arg(long, default_value = "/api/health")]
    pub probe_path: String,
    /// Serve the API over TLS with this certificate chain (PEM); with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Publish `Cutover/ControllerHeartbeat` and `Cutover/LongestPauseSeconds` to CloudWatch
    /// every --heartbeat-every seconds: the monitoring module's alarms watch them (AWS builds).
    #[arg(long)]
    pub cloudwatch_heartbeat: bool,
    /// Seconds between heartbeats (with --cloudwatch-heartbeat).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_every: u64,
}

/// What the API and the supervisor share.
pub struct Daemon {
    pub store: AnyStore,
    pub tokens: Tokens,
    metrics: Arc<Metrics>,
    pub stopping: watch::Receiver<bool>,
    controller: Controller,
    /// Cutovers this replica leads now.
    led: Mutex<BTreeSet<String>>,
    /// Cutovers to look at now, whatever their phase (a command just sent).
    wanted: Mutex<HashSet<String>>,
    /// Leases another replica holds, and until when: not asked for again
    /// before then (with many cutovers on DynamoDB, every ask is a write).
    held: Mutex<HashMap<String, Timestamp>>,
    wake: Notify,
    /// Per cutover, the newest analysis seen and where reading stopped.
    tails: Mutex<HashMap<String, Tail>>,
    /// Settled cutovers whose outbox was looked at: for which version, and
    /// when to look again (`None`: never, it was found drained).
    outbox: Mutex<HashMap<String, (u64, Option<std::time::Instant>)>>,
    /// Per cutover, its series as last served: every viewer of one version
    /// shares one build (a 48-hour trail takes tens of ms to read and check).
    series: Mutex<HashMap<String, SeriesCache>>,
}

/// A series as JSON, for the version and line count it was built for, and when.
struct SeriesCache {
    version: u64,
    recent: usize,
    built: std::time::Instant,
    json: bytes::Bytes,
}

/// How long a built series is served again for its version: the hash
/// chain's status is at most this old (a trail changed behind the store's
/// back without a new version shows as broken within it).
const SERIES_FRESH: Duration = Duration::from_secs(10);

/// The newest analysis of a trail, and the place reading it stopped.
pub type Tail = (Option<Event>, Option<(u64, u16)>);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Daemon {
    /// A daemon on `store` with nothing led yet; it serves until `stopping`
    /// turns true.
    fn new(store: AnyStore, tokens: Tokens, controller: Controller, stopping: watch::Receiver<bool>) -> Daemon {
        Daemon {
            store,
            tokens,
            metrics: Arc::new(Metrics::default()),
            stopping,
            controller,
            led: Mutex::default(),
            wanted: Mutex::default(),
            held: Mutex::default(),
            wake: Notify::new(),
            tails: Mutex::default(),
            series: Mutex::default(),
            outbox: Mutex::default(),
        }
    }

    /// A daemon that leads nothing (no supervisor runs), for the API's
    /// tests; it serves until the sender is dropped.
    #[cfg(test)]
    pub(crate) fn for_tests(store: AnyStore, tokens: Tokens) -> (Arc<Daemon>, watch::Sender<bool>) {
        let (stop, stopping) = watch::channel(false);
        let settings = Settings { holder: "test".into(), ..Settings::default() };
        let controller = Controller { settings, edge: None, probe_path: "/api/health".into(), aws: Default::default() };
        (Arc::new(Daemon::new(store, tokens, controller, stopping)), stop)
    }

    /// Asks the supervisor to look at `id` now, whatever its phase: a
    /// command for a settled cutover needs a leader to take it.
    pub fn nudge(&self, id: &str) {
        lock(&self.wanted).insert(id.to_owned());
        self.wake.notify_one();
    }

    /// The newest analysis in `id`'s trail and the trail's last place,
    /// reading only what was written since the last call (for any caller).
    pub async fn tail(&self, id: &str) -> Result<Tail, StoreError> {
        let (latest, after) = lock(&self.tails).get(id).cloned().unwrap_or_default();
        let tail = crate::view::latest_analysis(&self.store, id, after, latest).await?;
        let mut tails = lock(&self.tails);
        let known = tails.entry(id.to_owned()).or_default();
        if tail.1 > known.1 {
            *known = tail.clone();
        }
        Ok(tail)
    }

    /// `id`'s series as JSON with its `recent` newest lines, built again
    /// only when the cutover moved (or the last build is older than
    /// `SERIES_FRESH`). `None` when there is no such cutover.
    pub async fn series_json(&self, id: &str, recent: usize) -> Result<Option<bytes::Bytes>, StoreError> {
        let Some(stored) = self.store.load(id).await? else { return Ok(None) };
        let version = stored.state.version;
        if let Some(cached) = lock(&self.series).get(id) {
            if cached.version == version && cached.recent == recent && cached.built.elapsed() < SERIES_FRESH {
                return Ok(Some(cached.json.clone()));
            }
        }
        let Some(trail) = self.store.trail(id).await? else { return Ok(None) };
        let series = crate::series::Series::build(&stored, &trail, recent);
        let json = bytes::Bytes::from(serde_json::to_vec(&series).unwrap_or_default());
        let built = std::time::Instant::now();
        lock(&self.series).insert(id.to_owned(), SeriesCache { version, recent, built, json: json.clone() });
        Ok(Some(json))
    }

    /// `/metrics`: `states` and this replica's own numbers.
    pub fn metrics_text(&self, states: &[CutoverState]) -> String {
        self.metrics.render(states, &lock(&self.led))
    }

    /// Whether a cutover in this phase needs a leader: any but a settled one.
    fn needs_leader(state: &CutoverState) -> bool {
        !state.phase.is_settled()
    }

    /// Whether a settled cutover still owes its webhooks a notification (its
    /// last leader died before sending it, or a webhook was down past
    /// `OUTBOX_PATIENCE`): looked at once per version, and again
    /// [`OUTBOX_LOOK`] after each time this replica led it, for up to
    /// [`OUTBOX_GIVE_UP`] after it settled.
    async fn owes_notifications(&self, state: &CutoverState) -> bool {
        let now = std::time::Instant::now();
        let looked = lock(&self.outbox).get(&state.id).copied();
        if looked.is_some_and(|(version, next)| version == state.version && next.is_none_or(|next| now < next)) {
            return false;
        }
        // Engine time runs at least as fast as the wall's (speed >= 1): a
        // state a day old in engine time settled more than a day ago, and
        // its plan need not be read.
        if system_now().as_ms().saturating_sub(state.updated_at.as_ms()) > OUTBOX_GIVE_UP.as_millis() as u64 {
            lock(&self.outbox).insert(state.id.clone(), (state.version, None));
            return false;
        }
        let owed = async {
            let Some(stored) = self.store.load(&state.id).await? else { return Ok(false) };
            let settled = stored.time.wall_time(state.updated_at);
            if system_now().as_ms().saturating_sub(settled.as_ms()) > OUTBOX_GIVE_UP.as_millis() as u64 {
                return Ok(false);
            }
            let Ok(plan) = Plan::parse_stored(&stored.plan) else { return Ok(false) };
            cutover_runtime::undelivered(&self.store, &state.id, &plan.notify.webhooks).await
        };
        let next = match owed.await {
            // Asked again at every look until some replica leads it.
            Ok(true) => return true,
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(cutover = %state.id, error = %e, "cannot tell whether notifications are owed; looking again later");
                Some(now + OUTBOX_LOOK)
            }
        };
        lock(&self.outbox).insert(state.id.clone(), (state.version, next));
        false
    }

    /// Looks at the store and takes the lease of every cutover that needs a
    /// leader and has none here (one try each: the lease decides).
    async fn look(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        while tasks.try_join_next().is_some() {}
        let mut states = match self.store.list().await {
            Ok(states) => states,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the store's cutovers; trying again");
                return;
            }
        };
        // The cutovers that need a leader first; settled ones' outboxes after.
        states.sort_by_key(|state| !Daemon::needs_leader(state));
        lock(&self.held).retain(|_, until| *until > system_now());
        for state in states {
            let id = state.id.clone();
            // A cutover an operator just sent a command to stays wanted
            // until a driver of this replica has read its inbox.
            let wanted = lock(&self.wanted).contains(&id);
            if lock(&self.led).contains(&id) {
                continue;
            }
            if lock(&self.held).contains_key(&id) && !wanted {
                continue;
            }
            let needed = Daemon::needs_leader(&state) || wanted;
            if !needed && !self.owes_notifications(&state).await {
                continue;
            }
            let now = system_now();
            let settings = &self.controller.settings;
            match self.store.acquire(&id, &settings.holder, now, settings.lease_ttl).await {
                Ok(lease) => {
                    if !needed {
                        // Not looked at again until this lead ends (`lead`).
                        tracing::info!(cutover = %id, "settled, but its webhooks are owed notifications: leading it to send them");
                    }
                    lock(&self.wanted).remove(&id);
                    lock(&self.led).insert(id.clone());
                    let span = tracing::info_span!("cutover", id = %id, epoch = lease.epoch);
                    tasks.spawn(self.clone().lead(id, lease).instrument(span));
                }
                Err(StoreError::LeaseHeld { expires_at, .. }) => {
                    // Whoever leads it takes the command; nothing to want.
                    lock(&self.wanted).remove(&id);
                    lock(&self.held).insert(id, expires_at);
                }
                Err(e) => tracing::warn!(cutover = %id, error = %e, "cannot take the lease; trying again"),
            }
        }
    }

    /// Leads one cutover until it settles, its lease is lost, or the daemon
    /// stops.
    async fn lead(self: Arc<Self>, id: String, lease: Lease) {
        // Whatever happens, even a panic, this replica no longer leads it
        // afterwards, so a later look can take it again.
        struct Led<'a>(&'a Daemon, &'a str);
        impl Drop for Led<'_> {
            fn drop(&mut self) {
                lock(&self.0.led).remove(self.1);
                self.0.metrics.forget(self.1);
            }
        }
        let _led = Led(&self, &id);
        tracing::info!(holder = %self.controller.settings.holder, "leading");
        let leading = async {
            let stored = self.store.load(&id).await?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            let plan = Plan::parse_stored(&stored.plan)
                .map_err(|e| Failure::Other(anyhow::anyhow!("the recorded plan no longer parses: {e}")))?;
            let store = Watched { inner: self.store.clone(), watch: self.metrics.clone() };
            let mut stopping = self.stopping.clone();
            let stop = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            let clock = ScaledClock::new(stored.time);
            drive(&store, &id, &plan, clock, &self.controller, Some(lease.clone()), stop).await
        };
        // A broken engine assertion panics: the cutover stays as the store
        // has it, and this replica lets go of it and cools down like after
        // any failure, rather than take it again every lease.
        let outcome = AssertUnwindSafe(leading).catch_unwind().await.unwrap_or_else(|panic| {
            let text = cutover_sim::summary::panic_text(panic.as_ref());
            Err(Failure::Other(anyhow::anyhow!("the driver panicked: {text}")))
        });
        match outcome {
            Ok(state) => {
                tracing::info!(phase = %state.phase, "no longer leading");
                if !Daemon::needs_leader(&state) {
                    // Whatever it still owes its webhooks (one down past
                    // the driver's patience) is tried again after a while.
                    let next = std::time::Instant::now() + OUTBOX_LOOK;
                    lock(&self.outbox).insert(id.clone(), (state.version, Some(next)));
                }
            }
            Err(Failure::Driver(DriverError::LeaseLost { holder, .. })) => {
                tracing::warn!(%holder, "the lease passed to another replica; no longer leading")
            }
            Err(e) => {
                let secs = COOL_DOWN.as_secs();
                tracing::error!(error = %format!("{e:#}"), "leading failed; trying again in {secs} s");
                let _ = self.store.release(&id, &lease).await;
                lock(&self.held).insert(id.clone(), system_now() + COOL_DOWN);
            }
        }
    }

    /// Every `every`, while serving: this replica is alive, and the
    /// longest pause among the store's cutovers. A failed beat is logged
    /// and the next one tried; the alarm counts beats, not this process.
    async fn heartbeat(self: Arc<Self>, every: Duration) {
        #[cfg(feature = "aws")]
        {
            let clients = cutover_aws::Clients::new(&self.controller.aws.endpoints()).await;
            let mut stopping = self.stopping.clone();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
                let states = match self.store.list().await {
                    Ok(states) => states,
                    Err(e) => {
                        // No beat: a replica that cannot read its store cannot lead.
                        tracing::warn!(error = %e, "no heartbeat: the store's cutovers cannot be listed");
                        continue;
                    }
                };
                let now = system_now();
                let longest_pause_s = cutover_aws::longest_pause_secs(&states, now);
                match cutover_aws::put_metrics(&clients.cloudwatch, cutover_aws::heartbeat(longest_pause_s, now)).await
                {
                    Ok(()) => tracing::debug!(longest_pause_s, "heartbeat published"),
                    Err(e) => tracing::warn!(error = %e, "the heartbeat could not be published to CloudWatch"),
                }
            }
        }
        #[cfg(not(feature = "aws"))]
        let _ = every;
    }

    /// The supervisor: looks every [`SCAN`], or at once when nudged, until
    /// the daemon stops; then waits (bounded) for every driver to let go.
    async fn supervise(self: Arc<Self>) {
        let mut tasks = JoinSet::new();
        let mut stopping = self.stopping.clone();
        loop {
            self.look(&mut tasks).await;
            tokio::select! {
                _ = tokio::time::sleep(SCAN) => {}
                () = self.wake.notified() => {}
                _ = stopping.wait_for(|stop| *stop) => break,
            }
        }
        let drained = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("drivers still busy after {} s; leaving their leases to expire", DRAIN.as_secs());
        }
    }
}

pub async fn run(args: &ServeArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    if args.cloudwatch_heartbeat && !cfg!(feature = "aws") {
        return Err(Failure::input(
            "--cloudwatch-heartbeat: this build has no AWS adapters; build with `--features aws`",
        ));
    }
    if !(args.lease_ttl.is_finite() && (0.3..=600.0).contains(&args.lease_ttl)) {
        return Err(Failure::input(format!("--lease-ttl {}: give 0.3 to 600 seconds", args.lease_ttl)));
    }
    let mut tokens = match &args.tokens {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::input(format!("--tokens {}: cannot read it: {e}", path.display())))?;
            Tokens::parse(&text, &path.display().to_string()).map_err(Failure::Input)?
        }
        None => Tokens::default(),
    };
    if let Ok(text) = std::env::var("CUTOVER_TOKENS") {
        if !text.trim().is_empty() {
            if !tokens.is_empty() {
                return Err(Failure::input("give tokens in --tokens FILE or in CUTOVER_TOKENS, not both"));
            }
            tokens = Tokens::parse(&text, "CUTOVER_TOKENS").map_err(Failure::Input)?;
        }
    }
    if !args.listen.ip().is_loopback() && tokens.is_empty() {
        return Err(Failure::input(format!(
            "--listen {}: an address beyond loopback needs tokens (--tokens FILE or CUTOVER_TOKENS)",
            args.listen
        )));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::config(cert, key)?),
        _ => None,
    };
    let store = AnyStore::open(&args.store, Open::Create, aws).await?.context("the store")?;
    let holder = args.holder.clone().unwrap_or_else(|| cutover_runtime::holder_name("serve"));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::input(format!("--listen {}: cannot listen there: {e}", args.listen)))?;
    let address = listener.local_addr().context("the listening address")?;
    let (stop, stopping) = watch::channel(false);
    let settings = Settings {
        holder: holder.clone(),
        lease_ttl: Duration::from_secs_f64(args.lease_ttl),
        poll: Duration::from_millis(200),
        acquire_wait: Duration::ZERO,
        ..Settings::default()
    };
    let controller = Controller { settings, edge: None, probe_path: args.probe_path.clone(), aws: aws.clone() };
    let daemon = Arc::new(Daemon::new(store, tokens, controller, stopping));
    let stop_signal = crate::edge::shutdown_signal();
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("cutover serve listening on {scheme}://{address}");
    tracing::info!(%address, %holder, store = %args.store, tokens = daemon.tokens.len(), "serving");
    let supervisor = tokio::spawn(daemon.clone().supervise());
    if args.cloudwatch_heartbeat {
        tokio::spawn(daemon.clone().heartbeat(Duration::from_secs(args.heartbeat_every)));
    }
    let app = crate::api::router(daemon.clone());
    let mut stopped = daemon.stopping.clone();
    let stopped = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let serving = crate::tls::serve(listener, tls, app, stopped);
    let signal = async {
        stop_signal.await;
        tracing::info!("stopping: releasing leases");
        let _ = stop.send(true);
    };
    let (served, ()) = tokio::join!(serving, signal);
    served.context("serving the API")?;
    let _ = supervisor.await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// What this replica decided, and the latest numbers of what it leads, for
/// `/metrics`, fed by the commits of its drivers ([`Watched`]).
#[derive(Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    verdicts: BTreeMap<&'static str, u64>,
    rollbacks: BTreeMap<String, u64>,
    edge_failures: u64,
    starts: u64,
    /// The latest analysis of each cutover this replica leads.
    latest: BTreeMap<String, Analysis>,
}

impl Metrics {
    /// A cutover this replica no longer leads: its numbers are another's now.
    fn forget(&self, id: &str) {
        lock(&self.counts).latest.remove(id);
    }

    fn committed(&self, id: &str, events: &[Event]) {
        let mut counts = lock(&self.counts);
        for event in events {
            match &event.kind {
                EventKind::Analysis { analysis, .. } => {
                    *counts.verdicts.entry(analysis.verdict.as_str()).or_default() += 1;
                    counts.latest.insert(id.to_owned(), analysis.clone());
                }
                EventKind::RollbackStarted { reason } => *counts.rollbacks.entry(reason.to_string()).or_default() += 1,
                EventKind::EdgeFailed { .. } => counts.edge_failures += 1,
                EventKind::Started { .. } => counts.starts += 1,
                _ => {}
            }
        }
    }

    /// The Prometheus text exposition of `states`, the cutovers this
    /// replica leads, and its counts.
    pub fn render(&self, states: &[CutoverState], led: &BTreeSet<String>) -> String {
        use std::fmt::Write;
        let counts = lock(&self.counts);
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(&mut out, "cutover_weight_bps", "gauge", "The weight intended at the edge, in basis points.");
        for s in states {
            let _ = writeln!(out, "cutover_weight_bps{{cutover=\"{}\"}} {}", label(&s.id), s.weight.bps());
        }
        family(&mut out, "cutover_step", "gauge", "The current step, from 1.");
        for s in states {
            let _ = writeln!(out, "cutover_step{{cutover=\"{}\"}} {}", label(&s.id), s.step + 1);
        }
        family(&mut out, "cutover_phase", "gauge", "1 for the phase each cutover is in.");
        for s in states {
            let (phase, _) = phase_words(s.phase);
            let _ = writeln!(out, "cutover_phase{{cutover=\"{}\",phase=\"{phase}\"}} 1", label(&s.id));
        }
        family(&mut out, "cutover_led", "gauge", "1 for each cutover this replica leads.");
        for id in led {
            let _ = writeln!(out, "cutover_led{{cutover=\"{}\"}} 1", label(id));
        }
        family(&mut out, "cutover_side_latency_ms", "gauge", "Each side's latency in the latest analysis.");
        for (id, a) in &counts.latest {
            for c in a.checks.iter().filter(|c| c.unit == Unit::Ms) {
                let quantile = match c.check {
                    cutover_core::judge::CheckName::LatencyP50 => "0.5",
                    cutover_core::judge::CheckName::LatencyP99 => "0.99",
                    _ => continue,
                };
                for (side, value) in [("legacy", c.legacy), ("serverless", c.serverless)] {
                    if let Some(v) = value {
                        let _ = writeln!(
                            out,
                            "cutover_side_latency_ms{{cutover=\"{}\",side=\"{side}\",quantile=\"{quantile}\"}} {v}",
                            label(id)
                        );
                    }
                }
            }
        }
        family(&mut out, "cutover_side_error_percent", "gauge", "Each side's error rate in the latest analysis.");
        for (id, a) in &counts.latest {
            for c in a.checks.iter().filter(|c| c.check == cutover_core::judge::CheckName::ErrorRate) {
                for (side, value) in [("legacy", c.legacy), ("serverless", c.serverless)] {
                    if let Some(v) = value {
                        let _ = writeln!(
                            out,
                            "cutover_side_error_percent{{cutover=\"{}\",side=\"{side}\"}} {v}",
                            label(id)
                        );
                    }
                }
            }
        }
        family(
            &mut out,
            "cutover_check_e_value",
            "gauge",
            "Each check's evidence against \"the new side is no worse\".",
        );
        for (id, a) in &counts.latest {
            for c in &a.checks {
                if let Some(e) = c.e_value {
                    let _ = writeln!(
                        out,
                        "cutover_check_e_value{{cutover=\"{}\",check=\"{}\"}} {e}",
                        label(id),
                        c.check.as_str()
                    );
                }
            }
        }
        family(&mut out, "cutover_check_e_threshold", "gauge", "Where each check's e-value fails it.");
        for (id, a) in &counts.latest {
            for c in &a.checks {
                if let Some(e) = c.e_threshold {
                    let _ = writeln!(
                        out,
                        "cutover_check_e_threshold{{cutover=\"{}\",check=\"{}\"}} {e}",
                        label(id),
                        c.check.as_str()
                    );
                }
            }
        }
        family(&mut out, "cutover_verdicts_total", "counter", "Analyses this replica recorded, by verdict.");
        for verdict in ["pass", "inconclusive", "error", "fail"] {
            let _ = writeln!(
                out,
                "cutover_verdicts_total{{verdict=\"{verdict}\"}} {}",
                counts.verdicts.get(verdict).unwrap_or(&0)
            );
        }
        family(&mut out, "cutover_rollbacks_total", "counter", "Rollbacks this replica started, by reason.");
        for (reason, n) in &counts.rollbacks {
            let _ = writeln!(out, "cutover_rollbacks_total{{reason=\"{}\"}} {n}", label(reason));
        }
        family(&mut out, "cutover_edge_failures_total", "counter", "Edge writes that failed (each retried).");
        let _ = writeln!(out, "cutover_edge_failures_total {}", counts.edge_failures);
        family(&mut out, "cutover_starts_total", "counter", "Cutovers this replica started.");
        let _ = writeln!(out, "cutover_starts_total {}", counts.starts);
        out
    }
}

/// A label value, escaped as the exposition format asks.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// What this replica's drivers commit is counted.
impl CommitWatch for Metrics {
    fn after(&self, state: &CutoverState, events: &[Event]) {
        self.committed(&state.id, events);
    }
}
