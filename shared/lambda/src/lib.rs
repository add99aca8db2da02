//! # vidstega-lambda
//!
//! What every VidStega Lambda function shares, so each binary in
//! `functions/` is only its wiring: settings read once from the environment
//! (every problem reported at once), AWS clients built once per instance,
//! JSON logs, the Step Functions [`Workflow`] adapter, the long lane's
//! queue ([`SqsJobQueue`]), and errors that reach Step Functions with their
//! class as the error type.
//!
//! Handlers are synchronous (ffmpeg processes, rayon, blocking ports); the
//! runtime is async. [`Function::run`] moves each invocation onto tokio's
//! blocking pool, where the AWS adapters may block on the runtime.
#![deny(missing_docs)]

use lambda_runtime::Diagnostic;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use vidstega_aws::{AwsClients, DynamoJobStore, S3Store, SfnWorkflow, SqsQueue, StepFunctions};
use vidstega_pipeline::contract::{ExecutionInput, JobMessage};
use vidstega_pipeline::{Limits, PipelineError, PlanSettings};
use vidstega_serverless::{
    ExecutionState, JobQueue, LaneSettings, Lanes, Services, Settings, StepError, Workflow,
};

/// A handler's failure, as Lambda reports it: `errorType` is
/// `VidStega.Retryable`, `VidStega.InvalidInput` or `VidStega.Fatal`.
#[derive(Debug)]
pub struct LambdaError(pub StepError);

impl From<StepError> for LambdaError {
    fn from(e: StepError) -> Self {
        LambdaError(e)
    }
}

impl From<LambdaError> for Diagnostic {
    fn from(e: LambdaError) -> Diagnostic {
        Diagnostic {
            error_type: e.0.error_type_name().to_string(),
            error_message: e.0.message,
        }
    }
}

/// A workflow for functions that never start one.
struct NoWorkflow;

impl Workflow for NoWorkflow {
    fn start(&self, job_id: &str, _: &ExecutionInput) -> vidstega_pipeline::Result<bool> {
        Err(PipelineError::Conflict(format!(
            "this function cannot start executions (job {job_id})"
        )))
    }

    fn state(&self, job_id: &str) -> vidstega_pipeline::Result<Option<ExecutionState>> {
        Err(PipelineError::Conflict(format!(
            "this function cannot describe executions (job {job_id})"
        )))
    }

    fn stop(&self, job_id: &str, _: &str) -> vidstega_pipeline::Result<()> {
        Err(PipelineError::Conflict(format!(
            "this function cannot stop executions (job {job_id})"
        )))
    }

    fn active_jobs(&self, _: u64) -> vidstega_pipeline::Result<u64> {
        Err(PipelineError::Conflict(
            "this function cannot count executions".into(),
        ))
    }
}

/// Whether a function starts executions (only the planner does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Objects and jobs only.
    Storage,
    /// Also the state machine (`VIDSTEGA_STATE_MACHINE_ARN`).
    Workflow,
}

/// Every missing or invalid setting.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration: {}", self.0.join("; "))
    }
}

impl std::error::Error for ConfigError {}

/// The output one concat invocation can write: 900 s at an assumed 25 s
/// per GB (40 MB/s, docs/cost.md), with 20 % to spare.
pub const SERVICE_MAX_OUTPUT_BYTES: u64 = 28_800_000_000;
/// A lossless segment file in embed-segment's 10 GB of `/tmp`, with room
/// to spare.
pub const SERVICE_MAX_SEGMENT_BYTES: u64 = 8_000_000_000;
/// Pixels one segment may decode (and, in lossless mode, encode) in a
/// 900 s invocation: lossless embedding measured 87 ms per 1440p frame on
/// the project machine (2.4e-8 s per pixel; docs/performance.md), with 30 %
/// to spare — about 12,000 frames of 1080p.
pub const SERVICE_MAX_SEGMENT_PIXELS: u64 = 25_000_000_000;

/// Everything a function reads from its environment.
#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// The handlers' settings.
    pub settings: Settings,
    /// The planner's lanes (presign counts the long lane's queue too).
    pub lanes: LaneSettings,
}

