//! A whole cutover through the AWS adapters: the real engine, judge and
//! driver, the weight written to a KeyValueStore by `KvsEdge` and verified
//! by probes through an edge, both sides read by `CloudWatchMetrics` with
//! `XRaySource`, every decision recorded by `DynamoStore`.
//!
//! DynamoDB is moto (started and stopped here). CloudWatch, X-Ray and the
//! KeyValueStore are SDK-level stand-ins (aws-smithy-mocks) that answer
//! from one simulated world, shaped as the API references show: per-minute
//! datapoints for the metric, namespace, dimensions and statistic each
//! query names (the ALB's latency in seconds, API Gateway's in ms, no
//! datapoint for a minute without requests); trace summaries per service
//! over the time range asked, with the app's HTTP method and URL; segment
//! documents for the ids asked; an ETag that every `PutKey` must match. The
//! world sends each minute's requests to the side the weight then in the
//! store gives their bucket, so what the judge sees follows what the
//! controller wrote. The edge that verifies each write is an HTTP stand-in
//! routing by the same bucketing.
//!
//! moto answers over a socket, so this runs on the wall clock, the default
//! 48-hour plan compressed 4 000 times (the AWS path refuses a speed other
//! than 1 in production; the test builds its driver itself). Nothing here
//! asserts a duration: how busy the machine is changes when windows are
//! read, not what the world says about any minute, and the healthy world's
//! new side is plainly better than the old.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudfrontkeyvaluestore::operation::describe_key_value_store::DescribeKeyValueStoreOutput;
use aws_sdk_cloudfrontkeyvaluestore::operation::get_key::GetKeyOutput;
use aws_sdk_cloudfrontkeyvaluestore::operation::put_key::{PutKeyError, PutKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::types::error::ConflictException;
use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataInput, GetMetricDataOutput};
use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use aws_sdk_xray::operation::batch_get_traces::{BatchGetTracesInput, BatchGetTracesOutput};
use aws_sdk_xray::operation::get_trace_summaries::{GetTraceSummariesInput, GetTraceSummariesOutput};
use aws_sdk_xray::types::{Http, Segment, Trace, TraceSummary};
use aws_smithy_mocks::{mock, mock_client, MockResponse, RuleMode};
use cutover_aws::{Clients, CloudWatchMetrics, DynamoStore, Endpoints, KvsEdge, Verified, Verifier, XRaySource};
use cutover_core::cohort;
use cutover_core::engine::{CutoverState, EventKind, Phase, RollbackReason};
use cutover_core::judge::{CheckName, SequentialJudge, Verdict};
use cutover_core::plan::Plan;
use cutover_core::ports::Clock;
use cutover_core::store::{Request, Store};
use cutover_runtime::{Driver, ScaledClock, Settings, Webhooks};
use cutover_sim::rng::Rng;
use cutover_testkit::http::{Answer, Stub};
use cutover_testkit::Moto;

const KVS_ARN: &str = "arn:aws:cloudfront::123456789012:key-value-store/8aa76c9b-1b7e-4f5c-9d60-2f7a0b6c1c3e";
const WEIGHT_KEY: &str = "internal-api/weight";
const SALT: &str = "internal-api";
const LEGACY_SERVICE: &str = "internal-api-express";
const FUNCTIONS: [&str; 2] = ["internal-api-health", "internal-api-get-report"];
/// Engine time runs this many times faster than the wall clock.
const SPEED: f64 = 4_000.0;
/// Requests a minute, both sides together.
const PER_MINUTE: u64 = 200;
const MINUTE_MS: u64 = 60_000;

/// The default plan on an AWS target, without probes (they would be sent at
/// the compressed rate) and judging every 5 minutes.
fn plan() -> Plan {
    let text = cutover_core::plan::DEFAULT_PLAN.to_owned()
        .replace(
            "[target.local]\nlegacy_url = \"http://127.0.0.1:8081\"\nserverless_url = \"http://127.0.0.1:8082\"\n",
            &format!(
                "[target.cloudfront]\ndistribution_id = \"E2QWRUHAPOMQZL\"\nkvs_arn = \"{KVS_ARN}\"\n\
                 weight_key = \"{WEIGHT_KEY}\"\nserverless_origin_id = \"api-gateway\"\nprobes_per_minute = 0\n\n\
                 [target.metrics]\nalb_load_balancer = \"app/internal-api/50dc6c495c0c9188\"\n\
                 alb_target_group = \"targetgroup/internal-api/73e2d6bc24d8a067\"\napi_id = \"a1b2c3d4e5\"\n\
                 api_stage = \"$default\"\nlambda_functions = [\"{}\", \"{}\"]\nxray_legacy_service = \"{LEGACY_SERVICE}\"\n",
                FUNCTIONS[0], FUNCTIONS[1]
            ),
        )
        .replace("interval = \"1m\"", "interval = \"5m\"");
    Plan::parse(&text).unwrap_or_else(|e| panic!("{e}"))
}

