//! What `vidstega submit` and `vidstega status` share: the AWS SDK set-up,
//! a small blocking HTTP client for the Function URLs and presigned URLs
//! (with optional SigV4 signing), their errors, and atomic downloads.
//!
//! Presigned URLs are bearer credentials: they are used, never printed or
//! logged, and error messages name what was being transferred, not the URL.

use crate::args::UsageError;
use crate::outfile::{parent, OutputError};
use anyhow::{anyhow, bail, Context, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};
use vidstega_aws::AwsClients;
use vidstega_pipeline::redact_urls;

/// The environment variable that says how the Function URLs authenticate
/// (`AWS_IAM` or `NONE`, as the stack's `FunctionUrlAuthType` parameter).
pub const AUTH_ENV: &str = "VIDSTEGA_FUNCTION_URL_AUTH";

/// Problems with the input that make a job pointless (exit code 3).
pub use crate::args::InputError;

/// A cloud job that ended in failure (exit code 3), with the reason the
/// pipeline recorded.
#[derive(Debug, thiserror::Error)]
#[error("job {job_id} failed: {reason}")]
pub struct JobFailed {
    /// The job.
    pub job_id: String,
    /// Why, as recorded in the job table.
    pub reason: String,
}

/// The tokio runtime and the SDK configuration from the standard chain
/// (credentials, region, `AWS_ENDPOINT_URL_*`).
///
/// The synchronous stores block on this runtime; call them from the main
/// thread (never from inside `rt.block_on`).
pub struct Sdk {
    /// A small multi-thread runtime that drives the SDK's network calls.
    pub rt: tokio::runtime::Runtime,
    /// The loaded configuration.
    pub config: aws_types::SdkConfig,
}

impl Sdk {
    /// Builds the runtime and loads the configuration.
    pub fn load() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime for the AWS SDK")?;
        let config = rt.block_on(vidstega_aws::load_sdk_config());
        Ok(Sdk { rt, config })
    }

    /// [`Sdk::load`], then checks that a region and credentials are
    /// configured, so a missing one is reported as such before any call.
    pub fn load_checked() -> Result<Self> {
        let sdk = Sdk::load()?;
        if sdk.config.region().is_none() {
            bail!("no AWS region is configured: set AWS_REGION (or use a profile that has a region)");
        }
        sdk.credentials()?;
        Ok(sdk)
    }

    /// The current credentials from the standard chain.
    fn credentials(&self) -> Result<aws_credential_types::Credentials> {
        let provider = self
            .config
            .credentials_provider()
            .ok_or_else(|| anyhow!(NO_CREDENTIALS))?;
        self.rt
            .block_on(provider.provide_credentials())
            .map_err(|e| anyhow!("cannot load AWS credentials ({e}); {NO_CREDENTIALS}"))
    }

    /// The SDK clients.
    pub fn clients(&self) -> AwsClients {
        AwsClients::new(&self.config)
    }

    /// A handle the stores block on.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.rt.handle().clone()
    }
}

/// What to do when no AWS credentials are found.
const NO_CREDENTIALS: &str = "configure AWS credentials: AWS_PROFILE (after `aws sso login` for SSO), or \
                              AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

/// Whether requests to a Function URL must be signed: `--sign`, or
/// `VIDSTEGA_FUNCTION_URL_AUTH=AWS_IAM`.
pub fn wants_signing(flag: bool) -> Result<bool> {
    if flag {
        return Ok(true);
    }
    match std::env::var(AUTH_ENV) {
        Err(_) => Ok(false),
        Ok(v) => match v.trim().to_ascii_uppercase().as_str() {
            "AWS_IAM" | "IAM" => Ok(true),
            "NONE" | "" => Ok(false),
            other => Err(UsageError(format!(
                "{AUTH_ENV}={other:?} is neither AWS_IAM nor NONE (the stack's FunctionUrlAuthType)"
            ))
            .into()),
        },
    }
}

