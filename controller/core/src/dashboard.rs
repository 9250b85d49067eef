//! The cutover's CloudWatch dashboard, as code: `cutover dashboard
//! cloudwatch --plan p.toml` prints the body `PutDashboard` takes, for the
//! plan's AWS target. Both sides side by side, each figure from the point
//! the judge reads it at (each proxy's wait on its backend: the ALB's
//! `TargetResponseTime`, in seconds and so scaled to ms by metric math,
//! against API Gateway's `IntegrationLatency`), the new side's functions,
//! and what only the controller knows, which it publishes itself in the
//! [`NAMESPACE`] namespace: the weight and every verdict.
//!
//! Every metric here is one the AWS adapters read or publish, with the
//! plan's dimensions (checked by `controller/aws/tests/dashboard.rs`).

use serde_json::{json, Value};

use crate::plan::{MetricSources, Target};

/// The controller's own metrics' namespace.
pub const NAMESPACE: &str = "Cutover";
/// The weight written and verified, in percent of `/api/*` on the new side.
pub const WEIGHT: &str = "Weight";
/// One per analysis, by verdict (`pass`, `fail`, `inconclusive`, `error`).
pub const ANALYSES: &str = "Analyses";
/// The dimension naming the target (the plan's `[target] name`).
pub const TARGET: &str = "Target";
/// The dimension naming the verdict of [`ANALYSES`].
pub const VERDICT: &str = "Verdict";
/// The verdicts as the audit trail names them.
pub const VERDICTS: [&str; 4] = ["pass", "fail", "inconclusive", "error"];
/// One per rollback started, with the [`TARGET`] dimension: the
/// monitoring module's rollback alarm.
pub const ROLLBACKS: &str = "Rollbacks";
/// 1 a minute from every `cutover serve --cloudwatch-heartbeat` replica, no
/// dimension: its absence is the "controller down" alarm.
pub const HEARTBEAT: &str = "ControllerHeartbeat";
/// Published with each heartbeat: how long the longest-paused cutover in
/// the store has been paused, in seconds (0 when none is): the "paused
/// for more than 30 minutes" alarm.
pub const LONGEST_PAUSE: &str = "LongestPauseSeconds";

const PERIOD: u32 = 60;
const WIDTH: u32 = 12;
const HEIGHT: u32 = 6;

