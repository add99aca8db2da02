//! The serverless suite end to end against AWS-protocol servers on
//! 127.0.0.1 (moto for S3, SQS and Step Functions; DynamoDB Local), with the
//! real SDK clients and the real handlers:
//!
//! presign → presigned PUTs of a real video, the sealed payload and the
//! placement key → S3 notifications land in SQS → planner (fed the received
//! messages, duplicates included) → one execution of the real state machine
//! definition, run by moto's engine (its Lambda tasks echo) → every Map item
//! through embed-segment → concat streams the output to S3 → the output
//! extracts to the exact message, and the job item says done.
//!
//! Also: a permanently failing segment marks the job failed with its reason
//! and leaves nothing under the output key, and the definition's Catch path
//! runs in moto's engine. Timings are printed for the cost model.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use std::time::{Duration, Instant};
use vidstega_aws::{create_table, AwsClients, DynamoJobStore, S3Store, SqsQueue, StepFunctions};
use vidstega_core::{seal, PlacementKey, SealParams};
use vidstega_lambda::SfnWorkflow;
use vidstega_pipeline::contract::{keys, CaughtError, ExecutionInput, FailureInput, JobRef, SegmentTask};
use vidstega_pipeline::{extract_file, JobStore, NoProgress, ObjectStore, PlanSettings, Stage};
use vidstega_serverless::planner::Outcome;
use vidstega_serverless::{concat, failure, http, planner, segment, Services, Settings};

const PASSWORD: &[u8] = b"end to end password";

fn require_servers() {
    let mut missing = Vec::new();
    for var in [
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SFN",
    ] {
        match std::env::var(var) {
            Ok(v) if v.starts_with("http://127.") || v.starts_with("http://localhost") => {}
            Ok(v) => missing.push(format!("{var}={v} is not a local server")),
            Err(_) => missing.push(format!("{var} is not set")),
        }
    }
    assert!(
        missing.is_empty(),
        "the local AWS-protocol servers are needed ({}): run scripts/test.sh, or \
         infra/local/install.sh && source \"$(infra/local/start.sh --print-env-path)\"",
        missing.join("; ")
    );
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}-{}", nanos & 0xffff_ffff_ffff, std::process::id())
}

struct Cloud {
    rt: tokio::runtime::Runtime,
    clients: AwsClients,
    objects: S3Store,
    jobs: DynamoJobStore,
    queue: SqsQueue,
    workflow: SfnWorkflow,
    sfn: StepFunctions,
    settings: Settings,
    _scratch: tempfile::TempDir,
}

fn asl_json(embed: &str, concat: &str, failed: &str) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/statemachine.asl.yaml"
    ))
    .unwrap();
    let text = text
        .replace("${EmbedSegmentFunctionArn}", embed)
        .replace("${ConcatFunctionArn}", concat)
        .replace("${MarkFailedFunctionArn}", failed)
        .replace("${MapMaxConcurrency}", "4");
    let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    serde_json::to_string(&value).unwrap()
}

