//! The KeyValueStore weight writer at the SDK boundary (aws-smithy-mocks:
//! moto has no KeyValueStore data plane). Responses are shaped as the API
//! reference gives them: DescribeKeyValueStore's ETag, GetKey's value,
//! PutKey's ConflictException on a stale If-Match.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudfrontkeyvaluestore::config::retry::RetryConfig;
use aws_sdk_cloudfrontkeyvaluestore::operation::describe_key_value_store::DescribeKeyValueStoreOutput;
use aws_sdk_cloudfrontkeyvaluestore::operation::get_key::{GetKeyError, GetKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::operation::put_key::{PutKeyError, PutKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::types::error::{
    AccessDeniedException, ConflictException, ResourceNotFoundException,
};
use aws_sdk_cloudfrontkeyvaluestore::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use cutover_aws::{KvsEdge, MAX_ATTEMPTS};
use cutover_core::ports::{EdgeError, EdgePort};
use cutover_core::units::Weight;

const ARN: &str = "arn:aws:cloudfront::123456789012:key-value-store/8aa76c9b-1b7e-4f5c-9d60-2f7a0b6c1c3e";
const KEY: &str = "internal-api/weight";
fn created() -> aws_sdk_cloudfrontkeyvaluestore::primitives::DateTime {
    aws_sdk_cloudfrontkeyvaluestore::primitives::DateTime::from_secs(1_795_867_200)
}

fn bps(n: u16) -> Weight {
    Weight::from_bps(n).unwrap()
}

/// A store in memory behind the mocks: its value and ETag, with the
/// If-Match rule of the real service, and what was put.
#[derive(Clone, Default)]
struct Kvs {
    /// The one key it holds (the weight's unless told).
    key: &'static str,
    value: Arc<Mutex<Option<String>>>,
    etag: Arc<Mutex<u32>>,
    puts: Arc<Mutex<Vec<(String, String)>>>,
}

impl Kvs {
    fn holding(value: Option<&str>) -> Kvs {
        Kvs::holding_at(KEY, value)
    }

    fn holding_at(key: &'static str, value: Option<&str>) -> Kvs {
        let kvs = Kvs { key, ..Kvs::default() };
        *kvs.value.lock().unwrap() = value.map(str::to_owned);
        kvs
    }

    fn rules(&self) -> Vec<Rule> {
        let (etag, value, puts) = (self.etag.clone(), self.value.clone(), self.puts.clone());
        let describe =
            mock!(Client::describe_key_value_store).match_requests(|r| r.kvs_arn() == Some(ARN)).then_output({
                let etag = etag.clone();
                move || {
                    DescribeKeyValueStoreOutput::builder()
                        .kvs_arn(ARN)
                        .created(created())
                        .e_tag(format!("KV{}", etag.lock().unwrap()))
                        .item_count(1)
                        .total_size_in_bytes(64)
                        .build()
                        .unwrap()
                }
            });
        let key = self.key;
        let get = mock!(Client::get_key).match_requests(move |r| r.key() == Some(key)).then_compute_response({
            let value = value.clone();
            move |_| match value.lock().unwrap().clone() {
                Some(v) => aws_smithy_mocks::MockResponse::Output(
                    GetKeyOutput::builder().key(key).value(v).item_count(1).total_size_in_bytes(64).build().unwrap(),
                ),
                None => aws_smithy_mocks::MockResponse::Error(GetKeyError::ResourceNotFoundException(
                    ResourceNotFoundException::builder().message("Key not found").build(),
                )),
            }
        });
        let put =
            mock!(Client::put_key).match_requests(move |r| r.key() == Some(key)).then_compute_response(move |r| {
                let mut current = etag.lock().unwrap();
                if r.if_match() != Some(format!("KV{current}").as_str()) {
                    return aws_smithy_mocks::MockResponse::Error(PutKeyError::ConflictException(
                        ConflictException::builder().message("Pre-condition failed: ETag mismatch").build(),
                    ));
                }
                *current += 1;
                *value.lock().unwrap() = r.value().map(str::to_owned);
                puts.lock()
                    .unwrap()
                    .push((r.if_match().unwrap_or_default().to_owned(), r.value().unwrap_or_default().to_owned()));
                aws_smithy_mocks::MockResponse::Output(
                    PutKeyOutput::builder()
                        .e_tag(format!("KV{current}"))
                        .item_count(1)
                        .total_size_in_bytes(64)
                        .build()
                        .unwrap(),
                )
            });
        vec![describe, get, put]
    }

    fn edge(&self) -> KvsEdge {
        let rules = self.rules();
        KvsEdge::new(mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, &rules), ARN, KEY)
    }
}

/// The probe token the CloudFront Function checks pins against: read when
/// there, written at random (under the store's ETag) when missing or too
/// short to trust, and the same on every later read.
#[tokio::test]
async fn the_probe_token_is_read_or_written_once_at_random() {
    const TOKEN_KEY: &str = "internal-api/probe-token";
    let kept = Kvs::holding_at(TOKEN_KEY, Some("an-operators-token-0001"));
    assert_eq!(kept.edge().probe_token(TOKEN_KEY).await.as_deref(), Ok("an-operators-token-0001"));
    assert!(kept.puts.lock().unwrap().is_empty());
    for before in [None, Some("short")] {
        let kvs = Kvs::holding_at(TOKEN_KEY, before);
        let edge = kvs.edge();
        let token = edge.probe_token(TOKEN_KEY).await.unwrap();
        assert_eq!(token.len(), 32, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        assert_eq!(*kvs.puts.lock().unwrap(), vec![("KV0".to_owned(), token.clone())]);
        assert_eq!(edge.probe_token(TOKEN_KEY).await, Ok(token.clone()), "written once");
        let other = Kvs::holding_at(TOKEN_KEY, None).edge().probe_token(TOKEN_KEY).await.unwrap();
        assert_ne!(other, token, "random");
    }
}

#[tokio::test]
async fn a_weight_is_put_under_the_described_etag_and_read_back() {
    let kvs = Kvs::holding(Some("100"));
    let edge = kvs.edge();
    edge.apply(bps(500), bps(100)).await.unwrap();
    assert_eq!(*kvs.puts.lock().unwrap(), vec![("KV0".to_owned(), "500".to_owned())]);
    assert_eq!(edge.read().await, Ok(bps(500)));
    edge.apply(bps(500), bps(100)).await.unwrap();
    assert_eq!(kvs.puts.lock().unwrap().len(), 1, "a weight already there is not written again");
}

#[tokio::test]
async fn a_missing_key_reads_as_zero_as_the_function_treats_it() {
    let kvs = Kvs::holding(None);
    let edge = kvs.edge();
    assert_eq!(edge.read().await, Ok(Weight::ZERO));
    edge.apply(bps(100), Weight::ZERO).await.unwrap();
    assert_eq!(*kvs.value.lock().unwrap(), Some("100".to_owned()));
}

#[tokio::test]
async fn a_weight_someone_else_wrote_is_drift_and_left_alone() {
    let kvs = Kvs::holding(Some("3000"));
    let edge = kvs.edge();
    assert_eq!(edge.apply(bps(1000), bps(500)).await, Err(EdgeError::Drift { found: bps(3000) }));
    assert!(kvs.puts.lock().unwrap().is_empty(), "never overwritten blindly");
    edge.apply(Weight::ZERO, bps(500)).await.unwrap();
    assert_eq!(*kvs.value.lock().unwrap(), Some("0".to_owned()), "a rollback goes through");
}

#[tokio::test]
async fn a_write_between_describe_and_put_is_a_conflict() {
    let kvs = Kvs::holding(Some("100"));
    // Someone writes right after each DescribeKeyValueStore: our If-Match is stale.
    let etag = kvs.etag.clone();
    let racing = mock!(Client::describe_key_value_store).then_output(move || {
        let mut current = etag.lock().unwrap();
        let seen = format!("KV{current}");
        *current += 1;
        DescribeKeyValueStoreOutput::builder()
            .kvs_arn(ARN)
            .created(created())
            .e_tag(seen)
            .item_count(1)
            .total_size_in_bytes(64)
            .build()
            .unwrap()
    });
    let mut rules = vec![racing];
    rules.extend(kvs.rules().into_iter().skip(1));
    let edge = KvsEdge::new(mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, &rules), ARN, KEY);
    assert_eq!(edge.apply(bps(500), bps(100)).await, Err(EdgeError::Conflict));
    assert!(kvs.puts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_value_that_is_not_a_weight_names_the_key() {
    let kvs = Kvs::holding(Some("fifty percent"));
    let err = kvs.edge().read().await.unwrap_err().to_string();
    assert!(err.contains(KEY) && err.contains("fifty percent") && err.contains("0 to 10000"), "{err}");
}

/// Throttling is retried by the SDK (standard mode, our attempt count);
/// access denied is not, and names the IAM action to grant.
#[tokio::test]
async fn throttling_is_retried_and_access_denied_names_the_action() {
    let kvs = Kvs::holding(Some("100"));
    // As restJson services throttle: 429 with the error type in a header.
    let throttled = mock!(Client::put_key)
        .sequence()
        .http_response(|| {
            let mut response = aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(429).unwrap(),
                aws_smithy_types::body::SdkBody::from(r#"{"message":"Rate exceeded"}"#),
            );
            response.headers_mut().insert("x-amzn-errortype", "ThrottlingException");
            response.headers_mut().insert("content-type", "application/json");
            response
        })
        .times(2)
        .output({
            // The third attempt lands: the store now holds the weight.
            let value = kvs.value.clone();
            move || {
                *value.lock().unwrap() = Some("500".into());
                PutKeyOutput::builder().e_tag("KV1").item_count(1).total_size_in_bytes(64).build().unwrap()
            }
        })
        .build();
    let mut rules = kvs.rules();
    rules[2] = throttled;
    let retries =
        RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_initial_backoff(Duration::from_millis(1));
    let client =
        mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, &rules, |c| c.retry_config(retries.clone()));
    KvsEdge::new(client, ARN, KEY).apply(bps(500), bps(100)).await.expect("succeeds on the third attempt");
    assert_eq!(rules[2].num_calls(), 3, "two throttled attempts, then the one that landed");

    let denied = mock!(Client::put_key).then_error(|| {
        PutKeyError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("not authorized")
                // As the SDK reads it off the wire (x-amzn-errortype).
                .meta(aws_smithy_types::error::ErrorMetadata::builder().code("AccessDeniedException").build())
                .build(),
        )
    });
    let mut rules = Kvs::holding(Some("100")).rules();
    rules[2] = denied;
    let client =
        mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, &rules, |c| c.retry_config(retries.clone()));
    let err = KvsEdge::new(client, ARN, KEY).apply(bps(500), bps(100)).await.unwrap_err().to_string();
    assert!(err.contains("grant `cloudfront-keyvaluestore:PutKey`"), "{err}");
    assert_eq!(rules[2].num_calls(), 1, "not retried");
}

