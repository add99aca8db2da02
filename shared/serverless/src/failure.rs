//! The `mark-failed` function: the state machine's `Catch` target.

use crate::error::StepError;
use crate::services::Services;
use vidstega_pipeline::contract::{keys, FailureInput, JobRef};
use vidstega_pipeline::Stage;

/// Records the failure on the job, deletes its placement key and anything
/// under its output key, and passes the job on to the `Fail` state.
pub fn handle(input: &FailureInput, svc: &Services<'_>) -> Result<JobRef, StepError> {
    let reason = input.reason();
    tracing::warn!(job = %input.job_id, reason = %reason, "job failed");
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