/// Reads the function configuration from `lookup` (the environment): the
/// one reader every function uses, reporting every problem at once.
pub fn config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<FunctionConfig, ConfigError> {
    let mut problems = Vec::new();
    let mut text = |name: &str| -> String {
        match lookup(name).map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => v,
            _ => {
                problems.push(format!("{name} is not set"));
                String::new()
            }
        }
    };
    let bucket = text("VIDSTEGA_BUCKET");
    let mut number = |name: &str, default: u64| -> u64 {
        match lookup(name).map(|v| v.trim().to_string()) {
            None => default,
            Some(v) if v.is_empty() => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                problems.push(format!("{name}={v:?} is not a whole number"));
                default
            }),
        }
    };
    let defaults = Limits::default();
    let limits = Limits {
        max_input_bytes: number("VIDSTEGA_MAX_INPUT_BYTES", defaults.max_input_bytes),
        max_duration_seconds: number(
            "VIDSTEGA_MAX_DURATION_SECONDS",
            defaults.max_duration_seconds as u64,
        ) as f64,
        max_pixels: number("VIDSTEGA_MAX_PIXELS", defaults.max_pixels),
        max_frames: number("VIDSTEGA_MAX_FRAMES", defaults.max_frames),
        max_output_bytes: number("VIDSTEGA_MAX_OUTPUT_BYTES", SERVICE_MAX_OUTPUT_BYTES),
        max_segment_bytes: number("VIDSTEGA_MAX_SEGMENT_BYTES", SERVICE_MAX_SEGMENT_BYTES),
        max_segment_pixels: number("VIDSTEGA_MAX_SEGMENT_PIXELS", SERVICE_MAX_SEGMENT_PIXELS),
        check_header_first: true,
    };
    let workers = number("VIDSTEGA_MAP_CONCURRENCY", 40).max(1) as usize;
    let inline_map_limit = number("VIDSTEGA_INLINE_MAP_LIMIT", 400) as usize;
    let presign_ttl_seconds = number("VIDSTEGA_PRESIGN_TTL_SECONDS", 900);
    let job_record_days = number("VIDSTEGA_JOB_RECORD_DAYS", 30);
    let max_active_jobs = number("VIDSTEGA_MAX_ACTIVE_JOBS", 0);
    let max_jobs_per_caller_hour = number("VIDSTEGA_MAX_JOBS_PER_CALLER_HOUR", 0).min(u32::MAX as u64) as u32;
    let jobs_queue_url = lookup("VIDSTEGA_QUEUE_URL").filter(|u| !u.trim().is_empty());
    let express_max_seconds = number(
        "VIDSTEGA_EXPRESS_MAX_SECONDS",
        vidstega_serverless::lane::DEFAULT_EXPRESS_MAX_SECONDS,
    );
    let long_queue_url = lookup("VIDSTEGA_LONG_QUEUE_URL").filter(|u| !u.trim().is_empty());
    if express_max_seconds == 0 {
        problems.push("VIDSTEGA_EXPRESS_MAX_SECONDS must be at least 1".into());
    }
    if job_record_days == 0 {
        problems.push("VIDSTEGA_JOB_RECORD_DAYS must be at least 1".into());
    }
    if !(1..=604_800).contains(&presign_ttl_seconds) {
        problems.push("VIDSTEGA_PRESIGN_TTL_SECONDS must be 1 to 604800".into());
    }
    let scratch = PathBuf::from(lookup("VIDSTEGA_SCRATCH").unwrap_or_else(|| "/tmp".into()));
    if !problems.is_empty() {
        return Err(ConfigError(problems));
    }
    let settings = Settings {
        bucket,
        scratch,
        plan: PlanSettings {
            workers,
            limits,
            ..PlanSettings::default()
        },
        inline_map_limit,
        presign_ttl_seconds,
        job_record_days,
        max_active_jobs,
        jobs_queue_url,
        max_jobs_per_caller_hour,
    };
    let lanes = LaneSettings {
        express_max_seconds,
        long_queue_url,
    };
    Ok(FunctionConfig { settings, lanes })
}