/// The whole adapter over HTTP, through `--endpoint-url-keyvaluestore`: a
/// stand-in for the KeyValueStore data plane (REST-JSON, the store's ETag
/// in a header, `If-Match` on PutKey) on a loopback port. The SDK's own
/// endpoint rules would send these to `123456789012.127.0.0.1:…`.
mod over_http {
    use super::*;
    use cutover_aws::{Clients, Endpoints};
    use cutover_testkit::http::{Answer, Received, Stub};

    /// The data plane holding `value` under [`KEY`], at ETag `KV1`.
    fn data_plane(value: &str) -> Stub {
        let state = Mutex::new((value.to_owned(), 1u32));
        Stub::start(move |r: &Received| {
            let mut state = state.lock().unwrap();
            let keys = "/keys/internal-api%2Fweight";
            let sizes = r#""ItemCount": 1, "TotalSizeInBytes": 32"#;
            match (r.method.as_str(), r.path.ends_with(keys)) {
                ("GET", false) => {
                    Answer::json(200, format!(r#"{{"KvsARN": "{ARN}", "Created": 1795867200, {sizes}}}"#))
                        .with_header("ETag", &format!("KV{}", state.1))
                }
                ("GET", true) => Answer::json(200, format!(r#"{{"Key": "{KEY}", "Value": "{}", {sizes}}}"#, state.0)),
                ("PUT", true) if r.header("if-match") != Some(format!("KV{}", state.1).as_str()) => {
                    Answer::json(409, r#"{"Message": "stale ETag"}"#)
                        .with_header("x-amzn-errortype", "ConflictException")
                }
                ("PUT", true) => {
                    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                    state.0 = body["Value"].as_str().unwrap().to_owned();
                    state.1 += 1;
                    Answer::json(200, format!("{{{sizes}}}")).with_header("ETag", &format!("KV{}", state.1))
                }
                _ => Answer::json(404, r#"{"Message": "no such route"}"#)
                    .with_header("x-amzn-errortype", "ResourceNotFoundException"),
            }
        })
    }

    async fn edge(plane: &Stub) -> KvsEdge {
        let endpoints = Endpoints { keyvaluestore: Some(plane.base().to_owned()), ..Endpoints::default() };
        KvsEdge::new(Clients::new(&endpoints).await.keyvaluestore, ARN, KEY)
    }

    #[tokio::test]
    async fn an_endpoint_url_is_used_as_given() {
        let plane = data_plane("100");
        let edge = edge(&plane).await;
        edge.apply(bps(500), bps(100)).await.expect("written");
        assert_eq!(edge.read().await.unwrap(), bps(500));

        let received = plane.received();
        let calls: Vec<(&str, bool)> =
            received.iter().map(|r| (r.method.as_str(), r.path.ends_with("/keys/internal-api%2Fweight"))).collect();
        assert_eq!(calls, [("GET", false), ("GET", true), ("PUT", true), ("GET", true), ("GET", true)]);
        let put = &received[2];
        assert_eq!(put.header("if-match"), Some("KV1"), "conditioned on the ETag just described");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&put.body).unwrap(),
            serde_json::json!({"Value": "500"})
        );
        let host = plane.base().trim_start_matches("http://");
        assert!(received.iter().all(|r| r.header("host") == Some(host)), "no account id before the host");
        let signed = put.header("authorization").unwrap_or_default();
        assert!(signed.starts_with("AWS4-ECDSA-P256-SHA256 "), "SigV4A, as the SDK's rules ask: {signed}");
    }

    #[tokio::test]
    async fn drift_over_http_is_not_overwritten() {
        let plane = data_plane("3000");
        let err = edge(&plane).await.apply(bps(500), bps(100)).await.unwrap_err();
        assert_eq!(err, EdgeError::Drift { found: bps(3000) });
        assert!(plane.received().iter().all(|r| r.method == "GET"), "nothing written");
    }
}
