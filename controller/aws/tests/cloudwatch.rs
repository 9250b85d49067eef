//! The CloudWatch metric source at the SDK boundary (aws-smithy-mocks: the
//! SDK speaks CBOR to CloudWatch, which moto does not). Results are shaped
//! as GetMetricData returns them: newest datapoint first, the ALB's
//! latency in seconds, API Gateway's in milliseconds, no datapoint in a
//! minute without requests, NextToken paging with PartialData.

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use aws_sdk_cloudwatch::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use cutover_aws::{CloudWatchMetrics, LAG};
use cutover_core::measure::{Source, Window};
use cutover_core::units::Timestamp;

mod common;
use common::sources;

/// 2026-11-28T12:00:00Z, a whole minute.
const NOON: u64 = 1_795_867_200_000;
const MINUTE: u64 = 60_000;

/// The window the engine asks for, whose read (LAG earlier) is the two
/// minutes from noon.
fn window() -> Window {
    let lag = LAG.as_millis() as u64;
    Window { from: Timestamp::from_ms(NOON + lag), to: Timestamp::from_ms(NOON + 2 * MINUTE + lag) }
}

/// A result with datapoints `(minute index, value)`, newest first.
fn result(id: &str, points: &[(u64, f64)]) -> MetricDataResult {
    let mut points = points.to_vec();
    points.sort_by_key(|p| std::cmp::Reverse(p.0));
    let mut r = MetricDataResult::builder().id(id).label(id).status_code(StatusCode::Complete);
    for (minute, value) in points {
        r = r.timestamps(DateTime::from_millis((NOON + minute * MINUTE) as i64)).values(value);
    }
    r.build()
}

/// Percentile results for one side: `scale` turns ms into the unit sent.
fn latencies(side: &str, p50_ms: f64, p99_ms: f64, scale: f64, minutes: &[u64]) -> Vec<MetricDataResult> {
    let shape = [
        ("p10", 0.6),
        ("p25", 0.8),
        ("p50", 1.0),
        ("p75", 1.2),
        ("p90", 1.5),
        ("p95", 1.8),
        ("p99", 0.0),
        ("p99_9", 0.0),
    ];
    shape
        .iter()
        .map(|(stat, factor)| {
            let ms = match *stat {
                "p99" => p99_ms,
                "p99_9" => p99_ms * 1.5,
                _ => p50_ms * factor,
            };
            let points: Vec<(u64, f64)> = minutes.iter().map(|m| (*m, ms * scale)).collect();
            result(&format!("{side}_latency_{stat}"), &points)
        })
        .collect()
}

fn healthy() -> Vec<MetricDataResult> {
    let mut results = latencies("legacy", 40.0, 120.0, 0.001, &[0, 1]);
    results.extend(latencies("serverless", 33.0, 90.0, 1.0, &[0, 1]));
    results.push(result("legacy_requests_sum", &[(0, 100.0), (1, 120.0)]));
    results.push(result("legacy_target5xx_sum", &[(1, 1.0)]));
    results.push(result("legacy_elb5xx_sum", &[(0, 1.0)]));
    results.push(result("serverless_requests_sum", &[(0, 50.0), (1, 30.0)]));
    results.push(result("serverless_5xx_sum", &[(0, 2.0)]));
    results.push(result("legacy_target4xx_sum", &[(0, 3.0), (1, 1.0)]));
    results.push(result("serverless_4xx_sum", &[(1, 5.0)]));
    results.push(result("serverless_gateway_p50", &[(0, 38.0), (1, 38.0)]));
    results.push(result("serverless_gateway_p99", &[(0, 95.0), (1, 95.0)]));
    results.push(result("lambda0_errors", &[(0, 1.0)]));
    results.push(result("lambda1_throttles", &[(1, 3.0)]));
    results.push(result("lambda0_duration", &[(0, 41.0), (1, 48.0)]));
    results.push(result("lambda1_concurrency", &[(0, 4.0), (1, 7.0)]));
    results.push(result("lambda0_invocations", &[(0, 30.0), (1, 20.0)]));
    results.push(result("lambda1_invocations", &[(0, 20.0), (1, 10.0)]));
    results
}

/// [`healthy`] with each function's invocations replaced.
fn invoked(health: f64, user_context: f64) -> Vec<MetricDataResult> {
    let mut results: Vec<MetricDataResult> =
        healthy().into_iter().filter(|r| !r.id().unwrap_or_default().ends_with("_invocations")).collect();
    results.push(result("lambda0_invocations", &[(0, health)]));
    results.push(result("lambda1_invocations", &[(0, user_context)]));
    results
}

fn metrics(rules: &[aws_smithy_mocks::Rule]) -> CloudWatchMetrics {
    CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, rules), sources())
}

