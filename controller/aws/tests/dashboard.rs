//! The CloudWatch dashboard (`cutover dashboard cloudwatch`) shows only
//! what the adapters read or publish, with the plan's dimensions; the
//! publisher sends the weight and verdicts the dashboard names.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use cutover_aws::{heartbeat, longest_pause_secs, metrics_read, MetricPublisher, MetricRead};
use cutover_core::dashboard::{
    self, ANALYSES, HEARTBEAT, LONGEST_PAUSE, NAMESPACE, ROLLBACKS, TARGET, VERDICT, VERDICTS, WEIGHT,
};
use cutover_core::engine::{
    Actor, CutoverState, Decision, Event, EventKind, HoldReason, PauseReason, Phase, RollbackReason,
};
use cutover_core::judge::{Analysis, Verdict};
use cutover_core::measure::{PerSide, Window};
use cutover_core::plan::{Plan, Target};
use cutover_core::units::{Timestamp, Weight};
use serde_json::Value;

mod common;

fn target() -> Target {
    Target { metrics: Some(common::sources()), ..Plan::default_plan().target }
}

/// `["Namespace", "Name", "Dim", "value", …, {options}]` as the adapters
/// name a metric they read; `None` for a metric-math expression.
fn metric(entry: &Value) -> Option<MetricRead> {
    let items = entry.as_array()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let options = items.last().filter(|o| o.is_object());
    let names: Vec<String> = items.iter().filter_map(text).collect();
    let (namespace, name) = (names.first()?.clone(), names.get(1)?.clone());
    let dims = names[2..].chunks(2).map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default())).collect();
    let stat = options.and_then(|o| o.get("stat")).and_then(text).unwrap_or_default();
    Some(MetricRead { namespace, name, dimensions: dims, stat })
}

#[test]
fn every_metric_on_the_dashboard_is_one_the_adapters_read_or_publish() {
    let target = target();
    let body = dashboard::cloudwatch(&target, "eu-west-1").unwrap();
    let read = metrics_read(&common::sources());
    let published = |name: &str, dims: &[(String, String)]| {
        let by_target = dims.first() == Some(&(TARGET.to_owned(), target.name.clone()));
        match (name, dims.len()) {
            (n, 1) if n == WEIGHT || n == ROLLBACKS => by_target,
            (n, 0) => n == HEARTBEAT || n == LONGEST_PAUSE,
            (n, 2) if n == ANALYSES => by_target && dims[1].0 == VERDICT && VERDICTS.contains(&dims[1].1.as_str()),
            _ => false,
        }
    };
    let widgets = body["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 10);
    let mut shown = 0;
    for widget in widgets {
        let properties = &widget["properties"];
        assert_eq!(properties["region"], "eu-west-1");
        let metrics = properties["metrics"].as_array().unwrap();
        let ids: Vec<&str> = metrics.iter().filter_map(|m| m.as_array()?.last()?.get("id")?.as_str()).collect();
        for entry in metrics {
            // Every entry is an array (PutDashboard refuses a bare object);
            // metric math is one holding its options.
            assert!(entry.is_array(), "{entry}");
            if let Some(expression) = entry.get(0).and_then(|e| e.get("expression")).and_then(Value::as_str) {
                // Metric math names only the widget's own metrics.
                for word in expression.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                    assert!(word.is_empty() || word.parse::<f64>().is_ok() || ids.contains(&word), "{expression}");
                }
                continue;
            }
            let wanted = metric(entry).expect("a metric");
            shown += 1;
            if wanted.namespace == NAMESPACE {
                assert!(published(&wanted.name, &wanted.dimensions), "not published: {wanted:?}");
                continue;
            }
            assert!(read.contains(&wanted), "the adapters do not read {wanted:?}");
        }
    }
    assert!(shown >= 20, "{shown}");
    let local = dashboard::cloudwatch(&Plan::default_plan().target, "eu-west-1").unwrap_err();
    assert!(local.contains("[target.metrics]"), "{local}");
}

