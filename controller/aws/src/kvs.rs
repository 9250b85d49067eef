//! The weight in a CloudFront KeyValueStore, where the CloudFront Function
//! (`infra/edge-function/function.js`) reads it: one key, its value the
//! weight in basis points as a decimal string (`"2500"` is 25 %).
//!
//! A write is `DescribeKeyValueStore` (the store's ETag) → `GetKey` (what is
//! there now) → the drift rule ([`before_write`]) → `PutKey` with `If-Match`
//! → `GetKey` again (read back). A changed ETag is a conflict the engine
//! retries; a weight the cutover did not write is drift, never overwritten
//! (a rollback to 0 excepted).

use aws_sdk_cloudfrontkeyvaluestore::operation::describe_key_value_store::DescribeKeyValueStoreOutput;
use aws_sdk_cloudfrontkeyvaluestore::Client;
use cutover_core::cohort;
use cutover_core::ports::{before_write, EdgeError, EdgePort, Write};
use cutover_core::units::Weight;

use crate::AwsFailure;

#[derive(Clone, Debug)]
pub struct KvsEdge {
    client: Client,
    kvs_arn: String,
    key: String,
}

impl KvsEdge {
    pub fn new(client: Client, kvs_arn: impl Into<String>, key: impl Into<String>) -> KvsEdge {
        KvsEdge { client, kvs_arn: kvs_arn.into(), key: key.into() }
    }

    /// The value as stored, `None` when the key is missing.
    async fn get(&self) -> Result<Option<String>, EdgeError> {
        match self.client.get_key().kvs_arn(&self.kvs_arn).key(&self.key).send().await {
            Ok(out) => Ok(Some(out.value().to_owned())),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                // Either the key or the store is missing; a missing store
                // also fails DescribeKeyValueStore, which names it.
                Ok(None)
            }
            Err(e) => Err(EdgeError::Failed(AwsFailure::from_sdk("cloudfront-keyvaluestore:GetKey", &e).message)),
        }
    }

    /// The store as `DescribeKeyValueStore` gives it: ETag, status, last
    /// modification.
    pub(crate) async fn describe(&self) -> Result<DescribeKeyValueStoreOutput, AwsFailure> {
        let described = self.client.describe_key_value_store().kvs_arn(&self.kvs_arn).send().await;
        described.map_err(|e| AwsFailure::from_sdk("cloudfront-keyvaluestore:DescribeKeyValueStore", &e))
    }

    /// The store's ETag, which every write must name (`If-Match`).
    async fn etag(&self) -> Result<String, EdgeError> {
        let described = self.describe().await.map_err(|e| EdgeError::Failed(e.message))?;
        Ok(described.e_tag().to_owned())
    }

    /// When anything in the store was last written (Unix ms): the weight
    /// has held since then at least.
    pub async fn last_modified(&self) -> Result<Option<u64>, EdgeError> {
        let described = self.describe().await.map_err(|e| EdgeError::Failed(e.message))?;
        Ok(described.last_modified().and_then(|t| t.to_millis().ok()).map(|ms| ms.max(0) as u64))
    }

    /// The weight as the function reads it: missing is 0; anything but a
    /// whole number of basis points is an error naming the key (the
    /// function would treat it as 0, so someone wrote it by hand).
    fn parse(&self, value: Option<&str>) -> Result<Weight, EdgeError> {
        let Some(value) = value else {
            return Ok(Weight::ZERO);
        };
        cohort::parse_weight(value).ok_or_else(|| {
            EdgeError::Failed(format!(
                "key `{}` in {} holds {value:?}, not a weight in basis points (0 to 10000); the CloudFront \
                 Function sends everybody to the ALB until it does",
                self.key, self.kvs_arn
            ))
        })
    }
}

/// The probe token's length when the controller writes one (hex digits).
const PROBE_TOKEN_LEN: usize = 32;
/// The shortest token the CloudFront Function trusts.
const PROBE_TOKEN_MIN: usize = 16;

