//! Every sample event in `events/` parses into its handler's type, survives
//! re-serialisation, and drives its handler — here with the local adapters
//! (a folder and SQLite) and a real video through the real pipeline.

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::event::sqs::SqsEvent;
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vidstega_core::{seal, PlacementKey, SealParams};
use vidstega_local::{FolderStore, SqliteJobStore};
use vidstega_pipeline::contract::{
    keys, ExecutionInput, FailureInput, JobRef, Lane, OutputMode, SegmentTask,
};
use vidstega_pipeline::{extract_file, JobStore, NoProgress, ObjectStore, PlanSettings, Stage};
use vidstega_serverless::planner::{self, Outcome};
use vidstega_serverless::{
    concat, failure, http, segment, sweeper, ExecutionState, Services, Settings, Workflow,
};
use vidstega_test_support::{ffmpeg, make_video};

const JOB: &str = "job-0123456789abcdef";
const PASSWORD: &[u8] = b"events test password";

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn load<T: DeserializeOwned>(name: &str) -> T {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
}

fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(name: &str) {
    let parsed: T = load(name);
    let again: T = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(parsed, again, "{name} changes when re-serialised");
}

#[test]
fn every_event_parses_and_round_trips() {
    let mut seen = 0;
    for entry in walk(&events_dir()) {
        let rel = entry
            .strip_prefix(events_dir())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !rel.ends_with(".json") {
            continue;
        }
        seen += 1;
        match rel.split('/').next().unwrap() {
            "planner" => round_trip::<SqsEvent>(&rel),
            "embed-segment" => round_trip::<SegmentTask>(&rel),
            "concat" => round_trip::<JobRef>(&rel),
            "mark-failed" => round_trip::<FailureInput>(&rel),
            "presign" | "status" => round_trip::<LambdaFunctionUrlRequest>(&rel),
            other => panic!("events/{rel}: no handler is known for folder {other}"),
        }
    }
    assert!(seen >= 14, "only {seen} events found");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The state machine's starts and stops, recorded: executions are named
/// after jobs.
#[derive(Default)]
struct RecordedStarts(Mutex<Vec<(String, ExecutionInput)>>, Mutex<Vec<(String, String)>>);

impl Workflow for RecordedStarts {
    fn start(&self, job_id: &str, input: &ExecutionInput) -> vidstega_pipeline::Result<bool> {
        let mut s = self.0.lock().unwrap();
        if s.iter().any(|(j, _)| j == job_id) {
            return Ok(false);
        }
        s.push((job_id.to_string(), input.clone()));
        Ok(true)
    }

    /// A started execution runs until it is stopped.
    fn state(&self, job_id: &str) -> vidstega_pipeline::Result<Option<ExecutionState>> {
        let started = self.0.lock().unwrap().iter().any(|(j, _)| j == job_id);
        let stopped = self.1.lock().unwrap().iter().any(|(j, _)| j == job_id);
        Ok(match (started, stopped) {
            (false, _) => None,
            (true, false) => Some(ExecutionState::Running),
            (true, true) => Some(ExecutionState::Ended("Aborted".into())),
        })
    }

    fn stop(&self, job_id: &str, cause: &str) -> vidstega_pipeline::Result<()> {
        self.1
            .lock()
            .unwrap()
            .push((job_id.to_string(), cause.to_string()));
        Ok(())
    }

    /// Started and not stopped.
    fn active_jobs(&self, at_most: u64) -> vidstega_pipeline::Result<u64> {
        let stopped = self.1.lock().unwrap().len() as u64;
        Ok((self.0.lock().unwrap().len() as u64)
            .saturating_sub(stopped)
            .min(at_most))
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: FolderStore,
    jobs: SqliteJobStore,
    workflow: RecordedStarts,
    settings: Settings,
    video: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderStore::open(dir.path().join("bucket")).unwrap();
        let jobs = SqliteJobStore::open(&dir.path().join("jobs.sqlite")).unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let video = make_video(
            dir.path(),
            "cover.mp4",
            &[
                "testsrc2=s=320x240:r=25,noise=alls=10:allf=t",
                "sine=f=440:r=48000",
            ],
            &[
                "-t",
                "3",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-g",
                "15",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
            ],
        );
        let settings = Settings {
            bucket: "vidstega-media".into(),
            scratch,
            plan: PlanSettings {
                workers: 2,
                min_segment_frames: 10,
                ..PlanSettings::default()
            },
            inline_map_limit: 40,
            presign_ttl_seconds: 900,
            job_record_days: 30,
            max_active_jobs: 0,
            jobs_queue_url: None,
            max_jobs_per_caller_hour: 0,
        };
        World {
            _dir: dir,
            store,
            jobs,
            workflow: RecordedStarts::default(),
            settings,
            video,
        }
    }

    fn services(&self) -> Services<'_> {
        Services {
            objects: &self.store,
            jobs: &self.jobs,
            workflow: &self.workflow,
            settings: &self.settings,
        }
    }

    fn upload(&self, message: &[u8]) {
        let copy = self.video.with_extension("upload.mp4");
        std::fs::copy(&self.video, &copy).unwrap();
        self.store.put_file(&keys::video(JOB), &copy).unwrap();
        let params = SealParams {
            kdf_iterations: 1000,
            ..SealParams::default()
        };
        let env = seal(message, PASSWORD, &params).unwrap();
        self.store
            .write_bytes(&keys::payload(JOB), &env.to_bytes())
            .unwrap();
        let key = PlacementKey::derive_for(PASSWORD, env.header());
        self.store
            .write_bytes(&keys::placement_key(JOB), key.as_bytes())
            .unwrap();
    }
}

