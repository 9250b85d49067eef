//! `cutover soak`: a compressed cutover under two daemon replicas whose
//! leader is killed (SIGKILL) at random moments and stopped (SIGSTOP) past
//! its lease, then judged by what it left behind.
//!
//! The processes are the demo's (two origins, the edge, `cutover serve`)
//! plus a webhook receiver in this process. A killed replica is replaced
//! by a fresh one, so two always run; a stopped one is continued after
//! three lease times, and must wake to find its lease gone. Just before
//! each kill but the last odd one, an operator's command goes to the
//! leader through the API, a pause and then a resume, so a leader often
//! dies between reading a command and writing what it did. When the
//! cutover settles, the soak waits for the webhooks' outbox to drain and
//! checks:
//!
//! - the cutover ends as it would have with no kills: completed, every
//!   step of the plan confirmed at the edge in order, the edge at 100 %;
//! - no audit event lost (versions and indices without a hole) or decided
//!   twice (one `started`, one `completed`, each step advanced to once);
//! - the hash chain verifies;
//! - every notification reached the webhook (repeats, under one key, are
//!   allowed and counted: at least once);
//! - every command sent was handled once: it shows once in the trail (as
//!   what it did, or as its refusal) and the state covers the last;
//!
//! and reports the longest time without a leader.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cutover_core::engine::{Actor, Command, CutoverState, Event, EventKind, PauseReason, Phase};
use cutover_core::judge::Verdict;
use cutover_core::plan::Plan;
use cutover_core::ports::EdgePort;
use cutover_core::store::Store;
use cutover_core::units::{format_duration, Weight};
use cutover_local::{Keep, LocalEdgePort};
use cutover_sim::rng::Rng;

use crate::api::CreateCutover;
use crate::client::Client;
use crate::demo::{plan_toml, secret, slot_ms, start, LocalRun, Process, Stage};
use crate::failure::Failure;
use crate::stores::{AnyStore, EndpointArgs, Open, StoreAt};

#[derive(clap::Args)]
pub struct SoakArgs {
    /// SIGKILLs of the leading replica, at random moments.
    #[arg(long, default_value_t = 50)]
    kills: u32,
    /// SIGSTOPs of the leading replica, each for three lease times before SIGCONT.
    #[arg(long, default_value_t = 3)]
    stops: u32,
    /// The plan to soak (its [target.local] addresses are replaced); the default plan when left out.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// How many times faster than real time the plan runs; by default, as fast as leaves
    /// about 4 s between disruptions (at most 1200).
    #[arg(long)]
    speed: Option<f64>,
    /// User requests per second through the edge, open loop.
    #[arg(long, default_value_t = 400.0)]
    rate: f64,
    /// The replicas' lease time to live, in seconds.
    #[arg(long, default_value_t = 1.0)]
    lease_ttl: f64,
    /// Seeds the moments and the order of the disruptions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the cutover is recorded: a SQLite file, or dynamodb://TABLE (with
    /// --endpoint-url-dynamodb for an emulator). Logs go beside a SQLite file, else to .cutover/.
    #[arg(long, default_value = ".cutover/soak.db")]
    store: StoreAt,
}

/// Who the soak's token names: the actor of the commands it sends.
const ACTOR: &str = "soak";
/// The time between disruptions the default speed aims at.
const SPACING: Duration = Duration::from_secs(4);
/// The fastest default speed (the demo's).
const MAX_AUTO_SPEED: f64 = 1200.0;
/// How long after settling the webhook's notifications may take.
const OUTBOX_WAIT: Duration = Duration::from_secs(60);
/// How often the soak looks at the store and asks who leads.
const POLL: Duration = Duration::from_millis(200);

