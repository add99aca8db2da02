//! The job workflow port ([`vidstega_pipeline::Workflow`]) on Step
//! Functions, with the job queues' depth for admission control.

use crate::sfn::StepFunctions;
use crate::sqs::SqsQueue;
use tokio::runtime::Handle;
use vidstega_pipeline::contract::ExecutionInput;
use vidstega_pipeline::{ExecutionState, PipelineError, Result, Workflow};

/// Starts executions of the job state machine.
pub struct SfnWorkflow {
    sfn: StepFunctions,
    queues: Vec<SqsQueue>,
    handle: Handle,
}

impl SfnWorkflow {
    /// Starts executions through `sfn`, blocking on `handle`'s runtime.
    pub fn new(sfn: StepFunctions, handle: Handle) -> Self {
        SfnWorkflow {
            sfn,
            queues: Vec::new(),
            handle,
        }
    }

    /// Counts `queue`'s messages among the active jobs too (each queue
    /// added: the jobs queue, the long lane's).
    pub fn with_queue(mut self, queue: SqsQueue) -> Self {
        self.queues.push(queue);
        self
    }
}

impl Workflow for SfnWorkflow {
    fn start(&self, job_id: &str, input: &ExecutionInput) -> Result<bool> {
        let started = tokio::task::block_in_place(|| self.handle.block_on(self.sfn.start(job_id, input)));
        started
            .map(|s| s.new)
            .map_err(|e| workflow_error("start", job_id, e))
    }

    fn state(&self, job_id: &str) -> Result<Option<ExecutionState>> {
        let described = tokio::task::block_in_place(|| self.handle.block_on(self.sfn.describe(job_id)));
        let execution = described.map_err(|e| workflow_error("describe", job_id, e))?;
        Ok(execution.map(|e| match e.status {
            crate::sfn::ExecutionStatus::Running => ExecutionState::Running,
            other => ExecutionState::Ended(format!("{other:?}")),
        }))
    }

    fn stop(&self, job_id: &str, cause: &str) -> Result<()> {
        let stopped = tokio::task::block_in_place(|| {
            self.handle
                .block_on(self.sfn.stop(job_id, "VidStega.Stuck", cause))
        });
        stopped.map_err(|e| workflow_error("stop", job_id, e))
    }

    fn active_jobs(&self, at_most: u64) -> Result<u64> {
        let counted = tokio::task::block_in_place(|| {
            self.handle.block_on(async {
                let mut queued = 0;
                for q in &self.queues {
                    queued += q.depth().await?;
                }
                let running = if queued < at_most {
                    self.sfn.running(at_most - queued).await?
                } else {
                    0
                };
                Ok::<u64, crate::error::AwsError>(queued + running)
            })
        });
        counted.map_err(|e| workflow_error("count", "(all)", e))
    }
}

fn workflow_error(what: &str, job_id: &str, e: crate::error::AwsError) -> PipelineError {
    PipelineError::Store {
        message: format!("cannot {what} the execution of job {job_id}"),
        retryable: e.retryable(),
        source: Some(Box::new(e)),
    }
}
