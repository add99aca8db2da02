//! The rows of the job table and the plan the steps share.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Accepted, not yet planned.
    Queued,
    /// Planned; segments are being embedded.
    Embedding,
    /// All segments done; joining them with the audio.
    Concatenating,
    /// The output is written.
    Done,
    /// Stopped for the recorded reason.
    Failed,
}

impl Stage {
    /// Whether the job can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Stage::Done | Stage::Failed)
    }

    /// The name stored in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::Embedding => "embedding",
            Stage::Concatenating => "concatenating",
            Stage::Done => "done",
            Stage::Failed => "failed",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "queued" => Stage::Queued,
            "embedding" => Stage::Embedding,
            "concatenating" => Stage::Concatenating,
            "done" => Stage::Done,
            "failed" => Stage::Failed,
            other => return Err(format!("unknown stage {other:?}")),
        })
    }
}

/// A job row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job id (also the Step Functions execution name).
    pub job_id: String,
    /// Where the job is.
    pub stage: Stage,
    /// Key of the source video.
    pub video_key: String,
    /// Key of the sealed payload (envelope).
    pub envelope_key: String,
    /// Key the output goes to.
    pub output_key: String,
    /// Segments in the plan (0 until planned).
    pub segments_total: u32,
    /// Segments embedded.
    pub segments_done: u32,
    /// Why the job failed.
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch at creation.
    pub created_ms: u64,
    /// Milliseconds since the Unix epoch at the last change.
    pub updated_ms: u64,
}

impl JobRecord {
    /// A new queued job.
    pub fn new(job_id: &str, video_key: &str, envelope_key: &str, output_key: &str) -> Self {
        let now = now_ms();
        JobRecord {
            job_id: job_id.to_string(),
            stage: Stage::Queued,
            video_key: video_key.to_string(),
            envelope_key: envelope_key.to_string(),
            output_key: output_key.to_string(),
            segments_total: 0,
            segments_done: 0,
            error: None,
            created_ms: now,
            updated_ms: now,
        }
    }
}

/// A segment row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// Position in the plan.
    pub index: u32,
    /// First frame (display order).
    pub frame_start: u64,
    /// One past the last frame.
    pub frame_end: u64,
    /// First payload bit.
    pub bit_start: u64,
    /// One past the last payload bit.
    pub bit_end: u64,
    /// Whether the segment's encoded file is stored.
    pub done: bool,
    /// Milliseconds embedding took.
    pub millis: Option<u64>,
}

/// What concat recorded about a job's output object, so that a retried
/// concat resumes instead of writing it again: the object it completed
/// (its size and the store's tag of its content, the S3 ETag) and whether
/// it was verified. A retry trusts the record only while the object at the
/// output key still has that size and tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// The output key the object was written to.
    pub key: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The store's tag of its content (S3: the ETag); `None` for a store
    /// that has none (a local folder), where the size alone is compared.
    pub tag: Option<String>,
    /// Whether the object passed the step's verification (compact mode:
    /// read back, carriers in place; robust mode: extracted; lossless mode:
    /// its size is what was streamed).
    pub verified: bool,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A carrier picture of a compact-mode plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierRecord {
    /// Position among the carriers (decoding order): which payload bits it holds.
    pub rank: u64,
    /// Index among the candidate pictures: what keys its positions.
    pub candidate: u64,
    /// Decode-order index of the access unit it replaces.
    pub sample: u64,
    /// Display index of that picture (what the decoder is asked for).
    pub display: u64,
    /// The segment that embeds it.
    pub segment: u32,
}
