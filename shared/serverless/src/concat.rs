//! The `concat` function: join the segments with the source's audio,
//! streaming the result into the output object (a multipart upload), never
//! staging it on local disk; then mark the job done and drop its key.

use crate::error::StepError;
use crate::segment::{load_key, load_plan};
use crate::services::Services;
use std::time::Instant;
use vidstega_media::{concat_to_stream, OutputContainer};
use vidstega_pipeline::contract::{keys, ConcatResult, ErrorType, JobRef, OutputMode};
use vidstega_pipeline::{
    joinable_segments, plan_carrier_splice, source_path, splice_reader, verify_robust_output, verify_splice,
    NoProgress, ObjectReader, PipelineError, Plan, Stage,
};

/// Joins a job's segments (lossless and robust modes; a robust output is
/// then extracted once to check it) or splices its carriers into the
/// source (compact mode), into its output, and marks it done.
pub fn handle(job: &JobRef, svc: &Services<'_>) -> Result<ConcatResult, StepError> {
    let started = Instant::now();
    let (plan, media) = load_plan(svc.objects, &job.job_id)?;
    if plan.mode == OutputMode::Compact {
        return splice(job, &plan, media.audio.len(), started, svc);
    }
    // A job reaching concat with unfinished segments is a bug, not bad input.
    let codec = plan.segment_codec(svc.settings.plan.codec);
    let segments = joinable_segments(svc.objects, svc.jobs, &plan, &media, codec).map_err(|e| match e {
        PipelineError::Conflict(m) => StepError::new(ErrorType::Fatal, m),
        e => e.into(),
    })?;
    let container = OutputContainer::from_path(plan.output_key.as_ref()).map_err(PipelineError::from)?;
    let mut upload_error = None;
    let mut sink = |reader: &mut dyn std::io::Read| match svc.objects.put_stream(&plan.output_key, reader) {
        Ok(n) => Ok(n),
        Err(e) => {
            let io = std::io::Error::other(e.to_string());
            upload_error = Some(e);
            Err(io)
        }
    };
    let joined = concat_to_stream(&segments, &media, container, &mut sink);
    let (report, bytes) = match (joined, upload_error) {
        (_, Some(e)) => return Err(e.into()),
        (Err(e), None) => return Err(PipelineError::from(e).into()),
        (Ok(r), None) => r,
    };
    // The stored object must be every byte ffmpeg wrote (a lost or doubled
    // part would not be); a mismatch is retried.
    let stored = svc.objects.size(&plan.output_key)?;
    if stored != Some(bytes) {
        return Err(PipelineError::Mismatch(format!(
            "the output {} holds {stored:?} bytes but {bytes} were streamed",
            plan.output_key
        ))
        .into());
    }
    if plan.mode == OutputMode::Robust {
        // The closed loop's last check: the stored output must give back the
        // payload. One that does not fails the step before the job is done
        // (a retry overwrites it; mark-failed deletes it), so it is never
        // delivered.
        let key = load_key(svc.objects, &job.job_id)?;
        let stored = source_path(svc.objects.media_source(&plan.output_key)?);
        verify_robust_output(svc.objects, &plan, &key, &stored, &NoProgress)?;
    }
    svc.jobs.set_stage(&job.job_id, Stage::Done, None)?;
    // The key is no longer needed; segments expire with the work prefix.
    svc.objects.delete(&keys::placement_key(&job.job_id))?;
    for w in &report.warnings {
        tracing::warn!(job = %job.job_id, warning = %w, "concat");
    }
    job_done(&job.job_id, bytes, started);
    Ok(ConcatResult {
        job_id: job.job_id.clone(),
        output_key: plan.output_key.clone(),
        bytes,
        audio_streams: report.audio_streams,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Compact mode: the source streamed into the output (a multipart upload)
/// with the carriers in place, then read back and checked.
fn splice(
    job: &JobRef,
    plan: &Plan,
    audio_streams: usize,
    started: Instant,
    svc: &Services<'_>,
) -> Result<ConcatResult, StepError> {
    let fatal_conflict = |e: PipelineError| match e {
        PipelineError::Conflict(m) => StepError::new(ErrorType::Fatal, m),
        e => e.into(),
    };
    let planned = plan_carrier_splice(svc.objects, svc.jobs, plan).map_err(fatal_conflict)?;
    let mut reader = splice_reader(svc.objects, plan, &planned)?;
    let bytes = svc.objects.put_stream(&plan.output_key, &mut reader)?;
    drop(reader);
    let mut written = ObjectReader::open(svc.objects, &plan.output_key)?;
    let report = verify_splice(&mut written, &planned).map_err(fatal_conflict)?;
    if bytes != report.bytes {
        return Err(StepError::new(
            ErrorType::Fatal,
            format!("stored {bytes} bytes of a {}-byte output", report.bytes),
        ));
    }
    svc.jobs.set_stage(&job.job_id, Stage::Done, None)?;
    svc.objects.delete(&keys::placement_key(&job.job_id))?;
    job_done(&job.job_id, bytes, started);
    Ok(ConcatResult {
        job_id: job.job_id.clone(),
        output_key: plan.output_key.clone(),
        bytes,
        audio_streams,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// The metrics of a finished job.
fn job_done(job_id: &str, bytes: u64, started: Instant) {
    use crate::metrics::{self, Unit};
    metrics::emit(metrics::JOBS_DONE, 1.0, Unit::Count, &[], Some(job_id));
    metrics::emit(
        metrics::OUTPUT_BYTES,
        bytes as f64,
        Unit::Bytes,
        &[],
        Some(job_id),
    );
    let millis = started.elapsed().as_millis() as f64;
    metrics::emit(
        metrics::CONCAT_MILLIS,
        millis,
        Unit::Milliseconds,
        &[],
        Some(job_id),
    );
}
