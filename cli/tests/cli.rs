//! End-to-end tests of the `vidstega` command-line tool: the built binary is
//! run on videos made with FFmpeg's lavfi sources, and everything it promises
//! is checked from the outside (round trips, audio copied bit-exact, pixels
//! changed only by ±1 in the luma plane, resume after a kill, one exit code
//! per kind of failure, nothing left behind on failure).
//!
//! Needs FFmpeg 5.1+ on PATH; fails (never skips) without it.

use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Checks what an embed must keep: the frame count and rates, and every
/// audio stream's packets bit for bit. Returns the cover's facts.
fn assert_faithful(cover: &Path, stego: &Path, summary: &Value) -> VideoFacts {
    let before = video_facts(cover);
    let after = video_facts(stego);
    assert_eq!(before.frames, after.frames, "frame count changed");
    assert_eq!(before.r_frame_rate, after.r_frame_rate, "frame rate changed");
    assert_eq!(
        before.avg_frame_rate, after.avg_frame_rate,
        "average frame rate changed"
    );
    assert_eq!((before.width, before.height), (after.width, after.height));
    assert_eq!(summary["frames"].as_u64(), Some(before.frames));
    let cover_audio = audio_hashes(cover);
    assert_eq!(audio_codecs(cover), audio_codecs(stego), "audio streams differ");
    assert_eq!(
        cover_audio,
        audio_hashes(stego),
        "audio packets are not bit-identical"
    );
    assert_eq!(summary["audio_streams"].as_u64(), Some(cover_audio.len() as u64));
    assert!(summary["changed_samples"].as_u64().unwrap() > 0);
    after
}

/// Checks that the stego differs from the cover by at most 1 per sample,
/// only in the luma plane, in exactly `changed_samples` samples.
fn assert_only_luma_lsb_changes(cover: &Path, stego: &Path, summary: &Value, pix_fmt: &str) {
    let diff = pixel_diff(cover, stego, pix_fmt);
    assert_eq!(diff.frames as u64, summary["frames"].as_u64().unwrap());
    assert!(diff.max_abs <= 1, "a sample changed by {}", diff.max_abs);
    assert_eq!(
        &diff.changed_per_plane[1..],
        &[0, 0],
        "chroma changed in --planes luma mode"
    );
    assert_eq!(
        diff.changed_per_plane[0],
        summary["changed_samples"].as_u64().unwrap(),
        "differing luma samples do not match the reported changed_samples"
    );
}

fn warnings(summary: &Value) -> Vec<String> {
    summary["warnings"]
        .as_array()
        .expect("warnings array")
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// An input rejection: the code, words of the message, the user's own file
/// named (not the work folder's link to it), nothing left behind.
fn assert_rejected(run: &Run, code: i32, needles: &[&str], dir: &Path, left: &[&str]) {
    run.expect_code(code).stderr_mentions(needles);
    assert!(
        !run.stderr.contains(".vidstega"),
        "the error names the work folder instead of the user's file:\n{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert_only(dir, left);
}

// ---------------------------------------------------------------------------
// Round trips

#[test]
fn round_trip_1440p_with_aac_audio_message_file_to_stdout() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("2560x1440", 25, 0.4), &tone(440, 0.4)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let stego = dir.path().join("stego.mkv");
    let message = random_bytes(20_000, "1440p");
    let summary = embed_ok(&cover, &stego, &message, &[]);
    assert_eq!(summary["frames"].as_u64(), Some(10));
    assert_eq!(summary["message_bytes"].as_u64(), Some(message.len() as u64));
    assert_faithful(&cover, &stego, &summary);
    assert_eq!(audio_codecs(&stego), vec!["aac"]);
    assert_eq!(extract_ok(&stego), message);
    assert_only(dir.path(), &["cover.mp4", "stego.mkv"]);
}

#[test]
fn round_trip_720p_without_audio_stdin_message_to_mp4_and_file() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("1280x720", 25, 1.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "10",
        ],
    );
    let stego = dir.path().join("stego.mp4");
    let message = b"the eagle lands at dawn\n".repeat(100);
    let mut args = embed_args(&cover, &stego, &["--message-file", "-"]);
    args.extend_from_slice(&["--jobs", "2"]);
    let run = run_command(command(&args), Some(&message));
    let summary = run.ok().json();
    assert_eq!(summary["message_bytes"].as_u64(), Some(message.len() as u64));
    assert_eq!(summary["audio_streams"].as_u64(), Some(0));
    let facts = assert_faithful(&cover, &stego, &summary);
    assert_eq!(facts.frames, 25);
    assert!(audio_codecs(&stego).is_empty());
    assert_eq!(pix_fmt(&stego), "yuv420p");
    assert_only_luma_lsb_changes(&cover, &stego, &summary, "yuv420p");

    // Extraction into a file prints nothing on stdout.
    let out = dir.path().join("message.txt");
    let run = extract(&stego, &["-o", out.to_str().unwrap()]);
    run.ok();
    assert!(run.stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), message);
    // Not again without --force; the file is left as it was.
    std::fs::write(&out, b"keep me").unwrap();
    extract(&stego, &["-o", out.to_str().unwrap()])
        .expect_code(7)
        .stderr_mentions(&["--force"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    extract(&stego, &["-o", out.to_str().unwrap(), "--force"]).ok();
    assert_eq!(std::fs::read(&out).unwrap(), message);
    assert_only(dir.path(), &["cover.mp4", "stego.mp4", "message.txt"]);
}

#[test]
fn round_trip_two_audio_streams_aac_and_opus_in_mkv() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mkv",
        &[&picture("320x240", 25, 2.0), &tone(440, 2.0), &tone(660, 2.0)],
        &[
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a:0",
            "aac",
            "-c:a:1",
            "libopus",
        ],
    );
    assert_eq!(audio_codecs(&cover), vec!["aac", "opus"]);
    let stego = dir.path().join("stego.mkv");
    let summary = embed_ok(&cover, &stego, b"two tracks", &[]);
    assert_eq!(summary["audio_streams"].as_u64(), Some(2));
    assert_faithful(&cover, &stego, &summary);
    assert_eq!(extract_ok(&stego), b"two tracks");
}

#[test]
fn round_trip_odd_dimensions_converted_to_yuv444p_with_warning() {
    let dir = tempdir();
    // libx264 cannot write odd-sized 4:2:0, so the cover is FFV1.
    let cover = make_video(
        dir.path(),
        "cover.mkv",
        &[&format!("{},scale=321:241", picture("320x240", 25, 1.0))],
        &["-c:v", "ffv1", "-pix_fmt", "yuv420p"],
    );
    assert_eq!(pix_fmt(&cover), "yuv420p");
    let inspect = vidstega(&["inspect", cover.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(inspect["raw_format"].as_str(), Some("321x241 yuv444p"));

    let stego = dir.path().join("stego.mkv");
    let message = random_bytes(3000, "odd");
    let summary = embed_ok(&cover, &stego, &message, &[]);
    let w = warnings(&summary);
    assert!(
        w.iter()
            .any(|w| w.contains("odd size 321x241") && w.contains("yuv444p")),
        "no conversion warning in {w:?}"
    );
    assert_faithful(&cover, &stego, &summary);
    assert_eq!(pix_fmt(&stego), "yuv444p");
    assert_only_luma_lsb_changes(&cover, &stego, &summary, "yuv444p");
    assert_eq!(extract_ok(&stego), message);
}

#[test]
fn round_trip_irregular_gops_from_scene_cuts() {
    let dir = tempdir();
    // Five different pictures back to back: the cuts force keyframes
    // between the regular ones.
    let graph = "testsrc2=s=320x240:r=25:d=1.3[a];smptebars=s=320x240:r=25:d=0.7[b];\
                 rgbtestsrc=s=320x240:r=25:d=0.9,format=yuv420p[c];testsrc=s=320x240:r=25:d=1.1[d];\
                 yuvtestsrc=s=320x240:r=25:d=0.6,format=yuv420p[e];\
                 [a][b][c][d][e]concat=n=5,noise=alls=12:allf=t+u,format=yuv420p[out0]";
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[graph],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "40",
            "-keyint_min",
            "5",
            "-sc_threshold",
            "40",
        ],
    );
    let keys = keyframes(&cover);
    assert!(
        keys.iter().any(|k| k % 40 != 0),
        "expected scene-cut keyframes off the 40-frame grid: {keys:?}"
    );
    let inspect = vidstega(&["inspect", cover.to_str().unwrap(), "--json", "--jobs", "2"])
        .ok()
        .json();
    let segments = inspect["segments"].as_array().unwrap();
    assert!(segments.len() > 1, "{inspect}");
    for s in segments {
        let start = s["start"].as_u64().unwrap();
        assert!(
            start == 0 || keys.contains(&start),
            "segment starts off a keyframe: {s}"
        );
    }

    let stego = dir.path().join("stego.mkv");
    let message = random_bytes(5000, "cuts");
    let summary = embed_ok(&cover, &stego, &message, &["--jobs", "2"]);
    assert_eq!(summary["segments"].as_u64(), Some(segments.len() as u64));
    assert_faithful(&cover, &stego, &summary);
    assert_only_luma_lsb_changes(&cover, &stego, &summary, "yuv420p");
    assert_eq!(extract_ok(&stego), message);
}

#[test]
fn round_trip_open_gop_with_b_frames() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("320x240", 25, 3.0), &tone(330, 3.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-x264-params",
            "open_gop=1:bframes=3:keyint=20:min-keyint=20:scenecut=0",
            "-c:a",
            "aac",
        ],
    );
    let stego = dir.path().join("stego.mkv");
    let message = random_bytes(4000, "open-gop");
    let summary = embed_ok(&cover, &stego, &message, &["--jobs", "2"]);
    assert!(summary["segments"].as_u64().unwrap() > 1, "{summary}");
    assert_faithful(&cover, &stego, &summary);
    // Frame-exact: every frame of the stego lines up with its cover frame.
    assert_only_luma_lsb_changes(&cover, &stego, &summary, "yuv420p");
    assert_eq!(extract_ok(&stego), message);
}

