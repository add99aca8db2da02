//! Helpers shared by the integration tests: make small videos with FFmpeg's
//! lavfi sources, hash frames and audio packets.
//!
//! Every test needs the system ffmpeg; when it is missing they fail loudly
//! instead of skipping, so a green run always means the media layer ran.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use vidstega_media::{
    choose_raw_format, probe, verify_joined, ConcatReport, EncodeSettings, EncodedSegment, FrameReader,
    FrameWriter, LosslessCodec, MediaInfo, OutputContainer, RawFormat,
};

/// Runs the system ffmpeg quietly; panics with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    run(
        "ffmpeg",
        &["-hide_banner", "-nostdin", "-loglevel", "error", "-y"],
        args,
    );
}

/// Runs the system ffprobe; returns stdout.
pub fn ffprobe(args: &[&str]) -> String {
    run("ffprobe", &["-v", "error"], args)
}

fn run(tool: &str, pre: &[&str], args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(pre)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "these tests need {tool} on PATH ({e}); install FFmpeg: `sudo apt-get install ffmpeg` \
             (Debian/Ubuntu) or `brew install ffmpeg` (macOS)"
            )
        });
    assert!(
        out.status.success(),
        "{tool} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A noisy moving test picture: `testsrc2` plus temporal noise, so every
/// frame differs and LSBs are busy like real footage.
pub fn picture(size: &str, rate: &str, seconds: f64) -> String {
    format!("testsrc2=s={size}:r={rate}:d={seconds},noise=alls=12:allf=t+u")
}

/// Writes a video from a lavfi `source` with extra output `options`.
pub fn make_video(dir: &Path, name: &str, source: &str, options: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["-f", "lavfi", "-i", source];
    args.extend_from_slice(options);
    let p = path.to_str().unwrap().to_string();
    args.push(&p);
    ffmpeg(&args);
    path
}

/// Hash of one frame.
pub fn hash(frame: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    frame.hash(&mut h);
    h.finish()
}

/// Decodes `range` with one reader and returns the frame hashes.
pub fn decode_hashes(info: &MediaInfo, range: std::ops::Range<u64>, format: RawFormat) -> Vec<u64> {
    decode_hashes_counting(info, range, format).0
}

/// Like [`decode_hashes`], also returning how many positioning attempts the
/// reader needed.
pub fn decode_hashes_counting(
    info: &MediaInfo,
    range: std::ops::Range<u64>,
    format: RawFormat,
) -> (Vec<u64>, usize) {
    let mut reader = FrameReader::open(info, range.clone(), format).expect("open reader");
    let mut frame = vec![0u8; format.frame_len()];
    let mut hashes = Vec::new();
    let mut expected_index = range.start;
    while let Some(index) = reader.read_frame(&mut frame).expect("read frame") {
        assert_eq!(index, expected_index);
        expected_index += 1;
        hashes.push(hash(&frame));
    }
    (hashes, reader.positioning_attempts())
}

/// Decodes a whole file in its chosen native format.
pub fn decode_all(path: &Path) -> (MediaInfo, RawFormat, Vec<u64>) {
    let info = probe(path).expect("probe");
    let format = choose_raw_format(&info.video, None).format;
    let hashes = decode_hashes(&info, 0..info.video.frame_count, format);
    (info, format, hashes)
}

/// MD5 of each audio stream's packets, copied (never decoded).
pub fn audio_hashes(path: &Path) -> Vec<String> {
    let count = ffprobe(&[
        "-select_streams",
        "a",
        "-show_entries",
        "stream=index",
        "-of",
        "csv=p=0",
        path.to_str().unwrap(),
    ])
    .lines()
    .filter(|l| !l.trim().is_empty())
    .count();
    (0..count)
        .map(|n| {
            let map = format!("0:a:{n}");
            let out = Command::new("ffmpeg")
                .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
                .arg(path)
                .args(["-map", &map, "-c", "copy", "-f", "md5", "-"])
                .output()
                .expect("ffmpeg");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect()
}

/// The whole embed-side pipeline on `source`: decode keyframe-aligned
/// ranges, change some LSBs (like the embedder does), encode each range to
/// a segment. Returns the segments, the raw format and the hashes of the
/// frames written.
pub fn reencode(
    info: &MediaInfo,
    codec: LosslessCodec,
    dir: &Path,
    min_frames: u64,
) -> (Vec<EncodedSegment>, RawFormat, Vec<u64>) {
    let choice = choose_raw_format(&info.video, Some(&codec));
    let format = choice.format;
    let settings = EncodeSettings::for_source(&info.video, codec);
    let mut frame = vec![0u8; format.frame_len()];
    let mut segments = Vec::new();
    let mut hashes = Vec::new();
    for (n, range) in info
        .video
        .keyframe_aligned_ranges(min_frames)
        .into_iter()
        .enumerate()
    {
        let mut reader = FrameReader::open(info, range, format).expect("open reader");
        let path = dir.join(format!("seg{n:04}.nut"));
        let mut writer = FrameWriter::create(&path, format, &settings).expect("start encoder");
        while let Some(index) = reader.read_frame(&mut frame).expect("read") {
            for (i, byte) in frame.iter_mut().enumerate().skip(index as usize % 7).step_by(97) {
                *byte ^= (i & 1) as u8 | 1;
            }
            hashes.push(hash(&frame));
            writer.write_frame(&frame).expect("write");
        }
        segments.push(writer.finish().expect("finish segment"));
    }
    (segments, format, hashes)
}

/// Like [`reencode`], but the whole video goes through one encoder that
/// writes the finished `output` (`container`) with the source's other
/// streams, as [`FrameWriter::create_joined`] does. Returns the report, the
/// raw format and the hashes of the frames written.
pub fn reencode_joined(
    info: &MediaInfo,
    codec: LosslessCodec,
    output: &Path,
    container: OutputContainer,
) -> (ConcatReport, RawFormat, Vec<u64>) {
    let format = choose_raw_format(&info.video, Some(&codec)).format;
    let settings = EncodeSettings::for_source(&info.video, codec);
    let mut frame = vec![0u8; format.frame_len()];
    let mut hashes = Vec::new();
    let mut reader = FrameReader::open(info, 0..info.video.frame_count, format).expect("open reader");
    let (mut writer, report) =
        FrameWriter::create_joined(output, format, &settings, info, container).expect("start encoder");
    while let Some(index) = reader.read_frame(&mut frame).expect("read") {
        for (i, byte) in frame.iter_mut().enumerate().skip(index as usize % 7).step_by(97) {
            *byte ^= (i & 1) as u8 | 1;
        }
        hashes.push(hash(&frame));
        writer.write_frame(&frame).expect("write");
    }
    let segment = writer.finish().expect("finish");
    verify_joined(output, info, &segment.codec, segment.frame_rate, &report).expect("verify");
    (report, format, hashes)
}

/// Display-order presentation times of the video, from ffprobe.
pub fn video_pts_times(path: &Path) -> Vec<f64> {
    let mut t: Vec<f64> = ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time",
        "-of",
        "csv=p=0",
        path.to_str().unwrap(),
    ])
    .lines()
    .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
    .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t
}
