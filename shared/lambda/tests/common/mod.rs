//! What the tests against the local AWS-protocol servers share: a [`Cloud`]
//! (bucket, table, queue with S3 notifications, the real state machine
//! definition in moto's engine) where each function runs with its own SDK
//! clients and a [`CallRecorder`] on them, and the serverless flows
//! themselves, driven as a user and the Lambda integrations would drive them.
//!
//! The handler being run decides whose clients it gets: `cloud.svc(Role::Planner)`
//! is what the planner function would have. Setup and checks go through the
//! harness's own clients (`cloud.objects`, `cloud.jobs`, ...), which record
//! nothing.
#![allow(dead_code)]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vidstega_aws::recorder::{AwsCall, CallRecorder};
use vidstega_aws::{create_table, AwsClients, DynamoJobStore, S3Store, SqsQueue, StepFunctions};
use vidstega_core::{seal, PlacementKey, SealParams};
use vidstega_lambda::{Function, FunctionConfig, Needs};
use vidstega_pipeline::contract::{
    keys, CaughtError, ExecutionInput, FailureInput, JobRef, Lane, OutputMode, SegmentTask,
};
use vidstega_pipeline::{extract_file, JobStore, NoProgress, ObjectStore, PlanSettings, Stage};
use vidstega_serverless::planner::Outcome;
use vidstega_serverless::{concat, failure, http, planner, segment, LaneSettings, Lanes, Services, Settings};
pub use vidstega_test_support::unique;

/// The password of every test job.
pub const PASSWORD: &[u8] = b"end to end password";

/// The serverless functions, each with its own role in `template.yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `presign` (Function URL).
    Presign,
    /// `planner` (SQS).
    Planner,
    /// `embed-segment` (a Map item).
    EmbedSegment,
    /// `concat`.
    Concat,
    /// `mark-failed` (the Catch target).
    MarkFailed,
    /// `status` (Function URL).
    Status,
    /// `sweeper` (a schedule).
    Sweeper,
}

impl Role {
    /// Every function.
    pub const ALL: [Role; 7] = [
        Role::Presign,
        Role::Planner,
        Role::EmbedSegment,
        Role::Concat,
        Role::MarkFailed,
        Role::Status,
        Role::Sweeper,
    ];

    /// The function's resource in `template.yaml`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Role::Presign => "PresignFunction",
            Role::Planner => "PlannerFunction",
            Role::EmbedSegment => "EmbedSegmentFunction",
            Role::Concat => "ConcatFunction",
            Role::MarkFailed => "MarkFailedFunction",
            Role::Status => "StatusFunction",
            Role::Sweeper => "SweeperFunction",
        }
    }

    /// What its `main` asks of `Function::from_env`.
    fn needs(self) -> Needs {
        match self {
            Role::Planner | Role::Sweeper | Role::Presign => Needs::Workflow,
            _ => Needs::Storage,
        }
    }
}

/// Fails the test, saying how to start them, unless the local servers'
/// endpoints are set, local and answering.
pub fn require_servers() {
    vidstega_test_support::check_endpoints(
        &vidstega_test_support::ALL_ENDPOINTS,
        vidstega_test_support::HOW_TO_START,
    );
}

/// One deployment on the local servers.
pub struct Cloud {
    /// The runtime the stores block on.
    pub rt: tokio::runtime::Runtime,
    /// The harness's clients (not recorded).
    pub clients: AwsClients,
    /// The bucket, through the harness's clients.
    pub objects: S3Store,
    /// The table, through the harness's clients.
    pub jobs: DynamoJobStore,
    /// The jobs queue, the express lane (S3 notifications for `uploads/`
    /// arrive here).
    pub queue: SqsQueue,
    /// The jobs queue's ARN (the event source of its records).
    pub queue_arn: String,
    /// The long lane's queue.
    pub long_queue: SqsQueue,
    /// The long lane's queue's ARN.
    pub long_queue_arn: String,
    /// The state machine, through the harness's clients.
    pub sfn: StepFunctions,
    /// The bucket's name.
    pub bucket: String,
    /// The table's name.
    pub table: String,
    /// The settings every function runs with.
    pub settings: Settings,
    /// The lanes every function runs with.
    pub lanes: LaneSettings,
    functions: BTreeMap<Role, (Arc<Function>, CallRecorder)>,
    _scratch: tempfile::TempDir,
}

