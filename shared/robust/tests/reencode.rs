//! Round trips through the real ffmpeg: clips generated with lavfi, the stego
//! encoded with libx264 as robust mode writes it, then re-encoded, rescaled,
//! trimmed and re-timed the way sharing a video does, and read back from the
//! decoded frames with only the password.
//!
//! The clips are 640×360 so that the tests stay quick in the dev profile. The
//! presets are tuned for 1080p, where their cells are ~32 (`normal`) and ~42
//! (`strong`) pixels tall; at 360p the same fractions give 11–14 pixel cells,
//! which x264 blurs away. Most tests therefore use [`small_frame_params`]: the
//! `normal` preset with fewer, larger cells (26 pixels here), one header copy
//! and a half-second hold, so that an 8-second clip holds a message. The
//! channels are the 1080p ones scaled to the clip: 2/3 (1080p → 720p) and 1/2.

use crate::support::{decode, embed, encode, extract, generate, psnr_y, reencode, sealed, work_dir, Content};
use vidstega_core::PlacementKey;
use vidstega_robust::{capacity, envelope_len, Preset, RobustError, RobustParams};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const FPS: u32 = 15;
const SECONDS: u32 = 8;
const PASSWORD: &[u8] = b"correct horse battery staple";

/// `normal` with cells sized for a 360p clip (see the module docs).
fn small_frame_params() -> RobustParams {
    RobustParams {
        rows: 14,
        step: 5.0,
        hold_seconds: 0.5,
        header_copies: 1,
        ..Preset::Normal.params()
    }
}

/// Embeds `message` into a fresh clip of `content` and writes the stego as
/// libx264 CRF 18; returns the stego's path. Checks the embedding's PSNR-Y.
fn stego_file(test: &str, content: Content, message: &[u8], params: &RobustParams) -> std::path::PathBuf {
    let dir = work_dir(test);
    let cover = generate(content, WIDTH, HEIGHT, FPS, SECONDS);
    let mut stego = generate(content, WIDTH, HEIGHT, FPS, SECONDS);
    embed(
        &mut stego,
        &sealed(message, PASSWORD),
        &PlacementKey::derive(PASSWORD),
        params,
    );
    let quality = psnr_y(&cover, &stego);
    assert!(
        quality > 42.0,
        "embedding alone costs too much: PSNR-Y {quality:.1} dB"
    );
    let path = dir.join("stego.mp4");
    encode(&stego, 18, &path);
    path
}

/// Re-encodes the stego through `channel`, decodes it and extracts with the
/// password, searching `params` only.
fn through(
    stego: &std::path::Path,
    channel: &[&str],
    params: &RobustParams,
) -> vidstega_robust::Result<Vec<u8>> {
    through_searching(stego, channel, vec![params.clone()])
}

/// Like [`through`], searching every parameter set of `candidates`.
fn through_searching(
    stego: &std::path::Path,
    channel: &[&str],
    candidates: Vec<RobustParams>,
) -> vidstega_robust::Result<Vec<u8>> {
    let received = stego.with_file_name("received.mp4");
    reencode(stego, channel, &received);
    let clip = decode(&received);
    extract(&clip, &PlacementKey::derive(PASSWORD), candidates)?.open(PASSWORD)
}

#[test]
fn survives_libx264_crf23_reencode() {
    let params = small_frame_params();
    let message = b"through a CRF 23 re-encode";
    let stego = stego_file("crf23", Content::NoisyPattern, message, &params);
    // Searched alongside `strong`, whose larger step (7) gives every frame a
    // higher keyless coherence: the search must still try these parameters.
    let candidates = vec![params.clone(), Preset::Strong.params()];
    let got = through_searching(&stego, &["-c:v", "libx264", "-crf", "23"], candidates).unwrap();
    assert_eq!(got, message);
}

#[test]
fn survives_downscale_to_two_thirds_at_crf23() {
    let params = small_frame_params();
    let message = b"1080p to 720p, scaled to the clip";
    let stego = stego_file("two-thirds", Content::NoisyMandelbrot, message, &params);
    let channel = ["-vf", "scale=-2:240", "-c:v", "libx264", "-crf", "23"];
    assert_eq!(through(&stego, &channel, &params).unwrap(), message);
}

#[test]
fn survives_downscale_to_half_at_crf23() {
    let params = small_frame_params();
    let message = b"down to half the height";
    let stego = stego_file("half", Content::NoisyPattern, message, &params);
    let channel = ["-vf", "scale=-2:180", "-c:v", "libx264", "-crf", "23"];
    assert_eq!(through(&stego, &channel, &params).unwrap(), message);
}