#[test]
fn round_trip_one_segment_clip_text_message_json_extraction() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("160x120", 25, 0.8)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "1000"],
    );
    assert_eq!(keyframes(&cover), vec![0]);
    let inspect = vidstega(&["inspect", cover.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(inspect["segments"].as_array().unwrap().len(), 1);

    let stego = dir.path().join("stego.mkv");
    let mut args = embed_args(&cover, &stego, &["--message", "one piece, héllo"]);
    args.extend_from_slice(&["--jobs", "4"]);
    let summary = vidstega(&args).ok().json();
    assert_eq!(summary["segments"].as_u64(), Some(1));
    assert_eq!(summary["segments_embedded"].as_u64(), Some(1));
    assert_faithful(&cover, &stego, &summary);
    let out = extract(&stego, &["--json"]).ok().json();
    assert_eq!(out["message_text"].as_str(), Some("one piece, héllo"));
    assert_eq!(
        out["message_bytes"].as_u64(),
        Some("one piece, héllo".len() as u64)
    );
    assert_eq!(out["frames"].as_u64(), Some(20));
}

#[test]
fn round_trip_more_segments_than_jobs_to_mp4() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("160x120", 25, 5.0), &tone(500, 5.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "10",
            "-c:a",
            "aac",
        ],
    );
    let stego = dir.path().join("stego.mp4");
    let message = random_bytes(10_000, "many");
    let summary = embed_ok(&cover, &stego, &message, &["--jobs", "2"]);
    let segments = summary["segments"].as_u64().unwrap();
    assert!(segments > 2, "expected more segments than jobs: {summary}");
    assert_eq!(summary["segments_embedded"].as_u64(), Some(segments));
    assert_faithful(&cover, &stego, &summary);
    let run = extract(&stego, &["--jobs", "2"]);
    assert_eq!(run.ok().stdout, message);
}

// ---------------------------------------------------------------------------
// Resume

/// Waits until the job table in `work` records a finished segment (its
/// file is placed before its row is committed, so a file alone is not yet a
/// resumable segment); panics if `child` ends first or after 120 s.
fn wait_for_a_finished_segment(child: &mut std::process::Child, work: &Path) {
    use vidstega_pipeline::JobStore;
    let started = Instant::now();
    let mut table: Option<vidstega_local::SqliteJobStore> = None;
    loop {
        if table.is_none() && work.join("jobs.sqlite").exists() {
            table = vidstega_local::SqliteJobStore::open(&work.join("jobs.sqlite")).ok();
        }
        let finished = table.as_ref().is_some_and(|t| {
            std::fs::read_dir(work.join("store/jobs"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|job| {
                    let id = job.file_name().to_string_lossy().into_owned();
                    t.segments(&id)
                        .map(|rows| rows.iter().any(|r| r.done))
                        .unwrap_or(false)
                })
        });
        if finished {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
            }
            panic!("embed ended ({status}) before a segment was finished: {stderr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no segment finished after 120 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts an embed, SIGKILLs it once the job table records a finished
/// segment (its file is placed before its row is committed, so a file alone
/// is not yet a resumable segment) and checks that no output appeared.
fn embed_and_kill(args: &[&str], dir: &Path, output_name: &str) {
    let work = dir.join(format!(".{output_name}.vidstega"));
    let mut child = command(args).spawn().expect("start vidstega");
    wait_for_a_finished_segment(&mut child, &work);
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the embed finished before it could be killed ({status}); use a longer clip"
    );
    let stem = Path::new(output_name).file_stem().unwrap().to_str().unwrap();
    let ext = Path::new(output_name).extension().unwrap().to_str().unwrap();
    assert!(!dir.join(format!(".{stem}.partial.{ext}")).exists());
}

#[test]
fn resume_after_sigkill_and_never_reuse_segments_for_another_message() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("640x360", 25, 10.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"],
    );
    let stego = dir.path().join("stego.mkv");
    let files: Vec<_> = ["m1", "m2", "m3"]
        .iter()
        .map(|n| {
            let p = dir.path().join(n);
            std::fs::write(&p, random_bytes(6000, n)).unwrap();
            p
        })
        .collect();
    let args_for = |i: usize, force: bool| {
        // Two workers: several segments (one worker would embed this short
        // clip as one segment, straight into the output, with nothing to resume).
        let mut a = embed_args(&cover, &stego, &["--jobs", "2"]);
        a.extend_from_slice(&["--message-file", files[i].to_str().unwrap()]);
        if force {
            a.push("--force");
        }
        a
    };

    // Killed midway: no output, the work folder stays for the rerun.
    embed_and_kill(&args_for(0, false), dir.path(), "stego.mkv");
    assert!(!stego.exists());
    assert!(dir.path().join(".stego.mkv.vidstega").is_dir());

    // The same command again picks up the finished segments, even with
    // another number of workers (the first run's plan is kept).
    let mut rerun = args_for(0, false);
    let jobs_at = rerun.iter().position(|a| *a == "--jobs").unwrap();
    rerun[jobs_at + 1] = "1";
    let summary = vidstega(&rerun).ok().json();
    let resumed = summary["segments_resumed"].as_u64().unwrap();
    assert!(resumed > 0, "nothing was resumed: {summary}");
    assert_eq!(
        resumed + summary["segments_embedded"].as_u64().unwrap(),
        summary["segments"].as_u64().unwrap()
    );
    assert_faithful(&cover, &stego, &summary);
    assert_eq!(extract_ok(&stego), std::fs::read(&files[0]).unwrap());
    assert_only(dir.path(), &["cover.mp4", "m1", "m2", "m3", "stego.mkv"]);

    // A killed --force run leaves the previous output untouched...
    let before = std::fs::read(&stego).unwrap();
    embed_and_kill(&args_for(1, true), dir.path(), "stego.mkv");
    assert_eq!(std::fs::read(&stego).unwrap(), before);
    // ...and a rerun with another message (same length, so the same segment
    // bit ranges) must not reuse the segments carrying the old one.
    let summary = vidstega(&args_for(2, true)).ok().json();
    assert_eq!(summary["segments_resumed"].as_u64(), Some(0), "{summary}");
    assert_eq!(extract_ok(&stego), std::fs::read(&files[2]).unwrap());
    assert_only(dir.path(), &["cover.mp4", "m1", "m2", "m3", "stego.mkv"]);
}

// ---------------------------------------------------------------------------
// Inputs that cannot be used, and outputs that cannot be written

#[test]
fn text_file_is_not_a_video() {
    let dir = tempdir();
    let input = dir.path().join("notes.mp4");
    std::fs::write(&input, "just some text\n").unwrap();
    let stego = dir.path().join("out.mkv");
    for mode in ["lossless", "compact"] {
        let run = vidstega(&embed_args(&input, &stego, &["--message", "hi", "--mode", mode]));
        assert_rejected(
            &run,
            3,
            &["notes.mp4", "not a media file"],
            dir.path(),
            &["notes.mp4"],
        );
    }
    // Compact mode checks the input while it reads the message: the
    // input's problem is still the one reported.
    for message in [
        &["--message", ""][..],
        &["--message-file", "/nonexistent/message"],
    ] {
        let mut args = embed_args(&input, &stego, &["--mode", "compact"]);
        args.extend_from_slice(message);
        assert_rejected(
            &vidstega(&args),
            3,
            &["notes.mp4", "not a media file"],
            dir.path(),
            &["notes.mp4"],
        );
    }
    let run = extract(&input, &[]);
    assert_rejected(
        &run,
        3,
        &["notes.mp4", "not a media file"],
        dir.path(),
        &["notes.mp4"],
    );
}

#[test]
fn audio_only_file_has_no_video_stream() {
    let dir = tempdir();
    let input = make_video(dir.path(), "song.m4a", &[&tone(440, 1.0)], &["-c:a", "aac"]);
    let stego = dir.path().join("out.mkv");
    for mode in ["lossless", "compact"] {
        let run = vidstega(&embed_args(&input, &stego, &["--message", "hi", "--mode", mode]));
        assert_rejected(
            &run,
            3,
            &["song.m4a", "no video stream"],
            dir.path(),
            &["song.m4a"],
        );
    }
}

#[test]
fn zero_length_file_is_empty() {
    let dir = tempdir();
    let input = dir.path().join("empty.mp4");
    std::fs::write(&input, b"").unwrap();
    let stego = dir.path().join("out.mkv");
    for mode in ["lossless", "compact"] {
        let run = vidstega(&embed_args(&input, &stego, &["--message", "hi", "--mode", mode]));
        assert_rejected(
            &run,
            3,
            &["empty.mp4", "empty (0 bytes)"],
            dir.path(),
            &["empty.mp4"],
        );
    }
}

#[test]
fn missing_input_file_is_unusable_input() {
    let dir = tempdir();
    let input = dir.path().join("nowhere.mp4");
    let stego = dir.path().join("out.mkv");
    for mode in ["lossless", "compact"] {
        let run = vidstega(&embed_args(&input, &stego, &["--message", "hi", "--mode", mode]));
        assert_rejected(&run, 3, &["nowhere.mp4"], dir.path(), &[]);
    }
    let run = extract(&input, &[]);
    assert_rejected(&run, 3, &["nowhere.mp4"], dir.path(), &[]);
}

#[test]
fn truncated_upload_is_reported_as_truncated() {
    let dir = tempdir();
    let full = small_clip(dir.path(), "full.mp4", 1.0);
    let bytes = std::fs::read(&full).unwrap();
    let input = dir.path().join("half.mp4");
    std::fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
    let stego = dir.path().join("out.mkv");
    for mode in ["lossless", "compact"] {
        let run = vidstega(&embed_args(&input, &stego, &["--message", "hi", "--mode", mode]));
        assert_rejected(
            &run,
            3,
            &["half.mp4", "truncated"],
            dir.path(),
            &["full.mp4", "half.mp4"],
        );
    }
    // The index first (faststart), the samples cut short: the index points
    // past the end of the file.
    let faststart = dir.path().join("faststart.mp4");
    ffmpeg(&[
        "-i",
        full.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        faststart.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&faststart).unwrap();
    let cut = dir.path().join("cut.mp4");
    // Three quarters of it, and all but its last 1% (a download that
    // stopped just short).
    for kept in [bytes.len() * 3 / 4, bytes.len() * 99 / 100] {
        std::fs::write(&cut, &bytes[..kept]).unwrap();
        for mode in ["lossless", "compact"] {
            let mut args = embed_args(&cut, &stego, &["--message", "hi", "--mode", mode]);
            args.retain(|&a| a != "--json");
            let run = vidstega(&args);
            assert_rejected(
                &run,
                3,
                &["cut.mp4", "truncated"],
                dir.path(),
                &["cut.mp4", "faststart.mp4", "full.mp4", "half.mp4"],
            );
            // The error first (after the warning about --message), in a few
            // lines, with no cause repeating it.
            let error_at = run.stderr.find("error: ").unwrap();
            let error = Run {
                code: run.code,
                stdout: Vec::new(),
                stderr: run.stderr[error_at..].to_string(),
            };
            assert_error_reads_well(&error);
        }
    }
}

#[test]
fn a_re_encoded_stego_video_says_the_message_may_have_been_destroyed_by_re_encoding() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let stego = dir.path().join("stego.mp4");
    let message = dir.path().join("m.txt");
    std::fs::write(&message, "gone after a re-encode").unwrap();
    vidstega(&embed_args(
        &cover,
        &stego,
        &["--mode", "compact", "--message-file", message.to_str().unwrap()],
    ))
    .ok();
    let shared = dir.path().join("shared.mp4");
    ffmpeg(&[
        "-i",
        stego.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-crf",
        "23",
        shared.to_str().unwrap(),
    ]);
    let run = extract(&shared, &[]);
    run.expect_code(4).stderr_mentions(&[
        "no hidden message found",
        "password may be wrong",
        "destroyed by re-encoding",
    ]);
    assert_error_reads_well(&run);
}

#[test]
fn message_over_capacity_says_how_much_fits() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.2);
    let cap = vidstega(&[
        "capacity",
        cover.to_str().unwrap(),
        "--json",
        "--mode",
        "lossless",
    ])
    .ok()
    .json();
    let max = cap["max_message_bytes"].as_u64().unwrap();
    assert!(max > 0);
    let message = dir.path().join("big.bin");
    std::fs::write(&message, random_bytes(max as usize * 3, "big")).unwrap();
    let stego = dir.path().join("out.mkv");
    let run = vidstega(&embed_args(
        &cover,
        &stego,
        &["--message-file", message.to_str().unwrap()],
    ));
    assert_rejected(
        &run,
        3,
        &[&format!("about {max} bytes"), "fit"],
        dir.path(),
        &["big.bin", "cover.mp4"],
    );
}