/// The state machine definition with its substitutions made, as JSON.
pub fn asl_json(embed: &str, concat: &str, failed: &str) -> String {
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
    /// Creates the bucket (with notifications to a new queue), the table and
    /// the state machine, and one [`Function`] per [`Role`], each on clients
    /// of its own with a recorder. The express lane takes videos of up to 4
    /// seconds (the test videos last 2 or 6).
    pub fn new() -> Self {
        Self::with_express_max_seconds(4)
    }

    /// [`Cloud::new`] with an express lane of up to `seconds` (1080p-equivalent).
    pub fn with_express_max_seconds(seconds: u64) -> Self {
        require_servers();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sdk = rt.block_on(vidstega_aws::load_sdk_config());
        let clients = AwsClients::new(&sdk);
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
        let arn_of = |url: &str| -> String {
            let attrs = rt
                .block_on(
                    clients
                        .sqs
                        .get_queue_attributes()
                        .queue_url(url)
                        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                        .send(),
                )
                .unwrap();
            attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone()
        };
        let queue_arn = arn_of(&queue_url);
        let long_queue = rt
            .block_on(SqsQueue::create(
                clients.sqs.clone(),
                &unique("vidstega-e2e-long-jobs"),
            ))
            .unwrap();
        let long_queue_arn = arn_of(long_queue.url());
        // S3 → SQS notifications for uploads, as the template configures them.
        let notification = template_bucket_notifications(&queue_arn);
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
        let scratch = tempfile::tempdir().unwrap();
        let settings = Settings {
            bucket: bucket.clone(),
            scratch: scratch.path().to_path_buf(),
            plan: PlanSettings {
                workers: 4,
                min_segment_frames: 25,
                ..PlanSettings::default()
            },
            inline_map_limit: 40,
            presign_ttl_seconds: 600,
            job_record_days: 30,
            // Presign counts the queue and the running executions on every
            // job; this limit is never reached here.
            max_active_jobs: 1000,
            jobs_queue_url: Some(queue_url.clone()),
            max_jobs_per_caller_hour: 100,
        };
        let lanes = LaneSettings {
            express_max_seconds: seconds,
            long_queue_url: Some(long_queue.url().to_string()),
        };
        let functions = Role::ALL
            .into_iter()
            .map(|role| {
                let recorder = CallRecorder::new();
                let function = Function::new(
                    role.needs(),
                    FunctionConfig {
                        settings: settings.clone(),
                        lanes: lanes.clone(),
                    },
                    &table,
                    Some(arn.clone()),
                    recorder.clients(&sdk),
                    handle.clone(),
                );
                (role, (function, recorder))
            })
            .collect();
        Cloud {
            rt,
            clients,
            objects,
            jobs,
            queue,
            queue_arn,
            long_queue,
            long_queue_arn,
            sfn,
            bucket,
            table,
            settings,
            lanes,
            functions,
            _scratch: scratch,
        }
    }

    /// The ports and settings `role`'s handler gets (its own clients).
    pub fn svc(&self, role: Role) -> Services<'_> {
        self.functions[&role].0.services()
    }

    /// The lanes `role`'s handler routes by (its own clients).
    pub fn lanes(&self, role: Role) -> Lanes<'_> {
        self.functions[&role]
            .0
            .lanes()
            .expect("the test deployment has a long lane")
    }

    /// The calls each function's clients made (or presigned) so far.
    pub fn calls(&self) -> BTreeMap<Role, Vec<AwsCall>> {
        self.functions
            .iter()
            .map(|(role, (_, recorder))| (*role, recorder.calls()))
            .collect()
    }

    /// The state machine's ARN.
    pub fn state_machine_arn(&self) -> &str {
        self.sfn.state_machine_arn()
    }

    /// Receives what the jobs queue holds, as the Lambda SQS integration would pass it.
    pub fn receive(&self) -> SqsEvent {
        self.receive_from(&self.queue, &self.queue_arn)
    }

    /// Receives what the long lane's queue holds, as its event source
    /// mapping would pass it.
    pub fn receive_long(&self) -> SqsEvent {
        self.receive_from(&self.long_queue, &self.long_queue_arn)
    }

    fn receive_from(&self, queue: &SqsQueue, arn: &str) -> SqsEvent {
        let mut event = SqsEvent::default();
        for _ in 0..5 {
            let got = self
                .rt
                .block_on(queue.receive(10, Duration::from_secs(1)))
                .unwrap();
            if got.is_empty() && !event.records.is_empty() {
                break;
            }
            for m in got {
                self.rt.block_on(queue.delete(&m.receipt_handle)).unwrap();
                let mut msg = SqsMessage::default();
                msg.message_id = Some(m.message_id.clone());
                msg.body = Some(m.body.clone());
                msg.event_source = Some("aws:sqs".into());
                msg.event_source_arn = Some(arn.to_string());
                event.records.push(msg);
            }
        }
        event
    }

    /// Whether `queue` holds no message (waiting or in flight).
    pub fn is_empty(&self, queue: &SqsQueue) -> bool {
        self.rt.block_on(queue.depth()).unwrap() == 0
    }

    /// Waits (up to a minute) for the job's execution to stop running.
    pub fn wait_for_execution(&self, job_id: &str) -> vidstega_aws::Execution {
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

/// How large a test video is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Video {
    /// A few MB: single-request uploads everywhere.
    Small,
    /// Over the S3 store's multipart threshold, so the planner's copy of the
    /// source and concat's output are multipart uploads.
    Large,
}

