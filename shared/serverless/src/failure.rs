//! The `mark-failed` function: the state machine's `Catch` target.

use crate::error::StepError;
use crate::metrics::{self, Unit};
use crate::services::Services;
use vidstega_pipeline::contract::ErrorType;
use vidstega_pipeline::contract::{keys, FailureInput, JobRef};
use vidstega_pipeline::Stage;

/// Records the failure on the job, deletes its placement key and anything
/// under its output key, and passes the job on to the `Fail` state.
pub fn handle(input: &FailureInput, svc: &Services<'_>) -> Result<JobRef, StepError> {
    let reason = input.reason();
    tracing::warn!(job = %input.job_id, reason = %reason, "job failed");
    // The failed-jobs alarm counts only failures that are ours, not the
    // user's unusable video or message.
    let cause = if input.error.error == ErrorType::InvalidInput.as_str() {
        "input"
    } else {
        "internal"
    };
    metrics::emit(
        metrics::JOBS_FAILED,
        1.0,
        Unit::Count,
        &[(metrics::CAUSE, cause)],
        Some(&input.job_id),
    );
    svc.jobs.set_stage(&input.job_id, Stage::Failed, Some(&reason))?;
    svc.objects.delete(&keys::placement_key(&input.job_id))?;
    if let Some(job) = svc.jobs.job(&input.job_id)? {
        if job.stage == Stage::Failed {
            svc.objects.delete(&job.output_key)?;
        }
    }
    Ok(JobRef {
        job_id: input.job_id.clone(),
    })
}
