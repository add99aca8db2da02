//! The local runner: the state machine's shape on one machine.
//!
//! plan → a bounded set of concurrent `embed-segment`s (the Map state's
//! `MaxConcurrency`) → concat (lossless and robust modes; robust mode then
//! extracts its output once) or splice (compact mode). Finished segments
//! are recorded in the job table, so running the same job again resumes
//! where it stopped. A plan of
//! one segment is embedded in one pass straight into the output (see
//! [`embed_in_one_pass`]): with nothing to join, the join pass is skipped.

use crate::concat::concat_segments;
use crate::contract::OutputMode;
use crate::embed::{embed_in_one_pass, embed_segment, SegmentOutcome};
use crate::embed_carriers::{decoder_threads_per_segment, embed_carriers};
use crate::error::{PipelineError, Result};
use crate::plan::{plan_job, PlanSettings, Planned};
use crate::ports::{Created, JobStore, ObjectStore};
use crate::progress::Progress;
use crate::records::{JobRecord, Stage};
use crate::robust::verify_robust_output;
use crate::splice::{splice_to_file, SpliceReport};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;
use vidstega_core::PlacementKey;
use vidstega_media::{joins_in_one_pass, ConcatOptions, ConcatReport, OutputContainer};

/// What a local embed run did.
#[derive(Debug)]
pub struct EmbedRun {
    /// The plan.
    pub planned: Planned,
    /// Segments embedded in this run.
    pub embedded: u32,
    /// Segments found already done (resumed).
    pub skipped: u32,
    /// Samples changed by ±1 in this run.
    pub changed_samples: u64,
    /// How the output was written.
    pub output: OutputReport,
    /// Robust mode: what extracting the output measured (the closed loop's
    /// last check).
    pub robust: Option<vidstega_robust::ExtractReport>,
}

/// How the output of a run was written.
#[derive(Debug)]
pub enum OutputReport {
    /// Lossless mode: segments joined with the source's audio.
    Joined(ConcatReport),
    /// Compact mode: the source spliced with its carriers.
    Spliced(SpliceReport),
}

impl OutputReport {
    /// Audio streams copied into the output.
    pub fn audio_streams(&self, media: &vidstega_media::MediaInfo) -> usize {
        match self {
            OutputReport::Joined(r) => r.audio_streams,
            OutputReport::Spliced(_) => media.audio.len(),
        }
    }

    /// Notes about the output.
    pub fn warnings(&self) -> Vec<String> {
        match self {
            OutputReport::Joined(r) => r.warnings.clone(),
            OutputReport::Spliced(_) => Vec::new(),
        }
    }
}

/// Runs `run` on every segment, `workers` at a time (the Map state's
/// `MaxConcurrency`), stopping at the first error. Returns segments
/// embedded, segments skipped and samples changed.
fn run_segments(
    workers: usize,
    segments: &[crate::records::SegmentRecord],
    run: impl Fn(u32) -> Result<SegmentOutcome> + Sync,
) -> Result<(u32, u32, u64)> {
    let outcome = Mutex::new((0u32, 0u32, 0u64));
    crate::pool::for_each(
        "segment",
        workers,
        segments.iter(),
        || Ok(()),
        |_, seg| {
            match run(seg.index)? {
                SegmentOutcome::Embedded { changed_samples, .. } => {
                    let mut o = outcome.lock().unwrap();
                    o.0 += 1;
                    o.2 += changed_samples;
                }
                SegmentOutcome::AlreadyDone => outcome.lock().unwrap().1 += 1,
            }
            Ok(())
        },
    )?;
    Ok(outcome.into_inner().unwrap())
}