/// Writes an H.264/AAC MP4 of `seconds` seconds of noisy test pattern.
pub fn make_video(path: &std::path::Path, seconds: u32, size: Video) {
    let quality: &[&str] = match size {
        Video::Small => &[],
        // About 2.4 MB a second at 640x360.
        Video::Large => &["-qp", "18"],
    };
    let seconds = seconds.to_string();
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=640x360:r=25,noise=alls=10:allf=t",
        "-f",
        "lavfi",
        "-i",
        "sine=f=330:r=48000",
        "-t",
        &seconds,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
    ];
    args.extend_from_slice(quality);
    args.extend_from_slice(&["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]);
    args.push(path.to_str().expect("a UTF-8 path"));
    vidstega_test_support::ffmpeg(&args);
    if size == Video::Large {
        let len = std::fs::metadata(path).unwrap().len();
        assert!(
            len > vidstega_aws::MULTIPART_THRESHOLD,
            "a large test video is {len} bytes, not over the multipart threshold"
        );
    }
}

/// A presigned PUT, as a client sends it.
pub fn put(url: &str, bytes: &[u8]) {
    let r = ureq::put(url)
        .set("Content-Type", "application/octet-stream")
        .send_bytes(bytes)
        .unwrap_or_else(|e| panic!("presigned PUT failed: {e}"));
    assert_eq!(r.status(), 200);
}

/// `events/presign/create-job.json`: POST /jobs for a compact job into .mkv.
pub fn presign_request() -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/presign/create-job.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// A job created through presign: its id and the upload URLs' response.
pub struct NewJob {
    /// The job id.
    pub job_id: String,
    /// presign's response body.
    pub body: serde_json::Value,
}

impl NewJob {
    /// The presigned URL of an upload (`video`, `payload`, `placement_key`).
    pub fn url(&self, upload: &str) -> &str {
        self.body["uploads"][upload]["url"].as_str().unwrap()
    }
}

/// presign: a compact job into .mkv and three upload URLs.
pub fn create_job(cloud: &Cloud) -> NewJob {
    create_job_in(cloud, OutputMode::Compact, "mkv")
}

/// presign: a job in `mode` with output `container` and three upload URLs.
pub fn create_job_in(cloud: &Cloud, mode: OutputMode, container: &str) -> NewJob {
    let mut request = presign_request();
    let mode_name = mode.as_str();
    request.body = Some(format!(
        r#"{{"container": "{container}", "mode": "{mode_name}"}}"#
    ));
    let response = http::presign(&request, &cloud.svc(Role::Presign));
    assert_eq!(response.status_code, 201, "{:?}", response.body);
    let body: serde_json::Value = serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
    let job_id = body["job_id"].as_str().unwrap().to_string();
    NewJob { job_id, body }
}

/// Seals `message` with [`PASSWORD`] (few KDF iterations: tests).
pub fn sealed(message: &[u8]) -> Vec<u8> {
    let params = SealParams {
        kdf_iterations: 1000,
        ..SealParams::default()
    };
    seal(message, PASSWORD, &params).unwrap().to_bytes()
}

/// The placement key a client uploads beside a compact- or lossless-mode
/// `payload` sealed with [`PASSWORD`]: salted with the payload's own salt.
pub fn placement_key_for(payload: &[u8]) -> [u8; 32] {
    let envelope = vidstega_core::Envelope::parse(payload).unwrap();
    *PlacementKey::derive_for(PASSWORD, envelope.header()).as_bytes()
}

/// presign → presigned PUTs of a real video, the sealed payload and the
/// placement key → S3 notifications land in SQS → planner (fed the received
/// messages, duplicates included) → one execution of the real state machine
/// definition, run by moto's engine (its Lambda tasks echo) → every Map item
/// through embed-segment → concat streams the output to S3 → status hands
/// out the output, which extracts to the exact message. The source is an
/// MP4; a compact job into `mkv` has the planner copy it into Matroska
/// first, one into `mp4` patches the upload itself. Returns the execution's
/// input. Timings are printed for the cost model.
pub fn presigned_uploads_to_extractable_output(
    cloud: &Cloud,
    size: Video,
    mode: OutputMode,
    container: &str,
) -> ExecutionInput {
    let started = Instant::now();
    let job = create_job_in(cloud, mode, container);
    let job_id = job.job_id.clone();
    assert_eq!(cloud.jobs.job(&job_id).unwrap().unwrap().stage, Stage::Queued);

    // The client seals locally and uploads; the password never leaves it.
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 6, size);
    // Incompressible and large enough for several carrier pictures, so the
    // Map has several segments in compact mode; robust mode carries tens of
    // bytes a second, sealed as the client seals it (one parity shard).
    let mut message = b"Rendezvous moved: pier 9, 23:40. Bring the blue folder. ".to_vec();
    let payload = if mode == OutputMode::Robust {
        let params = vidstega_robust::robust_seal_params(message.len() as u64, 1000);
        seal(&message, PASSWORD, &params).unwrap().to_bytes()
    } else {
        message.extend((0..60_000u64).map(|i| vidstega_core::mix64(i) as u8));
        sealed(&message)
    };
    // Robust mode's key has the fixed salt; the others are salted with the
    // payload's salt.
    let key = if mode == OutputMode::Robust {
        *PlacementKey::derive(PASSWORD).as_bytes()
    } else {
        placement_key_for(&payload)
    };
    put(job.url("video"), &std::fs::read(&video).unwrap());
    put(job.url("payload"), &payload);
    put(job.url("placement_key"), &key);

    // The notifications (and S3's test event) arrive through SQS.
    let planner_svc = cloud.svc(Role::Planner);
    let event = cloud.receive();
    assert!(event.records.len() >= 3, "{} messages", event.records.len());
    let planned_at = Instant::now();
    let response = planner::handle(&event, &planner_svc);
    let planner_ms = planned_at.elapsed().as_millis();
    assert!(response.batch_item_failures.is_empty());
    // The same notifications delivered again: still one job, one execution.
    let response = planner::handle(&event, &planner_svc);
    assert!(response.batch_item_failures.is_empty());
    let outcome = planner::handle_body(
        event.records.last().unwrap().body.as_deref().unwrap(),
        &planner_svc,
    )
    .unwrap();
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
    let embed_svc = cloud.svc(Role::EmbedSegment);
    let mut segment_ms = Vec::new();
    for item in &items {
        let r = segment::handle(item, &embed_svc).unwrap();
        assert!(!r.already_done);
        segment_ms.push(r.millis);
    }
    // A retried item (Step Functions retries after a timeout) does no work twice.
    let again = segment::handle(&items[1], &embed_svc).unwrap();
    assert!(again.already_done);
    let job_row = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(
        (job_row.segments_done, job_row.segments_total),
        (items.len() as u32, items.len() as u32)
    );

    // Concat streams the output to S3 (a multipart upload past 8 MiB).
    let concat_at = Instant::now();
    let result = concat::handle(
        &JobRef {
            job_id: job_id.clone(),
        },
        &cloud.svc(Role::Concat),
    )
    .unwrap();
    let concat_ms = concat_at.elapsed().as_millis();
    assert_eq!(result.audio_streams, 1);
    assert_eq!(
        cloud.objects.size(&result.output_key).unwrap(),
        Some(result.bytes)
    );
    let job_row = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(job_row.stage, Stage::Done);
    assert_eq!(cloud.objects.size(&keys::placement_key(&job_id)).unwrap(), None);

    // Status says done and hands out the output.
    let mut req = presign_request();
    req.request_context.http.method = Some("GET".into());
    req.raw_path = Some(format!("/jobs/{job_id}"));
    let status = http::status(&req, &cloud.svc(Role::Status));
    let status: serde_json::Value = serde_json::from_str(status.body.as_deref().unwrap()).unwrap();
    assert_eq!(status["stage"], "done");
    let url = status["output_url"]
        .as_str()
        .expect("a download URL for a done job");

    // Download through the presigned URL and extract with the password.
    let out = dir.path().join(format!("stego.{container}"));
    assert!(
        result.output_key.ends_with(&format!(".{container}")),
        "{}",
        result.output_key
    );
    let mut reader = ureq::get(url).call().unwrap().into_reader();
    let mut file = std::fs::File::create(&out).unwrap();
    std::io::copy(&mut reader, &mut file).unwrap();
    let got = extract_file(&out, PASSWORD, 2, &NoProgress).unwrap();
    assert_eq!(got.message, message);

    println!(
        "timings ({mode:?} mode into {container}, {size:?} video): planner {planner_ms} ms; embed-segment per segment {segment_ms:?} ms; \
         concat {concat_ms} ms; end to end {} ms ({} segments, {} frames of 640x360)",
        started.elapsed().as_millis(),
        items.len(),
        got.frames
    );
    input
}

