//! The store on DynamoDB: one table, partition key `pk` only.
//!
//! Why one table: every access is a get or put by full key; there is no
//! query across entities, so separate tables would add three sets of
//! alarms, capacity settings and IAM resources for nothing. Entities are
//! told apart by the key prefix (`user#`, `metadata#`, `workflow#`), which
//! lets each function's IAM policy be scoped to its own prefix with the
//! `dynamodb:LeadingKeys` condition. An item is `{pk, body, version,
//! expires_at?}`; `body` is the JSON text as validated, so a read returns
//! exactly what was written; `expires_at` is the table's TTL attribute.

use std::collections::HashMap;
use std::time::Duration;

use crate::error_chain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use cutover_api::routes::contract;
use cutover_api::store::{Expect, Item, ItemStore, ItemStoreError, Key};

/// Where the SDK sends DynamoDB calls.
#[derive(Debug, Clone, Default)]
pub enum Endpoint {
    /// AWS, with the standard credential chain.
    #[default]
    Aws,
    /// An emulator such as moto at this URL. Credentials come from the
    /// environment if set, otherwise placeholders (emulators ignore them).
    Url(String),
}

/// The SDK configuration every adapter uses: the standard credential and
/// region chain, 3 attempts with backoff, 1 s per attempt, 3 s per call.
/// Inside Lambda the region and credentials come from the environment, so
/// loading reads no files and makes no network call.
pub async fn sdk_config(endpoint: &Endpoint) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(timeouts);
    if let Endpoint::Url(url) = endpoint {
        loader = loader.endpoint_url(url);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(Credentials::new("emulator", "emulator", None, None, "placeholder"));
        }
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(aws_config::Region::from_static("us-east-1"));
        }
    }
    loader.load().await
}

#[derive(Debug, Clone)]
pub struct DynamoItemStore {
    client: Client,
    table: String,
}

const BODY: &str = "body";
const VERSION: &str = "version";

