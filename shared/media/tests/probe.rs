//! `probe` and `ensure_tools` against real files made with FFmpeg.

use crate::common::{ffmpeg, make_video, picture};
use vidstega_media::{ensure_tools, probe, MediaError, Rational, TimestampSource};

#[test]
fn tools_are_found_and_recent() {
    let tools = ensure_tools().expect("ffmpeg and ffprobe must be installed for these tests");
    assert!(tools.ffmpeg_path.ends_with("ffmpeg"), "{tools:?}");
    assert!(tools.has_libx264 && tools.has_ffv1, "{tools:?}");
    assert!(!tools.ffmpeg_version.is_empty() && !tools.ffprobe_version.is_empty());
}

#[test]
fn probes_streams_exact_frame_count_and_keyframes() {
    let dir = tempfile::tempdir().unwrap();
    let srt = dir.path().join("s.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n").unwrap();
    let path = dir.path().join("in.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &picture("160x120", "25", 4.0),
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=4:sample_rate=48000",
        "-f",
        "lavfi",
        "-i",
        "sine=f=880:d=4:sample_rate=44100",
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
        "3",
        "-g",
        "40",
        "-force_key_frames",
        "0,0.52,1.0,1.72,2.2,3.08",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac:a:0",
        "2",
        "-c:s",
        "mov_text",
        "-metadata",
        "title=probe test",
        path.to_str().unwrap(),
    ]);
    let info = probe(&path).unwrap();
    assert!(info.format_name.contains("mp4"), "{}", info.format_name);
    assert_eq!(info.size_bytes, std::fs::metadata(&path).unwrap().len());
    assert!((info.duration_seconds.unwrap() - 4.0).abs() < 0.1);
    let v = &info.video;
    assert_eq!(
        (v.index, v.codec_name.as_str(), v.width, v.height),
        (0, "h264", 160, 120)
    );
    assert_eq!(v.pix_fmt.as_deref(), Some("yuv420p"));
    assert_eq!(v.r_frame_rate, Rational::new(25, 1));
    assert_eq!(v.avg_frame_rate, Rational::new(25, 1));
    assert_eq!(v.frame_count, 100);
    assert_eq!(v.keyframes, vec![0, 13, 25, 43, 55, 77]);
    assert_eq!(v.display_pts.len(), 100);
    assert!(
        v.display_pts.windows(2).all(|w| w[0] < w[1]),
        "display order is sorted"
    );
    assert_eq!(v.timestamps, TimestampSource::Pts);
    assert!(!v.is_variable_frame_rate, "{}", v.variable_frame_rate_detail);
    assert_eq!(v.rotation_degrees, 0);
    assert!((v.pts_seconds(25).unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(info.audio.len(), 2);
    assert_eq!(
        (info.audio[0].channels, info.audio[0].sample_rate),
        (Some(2), Some(48000))
    );
    assert_eq!(
        (info.audio[1].channels, info.audio[1].sample_rate),
        (Some(1), Some(44100))
    );
    assert!(info.audio.iter().all(|a| a.codec_name == "aac"));
    assert_eq!(info.subtitles.len(), 1);
    assert_eq!(info.subtitles[0].codec_name, "mov_text");
    info.require_constant_frame_rate().unwrap();
}

#[test]
fn matroska_ntsc_rate_is_exact_and_constant() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_video(
        dir.path(),
        "ntsc.mkv",
        &[&picture("160x120", "30000/1001", 2.0)],
        &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    );
    let info = probe(&path).unwrap();
    assert_eq!(
        info.video.time_base,
        Rational::new(1, 1000),
        "Matroska rounds to milliseconds"
    );
    assert_eq!(info.video.r_frame_rate, Rational::new(30000, 1001));
    assert_eq!(info.video.frame_rate(), Rational::new(30000, 1001));
    assert_eq!(info.video.frame_count, 60);
    assert!(
        !info.video.is_variable_frame_rate,
        "{}",
        info.video.variable_frame_rate_detail
    );
}