/// The source disappears after planning: the segment fails for good (not
/// retried), mark-failed records the reason, and nothing is left under the
/// output key or as the placement key.
pub fn permanent_failures_mark_the_job_failed_and_write_no_output(cloud: &Cloud) {
    let job = create_job(cloud);
    let job_id = job.job_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 2, Video::Small);
    put(job.url("video"), &std::fs::read(&video).unwrap());
    let payload = sealed(b"doomed");
    put(job.url("payload"), &payload);
    put(job.url("placement_key"), &placement_key_for(&payload));
    let response = planner::handle(&cloud.receive(), &cloud.svc(Role::Planner));
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
    let err = segment::handle(&task, &cloud.svc(Role::EmbedSegment)).unwrap_err();
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
    failure::handle(&caught, &cloud.svc(Role::MarkFailed)).unwrap();
    let job_row = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(job_row.stage, Stage::Failed);
    assert!(
        job_row.error.as_deref().unwrap().contains("does not exist"),
        "{:?}",
        job_row.error
    );
    assert!(
        cloud
            .objects
            .list(&format!("outputs/{job_id}"))
            .unwrap()
            .is_empty(),
        "nothing under the output key"
    );
    assert_eq!(cloud.objects.size(&keys::placement_key(&job_id)).unwrap(), None);
}

/// A 31-byte placement key: the planner marks the job failed (not retried)
/// and deletes the key.
pub fn a_broken_placement_key_is_refused_at_planning(cloud: &Cloud) {
    let job = create_job(cloud);
    let job_id = job.job_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 2, Video::Small);
    put(job.url("video"), &std::fs::read(&video).unwrap());
    put(job.url("payload"), &sealed(b"doomed"));
    // A broken upload of the key: 31 bytes.
    put(job.url("placement_key"), &[7u8; 31]);
    let response = planner::handle(&cloud.receive(), &cloud.svc(Role::Planner));
    assert!(
        response.batch_item_failures.is_empty(),
        "unusable input is not retried"
    );
    let job_row = cloud.jobs.job(&job_id).unwrap().unwrap();
    assert_eq!(job_row.stage, Stage::Failed);
    assert!(
        job_row.error.as_deref().unwrap().contains("placement key"),
        "{:?}",
        job_row.error
    );
    assert!(cloud
        .objects
        .list(&format!("outputs/{job_id}"))
        .unwrap()
        .is_empty());
    assert_eq!(cloud.objects.size(&keys::placement_key(&job_id)).unwrap(), None);
}

