//! Tests of `vidstega submit` and `vidstega status` against the real local
//! AWS-protocol servers (moto for S3 and SQS, DynamoDB Local) and a real HTTP
//! server that runs the presign and status handlers.
//!
//! Needs FFmpeg on PATH and the servers' environment
//! (`source "$(infra/local/start.sh --print-env-path)"`, which
//! `scripts/test.sh` does); fails, never skips, without them.
#![cfg(feature = "cloud")]

use crate::common::aws::*;
use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vidstega_core::{unseal, Envelope, PlacementKey};
use vidstega_pipeline::contract::{keys, JobMessage};
use vidstega_pipeline::{JobRecord, JobStore, ObjectStore, SegmentRecord, Stage};

/// The message the submit tests hide: long enough that finding it in an
/// upload could not be chance.
const MESSAGE: &str = "Meet at the old mill at dawn; bring the second ledger and tell no one. 7f3a9c";

/// A `vidstega` command with the test password and no Function URL auth
/// setting inherited.
fn cli(args: &[&str]) -> Command {
    let mut c = command(args);
    c.env_remove("VIDSTEGA_FUNCTION_URL_AUTH");
    c
}

fn run(args: &[&str]) -> Run {
    run_command(cli(args), None)
}

/// Panics if `haystack` contains `needle`.
fn assert_absent(haystack: &[u8], needle: &[u8], what: &str) {
    assert!(
        !haystack.windows(needle.len()).any(|w| w == needle),
        "{what} contains the plaintext"
    );
}

/// Checks the sealed payload and placement key stored for `job_id`: a valid
/// envelope with the expected parity that opens to the message with the
/// password and holds no plaintext; and exactly the 32-byte placement key.
fn assert_sealed_uploads(cloud: &Cloud, job_id: &str, parity: u8) -> usize {
    let payload = cloud.store.read_all(&keys::payload(job_id)).unwrap();
    let envelope = Envelope::parse(&payload).expect("the payload object is a valid envelope");
    assert_eq!(envelope.header().parity_shards, parity);
    assert_eq!(envelope.header().kdf_iterations, 1000);
    assert_absent(&payload, MESSAGE.as_bytes(), "the payload object");
    assert_absent(&payload, PASSWORD.as_bytes(), "the payload object");
    assert_eq!(
        unseal(&envelope, PASSWORD.as_bytes()).expect("the payload opens with the password"),
        MESSAGE.as_bytes()
    );
    let key = cloud.store.read_all(&keys::placement_key(job_id)).unwrap();
    assert_eq!(key.len(), 32);
    // Robust mode (one parity shard) keeps the fixed-salt key; the other
    // modes salt it with the payload's own salt, so no two jobs share one.
    let expected = if parity == 1 {
        PlacementKey::derive(PASSWORD.as_bytes())
    } else {
        PlacementKey::derive_salted(PASSWORD.as_bytes(), &envelope.header().salt)
    };
    assert_eq!(&key[..], expected.as_bytes());
    if parity != 1 {
        assert_ne!(&key[..], PlacementKey::derive(PASSWORD.as_bytes()).as_bytes());
    }
    assert_eq!(cloud.store.size(&keys::placement_key(job_id)).unwrap(), Some(32));
    assert_eq!(
        cloud.store.size(&keys::payload(job_id)).unwrap(),
        Some(payload.len() as u64)
    );
    payload.len()
}

