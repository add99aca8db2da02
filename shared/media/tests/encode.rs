//! `FrameWriter`: frames written then decoded back must be byte-identical.

use crate::common::hash;
use vidstega_media::{
    choose_raw_format, probe, EncodeSettings, FrameReader, FrameWriter, MediaError, PlanarFormat, Rational,
    RawFormat, SegmentCodec, X264Preset,
};

/// Pseudo-random frames (xorshift): worst case for the encoder, and every
/// byte value including those outside "limited range" appears.
fn random_frames(format: RawFormat, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut state = seed | 1;
    (0..count)
        .map(|_| {
            (0..format.frame_len())
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect()
        })
        .collect()
}

fn settings(codec: SegmentCodec) -> EncodeSettings {
    EncodeSettings {
        codec,
        frame_rate: Rational::new(30000, 1001),
        color: Default::default(),
        sample_aspect_ratio: None,
    }
}

/// Frames of one noisy texture sliding right by 2 samples (1 in subsampled
/// chroma) per frame: motion an encoder could predict from both sides.
fn sliding_frames(format: RawFormat, count: usize) -> Vec<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    let dims = format.plane_dims();
    // One texture per plane, wide enough for every shift.
    let textures: Vec<(usize, Vec<u8>)> = dims
        .iter()
        .map(|&(w, h)| {
            let wide = w + 2 * count;
            let t: Vec<u8> = (0..wide * h).map(|_| 64 + noise() / 2).collect();
            (wide, t)
        })
        .collect();
    (0..count)
        .map(|i| {
            let mut frame = Vec::with_capacity(format.frame_len());
            for (&(w, h), (wide, t)) in dims.iter().zip(&textures) {
                let shift = if w == format.width as usize { 2 * i } else { i };
                for y in 0..h {
                    let row = y * wide + (2 * count - shift);
                    frame.extend_from_slice(&t[row..row + w]);
                }
            }
            frame
        })
        .collect()
}

/// The picture types (`I`, `P`, `B`) of a file's video frames, in
/// presentation order.
fn picture_types(path: &std::path::Path) -> String {
    crate::common::ffprobe(&[
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=pict_type",
        "-of",
        "csv=p=0",
        path.to_str().unwrap(),
    ])
    .split(|c: char| c.is_whitespace() || c == ',')
    .collect()
}

fn round_trip(codec: SegmentCodec, format: RawFormat) {
    let frames = random_frames(format, 6, 0x5eed ^ format.frame_len() as u64);
    round_trip_frames(codec, format, &frames);
}

/// Writes `frames`, checks that they decode back byte for byte, and
/// returns the picture types the encoder chose.
fn round_trip_frames(codec: SegmentCodec, format: RawFormat, frames: &[Vec<u8>]) -> String {
    let count = frames.len() as u64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seg.nut");
    let mut writer = FrameWriter::create(&path, format, &settings(codec)).unwrap();
    for f in frames {
        writer.write_frame(f).unwrap();
    }
    let segment = writer.finish().unwrap();
    assert_eq!(segment.frames, count);

    let info = probe(&path).unwrap();
    assert_eq!(info.video.codec_name, codec.ffprobe_codec_name());
    assert_eq!(info.video.frame_count, count);
    assert_eq!(info.video.frame_rate(), Rational::new(30000, 1001));
    // Read back in the layout the file reports: it must be the one written.
    let read_format = choose_raw_format(&info.video, None);
    assert!(read_format.warnings.is_empty(), "{:?}", read_format.warnings);
    assert_eq!(read_format.format, format, "{codec} stored a different layout");
    let mut reader = FrameReader::open(&info, 0..count, format).unwrap();
    let mut buf = vec![0u8; format.frame_len()];
    let mut i = 0;
    while let Some(index) = reader.read_frame(&mut buf).unwrap() {
        assert_eq!(
            hash(&buf),
            hash(&frames[index as usize]),
            "{codec} {format}: frame {index} changed"
        );
        i += 1;
    }
    assert_eq!(i, count);
    picture_types(&path)
}

fn h264() -> SegmentCodec {
    SegmentCodec::H264Lossless {
        preset: X264Preset::Ultrafast,
    }
}

