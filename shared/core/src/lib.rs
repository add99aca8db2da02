//! # vidstega-core
//!
//! The hidden-data core of VidStega: where the bits of a message go in a
//! video, how they are protected, and how they come back. It is pure,
//! synchronous Rust over byte slices and 8-bit frame planes — no I/O, no
//! ffmpeg, no async runtime, no cloud SDK — so the video pipeline, the CLI and
//! the Lambda functions all share it. `docs/format.md` specifies the format it
//! implements, to the bit.
//!
//! The flow:
//!
//! 1. **Seal** (on the client, [`seal`]): message → deflate (if it helps) →
//!    AES-256-GCM under a key from PBKDF2-HMAC-SHA256 (random salt, 600,000
//!    iterations by default, both recorded) → Reed–Solomon stripes with a
//!    CRC-32 per shard → an [`Envelope`].
//! 2. **Place** ([`Layout::for_embedding`]): from the [`PlacementKey`] (derived
//!    from the password alone, safe to give a service), the frame geometry and
//!    the frame count, decide which body bits each frame carries
//!    ([`BitSchedule`]) and at which samples ([`FramePermutation`]).
//! 3. **Embed** ([`Layout::embed_frame`]): per frame, independently of every
//!    other frame, by ±1 LSB matching.
//! 4. **Extract** ([`Layout::locate`] on any frame, then
//!    [`Layout::extract_frame`] per frame into a [`BodyAssembly`]) and
//!    **open** ([`Layout::open`]), repairing lost or damaged shards.
#![deny(missing_docs)]

mod assembly;
mod bits;
mod capacity;
mod carriers;
mod envelope;
mod error;
mod geometry;
mod header;
mod keys;
mod layout;
mod permutation;
mod schedule;

pub use assembly::BodyAssembly;
pub use bits::{byte_span, BodyBits};
pub use capacity::{capacity, max_message_len, Capacity};
pub use carriers::{carriers_needed, CarrierOrder};
pub use envelope::{
    seal, seal_with_salt, slot_checksum, unseal, Envelope, EnvelopeHeader, SealParams, ENVELOPE_HEADER_LEN,
    ENVELOPE_MAGIC, FORMAT_VERSION, MAX_MESSAGE_LEN, OLDEST_FORMAT_VERSION, SHARD_CHECKSUM_LEN, TAG_LEN,
};
pub use error::{CoreError, ErrorClass, Result};
pub use geometry::{FrameGeometry, PlaneDims, PlaneSet};
pub use header::{FrameHeader, LayoutKind, FRAME_HEADER_LEN, HEADER_BITS};
pub use keys::{
    seal_for_placement, KeyOrigin, PlacementKey, DEFAULT_KDF_ITERATIONS, MIN_KDF_ITERATIONS,
    PLACEMENT_ITERATIONS, PLACEMENT_SALT, SALTED_PLACEMENT_LABEL, SALTED_PLACEMENT_VERSION,
};
pub use layout::{
    check_fits, salt_slot, FrameCheck, FrameStats, Layout, Slot, MIN_FRAME_SAMPLES, PICTURE_OVERHEAD_BITS,
    SALT_SLOT_BITS,
};
pub use permutation::{mix64, FramePermutation};
pub use schedule::BitSchedule;