fn body(r: &aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse) -> serde_json::Value {
    serde_json::from_str(r.body.as_deref().unwrap()).unwrap()
}

#[test]
fn handlers_run_a_compact_job_from_notifications_to_output() {
    // No options: compact mode, the output in MP4 like the source.
    run_job_from_notifications_to_output(None, "mp4");
}

#[test]
fn handlers_run_a_lossless_job_from_notifications_to_output() {
    run_job_from_notifications_to_output(Some(OutputMode::Lossless), "mkv");
}

/// The whole flow through the handlers, with the job's options stored as
/// presign stores them (`mode`; nothing stored for `None`).
fn run_job_from_notifications_to_output(mode: Option<OutputMode>, extension: &str) {
    let w = World::new();
    let svc = w.services();
    if mode.is_some() {
        let options = vidstega_pipeline::contract::JobOptions {
            mode,
            ..Default::default()
        };
        w.store
            .write_bytes(&keys::options(JOB), &serde_json::to_vec(&options).unwrap())
            .unwrap();
    }

    // The test event and a malformed message.
    let r = planner::handle(&load("planner/s3-test-event.json"), &svc);
    assert!(r.batch_item_failures.is_empty());
    let r = planner::handle(&load("planner/malformed-message.json"), &svc);
    assert!(
        r.batch_item_failures.is_empty(),
        "a malformed message can never succeed: deleted on its first receive"
    );

    // Notifications before the uploads exist: the job waits.
    let notes: SqsEvent = load("planner/s3-upload-notifications.json");
    let r = planner::handle(&notes, &svc);
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(w.jobs.job(JOB).unwrap().unwrap().stage, Stage::Queued);
    assert!(w.workflow.0.lock().unwrap().is_empty());

    // Uploads land; the same notifications, delivered again, start it once.
    let message = b"The drop is at the old mill, Tuesday 04:00.".to_vec();
    w.upload(&message);
    let outcome = planner::handle_body(notes.records[0].body.as_deref().unwrap(), &svc).unwrap();
    assert_eq!(
        outcome,
        vec![Outcome::Started {
            job_id: JOB.into(),
            new: true
        }]
    );
    for _ in 0..2 {
        let r = planner::handle(&notes, &svc);
        assert!(r.batch_item_failures.is_empty());
    }
    let r = planner::handle(&load("planner/job-message.json"), &svc);
    assert!(r.batch_item_failures.is_empty());
    let starts = w.workflow.0.lock().unwrap().clone();
    assert_eq!(starts.len(), 1, "one execution per job");
    let input = &starts[0].1;
    match mode.unwrap_or_default() {
        // A short message: one carrier picture, one segment.
        OutputMode::Compact => assert_eq!(input.segment_count, 1, "{input:?}"),
        OutputMode::Lossless | OutputMode::Robust => assert!(input.segment_count >= 3, "{input:?}"),
    }
    assert_eq!(input.segments.len() as u32, input.segment_count);
    let job = w.jobs.job(JOB).unwrap().unwrap();
    assert_eq!(
        (job.stage, job.segments_total),
        (Stage::Embedding, input.segment_count)
    );
    // The stored probe result holds no URL or local path of the source.
    let media = String::from_utf8(w.store.read_all(&format!("jobs/{JOB}/media.json")).unwrap()).unwrap();
    assert!(
        media.contains(&format!("\"path\":\"{}\"", keys::video(JOB))),
        "{media}"
    );

    // The Map: every item, in reverse order; the sample item twice.
    let sample: SegmentTask = load("embed-segment/map-item.json");
    for task in input.segments.iter().rev() {
        let r = segment::handle(task, &svc).unwrap();
        assert!(!r.already_done);
        assert!(r.frames > 0);
    }
    let again = segment::handle(&sample, &svc).unwrap();
    assert!(again.already_done, "a retried segment is not redone");
    assert_eq!(
        w.jobs.job(JOB).unwrap().unwrap().segments_done,
        input.segment_count
    );

    // Concat streams the output into the store and finishes the job.
    let result = concat::handle(&load("concat/input.json"), &svc).unwrap();
    assert_eq!(result.output_key, format!("outputs/{JOB}.{extension}"));
    assert_eq!(result.audio_streams, 1);
    assert_eq!(w.store.size(&result.output_key).unwrap(), Some(result.bytes));
    assert_eq!(
        w.store.size(&keys::placement_key(JOB)).unwrap(),
        None,
        "the key is dropped"
    );
    let job = w.jobs.job(JOB).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Done);
    let out = w.store.path(&result.output_key).unwrap();
    let got = extract_file(&out, PASSWORD, 2, &NoProgress).unwrap();
    assert_eq!(got.message, message);

    // Status by path and by query; unknown and malformed ids.
    let r = http::status(&load("status/get-job.json"), &svc);
    assert_eq!(r.status_code, 200);
    let b = body(&r);
    assert_eq!(b["stage"], "done");
    assert_eq!(b["segments_done"], b["segments_total"]);
    assert_eq!(b["output_key"], format!("outputs/{JOB}.{extension}"));
    assert_eq!(
        http::status(&load("status/get-job-by-query.json"), &svc).status_code,
        200
    );
    assert_eq!(
        http::status(&load("status/unknown-job.json"), &svc).status_code,
        404
    );
    assert_eq!(
        http::status(&load("status/bad-job-id.json"), &svc).status_code,
        400
    );

    // A late failure report does not undo a finished job.
    failure::handle(&load("mark-failed/input.json"), &svc).unwrap();
    assert_eq!(w.jobs.job(JOB).unwrap().unwrap().stage, Stage::Done);
}

