//! The `concat` function: join the segments with the source's audio,
//! streaming the result into the output object (a multipart upload), never
//! staging it on local disk; then mark the job done and drop its key.
//!
//! **A retry resumes.** Writing the output is most of concat's work (the
//! whole source or every segment is read and the output uploaded), and the
//! steps after it (the read-back or extraction that verifies it, marking the
//! job done, deleting the key) can fail on their own: a throttled request,
//! a timeout during verification. So each attempt records in the job row
//! ([`JobStore::record_output`]) what it has achieved: once the upload is
//! complete (S3 makes a multipart upload visible only when it is complete)
//! and its stored size equals what was streamed, the object's size and ETag
//! with `verified: false` (lossless mode, where that size check is the
//! verification: `true`); once the verification passed, `verified: true`.
//! A retried attempt reads the record and compares it with the object now
//! stored under the output key (HeadObject: size and ETag):
//!
//! * verified and the same object: straight to marking the job done and
//!   deleting the key;
//! * written, not verified, the same object: verify it (then done); if the
//!   verification finds the content wrong, write it again;
//! * no record, or another object (or none) under the key: write it.
//!
//! So a job is marked done only after the object under its output key, as
//! it is then (same size and ETag), passed the verification, whichever
//! attempt verified it; a crash at any point leaves either no record, or a
//! record that the next attempt checks against the object before trusting
//! it. An upload interrupted midway is not resumed (its parts are aborted,
//! or dropped by the bucket's lifecycle rule): the next attempt writes the
//! output from the start.
//!
//! [`JobStore::record_output`]: vidstega_pipeline::JobStore::record_output

use crate::error::StepError;
use crate::segment::{load_key, load_plan};
use crate::services::Services;
use std::time::Instant;
use vidstega_media::{concat_to_stream, MediaInfo, OutputContainer};
use vidstega_pipeline::contract::{keys, ConcatResult, ErrorType, JobRef, OutputMode};
use vidstega_pipeline::{
    joinable_segments, plan_carrier_splice, source_path, splice_reader, verify_robust_output, verify_splice,
    NoProgress, ObjectReader, OutputRecord, PipelineError, Plan, PlannedSplice, Stage,
};

/// Joins a job's segments (lossless and robust modes; a robust output is
/// then extracted once to check it) or splices its carriers into the
/// source (compact mode), into its output, and marks it done. A retry
/// resumes from what an earlier attempt recorded (see the module docs).
pub fn handle(job: &JobRef, svc: &Services<'_>) -> Result<ConcatResult, StepError> {
    let started = Instant::now();
    let (plan, media) = load_plan(svc.objects, &job.job_id)?;
    let mut output = Output {
        plan: &plan,
        media: &media,
        svc,
        planned: None,
    };
    let bytes = match recorded_output(&plan, svc)? {
        Some(r) if r.verified => {
            tracing::info!(job = %job.job_id, bytes = r.bytes, "resumed: the output is stored and verified");
            r.bytes
        }
        Some(r) => {
            tracing::info!(job = %job.job_id, bytes = r.bytes, "resumed: the output is stored; verifying it");
            match output.verify(&r) {
                Ok(()) => r.bytes,
                Err(Verify::Mismatch(e)) => {
                    tracing::warn!(job = %job.job_id, error = %e, "the stored output failed its check; writing it again");
                    output.write_and_verify()?
                }
                Err(Verify::Failed(e)) => return Err(e),
            }
        }
        None => match done_before(&plan, svc)? {
            Some(bytes) => bytes,
            None => output.write_and_verify()?,
        },
    };
    svc.jobs.set_stage(&job.job_id, Stage::Done, None)?;
    // The key is no longer needed; segments expire with the work prefix.
    svc.objects.delete(&keys::placement_key(&job.job_id))?;
    job_done(&job.job_id, bytes, started);
    Ok(ConcatResult {
        job_id: job.job_id.clone(),
        output_key: plan.output_key.clone(),
        bytes,
        audio_streams: media.audio.len(),
        millis: started.elapsed().as_millis() as u64,
    })
}