#[test]
fn missing_ffmpeg_is_exit_6_with_install_advice() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let stego = dir.path().join("out.mkv");
    let cases: Vec<Vec<&str>> = vec![
        embed_args(&cover, &stego, &["--message", "hi"]),
        vec!["extract", cover.to_str().unwrap(), "--password-env", PW_VAR],
        vec!["capacity", cover.to_str().unwrap()],
        vec!["inspect", cover.to_str().unwrap()],
    ];
    for args in &cases {
        for (var, tool) in [("VIDSTEGA_FFMPEG", "ffmpeg"), ("VIDSTEGA_FFPROBE", "ffprobe")] {
            let mut c = command(args);
            c.env(var, format!("/nonexistent/{tool}"));
            let run = run_command(c, None);
            run.expect_code(6).stderr_mentions(&[
                &format!("{tool} was not found"),
                "install ffmpeg",
                "apt-get install ffmpeg",
                var,
            ]);
            assert_only(dir.path(), &["cover.mp4"]);
        }
    }
}

#[test]
fn ten_bit_source_is_converted_with_a_warning_and_round_trips() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mkv",
        &[&picture("160x120", 25, 1.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
        ],
    );
    assert_eq!(pix_fmt(&cover), "yuv420p10le");
    let stego = dir.path().join("stego.mkv");
    let summary = embed_ok(&cover, &stego, b"ten bits in, eight bits out", &[]);
    let w = warnings(&summary);
    assert!(
        w.iter()
            .any(|w| w.contains("yuv420p10le") && w.contains("converted to yuv420p")),
        "no conversion warning in {w:?}"
    );
    assert_faithful(&cover, &stego, &summary);
    assert_eq!(pix_fmt(&stego), "yuv420p");
    assert_eq!(extract_ok(&stego), b"ten bits in, eight bits out");
}

#[test]
fn variable_frame_rate_is_refused_with_advice() {
    let dir = tempdir();
    // A 0.44 s gap after frame 9, then regular frames.
    let cover = make_video(
        dir.path(),
        "vfr.mkv",
        &[&picture("160x120", 25, 2.0)],
        &[
            "-vf",
            "setpts='if(lt(N,10),N,N*2)/25/TB'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let inspect = vidstega(&["inspect", cover.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(inspect["video"]["variable_frame_rate"].as_bool(), Some(true));
    let stego = dir.path().join("out.mkv");
    let run = vidstega(&embed_args(&cover, &stego, &["--message", "hi"]));
    assert_rejected(
        &run,
        3,
        &["vfr.mkv", "variable frame rate", "-fps_mode cfr"],
        dir.path(),
        &["vfr.mkv"],
    );
}

#[test]
fn rotation_is_kept_in_mp4_and_warned_about_in_mkv() {
    let dir = tempdir();
    let plain = make_video(
        dir.path(),
        "plain.mp4",
        &[&picture("160x120", 25, 1.0), &tone(440, 1.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
    );
    let cover = dir.path().join("cover.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v",
        "rotate=90",
        cover.to_str().unwrap(),
    ]);
    let degrees = rotation(&cover);
    assert_ne!(degrees, 0, "the cover should be rotated");

    let stego = dir.path().join("stego.mp4");
    let summary = embed_ok(&cover, &stego, b"sideways", &[]);
    assert_eq!(rotation(&stego), degrees, "the rotation was lost");
    assert_faithful(&cover, &stego, &summary);
    assert_eq!(extract_ok(&stego), b"sideways");

    let stego_mkv = dir.path().join("stego.mkv");
    let summary = embed_ok(&cover, &stego_mkv, b"sideways", &[]);
    assert!(
        warnings(&summary).iter().any(|w| w.contains("rotated")),
        "{summary}"
    );
    assert_eq!(extract_ok(&stego_mkv), b"sideways");
}

#[test]
fn existing_output_needs_force() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let stego = dir.path().join("out.mkv");
    std::fs::write(&stego, b"precious").unwrap();
    let run = vidstega(&embed_args(&cover, &stego, &["--message", "hi"]));
    run.expect_code(7)
        .stderr_mentions(&["out.mkv", "already exists", "--force"]);
    assert_eq!(std::fs::read(&stego).unwrap(), b"precious");
    assert_only(dir.path(), &["cover.mp4", "out.mkv"]);
    let summary = vidstega(&embed_args(&cover, &stego, &["--message", "hi", "--force"]))
        .ok()
        .json();
    assert_eq!(summary["segments_embedded"].as_u64(), Some(1));
    assert_eq!(extract_ok(&stego), b"hi");
}

#[test]
fn unwritable_output_folder_is_exit_7() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    // The output's parent is a regular file (permissions do not stop root).
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"").unwrap();
    let stego = file.join("out.mkv");
    let run = vidstega(&embed_args(&cover, &stego, &["--message", "hi"]));
    run.expect_code(7)
        .stderr_mentions(&["cannot write to the folder"]);
    let missing = dir.path().join("no-such-folder").join("out.mkv");
    let run = vidstega(&embed_args(&cover, &missing, &["--message", "hi"]));
    run.expect_code(7)
        .stderr_mentions(&["cannot write to the folder"]);
    assert_only(dir.path(), &["cover.mp4", "not-a-folder"]);

    let stego = dir.path().join("stego.mkv");
    embed_ok(&cover, &stego, b"hi", &[]);
    let out = file.join("message.txt");
    extract(&stego, &["-o", out.to_str().unwrap()])
        .expect_code(7)
        .stderr_mentions(&["cannot write to the folder"]);
    assert_only(dir.path(), &["cover.mp4", "not-a-folder", "stego.mkv"]);
}

#[test]
fn clean_video_carries_no_message() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let out = dir.path().join("message.txt");
    let run = extract(&cover, &["-o", out.to_str().unwrap()]);
    run.expect_code(4).stderr_mentions(&["no hidden message found"]);
    assert_only(dir.path(), &["cover.mp4"]);
}

#[test]
fn wrong_password_finds_no_message() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let stego = dir.path().join("stego.mkv");
    embed_ok(&cover, &stego, b"for the right password only", &[]);
    let out = dir.path().join("message.txt");
    let mut c = command(&[
        "extract",
        stego.to_str().unwrap(),
        "--password-env",
        PW_VAR,
        "-o",
        out.to_str().unwrap(),
    ]);
    c.env(PW_VAR, "Correct horse battery staple");
    let run = run_command(c, None);
    run.expect_code(4)
        .stderr_mentions(&["no hidden message found", "password"]);
    assert_only(dir.path(), &["cover.mp4", "stego.mkv"]);
    // The right one still works.
    assert_eq!(extract_ok(&stego), b"for the right password only");
}

#[test]
fn lossy_reencode_destroys_the_message_exit_4() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let stego = dir.path().join("stego.mkv");
    embed_ok(&cover, &stego, &random_bytes(2000, "lossy"), &[]);
    let lossy = dir.path().join("lossy.mkv");
    ffmpeg(&[
        "-i",
        stego.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-crf",
        "23",
        lossy.to_str().unwrap(),
    ]);
    // Every frame's header copy is gone with the LSBs, so the message cannot
    // even be located: "no message" (4), not "damaged" (5).
    let run = extract(&lossy, &[]);
    run.expect_code(4).stderr_mentions(&["no hidden message found"]);
    assert!(run.stdout.is_empty());
}