/// A video whose other uploads arrive late leaves the job waiting; the
/// last upload's notification starts it. A planner that dies after planning
/// but before storing the Map items (its message comes back) plans again
/// from the stored plan and finds the execution already started; one whose
/// duplicate arrives after the items were stored restarts from them.
pub fn late_uploads_wait_and_a_retried_planner_reuses_the_stored_plan(cloud: &Cloud) {
    let planner_svc = cloud.svc(Role::Planner);
    let job = create_job(cloud);
    let job_id = job.job_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 2, Video::Small);
    put(job.url("video"), &std::fs::read(&video).unwrap());
    let outcomes = planner_outcomes(cloud, &planner_svc);
    assert!(
        outcomes.contains(&Outcome::Waiting(job_id.clone())),
        "{outcomes:?}"
    );
    assert_eq!(cloud.jobs.job(&job_id).unwrap().unwrap().stage, Stage::Queued);

    let mut message = b"late but complete".to_vec();
    message.extend((0..2_000u64).map(|i| vidstega_core::mix64(i) as u8));
    let payload = sealed(&message);
    put(job.url("payload"), &payload);
    put(job.url("placement_key"), &placement_key_for(&payload));
    let outcomes = planner_outcomes(cloud, &planner_svc);
    assert!(
        outcomes.contains(&Outcome::Started {
            job_id: job_id.clone(),
            new: true
        }),
        "{outcomes:?}"
    );
    let items_key = format!("jobs/{job_id}/items.json");
    let items = cloud.objects.read_all(&items_key).unwrap();

    // The planner died after the plan and the segment rows, before the items.
    cloud.objects.delete(&items_key).unwrap();
    cloud.objects.delete(&planner::media_key(&job_id)).unwrap();
    let retried = planner::start_job(&upload_message(&job_id), &planner_svc).unwrap();
    assert_eq!(
        retried,
        Outcome::Started {
            job_id: job_id.clone(),
            new: false
        }
    );
    assert_eq!(
        cloud.objects.read_all(&items_key).unwrap(),
        items,
        "the same plan"
    );

    // A duplicate after the items were stored starts from them.
    let duplicate = planner::start_job(&upload_message(&job_id), &planner_svc).unwrap();
    assert_eq!(
        duplicate,
        Outcome::Started {
            job_id: job_id.clone(),
            new: false
        }
    );
    let execution = cloud.wait_for_execution(&job_id);
    assert_eq!(
        execution.status,
        vidstega_aws::ExecutionStatus::Succeeded,
        "{execution:?}"
    );
}

