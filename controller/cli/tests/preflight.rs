#![cfg(feature = "aws")]
//! `cutover preflight` against moto (started here) with a half-configured
//! distribution: the ALB origin and a /api/* behaviour (GET and HEAD only, as
//! moto makes it), but no API Gateway
//! origin and no edge function. moto keeps no function associations and
//! has no KeyValueStore, Lambda functions or account settings, so those lines fail
//! too, each with its fix (without a KeyValueStore there is no probe token
//! either, so neither side's pinned probe is sent). The stand-in edge, like
//! a distribution without the function, sends every request to the ALB.

use std::process::Command;

use aws_sdk_cloudfront::types::{
    CacheBehavior, CacheBehaviors, CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin,
    OriginProtocolPolicy, Origins, ViewerProtocolPolicy,
};
use cutover_aws::{Clients, Endpoints};
use cutover_testkit::http::{Answer, Received, Stub};
use cutover_testkit::Moto;

fn plan(distribution_id: &str) -> String {
    let default = Command::new(env!("CARGO_BIN_EXE_cutover")).args(["plan", "init"]).output().unwrap().stdout;
    let text = String::from_utf8(default).unwrap();
    let start = text.find("[target.local]").unwrap();
    let end = text[start..].find("\n\n").map(|n| start + n).unwrap();
    let aws = format!(
        "[target.cloudfront]\ndistribution_id = \"{distribution_id}\"\n\
         kvs_arn = \"arn:aws:cloudfront::123456789012:key-value-store/8aa76c9b-1b7e-4f5c-9d60-2f7a0b6c1c3e\"\n\
         weight_key = \"internal-api/weight\"\nserverless_origin_id = \"api-gateway\"\n\n\
         [target.metrics]\nalb_load_balancer = \"app/internal-api/50dc6c495c0c9188\"\n\
         alb_target_group = \"targetgroup/internal-api/73e2d6bc24d8a067\"\napi_id = \"a1b2c3d4e5\"\n\
         api_stage = \"$default\"\nlambda_functions = [\"internal-api-health\"]\n\
         xray_legacy_service = \"internal-api-express\""
    );
    format!("{}{aws}{}", &text[..start], &text[end..])
}

async fn half_configured_distribution(moto: &Moto) -> String {
    let endpoints = Endpoints { cloudfront: Some(moto.endpoint().into()), ..Endpoints::default() };
    let cloudfront = Clients::new(&endpoints).await.cloudfront;
    let alb = Origin::builder()
        .id("alb")
        .domain_name("internal-api-123456.eu-west-1.elb.amazonaws.com")
        .custom_origin_config(
            CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let api = CacheBehavior::builder()
        .path_pattern("/api/*")
        .target_origin_id("alb")
        .viewer_protocol_policy(ViewerProtocolPolicy::HttpsOnly)
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference("cutover-preflight-test")
        .comment("internal API")
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(alb).build().unwrap())
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
    // One unhurried attempt: on a loaded machine moto can take longer than
    // the adapters' 3 s, and a retried create meets its own caller reference.
    let patient = aws_sdk_cloudfront::config::Builder::default()
        .timeout_config(
            aws_sdk_cloudfront::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(120))
                .operation_timeout(std::time::Duration::from_secs(120))
                .build(),
        )
        .retry_config(aws_sdk_cloudfront::config::retry::RetryConfig::disabled());
    let created = cloudfront
        .create_distribution()
        .distribution_config(config)
        .customize()
        .config_override(patient)
        .send()
        .await
        .expect("create");
    created.distribution.expect("a distribution").id().to_owned()
}

#[test]
fn a_half_configured_distribution_fails_with_the_fixes() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = runtime.block_on(half_configured_distribution(&moto));
    // Without the function, a pinned probe reaches the ALB whatever it asks.
    let edge = Stub::start(|_: &Received| Answer::json(200, r#"{"status":"ok"}"#).with_header("x-served-by", "legacy"));
    let dir = std::env::temp_dir().join(format!("cutover-preflight-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan_path = dir.join("aws.toml");
    std::fs::write(&plan_path, plan(&id)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["preflight", plan_path.to_str().unwrap(), "--edge-url", edge.base()])
        .args(["--endpoint-url-cloudfront", moto.endpoint()])
        .args(["--endpoint-url-keyvaluestore", moto.endpoint()])
        .args(["--endpoint-url-lambda", moto.endpoint()])
        .args(["--endpoint-url-xray", moto.endpoint()])
        .args(["--endpoint-url-apigateway", moto.endpoint()])
        .env("CUTOVER_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "any failure exits non-zero:\n{stdout}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name.split_whitespace().next().unwrap()) && l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{stdout}"))
            .to_owned()
    };
    assert!(line("region").starts_with("  ok"), "{stdout}");
    assert!(line("distribution").starts_with("  ok"), "{stdout}");
    assert!(line("/api/* behaviour").starts_with("  ok"), "{stdout}");
    assert!(line("legacy origin").starts_with("  ok"), "{stdout}");
    assert!(line("/api/* caching").starts_with("  ok"), "{stdout}");
    assert!(line("/api/* host header").starts_with("  ok"), "{stdout}");
    let failing = ["/api/* methods", "edge function", "serverless origin", "weight is 0", "legacy answers"];
    let more = ["serverless answers", "lambda concurrency", "function tracing", "key value store"];
    // The plan's API was never created in moto.
    assert!(line("serverless integrations").starts_with("  FAIL"), "{stdout}");
    for failing in failing.into_iter().chain(more) {
        assert!(line(failing).starts_with("  FAIL"), "{failing}:\n{stdout}");
    }
    // No KeyValueStore, no probe token: a pin could not be trusted either way.
    assert!(line("legacy answers").contains("the probe token at internal-api/probe-token"), "{stdout}");
    assert!(stdout.contains("fix: publish infra/edge-function/function.js"), "{stdout}");
    assert!(stdout.contains("fix: add an origin with id api-gateway"), "{stdout}");
    assert!(stdout.contains("fix: allow GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE on /api/*"), "{stdout}");
    // moto has no KeyValueStore data plane and no Transaction Search API.
    assert!(line("x-ray indexing").starts_with("  FAIL"), "{stdout}");
    // Nor X-Ray's service graph.
    assert!(line("x-ray services").starts_with("  FAIL"), "{stdout}");
    assert!(stdout.contains("12 of 20 checks failed"), "{stdout}");
}

#[test]
fn a_local_plan_is_refused_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_cutover")).args(["plan", "init"]).output().unwrap();
    let dir = std::env::temp_dir().join(format!("cutover-preflight-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("local.toml");
    std::fs::write(&plan, out.stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover")).args(["preflight", plan.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[target.local]"));
}
