//! The SDK clients, built once from the standard AWS configuration chain.
//! (The functions' own settings are read by `vidstega-lambda`.)

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_types::service_config::ServiceConfigKey;

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