/// The output an earlier attempt recorded, if the object under the output
/// key is still that one (same size and content tag).
fn recorded_output(plan: &Plan, svc: &Services<'_>) -> Result<Option<OutputRecord>, StepError> {
    let Some(record) = svc.jobs.output(&plan.job_id)? else {
        return Ok(None);
    };
    if record.key != plan.output_key {
        return Ok(None);
    }
    match svc.objects.stat(&plan.output_key)? {
        Some(s) if s.bytes == record.bytes && s.tag == record.tag => Ok(Some(record)),
        stored => {
            tracing::warn!(
                job = %plan.job_id,
                recorded_bytes = record.bytes,
                stored_bytes = stored.as_ref().map(|s| s.bytes),
                "the recorded output is not the object stored under the output key; writing it again"
            );
            Ok(None)
        }
    }
}

/// The size of the stored output of a job that is already done although
/// no output is recorded (an attempt of a version that kept no record marked
/// it done, then failed): done implies verified.
fn done_before(plan: &Plan, svc: &Services<'_>) -> Result<Option<u64>, StepError> {
    match svc.jobs.job(&plan.job_id)? {
        Some(job) if job.stage == Stage::Done => Ok(svc.objects.size(&plan.output_key)?),
        _ => Ok(None),
    }
}

/// Why a verification failed.
enum Verify {
    /// The stored content is wrong (a rewrite may cure it).
    Mismatch(StepError),
    /// Anything else (a read failed, a bug).
    Failed(StepError),
}

impl From<StepError> for Verify {
    fn from(e: StepError) -> Self {
        Verify::Failed(e)
    }
}

impl From<PipelineError> for Verify {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Mismatch(_) => Verify::Mismatch(e.into()),
            e => Verify::Failed(fatal_conflict(e)),
        }
    }
}

impl From<Verify> for StepError {
    fn from(v: Verify) -> Self {
        match v {
            Verify::Mismatch(e) | Verify::Failed(e) => e,
        }
    }
}

/// A job reaching concat with unfinished segments is a bug, not bad input.
fn fatal_conflict(e: PipelineError) -> StepError {
    match e {
        PipelineError::Conflict(m) => StepError::new(ErrorType::Fatal, m),
        e => e.into(),
    }
}

/// One job's output: written, verified, and each recorded.
struct Output<'a> {
    plan: &'a Plan,
    media: &'a MediaInfo,
    svc: &'a Services<'a>,
    /// Compact mode: the splice, once planned.
    planned: Option<PlannedSplice>,
}

