//! One cutover driven against its plan's target: the local edge and its
//! recorded metrics, or the CloudFront KeyValueStore with CloudWatch (and
//! X-Ray); every weight change verified by probes through the edge. Shared
//! by `cutover run`, `cutover rollback` (with no controller running) and
//! each cutover `cutover serve` leads.

use std::future::Future;
use std::time::Duration;

#[cfg(feature = "aws")]
use cutover_aws::{
    Clients, CloudWatchMetrics, EdgeLogSource, KvsEdge, MetricPublisher, Timed, WeightTimeline, XRaySource,
};
use cutover_core::engine::CutoverState;
use cutover_core::judge::SequentialJudge;
#[cfg(feature = "aws")]
use cutover_core::plan::MetricSources;
use cutover_core::plan::{EdgeTarget, Plan};
#[cfg(feature = "aws")]
use cutover_core::store::Watched;
use cutover_core::store::{Lease, Store};
use cutover_local::{LocalEdgePort, LocalMetricsPort};
use cutover_runtime::probes::{ProbeDriver, ProbeLog};
use cutover_runtime::verify::{Verified, Verifier};
use cutover_runtime::{Driver, ScaledClock, Settings, Webhooks};

use crate::failure::Failure;
use crate::stores::EndpointArgs;

/// Who drives (the driver's settings: holder, lease, poll) and where it
/// reaches what its plan names.
#[derive(Clone, Debug)]
pub struct Controller {
    pub settings: Settings,
    /// Where verification probes go: for a local target the plan's
    /// `edge_url` when left out; for CloudFront the distribution's domain.
    pub edge: Option<String>,
    /// A GET route both sides serve, for the probes.
    pub probe_path: String,
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub aws: EndpointArgs,
}

/// How often the probe token is read again from the KeyValueStore, so a
/// rotated token is in use within this (probes pinned with the old one are
/// bucketed meanwhile, and the other side's answers are left out).
#[cfg(feature = "aws")]
const PROBE_TOKEN_REREAD: Duration = Duration::from_secs(300);