#[test]
fn handlers_run_a_robust_job_segment_by_segment_and_its_output_survives_a_re_encode() {
    let w = World::new();
    let svc = w.services();
    let options = vidstega_pipeline::contract::JobOptions {
        mode: Some(OutputMode::Robust),
        robustness: Some(vidstega_pipeline::contract::Robustness::Normal),
        ..Default::default()
    };
    w.store
        .write_bytes(&keys::options(JOB), &serde_json::to_vec(&options).unwrap())
        .unwrap();
    // Robust mode's grid is a fraction of the frame: a 960x540 clip of 6 s,
    // keyframes every second, so the plan has several segments.
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(
        dir.path(),
        "cover.mp4",
        &[
            "testsrc2=s=960x540:r=25,noise=alls=10:allf=t",
            "sine=f=440:r=48000",
        ],
        &[
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    w.store.put_file(&keys::video(JOB), &video).unwrap();
    let message = b"mill, Tuesday 04:00".to_vec();
    let params = vidstega_robust::robust_seal_params(message.len() as u64, 1000);
    let envelope = seal(&message, PASSWORD, &params).unwrap();
    w.store
        .write_bytes(&keys::payload(JOB), &envelope.to_bytes())
        .unwrap();
    w.store
        .write_bytes(
            &keys::placement_key(JOB),
            PlacementKey::derive(PASSWORD).as_bytes(),
        )
        .unwrap();

    let r = planner::handle(&load("planner/s3-upload-notifications.json"), &svc);
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let starts = w.workflow.0.lock().unwrap().clone();
    let input = &starts[0].1;
    assert!(input.segment_count >= 2, "{input:?}");
    let plan: vidstega_pipeline::Plan =
        serde_json::from_slice(&w.store.read_all(&format!("jobs/{JOB}/plan.json")).unwrap()).unwrap();
    assert_eq!(plan.mode, OutputMode::Robust);
    assert_eq!(plan.pixel_format, "yuv420p");
    // Every segment embeds the whole payload.
    assert!(plan
        .segments
        .iter()
        .all(|s| (s.bit_start, s.bit_end) == (0, plan.body_bits)));

    // The Map, in reverse order, then concat (which extracts its output once).
    for task in input.segments.iter().rev() {
        let r = segment::handle(task, &svc).unwrap();
        assert!(!r.already_done && r.frames > 0);
    }
    let result = concat::handle(&load("concat/input.json"), &svc).unwrap();
    assert_eq!(result.output_key, format!("outputs/{JOB}.mp4"));
    assert_eq!(result.audio_streams, 1);
    assert_eq!(w.jobs.job(JOB).unwrap().unwrap().stage, Stage::Done);
    let out = w.store.path(&result.output_key).unwrap();
    let got = extract_file(&out, PASSWORD, 2, &NoProgress).unwrap();
    assert_eq!(
        (got.message.as_slice(), got.mode),
        (message.as_slice(), OutputMode::Robust)
    );

    // What a messaging app does to it.
    let shared = dir.path().join("shared.mp4");
    ffmpeg(&[
        "-i",
        out.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-crf",
        "23",
        "-c:a",
        "copy",
        shared.to_str().unwrap(),
    ]);
    let got = extract_file(&shared, PASSWORD, 2, &NoProgress).unwrap();
    assert_eq!(got.message, message);
    let report = got.robust.expect("robust mode reports its reading");
    assert_eq!(report.failed_codewords, 0);
}

#[test]
fn unusable_input_fails_the_job_with_a_reason() {
    let w = World::new();
    let svc = w.services();
    // Far more than a 3-second 320x240 clip can carry.
    let big: Vec<u8> = (0..2_000_000u32)
        .map(|i| vidstega_core::mix64(i as u64) as u8)
        .collect();
    w.upload(&big);
    let r = planner::handle(&load("planner/job-message.json"), &svc);
    assert!(r.batch_item_failures.is_empty(), "unusable input is not retried");
    let job = w.jobs.job(JOB).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Failed);
    // Compact mode's refusal says how much fits.
    assert!(
        job.error
            .as_deref()
            .unwrap()
            .contains("bytes of (compressed) message fit"),
        "{:?}",
        job.error
    );
    assert_eq!(w.store.size(&keys::placement_key(JOB)).unwrap(), None);
    assert!(
        w.workflow.0.lock().unwrap().is_empty(),
        "no execution for a rejected job"
    );
    assert!(w.store.list("outputs/").unwrap().is_empty());
}

#[test]
fn caught_errors_mark_the_job_failed() {
    let w = World::new();
    let svc = w.services();
    w.upload(b"short");
    let r = planner::handle(&load("planner/job-message.json"), &svc);
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(w.jobs.job(JOB).unwrap().unwrap().stage, Stage::Embedding);
    failure::handle(&load("mark-failed/input.json"), &svc).unwrap();
    let job = w.jobs.job(JOB).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Failed);
    assert!(job
        .error
        .unwrap()
        .starts_with("VidStega.InvalidInput: the payload needs"));
    assert_eq!(w.store.size(&keys::placement_key(JOB)).unwrap(), None);
    assert!(w.store.list("outputs/").unwrap().is_empty());
}

