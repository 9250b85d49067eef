//! The backend over HTTP: one `reqwest` client per process (connections
//! are reused across invocations), a timeout on every call, the request and
//! trace ids passed on.

use std::time::Duration;

use crate::error_chain;
use cutover_api::backend::{Backend, BackendError, BackendResponse, Trace};
use cutover_api::{REQUEST_ID, TRACE_ID};

/// Larger answers are refused: Lambda cannot return more than 6 MB.
pub const MAX_BACKEND_BODY_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpBackend {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl HttpBackend {
    /// `base_url` is `http(s)://host[:port][/prefix]`; `timeout` bounds each
    /// whole call, connect to last byte.
    pub fn new(base_url: &str, timeout: Duration) -> Result<HttpBackend, BackendError> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() <= "https://".len() {
            return Err(BackendError::NotConfigured(format!(
                "the backend URL must look like https://backend.internal; got {base_url:?}"
            )));
        }
        let mut client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_idle_timeout(Duration::from_secs(50));
        if base.starts_with("https://") {
            // The process's one trust store, shared with the DynamoDB client.
            client = client.tls_certs_only(crate::tls::reqwest_roots());
        }
        let client = client
            .build()
            .map_err(|e| BackendError::NotConfigured(format!("the HTTP client could not be built: {e}")))?;
        Ok(HttpBackend { client, base: base.to_owned(), timeout })
    }
}

impl Backend for HttpBackend {
    async fn get(&self, path: &str, trace: &Trace) -> Result<BackendResponse, BackendError> {
        let mut request = self.client.get(format!("{}{path}", self.base)).timeout(self.timeout);
        request = request.header(REQUEST_ID, &trace.request_id);
        if let Some(trace_id) = &trace.trace_id {
            request = request.header(TRACE_ID, trace_id);
        }
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                BackendError::Timeout(self.timeout)
            } else {
                BackendError::Unreachable(error_chain(&e))
            }
        };
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_BACKEND_BODY_BYTES {
                return Err(BackendError::TooLarge(MAX_BACKEND_BODY_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(BackendResponse { status, body: body.into() })
    }
}