#[test]
fn h264_is_bit_exact_in_each_layout() {
    round_trip(h264(), RawFormat::new(160, 120, PlanarFormat::Yuv420p));
    round_trip(h264(), RawFormat::new(160, 121, PlanarFormat::Yuv422p));
    round_trip(h264(), RawFormat::new(161, 121, PlanarFormat::Yuv444p));
    let mut full = RawFormat::new(160, 120, PlanarFormat::Yuv420p);
    full.full_range = true;
    round_trip(h264(), full);
}

/// The writer's lossless H.264 never holds B-frames, whatever the preset:
/// x264 at `-qp 0` codes none even with `bframes=3` and motion it could
/// predict from both sides (measured with FFmpeg 5.1's libx264 for every
/// `b-adapt`). Segments therefore decode in presentation order; reading
/// B-frame *sources* exactly is tested in `decode.rs`.
#[test]
fn lossless_h264_with_motion_is_bit_exact_and_holds_no_b_frames() {
    let format = RawFormat::new(160, 120, PlanarFormat::Yuv420p);
    let types = round_trip_frames(
        SegmentCodec::H264Lossless {
            preset: X264Preset::Veryfast,
        },
        format,
        &sliding_frames(format, 16),
    );
    assert!(
        types.starts_with('I') && types[1..].chars().all(|t| t == 'P'),
        "{types}"
    );
}

#[test]
fn ffv1_is_bit_exact_in_each_layout_and_odd_sizes() {
    round_trip(
        SegmentCodec::Ffv1,
        RawFormat::new(321, 241, PlanarFormat::Yuv420p),
    );
    round_trip(
        SegmentCodec::Ffv1,
        RawFormat::new(321, 241, PlanarFormat::Yuv422p),
    );
    round_trip(
        SegmentCodec::Ffv1,
        RawFormat::new(161, 119, PlanarFormat::Yuv444p),
    );
    round_trip(SegmentCodec::Ffv1, RawFormat::new(161, 119, PlanarFormat::Gray));
}

#[test]
fn h264_odd_420_is_refused_and_the_policy_avoids_it() {
    let dir = tempfile::tempdir().unwrap();
    let odd = RawFormat::new(321, 241, PlanarFormat::Yuv420p);
    let err = FrameWriter::create(&dir.path().join("x.nut"), odd, &settings(h264())).unwrap_err();
    assert!(matches!(err, MediaError::UnsupportedFrameFormat { .. }), "{err}");
    assert!(err.to_string().contains("yuv444p"), "{err}");

    let src = crate::common::make_video(
        dir.path(),
        "odd.mkv",
        &["testsrc2=s=320x240:d=0.2,scale=321:241"],
        &["-c:v", "ffv1", "-pix_fmt", "yuv420p"],
    );
    let info = probe(&src).unwrap();
    assert_eq!((info.video.width, info.video.height), (321, 241));
    let choice = choose_raw_format(&info.video, Some(&h264()));
    assert_eq!(choice.format.pixel, PlanarFormat::Yuv444p);
    assert!(
        choice.warnings.iter().any(|w| w.contains("odd size")),
        "{:?}",
        choice.warnings
    );
    let choice = choose_raw_format(&info.video, Some(&SegmentCodec::Ffv1));
    assert_eq!(choice.format.pixel, PlanarFormat::Yuv420p);
    assert!(choice.warnings.is_empty());
}

#[test]
fn encoder_failure_reports_ffmpeg_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist: ffmpeg cannot open the output.
    let path = dir.path().join("missing-dir").join("seg.nut");
    let format = RawFormat::new(16, 16, PlanarFormat::Yuv420p);
    let frame = vec![0u8; format.frame_len()];
    let result = FrameWriter::create(&path, format, &settings(h264())).and_then(|mut w| {
        for _ in 0..50 {
            w.write_frame(&frame)?;
        }
        w.finish()
    });
    let err = result.unwrap_err();
    assert!(matches!(err, MediaError::ProcessFailed { .. }), "{err}");
    assert!(err.to_string().contains("No such file or directory"), "{err}");
}
