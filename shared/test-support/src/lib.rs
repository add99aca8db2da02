//! What the integration tests of several VidStega crates share: test videos
//! made with the system's ffmpeg from its lavfi sources, the check that the
//! local AWS-protocol servers are there, names unique to a run, and
//! temporary folders.
//!
//! A dev-dependency only. Nothing here skips: a missing ffmpeg or an
//! unreachable server fails the test with a message that says how to get
//! it, so a green run always means the real tools and servers ran.
//! Helpers that only one crate's tests use stay in that crate's `tests/`.
#![deny(missing_docs)]

mod aws;
mod ffmpeg;
mod files;

pub use aws::{check_endpoints, unique, ALL_ENDPOINTS, HOW_TO_START};
pub use ffmpeg::{audio_hashes, ffmpeg, ffprobe, ffprobe_json, make_video, picture, tone};
pub use files::tempdir;
