//! The `planner` function: SQS batches of upload notifications and job
//! messages → planned jobs and started executions.
//!
//! Idempotent under duplicate and out-of-order delivery: the job row is
//! created once; a job whose uploads are not all there yet is left waiting
//! (the last upload's notification starts it); planning again yields the
//! same plan; the execution is named after the job, so a second start is a
//! no-op. A message that fails for a transient reason is reported as a batch
//! item failure and comes back (then to the dead-letter queue); a job whose
//! input is unusable is marked failed with the reason and its message acked;
//! a message that can never succeed (malformed, an invalid job id or
//! options) is acked on its first receive, logged and counted
//! (`MessagesRejected`), and the queued job it names is marked failed.
//!
//! With [`Lanes`], a job over the express lane's threshold that arrived on
//! the jobs queue is sent on to the long lane's queue after one quick read
//! of the video's header, and planned when it comes back from there
//! ([`crate::lane`]). Each execution's input names the lane its job was
//! planned on, which chooses the functions it runs on ([`Route`]).

use crate::error::StepError;
use crate::lane::{lane_for, Lane, Lanes};
use crate::segment::load_key;
use crate::services::Services;
use crate::trigger::{parse_trigger, Trigger};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use vidstega_media::OutputContainer;
use vidstega_pipeline::contract::{
    keys, valid_job_id, ContainerName, ErrorType, ExecutionInput, JobMessage, JobOptions, Planes, SegmentTask,
};
use vidstega_pipeline::{
    plan_job, source_path, Created, JobRecord, Plan, PlanSettings, Stage, DEFAULT_MAX_RATE,
};

/// What happened to one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do (a test event, an object that is not an upload).
    Ignored,
    /// The job's uploads are not all there yet.
    Waiting(String),
    /// The job was planned and its execution started (`new`: not a duplicate).
    Started {
        /// The job.
        job_id: String,
        /// Whether this start created the execution.
        new: bool,
    },
    /// The job is over the express lane's threshold: it was sent to the
    /// long lane's queue, to be planned from there.
    SentToLongLane(String),
    /// The job is already done or failed.
    AlreadyFinished(String),
    /// The job's input is unusable; it was marked failed.
    Rejected(String),
}

/// Where a message's jobs are planned, and which lane's functions their
/// executions run on.
#[derive(Clone, Copy)]
pub enum Route<'a> {
    /// Every job is planned here and runs on this lane's functions: the
    /// express lane's when there is one lane, the long lane's for a message
    /// from the long lane's queue.
    Here(Lane),
    /// The message arrived on the express lane: a job over the threshold is
    /// sent on to the long lane; the others are planned here and run on the
    /// express lane's functions.
    Express(&'a Lanes<'a>),
}

impl Route<'_> {
    /// The route of a message received from `event_source_arn` when the
    /// planner has `lanes` (`None`: one lane).
    pub fn of<'a>(lanes: Option<&'a Lanes<'a>>, event_source_arn: Option<&str>) -> Route<'a> {
        match lanes {
            None => Route::Here(Lane::Express),
            Some(l) if l.arrived_on(event_source_arn) == Lane::Long => Route::Here(Lane::Long),
            Some(l) => Route::Express(l),
        }
    }
}

/// Handles one SQS batch with one lane (every job planned where it
/// arrives), reporting the messages to retry.
pub fn handle(event: &SqsEvent, svc: &Services<'_>) -> SqsBatchResponse {
    handle_in_lanes(event, svc, None)
}

/// Handles one SQS batch, reporting the messages to retry. With `lanes`, a
/// message that arrived on the express lane (any queue but the long lane's)
/// and names a job over the threshold is sent on to the long lane.
pub fn handle_in_lanes(event: &SqsEvent, svc: &Services<'_>, lanes: Option<&Lanes<'_>>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let route = Route::of(lanes, record.event_source_arn.as_deref());
        match handle_body_in_lanes(record.body.as_deref().unwrap_or_default(), svc, route) {
            Ok(outcomes) => {
                for o in outcomes {
                    tracing::info!(message_id = %id, outcome = ?o, "message handled");
                }
            }
            Err(e) if e.error_type == ErrorType::InvalidInput => {
                let body = record.body.as_deref().unwrap_or_default();
                match reject_message(body, &e, svc) {
                    Ok(failed) => {
                        tracing::warn!(
                            message_id = %id,
                            error_type = e.error_type_name(),
                            error = %e,
                            failed_jobs = ?failed,
                            "message rejected: it can never succeed, so it is deleted, not retried"
                        );
                        crate::metrics::emit(
                            crate::metrics::MESSAGES_REJECTED,
                            1.0,
                            crate::metrics::Unit::Count,
                            &[],
                            None,
                        );
                    }
                    Err(mark) => {
                        tracing::warn!(message_id = %id, error = %e, mark_error = %mark, "rejecting the message failed; it will be retried");
                        response.add_failure(id);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error_type = e.error_type_name(), error = %e, "message will be retried");
                response.add_failure(id);
            }
        }
    }
    response
}

