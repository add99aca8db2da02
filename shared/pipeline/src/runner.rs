//! The local runner: the state machine's shape on one machine.
//!
//! plan → a bounded set of concurrent `embed-segment`s (the Map state's
//! `MaxConcurrency`) → concat. Finished segments are recorded in the job
//! table, so running the same job again resumes where it stopped. A plan of
//! one segment is embedded in one pass straight into the output (see
//! [`embed_in_one_pass`]): with nothing to join, the join pass is skipped.

use crate::concat::concat_segments;
use crate::embed::{embed_in_one_pass, embed_segment, SegmentOutcome};
use crate::error::{PipelineError, Result};
use crate::plan::{plan_job, PlanSettings, Planned};
use crate::ports::{Created, JobStore, ObjectStore};
use crate::progress::Progress;
use crate::records::{JobRecord, Stage};
use std::path::Path;
use std::sync::Mutex;
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
    /// The join's report.
    pub concat: ConcatReport,
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
    let planned = plan_job(objects, jobs, job, settings)?;
    for w in &planned.plan.warnings {
        progress.warn(w);
    }
    let plan = &planned.plan;
    progress.stage("embed", plan.frame_count);
    let container = OutputContainer::from_path(output)?;
    if plan.segments.len() == 1
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
            concat,
        });
    }
    let queue = Mutex::new(plan.segments.iter());
    let outcome = Mutex::new((0u32, 0u32, 0u64));
    let failure: Mutex<Option<PipelineError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..settings.workers.max(1) {
            s.spawn(|| loop {
                if failure.lock().unwrap().is_some() {
                    return;
                }
                let Some(seg) = queue.lock().unwrap().next() else {
                    return;
                };
                match embed_segment(
                    objects,
                    jobs,
                    scratch,
                    plan,
                    &planned.media,
                    settings.codec,
                    seg.index,
                    key,
                    progress,
                ) {
                    Ok(SegmentOutcome::Embedded { changed_samples, .. }) => {
                        let mut o = outcome.lock().unwrap();
                        o.0 += 1;
                        o.2 += changed_samples;
                    }
                    Ok(SegmentOutcome::AlreadyDone) => outcome.lock().unwrap().1 += 1,
                    Err(e) => {
                        failure.lock().unwrap().get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    progress.stage("concat", plan.frame_count);
    let concat = concat_segments(
        objects,
        jobs,
        plan,
        &planned.media,
        settings.codec,
        output,
        &ConcatOptions::default(),
    )?;
    jobs.set_stage(&plan.job_id, Stage::Done, None)?;
    let (embedded, skipped, changed_samples) = outcome.into_inner().unwrap();
    Ok(EmbedRun {
        planned,
        embedded,
        skipped,
        changed_samples,
        concat,
    })
}