impl Cloud {
    fn new() -> Self {
        require_servers();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let clients = rt.block_on(AwsClients::from_env());
        let handle = rt.handle().clone();
        let bucket = unique("vidstega-e2e");
        let table = unique("vidstega-e2e-jobs");
        let objects = S3Store::new(clients.s3.clone(), &bucket, handle.clone());
        rt.block_on(objects.create_bucket()).unwrap();
        rt.block_on(create_table(&clients.dynamodb, &table)).unwrap();
        let jobs = DynamoJobStore::new(clients.dynamodb.clone(), &table, handle.clone());
        let queue_name = unique("vidstega-e2e-jobs");
        let queue = rt
            .block_on(SqsQueue::create(clients.sqs.clone(), &queue_name))
            .unwrap();
        let queue_url = queue.url().to_string();
        let attrs = rt
            .block_on(
                clients
                    .sqs
                    .get_queue_attributes()
                    .queue_url(&queue_url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send(),
            )
            .unwrap();
        let queue_arn =
            attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        // S3 → SQS notifications for uploads, as the template configures them.
        use aws_sdk_s3::types::*;
        let rule = FilterRule::builder()
            .name(FilterRuleName::Prefix)
            .value("uploads/")
            .build();
        let notification = NotificationConfiguration::builder()
            .queue_configurations(
                QueueConfiguration::builder()
                    .queue_arn(&queue_arn)
                    .events(Event::from("s3:ObjectCreated:*"))
                    .filter(
                        NotificationConfigurationFilter::builder()
                            .key(S3KeyFilter::builder().filter_rules(rule).build())
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .build();
        rt.block_on(
            clients
                .s3
                .put_bucket_notification_configuration()
                .bucket(&bucket)
                .notification_configuration(notification)
                .send(),
        )
        .unwrap();
        // The real definition; moto's Lambda tasks echo their payload.
        let fake = |name: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
        let definition = asl_json(&fake("embed-segment"), &fake("concat"), &fake("mark-failed"));
        let created = rt
            .block_on(
                clients
                    .sfn
                    .create_state_machine()
                    .name(unique("vidstega-e2e"))
                    .definition(definition)
                    .role_arn("arn:aws:iam::123456789012:role/vidstega-state-machine")
                    .send(),
            )
            .expect("moto accepts the state machine definition");
        let arn = created.state_machine_arn().to_string();
        let sfn = StepFunctions::new(clients.sfn.clone(), &arn);
        let workflow = SfnWorkflow::new(StepFunctions::new(clients.sfn.clone(), &arn), handle);
        let scratch = tempfile::tempdir().unwrap();
        let settings = Settings {
            bucket,
            scratch: scratch.path().to_path_buf(),
            plan: PlanSettings {
                workers: 4,
                min_segment_frames: 25,
                ..PlanSettings::default()
            },
            inline_map_limit: 40,
            presign_ttl_seconds: 600,
        };
        Cloud {
            rt,
            clients,
            objects,
            jobs,
            queue,
            workflow,
            sfn,
            settings,
            _scratch: scratch,
        }
    }

    fn services(&self) -> Services<'_> {
        Services {
            objects: &self.objects,
            jobs: &self.jobs,
            workflow: &self.workflow,
            settings: &self.settings,
        }
    }

    /// Receives what the queue holds, as the Lambda SQS integration would pass it.
    fn receive(&self) -> SqsEvent {
        let mut event = SqsEvent::default();
        for _ in 0..5 {
            let got = self
                .rt
                .block_on(self.queue.receive(10, Duration::from_secs(1)))
                .unwrap();
            if got.is_empty() && !event.records.is_empty() {
                break;
            }
            for m in got {
                self.rt.block_on(self.queue.delete(&m.receipt_handle)).unwrap();
                let mut msg = SqsMessage::default();
                msg.message_id = Some(m.message_id.clone());
                msg.body = Some(m.body.clone());
                event.records.push(msg);
            }
        }
        event
    }

    fn wait_for_execution(&self, job_id: &str) -> vidstega_aws::Execution {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let e = self
                .rt
                .block_on(self.sfn.describe(job_id))
                .unwrap()
                .expect("the execution exists");
            if e.status != vidstega_aws::ExecutionStatus::Running || Instant::now() > deadline {
                return e;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn make_video(path: &std::path::Path, seconds: u32) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=25,noise=alls=10:allf=t",
        ])
        .args(["-f", "lavfi", "-i", "sine=f=330:r=48000"])
        .args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "25",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(path)
        .status()
        .expect("ffmpeg must be installed (scripts/ensure-tools.sh)");
    assert!(status.success());
}

fn put(url: &str, bytes: &[u8]) {
    let r = ureq::put(url)
        .set("Content-Type", "application/octet-stream")
        .send_bytes(bytes)
        .unwrap_or_else(|e| panic!("presigned PUT failed: {e}"));
    assert_eq!(r.status(), 200);
}

fn presign_request() -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/presign/create-job.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn presigned_uploads_to_extractable_output() {
    let cloud = Cloud::new();
    let svc = cloud.services();
    let started = Instant::now();

    // presign: a job and three upload URLs.
    let response = http::presign(&presign_request(), &svc);
    assert_eq!(response.status_code, 201, "{:?}", response.body);
    let body: serde_json::Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
    let job_id = body["job_id"].as_str().unwrap().to_string();
    assert_eq!(cloud.jobs.job(&job_id).unwrap().unwrap().stage, Stage::Queued);

    // The client seals locally and uploads; the password never leaves it.
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 6);
    // Incompressible and large enough for several carrier pictures, so the
    // Map has several segments (compact mode, the default).
    let mut message = b"Rendezvous moved: pier 9, 23:40. Bring the blue folder. ".to_vec();
    message.extend((0..60_000u64).map(|i| vidstega_core::mix64(i) as u8));
    let params = SealParams {
        kdf_iterations: 1000,
        ..SealParams::default()
    };
    let sealed = seal(&message, PASSWORD, &params).unwrap().to_bytes();
    let key = PlacementKey::derive(PASSWORD);
    put(
        body["uploads"]["video"]["url"].as_str().unwrap(),
        &std::fs::read(&video).unwrap(),
    );
    put(body["uploads"]["payload"]["url"].as_str().unwrap(), &sealed);
    put(
        body["uploads"]["placement_key"]["url"].as_str().unwrap(),
        key.as_bytes(),
    );

    // The notifications (and S3's test event) arrive through SQS.
    let event = cloud.receive();
    assert!(event.records.len() >= 3, "{} messages", event.records.len());
    let planned_at = Instant::now();
    let response = planner::handle(&event, &svc);
    let planner_ms = planned_at.elapsed().as_millis();
    assert!(response.batch_item_failures.is_empty());
    // The same notifications delivered again: still one job, one execution.
    let response = planner::handle(&event, &svc);
    assert!(response.batch_item_failures.is_empty());
    let outcome = planner::handle_body(event.records.last().unwrap().body.as_deref().unwrap(), &svc).unwrap();
    assert!(
        matches!(
            &outcome[..],
            [Outcome::Started { new: false, .. }] | [Outcome::Ignored]
        ),
        "{outcome:?}"
    );

    // moto's engine runs the definition (Map over the items → Concat) with echoing tasks.
    let execution = cloud.wait_for_execution(&job_id);
    assert_eq!(
        execution.status,
        vidstega_aws::ExecutionStatus::Succeeded,
        "{execution:?}"
    );

    // The Map items, as the execution received them, through embed-segment.
    let items: Vec<SegmentTask> = serde_json::from_slice(
        &cloud
            .objects
            .read_all(&format!("jobs/{job_id}/items.json"))
            .unwrap(),
    )
    .unwrap();
    let described = cloud
        .rt
        .block_on(
            cloud
                .clients
                .sfn
                .describe_execution()
                .execution_arn(&execution.execution_arn)
                .send(),
        )
        .unwrap();
    let input: ExecutionInput = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(input.segments, items);
    assert!(items.len() >= 3, "{} segments", items.len());
    let mut segment_ms = Vec::new();
    for item in &items {
        let r = segment::handle(item, &svc).unwrap();
        assert!(!r.already_done);
        segment_ms.push(r.millis);
    }
    // A retried item (Step Functions retries after a timeout) does no work twice.
    let again = segment::handle(&items[1], &svc).unwrap();
    assert!(again.already_done);
    let job = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(
        (job.segments_done, job.segments_total),
        (items.len() as u32, items.len() as u32)
    );

    // Concat streams the output to S3 by multipart upload.
    let concat_at = Instant::now();
    let result = concat::handle(
        &JobRef {
            job_id: job_id.clone(),
        },
        &svc,
    )
    .unwrap();
    let concat_ms = concat_at.elapsed().as_millis();
    assert_eq!(result.audio_streams, 1);
    assert_eq!(
        cloud.objects.size(&result.output_key).unwrap(),
        Some(result.bytes)
    );
    let job = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Done);
    assert_eq!(cloud.objects.size(&keys::placement_key(&job_id)).unwrap(), None);

