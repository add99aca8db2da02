//! The Function URL handlers: `presign` (create a job, hand out upload
//! URLs) and `status` (follow a job).
//!
//! Responses carry presigned URLs to the caller; nothing here logs them.

use crate::services::Services;
use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_lambda_events::http::{header::CONTENT_TYPE, HeaderValue};
use base64::Engine;
use serde::Serialize;
use vidstega_pipeline::contract::{
    keys, valid_job_id, ContainerName, ErrorBody, JobCreated, JobOptions, JobStatus, JobUploads,
    PresignedUpload,
};
use vidstega_pipeline::{JobRecord, Stage};

/// What a 429 asks the caller to wait, in seconds.
const RETRY_AFTER_SECONDS: u64 = 60;

/// A quota window.
const HOUR_MS: u64 = 3_600_000;

/// Who is asking, for the per-caller quota: the IAM principal of a signed
/// request (AuthType AWS_IAM), else the source IP address.
fn caller_of(req: &LambdaFunctionUrlRequest) -> String {
    let iam = req
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref());
    if let Some(arn) = iam.and_then(|i| i.user_arn.as_deref()).filter(|a| !a.is_empty()) {
        return format!("iam:{arn}");
    }
    if let Some(id) = iam.and_then(|i| i.caller_id.as_deref()).filter(|a| !a.is_empty()) {
        return format!("iam:{id}");
    }
    match req.request_context.http.source_ip.as_deref() {
        Some(ip) if !ip.is_empty() => format!("ip:{ip}"),
        _ => "unknown".into(),
    }
}

fn respond(status: i64, body: &impl Serialize) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = status;
    r.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.body = Some(serde_json::to_string(body).expect("answers serialise"));
    r
}

fn error(status: i64, message: &str) -> LambdaFunctionUrlResponse {
    respond(
        status,
        &ErrorBody {
            error: message.to_string(),
        },
    )
}

fn method(req: &LambdaFunctionUrlRequest) -> &str {
    req.request_context.http.method.as_deref().unwrap_or("")
}

fn body(req: &LambdaFunctionUrlRequest) -> Result<Vec<u8>, String> {
    let raw = req.body.as_deref().unwrap_or("");
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| format!("the body is not valid base64: {e}"))
    } else {
        Ok(raw.as_bytes().to_vec())
    }
}

fn new_job_id() -> Result<String, String> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("job-{}", hex::encode(b)))
}

