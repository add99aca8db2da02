//! The pipeline crate's own integration tests, in one test binary: its
//! steps run one by one over the local adapters (`steps`: plan,
//! embed-segment, concat or splice, extract; a folder as the bucket, SQLite
//! as the job table, videos made with ffmpeg), and the class of every error
//! (`error_classes`), which decides what Step Functions retries.
//!
//! Needs ffmpeg/ffprobe on PATH; fails (never skips) without them.

mod job;

mod error_classes;
mod packets;
mod steps;
