//! The real Lambda binaries under a real state machine engine, on one
//! machine: the functions of `template.yaml` (debug builds, built once by
//! the test) run as Lambda runs them, behind `cargo lambda watch`'s Invoke
//! API, Function URLs and Runtime API; moto's Step Functions engine runs
//! the real definition and invokes them; an SQS event source mapping feeds
//! each lane's queue to the planner. Nothing is called in-process: a test acts
//! as a user (Function URLs, presigned PUTs, download, extract) and reads
//! the outcome from S3, DynamoDB and the execution history. The harness and
//! what it does not make real are described in `lambda_local/mod.rs`;
//! `infra/local/README.md` says how to run it.
//!
//! Needs the local servers (DynamoDB Local from `infra/local/start.sh`'s
//! env) and `infra/local/install.sh`'s tools (moto_server, cargo-lambda):
//! without them the tests fail, saying so. They run one at a time, each on
//! its own stack; the first one also builds the binaries.

use crate::common::{make_video, placement_key_for, put, sealed, Video, PASSWORD};
use crate::lambda_local::front::{Invocation, Phase};
use crate::lambda_local::{self, Options, Stack};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vidstega_aws::{Execution, ExecutionStatus};
use vidstega_pipeline::contract::{keys, SegmentTask};
use vidstega_pipeline::{extract_file, JobStore, NoProgress, ObjectStore, Stage};

const PRESIGN: &str = "PresignFunction";
const STATUS: &str = "StatusFunction";
const PLANNER: &str = "PlannerFunction";
const EMBED: &str = "EmbedSegmentFunction";
const CONCAT: &str = "ConcatFunction";
const EMBED_LONG: &str = "EmbedSegmentLongFunction";
const CONCAT_LONG: &str = "ConcatLongFunction";
const MARK_FAILED: &str = "MarkFailedFunction";

/// How long a job may take here (debug builds on two shared cores).
const JOB_LIMIT: Duration = Duration::from_secs(300);

/// A job a user submitted: its id, when the first upload started, the
/// message it hides, and the user's working directory.
struct Submitted {
    job_id: String,
    uploaded_at: Instant,
    message: Vec<u8>,
    dir: tempfile::TempDir,
}

fn json_of(response: ureq::Response) -> Value {
    serde_json::from_str(&response.into_string().unwrap()).unwrap()
}

