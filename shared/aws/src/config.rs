//! Settings read once from the environment, and the SDK clients built once
//! from the standard AWS configuration chain.

use crate::dynamo::DynamoJobStore;
use crate::s3::{S3Store, DEFAULT_PRESIGN_TTL, MAX_PRESIGN_TTL};
use crate::sfn::StepFunctions;
use crate::sqs::SqsQueue;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_types::service_config::ServiceConfigKey;
use std::fmt;
use std::time::Duration;
use tokio::runtime::Handle;

/// The bucket holding uploads, payloads, plans, segments and outputs.
pub const ENV_BUCKET: &str = "VIDSTEGA_BUCKET";
/// The DynamoDB job table.
pub const ENV_TABLE: &str = "VIDSTEGA_TABLE";
/// The SQS queue job messages go to.
pub const ENV_QUEUE_URL: &str = "VIDSTEGA_QUEUE_URL";
/// The Step Functions state machine that runs a job.
pub const ENV_STATE_MACHINE_ARN: &str = "VIDSTEGA_STATE_MACHINE_ARN";
/// Optional: seconds presigned URLs stay valid (default 3600, at most 604800).
pub const ENV_PRESIGN_TTL_SECS: &str = "VIDSTEGA_PRESIGN_TTL_SECONDS";

/// The deployment's resource names, read once from the environment.
///
/// AWS credentials, region and endpoints are not here: the SDK reads them
/// itself (`AWS_REGION`, `AWS_ENDPOINT_URL_S3`, the Lambda role, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    /// `VIDSTEGA_BUCKET`.
    pub bucket: String,
    /// `VIDSTEGA_TABLE`.
    pub table: String,
    /// `VIDSTEGA_QUEUE_URL`.
    pub queue_url: String,
    /// `VIDSTEGA_STATE_MACHINE_ARN`.
    pub state_machine_arn: String,
    /// `VIDSTEGA_PRESIGN_TTL_SECONDS` (default 1 h).
    pub presign_ttl: Duration,
}

/// Every missing or invalid setting, found at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// One line per problem, naming the variable.
    pub problems: Vec<String>,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.problems.join("; "))
    }
}

impl std::error::Error for SettingsError {}

fn valid_bucket(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

fn valid_table(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn valid_queue_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://")) && url.len() > "http://".len()
}

fn valid_state_machine_arn(arn: &str) -> bool {
    arn.starts_with("arn:") && arn.contains(":states:") && arn.contains(":stateMachine:")
}

impl AwsSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable's value, if set).
    /// Reports every missing or invalid variable, not just the first.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut problems = Vec::new();
        let mut required = |name: &str, valid: fn(&str) -> bool, what: &str| -> String {
            match lookup(name).map(|v| v.trim().to_string()) {
                None => {
                    problems.push(format!("{name} is not set ({what})"));
                    String::new()
                }
                Some(v) if v.is_empty() => {
                    problems.push(format!("{name} is empty ({what})"));
                    String::new()
                }
                Some(v) if !valid(&v) => {
                    problems.push(format!("{name}={v:?} is not {what}"));
                    String::new()
                }
                Some(v) => v,
            }
        };
        let bucket = required(ENV_BUCKET, valid_bucket, "an S3 bucket name");
        let table = required(ENV_TABLE, valid_table, "a DynamoDB table name");
        let queue_url = required(ENV_QUEUE_URL, valid_queue_url, "an SQS queue URL");
        let state_machine_arn = required(
            ENV_STATE_MACHINE_ARN,
            valid_state_machine_arn,
            "a Step Functions state machine ARN",
        );
        let max = MAX_PRESIGN_TTL.as_secs();
        let presign_ttl = match lookup(ENV_PRESIGN_TTL_SECS).map(|v| v.trim().to_string()) {
            None => DEFAULT_PRESIGN_TTL,
            Some(v) if v.is_empty() => DEFAULT_PRESIGN_TTL,
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if (1..=max).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    problems.push(format!(
                        "{ENV_PRESIGN_TTL_SECS}={v:?} is not a number of seconds from 1 to {max}"
                    ));
                    DEFAULT_PRESIGN_TTL
                }
            },
        };
        if !problems.is_empty() {
            return Err(SettingsError { problems });
        }
        Ok(AwsSettings {
            bucket,
            table,
            queue_url,
            state_machine_arn,
            presign_ttl,
        })
    }
}

/// Loads the shared SDK configuration: `aws_config::defaults` with the latest
/// behaviour version, so credentials, region, retries and the
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables (`_S3`,
/// `_DYNAMODB`, `_SQS`, `_SFN`) are honoured as by every AWS SDK.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Whether an endpoint URL is configured for S3 (env or profile, service
/// specific or global), as the S3 client itself resolves it.
fn s3_endpoint_configured(sdk: &SdkConfig) -> bool {
    let key = ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build();
    let service_specific = match (sdk.service_config(), key) {
        (Some(config), Ok(key)) => config.load_config(key).is_some(),
        _ => false,
    };
    service_specific || sdk.endpoint_url().is_some()
}

/// An S3 client from `sdk`. With an endpoint URL configured (a local
/// S3-compatible server such as moto), it uses path-style addressing, as a
/// bucket cannot be a subdomain of an IP address.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(s3_endpoint_configured(sdk))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The four SDK clients, built once from one [`SdkConfig`] (cheap to clone:
/// they share connection pools and credentials caches).
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// S3 (path-style when an endpoint URL is configured).
    pub s3: aws_sdk_s3::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
}