#[test]
fn presign_requests_are_checked() {
    let w = World::new();
    let svc = w.services();
    assert_eq!(
        http::presign(&load("presign/wrong-method.json"), &svc).status_code,
        405
    );
    let bad = http::presign(&load("presign/bad-container.json"), &svc);
    assert_eq!(bad.status_code, 400);
    // The answer says what is allowed.
    let said = body(&bad)["error"].as_str().unwrap().to_string();
    assert!(said.contains("avi") && said.contains("mkv, mp4 or mov"), "{said}");
    // A folder cannot sign URLs: the handler says so instead of failing oddly
    // (the S3 adapter's test covers the signed case).
    let r = http::presign(&load("presign/create-job.json"), &svc);
    assert_eq!(r.status_code, 503);
    assert!(body(&r)["error"].as_str().unwrap().contains("sign"));
}

#[test]
fn stored_options_win_and_a_planned_job_is_never_planned_again() {
    let w = World::new();
    let svc = w.services();
    // As presign (or `vidstega submit` over the queue) does: options first.
    let options = vidstega_pipeline::contract::JobOptions {
        container: Some(vidstega_pipeline::contract::ContainerName::Mp4),
        planes: Some(vidstega_pipeline::contract::Planes::All),
        mode: None,
        max_rate: None,
        robustness: None,
    };
    w.store
        .write_bytes(&keys::options(JOB), &serde_json::to_vec(&options).unwrap())
        .unwrap();
    w.upload(b"options travel with the job");
    // A notification starts the job: it must use the stored options.
    let notes: SqsEvent = load("planner/s3-upload-notifications.json");
    assert!(planner::handle(&notes, &svc).batch_item_failures.is_empty());
    let plan = |w: &World| -> serde_json::Value {
        serde_json::from_slice(&w.store.read_all(&format!("jobs/{JOB}/plan.json")).unwrap()).unwrap()
    };
    let first = plan(&w);
    assert_eq!(first["planes"], "all");
    assert_eq!(first["output_key"], format!("outputs/{JOB}.mp4"));
    // A late job message asking for other options changes nothing.
    let late = r#"{"job_id":"job-0123456789abcdef","container":"mkv","planes":"luma"}"#;
    let outcome = planner::handle_body(late, &svc).unwrap();
    assert_eq!(
        outcome,
        vec![Outcome::Started {
            job_id: JOB.into(),
            new: false
        }]
    );
    assert_eq!(plan(&w), first, "a running job is not re-planned");
    assert_eq!(w.workflow.0.lock().unwrap().len(), 1);
}

