//! `vidstega status`: a cloud job's stage, segments done/total, error and
//! elapsed time, from the status Function URL or straight from the DynamoDB
//! job table; `--follow` polls until the job ends, `--download` then fetches
//! the stego video atomically.
//!
//! A failed job exits with code 3 and its recorded reason. The presigned
//! output URL the status function returns is used for the download only, and
//! never printed.

use crate::args::{StatusArgs, UsageError};
use crate::cloud::{check_job_id, job_url, wants_signing, write_download, Http, HttpError, JobFailed, Sdk};
use crate::outfile::check_writable;
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use vidstega_aws::{DynamoJobStore, S3Store};
use vidstega_core::ErrorClass;
use vidstega_pipeline::contract::{ErrorBody, JobStatus};
use vidstega_pipeline::{now_ms, JobStore, ObjectStore};

/// How long `--follow` waits for a job that is not in the table yet (the
/// planner creates the record when it reads a queued job message).
const NOT_FOUND_GRACE: Duration = Duration::from_secs(120);
/// How long `--follow` rides out network or service trouble.
const TRANSIENT_GRACE: Duration = Duration::from_secs(300);

/// What is known about a job, whichever way it was read.
#[derive(Debug, Clone, Serialize)]
struct View {
    job_id: String,
    stage: String,
    segments_done: u32,
    segments_total: u32,
    error: Option<String>,
    created_ms: u64,
    updated_ms: u64,
    elapsed_seconds: f64,
    output_key: Option<String>,
    segment_millis: Vec<Option<u64>>,
    /// The presigned GET URL of a done job's output (URL transport only).
    #[serde(skip)]
    output_url: Option<String>,
}

impl View {
    /// Whether the job has ended (done or failed).
    fn is_final(&self) -> bool {
        matches!(self.stage.as_str(), "done" | "failed")
    }

    /// Elapsed time: to the last change for a finished job, to now otherwise.
    fn with_elapsed(mut self) -> Self {
        let end = if self.is_final() {
            self.updated_ms
        } else {
            now_ms().max(self.updated_ms)
        };
        self.elapsed_seconds = end.saturating_sub(self.created_ms) as f64 / 1000.0;
        self
    }
}

/// Why a poll failed, and whether polling again may help.
struct PollError {
    error: anyhow::Error,
    transient: bool,
}

impl From<anyhow::Error> for PollError {
    fn from(error: anyhow::Error) -> Self {
        PollError {
            error,
            transient: false,
        }
    }
}

/// Where the job is read from.
enum Source {
    /// The status Function URL.
    Url { http: Http, base: String },
    /// The job table, and the bucket for downloads.
    Table {
        // Declared first so the stores (which hold its handle) go first.
        jobs: DynamoJobStore,
        bucket: Option<S3Store>,
        /// Keeps the runtime the stores block on alive.
        _sdk: Sdk,
    },
}

impl Source {
    /// Reads the job once; `Ok(None)` when there is no such job.
    fn poll(&self, job_id: &str) -> std::result::Result<Option<View>, PollError> {
        match self {
            Source::Url { http, base } => {
                let url = job_url(base, job_id)?;
                let (status, v) = http
                    .call_json("GET", &url, None, "asking the status function")
                    .map_err(|e: HttpError| PollError {
                        transient: e.transient(),
                        error: e.into(),
                    })?;
                if status == 404 {
                    return Ok(None);
                }
                if status != 200 {
                    let detail = serde_json::from_value::<ErrorBody>(v)
                        .map(|b| b.error)
                        .unwrap_or_else(|_| "no reason given".into());
                    let hint = match status {
                        401 | 403 if !http.signs() => {
                            " (if the stack's FunctionUrlAuthType is AWS_IAM, add --sign)"
                        }
                        _ => "",
                    };
                    return Err(PollError {
                        error: anyhow!("the status function answered HTTP {status}: {detail}{hint}"),
                        transient: status == 429 || status >= 500,
                    });
                }
                let job: JobStatus = serde_json::from_value(v).map_err(|e| PollError {
                    error: anyhow!(
                        "the status function's answer is not a job's status ({e}); is --status-url the StatusUrl output?"
                    ),
                    transient: false,
                })?;
                Ok(Some(
                    View {
                        job_id: job.job_id,
                        stage: job.stage.as_str().to_string(),
                        segments_done: job.segments_done,
                        segments_total: job.segments_total,
                        error: job.error,
                        created_ms: job.created_ms,
                        updated_ms: job.updated_ms,
                        elapsed_seconds: 0.0,
                        output_key: job.output_key,
                        segment_millis: job.segment_millis,
                        output_url: job.output_url,
                    }
                    .with_elapsed(),
                ))
            }
            Source::Table { jobs, .. } => {
                let table_error = |e: vidstega_pipeline::PipelineError| PollError {
                    transient: e.class() == ErrorClass::Retryable,
                    error: anyhow::Error::new(e).context("cannot read the job table"),
                };
                let Some(job) = jobs.job(job_id).map_err(table_error)? else {
                    return Ok(None);
                };
                let segments = jobs.segments(job_id).map_err(table_error)?;
                let done = job.stage == vidstega_pipeline::Stage::Done;
                Ok(Some(
                    View {
                        job_id: job.job_id,
                        stage: job.stage.as_str().to_string(),
                        segments_done: job.segments_done,
                        segments_total: job.segments_total.max(segments.len() as u32),
                        error: job.error,
                        created_ms: job.created_ms,
                        updated_ms: job.updated_ms,
                        elapsed_seconds: 0.0,
                        output_key: done.then_some(job.output_key),
                        segment_millis: segments.iter().map(|s| s.millis).collect(),
                        output_url: None,
                    }
                    .with_elapsed(),
                ))
            }
        }
    }