#[test]
fn empty_message_is_refused() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let stego = dir.path().join("out.mkv");
    let runs = [
        vidstega(&embed_args(&cover, &stego, &["--message", ""])),
        vidstega(&embed_args(
            &cover,
            &stego,
            &["--message-file", empty.to_str().unwrap()],
        )),
        run_command(
            command(&embed_args(&cover, &stego, &["--message-file", "-"])),
            Some(b""),
        ),
    ];
    for run in &runs {
        assert_rejected(
            run,
            3,
            &["message is empty"],
            dir.path(),
            &["cover.mp4", "empty.txt"],
        );
    }
}

#[test]
fn missing_password_source_is_a_usage_error() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let stego = dir.path().join("out.mkv");
    let cov = cover.to_str().unwrap();
    let out = stego.to_str().unwrap();
    // No password flag, stdin not a terminal: nothing to prompt on.
    for args in [
        vec!["embed", cov, "-o", out, "--message", "hi"],
        vec!["extract", cov],
    ] {
        vidstega(&args)
            .expect_code(2)
            .stderr_mentions(&["no password", "--password-env"]);
    }
    // A variable that is not set.
    for args in [
        vec![
            "embed",
            cov,
            "-o",
            out,
            "--message",
            "hi",
            "--password-env",
            "VIDSTEGA_UNSET_VAR",
        ],
        vec!["extract", cov, "--password-env", "VIDSTEGA_UNSET_VAR"],
    ] {
        vidstega(&args)
            .expect_code(2)
            .stderr_mentions(&["VIDSTEGA_UNSET_VAR", "--password-env", "not set"]);
    }
    // A variable that is set but empty.
    let mut c = command(&["extract", cov, "--password-env", PW_VAR]);
    c.env(PW_VAR, "");
    run_command(c, None)
        .expect_code(2)
        .stderr_mentions(&["password is empty"]);
    assert_only(dir.path(), &["cover.mp4"]);
}

/// Replaces frames `range` of `stego` with the cover's own frames, losslessly
/// (raw yuv420p through `libx264 -qp 0`), as an editor splicing in clean
/// footage would.
fn splice_cover_frames(cover: &Path, stego: &Path, range: std::ops::Range<usize>, out: &Path) {
    let facts = video_facts(stego);
    let frame_len: usize = plane_lens(facts.width as usize, facts.height as usize, "yuv420p")
        .iter()
        .sum();
    let clean = decode_raw(cover, "yuv420p");
    let mut raw = decode_raw(stego, "yuv420p");
    let bytes = range.start * frame_len..range.end * frame_len;
    raw[bytes.clone()].copy_from_slice(&clean[bytes]);
    let raw_path = out.with_extension("yuv");
    std::fs::write(&raw_path, &raw).unwrap();
    let size = format!("{}x{}", facts.width, facts.height);
    ffmpeg(&[
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        &size,
        "-r",
        &facts.r_frame_rate,
        "-i",
        raw_path.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-qp",
        "0",
        out.to_str().unwrap(),
    ]);
    std::fs::remove_file(&raw_path).unwrap();
}

/// The frames an extraction's JSON summary reports as damaged.
fn damaged_frames(summary: &Value) -> Vec<u64> {
    summary["damaged_frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_u64().unwrap())
        .collect()
}

#[test]
fn damage_within_parity_is_repaired_and_beyond_it_is_exit_5() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 2.0);
    let stego = dir.path().join("stego.mkv");
    let message = random_bytes(3000, "damage");
    embed_ok(&cover, &stego, &message, &[]);

    // 4 of 50 frames lost: within the default parity (4 of 16+4 shards).
    let repaired = dir.path().join("repaired.mkv");
    splice_cover_frames(&cover, &stego, 20..24, &repaired);
    let out = extract(&repaired, &["--json"]).ok().json();
    assert_eq!(damaged_frames(&out), vec![20, 21, 22, 23]);
    assert_eq!(extract_ok(&repaired), message);

    // The first frames lost: the header is found in a later frame, and the
    // frames read while looking for it are still extracted (and counted).
    let late_header = dir.path().join("late-header.mkv");
    splice_cover_frames(&cover, &stego, 0..3, &late_header);
    for jobs in ["1", "2"] {
        let out = extract(&late_header, &["--json", "--jobs", jobs]).ok().json();
        assert_eq!(damaged_frames(&out), vec![0, 1, 2], "--jobs {jobs}");
    }
    assert_eq!(extract_ok(&late_header), message);

    // Half the frames lost: the header still opens (the password is right)
    // but the message cannot be rebuilt.
    let broken = dir.path().join("broken.mkv");
    splice_cover_frames(&cover, &stego, 25..50, &broken);
    let run = extract(&broken, &[]);
    run.expect_code(5)
        .stderr_mentions(&["damaged beyond repair", "more parity"]);
    assert!(run.stdout.is_empty());
}

// ---------------------------------------------------------------------------
// capacity and inspect

#[test]
fn capacity_and_inspect_agree_with_what_embed_accepts() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("160x120", 25, 1.0), &tone(440, 1.0)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "1000",
            "-c:a",
            "aac",
        ],
    );
    let path = cover.to_str().unwrap();

    let inspect = vidstega(&["inspect", path, "--json"]).ok().json();
    assert_eq!(inspect["video"]["frame_count"].as_u64(), Some(25));
    assert_eq!(inspect["video"]["width"].as_u64(), Some(160));
    assert_eq!(inspect["video"]["height"].as_u64(), Some(120));
    assert_eq!(inspect["video"]["frame_rate"].as_str(), Some("25/1"));
    assert_eq!(inspect["video"]["keyframes"].as_u64(), Some(1));
    assert_eq!(inspect["video"]["variable_frame_rate"].as_bool(), Some(false));
    assert_eq!(inspect["audio"].as_array().unwrap().len(), 1);
    assert_eq!(inspect["audio"][0]["codec"].as_str(), Some("aac"));
    assert_eq!(inspect["raw_format"].as_str(), Some("160x120 yuv420p"));
    let segments = inspect["segments"].as_array().unwrap();
    assert_eq!(segments[0]["start"].as_u64(), Some(0));
    assert_eq!(segments.last().unwrap()["end"].as_u64(), Some(25));
    let text = vidstega(&["inspect", path]).ok().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("160x120") && text.contains("25 frames") && text.contains("1 audio stream"),
        "{text}"
    );

    let cap = vidstega(&["capacity", path, "--json", "--mode", "lossless"])
        .ok()
        .json();
    let max = cap["max_message_bytes"].as_u64().unwrap();
    assert!(max > 0);
    assert_eq!(cap["frames"].as_u64(), Some(25));
    assert_eq!(cap["samples_per_frame"].as_u64(), Some(160 * 120));
    assert_eq!(cap["planes"].as_str(), Some("luma"));
    // 25 frames of 19,200 one-bit samples, less headers, parity and sealing.
    assert!(max < 25 * 160 * 120 / 8 && max > 25 * 160 * 120 / 8 / 2, "{cap}");
    let all = vidstega(&[
        "capacity", path, "--json", "--mode", "lossless", "--planes", "all",
    ])
    .ok()
    .json();
    assert!(all["max_message_bytes"].as_u64().unwrap() > max, "{all}");
    let more_parity = vidstega(&["capacity", path, "--json", "--mode", "lossless", "--parity", "8"])
        .ok()
        .json();
    assert!(more_parity["max_message_bytes"].as_u64().unwrap() < max);
    let text = String::from_utf8(
        vidstega(&["capacity", path, "--mode", "lossless"])
            .ok()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(text.contains(&format!("can carry {max} bytes")), "{text}");

    // Exactly the capacity fits...
    let stego = dir.path().join("stego.mkv");
    let message = random_bytes(max as usize, "full");
    let summary = embed_ok(&cover, &stego, &message, &[]);
    assert_eq!(summary["message_bytes"].as_u64(), Some(max));
    assert_faithful(&cover, &stego, &summary);
    assert_eq!(extract_ok(&stego), message);
    // ...one byte more does not.
    let over = dir.path().join("over.bin");
    std::fs::write(&over, random_bytes(max as usize + 1, "full")).unwrap();
    let refused = dir.path().join("refused.mkv");
    let run = vidstega(&embed_args(
        &cover,
        &refused,
        &["--message-file", over.to_str().unwrap()],
    ));
    assert_rejected(
        &run,
        3,
        &[&format!("about {max} bytes")],
        dir.path(),
        &["cover.mp4", "over.bin", "stego.mkv"],
    );
}

// ---------------------------------------------------------------------------
// Hostile inputs, concurrent runs, pipes and terminals (issue 9)

/// Waits for `child` at most `limit`; kills it and panics if it is still
/// running then (a hang must fail the test, not the whole run).
fn wait_at_most(mut child: std::process::Child, limit: Duration, what: &str) -> Run {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} was still running after {limit:?} (killed); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `arg` quoted for `sh`.
fn sh_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Runs `vidstega args…` on a pseudo-terminal (util-linux `script`), so that
/// its standard input, output and error are all a terminal; `input` is typed
/// in. Returns everything the terminal showed, as stderr (stdout stays empty).
fn on_terminal(args: &[&str], input: &[u8]) -> Run {
    let line = std::iter::once(env!("CARGO_BIN_EXE_vidstega"))
        .chain(args.iter().copied())
        .map(sh_quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = std::process::Command::new("script");
    c.args(["-q", "-e", "-c", &line, "/dev/null"])
        .env(PW_VAR, PASSWORD)
        .env_remove("VIDSTEGA_FFMPEG")
        .env_remove("VIDSTEGA_FFPROBE")
        .env_remove("VIDSTEGA_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| {
        panic!("these tests need util-linux `script` for a pseudo-terminal ({e}): apt-get install bsdutils")
    });
    // Keep standard input open until the end: its end would reach the
    // program as an end of file on the terminal.
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, input).unwrap();
    let run = wait_at_most(child, Duration::from_secs(120), "vidstega on a terminal");
    drop(stdin);
    Run {
        code: run.code,
        stdout: Vec::new(),
        stderr: String::from_utf8_lossy(&run.stdout).into_owned(),
    }
}