/// Plans the uploaded job with `limits` and returns why the planner
/// refused it (the job is marked failed, nothing is started).
fn refused_with(w: &mut World, mode: OutputMode, limits: vidstega_pipeline::Limits) -> String {
    w.settings.plan.limits = limits;
    let options = vidstega_pipeline::contract::JobOptions {
        mode: Some(mode),
        ..Default::default()
    };
    w.store
        .write_bytes(&keys::options(JOB), &serde_json::to_vec(&options).unwrap())
        .unwrap();
    w.upload(b"a message that never gets embedded");
    let svc = w.services();
    let notes: SqsEvent = load("planner/s3-upload-notifications.json");
    let outcome = planner::handle_body(notes.records[0].body.as_deref().unwrap(), &svc).unwrap();
    let [Outcome::Rejected(why)] = &outcome[..] else {
        panic!("the plan was not refused: {outcome:?}")
    };
    let job = w.jobs.job(JOB).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Failed);
    assert!(w.workflow.0.lock().unwrap().is_empty(), "nothing was started");
    why.clone()
}

/// The service's limits: the video's own limits generous, the work limits set by the test.
fn service_limits() -> vidstega_pipeline::Limits {
    vidstega_pipeline::Limits {
        check_header_first: true,
        ..Default::default()
    }
}

#[test]
fn a_lossless_output_concat_could_not_write_is_refused_before_any_work() {
    let mut w = World::new();
    // 75 frames of 320x240 lossless: about 6.3 MB by the estimate.
    let why = refused_with(
        &mut w,
        OutputMode::Lossless,
        vidstega_pipeline::Limits {
            max_output_bytes: 5_000_000,
            ..service_limits()
        },
    );
    assert!(
        why.contains("output would be about") && why.contains("compact mode"),
        "{why}"
    );
    // The same video in compact mode makes an output of about its own size.
    let mut w = World::new();
    let why = refused_with(
        &mut w,
        OutputMode::Compact,
        vidstega_pipeline::Limits {
            max_output_bytes: 10_000,
            ..service_limits()
        },
    );
    assert!(why.contains("the source and"), "{why}");
}

#[test]
fn a_gop_longer_than_one_segment_can_decode_is_refused_saying_how_to_fix_it() {
    // Keyframes every 15 frames of 320x240 (76,800 pixels). A lossless
    // segment decodes whole GOPs: allow 10 frames. A compact segment decodes
    // from a keyframe to its carrier (a few frames): allow 1.
    for (mode, most) in [(OutputMode::Lossless, 10), (OutputMode::Compact, 1)] {
        let mut w = World::new();
        let why = refused_with(
            &mut w,
            mode,
            vidstega_pipeline::Limits {
                max_segment_pixels: most * 76_800,
                ..service_limits()
            },
        );
        assert!(
            why.contains("from a keyframe")
                && why.contains(&format!("at most {most} frames apart"))
                && why.contains("-g"),
            "{mode:?}: {why}"
        );
    }
}

