//! Pre-flight's passing paths and the failures moto cannot stage, at the
//! SDK boundary (aws-smithy-mocks): a function association at
//! viewer-request, the function's runtime and KeyValueStore association,
//! the weight under the key, the /api/* behaviour's cache and origin request
//! policies and methods, the functions' tracing, and Lambda's concurrency.
//! Responses are shaped
//! as the API reference gives them. The probes go to a stand-in edge that
//! honours `x-cutover-probe` as the CloudFront Function does.

use aws_sdk_apigatewayv2::operation::get_integrations::GetIntegrationsOutput;
use aws_sdk_apigatewayv2::types::{Integration, IntegrationType};
use aws_sdk_cloudfront::operation::describe_function::DescribeFunctionOutput;
use aws_sdk_cloudfront::operation::get_cache_policy::GetCachePolicyOutput;
use aws_sdk_cloudfront::operation::get_distribution::GetDistributionOutput;
use aws_sdk_cloudfront::operation::get_function::GetFunctionOutput;
use aws_sdk_cloudfront::operation::get_origin_request_policy::GetOriginRequestPolicyOutput;
use aws_sdk_cloudfront::operation::get_realtime_log_config::GetRealtimeLogConfigOutput;
use aws_sdk_cloudfront::primitives::Blob;
use aws_sdk_cloudfront::primitives::DateTime;
use aws_sdk_cloudfront::types::{
    AllowedMethods, CacheBehavior, CacheBehaviors, CachePolicy, CachePolicyConfig, DefaultCacheBehavior, Distribution,
    DistributionConfig, EventType, FunctionAssociation, FunctionAssociations, FunctionConfig, FunctionMetadata,
    FunctionRuntime, FunctionStage, FunctionSummary, Headers, KeyValueStoreAssociation, KeyValueStoreAssociations,
    Method, Origin, OriginRequestPolicy, OriginRequestPolicyConfig, OriginRequestPolicyCookieBehavior,
    OriginRequestPolicyCookiesConfig, OriginRequestPolicyHeaderBehavior, OriginRequestPolicyHeadersConfig,
    OriginRequestPolicyQueryStringBehavior, OriginRequestPolicyQueryStringsConfig, Origins, ViewerProtocolPolicy,
};
use aws_sdk_cloudfront::types::{EndPoint, KinesisStreamConfig, RealtimeLogConfig};
use aws_sdk_cloudfrontkeyvaluestore::operation::describe_key_value_store::DescribeKeyValueStoreOutput;
use aws_sdk_cloudfrontkeyvaluestore::operation::get_key::GetKeyOutput;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::types::{MetricDataResult, StatusCode};
use aws_sdk_kinesis::operation::describe_stream_summary::{DescribeStreamSummaryError, DescribeStreamSummaryOutput};
use aws_sdk_kinesis::types::error::ResourceNotFoundException;
use aws_sdk_kinesis::types::{EnhancedMetrics, StreamDescriptionSummary, StreamStatus};
use aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsOutput;
use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyOutput;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::AccountLimit;
use aws_sdk_lambda::types::{TracingConfigResponse, TracingMode};
use aws_sdk_xray::operation::get_indexing_rules::GetIndexingRulesOutput;
use aws_sdk_xray::operation::get_service_graph::GetServiceGraphOutput;
use aws_sdk_xray::operation::get_trace_segment_destination::GetTraceSegmentDestinationOutput;
use aws_sdk_xray::types::{IndexingRule, IndexingRuleValue, ProbabilisticRuleValue, Service, TraceSegmentDestination};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use cutover_aws::preflight::{
    Check, Preflight, PreflightOutcome, ALL_VIEWER, ALL_VIEWER_EXCEPT_HOST, CACHING_DISABLED, METHODS as ALL_METHODS,
};
use cutover_aws::Clients;
use cutover_core::plan::{CloudFrontEdge, CohortKey, EdgeLogs, MetricSources};
use cutover_testkit::http::{Answer, Stub};

mod common;

const DISTRIBUTION: &str = "E2QWRUHAPOMQZL";
const FUNCTION_ARN: &str = "arn:aws:cloudfront::123456789012:function/internal-api-weight";
const KVS_ARN: &str = "arn:aws:cloudfront::123456789012:key-value-store/8aa76c9b-1b7e-4f5c-9d60-2f7a0b6c1c3e";
const KEY: &str = "internal-api/weight";
const CUSTOM_POLICY: &str = "9a8b7c6d-0000-4000-8000-000000000001";

