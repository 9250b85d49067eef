//! One classification of AWS failures for every adapter.

use std::error::Error;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// IAM said no (or the credentials are bad): a person must act; retrying
    /// changes nothing.
    Denied,
    /// Throttled, timed out, a 5xx or a network failure, still so after the
    /// SDK's retries: worth trying again later.
    Unavailable,
    /// The call itself was refused (validation, a missing resource): fix the
    /// configuration.
    Rejected,
}

/// A failed AWS call: which IAM action, what kind of failure, what AWS said.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AwsFailure {
    /// The IAM action, e.g. `cloudfront-keyvaluestore:PutKey`.
    pub action: &'static str,
    pub kind: FailureKind,
    /// The service's error code, when it sent one.
    pub code: Option<String>,
    pub message: String,
}

const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
];

const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottledException",
    "LimitExceededException",
];

impl AwsFailure {
    pub fn from_sdk<E>(action: &'static str, err: &SdkError<E, HttpResponse>) -> AwsFailure
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        let code = err.code().map(str::to_owned);
        let status = err.raw_response().map(|r| r.status().as_u16());
        let kind = match (&code, err) {
            (Some(code), _) if DENIED.contains(&code.as_str()) => FailureKind::Denied,
            (_, _) if status == Some(403) => FailureKind::Denied,
            (Some(code), _) if THROTTLED.contains(&code.as_str()) => FailureKind::Unavailable,
            (_, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)) => {
                FailureKind::Unavailable
            }
            _ if status.is_some_and(|s| s >= 500 || s == 429) => FailureKind::Unavailable,
            _ => FailureKind::Rejected,
        };
        let detail = match (err, err.message()) {
            // What the service said, without the SDK's debug dump.
            (SdkError::ServiceError(_), Some(message)) => format!("{}: {message}", code.as_deref().unwrap_or("error")),
            (SdkError::ServiceError(_), None) => match status {
                Some(status) => format!("{} (HTTP {status})", code.as_deref().unwrap_or("error")),
                None => code.clone().unwrap_or_else(|| "error".into()),
            },
            _ => chain(err),
        };
        let message = match kind {
            FailureKind::Denied => format!(
                "{action} was denied ({}): grant `{action}` to the controller's IAM role (infra/controller-policy.json lists \
                 every action the controller needs), or check its credentials. AWS said: {detail}",
                code.as_deref().unwrap_or("HTTP 403")
            ),
            FailureKind::Unavailable => {
                format!("{action} failed after {} attempts, retried later: {detail}", crate::MAX_ATTEMPTS)
            }
            FailureKind::Rejected => format!("{action} was refused: {detail}"),
        };
        AwsFailure { action, kind, code, message }
    }

    /// Whether the same call later may succeed.
    pub fn retryable(&self) -> bool {
        self.kind == FailureKind::Unavailable
    }
}

/// An error and its causes on one line, without debug output: a transport
/// failure's cause is usually three levels down.
fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
