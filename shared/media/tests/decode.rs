//! `FrameReader`: decoding ranges must give exactly the frames a full decode
//! gives, whatever the GOP structure and container.

use crate::common::{decode_hashes, decode_hashes_counting, ffmpeg, hash, make_video, picture};
use vidstega_media::{choose_raw_format, probe, FrameReader, MediaError, MediaInfo, PlanarFormat, RawFormat};

/// Decodes the whole video in one reader, then GOP by GOP, then in uneven
/// ranges that do not start at keyframes, and checks all agree. Returns the
/// most positioning attempts any GOP needed.
fn assert_ranges_match_full_decode(info: &MediaInfo) -> usize {
    let format = choose_raw_format(&info.video, None).format;
    let n = info.video.frame_count;
    let full = decode_hashes(info, 0..n, format);
    assert_eq!(full.len() as u64, n);
    assert!(
        full.windows(2).all(|w| w[0] != w[1]),
        "test source must have distinct frames"
    );

    let gops = info.video.keyframe_aligned_ranges(1);
    assert!(
        gops.len() >= 4,
        "want several keyframes, got {:?}",
        info.video.keyframes
    );
    let mut joined = Vec::new();
    let mut most_attempts = 0;
    for range in &gops {
        let (hashes, attempts) = decode_hashes_counting(info, range.clone(), format);
        joined.extend(hashes);
        most_attempts = most_attempts.max(attempts);
    }
    assert_eq!(joined, full, "GOP-by-GOP decode differs from full decode");

    // Ranges starting mid-GOP are exact too (they just decode more).
    for range in [3..11, (n / 2 + 1)..(n / 2 + 9), (n - 5)..n] {
        let part = decode_hashes(info, range.clone(), format);
        assert_eq!(
            part,
            full[range.start as usize..range.end as usize],
            "range {range:?}"
        );
    }
    most_attempts
}

fn irregular_h264(dir: &std::path::Path, name: &str, gop_options: &[&str]) -> MediaInfo {
    let mut options = vec![
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-force_key_frames",
        "0,0.52,1.0,1.72,2.2,3.08",
    ];
    options.extend_from_slice(gop_options);
    let path = make_video(dir, name, &[&picture("160x120", "25", 4.0)], &options);
    probe(&path).unwrap()
}

#[test]
fn open_gop_b_frames_mp4_is_frame_exact() {
    let dir = tempfile::tempdir().unwrap();
    let info = irregular_h264(
        dir.path(),
        "open_gop.mp4",
        &["-bf", "3", "-g", "40", "-x264-params", "open_gop=1:bframes=3"],
    );
    // The test is about B-frames and open GOPs: the source must hold both.
    let types = crate::common::ffprobe(&[
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=pict_type,key_frame",
        "-of",
        "csv=p=0",
        info.path.to_str().unwrap(),
    ]);
    assert!(
        types.lines().any(|l| l.contains('B')),
        "no B-frame in the source:\n{types}"
    );
    // Open GOP: a B-frame follows (in presentation) a keyframe that is not
    // the first, referencing the GOP before it.
    assert!(types.lines().skip(1).any(|l| l.starts_with("1,I")), "{types}");
    // MP4 has an index: the first seek must land right (no slow fallback).
    assert_eq!(assert_ranges_match_full_decode(&info), 1);
}

#[test]
fn one_decoder_thread_gives_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let info = irregular_h264(
        dir.path(),
        "threads.mp4",
        &["-bf", "3", "-g", "40", "-x264-params", "open_gop=1:bframes=3"],
    );
    let format = choose_raw_format(&info.video, None).format;
    let n = info.video.frame_count;
    for range in [0..n, 3..11, (n - 5)..n] {
        let mut reader =
            FrameReader::open_with_threads(&info, range.clone(), format, std::num::NonZeroUsize::new(1))
                .unwrap();
        let mut frame = vec![0u8; format.frame_len()];
        let mut single = Vec::new();
        while let Some(index) = reader.read_frame(&mut frame).unwrap() {
            assert_eq!(index, range.start + single.len() as u64);
            single.push(hash(&frame));
        }
        assert_eq!(
            single,
            decode_hashes(&info, range.clone(), format),
            "range {range:?}"
        );
    }
}

#[test]
fn closed_gop_scenecut_mkv_is_frame_exact() {
    let dir = tempfile::tempdir().unwrap();
    let info = irregular_h264(
        dir.path(),
        "closed.mkv",
        &["-bf", "2", "-g", "40", "-keyint_min", "10", "-sc_threshold", "40"],
    );
    assert_eq!(assert_ranges_match_full_decode(&info), 1);
}

