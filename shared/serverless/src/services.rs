//! What handlers work with: the ports and the settings, built once per
//! function instance.

use std::path::PathBuf;
pub use vidstega_pipeline::{ExecutionState, Workflow};
use vidstega_pipeline::{JobStore, ObjectStore, PlanSettings};

/// Settings read once from the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The bucket holding every object.
    pub bucket: String,
    /// Local scratch space for one segment file (Lambda: /tmp).
    pub scratch: PathBuf,
    /// Planning: codec, limits, segment lengths, Map concurrency.
    pub plan: PlanSettings,
    /// Above this many segments the plan goes to the Distributed Map through
    /// S3 instead of inline in the execution input (256 KB state limit).
    pub inline_map_limit: usize,
    /// Lifetime of presigned upload URLs, in seconds.
    pub presign_ttl_seconds: u64,
    /// Days a job's items live in the job table (DynamoDB TTL).
    pub job_record_days: u64,
    /// Admission control: presign answers 429 while this many jobs are
    /// queued or running (0: no limit).
    pub max_active_jobs: u64,
    /// The job queue (its depth counts toward the active jobs), if known.
    pub jobs_queue_url: Option<String>,
    /// Per-caller quota: jobs one caller (IAM principal, or source IP for
    /// public URLs) may create per clock hour (0: no quota).
    pub max_jobs_per_caller_hour: u32,
}

/// The ports and settings a handler uses.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    /// Objects (S3, or a folder in tests).
    pub objects: &'a dyn ObjectStore,
    /// Jobs and segments (DynamoDB, or SQLite in tests).
    pub jobs: &'a dyn JobStore,
    /// The state machine.
    pub workflow: &'a dyn Workflow,
    /// Settings.
    pub settings: &'a Settings,
}
