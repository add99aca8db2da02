//! Integration tests against files made by the real ffmpeg and mkvmerge.
//!
//! Every fixture is checked against ffprobe (sample count, sizes, bytes,
//! keyframes), spliced with no replacements (must be byte-identical) and with
//! replacements of several sizes (ffprobe's packet list must be unchanged
//! except for the replaced packets, and ffmpeg must remux it without a word).

mod common;
mod malformed;
mod matroska;
mod mp4;
mod streaming;
