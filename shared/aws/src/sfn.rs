//! Step Functions: one execution per job, named after the job id.

use crate::error::AwsError;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use aws_sdk_sfn::types::ExecutionStatus as SdkStatus;
use aws_sdk_sfn::Client;
use serde::Serialize;
use std::fmt;

/// The job state machine. Async, like [`crate::SqsQueue`].
#[derive(Clone)]
pub struct StepFunctions {
    client: Client,
    state_machine_arn: String,
}

impl fmt::Debug for StepFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepFunctions")
            .field("state_machine_arn", &self.state_machine_arn)
            .finish_non_exhaustive()
    }
}

/// What [`StepFunctions::start`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// The job's execution.
    pub execution_arn: String,
    /// `false` when an execution with this name already existed.
    pub new: bool,
}

/// Where an execution is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Still running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Ran out of time.
    TimedOut,
    /// Stopped by a caller.
    Aborted,
    /// Failed and waiting to be redriven.
    PendingRedrive,
    /// A status this crate does not know yet.
    Other(String),
}

/// An execution's status and result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The execution.
    pub execution_arn: String,
    /// Where it is.
    pub status: ExecutionStatus,
    /// The JSON output once it succeeded.
    pub output: Option<String>,
    /// The error name when it failed.
    pub error: Option<String>,
    /// The failure's cause.
    pub cause: Option<String>,
}

fn status(s: &SdkStatus) -> ExecutionStatus {
    match s {
        SdkStatus::Running => ExecutionStatus::Running,
        SdkStatus::Succeeded => ExecutionStatus::Succeeded,
        SdkStatus::Failed => ExecutionStatus::Failed,
        SdkStatus::TimedOut => ExecutionStatus::TimedOut,
        SdkStatus::Aborted => ExecutionStatus::Aborted,
        SdkStatus::PendingRedrive => ExecutionStatus::PendingRedrive,
        other => ExecutionStatus::Other(other.as_str().to_string()),
    }
}

impl StepFunctions {
    /// The state machine `state_machine_arn`.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        StepFunctions {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// The state machine.
    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The ARN of the execution named `job_id`
    /// (`arn:…:stateMachine:<name>` → `arn:…:execution:<name>:<job_id>`).
    pub fn execution_arn(&self, job_id: &str) -> String {
        format!(
            "{}:{job_id}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }

    /// Starts the job's execution, named `job_id`, with `input` as JSON,
    /// unless it exists: then `new` is `false`.
    ///
    /// Step Functions answers a start with the name *and input* of a
    /// still-running execution with that execution, as if it were new; so the
    /// execution is looked up first (DescribeExecution, which the caller's role
    /// must allow), and `ExecutionAlreadyExists` (another input, or a finished
    /// execution) is success too. Only two starts racing each other can both
    /// see `new: true`; there is still one execution.
    pub async fn start<T: Serialize + ?Sized>(&self, job_id: &str, input: &T) -> Result<Started, AwsError> {
        if let Some(existing) = self.describe(job_id).await? {
            return Ok(Started {
                execution_arn: existing.execution_arn,
                new: false,
            });
        }
        let input = serde_json::to_string(input)?;
        let sent = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(job_id)
            .input(input)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Started {
                execution_arn: out.execution_arn,
                new: true,
            }),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(StartExecutionError::ExecutionAlreadyExists(_))
                ) =>
            {
                Ok(Started {
                    execution_arn: self.execution_arn(job_id),
                    new: false,
                })
            }
            Err(e) => Err(AwsError::service(
                "stepfunctions",
                &format!("start the execution of job {job_id}"),
                e,
            )),
        }
    }

    /// Executions of the state machine still running, counted up to
    /// `at_most` (the listing stops there).
    pub async fn running(&self, at_most: u64) -> Result<u64, AwsError> {
        let mut count = 0u64;
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_executions()
                .state_machine_arn(&self.state_machine_arn)
                .status_filter(SdkStatus::Running)
                .max_results(at_most.saturating_sub(count).clamp(1, 1000) as i32)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::service("stepfunctions", "list the running executions", e))?;
            count += out.executions().len() as u64;
            match out.next_token {
                Some(t) if count < at_most => token = Some(t),
                _ => return Ok(count),
            }
        }
    }

    /// Stops the execution named `job_id` with `error` and `cause` (an
    /// execution that has already ended is left as it is).
    pub async fn stop(&self, job_id: &str, error: &str, cause: &str) -> Result<(), AwsError> {
        let arn = self.execution_arn(job_id);
        match self
            .client
            .stop_execution()
            .execution_arn(&arn)
            .error(error)
            .cause(cause)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(AwsError::service(
                "stepfunctions",
                &format!("stop the execution of job {job_id}"),
                e,
            )),
        }
    }

    /// The job's execution, or `None` if it was never started.
    pub async fn describe(&self, job_id: &str) -> Result<Option<Execution>, AwsError> {
        let arn = self.execution_arn(job_id);
        match self.client.describe_execution().execution_arn(&arn).send().await {
            Ok(out) => Ok(Some(Execution {
                status: status(out.status()),
                output: out.output().map(str::to_string),
                error: out.error().map(str::to_string),
                cause: out.cause().map(str::to_string),
                execution_arn: out.execution_arn,
            })),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DescribeExecutionError::ExecutionDoesNotExist(_))
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::service(
                "stepfunctions",
                &format!("describe the execution of job {job_id}"),
                e,
            )),
        }
    }
}