impl Output<'_> {
    /// Writes the output, then verifies it unless writing did. Returns its
    /// size.
    fn write_and_verify(&mut self) -> Result<u64, StepError> {
        let written = self.write()?;
        if !written.verified {
            self.verify(&written)?;
        }
        Ok(written.bytes)
    }

    /// Writes the output (checking that S3 stored every byte streamed) and
    /// records it.
    fn write(&mut self) -> Result<OutputRecord, StepError> {
        let (plan, svc) = (self.plan, self.svc);
        let bytes = if plan.mode == OutputMode::Compact {
            let planned = self.planned()?;
            let mut reader = splice_reader(svc.objects, plan, planned)?;
            let bytes = svc.objects.put_stream(&plan.output_key, &mut reader)?;
            if bytes != planned.len() {
                return Err(StepError::new(
                    ErrorType::Fatal,
                    format!("stored {bytes} bytes of a {}-byte output", planned.len()),
                ));
            }
            bytes
        } else {
            self.join()?
        };
        // The stored object must be every byte written (a lost or doubled
        // part would not be); a mismatch is retried.
        let stored = svc.objects.stat(&plan.output_key)?;
        let stat = match stored {
            Some(s) if s.bytes == bytes => s,
            other => {
                return Err(PipelineError::Mismatch(format!(
                    "the output {} holds {:?} bytes but {bytes} were streamed",
                    plan.output_key,
                    other.map(|s| s.bytes)
                ))
                .into())
            }
        };
        let record = OutputRecord {
            key: plan.output_key.clone(),
            bytes,
            tag: stat.tag,
            // Lossless mode's check is the size just compared.
            verified: plan.mode == OutputMode::Lossless,
        };
        svc.jobs
            .record_output(&plan.job_id, &record)
            .map_err(fatal_conflict)?;
        Ok(record)
    }

    /// Lossless and robust modes: the segments joined with the source's
    /// audio, streamed into the output. Returns the bytes streamed.
    fn join(&self) -> Result<u64, StepError> {
        let (plan, svc) = (self.plan, self.svc);
        let codec = plan.segment_codec(svc.settings.plan.codec);
        let segments =
            joinable_segments(svc.objects, svc.jobs, plan, self.media, codec).map_err(fatal_conflict)?;
        let container = OutputContainer::from_path(plan.output_key.as_ref()).map_err(PipelineError::from)?;
        let mut upload_error = None;
        let mut sink = |reader: &mut dyn std::io::Read| match svc.objects.put_stream(&plan.output_key, reader)
        {
            Ok(n) => Ok(n),
            Err(e) => {
                let io = std::io::Error::other(e.to_string());
                upload_error = Some(e);
                Err(io)
            }
        };
        let joined = concat_to_stream(&segments, self.media, container, &mut sink);
        let (report, bytes) = match (joined, upload_error) {
            (_, Some(e)) => return Err(e.into()),
            (Err(e), None) => return Err(PipelineError::from(e).into()),
            (Ok(r), None) => r,
        };
        for w in &report.warnings {
            tracing::warn!(job = %plan.job_id, warning = %w, "concat");
        }
        Ok(bytes)
    }

    /// Compact mode's splice, planned once per attempt (checks that every
    /// segment is done and moves the job to concatenating).
    fn planned(&mut self) -> Result<&PlannedSplice, StepError> {
        if self.planned.is_none() {
            let (objects, jobs) = (self.svc.objects, self.svc.jobs);
            self.planned = Some(plan_carrier_splice(objects, jobs, self.plan).map_err(fatal_conflict)?);
        }
        Ok(self.planned.as_ref().expect("planned above"))
    }

    /// Verifies the stored output `written` and records it verified.
    /// Compact mode reads it back (every carrier in place); robust mode
    /// extracts it (a stored output that does not give back the payload
    /// fails the step before the job is done, so it is never delivered;
    /// mark-failed deletes it).
    fn verify(&mut self, written: &OutputRecord) -> Result<(), Verify> {
        let (plan, svc) = (self.plan, self.svc);
        match plan.mode {
            OutputMode::Compact => {
                let planned = self.planned()?;
                let mut stored = ObjectReader::open(svc.objects, &plan.output_key)?;
                // A failed read is the store's error (throttling is
                // retried), not a broken container.
                let report =
                    verify_splice(&mut stored, planned).map_err(|e| stored.take_error().unwrap_or(e))?;
                if report.bytes != written.bytes {
                    return Err(Verify::Mismatch(StepError::new(
                        ErrorType::Retryable,
                        format!("stored {} bytes of a {}-byte output", written.bytes, report.bytes),
                    )));
                }
            }
            OutputMode::Robust => {
                let key = load_key(svc.objects, &plan.job_id)?;
                let stored = source_path(svc.objects.media_source(&plan.output_key)?);
                verify_robust_output(svc.objects, plan, &key, &stored, &NoProgress)?;
            }
            // Its check was the stored size, which the record matches.
            OutputMode::Lossless => {}
        }
        let verified = OutputRecord {
            verified: true,
            ..written.clone()
        };
        svc.jobs
            .record_output(&plan.job_id, &verified)
            .map_err(fatal_conflict)?;
        Ok(())
    }
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