#[tokio::test]
async fn the_weight_and_each_verdict_are_published_as_the_dashboard_reads_them() {
    type Sent = (String, String, BTreeMap<String, String>, f64);
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_data).then_compute_output({
        let sent = sent.clone();
        move |input| {
            for d in input.metric_data() {
                let dims = d.dimensions().iter().map(|x| (x.name().unwrap().to_owned(), x.value().unwrap().to_owned()));
                let row = (
                    input.namespace().unwrap().to_owned(),
                    d.metric_name().unwrap().to_owned(),
                    dims.collect(),
                    d.value().unwrap(),
                );
                sent.lock().unwrap().push(row);
            }
            PutMetricDataOutput::builder().build()
        }
    });
    let publisher = MetricPublisher::new(mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[rule]), "internal-api");
    let at = Timestamp::from_ms(1_795_867_200_000);
    let event = |kind| Event {
        cutover_id: "c1".into(),
        version: 3,
        index: 0,
        at,
        actor: Actor::Controller,
        kind,
        reason: None,
    };
    let mut analysis = Analysis::from_checks(Window { from: at, to: at }, PerSide::default(), vec![]);
    analysis.verdict = Verdict::Fail;
    let events = [
        event(EventKind::WeightConfirmed { weight: Weight::from_bps(2_500).unwrap(), verification: None }),
        event(EventKind::Analysis {
            step: 3,
            weight: Weight::from_bps(2_500).unwrap(),
            failures: 1,
            analysis,
            decision: Decision::Hold { reason: HoldReason::HoldTime },
        }),
        event(EventKind::StepAdvanced {
            from_step: 3,
            to_step: 4,
            weight: Weight::from_bps(5_000).unwrap(),
            promoted: false,
        }),
        event(EventKind::RollbackStarted { reason: RollbackReason::FailureLimit }),
    ];
    publisher.publish(publisher.data(&events)).await.expect("published");
    let sent = sent.lock().unwrap().clone();
    let target = |extra: &[(&str, &str)]| {
        let mut dims = BTreeMap::from([(TARGET.to_owned(), "internal-api".to_owned())]);
        dims.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        dims
    };
    assert_eq!(
        sent,
        [
            (NAMESPACE.to_owned(), WEIGHT.to_owned(), target(&[]), 25.0),
            (NAMESPACE.to_owned(), ANALYSES.to_owned(), target(&[(VERDICT, "fail")]), 1.0),
            (NAMESPACE.to_owned(), ROLLBACKS.to_owned(), target(&[]), 1.0),
        ],
        "a step advancing is not a figure of its own"
    );
}

#[test]
fn the_heartbeat_carries_the_longest_pause_and_no_dimension() {
    let now = Timestamp::from_ms(1_795_867_200_000);
    let paused = |id: &str, minutes: u64| {
        let mut state = CutoverState::new(id, now);
        state.phase = Phase::Paused { reason: PauseReason::Operator };
        state.paused_since = Some(Timestamp::from_ms(now.as_ms() - minutes * 60_000));
        state
    };
    let figures = |states: &[CutoverState]| -> Vec<(String, f64, usize)> {
        heartbeat(longest_pause_secs(states, now), now)
            .iter()
            .map(|d| (d.metric_name().unwrap().to_owned(), d.value().unwrap(), d.dimensions().len()))
            .collect()
    };
    let running = CutoverState::new("running", now);
    assert_eq!(figures(std::slice::from_ref(&running)), [(HEARTBEAT.into(), 1.0, 0), (LONGEST_PAUSE.into(), 0.0, 0)]);
    assert_eq!(
        figures(&[running, paused("a", 12), paused("b", 31)]),
        [(HEARTBEAT.into(), 1.0, 0), (LONGEST_PAUSE.into(), 31.0 * 60.0, 0)],
        "the longest pause, in seconds"
    );
    // Paused before the state recorded since when: from its last change.
    let mut older = paused("older", 0);
    (older.paused_since, older.updated_at) = (None, Timestamp::from_ms(now.as_ms() - 45 * 60_000));
    assert_eq!(figures(&[older])[1], (LONGEST_PAUSE.into(), 45.0 * 60.0, 0));
}
