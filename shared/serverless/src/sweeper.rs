//! The `sweeper` function (on a schedule): fails jobs that stopped making
//! progress, saying why, so no job stays `queued`, `embedding` or
//! `concatenating` for ever.
//!
//! A job is stuck when it is neither done nor failed and has not changed for
//! longer than its stage's deadline ([`Deadlines`]; every planned segment,
//! stage change and finished segment changes it). A stuck job's execution,
//! if still running, is stopped; then the job is marked failed with the
//! reason, its placement key deleted and any partial output removed, as
//! `mark-failed` does.

use crate::error::StepError;
use crate::metrics::{self, Unit};
use crate::services::{ExecutionState, Services};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vidstega_pipeline::contract::keys;
use vidstega_pipeline::{JobRecord, Stage};

/// How long a job may go without progress in each stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// `queued`: waiting for its uploads, or for the planner (whose message
    /// is retried with the queue's visibility timeout, 1 h, up to 5 times).
    pub queued: Duration,
    /// `embedding`: no segment finished for this long (one segment takes at
    /// most 15 minutes, plus the state machine's retries).
    pub embedding: Duration,
    /// `concatenating`: concat runs at most 15 minutes, plus retries.
    pub concatenating: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            queued: Duration::from_secs(6 * 3600),
            embedding: Duration::from_secs(2 * 3600),
            concatenating: Duration::from_secs(3600),
        }
    }
}

impl Deadlines {
    /// The deadline of `stage` (final stages have none).
    pub fn of(&self, stage: Stage) -> Option<Duration> {
        match stage {
            Stage::Queued => Some(self.queued),
            Stage::Embedding => Some(self.embedding),
            Stage::Concatenating => Some(self.concatenating),
            Stage::Done | Stage::Failed => None,
        }
    }

    fn shortest(&self) -> Duration {
        self.queued.min(self.embedding).min(self.concatenating)
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Jobs looked at (not final, idle longer than the shortest deadline).
    pub idle: usize,
    /// Jobs failed by this sweep, with the reason recorded on each.
    pub failed: Vec<SweptJob>,
}

/// A job the sweeper failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweptJob {
    /// The job.
    pub job_id: String,
    /// The reason recorded on it.
    pub reason: String,
}

/// Fails every job stuck at `now_ms` (ms since the Unix epoch).
pub fn handle(svc: &Services<'_>, now_ms: u64, deadlines: &Deadlines) -> Result<SweepReport, StepError> {
    let since = now_ms.saturating_sub(deadlines.shortest().as_millis() as u64);
    let idle = svc.jobs.idle_jobs(since)?;
    let mut report = SweepReport {
        idle: idle.len(),
        failed: Vec::new(),
    };
    for job in idle {
        let Some(deadline) = deadlines.of(job.stage) else {
            continue;
        };
        let idle_for = Duration::from_millis(now_ms.saturating_sub(job.updated_ms));
        if idle_for <= deadline {
            continue;
        }
        let reason = sweep(svc, &job, idle_for, deadline)?;
        tracing::warn!(job = %job.job_id, reason = %reason, "stuck job failed");
        metrics::emit(metrics::JOBS_SWEPT, 1.0, Unit::Count, &[], Some(&job.job_id));
        metrics::emit(
            metrics::JOBS_FAILED,
            1.0,
            Unit::Count,
            &[(metrics::CAUSE, "internal")],
            Some(&job.job_id),
        );
        report.failed.push(SweptJob {
            job_id: job.job_id.clone(),
            reason,
        });
    }
    Ok(report)
}

/// Stops the job's execution if it runs, fails the job and cleans up;
/// returns the reason recorded.
fn sweep(
    svc: &Services<'_>,
    job: &JobRecord,
    idle_for: Duration,
    deadline: Duration,
) -> Result<String, StepError> {
    let what = match svc.workflow.state(&job.job_id)? {
        None => match job.stage {
            Stage::Queued => {
                "no execution was started: its uploads never all arrived, or planning kept failing \
                              (see the dead-letter queue)"
                    .to_string()
            }
            _ => "no execution was started".to_string(),
        },
        Some(ExecutionState::Running) => {
            svc.workflow.stop(
                &job.job_id,
                &format!("stuck: no progress for {}", minutes(idle_for)),
            )?;
            "its execution was still running and has been stopped".to_string()
        }
        Some(ExecutionState::Ended(status)) => {
            format!("its execution ended ({status}) without recording the result")
        }
    };
    let reason = format!(
        "stuck: no progress while {} for {} (the limit is {}); {what}",
        job.stage,
        minutes(idle_for),
        minutes(deadline)
    );
    svc.jobs.set_stage(&job.job_id, Stage::Failed, Some(&reason))?;
    svc.objects.delete(&keys::placement_key(&job.job_id))?;
    if svc
        .jobs
        .job(&job.job_id)?
        .is_some_and(|j| j.stage == Stage::Failed)
    {
        svc.objects.delete(&job.output_key)?;
    }
    Ok(reason)
}

fn minutes(d: Duration) -> String {
    let m = d.as_secs() / 60;
    if m >= 120 {
        format!("{} h {} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}
