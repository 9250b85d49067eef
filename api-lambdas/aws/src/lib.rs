//! The serverless side's adapters: [`DynamoItemStore`] implements the store
//! port on DynamoDB, [`HttpBackend`] the backend port over HTTP.
//!
//! Every AWS call has a timeout and bounded retries (the SDK's standard
//! retry mode, which retries throttling and 5xx); errors are classified here,
//! once, into "retry later" and "needs a person".

#![forbid(unsafe_code)]

mod dynamo;
mod http_backend;
pub mod tls;

pub use dynamo::{sdk_config, DynamoItemStore, Endpoint};
pub use http_backend::{HttpBackend, MAX_BACKEND_BODY_BYTES};

/// An error and its causes on one line (the SDK's and reqwest's top-level
/// messages alone are often just "dispatch failure" or "error sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