impl AwsClients {
    /// Clients for `sdk`.
    pub fn new(sdk: &SdkConfig) -> Self {
        AwsClients {
            s3: s3_client(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            sfn: aws_sdk_sfn::Client::new(sdk),
        }
    }

    /// Clients for `sdk` that run `interceptor` on every operation they send
    /// or presign, in all four services. Tests attach a call recorder this
    /// way (`CallRecorder`, with the `call-recorder` feature); the functions
    /// use [`AwsClients::new`], which adds no interceptor.
    pub fn with_interceptor(sdk: &SdkConfig, interceptor: SharedInterceptor) -> Self {
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(s3_endpoint_configured(sdk));
        s3.push_interceptor(interceptor.clone());
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
        dynamodb.push_interceptor(interceptor.clone());
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        sqs.push_interceptor(interceptor.clone());
        let mut sfn = aws_sdk_sfn::config::Builder::from(sdk);
        sfn.push_interceptor(interceptor);
        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            sfn: aws_sdk_sfn::Client::from_conf(sfn.build()),
        }
    }

    /// Clients from the standard configuration chain ([`load_sdk_config`]).
    pub async fn from_env() -> Self {
        Self::new(&load_sdk_config().await)
    }
}

/// Everything a VidStega Lambda function needs, built once at cold start.
#[derive(Clone, Debug)]
pub struct Aws {
    /// The settings it was built from.
    pub settings: AwsSettings,
    /// The bucket as the object store.
    pub objects: S3Store,
    /// The table as the job store.
    pub jobs: DynamoJobStore,
    /// The job queue.
    pub queue: SqsQueue,
    /// The job state machine.
    pub workflow: StepFunctions,
}

impl Aws {
    /// Adapters for `settings` over `clients`; the stores block on `handle`.
    pub fn new(settings: AwsSettings, clients: AwsClients, handle: Handle) -> Self {
        Aws {
            objects: S3Store::new(clients.s3, &settings.bucket, handle.clone())
                .with_presign_ttl(settings.presign_ttl),
            jobs: DynamoJobStore::new(clients.dynamodb, &settings.table, handle),
            queue: SqsQueue::new(clients.sqs, &settings.queue_url),
            workflow: StepFunctions::new(clients.sfn, &settings.state_machine_arn),
            settings,
        }
    }

    /// Reads [`AwsSettings::from_env`] and builds the clients from the
    /// standard chain; the stores block on the current runtime. Call it once,
    /// from inside a multi-thread tokio runtime (e.g. the Lambda `main`).
    pub async fn from_env() -> Result<Self, SettingsError> {
        let settings = AwsSettings::from_env()?;
        let clients = AwsClients::from_env().await;
        Ok(Aws::new(settings, clients, Handle::current()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        (ENV_BUCKET, "vidstega-media"),
        (ENV_TABLE, "vidstega-jobs"),
        (
            ENV_QUEUE_URL,
            "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs",
        ),
        (
            ENV_STATE_MACHINE_ARN,
            "arn:aws:states:eu-west-1:123456789012:stateMachine:vidstega",
        ),
    ];

    #[test]
    fn complete_settings_are_read_with_the_default_ttl() {
        let s = AwsSettings::from_lookup(lookup(GOOD)).unwrap();
        assert_eq!(s.bucket, "vidstega-media");
        assert_eq!(s.table, "vidstega-jobs");
        assert_eq!(s.presign_ttl, Duration::from_secs(3600));
        let mut vars = GOOD.to_vec();
        vars.push((ENV_PRESIGN_TTL_SECS, "600"));
        let s = AwsSettings::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(s.presign_ttl, Duration::from_secs(600));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = AwsSettings::from_lookup(lookup(&[
            (ENV_BUCKET, "Not_A_Bucket"),
            (ENV_QUEUE_URL, ""),
            (ENV_STATE_MACHINE_ARN, "arn:aws:lambda:eu-west-1:1:function:x"),
            (ENV_PRESIGN_TTL_SECS, "a week"),
        ]))
        .unwrap_err();
        assert_eq!(e.problems.len(), 5, "{e}");
        for name in [
            ENV_BUCKET,
            ENV_TABLE,
            ENV_QUEUE_URL,
            ENV_STATE_MACHINE_ARN,
            ENV_PRESIGN_TTL_SECS,
        ] {
            assert!(e.to_string().contains(name), "{name} missing from: {e}");
        }
        let mut vars = GOOD.to_vec();
        vars.push((ENV_PRESIGN_TTL_SECS, "604801"));
        assert_eq!(
            AwsSettings::from_lookup(lookup(&vars))
                .unwrap_err()
                .problems
                .len(),
            1
        );
    }

    #[test]
    fn bucket_and_table_names_are_checked() {
        assert!(valid_bucket("a.b-c"));
        assert!(!valid_bucket("ab"));
        assert!(!valid_bucket("-abc"));
        assert!(!valid_bucket("ABC"));
        assert!(valid_table("Jobs_table.v1-x"));
        assert!(!valid_table("jobs table"));
    }
}
