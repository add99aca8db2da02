//! # vidstega-h264
//!
//! The H.264 layer of VidStega's compact mode. Compact mode keeps a video
//! stream-copied, byte for byte, except a few *carrier* pictures that it
//! replaces by a slice of I_PCM macroblocks holding the decoded picture
//! with the hidden bits in its samples' least significant bits. This crate
//! knows just enough H.264 for that:
//!
//! - NAL units in container samples and Annex B streams ([`nal`]);
//! - parameter sets and the picture shape they define ([`ParameterSets`],
//!   [`PictureShape`]), parsed with the `h264-reader` crate;
//! - which access units may become carriers ([`eligible_carriers`]) — a
//!   rule on NAL unit headers alone, which a carrier keeps, so the same
//!   pictures are eligible before and after embedding;
//! - writing a carrier ([`write_carrier`]) and reading one back
//!   ([`read_carrier`]), with CAVLC or CABAC entropy coding (the I_PCM
//!   parts of clause 9.3: the `mb_type` bins, the terminate bin, the flush
//!   before the samples and the re-initialisation after them).
//!
//! It is pure, synchronous Rust over byte slices: no I/O, no ffmpeg.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bits;
mod cabac;
mod carrier;
mod error;
pub mod nal;
mod params;

pub use bits::{escape, unescape};
pub use carrier::{
    carrier_candidates, eligible_carriers, read_carrier, write_carrier, AccessUnitKind, Candidates,
    CarrierRead,
};
pub use error::H264Error;
pub use params::{ChromaSampling, ParameterSets, PictureShape};