/// Panics if a log or message shows a presigned URL's signature, the
/// message or the password.
fn assert_no_secrets(stderr: &str) {
    let lower = stderr.to_ascii_lowercase();
    assert!(
        !lower.contains("x-amz-signature"),
        "a presigned URL was logged:\n{stderr}"
    );
    assert!(
        !stderr.contains(MESSAGE) && !stderr.contains(PASSWORD),
        "a secret was logged"
    );
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

#[test]
fn queue_transport_uploads_sealed_objects_and_sends_a_job_message() {
    let cloud = Cloud::new();
    let dir = tempdir();
    // Over 8 MiB, so the video goes up as a multipart upload.
    let video = make_video(
        dir.path(),
        "cover.mp4",
        &["testsrc2=s=640x480:r=25:d=1,noise=alls=40:allf=t+u"],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
        ],
    );
    assert!(
        file_len(&video) > 8 << 20,
        "the cover must need a multipart upload"
    );
    let mut c = cli(&[
        "submit",
        video.to_str().unwrap(),
        "--message-file",
        "-",
        "--password-env",
        PW_VAR,
        "--kdf-iterations",
        "1000",
        "--bucket",
        cloud.bucket(),
        "--queue-url",
        cloud.queue.url(),
        "--container",
        "mov",
        "--planes",
        "all",
        "--parity",
        "6",
    ]);
    c.env_remove("VIDSTEGA_LOG");
    let out = run_command(c, Some(MESSAGE.as_bytes()));
    out.ok();
    let job_id = String::from_utf8(out.stdout.clone()).unwrap().trim().to_string();
    assert!(
        vidstega_pipeline::contract::valid_job_id(&job_id)
            && job_id.starts_with("job-")
            && job_id.len() == 20,
        "stdout is not just a job id: {job_id:?}"
    );
    assert!(!out.stderr.contains(PASSWORD) && !out.stderr.contains(MESSAGE));

    let received = cloud
        .rt
        .block_on(cloud.queue.receive(10, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(received.len(), 1, "exactly one job message");
    let message: JobMessage = received[0].json().unwrap();
    assert_eq!(
        message,
        JobMessage {
            job_id: job_id.clone(),
            video_key: None,
            payload_key: None,
            container: Some(vidstega_pipeline::contract::ContainerName::Mov),
            planes: Some(vidstega_pipeline::contract::Planes::All),
            mode: Some(vidstega_pipeline::contract::OutputMode::Compact),
            max_rate: Some(0.25),
            robustness: None,
        }
    );
    assert_absent(received[0].body.as_bytes(), MESSAGE.as_bytes(), "the job message");

    let stored = cloud.store.read_all(&keys::video(&job_id)).unwrap();
    assert_eq!(stored.len() as u64, file_len(&video));
    assert!(
        stored == std::fs::read(&video).unwrap(),
        "the video object differs from the file"
    );
    let head = cloud
        .rt
        .block_on(
            cloud
                .clients
                .s3
                .head_object()
                .bucket(cloud.bucket())
                .key(keys::video(&job_id))
                .send(),
        )
        .unwrap();
    assert!(
        head.e_tag().unwrap_or_default().trim_matches('"').ends_with("-2"),
        "the video was not a 2-part multipart upload (ETag {:?})",
        head.e_tag()
    );
    assert_sealed_uploads(&cloud, &job_id, 6);
    let mut all = cloud.store.list("").unwrap();
    all.sort();
    let mut want = vec![
        keys::payload(&job_id),
        keys::placement_key(&job_id),
        keys::video(&job_id),
        keys::options(&job_id),
    ];
    want.sort();
    assert_eq!(
        all, want,
        "only the three uploads and the options are in the bucket"
    );
    let options: vidstega_pipeline::contract::JobOptions =
        serde_json::from_slice(&cloud.store.read_all(&keys::options(&job_id)).unwrap()).unwrap();
    assert_eq!(options.container.map(|c| c.as_str()), Some("mov"));
    assert_eq!(options.planes.map(|p| p.as_str()), Some("all"));
    assert!(file_len(&video) > 0, "the input video must be left in place");
}

/// Recomputes the SigV4 signature of a received request with the test
/// credentials and checks it equals the one sent.
fn assert_signed_for_lambda(req: &Received) {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let auth = req
        .headers
        .get("authorization")
        .unwrap_or_else(|| panic!("{} {} is not signed", req.method, req.target));
    let access_key = std::env::var("AWS_ACCESS_KEY_ID").unwrap();
    let region = std::env::var("AWS_REGION").unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={access_key}/")),
        "{auth}"
    );
    assert!(auth.contains(&format!("/{region}/lambda/aws4_request")), "{auth}");
    let signed_headers: Vec<&str> = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    assert!(signed_headers.contains(&"host") && signed_headers.contains(&"x-amz-date"));
    let date = &req.headers["x-amz-date"];
    let time = std::time::UNIX_EPOCH + Duration::from_secs(amz_date_to_unix(date));
    let creds = aws_credential_types::Credentials::new(
        access_key,
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap(),
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "test",
    );
    let identity = creds.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers: Vec<(&str, &str)> = signed_headers
        .iter()
        .filter(|h| !matches!(**h, "x-amz-date" | "x-amz-security-token"))
        .map(|h| (*h, req.headers[*h].as_str()))
        .collect();
    let url = format!("http://{}{}", req.headers["host"], req.target);
    let request = SignableRequest::new(
        &req.method,
        &url,
        headers.into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let expected = instructions
        .headers()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_string())
        .unwrap();
    assert_eq!(auth, &expected, "the signature does not verify");
}

#[test]
fn presign_transport_creates_the_job_and_uploads_to_the_presigned_urls() {
    let cloud = Cloud::new();
    let server = FunctionServer::start(cloud.store.clone(), cloud.jobs.clone());
    let dir = tempdir();
    let video = small_clip(dir.path(), "cover.mp4", 2.0);
    // With every log on: still no presigned URL, message or password in the output.
    let mut c = cli(&[
        "submit",
        video.to_str().unwrap(),
        "--message",
        MESSAGE,
        "--password-env",
        PW_VAR,
        "--kdf-iterations",
        "1000",
        "--presign-url",
        &server.url,
        "--sign",
        "--container",
        "mp4",
        "--json",
    ]);
    c.env("VIDSTEGA_LOG", "trace");
    let out = run_command(c, None);
    let summary = out.ok().json();
    assert_no_secrets(&out.stderr);
    let job_id = summary["job_id"].as_str().unwrap().to_string();
    assert_eq!(summary["transport"], "presign");
    assert_eq!(summary["container"], "mp4");
    assert_eq!(summary["video_bytes"].as_u64(), Some(file_len(&video)));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("X-Amz"));

    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1,
        "one call to the presign function: {requests:?}"
    );
    let post = &requests[0];
    assert_eq!((post.method.as_str(), post.target.as_str()), ("POST", "/jobs"));
    let body: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"container": "mp4", "planes": "all", "mode": "compact", "max_rate": 0.25})
    );
    assert_signed_for_lambda(post);

    // The presign function created the job; the uploads landed under its keys.
    let job = cloud.jobs.job(&job_id).unwrap().expect("the job record");
    assert_eq!(job.stage, Stage::Queued);
    assert_eq!(job.output_key, keys::output(&job_id, "mp4"));
    assert_eq!(
        cloud.store.size(&keys::video(&job_id)).unwrap(),
        Some(file_len(&video))
    );
    assert!(cloud.store.read_all(&keys::video(&job_id)).unwrap() == std::fs::read(&video).unwrap());
    let payload_bytes = assert_sealed_uploads(&cloud, &job_id, 4);
    assert_eq!(summary["payload_bytes"].as_u64(), Some(payload_bytes as u64));
}