#[test]
fn two_embeds_to_one_output_the_second_refuses_naming_the_first() {
    let dir = tempdir();
    // Long enough (a few seconds) that the first run is still working when
    // the second starts.
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("640x360", 25, 6.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"],
    );
    let stego = dir.path().join("stego.mkv");
    let with_message = |text: &'static str| {
        let mut a = embed_args(&cover, &stego, &["--message", text]);
        a.retain(|&x| x != "--json");
        command(&a)
    };

    // The second starts once the first has made the work folder (and,
    // when it records one, its pid in the lock file).
    let first = with_message("first run").spawn().unwrap();
    let work = dir.path().join(".stego.mkv.vidstega");
    let started = Instant::now();
    while !work.is_dir() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first embed never made {}",
            work.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let recorded = Instant::now();
    while std::fs::read_to_string(work.join("lock"))
        .unwrap_or_default()
        .trim()
        != first.id().to_string()
        && recorded.elapsed() < Duration::from_millis(200)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = run_command(with_message("second run"), None);
    second.expect_code(7).stderr_mentions(&[
        &format!("another vidstega embed (pid {})", first.id()),
        "is already writing",
        "stego.mkv",
        "wait for it to finish",
    ]);
    let first = wait_at_most(first, Duration::from_secs(300), "the first embed");
    first.ok();
    assert!(!first.stderr.contains("second run"));
    assert_eq!(extract_ok(&stego), b"first run");
    assert_only(dir.path(), &["cover.mp4", "stego.mkv"]);

    // Started at the same moment: exactly one writes the output (the other
    // finds the lock taken, or the output written), and the output holds
    // the winner's message.
    let other = dir.path().join("other.mkv");
    let spawn = |text: &'static str| {
        let mut a = embed_args(&cover, &other, &["--message", text]);
        a.retain(|&x| x != "--json");
        command(&a).spawn().unwrap()
    };
    let (a, b) = (spawn("run a"), spawn("run b"));
    let a = wait_at_most(a, Duration::from_secs(300), "embed a");
    let b = wait_at_most(b, Duration::from_secs(300), "embed b");
    let (winner, loser, text) = match (a.code, b.code) {
        (Some(0), Some(7)) => (&a, &b, "run a"),
        (Some(7), Some(0)) => (&b, &a, "run b"),
        _ => panic!(
            "expected one success and one exit 7; a: {:?} {}\nb: {:?} {}",
            a.code, a.stderr, b.code, b.stderr
        ),
    };
    assert!(winner.stderr.contains("wrote"), "{}", winner.stderr);
    assert!(
        loser.stderr.contains("is already writing") || loser.stderr.contains("already exists"),
        "{}",
        loser.stderr
    );
    assert_eq!(extract_ok(&other), text.as_bytes());
    assert_only(dir.path(), &["cover.mp4", "other.mkv", "stego.mkv"]);
}

#[test]
fn two_extracts_to_one_file_never_mix_and_never_overwrite_without_force() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let (one, two) = (dir.path().join("one.mkv"), dir.path().join("two.mkv"));
    let (m1, m2) = (random_bytes(3000, "one"), random_bytes(3000, "two"));
    embed_ok(&cover, &one, &m1, &[]);
    embed_ok(&cover, &two, &m2, &[]);
    let out = dir.path().join("message.bin");
    for _ in 0..3 {
        let _ = std::fs::remove_file(&out);
        let spawn = |stego: &Path| {
            command(&[
                "extract",
                stego.to_str().unwrap(),
                "--password-env",
                PW_VAR,
                "-o",
                out.to_str().unwrap(),
            ])
            .spawn()
            .unwrap()
        };
        let (a, b) = (spawn(&one), spawn(&two));
        let a = wait_at_most(a, Duration::from_secs(120), "extract one");
        let b = wait_at_most(b, Duration::from_secs(120), "extract two");
        let written = std::fs::read(&out).unwrap();
        match (a.code, b.code) {
            (Some(0), Some(7)) => assert_eq!(written, m1),
            (Some(7), Some(0)) => assert_eq!(written, m2),
            _ => panic!(
                "expected one success and one exit 7; one: {:?} {}\ntwo: {:?} {}",
                a.code, a.stderr, b.code, b.stderr
            ),
        }
        let loser = if a.code == Some(7) { &a } else { &b };
        loser.stderr_mentions(&["already exists", "--force"]);
    }
    assert_only(dir.path(), &["cover.mp4", "message.bin", "one.mkv", "two.mkv"]);
}

#[test]
fn output_that_is_the_input_is_refused_even_with_force() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let original = std::fs::read(&cover).unwrap();
    std::os::unix::fs::symlink("cover.mp4", dir.path().join("soft.mp4")).unwrap();
    std::fs::hard_link(&cover, dir.path().join("hard.mp4")).unwrap();
    let dot = dir.path().join(".").join("cover.mp4");
    let via_parent = dir.path().join("sub/../cover.mp4");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let cases = [
        (cover.clone(), "itself:"),
        (dot, "itself:"),
        (via_parent, "itself:"),
        (dir.path().join("soft.mp4"), "a symbolic link to it"),
        (dir.path().join("hard.mp4"), "a hard link to it"),
    ];
    for (output, how) in &cases {
        for mode in ["lossless", "compact"] {
            for force in [false, true] {
                let mut extra = vec!["--message", "hi", "--mode", mode];
                if force {
                    extra.push("--force");
                }
                let run = vidstega(&embed_args(&cover, output, &extra));
                run.expect_code(7).stderr_mentions(&[
                    "is the input",
                    how,
                    "even with --force",
                    "another output name",
                ]);
                assert_eq!(std::fs::read(&cover).unwrap(), original, "the cover changed");
            }
        }
        // Extraction into its own stego video, too.
        for force in [&[][..], &["--force"][..]] {
            let mut extra = vec!["-o", output.to_str().unwrap()];
            extra.extend_from_slice(force);
            extract(&cover, &extra)
                .expect_code(7)
                .stderr_mentions(&["is the input", how]);
        }
    }
    assert_eq!(std::fs::read(&cover).unwrap(), original);
    assert_only(dir.path(), &["cover.mp4", "hard.mp4", "soft.mp4", "sub"]);
}

/// Feeds `vidstega` an endless message ("y\n" as `yes` writes it, the most
/// compressible kind) and returns the run and how many bytes it took before
/// closing its input. Gives up at 256 MiB.
fn embed_from_endless_stdin(args: &[&str]) -> (Run, u64) {
    const GIVE_UP: u64 = 256 << 20;
    let mut c = command(args);
    c.stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = b"y\n".repeat(32 << 10);
        let mut sent = 0u64;
        while sent < GIVE_UP {
            if std::io::Write::write_all(&mut stdin, &chunk).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let run = wait_at_most(child, Duration::from_secs(120), "embed from an endless stdin");
    let sent = writer.join().unwrap();
    assert!(
        sent < GIVE_UP,
        "vidstega read {sent} bytes of an endless message without refusing it: {}",
        run.stderr
    );
    (run, sent)
}

#[test]
fn endless_message_sources_end_with_the_capacity_error_quickly() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let stego = dir.path().join("out.mkv");
    for mode in ["lossless", "compact"] {
        let cap = vidstega(&["capacity", cover.to_str().unwrap(), "--json", "--mode", mode])
            .ok()
            .json();
        let max = cap["max_message_bytes"].as_u64().unwrap();
        let fits = format!("larger than the {max} bytes that fit");
        let started = Instant::now();
        let (run, sent) = embed_from_endless_stdin(&embed_args(
            &cover,
            &stego,
            &["--message-file", "-", "--mode", mode],
        ));
        assert_rejected(&run, 3, &[&fits, "even compressed"], dir.path(), &["cover.mp4"]);
        // A compressible message is read while its compressed form may fit:
        // bounded by deflate's ratio (about 1000:1), not by the input.
        assert!(
            sent < 1100 * max + (64 << 20),
            "{mode}: {sent} bytes read for {max} that fit"
        );
        for endless in ["/dev/zero", "/dev/urandom"] {
            let run = vidstega(&embed_args(
                &cover,
                &stego,
                &["--message-file", endless, "--mode", mode],
            ));
            assert_rejected(&run, 3, &[&fits], dir.path(), &["cover.mp4"]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{mode}: refusing endless messages took {:?}",
            started.elapsed()
        );
    }
    // A video compact mode must transcode first: its capacity is an
    // estimate, so reading stops at what every frame carrying would hold.
    let hevc = make_video(
        dir.path(),
        "hevc.mkv",
        &[&picture("160x120", 25, 1.0)],
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
    );
    let estimate = vidstega(&["capacity", hevc.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(estimate["estimated"].as_bool(), Some(true), "{estimate}");
    let run = vidstega(&embed_args(
        &hevc,
        &stego,
        &["--message-file", "/dev/zero", "--mode", "compact"],
    ));
    assert_rejected(
        &run,
        3,
        &["bytes this video could hold at most with these settings"],
        dir.path(),
        &["cover.mp4", "hevc.mkv"],
    );
}

#[test]
fn video_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let dir = tempdir();
    let fifo = dir.path().join("stream.mp4");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success(), "mkfifo failed");
    let stego = dir.path().join("out.mkv");
    for (input, kind) in [
        (fifo.as_path(), "a named pipe (FIFO)"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        let path = input.to_str().unwrap();
        let runs: Vec<Vec<&str>> = vec![
            embed_args(input, &stego, &["--message", "hi"]),
            embed_args(input, &stego, &["--message", "hi", "--mode", "compact"]),
            vec!["extract", path, "--password-env", PW_VAR],
            vec!["capacity", path],
            vec!["inspect", path],
        ];
        for args in runs {
            // Nobody ever writes to the FIFO: a run that opens it waits forever.
            let child = command(&args).spawn().unwrap();
            let run = wait_at_most(child, Duration::from_secs(30), &args.join(" "));
            assert_rejected(
                &run,
                3,
                &[path, kind, "regular file"],
                dir.path(),
                &["stream.mp4"],
            );
        }
    }
}

#[test]
fn closed_standard_output_ends_quietly_with_exit_0() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let stego = dir.path().join("stego.mkv");
    embed_ok(&cover, &stego, b"piped", &[]);
    let out = dir.path().join("again.mkv");
    let cases: Vec<Vec<&str>> = vec![
        vec!["inspect", cover.to_str().unwrap()],
        vec!["inspect", cover.to_str().unwrap(), "--json"],
        vec!["capacity", cover.to_str().unwrap()],
        vec![
            "capacity",
            cover.to_str().unwrap(),
            "--json",
            "--mode",
            "lossless",
        ],
        vec!["extract", stego.to_str().unwrap(), "--password-env", PW_VAR],
        vec![
            "extract",
            stego.to_str().unwrap(),
            "--password-env",
            PW_VAR,
            "--json",
        ],
        embed_args(&cover, &out, &["--message", "summary nobody reads"]),
    ];
    for args in &cases {
        // A pipe whose reader is gone before anything is written, as in
        // `vidstega … | true`.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut c = command(args);
        c.stdout(writer);
        let run = run_command(c, None);
        assert_eq!(run.code, Some(0), "{}: {}", args.join(" "), run.stderr);
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("error"),
            "{}: {}",
            args.join(" "),
            run.stderr
        );
    }
    // The embed still did its work.
    assert_eq!(extract_ok(&out), b"summary nobody reads");
}