#[test]
fn detects_variable_frame_rate_and_suggests_conversion() {
    let dir = tempfile::tempdir().unwrap();
    // Drop every third frame but keep the timestamps: gaps of 1 and 2 frames.
    let path = make_video(
        dir.path(),
        "vfr.mp4",
        &[&picture("160x120", "30", 2.0)],
        &[
            "-vf",
            "select='not(eq(mod(n,3),0))'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let info = probe(&path).unwrap();
    assert!(info.video.is_variable_frame_rate);
    let err = info.require_constant_frame_rate().unwrap_err();
    assert!(matches!(err, MediaError::VariableFrameRate { .. }));
    let msg = err.to_string();
    assert!(msg.contains("-fps_mode cfr"), "{msg}");
}

#[test]
fn reads_rotation_from_display_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let plain = make_video(
        dir.path(),
        "plain.mp4",
        &[&picture("160x120", "25", 0.4)],
        &["-c:v", "libx264", "-preset", "ultrafast"],
    );
    for (tag, expected) in [("90", 90), ("270", 270), ("180", 180)] {
        let rotated = dir.path().join(format!("rot{tag}.mp4"));
        ffmpeg(&[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &format!("rotate={tag}"),
            rotated.to_str().unwrap(),
        ]);
        assert_eq!(
            probe(&rotated).unwrap().video.rotation_degrees,
            expected,
            "rotate={tag}"
        );
    }
}

#[test]
fn clear_errors_for_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let missing = probe(&d.join("nope.mp4")).unwrap_err();
    assert!(matches!(missing, MediaError::Io { .. }), "{missing}");

    let empty = d.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(probe(&empty).unwrap_err(), MediaError::EmptyFile { .. }));

    let text = d.join("notes.mp4");
    std::fs::write(&text, b"these are not the frames you are looking for\n").unwrap();
    let err = probe(&text).unwrap_err();
    assert!(matches!(err, MediaError::NotMedia { .. }), "{err}");
    assert!(err.to_string().contains("ffprobe said"), "{err}");

    let audio = make_video(d, "audio.m4a", &["sine=d=1"], &["-c:a", "aac"]);
    let err = probe(&audio).unwrap_err();
    assert!(matches!(err, MediaError::NoVideoStream { .. }), "{err}");
    assert!(err.to_string().contains("audio aac"), "{err}");

    // Truncated files: MP4 with its index at the end, MP4 with the index
    // first (faststart), Matroska.
    let src = picture("160x120", "25", 2.0);
    for (name, extra) in [
        ("t.mp4", vec![]),
        ("tf.mp4", vec!["-movflags", "+faststart"]),
        ("t.mkv", vec![]),
    ] {
        let mut opts = vec!["-c:v", "libx264", "-preset", "ultrafast"];
        opts.extend(extra);
        let full = make_video(d, name, &[&src], &opts);
        let bytes = std::fs::read(&full).unwrap();
        let cut = d.join(format!("cut_{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = probe(&cut).unwrap_err();
        assert!(matches!(err, MediaError::Truncated { .. }), "{name}: {err}");
    }
}

#[test]
fn a_url_that_cannot_be_read_is_a_network_failure_not_a_bad_video() {
    // A port nothing listens on: the connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/token/video.mp4");
    match probe(std::path::Path::new(&url)) {
        Err(MediaError::Unreachable {
            transient, detail, ..
        }) => {
            assert!(transient, "a refused connection is worth another try");
            assert!(detail.contains("refused"), "{detail}");
        }
        other => panic!("expected a network failure, got {other:?}"),
    }
    // A server that answers 503 (the S3 adapter's loopback server does when
    // S3 fails): ffmpeg retries, then reports the 5xx.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let answers = std::thread::spawn(move || {
        use std::io::{Read, Write};
        server.set_nonblocking(false).unwrap();
        // ffprobe retries a 5xx a few times; answer every try.
        for stream in server.incoming().take(8) {
            let Ok(mut stream) = stream else { break };
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let url = format!("http://{addr}/token/video.mp4");
    match probe(std::path::Path::new(&url)) {
        Err(MediaError::Unreachable {
            transient, detail, ..
        }) => {
            assert!(transient);
            assert!(detail.contains("5xx"), "{detail}");
        }
        other => panic!("expected a network failure, got {other:?}"),
    }
    drop(answers);
}