#[test]
fn presign_transport_submits_a_robust_job_with_its_preset_and_a_payload_sealed_for_robust_mode() {
    let cloud = Cloud::new();
    let server = FunctionServer::start(cloud.store.clone(), cloud.jobs.clone());
    let dir = tempdir();
    // Robust mode's capacity grows with the duration, not the frame size.
    let video = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("320x180", 25, 12.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    );
    let out = run(&[
        "submit",
        video.to_str().unwrap(),
        "--message",
        MESSAGE,
        "--password-env",
        PW_VAR,
        "--kdf-iterations",
        "1000",
        "--presign-url",
        &server.url,
        "--sign",
        "--mode",
        "robust",
        "--robustness",
        "strong",
        "--json",
    ]);
    let summary = out.ok().json();
    assert_no_secrets(&out.stderr);
    assert_eq!(summary["mode"], "robust");
    assert_eq!(summary["container"], "mp4", "robust mode's default container");
    let job_id = summary["job_id"].as_str().unwrap().to_string();
    let requests = server.requests();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"container": "mp4", "planes": "luma", "mode": "robust", "max_rate": 0.25,
                           "robustness": "strong"})
    );
    // Robust mode's own LDPC code repairs bit errors: one parity shard.
    let payload_bytes = assert_sealed_uploads(&cloud, &job_id, 1);
    assert_eq!(summary["payload_bytes"].as_u64(), Some(payload_bytes as u64));
    // The presign function stored the options the planner will read.
    let options: Value =
        serde_json::from_slice(&cloud.store.read_all(&keys::options(&job_id)).unwrap()).unwrap();
    assert_eq!(
        (&options["mode"], &options["robustness"]),
        (&Value::from("robust"), &Value::from("strong"))
    );

    // A message the strong preset cannot carry is refused before any upload.
    // (Hex of a counter's hashes: it does not compress below ~2 kB.)
    let long: String = (0u32..125)
        .map(|i| {
            use sha2::Digest;
            hex::encode(&sha2::Sha256::digest(i.to_le_bytes())[..16])
        })
        .collect();
    let refused = run(&[
        "submit",
        video.to_str().unwrap(),
        "--message",
        &long,
        "--password-env",
        PW_VAR,
        "--presign-url",
        &server.url,
        "--mode",
        "robust",
        "--robustness",
        "strong",
    ]);
    refused.expect_code(3).stderr_mentions(&["robust mode", "strong"]);
    assert_eq!(server.requests().len(), 1, "nothing more was sent");
}