/// What a user does: POST /jobs (`mode`, into mkv) to the presign Function
/// URL, then PUT a real video of `seconds`, the sealed message and the
/// placement key to the presigned URLs it hands out.
fn submit(stack: &Stack, mode: &str, seconds: u32, message_bytes: u64) -> Submitted {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, seconds, Video::Small);
    let mut message = b"Rendezvous moved: pier 9, 23:40. Bring the blue folder. ".to_vec();
    message.extend((0..message_bytes).map(|i| vidstega_core::mix64(i) as u8));

    let created = ureq::post(&format!("{}/jobs", stack.function_url(PRESIGN)))
        .set("Content-Type", "application/json")
        .send_string(&format!(r#"{{"container": "mkv", "mode": "{mode}"}}"#))
        .expect("presign answers through its Function URL");
    assert_eq!(created.status(), 201);
    let body = json_of(created);
    let job_id = body["job_id"].as_str().unwrap().to_string();
    let url = |name: &str| body["uploads"][name]["url"].as_str().unwrap().to_string();
    let uploaded_at = Instant::now();
    put(&url("video"), &std::fs::read(&video).unwrap());
    let payload = sealed(&message);
    put(&url("payload"), &payload);
    put(&url("placement_key"), &placement_key_for(&payload));
    Submitted {
        job_id,
        uploaded_at,
        message,
        dir,
    }
}

/// What a user does next: GET /jobs/<id> from the status Function URL.
fn status(stack: &Stack, job_id: &str) -> Value {
    json_of(
        ureq::get(&format!("{}/jobs/{job_id}", stack.function_url(STATUS)))
            .call()
            .expect("status answers through its Function URL"),
    )
}

/// Downloads the output the status hands out and extracts the message.
fn download_and_extract(stack: &Stack, job: &Submitted) {
    let status = status(stack, &job.job_id);
    assert_eq!(status["stage"], "done", "{status}");
    let url = status["output_url"]
        .as_str()
        .expect("a download URL for a done job");
    let out = job.dir.path().join("stego.mkv");
    let mut reader = ureq::get(url).call().unwrap().into_reader();
    std::io::copy(&mut reader, &mut std::fs::File::create(&out).unwrap()).unwrap();
    let got = extract_file(&out, PASSWORD, 2, &NoProgress).unwrap();
    assert_eq!(got.message, job.message, "the extracted message differs");
}

/// The invocations of the function `logical_id`.
fn of(stack: &Stack, logical_id: &str) -> Vec<Invocation> {
    let name = stack.name(logical_id);
    stack
        .invocations()
        .into_iter()
        .filter(|i| i.function == name)
        .collect()
}

/// The Map items the planner stored for the job.
fn items(stack: &Stack, job_id: &str) -> Vec<SegmentTask> {
    serde_json::from_slice(
        &stack
            .objects
            .read_all(&format!("jobs/{job_id}/items.json"))
            .unwrap(),
    )
    .unwrap()
}

/// Waits until the jobs queue holds nothing (visible or in flight) and
/// the event source mapping is idle.
fn wait_for_empty_queue(stack: &Stack) {
    wait_until_empty(stack, &stack.queue_url)
}

/// Waits until the queue at `queue_url` holds nothing (visible or in
/// flight).
fn wait_until_empty(stack: &Stack, queue_url: &str) {
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attrs = stack
            .rt()
            .block_on(
                stack
                    .sqs
                    .get_queue_attributes()
                    .queue_url(queue_url)
                    .attribute_names(Q::ApproximateNumberOfMessages)
                    .attribute_names(Q::ApproximateNumberOfMessagesNotVisible)
                    .send(),
            )
            .unwrap();
        let a = attrs.attributes().unwrap();
        let n = |k: &Q| a.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if n(&Q::ApproximateNumberOfMessages) + n(&Q::ApproximateNumberOfMessagesNotVisible) == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{queue_url} still holds messages: {a:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The input the planner started the execution with.
fn execution_input(stack: &Stack, execution: &Execution) -> Value {
    let described = stack
        .rt()
        .block_on(
            stack
                .sfn
                .client()
                .describe_execution()
                .execution_arn(&execution.execution_arn)
                .send(),
        )
        .unwrap();
    serde_json::from_str(described.input().unwrap()).unwrap()
}

fn millis(list: &[Invocation]) -> String {
    list.iter()
        .map(|i| format!("{} ms", i.millis))
        .collect::<Vec<_>>()
        .join(", ")
}

/// presign (Function URL) → presigned PUTs of a real video, the sealed
/// payload and the placement key → S3 notifications → SQS → the event source
/// mapping → the planner binary → StartExecution → moto's engine runs the
/// real definition: the Map invokes the embed-segment binary once per item,
/// then the concat binary → status (Function URL) says done → the download
/// extracts to the exact message. Every invocation succeeded, nothing was
/// retried, every queue message was deleted. Prints per-function timings.
fn a_job_runs_through_every_real_binary(
    stack: &Stack,
    mode: &str,
    seconds: u32,
    message_bytes: u64,
) -> Execution {
    let job = submit(stack, mode, seconds, message_bytes);
    let execution = stack.wait_for_execution(&job.job_id, JOB_LIMIT);
    let end_to_end = job.uploaded_at.elapsed();
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{execution:?}\n{}",
        stack.report()
    );
    assert!(stack.failed_tasks(&execution.execution_arn).is_empty());
    download_and_extract(stack, &job);

    let items = items(stack, &job.job_id);
    assert!(
        items.len() >= 2,
        "{} Map items: the Map should fan out",
        items.len()
    );
    let embeds = of(stack, EMBED);
    let mut indexes: Vec<u32> = embeds
        .iter()
        .map(|i| i.payload["index"].as_u64().unwrap() as u32)
        .collect();
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        items.iter().map(|t| t.index).collect::<Vec<_>>(),
        "one embed-segment invocation per item"
    );
    let concats = of(stack, CONCAT);
    assert_eq!(concats.len(), 1);
    let output_key = concats[0].response["output_key"].as_str().unwrap_or_default();
    assert_eq!(
        output_key,
        keys::output(&job.job_id, "mkv"),
        "{}",
        concats[0].response
    );
    assert!(of(stack, MARK_FAILED).is_empty());
    let planners = of(stack, PLANNER);
    assert!(
        stack.invocations().iter().all(|i| i.error_type.is_none()),
        "{}",
        stack.report()
    );
    let job_row = stack.jobs.job(&job.job_id).unwrap().unwrap();
    assert_eq!(job_row.stage, Stage::Done);
    assert_eq!(
        stack.objects.size(&keys::placement_key(&job.job_id)).unwrap(),
        None
    );

    // Every notification (and S3's test event) was handled and deleted.
    wait_for_empty_queue(stack);
    let batches = stack.batches();
    assert!(batches
        .iter()
        .all(|b| b.error.is_none() && b.reported_failures.is_empty()));
    assert!(
        batches.iter().map(|b| b.messages.len()).sum::<usize>() >= 4,
        "S3's test event and the uploads' notifications: {batches:?}"
    );
    // Only the three uploads the planner waits for notify it: the options
    // object presign writes first starts no invocation.
    let mut notified: Vec<String> = planners
        .iter()
        .flat_map(|i| i.payload["Records"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(r["body"].as_str()?).ok())
        .flat_map(|body| body["Records"].as_array().cloned().unwrap_or_default())
        // Notification keys arrive URL-encoded (these have no other escapes).
        .filter_map(|n| n["s3"]["object"]["key"].as_str().map(|k| k.replace("%2F", "/")))
        .collect();
    notified.sort();
    notified.dedup();
    let mut expected = vec![
        keys::payload(&job.job_id),
        keys::placement_key(&job.job_id),
        keys::video(&job.job_id),
    ];
    expected.sort();
    assert_eq!(notified, expected, "the notified uploads");

    let mut embeds_by_index = embeds.clone();
    embeds_by_index.sort_by_key(|i| i.payload["index"].as_u64());
    println!(
        "real-binary timings ({mode} mode into mkv, {seconds} s of 640x360, {} message bytes; debug builds; \
         measured at the Lambda front):\n  planner: {} invocations, {} (one per upload notification and \
         S3's test event; the one that found every upload planned the job)\n  embed-segment: {} segments \
         in index order, {}\n  concat: {}\n  end to end, first PUT to execution succeeded: {} ms\n\
         invocations (start, function, nth, duration, outcome, event):\n{}",
        job.message.len(),
        planners.len(),
        millis(&planners),
        embeds.len(),
        millis(&embeds_by_index),
        millis(&concats),
        end_to_end.as_millis(),
        stack.report()
    );
    execution
}

/// [`a_job_runs_through_every_real_binary`] for a compact-mode job (the
/// default), with the template's settings.
#[test]
fn real_binaries_take_a_compact_job_from_presigned_upload_to_the_extracted_message() {
    let _turn = lambda_local::one_at_a_time();
    let stack = Stack::start(Options::default());
    let execution = a_job_runs_through_every_real_binary(&stack, "compact", 6, 60_000);
    assert_eq!(execution_input(&stack, &execution)["distributed"], false);
}

/// [`a_job_runs_through_every_real_binary`] for a lossless-mode job whose
/// plan is over the planner's inline Map limit (`VIDSTEGA_INLINE_MAP_LIMIT`
/// set to 1 for the planner): the binaries decode and encode with ffmpeg
/// (Debian's, where Lambda has the layer's) from their own environment and
/// scratch directories, and the Map is the Distributed Map: moto's engine
/// reads the items from S3 (through the front, which passes the request on
/// to moto) and runs each through the embed-segment binary.
#[test]
fn real_binaries_take_a_lossless_job_over_the_inline_limit_through_the_distributed_map() {
    let _turn = lambda_local::one_at_a_time();
    let stack = Stack::start(Options {
        env: vec![(PLANNER.into(), "VIDSTEGA_INLINE_MAP_LIMIT".into(), "1".into())],
        ..Options::default()
    });
    let execution = a_job_runs_through_every_real_binary(&stack, "lossless", 4, 2_000);
    let input = execution_input(&stack, &execution);
    assert_eq!(input["distributed"], true, "{input}");
    let items_key = input["items_key"].as_str().unwrap();
    let forwarded = stack.front.forwarded();
    assert!(
        forwarded
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains(items_key) && r.ends_with("-> 200")),
        "the engine did not read the items through the front: {forwarded:?}"
    );
}

/// Lanes by video length with the real binaries, the express lane's
/// threshold lowered to 3 s for the planner (`VIDSTEGA_EXPRESS_MAX_SECONDS`):
/// a user submits a 6-second video and then a 2-second one. The 6-second
/// job goes presign → PUTs → notifications → the jobs queue's event source
/// mapping → the planner, which reads its header and sends it on to the
/// long lane's queue → that queue's own event source mapping (its records
/// name the long queue) → the planner plans it and starts its execution
/// with `lane: long` → moto's engine runs the real definition, which
/// invokes the long lane's embed-segment and concat functions
/// (`EmbedSegmentLongFunction`, `ConcatLongFunction`: the same binaries,
/// served under their own names) and never the express lane's → done → the
/// download extracts. The 2-second job is planned on the express lane and
/// runs on the express lane's functions only. Every invocation succeeded;
/// both queues end empty. Prints per-function timings.
#[test]
fn real_binaries_run_a_long_video_on_the_long_lane_and_its_own_functions() {
    let _turn = lambda_local::one_at_a_time();
    let stack = Stack::start(Options {
        env: vec![(PLANNER.into(), "VIDSTEGA_EXPRESS_MAX_SECONDS".into(), "3".into())],
        ..Options::default()
    });
    let long = submit(&stack, "compact", 6, 60_000);
    let short = submit(&stack, "compact", 2, 2_000);
    let long_execution = stack.wait_for_execution(&long.job_id, JOB_LIMIT);
    let long_done = long.uploaded_at.elapsed();
    let short_execution = stack.wait_for_execution(&short.job_id, JOB_LIMIT);
    for execution in [&long_execution, &short_execution] {
        assert_eq!(
            execution.status,
            ExecutionStatus::Succeeded,
            "{execution:?}\n{}",
            stack.report()
        );
        assert!(stack.failed_tasks(&execution.execution_arn).is_empty());
    }
    download_and_extract(&stack, &long);
    download_and_extract(&stack, &short);
    assert_eq!(execution_input(&stack, &long_execution)["lane"], "long");
    assert_eq!(execution_input(&stack, &short_execution)["lane"], "express");
    assert!(
        stack.invocations().iter().all(|i| i.error_type.is_none()),
        "{}",
        stack.report()
    );

    // The long job reached the planner through the long lane's queue and
    // its own event source mapping: job messages naming the job (one per
    // upload notification that found every upload there, so up to three;
    // the first plans the job, the others find its plan), each handled and
    // deleted.
    wait_for_empty_queue(&stack);
    wait_until_empty(&stack, &stack.long_queue_url);
    let long_queue_arn_suffix = format!(":{}", stack.long_queue_url.rsplit('/').next().unwrap());
    let from_long_lane: Vec<Invocation> = of(&stack, PLANNER)
        .into_iter()
        .filter(|i| {
            i.payload["Records"].as_array().into_iter().flatten().any(|r| {
                r["eventSourceARN"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with(&long_queue_arn_suffix)
            })
        })
        .collect();
    assert!((1..=3).contains(&from_long_lane.len()), "{}", stack.report());
    for i in &from_long_lane {
        let body: Value = serde_json::from_str(i.payload["Records"][0]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["job_id"].as_str(), Some(long.job_id.as_str()), "{body}");
    }
    let long_batches = stack.batches_of("LongJobsQueue");
    assert_eq!(long_batches.len(), from_long_lane.len(), "{long_batches:?}");
    assert!(
        long_batches.iter().all(|b| b.error.is_none()
            && b.reported_failures.is_empty()
            && b.deleted.len() == b.messages.len()),
        "{long_batches:?}"
    );

    // Each job ran on its lane's functions, and only on them.
    let jobs_of = |logical_id: &str, job: &Submitted| -> Vec<Invocation> {
        of(&stack, logical_id)
            .into_iter()
            .filter(|i| i.payload["job_id"].as_str() == Some(job.job_id.as_str()))
            .collect()
    };
    let long_items = items(&stack, &long.job_id);
    assert!(
        long_items.len() >= 2,
        "{} Map items: the Map should fan out",
        long_items.len()
    );
    let mut long_indexes: Vec<u32> = jobs_of(EMBED_LONG, &long)
        .iter()
        .map(|i| i.payload["index"].as_u64().unwrap() as u32)
        .collect();
    long_indexes.sort_unstable();
    assert_eq!(
        long_indexes,
        long_items.iter().map(|t| t.index).collect::<Vec<_>>(),
        "one long-lane embed-segment invocation per item:\n{}",
        stack.report()
    );
    assert_eq!(jobs_of(CONCAT_LONG, &long).len(), 1, "{}", stack.report());
    assert!(
        jobs_of(EMBED, &long).is_empty() && jobs_of(CONCAT, &long).is_empty(),
        "{}",
        stack.report()
    );
    let short_items = items(&stack, &short.job_id);
    assert_eq!(
        jobs_of(EMBED, &short).len(),
        short_items.len(),
        "{}",
        stack.report()
    );
    assert_eq!(jobs_of(CONCAT, &short).len(), 1, "{}", stack.report());
    assert!(
        jobs_of(EMBED_LONG, &short).is_empty() && jobs_of(CONCAT_LONG, &short).is_empty(),
        "{}",
        stack.report()
    );
    assert!(of(&stack, MARK_FAILED).is_empty());
    for job in [&long, &short] {
        assert_eq!(stack.jobs.job(&job.job_id).unwrap().unwrap().stage, Stage::Done);
    }

    let mut long_embeds = jobs_of(EMBED_LONG, &long);
    long_embeds.sort_by_key(|i| i.payload["index"].as_u64());
    let planners = of(&stack, PLANNER);
    println!(
        "real-binary timings, lanes (express lane up to 3 s; compact mode into mkv, 640x360; debug builds; \
         measured at the Lambda front):\n  planner: {} invocations, {} (from the long lane's queue: {})\n  long lane, 6 s video, {} message bytes: embed-segment-long {} segments \
         in index order, {}; concat-long {}\n  express lane, 2 s video, {} message bytes: embed-segment {}; \
         concat {}\n  long job end to end, first PUT to execution succeeded: {} ms\n\
         invocations (start, function, nth, duration, outcome, event):\n{}",
        planners.len(),
        millis(&planners),
        millis(&from_long_lane),
        long.message.len(),
        long_embeds.len(),
        millis(&long_embeds),
        millis(&jobs_of(CONCAT_LONG, &long)),
        short.message.len(),
        millis(&jobs_of(EMBED, &short)),
        millis(&jobs_of(CONCAT, &short)),
        long_done.as_millis(),
        stack.report()
    );
}

/// The embed-segment binary's first invocation finds S3 throttling every
/// request (503 SlowDown from a gate in front of moto, for that invocation
/// only): the binary classes it `VidStega.Retryable`, the front reports it as
/// Lambda does (200, `X-Amz-Function-Error`), the definition's Retry runs
/// the item again, and the job completes and extracts.
#[test]
fn a_retryable_error_from_embed_segment_is_retried_by_the_state_machine_and_the_job_completes() {
    let _turn = lambda_local::one_at_a_time();
    let stack = Stack::start(Options {
        gate_s3_of: Some(EMBED.into()),
        ..Options::default()
    });
    let gate = stack.gate();
    let embed = stack.name(EMBED);
    let hook_gate = Arc::clone(&gate);
    stack.front.add_hook(Arc::new(move |phase, call| {
        if call.function == embed && call.nth == 1 {
            match phase {
                Phase::Before => hook_gate.fail(),
                Phase::After => hook_gate.pass(),
            }
        }
    }));
    let job = submit(&stack, "compact", 2, 2_000);
    let execution = stack.wait_for_execution(&job.job_id, JOB_LIMIT);
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{execution:?}\n{}",
        stack.report()
    );
    assert!(gate.refused() > 0, "the gate throttled nothing");

    // The first attempt failed as Retryable, in the engine's eyes too...
    let failed = stack.failed_tasks(&execution.execution_arn);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "VidStega.Retryable", "{failed:?}");
    assert!(failed[0].1.contains("SlowDown"), "{}", failed[0].1);
    // ...and the Retry ran the same item again, which succeeded.
    let embeds = of(&stack, EMBED);
    let first = &embeds.iter().find(|i| i.nth == 1).unwrap();
    assert_eq!(first.error_type.as_deref(), Some("VidStega.Retryable"));
    let again: Vec<_> = embeds
        .iter()
        .filter(|i| i.nth > 1 && i.payload == first.payload)
        .collect();
    assert_eq!(again.len(), 1, "{}", stack.report());
    assert!(again[0].error_type.is_none() && again[0].started_ms > first.started_ms);
    assert!(of(&stack, MARK_FAILED).is_empty());
    download_and_extract(&stack, &job);
    println!("retried as the engine saw it:\n{}", stack.report());
}