    // Status says done and hands out the output.
    let mut req = presign_request();
    req.request_context.http.method = Some("GET".into());
    req.raw_path = Some(format!("/jobs/{job_id}"));
    let status = http::status(&req, &svc);
    let status: serde_json::Value = serde_json::from_str(status.body.as_deref().unwrap()).unwrap();
    assert_eq!(status["stage"], "done");
    let url = status["output_url"]
        .as_str()
        .expect("a download URL for a done job");

    // Download through the presigned URL and extract with the password.
    let out = dir.path().join("stego.mkv");
    assert!(result.output_key.ends_with(".mkv"), "{}", result.output_key);
    let mut reader = ureq::get(url).call().unwrap().into_reader();
    let mut file = std::fs::File::create(&out).unwrap();
    std::io::copy(&mut reader, &mut file).unwrap();
    let got = extract_file(&out, PASSWORD, 2, &NoProgress).unwrap();
    assert_eq!(got.message, message);

    println!(
        "timings: planner {planner_ms} ms; embed-segment per segment {segment_ms:?} ms; concat {concat_ms} ms; \
         end to end {} ms ({} segments, {} frames of 640x360)",
        started.elapsed().as_millis(),
        items.len(),
        got.frames
    );
}

#[test]
fn permanent_failures_mark_the_job_failed_and_write_no_output() {
    let cloud = Cloud::new();
    let svc = cloud.services();
    let response = http::presign(&presign_request(), &svc);
    let body: serde_json::Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
    let job_id = body["job_id"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 2);
    let sealed = seal(
        b"doomed",
        PASSWORD,
        &SealParams {
            kdf_iterations: 1000,
            ..SealParams::default()
        },
    )
    .unwrap()
    .to_bytes();
    put(
        body["uploads"]["video"]["url"].as_str().unwrap(),
        &std::fs::read(&video).unwrap(),
    );
    put(body["uploads"]["payload"]["url"].as_str().unwrap(), &sealed);
    put(
        body["uploads"]["placement_key"]["url"].as_str().unwrap(),
        PlacementKey::derive(PASSWORD).as_bytes(),
    );
    let response = planner::handle(&cloud.receive(), &svc);
    assert!(response.batch_item_failures.is_empty());
    // The source disappears after planning (a lifecycle rule, a user's
    // delete): the segment fails for good, not retried.
    cloud.objects.delete(&keys::video(&job_id)).unwrap();
    // (The job asked for .mkv: planning made a Matroska copy of the MP4.)
    cloud
        .objects
        .delete(&keys::remuxed_source(&job_id, "mkv"))
        .unwrap();
    let task = SegmentTask {
        job_id: job_id.clone(),
        index: 0,
    };
    let err = segment::handle(&task, &svc).unwrap_err();
    assert_eq!(err.error_type_name(), "VidStega.InvalidInput", "{}", err.message);
    // The state machine's Catch hands the error to mark-failed.
    let caught = FailureInput {
        job_id: job_id.clone(),
        error: CaughtError {
            error: err.error_type_name().into(),
            cause: serde_json::json!({"errorType": err.error_type_name(), "errorMessage": err.message})
                .to_string(),
        },
    };
    failure::handle(&caught, &svc).unwrap();
    let job = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Failed);
    assert!(
        job.error.as_deref().unwrap().contains("does not exist"),
        "{:?}",
        job.error
    );
    assert!(
        cloud.objects.list("outputs/").unwrap().is_empty(),
        "nothing under the output key"
    );
    assert_eq!(cloud.objects.size(&keys::placement_key(&job_id)).unwrap(), None);
}