/// Lanes by video length, through the real queues and the planner's own
/// routing (`planner::handle_in_lanes`, as the planner function runs it): a
/// burst of two jobs arrives on the jobs queue, a 2-second video and a
/// 6-second one (640x360: as many 1080p-equivalent seconds). A job within
/// the cloud's express threshold is planned from the jobs queue; one over
/// it is only sent on to the long lane's queue (still queued, unplanned),
/// and is planned when it arrives from there, not sent on again. Both
/// executions then run. Timings of the two lanes are printed.
pub fn lanes_by_video_length(cloud: &Cloud) {
    let planner_svc = cloud.svc(Role::Planner);
    let lanes = cloud.lanes(Role::Planner);
    let threshold = cloud.lanes.express_max_seconds;
    let lane_of = |seconds: u64| {
        if seconds > threshold {
            Lane::Long
        } else {
            Lane::Express
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let submit = |seconds: u32| -> String {
        let job = create_job(cloud);
        let video = dir.path().join(format!("cover-{seconds}.mp4"));
        make_video(&video, seconds, Video::Small);
        put(job.url("video"), &std::fs::read(&video).unwrap());
        let payload = sealed(b"lanes by video length");
        put(job.url("payload"), &payload);
        put(job.url("placement_key"), &placement_key_for(&payload));
        job.job_id
    };
    let jobs = [(submit(2), 2u64), (submit(6), 6u64)];
    let planned = |id: &str| {
        cloud
            .objects
            .size(&format!("jobs/{id}/items.json"))
            .unwrap()
            .is_some()
    };

    // The burst's notifications, on the express lane.
    let express_at = Instant::now();
    let response = planner::handle_in_lanes(&cloud.receive(), &planner_svc, Some(&lanes));
    let express_ms = express_at.elapsed().as_millis();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    for (id, seconds) in &jobs {
        match lane_of(*seconds) {
            Lane::Express => assert!(
                planned(id),
                "the {seconds}-second video was not planned on the express lane (threshold {threshold} s)"
            ),
            Lane::Long => {
                assert!(
                    !planned(id),
                    "the {seconds}-second video was planned on the express lane (threshold {threshold} s)"
                );
                assert_eq!(cloud.jobs.job(id).unwrap().unwrap().stage, Stage::Queued);
            }
        }
    }
    // What sending a long job on costs the express lane: a read of the
    // video's header and one message.
    let mut send_on_ms = None;
    for (id, seconds) in &jobs {
        if lane_of(*seconds) == Lane::Long {
            let at = Instant::now();
            let outcome = planner::start_job_in_lanes(
                &upload_message(id),
                &planner_svc,
                planner::Route::Express(&lanes),
            )
            .unwrap();
            send_on_ms = Some(at.elapsed().as_millis());
            assert_eq!(outcome, Outcome::SentToLongLane(id.clone()));
        }
    }

    // The long lane's queue holds exactly the jobs sent on to it.
    let long_event = cloud.receive_long();
    let sent: std::collections::BTreeSet<String> = long_event
        .records
        .iter()
        .map(|r| {
            serde_json::from_str::<vidstega_serverless::JobMessage>(r.body.as_deref().unwrap())
                .unwrap()
                .job_id
        })
        .collect();
    let want: std::collections::BTreeSet<String> = jobs
        .iter()
        .filter(|(_, seconds)| lane_of(*seconds) == Lane::Long)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(sent, want, "the jobs on the long lane's queue");
    let long_at = Instant::now();
    if !long_event.records.is_empty() {
        let response = planner::handle_in_lanes(&long_event, &planner_svc, Some(&lanes));
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }
    let long_ms = long_at.elapsed().as_millis();
    assert!(
        cloud.is_empty(&cloud.long_queue),
        "a job that arrived on the long lane was sent on again"
    );
    for (id, seconds) in &jobs {
        assert!(planned(id), "the {seconds}-second video was never planned");
        let execution = cloud.wait_for_execution(id);
        assert_eq!(
            execution.status,
            vidstega_aws::ExecutionStatus::Succeeded,
            "{execution:?}"
        );
        // The execution runs on the functions of the lane the job was
        // planned on.
        let described = cloud
            .rt
            .block_on(
                cloud
                    .sfn
                    .client()
                    .describe_execution()
                    .execution_arn(&execution.execution_arn)
                    .send(),
            )
            .unwrap();
        let input: ExecutionInput = serde_json::from_str(described.input().unwrap()).unwrap();
        assert_eq!(
            input.lane,
            lane_of(*seconds),
            "the {seconds}-second video's execution input"
        );
    }
    println!(
        "lanes (express up to {threshold} s): express lane batch {express_ms} ms; sending a long job on \
         {send_on_ms:?} ms; long lane batch {long_ms} ms"
    );
}

/// The job message an upload notification amounts to.
fn upload_message(job_id: &str) -> vidstega_serverless::JobMessage {
    vidstega_serverless::JobMessage {
        job_id: job_id.to_string(),
        video_key: None,
        payload_key: None,
        container: None,
        planes: None,
        mode: None,
        max_rate: None,
        robustness: None,
    }
}

/// Runs the planner on what the queue holds; every message must succeed.
fn planner_outcomes(cloud: &Cloud, svc: &Services<'_>) -> Vec<Outcome> {
    let event = cloud.receive();
    assert!(!event.records.is_empty(), "no notifications arrived");
    event
        .records
        .iter()
        .flat_map(|r| planner::handle_body(r.body.as_deref().unwrap(), svc).unwrap())
        .collect()
}

/// A Distributed Map whose item list is missing fails, is caught, goes
/// through MarkFailed and ends in JobFailed (moto's engine; no handler runs).
pub fn definition_catch_path_runs_in_the_engine(cloud: &Cloud) {
    let input = ExecutionInput {
        lane: Lane::Express,
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

/// Jobs that stopped making progress are failed by the sweeper, saying why:
/// one whose uploads never arrived, and one planned whose execution (moto's
/// engine, with echoing tasks) ended without finishing the job. The sweep
/// runs "seven hours later" (its clock is a parameter).
pub fn stuck_jobs_are_failed_by_the_sweeper(cloud: &Cloud) {
    let sweeper_svc = cloud.svc(Role::Sweeper);
    // Never uploaded.
    let waiting = create_job(cloud).job_id;
    // Uploaded and planned; its execution runs in moto's engine, whose tasks
    // only echo, so no segment is ever recorded.
    let job = create_job(cloud);
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 2, Video::Small);
    put(job.url("video"), &std::fs::read(&video).unwrap());
    let payload = sealed(b"a message that gets stuck");
    put(job.url("payload"), &payload);
    put(job.url("placement_key"), &placement_key_for(&payload));
    let outcomes = planner_outcomes(cloud, &cloud.svc(Role::Planner));
    assert!(
        outcomes.contains(&Outcome::Started {
            job_id: job.job_id.clone(),
            new: true
        }),
        "{outcomes:?}"
    );
    let later = vidstega_pipeline::now_ms() + 7 * 3_600_000;
    let report = vidstega_serverless::sweeper::handle(
        &sweeper_svc,
        later,
        &vidstega_serverless::sweeper::Deadlines::default(),
    )
    .unwrap();
    let swept: Vec<&str> = report.failed.iter().map(|s| s.job_id.as_str()).collect();
    assert!(
        swept.contains(&waiting.as_str()) && swept.contains(&job.job_id.as_str()),
        "{report:?}"
    );
    for id in [&waiting, &job.job_id] {
        let row = cloud.jobs.job(id).unwrap().unwrap();
        assert_eq!(row.stage, Stage::Failed);
        assert!(
            row.error.as_deref().unwrap().starts_with("stuck:"),
            "{:?}",
            row.error
        );
        assert_eq!(cloud.objects.size(&keys::placement_key(id)).unwrap(), None);
    }
    let planned = cloud.jobs.job(&job.job_id).unwrap().unwrap().error.unwrap();
    assert!(
        planned.contains("execution ended") || planned.contains("has been stopped"),
        "{planned}"
    );
}

/// The media bucket's S3 → SQS notifications as `template.yaml` configures
/// them (each configuration's event, key prefix and key suffix), sending to
/// `queue_arn`: the tests set up the bucket the way the stack does.
pub fn template_bucket_notifications(queue_arn: &str) -> aws_sdk_s3::types::NotificationConfiguration {
    use aws_sdk_s3::types::*;
    use serde_yaml::Value as Yaml;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let template: Yaml = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let listed = template["Resources"]["MediaBucket"]["Properties"]["NotificationConfiguration"]
        ["QueueConfigurations"]
        .as_sequence()
        .expect("the media bucket notifies the jobs queue");
    let configurations = listed
        .iter()
        .map(|n| {
            let mut rules = S3KeyFilter::builder();
            for r in n["Filter"]["S3Key"]["Rules"].as_sequence().into_iter().flatten() {
                let name = match r["Name"].as_str() {
                    Some("prefix") => FilterRuleName::Prefix,
                    Some("suffix") => FilterRuleName::Suffix,
                    other => panic!("an S3 key filter rule named {other:?}"),
                };
                rules = rules.filter_rules(
                    FilterRule::builder()
                        .name(name)
                        .value(r["Value"].as_str().expect("a rule's value"))
                        .build(),
                );
            }
            QueueConfiguration::builder()
                .queue_arn(queue_arn)
                .events(Event::from(n["Event"].as_str().expect("an event")))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(rules.build())
                        .build(),
                )
                .build()
                .expect("a queue configuration has a queue and events")
        })
        .collect();
    NotificationConfiguration::builder()
        .set_queue_configurations(Some(configurations))
        .build()
}

/// A job submitted through presign, planned and embedded, waiting for
/// concat: its id, the message it hides and the user's folder.
pub struct ReadyForConcat {
    /// The job id.
    pub job_id: String,
    /// The message it hides.
    pub message: Vec<u8>,
    /// The user's folder (the source, the download).
    pub dir: tempfile::TempDir,
}

/// presign → PUTs of a `seconds`-second video of `size` → planner →
/// every Map item through embed-segment: the job is ready for concat.
pub fn ready_for_concat(cloud: &Cloud, mode: OutputMode, container: &str, size: Video) -> ReadyForConcat {
    let job = create_job_in(cloud, mode, container);
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("cover.mp4");
    make_video(&video, 4, size);
    let mut message = b"Meet at the north gate at dawn. ".to_vec();
    message.extend((0..4_000u64).map(|i| vidstega_core::mix64(i) as u8));
    put(job.url("video"), &std::fs::read(&video).unwrap());
    let payload = sealed(&message);
    put(job.url("payload"), &payload);
    put(job.url("placement_key"), &placement_key_for(&payload));
    let response = planner::handle(&cloud.receive(), &cloud.svc(Role::Planner));
    assert!(response.batch_item_failures.is_empty());
    let items: Vec<SegmentTask> = serde_json::from_slice(
        &cloud
            .objects
            .read_all(&format!("jobs/{}/items.json", job.job_id))
            .unwrap(),
    )
    .unwrap();
    for item in &items {
        segment::handle(item, &cloud.svc(Role::EmbedSegment)).unwrap();
    }
    ReadyForConcat {
        job_id: job.job_id,
        message,
        dir,
    }
}

/// Where [`FailOnceAfterUpload`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterUpload {
    /// The first read of the output object (compact mode's read-back).
    ReadingTheOutput,
    /// Deleting the placement key (after the job was marked done).
    DeletingTheKey,
}

/// An object store that passes every call on, except one: after an object
/// was stored under `outputs/`, the first call of the kind `at` fails with
/// a retryable error (S3 throttling, as the SDK reports it after its own
/// retries), as a transient failure after concat's upload would.
pub struct FailOnceAfterUpload<'a> {
    inner: &'a dyn vidstega_pipeline::ObjectStore,
    at: AfterUpload,
    uploaded: std::sync::atomic::AtomicBool,
    failed: std::sync::atomic::AtomicBool,
}

