//! Which store a command reads and writes: the embedded SQLite file (local
//! mode) or a DynamoDB table (`dynamodb://TABLE`), behind one [`Store`].

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "aws")]
use cutover_aws::{Clients, DynamoStore, Endpoints};
use cutover_core::audit::Trail;
use cutover_core::engine::{CutoverState, Event};
use cutover_core::store::{Lease, Request, Store, StoreError, Stored, TimeScale};
use cutover_core::units::Timestamp;
use cutover_local::SqliteStore;

/// Where the AWS adapters send each service's calls. Left out: AWS itself.
/// For an emulator (moto, LocalStack) give its URL; the SDK's own
/// `AWS_ENDPOINT_URL_<SERVICE>` variables are read too.
#[derive(clap::Args, Clone, Debug, Default)]
#[command(next_help_heading = "AWS endpoints (emulators; AWS itself when left out)")]
pub struct EndpointArgs {
    /// DynamoDB (the store, with `--store dynamodb://TABLE`).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_DYNAMODB", value_name = "URL")]
    pub endpoint_url_dynamodb: Option<String>,
    /// CloudFront (pre-flight reads the distribution and its function).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_CLOUDFRONT", value_name = "URL")]
    pub endpoint_url_cloudfront: Option<String>,
    /// CloudFront KeyValueStore (the weight). Used as given: no account id is put before the host.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE", value_name = "URL")]
    pub endpoint_url_keyvaluestore: Option<String>,
    /// CloudWatch (the metrics).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_CLOUDWATCH", value_name = "URL")]
    pub endpoint_url_cloudwatch: Option<String>,
    /// Lambda (pre-flight's concurrency headroom).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_LAMBDA", value_name = "URL")]
    pub endpoint_url_lambda: Option<String>,
    /// X-Ray (sampled latencies per side).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_XRAY", value_name = "URL")]
    pub endpoint_url_xray: Option<String>,
    /// API Gateway v2 (pre-flight's integrations).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_APIGATEWAYV2", value_name = "URL")]
    pub endpoint_url_apigateway: Option<String>,
    /// Kinesis (the edge's real-time logs).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_KINESIS", value_name = "URL")]
    pub endpoint_url_kinesis: Option<String>,
}

/// What a command says when the AWS adapters were left out of the build.
#[cfg(not(feature = "aws"))]
pub const WITHOUT_AWS: &str =
    "this cutover was built without the AWS adapters; build it with `cargo build --release -p cutover --features aws`";

#[cfg(feature = "aws")]
impl EndpointArgs {
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            dynamodb: self.endpoint_url_dynamodb.clone(),
            cloudfront: self.endpoint_url_cloudfront.clone(),
            keyvaluestore: self.endpoint_url_keyvaluestore.clone(),
            cloudwatch: self.endpoint_url_cloudwatch.clone(),
            lambda: self.endpoint_url_lambda.clone(),
            xray: self.endpoint_url_xray.clone(),
            apigateway: self.endpoint_url_apigateway.clone(),
            kinesis: self.endpoint_url_kinesis.clone(),
        }
    }
}

/// A `--store` value: a SQLite path, or `dynamodb://TABLE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAt {
    Sqlite(PathBuf),
    Dynamo(String),
}

impl std::str::FromStr for StoreAt {
    type Err = String;

    fn from_str(s: &str) -> Result<StoreAt, String> {
        match s.strip_prefix("dynamodb://") {
            Some("") => Err("dynamodb:// needs a table name: dynamodb://TABLE".into()),
            Some(table) if table.contains('/') => Err(format!("`{table}` is not a table name (no `/` allowed)")),
            Some(table) => Ok(StoreAt::Dynamo(table.to_owned())),
            None if s.is_empty() => Err("give a SQLite file path or dynamodb://TABLE".into()),
            None => Ok(StoreAt::Sqlite(PathBuf::from(s))),
        }
    }
}

impl std::fmt::Display for StoreAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreAt::Sqlite(path) => write!(f, "{}", path.display()),
            StoreAt::Dynamo(table) => write!(f, "dynamodb://{table}"),
        }
    }
}

#[derive(Clone, Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    #[cfg(feature = "aws")]
    Dynamo(DynamoStore),
}