impl KvsEdge {
    /// The probe token under `key`, the one the CloudFront Function checks
    /// probes' pins against. A missing (or too short) one is replaced by a
    /// random one, written under the store's ETag: the first controller to
    /// run needs no secret handed to it, and rotating is writing a new one.
    pub async fn probe_token(&self, key: &str) -> Result<String, EdgeError> {
        let at = KvsEdge { key: key.to_owned(), ..self.clone() };
        if let Some(token) = at.get().await?.filter(|t| t.len() >= PROBE_TOKEN_MIN) {
            return Ok(token);
        }
        let etag = self.etag().await?;
        let token = random_token().map_err(|e| EdgeError::Failed(format!("no randomness for a probe token: {e}")))?;
        let put = self.client.put_key().kvs_arn(&self.kvs_arn).key(key).value(&token).if_match(etag).send().await;
        match put {
            Ok(_) => {}
            // Someone wrote the store meanwhile (perhaps another controller's token): read what won.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => {}
            Err(e) => {
                return Err(EdgeError::Failed(AwsFailure::from_sdk("cloudfront-keyvaluestore:PutKey", &e).message))
            }
        }
        at.get().await?.filter(|t| t.len() >= PROBE_TOKEN_MIN).ok_or_else(|| {
            EdgeError::Failed(format!("key `{key}` in {} holds no probe token after writing one", self.kvs_arn))
        })
    }
}

/// 128 random bits as hex, from the operating system.
fn random_token() -> std::io::Result<String> {
    cutover_base::random::hex::<{ PROBE_TOKEN_LEN / 2 }>()
}

impl EdgePort for KvsEdge {
    async fn read(&self) -> Result<Weight, EdgeError> {
        let value = self.get().await?;
        self.parse(value.as_deref())
    }

    async fn apply(&self, weight: Weight, expected: Weight) -> Result<(), EdgeError> {
        let etag = self.etag().await?;
        let live = match self.read().await {
            Ok(live) => live,
            // Garbage at the key: only a rollback writes over it.
            Err(_) if weight == Weight::ZERO => Weight::FULL,
            Err(e) => return Err(e),
        };
        if before_write(live, weight, expected)? == Write::AlreadyThere {
            return Ok(());
        }
        let put = self
            .client
            .put_key()
            .kvs_arn(&self.kvs_arn)
            .key(&self.key)
            .value(weight.bps().to_string())
            .if_match(etag)
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => {
                return Err(EdgeError::Conflict)
            }
            Err(e) => {
                return Err(EdgeError::Failed(AwsFailure::from_sdk("cloudfront-keyvaluestore:PutKey", &e).message))
            }
        }
        // Read back: a write that landed and was overwritten at once is drift.
        match self.read().await? {
            found if found == weight => Ok(()),
            found => Err(EdgeError::Drift { found }),
        }
    }
}

/// Sends every KeyValueStore call to one URL, as given. The SDK's own rules
/// put the store's account id in front of a custom endpoint's host
/// (`123456789012.localhost:4566`), which no emulator answers; this keeps
/// the signing the SDK's rules ask for (SigV4A, any region).
#[derive(Debug)]
pub(crate) struct AtUrl(pub(crate) String);

impl aws_sdk_cloudfrontkeyvaluestore::config::endpoint::ResolveEndpoint for AtUrl {
    fn resolve_endpoint<'a>(
        &'a self,
        _params: &'a aws_sdk_cloudfrontkeyvaluestore::config::endpoint::Params,
    ) -> aws_sdk_cloudfrontkeyvaluestore::config::endpoint::EndpointFuture<'a> {
        use aws_smithy_types::endpoint::{Endpoint, EndpointAuthScheme};
        use aws_smithy_types::Document;
        let sigv4a = EndpointAuthScheme::with_capacity("sigv4a".to_owned(), 2)
            .put("signingName", "cloudfront-keyvaluestore")
            .put("signingRegionSet", vec![Document::from("*".to_owned())]);
        let endpoint = Endpoint::builder().url(self.0.trim_end_matches('/').to_owned()).auth_scheme(sigv4a).build();
        aws_sdk_cloudfrontkeyvaluestore::config::endpoint::EndpointFuture::ready(Ok(endpoint))
    }
}