impl<'a> FailOnceAfterUpload<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn vidstega_pipeline::ObjectStore, at: AfterUpload) -> Self {
        FailOnceAfterUpload {
            inner,
            at,
            uploaded: Default::default(),
            failed: Default::default(),
        }
    }

    /// Whether it failed a call.
    pub fn failed(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn check(&self, kind: AfterUpload, key: &str) -> vidstega_pipeline::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        if kind == self.at && self.uploaded.load(SeqCst) && !self.failed.swap(true, SeqCst) {
            return Err(vidstega_pipeline::PipelineError::Store {
                message: format!("injected: S3 throttled a request for {key} (SlowDown)"),
                retryable: true,
                source: None,
            });
        }
        Ok(())
    }

    fn reads_output(&self, key: &str) -> vidstega_pipeline::Result<()> {
        if key.starts_with(keys::OUTPUTS) {
            self.check(AfterUpload::ReadingTheOutput, key)?;
        }
        Ok(())
    }
}

impl vidstega_pipeline::ObjectStore for FailOnceAfterUpload<'_> {
    fn media_source(&self, key: &str) -> vidstega_pipeline::Result<vidstega_pipeline::MediaSource> {
        self.reads_output(key)?;
        self.inner.media_source(key)
    }
    fn size(&self, key: &str) -> vidstega_pipeline::Result<Option<u64>> {
        self.inner.size(key)
    }
    fn stat(&self, key: &str) -> vidstega_pipeline::Result<Option<vidstega_pipeline::ObjectStat>> {
        self.inner.stat(key)
    }
    fn read_range(&self, key: &str, range: std::ops::Range<u64>) -> vidstega_pipeline::Result<Vec<u8>> {
        self.reads_output(key)?;
        self.inner.read_range(key, range)
    }
    fn read_all(&self, key: &str) -> vidstega_pipeline::Result<Vec<u8>> {
        self.reads_output(key)?;
        self.inner.read_all(key)
    }
    fn write_bytes(&self, key: &str, bytes: &[u8]) -> vidstega_pipeline::Result<()> {
        self.inner.write_bytes(key, bytes)
    }
    fn put_file(&self, key: &str, file: &std::path::Path) -> vidstega_pipeline::Result<()> {
        self.inner.put_file(key, file)
    }
    fn put_stream(&self, key: &str, reader: &mut dyn std::io::Read) -> vidstega_pipeline::Result<u64> {
        let n = self.inner.put_stream(key, reader)?;
        if key.starts_with(keys::OUTPUTS) {
            self.uploaded.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(n)
    }
    fn delete(&self, key: &str) -> vidstega_pipeline::Result<()> {
        if key.ends_with("/placement.key") {
            self.check(AfterUpload::DeletingTheKey, key)?;
        }
        self.inner.delete(key)
    }
    fn list(&self, prefix: &str) -> vidstega_pipeline::Result<Vec<String>> {
        self.inner.list(prefix)
    }
}

