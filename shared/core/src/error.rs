//! Errors of the hidden-data core.
//!
//! Every error says what happened and what the user can do about it, and knows
//! its [`ErrorClass`], so the layers above (the CLI's exit codes, Step
//! Functions' `Retry`/`Catch`) can act on the class without parsing messages.

use thiserror::Error;

/// How a failure should be handled by whoever called the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// A transient condition (e.g. the OS random source was briefly unavailable); retrying may succeed.
    Retryable,
    /// The caller's input is wrong (bad password, too large a message, damaged video); retrying cannot help.
    InvalidInput,
    /// A bug or an unexpected internal state; needs a developer.
    Fatal,
}

/// An error from sealing, placement, embedding or opening.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The message to hide has no bytes.
    #[error("the message is empty: there is nothing to hide (give a non-empty text or file)")]
    EmptyMessage,

    /// The message is larger than the format can describe.
    #[error("the message is {len} bytes; the format holds at most {max} bytes after compression")]
    MessageTooLarge {
        /// Bytes after optional compression.
        len: u64,
        /// The largest size the format allows.
        max: u64,
    },

    /// No header authenticated under this password's placement key.
    #[error(
        "no hidden message found for this password: the password is wrong, or this video carries no VidStega message"
    )]
    NoMessage,

    /// The header authenticated but declares a format this build cannot read.
    #[error(
        "the hidden message uses format version {found}, but this VidStega reads versions 1 to {supported}; upgrade VidStega"
    )]
    UnsupportedVersion {
        /// Version found in the header.
        found: u16,
        /// Highest version this build reads.
        supported: u16,
    },

    /// More shards were lost than the parity can rebuild.
    #[error(
        "the hidden message is damaged beyond repair: stripe {stripe} lost {stripe_lost} of its {stripe_shards} shards \
         but parity can rebuild at most {stripe_parity} ({lost_shards} of {total_shards} shards lost in all); \
         use the original stego file, or embed again with more parity"
    )]
    Damaged {
        /// The first stripe that cannot be rebuilt.
        stripe: u32,
        /// Shards that stripe lost (missing or failing their checksum).
        stripe_lost: u32,
        /// Shards per stripe (data + parity).
        stripe_shards: u32,
        /// Parity shards per stripe: the most a stripe can lose.
        stripe_parity: u32,
        /// Shards lost over the whole payload.
        lost_shards: u64,
        /// Shards in the whole payload.
        total_shards: u64,
    },

    /// Sealed bytes opened with a password that does not decrypt them.
    #[error(
        "wrong password: the sealed message does not decrypt with it (or the sealed bytes were altered)"
    )]
    WrongPassword,

    /// The password is right (the header authenticated) but the ciphertext fails authentication.
    #[error(
        "the hidden message was altered: its shards pass their checksums but the encryption tag does not verify; \
         the file was tampered with"
    )]
    Tampered,

    /// Sealed bytes that are not a VidStega envelope or are inconsistent.
    #[error("not a valid VidStega sealed payload: {0}")]
    InvalidEnvelope(String),

    /// A frame with too few samples to carry the header.
    #[error(
        "frames of {width}x{height} have {samples} usable samples; VidStega needs at least {min} per frame \
         (e.g. 32x32) to carry its header"
    )]
    FrameTooSmall {
        /// Width of the first plane.
        width: u32,
        /// Height of the first plane.
        height: u32,
        /// Samples in the selected planes.
        samples: u64,
        /// The minimum.
        min: u64,
    },

    /// Plane buffers that do not match the declared geometry.
    #[error("frame data does not match its geometry: {0}")]
    InvalidFrame(String),

    /// The payload needs more bits than the video can carry.
    #[error(
        "the payload needs {needed_bits} bits but {frames} frames carry at most {available_bits} \
         ({per_frame_bits} per frame after the header); {hint}"
    )]
    CapacityExceeded {
        /// Bits the sealed body needs.
        needed_bits: u64,
        /// Bits the video can carry.
        available_bits: u64,
        /// Frames in the video.
        frames: u64,
        /// Payload bits one frame can carry.
        per_frame_bits: u64,
        /// What would fit.
        hint: String,
    },

    /// An invalid setting.
    #[error("invalid setting: {0}")]
    InvalidParameter(String),

    /// The operating system's random source failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),

    /// Decompression failed after successful authentication (cannot happen with our own writer).
    #[error("the hidden message authenticated but did not decompress: {0}")]
    Decompression(String),
}

impl CoreError {
    /// The class that decides retry / reject / alert.
    pub fn class(&self) -> ErrorClass {
        match self {
            CoreError::Random(_) => ErrorClass::Retryable,
            CoreError::Decompression(_) => ErrorClass::Fatal,
            _ => ErrorClass::InvalidInput,
        }
    }
}

/// Result alias for the core.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