pub async fn run(args: &SoakArgs, aws: &EndpointArgs) -> Result<ExitCode, Failure> {
    let (text, plan) = match &args.plan {
        Some(path) => crate::plan::load_plan_text(path)?,
        None => (cutover_core::plan::DEFAULT_PLAN.to_owned(), Plan::default_plan()),
    };
    if args.kills > 1000 || args.stops > 100 {
        return Err(Failure::input("--kills: at most 1000; --stops: at most 100"));
    }
    if !(args.rate.is_finite() && (10.0..=20_000.0).contains(&args.rate)) {
        return Err(Failure::input(format!("--rate {}: give 10 to 20000 requests a second", args.rate)));
    }
    if !(args.lease_ttl.is_finite() && (0.3..=10.0).contains(&args.lease_ttl)) {
        return Err(Failure::input(format!("--lease-ttl {}: give 0.3 to 10 seconds", args.lease_ttl)));
    }
    let disruptions = f64::from(args.kills + args.stops + 1);
    // Disruptions are spread over the first 75 % of the plan's wall time,
    // so that a busy machine's delays still leave room for the last ones.
    let planned = plan.duration().as_secs_f64() * 0.75;
    let speed =
        args.speed.unwrap_or_else(|| (planned / disruptions / SPACING.as_secs_f64()).clamp(1.0, MAX_AUTO_SPEED));
    if !(speed.is_finite() && (1.0..=100_000.0).contains(&speed)) {
        return Err(Failure::input(format!("--speed {speed}: give a factor from 1 to 100000")));
    }
    let spacing = Duration::from_secs_f64(planned / speed / disruptions);
    // A leader needs a lease time to be replaced, and a little more to act.
    let needed = Duration::from_secs_f64(3.0 * args.lease_ttl);
    if spacing < needed {
        let fastest = planned / disruptions / needed.as_secs_f64();
        return Err(Failure::input(format!(
            "--speed {speed}: leaves {:.1} s between disruptions, and a new leader needs about {:.1} s; \
             give --speed {fastest:.0} or less, or fewer --kills",
            spacing.as_secs_f64(),
            needed.as_secs_f64()
        )));
    }
    let soak = Soak { args, aws, speed, spacing };
    Ok(soak.run(&text, plan).await?)
}

struct Soak<'a> {
    args: &'a SoakArgs,
    aws: &'a EndpointArgs,
    speed: f64,
    spacing: Duration,
}

/// One `cutover serve` replica.
struct Replica {
    name: String,
    process: Process,
    /// SIGSTOPped until then.
    stopped_until: Option<Instant>,
    /// Whether it was ever stopped (it must have woken to a lost lease).
    was_stopped: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Disruption {
    Kill,
    Stop,
}

/// What the webhook receiver took: each notification's idempotency key, in
/// the order taken (a repeat appears twice).
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<String>>>);

