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
        | M::InvalidRange { .. }
        | M::ProcessFailed { .. } => ErrorClass::InvalidInput,
        M::Spawn { .. } | M::Pipe { .. } => ErrorClass::Retryable,
        M::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => ErrorClass::InvalidInput,
            _ => ErrorClass::Retryable,
        },
        _ => ErrorClass::Fatal,
    }
}
