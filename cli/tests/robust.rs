//! `--mode robust` from the outside: the message survives real ffmpeg
//! re-encodes and a downscale, the output is a normal H.264 High 4:2:0 MP4
//! with its audio copied bit-exact, and damage beyond the preset gives an
//! error with counts, never a wrong message.
//!
//! One stego video is made once (robust embedding encodes every frame) and
//! shared by the tests that only read it.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A robust-mode stego video, its cover and its message.
struct Fixture {
    dir: PathBuf,
    cover: PathBuf,
    stego: PathBuf,
    message: Vec<u8>,
    summary: Value,
}

/// A textured 1280x720 25 fps clip of 6 s with AAC audio, and a random
/// message of 80% of what `capacity --mode robust` says fits (so its coded
/// bits repeat only a few times: a trimmed copy cannot hold all of them).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Kept for the whole test run (the tests read it concurrently).
        let dir = tempdir().keep();
        let cover = make_video(
            &dir,
            "cover.mp4",
            &[&picture("1280x720", 25, 6.0), &tone(523, 6.0)],
            &[
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", "50", "-pix_fmt", "yuv420p",
                "-c:a", "aac",
            ],
        );
        let capacity = vidstega(&["capacity", cover.to_str().unwrap(), "--mode", "robust", "--json"])
            .ok()
            .json();
        let fits = capacity["presets"][0]["max_message_bytes"].as_u64().unwrap();
        assert_eq!(capacity["presets"][0]["robustness"], "normal");
        let message = random_bytes(fits as usize * 4 / 5, "robust fixture");
        let stego = dir.join("stego.mp4");
        let summary = embed_ok(&cover, &stego, &message, &["--mode", "robust"]);
        Fixture {
            dir,
            cover,
            stego,
            message,
            summary,
        }
    })
}

/// Deterministic bytes that do not compress.
fn random_bytes(n: usize, seed: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::with_capacity(n + 32);
    let mut block = Sha256::digest(seed.as_bytes());
    while out.len() < n {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(n);
    out
}

/// `ffmpeg -i stego <video options> -c:a copy <name>` in the fixture's folder.
fn reencode(f: &Fixture, name: &str, video: &[&str]) -> PathBuf {
    let out = f.dir.join(name);
    let mut args = vec!["-i", f.stego.to_str().unwrap()];
    args.extend_from_slice(video);
    args.extend_from_slice(&["-c:a", "copy", out.to_str().unwrap()]);
    ffmpeg(&args);
    out
}

/// Extracts with `--json` and checks the message and the mode reported.
fn assert_extracts(path: &Path, f: &Fixture) -> Value {
    let run = extract(path, &["--json", "-o", "-"]);
    run.ok();
    let summary = run.json();
    assert_eq!(summary["mode"], "robust", "{summary}");
    assert_eq!(summary["robust"]["robustness"], "normal", "{summary}");
    let got = match summary["message_base64"].as_str() {
        Some(b64) => base64_decode(b64),
        None => summary["message_text"].as_str().unwrap().as_bytes().to_vec(),
    };
    assert!(got == f.message, "{} gave another message", path.display());
    summary
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn robust_output_is_h264_high_420_mp4_with_every_frame_and_the_audio_copied_bit_exact() {
    let f = fixture();
    let s = &f.summary;
    assert_eq!(s["mode"], "robust", "{s}");
    assert_eq!(s["robustness"], "normal", "{s}");
    // The closed loop read the output back; its own raw error rate is tiny.
    let own = s["robust_read_back_error_rate"].as_f64().unwrap();
    assert!(own < 0.01, "the output reads back at {own}");
    let stream = &ffprobe_json(
        &f.stego,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,profile,pix_fmt,width,height",
        ],
    )["streams"][0];
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(stream["profile"], "High");
    assert_eq!(stream["pix_fmt"], "yuv420p");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(1280), Some(720))
    );
    let (cover, stego) = (video_facts(&f.cover), video_facts(&f.stego));
    assert_eq!(stego.frames, cover.frames);
    assert_eq!(stego.r_frame_rate, cover.r_frame_rate);
    assert_eq!(
        audio_hashes(&f.stego),
        audio_hashes(&f.cover),
        "audio copied bit-exact"
    );
    // The output itself extracts, and says it was robust mode.
    assert_extracts(&f.stego, f);
}

