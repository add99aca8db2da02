//! The payloads passed between the serverless functions and the state
//! machine, in one place. `events/*.json` are their canonical examples and a
//! test parses and re-serialises every one.
//!
//! Flow: a client gets presigned URLs from `presign` (which creates the job)
//! and uploads the video, the sealed payload and the placement key — or sends
//! a [`JobMessage`] to the jobs queue directly. S3 notifications and job
//! messages reach the `planner` through SQS; it plans the job and starts one
//! execution named after the job with an [`ExecutionInput`]. The Map state
//! runs `embed-segment` on each [`SegmentTask`]; then `concat` gets a
//! [`JobRef`] and returns a [`ConcatResult`]. Any uncaught error goes to
//! `mark-failed` as a [`FailureInput`].

use serde::{Deserialize, Serialize};

/// Where a job's objects live in the bucket.
pub mod keys {
    /// Prefix of client uploads (S3 notifications are filtered on it).
    pub const UPLOADS: &str = "uploads/";
    /// Prefix of work files (plan, segments), expired by a lifecycle rule.
    pub const WORK: &str = "jobs/";
    /// Prefix of outputs.
    pub const OUTPUTS: &str = "outputs/";

    /// The source video upload.
    pub fn video(job_id: &str) -> String {
        format!("{UPLOADS}{job_id}/video")
    }
    /// The sealed payload upload.
    pub fn payload(job_id: &str) -> String {
        format!("{UPLOADS}{job_id}/payload.sealed")
    }
    /// The placement key upload (32 bytes; deleted when the job ends).
    pub fn placement_key(job_id: &str) -> String {
        format!("{UPLOADS}{job_id}/placement.key")
    }
    /// The job's options ([`super::JobOptions`]), written before the uploads.
    pub fn options(job_id: &str) -> String {
        format!("{UPLOADS}{job_id}/options.json")
    }
    /// The stego video.
    pub fn output(job_id: &str, extension: &str) -> String {
        format!("{OUTPUTS}{job_id}.{extension}")
    }
    /// A carrier picture's new access unit (compact mode), by the decode-order
    /// index of the access unit it replaces.
    pub fn carrier(job_id: &str, sample: u64) -> String {
        format!("{WORK}{job_id}/carriers/{sample:010}.au")
    }
    /// A copy of the source in the output's container (compact mode, when the
    /// source's container cannot be patched or differs from the output's).
    pub fn remuxed_source(job_id: &str, extension: &str) -> String {
        format!("{WORK}{job_id}/source-copy.{extension}")
    }
    /// The source transcoded to H.264 (compact mode, when its video cannot
    /// hold carrier pictures).
    pub fn transcoded_source(job_id: &str, extension: &str) -> String {
        format!("{WORK}{job_id}/source-h264.{extension}")
    }
    /// The job id of an upload key (`uploads/<id>/...`), if it is one.
    pub fn job_of_upload(key: &str) -> Option<&str> {
        let rest = key.strip_prefix(UPLOADS)?;
        let (id, _) = rest.split_once('/')?;
        super::valid_job_id(id).then_some(id)
    }
}

/// How the stego video is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// A few carrier pictures rewritten as I_PCM slices, every other packet
    /// copied: about the source's size, plays wherever the source plays.
    #[default]
    Compact,
    /// Every frame re-encoded losslessly: the largest capacity, a huge file
    /// that only FFmpeg-based players play.
    Lossless,
    /// Every frame re-encoded by libx264 with the message in luma block
    /// means, protected by LDPC: a small capacity that survives lossy
    /// re-encoding and downscaling (`docs/robust.md`).
    Robust,
}

impl OutputMode {
    /// The mode of plans stored before modes existed.
    pub fn legacy() -> Self {
        OutputMode::Lossless
    }

    /// The name used in options and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputMode::Compact => "compact",
            OutputMode::Lossless => "lossless",
            OutputMode::Robust => "robust",
        }
    }
}

impl std::fmt::Display for OutputMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The output container a job asks for, named by its file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerName {
    /// Matroska (`.mkv`).
    Mkv,
    /// MP4 (`.mp4`).
    Mp4,
    /// QuickTime (`.mov`).
    Mov,
}