#[test]
fn limits_are_checked_from_the_header_before_the_file_is_read_through() {
    let mut w = World::new();
    // A fast-start MP4 cut in half: its header (moov) is whole and says 75
    // frames; reading the packets would find the file truncated.
    let faststart = w.video.with_extension("faststart.mp4");
    ffmpeg(&[
        "-i",
        w.video.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        faststart.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&faststart).unwrap();
    std::fs::write(&w.video, &bytes[..bytes.len() / 2]).unwrap();
    let why = refused_with(
        &mut w,
        OutputMode::Compact,
        vidstega_pipeline::Limits {
            max_frames: 50,
            ..service_limits()
        },
    );
    assert!(
        why.contains("over the limits") && why.contains("75 frames, over the limit of 50"),
        "{why}"
    );
    // Without the header check the same job fails only once it is read.
    let mut w2 = World::new();
    std::fs::write(&w2.video, &bytes[..bytes.len() / 2]).unwrap();
    let why = refused_with(
        &mut w2,
        OutputMode::Compact,
        vidstega_pipeline::Limits {
            max_frames: 50,
            ..Default::default()
        },
    );
    assert!(why.contains("truncated"), "{why}");
}

#[test]
fn the_sweeper_fails_stuck_jobs_saying_why_and_leaves_moving_ones() {
    let w = World::new();
    let svc = w.services();
    let make = |id: &str| {
        let job =
            vidstega_pipeline::JobRecord::new(id, "uploads/v", "uploads/e", &format!("outputs/{id}.mp4"));
        w.jobs.create_job(&job).unwrap();
        w.store.write_bytes(&keys::placement_key(id), &[7; 32]).unwrap();
    };
    // Waiting for uploads that never came: no execution.
    make("job-queued");
    // Embedding, its execution still running.
    make("job-embedding");
    w.jobs
        .put_segments(
            "job-embedding",
            &[vidstega_pipeline::SegmentRecord {
                index: 0,
                frame_start: 0,
                frame_end: 10,
                bit_start: 0,
                bit_end: 100,
                done: false,
                millis: None,
            }],
        )
        .unwrap();
    let input = ExecutionInput {
        lane: Lane::Express,
        job_id: "job-embedding".into(),
        bucket: "b".into(),
        plan_key: "jobs/job-embedding/plan.json".into(),
        items_key: "jobs/job-embedding/items.json".into(),
        segment_count: 1,
        segments: Vec::new(),
        distributed: false,
    };
    w.workflow.start("job-embedding", &input).unwrap();
    // Concatenating, with a partial output.
    make("job-concat");
    w.jobs
        .set_stage("job-concat", Stage::Concatenating, None)
        .unwrap();
    w.store.write_bytes("outputs/job-concat.mp4", b"partial").unwrap();
    // Done: never touched.
    make("job-done");
    w.jobs.set_stage("job-done", Stage::Done, None).unwrap();

    let deadlines = sweeper::Deadlines::default();
    // An hour later nothing is past its deadline yet.
    let now = vidstega_pipeline::now_ms();
    let report = sweeper::handle(&svc, now + 3_600_000 - 60_000, &deadlines).unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    // Seven hours later every unfinished job is.
    let report = sweeper::handle(&svc, now + 7 * 3_600_000, &deadlines).unwrap();
    let mut swept: Vec<&str> = report.failed.iter().map(|s| s.job_id.as_str()).collect();
    swept.sort();
    assert_eq!(swept, ["job-concat", "job-embedding", "job-queued"]);
    for (id, says) in [
        ("job-queued", "uploads never all arrived"),
        ("job-embedding", "still running and has been stopped"),
        ("job-concat", "no execution was started"),
    ] {
        let job = w.jobs.job(id).unwrap().unwrap();
        assert_eq!(job.stage, Stage::Failed, "{id}");
        let error = job.error.unwrap();
        assert!(
            error.starts_with("stuck: no progress while") && error.contains(says),
            "{id}: {error}"
        );
        assert_eq!(
            w.store.size(&keys::placement_key(id)).unwrap(),
            None,
            "{id}: the key is deleted"
        );
    }
    assert_eq!(
        w.store.size("outputs/job-concat.mp4").unwrap(),
        None,
        "the partial output is removed"
    );
    let stops = w.workflow.1.lock().unwrap().clone();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].0, "job-embedding");
    assert_eq!(w.jobs.job("job-done").unwrap().unwrap().stage, Stage::Done);
    // A second sweep finds nothing more to do.
    let again = sweeper::handle(&svc, now + 7 * 3_600_000, &deadlines).unwrap();
    assert!(again.failed.is_empty());
}

