//! Pipeline errors, each with the class that decides retry, rejection or alert.

use thiserror::Error;
use vidstega_container::ContainerError;
use vidstega_core::{CoreError, ErrorClass};
use vidstega_h264::H264Error;
use vidstega_media::MediaError;

/// An error from a pipeline step or a port.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The hidden-data core refused or failed.
    #[error(transparent)]
    Core(#[from] CoreError),

    /// ffmpeg/ffprobe failed or the media is unusable.
    #[error(transparent)]
    Media(#[from] MediaError),

    /// Robust mode's core refused or could not read the message.
    #[error(transparent)]
    Robust(#[from] vidstega_robust::RobustError),

    /// The container (MP4/MOV, Matroska) could not be read or rewritten.
    #[error("the video's container: {0}")]
    Container(#[from] ContainerError),

    /// The H.264 stream could not be read, or cannot hold carrier pictures.
    #[error(transparent)]
    H264(#[from] H264Error),

    /// An object store failed.
    #[error("object store: {message}")]
    Store {
        /// What failed, with the key (never a URL).
        message: String,
        /// Whether retrying may help (throttling, network).
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The job/segment table failed.
    #[error("job table: {message}")]
    Jobs {
        /// What failed.
        message: String,
        /// Whether retrying may help.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The input is not something VidStega can work with.
    #[error("{0}")]
    InvalidInput(String),

    /// The job is not in a state where this step can run.
    #[error("{0}")]
    Conflict(String),

    /// A step's result disagrees with its plan: a decoder or encoder gave
    /// other frames than planned, or an output read back is not what was
    /// written. Usually a read or write that failed part-way, so worth
    /// another try; a retry that meets it again fails the job with it.
    #[error("{0}")]
    Mismatch(String),

    /// A worker panicked (a bug): caught so the run ends with this error
    /// rather than the process ending.
    #[error("internal error (please report it): a worker stopped: {0}")]
    Panicked(String),

    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl PipelineError {
    /// The class Step Functions and the CLI act on.
    pub fn class(&self) -> ErrorClass {
        match self {
            PipelineError::Core(e) => e.class(),
            PipelineError::Media(e) => media_class(e),
            PipelineError::Robust(e) => e.class(),
            PipelineError::Container(ContainerError::Io(e)) => io_class(e),
            PipelineError::Container(ContainerError::InvalidRequest { .. })
            | PipelineError::Container(ContainerError::Replacement { .. }) => ErrorClass::Fatal,
            PipelineError::Container(_) | PipelineError::H264(_) => ErrorClass::InvalidInput,
            PipelineError::Store { retryable, .. } | PipelineError::Jobs { retryable, .. } => {
                if *retryable {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Fatal
                }
            }
            PipelineError::InvalidInput(_) => ErrorClass::InvalidInput,
            PipelineError::Conflict(_) => ErrorClass::InvalidInput,
            PipelineError::Mismatch(_) => ErrorClass::Retryable,
            PipelineError::Panicked(_) => ErrorClass::Fatal,
            PipelineError::Io { source, .. } => io_class(source),
        }
    }

    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PipelineError::Io {
            context: context.into(),
            source,
        }
    }
}

fn io_class(e: &std::io::Error) -> ErrorClass {
    match e.kind() {
        std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut => ErrorClass::Retryable,
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => ErrorClass::InvalidInput,
        _ => ErrorClass::Fatal,
    }
}

/// Result alias for the pipeline.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// The class of an ffmpeg-layer failure.
pub fn media_class(e: &MediaError) -> ErrorClass {
    use MediaError as M;
    match e {
        M::EmptyFile { .. }
        | M::NotMedia { .. }
        | M::NoVideoStream { .. }
        | M::Truncated { .. }
        | M::VariableFrameRate { .. }
        | M::UnsupportedFrameFormat { .. }
        | M::IncompatibleContainer { .. }
        | M::FrameSize { .. }
        | M::InvalidRange { .. } => ErrorClass::InvalidInput,
        // ffmpeg failing on a URL input because the network or the server
        // failed is worth another try; failing on the video is not.
        M::ProcessFailed { stderr, .. } => match vidstega_media::network_failure(&stderr.0) {
            Some((_, true)) => ErrorClass::Retryable,
            Some((_, false)) => ErrorClass::Fatal,
            None => ErrorClass::InvalidInput,
        },
        M::Spawn { .. } | M::Pipe { .. } => ErrorClass::Retryable,
        M::Unreachable { transient: true, .. } => ErrorClass::Retryable,
        M::Unreachable { transient: false, .. } => ErrorClass::Fatal,
        M::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => ErrorClass::InvalidInput,
            _ => ErrorClass::Retryable,
        },
        _ => ErrorClass::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vidstega_media::{StderrTail, Tool};

    fn failed(stderr: &str) -> PipelineError {
        PipelineError::Media(MediaError::ProcessFailed {
            tool: Tool::Ffmpeg,
            action: "decoding".into(),
            status: "exit status: 1".into(),
            stderr: StderrTail(stderr.into()),
        })
    }

    /// The classes decide what Step Functions does: Retryable is retried,
    /// InvalidInput fails the job blaming the input, Fatal fails it as ours.
    #[test]
    fn errors_are_classed_by_cause() {
        let table: Vec<(PipelineError, ErrorClass)> = vec![
            (
                failed("[tcp @ 0x1] Failed to resolve hostname bucket.s3.amazonaws.com: Name or service not known"),
                ErrorClass::Retryable,
            ),
            (failed("[http @ 0x1] Stream ends prematurely at 1000, should be 5000"), ErrorClass::Retryable),
            (failed("HTTP error 503 Service Unavailable; Server returned 5XX Server Error reply"), ErrorClass::Retryable),
            (failed("[tcp @ 0x1] Connection to tcp://127.0.0.1:9 failed: Connection refused"), ErrorClass::Retryable),
            (failed("Server returned 403 Forbidden (access denied)"), ErrorClass::Fatal),
            (failed("Server returned 404 Not Found"), ErrorClass::Fatal),
            (failed("[h264 @ 0x1] Invalid NAL unit size; Error while decoding stream"), ErrorClass::InvalidInput),
            (
                PipelineError::Media(MediaError::Unreachable {
                    detail: "the server answered with a 5xx error".into(),
                    transient: true,
                    stderr: StderrTail::default(),
                }),
                ErrorClass::Retryable,
            ),
            (
                PipelineError::Media(MediaError::NotMedia {
                    path: "v.mp4".into(),
                    stderr: StderrTail::default(),
                }),
                ErrorClass::InvalidInput,
            ),
            (PipelineError::Mismatch("decoded 10 of 12 frames".into()), ErrorClass::Retryable),
            (PipelineError::Conflict("job j failed before".into()), ErrorClass::InvalidInput),
            (PipelineError::InvalidInput("too large".into()), ErrorClass::InvalidInput),
            (
                PipelineError::Store {
                    message: "throttled".into(),
                    retryable: true,
                    source: None,
                },
                ErrorClass::Retryable,
            ),
            (
                PipelineError::io("reading", std::io::Error::from(std::io::ErrorKind::TimedOut)),
                ErrorClass::Retryable,
            ),
        ];
        for (error, class) in table {
            assert_eq!(error.class(), class, "{error}");
        }
    }
}