/// A job record as the presign function or the planner would create it.
fn create_job(cloud: &Cloud) -> String {
    let id = format!(
        "job-{:016x}",
        vidstega_core::mix64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                ^ std::process::id() as u64
        )
    );
    let job = JobRecord::new(
        &id,
        &keys::video(&id),
        &keys::payload(&id),
        &keys::output(&id, "mkv"),
    );
    cloud.jobs.create_job(&job).unwrap();
    id
}

/// Plans three segments and marks the first done, as the planner and one
/// embed-segment would.
fn start_embedding(cloud: &Cloud, id: &str) {
    let segments: Vec<SegmentRecord> = (0..3u32)
        .map(|i| SegmentRecord {
            index: i,
            frame_start: i as u64 * 25,
            frame_end: (i as u64 + 1) * 25,
            bit_start: i as u64 * 1000,
            bit_end: (i as u64 + 1) * 1000,
            done: false,
            millis: None,
        })
        .collect();
    cloud.jobs.put_segments(id, &segments).unwrap();
    cloud.jobs.set_stage(id, Stage::Embedding, None).unwrap();
    cloud.jobs.finish_segment(id, 0, 1500).unwrap();
}

/// Finishes the other segments, concatenates (an output object appears) and
/// marks the job done, with pauses for a follower to see the steps.
fn finish_job(cloud: &Cloud, id: &str, output: &[u8]) {
    std::thread::sleep(Duration::from_millis(600));
    cloud.jobs.finish_segment(id, 1, 1400).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    cloud.jobs.finish_segment(id, 2, 1300).unwrap();
    cloud.jobs.set_stage(id, Stage::Concatenating, None).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    cloud.store.write_bytes(&keys::output(id, "mkv"), output).unwrap();
    cloud.jobs.set_stage(id, Stage::Done, None).unwrap();
}

/// `vidstega status` with the given source flags, once, as JSON.
fn status_json(job: &str, source: &[&str]) -> Value {
    let mut args = vec!["status", job, "--json"];
    args.extend_from_slice(source);
    let out = run(&args);
    out.ok();
    last_json_line(&out.stdout)
}