/// What the world is like: the new side's error rate (per mille), and
/// the rate from 30 minutes after the 10 % step was written (a time of the
/// world's own, so how fast the machine runs the steps before cannot move
/// it into another step).
#[derive(Clone, Copy)]
struct Shape {
    serverless_errors_per_mille: u64,
    regression: Option<u64>,
}

/// The weight in the KeyValueStore over engine time, and the clock that
/// stamps each write.
#[derive(Clone)]
struct World {
    shape: Shape,
    clock: ScaledClock,
    /// `(engine ms, basis points)` of every write, oldest first.
    weights: Arc<Mutex<Vec<(u64, u16)>>>,
    etag: Arc<Mutex<u32>>,
}

/// One simulated request.
struct Served {
    at_ms: u64,
    serverless: bool,
    failed: bool,
    ms: f64,
    /// Which of the new side's functions (and the old side's routes) it was.
    route: usize,
}

impl World {
    fn new(shape: Shape, clock: ScaledClock) -> World {
        World { shape, clock, weights: Arc::default(), etag: Arc::default() }
    }

    fn weight_at(&self, ms: u64) -> u16 {
        let weights = self.weights.lock().unwrap();
        weights.iter().rev().find(|(at, _)| *at <= ms).map_or(0, |(_, w)| *w)
    }

    fn weight_now(&self) -> u16 {
        self.weights.lock().unwrap().last().map_or(0, |(_, w)| *w)
    }

    /// The requests of the minute starting at `minute_ms`: each user's
    /// bucket fixed by its number, its side by the weight then.
    fn minute(&self, minute_ms: u64) -> Vec<Served> {
        let weight = self.weight_at(minute_ms);
        let onset = self.shape.regression.and_then(|per_mille| {
            let weights = self.weights.lock().unwrap();
            let ten = weights.iter().find(|(_, w)| *w >= 1_000).map(|(at, _)| *at)?;
            Some((ten + 30 * MINUTE_MS, per_mille))
        });
        (0..PER_MINUTE)
            .map(|i| {
                // The same request every time the minute is asked for.
                let mut rng = Rng::new(minute_ms / MINUTE_MS * 1_000 + i);
                let user = rng.below(5_000);
                let serverless = cohort::bucket(SALT, &format!("user-{user}")) < weight;
                let at_ms = minute_ms + i * MINUTE_MS / PER_MINUTE;
                let per_mille = match onset {
                    Some((from, per_mille)) if serverless && at_ms >= from => per_mille,
                    _ if serverless => self.shape.serverless_errors_per_mille,
                    _ => 5,
                };
                let failed = rng.chance(per_mille as f64 / 1000.0);
                // Lognormal-ish: the new side a fifth faster.
                let z = (rng.f64() - 0.5) * 2.4;
                let median = if serverless { 32.0 } else { 40.0 };
                Served { at_ms, serverless, failed, ms: median * z.exp(), route: (i % 2) as usize }
            })
            .collect()
    }