/// What the account looks like; `ready()` is a distribution set up as
/// `infra/` sets it up.
#[derive(Clone)]
struct Account {
    /// The /api/* behaviour's cache policy (and the TTLs of a custom one),
    /// origin request policy, and allowed methods.
    cache_policy: &'static str,
    custom_cache_ttl: i64,
    origin_request_policy: &'static str,
    methods: &'static [Method],
    /// The API Gateway origin's path.
    origin_path: &'static str,
    tracing: TracingMode,
    /// The live function's code.
    code: String,
    function_at_viewer_request: bool,
    runtime: FunctionRuntime,
    function_reads: &'static str,
    weight: &'static str,
    /// The KeyValueStore's status, and why when it failed.
    kvs_status: &'static str,
    kvs_failure: Option<&'static str>,
    /// Where X-Ray sends spans, and the share indexed as traces when that
    /// is CloudWatch Logs (Transaction Search).
    /// The payload format of each Lambda integration.
    payload_formats: &'static [&'static str],
    spans_to: TraceSegmentDestination,
    indexed_percent: f64,
    reserved: Option<i32>,
    unreserved: i32,
    /// The real-time log configuration on /api/*: its fields, sampling
    /// rate and stream; and the streams that exist.
    edge_log_config: Option<(&'static [&'static str], i64, &'static str)>,
    streams: &'static [&'static str],
    /// The services X-Ray's graph shows for the last hour, and each
    /// function's invocations in it.
    xray_services: &'static [&'static str],
    invocations: [f64; 2],
}

const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/internal-api-edge-logs";
const LOG_CONFIG_ARN: &str = "arn:aws:cloudfront::123456789012:realtime-log-config/internal-api";
const LOG_FIELDS: [&str; 6] = ["timestamp", "c-ip", "sc-status", "time-taken", "cs-uri-stem", "cs-user-agent"];

impl Account {
    fn ready() -> Account {
        Account {
            cache_policy: CACHING_DISABLED,
            custom_cache_ttl: 0,
            origin_request_policy: ALL_VIEWER_EXCEPT_HOST,
            methods: &ALL_METHODS,
            origin_path: "",
            tracing: TracingMode::Active,
            code: rendered(),
            function_at_viewer_request: true,
            runtime: FunctionRuntime::CloudfrontJs20,
            function_reads: KVS_ARN,
            weight: "0",
            kvs_status: "READY",
            kvs_failure: None,
            payload_formats: &["2.0", "2.0"],
            spans_to: TraceSegmentDestination::XRay,
            indexed_percent: 1.0,
            reserved: None,
            unreserved: 900,
            edge_log_config: Some((&LOG_FIELDS, 100, STREAM_ARN)),
            streams: &[STREAM_ARN],
            xray_services: &["internal-api-express", "internal-api-health"],
            invocations: [42.0, 0.0],
        }
    }