#[tokio::test]
async fn one_call_per_window_and_units_normalised_to_milliseconds() {
    let rule = mock!(Client::get_metric_data)
        .match_requests(|r| {
            let queries = r.metric_data_queries();
            queries.len() == 25 + 5 * 2
                && queries.iter().all(|q| q.metric_stat().and_then(|s| s.period()) == Some(60))
                && r.start_time() == Some(&DateTime::from_millis(NOON as i64))
                && r.end_time() == Some(&DateTime::from_millis((NOON + 2 * MINUTE) as i64))
        })
        .then_output(|| GetMetricDataOutput::builder().set_metric_data_results(Some(healthy())).build());
    let reading = metrics(std::slice::from_ref(&rule)).read(window()).await.expect("a reading");
    assert_eq!(rule.num_calls(), 1, "one batched call");
    let (legacy, serverless) = (&reading.measurement.traffic.legacy, &reading.measurement.traffic.serverless);
    assert_eq!((legacy.requests, legacy.errors), (220, 2), "target and ELB 5xx both count");
    assert_eq!(reading.alb_own_5xx, 1);
    assert_eq!((serverless.requests, serverless.errors), (80, 2));
    assert_eq!((legacy.client_errors, serverless.client_errors), (4, 5), "4xx apart from the errors");
    let p50 = |s: &cutover_core::measure::SideSample| s.latency_ms.quantile(0.5).unwrap();
    assert!((38.0..=42.0).contains(&p50(legacy)), "0.040 s is 40 ms: {}", p50(legacy));
    assert!((31.5..=34.5).contains(&p50(serverless)), "{}", p50(serverless));
    let p99 = legacy.latency_ms.quantile(0.99).unwrap();
    assert!((100.0..=125.0).contains(&p99), "p99 {p99}");
    assert_eq!(reading.gateway_p50_ms, Some(38.0));
    let source = reading.measurement.latency_source.as_ref().expect("named");
    assert_eq!(
        (source.legacy.as_str(), source.serverless.as_str()),
        ("cloudwatch: ALB TargetResponseTime", "cloudwatch: API Gateway IntegrationLatency"),
        "each proxy's wait on its backend"
    );
    assert_eq!((reading.lambda_errors, reading.lambda_throttles, reading.lambda_peak_concurrency), (1, 3, Some(7.0)));
    assert_eq!(reading.lambda_invocations, [50, 30], "per function, in the plan's order");
    assert_eq!(reading.lambda_duration_p99_ms, [Some(48.0), None], "the slowest minute's p99, per function");
    assert_eq!((reading.read_from_ms, reading.read_to_ms), (NOON, NOON + 2 * MINUTE), "read {} s late", LAG.as_secs());
}

/// An ALB that also serves other applications: its own 5xx (by load
/// balancer only, not by target group) may be theirs, so they are reported
/// beside the old side's errors and not counted in them.
#[tokio::test]
async fn a_shared_albs_own_5xx_are_reported_not_counted() {
    let rule = mock!(Client::get_metric_data)
        .then_output(|| GetMetricDataOutput::builder().set_metric_data_results(Some(healthy())).build());
    let shared = cutover_core::plan::MetricSources { alb_shared: true, ..sources() };
    let metrics = CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&rule]), shared);
    let reading = metrics.read(window()).await.expect("a reading");
    assert_eq!(reading.measurement.traffic.legacy.errors, 1, "the target group's own 5xx only");
    assert_eq!(reading.alb_own_5xx, 1);
}

/// At 100 % the ALB serves only probes: no RequestCount datapoints is no
/// traffic, not an error.
#[tokio::test]
async fn a_side_without_datapoints_had_no_requests() {
    let rule = mock!(Client::get_metric_data).then_output(|| {
        let mut results = latencies("serverless", 33.0, 90.0, 1.0, &[0, 1]);
        results.push(result("serverless_requests_sum", &[(0, 50.0), (1, 30.0)]));
        results.push(result("legacy_requests_sum", &[]));
        GetMetricDataOutput::builder().set_metric_data_results(Some(results)).build()
    });
    let m = metrics(&[rule]).read(window()).await.expect("a reading").measurement;
    assert_eq!(m.traffic.legacy.requests, 0);
    assert_eq!(m.traffic.legacy.latency_ms.count(), 0);
    assert_eq!(m.traffic.serverless.requests, 80);
}

#[tokio::test]
async fn requests_without_percentiles_are_missing_data_not_zero() {
    let rule = mock!(Client::get_metric_data).then_output(|| {
        let mut results = latencies("serverless", 33.0, 90.0, 1.0, &[0]);
        results.push(result("serverless_requests_sum", &[(0, 50.0), (1, 30.0)]));
        GetMetricDataOutput::builder().set_metric_data_results(Some(results)).build()
    });
    let err = metrics(&[rule]).read(window()).await.unwrap_err();
    assert_eq!(err.source_name, Source::CloudWatch);
    assert!(err.message.contains("30 requests") && err.message.contains("missing data"), "{err}");
}

#[tokio::test]
async fn pages_are_followed_and_a_dangling_partial_is_an_error() {
    let first = mock!(Client::get_metric_data).match_requests(|r| r.next_token().is_none()).then_output(|| {
        let mut results = latencies("legacy", 40.0, 120.0, 0.001, &[1]);
        let mut requests = result("legacy_requests_sum", &[(1, 120.0)]);
        requests.status_code = Some(StatusCode::PartialData);
        results.push(requests);
        GetMetricDataOutput::builder().set_metric_data_results(Some(results)).next_token("page-2").build()
    });
    let second =
        mock!(Client::get_metric_data).match_requests(|r| r.next_token() == Some("page-2")).then_output(|| {
            let mut results = latencies("legacy", 40.0, 120.0, 0.001, &[0]);
            results.push(result("legacy_requests_sum", &[(0, 100.0)]));
            GetMetricDataOutput::builder().set_metric_data_results(Some(results)).build()
        });
    let m = metrics(&[first, second]).read(window()).await.expect("both pages").measurement;
    assert_eq!(m.traffic.legacy.requests, 220, "both pages' minutes");

    let dangling = mock!(Client::get_metric_data).then_output(|| {
        let mut requests = result("legacy_requests_sum", &[(1, 120.0)]);
        requests.status_code = Some(StatusCode::PartialData);
        GetMetricDataOutput::builder().metric_data_results(requests).build()
    });
    let err = metrics(&[dangling]).read(window()).await.unwrap_err();
    assert!(err.message.contains("partial"), "{err}");
}