#[test]
fn found_after_trimming_and_a_frame_rate_change() {
    let params = small_frame_params();
    let message = b"cut and re-timed";
    let stego = stego_file("trim-fps", Content::NoisyMandelbrot, message, &params);
    let received = stego.with_file_name("received.mp4");
    // The first 1.3 s dropped (not a whole number of hold periods), 15 → 12 fps.
    reencode(
        &stego,
        &["-ss", "1.3", "-vf", "fps=12", "-c:v", "libx264", "-crf", "23"],
        &received,
    );
    let clip = decode(&received);
    assert_eq!(clip.fps, 12.0);
    let found = extract(&clip, &PlacementKey::derive(PASSWORD), vec![params]).unwrap();
    let offset = found.report.offset_seconds;
    assert!((offset - 1.3).abs() < 0.1, "located at {offset:.3} s, not 1.3 s");
    assert_eq!(found.open(PASSWORD).unwrap(), message);
}

#[test]
fn strong_preset_is_found_without_being_named() {
    // The real `strong` preset on the clip: a plain CRF 18 encode, then an
    // extractor that tries every preset, as `vidstega extract` does.
    let params = Preset::Strong.params();
    let message = b"which preset was it?";
    let stego = stego_file("strong", Content::NoisyPattern, message, &params);
    let clip = decode(&stego);
    let all = Preset::ALL.iter().map(|p| p.params()).collect();
    let found = extract(&clip, &PlacementKey::derive(PASSWORD), all).unwrap();
    assert_eq!(found.report.preset, Preset::Strong);
    assert_eq!(found.report.failed_codewords, 0);
    assert_eq!(found.open(PASSWORD).unwrap(), message);
}

#[test]
fn wrong_password_finds_nothing() {
    let params = small_frame_params();
    let stego = stego_file("wrong-password", Content::NoisyPattern, b"not for you", &params);
    let clip = decode(&stego);
    let err = extract(&clip, &PlacementKey::derive(b"a guess"), vec![params]).unwrap_err();
    match err {
        RobustError::NotFound { frames, windows } => {
            assert_eq!(frames, (FPS * SECONDS) as u64);
            assert!(windows >= 15, "{windows} windows examined");
        }
        other => panic!("expected NotFound, got {other}"),
    }
}

#[test]
fn a_cut_video_is_damaged_beyond_repair_with_counts() {
    // A message filling the clip's capacity spreads one copy of its coded
    // bits over every period; keeping 2 of 8 seconds loses most of them
    // (with 3 seconds, 56% of the coded bits, the rate-1/2 code still decodes).
    let params = small_frame_params();
    let cap = capacity(WIDTH, HEIGHT, (FPS * SECONDS) as u64, FPS as f64, &params);
    let len = cap.message_bytes as usize;
    assert!(envelope_len(len as u64) <= cap.payload_bytes && len > 0);
    let message: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    let stego = stego_file("cut", Content::NoisyMandelbrot, &message, &params);
    let err = through(&stego, &["-t", "2", "-c:v", "libx264", "-crf", "23"], &params).unwrap_err();
    match &err {
        RobustError::Damaged {
            failed_codewords,
            codewords,
            coverage,
            periods_read,
            periods_per_copy,
            ..
        } => {
            assert!(*failed_codewords >= 1 && failed_codewords <= codewords, "{err}");
            assert!(*coverage < 45.0, "{err}");
            assert_eq!(*periods_read, 4, "{err}");
            assert!(*periods_per_copy > *periods_read, "{err}");
        }
        other => panic!("expected Damaged, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("damaged beyond repair") && text.contains("LDPC codewords failed"),
        "{text}"
    );
}

#[test]
fn far_beyond_the_preset_never_returns_a_message() {
    // 1080p → 240p at CRF 40, scaled to the clip: a quarter of the height.
    let params = small_frame_params();
    let stego = stego_file("far-beyond", Content::NoisyPattern, b"lost in the noise", &params);
    let channel = ["-vf", "scale=-2:90", "-c:v", "libx264", "-crf", "40"];
    match through(&stego, &channel, &params) {
        Err(RobustError::NotFound { frames, .. }) => assert_eq!(frames, (FPS * SECONDS) as u64),
        Err(RobustError::Damaged { codewords, .. }) => assert!(codewords >= 1),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(message) => panic!(
            "a {}-byte message came back from a 160x90 CRF 40 copy",
            message.len()
        ),
    }
}