/// The shared status scenario: queued → embedding 1/3 → (follow) done, then
/// the download and its overwrite rules. `source` selects the transport;
/// `download_from` is what `--download` needs besides it.
fn follow_to_done_and_download(cloud: &Cloud, source: &[&str], download_from: &[&str]) {
    let dir = tempdir();
    let id = create_job(cloud);

    let v = status_json(&id, source);
    assert_eq!(v["job_id"], id.as_str());
    assert_eq!(v["stage"], "queued");
    assert_eq!(
        (v["segments_done"].as_u64(), v["segments_total"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(v["error"], Value::Null);
    assert!(v["elapsed_seconds"].as_f64().unwrap() >= 0.0);
    let mut args = vec!["status", id.as_str()];
    args.extend_from_slice(source);
    let text = run(&args);
    text.ok();
    let line = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        line.contains(&id) && line.contains("queued") && line.contains("not planned yet"),
        "{line}"
    );

    start_embedding(cloud, &id);
    let v = status_json(&id, source);
    assert_eq!(v["stage"], "embedding");
    assert_eq!(
        (v["segments_done"].as_u64(), v["segments_total"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(v["segment_millis"], serde_json::json!([1500, null, null]));

    // Not done yet: nothing to download without --follow.
    let out_path: PathBuf = dir.path().join("stego.mkv");
    let out_str = out_path.to_str().unwrap().to_string();
    let mut early = vec!["status", id.as_str(), "--download", &out_str];
    early.extend_from_slice(source);
    early.extend_from_slice(download_from);
    run(&early).expect_code(1).stderr_mentions(&["--follow"]);
    assert_only(dir.path(), &[]);

    let output = random_bytes(300_000, &id);
    let mut args = vec![
        "status",
        id.as_str(),
        "--follow",
        "--interval",
        "0.2",
        "--timeout",
        "2m",
        "--download",
        &out_str,
        "--json",
    ];
    args.extend_from_slice(source);
    args.extend_from_slice(download_from);
    let child = cli(&args)
        .env("VIDSTEGA_LOG", "trace")
        .spawn()
        .expect("start vidstega status --follow");
    finish_job(cloud, &id, &output);
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "status --follow failed: {stderr}");
    assert_no_secrets(&stderr);
    let v = last_json_line(&done.stdout);
    assert_eq!(
        String::from_utf8_lossy(&done.stdout).lines().count(),
        1,
        "one JSON line"
    );
    assert_eq!(v["stage"], "done");
    assert_eq!(
        (v["segments_done"].as_u64(), v["segments_total"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(v["output_key"], keys::output(&id, "mkv").as_str());
    assert_eq!(v["download"]["bytes"].as_u64(), Some(output.len() as u64));
    assert!(
        !String::from_utf8_lossy(&done.stdout).contains("X-Amz"),
        "a presigned URL was printed"
    );
    assert!(
        std::fs::read(&out_path).unwrap() == output,
        "the download differs from the output object"
    );
    assert_only(dir.path(), &["stego.mkv"]);

    // An existing file is kept unless --force.
    std::fs::write(&out_path, b"mine").unwrap();
    let mut again = vec!["status", id.as_str(), "--download", &out_str];
    again.extend_from_slice(source);
    again.extend_from_slice(download_from);
    run(&again).expect_code(7).stderr_mentions(&["--force"]);
    assert_eq!(std::fs::read(&out_path).unwrap(), b"mine");
    again.push("--force");
    let text = run(&again);
    text.ok();
    assert!(String::from_utf8_lossy(&text.stdout).contains("done, 3/3 segments"));
    assert!(std::fs::read(&out_path).unwrap() == output);
    assert_only(dir.path(), &["stego.mkv"]);
}

#[test]
fn status_from_the_table_follows_a_job_to_done_and_downloads_it() {
    let cloud = Cloud::new();
    let bucket = cloud.bucket().to_string();
    follow_to_done_and_download(&cloud, &["--table", cloud.table()], &["--bucket", &bucket]);
}

#[test]
fn status_from_the_function_url_follows_a_job_to_done_and_downloads_it() {
    let cloud = Cloud::new();
    let server = FunctionServer::start(cloud.store.clone(), cloud.jobs.clone());
    follow_to_done_and_download(&cloud, &["--status-url", &server.url], &[]);
    // Unsigned by default; signed when the environment says the URLs use IAM.
    let requests = server.requests();
    assert!(requests
        .iter()
        .all(|r| r.method == "GET" && !r.headers.contains_key("authorization")));
    let id = create_job(&cloud);
    let mut c = cli(&["status", &id, "--status-url", &format!("{}/", server.url)]);
    c.env("VIDSTEGA_FUNCTION_URL_AUTH", "AWS_IAM");
    run_command(c, None).ok();
    let last = server.requests().pop().unwrap();
    assert_eq!(last.target, format!("/jobs/{id}"));
    assert_signed_for_lambda(&last);
}

#[test]
fn a_failed_job_exits_3_with_its_reason() {
    let cloud = Cloud::new();
    let server = FunctionServer::start(cloud.store.clone(), cloud.jobs.clone());
    let reason = "VidStega.InvalidInput: the video has no video stream";
    let id = create_job(&cloud);
    cloud.jobs.set_stage(&id, Stage::Failed, Some(reason)).unwrap();
    run(&["status", &id, "--table", cloud.table()])
        .expect_code(3)
        .stderr_mentions(&[&id, "failed", reason]);
    let out = run(&["status", &id, "--status-url", &server.url, "--follow", "--json"]);
    out.expect_code(3).stderr_mentions(&[reason]);
    let v = last_json_line(&out.stdout);
    assert_eq!(v["stage"], "failed");
    assert_eq!(v["error"], reason);

    // A job that fails while followed.
    let dir = tempdir();
    let id = create_job(&cloud);
    start_embedding(&cloud, &id);
    let out_path = dir.path().join("out.mkv");
    let child = cli(&[
        "status",
        &id,
        "--table",
        cloud.table(),
        "--bucket",
        cloud.bucket(),
        "--follow",
        "--interval",
        "0.2",
        "--download",
        out_path.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    cloud
        .jobs
        .set_stage(&id, Stage::Failed, Some("States.Timeout"))
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&done.stderr).contains("States.Timeout"));
    assert_only(dir.path(), &[]);

    // Unknown and malformed job ids.
    run(&["status", "job-0000000000000000", "--table", cloud.table()])
        .expect_code(1)
        .stderr_mentions(&["no job"]);
    run(&[
        "status",
        "job-0000000000000000",
        "--table",
        cloud.table(),
        "--sign",
    ])
    .expect_code(2)
    .stderr_mentions(&["--sign is for --status-url"]);
    run(&["status", "no such job", "--table", cloud.table()])
        .expect_code(2)
        .stderr_mentions(&["not a job id"]);
}

#[test]
fn submit_refuses_unusable_inputs_before_uploading_anything() {
    let cloud = Cloud::new();
    let server = FunctionServer::start(cloud.store.clone(), cloud.jobs.clone());
    let dir = tempdir();
    let clip = small_clip(dir.path(), "small.mp4", 1.0);
    let clip = clip.to_str().unwrap();
    let queue = ["--bucket", cloud.bucket(), "--queue-url", cloud.queue.url()];
    let base = |input: &str| -> Vec<String> {
        [
            "submit",
            input,
            "--password-env",
            PW_VAR,
            "--kdf-iterations",
            "1000",
        ]
        .map(String::from)
        .to_vec()
    };
    let go = |mut args: Vec<String>, extra: &[&str]| -> Run {
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs)
    };

    // More than the video can carry (incompressible), on either transport.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, random_bytes(200_000, "too big")).unwrap();
    let mut too_big = base(clip);
    too_big.extend(["--message-file".into(), big.to_str().unwrap().into()]);
    go(too_big.clone(), &queue)
        .expect_code(3)
        .stderr_mentions(&["fit"]);
    go(too_big, &["--presign-url", &server.url])
        .expect_code(3)
        .stderr_mentions(&["fit"]);

    // Audio that MP4 cannot hold.
    let pcm = make_video(
        dir.path(),
        "pcm.mkv",
        &[&picture("160x120", 25, 1.0), &tone(440, 1.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "pcm_s16le",
        ],
    );
    let mut args = base(pcm.to_str().unwrap());
    args.extend([
        "--message".into(),
        MESSAGE.into(),
        "--container".into(),
        "mp4".into(),
    ]);
    go(args, &queue)
        .expect_code(3)
        .stderr_mentions(&["pcm_s16le", "--container mkv"]);

    // Not a video.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, b"just some text, not a video").unwrap();
    let mut args = base(text.to_str().unwrap());
    args.extend(["--message".into(), MESSAGE.into()]);
    go(args, &queue).expect_code(3);

    // Usage mistakes.
    let mut args = base(clip);
    args.extend(["--message".into(), MESSAGE.into()]);
    go(args.clone(), &[]).expect_code(2);
    go(args.clone(), &["--bucket", cloud.bucket()]).expect_code(2);
    go(args.clone(), &["--presign-url", "lambda-url.example"])
        .expect_code(2)
        .stderr_mentions(&["http"]);
    let mut c = cli(&[]);
    let mut full = args.clone();
    full.extend(["--presign-url".to_string(), server.url.clone()]);
    c.args(&full);
    c.env("VIDSTEGA_FUNCTION_URL_AUTH", "KERBEROS");
    run_command(c, None)
        .expect_code(2)
        .stderr_mentions(&["VIDSTEGA_FUNCTION_URL_AUTH"]);

    assert!(server.requests().is_empty(), "the presign function was called");
    assert!(cloud.store.list("").unwrap().is_empty(), "something was uploaded");
    let messages = cloud
        .rt
        .block_on(cloud.queue.receive(10, Duration::from_secs(1)))
        .unwrap();
    assert!(messages.is_empty(), "a job message was sent");
}