#[test]
fn folders_missing_files_and_zero_settings_get_their_documented_exit_codes() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let stego = dir.path().join("stego.mkv");
    embed_ok(&cover, &stego, b"codes", &[]);
    let folder = dir.path().join("folder.mkv");
    std::fs::create_dir(&folder).unwrap();
    let out = dir.path().join("out.mkv");
    let (cov, fol, stg) = (
        cover.to_str().unwrap(),
        folder.to_str().unwrap(),
        stego.to_str().unwrap(),
    );
    let nowhere = dir.path().join("nowhere.txt");
    let nowhere = nowhere.to_str().unwrap();
    let left = ["cover.mp4", "folder.mkv", "stego.mkv"];

    // A folder as the input video: 3.
    for args in [
        embed_args(&folder, &out, &["--message", "hi"]),
        embed_args(&folder, &out, &["--message", "hi", "--mode", "compact"]),
        vec!["extract", fol, "--password-env", PW_VAR],
        vec!["capacity", fol],
        vec!["inspect", fol],
    ] {
        let run = vidstega(&args);
        assert_rejected(&run, 3, &["folder.mkv is a folder"], dir.path(), &left);
    }
    // A folder as the output: 7, with or without --force.
    for force in [&[][..], &["--force"][..]] {
        let mut extra = vec!["--message", "hi"];
        extra.extend_from_slice(force);
        vidstega(&embed_args(&cover, &folder, &extra))
            .expect_code(7)
            .stderr_mentions(&["folder.mkv is a folder"]);
        let mut extra = vec!["-o", fol];
        extra.extend_from_slice(force);
        extract(&stego, &extra)
            .expect_code(7)
            .stderr_mentions(&["folder.mkv is a folder"]);
        assert_only(dir.path(), &left);
        assert!(entries(&folder).is_empty());
    }
    // A message file that is missing or a folder: 3 (an input that cannot be used).
    for (file, why) in [(nowhere, "does not exist"), (fol, "is a folder")] {
        let run = vidstega(&embed_args(&cover, &out, &["--message-file", file]));
        assert_rejected(&run, 3, &["message file", file, why], dir.path(), &left);
    }
    // A password file that is missing or a folder: 2, like an unset --password-env.
    for (file, why) in [(nowhere, "does not exist"), (fol, "folder")] {
        for args in [
            vec![
                "embed",
                cov,
                "-o",
                out.to_str().unwrap(),
                "--message",
                "hi",
                "--password-file",
                file,
            ],
            vec!["extract", stg, "--password-file", file],
        ] {
            let run = vidstega(&args);
            run.expect_code(2)
                .stderr_mentions(&["password file", file, why, "--password-file"]);
            assert_only(dir.path(), &left);
        }
    }
    // Zero PBKDF2 iterations or zero jobs: flag errors (2), before any work.
    let kdf = |n| {
        let mut a = embed_args(&cover, &out, &["--message", "hi"]);
        let at = a.iter().position(|&x| x == "--kdf-iterations").unwrap();
        a[at + 1] = n;
        a
    };
    for args in [
        kdf("0"),
        kdf("999"),
        vec![
            "submit",
            cov,
            "--message",
            "hi",
            "--presign-url",
            "https://example.invalid/",
            "--kdf-iterations",
            "0",
        ],
        embed_args(&cover, &out, &["--message", "hi", "--jobs", "0"]),
        vec!["extract", stg, "--password-env", PW_VAR, "--jobs", "0"],
        vec!["inspect", cov, "--jobs", "0"],
    ] {
        let run = vidstega(&args);
        run.expect_code(2).stderr_mentions(&["invalid value"]);
        assert!(
            run.stderr.contains("--kdf-iterations") || run.stderr.contains("--jobs"),
            "{}",
            run.stderr
        );
        assert_only(dir.path(), &left);
    }
}

#[test]
fn mismatched_prompt_passwords_are_asked_again_up_to_three_times() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let stego = dir.path().join("stego.mkv");
    let args = |out: &Path| {
        let mut a = embed_args(&cover, out, &["--message", "typed twice"]);
        let at = a.iter().position(|&x| x == "--password-env").unwrap();
        a.drain(at..at + 2);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    // Wrong once, then the same twice.
    let a = args(&stego);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = on_terminal(&a, b"first\rsecond\rthird\rthird\r");
    run.ok()
        .stderr_mentions(&["the passwords do not match; try again"]);
    assert_eq!(
        run.stderr.matches("Repeat password:").count(),
        2,
        "{}",
        run.stderr
    );
    let mut c = command(&["extract", stego.to_str().unwrap(), "--password-env", PW_VAR]);
    c.env(PW_VAR, "third");
    assert_eq!(run_command(c, None).ok().stdout, b"typed twice");

    // Three mismatches: a usage error, nothing written.
    let refused = dir.path().join("refused.mkv");
    let a = args(&refused);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = on_terminal(&a, b"a\rb\rc\rd\re\rf\r");
    run.expect_code(2)
        .stderr_mentions(&["the passwords did not match (3 attempts)"]);
    assert_eq!(
        run.stderr.matches("Repeat password:").count(),
        3,
        "{}",
        run.stderr
    );
    assert_only(dir.path(), &["cover.mp4", "stego.mkv"]);
}

#[test]
fn extract_dash_o_dash_is_stdout_and_binary_needs_force_on_a_terminal() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let binary = dir.path().join("binary.mkv");
    let message = random_bytes(500, "binary");
    assert!(std::str::from_utf8(&message).is_err());
    embed_ok(&cover, &binary, &message, &[]);
    let text = dir.path().join("text.mkv");
    embed_ok(&cover, &text, b"plain words", &[]);

    // `-o -` is standard output, as `--message-file -` is standard input.
    let run = extract(&binary, &["-o", "-"]);
    run.ok();
    assert_eq!(run.stdout, message);
    let run = extract(&text, &["-o", "-", "--json"]);
    assert_eq!(run.ok().json()["message_text"].as_str(), Some("plain words"));
    assert_only(dir.path(), &["binary.mkv", "cover.mp4", "text.mkv"]);

    // On a terminal: text is printed, binary refused unless forced.
    for out in [&[][..], &["-o", "-"][..]] {
        let mut a = vec!["extract", binary.to_str().unwrap(), "--password-env", PW_VAR];
        a.extend_from_slice(out);
        on_terminal(&a, b"")
            .expect_code(7)
            .stderr_mentions(&["binary", "terminal", "-o FILE", "--force"]);
        a.push("--force");
        on_terminal(&a, b"").ok();
    }
    let run = on_terminal(
        &["extract", text.to_str().unwrap(), "--password-env", PW_VAR],
        b"",
    );
    run.ok().stderr_mentions(&["plain words"]);
    assert_only(dir.path(), &["binary.mkv", "cover.mp4", "text.mkv"]);
}