#[test]
fn presign_answers_429_with_retry_after_while_the_service_is_full() {
    let mut w = World::new();
    w.settings.max_active_jobs = 2;
    let input = ExecutionInput {
        lane: Lane::Express,
        job_id: "job-a".into(),
        bucket: "b".into(),
        plan_key: "p".into(),
        items_key: "i".into(),
        segment_count: 0,
        segments: Vec::new(),
        distributed: false,
    };
    // One job running: admitted (the folder store then cannot sign: 503).
    w.workflow.start("job-a", &input).unwrap();
    let r = http::presign(&load("presign/create-job.json"), &w.services());
    assert_eq!(
        r.status_code, 503,
        "admitted, then refused for signing: {:?}",
        r.body
    );
    // Two running: the limit.
    w.workflow.start("job-b", &input).unwrap();
    let r = http::presign(&load("presign/create-job.json"), &w.services());
    assert_eq!(r.status_code, 429, "{:?}", r.body);
    assert_eq!(r.headers.get("retry-after").unwrap(), "60");
    let error = body(&r)["error"].as_str().unwrap().to_string();
    assert!(error.contains("busy") && error.contains("limit is 2"), "{error}");
    // One stops: admitted again; 0 turns the check off.
    w.workflow.stop("job-b", "test").unwrap();
    assert_eq!(
        http::presign(&load("presign/create-job.json"), &w.services()).status_code,
        503
    );
    w.workflow.start("job-c", &input).unwrap();
    w.settings.max_active_jobs = 0;
    assert_eq!(
        http::presign(&load("presign/create-job.json"), &w.services()).status_code,
        503
    );
}

