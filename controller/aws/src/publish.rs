//! What only the controller knows, published beside AWS's own metrics so
//! the CloudWatch dashboard (`cutover_core::dashboard`) and the alarms
//! (`infra/modules/monitoring`) can show it: the weight each time one is
//! confirmed at the edge, one count per analysis by verdict and one per
//! rollback, in the `Cutover` namespace with the target's name; and the
//! daemon's [`heartbeat`] with the longest pause.
//!
//! A [`CommitWatch`]: it sees each commit after it landed, so a published
//! figure is always one the audit trail holds. Publishing never holds up
//! the control loop (a task per commit) and a failure is logged, not
//! retried: the trail is the record, the dashboard a view of it.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatch::Client;
use cutover_core::dashboard::{ANALYSES, HEARTBEAT, LONGEST_PAUSE, NAMESPACE, ROLLBACKS, TARGET, VERDICT, WEIGHT};
use cutover_core::engine::{CutoverState, Event, EventKind, Phase};
use cutover_core::store::CommitWatch;
use cutover_core::units::Timestamp;

use crate::AwsFailure;

/// Publishes a commit's weight and verdicts as custom metrics.
#[derive(Clone, Debug)]
pub struct MetricPublisher {
    client: Client,
    target: String,
}

impl MetricPublisher {
    /// `target`: the plan's `[target] name`, the metrics' `Target` dimension.
    pub fn new(client: Client, target: impl Into<String>) -> MetricPublisher {
        MetricPublisher { client, target: target.into() }
    }

    /// The data points `events` give: a weight confirmed, an analysis.
    pub fn data(&self, events: &[Event]) -> Vec<MetricDatum> {
        let target = Dimension::builder().name(TARGET).value(&self.target).build();
        let at = |e: &Event| aws_sdk_cloudwatch::primitives::DateTime::from_millis(e.at.as_ms() as i64);
        events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::WeightConfirmed { weight, .. } => Some(
                    MetricDatum::builder()
                        .metric_name(WEIGHT)
                        .dimensions(target.clone())
                        .timestamp(at(e))
                        .value(f64::from(weight.bps()) / 100.0)
                        .unit(StandardUnit::Percent)
                        .build(),
                ),
                EventKind::Analysis { analysis, .. } => Some(
                    MetricDatum::builder()
                        .metric_name(ANALYSES)
                        .dimensions(target.clone())
                        .dimensions(Dimension::builder().name(VERDICT).value(analysis.verdict.as_str()).build())
                        .timestamp(at(e))
                        .value(1.0)
                        .unit(StandardUnit::Count)
                        .build(),
                ),
                EventKind::RollbackStarted { .. } => Some(
                    MetricDatum::builder()
                        .metric_name(ROLLBACKS)
                        .dimensions(target.clone())
                        .timestamp(at(e))
                        .value(1.0)
                        .unit(StandardUnit::Count)
                        .build(),
                ),
                _ => None,
            })
            .collect()
    }

    /// Sends `data` (at most 1000 a call, far more than a commit holds).
    pub async fn publish(&self, data: Vec<MetricDatum>) -> Result<(), AwsFailure> {
        put_metrics(&self.client, data).await
    }
}

/// The daemon's heartbeat at `now`: [`HEARTBEAT`] 1, and [`LONGEST_PAUSE`]
/// (see [`longest_pause_secs`]). Neither has a dimension, so every
/// replica's beats land in one series and the alarm on it fires only when
/// no replica is alive.
pub fn heartbeat(longest_pause_secs: u64, now: Timestamp) -> Vec<MetricDatum> {
    let at = aws_sdk_cloudwatch::primitives::DateTime::from_millis(now.as_ms() as i64);
    let datum = |name: &str, value: f64, unit: StandardUnit| {
        MetricDatum::builder().metric_name(name).timestamp(at).value(value).unit(unit).build()
    };
    vec![
        datum(HEARTBEAT, 1.0, StandardUnit::Count),
        datum(LONGEST_PAUSE, longest_pause_secs as f64, StandardUnit::Seconds),
    ]
}

/// Whole seconds since the longest-paused of `states` paused (0 when none
/// is). A cutover paused before `paused_since` was recorded counts from
/// its last change.
pub fn longest_pause_secs(states: &[CutoverState], now: Timestamp) -> u64 {
    let longest_ms = states
        .iter()
        .filter(|s| matches!(s.phase, Phase::Paused { .. }))
        .map(|s| s.paused_since.unwrap_or(s.updated_at))
        .map(|since| now.as_ms().saturating_sub(since.as_ms()))
        .max()
        .unwrap_or(0);
    longest_ms / 1000
}

/// Sends `data` to the `Cutover` namespace.
pub async fn put_metrics(client: &Client, data: Vec<MetricDatum>) -> Result<(), AwsFailure> {
    if data.is_empty() {
        return Ok(());
    }
    client
        .put_metric_data()
        .namespace(NAMESPACE)
        .set_metric_data(Some(data))
        .send()
        .await
        .map_err(|e| AwsFailure::from_sdk("cloudwatch:PutMetricData", &e))?;
    Ok(())
}

impl CommitWatch for MetricPublisher {
    fn after(&self, _state: &CutoverState, events: &[Event]) {
        let data = self.data(events);
        if data.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let publisher = self.clone();
        runtime.spawn(async move {
            if let Err(e) = publisher.publish(data).await {
                tracing::warn!(error = %e, "the weight and verdicts could not be published to CloudWatch");
            }
        });
    }
}