    /// Downloads a done job's output to `out`.
    fn download(&self, view: &View, out: &Path, force: bool, quiet: bool) -> Result<u64> {
        let what = "downloading the output";
        match self {
            Source::Url { http, .. } => {
                let url = view.output_url.as_deref().ok_or_else(|| {
                    anyhow!(
                        "the status function gave no download URL for the done job {}",
                        view.job_id
                    )
                })?;
                write_download(out, force, |file| http.download(url, file, quiet, what))
            }
            Source::Table { bucket, .. } => {
                let store = bucket
                    .as_ref()
                    .ok_or_else(|| UsageError("--download with --table needs --bucket".into()))?;
                let key = view
                    .output_key
                    .as_deref()
                    .ok_or_else(|| anyhow!("the job record names no output"))?;
                if store.size(key)?.is_none() {
                    bail!(
                        "job {} is done but its output {key:?} is not in bucket {:?} (outputs may have expired)",
                        view.job_id,
                        store.bucket()
                    );
                }
                let Some(url) = store.download_url(key)? else {
                    bail!("the bucket gave no download URL");
                };
                let http = Http::new(false)?;
                write_download(out, force, |file| http.download(&url, file, quiet, what))
            }
        }
    }
}

/// `12.3 s`, `4m 05s` or `1h 02m 03s`.
fn fmt_elapsed(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else {
        let s = seconds.round() as u64;
        if s < 3600 {
            format!("{}m {:02}s", s / 60, s % 60)
        } else {
            format!("{}h {:02}m {:02}s", s / 3600, s % 3600 / 60, s % 60)
        }
    }
}

/// The one-line text report of a job.
fn describe(v: &View) -> String {
    let segments = if v.segments_total == 0 {
        "not planned yet".to_string()
    } else {
        format!("{}/{} segments", v.segments_done, v.segments_total)
    };
    let mut line = format!(
        "{}: {}, {segments}, {}",
        v.job_id,
        v.stage,
        fmt_elapsed(v.elapsed_seconds)
    );
    if let Some(key) = &v.output_key {
        line.push_str(&format!("; output {key}"));
    }
    line
}

/// A bar of segments on standard error (hidden when `quiet` or when standard
/// error is not a terminal).
fn segments_bar(quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(waiting_style());
    bar
}

/// The bar before the job is planned (no segment count yet).
fn waiting_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:>13} [{elapsed_precise}] waiting for the planner")
        .expect("valid template")
}

/// The bar of segments.
fn segments_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:>13} [{elapsed_precise}] {wide_bar} {pos}/{len} segments")
        .expect("valid template")
}

