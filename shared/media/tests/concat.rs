//! The whole re-encode path: decode ranges, change LSBs, encode segments,
//! `concat` with the source's audio. The output must carry exactly the
//! frames written, the source's frame count and rate, and bit-identical audio.

use crate::common::{
    audio_hashes, decode_all, ffmpeg, ffprobe, make_video, picture, reencode, reencode_joined,
    video_pts_times,
};
use vidstega_media::{
    concat, probe, ConcatOptions, MediaError, OutputContainer, PlanarFormat, SegmentCodec, X264Preset,
};

fn h264() -> SegmentCodec {
    SegmentCodec::H264Lossless {
        preset: X264Preset::Ultrafast,
    }
}

#[test]
fn two_audio_streams_ntsc_mkv_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let srt = d.join("s.srt");
    std::fs::write(&srt, "1\n00:00:00,200 --> 00:00:01,500\nhello\n\n").unwrap();
    let source = d.join("source.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &picture("192x108", "30000/1001", 3.0),
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=3:sample_rate=48000",
        "-f",
        "lavfi",
        "-i",
        "sine=f=660:d=3:sample_rate=44100",
        "-i",
        srt.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-map",
        "3",
        "-c:v",
        "libx264",
        "-bf",
        "2",
        "-g",
        "24",
        "-pix_fmt",
        "yuv420p",
        "-c:a:0",
        "aac",
        "-c:a:1",
        "libopus",
        "-c:s",
        "srt",
        "-attach",
        srt.to_str().unwrap(),
        "-metadata:s:t:0",
        "mimetype=text/plain",
        "-metadata:s:a:1",
        "language=fra",
        "-metadata:s:s:0",
        "language=eng",
        "-metadata",
        "title=Stego source",
        source.to_str().unwrap(),
    ]);
    let info = probe(&source).unwrap();
    assert_eq!(info.audio.len(), 2);

    let (segments, format, written) = reencode(&info, h264(), d, 20);
    assert!(segments.len() >= 3, "several segments: {segments:?}");
    let output = d.join("stego.mkv");
    let report = concat(&segments, &info, &output, &ConcatOptions::default()).unwrap();
    check_two_audio_streams_output(&source, &output, &report, format, &written);

    // The same in one pass: one encoder writes the finished file.
    let output = d.join("stego-one-pass.mkv");
    let (report, format, written) = reencode_joined(&info, h264(), &output, OutputContainer::Matroska);
    check_two_audio_streams_output(&source, &output, &report, format, &written);
}

fn check_two_audio_streams_output(
    source: &std::path::Path,
    output: &std::path::Path,
    report: &vidstega_media::ConcatReport,
    format: vidstega_media::RawFormat,
    written: &[u64],
) {
    let info = probe(source).unwrap();
    let (source, output) = (source.to_path_buf(), output.to_path_buf());
    assert_eq!(report.container, OutputContainer::Matroska);
    assert_eq!((report.audio_streams, report.subtitle_streams), (2, 1));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let (out, out_format, decoded) = decode_all(&output);
    assert_eq!(out_format, format);
    assert_eq!(
        decoded, written,
        "decoded output frames differ from the frames written"
    );
    assert_eq!(out.video.frame_count, info.video.frame_count);
    assert_eq!(out.video.r_frame_rate, info.video.r_frame_rate);
    assert!(
        !out.video.is_variable_frame_rate,
        "{}",
        out.video.variable_frame_rate_detail
    );
    assert_eq!(
        audio_hashes(&output),
        audio_hashes(&source),
        "audio must be copied bit-exactly"
    );
    assert_eq!(out.subtitles.len(), 1);
    let title = ffprobe(&[
        "-show_entries",
        "format_tags=title",
        "-of",
        "csv=p=0",
        output.to_str().unwrap(),
    ]);
    assert_eq!(title.trim(), "Stego source");
    // Same timeline: video and audio start and end where the source's do.
    let (src_t, out_t) = (video_pts_times(&source), video_pts_times(&output));
    assert_eq!(src_t.len(), out_t.len());
    assert!(
        src_t.iter().zip(&out_t).all(|(a, b)| (a - b).abs() < 0.0015),
        "video timestamps moved: {:?} vs {:?}",
        &src_t[..4],
        &out_t[..4]
    );
    for (a, b) in info.audio.iter().zip(&out.audio) {
        assert_eq!(
            (a.codec_name.as_str(), a.channels),
            (b.codec_name.as_str(), b.channels)
        );
    }
    assert_eq!(
        out.audio[1].language.as_deref(),
        Some("fra"),
        "stream tags are kept"
    );
    assert_eq!(out.subtitles[0].language.as_deref(), Some("eng"));
    let attachments: Vec<_> = out
        .other_streams
        .iter()
        .filter(|o| o.codec_type == "attachment")
        .collect();
    assert_eq!(
        attachments.len(),
        1,
        "MKV attachments (fonts) are kept: {:?}",
        out.other_streams
    );
}