/// Checks a Function URL given on the command line.
fn function_base(url: &str, flag: &str) -> Result<String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| UsageError(format!("{flag} must be an http:// or https:// URL")))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(UsageError(format!("{flag} has no host")).into());
    }
    if url.contains('?') || url.contains('#') {
        return Err(UsageError(format!(
            "{flag} must be the Function URL without a query string (the stack's output, e.g. https://<id>.lambda-url.<region>.on.aws/)"
        ))
        .into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The URL jobs are created at: the presign Function URL with `/jobs`
/// appended unless it already ends so.
pub fn jobs_url(presign_url: &str) -> Result<String> {
    let base = function_base(presign_url, "--presign-url")?;
    Ok(if base.ends_with("/jobs") {
        base
    } else {
        format!("{base}/jobs")
    })
}

/// The URL of one job: `<status URL>/jobs/<id>` (or `<status URL>/<id>` when
/// the URL already ends with `/jobs`).
pub fn job_url(status_url: &str, job_id: &str) -> Result<String> {
    let base = function_base(status_url, "--status-url")?;
    Ok(if base.ends_with("/jobs") {
        format!("{base}/{job_id}")
    } else {
        format!("{base}/jobs/{job_id}")
    })
}

/// A fresh job id: `job-` and 16 random hex digits, like the presign function's.
pub fn new_job_id() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| anyhow!("no randomness for a job id: {e}"))?;
    Ok(format!("job-{}", hex::encode(b)))
}

/// Refuses job ids the pipeline would never have made.
pub fn check_job_id(id: &str) -> Result<()> {
    if vidstega_pipeline::contract::valid_job_id(id) {
        Ok(())
    } else {
        Err(UsageError(format!(
            "{id:?} is not a job id (8 to 64 letters, digits, '-' or '_', like job-0123456789abcdef)"
        ))
        .into())
    }
}

/// Signs Function URL requests with SigV4 for the service `lambda`.
struct Signer {
    sdk: Sdk,
}

impl Signer {
    /// The region a Function URL lives in: from its host name
    /// (`<id>.lambda-url.<region>.on.aws`), else the configured one.
    fn region(&self, url: &str) -> Result<String> {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':']).next())
            .unwrap_or_default();
        let labels: Vec<&str> = host.split('.').collect();
        if let Some(i) = labels.iter().position(|l| *l == "lambda-url") {
            if let Some(region) = labels.get(i + 1).filter(|r| !r.is_empty()) {
                return Ok(region.to_string());
            }
        }
        self.sdk
            .config
            .region()
            .map(|r| r.as_ref().to_string())
            .ok_or_else(|| {
                anyhow!("cannot tell which region to sign for: set AWS_REGION (or a profile region)")
            })
    }

    /// The headers to add to `method url` with `headers` and `body`.
    fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>> {
        let identity: Identity = self.sdk.credentials()?.into();
        let region = self.region(url)?;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| anyhow!("cannot set up request signing: {e}"))?
            .into();
        let request = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body))
            .map_err(|e| anyhow!("cannot sign the request: {e}"))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| anyhow!("cannot sign the request: {e}"))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

/// A blocking HTTP client for the Function URLs (signed when asked) and the
/// presigned S3 URLs (never signed: the URL carries the signature).
pub struct Http {
    agent: ureq::Agent,
    signer: Option<Signer>,
}

/// What a failed HTTP exchange looked like, for deciding whether to retry.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    /// A one-line description without URLs.
    pub message: String,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
}

impl HttpError {
    /// Whether trying again later may help (no answer, 429 or 5xx).
    pub fn transient(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s == 429 || s >= 500,
        }
    }
}

