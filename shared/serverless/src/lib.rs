//! # vidstega-serverless
//!
//! The handlers behind VidStega's Lambda functions, written against the
//! pipeline's ports plus one more ([`Workflow`], "start, describe and stop
//! a job's execution"),
//! so the function binaries in `functions/` are a few lines of wiring and the
//! handlers run in tests on the sample events in `events/`, with local or AWS
//! adapters.
//!
//! | function | handler | input → output |
//! |---|---|---|
//! | planner | [`planner::handle_in_lanes`] | SQS batch (S3 notifications, job messages) → batch item failures; long jobs sent on to the long lane ([`lane`]) |
//! | embed-segment | [`segment::handle`] | [`SegmentTask`] → [`SegmentResult`] |
//! | concat | [`concat::handle`] | [`JobRef`] → [`ConcatResult`] |
//! | mark-failed | [`failure::handle`] | [`FailureInput`] → [`JobRef`] |
//! | presign | [`http::presign`] | Function URL request → job id + upload URLs |
//! | status | [`http::status`] | Function URL request → job stage and counts |
//! | sweeper | [`sweeper::handle`] | a schedule → stuck jobs failed, saying why |
//!
//! Errors leave as [`StepError`], whose type (`VidStega.Retryable`,
//! `VidStega.InvalidInput`, `VidStega.Fatal`) is what the state machine's
//! `Retry` and `Catch` match; messages are stripped of URL signatures.
#![deny(missing_docs)]

pub mod concat;
mod error;
pub mod failure;
pub mod http;
pub mod lane;
pub mod metrics;
pub mod planner;
pub mod segment;
mod services;
pub mod sweeper;
mod trigger;

pub use error::StepError;
pub use lane::{JobQueue, Lane, LaneSettings, Lanes};
pub use services::{ExecutionState, Services, Settings, Workflow};
pub use trigger::{parse_trigger, Trigger};
pub use vidstega_pipeline::contract::{
    ConcatResult, ExecutionInput, FailureInput, JobMessage, JobRef, SegmentResult, SegmentTask,
};