#[tokio::test]
async fn a_failed_query_a_short_window_and_access_denied_are_errors() {
    let forbidden = mock!(Client::get_metric_data).then_output(|| {
        let failed = MetricDataResult::builder().id("legacy_requests_sum").status_code(StatusCode::Forbidden).build();
        GetMetricDataOutput::builder().metric_data_results(failed).build()
    });
    let err = metrics(&[forbidden]).read(window()).await.unwrap_err();
    assert!(err.message.contains("legacy_requests_sum") && err.message.contains("Forbidden"), "{err}");

    let never = mock!(Client::get_metric_data).then_output(|| GetMetricDataOutput::builder().build());
    let short = Window { from: window().from, to: window().from + std::time::Duration::from_secs(30) };
    let err = metrics(std::slice::from_ref(&never)).read(short).await.unwrap_err();
    assert!(err.message.contains("no whole minute"), "{err}");
    assert_eq!(never.num_calls(), 0, "nothing asked");

    let denied = mock!(Client::get_metric_data).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        )
    });
    let err = metrics(&[denied]).read(window()).await.unwrap_err();
    assert!(err.message.contains("grant `cloudwatch:GetMetricData`"), "{err}");
}

mod xray {
    use super::*;
    use aws_sdk_xray::operation::batch_get_traces::{BatchGetTracesInput, BatchGetTracesOutput};
    use aws_sdk_xray::operation::get_trace_summaries::GetTraceSummariesOutput;
    use aws_sdk_xray::types::{Segment, Trace, TraceSummary};
    use cutover_aws::XRaySource;

