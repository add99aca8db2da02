//! The `embed-segment` function: one Map item.

use crate::error::StepError;
use crate::planner::media_key;
use crate::services::Services;
use vidstega_core::PlacementKey;
use vidstega_media::MediaInfo;
use vidstega_pipeline::contract::{keys, ErrorType, OutputMode, SegmentResult, SegmentTask};
use vidstega_pipeline::{
    embed_carriers, embed_segment, source_path, NoProgress, ObjectStore, Plan, SegmentOutcome,
};

/// Loads a job's plan, and its probe result pointed at a readable source.
pub fn load_plan(objects: &dyn ObjectStore, job_id: &str) -> Result<(Plan, MediaInfo), StepError> {
    let fatal = |what: &str, e: serde_json::Error| {
        StepError::new(ErrorType::Fatal, format!("{what} of job {job_id}: {e}"))
    };
    let plan: Plan =
        serde_json::from_slice(&objects.read_all(&Plan::key(job_id))?).map_err(|e| fatal("the plan", e))?;
    let mut media: MediaInfo = serde_json::from_slice(&objects.read_all(&media_key(job_id))?)
        .map_err(|e| fatal("the probe result", e))?;
    media.path = source_path(objects.media_source(plan.source())?);
    Ok((plan, media))
}

/// Reads the job's placement key (32 bytes uploaded by the client). Its
/// size is checked first: an upload of any other size is refused without
/// being read, so a huge one costs no memory.
pub fn load_key(objects: &dyn ObjectStore, job_id: &str) -> Result<PlacementKey, StepError> {
    let key = keys::placement_key(job_id);
    match objects.size(&key)? {
        Some(32) => {}
        Some(n) => {
            return Err(StepError::new(
                ErrorType::InvalidInput,
                format!("the placement key of job {job_id} is {n} bytes, not 32"),
            ))
        }
        None => {
            return Err(StepError::new(
                ErrorType::InvalidInput,
                format!("the placement key of job {job_id} was not uploaded"),
            ))
        }
    }
    let bytes = objects.read_all(&key)?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        StepError::new(
            ErrorType::InvalidInput,
            format!(
                "the placement key of job {job_id} is {} bytes, not 32",
                bytes.len()
            ),
        )
    })?;
    Ok(PlacementKey::from_bytes(bytes))
}

/// Embeds one segment (idempotent: a finished segment is not redone).
pub fn handle(task: &SegmentTask, svc: &Services<'_>) -> Result<SegmentResult, StepError> {
    let (plan, media) = load_plan(svc.objects, &task.job_id)?;
    let key = load_key(svc.objects, &task.job_id)?;
    let outcome = match plan.mode {
        OutputMode::Compact => embed_carriers(
            svc.objects,
            svc.jobs,
            &plan,
            &media,
            task.index,
            &key,
            // Each segment has its function's cores to itself.
            None,
            &NoProgress,
        )?,
        OutputMode::Lossless | OutputMode::Robust => embed_segment(
            svc.objects,
            svc.jobs,
            &svc.settings.scratch,
            &plan,
            &media,
            plan.segment_codec(svc.settings.plan.codec),
            task.index,
            &key,
            &NoProgress,
        )?,
    };
    let seg = &plan.segments[task.index as usize];
    if let SegmentOutcome::Embedded { millis, .. } = &outcome {
        crate::metrics::emit(
            crate::metrics::SEGMENT_MILLIS,
            *millis as f64,
            crate::metrics::Unit::Milliseconds,
            &[],
            Some(&task.job_id),
        );
    }
    Ok(match outcome {
        SegmentOutcome::Embedded { frames, millis, .. } => SegmentResult {
            job_id: task.job_id.clone(),
            index: task.index,
            frames,
            millis,
            already_done: false,
        },
        SegmentOutcome::AlreadyDone => SegmentResult {
            job_id: task.job_id.clone(),
            index: task.index,
            frames: match plan.mode {
                OutputMode::Compact => plan.segment_carriers(task.index).count() as u64,
                OutputMode::Lossless | OutputMode::Robust => seg.frame_end - seg.frame_start,
            },
            millis: 0,
            already_done: true,
        },
    })
}
