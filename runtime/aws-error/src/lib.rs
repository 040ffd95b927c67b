//! A failed AWS SDK call, the same way in every adapter: the operation, the
//! error code and message AWS answered with (for logs and for deciding what
//! to do), and the SDK error itself kept as the [`std::error::Error::source`],
//! so nothing of the chain is lost on the way to the edge.

use std::error::Error;
use std::fmt::Debug;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct AwsError {
    /// The SDK operation, such as `PutItem`.
    pub operation: &'static str,
    /// AWS's error code, or the kind of failure when AWS did not answer
    /// (`dispatch failure`, `timeout`, …).
    pub code: String,
    pub message: String,
    #[source]
    source: Box<dyn Error + Send + Sync>,
}

impl AwsError {
    pub fn new<E, R>(operation: &'static str, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + Error + Send + Sync + 'static,
        R: Debug + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_owned).unwrap_or_else(|| failure_kind(&error).to_owned());
        let message = error.message().map(str::to_owned).unwrap_or_else(|| innermost_message(&error));
        AwsError { operation, code, message, source: Box::new(error) }
    }

    /// AWS refused for load, not for the request itself: worth another try
    /// after a pause (the SDK's own retries already gave up on it).
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_str(),
            "ThrottlingException"
                | "Throttling"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
        )
    }
}

fn failure_kind<E, R>(error: &SdkError<E, R>) -> &'static str {
    match error {
        SdkError::ConstructionFailure(_) => "construction failure",
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ServiceError(_) => "service error",
        _ => "request failed",
    }
}

/// The deepest cause's text: for a connection refused, that is the part
/// that says so.
fn innermost_message(error: &(dyn Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