impl Heard {
    fn keys(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Soak<'_> {
    async fn run(&self, plan_text: &str, plan: Plan) -> anyhow::Result<ExitCode> {
        let args = self.args;
        let run = LocalRun::new(&args.store, "soak")?;
        let (dir, id) = (run.dir.clone(), run.id.clone());
        let log = |name: &str| run.log(name);
        let Stage { legacy, serverless, edge, local, plan_path } =
            run.stage(plan_text, slot_ms(&plan, self.speed), Keep::default()).await?;
        let admin_url = format!("http://{}", edge.addresses[1]);
        let heard = Heard::default();
        let (hook, _receiver) = receiver(heard.clone()).await?;
        let plan_text = with_wide_latency(&with_webhook(&plan_toml(plan_text, &local)?, &hook)?)?;
        std::fs::write(&plan_path, &plan_text)?;

        let token = secret()?;
        let tokens = format!("{ACTOR} admin {token}");
        let store_arg = args.store.to_string();
        let ttl = args.lease_ttl.to_string();
        let mut count = 0;
        let replica = |count: &mut u32| {
            *count += 1;
            let name = format!("replica-{count}");
            let (store_arg, ttl, tokens, log) = (&store_arg, &ttl, &tokens, log(&name));
            let endpoint = self.aws.endpoint_url_dynamodb.clone();
            async move {
                let mut serve = vec!["serve", "--listen", "127.0.0.1:0", "--store", store_arg, "--lease-ttl", ttl];
                serve.extend(["--holder", &name]);
                if let Some(url) = &endpoint {
                    serve.extend(["--endpoint-url-dynamodb", url]);
                }
                let env = [("CUTOVER_TOKENS", tokens.as_str())];
                let process = start(&serve, &env, &log, &["cutover serve listening on http://"]).await?;
                anyhow::Ok(Replica { name, process, stopped_until: None, was_stopped: false })
            }
        };
        let mut replicas = vec![replica(&mut count).await?, replica(&mut count).await?];
        let store = AnyStore::open(&args.store, Open::Create, self.aws).await?.context("the store")?;
        let api = Client::new(&format!("http://{}", replicas[0].process.address()), Some(token.clone()))?;
        let create = CreateCutover {
            id: id.clone(),
            plan: plan_text,
            start: true,
            speed: Some(self.speed),
            reason: Some("cutover soak".into()),
            at: None,
        };
        api.create(&create).await.map_err(|e| anyhow::anyhow!("create the cutover through the API: {e}"))?;
        let wall = plan.duration().div_f64(self.speed);
        println!(
            "cutover soak {id}: {} steps over {} of plan time at {:.0}x ({} of wall time); \
             {} SIGKILLs and {} SIGSTOPs of the leader, one every {:.1} s on average; store {}",
            plan.schedule.steps.len(),
            format_duration(plan.duration()),
            self.speed,
            format_duration(wall),
            args.kills,
            args.stops,
            self.spacing.as_secs_f64(),
            args.store,
        );
        let traffic = tokio::spawn(crate::demo::traffic(edge.address().to_owned(), args.rate));

        let mut rng = Rng::new(args.seed);
        let mut todo: Vec<Disruption> = std::iter::repeat_n(Disruption::Kill, args.kills as usize)
            .chain(std::iter::repeat_n(Disruption::Stop, args.stops as usize))
            .collect();
        for i in (1..todo.len()).rev() {
            todo.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let jitter = |rng: &mut Rng| self.spacing.mul_f64(0.5 + rng.f64());
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let started = Instant::now();
        let mut next_at = started + jitter(&mut rng);
        let (mut done, mut gaps, mut gap_since) = (Vec::<(Disruption, String)>::new(), Vec::new(), None);
        // The inbox numbers of the operator commands the API accepted.
        let mut sent: Vec<u64> = Vec::new();
        let give_up = started + wall * 3 + Duration::from_secs(60);
        let state = loop {
            let now = Instant::now();
            let state = match store.load(&id).await {
                Ok(stored) => stored.map(|stored| stored.state),
                Err(e) => {
                    tracing::warn!(error = %e, "the store did not answer; looking again");
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            if let Some(state) = state.as_ref().filter(|s| s.phase.is_settled()) {
                break state.clone();
            }
            if now > give_up {
                bail!("the cutover did not settle within {:?}; the logs are in {}", give_up - started, dir.display());
            }
            for r in &mut replicas {
                if let Some(status) = r.process.child.try_wait()? {
                    bail!("{} exited by itself with {status}; see {}", r.name, log(&r.name).display());
                }
                if r.stopped_until.is_some_and(|until| now >= until) {
                    signal("CONT", &r.process)?;
                    r.stopped_until = None;
                }
            }
            // Who leads, by each running replica's word; a replica that
            // does not answer leaves it unknown (no gap opened or closed).
            let (mut claims, mut unknown) = (Vec::new(), false);
            for (i, r) in replicas.iter().enumerate().filter(|(_, r)| r.stopped_until.is_none()) {
                match leads(&http, r, &token, &id).await {
                    Some(true) => claims.push(i),
                    Some(false) => {}
                    None => unknown = true,
                }
            }
            if !claims.is_empty() {
                gaps.extend(gap_since.take().map(|since: Instant| now - since));
            } else if !unknown {
                gap_since.get_or_insert(now);
            }
            // One leader, and nobody who could be one unheard: a woken,
            // fenced replica may still claim for a moment.
            let leader = (claims.len() == 1 && !unknown).then(|| claims[0]);
            if let (Some(l), Some(state), true) = (leader, &state, now >= next_at) {
                if let Some(what) = todo.pop() {
                    let at = format!("step {}/{} at {}", state.step + 1, plan.schedule.steps.len(), state.weight);
                    match what {
                        Disruption::Kill => {
                            // A command just before the kill: the leader may
                            // die between reading it and writing what it did.
                            let kills = done.iter().filter(|(what, _)| *what == Disruption::Kill).count();
                            if let Some(command) = command_before(kills, args.kills as usize) {
                                let leader = format!("http://{}", replicas[l].process.address());
                                let api = Client::new(&leader, Some(token.clone()))?;
                                match api.command(&id, command, "cutover soak").await {
                                    Ok(accepted) => sent.push(accepted.seq),
                                    Err(e) => tracing::warn!(error = %e, "a command was not accepted; not counted"),
                                }
                            }
                            let mut killed = replicas.remove(l);
                            killed.process.child.kill().await.context("SIGKILL the leader")?;
                            replicas.push(replica(&mut count).await?);
                        }
                        Disruption::Stop => {
                            signal("STOP", &replicas[l].process)?;
                            replicas[l].stopped_until = Some(now + Duration::from_secs_f64(3.0 * args.lease_ttl));
                            replicas[l].was_stopped = true;
                        }
                    }
                    gap_since = Some(now);
                    done.push((what, at));
                    next_at = now + jitter(&mut rng);
                }
            }
            progress(state.as_ref(), &plan, &done, &gaps, started.elapsed());
            tokio::time::sleep(POLL).await;
        };
        traffic.abort();
        gaps.extend(gap_since.take().map(|since| Instant::now() - since));
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
        for r in &mut replicas {
            if r.stopped_until.take().is_some() {
                signal("CONT", &r.process)?;
            }
        }

        // The webhook hears every notification, at least once.
        let trail = store.history(&id).await?;
        let owed: Vec<String> =
            trail.iter().filter(|e| e.kind.notifies()).map(cutover_runtime::idempotency_key).collect();
        let drained = Instant::now() + OUTBOX_WAIT;
        while !owed.iter().all(|key| heard.0.lock().unwrap_or_else(|p| p.into_inner()).contains(key))
            && Instant::now() < drained
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let live = LocalEdgePort::new(&admin_url).read().await.ok();
        let chain = match store.trail(&id).await? {
            Some(trail) => cutover_core::audit::verify(&trail).map_err(|e| e.to_string()),
            None => Err("no trail".into()),
        };
        // A replica stopped past its lease must have woken to find it gone:
        // fenced (another took it) or lapsed (nobody had yet; it retook it
        // with a new epoch). One killed since is not asked.
        let stopped: Vec<&Replica> = replicas.iter().filter(|r| r.was_stopped).collect();
        let woke = |text: String| text.contains("fenced") || text.contains("lease had lapsed");
        let fenced = stopped.iter().filter(|r| std::fs::read_to_string(log(&r.name)).is_ok_and(woke)).count();
        let report =
            Report { state: &state, plan: &plan, trail: &trail, chain, live, owed, heard: heard.keys(), sent: &sent };
        let failed = report.print(&done, todo.len(), (fenced, stopped.len()), &gaps, started.elapsed());
        drop((legacy, serverless, edge, replicas));
        println!("\nlogs: {}/{id}.*.log; audit trail: cutover history {id} --store {}", dir.display(), args.store);
        Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
    }
}

fn signal(name: &str, process: &Process) -> anyhow::Result<()> {
    let pid = process.child.id().context("the replica's pid")?;
    let status = std::process::Command::new("kill").args([format!("-{name}"), pid.to_string()]).status()?;
    if !status.success() {
        bail!("kill -{name} {pid}: {status}");
    }
    Ok(())
}

/// The command sent just before the `kill`-th kill (from 0) of `kills`: a
/// pause, then a resume at the next, in pairs, so that the cutover is never
/// left paused.
fn command_before(kill: usize, kills: usize) -> Option<Command> {
    match kill % 2 {
        _ if kill >= kills - kills % 2 => None,
        0 => Some(Command::Pause),
        _ => Some(Command::Resume),
    }
}

/// Whether `replica` leads cutover `id`, by its own `/metrics`; `None` when
/// it did not say.
async fn leads(http: &reqwest::Client, replica: &Replica, token: &str, id: &str) -> Option<bool> {
    let url = format!("http://{}/metrics", replica.process.address());
    let answer = http.get(url).bearer_auth(token).send().await.ok()?.error_for_status().ok()?;
    let text = answer.text().await.ok()?;
    Some(text.contains(&format!("cutover_led{{cutover=\"{id}\"}} 1")))
}

/// The plan with `[notify] webhooks` set to `hook` alone.
fn with_webhook(text: &str, hook: &str) -> anyhow::Result<String> {
    let out = with_key(text, "notify", "webhooks", &format!("[\"{hook}\"]"));
    match Plan::parse(&out) {
        Ok(plan) if plan.notify.webhooks == [hook.to_owned()] => Ok(out),
        _ => bail!("the plan with the soak's webhook does not parse, or names other webhooks too"),
    }
}

/// How much slower than the old side the new one may answer, in the
/// soak's plan (`max_extra_ms` of both latency checks).
const SOAK_LATENCY_EXTRA_MS: f64 = 1000.0;

/// The plan with both latency checks allowing [`SOAK_LATENCY_EXTRA_MS`].
/// The soak's two origins are the same program on one machine: what their
/// latencies differ by is that machine's scheduling (a compressed minute
/// is under 100 ms of wall time, and at the last step one origin carries
/// all the load on two busy cores). The soak is about the control plane
/// under kills, so it judges errors as the plan says and latency only
/// past a second.
fn with_wide_latency(text: &str) -> anyhow::Result<String> {
    let extra = SOAK_LATENCY_EXTRA_MS.to_string();
    let out = with_key(text, "guardrails.latency.p50", "max_extra_ms", &extra);
    let out = with_key(&out, "guardrails.latency.p99", "max_extra_ms", &extra);
    match Plan::parse(&out) {
        Ok(plan)
            if [plan.guardrails.latency_p50, plan.guardrails.latency_p99]
                .iter()
                .all(|c| c.max_extra_ms == Some(SOAK_LATENCY_EXTRA_MS)) =>
        {
            Ok(out)
        }
        _ => bail!(
            "the soak sets max_extra_ms under [guardrails.latency.p50] and [guardrails.latency.p99], and this \
             plan does not take that (write those two checks as tables of their own)"
        ),
    }
}

/// The TOML text with `key = value` in `[table]`: the table's own line for
/// `key` replaced, the table added at the end if the text has none.
fn with_key(text: &str, table: &str, key: &str, value: &str) -> String {
    let header = format!("[{table}]");
    let line = format!("{key} = {value}");
    let (mut out, mut inside, mut set) = (String::with_capacity(text.len()), false, false);
    for l in text.lines() {
        let trimmed = l.trim_start();
        if trimmed.starts_with('[') {
            inside = trimmed.starts_with(&header);
        }
        if inside && trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')) {
            continue; // the plan's own, replaced by the line under the header
        }
        out.push_str(l);
        out.push('\n');
        if inside && trimmed.starts_with(&header) {
            out.push_str(&line);
            out.push('\n');
            set = true;
        }
    }
    if !set {
        out.push_str(&format!("\n{header}\n{line}\n"));
    }
    out
}

/// A webhook receiver on loopback that takes every POST (after a 503 to
/// every fifth, to exercise the retries), remembering each key.
async fn receiver(heard: Heard) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    use axum::http::{HeaderMap, StatusCode};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let tries = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let (heard, tries) = (heard.clone(), tries.clone());
            async move {
                if tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 5 == 4 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
                heard.0.lock().unwrap_or_else(|p| p.into_inner()).push(key.to_owned());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = crate::tls::serve(listener, None, app, std::future::pending()).await;
    });
    Ok((format!("http://{address}/hook"), task))
}

fn progress(
    state: Option<&CutoverState>,
    plan: &Plan,
    done: &[(Disruption, String)],
    gaps: &[Duration],
    took: Duration,
) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let Some(state) = state else { return };
    let count = |d| done.iter().filter(|(what, _)| *what == d).count();
    let longest = gaps.iter().max().copied().unwrap_or_default();
    eprint!(
        "\r\x1b[2K{:>5.0} s  step {}/{} at {:>5}  {}  SIGKILL {}  SIGSTOP {}  longest without a leader {:.1} s",
        took.as_secs_f64(),
        state.step + 1,
        plan.schedule.steps.len(),
        state.weight.to_string(),
        state.phase,
        count(Disruption::Kill),
        count(Disruption::Stop),
        longest.as_secs_f64()
    );
}