    fn distribution(&self) -> Distribution {
        let origin = |id: &str, domain: &str, path: &str| {
            Origin::builder().id(id).domain_name(domain).origin_path(path).build().unwrap()
        };
        let origins = vec![
            origin("alb", "internal-api-123456.eu-west-1.elb.amazonaws.com", ""),
            origin("api-gateway", "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", self.origin_path),
        ];
        let methods = AllowedMethods::builder()
            .quantity(self.methods.len() as i32)
            .set_items(Some(self.methods.to_vec()))
            .build()
            .unwrap();
        let event = if self.function_at_viewer_request { EventType::ViewerRequest } else { EventType::ViewerResponse };
        let function = FunctionAssociation::builder().function_arn(FUNCTION_ARN).event_type(event).build().unwrap();
        let api = CacheBehavior::builder()
            .set_realtime_log_config_arn(self.edge_log_config.map(|_| LOG_CONFIG_ARN.to_owned()))
            .path_pattern("/api/*")
            .target_origin_id("alb")
            .viewer_protocol_policy(ViewerProtocolPolicy::HttpsOnly)
            .cache_policy_id(self.cache_policy)
            .origin_request_policy_id(self.origin_request_policy)
            .allowed_methods(methods)
            .function_associations(FunctionAssociations::builder().quantity(1).items(function).build().unwrap())
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference("infra")
            .comment("internal API")
            .enabled(true)
            .origins(Origins::builder().quantity(2).set_items(Some(origins)).build().unwrap())
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("alb")
                    .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                    .build()
                    .unwrap(),
            )
            .cache_behaviors(CacheBehaviors::builder().quantity(1).items(api).build().unwrap())
            .build()
            .unwrap();
        Distribution::builder()
            .id(DISTRIBUTION)
            .arn(format!("arn:aws:cloudfront::123456789012:distribution/{DISTRIBUTION}"))
            .status("Deployed")
            .last_modified_time(DateTime::from_secs(1_795_867_200))
            .in_progress_invalidation_batches(0)
            .domain_name("d111111abcdef8.cloudfront.net")
            .distribution_config(config)
            .build()
            .unwrap()
    }

    fn function(&self) -> FunctionSummary {
        let store = KeyValueStoreAssociation::builder().key_value_store_arn(self.function_reads).build().unwrap();
        let config = FunctionConfig::builder()
            .comment("cutover weight")
            .runtime(self.runtime.clone())
            .key_value_store_associations(
                KeyValueStoreAssociations::builder().quantity(1).items(store).build().unwrap(),
            )
            .build()
            .unwrap();
        let metadata = FunctionMetadata::builder()
            .function_arn(FUNCTION_ARN)
            .last_modified_time(DateTime::from_secs(1_795_867_200))
            .build()
            .unwrap();
        FunctionSummary::builder()
            .name("internal-api-weight")
            .function_config(config)
            .function_metadata(metadata)
            .build()
            .unwrap()
    }

    fn clients(&self) -> Clients {
        let cloudfront = {
            let (a, b) = (self.clone(), self.clone());
            let distribution = mock!(aws_sdk_cloudfront::Client::get_distribution)
                .match_requests(|r| r.id() == Some(DISTRIBUTION))
                .then_output(move || GetDistributionOutput::builder().distribution(a.distribution()).build());
            let function = mock!(aws_sdk_cloudfront::Client::describe_function)
                .match_requests(|r| r.name() == Some("internal-api-weight"))
                .then_output(move || DescribeFunctionOutput::builder().function_summary(b.function()).build());
            let code = self.code.clone();
            let live = mock!(aws_sdk_cloudfront::Client::get_function)
                .match_requests(|r| r.name() == Some("internal-api-weight") && r.stage() == Some(&FunctionStage::Live))
                .then_output(move || {
                    GetFunctionOutput::builder().function_code(Blob::new(code.clone().into_bytes())).build()
                });
            let ttl = self.custom_cache_ttl;
            let cache_policy = mock!(aws_sdk_cloudfront::Client::get_cache_policy)
                .match_requests(|r| r.id() == Some(CUSTOM_POLICY))
                .then_output(move || {
                    let config = CachePolicyConfig::builder()
                        .name("api-short-cache")
                        .min_ttl(0)
                        .default_ttl(ttl)
                        .max_ttl(ttl)
                        .build()
                        .unwrap();
                    let policy = CachePolicy::builder()
                        .id(CUSTOM_POLICY)
                        .last_modified_time(DateTime::from_secs(1_795_867_200))
                        .cache_policy_config(config)
                        .build()
                        .unwrap();
                    GetCachePolicyOutput::builder().cache_policy(policy).build()
                });
            let request_policy = mock!(aws_sdk_cloudfront::Client::get_origin_request_policy)
                .match_requests(|r| r.id() == Some(CUSTOM_POLICY))
                .then_output(|| {
                    let headers = OriginRequestPolicyHeadersConfig::builder()
                        .header_behavior(OriginRequestPolicyHeaderBehavior::Whitelist)
                        .headers(Headers::builder().quantity(2).items("x-user-id").items("Host").build().unwrap())
                        .build()
                        .unwrap();
                    let none = |b| {
                        (
                            OriginRequestPolicyCookiesConfig::builder().cookie_behavior(b).build().unwrap(),
                            OriginRequestPolicyQueryStringsConfig::builder()
                                .query_string_behavior(OriginRequestPolicyQueryStringBehavior::All)
                                .build()
                                .unwrap(),
                        )
                    };
                    let (cookies, query) = none(OriginRequestPolicyCookieBehavior::All);
                    let config = OriginRequestPolicyConfig::builder()
                        .name("api-forward-host")
                        .headers_config(headers)
                        .cookies_config(cookies)
                        .query_strings_config(query)
                        .build()
                        .unwrap();
                    let policy = OriginRequestPolicy::builder()
                        .id(CUSTOM_POLICY)
                        .last_modified_time(DateTime::from_secs(1_795_867_200))
                        .origin_request_policy_config(config)
                        .build()
                        .unwrap();
                    GetOriginRequestPolicyOutput::builder().origin_request_policy(policy).build()
                });
            let logged = self.edge_log_config;
            let log_config = mock!(aws_sdk_cloudfront::Client::get_realtime_log_config)
                .match_requests(|r| r.arn() == Some(LOG_CONFIG_ARN))
                .then_output(move || {
                    let (fields, rate, stream) = logged.expect("asked only when attached");
                    let kinesis = KinesisStreamConfig::builder()
                        .role_arn("arn:aws:iam::123456789012:role/cloudfront-realtime-logs")
                        .stream_arn(stream)
                        .build()
                        .unwrap();
                    let end =
                        EndPoint::builder().stream_type("Kinesis").kinesis_stream_config(kinesis).build().unwrap();
                    let config = RealtimeLogConfig::builder()
                        .arn(LOG_CONFIG_ARN)
                        .name("internal-api")
                        .sampling_rate(rate)
                        .end_points(end)
                        .set_fields(Some(fields.iter().map(|f| f.to_string()).collect()))
                        .build()
                        .unwrap();
                    GetRealtimeLogConfigOutput::builder().realtime_log_config(config).build()
                });
            mock_client!(
                aws_sdk_cloudfront,
                RuleMode::MatchAny,
                &[distribution, function, live, cache_policy, request_policy, log_config]
            )
        };
        let keyvaluestore = {
            let (weight, status, failure) = (self.weight, self.kvs_status, self.kvs_failure);
            let describe =
                mock!(aws_sdk_cloudfrontkeyvaluestore::Client::describe_key_value_store).then_output(move || {
                    DescribeKeyValueStoreOutput::builder()
                        .kvs_arn(KVS_ARN)
                        .status(status)
                        .set_failure_reason(failure.map(str::to_owned))
                        .created(aws_sdk_cloudfrontkeyvaluestore::primitives::DateTime::from_secs(1_795_867_200))
                        .e_tag("KV1")
                        .item_count(1)
                        .total_size_in_bytes(32)
                        .build()
                        .unwrap()
                });
            let get = mock!(aws_sdk_cloudfrontkeyvaluestore::Client::get_key)
                .match_requests(|r| r.key() == Some(KEY))
                .then_output(move || {
                    GetKeyOutput::builder()
                        .key(KEY)
                        .value(weight)
                        .item_count(1)
                        .total_size_in_bytes(32)
                        .build()
                        .unwrap()
                });
            let token = mock!(aws_sdk_cloudfrontkeyvaluestore::Client::get_key)
                .match_requests(|r| r.key() == Some(TOKEN_KEY))
                .then_output(|| {
                    GetKeyOutput::builder()
                        .key(TOKEN_KEY)
                        .value(TOKEN)
                        .item_count(2)
                        .total_size_in_bytes(64)
                        .build()
                        .unwrap()
                });
            mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, &[describe, get, token])
        };
        let lambda = {
            let (reserved, unreserved) = (self.reserved, self.unreserved);
            let concurrency = mock!(aws_sdk_lambda::Client::get_function_concurrency).then_output(move || {
                GetFunctionConcurrencyOutput::builder().set_reserved_concurrent_executions(reserved).build()
            });
            let settings = mock!(aws_sdk_lambda::Client::get_account_settings).then_output(move || {
                let limit = AccountLimit::builder().unreserved_concurrent_executions(unreserved).build();
                GetAccountSettingsOutput::builder().account_limit(limit).build()
            });
            let tracing = self.tracing.clone();
            let configuration = mock!(aws_sdk_lambda::Client::get_function_configuration).then_output(move || {
                GetFunctionConfigurationOutput::builder()
                    .tracing_config(TracingConfigResponse::builder().mode(tracing.clone()).build())
                    .build()
            });
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, &[concurrency, settings, configuration])
        };
        let none: &[&Rule] = &[];
        Clients {
            dynamodb: mock_client!(aws_sdk_dynamodb, none),
            cloudfront,
            keyvaluestore,
            cloudwatch: {
                let counts = self.invocations;
                let invocations = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
                    .match_requests(|r| {
                        let last_hour = matches!((r.start_time(), r.end_time()), (Some(f), Some(t)) if t.secs() - f.secs() == 3_600);
                        last_hour
                            && r.metric_data_queries().iter().all(|q| {
                                q.metric_stat().and_then(|s| s.metric()).and_then(|m| m.metric_name())
                                    == Some("Invocations")
                            })
                    })
                    .then_output(move || {
                        let results = counts.iter().enumerate().map(|(n, count)| {
                            MetricDataResult::builder()
                                .id(format!("f{n}"))
                                .status_code(StatusCode::Complete)
                                .timestamps(aws_sdk_cloudwatch::primitives::DateTime::from_secs(1_795_867_200))
                                .values(*count)
                                .build()
                        });
                        GetMetricDataOutput::builder().set_metric_data_results(Some(results.collect())).build()
                    });
                mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[invocations])
            },
            lambda,
            apigateway: {
                let formats = self.payload_formats;
                let integrations = mock!(aws_sdk_apigatewayv2::Client::get_integrations)
                    .match_requests(|r| r.api_id() == Some("a1b2c3d4e5"))
                    .then_output(move || {
                        let items = formats.iter().enumerate().map(|(n, format)| {
                            Integration::builder()
                                .integration_id(format!("int{n}"))
                                .integration_type(IntegrationType::AwsProxy)
                                .integration_uri(format!("arn:aws:lambda:eu-west-1:123456789012:function:fn{n}"))
                                .payload_format_version(*format)
                                .build()
                        });
                        GetIntegrationsOutput::builder().set_items(Some(items.collect())).build()
                    });
                mock_client!(aws_sdk_apigatewayv2, RuleMode::MatchAny, &[integrations])
            },
            kinesis: {
                let streams = self.streams;
                let summary = mock!(aws_sdk_kinesis::Client::describe_stream_summary)
                    .match_requests(move |r| r.stream_arn().is_some_and(|a| streams.contains(&a)))
                    .then_output(|| {
                        let summary = StreamDescriptionSummary::builder()
                            .stream_name("internal-api-edge-logs")
                            .stream_arn(STREAM_ARN)
                            .stream_status(StreamStatus::Active)
                            .retention_period_hours(24)
                            .stream_creation_timestamp(aws_sdk_kinesis::primitives::DateTime::from_secs(1_795_867_200))
                            .enhanced_monitoring(EnhancedMetrics::builder().build())
                            .open_shard_count(1)
                            .build()
                            .unwrap();
                        DescribeStreamSummaryOutput::builder().stream_description_summary(summary).build()
                    });
                let missing = mock!(aws_sdk_kinesis::Client::describe_stream_summary).then_error(|| {
                    DescribeStreamSummaryError::ResourceNotFoundException(
                        ResourceNotFoundException::builder().message("Stream not found").build(),
                    )
                });
                mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, &[summary, missing])
            },
            xray: {
                let (destination, percent) = (self.spans_to.clone(), self.indexed_percent);
                let spans = mock!(aws_sdk_xray::Client::get_trace_segment_destination).then_output(move || {
                    GetTraceSegmentDestinationOutput::builder().destination(destination.clone()).build()
                });
                let indexing = mock!(aws_sdk_xray::Client::get_indexing_rules).then_output(move || {
                    let rule = ProbabilisticRuleValue::builder().desired_sampling_percentage(percent).build().unwrap();
                    let rule =
                        IndexingRule::builder().name("Default").rule(IndexingRuleValue::Probabilistic(rule)).build();
                    GetIndexingRulesOutput::builder().indexing_rules(rule).build()
                });
                let services = self.xray_services;
                // The last hour, as the line says.
                let hour = |from: Option<&aws_sdk_xray::primitives::DateTime>,
                            to: Option<&aws_sdk_xray::primitives::DateTime>| {
                    matches!((from, to), (Some(f), Some(t)) if t.secs() - f.secs() == 3_600)
                };
                let graph = mock!(aws_sdk_xray::Client::get_service_graph)
                    .match_requests(move |r| hour(r.start_time(), r.end_time()))
                    .then_output(move || {
                        let services = services.iter().map(|name| {
                            let kind =
                                if name.ends_with("-express") { "AWS::EC2::Instance" } else { "AWS::Lambda::Function" };
                            Service::builder().name(*name).names(*name).r#type(kind).build()
                        });
                        GetServiceGraphOutput::builder().set_services(Some(services.collect())).build()
                    });
                mock_client!(aws_sdk_xray, RuleMode::MatchAny, &[spans, indexing, graph])
            },
        }
    }
}