#[test]
fn robust_message_survives_crf_23_and_a_downscale_to_480p() {
    let f = fixture();
    let crf23 = reencode(f, "crf23.mp4", &["-c:v", "libx264", "-crf", "23"]);
    let summary = assert_extracts(&crf23, f);
    let ber = summary["robust"]["raw_bit_error_rate"].as_f64().unwrap();
    assert!(ber > 0.0, "a real re-encode leaves some raw bit errors to repair");
    let small = reencode(
        f,
        "480p.mp4",
        &["-vf", "scale=854:480", "-c:v", "libx264", "-crf", "23"],
    );
    assert_eq!(video_facts(&small).height, 480);
    assert_extracts(&small, f);
}

#[test]
fn robust_damage_beyond_repair_or_the_wrong_password_never_gives_a_message() {
    let f = fixture();
    // The first second holds headers but not enough of the coded bits:
    // located, and refused with counts.
    let trimmed = reencode(f, "first1s.mp4", &["-t", "1", "-c:v", "libx264", "-crf", "23"]);
    let run = extract(&trimmed, &[]);
    run.expect_code(5).stderr_mentions(&[
        "damaged beyond repair",
        "LDPC codewords failed",
        "coded bits received",
    ]);
    assert!(run.stdout.is_empty());
    // Far beyond what the preset survives: nothing is found.
    let tiny = reencode(
        f,
        "240p.mp4",
        &["-vf", "scale=426:240", "-c:v", "libx264", "-crf", "40"],
    );
    let run = extract(&tiny, &[]);
    run.expect_code(4).stderr_mentions(&["no hidden message found"]);
    assert!(run.stdout.is_empty());
    // The wrong password reads the same frames and finds nothing.
    let mut c = command(&["extract", f.stego.to_str().unwrap(), "--password-env", "WRONG_PW"]);
    c.env("WRONG_PW", "not the password");
    let run = run_command(c, None);
    run.expect_code(4).stderr_mentions(&["no hidden message found"]);
    assert!(run.stdout.is_empty());
}

#[test]
fn robust_capacity_reports_both_presets_and_an_over_capacity_message_says_how_much_fits() {
    let dir = tempdir();
    let cover = make_video(
        dir.path(),
        "cover.mp4",
        &[&picture("320x180", 25, 10.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    );
    let run = vidstega(&["capacity", cover.to_str().unwrap(), "--mode", "robust", "--json"]);
    let cap = run.ok().json();
    let presets = cap["presets"].as_array().unwrap();
    assert_eq!(presets.len(), 2);
    assert_eq!(
        (
            presets[0]["robustness"].as_str(),
            presets[1]["robustness"].as_str()
        ),
        (Some("normal"), Some("strong"))
    );
    let normal = presets[0]["max_message_bytes"].as_u64().unwrap();
    let strong = presets[1]["max_message_bytes"].as_u64().unwrap();
    assert!(
        normal > 2 * strong && strong > 0,
        "normal {normal}, strong {strong}"
    );
    // A message over the strong preset's room is refused before any work.
    let message = random_bytes(strong as usize + 200, "too big");
    let stego = dir.path().join("stego.mp4");
    let file = dir.path().join("m.bin");
    std::fs::write(&file, &message).unwrap();
    let mut args = embed_args(&cover, &stego, &["--mode", "robust", "--robustness", "strong"]);
    args.extend_from_slice(&["--message-file", file.to_str().unwrap()]);
    let run = vidstega(&args);
    run.expect_code(3).stderr_mentions(&[
        "carries at most",
        "robust mode",
        "strong preset",
        "bytes of message",
    ]);
    assert!(!stego.exists());
    // Robust mode embeds in luma only.
    let mut args = embed_args(&cover, &stego, &["--mode", "robust", "--planes", "all"]);
    args.extend_from_slice(&["--message-file", file.to_str().unwrap()]);
    vidstega(&args)
        .expect_code(2)
        .stderr_mentions(&["luma plane only"]);
    assert_only(dir.path(), &["cover.mp4", "m.bin"]);
}