    fn served(&self, from_ms: u64, to_ms: u64) -> impl Iterator<Item = Served> + '_ {
        (from_ms / MINUTE_MS..to_ms.div_ceil(MINUTE_MS))
            .flat_map(move |m| self.minute(m * MINUTE_MS))
            .filter(move |s| (from_ms..to_ms).contains(&s.at_ms))
    }

    /// `GetMetricData`: each query's datapoints, newest first, one a minute.
    fn metric_data(&self, input: &GetMetricDataInput) -> GetMetricDataOutput {
        let ms = |t: Option<&aws_sdk_cloudwatch::primitives::DateTime>| {
            t.and_then(|t| t.to_millis().ok()).unwrap_or(0) as u64
        };
        let (from, to) = (ms(input.start_time()), ms(input.end_time()));
        let minutes: Vec<(u64, Vec<Served>)> =
            (from / MINUTE_MS..to / MINUTE_MS).map(|m| (m * MINUTE_MS, self.minute(m * MINUTE_MS))).collect();
        let results = input.metric_data_queries().iter().map(|q| {
            let stat = q.metric_stat().expect("a metric query");
            let metric = stat.metric().expect("a metric");
            let function =
                metric.dimensions().iter().find(|d| d.name() == Some("FunctionName")).and_then(|d| d.value());
            let mut result =
                MetricDataResult::builder().id(q.id().unwrap_or_default()).status_code(StatusCode::Complete);
            for (minute, served) in minutes.iter().rev() {
                let legacy = served.iter().filter(|s| !s.serverless);
                let function_of = |s: &&Served| function.is_none_or(|f| FUNCTIONS[s.route] == f);
                let serverless: Vec<&Served> = served.iter().filter(|s| s.serverless).filter(function_of).collect();
                let side: Vec<&Served> = match metric.namespace() {
                    Some("AWS/ApplicationELB") => legacy.collect(),
                    _ => serverless,
                };
                let count = side.len() as f64;
                let failed = side.iter().filter(|s| s.failed).count() as f64;
                let value = match (metric.metric_name().unwrap_or_default(), stat.stat().unwrap_or_default()) {
                    ("RequestCount" | "Count" | "Invocations", _) => Some(count),
                    ("HTTPCode_Target_5XX_Count" | "5xx" | "Errors", _) => Some(failed),
                    ("HTTPCode_ELB_5XX_Count" | "HTTPCode_Target_4XX_Count" | "4xx" | "Throttles", _) => Some(0.0),
                    ("ConcurrentExecutions", _) => Some(2.0),
                    (name, percentile) => {
                        let rank: f64 =
                            percentile.trim_start_matches('p').parse::<f64>().expect("a percentile") / 100.0;
                        let mut ms: Vec<f64> = side.iter().map(|s| s.ms).collect();
                        ms.sort_by(f64::total_cmp);
                        let at = ((ms.len() as f64 * rank).ceil() as usize).clamp(1, ms.len().max(1)) - 1;
                        let gateway = if name == "Latency" { 5.0 } else { 0.0 };
                        // The ALB's latency in seconds, API Gateway's in ms.
                        let unit = if name == "TargetResponseTime" { 0.001 } else { 1.0 };
                        ms.get(at).map(|v| (v + gateway) * unit)
                    }
                };
                // No datapoint for a minute without requests.
                if let Some(value) = value.filter(|_| count > 0.0) {
                    result = result
                        .timestamps(aws_sdk_cloudwatch::primitives::DateTime::from_millis(*minute as i64))
                        .values(value);
                }
            }
            result.build()
        });
        GetMetricDataOutput::builder().set_metric_data_results(Some(results.collect())).build()
    }

    /// `GetTraceSummaries` for one service over the range asked, one page.
    fn trace_summaries(&self, input: &GetTraceSummariesInput) -> GetTraceSummariesOutput {
        let ms =
            |t: Option<&aws_sdk_xray::primitives::DateTime>| t.and_then(|t| t.to_millis().ok()).unwrap_or(0) as u64;
        let service = input.filter_expression().unwrap_or_default();
        let serverless = FUNCTIONS.iter().position(|f| service == format!("service(\"{f}\")"));
        assert!(serverless.is_some() || service == format!("service(\"{LEGACY_SERVICE}\")"), "{service}");
        let summaries = self
            .served(ms(input.start_time()), ms(input.end_time()))
            .filter(|s| match serverless {
                Some(function) => s.serverless && s.route == function,
                None => !s.serverless,
            })
            .map(|s| {
                let side = if s.serverless { "lambda" } else { "app" };
                let path =
                    if s.route == 0 { "/api/health".to_owned() } else { format!("/api/reports/r{}", s.at_ms % 97) };
                TraceSummary::builder()
                    .id(format!("1-{:08x}-{side}{:016x}", s.at_ms / 1000, s.at_ms))
                    .response_time(s.ms / 1000.0)
                    .has_fault(s.failed)
                    .has_error(false)
                    .has_throttle(false)
                    .is_partial(false)
                    .http(Http::builder().http_method("GET").http_url(format!("https://api.example.com{path}")).build())
                    .build()
            });
        GetTraceSummariesOutput::builder().set_trace_summaries(Some(summaries.collect())).build()
    }

    /// `BatchGetTraces`: the app's segment, or Lambda's two (warm).
    fn traces(input: &BatchGetTracesInput) -> BatchGetTracesOutput {
        let traces = input.trace_ids().iter().map(|id| {
            let documents = if id.contains("lambda") {
                vec![
                    r#"{"id": "1", "name": "f", "origin": "AWS::Lambda", "start_time": 10.0, "end_time": 10.034}"#,
                    r#"{"id": "2", "name": "f", "origin": "AWS::Lambda::Function", "start_time": 10.001, "end_time": 10.032}"#,
                ]
            } else {
                vec![r#"{"id": "3", "name": "internal-api-express", "origin": "AWS::EC2::Instance", "start_time": 5.0, "end_time": 5.04}"#]
            };
            let segments = documents.iter().enumerate().map(|(n, d)| Segment::builder().id(n.to_string()).document(*d).build());
            Trace::builder().id(id).set_segments(Some(segments.collect())).build()
        });
        BatchGetTracesOutput::builder().set_traces(Some(traces.collect())).build()
    }

    fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        let world = self.clone();
        let rule =
            mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_compute_output(move |i| world.metric_data(i));
        mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[rule])
    }

    fn xray(&self) -> aws_sdk_xray::Client {
        let world = self.clone();
        let summaries =
            mock!(aws_sdk_xray::Client::get_trace_summaries).then_compute_output(move |i| world.trace_summaries(i));
        let traces = mock!(aws_sdk_xray::Client::batch_get_traces).then_compute_output(World::traces);
        mock_client!(aws_sdk_xray, RuleMode::MatchAny, &[summaries, traces])
    }

    /// The KeyValueStore: the weight under an ETag every `PutKey` must
    /// name, each write stamped with the engine's time.
    fn keyvaluestore(&self) -> aws_sdk_cloudfrontkeyvaluestore::Client {
        let etag = |n: u32| format!("KV{n}");
        let world = self.clone();
        let describe =
            mock!(aws_sdk_cloudfrontkeyvaluestore::Client::describe_key_value_store).then_compute_output(move |_| {
                DescribeKeyValueStoreOutput::builder()
                    .kvs_arn(KVS_ARN)
                    .created(aws_sdk_cloudfrontkeyvaluestore::primitives::DateTime::from_secs(1_795_867_200))
                    .e_tag(etag(*world.etag.lock().unwrap()))
                    .item_count(1)
                    .total_size_in_bytes(32)
                    .build()
                    .unwrap()
            });
        let world = self.clone();
        let get = mock!(aws_sdk_cloudfrontkeyvaluestore::Client::get_key).then_compute_output(move |_| {
            let value = world.weight_now().to_string();
            GetKeyOutput::builder().key(WEIGHT_KEY).value(value).item_count(1).total_size_in_bytes(32).build().unwrap()
        });
        let world = self.clone();
        let put = mock!(aws_sdk_cloudfrontkeyvaluestore::Client::put_key).then_compute_response(move |r| {
            let mut current = world.etag.lock().unwrap();
            if r.if_match() != Some(etag(*current).as_str()) {
                return MockResponse::Error(PutKeyError::ConflictException(
                    ConflictException::builder().message("Pre-condition failed: ETag mismatch").build(),
                ));
            }
            *current += 1;
            let bps: u16 = r.value().and_then(|v| v.parse().ok()).expect("the controller writes basis points");
            world.weights.lock().unwrap().push((world.clock.now().as_ms(), bps));
            MockResponse::Output(
                PutKeyOutput::builder().e_tag(etag(*current)).item_count(1).total_size_in_bytes(32).build().unwrap(),
            )
        });
        mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, &[describe, get, put])
    }

    /// The distribution with the CloudFront Function: a request goes to the
    /// side its cohort header's bucket falls on under the weight now.
    fn edge(&self) -> Stub {
        let world = self.clone();
        Stub::start(move |r| {
            let bucket = cohort::bucket(SALT, r.header("x-user-id").unwrap_or("anonymous"));
            let side = if bucket < world.weight_now() { "serverless" } else { "legacy" };
            Answer::json(200, "{}").with_header("x-served-by", side)
        })
    }
}