const TOKEN_KEY: &str = "internal-api/probe-token";
const TOKEN: &str = "preflight-token-0123456789abcdef";

/// A stand-in for the distribution with the function: a probe pinned with
/// the probe token is answered by the side it names.
fn edge() -> Stub {
    Stub::start(|r| {
        let token = r.header("x-cutover-probe-token") == Some(TOKEN);
        let side = if token && r.header("x-cutover-probe") == Some("serverless") { "serverless" } else { "legacy" };
        Answer::json(200, "{}").with_header("x-served-by", side)
    })
}

async fn preflight(account: &Account, edge: &Stub) -> Vec<Check> {
    preflight_of(account, edge, common::sources()).await
}

async fn preflight_of(account: &Account, edge: &Stub, sources: MetricSources) -> Vec<Check> {
    preflight_with(account, edge, sources).run().await
}

fn preflight_with(account: &Account, edge: &Stub, sources: MetricSources) -> Preflight {
    Preflight {
        clients: account.clients(),
        edge: cloudfront_edge(),
        metrics: Some(sources),
        cohort: CohortKey::ViewerIp,
        edge_url: Some(edge.base().to_owned()),
        probe_path: "/api/health".into(),
        min_unreserved_concurrency: 100,
        function_code: rendered(),
    }
}