/// The source disappears after planning (deleted right before the first
/// embed-segment invocation): the binary fails with `VidStega.InvalidInput`,
/// which is not retried; the Catch runs the mark-failed binary; the
/// execution fails with `VidStega.JobFailed`; the job says failed with the
/// reason (through the status Function URL too); nothing is under
/// `outputs/`; the placement key is gone. The front answered the engine as
/// Lambda does: 200 with `X-Amz-Function-Error: Unhandled`.
#[test]
fn a_permanent_error_is_caught_the_job_is_marked_failed_and_nothing_is_written() {
    let _turn = lambda_local::one_at_a_time();
    let stack = Stack::start(Options::default());
    let embed = stack.name(EMBED);
    let objects = stack.objects.clone();
    stack.front.add_hook(Arc::new(move |phase, call| {
        if phase == Phase::Before && call.function == embed && call.nth == 1 {
            let job_id = call.payload["job_id"].as_str().unwrap();
            objects.delete(&keys::video(job_id)).unwrap();
            for key in objects.list(&format!("jobs/{job_id}/source")).unwrap() {
                objects.delete(&key).unwrap();
            }
        }
    }));
    let job = submit(&stack, "compact", 2, 2_000);
    let execution = stack.wait_for_execution(&job.job_id, JOB_LIMIT);
    assert_eq!(
        execution.status,
        ExecutionStatus::Failed,
        "{execution:?}\n{}",
        stack.report()
    );
    assert_eq!(
        execution.error.as_deref(),
        Some("VidStega.JobFailed"),
        "{execution:?}"
    );

    let failed = stack.failed_tasks(&execution.execution_arn);
    assert_eq!(
        failed.first().map(|f| f.0.as_str()),
        Some("VidStega.InvalidInput"),
        "{failed:?}"
    );
    let embeds = of(&stack, EMBED);
    for e in &embeds {
        assert_eq!(
            e.error_type.as_deref(),
            Some("VidStega.InvalidInput"),
            "{}",
            stack.report()
        );
        let tries = embeds.iter().filter(|o| o.payload == e.payload).count();
        assert_eq!(tries, 1, "InvalidInput is not retried:\n{}", stack.report());
    }
    let marked = of(&stack, MARK_FAILED);
    assert_eq!(marked.len(), 1, "{}", stack.report());
    assert!(marked[0].error_type.is_none());
    assert_eq!(marked[0].payload["error"]["Error"], "VidStega.InvalidInput");
    assert!(of(&stack, CONCAT).is_empty());

    let job_row = stack.jobs.job(&job.job_id).unwrap().unwrap();
    assert_eq!(job_row.stage, Stage::Failed);
    let reason = job_row.error.unwrap_or_default();
    assert!(reason.contains("does not exist"), "{reason}");
    let seen = status(&stack, &job.job_id);
    assert_eq!(seen["stage"], "failed", "{seen}");
    assert!(
        seen["error"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist"),
        "{seen}"
    );
    assert!(stack
        .objects
        .list(&format!("outputs/{}", job.job_id))
        .unwrap()
        .is_empty());
    assert_eq!(
        stack.objects.size(&keys::placement_key(&job.job_id)).unwrap(),
        None
    );

    // What the engine received for that invocation, asked again the way it
    // asks (by ARN, through the front): Lambda's shape for a function error.
    let answer = ureq::post(&format!(
        "http://127.0.0.1:{}/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3A{}/invocations",
        stack.front.port(),
        stack.name(EMBED)
    ))
    .send_string(&embeds[0].payload.to_string())
    .expect("a function error is an HTTP 200");
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert!(answer.header("x-amzn-RequestId").is_some());
    let document = json_of(answer);
    assert_eq!(document["errorType"], "VidStega.InvalidInput", "{document}");
    assert!(document["errorMessage"].as_str().is_some());
}

/// The event source mapping against the planner binary: a batch of two, a
/// message the planner fails on every time without it being invalid (a job
/// whose stored Map items do not parse: Fatal, reported in
/// `batchItemFailures`; a message that is invalid in itself is deleted on its
/// first receive instead) and S3's test event (sent when the stack set up the
/// bucket's notifications; ignored, so deleted). The failed one comes back
/// after the visibility timeout (1 s here), once per receive, until the
/// queue's redrive policy (the template's `maxReceiveCount`) moves it to the
/// dead-letter queue; the other is never delivered again.
#[test]
fn planner_batch_item_failures_come_back_until_the_dead_letter_queue_and_the_rest_is_deleted() {
    let _turn = lambda_local::one_at_a_time();
    let mut stack = Stack::start(Options {
        visibility_timeout: 1,
        batch_size: Some(2),
        start_event_source: false,
        ..Options::default()
    });
    let stuck = "job-poison-items";
    let row = vidstega_pipeline::JobRecord::new(
        stuck,
        "uploads/x/video",
        "uploads/x/payload.sealed",
        "outputs/x.mkv",
    );
    stack.jobs.create_job(&row).unwrap();
    let segment = vidstega_pipeline::SegmentRecord {
        index: 0,
        frame_start: 0,
        frame_end: 1,
        bit_start: 0,
        bit_end: 1,
        done: false,
        millis: None,
    };
    stack.jobs.put_segments(stuck, &[segment]).unwrap();
    stack
        .objects
        .write_bytes(&format!("jobs/{stuck}/items.json"), b"not json")
        .unwrap();
    let body = format!(r#"{{"job_id": "{stuck}"}}"#);
    let poison = stack
        .rt()
        .block_on(
            stack
                .sqs
                .send_message()
                .queue_url(&stack.queue_url)
                .message_body(&body)
                .send(),
        )
        .unwrap()
        .message_id()
        .unwrap()
        .to_string();
    stack.start_event_source();

    let deadline = Instant::now() + Duration::from_secs(60);
    let dead = loop {
        stack.check();
        let got = stack
            .rt()
            .block_on(
                stack
                    .sqs
                    .receive_message()
                    .queue_url(&stack.dlq_url)
                    .wait_time_seconds(1)
                    .send(),
            )
            .unwrap();
        if let Some(m) = got.messages().first() {
            break m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nothing reached the dead-letter queue:\n{:?}",
            stack.batches()
        );
    };
    assert_eq!(dead.message_id(), Some(poison.as_str()));
    assert_eq!(dead.body(), Some(body.as_str()));

    let batches = stack.batches();
    let first = &batches[0];
    assert_eq!(
        first.messages.len(),
        2,
        "S3's test event and the bad message: {batches:?}"
    );
    let test_event = first
        .messages
        .iter()
        .map(|(id, _)| id.clone())
        .find(|id| *id != poison)
        .unwrap();
    assert_eq!(first.reported_failures, vec![poison.clone()]);
    assert_eq!(first.deleted, vec![test_event.clone()]);
    let deliveries = |id: &str| -> Vec<u32> {
        batches
            .iter()
            .flat_map(|b| b.messages.iter())
            .filter(|(m, _)| m == id)
            .map(|(_, count)| *count)
            .collect()
    };
    let max = stack.model.max_receive_count;
    assert!(max >= 1, "the template's jobs queue has a redrive policy");
    assert_eq!(deliveries(&test_event), vec![1]);
    assert_eq!(deliveries(&poison), (1..=max).collect::<Vec<_>>(), "{batches:?}");
    assert!(batches.iter().all(|b| b.error.is_none()), "{batches:?}");
    assert_eq!(of(&stack, PLANNER).len(), max as usize);
    wait_for_empty_queue(&stack);
}