/// The long lane's queue on SQS: the planner sends the jobs over the
/// express lane's threshold here.
pub struct SqsJobQueue {
    queue: SqsQueue,
    handle: Handle,
}

impl SqsJobQueue {
    /// Sends through `queue`, blocking on `handle`'s (multi-thread) runtime.
    pub fn new(queue: SqsQueue, handle: Handle) -> Self {
        SqsJobQueue { queue, handle }
    }
}

impl JobQueue for SqsJobQueue {
    fn url(&self) -> &str {
        self.queue.url()
    }

    fn send(&self, message: &JobMessage) -> vidstega_pipeline::Result<()> {
        let sent = tokio::task::block_in_place(|| self.handle.block_on(self.queue.send_json(message)));
        sent.map(|_| ()).map_err(|e| PipelineError::Store {
            message: format!("cannot send job {} to {}", message.job_id, self.queue.url()),
            retryable: e.retryable(),
            source: Some(Box::new(e)),
        })
    }
}

/// One function instance's settings and clients, shared by its invocations.
pub struct Function {
    objects: S3Store,
    jobs: DynamoJobStore,
    workflow: Box<dyn Workflow>,
    settings: Settings,
    express_max_seconds: u64,
    long_queue: Option<SqsJobQueue>,
}

impl Function {
    /// Reads the environment and builds the clients; call once in `main`.
    pub async fn from_env(needs: Needs) -> Result<Arc<Self>, ConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        let config = config_from(lookup);
        let table = lookup("VIDSTEGA_TABLE").filter(|t| !t.trim().is_empty());
        let arn = lookup("VIDSTEGA_STATE_MACHINE_ARN").filter(|t| !t.trim().is_empty());
        let mut problems = match &config {
            Ok(_) => Vec::new(),
            Err(e) => e.0.clone(),
        };
        if table.is_none() {
            problems.push("VIDSTEGA_TABLE is not set".into());
        }
        if needs == Needs::Workflow && arn.is_none() {
            problems.push("VIDSTEGA_STATE_MACHINE_ARN is not set".into());
        }
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        let config = config.expect("checked");
        let clients = AwsClients::from_env().await;
        Ok(Function::new(
            needs,
            config,
            table.expect("checked"),
            arn,
            clients,
            Handle::current(),
        ))
    }

    /// A function instance over `clients`, wired as [`Function::from_env`]
    /// wires it: the bucket and lanes from `config`, the job table `table`,
    /// and the state machine `state_machine_arn` only if `needs` it. The
    /// stores block on `handle`'s (multi-thread) runtime. Tests use this to
    /// run each handler with its own clients (e.g. recording its AWS calls).
    pub fn new(
        needs: Needs,
        config: FunctionConfig,
        table: impl Into<String>,
        state_machine_arn: Option<String>,
        clients: AwsClients,
        handle: Handle,
    ) -> Arc<Self> {
        let FunctionConfig { settings, lanes } = config;
        let long_queue = lanes
            .long_queue_url
            .as_ref()
            .map(|url| SqsJobQueue::new(SqsQueue::new(clients.sqs.clone(), url), handle.clone()));
        let objects = S3Store::new(clients.s3, &settings.bucket, handle.clone())
            .with_presign_ttl(Duration::from_secs(settings.presign_ttl_seconds));
        let jobs = DynamoJobStore::new(clients.dynamodb, table, handle.clone())
            .with_record_ttl(Duration::from_secs(settings.job_record_days * 24 * 3600));
        let workflow: Box<dyn Workflow> = match state_machine_arn {
            Some(arn) if needs == Needs::Workflow => {
                let mut workflow = SfnWorkflow::new(StepFunctions::new(clients.sfn, arn), handle);
                // Presign's admission control counts the jobs waiting on
                // either lane.
                if let Some(url) = &settings.jobs_queue_url {
                    workflow = workflow.with_queue(SqsQueue::new(clients.sqs.clone(), url));
                    if let Some(long) = &lanes.long_queue_url {
                        workflow = workflow.with_queue(SqsQueue::new(clients.sqs, long));
                    }
                }
                Box::new(workflow)
            }
            _ => Box::new(NoWorkflow),
        };
        Arc::new(Function {
            objects,
            jobs,
            workflow,
            settings,
            express_max_seconds: lanes.express_max_seconds,
            long_queue,
        })
    }

    /// The planner's lanes, if a long lane's queue is configured.
    pub fn lanes(&self) -> Option<Lanes<'_>> {
        self.long_queue.as_ref().map(|q| Lanes {
            express_max_seconds: self.express_max_seconds,
            long_queue: q,
        })
    }

    /// The ports and settings for a handler.
    pub fn services(&self) -> Services<'_> {
        Services {
            objects: &self.objects,
            jobs: &self.jobs,
            workflow: self.workflow.as_ref(),
            settings: &self.settings,
        }
    }

    /// Runs a synchronous handler on the blocking pool.
    pub async fn run<T, F>(self: &Arc<Self>, handler: F) -> T
    where
        F: FnOnce(&Services<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let me = Arc::clone(self);
        vidstega_aws::run_blocking(move || handler(&me.services())).await
    }

    /// [`Function::run`] for a handler that routes between the lanes
    /// ([`Function::lanes`]).
    pub async fn run_in_lanes<T, F>(self: &Arc<Self>, handler: F) -> T
    where
        F: FnOnce(&Services<'_>, Option<&Lanes<'_>>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let me = Arc::clone(self);
        vidstega_aws::run_blocking(move || handler(&me.services(), me.lanes().as_ref())).await
    }
}

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`).
/// Handlers never log passwords, keys, messages or presigned URLs.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_problem_is_reported_at_once() {
        let env: HashMap<&str, &str> = [
            ("VIDSTEGA_MAX_FRAMES", "lots"),
            ("VIDSTEGA_PRESIGN_TTL_SECONDS", "0"),
        ]
        .into();
        let e = config_from(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("VIDSTEGA_BUCKET") && text.contains("VIDSTEGA_MAX_FRAMES") && text.contains("TTL"),
            "{text}"
        );
    }

    #[test]
    fn limits_come_from_the_environment() {
        let env: HashMap<&str, &str> = [("VIDSTEGA_BUCKET", "b"), ("VIDSTEGA_MAX_PIXELS", "921600")].into();
        let c = config_from(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.settings.plan.limits.max_pixels, 921_600);
        assert_eq!(c.settings.scratch, PathBuf::from("/tmp"));
        assert_eq!(
            c.lanes,
            LaneSettings::default(),
            "one lane unless a long queue is set"
        );
    }

    #[test]
    fn the_lanes_come_from_the_environment() {
        let env: HashMap<&str, &str> = [
            ("VIDSTEGA_BUCKET", "b"),
            ("VIDSTEGA_EXPRESS_MAX_SECONDS", "45"),
            (
                "VIDSTEGA_LONG_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/long",
            ),
        ]
        .into();
        let c = config_from(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(
            c.lanes,
            LaneSettings {
                express_max_seconds: 45,
                long_queue_url: Some("https://sqs.us-east-1.amazonaws.com/123456789012/long".into()),
            }
        );
        let bad: HashMap<&str, &str> =
            [("VIDSTEGA_BUCKET", "b"), ("VIDSTEGA_EXPRESS_MAX_SECONDS", "0")].into();
        let e = config_from(|k| bad.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(e.to_string().contains("VIDSTEGA_EXPRESS_MAX_SECONDS"), "{e}");
        let words: HashMap<&str, &str> =
            [("VIDSTEGA_BUCKET", "b"), ("VIDSTEGA_EXPRESS_MAX_SECONDS", "2m")].into();
        let e = config_from(|k| words.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(e.to_string().contains("VIDSTEGA_EXPRESS_MAX_SECONDS"), "{e}");
    }

    #[test]
    fn errors_keep_their_class() {
        let d: Diagnostic = LambdaError(StepError::new(
            vidstega_pipeline::contract::ErrorType::Retryable,
            "throttled at https://s3/x?X-Amz-Signature=abc",
        ))
        .into();
        assert_eq!(d.error_type, "VidStega.Retryable");
        assert!(!d.error_message.contains("abc"));
    }
}
