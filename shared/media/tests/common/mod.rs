//! Helpers shared by the media tests: hash decoded frames, run the
//! embed-side decode/encode path. Videos made with FFmpeg's lavfi sources and
//! audio packet hashes come from `vidstega-test-support`.
//!
//! Every test needs the system ffmpeg; when it is missing they fail loudly
//! instead of skipping, so a green run always means the media layer ran.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

use vidstega_media::{
    choose_raw_format, probe, verify_joined, ConcatReport, EncodeSettings, EncodedSegment, FrameReader,
    FrameWriter, MediaInfo, OutputContainer, RawFormat, SegmentCodec,
};
pub use vidstega_test_support::{audio_hashes, ffmpeg, ffprobe, make_video, picture};

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

/// The whole embed-side pipeline on `source`: decode keyframe-aligned
/// ranges, change some LSBs (like the embedder does), encode each range to
/// a segment. Returns the segments, the raw format and the hashes of the
/// frames written.
pub fn reencode(
    info: &MediaInfo,
    codec: SegmentCodec,
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
    codec: SegmentCodec,
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
