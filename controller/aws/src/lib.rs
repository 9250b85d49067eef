//! The controller's AWS adapters, behind the ports `cutover-core` defines:
//!
//! * [`DynamoStore`] — the [`cutover_core::store::Store`] on one DynamoDB
//!   table: state and events in one `TransactWriteItems`, a lease item whose
//!   epoch fences every write, events hash-chained;
//! * [`KvsEdge`] — the [`cutover_core::ports::EdgePort`] on a CloudFront
//!   KeyValueStore: `PutKey` under `If-Match`, drift detected, never
//!   overwritten blindly;
//! * [`CloudWatchMetrics`] — the [`cutover_core::ports::MetricsPort`] on one
//!   batched `GetMetricData` per window, units normalised here, once, with
//!   [`XRaySource`]'s sampled latencies where X-Ray has enough of them;
//! * [`Verified`] — any edge, its weight changes verified by probes through
//!   it with cohort keys just either side of the threshold;
//! * [`preflight`] — the checklist run before a real cutover.
//!
//! Every call has a timeout and bounded retries with backoff (see
//! [`sdk_config`]; a `GetMetricData` over hours gets longer ones, sized to
//! its span); failures are classified once, in [`AwsFailure`], into
//! "retry later", "needs a person" (naming the IAM action that was denied)
//! and the rest.

#![forbid(unsafe_code)]

mod cloudwatch;
mod dynamo;
mod edge_logs;
mod failure;
mod kvs;
pub mod preflight;
mod publish;
mod xray;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub use cloudwatch::{metrics_read, request_history, CloudWatchMetrics, CloudWatchReading, MetricRead, LAG};
pub use cutover_runtime::probes::{ProbeDriver, ProbeLog};
pub use cutover_runtime::timeline::{Timed, WeightTimeline};
pub use cutover_runtime::verify::{Verified, Verifier};
pub use dynamo::DynamoStore;
pub use edge_logs::{EdgeLogRead, EdgeLogSource, ARRIVAL_SLACK, MAX_LEFT_OUT, PROBE_USER_AGENT};
pub use failure::{AwsFailure, FailureKind};
pub use kvs::KvsEdge;
pub use publish::{heartbeat, longest_pause_secs, put_metrics, MetricPublisher};
pub use xray::{TraceSample, XRaySource, SUMMARY_BUDGET, XRAY_MIN_TRACES};

/// Where each service's calls go: AWS itself (`None`), or an emulator's URL.
/// The CLI fills this from `--endpoint-url-<service>` or the SDK's own
/// `AWS_ENDPOINT_URL_<SERVICE>` variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub dynamodb: Option<String>,
    pub cloudfront: Option<String>,
    pub keyvaluestore: Option<String>,
    pub cloudwatch: Option<String>,
    pub lambda: Option<String>,
    pub xray: Option<String>,
    pub apigateway: Option<String>,
    pub kinesis: Option<String>,
}

impl Endpoints {
    fn any(&self) -> bool {
        [
            &self.dynamodb,
            &self.cloudfront,
            &self.keyvaluestore,
            &self.cloudwatch,
            &self.lambda,
            &self.xray,
            &self.apigateway,
            &self.kinesis,
        ]
        .iter()
        .any(|e| e.is_some())
    }
}

/// Per attempt and per call. A call that exhausts them is reported, never
/// waited on forever: the engine retries at its own pace.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per call, throttling and 5xx included (the SDK's standard retry
/// mode: exponential backoff with jitter, a token bucket against retry storms).
pub const MAX_ATTEMPTS: u32 = 4;

/// The retry policy of every call: the SDK's standard mode (exponential
/// backoff with jitter; throttling, 5xx and transport errors retried; a
/// token bucket against retry storms), [`MAX_ATTEMPTS`] attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// The SDK configuration every adapter uses: the standard credential and
/// region chain, [`MAX_ATTEMPTS`] with backoff, and timeouts. With any
/// emulator endpoint set, missing credentials and region get placeholders
/// (emulators ignore them) so a laptop without an AWS profile works.
pub async fn sdk_config(endpoints: &Endpoints) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(CALL_TIMEOUT)
        .build();
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config()).timeout_config(timeouts);
    if endpoints.any() {
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "emulator",
                "emulator",
                None,
                None,
                "placeholder",
            ));
        }
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(aws_config::Region::from_static("us-east-1"));
        }
    }
    loader.load().await
}

/// The clients, each pointed at its endpoint.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub keyvaluestore: aws_sdk_cloudfrontkeyvaluestore::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub xray: aws_sdk_xray::Client,
    /// API Gateway v2 (HTTP APIs): pre-flight reads the integrations.
    pub apigateway: aws_sdk_apigatewayv2::Client,
    /// Kinesis: the edge's real-time logs.
    pub kinesis: aws_sdk_kinesis::Client,
}

impl Clients {
    pub async fn new(endpoints: &Endpoints) -> Clients {
        let config = sdk_config(endpoints).await;
        macro_rules! client {
            ($krate:ident, $endpoint:expr) => {{
                let mut builder = $krate::config::Builder::from(&config);
                if let Some(url) = &$endpoint {
                    builder = builder.endpoint_url(url);
                }
                $krate::Client::from_conf(builder.build())
            }};
        }
        Clients {
            dynamodb: client!(aws_sdk_dynamodb, endpoints.dynamodb),
            cloudfront: client!(aws_sdk_cloudfront, endpoints.cloudfront),
            keyvaluestore: {
                let mut builder = aws_sdk_cloudfrontkeyvaluestore::config::Builder::from(&config);
                if let Some(url) = &endpoints.keyvaluestore {
                    builder = builder.endpoint_resolver(kvs::AtUrl(url.clone()));
                }
                aws_sdk_cloudfrontkeyvaluestore::Client::from_conf(builder.build())
            },
            cloudwatch: client!(aws_sdk_cloudwatch, endpoints.cloudwatch),
            lambda: client!(aws_sdk_lambda, endpoints.lambda),
            xray: client!(aws_sdk_xray, endpoints.xray),
            apigateway: client!(aws_sdk_apigatewayv2, endpoints.apigateway),
            kinesis: client!(aws_sdk_kinesis, endpoints.kinesis),
        }
    }
}
