//! The crate's one error type.
//!
//! The variants are chosen by what the caller should do next: `Unsupported`
//! means "the file is fine, this crate just cannot patch it; remux it with
//! ffmpeg (e.g. to a non-fragmented MP4) and try again", `Malformed` means the
//! file itself is broken, `InvalidRequest` and `Replacement` are the caller's
//! own mistakes, and `Io` is the disk or network.

use std::io;

/// Everything that can go wrong while reading or splicing a container.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The file is valid but uses a feature this crate cannot rewrite safely
    /// (fragmented MP4, external data references, encryption, laced video,
    /// compressed headers, ...). Remuxing with ffmpeg first usually helps.
    #[error("unsupported: {what} (remux the file with ffmpeg first)")]
    Unsupported {
        /// What exactly is unsupported.
        what: String,
    },
    /// The file is broken: truncated, sizes that do not add up, tables that
    /// point outside the file.
    #[error("malformed file: {detail}")]
    Malformed {
        /// What is wrong and where.
        detail: String,
    },
    /// The file has no video track.
    #[error("the file has no video track")]
    NoVideoTrack,
    /// The caller asked for something impossible: a sample index out of
    /// range, a [`VideoTrack`](crate::VideoTrack) read from another file, a
    /// replacement too large for the container's size fields.
    #[error("invalid request: {detail}")]
    InvalidRequest {
        /// What is wrong with the request.
        detail: String,
    },
    /// A replacement reader did not yield exactly the announced number of bytes.
    #[error("replacement for video sample {sample}: {detail}")]
    Replacement {
        /// Decode-order index of the sample.
        sample: usize,
        /// What went wrong.
        detail: String,
    },
    /// Reading the source or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl ContainerError {
    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        ContainerError::Malformed {
            detail: detail.into(),
        }
    }

    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        ContainerError::Unsupported { what: what.into() }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        ContainerError::InvalidRequest {
            detail: detail.into(),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = ContainerError> = std::result::Result<T, E>;