#[test]
fn mp4_without_audio_keeps_rotation_and_exact_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = make_video(
        d,
        "plain.mp4",
        &[&picture("160x120", "30000/1001", 2.0)],
        &["-c:v", "libx264", "-bf", "3", "-g", "15", "-pix_fmt", "yuv420p"],
    );
    let source = d.join("rotated.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        source.to_str().unwrap(),
    ]);
    let info = probe(&source).unwrap();
    assert_eq!(info.video.rotation_degrees, 90);
    assert!(info.audio.is_empty());

    // B-frame segments (veryfast) start with negative decode timestamps:
    // joining them must still give even, exact timestamps.
    let veryfast = SegmentCodec::H264Lossless {
        preset: X264Preset::Veryfast,
    };
    let (segments, _, written) = reencode(&info, veryfast, d, 1);
    let output = d.join("stego.mp4");
    let report = concat(&segments, &info, &output, &ConcatOptions::default()).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let (out, _, decoded) = decode_all(&output);
    assert_eq!(decoded, written);
    assert_eq!(out.video.rotation_degrees, 90);
    assert_eq!(out.video.frame_count, info.video.frame_count);
    assert_eq!(out.video.r_frame_rate, info.video.r_frame_rate);
    assert_eq!(out.video.avg_frame_rate, info.video.avg_frame_rate);
    // MP4 keeps exact ticks: every frame is exactly 1001/30000 s apart.
    let steps: Vec<i64> = out.video.display_pts.windows(2).map(|w| w[1] - w[0]).collect();
    let tick = out.video.time_base;
    assert!(
        steps.iter().all(|&s| s * tick.num * 30000 == 1001 * tick.den),
        "uneven timestamps {steps:?} at {tick}"
    );
    assert!(audio_hashes(&output).is_empty());

    // The same source into .mkv: joined fine, with a warning that FFmpeg
    // 5.1 cannot store rotation there.
    let mkv = d.join("stego.mkv");
    let report = concat(&segments, &info, &mkv, &ConcatOptions::default()).unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("rotat")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn odd_dimensions_with_h264_and_ffv1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A 4:2:0 odd-size source (FFV1 allows it); libx264 needs 4:4:4 for it.
    let source420 = d.join("odd420.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=25:d=1.2,scale=321:241,noise=alls=12:allf=t+u",
        "-f",
        "lavfi",
        "-i",
        "sine=d=1.2",
        "-c:v",
        "ffv1",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "10",
        "-c:a",
        "flac",
        source420.to_str().unwrap(),
    ]);
    let info = probe(&source420).unwrap();
    assert_eq!((info.video.width, info.video.height), (321, 241));

    for (codec, layout, name) in [
        (h264(), PlanarFormat::Yuv444p, "h264.mkv"),
        (SegmentCodec::Ffv1, PlanarFormat::Yuv420p, "ffv1.mkv"),
    ] {
        let seg_dir = d.join(name.replace('.', "_"));
        std::fs::create_dir(&seg_dir).unwrap();
        let (segments, format, written) = reencode(&info, codec, &seg_dir, 5);
        assert_eq!(format.pixel, layout, "{codec}");
        let output = d.join(name);
        concat(&segments, &info, &output, &ConcatOptions::default()).unwrap();
        let (out, _, decoded) = decode_all(&output);
        assert_eq!((out.video.width, out.video.height), (321, 241));
        assert_eq!(decoded, written, "{codec}");
        assert_eq!(audio_hashes(&output), audio_hashes(&source420));
    }
}