#[test]
fn failed_jobs_are_counted_by_cause_so_the_alarm_ignores_unusable_input() {
    use vidstega_serverless::metrics;
    let w = World::new();
    let svc = w.services();
    let _ = metrics::capture();
    for (id, error) in [
        ("job-input-fail", "VidStega.InvalidInput"),
        ("job-ours-fail", "VidStega.Fatal"),
        ("job-timeout-fail", "States.Timeout"),
    ] {
        let job = vidstega_pipeline::JobRecord::new(id, "v", "e", &format!("outputs/{id}.mp4"));
        w.jobs.create_job(&job).unwrap();
        let input = FailureInput {
            job_id: id.into(),
            error: vidstega_pipeline::contract::CaughtError {
                error: error.into(),
                cause: "{\"errorMessage\":\"why\"}".into(),
            },
        };
        failure::handle(&input, &svc).unwrap();
    }
    let lines = metrics::capture();
    let cause = |id: &str| {
        lines
            .iter()
            .find(|l| l["JobId"] == id && l[metrics::JOBS_FAILED] == 1.0)
            .map(|l| l[metrics::CAUSE].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no failure metric for {id}: {lines:?}"))
    };
    assert_eq!(cause("job-input-fail"), "input");
    assert_eq!(cause("job-ours-fail"), "internal");
    assert_eq!(cause("job-timeout-fail"), "internal");
}

#[test]
fn each_caller_gets_its_hourly_quota_of_jobs_then_429() {
    let mut w = World::new();
    w.settings.max_jobs_per_caller_hour = 2;
    let from = |arn: Option<&str>, ip: &str| {
        let mut req: LambdaFunctionUrlRequest = load("presign/create-job.json");
        req.request_context.http.source_ip = Some(ip.into());
        match arn {
            Some(arn) => {
                let mut iam =
                    aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequestContextAuthorizerIamDescription::default();
                iam.user_arn = Some(arn.into());
                let mut auth =
                    aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequestContextAuthorizerDescription::default();
                auth.iam = Some(iam);
                req.request_context.authorizer = Some(auth);
            }
            None => req.request_context.authorizer = None,
        }
        req
    };
    let alice = from(Some("arn:aws:iam::123456789012:user/alice"), "10.0.0.1");
    // Counted, then refused for signing (the folder store cannot sign): 503.
    for _ in 0..2 {
        assert_eq!(http::presign(&alice, &w.services()).status_code, 503);
    }
    let r = http::presign(&alice, &w.services());
    assert_eq!(r.status_code, 429, "{:?}", r.body);
    let wait: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
    assert!(body(&r)["error"].as_str().unwrap().contains("2 jobs this hour"));
    // Another principal from the same address has its own quota; a public
    // (unsigned) request is counted by its address.
    let bob = from(Some("arn:aws:iam::123456789012:user/bob"), "10.0.0.1");
    assert_eq!(http::presign(&bob, &w.services()).status_code, 503);
    let anon = from(None, "10.0.0.9");
    assert_eq!(http::presign(&anon, &w.services()).status_code, 503);
    assert_eq!(http::presign(&anon, &w.services()).status_code, 503);
    assert_eq!(http::presign(&anon, &w.services()).status_code, 429);
}

/// An SQS event of one message with `body` (the sample job message's
/// envelope).
fn message(body: &str) -> SqsEvent {
    let mut event: SqsEvent = load("planner/job-message.json");
    event.records[0].body = Some(body.to_string());
    event
}

/// Messages that can never succeed are acknowledged on their first receive
/// (not received again until the dead-letter queue): a body that is not a
/// job, an invalid job id, a message for a job that does not exist (no job
/// is created), options out of range. A queued job such a message names is
/// marked failed with the reason and its key deleted; a running job is not
/// changed by a bad message. Other errors are still retried.
#[test]
fn messages_that_can_never_succeed_are_rejected_on_the_first_receive() {
    let w = World::new();
    let svc = w.services();
    for body in [
        "this is not JSON",
        r#"{"job_id": "no"}"#,
        r#"{"job_id": "job-00000000deadbeef", "evil": 1}"#,
        r#"{"job_id": "job-00000000deadbeef", "mode": "sideways"}"#,
    ] {
        let r = planner::handle(&message(body), &svc);
        assert!(r.batch_item_failures.is_empty(), "{body}: {r:?}");
    }
    assert_eq!(w.jobs.job("job-00000000deadbeef").unwrap(), None);

    // A queued job (its notifications came before its uploads), then a job
    // message for it whose options are out of range.
    let notes: SqsEvent = load("planner/s3-upload-notifications.json");
    assert!(planner::handle(&notes, &svc).batch_item_failures.is_empty());
    w.upload(b"never planned");
    let bad = format!(r#"{{"job_id": "{JOB}", "max_rate": 7}}"#);
    let r = planner::handle(&message(&bad), &svc);
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let job = w.jobs.job(JOB).unwrap().unwrap();
    assert_eq!(job.stage, Stage::Failed);
    let reason = job.error.unwrap_or_default();
    assert!(
        reason.contains("cannot be used") && reason.contains("max_rate 7"),
        "{reason}"
    );
    assert_eq!(w.store.size(&keys::placement_key(JOB)).unwrap(), None);
    assert!(w.workflow.0.lock().unwrap().is_empty(), "no execution");

    // A running job: a bad message for it changes nothing.
    let w = World::new();
    let svc = w.services();
    w.upload(b"running");
    assert!(planner::handle(&notes, &svc).batch_item_failures.is_empty());
    assert_eq!(w.jobs.job(JOB).unwrap().unwrap().stage, Stage::Embedding);
    let r = planner::handle(&message(&format!(r#"{{"job_id": "{JOB}", "evil": 1}}"#)), &svc);
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(w.jobs.job(JOB).unwrap().unwrap().stage, Stage::Embedding);
    assert!(w.store.size(&keys::placement_key(JOB)).unwrap().is_some());

    // Any other error is still retried (reported as a batch item failure):
    // here the stored Map items do not parse (Fatal).
    w.store
        .write_bytes(&format!("jobs/{JOB}/items.json"), b"not json")
        .unwrap();
    let r = planner::handle(&notes, &svc);
    assert_eq!(r.batch_item_failures.len(), notes.records.len(), "{r:?}");
}
