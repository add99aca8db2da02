//! The two ports every pipeline step works through.
//!
//! [`ObjectStore`] holds objects by key (the uploaded video, the sealed
//! payload, the plan, encoded segments, the output); [`JobStore`] is the job
//! and segment table. The local adapters are a folder and SQLite; the AWS
//! adapters are S3 and DynamoDB. Ports are synchronous: the steps are driven
//! by ffmpeg processes and rayon, and an async adapter blocks on its runtime
//! from the worker thread that runs the step.
//!
//! Video moves as files and pipes, never as whole byte vectors: ffmpeg reads
//! an object through [`ObjectStore::media_source`] (a path, or a URL)
//! and segments are uploaded from files.

use crate::error::Result;
use crate::records::{JobRecord, OutputRecord, SegmentRecord, Stage};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where ffmpeg reads an object from.
#[derive(Clone, PartialEq, Eq)]
pub enum MediaSource {
    /// A local file.
    Path(PathBuf),
    /// A URL (e.g. the S3 adapter's loopback server). Never printed: it
    /// may be a bearer credential.
    Url(String),
}

impl MediaSource {
    /// The argument to give ffmpeg's `-i`.
    pub fn ffmpeg_input(&self) -> &str {
        match self {
            MediaSource::Path(p) => p.to_str().unwrap_or_default(),
            MediaSource::Url(u) => u,
        }
    }
}

impl fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaSource::Path(p) => write!(f, "Path({})", p.display()),
            MediaSource::Url(_) => f.write_str("Url(<signed, redacted>)"),
        }
    }
}

/// An object's size and the store's tag of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectStat {
    /// Its size in bytes.
    pub bytes: u64,
    /// The store's tag of its content (S3: the ETag, which changes whenever
    /// other content is written under the key); `None` if the store has none.
    pub tag: Option<String>,
}

/// Objects by key, like an S3 bucket.
pub trait ObjectStore: Send + Sync {
    /// Where ffmpeg, run by this process, can read `key` from without
    /// staging the whole object.
    fn media_source(&self, key: &str) -> Result<MediaSource>;
    /// A URL from which a client elsewhere can download `key` (e.g. a
    /// presigned S3 GET: a bearer credential, never logged), or `None` when
    /// the store has none (a local folder).
    fn download_url(&self, key: &str) -> Result<Option<String>> {
        let _ = key;
        Ok(None)
    }
    /// The object's size, or `None` if it does not exist.
    fn size(&self, key: &str) -> Result<Option<u64>>;
    /// The object's size and content tag, or `None` if it does not exist.
    /// Stores without tags give the size alone.
    fn stat(&self, key: &str) -> Result<Option<ObjectStat>> {
        Ok(self.size(key)?.map(|bytes| ObjectStat { bytes, tag: None }))
    }
    /// Bytes `range` of the object (for a segment's share of the sealed payload).
    fn read_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>>;
    /// A whole small object (plans, sealed payloads).
    fn read_all(&self, key: &str) -> Result<Vec<u8>>;
    /// Writes a small object.
    fn write_bytes(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Stores a local file under `key` (may move it: the file is gone afterwards).
    fn put_file(&self, key: &str, file: &Path) -> Result<()>;
    /// Stores everything `reader` yields under `key`, without holding it all
    /// in memory or on local disk (S3: a multipart upload). Returns the bytes
    /// stored. On error nothing is left under `key`.
    fn put_stream(&self, key: &str, reader: &mut dyn std::io::Read) -> Result<u64>;
    /// Deletes an object (absent is fine).
    fn delete(&self, key: &str) -> Result<()>;
    /// Keys under a prefix, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// A URL a client can `PUT` the object to without credentials, valid for
    /// `ttl_seconds` (S3 presigning). Stores that cannot sign say so.
    fn presign_put(&self, key: &str, ttl_seconds: u64) -> Result<String> {
        let _ = ttl_seconds;
        Err(crate::PipelineError::InvalidInput(format!(
            "this object store cannot sign upload URLs (asked for {key})"
        )))
    }
}

/// What [`JobStore::create_job`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// A new job row was written.
    New,
    /// A job with this id already existed; here it is.
    Existing(JobRecord),
}

