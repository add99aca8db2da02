//! Errors of robust mode.

use thiserror::Error;
use vidstega_core::{CoreError, ErrorClass};

/// Result of robust-mode operations.
pub type Result<T> = std::result::Result<T, RobustError>;

/// An error from embedding or extracting in robust mode.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RobustError {
    /// The caller's input is unusable (bad parameters, a frame of the wrong size, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The payload needs more room than the video offers.
    #[error(
        "the sealed payload is {payload_bytes} bytes but this video carries at most {max_payload_bytes} bytes \
         in robust mode ({preset} preset: {slots} data slots, each coded bit at least {min_repeat} times); \
         use a shorter message, a longer video or the normal preset"
    )]
    OverCapacity {
        /// Bytes of the sealed payload.
        payload_bytes: u64,
        /// Largest payload the video carries.
        max_payload_bytes: u64,
        /// Data slots of the video.
        slots: u64,
        /// The preset's fewest average copies per coded bit.
        min_repeat: f64,
        /// The preset's name.
        preset: &'static str,
    },

    /// No period header authenticated under this key anywhere in the video.
    #[error(
        "no robust-mode message found for this password: read {frames} frames ({windows} hold periods) \
         and no period header authenticated; the password is wrong, the video carries no robust-mode message, \
         or it was re-encoded far beyond what the preset survives"
    )]
    NotFound {
        /// Frames read.
        frames: u64,
        /// Hold periods examined.
        windows: u64,
    },

    /// The message was located but its error correction could not repair it.
    #[error(
        "the hidden message is damaged beyond repair: {failed_codewords} of {codewords} LDPC codewords failed \
         (raw bit error rate {slot_ber:.1}% per slot, {coverage:.0}% of coded bits received, \
         {periods_read} hold periods read where one full copy of the coded bits takes {periods_per_copy}); \
         {detail}"
    )]
    Damaged {
        /// Codewords whose parity checks never held.
        failed_codewords: usize,
        /// Codewords of the payload.
        codewords: usize,
        /// Estimated bit error rate of the slots before decoding, in percent.
        slot_ber: f64,
        /// Percentage of coded bits that at least one slot carried.
        coverage: f64,
        /// Hold periods that contributed.
        periods_read: u64,
        /// Hold periods one full copy of the coded bits (one interleaver lap) spans.
        periods_per_copy: u64,
        /// What the envelope layer said.
        detail: String,
    },

    /// An error of the hidden-data core (sealing, opening).
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl RobustError {
    /// How the caller should treat the failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            RobustError::Core(e) => e.class(),
            _ => ErrorClass::InvalidInput,
        }
    }
}