/// Runs (or resumes) `job` to completion, writing the stego video to `output`.
#[allow(clippy::too_many_arguments)]
pub fn run_embed(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    scratch: &Path,
    job: &JobRecord,
    key: &PlacementKey,
    settings: &PlanSettings,
    output: &Path,
    progress: &dyn Progress,
) -> Result<EmbedRun> {
    if let Created::Existing(existing) = jobs.create_job(job)? {
        if existing.stage == Stage::Failed {
            return Err(PipelineError::Conflict(format!(
                "job {} failed before: {}",
                job.job_id,
                existing.error.unwrap_or_default()
            )));
        }
    }
    progress.stage("plan", 0);
    let started = Instant::now();
    let planned = plan_job(objects, jobs, scratch, job, key, settings, progress)?;
    for w in &planned.plan.warnings {
        progress.warn(w);
    }
    let plan = &planned.plan;
    tracing::debug!(
        job = %plan.job_id,
        mode = plan.mode.as_str(),
        frames = plan.frame_count,
        segments = plan.segments.len(),
        carriers = plan.carriers.len(),
        body_bits = plan.body_bits,
        workers = settings.workers,
        millis = started.elapsed().as_millis() as u64,
        "planned"
    );
    if plan.mode == OutputMode::Compact {
        progress.stage("embed", plan.carriers.len() as u64);
        let started = Instant::now();
        // The segments' decoders run side by side on this machine's cores.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = decoder_threads_per_segment(cores, settings.workers.min(plan.segments.len()));
        let (embedded, skipped, changed_samples) = run_segments(settings.workers, &plan.segments, |index| {
            embed_carriers(
                objects,
                jobs,
                plan,
                &planned.media,
                index,
                key,
                Some(threads),
                progress,
            )
        })?;
        tracing::debug!(
            embedded,
            skipped,
            changed_samples,
            millis = started.elapsed().as_millis() as u64,
            "carriers embedded"
        );
        progress.stage("splice", 0);
        let started = Instant::now();
        let report = splice_to_file(objects, jobs, plan, output)?;
        tracing::debug!(millis = started.elapsed().as_millis() as u64, "spliced");
        jobs.set_stage(&plan.job_id, Stage::Done, None)?;
        return Ok(EmbedRun {
            planned,
            embedded,
            skipped,
            changed_samples,
            output: OutputReport::Spliced(report),
            robust: None,
        });
    }
    progress.stage("embed", plan.frame_count);
    let container = OutputContainer::from_path(output)?;
    let robust = plan.mode == OutputMode::Robust;
    let codec = plan.segment_codec(settings.codec);
    if !robust
        && plan.segments.len() == 1
        && joins_in_one_pass(&planned.media, container)
        && !jobs.segments(&plan.job_id)?.iter().any(|s| s.done)
    {
        // One segment: its encoder writes the finished video, with the
        // source's audio, in the same pass; there is nothing to join.
        let (outcome, concat) = embed_in_one_pass(
            objects,
            jobs,
            plan,
            &planned.media,
            settings.codec,
            key,
            output,
            container,
            progress,
        )?;
        jobs.set_stage(&plan.job_id, Stage::Done, None)?;
        let changed_samples = match outcome {
            SegmentOutcome::Embedded { changed_samples, .. } => changed_samples,
            SegmentOutcome::AlreadyDone => 0,
        };
        return Ok(EmbedRun {
            planned,
            embedded: 1,
            skipped: 0,
            changed_samples,
            output: OutputReport::Joined(concat),
            robust: None,
        });
    }
    let started = Instant::now();
    let (embedded, skipped, changed_samples) = run_segments(settings.workers, &plan.segments, |index| {
        embed_segment(
            objects,
            jobs,
            scratch,
            plan,
            &planned.media,
            codec,
            index,
            key,
            progress,
        )
    })?;
    tracing::debug!(
        embedded,
        skipped,
        changed_samples,
        millis = started.elapsed().as_millis() as u64,
        "segments embedded"
    );
    progress.stage("concat", plan.frame_count);
    let started = Instant::now();
    let concat = concat_segments(
        objects,
        jobs,
        plan,
        &planned.media,
        codec,
        output,
        &ConcatOptions::default(),
    )?;
    tracing::debug!(millis = started.elapsed().as_millis() as u64, "joined");
    let robust = if robust {
        let started = Instant::now();
        let report = verify_robust_output(objects, plan, key, output, progress)?;
        tracing::debug!(
            millis = started.elapsed().as_millis() as u64,
            slot_ber = report.slot_ber,
            frame_ber = report.frame_ber,
            "robust output extracted"
        );
        Some(report)
    } else {
        None
    };
    jobs.set_stage(&plan.job_id, Stage::Done, None)?;
    Ok(EmbedRun {
        planned,
        embedded,
        skipped,
        changed_samples,
        output: OutputReport::Joined(concat),
        robust,
    })
}