/// What becomes of a message that can never succeed (`error` is
/// InvalidInput: not JSON, neither a notification nor a job message, an
/// invalid job id, options that do not parse or are out of range): it is
/// acknowledged at once rather than received again until the dead-letter
/// queue, and each job it names that is still `queued` (not planned: a
/// running job is never changed by a message) is marked failed with the
/// reason, its placement key deleted, so the caller's status says why.
/// Returns the jobs marked failed; `Err` (a table or store error) means
/// "retry the message".
fn reject_message(body: &str, error: &StepError, svc: &Services<'_>) -> Result<Vec<String>, StepError> {
    let reason = format!("the job's message cannot be used: {}", error.message);
    let mut failed = Vec::new();
    for job_id in jobs_named(body, svc) {
        let Some(job) = svc.jobs.job(&job_id)? else {
            continue;
        };
        if job.stage != Stage::Queued {
            continue;
        }
        svc.jobs.set_stage(&job_id, Stage::Failed, Some(&reason))?;
        svc.objects.delete(&keys::placement_key(&job_id))?;
        crate::metrics::emit(
            crate::metrics::JOBS_FAILED,
            1.0,
            crate::metrics::Unit::Count,
            &[(crate::metrics::CAUSE, "input")],
            Some(&job_id),
        );
        failed.push(job_id);
    }
    Ok(failed)
}

/// The valid job ids a message body names: a job message's `job_id` (read
/// from the JSON even when the message as a whole does not parse), the jobs
/// of a notification's uploads to this bucket.
fn jobs_named(body: &str, svc: &Services<'_>) -> Vec<String> {
    let ids: Vec<String> = match parse_trigger(body) {
        Ok(Trigger::Job(m)) => vec![m.job_id],
        Ok(Trigger::Uploads(uploads)) => uploads
            .iter()
            .filter(|u| u.bucket == svc.settings.bucket)
            .filter_map(|u| keys::job_of_upload(&u.key).map(str::to_string))
            .collect(),
        Ok(Trigger::TestEvent) => Vec::new(),
        Err(_) => serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("job_id")?.as_str().map(str::to_string))
            .into_iter()
            .collect(),
    };
    let mut ids: Vec<String> = ids.into_iter().filter(|id| valid_job_id(id)).collect();
    ids.dedup();
    ids
}

/// Handles one message body with one lane. `Err` means "retry this
/// message".
pub fn handle_body(body: &str, svc: &Services<'_>) -> Result<Vec<Outcome>, StepError> {
    handle_body_in_lanes(body, svc, Route::Here(Lane::Express))
}

/// Handles one message body on `route`: on the express lane, the jobs over
/// the threshold are sent on to the long lane. `Err` means "retry this
/// message".
pub fn handle_body_in_lanes(
    body: &str,
    svc: &Services<'_>,
    route: Route<'_>,
) -> Result<Vec<Outcome>, StepError> {
    let trigger = parse_trigger(body).map_err(|e| StepError::new(ErrorType::InvalidInput, e))?;
    let messages: Vec<JobMessage> = match trigger {
        Trigger::TestEvent => return Ok(vec![Outcome::Ignored]),
        Trigger::Job(m) => vec![m],
        Trigger::Uploads(uploads) => uploads
            .iter()
            .filter(|u| u.bucket == svc.settings.bucket)
            .filter_map(|u| keys::job_of_upload(&u.key))
            .map(|job_id| JobMessage {
                job_id: job_id.to_string(),
                video_key: None,
                payload_key: None,
                container: None,
                planes: None,
                mode: None,
                max_rate: None,
                robustness: None,
            })
            .collect(),
    };
    if messages.is_empty() {
        return Ok(vec![Outcome::Ignored]);
    }
    messages
        .iter()
        .map(|m| start_job_in_lanes(m, svc, route))
        .collect()
}

fn invalid(message: String) -> StepError {
    StepError::new(ErrorType::InvalidInput, message)
}