/// Tasks that end with the cutover's drive, however it ends.
struct Beside(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Beside {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// Drives cutover `id` until it settles, the lease is lost, or `stop`
/// completes; with `lease`, starts under that lease instead of taking one.
pub async fn drive<S: Store + Clone + 'static>(
    store: &S,
    id: &str,
    plan: &Plan,
    clock: ScaledClock,
    reach: &Controller,
    lease: Option<Lease>,
    stop: impl Future<Output = ()>,
) -> Result<CutoverState, Failure> {
    let state = match &plan.target.edge {
        EdgeTarget::Local(local) => {
            let edge_url = reach.edge.clone().unwrap_or_else(|| local.edge_url.clone());
            let verifier = verifier(plan, &edge_url, &reach.probe_path, Duration::from_secs(10));
            // Probes as in AWS mode, at real time: the local edge pins them
            // (no token) and counts them as the probe stratum itself.
            let mut beside = Beside(Vec::new());
            if local.probes_per_minute > 0 && clock.scale().speed == 1.0 {
                let (_, token) = tokio::sync::watch::channel(String::new());
                let (path, rate) = (&reach.probe_path, local.probes_per_minute);
                let probes = ProbeDriver::new(&edge_url, path, rate, token, ProbeLog::default());
                beside.0.push(tokio::spawn(probes.run(clock)));
            }
            let driver = Driver {
                store: store.clone(),
                edge: Verified::new(LocalEdgePort::new(&local.admin_url), verifier),
                metrics: LocalMetricsPort::new(&local.admin_url, clock),
                notifier: Webhooks::new(store, id, &plan.notify.webhooks),
                clock,
                settings: reach.settings.clone(),
            };
            driver.run_until(id, plan, SequentialJudge::new, lease, stop).await?
        }
        #[cfg(not(feature = "aws"))]
        EdgeTarget::CloudFront(_) => return Err(Failure::Input(crate::stores::WITHOUT_AWS.into())),
        #[cfg(feature = "aws")]
        EdgeTarget::CloudFront(target) => {
            let Some(sources) = plan.target.metrics.clone() else {
                return Err(Failure::Input(
                    "a [target.cloudfront] plan needs [target.metrics] (where CloudWatch finds both sides)".into(),
                ));
            };
            if clock.scale().speed != 1.0 {
                return Err(Failure::Input(format!(
                    "a CloudFront target runs at real time (CloudWatch's clock is the wall's), not at {}x",
                    clock.scale().speed
                )));
            }
            let clients = Clients::new(&reach.aws.endpoints()).await;
            let edge_url = match &reach.edge {
                Some(url) => url.clone(),
                None => {
                    let out = clients.cloudfront.get_distribution().id(&target.distribution_id).send().await;
                    match out.ok().and_then(|o| o.distribution).map(|d| d.domain_name().to_owned()) {
                        Some(domain) => format!("https://{domain}"),
                        None => {
                            return Err(Failure::Other(anyhow::anyhow!(
                                "cannot read distribution {}: run `cutover preflight` for what is missing",
                                target.distribution_id
                            )))
                        }
                    }
                }
            };
            let kvs = KvsEdge::new(clients.keyvaluestore.clone(), &target.kvs_arn, &target.weight_key);
            let log = ProbeLog::default();
            let mut beside = Beside(Vec::new());
            if target.probes_per_minute > 0 {
                let key = target.probe_token_key.clone();
                let token = kvs.probe_token(&key).await.map_err(|e| {
                    Failure::Other(anyhow::anyhow!("the probe token at `{key}` in {}: {e}", target.kvs_arn))
                })?;
                let (current, token) = tokio::sync::watch::channel(token);
                let probes =
                    ProbeDriver::new(&edge_url, &reach.probe_path, target.probes_per_minute, token, log.clone());
                beside.0.push(tokio::spawn(probes.run(clock)));
                let kvs = kvs.clone();
                beside.0.push(tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(PROBE_TOKEN_REREAD).await;
                        match kvs.probe_token(&key).await {
                            Ok(token) => {
                                current.send_if_modified(|t| std::mem::replace(t, token.clone()) != token);
                            }
                            Err(e) => tracing::warn!(error = %e, "the probe token could not be read again"),
                        }
                    }
                }));
            }
            // Which side each logged request went to: from the trail for a
            // cutover under way, then from what this controller writes.
            let timeline = WeightTimeline::default();
            if sources.edge_logs.is_some() {
                timeline.replay(&store.history(id).await?);
                if timeline.is_empty() {
                    // Not started yet: the store's weight has held since its
                    // last modification (the lookback before it is unknown).
                    let now = cutover_core::ports::Clock::wall_now(&clock).as_ms();
                    let live = cutover_core::ports::EdgePort::read(&kvs).await;
                    if let (Ok(live), Ok(Some(modified))) = (live, kvs.last_modified().await) {
                        timeline.held_since(modified, now, live);
                    }
                }
            }
            let verified = Verified::new(kvs, verifier(plan, &edge_url, &reach.probe_path, Duration::from_secs(120)));
            // The weight and every verdict beside AWS's own metrics, for the
            // dashboard (`cutover dashboard cloudwatch`).
            let publisher = MetricPublisher::new(clients.cloudwatch.clone(), &plan.target.name);
            let driver = Driver {
                store: Watched { inner: store.clone(), watch: publisher },
                edge: Timed::new(verified, clock, timeline.clone()),
                metrics: metrics_for(&clients, plan, sources, timeline).with_probes(log),
                notifier: Webhooks::new(store, id, &plan.notify.webhooks),
                clock,
                settings: reach.settings.clone(),
            };
            driver.run_until(id, plan, SequentialJudge::new, lease, stop).await?
        }
    };
    Ok(state)
}

/// CloudWatch, with X-Ray (both sides' latency samples, the new side's cold
/// starts) and, when the plan has them, the edge's real-time logs (each user
/// request's cohort, its side from `timeline`).
#[cfg(feature = "aws")]
fn metrics_for(clients: &Clients, plan: &Plan, sources: MetricSources, timeline: WeightTimeline) -> CloudWatchMetrics {
    let logs = sources.edge_logs.clone().and_then(|logs| {
        let (cohort, salt) = (plan.target.cohort.clone(), plan.target.salt.clone());
        EdgeLogSource::new(clients.kinesis.clone(), logs, cohort, salt, timeline)
    });
    let mut metrics = CloudWatchMetrics::new(clients.cloudwatch.clone(), sources.clone());
    // An empty X-Ray service only in a plan stored before X-Ray was
    // required: judged as it was then.
    if !sources.xray_legacy_service.is_empty() {
        let xray = XRaySource::new(clients.xray.clone(), sources.xray_legacy_service, sources.lambda_functions);
        metrics = metrics.with_xray(xray);
    }
    match logs {
        Some(logs) => metrics.with_edge_logs(logs),
        None => metrics,
    }
}

/// Probes through `edge_url` with the plan's cohort key and salt.
fn verifier(plan: &Plan, edge_url: &str, path: &str, max_wait: Duration) -> Verifier {
    Verifier {
        base: edge_url.to_owned(),
        path: path.to_owned(),
        cohort: plan.target.cohort.clone(),
        salt: plan.target.salt.clone(),
        max_wait,
    }
}