/// A one-frame H.264 clip.
fn one_frame_clip(dir: &Path) -> std::path::PathBuf {
    make_video(
        dir,
        "one.mp4",
        &[&picture("160x120", 25, 0.04)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-frames:v", "1"],
    )
}

/// The text `args` printed on a terminal, without `--json`.
fn text_summary_on_a_terminal(mut args: Vec<&str>) -> Run {
    args.retain(|&x| x != "--json");
    let run = on_terminal(&args, b"");
    run.ok();
    run
}

#[test]
fn one_frame_one_segment_one_byte_read_in_the_singular() {
    let dir = tempdir();
    let cover = one_frame_clip(dir.path());
    let plural_one = |text: &str| {
        for noun in [
            "frames",
            "keyframes",
            "segments",
            "bytes",
            "audio streams",
            "subtitle streams",
        ] {
            let bad = format!(" 1 {noun}");
            assert!(!text.contains(&bad), "{bad:?} in:\n{text}");
        }
    };
    let inspect = vidstega(&["inspect", cover.to_str().unwrap()]);
    let inspect = String::from_utf8(inspect.ok().stdout.clone()).unwrap();
    plural_one(&inspect);
    assert!(
        inspect.contains("1 frame, 1 keyframe, 0 audio streams"),
        "{inspect}"
    );
    let capacity = vidstega(&["capacity", cover.to_str().unwrap(), "--mode", "lossless"]);
    let capacity = String::from_utf8(capacity.ok().stdout.clone()).unwrap();
    plural_one(&capacity);
    assert!(capacity.contains("(1 frame of 160x120"), "{capacity}");

    let stego = dir.path().join("stego.mkv");
    let run = text_summary_on_a_terminal(embed_args(&cover, &stego, &["--message", "x"]));
    run.stderr_mentions(&[
        "embedded 1 byte (",
        "in 1 frame, 1 segment (0 resumed)",
        "0 audio streams copied",
    ]);
    plural_one(&run.stderr);
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let compact = dir.path().join("compact.mp4");
    let run = text_summary_on_a_terminal(embed_args(
        &cover,
        &compact,
        &["--message", "x", "--mode", "compact"],
    ));
    run.stderr_mentions(&["1 carrier picture of 25 frames"]);
    plural_one(&run.stderr);
}

#[test]
fn no_progress_bar_is_drawn_full_at_0_of_0() {
    let dir = tempdir();
    let cover = one_frame_clip(dir.path());
    let lossless = dir.path().join("lossless.mkv");
    let cover_25 = small_clip(dir.path(), "cover.mp4", 1.0);
    let compact = dir.path().join("compact.mp4");
    let out_1 = dir.path().join("1.txt").to_str().unwrap().to_string();
    let out_2 = dir.path().join("2.txt").to_str().unwrap().to_string();
    // Planning, locating the message and the splice count nothing.
    for run in [
        text_summary_on_a_terminal(embed_args(&cover, &lossless, &["--message", "x"])),
        text_summary_on_a_terminal(embed_args(
            &cover_25,
            &compact,
            &["--message", "x", "--mode", "compact"],
        )),
        // Into a file: the bars are drawn only then.
        on_terminal(
            &[
                "extract",
                lossless.to_str().unwrap(),
                "--password-env",
                PW_VAR,
                "-o",
                &out_1,
            ],
            b"",
        ),
        // Into a file: the bars are drawn only then.
        on_terminal(
            &[
                "extract",
                compact.to_str().unwrap(),
                "--password-env",
                PW_VAR,
                "-o",
                &out_2,
            ],
            b"",
        ),
    ] {
        run.ok();
        // The bars were drawn (the terminal shows the stages)...
        assert!(
            run.stderr.contains("00:00:0"),
            "no progress shown:\n{}",
            run.stderr
        );
        // ...but none of length 0, which indicatif draws full.
        assert!(
            !run.stderr.contains("0/0"),
            "a bar of nothing drawn:\n{}",
            run.stderr
        );
    }
}

#[test]
fn exit_codes_are_documented_once_in_the_pipeline_doc() {
    let doc = include_str!("../../docs/pipeline.md");
    let section = doc
        .split("### Exit codes")
        .nth(1)
        .expect("docs/pipeline.md has an Exit codes section");
    let codes: Vec<u32> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.trim_start_matches('|').split('|').next()?.trim().parse().ok())
        .collect();
    assert_eq!(codes, (0..=8).collect::<Vec<_>>(), "the exit-code table rows");
    assert_eq!(doc.matches("### Exit codes").count(), 1);
    // The code's own summary points to the doc instead of copying it.
    let main = include_str!("../src/main.rs");
    assert!(
        !main.contains("| 8 |"),
        "main.rs has its own copy of the exit-code table"
    );
}

// ---------------------------------------------------------------------------
// Disks, warnings, prompts, logs and interrupts (issue 9, part 2)

/// Runs `vidstega args…` with `dir` replaced by an empty file system of
/// `bytes` (a tmpfs in a private mount namespace, so no privilege is
/// needed), and lists what is left in it afterwards (the file system goes
/// away with the namespace). Returns the run and the names left.
fn on_small_disk(dir: &Path, bytes: u64, args: &[&str]) -> (Run, Vec<String>) {
    let script = r#"d="$1"; size="$2"; shift 2
mount -t tmpfs -o "size=$size" vidstega-test "$d" || { echo "cannot mount a tmpfs on $d" >&2; exit 99; }
"$@"; rc=$?
echo "LEFT:$(ls -A "$d" | tr '\n' ' ')" >&2
exit $rc"#;
    let mut c = std::process::Command::new("unshare");
    c.args(["--mount", "--map-root-user", "sh", "-c", script, "sh"])
        .arg(dir)
        .arg(bytes.to_string())
        .arg(env!("CARGO_BIN_EXE_vidstega"))
        .args(args)
        .env(PW_VAR, PASSWORD)
        .env_remove("VIDSTEGA_FFMPEG")
        .env_remove("VIDSTEGA_FFPROBE")
        .env_remove("VIDSTEGA_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap_or_else(|e| {
        panic!("these tests need util-linux `unshare` ({e}): apt-get install util-linux")
    });
    let run = wait_at_most(child, Duration::from_secs(300), "vidstega on a small disk");
    assert_ne!(run.code, Some(99), "{}", run.stderr);
    let left_line = run
        .stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("LEFT:"))
        .unwrap_or_else(|| panic!("no listing of the small disk:\n{}", run.stderr))
        .to_string();
    let left = left_line.split_whitespace().map(str::to_string).collect();
    (run, left)
}

/// A failed run's first line is its error, and what follows adds to it:
/// no cause repeating it, no long tool dump.
fn assert_error_reads_well(run: &Run) {
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.starts_with("LEFT:")).collect();
    assert!(lines[0].starts_with("error: "), "{}", run.stderr);
    let first = lines[0].trim_start_matches("error: ").trim_end_matches('.');
    for l in &lines[1..] {
        assert!(!l.contains(first), "a line repeats the error:\n{}", run.stderr);
    }
    assert!(
        lines.len() <= 14,
        "too long an error ({} lines):\n{}",
        lines.len(),
        run.stderr
    );
}

#[test]
fn a_disk_too_small_is_refused_before_any_work_with_exit_8() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 2.0);
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let stego = disk.join("stego.mp4");
    let message = dir.path().join("m.txt");
    std::fs::write(&message, "hi").unwrap();
    for mode in ["compact", "lossless"] {
        // The source alone is larger than the disk.
        let size = std::fs::metadata(&cover).unwrap().len() / 2;
        let args = embed_args(
            &cover,
            &stego,
            &["--message-file", message.to_str().unwrap(), "--mode", mode],
        );
        let (run, left) = on_small_disk(&disk, size.max(4096), &args);
        run.expect_code(8)
            .stderr_mentions(&["not enough disk space for", "stego.mp4", "free", "-o"]);
        assert_error_reads_well(&run);
        assert!(left.is_empty(), "{mode}: left on the disk: {left:?}");
    }
}