impl ContainerName {
    /// The extension, as options and keys spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerName::Mkv => "mkv",
            ContainerName::Mp4 => "mp4",
            ContainerName::Mov => "mov",
        }
    }

    /// The container of a job that names none: MP4 in compact mode (a
    /// source in another container is copied into it) and robust mode,
    /// Matroska in lossless mode.
    pub fn default_for(mode: OutputMode) -> Self {
        match mode {
            OutputMode::Compact | OutputMode::Robust => ContainerName::Mp4,
            OutputMode::Lossless => ContainerName::Mkv,
        }
    }

    /// The muxer family the pipeline writes.
    pub fn container(self) -> vidstega_media::OutputContainer {
        match self {
            ContainerName::Mkv => vidstega_media::OutputContainer::Matroska,
            ContainerName::Mp4 => vidstega_media::OutputContainer::Mp4,
            ContainerName::Mov => vidstega_media::OutputContainer::Mov,
        }
    }
}

impl std::fmt::Display for ContainerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The planes a job's bits go in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Planes {
    /// The luma plane only.
    Luma,
    /// Every plane.
    All,
}

impl Planes {
    /// The name options use.
    pub fn as_str(self) -> &'static str {
        match self {
            Planes::Luma => "luma",
            Planes::All => "all",
        }
    }

    /// The planes of a job that names none: all in compact mode (a carrier
    /// costs the same either way), luma in lossless mode; robust mode always
    /// embeds in luma.
    pub fn default_for(mode: OutputMode) -> Self {
        match mode {
            OutputMode::Compact => Planes::All,
            OutputMode::Lossless | OutputMode::Robust => Planes::Luma,
        }
    }

    /// The core's plane set.
    pub fn plane_set(self) -> vidstega_core::PlaneSet {
        match self {
            Planes::Luma => vidstega_core::PlaneSet::Luma,
            Planes::All => vidstega_core::PlaneSet::All,
        }
    }
}

impl std::fmt::Display for Planes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Robust mode's preset: how much re-encoding the message survives, traded
/// against capacity (`docs/robust.md` §10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Robustness {
    /// Survives libx264 CRF 23 at the source's size and a downscale to 720p
    /// at CRF 23.
    #[default]
    Normal,
    /// Survives a downscale to 480p at CRF 28; about a fifth of `normal`'s
    /// capacity.
    Strong,
}

impl Robustness {
    /// The name used in options and messages.
    pub fn as_str(self) -> &'static str {
        self.preset().name()
    }

    /// The robust core's preset.
    pub fn preset(self) -> vidstega_robust::Preset {
        match self {
            Robustness::Normal => vidstega_robust::Preset::Normal,
            Robustness::Strong => vidstega_robust::Preset::Strong,
        }
    }

    /// The option for a core preset.
    pub fn of(preset: vidstega_robust::Preset) -> Self {
        match preset {
            vidstega_robust::Preset::Normal => Robustness::Normal,
            vidstega_robust::Preset::Strong => Robustness::Strong,
        }
    }
}

impl std::fmt::Display for Robustness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `id` is a well-formed job id: 8 to 64 characters of `[A-Za-z0-9-_]`
/// (it names the Step Functions execution, which allows at most 80).
pub fn valid_job_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A job message sent straight to the jobs queue (instead of, or as well as,
/// relying on the upload notifications). The placement key is always read
/// from [`keys::placement_key`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    /// The job id (from `presign`, or chosen by the sender).
    pub job_id: String,
    /// Key of the source video (default `uploads/<id>/video`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_key: Option<String>,
    /// Key of the sealed payload (default `uploads/<id>/payload.sealed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_key: Option<String>,
    /// Output container (default [`ContainerName::default_for`] the mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerName>,
    /// Planes that carry bits (default [`Planes::default_for`] the mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planes: Option<Planes>,
    /// How the output is written (default compact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<OutputMode>,
    /// Compact mode: the largest fraction of a carrier's samples that carry
    /// a bit, in (0, 1] (default 0.25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// Robust mode: the preset (default normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<Robustness>,
}

/// A job's options, stored at [`keys::options`] before its uploads (by
/// `presign`, or by a client using the queue), so that whichever upload
/// notification starts the job, it starts with these options. Fields a job
/// message sets take precedence; once a job is planned its options are fixed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// Output container (default [`ContainerName::default_for`] the mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerName>,
    /// Planes that carry bits (default [`Planes::default_for`] the mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planes: Option<Planes>,
    /// How the output is written (default compact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<OutputMode>,
    /// Compact mode: the largest fraction of a carrier's samples that carry
    /// a bit, in (0, 1] (default 0.25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// Robust mode: the preset (default normal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<Robustness>,
}