/// The largest options object read (`uploads/<id>/options.json`).
const MAX_OPTIONS_BYTES: u64 = 64 * 1024;

/// The options a job starts with: the message's, else the stored options
/// object's, else the defaults.
fn options(m: &JobMessage, svc: &Services<'_>) -> Result<JobOptions, StepError> {
    let stored = match svc.objects.size(&keys::options(&m.job_id))? {
        Some(n) if n > MAX_OPTIONS_BYTES => {
            return Err(invalid(format!(
                "the options of job {} are {n} bytes; options are a small JSON object (at most {MAX_OPTIONS_BYTES} bytes)",
                m.job_id
            )))
        }
        Some(_) => serde_json::from_slice::<JobOptions>(&svc.objects.read_all(&keys::options(&m.job_id))?)
            .map_err(|e| invalid(format!("the options of job {} do not parse: {e}", m.job_id)))?,
        None => JobOptions::default(),
    };
    Ok(JobOptions {
        container: m.container.or(stored.container),
        planes: m.planes.or(stored.planes),
        mode: m.mode.or(stored.mode),
        max_rate: m.max_rate.or(stored.max_rate),
        robustness: m.robustness.or(stored.robustness),
    })
}

/// Plans a job and starts its execution, once. A job that is already planned
/// is never planned again (a late or duplicate message cannot change a
/// running job); its execution is started again from the stored items, which
/// is harmless if it exists.
pub fn start_job(m: &JobMessage, svc: &Services<'_>) -> Result<Outcome, StepError> {
    start_job_in_lanes(m, svc, Route::Here(Lane::Express))
}

/// [`start_job`] on `route`: on the express lane, once the job's uploads
/// are all there, a job over the threshold is sent to the long lane instead
/// of being planned here. The execution runs on the lane the job is planned
/// on; an execution started again from the stored items (on a duplicate or
/// retried message) runs on the lane its job belongs to, which on the
/// express lane is read from the video's header again (it is not sent on:
/// it is planned already).
pub fn start_job_in_lanes(
    m: &JobMessage,
    svc: &Services<'_>,
    route: Route<'_>,
) -> Result<Outcome, StepError> {
    if !valid_job_id(&m.job_id) {
        return Err(invalid(format!(
            "job id {:?} is not 8 to 64 letters, digits, '-' or '_'",
            m.job_id
        )));
    }
    let id = &m.job_id;
    let items_key = format!("{}{id}/items.json", keys::WORK);
    if let Some(job) = svc.jobs.job(id)? {
        if job.stage.is_final() {
            return Ok(Outcome::AlreadyFinished(job.job_id));
        }
        if job.stage != Stage::Queued && svc.objects.size(&items_key)?.is_some() {
            let items: Vec<SegmentTask> = serde_json::from_slice(&svc.objects.read_all(&items_key)?)
                .map_err(|e| {
                    StepError::new(
                        ErrorType::Fatal,
                        format!("the items of job {id} do not parse: {e}"),
                    )
                })?;
            let lane = match route {
                Route::Here(lane) => lane,
                Route::Express(lanes) => lane_of_video(&job.video_key, lanes, svc),
            };
            let new = svc
                .workflow
                .start(id, &execution_input(id, lane, items_key, items, svc))?;
            return Ok(Outcome::Started {
                job_id: id.clone(),
                new,
            });
        }
    }
    let opts = options(m, svc)?;
    let mode = opts.mode.unwrap_or_default();
    let container = opts.container.unwrap_or(ContainerName::default_for(mode));
    let max_rate = opts.max_rate.unwrap_or(DEFAULT_MAX_RATE);
    if !(max_rate > 0.0 && max_rate <= 1.0) {
        return Err(invalid(format!(
            "max_rate {max_rate} is outside 0 < max_rate <= 1"
        )));
    }
    let plane_set = opts.planes.unwrap_or(Planes::default_for(mode)).plane_set();
    let record = JobRecord::new(
        id,
        &m.video_key.clone().unwrap_or_else(|| keys::video(id)),
        &m.payload_key.clone().unwrap_or_else(|| keys::payload(id)),
        &keys::output(id, container.as_str()),
    );
    let job = match svc.jobs.create_job(&record)? {
        Created::New => record,
        Created::Existing(existing) => existing,
    };
    if job.stage.is_final() {
        return Ok(Outcome::AlreadyFinished(job.job_id));
    }
    // The job's output key, fixed when it was created, decides the
    // container (a late message asking another one changes nothing).
    let output_container = OutputContainer::from_path(std::path::Path::new(&job.output_key))
        .map_err(|e| StepError::new(ErrorType::Fatal, format!("job {id}: {e}")))?;
    let key_key = keys::placement_key(id);
    for k in [&job.video_key, &job.envelope_key, &key_key] {
        if svc.objects.size(k)?.is_none() {
            return Ok(Outcome::Waiting(job.job_id));
        }
    }
    let lane = match route {
        Route::Here(lane) => lane,
        Route::Express(lanes) => {
            if lane_of_video(&job.video_key, lanes, svc) == Lane::Long {
                lanes.send_long(m)?;
                return Ok(Outcome::SentToLongLane(job.job_id));
            }
            Lane::Express
        }
    };
    let settings = PlanSettings {
        mode,
        max_rate,
        robustness: opts.robustness.unwrap_or_default(),
        plane_set,
        container: Some(output_container),
        ..svc.settings.plan.clone()
    };
    let planned = load_key(svc.objects, id).and_then(|key| {
        Ok(plan_job(
            svc.objects,
            svc.jobs,
            &svc.settings.scratch,
            &job,
            &key,
            &settings,
            &vidstega_pipeline::NoProgress,
        )?)
    });
    let planned = match planned {
        Ok(p) => p,
        Err(e) => {
            if e.error_type == ErrorType::Retryable {
                return Err(e);
            }
            svc.jobs.set_stage(id, Stage::Failed, Some(&e.message))?;
            svc.objects.delete(&key_key)?;
            let cause = if e.error_type == ErrorType::InvalidInput {
                "input"
            } else {
                "internal"
            };
            crate::metrics::emit(
                crate::metrics::JOBS_FAILED,
                1.0,
                crate::metrics::Unit::Count,
                &[(crate::metrics::CAUSE, cause)],
                Some(id),
            );
            return Ok(Outcome::Rejected(e.message));
        }
    };
    // The probe result lets segment workers skip probing; it must not keep
    // the signed URL it was probed through.
    let mut media = planned.media.clone();
    media.path = job.video_key.clone().into();
    let media_json = serde_json::to_vec(&media).expect("probe results serialise");
    svc.objects.write_bytes(&media_key(id), &media_json)?;
    let items: Vec<SegmentTask> = planned
        .plan
        .segments
        .iter()
        .map(|s| SegmentTask {
            job_id: id.clone(),
            index: s.index,
        })
        .collect();
    svc.objects
        .write_bytes(&items_key, &serde_json::to_vec(&items).expect("items serialise"))?;
    tracing::info!(job_id = %id, lane = lane.as_str(), "starting the execution");
    let new = svc
        .workflow
        .start(id, &execution_input(id, lane, items_key, items, svc))?;
    Ok(Outcome::Started {
        job_id: id.clone(),
        new,
    })
}

