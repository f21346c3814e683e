//! SDK errors → [`StoreError`]: throttling, retryable failures, and the rest.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use ddbrep_engine::io::StoreError;

/// Error codes that mean "slow down" (DynamoDB's and S3's).
const THROTTLING: [&str; 7] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
];

/// Error codes worth retrying although their status may not say so.
const TRANSIENT: [&str; 4] = [
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
];

/// The error code of a service error, if the request got that far.
pub fn code<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Option<&str> {
    match e {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

/// The HTTP status of a service error.
pub fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    match e {
        SdkError::ServiceError(ctx) => Some(ctx.raw().status().as_u16()),
        SdkError::ResponseError(ctx) => Some(ctx.raw().status().as_u16()),
        _ => None,
    }
}

/// A readable one-line description: `ResourceNotFoundException: Requested resource not found`, or the
/// transport failure with its causes.
pub fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => format!("{code} (HTTP {})", ctx.raw().status().as_u16()),
                _ => format!("HTTP {}: {}", ctx.raw().status().as_u16(), DisplayErrorContext(e)),
            }
        }
        _ => DisplayErrorContext(e).to_string(),
    }
}

/// Classifies an SDK error for the job: throttling, transient (5xx, timeouts, broken connections), or fatal.
pub fn classify<E>(what: &str, e: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = format!("{what}: {}", describe(e));
    if let Some(code) = code(e) {
        if THROTTLING.contains(&code) {
            return StoreError::Throttled;
        }
        if TRANSIENT.contains(&code) {
            return StoreError::Transient(text);
        }
        if code == "ValidationException" {
            return StoreError::Rejected(text);
        }
    }
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Transient(text)
        }
        _ if status(e).is_some_and(|s| s == 503) => StoreError::Throttled,
        _ if status(e).is_some_and(|s| s >= 500) => StoreError::Transient(text),
        _ => StoreError::Fatal(text),
    }
}