    /// Segment documents as X-Ray returns them for `id`: ids with `cold`
    /// in them met a Lambda cold start; ids with `lambda` are the new
    /// side's (service, function, a DynamoDB call, its inferred segment),
    /// the rest the Express app's (an SQL query). 1 s = 1000 ms.
    fn trace(id: &str) -> Trace {
        let documents: Vec<String> = if id.contains("lambda") {
            // A cold start's 250 ms come before the handler's 40.
            let (init, start) = if id.contains("cold") {
                (r#"{"name": "Initialization", "start_time": 10.000, "end_time": 10.250},"#, 10.000)
            } else {
                ("", 10.250)
            };
            vec![
                format!(
                    r#"{{"id": "1", "name": "api", "origin": "AWS::Lambda", "start_time": {}, "end_time": 10.300}}"#,
                    start - 0.002
                ),
                format!(
                    r#"{{"id": "2", "name": "api", "origin": "AWS::Lambda::Function", "start_time": {start},
                         "end_time": 10.295, "subsegments": [{init}
                         {{"name": "Invocation", "start_time": 10.250, "end_time": 10.290, "subsegments": [
                           {{"name": "DynamoDB", "namespace": "aws", "start_time": 10.260, "end_time": 10.268}}]}}]}}"#
                ),
                r#"{"id": "3", "name": "DynamoDB", "origin": "AWS::DynamoDB::Table", "inferred": true,
                    "start_time": 10.260, "end_time": 10.268}"#
                    .into(),
            ]
        } else {
            vec![r#"{"id": "4", "name": "internal-api-express", "origin": "AWS::EC2::Instance",
                     "start_time": 5.0, "end_time": 5.045, "subsegments": [
                       {"name": "orders@db", "namespace": "remote", "sql": {"database_type": "PostgreSQL"},
                        "start_time": 5.010, "end_time": 5.022}]}"#
                .into()]
        };
        let segments =
            documents.into_iter().enumerate().map(|(i, d)| Segment::builder().id(i.to_string()).document(d).build());
        Trace::builder().id(id).set_segments(Some(segments.collect())).build()
    }

    fn documents(input: &BatchGetTracesInput) -> BatchGetTracesOutput {
        let traces = input.trace_ids().iter().map(|id| trace(id)).collect();
        BatchGetTracesOutput::builder().set_traces(Some(traces)).build()
    }

    fn batch_get_traces() -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_xray::Client::batch_get_traces)
            .match_requests(|r| (1..=5).contains(&r.trace_ids().len()))
            .then_compute_output(documents)
    }

    fn traces(n: usize, seconds: f64) -> Vec<TraceSummary> {
        (0..n)
            .map(|i| {
                TraceSummary::builder()
                    .id(format!("1-6768a000-{i:024x}"))
                    .response_time(seconds)
                    .duration(seconds)
                    .has_fault(i % 20 == 0)
                    .has_error(false)
                    .has_throttle(false)
                    .is_partial(false)
                    .build()
            })
            .collect()
    }

    fn source(rules: &[aws_smithy_mocks::Rule]) -> XRaySource {
        let client = mock_client!(aws_sdk_xray, RuleMode::MatchAny, rules);
        XRaySource::new(client, "internal-api-express".into(), sources().lambda_functions)
    }

    /// `get_trace_summaries` for one service, answering `page` on one page.
    fn summaries_of(
        service: &'static str,
        page: impl Fn() -> Vec<TraceSummary> + Send + Sync + 'static,
    ) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_xray::Client::get_trace_summaries)
            .match_requests(move |r| r.filter_expression() == Some(format!("service(\"{service}\")").as_str()))
            .then_output(move || GetTraceSummariesOutput::builder().set_trace_summaries(Some(page())).build())
    }

    fn reading_of(results: Vec<MetricDataResult>, rules: &[aws_smithy_mocks::Rule]) -> CloudWatchMetrics {
        let cloudwatch = mock!(Client::get_metric_data)
            .then_output(move || GetMetricDataOutput::builder().set_metric_data_results(Some(results.clone())).build());
        CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&cloudwatch]), sources()).with_xray(source(rules))
    }

    /// The old side has 40 complete traces over two pages (and 2 partial
    /// ones). With the new side's 15 (too few) neither side is judged on
    /// X-Ray: one side's traces against the other's CloudWatch figures would
    /// compare different points. With 80 both are (0.050 s → 50 ms, and
    /// the functions' 0.500 s), and the measurement says where each came from.
    #[tokio::test]
    async fn xray_latencies_replace_both_sides_or_neither() {
        let read = |health: usize, user_context: usize| async move {
            let cloudwatch = mock!(Client::get_metric_data)
                .then_output(|| GetMetricDataOutput::builder().set_metric_data_results(Some(healthy())).build());
            let legacy_first = mock!(aws_sdk_xray::Client::get_trace_summaries)
                .match_requests(|r| {
                    r.filter_expression() == Some(r#"service("internal-api-express")"#) && r.next_token().is_none()
                })
                .then_output(|| {
                    let mut page = traces(20, 0.050);
                    page.push(TraceSummary::builder().id("partial-1").is_partial(true).response_time(9.0).build());
                    page.push(TraceSummary::builder().id("partial-2").is_partial(true).build());
                    GetTraceSummariesOutput::builder().set_trace_summaries(Some(page)).next_token("more").build()
                });
            let legacy_second = mock!(aws_sdk_xray::Client::get_trace_summaries)
                .match_requests(|r| r.next_token() == Some("more"))
                .then_output(|| {
                    GetTraceSummariesOutput::builder().set_trace_summaries(Some(traces(20, 0.050))).build()
                });
            let health = summaries_of("internal-api-health", move || traces(health, 0.500));
            let user_context = summaries_of("internal-api-user-context", move || traces(user_context, 0.500));
            let metrics = CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&cloudwatch]), sources())
                .with_xray(source(&[legacy_first, legacy_second, health, user_context, batch_get_traces()]));
            metrics.read(window()).await.expect("a reading")
        };
        let p50 = |s: &cutover_core::measure::SideSample| s.latency_ms.quantile(0.5).unwrap();

        let few = read(10, 5).await;
        let xray = few.xray.as_ref().expect("X-Ray was read");
        assert_eq!((xray.legacy.traces, xray.legacy.partial, xray.legacy.faults), (40, 2, 2));
        assert_eq!(xray.serverless.traces, 15, "every function's traces");
        let traffic = &few.measurement.traffic;
        assert!((38.0..=42.0).contains(&p50(&traffic.legacy)), "CloudWatch's 40 ms stays: {}", p50(&traffic.legacy));
        assert!((31.5..=34.5).contains(&p50(&traffic.serverless)), "{}", p50(&traffic.serverless));
        assert!(few.measurement.latency_source.as_ref().unwrap().legacy.starts_with("cloudwatch"));

        // Enough once pooled: 40 traces of each function (50 and 30 invocations).
        let enough = read(40, 40).await;
        let traffic = &enough.measurement.traffic;
        assert!((48.0..=52.0).contains(&p50(&traffic.legacy)), "X-Ray's 0.050 s as ms: {}", p50(&traffic.legacy));
        assert!((480.0..=520.0).contains(&p50(&traffic.serverless)), "{}", p50(&traffic.serverless));
        assert_eq!(traffic.legacy.requests, 220, "counts stay CloudWatch's");
        let source = enough.measurement.latency_source.as_ref().unwrap();
        assert!(source.legacy.starts_with("xray") && source.serverless.starts_with("xray"), "{source:?}");
    }

    fn summary(id: String, seconds: f64) -> TraceSummary {
        TraceSummary::builder()
            .id(id)
            .response_time(seconds)
            .has_fault(false)
            .has_error(false)
            .has_throttle(false)
            .is_partial(false)
            .build()
    }

    /// Each route alone, both sides from X-Ray: the app's traces by the
    /// method and URL they carry, looked up in the route contract; each
    /// function's traces as its route's. One route slower on the new side
    /// shows as that route's ratio.
    #[tokio::test]
    async fn each_route_is_compared_on_its_own() {
        use aws_sdk_xray::types::Http;
        let functions = vec!["internal-api-health".to_owned(), "internal-api-get-user-context".to_owned()];
        let with_url = |id: String, seconds: f64, method: &str, url: &str| {
            let mut t = summary(id, seconds);
            t.http = Some(Http::builder().http_method(method).http_url(url).http_status(200).build());
            t
        };
        let legacy = summaries_of("internal-api-express", move || {
            let mut page: Vec<TraceSummary> = (0..30)
                .map(|i| with_url(format!("h-{i}"), 0.030, "GET", "https://api.example.com/api/health"))
                .collect();
            page.extend((0..30).map(|i| {
                with_url(
                    format!("u-{i}"),
                    0.050,
                    "GET",
                    &format!("https://api.example.com/api/users/u{i}/context?fresh=1"),
                )
            }));
            page.push(with_url("nowhere".into(), 0.010, "GET", "https://api.example.com/favicon.ico"));
            page.push(with_url("put".into(), 0.060, "PUT", "https://api.example.com/api/users/u1/context"));
            page
        });
        let health =
            summaries_of("internal-api-health", || (0..20).map(|i| summary(format!("lambda-h{i}"), 0.030)).collect());
        let users = summaries_of("internal-api-get-user-context", || {
            (0..20).map(|i| summary(format!("lambda-u{i}"), 0.100)).collect()
        });
        let cloudwatch = mock!(Client::get_metric_data)
            .then_output(|| GetMetricDataOutput::builder().set_metric_data_results(Some(invoked(20.0, 20.0))).build());
        let client = mock_client!(aws_sdk_xray, RuleMode::MatchAny, &[legacy, health, users, batch_get_traces()]);
        let plan = cutover_core::plan::MetricSources { lambda_functions: functions.clone(), ..sources() };
        let metrics = CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&cloudwatch]), plan)
            .with_xray(XRaySource::new(client, "internal-api-express".into(), functions));
        let reading = metrics.read(window()).await.expect("a reading");
        let routes: Vec<(String, u64, u64)> = reading
            .measurement
            .routes
            .iter()
            .map(|r| (r.route.clone(), r.sides.legacy.traces, r.sides.serverless.traces))
            .collect();
        assert_eq!(
            routes,
            [
                ("GET /api/health".to_owned(), 30, 20),
                ("GET /api/users/{userId}/context".to_owned(), 30, 20),
                ("PUT /api/users/{userId}/context".to_owned(), 1, 0),
            ],
            "the favicon is no route of the contract"
        );
        let users = &reading.measurement.routes[1];
        let line = cutover_core::measure::describe_route(users);
        assert!(
            line.starts_with(
                "GET /api/users/{userId}/context  legacy 50/50 ms, 0 of 30 failed › serverless 101/101 ms, 0 of 20 failed"
            ),
            "{line}"
        );
        assert!(line.ends_with("· p99 ×2.0"), "{line}");
    }

    /// 60 Lambda traces of the one function invoked, of which three met a
    /// cold start (0.4 s); 40 are read whole, in 8 calls, evenly spread,
    /// and the cold ones are among them: their latency leaves the warm
    /// histogram for the cold one, and the cold-start share is of the 40.
    /// Both sides' hops nest beneath CloudWatch's.
    #[tokio::test]
    async fn whole_traces_give_cold_starts_and_the_hops_beneath_cloudwatchs() {
        let cloudwatch = mock!(Client::get_metric_data)
            .then_output(|| GetMetricDataOutput::builder().set_metric_data_results(Some(invoked(80.0, 0.0))).build());
        let idle = summaries_of("internal-api-user-context", Vec::new);
        let legacy = mock!(aws_sdk_xray::Client::get_trace_summaries)
            .match_requests(|r| r.filter_expression() == Some(r#"service("internal-api-express")"#))
            .then_output(|| {
                let page = (0..30).map(|i| summary(format!("express-{i}"), 0.045)).collect();
                GetTraceSummariesOutput::builder().set_trace_summaries(Some(page)).build()
            });
        let serverless = mock!(aws_sdk_xray::Client::get_trace_summaries)
            .match_requests(|r| r.filter_expression() == Some(r#"service("internal-api-health")"#))
            .then_output(|| {
                // Indices 0, 3 and 6 are among every 1.5th of 60 read whole.
                let page = (0..60)
                    .map(|i| match i {
                        0 | 3 | 6 => summary(format!("lambda-cold-{i}"), 0.400),
                        _ => summary(format!("lambda-{i}"), 0.030),
                    })
                    .collect();
                GetTraceSummariesOutput::builder().set_trace_summaries(Some(page)).build()
            });
        let batch = batch_get_traces();
        let metrics = CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&cloudwatch]), sources())
            .with_xray(source(&[legacy, serverless, idle, batch.clone()]));
        let reading = metrics.read(window()).await.expect("a reading");
        assert_eq!(batch.num_calls(), 6 + 8, "30 and 40 ids, 5 a call");
        let xray = reading.xray.as_ref().unwrap();
        assert_eq!((xray.legacy.detailed, xray.serverless.detailed), (30, 40));

        let serverless = &reading.measurement.traffic.serverless;
        assert_eq!(serverless.cold_sample(), (40, 3), "3 cold of the 40 read whole, not of the 80 requests");
        assert_eq!((serverless.latency_ms.count(), serverless.cold_latency_ms.count()), (57, 3));
        let cold_p50 = serverless.cold_latency_ms.quantile(0.5).unwrap();
        assert!((390.0..=410.0).contains(&cold_p50), "{cold_p50}");
        assert!(serverless.latency_ms.quantile(0.99).unwrap() < 35.0, "no cold start among the warm");

        let hops = &reading.measurement.hops;
        let shape = |hops: &[cutover_core::measure::Hop]| -> Vec<(String, u8, u64)> {
            hops.iter().map(|h| (h.name.clone(), h.depth, h.samples)).collect()
        };
        let own = |name: &str, depth: u8, samples: u64| (name.to_owned(), depth, samples);
        assert_eq!(
            shape(&hops.serverless),
            [
                own("api_gateway", 0, 80),
                own("integration", 1, 80),
                own("lambda", 2, 40),
                own("function", 3, 40),
                own("init", 4, 3),
                own("dynamodb", 4, 40)
            ]
        );
        assert_eq!(
            shape(&hops.legacy),
            [own("alb_target", 0, 220), own("internal-api-express", 1, 30), own("db", 2, 30)]
        );
        let ms = |side: &[cutover_core::measure::Hop], name: &str| {
            side.iter().find(|h| h.name == name).and_then(|h| h.p50_ms).unwrap()
        };
        assert!((7.6..=8.4).contains(&ms(&hops.serverless, "dynamodb")), "8 ms, the inferred segment not added");
        assert!((240.0..=260.0).contains(&ms(&hops.serverless, "init")));
        assert!((11.5..=12.5).contains(&ms(&hops.legacy, "db")));
        assert_eq!(hops.serverless[0].p50_ms, Some(38.0), "API Gateway's Latency as CloudWatch sent it");
        let line = cutover_core::measure::describe_hops(&hops.serverless);
        assert!(line.starts_with("api_gateway 38/95 ms › integration 33/"), "{line}");
        assert!(line.contains(" › function 45/293 ms (40 traces) › init 250/250 ms (3 traces) › dynamodb "), "{line}");
    }

    /// The controller's probes (pinned to each side through the edge) are
    /// the window's probe stratum, out of CloudWatch's counts, which hold
    /// them among the users' requests; and they top each side's breakdown.
    /// Only the probes sent in the window read (3 minutes late) count.
    #[tokio::test]
    async fn the_probes_are_the_probe_stratum_and_the_outermost_hop() {
        use cutover_aws::ProbeLog;
        use cutover_core::measure::Side;
        use cutover_runtime::probes::ProbeOutcome;
        let log = ProbeLog::default();
        for second in 0..120 {
            let at = NOON + second * 1000;
            log.record(at, Side::Legacy, ProbeOutcome::Answered(40.0));
            let outcome = if second % 40 == 0 { ProbeOutcome::ServerError } else { ProbeOutcome::Answered(20.0) };
            if second % 2 == 0 {
                log.record(at, Side::Serverless, outcome);
            }
        }
        // No answer at all: never reached an origin, so not in CloudWatch's counts.
        log.record(NOON + 500, Side::Legacy, ProbeOutcome::NoAnswer);
        log.record(NOON + 2 * MINUTE, Side::Legacy, ProbeOutcome::Answered(40.0));
        let cloudwatch = mock!(Client::get_metric_data)
            .then_output(|| GetMetricDataOutput::builder().set_metric_data_results(Some(healthy())).build());
        let metrics =
            CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&cloudwatch]), sources()).with_probes(log);
        let m = metrics.read(window()).await.expect("a reading").measurement;
        assert_eq!((m.probes.legacy.requests, m.probes.legacy.errors), (121, 1), "the window's, not the next minute's");
        assert_eq!((m.probes.serverless.requests, m.probes.serverless.errors), (60, 3));
        assert_eq!((m.traffic.legacy.requests, m.traffic.legacy.errors), (100, 2), "220 counted, 120 of them probes");
        assert_eq!(
            (m.traffic.serverless.requests, m.traffic.serverless.errors),
            (20, 0),
            "80 counted, 60 of them probes (and 3 of its 2 errors: never below 0)"
        );
        let shape = |hops: &[cutover_core::measure::Hop]| -> Vec<(String, u8, u64)> {
            hops.iter().map(|h| (h.name.clone(), h.depth, h.samples)).collect()
        };
        // CloudWatch's hops stay as CloudWatch counted (probes among them).
        assert_eq!(shape(&m.hops.legacy), [("edge".into(), 0, 120), ("alb_target".into(), 1, 220)]);
        assert_eq!(
            shape(&m.hops.serverless),
            [("edge".into(), 0, 57), ("api_gateway".into(), 1, 80), ("integration".into(), 2, 80)],
            "failed probes are not timed"
        );
        assert_eq!(m.hops.legacy[0].source, Source::Probes);
    }

    /// A minute CloudWatch has not published yet reads as a minute without
    /// requests; the probes that reached the side's origin then say it is
    /// not: the read is late (asked again), never judged as no traffic.
    #[tokio::test]
    async fn a_minute_not_yet_published_is_late_not_quiet() {
        use cutover_aws::ProbeLog;
        use cutover_core::measure::Side;
        use cutover_runtime::probes::ProbeOutcome;
        let log = ProbeLog::default();
        for second in (0..120).step_by(3) {
            log.record(NOON + second * 1000, Side::Legacy, ProbeOutcome::Answered(40.0));
            log.record(NOON + second * 1000, Side::Serverless, ProbeOutcome::Answered(20.0));
        }
        let read = |results: Vec<MetricDataResult>| {
            let rule = mock!(Client::get_metric_data).then_output(move || {
                GetMetricDataOutput::builder().set_metric_data_results(Some(results.clone())).build()
            });
            let metrics =
                CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&rule]), sources()).with_probes(log.clone());
            async move { metrics.read(window()).await }
        };
        // The serverless side's second minute is missing: 0 counted, 17 probes there.
        let mut missing: Vec<MetricDataResult> =
            healthy().into_iter().filter(|r| r.id() != Some("serverless_requests_sum")).collect();
        missing.push(result("serverless_requests_sum", &[(0, 50.0)]));
        let e = read(missing).await.expect_err("late");
        assert!(e.late, "{e:?}");
        assert!(
            e.message.contains("serverless side's minute from 2026-11-28T12:01:00")
                && e.message.contains("probes made 17"),
            "{e}"
        );
        // Published: read as usual.
        assert!(read(healthy()).await.is_ok());
        // Probes the edge itself failed (it cannot reach the origin) vouch
        // for nothing: the outage is judged, not waited for.
        let down = ProbeLog::default();
        for second in (0..120).step_by(3) {
            down.record(NOON + second * 1000, Side::Serverless, ProbeOutcome::ServerError);
        }
        let mut missing: Vec<MetricDataResult> =
            healthy().into_iter().filter(|r| r.id() != Some("serverless_requests_sum")).collect();
        missing.push(result("serverless_requests_sum", &[(0, 50.0)]));
        let rule = mock!(Client::get_metric_data)
            .then_output(move || GetMetricDataOutput::builder().set_metric_data_results(Some(missing.clone())).build());
        let metrics = CloudWatchMetrics::new(mock_client!(aws_sdk_cloudwatch, [&rule]), sources()).with_probes(down);
        let m = metrics.read(window()).await.expect("judged, not late").measurement;
        assert_eq!(m.probes.serverless.errors, 40);
    }

    /// X-Ray keeps the first request a second of each function: a quiet
    /// function's traces are nearly all its requests, a busy one's a few
    /// percent. Pooled by invocations, the busy function's 30 ms is the
    /// new side's median, and the pool claims no more samples than the
    /// weighting leaves (Kish's effective size), not the 200 traces.
    #[tokio::test]
    async fn the_functions_traces_are_pooled_by_their_traffic() {
        let busy = summaries_of("internal-api-health", || traces(100, 0.030));
        let quiet = summaries_of("internal-api-user-context", || traces(100, 0.300));
        let legacy = summaries_of("internal-api-express", || traces(40, 0.045));
        let metrics = reading_of(invoked(1000.0, 10.0), &[busy, quiet, legacy, batch_get_traces()]);
        let reading = metrics.read(window()).await.expect("a reading");
        let warm = &reading.measurement.traffic.serverless.latency_ms;
        // 95 warm traces each (every 20th faulted): (1010)² / (1000²/95 + 10²/95).
        assert_eq!(warm.count(), 97, "{warm:?}");
        let p50 = warm.quantile(0.5).unwrap();
        assert!((29.0..=31.0).contains(&p50), "the busy function's median: {p50}");
        assert_eq!(warm.count_above(100.0), 1, "the quiet function's 1 % of the traffic");
    }

    /// A two-day window (a baseline after a restart) holds far more traces
    /// than X-Ray's 5 calls a second can page through in time: it is read as
    /// 24 chunks spread over the window, each up to its share of the
    /// budget, and the sample says it was budgeted. A one-minute window that
    /// keeps paging stops at the budget too.
    #[tokio::test]
    async fn a_long_window_is_sampled_in_chunks_within_the_budget() {
        use std::sync::{Arc, Mutex};
        let starts = Arc::new(Mutex::new(Vec::new()));
        let seen = starts.clone();
        let endless = mock!(aws_sdk_xray::Client::get_trace_summaries)
            .match_requests(move |r| {
                if r.filter_expression() == Some(r#"service("internal-api-express")"#) {
                    seen.lock().unwrap().push(r.start_time().unwrap().to_millis().unwrap());
                }
                true
            })
            .then_output(|| {
                GetTraceSummariesOutput::builder()
                    .set_trace_summaries(Some(traces(100, 0.04)))
                    .next_token("more")
                    .build()
            });
        let rules = [endless, batch_get_traces()];
        let client = mock_client!(aws_sdk_xray, RuleMode::MatchAny, &rules);
        let xray = XRaySource::new(client, "internal-api-express".into(), sources().lambda_functions);
        let two_days = 2 * 24 * 60 * MINUTE;
        let sample = xray.sample(NOON, NOON + two_days, 1_000_000, &[1000, 1000]).await.expect("a sample");
        assert!(sample.legacy.budgeted && sample.serverless.budgeted);
        let budget = cutover_aws::SUMMARY_BUDGET as u64;
        assert!(
            sample.legacy.traces >= budget && sample.legacy.traces <= budget + 24 * 100,
            "{}",
            sample.legacy.traces
        );
        let starts = starts.lock().unwrap().clone();
        let mut chunks = starts.clone();
        chunks.dedup();
        assert_eq!(chunks.len(), 24, "24 chunks, each paged");
        assert_eq!(
            (chunks[0], chunks[23]),
            (NOON as i64, (NOON + two_days * 23 / 24) as i64),
            "spread over the window"
        );

        let minute = xray.sample(NOON, NOON + MINUTE, 100, &[10, 10]).await.expect("a sample");
        assert!(minute.legacy.budgeted);
        assert_eq!(minute.legacy.traces, budget, "a page of 100 at a time, up to the budget");
    }

    /// A function that served requests and left no trace has its tracing
    /// off: its latency and cold starts would be missing from the new
    /// side's, so the window is an error that names it. A function nobody
    /// called may leave none.
    #[tokio::test]
    async fn a_function_invoked_without_traces_is_an_error_that_names_it() {
        let rules = || {
            [
                summaries_of("internal-api-health", || traces(40, 0.030)),
                summaries_of("internal-api-user-context", Vec::new),
                summaries_of("internal-api-express", || traces(40, 0.045)),
                batch_get_traces(),
            ]
        };
        let err = reading_of(invoked(50.0, 30.0), &rules()).read(window()).await.expect_err("untraced");
        assert_eq!(err.source_name, Source::XRay);
        assert!(err.message.contains("function internal-api-user-context while CloudWatch counted 30"), "{err}");
        assert!(err.message.contains("active tracing"), "{err}");
        let reading = reading_of(invoked(50.0, 0.0), &rules()).read(window()).await;
        assert!(reading.is_ok(), "an idle function: {reading:?}");
    }

    /// X-Ray is the only source of the new side's cold starts: unreadable,
    /// the window is not measured rather than judged without them.
    #[tokio::test]
    async fn an_unreadable_xray_is_an_error_that_says_why() {
        let denied = mock!(aws_sdk_xray::Client::get_trace_summaries).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::from(r#"{"message":"not authorized"}"#),
            )
        });
        let err = reading_of(healthy(), &[denied]).read(window()).await.expect_err("no X-Ray, no reading");
        assert!(err.message.contains("grant `xray:GetTraceSummaries`"), "{err}");
    }
}

