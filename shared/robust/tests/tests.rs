//! Robust mode end to end: through a channel simulated here (blur, noise,
//! rescale, trim) and through the real ffmpeg (libx264 re-encodes,
//! downscales, trims, frame-rate changes).

mod reencode;
mod simulated;
mod support;