/// The edge the tests' plan names, and the function rendered for it.
fn cloudfront_edge() -> CloudFrontEdge {
    CloudFrontEdge {
        distribution_id: DISTRIBUTION.into(),
        kvs_arn: KVS_ARN.into(),
        weight_key: KEY.into(),
        serverless_origin_id: "api-gateway".into(),
        probe_token_key: CloudFrontEdge::default_probe_token_key(KEY),
        probes_per_minute: 20,
        when_store_unreadable: cutover_core::measure::Side::Legacy,
    }
}

fn rendered() -> String {
    let plan = cutover_core::plan::Plan::default_plan();
    cutover_core::edge_function::render(&plan.target, &cloudfront_edge()).unwrap()
}

fn outcome<'c>(checks: &'c [Check], name: &str) -> &'c PreflightOutcome {
    &checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name} line in {checks:#?}")).outcome
}

#[tokio::test]
async fn a_distribution_set_up_as_infra_sets_it_up_passes_every_line() {
    let edge = edge();
    let checks = preflight(&Account::ready(), &edge).await;
    assert_eq!(checks.len(), 20, "{checks:#?}");
    assert_eq!(
        *outcome(&checks, "region"),
        PreflightOutcome::Pass("us-east-1 (CloudWatch, X-Ray, Lambda, API Gateway; CloudFront is global)".into())
    );
    assert_eq!(
        *outcome(&checks, "x-ray services"),
        PreflightOutcome::Pass(
            "internal-api-express and 1 of 2 functions traced in the last hour; the others were not invoked \
             (at weight 0 only probes reach the new side)"
                .into()
        )
    );
    assert_eq!(
        *outcome(&checks, "serverless integrations"),
        PreflightOutcome::Pass("2 Lambda integrations, payload format 2.0".into())
    );
    let failing: Vec<&Check> = checks.iter().filter(|c| !matches!(c.outcome, PreflightOutcome::Pass(_))).collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(
        *outcome(&checks, "function store"),
        PreflightOutcome::Pass(format!("internal-api-weight (cloudfront-js-2.0) reads {KVS_ARN}"))
    );
    assert_eq!(*outcome(&checks, "edge function"), PreflightOutcome::Pass(format!("{FUNCTION_ARN} at viewer-request")));
    assert_eq!(*outcome(&checks, "weight is 0"), PreflightOutcome::Pass(format!("{KEY} reads 0")));
    assert_eq!(
        *outcome(&checks, "lambda concurrency"),
        PreflightOutcome::Pass(
            "900 unreserved; internal-api-health unreserved, internal-api-user-context unreserved".into()
        )
    );
    let probes = edge.received();
    let pinned: Vec<Option<&str>> = probes.iter().map(|r| r.header("x-cutover-probe")).collect();
    assert_eq!(pinned, [Some("legacy"), Some("serverless")]);
    assert!(probes.iter().all(|r| r.path == "/api/health"));
}