/// The edge's real-time logs (Kinesis at the SDK boundary here; against
/// moto in `edge_logs.rs`) over the window CloudWatch is read for: each
/// user request's cohort, on the side the weight sent it to; a window in
/// which too many lines cannot be placed has none.
#[tokio::test]
async fn the_edge_logs_give_each_users_cohort_over_the_window_read() {
    use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
    use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorOutput;
    use aws_sdk_kinesis::operation::list_shards::ListShardsOutput;
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::{HashKeyRange, Record, SequenceNumberRange, Shard};
    use cutover_aws::{EdgeLogSource, WeightTimeline};
    use cutover_core::cohort;
    use cutover_core::plan::{CohortKey, EdgeLogs};
    use cutover_core::units::Weight;

    const ARN: &str = "arn:aws:kinesis:eu-west-1:123456789012:stream/internal-api-edge-logs";
    // As many requests on each side as CloudWatch counts in `healthy` (220
    // and 80 over the two minutes), by address, at weight 50 %; one line
    // before the window too.
    let (mut legacy, mut serverless) = (Vec::new(), Vec::new());
    for n in 0.. {
        let ip = format!("10.1.{}.{}", n / 250, n % 250);
        match cohort::bucket("internal-api", &ip) < 5_000 {
            true if serverless.len() < 80 => serverless.push(ip),
            false if legacy.len() < 220 => legacy.push(ip),
            _ if legacy.len() == 220 && serverless.len() == 80 => break,
            _ => {}
        }
    }
    // Every tenth request failed (502), the rest answered (200).
    let line = |at: u64, ip: &str, status: u16| {
        format!("{}.{:03}\t{ip}\t{status}\t/api/health\tMozilla/5.0\n", at / 1000, at % 1000)
    };
    let mut all = vec![line(NOON - 1, &legacy[0], 502)];
    for (n, ip) in legacy.iter().chain(&serverless).enumerate() {
        all.push(line(NOON + 1_000 + n as u64 * 350, ip, if n % 10 == 0 { 502 } else { 200 }));
    }
    let kinesis = |all: Vec<String>| {
        let shards = mock!(aws_sdk_kinesis::Client::list_shards).then_output(|| {
            let range = HashKeyRange::builder().starting_hash_key("0").ending_hash_key("1").build().unwrap();
            let numbers = SequenceNumberRange::builder().starting_sequence_number("1").build().unwrap();
            let shard = Shard::builder()
                .shard_id("shardId-000000000000")
                .hash_key_range(range)
                .sequence_number_range(numbers)
                .build()
                .unwrap();
            ListShardsOutput::builder().shards(shard).build()
        });
        let iterator = mock!(aws_sdk_kinesis::Client::get_shard_iterator)
            .match_requests(|r| {
                r.timestamp() == Some(&aws_sdk_kinesis::primitives::DateTime::from_millis((NOON - MINUTE) as i64))
            })
            .then_output(|| GetShardIteratorOutput::builder().shard_iterator("it-1").build());
        let records = mock!(aws_sdk_kinesis::Client::get_records)
            .match_requests(|r| r.shard_iterator() == Some("it-1"))
            .then_output(move || {
                let records = all.iter().enumerate().map(|(n, line)| {
                    Record::builder()
                        .sequence_number(n.to_string())
                        .partition_key("edge")
                        .data(Blob::new(line.as_bytes()))
                        .approximate_arrival_timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                            (NOON + 2 * MINUTE) as i64,
                        ))
                        .build()
                        .unwrap()
                });
                GetRecordsOutput::builder()
                    .set_records(Some(records.collect()))
                    .next_shard_iterator("it-2")
                    .millis_behind_latest(0)
                    .build()
                    .unwrap()
            });
        let tip = mock!(aws_sdk_kinesis::Client::get_records)
            .match_requests(|r| r.shard_iterator() == Some("it-2"))
            .then_output(|| {
                GetRecordsOutput::builder()
                    .set_records(Some(Vec::new()))
                    .next_shard_iterator("it-3")
                    .millis_behind_latest(0)
                    .build()
                    .unwrap()
            });
        mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, &[shards, iterator, records, tip])
    };
    let read = |timeline: WeightTimeline, all: Vec<String>| {
        let kinesis = kinesis(all);

        let rule = mock!(Client::get_metric_data)
            .then_output(|| GetMetricDataOutput::builder().set_metric_data_results(Some(healthy())).build());
        let logs = EdgeLogs {
            stream_arn: ARN.into(),
            fields: ["timestamp", "c-ip", "sc-status", "cs-uri-stem", "cs-user-agent"].map(String::from).to_vec(),
        };
        let source = EdgeLogSource::new(kinesis, logs, CohortKey::ViewerIp, "internal-api".into(), timeline);
        async move { metrics(&[rule]).with_edge_logs(source.unwrap()).read(window()).await.expect("a reading") }
    };

    let settled = || {
        let t = WeightTimeline::default();
        t.observed(0, Weight::from_bps(5_000).unwrap());
        t
    };
    let reading = read(settled(), all.clone()).await;
    let cohorts = reading.measurement.cohorts.expect("cohorts");
    let count = |c: &cutover_core::measure::Cohorts| {
        c.iter().map(|c| (c.requests, c.errors)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    assert_eq!(count(&cohorts.serverless), (80, 8), "the lines in the window read, on their side");
    assert_eq!(count(&cohorts.legacy), (220, 22), "the 502 before the window not among them");
    assert_eq!(reading.edge_logs.as_ref().map(|r| r.lines), Some(300));

    // The weight moved from 50 % to 0 in the middle of the window and was
    // never seen to settle: the new side's users cannot be placed.
    let moving = settled();
    moving.writing(NOON + 30_000, Weight::ZERO);
    let reading = read(moving, all.clone()).await;
    assert_eq!(reading.measurement.cohorts, None, "judged as CloudWatch counts, side against side");
    assert!(reading.edge_logs.expect("the read").side_unknown > 15);

    // A stream nothing reaches any more (the configuration detached): no
    // lines where CloudWatch counts 300 requests. Zeros must not stand in
    // for the users' errors.
    let reading = read(settled(), vec![all[0].clone()]).await;
    assert_eq!(reading.measurement.cohorts, None, "CloudWatch's counts, not the stream's silence");
}