#[test]
fn a_broken_placement_key_is_refused_at_planning() {
    let cloud = Cloud::new();
    let svc = cloud.services();
    let response = http::presign(&presign_request(), &svc);
    let body: serde_json::Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
    let job_id = body["job_id"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 2);
    let params = SealParams {
        kdf_iterations: 1000,
        ..SealParams::default()
    };
    let sealed = seal(b"doomed", PASSWORD, &params).unwrap().to_bytes();
    put(
        body["uploads"]["video"]["url"].as_str().unwrap(),
        &std::fs::read(&video).unwrap(),
    );
    put(body["uploads"]["payload"]["url"].as_str().unwrap(), &sealed);
    // A broken upload of the key: 31 bytes.
    put(
        body["uploads"]["placement_key"]["url"].as_str().unwrap(),
        &[7u8; 31],
    );
    let response = planner::handle(&cloud.receive(), &svc);
    assert!(
        response.batch_item_failures.is_empty(),
        "unusable input is not retried"
    );
    let job = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Failed);
    assert!(
        job.error.as_deref().unwrap().contains("placement key"),
        "{:?}",
        job.error
    );
    assert!(cloud.objects.list("outputs/").unwrap().is_empty());
    assert_eq!(cloud.objects.size(&keys::placement_key(&job_id)).unwrap(), None);
}

#[test]
fn definition_catch_path_runs_in_the_engine() {
    let cloud = Cloud::new();
    // A Distributed Map whose item list is missing fails, is caught, goes
    // through MarkFailed and ends in JobFailed.
    let input = ExecutionInput {
        job_id: "job-00000000deadbeef".into(),
        bucket: cloud.settings.bucket.clone(),
        plan_key: "jobs/job-00000000deadbeef/plan.json".into(),
        items_key: "jobs/job-00000000deadbeef/items.json".into(),
        segment_count: 3,
        segments: vec![],
        distributed: true,
    };
    cloud.rt.block_on(cloud.sfn.start(&input.job_id, &input)).unwrap();
    let execution = cloud.wait_for_execution(&input.job_id);
    assert_eq!(
        execution.status,
        vidstega_aws::ExecutionStatus::Failed,
        "{execution:?}"
    );
    assert_eq!(
        execution.error.as_deref(),
        Some("VidStega.JobFailed"),
        "{execution:?}"
    );
}
