//! The serverless suite end to end against AWS-protocol servers on
//! 127.0.0.1 (moto for S3, SQS and Step Functions; DynamoDB Local), with the
//! real SDK clients and the real handlers (the flows are in `common/`, which
//! the IAM conformance test runs too):
//!
//! presign → presigned PUTs of a real video, the sealed payload and the
//! placement key → S3 notifications land in SQS → planner (fed the received
//! messages, duplicates included) → one execution of the real state machine
//! definition, run by moto's engine (its Lambda tasks echo) → every Map item
//! through embed-segment → concat streams the output to S3 → the output
//! extracts to the exact message, and the job item says done.
//!
//! Also: the same in lossless mode; a permanently failing segment marks the job failed with its reason
//! and leaves nothing under the output key; late uploads keep a job waiting
//! and a retried planner reuses its stored plan; the definition's Catch path
//! runs in moto's engine; lanes by video length (a short video planned on
//! the express lane, a long one sent on to the long lane's queue and planned
//! from there, the threshold honoured). Timings are printed for the cost
//! model.

use crate::common::{self, AfterUpload, Cloud, Video};
use vidstega_pipeline::contract::OutputMode;

#[test]
fn presigned_uploads_to_extractable_output() {
    common::presigned_uploads_to_extractable_output(&Cloud::new(), Video::Small, OutputMode::Compact, "mkv");
}

#[test]
fn a_lossless_job_runs_through_every_function() {
    common::presigned_uploads_to_extractable_output(&Cloud::new(), Video::Small, OutputMode::Lossless, "mkv");
}

#[test]
fn a_robust_job_runs_through_every_function_and_its_output_extracts() {
    common::presigned_uploads_to_extractable_output(&Cloud::new(), Video::Small, OutputMode::Robust, "mp4");
}

#[test]
fn permanent_failures_mark_the_job_failed_and_write_no_output() {
    common::permanent_failures_mark_the_job_failed_and_write_no_output(&Cloud::new());
}

#[test]
fn a_broken_placement_key_is_refused_at_planning() {
    common::a_broken_placement_key_is_refused_at_planning(&Cloud::new());
}

#[test]
fn late_uploads_wait_and_a_retried_planner_reuses_the_stored_plan() {
    common::late_uploads_wait_and_a_retried_planner_reuses_the_stored_plan(&Cloud::new());
}

#[test]
fn stuck_jobs_are_failed_by_the_sweeper() {
    common::stuck_jobs_are_failed_by_the_sweeper(&Cloud::new());
}

#[test]
fn definition_catch_path_runs_in_the_engine() {
    common::definition_catch_path_runs_in_the_engine(&Cloud::new());
}

#[test]
fn a_short_video_takes_the_express_lane_and_a_long_one_the_long_lane() {
    // Up to 4 s: the 2-second video is express, the 6-second one long.
    common::lanes_by_video_length(&Cloud::with_express_max_seconds(4));
}

#[test]
fn the_express_lane_threshold_is_honoured() {
    // Up to 10 s: both videos are planned on the express lane.
    common::lanes_by_video_length(&Cloud::with_express_max_seconds(10));
}

#[test]
fn a_compact_concat_retried_after_its_upload_verifies_the_stored_output_and_does_not_write_it_again() {
    // A source over the multipart threshold: the output is a multipart
    // upload, which the retry must not repeat.
    let writes = common::a_concat_retry_resumes_from_the_stored_output(
        &Cloud::new(),
        OutputMode::Compact,
        Video::Large,
        AfterUpload::ReadingTheOutput,
    );
    assert!(
        writes.iter().any(|w| w == "CompleteMultipartUpload"),
        "{writes:?}"
    );
}

#[test]
fn a_lossless_concat_retried_after_the_job_is_done_only_deletes_the_key() {
    common::a_concat_retry_resumes_from_the_stored_output(
        &Cloud::new(),
        OutputMode::Lossless,
        Video::Small,
        AfterUpload::DeletingTheKey,
    );
}