/// The S3 calls that write under `outputs/` among `calls`.
pub fn output_writes(calls: &[AwsCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.service == "S3")
        .filter(|c| {
            matches!(
                c.operation.as_str(),
                "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload"
            )
        })
        .filter(|c| matches!(&c.target, vidstega_aws::recorder::Target::Object { key, .. } if key.starts_with(keys::OUTPUTS)))
        .map(|c| c.operation.clone())
        .collect()
}

/// Concat's first attempt fails (retryably) right after its upload, `at`
/// the given point; the retry, as the state machine's Retry runs it,
/// resumes: it writes nothing under `outputs/` (no PutObject or multipart
/// call: neither the join nor the splice runs again), reads no segment
/// (lossless mode), marks the job done, deletes the key, and the output
/// extracts to the message. Returns the first attempt's output writes.
pub fn a_concat_retry_resumes_from_the_stored_output(
    cloud: &Cloud,
    mode: OutputMode,
    size: Video,
    at: AfterUpload,
) -> Vec<String> {
    let job = ready_for_concat(cloud, mode, "mkv", size);
    let job_ref = JobRef {
        job_id: job.job_id.clone(),
    };
    let svc = cloud.svc(Role::Concat);
    let failing = FailOnceAfterUpload::new(svc.objects, at);
    let first = concat::handle(
        &job_ref,
        &Services {
            objects: &failing,
            ..cloud.svc(Role::Concat)
        },
    )
    .expect_err("the injected failure fails the first attempt");
    assert!(failing.failed(), "nothing was injected");
    assert_eq!(first.error_type_name(), "VidStega.Retryable", "{}", first.message);
    let before = cloud.calls()[&Role::Concat].len();
    let first_writes = output_writes(&cloud.calls()[&Role::Concat]);
    assert!(!first_writes.is_empty(), "the first attempt wrote the output");
    let stage = cloud.jobs.job(&job.job_id).unwrap().unwrap().stage;
    let expected = match at {
        AfterUpload::ReadingTheOutput => Stage::Concatenating,
        AfterUpload::DeletingTheKey => Stage::Done,
    };
    assert_eq!(stage, expected);

    // The state machine's Retry.
    let result = concat::handle(&job_ref, &cloud.svc(Role::Concat)).unwrap();
    let retry_calls = cloud.calls()[&Role::Concat][before..].to_vec();
    assert_eq!(
        output_writes(&retry_calls),
        Vec::<String>::new(),
        "the retry wrote the output again"
    );
    let segment_reads: Vec<&AwsCall> = retry_calls
        .iter()
        .filter(|c| matches!(&c.target, vidstega_aws::recorder::Target::Object { key, .. } if key.contains("/segments/")))
        .collect();
    assert!(
        segment_reads.is_empty(),
        "the retry read segments: {segment_reads:?}"
    );
    assert_eq!(
        cloud.objects.size(&result.output_key).unwrap(),
        Some(result.bytes)
    );
    assert_eq!(cloud.jobs.job(&job.job_id).unwrap().unwrap().stage, Stage::Done);
    assert_eq!(
        cloud.objects.size(&keys::placement_key(&job.job_id)).unwrap(),
        None
    );
    let recorded = cloud
        .jobs
        .output(&job.job_id)
        .unwrap()
        .expect("the output is recorded");
    assert!(
        recorded.verified && recorded.bytes == result.bytes,
        "{recorded:?}"
    );

    let out = job.dir.path().join("stego.mkv");
    std::fs::write(&out, cloud.objects.read_all(&result.output_key).unwrap()).unwrap();
    let got = extract_file(&out, PASSWORD, 2, &NoProgress).unwrap();
    assert_eq!(got.message, job.message);
    println!(
        "concat resumed ({mode:?}, failure {at:?}): the first attempt's output writes {first_writes:?}; \
         the retry's calls: {:?}",
        retry_calls
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>()
    );
    first_writes
}