#[tokio::test]
async fn each_line_moto_cannot_stage_fails_with_its_fix() {
    let edge = edge();
    let fix = |checks: &[Check], name: &str| match outcome(checks, name) {
        PreflightOutcome::Fail { found, fix } => format!("{found} | {fix}"),
        other => panic!("{name}: {other:?}"),
    };

    let old_runtime = Account { runtime: FunctionRuntime::CloudfrontJs10, ..Account::ready() };
    let checks = preflight(&old_runtime, &edge).await;
    let line = fix(&checks, "function store");
    assert!(line.contains("runs cloudfront-js-1.0") && line.contains("needs runtime cloudfront-js-2.0"), "{line}");

    let other_store =
        Account { function_reads: "arn:aws:cloudfront::123456789012:key-value-store/other", ..Account::ready() };
    let line = fix(&preflight(&other_store, &edge).await, "function store");
    assert!(line.contains("is not associated with") && line.contains("associate the KeyValueStore"), "{line}");

    let at_response = Account { function_at_viewer_request: false, ..Account::ready() };
    let checks = preflight(&at_response, &edge).await;
    assert!(fix(&checks, "edge function").contains("no CloudFront Function at viewer-request"));
    assert_eq!(*outcome(&checks, "function store"), PreflightOutcome::Skipped("no edge function".into()));

    let left_at_25 = Account { weight: "2500", ..Account::ready() };
    let line = fix(&preflight(&left_at_25, &edge).await, "weight is 0");
    assert!(line.starts_with(&format!("{KEY} reads 25% | a cutover starts at 0 %")), "{line}");

    let throttled = Account { reserved: Some(0), ..Account::ready() };
    let line = fix(&preflight(&throttled, &edge).await, "lambda concurrency");
    assert!(line.contains("reserved concurrency 0") && line.contains("delete-function-concurrency"), "{line}");

    let cached = Account { cache_policy: CUSTOM_POLICY, custom_cache_ttl: 60, ..Account::ready() };
    let line = fix(&preflight(&cached, &edge).await, "/api/* caching");
    assert!(line.starts_with("cache policy api-short-cache caches (TTL min 0 s, default 60 s, max 60 s)"), "{line}");
    assert!(line.contains("CachingDisabled"), "{line}");
    let uncached = Account { cache_policy: CUSTOM_POLICY, custom_cache_ttl: 0, ..Account::ready() };
    assert!(matches!(outcome(&preflight(&uncached, &edge).await, "/api/* caching"), PreflightOutcome::Pass(_)));

    let all_viewer = Account { origin_request_policy: ALL_VIEWER, ..Account::ready() };
    let line = fix(&preflight(&all_viewer, &edge).await, "/api/* host header");
    assert!(line.contains("forwards the viewer's Host") && line.contains("AllViewerExceptHostHeader"), "{line}");
    let listed = Account { origin_request_policy: CUSTOM_POLICY, ..Account::ready() };
    let line = fix(&preflight(&listed, &edge).await, "/api/* host header");
    assert!(line.starts_with("origin request policy api-forward-host forwards the viewer's Host"), "{line}");

    let read_only = Account { methods: &[Method::Get, Method::Head], ..Account::ready() };
    let line = fix(&preflight(&read_only, &edge).await, "/api/* methods");
    assert!(line.starts_with("OPTIONS, PUT, POST, PATCH, DELETE not allowed"), "{line}");

    let staged = Account { origin_path: "/prod", ..Account::ready() };
    let line = fix(&preflight(&staged, &edge).await, "serverless origin");
    assert!(line.starts_with("api-gateway has origin path /prod | remove the origin path"), "{line}");

    let untraced = Account { tracing: TracingMode::PassThrough, ..Account::ready() };
    let line = fix(&preflight(&untraced, &edge).await, "function tracing");
    assert!(line.starts_with("no active tracing on internal-api-health, internal-api-user-context"), "{line}");
    assert!(line.contains("--tracing-config Mode=Active"), "{line}");

    // The function as it was before probes needed a token.
    let older = rendered().replace("if (probe && token && ", "if (probe && ");
    assert_ne!(older, rendered());
    let stale = Account { code: older, ..Account::ready() };
    let line = fix(&preflight(&stale, &edge).await, "function code");
    assert!(line.contains("differs from function.js rendered for this plan at line"), "{line}");
    assert!(line.contains("cutover plan edge-function PLAN"), "{line}");

    let provisioning = Account { kvs_status: "PROVISIONING", ..Account::ready() };
    let line = fix(&preflight(&provisioning, &edge).await, "key value store");
    assert!(line.starts_with(&format!("{KVS_ARN} is PROVISIONING | wait until it is READY")), "{line}");
    let failed = Account { kvs_status: "PROVISIONING_FAILED", kvs_failure: Some("internal error"), ..Account::ready() };
    let line = fix(&preflight(&failed, &edge).await, "key value store");
    assert!(line.contains("is PROVISIONING_FAILED (internal error)") && line.contains("created again"), "{line}");

    let v1 = Account { payload_formats: &["2.0", "1.0"], ..Account::ready() };
    let line = fix(&preflight(&v1, &edge).await, "serverless integrations");
    assert!(
        line.starts_with("payload format 1.0 on int1 (arn:aws:lambda:eu-west-1:123456789012:function:fn1)"),
        "{line}"
    );
    assert!(line.contains("--payload-format-version 2.0 --integration-id int1"), "{line}");

    let misnamed = Account { xray_services: &["internal-api", "internal-api-health"], ..Account::ready() };
    let line = fix(&preflight(&misnamed, &edge).await, "x-ray services");
    assert!(
        line.starts_with(
            "no trace of service \"internal-api-express\" in the last hour (X-Ray saw: internal-api, internal-api-health)"
        ),
        "{line}"
    );
    assert!(line.contains("set xray_legacy_service to the name the app's X-Ray SDK gives"), "{line}");
    let unwritten = Account { invocations: [42.0, 17.0], ..Account::ready() };
    let line = fix(&preflight(&unwritten, &edge).await, "x-ray services");
    assert!(
        line.starts_with("invoked in the last hour, never traced: internal-api-user-context (17 invocations)"),
        "{line}"
    );
    assert!(line.contains("AWSXRayDaemonWriteAccess"), "{line}");
    let quiet = Account { invocations: [42.0, 9.0], ..Account::ready() };
    assert!(
        matches!(outcome(&preflight(&quiet, &edge).await, "x-ray services"), PreflightOutcome::Pass(_)),
        "below 10: may be unsampled"
    );

    let searched = Account { spans_to: TraceSegmentDestination::CloudWatchLogs, ..Account::ready() };
    let line = fix(&preflight(&searched, &edge).await, "x-ray indexing");
    assert!(line.starts_with("Transaction Search on: 1 % of spans indexed as traces"), "{line}");
    assert!(line.contains("update-indexing-rule") && line.contains("DesiredSamplingPercentage\":100"), "{line}");
    let indexed = Account { indexed_percent: 100.0, ..searched };
    assert!(matches!(outcome(&preflight(&indexed, &edge).await, "x-ray indexing"), PreflightOutcome::Pass(_)));

    let mut nowhere = Account::ready().clients();
    nowhere.cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .build(),
    );
    let checks =
        Preflight { clients: nowhere, ..preflight_with(&Account::ready(), &edge, common::sources()) }.run().await;
    let line = fix(&checks, "region");
    assert!(line.starts_with("no AWS region configured | set AWS_REGION"), "{line}");

    let crowded = Account { unreserved: 50, ..Account::ready() };
    let line = fix(&preflight(&crowded, &edge).await, "lambda concurrency");
    assert_eq!(
        line,
        "50 unreserved concurrent executions in the account | ask for a higher Lambda concurrency quota (at least 100)"
    );
}