/// Polls until the job is done or failed, the timeout passes, or a poll
/// fails for good.
fn follow(source: &Source, args: &StatusArgs, interval: Duration) -> Result<View> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    let bar = segments_bar(args.json);
    let mut failing_since: Option<Instant> = None;
    let mut last_error: Option<anyhow::Error> = None;
    let mut seen = false;
    let not_found = |waited: Duration| {
        anyhow!(
            "there is no job {} (waited {} for it to appear); check the job id and the {}",
            args.job,
            fmt_elapsed(waited.as_secs_f64()),
            if args.table.is_some() {
                "--table"
            } else {
                "--status-url"
            }
        )
    };
    let result = loop {
        match source.poll(&args.job) {
            Ok(Some(view)) => {
                seen = true;
                failing_since = None;
                last_error = None;
                if view.segments_total > 0 && bar.length() == Some(0) {
                    bar.set_style(segments_style());
                }
                bar.set_length(view.segments_total as u64);
                bar.set_position(view.segments_done as u64);
                bar.set_message(view.stage.clone());
                if view.is_final() {
                    break Ok(view);
                }
            }
            Ok(None) => {
                if started.elapsed() > NOT_FOUND_GRACE || Instant::now() + interval > deadline {
                    break Err(not_found(started.elapsed()));
                }
                bar.set_message("submitted");
            }
            Err(e) if e.transient => {
                let first = failing_since.is_none();
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > TRANSIENT_GRACE {
                    break Err(e.error.context(format!(
                        "still failing after {}",
                        fmt_elapsed(since.elapsed().as_secs_f64())
                    )));
                }
                bar.set_message("retrying");
                if first {
                    let text = format!("{:#}", e.error);
                    bar.suspend(
                        || tracing::warn!(error = %text, "polling failed; trying again until it works"),
                    );
                }
                last_error = Some(e.error);
            }
            Err(e) => break Err(e.error),
        }
        if Instant::now() + interval > deadline {
            if let Some(e) = last_error.take() {
                break Err(e.context(format!(
                    "gave up following job {} after {} (--timeout)",
                    args.job,
                    fmt_elapsed(args.timeout.as_secs_f64())
                )));
            }
            if !seen {
                break Err(not_found(started.elapsed()));
            }
            break Err(anyhow!(
                "job {} has not finished after {} (--timeout); run the command again to keep following it",
                args.job,
                fmt_elapsed(args.timeout.as_secs_f64())
            ));
        }
        std::thread::sleep(interval);
    };
    bar.finish_and_clear();
    result
}

/// Runs `vidstega status`.
pub fn run(args: StatusArgs) -> Result<()> {
    check_job_id(&args.job)?;
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(UsageError("--interval must be a positive number of seconds".into()).into());
    }
    let interval = Duration::from_secs_f64(args.interval.min(3600.0));
    if args.auth.sign && args.status_url.is_none() {
        return Err(UsageError(
            "--sign is for --status-url; --table uses your AWS credentials anyway".into(),
        )
        .into());
    }
    if let Some(out) = &args.download {
        if args.table.is_some() && args.bucket.is_none() {
            return Err(UsageError(
                "--download with --table needs --bucket (the bucket the job's output is in)".into(),
            )
            .into());
        }
        check_writable(out, args.force)?;
    }
    let source = match (&args.status_url, &args.table) {
        (Some(url), _) => {
            job_url(url, &args.job)?;
            Source::Url {
                http: Http::new(wants_signing(args.auth.sign)?)?,
                base: url.clone(),
            }
        }
        (None, Some(table)) => {
            let sdk = Sdk::load_checked()?;
            let clients = sdk.clients();
            Source::Table {
                jobs: DynamoJobStore::new(clients.dynamodb, table, sdk.handle()),
                bucket: args
                    .bucket
                    .as_ref()
                    .map(|b| S3Store::new(clients.s3, b, sdk.handle())),
                _sdk: sdk,
            }
        }
        (None, None) => bail!(UsageError("give --status-url URL or --table TABLE".into())),
    };
    let view = if args.follow {
        follow(&source, &args, interval)?
    } else {
        match source.poll(&args.job) {
            Ok(Some(v)) => v,
            Ok(None) => bail!(
                "there is no job {}; check the job id and the {}",
                args.job,
                if args.table.is_some() {
                    "--table"
                } else {
                    "--status-url"
                }
            ),
            Err(e) => return Err(e.error),
        }
    };

    let mut downloaded = None;
    if let (Some(out), "done") = (&args.download, view.stage.as_str()) {
        let bytes = source
            .download(&view, out, args.force, args.json)
            .with_context(|| format!("cannot download the output of job {}", view.job_id))?;
        downloaded = Some((out.clone(), bytes));
    }
    if args.json {
        let mut line = serde_json::to_value(&view)?;
        line["download"] = match &downloaded {
            Some((path, bytes)) => json!({ "path": path, "bytes": bytes }),
            None => Value::Null,
        };
        crate::output::line(line)?;
    } else {
        crate::output::line(describe(&view))?;
        if let Some((path, bytes)) = &downloaded {
            crate::output::line(format!("downloaded {bytes} bytes to {}", path.display()))?;
        }
    }
    if view.stage == "failed" {
        return Err(JobFailed {
            job_id: view.job_id,
            reason: view.error.unwrap_or_else(|| "no reason was recorded".into()),
        }
        .into());
    }
    if args.download.is_some() && downloaded.is_none() {
        bail!(
            "job {} is {} ({}/{} segments), so there is nothing to download yet; add --follow to wait for it",
            view.job_id,
            view.stage,
            view.segments_done,
            view.segments_total
        );
    }
    Ok(())
}
