//! The backend port: the existing backend, reached over HTTP, for what did
//! not move (report aggregation) and what is cached here (metadata).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

/// Who is asking, carried to the backend so one trace spans both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The Lambda request id (or the local server's own).
    pub request_id: String,
    /// The X-Ray trace header value (`Root=1-…;Parent=…;Sampled=…`).
    pub trace_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendResponse {
    pub status: u16,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("the backend did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("the backend could not be reached: {0}")]
    Unreachable(String),
    #[error("the backend's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    NotConfigured(String),
}

pub trait Backend: Send + Sync + 'static {
    /// `GET {base}{path}`, with the trace headers.
    fn get(&self, path: &str, trace: &Trace) -> impl Future<Output = Result<BackendResponse, BackendError>> + Send;
}

impl<B: Backend> Backend for std::sync::Arc<B> {
    fn get(&self, path: &str, trace: &Trace) -> impl Future<Output = Result<BackendResponse, BackendError>> + Send {
        B::get(self, path, trace)
    }
}

/// A function whose contract says `"backend": false` is built without one.
impl<B: Backend> Backend for Option<B> {
    async fn get(&self, path: &str, trace: &Trace) -> Result<BackendResponse, BackendError> {
        match self {
            Some(backend) => backend.get(path, trace).await,
            None => Err(no_backend()),
        }
    }
}

/// No backend, as a type (see [`crate::store::Absent`]).
impl Backend for crate::store::Absent {
    async fn get(&self, _: &str, _: &Trace) -> Result<BackendResponse, BackendError> {
        Err(no_backend())
    }
}

fn no_backend() -> BackendError {
    BackendError::NotConfigured("this function has no backend in api-lambdas/routes.json".into())
}