/// What the cutover left behind, checked.
struct Report<'a> {
    state: &'a CutoverState,
    plan: &'a Plan,
    trail: &'a [Event],
    chain: Result<usize, String>,
    live: Option<Weight>,
    owed: Vec<String>,
    heard: Vec<String>,
    /// The inbox numbers of the commands sent.
    sent: &'a [u64],
}

impl Report<'_> {
    /// Prints the table; whether any check failed.
    fn print(
        &self,
        done: &[(Disruption, String)],
        left: usize,
        (fenced, stopped): (usize, usize),
        gaps: &[Duration],
        took: Duration,
    ) -> bool {
        let mut rows: Vec<(&str, String, bool)> = Vec::new();
        let kind = |name: &str| self.trail.iter().filter(|e| e.kind.name() == name).count();
        rows.push(("outcome", self.state.phase.to_string(), self.state.phase == Phase::Completed));
        let live = self.live.map_or("unreadable".into(), |w| w.to_string());
        rows.push(("edge weight", live, self.live == Some(Weight::FULL)));
        let wanted: Vec<Weight> = self.plan.schedule.steps.iter().map(|s| s.weight).collect();
        let mut confirmed: Vec<Weight> = Vec::new();
        for event in self.trail {
            if let EventKind::WeightConfirmed { weight, .. } = event.kind {
                if confirmed.last() != Some(&weight) {
                    confirmed.push(weight);
                }
            }
        }
        let in_order = confirmed == wanted;
        let steps = confirmed.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(" → ");
        rows.push(("steps confirmed", steps, in_order));
        // Every version from 1 has events (the engine writes none
        // without): a trail where each follows the one before has no hole.
        let mut holes = 0;
        let mut previous = None;
        for event in self.trail {
            let place = (event.version, event.index);
            holes += usize::from(!cutover_core::audit::follows(previous, place));
            previous = Some(place);
        }
        let last = self.trail.last().map_or(0, |e| e.version);
        let lost_ok = holes == 0 && last == self.state.version;
        let lost = format!("{} events, {holes} holes, last version {last} of {}", self.trail.len(), self.state.version);
        rows.push(("audit events lost", lost, lost_ok));
        let advanced: Vec<usize> = self
            .trail
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::StepAdvanced { to_step, .. } => Some(to_step),
                _ => None,
            })
            .collect();
        let distinct = advanced.iter().collect::<std::collections::BTreeSet<_>>().len();
        let twice = (kind("started") > 1) as usize + (kind("completed") > 1) as usize + (advanced.len() - distinct);
        let once = twice == 0 && kind("started") == 1;
        let decided =
            format!("started {}, completed {}, step advances {}", kind("started"), kind("completed"), advanced.len());
        rows.push(("decided twice", format!("{twice} ({decided})"), once));
        let chain = match &self.chain {
            Ok(n) => format!("intact, {n} events"),
            Err(e) => e.clone(),
        };
        rows.push(("hash chain", chain, self.chain.is_ok()));
        let missing = self.owed.iter().filter(|key| !self.heard.contains(key)).count();
        let repeats = self.heard.len() - self.heard.iter().collect::<std::collections::BTreeSet<_>>().len();
        let notified = format!("{} owed, {missing} lost, {repeats} sent twice (same key)", self.owed.len());
        rows.push(("notifications", notified, missing == 0));
        // Each command sent shows once in the trail, as what it did or as
        // its refusal, and the state covers the last.
        let answered = self
            .trail
            .iter()
            .filter(|e| matches!(&e.actor, Actor::Operator(name) if name == ACTOR))
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Paused { reason: PauseReason::Operator }
                        | EventKind::Resumed
                        | EventKind::CommandRefused { .. }
                )
            })
            .count();
        let last = self.sent.iter().max().copied().unwrap_or(0);
        let handled = answered == self.sent.len() && self.state.commands_handled == last;
        let commands = format!(
            "{} sent, {answered} answered in the trail, handled through #{} of #{last}",
            self.sent.len(),
            self.state.commands_handled
        );
        rows.push(("operator commands", commands, handled));
        let count = |d| done.iter().filter(|(what, _)| *what == d).count();
        let disruptions = format!(
            "{} SIGKILL, {} SIGSTOP past the lease, {left} left undone when it settled",
            count(Disruption::Kill),
            count(Disruption::Stop)
        );
        rows.push(("disruptions", disruptions, left == 0));
        rows.push(("stopped, lease gone", format!("{fenced} of {stopped} woke fenced or lapsed"), fenced == stopped));

        let mut sorted = gaps.to_vec();
        sorted.sort();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
        let longest = sorted.last().copied().unwrap_or_default();
        println!();
        println!(
            "{:<22} longest {:.2} s, median {:.2} s over {} gaps",
            "without a leader",
            longest.as_secs_f64(),
            median.as_secs_f64(),
            gaps.len()
        );
        println!("{:<22} {:.0} s", "wall time", took.as_secs_f64());
        println!();
        println!("{:<22} {:<6} found", "check", "");
        for (check, found, ok) in &rows {
            println!("{check:<22} {:<6} {found}", if *ok { "ok" } else { "FAILED" });
        }
        if self.state.phase != Phase::Completed {
            self.print_failed_analyses();
        }
        rows.iter().any(|(_, _, ok)| !ok)
    }

    /// Why a soak did not complete, when the judge is why: the checks that
    /// failed in the last few failed analyses.
    fn print_failed_analyses(&self) {
        let failed = self.trail.iter().filter_map(|e| match &e.kind {
            EventKind::Analysis { step, analysis, .. } if analysis.verdict == Verdict::Fail => {
                Some((e, step, analysis))
            }
            _ => None,
        });
        let failed: Vec<_> = failed.collect();
        if failed.is_empty() {
            return;
        }
        println!("\nthe last failed analyses ({} in all):", failed.len());
        for (event, step, analysis) in failed.iter().rev().take(3).rev() {
            let checks = analysis.checks.iter().filter(|c| c.verdict == Verdict::Fail);
            let reasons: Vec<String> = checks.map(|c| format!("{}: {}", c.check.as_str(), c.reason)).collect();
            println!("  {} at step {}: {}", event.at, **step + 1, reasons.join("; "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_replaces_the_plans_own() {
        let text = cutover_core::plan::DEFAULT_PLAN;
        let out = with_webhook(text, "http://127.0.0.1:9/hook").unwrap();
        assert_eq!(Plan::parse(&out).unwrap().notify.webhooks, ["http://127.0.0.1:9/hook"]);
        let without = text.replace("[notify]", "").replace("webhooks = []", "");
        let out = with_webhook(&without, "http://127.0.0.1:9/hook").unwrap();
        assert_eq!(Plan::parse(&out).unwrap().notify.webhooks, ["http://127.0.0.1:9/hook"]);
    }

    #[test]
    fn the_latency_allowances_are_widened_and_nothing_else_moves() {
        let text = cutover_core::plan::DEFAULT_PLAN;
        let (before, after) = (Plan::parse(text).unwrap(), Plan::parse(&with_wide_latency(text).unwrap()).unwrap());
        let g = &after.guardrails;
        for check in [g.latency_p50, g.latency_p99] {
            assert_eq!(check.max_extra_ms, Some(SOAK_LATENCY_EXTRA_MS));
        }
        let mut same = after.clone();
        same.guardrails.latency_p50 = before.guardrails.latency_p50;
        same.guardrails.latency_p99 = before.guardrails.latency_p99;
        assert_eq!(same, before);
        // A plan that leaves the tables out gets them; one the soak cannot
        // edit line by line is refused, naming what it needs.
        let mut latency = false;
        let without: String = text
            .lines()
            .filter(|l| {
                if l.starts_with('[') {
                    latency = l.starts_with("[guardrails.latency.");
                }
                !latency
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let g = Plan::parse(&with_wide_latency(&without).unwrap()).unwrap().guardrails;
        assert_eq!([g.latency_p50.max_extra_ms, g.latency_p99.max_extra_ms], [Some(SOAK_LATENCY_EXTRA_MS); 2]);
        let inline = without.replace("[guardrails]", "[guardrails]\nlatency = { p99 = { max_ratio = 2.0 } }");
        let err = with_wide_latency(&inline).unwrap_err().to_string();
        assert!(err.contains("[guardrails.latency.p99]"), "{err}");
    }
}
