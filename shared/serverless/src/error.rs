//! The error a handler returns to Lambda (and so to Step Functions).

use vidstega_pipeline::contract::ErrorType;
use vidstega_pipeline::{redact_urls, PipelineError};

/// A failed step: its type is what `Retry`/`Catch` match, its message is
/// what the job's `error` records. Never contains a signed URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// The class, as Step Functions sees it.
    pub error_type: ErrorType,
    /// What happened, for people.
    pub message: String,
}

impl StepError {
    /// An error of `error_type` with `message` (redacted).
    pub fn new(error_type: ErrorType, message: impl AsRef<str>) -> Self {
        StepError {
            error_type,
            message: redact_urls(message.as_ref()),
        }
    }

    /// The `Error` name Step Functions sees.
    pub fn error_type_name(&self) -> &'static str {
        self.error_type.as_str()
    }
}

impl From<PipelineError> for StepError {
    fn from(e: PipelineError) -> Self {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        StepError::new(ErrorType::of(&e), message)
    }
}

impl From<vidstega_core::CoreError> for StepError {
    fn from(e: vidstega_core::CoreError) -> Self {
        PipelineError::from(e).into()
    }
}
