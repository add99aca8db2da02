//! End-to-end tests of the `vidstega` command-line tool: the built binary is
//! run on videos made with FFmpeg's lavfi sources, and everything it promises
//! is checked from the outside (round trips, audio copied bit-exact, pixels
//! changed only by ±1 in the luma plane, resume after a kill, one exit code
//! per kind of failure, nothing left behind on failure).
//!
//! Needs FFmpeg 5.1+ on PATH; fails (never skips) without it.

mod common;

use common::*;
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

/// Starts an embed, SIGKILLs it once the job table records a finished
/// segment (its file is placed before its row is committed, so a file alone
/// is not yet a resumable segment) and checks that no output appeared.
fn embed_and_kill(args: &[&str], dir: &Path, output_name: &str) {
    use vidstega_pipeline::JobStore;
    let work = dir.join(format!(".{output_name}.vidstega"));
    let mut child = command(args).spawn().expect("start vidstega");
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
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "embed ended ({status}) before a segment was finished: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no segment finished after 120 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
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
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
    for mode in ["lossless", "compact"] {
        let run = vidstega(&embed_args(&cut, &stego, &["--message", "hi", "--mode", mode]));
        assert_rejected(
            &run,
            3,
            &["cut.mp4", "truncated"],
            dir.path(),
            &["cut.mp4", "faststart.mp4", "full.mp4", "half.mp4"],
        );
    }
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