#[test]
fn mpeg_ts_seeks_fall_back_and_stay_exact() {
    // MPEG-TS has no index: ffmpeg's seek lands near, not at, the target.
    let dir = tempfile::tempdir().unwrap();
    let info = irregular_h264(
        dir.path(),
        "stream.ts",
        &["-bf", "3", "-g", "40", "-x264-params", "open_gop=1"],
    );
    let attempts = assert_ranges_match_full_decode(&info);
    println!("MPEG-TS: up to {attempts} positioning attempts per GOP");
}

#[test]
fn streams_without_timestamps_are_decoded_by_counting() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_video(
        dir.path(),
        "raw.h264",
        &[&picture("160x120", "25", 2.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "12", "-bf", "0"],
    );
    let info = probe(&path).unwrap();
    assert_ne!(info.video.timestamps, vidstega_media::TimestampSource::Pts);
    let format = choose_raw_format(&info.video, None).format;
    let n = info.video.frame_count;
    assert_eq!(n, 50);
    assert!(FrameReader::open(&info, 12..20, format)
        .unwrap()
        .counts_from_start());
    let full = decode_hashes(&info, 0..n, format);
    let mut joined = Vec::new();
    for range in info.video.keyframe_aligned_ranges(1) {
        joined.extend(decode_hashes(&info, range, format));
    }
    assert_eq!(joined, full);
}

#[test]
fn full_range_source_is_not_squeezed() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_video(
        dir.path(),
        "jpeg_range.mp4",
        &[&picture("160x120", "25", 0.4)],
        &["-c:v", "libx264", "-pix_fmt", "yuvj420p"],
    );
    let info = probe(&path).unwrap();
    let format = choose_raw_format(&info.video, None).format;
    assert_eq!(format.pixel, PlanarFormat::Yuv420p);
    assert!(format.full_range);
    // Our frames equal ffmpeg's own full-range decode.
    let raw = dir.path().join("ref.yuv");
    ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuvj420p",
        raw.to_str().unwrap(),
    ]);
    let reference = std::fs::read(&raw).unwrap();
    let ours = decode_hashes(&info, 0..info.video.frame_count, format);
    let theirs: Vec<u64> = reference.chunks(format.frame_len()).map(hash).collect();
    assert_eq!(ours, theirs);
}

#[test]
fn ten_bit_source_is_converted_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_video(
        dir.path(),
        "ten.mkv",
        &[&picture("160x120", "25", 0.4)],
        &["-c:v", "ffv1", "-pix_fmt", "yuv422p10le"],
    );
    let info = probe(&path).unwrap();
    let choice = choose_raw_format(&info.video, None);
    assert_eq!(choice.format.pixel, PlanarFormat::Yuv422p);
    assert_eq!(choice.warnings.len(), 1, "{:?}", choice.warnings);
    assert!(choice.warnings[0].contains("yuv422p10le"));
    let hashes = decode_hashes(&info, 0..info.video.frame_count, choice.format);
    assert_eq!(hashes.len(), 10);
}

#[test]
fn rejects_bad_ranges_and_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_video(
        dir.path(),
        "small.mkv",
        &[&picture("160x120", "25", 0.4)],
        &["-c:v", "libx264", "-preset", "ultrafast"],
    );
    let info = probe(&path).unwrap();
    let format = RawFormat::new(160, 120, PlanarFormat::Yuv420p);
    let err = FrameReader::open(&info, 5..11, format).unwrap_err();
    assert!(
        matches!(err, MediaError::InvalidRange { frame_count: 10, .. }),
        "{err}"
    );

    let mut reader = FrameReader::open(&info, 0..2, format).unwrap();
    let mut small = vec![0u8; 10];
    let err = reader.read_frame(&mut small).unwrap_err();
    assert!(matches!(err, MediaError::FrameSize { .. }), "{err}");

    // An empty range yields nothing, without starting ffmpeg.
    let mut empty = FrameReader::open(&info, 4..4, format).unwrap();
    let mut frame = vec![0u8; format.frame_len()];
    assert_eq!(empty.read_frame(&mut frame).unwrap(), None);

    // Dropping a reader part-way stops ffmpeg cleanly.
    let mut partial = FrameReader::open(&info, 0..10, format).unwrap();
    assert_eq!(partial.read_frame(&mut frame).unwrap(), Some(0));
    drop(partial);
}

#[test]
fn video_that_is_not_the_first_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audio_first.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=d=2",
        "-f",
        "lavfi",
        "-i",
        &picture("96x64", "25", 2.0),
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:a",
        "aac",
        "-c:v",
        "libx264",
        "-g",
        "10",
        "-bf",
        "2",
        path.to_str().unwrap(),
    ]);
    let info = probe(&path).unwrap();
    assert_eq!(info.video.index, 1);
    assert_eq!(info.audio[0].index, 0);
    assert_eq!(assert_ranges_match_full_decode(&info), 1);
}