/// The dashboard body for `target` in `region`; `Err` naming what is
/// missing for a target that is not on AWS.
pub fn cloudwatch(target: &Target, region: &str) -> Result<Value, String> {
    let Some(m) = &target.metrics else {
        return Err("the plan's target has no [target.metrics]: a CloudWatch dashboard is for a \
                    [target.cloudfront] plan"
            .into());
    };
    if region.is_empty() {
        return Err("name the region the ALB, the HTTP API and the functions are in (--region or AWS_REGION)".into());
    }
    let alb = |name: &str| {
        json!(["AWS/ApplicationELB", name, "LoadBalancer", m.alb_load_balancer, "TargetGroup", m.alb_target_group])
    };
    let api = |name: &str| json!(["AWS/ApiGateway", name, "ApiId", m.api_id, "Stage", m.api_stage]);
    let with = |mut metric: Value, options: Value| {
        if let Some(a) = metric.as_array_mut() {
            a.push(options);
        }
        metric
    };
    let own = |name: &str, extra: &[(&str, &str)]| {
        let mut metric = vec![json!(NAMESPACE), json!(name), json!(TARGET), json!(target.name)];
        for (k, v) in extra {
            metric.extend([json!(k), json!(v)]);
        }
        Value::Array(metric)
    };
    let latency = |stat: &str| {
        vec![
            with(alb("TargetResponseTime"), json!({"stat": stat, "id": "legacy_s", "visible": false})),
            math("legacy_s * 1000", &format!("legacy {stat} (ALB's wait on the app)"), "legacy"),
            with(
                api("IntegrationLatency"),
                json!({"stat": stat, "label": format!("serverless {stat} (API Gateway's wait on Lambda)")}),
            ),
        ]
    };
    let per_function = |name: &str, stat: &str| -> Vec<Value> {
        functions(m).map(|f| json!(["AWS/Lambda", name, "FunctionName", f, {"stat": stat, "label": f}])).collect()
    };
    let error_rate = vec![
        with(alb("HTTPCode_Target_5XX_Count"), json!({"stat": "Sum", "id": "legacy_5xx", "visible": false})),
        with(alb("RequestCount"), json!({"stat": "Sum", "id": "legacy_n", "visible": false})),
        math("100 * legacy_5xx / legacy_n", "legacy 5xx %", "legacy_rate"),
        with(api("5xx"), json!({"stat": "Sum", "id": "serverless_5xx", "visible": false})),
        with(api("Count"), json!({"stat": "Sum", "id": "serverless_n", "visible": false})),
        math("100 * serverless_5xx / serverless_n", "serverless 5xx %", "serverless_rate"),
    ];
    let verdicts: Vec<Value> =
        VERDICTS.iter().map(|v| with(own(ANALYSES, &[(VERDICT, v)]), json!({"stat": "Sum", "label": v}))).collect();
    let widgets = [
        (
            "Weight: % of /api/* on the new side",
            vec![with(own(WEIGHT, &[]), json!({"stat": "Maximum", "label": "weight"}))],
            "%",
        ),
        (
            "Requests a minute, each side",
            vec![
                with(alb("RequestCount"), json!({"stat": "Sum", "label": "legacy (ALB)"})),
                with(api("Count"), json!({"stat": "Sum", "label": "serverless (API Gateway)"})),
            ],
            "requests",
        ),
        ("p50 latency, each side (ms)", latency("p50"), "ms"),
        ("p99 latency, each side (ms)", latency("p99"), "ms"),
        ("Error rate, each side (5xx %)", error_rate, "%"),
        ("Verdicts (error_rate, latency_p50, latency_p99, cold starts)", verdicts, "analyses"),
        ("Lambda duration p99 (ms)", per_function("Duration", "p99"), "ms"),
        ("Lambda throttles", per_function("Throttles", "Sum"), "throttles"),
        ("Lambda concurrency (peak)", per_function("ConcurrentExecutions", "Maximum"), "executions"),
        (
            "Controller: heartbeats, rollbacks, longest pause (minutes)",
            vec![
                json!([NAMESPACE, HEARTBEAT, {"stat": "SampleCount", "label": "heartbeats (one a minute per replica)"}]),
                with(own(ROLLBACKS, &[]), json!({"stat": "Sum", "label": "rollbacks"})),
                json!([NAMESPACE, LONGEST_PAUSE, {"stat": "Maximum", "id": "pause_s", "visible": false}]),
                math("pause_s / 60", "longest pause (minutes)", "pause_min"),
            ],
            "count / minutes",
        ),
    ];
    let widgets: Vec<Value> = widgets
        .into_iter()
        .enumerate()
        .map(|(i, (title, metrics, unit))| {
            json!({
                "type": "metric",
                "x": (i as u32 % 2) * WIDTH,
                "y": (i as u32 / 2) * HEIGHT,
                "width": WIDTH,
                "height": HEIGHT,
                "properties": {
                    "title": title,
                    "region": region,
                    "view": "timeSeries",
                    "stacked": false,
                    "period": PERIOD,
                    "metrics": metrics,
                    "yAxis": {"left": {"label": unit, "showUnits": false, "min": 0}},
                },
            })
        })
        .collect();
    Ok(json!({ "start": "-PT48H", "periodOverride": "inherit", "widgets": widgets }))
}

/// A metric-math line: like every entry of a widget's `metrics`, an array
/// (PutDashboard refuses a bare object), holding the expression's options.
fn math(expression: &str, label: &str, id: &str) -> Value {
    json!([{ "expression": expression, "label": label, "id": id }])
}

fn functions(m: &MetricSources) -> impl Iterator<Item = &str> {
    m.lambda_functions.iter().map(String::as_str)
}