/// One presigned upload in [`JobCreated`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedUpload {
    /// The HTTP method (`PUT`).
    pub method: String,
    /// The presigned URL (a bearer credential until it expires: never log it).
    pub url: String,
    /// The object key it writes.
    pub key: String,
}

/// The uploads of a new job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobUploads {
    /// The source video.
    pub video: PresignedUpload,
    /// The sealed payload.
    pub payload: PresignedUpload,
    /// The placement key (32 bytes).
    pub placement_key: PresignedUpload,
}

/// The answer of `POST /jobs` (presign): the body of that request is a
/// [`JobOptions`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCreated {
    /// The new job's id.
    pub job_id: String,
    /// Where to PUT each file.
    pub uploads: JobUploads,
    /// How long the upload URLs are valid.
    pub expires_in_seconds: u64,
    /// Where the output will be.
    pub output_key: String,
    /// How to PUT (headers).
    pub note: String,
}

/// The answer of `GET /jobs/<id>` (status).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The job's id.
    pub job_id: String,
    /// Where it is.
    pub stage: crate::records::Stage,
    /// Segments finished.
    pub segments_done: u32,
    /// Segments planned (0 before planning).
    pub segments_total: u32,
    /// Why it failed, for a failed job.
    pub error: Option<String>,
    /// When it was created (Unix ms).
    pub created_ms: u64,
    /// When it last changed (Unix ms).
    pub updated_ms: u64,
    /// `updated_ms - created_ms`.
    pub elapsed_ms: u64,
    /// Each segment's embedding time, if finished.
    pub segment_millis: Vec<Option<u64>>,
    /// The output's key, for a done job.
    pub output_key: Option<String>,
    /// A short-lived presigned GET of the output, for a done job (a bearer
    /// credential: never log it).
    pub output_url: Option<String>,
}

/// The body of every error answer of the functions' URLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// A lane by video length (docs/deploy.md, "Lanes by video length"): the
/// queue a job is planned from, and the embed-segment and concat functions
/// its execution runs on (each lane's have their own concurrency).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    /// Short videos: the jobs queue, planned at once; the express lane's
    /// functions.
    #[default]
    Express,
    /// Long videos: their own queue and planner concurrency, and the long
    /// lane's functions.
    Long,
}

impl Lane {
    /// The name logged, recorded and put in the execution input.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Express => "express",
            Lane::Long => "long",
        }
    }
}

/// The input of one execution of the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionInput {
    /// The lane whose embed-segment and concat functions the execution
    /// invokes (the state machine maps it to them; an input without one,
    /// as older planners wrote, runs on the express lane's).
    #[serde(default)]
    pub lane: Lane,
    /// The job.
    pub job_id: String,
    /// Bucket of every object of the job.
    pub bucket: String,
    /// Key of the plan.
    pub plan_key: String,
    /// Key of the Map items (a JSON array of [`SegmentTask`]), for the
    /// Distributed Map's ItemReader when the plan is too large to pass inline.
    pub items_key: String,
    /// Segments in the plan.
    pub segment_count: u32,
    /// The Map items inline (empty when `distributed`).
    pub segments: Vec<SegmentTask>,
    /// Whether the Distributed Map reads `items_key` instead of `segments`.
    pub distributed: bool,
}

/// One Map item: a segment to embed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentTask {
    /// The job.
    pub job_id: String,
    /// The segment's index in the plan.
    pub index: u32,
}

/// What `embed-segment` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentResult {
    /// The job.
    pub job_id: String,
    /// The segment.
    pub index: u32,
    /// Frames embedded.
    pub frames: u64,
    /// Wall time, in milliseconds.
    pub millis: u64,
    /// Whether it had been done before (a retry or duplicate): nothing was redone.
    pub already_done: bool,
}

/// A job named by id (the input of `concat`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    /// The job.
    pub job_id: String,
}

/// What `concat` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcatResult {
    /// The job.
    pub job_id: String,
    /// Key of the stego video.
    pub output_key: String,
    /// Its size.
    pub bytes: u64,
    /// Audio streams copied.
    pub audio_streams: usize,
    /// Wall time, in milliseconds.
    pub millis: u64,
}