/// The useful part of an error body: S3's `<Code>`/`<Message>`, a JSON
/// `error`, or the start of the text; never URLs.
fn error_detail(body: &str) -> String {
    let xml = |tag: &str| {
        let open = format!("<{tag}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{tag}>"))? + start;
        Some(body[start..end].to_string())
    };
    let detail = if let Some(code) = xml("Code") {
        match xml("Message") {
            Some(m) => format!("{code}: {m}"),
            None => code,
        }
    } else if let Some(e) = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        v.get("error")
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    }) {
        e
    } else {
        body.trim().chars().take(200).collect()
    };
    redact_urls(&detail)
}

/// An HTTP failure as an [`HttpError`] naming `what` failed, without the URL.
fn http_error(what: &str, e: ureq::Error) -> HttpError {
    match e {
        ureq::Error::Status(status, response) => {
            let body = response.into_string().unwrap_or_default();
            let detail = error_detail(&body);
            HttpError {
                message: if detail.is_empty() {
                    format!("{what}: the server answered HTTP {status}")
                } else {
                    format!("{what}: the server answered HTTP {status} ({detail})")
                },
                status: Some(status),
            }
        }
        ureq::Error::Transport(t) => {
            let mut text = match t.message() {
                Some(m) => format!("{}: {m}", t.kind()),
                None => t.kind().to_string(),
            };
            let mut cause = std::error::Error::source(&t);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            HttpError {
                message: format!("{what}: {}", redact_urls(&text)),
                status: None,
            }
        }
    }
}

/// A progress bar of bytes on standard error (hidden when `quiet` or when
/// standard error is not a terminal).
pub fn bytes_bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{msg:>9} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})")
            .expect("valid template"),
    );
    bar.set_message(what.to_string());
    bar
}

impl Http {
    /// A client; `sign` loads the AWS configuration for SigV4 signing.
    pub fn new(sign: bool) -> Result<Self> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(120))
            .timeout_write(Duration::from_secs(120))
            .user_agent(concat!("vidstega/", env!("CARGO_PKG_VERSION")))
            .build();
        let signer = if sign {
            let sdk = Sdk::load()?;
            sdk.credentials().context("--sign needs AWS credentials")?;
            Some(Signer { sdk })
        } else {
            None
        };
        Ok(Http { agent, signer })
    }

    /// Whether Function URL calls are signed.
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// Calls a Function URL and returns the status and the JSON body (4xx and
    /// 5xx answers are returned too, for the caller to explain). `what` names
    /// the call in errors.
    pub fn call_json(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        what: &str,
    ) -> std::result::Result<(u16, Value), HttpError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut headers: Vec<(&str, &str)> = vec![("accept", "application/json")];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let mut req = self.agent.request(method, url);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        if let Some(signer) = &self.signer {
            let signed = signer
                .headers(method, url, &headers, &bytes)
                .map_err(|e| HttpError {
                    message: format!("{what}: {e:#}"),
                    status: None,
                })?;
            for (k, v) in &signed {
                req = req.set(k, v);
            }
        }
        let response = match if body.is_some() {
            req.send_bytes(&bytes)
        } else {
            req.call()
        } {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(http_error(what, e)),
        };
        let status = response.status();
        let text = response.into_string().map_err(|e| HttpError {
            message: format!("{what}: cannot read the answer: {e}"),
            status: Some(status),
        })?;
        let json = serde_json::from_str(&text).map_err(|_| HttpError {
            message: format!(
                "{what}: the answer (HTTP {status}) is not JSON{}",
                match error_detail(&text) {
                    d if d.is_empty() => String::new(),
                    d => format!(": {d}"),
                }
            ),
            status: Some(status),
        })?;
        Ok((status, json))
    }

    /// PUTs `len` bytes from `reader` to a presigned URL as
    /// `application/octet-stream` with a `Content-Length` (S3 refuses chunked
    /// uploads to presigned URLs).
    pub fn put(&self, url: &str, reader: impl Read, len: u64, what: &str) -> Result<()> {
        self.agent
            .put(url)
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &len.to_string())
            .send(reader)
            .map_err(|e| http_error(what, e))?;
        Ok(())
    }

    /// GETs a presigned URL into `out`, returning the bytes written; checks
    /// the length against `Content-Length` when the server sends one.
    pub fn download(&self, url: &str, out: &mut File, quiet: bool, what: &str) -> Result<u64> {
        let response = self.agent.get(url).call().map_err(|e| http_error(what, e))?;
        let expected = response
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bar = bytes_bar(quiet, expected.unwrap_or(0), "download");
        let mut reader = bar.wrap_read(response.into_reader());
        let n = std::io::copy(&mut reader, out).with_context(|| format!("{what}: the transfer broke off"))?;
        bar.finish_and_clear();
        if let Some(len) = expected.filter(|&len| len != n) {
            bail!("{what}: got {n} bytes of {len}; try again");
        }
        Ok(n)
    }
}

