//! The control API from the other side: what `cutover start|status|pause|
//! resume|promote|rollback|abort|history --server URL` and the demo send to
//! a daemon. The daemon's problem documents come back as [`Failure`]s that
//! keep its words: 4xx is input to fix (exit 2), anything else a failure.

use std::time::Duration;

use cutover_core::engine::{Command, Event};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{CommandAccepted, CommandRequest, CreateCutover, Problem, TrailPage};
use crate::failure::Failure;
use crate::view::CutoverView;

/// Where a command finds a daemon: `--server URL` (or `CUTOVER_SERVER`),
/// with the token from `CUTOVER_TOKEN`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServerArgs {
    /// Talk to the daemon (`cutover serve`) at this URL instead of the store.
    #[arg(long, env = "CUTOVER_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The daemon's bearer token (read from the environment only, never a flag: flags show in `ps`).
    #[arg(skip = std::env::var("CUTOVER_TOKEN").ok())]
    pub token: Option<String>,
}

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Result<Client, Failure> {
        let parsed = url::Url::parse(base)
            .map_err(|e| Failure::input(format!("--server {base}: not a URL ({e}); e.g. http://127.0.0.1:7300")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Failure::input(format!("--server {base}: give an http:// or https:// URL with a host")));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::Other(anyhow::anyhow!("an HTTP client: {e}")))?;
        Ok(Client { base: base.trim_end_matches('/').to_owned(), token, http })
    }

    pub fn from_args(args: &ServerArgs) -> Result<Option<Client>, Failure> {
        args.server.as_deref().map(|url| Client::new(url, args.token.clone())).transpose()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn list(&self) -> Result<Vec<CutoverView>, Failure> {
        self.call(reqwest::Method::GET, "/v1/cutovers", None::<&()>).await
    }

    pub async fn get(&self, id: &str) -> Result<CutoverView, Failure> {
        self.call(reqwest::Method::GET, &format!("/v1/cutovers/{id}"), None::<&()>).await
    }

    pub async fn create(&self, create: &CreateCutover) -> Result<CutoverView, Failure> {
        self.call(reqwest::Method::POST, "/v1/cutovers", Some(create)).await
    }

    pub async fn command(&self, id: &str, command: Command, reason: &str) -> Result<CommandAccepted, Failure> {
        let body = CommandRequest { command, reason: reason.to_owned() };
        self.call(reqwest::Method::POST, &format!("/v1/cutovers/{id}/commands"), Some(&body)).await
    }

    /// The cutover over time, with its trail's newest `events` lines (all of them: `None`).
    pub async fn series(&self, id: &str, events: Option<usize>) -> Result<crate::series::Series, Failure> {
        let events = events.map_or_else(|| "all".to_owned(), |n| n.to_string());
        self.call(reqwest::Method::GET, &format!("/v1/cutovers/{id}/series?events={events}"), None::<&()>).await
    }

    /// The plan the cutover runs, as stored.
    pub async fn plan(&self, id: &str) -> Result<crate::api::PlanText, Failure> {
        self.call(reqwest::Method::GET, &format!("/v1/cutovers/{id}/plan"), None::<&()>).await
    }

    /// What the daemon found checking the trail's hash chain.
    pub async fn chain(&self, id: &str) -> Result<crate::series::ChainStatus, Failure> {
        let page: TrailPage =
            self.call(reqwest::Method::GET, &format!("/v1/cutovers/{id}/events?limit=1"), None::<&()>).await?;
        Ok(page.chain)
    }

    /// The whole audit trail, page by page.
    pub async fn history(&self, id: &str) -> Result<Vec<Event>, Failure> {
        let mut events = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let query = after.as_deref().map_or_else(|| "limit=1000".to_owned(), |a| format!("limit=1000&after={a}"));
            let page: TrailPage =
                self.call(reqwest::Method::GET, &format!("/v1/cutovers/{id}/events?{query}"), None::<&()>).await?;
            events.extend(page.events);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(events),
            }
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(|e| Failure::Other(e.into()))?;
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(json);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Other(anyhow::anyhow!("{method} {url}: {e} (is `cutover serve` running there?)")))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Failure::Other(anyhow::anyhow!("{method} {url}: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Failure::Other(anyhow::anyhow!("{method} {url}: an answer this client cannot read: {e}"))
            });
        }
        let said = match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) if problem.problems.is_empty() => problem.detail,
            Ok(problem) => format!("{}:\n  {}", problem.detail, problem.problems.join("\n  ")),
            Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
        };
        let said = format!("the daemon answered {status}: {said}");
        Err(if status.is_client_error() { Failure::Input(said) } else { Failure::Other(anyhow::anyhow!(said)) })
    }
}