/// `POST /jobs` `{"container": "mp4", "planes": "all", "mode": "compact"}` → `201 {job_id, uploads: {video,
/// payload, placement_key}: {method, url, key}, expires_in_seconds}`.
pub fn presign(req: &LambdaFunctionUrlRequest, svc: &Services<'_>) -> LambdaFunctionUrlResponse {
    if method(req) != "POST" {
        return error(405, "use POST to create a job");
    }
    let bytes = match body(req) {
        Ok(b) => b,
        Err(e) => return error(400, &e),
    };
    let ask: JobOptions = if bytes.iter().all(u8::is_ascii_whitespace) {
        JobOptions::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => {
                return error(
                    400,
                    &format!(
                        "the body must be JSON like {{\"container\":\"mp4\",\"planes\":\"all\",\"mode\":\"compact\"}} \
                         (container: mkv, mp4 or mov; planes: luma or all; mode: compact or lossless): {e}"
                    ),
                )
            }
        }
    };
    let container = ask
        .container
        .unwrap_or(ContainerName::default_for(ask.mode.unwrap_or_default()));
    if ask.max_rate.is_some_and(|r| !(r > 0.0 && r <= 1.0)) {
        return error(400, "max_rate must be above 0 and at most 1");
    }
    // Admission control: a job accepted now would only queue behind the
    // others and risk timing out, so the caller is told to come back.
    let limit = svc.settings.max_active_jobs;
    if limit > 0 {
        match svc.workflow.active_jobs(limit) {
            Ok(active) if active >= limit => {
                crate::metrics::emit(
                    crate::metrics::JOBS_REFUSED,
                    1.0,
                    crate::metrics::Unit::Count,
                    &[],
                    None,
                );
                let mut r = error(
                    429,
                    &format!(
                        "the service is busy ({active} or more jobs are queued or running, the limit is {limit}); \
                         try again in about {RETRY_AFTER_SECONDS} seconds"
                    ),
                );
                r.headers.insert(
                    aws_lambda_events::http::header::RETRY_AFTER,
                    HeaderValue::from(RETRY_AFTER_SECONDS),
                );
                return r;
            }
            Ok(_) => {}
            // The load could not be read: admit (the queue still absorbs it).
            Err(e) => tracing::warn!(error = %e, "cannot read the service's load; admitting the job"),
        }
    }
    let per_hour = svc.settings.max_jobs_per_caller_hour;
    if per_hour > 0 {
        let caller = caller_of(req);
        let now = vidstega_pipeline::now_ms();
        let window = now / HOUR_MS * HOUR_MS;
        match svc.jobs.take_quota(&caller, window, per_hour) {
            Ok(true) => {}
            Ok(false) => {
                crate::metrics::emit(
                    crate::metrics::JOBS_REFUSED,
                    1.0,
                    crate::metrics::Unit::Count,
                    &[],
                    None,
                );
                let wait = (window + HOUR_MS - now).div_ceil(1000);
                let mut r = error(
                    429,
                    &format!(
                        "this caller has created {per_hour} jobs this hour, the most one caller may; \
                         try again in {} minute(s)",
                        wait.div_ceil(60)
                    ),
                );
                r.headers.insert(
                    aws_lambda_events::http::header::RETRY_AFTER,
                    HeaderValue::from(wait),
                );
                return r;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot count the caller's quota");
                return error(503, "the job table is unavailable; try again");
            }
        }
    }
    let id = match new_job_id() {
        Ok(id) => id,
        Err(e) => return error(503, &e),
    };
    let job = JobRecord::new(
        &id,
        &keys::video(&id),
        &keys::payload(&id),
        &keys::output(&id, container.as_str()),
    );
    // The options go in first, so whichever upload notification starts the
    // job finds them.
    let options = JobOptions {
        container: Some(container),
        planes: ask.planes,
        mode: ask.mode,
        max_rate: ask.max_rate,
        robustness: ask.robustness,
    };
    let stored = serde_json::to_vec(&options).expect("options serialise");
    if let Err(e) = svc.objects.write_bytes(&keys::options(&id), &stored) {
        tracing::error!(error = %e, "cannot store job options");
        return error(503, "the bucket is unavailable; try again");
    }
    if let Err(e) = svc.jobs.create_job(&job) {
        tracing::error!(error = %e, "cannot create a job");
        return error(503, "the job table is unavailable; try again");
    }
    let ttl = svc.settings.presign_ttl_seconds;
    let sign = |key: String| -> Option<PresignedUpload> {
        match svc.objects.presign_put(&key, ttl) {
            Ok(url) => Some(PresignedUpload {
                method: "PUT".into(),
                url,
                key,
            }),
            Err(e) => {
                tracing::error!(error = %e, "cannot sign an upload URL");
                None
            }
        }
    };
    let (Some(video), Some(payload), Some(placement_key)) = (
        sign(keys::video(&id)),
        sign(keys::payload(&id)),
        sign(keys::placement_key(&id)),
    ) else {
        return error(503, "cannot sign upload URLs; try again");
    };
    let uploads = JobUploads {
        video,
        payload,
        placement_key,
    };
    tracing::info!(job = %id, "job created");
    crate::metrics::emit(
        crate::metrics::JOBS_ACCEPTED,
        1.0,
        crate::metrics::Unit::Count,
        &[],
        Some(&id),
    );
    respond(
        201,
        &JobCreated {
            job_id: id,
            uploads,
            expires_in_seconds: ttl,
            output_key: job.output_key,
            note: "PUT each file with no Content-Type header or application/octet-stream".into(),
        },
    )
}

/// `GET /jobs/<id>` (or `?job_id=<id>`) → the job's stage, counts, timings
/// and error, and for a done job a presigned GET URL of the output.
pub fn status(req: &LambdaFunctionUrlRequest, svc: &Services<'_>) -> LambdaFunctionUrlResponse {
    if method(req) != "GET" {
        return error(405, "use GET");
    }
    let from_path = req
        .raw_path
        .as_deref()
        .and_then(|p| p.strip_prefix("/jobs/"))
        .map(|s| s.trim_end_matches('/').to_string());
    let id = match from_path.or_else(|| req.query_string_parameters.get("job_id").cloned()) {
        Some(id) => id,
        None => return error(400, "name the job: GET /jobs/<job_id> or ?job_id=<job_id>"),
    };
    if !valid_job_id(&id) {
        return error(400, "that is not a job id");
    }
    let job = match svc.jobs.job(&id) {
        Ok(Some(j)) => j,
        Ok(None) => return error(404, "no such job"),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a job");
            return error(503, "the job table is unavailable; try again");
        }
    };
    // A done job's output can be fetched with a short-lived signed GET.
    let output_url = if job.stage == Stage::Done {
        svc.objects.download_url(&job.output_key).ok().flatten()
    } else {
        None
    };
    let segment_millis: Vec<Option<u64>> = match svc.jobs.segments(&id) {
        Ok(s) => s.iter().map(|s| s.millis).collect(),
        Err(_) => Vec::new(),
    };
    let done = job.stage == Stage::Done;
    respond(
        200,
        &JobStatus {
            elapsed_ms: job.updated_ms.saturating_sub(job.created_ms),
            job_id: job.job_id,
            stage: job.stage,
            segments_done: job.segments_done,
            segments_total: job.segments_total,
            error: job.error,
            created_ms: job.created_ms,
            updated_ms: job.updated_ms,
            segment_millis,
            output_key: done.then_some(job.output_key),
            output_url,
        },
    )
}