pub enum Open {
    /// Create the SQLite file (and its folder), or DynamoDB table when an
    /// emulator is named, if missing: for commands that write.
    Create,
    /// Only an existing store: for commands that read, which must not leave
    /// an empty store behind a mistyped path.
    Existing,
}

impl AnyStore {
    /// Opens the store; `Ok(None)` when `Open::Existing` finds nothing there.
    pub async fn open(at: &StoreAt, open: Open, endpoints: &EndpointArgs) -> anyhow::Result<Option<AnyStore>> {
        match at {
            StoreAt::Sqlite(path) => {
                if matches!(open, Open::Existing) && !path.exists() {
                    return Ok(None);
                }
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("create {}: {e}", dir.display()))?;
                }
                Ok(Some(AnyStore::Sqlite(SqliteStore::open(path)?)))
            }
            #[cfg(not(feature = "aws"))]
            StoreAt::Dynamo(_) => {
                let _ = endpoints;
                Err(anyhow::anyhow!("--store dynamodb://…: {WITHOUT_AWS}"))
            }
            #[cfg(feature = "aws")]
            StoreAt::Dynamo(table) => {
                let clients = Clients::new(&endpoints.endpoints()).await;
                let store = DynamoStore::new(clients.dynamodb, table);
                // In AWS, Terraform makes the table; an emulator starts empty.
                if matches!(open, Open::Create) && endpoints.endpoint_url_dynamodb.is_some() {
                    store.create_table().await?;
                }
                Ok(Some(AnyStore::Dynamo(store)))
            }
        }
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call.await,
            #[cfg(feature = "aws")]
            AnyStore::Dynamo($s) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn create(
        &self,
        plan: &str,
        time: TimeScale,
        state: &CutoverState,
        events: &[Event],
    ) -> Result<(), StoreError> {
        each!(self, s => s.create(plan, time, state, events))
    }
    async fn commit(&self, epoch: u64, state: &CutoverState, events: &[Event]) -> Result<(), StoreError> {
        each!(self, s => s.commit(epoch, state, events))
    }
    async fn load(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        each!(self, s => s.load(id))
    }
    async fn list(&self) -> Result<Vec<CutoverState>, StoreError> {
        each!(self, s => s.list())
    }
    async fn history(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        each!(self, s => s.history(id))
    }
    async fn history_after(&self, id: &str, after: Option<(u64, u16)>, limit: usize) -> Result<Vec<Event>, StoreError> {
        each!(self, s => s.history_after(id, after, limit))
    }
    async fn trail(&self, id: &str) -> Result<Option<Trail>, StoreError> {
        each!(self, s => s.trail(id))
    }
    async fn acquire(&self, id: &str, holder: &str, now: Timestamp, ttl: Duration) -> Result<Lease, StoreError> {
        each!(self, s => s.acquire(id, holder, now, ttl))
    }
    async fn release(&self, id: &str, lease: &Lease) -> Result<(), StoreError> {
        each!(self, s => s.release(id, lease))
    }
    async fn send(&self, id: &str, request: &Request) -> Result<u64, StoreError> {
        each!(self, s => s.send(id, request))
    }
    async fn commands(&self, id: &str, epoch: u64, handled: u64) -> Result<Vec<Request>, StoreError> {
        each!(self, s => s.commands(id, epoch, handled))
    }
    async fn delivered(&self, id: &str, webhook: &str) -> Result<Option<(u64, u16)>, StoreError> {
        each!(self, s => s.delivered(id, webhook))
    }
    async fn mark_delivered(&self, id: &str, webhook: &str, place: (u64, u16)) -> Result<(), StoreError> {
        each!(self, s => s.mark_delivered(id, webhook, place))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_a_path_or_a_dynamodb_table() {
        assert_eq!("x/cutover.db".parse(), Ok(StoreAt::Sqlite("x/cutover.db".into())));
        assert_eq!("dynamodb://cutover-prod".parse(), Ok(StoreAt::Dynamo("cutover-prod".into())));
        assert!("dynamodb://".parse::<StoreAt>().unwrap_err().contains("table name"));
        assert!("dynamodb://a/b".parse::<StoreAt>().is_err());
    }
}