impl DynamoItemStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoItemStore {
        DynamoItemStore { client, table: table.into() }
    }

    pub async fn connect(endpoint: &Endpoint, table: impl Into<String>) -> DynamoItemStore {
        DynamoItemStore::new(Client::new(&sdk_config(endpoint).await), table)
    }

    /// The client as a Lambda function makes it: region and credentials
    /// from the variables Lambda sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), an emulator from
    /// `AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL` when set. Not the
    /// SDK's default chain: profiles, SSO, IMDS and STS have nothing to
    /// find in Lambda, and leaving them out leaves them out of the binary.
    ///
    /// `share_roots`: the process also has a backend client, so the SDK
    /// takes the roots [`crate::tls::roots`] read for both; alone, it reads
    /// them itself (once per process, and cheaper than handing them over:
    /// it takes extra roots only as PEM text).
    pub fn for_lambda(table: impl Into<String>, share_roots: bool) -> Result<DynamoItemStore, String> {
        use aws_config::environment::EnvironmentVariableCredentialsProvider;
        let region = std::env::var("AWS_REGION")
            .ok()
            .filter(|r| !r.trim().is_empty())
            .ok_or("AWS_REGION is not set (Lambda sets it; set it to run the function elsewhere)")?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(500))
            .operation_attempt_timeout(Duration::from_secs(1))
            .operation_timeout(Duration::from_secs(3))
            .build();
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new(region))
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(timeouts);
        if share_roots {
            config = config.http_client(crate::tls::sdk_http_client());
        }
        let endpoint = ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|url| !url.trim().is_empty()));
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        Ok(DynamoItemStore::new(Client::from_conf(config.build()), table))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on demand capacity, TTL on `expires_at`) if it
    /// does not exist, and waits until it is active. Terraform owns the
    /// table in AWS; this is for emulators, tests and the local demo.
    pub async fn create_table(&self) -> Result<(), ItemStoreError> {
        let pk = &contract().partition_key;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(pk)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| self.error("CreateTable", e))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(pk)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| self.error("CreateTable", e))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(self.classify("CreateTable", e)),
        }
        for _ in 0..100 {
            let described = self.client.describe_table().table_name(&self.table).send().await;
            let status = described.map_err(|e| self.classify("DescribeTable", e))?;
            if status.table().and_then(|t| t.table_status()).map(|s| s.as_str()) == Some("ACTIVE") {
                let ttl = TimeToLiveSpecification::builder()
                    .attribute_name(&contract().ttl_attribute)
                    .enabled(true)
                    .build()
                    .map_err(|e| self.error("UpdateTimeToLive", e))?;
                let set = self.client.update_time_to_live().table_name(&self.table).time_to_live_specification(ttl);
                set.send().await.map_err(|e| self.classify("UpdateTimeToLive", e))?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ItemStoreError::Unavailable {
            message: format!("table {} did not become active", self.table),
            retryable: true,
        })
    }

    fn error(&self, action: &str, e: impl std::fmt::Display) -> ItemStoreError {
        ItemStoreError::Unavailable { message: format!("dynamodb:{action} on {}: {e}", self.table), retryable: false }
    }

    /// Sorts an SDK error into the store's two kinds. Called after the
    /// SDK's own retries, so a retryable error here means they ran out.
    fn classify<E, R>(&self, action: &str, e: SdkError<E, R>) -> ItemStoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let table = &self.table;
        match &e {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = err.code().unwrap_or("Unknown");
                let message = err.message().unwrap_or_default();
                match code {
                    "ConditionalCheckFailedException" => ItemStoreError::ConditionFailed,
                    "AccessDeniedException" | "UnrecognizedClientException" => ItemStoreError::Unavailable {
                        message: format!(
                            "access denied: the role needs dynamodb:{action} on table {table} \
                             (see api-lambdas/routes.json): {message}"
                        ),
                        retryable: false,
                    },
                    "ResourceNotFoundException" => ItemStoreError::Unavailable {
                        message: format!("table {table} does not exist: set TABLE_NAME to the table Terraform made"),
                        retryable: false,
                    },
                    "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionConflictException" => ItemStoreError::Unavailable {
                        message: format!("dynamodb:{action} on {table}: {code}: {message}"),
                        retryable: true,
                    },
                    _ => ItemStoreError::Unavailable {
                        message: format!("dynamodb:{action} on {table}: {code}: {message}"),
                        retryable: false,
                    },
                }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                ItemStoreError::Unavailable {
                    message: format!("dynamodb:{action} on {table}: {}", error_chain(&e)),
                    retryable: true,
                }
            }
            _ => ItemStoreError::Unavailable {
                message: format!("dynamodb:{action} on {table}: {}", error_chain(&e)),
                retryable: false,
            },
        }
    }

    fn decode(&self, key: &Key, mut item: HashMap<String, AttributeValue>) -> Result<Item, ItemStoreError> {
        let bad = |what: &str| ItemStoreError::Unavailable {
            message: format!("item {} in {} has {what}; it was not written by cutover-api", key.as_str(), self.table),
            retryable: false,
        };
        let body = match item.remove(BODY) {
            Some(AttributeValue::S(body)) => body,
            _ => return Err(bad("no string 'body'")),
        };
        let number = |v: Option<AttributeValue>, name| match v {
            Some(AttributeValue::N(n)) => n.parse::<u64>().map(Some).map_err(|_| bad(name)),
            None => Ok(None),
            Some(_) => Err(bad(name)),
        };
        let version = number(item.remove(VERSION), "a 'version' that is not a whole number")?
            .ok_or_else(|| bad("no 'version'"))?;
        let expires_at = number(item.remove(&contract().ttl_attribute), "an 'expires_at' that is not a whole number")?;
        Ok(Item { body, version, expires_at })
    }
}

impl ItemStore for DynamoItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, ItemStoreError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(&contract().partition_key, AttributeValue::S(key.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.classify("GetItem", e))?;
        got.item.map(|item| self.decode(key, item)).transpose()
    }

    async fn put(&self, key: &Key, item: &Item, expect: Expect) -> Result<(), ItemStoreError> {
        let pk = &contract().partition_key;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(pk, AttributeValue::S(key.as_str().to_owned()))
            .item(BODY, AttributeValue::S(item.body.clone()))
            .item(VERSION, AttributeValue::N(item.version.to_string()));
        if let Some(at) = item.expires_at {
            request = request.item(&contract().ttl_attribute, AttributeValue::N(at.to_string()));
        }
        request = match expect {
            Expect::Absent => {
                request.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", pk)
            }
            Expect::Version(v) => request
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
            Expect::Anything => request,
        };
        request.send().await.map_err(|e| self.classify("PutItem", e))?;
        Ok(())
    }
}
