//! The `concat` step: join the encoded segments, copy every audio stream of
//! the source, and check the result.

use crate::error::{PipelineError, Result};
use crate::plan::{source_path, Plan};
use crate::ports::{JobStore, ObjectStore};
use crate::records::Stage;
use std::path::Path;
use vidstega_media::{concat, ConcatOptions, ConcatReport, EncodedSegment, MediaInfo, SegmentCodec};

/// Checks that every segment of `plan` is done and stored, moves the job to
/// [`Stage::Concatenating`], and lists the segments for joining, each read
/// through the store's media source (a file, or a signed URL).
pub fn joinable_segments(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    plan: &Plan,
    media: &MediaInfo,
    codec: SegmentCodec,
) -> Result<Vec<EncodedSegment>> {
    let rows = jobs.segments(&plan.job_id)?;
    let missing: Vec<u32> = rows.iter().filter(|s| !s.done).map(|s| s.index).collect();
    if !missing.is_empty() || rows.len() != plan.segments.len() {
        return Err(PipelineError::Conflict(format!(
            "job {} cannot be joined yet: segments {missing:?} are not done",
            plan.job_id
        )));
    }
    jobs.set_stage(&plan.job_id, Stage::Concatenating, None)?;
    let frame_rate = media.video.frame_rate();
    let mut segments = Vec::with_capacity(plan.segments.len());
    for s in &plan.segments {
        let key = plan.segment_key(s.index);
        if objects.size(&key)?.is_none() {
            return Err(PipelineError::Conflict(format!(
                "segment {} of job {} is marked done but its file {key} is missing",
                s.index, plan.job_id
            )));
        }
        segments.push(EncodedSegment {
            path: source_path(objects.media_source(&key)?),
            frames: s.frame_end - s.frame_start,
            frame_rate,
            codec,
        });
    }
    Ok(segments)
}

/// Joins `plan`'s segments with the source's audio into `output` (a local
/// path; the caller moves it to its final place).
pub fn concat_segments(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    plan: &Plan,
    media: &MediaInfo,
    codec: SegmentCodec,
    output: &Path,
    options: &ConcatOptions,
) -> Result<ConcatReport> {
    let segments = joinable_segments(objects, jobs, plan, media, codec)?;
    Ok(concat(&segments, media, output, options)?)
}
