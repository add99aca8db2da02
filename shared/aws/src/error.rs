//! How SDK failures become pipeline errors: a short summary (never a URL) and
//! whether retrying may help.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use thiserror::Error;
use vidstega_pipeline::PipelineError;

/// Error codes AWS services use for throttling and transient server trouble
/// (the same families the SDK's own retry classifier knows).
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
    "TransactionConflict",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
];

/// What went wrong with one SDK call.
pub(crate) struct Failure {
    /// A one-line description with the service's error code, if any.
    pub summary: String,
    /// Whether retrying may help.
    pub retryable: bool,
    /// The service's error code (e.g. `NoSuchKey`).
    pub code: Option<String>,
    /// The HTTP status of an error response.
    pub status: Option<u16>,
}

/// Whether a service error code names throttling or a transient fault.
pub(crate) fn retryable_code(code: &str) -> bool {
    RETRYABLE_CODES.contains(&code)
}

/// The `Display` texts of an error and its sources, joined with ": ".
///
/// Only `Display`, never `Debug`: debug forms carry endpoints and raw
/// requests, and the whole error stays attached as the source anyway.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Classifies an SDK error: throttling, 5xx, timeouts and dispatch failures
/// are retryable; everything else is not.
pub(crate) fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ConstructionFailure(_) => Failure {
            summary: format!("the request could not be built: {}", chain(err)),
            retryable: false,
            code: None,
            status: None,
        },
        SdkError::TimeoutError(_) => Failure {
            summary: "the request timed out".into(),
            retryable: true,
            code: None,
            status: None,
        },
        SdkError::DispatchFailure(d) => Failure {
            summary: format!("the service could not be reached: {}", chain(err)),
            // A "user" connector error is a problem with the request itself
            // (e.g. a body that cannot be read), not with the network.
            retryable: !d.is_user(),
            code: None,
            status: None,
        },
        SdkError::ResponseError(_) => Failure {
            summary: format!("the response could not be read: {}", chain(err)),
            retryable: true,
            code: None,
            status: None,
        },
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = err.code().map(str::to_string);
            let retryable = status >= 500 || status == 429 || code.as_deref().is_some_and(retryable_code);
            let summary = match (code.as_deref(), err.message()) {
                (Some(c), Some(m)) if !m.is_empty() => format!("{c}: {m}"),
                (Some(c), _) => c.to_string(),
                (None, Some(m)) if !m.is_empty() => format!("HTTP {status}: {m}"),
                _ => format!("HTTP {status}"),
            };
            Failure {
                summary,
                retryable,
                code,
                status: Some(status),
            }
        }
        // `SdkError` is non-exhaustive.
        _ => Failure {
            summary: chain(err),
            retryable: false,
            code: None,
            status: None,
        },
    }
}

/// A `PipelineError::Store` for a failed S3 call on `key`.
pub(crate) fn store_error<E>(
    what: &str,
    bucket: &str,
    key: &str,
    err: SdkError<E, HttpResponse>,
) -> PipelineError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let f = classify(&err);
    PipelineError::Store {
        message: format!("cannot {what} {key:?} in bucket {bucket:?}: {}", f.summary),
        retryable: f.retryable,
        source: Some(Box::new(err)),
    }
}

/// A `PipelineError::Jobs` for a failed DynamoDB call.
pub(crate) fn jobs_error<E>(what: &str, table: &str, err: SdkError<E, HttpResponse>) -> PipelineError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let f = classify(&err);
    PipelineError::Jobs {
        message: format!("cannot {what} (table {table:?}): {}", f.summary),
        retryable: f.retryable,
        source: Some(Box::new(err)),
    }
}

/// An error from the SQS or Step Functions clients, or from setting up AWS
/// resources for tests and local use.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AwsError {
    /// A service call failed.
    #[error("{service}: {message}")]
    Service {
        /// `sqs`, `stepfunctions`, `s3` or `dynamodb`.
        service: &'static str,
        /// What failed, with the resource's name (never a URL with credentials).
        message: String,
        /// Whether retrying may help (throttling, 5xx, timeouts, network).
        retryable: bool,
        /// The SDK error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A message could not be encoded or decoded as JSON.
    #[error("cannot encode or decode a JSON message: {0}")]
    Json(#[from] serde_json::Error),
}

impl AwsError {
    /// Whether retrying may help.
    pub fn retryable(&self) -> bool {
        match self {
            AwsError::Service { retryable, .. } => *retryable,
            AwsError::Json(_) => false,
        }
    }

    pub(crate) fn service<E>(service: &'static str, what: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let f = classify(&err);
        AwsError::Service {
            service,
            message: format!("cannot {what}: {}", f.summary),
            retryable: f.retryable,
            source: Some(Box::new(err)),
        }
    }
}