/// Drives one cutover of the default plan through the adapters over `shape`.
async fn cutover(name: &str, shape: Shape) -> (CutoverState, Vec<cutover_core::engine::Event>, Vec<(u64, u16)>) {
    let moto = Moto::start();
    let endpoints = Endpoints { dynamodb: Some(moto.endpoint().to_owned()), ..Endpoints::default() };
    let store = DynamoStore::new(Clients::new(&endpoints).await.dynamodb, format!("cutover-{name}"));
    store.create_table().await.expect("create the table");

    let clock = ScaledClock::new(ScaledClock::starting_now(SPEED));
    let world = World::new(shape, clock);
    let edge_stub = world.edge();
    let plan = plan();
    let verifier = Verifier {
        base: edge_stub.base().to_owned(),
        path: "/api/health".into(),
        cohort: plan.target.cohort.clone(),
        salt: plan.target.salt.clone(),
        max_wait: Duration::from_secs(30),
    };
    let sources = plan.target.metrics.clone().expect("an AWS plan");
    let xray = XRaySource::new(world.xray(), LEGACY_SERVICE.into(), sources.lambda_functions.clone());
    let driver = Driver {
        store: store.clone(),
        edge: Verified::new(KvsEdge::new(world.keyvaluestore(), KVS_ARN, WEIGHT_KEY), verifier),
        metrics: CloudWatchMetrics::new(world.cloudwatch(), sources).with_xray(xray),
        // No webhooks: nobody to tell.
        notifier: Webhooks::new(&store, &format!("whole-{name}"), &[]),
        clock,
        settings: Settings { holder: format!("whole-{name}"), ..Settings::default() },
    };
    let id = format!("whole-{name}");
    store.create("(the default plan on AWS)", clock.scale(), &CutoverState::new(&id, clock.now()), &[]).await.unwrap();
    let start = Request {
        seq: 0,
        command: cutover_core::engine::Command::Start,
        actor: "ana".into(),
        reason: None,
        at: clock.now(),
    };
    store.send(&id, &start).await.unwrap();
    // 48 engine hours are 43 wall seconds at this speed; a driver that
    // hangs fails here, long after.
    let state = tokio::time::timeout(Duration::from_secs(900), driver.run(&id, &plan, SequentialJudge::new))
        .await
        .expect("the cutover settles")
        .expect("the driver runs");
    let history = store.history(&id).await.unwrap();
    let writes = world.weights.lock().unwrap().clone();
    (state, history, writes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_cutover_completes_through_the_aws_adapters() {
    let (state, history, writes) = cutover("healthy", Shape { serverless_errors_per_mille: 1, regression: None }).await;
    assert_eq!(state.phase, Phase::Completed, "{:?}", history.iter().map(|e| e.describe()).collect::<Vec<_>>());
    let weights: Vec<u16> = writes.iter().map(|(_, w)| *w).collect();
    assert_eq!(weights, [100, 500, 1_000, 2_500, 5_000, 7_500, 10_000], "every step written once, in order");
    let confirmed =
        history.iter().filter(|e| matches!(e.kind, EventKind::WeightConfirmed { verification: Some(_), .. }));
    assert_eq!(confirmed.count(), 7, "each write verified through the edge");
    let analyses: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Analysis { analysis, .. } => Some(analysis),
            _ => None,
        })
        .collect();
    assert!(analyses.len() > 20, "judged all along: {}", analyses.len());
    let from_xray =
        analyses.iter().filter(|a| a.latency_source.as_ref().is_some_and(|s| s.serverless.starts_with("xray")));
    assert!(from_xray.count() > 0, "latency from X-Ray once both sides have traces");
    assert!(analyses.iter().any(|a| a.routes.iter().any(|r| r.route == "GET /api/reports/{reportId}")), "per route");
    let started = history.first().map(|e| e.at).unwrap();
    let ended = history.last().map(|e| e.at).unwrap();
    assert!(ended.since(started) >= Duration::from_secs(48 * 3600), "the plan's 48 hours, compressed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regression_through_the_aws_adapters_rolls_back_on_the_error_check() {
    // +5 pp on the new side from 30 minutes into the 10 % step.
    let shape = Shape { serverless_errors_per_mille: 1, regression: Some(51) };
    let (state, history, writes) = cutover("regressed", shape).await;
    assert_eq!(
        state.phase,
        Phase::RolledBack { reason: RollbackReason::CriticalFail { check: CheckName::ErrorRate } },
        "{:?}",
        state.phase
    );
    assert_eq!(writes.last().map(|(_, w)| *w), Some(0), "the edge is back at 0");
    let failed = history
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Analysis { analysis, .. } if analysis.verdict == Verdict::Fail => Some(analysis.clone()),
            _ => None,
        })
        .expect("the failing analysis is recorded");
    let checks: Vec<CheckName> = failed.checks.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.check).collect();
    assert_eq!(checks, [CheckName::ErrorRate], "rolled back on the error check: {failed:?}");
    assert!(failed.samples.serverless > 0, "with the numbers behind it");
    let reached: Vec<u16> = writes.iter().map(|(_, w)| *w).collect();
    assert!(reached.starts_with(&[100, 500, 1_000]) && !reached.contains(&2_500), "{reached:?}");
}
