//! The media layer against the system's ffmpeg and ffprobe, on videos made
//! with FFmpeg's lavfi sources: one test binary, one module per area.
//! (`missing_tools.rs` is a binary of its own: it changes process-wide
//! environment variables.)

mod common;

mod concat;
mod decode;
mod encode;
mod probe;