/// What [`JobStore::finish_segment`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// The segment was marked done now and the job's counter went up.
    Now {
        /// Segments done after this one.
        done: u32,
    },
    /// It was already done (a retry or a duplicate): nothing changed.
    Already,
}

/// The job and segment table, like one DynamoDB table.
///
/// Every write is conditional or idempotent, so retried and duplicated
/// requests change nothing the second time.
pub trait JobStore: Send + Sync {
    /// Writes a new job unless one with its id exists.
    fn create_job(&self, job: &JobRecord) -> Result<Created>;
    /// A job by id.
    fn job(&self, job_id: &str) -> Result<Option<JobRecord>>;
    /// Records the plan: the segment rows and the total, and moves the job to
    /// [`Stage::Embedding`]. Writing the same plan again is harmless.
    fn put_segments(&self, job_id: &str, segments: &[SegmentRecord]) -> Result<()>;
    /// The job's segments, by index.
    fn segments(&self, job_id: &str) -> Result<Vec<SegmentRecord>>;
    /// Marks a segment done (once) and counts it on the job.
    fn finish_segment(&self, job_id: &str, index: u32, millis: u64) -> Result<Finished>;
    /// Moves the job to `stage`, recording `error` for [`Stage::Failed`].
    /// A job that is done or failed stays so.
    fn set_stage(&self, job_id: &str, stage: Stage, error: Option<&str>) -> Result<()>;
    /// Records (or replaces) what concat wrote to the job's output, for a
    /// retried concat to resume from. Only a job that is neither done nor
    /// failed takes a record; a missing job is a conflict.
    fn record_output(&self, job_id: &str, output: &OutputRecord) -> Result<()>;
    /// The output recorded for the job by [`JobStore::record_output`], if any
    /// (a strongly consistent read).
    fn output(&self, job_id: &str) -> Result<Option<OutputRecord>>;
    /// Jobs that are neither done nor failed and have not changed since
    /// `idle_since_ms` (ms since the Unix epoch): candidates for the sweeper.
    fn idle_jobs(&self, idle_since_ms: u64) -> Result<Vec<JobRecord>>;
    /// Counts one job for `caller` in the quota window starting at
    /// `window_start_ms`, unless `limit` are counted there already: `true`
    /// when counted (admitted), `false` when the caller is at the limit.
    /// Atomic: concurrent calls never count past the limit.
    fn take_quota(&self, caller: &str, window_start_ms: u64, limit: u32) -> Result<bool>;
}

/// A job's execution of the state machine: started by the planner,
/// described and stopped by the sweeper, counted by presign's admission
/// control. The AWS adapter is `vidstega_aws::SfnWorkflow`.
pub trait Workflow: Send + Sync {
    /// Starts the execution named `job_id` with `input`. `Ok(false)` when an
    /// execution of that name already exists (a duplicate start is harmless).
    fn start(&self, job_id: &str, input: &crate::contract::ExecutionInput) -> Result<bool>;
    /// The state of the execution named `job_id`, `None` if none was started.
    fn state(&self, job_id: &str) -> Result<Option<ExecutionState>>;
    /// Stops the running execution named `job_id` with `cause`.
    fn stop(&self, job_id: &str, cause: &str) -> Result<()>;
    /// Jobs admitted and not finished: messages waiting in the job queue plus
    /// executions running, counted up to `at_most` (counting stops there).
    fn active_jobs(&self, at_most: u64) -> Result<u64>;
}

/// Where a job's execution is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutionState {
    /// Still running.
    Running,
    /// Ended: `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`, ...
    Ended(String),
}