/// Writes a download to `out` atomically: into a hidden temporary file in the
/// same folder, then renamed. Refuses to replace an existing `out` unless
/// `force` (exit code 7), also when it appeared during the download.
pub fn write_download(out: &Path, force: bool, fill: impl FnOnce(&mut File) -> Result<u64>) -> Result<u64> {
    let dir = parent(out);
    let mut tmp = tempfile::Builder::new()
        .prefix(".vidstega-download-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|e| OutputError::Unwritable(dir.clone(), e))?;
    let n = fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all().ok();
    let persisted = if force {
        tmp.persist(out).map_err(|e| e.error)
    } else {
        tmp.persist_noclobber(out).map_err(|e| e.error)
    };
    match persisted {
        Ok(_) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(OutputError::Exists(out.to_path_buf()).into())
        }
        Err(e) => Err(e).with_context(|| format!("cannot move the download to {}", out.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_urls_get_the_jobs_path_once() {
        let base = "https://abc.lambda-url.eu-west-1.on.aws/";
        assert_eq!(
            jobs_url(base).unwrap(),
            "https://abc.lambda-url.eu-west-1.on.aws/jobs"
        );
        assert_eq!(
            jobs_url("http://127.0.0.1:9/jobs/").unwrap(),
            "http://127.0.0.1:9/jobs"
        );
        assert_eq!(
            job_url(base, "job-0123456789abcdef").unwrap(),
            "https://abc.lambda-url.eu-west-1.on.aws/jobs/job-0123456789abcdef"
        );
        assert_eq!(
            job_url("http://h/jobs", "job-12345678").unwrap(),
            "http://h/jobs/job-12345678"
        );
        assert!(jobs_url("abc.lambda-url.eu-west-1.on.aws").is_err());
        assert!(jobs_url("https://h/?x=1").is_err());
        assert!(jobs_url("https:///jobs").is_err());
    }

    #[test]
    fn error_bodies_are_summarised_without_urls() {
        let s3 =
            "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message>\
                  <Resource>https://b.s3.amazonaws.com/k?X-Amz-Signature=secret</Resource></Error>";
        assert_eq!(error_detail(s3), "AccessDenied: Request has expired");
        assert_eq!(error_detail(r#"{"error":"no such job"}"#), "no such job");
        let leaky = "failed at https://x/y?X-Amz-Signature=secret";
        assert!(!error_detail(leaky).contains("secret"));
    }

    #[test]
    fn job_ids_are_well_formed() {
        let id = new_job_id().unwrap();
        assert!(id.starts_with("job-") && id.len() == 20, "{id}");
        check_job_id(&id).unwrap();
        assert!(check_job_id("job 1").is_err());
    }

    #[test]
    fn the_region_comes_from_a_function_url_host() {
        let signer = Signer {
            sdk: Sdk {
                rt: tokio::runtime::Builder::new_current_thread().build().unwrap(),
                config: aws_types::SdkConfig::builder().build(),
            },
        };
        assert_eq!(
            signer
                .region("https://abc.lambda-url.ap-south-2.on.aws/jobs")
                .unwrap(),
            "ap-south-2"
        );
        assert!(signer.region("http://127.0.0.1:8/jobs").is_err());
    }
}
