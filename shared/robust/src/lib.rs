//! # vidstega-robust
//!
//! VidStega's *robust mode* core: a sealed payload (a `vidstega-core`
//! [`Envelope`](vidstega_core::Envelope)) carried on the Hann-weighted means
//! of a grid of luma cells, so that it survives lossy re-encoding, rescaling,
//! trimming and frame-rate changes. Like the core it is pure Rust over 8-bit
//! planes — no ffmpeg, no I/O — so the pipeline can call it per frame and per
//! segment. `docs/robust.md` specifies the scheme to the bit and records what
//! it survives.
//!
//! * **Grid** ([`RobustParams::rows`]): `R × C` cells, fractions of the frame,
//!   so a rescaled video is read on the same grid; each cell's statistic is its
//!   Hann-weighted mean luma.
//! * **Modulation**: keyed dithered QIM with step `Δ` on that statistic; the
//!   change is the Hann window itself (smooth, no block edges), optionally
//!   shaped by texture and weakened in flat cells.
//! * **Holding**: every frame of a hold period (`floor(t / T)`) carries the
//!   same bits; the extractor combines the frames of a period softly, weighting
//!   each by its measured agreement.
//! * **Code**: LDPC (CCSDS TM2048, rate 1/2, soft min-sum) over the payload;
//!   coded bits are spread over every data cell of every period by keyed
//!   permutations, repeating as room allows; the envelope's Reed–Solomon layer
//!   and AES-GCM's tag come last.
//! * **Sync**: every period carries a 64-bit authenticated header (period
//!   index, payload length) in TC128 code on keyed cells, so a trimmed or
//!   re-timed video is located from any of its periods.
//! * **Steganalysis**: [`HoldCoherenceDetector`] and [`PeriodicityDetector`]
//!   are keyless detectors that measure what an adversary who knows the
//!   scheme can see; the first separates cover and stego (robust mode hides
//!   the message, not its presence).
//!
//! ```no_run
//! use vidstega_core::{seal, PlacementKey};
//! use vidstega_robust::{robust_seal_params, Embedder, Extractor, ExtractorConfig, Preset, VideoInfo};
//! # fn frames() -> Vec<Vec<u8>> { vec![] }
//! let message = b"meet at noon";
//! let envelope = seal(message, b"pw", &robust_seal_params(message.len() as u64, 600_000))?;
//! let key = PlacementKey::derive(b"pw");
//! let info = VideoInfo { width: 1920, height: 1080, fps: 30.0, frames: 300 };
//! let mut embedder = Embedder::new(&envelope.to_bytes(), &key, &Preset::Normal.params(), info)?;
//! let mut video = frames();
//! for (i, luma) in video.iter_mut().enumerate() {
//!     embedder.embed_frame(i as u64, luma)?;
//! }
//! // … encode, share, re-encode, decode (any size) …
//! let mut extractor = Extractor::new(&key, ExtractorConfig::new(30.0))?;
//! for luma in &video {
//!     extractor.push_frame(luma, 1920, 1080)?;
//! }
//! let found = extractor.finish()?;
//! assert_eq!(found.open(b"pw")?, message);
//! # Ok::<(), vidstega_robust::RobustError>(())
//! ```
#![deny(missing_docs)]

mod code;
mod detect;
mod embed;
mod error;
mod extract;
mod grid;
mod keys;
mod layout;
mod params;

pub use detect::{HoldCoherenceDetector, HoldCoherenceScore, PeriodicityDetector, PeriodicityScore};
pub use embed::{EmbedStats, Embedder, FrameCheck, ReadBack, VideoInfo};
pub use error::{Result, RobustError};
pub use extract::{ExtractReport, Extracted, Extractor, ExtractorConfig};
pub use grid::MIN_CELL_PIXELS;
pub use layout::{HEADER_CODED_BITS, MAX_PAYLOAD_BYTES};
pub use params::{capacity, envelope_len, robust_seal_params, Capacity, Preset, RobustParams};

/// Coded bits (`M`) of a payload of `bytes` bytes: `8·bytes` information bits
/// plus 1024 parity bits per LDPC codeword of 1024 information bits.
pub fn coded_bits(bytes: usize) -> usize {
    code::PayloadCode::coded_bits_for(bytes)
}