#[test]
fn incompatible_outputs_are_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = make_video(
        d,
        "flac.mkv",
        &[&picture("64x48", "25", 0.4)],
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=d=0.4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "flac",
        ],
    );
    let info = probe(&source).unwrap();
    let (segments, _, _) = reencode(&info, h264(), d, 100);

    let err = concat(&segments, &info, &d.join("out.mp4"), &ConcatOptions::default()).unwrap_err();
    assert!(matches!(err, MediaError::IncompatibleContainer { .. }), "{err}");
    assert!(
        err.to_string().contains("flac") && err.to_string().contains(".mkv"),
        "{err}"
    );

    let err = concat(&segments, &info, &d.join("out.avi"), &ConcatOptions::default()).unwrap_err();
    assert!(err.to_string().contains(".mkv"), "{err}");

    let mut ffv1 = segments.clone();
    for s in &mut ffv1 {
        s.codec = SegmentCodec::Ffv1;
    }
    let options = ConcatOptions {
        container: Some(OutputContainer::Mp4),
        ..ConcatOptions::default()
    };
    let err = concat(&ffv1, &info, &d.join("out.tmp"), &options).unwrap_err();
    assert!(
        err.to_string().contains("FFV1") && err.to_string().contains(".mkv"),
        "{err}"
    );

    let err = concat(
        &segments[..0],
        &info,
        &d.join("out.mkv"),
        &ConcatOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::SegmentFrames { .. }), "{err}");

    // An explicit container lets the caller write to a temporary name.
    let options = ConcatOptions {
        container: Some(OutputContainer::Matroska),
        ..ConcatOptions::default()
    };
    let tmp = d.join(".stego.partial");
    concat(&segments, &info, &tmp, &options).unwrap();
    assert_eq!(probe(&tmp).unwrap().video.frame_count, info.video.frame_count);
}

#[test]
fn video_that_starts_after_the_audio_keeps_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let video = make_video(
        d,
        "v.mkv",
        &[&picture("64x48", "25", 1.6)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-g", "10"],
    );
    let source = d.join("late_video.mkv");
    ffmpeg(&[
        "-itsoffset",
        "0.4",
        "-i",
        video.to_str().unwrap(),
        "-f",
        "lavfi",
        "-i",
        "sine=d=2:sample_rate=48000",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        source.to_str().unwrap(),
    ]);
    let info = probe(&source).unwrap();
    let lead = info.video.start_time_seconds.unwrap() - info.start_time_seconds;
    // 0.4 s plus the AAC encoder's priming delay (audio starts below 0).
    assert!(
        (0.39..0.45).contains(&lead),
        "test source: video should start ~0.4 s late, got {lead}"
    );

    let (segments, _, _) = reencode(&info, h264(), d, 10);
    for name in ["out.mkv", "out.mp4", "one-pass.mkv", "one-pass.mp4"] {
        let output = d.join(name);
        if name.starts_with("one-pass") {
            let container = OutputContainer::from_path(&output).unwrap();
            reencode_joined(&info, h264(), &output, container);
        } else {
            concat(&segments, &info, &output, &ConcatOptions::default()).unwrap();
        }
        let out = probe(&output).unwrap();
        let out_lead = out.video.start_time_seconds.unwrap() - out.start_time_seconds;
        assert!(
            (out_lead - lead).abs() < 0.002,
            "{name}: video lead {out_lead} s, source {lead} s"
        );
        assert_eq!(audio_hashes(&output), audio_hashes(&source), "{name}");
    }
}
