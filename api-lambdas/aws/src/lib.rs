//! The serverless side's adapters: [`DynamoStore`] implements the store
//! port on DynamoDB, [`HttpBackend`] the backend port over HTTP.
//!
//! Every AWS call has a timeout and bounded retries (the SDK's standard
//! retry mode, which retries throttling and 5xx); errors are classified here,
//! once, into "retry later" and "needs a person".

mod dynamo;
mod http_backend;

pub use dynamo::{sdk_config, DynamoStore, Endpoint};
pub use http_backend::{HttpBackend, MAX_BACKEND_BODY_BYTES};