/// The error Step Functions' `Catch` passes on (`ResultPath: $.error`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    /// The error type: [`ErrorType`] names for our functions, `States.*` for the service's.
    #[serde(rename = "Error")]
    pub error: String,
    /// The message (for Lambda errors, a JSON document with `errorMessage`).
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// The input of `mark-failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureInput {
    /// The job.
    pub job_id: String,
    /// What went wrong.
    pub error: CaughtError,
}

/// The error types our functions raise; the state machine's `Retry` matches
/// [`ErrorType::Retryable`] only, and `Catch` sends everything to `mark-failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// Transient: throttling, network, a killed process. Retried with backoff.
    Retryable,
    /// The input is unusable (not a video, too large a message). Not retried.
    InvalidInput,
    /// A bug or an inconsistent state. Not retried.
    Fatal,
}

impl ErrorType {
    /// The name Step Functions sees as `Error`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Retryable => "VidStega.Retryable",
            ErrorType::InvalidInput => "VidStega.InvalidInput",
            ErrorType::Fatal => "VidStega.Fatal",
        }
    }

    /// The type of a pipeline error.
    pub fn of(error: &crate::PipelineError) -> Self {
        match error.class() {
            vidstega_core::ErrorClass::Retryable => ErrorType::Retryable,
            vidstega_core::ErrorClass::InvalidInput => ErrorType::InvalidInput,
            vidstega_core::ErrorClass::Fatal => ErrorType::Fatal,
        }
    }
}

impl FailureInput {
    /// A one-line reason for the job table: the function's `errorMessage`
    /// when the cause is a Lambda error document, else the cause itself.
    pub fn reason(&self) -> String {
        let message = serde_json::from_str::<serde_json::Value>(&self.error.cause)
            .ok()
            .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| self.error.cause.clone());
        let message: String = message.chars().take(1000).collect();
        let message = message.trim();
        if message.is_empty() {
            self.error.error.clone()
        } else {
            format!("{}: {message}", self.error.error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_typed_and_spelled_as_the_wire_spells_them() {
        let o: JobOptions =
            serde_json::from_str(r#"{"container":"mov","planes":"luma","mode":"lossless","max_rate":0.5}"#)
                .unwrap();
        assert_eq!(o.container, Some(ContainerName::Mov));
        assert_eq!(o.planes, Some(Planes::Luma));
        assert_eq!(o.mode, Some(OutputMode::Lossless));
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"container":"mov","planes":"luma","mode":"lossless","max_rate":0.5}"#
        );
        // A value outside the enums is refused with the ones allowed.
        let e = serde_json::from_str::<JobOptions>(r#"{"container":"avi"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("avi") && e.contains("mkv") && e.contains("mov"), "{e}");
        let e = serde_json::from_str::<JobMessage>(r#"{"job_id":"job-12345678","planes":"rgb"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("luma") && e.contains("all"), "{e}");
        // Defaults follow the mode.
        assert_eq!(
            ContainerName::default_for(OutputMode::Compact),
            ContainerName::Mp4
        );
        assert_eq!(
            ContainerName::default_for(OutputMode::Lossless),
            ContainerName::Mkv
        );
        assert_eq!(Planes::default_for(OutputMode::Compact), Planes::All);
        assert_eq!(Planes::default_for(OutputMode::Lossless), Planes::Luma);
    }

    #[test]
    fn upload_keys_name_their_job() {
        assert_eq!(
            keys::job_of_upload("uploads/job-1234abcd/video"),
            Some("job-1234abcd")
        );
        assert_eq!(keys::job_of_upload("uploads/x/video"), None);
        assert_eq!(keys::job_of_upload("outputs/job-1234abcd.mkv"), None);
        assert_eq!(keys::job_of_upload("uploads/job 1234abcd/video"), None);
    }

    #[test]
    fn failure_reason_prefers_the_lambda_message() {
        let f = FailureInput {
            job_id: "job-1234abcd".into(),
            error: CaughtError {
                error: "VidStega.InvalidInput".into(),
                cause:
                    r#"{"errorType":"VidStega.InvalidInput","errorMessage":"the video has no video stream"}"#
                        .into(),
            },
        };
        assert_eq!(f.reason(), "VidStega.InvalidInput: the video has no video stream");
        let g = FailureInput {
            job_id: "job-1234abcd".into(),
            error: CaughtError {
                error: "States.Timeout".into(),
                cause: "".into(),
            },
        };
        assert_eq!(g.reason(), "States.Timeout");
    }
}