#[test]
fn a_disk_that_fills_up_during_the_run_says_so_first_with_exit_8_and_keeps_the_work_for_the_rerun() {
    let dir = tempdir();
    // Noise in every plane: lossless H.264 needs about 1.5 bytes per pixel
    // for it, more than the 1.1 the estimate assumes, so the estimate fits
    // and the writing does not.
    let cover = make_video(
        dir.path(),
        "noise.mkv",
        &["nullsrc=s=640x360:r=25:d=2,geq=lum='random(1)*255':cb='random(2)*255':cr='random(3)*255'"],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "0",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let stego = disk.join("stego.mkv");
    // The estimate: the output and the segments, 1.1 bytes per pixel each.
    let estimate = 2 * (50.0 * 640.0 * 360.0 * 1.1) as u64;
    let message = dir.path().join("m.txt");
    std::fs::write(&message, "hi").unwrap();
    let args = embed_args(
        &cover,
        &stego,
        &["--message-file", message.to_str().unwrap(), "--jobs", "2"],
    );
    let (run, left) = on_small_disk(&disk, estimate + 2_000_000, &args);
    run.expect_code(8);
    let first = run.stderr.lines().next().unwrap();
    assert!(first.starts_with("error: the disk is full"), "{}", run.stderr);
    assert!(first.contains("run the same command again"), "{}", run.stderr);
    assert!(
        first.contains("resumes from the finished work kept in"),
        "{}",
        run.stderr
    );
    assert_error_reads_well(&run);
    // The finished segments stay for the rerun; no partial output.
    assert_eq!(left, vec![".stego.mkv.vidstega"], "{}", run.stderr);
}

#[test]
fn conversions_and_a_detectable_rate_are_warned_in_text_mode_with_sizes() {
    let dir = tempdir();
    // RGB: lossless mode converts every pixel, and says so.
    let rgb = make_video(
        dir.path(),
        "rgb.mkv",
        &[&picture("160x120", 25, 0.4)],
        &["-c:v", "ffv1", "-pix_fmt", "bgr0"],
    );
    let stego = dir.path().join("stego.mkv");
    let mut args = embed_args(&rgb, &stego, &["--message", "hi"]);
    args.retain(|&a| a != "--json");
    let run = vidstega(&args);
    run.ok().stderr_mentions(&[
        "warning: the source's pixel format bgr0",
        "converted to",
        "wrote",
        "on the source's",
    ]);
    // Compact mode, a message filling its carriers: the rate is said to be
    // detectable, with what lowers it.
    let cover = small_clip(dir.path(), "cover.mp4", 2.0);
    let compact = dir.path().join("compact.mp4");
    let message = dir.path().join("m.bin");
    std::fs::write(&message, random_bytes(3000, "rate")).unwrap();
    let mut args = embed_args(
        &cover,
        &compact,
        &[
            "--mode",
            "compact",
            "--max-rate",
            "0.9",
            "--message-file",
            message.to_str().unwrap(),
        ],
    );
    args.retain(|&a| a != "--json");
    let run = vidstega(&args);
    run.ok().stderr_mentions(&[
        "warning: up to",
        "steganalysis",
        "--max-rate",
        "wrote",
        "on the source's",
    ]);
    // The same warning is in the JSON summary.
    let summary = vidstega(&embed_args(
        &cover,
        &dir.path().join("compact2.mp4"),
        &[
            "--mode",
            "compact",
            "--max-rate",
            "0.9",
            "--message-file",
            message.to_str().unwrap(),
        ],
    ))
    .ok()
    .json();
    assert!(
        warnings(&summary).iter().any(|w| w.contains("steganalysis")),
        "{summary}"
    );
    // A low rate draws no such warning.
    let summary = vidstega(&embed_args(
        &cover,
        &dir.path().join("low.mp4"),
        &["--mode", "compact", "--message", "hi"],
    ))
    .ok()
    .json();
    assert!(
        !warnings(&summary).iter().any(|w| w.contains("steganalysis")),
        "{summary}"
    );
}

#[test]
fn the_password_prompt_reads_the_terminal_while_stdin_carries_the_message() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let stego = dir.path().join("stego.mp4");
    let vidstega = sh_quote(env!("CARGO_BIN_EXE_vidstega"));
    let line = format!(
        "printf 'sent through a pipe' | {vidstega} embed {} -o {} --message-file - --kdf-iterations 1000",
        sh_quote(cover.to_str().unwrap()),
        sh_quote(stego.to_str().unwrap())
    );
    let mut c = std::process::Command::new("script");
    c.args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_remove("VIDSTEGA_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("util-linux `script` (apt-get install bsdutils)");
    let mut stdin = child.stdin.take().unwrap();
    // What the terminal shows, read as it comes.
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    // Typed once each prompt is shown and the terminal has stopped echoing
    // (typed earlier, the terminal would echo it before the prompt could
    // turn echo off).
    let mut seen = 0;
    for prompt in ["Password: ", "Repeat password: "] {
        let started = Instant::now();
        loop {
            let text = String::from_utf8_lossy(&shown.lock().unwrap()[seen..]).into_owned();
            if let Some(at) = text.find(prompt) {
                seen += at + prompt.len();
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {prompt:?} prompt; the terminal showed:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        std::io::Write::write_all(&mut stdin, format!("{PASSWORD}\n").as_bytes()).unwrap();
    }
    let run = wait_at_most(child, Duration::from_secs(120), "embed prompting on the terminal");
    drop(stdin);
    reader.join().unwrap();
    let shown = String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    assert_eq!(run.code, Some(0), "{shown}");
    assert!(!shown.contains(PASSWORD), "the password was echoed:\n{shown}");
    assert_eq!(extract_ok(&stego), b"sent through a pipe");
}

#[test]
fn the_message_flag_is_warned_against_in_help_and_on_use() {
    let help = vidstega(&["embed", "--help"]);
    let text = String::from_utf8_lossy(&help.ok().stdout).into_owned();
    assert!(text.contains("process list"), "{text}");
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 0.4);
    let run = vidstega(&embed_args(
        &cover,
        &dir.path().join("o.mp4"),
        &["--mode", "compact", "--message", "hi"],
    ));
    run.ok().stderr_mentions(&[
        "warning: --message puts the message in the process list",
        "--message-file -",
    ]);
    let file = dir.path().join("m.txt");
    std::fs::write(&file, "hi").unwrap();
    let run = vidstega(&embed_args(
        &cover,
        &dir.path().join("p.mp4"),
        &["--mode", "compact", "--message-file", file.to_str().unwrap()],
    ));
    assert!(!run.ok().stderr.contains("process list"), "{}", run.stderr);
}

#[test]
fn vidstega_log_debug_shows_the_steps_and_no_secret() {
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let stego = dir.path().join("stego.mp4");
    let secret = "the secret message text";
    for mode in ["compact", "lossless"] {
        let out = dir.path().join(format!("{mode}.mkv"));
        let mut c = command(&embed_args(&cover, &out, &["--mode", mode, "--message", secret]));
        c.env("VIDSTEGA_LOG", "debug");
        let run = run_command(c, None);
        run.ok().stderr_mentions(&["DEBUG", "planned", "disk space"]);
        // Written to a pipe, not a terminal: no colour codes.
        assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
        assert!(
            !run.stderr.contains(secret) && !run.stderr.contains(PASSWORD),
            "{}",
            run.stderr
        );
        let mut c = command(&["extract", out.to_str().unwrap(), "--password-env", PW_VAR]);
        c.env("VIDSTEGA_LOG", "debug");
        let run = run_command(c, None);
        run.ok()
            .stderr_mentions(&["DEBUG", "key derived and container read"]);
        assert!(
            !run.stderr.contains(secret) && !run.stderr.contains(PASSWORD),
            "{}",
            run.stderr
        );
    }
    // Without it: no log lines.
    let run = vidstega(&embed_args(
        &cover,
        &stego,
        &["--mode", "compact", "--message-file", "/dev/null"],
    ));
    assert!(!run.stderr.contains("DEBUG"), "{}", run.stderr);
}

#[test]
fn ctrl_c_keeps_the_work_says_how_to_resume_and_the_rerun_resumes() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("640x360", 25, 10.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"],
    );
    let stego = dir.path().join("stego.mkv");
    let message = dir.path().join("m.bin");
    std::fs::write(&message, random_bytes(6000, "sigint")).unwrap();
    let args = embed_args(
        &cover,
        &stego,
        &["--jobs", "2", "--message-file", message.to_str().unwrap()],
    );
    let work = dir.path().join(".stego.mkv.vidstega");
    let mut child = command(&args).spawn().unwrap();
    let pid = child.id();
    wait_for_a_finished_segment(&mut child, &work);
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let run = wait_at_most(child, Duration::from_secs(60), "the interrupted embed");
    run.expect_code(130).stderr_mentions(&[
        "interrupted: the finished work is kept in",
        ".stego.mkv.vidstega",
        "run the same command again to resume",
    ]);
    assert!(!stego.exists());
    assert!(work.is_dir());
    let summary = vidstega(&args).ok().json();
    assert!(summary["segments_resumed"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(extract_ok(&stego), std::fs::read(&message).unwrap());
}

#[test]
fn a_password_typed_in_either_unicode_form_opens_the_message_and_older_files_keep_their_bytes() {
    use vidstega_core::{seal, PlacementKey, SealParams};
    use vidstega_pipeline::contract::{keys, OutputMode};
    use vidstega_pipeline::{run_embed, JobRecord, JobStore, NoProgress, ObjectStore, PlanSettings};
    // "café" with é as one code point (NFC) and as e + combining accent.
    let composed = "caf\u{e9} au lait";
    let decomposed = "cafe\u{301} au lait";
    let with_password = |args: &[&str], password: &str| {
        let mut c = command(args);
        c.env(PW_VAR, password);
        run_command(c, None)
    };
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    // Embedded with one form, extracted with the other.
    let stego = dir.path().join("stego.mp4");
    let message = dir.path().join("m.txt");
    std::fs::write(&message, "normalised").unwrap();
    with_password(
        &embed_args(
            &cover,
            &stego,
            &["--mode", "compact", "--message-file", message.to_str().unwrap()],
        ),
        decomposed,
    )
    .ok();
    let args = ["extract", stego.to_str().unwrap(), "--password-env", PW_VAR];
    assert_eq!(with_password(&args, composed).ok().stdout, b"normalised");
    assert_eq!(with_password(&args, decomposed).ok().stdout, b"normalised");

    // A file written before passwords were normalised: keyed with the
    // decomposed bytes as typed. The same typing still opens it.
    let old = dir.path().join("old.mkv");
    let store = vidstega_local::FolderStore::open(dir.path().join("bucket")).unwrap();
    let jobs = vidstega_local::SqliteJobStore::open(&dir.path().join("jobs.sqlite")).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let id = "job-oldrule1";
    store.put_file(&keys::video(id), &cover).unwrap();
    let params = SealParams {
        kdf_iterations: 1000,
        ..SealParams::default()
    };
    let sealed = seal(b"old rule", decomposed.as_bytes(), &params).unwrap();
    store.write_bytes(&keys::payload(id), &sealed.to_bytes()).unwrap();
    let job = JobRecord::new(id, &keys::video(id), &keys::payload(id), &keys::output(id, "mkv"));
    jobs.create_job(&job).unwrap();
    let settings = PlanSettings {
        mode: OutputMode::Compact,
        ..PlanSettings::default()
    };
    let key = PlacementKey::derive_for(decomposed.as_bytes(), sealed.header());
    run_embed(&store, &jobs, &scratch, &job, &key, &settings, &old, &NoProgress).unwrap();
    let args = ["extract", old.to_str().unwrap(), "--password-env", PW_VAR];
    assert_eq!(with_password(&args, decomposed).ok().stdout, b"old rule");
    // The other form was never this file's password.
    with_password(&args, composed).expect_code(4);
}

#[test]
fn videos_written_in_format_version_2_still_extract_in_compact_and_lossless_mode() {
    use vidstega_core::{Envelope, PlacementKey};
    use vidstega_pipeline::contract::{keys, OutputMode};
    use vidstega_pipeline::{run_embed, JobRecord, JobStore, NoProgress, ObjectStore, PlanSettings};
    // Version 2's test vector from docs/format.md: an envelope this build
    // can no longer seal (it writes version 3), placed as version 2 placed
    // it, with the fixed-salt key and no salt slot.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/format.md")).unwrap();
    let vector = doc.split("```test-vector v2\n").nth(1).unwrap();
    let field = |name: &str| {
        vector
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_string()
    };
    let envelope = Envelope::parse(&hex::decode(field("envelope")).unwrap()).unwrap();
    assert_eq!(envelope.header().version, 2);
    let password = field("password");
    let message = field("message");
    let dir = tempdir();
    let cover = small_clip(dir.path(), "cover.mp4", 1.0);
    let store = vidstega_local::FolderStore::open(dir.path().join("bucket")).unwrap();
    let jobs = vidstega_local::SqliteJobStore::open(&dir.path().join("jobs.sqlite")).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let key = PlacementKey::derive(password.as_bytes());
    for (mode, id) in [
        (OutputMode::Compact, "job-version2c"),
        (OutputMode::Lossless, "job-version2l"),
    ] {
        let old = dir.path().join(format!("{id}.mkv"));
        // (put_file takes the file: each job gets its own copy.)
        let copy = dir.path().join(format!("{id}.mp4"));
        std::fs::copy(&cover, &copy).unwrap();
        store.put_file(&keys::video(id), &copy).unwrap();
        store
            .write_bytes(&keys::payload(id), &envelope.to_bytes())
            .unwrap();
        let job = JobRecord::new(id, &keys::video(id), &keys::payload(id), &keys::output(id, "mkv"));
        jobs.create_job(&job).unwrap();
        let settings = PlanSettings {
            mode,
            ..PlanSettings::default()
        };
        run_embed(&store, &jobs, &scratch, &job, &key, &settings, &old, &NoProgress).unwrap();
        let mut extract = command(&[
            "extract",
            old.to_str().unwrap(),
            "--password-env",
            PW_VAR,
            "--json",
        ]);
        extract.env(PW_VAR, &password);
        let found = run_command(extract, None).ok().json();
        assert_eq!(
            found["message_text"].as_str(),
            Some(message.as_str()),
            "{mode:?}: {found}"
        );
        let expected_mode = if mode == OutputMode::Compact {
            "compact"
        } else {
            "lossless"
        };
        assert_eq!(found["mode"], expected_mode, "{found}");
    }
}