/// The lane of the video at `video_key`, from its header alone (one quick
/// ffprobe run). A header that cannot be read keeps the job here: planning
/// reports why, with the right error class.
fn lane_of_video(video_key: &str, lanes: &Lanes<'_>, svc: &Services<'_>) -> Lane {
    let header = svc
        .objects
        .media_source(video_key)
        .map_err(|e| e.to_string())
        .and_then(|source| vidstega_media::probe_header(&source_path(source)).map_err(|e| e.to_string()));
    match header {
        Ok(header) => {
            let lane = lane_for(&header, lanes.express_max_seconds);
            tracing::info!(
                video_key,
                lane = lane.as_str(),
                seconds_1080p = crate::lane::equivalent_seconds(&header),
                "lane chosen"
            );
            lane
        }
        Err(e) => {
            tracing::info!(video_key, error = %e, "the header did not say the lane; planning here");
            Lane::Express
        }
    }
}

/// The execution input for a planned job: the items inline, or through S3
/// for the Distributed Map when there are many.
fn execution_input(
    id: &str,
    lane: Lane,
    items_key: String,
    items: Vec<SegmentTask>,
    svc: &Services<'_>,
) -> ExecutionInput {
    let distributed = items.len() > svc.settings.inline_map_limit;
    ExecutionInput {
        lane,
        job_id: id.to_string(),
        bucket: svc.settings.bucket.clone(),
        plan_key: Plan::key(id),
        items_key,
        segment_count: items.len() as u32,
        segments: if distributed { Vec::new() } else { items },
        distributed,
    }
}

/// Key of a job's stored probe result.
pub fn media_key(job_id: &str) -> String {
    format!("{}{job_id}/media.json", keys::WORK)
}