fn logs_fields() -> Vec<String> {
    LOG_FIELDS.iter().map(|f| f.to_string()).collect()
}

#[tokio::test]
async fn a_plan_reading_the_edge_logs_has_them_checked() {
    let edge = edge();
    let logs = EdgeLogs { stream_arn: STREAM_ARN.into(), fields: logs_fields() };
    let sources = MetricSources { edge_logs: Some(logs), ..common::sources() };
    let line = |checks: &[Check]| match outcome(checks, "edge logs") {
        PreflightOutcome::Fail { found, fix } => format!("{found} | {fix}"),
        other => format!("{other:?}"),
    };
    let checks = preflight_of(&Account::ready(), &edge, sources.clone()).await;
    assert_eq!(checks.len(), 21, "{checks:#?}");
    assert_eq!(
        *outcome(&checks, "edge logs"),
        PreflightOutcome::Pass(format!("internal-api logs every /api/* request to {STREAM_ARN}"))
    );

    let unlogged = Account { edge_log_config: None, ..Account::ready() };
    let found = line(&preflight_of(&unlogged, &edge, sources.clone()).await);
    assert!(found.starts_with("no real-time log configuration on /api/* | create one (sampling rate 100"), "{found}");
    let reordered = Account {
        edge_log_config: Some((
            &["c-ip", "timestamp", "sc-status", "time-taken", "cs-uri-stem", "cs-user-agent"],
            100,
            STREAM_ARN,
        )),
        ..Account::ready()
    };
    let found = line(&preflight_of(&reordered, &edge, sources.clone()).await);
    assert!(found.starts_with("internal-api logs fields c-ip,timestamp,"), "{found}");
    assert!(
        found.contains("in its order, each of timestamp, sc-status, cs-uri-stem, cs-user-agent, c-ip among them"),
        "{found}"
    );
    let sampled = Account { edge_log_config: Some((&LOG_FIELDS, 10, STREAM_ARN)), ..Account::ready() };
    let found = line(&preflight_of(&sampled, &edge, sources.clone()).await);
    assert!(found.starts_with("internal-api logs 10 % of requests | set its sampling rate to 100"), "{found}");
    let elsewhere = Account {
        edge_log_config: Some((&LOG_FIELDS, 100, "arn:aws:kinesis:eu-west-1:123456789012:stream/other")),
        ..Account::ready()
    };
    let found = line(&preflight_of(&elsewhere, &edge, sources.clone()).await);
    assert!(found.starts_with("internal-api writes to arn:aws:kinesis:eu-west-1:123456789012:stream/other"), "{found}");
    // The stream's region is not the one the controller reads.
    let far = EdgeLogs { stream_arn: STREAM_ARN.replace("us-east-1", "eu-west-1"), fields: logs_fields() };
    let checks =
        preflight_of(&Account::ready(), &edge, MetricSources { edge_logs: Some(far), ..sources.clone() }).await;
    match outcome(&checks, "region") {
        PreflightOutcome::Fail { found, fix } => {
            assert_eq!(found, "the edge logs' stream is in eu-west-1, the controller reads us-east-1");
            assert!(fix.starts_with("run the controller in eu-west-1"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    let deleted = Account { streams: &[], ..Account::ready() };
    let found = line(&preflight_of(&deleted, &edge, sources).await);
    assert!(found.starts_with(&format!("no stream {STREAM_ARN} | create the stream")), "{found}");
}
