//! What happens when ffmpeg/ffprobe cannot be found. Lives in its own test
//! binary because it changes process-wide environment variables.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use vidstega_media::{
    choose_raw_format, ensure_tools, locate_tools, probe, probe_header_report, probe_with, probe_with_report,
    FrameReader, MediaError, ProbeOptions, Tool, FFMPEG_ENV, FFPROBE_ENV,
};
use vidstega_test_support::{make_video, picture};

/// The tests of this binary change process-wide environment variables:
/// they run one at a time.
static ENV: Mutex<()> = Mutex::new(());

/// A shell script at `dir/name` running `body` (with `"$@"` the arguments).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn missing_tools_name_the_install_command() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("v.mp4");
    std::fs::write(&video, b"not looked at").unwrap();

    std::env::set_var(FFPROBE_ENV, dir.path().join("no-such-ffprobe"));
    let err = probe(&video).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::ToolMissing {
                tool: Tool::Ffprobe,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("sudo apt-get install ffmpeg"), "{msg}");
    assert!(msg.contains("brew install ffmpeg"), "{msg}");
    assert!(msg.contains(FFPROBE_ENV), "{msg}");

    std::env::remove_var(FFPROBE_ENV);
    std::env::set_var(FFMPEG_ENV, "definitely-not-an-ffmpeg");
    let err = ensure_tools().unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::ToolMissing {
                tool: Tool::Ffmpeg,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not on PATH"), "{err}");
    // Locating without running gives the same error.
    let located = locate_tools().unwrap_err();
    assert_eq!(located.to_string(), err.to_string());

    // Pointing the variable at the real binary works.
    std::env::set_var(FFMPEG_ENV, "ffmpeg");
    let tools = ensure_tools().expect("these tests need ffmpeg installed: sudo apt-get install ffmpeg");
    assert!(tools.ffmpeg_path.is_absolute());
    std::env::remove_var(FFMPEG_ENV);
}

#[test]
fn an_ffmpeg_too_old_is_named_when_it_first_refuses_an_option() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(
        dir.path(),
        "v.mp4",
        &[&picture("64x48", 25, 0.4)],
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let info = probe(&video).unwrap();
    let format = choose_raw_format(&info.video, None).format;
    let mut frame = vec![0u8; format.frame_len()];
    // FFmpeg 4.4 has no -fps_mode; its own banner says which version it is.
    let old = script(
        dir.path(),
        "old-ffmpeg",
        r#"for a in "$@"; do
  case "$a" in
    -version) echo "ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021"; exit 0;;
    -fps_mode) echo "Unrecognized option 'fps_mode'." >&2; echo "Error splitting the argument list: Option not found" >&2; exit 1;;
  esac
done
exit 1"#,
    );
    std::env::set_var(FFMPEG_ENV, &old);
    locate_tools().expect("located, not run");
    let err = FrameReader::open(&info, 2..4, format)
        .and_then(|mut reader| reader.read_frame(&mut frame))
        .unwrap_err();
    assert!(
        matches!(&err, MediaError::ToolTooOld { tool: Tool::Ffmpeg, version, .. } if version.starts_with("4.4.2")),
        "{err}"
    );
    assert!(err.to_string().contains("5.1 or newer"), "{err}");
    // A recent ffmpeg refusing an option is not called too old.
    let recent = script(
        dir.path(),
        "recent-ffmpeg",
        r#"for a in "$@"; do
  case "$a" in
    -version) echo "ffmpeg version 6.1 Copyright (c) 2000-2023"; exit 0;;
  esac
done
echo "Unrecognized option 'noautorotate'." >&2
exit 1"#,
    );
    std::env::set_var(FFMPEG_ENV, &recent);
    let err = FrameReader::open(&info, 2..4, format)
        .and_then(|mut reader| reader.read_frame(&mut frame))
        .unwrap_err();
    std::env::remove_var(FFMPEG_ENV);
    assert!(matches!(err, MediaError::FrameCount { .. }), "{err}");
    assert!(err.to_string().contains("Unrecognized option"), "{err}");
}

#[test]
fn a_stream_report_is_used_again_only_for_the_same_file_and_options() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        make_video(
            dir.path(),
            name,
            &[&picture("64x48", 25, 0.4)],
            &["-c:v", "libx264", "-bf", "2", "-pix_fmt", "yuv420p"],
        )
    };
    let (a, b) = (make("a.mp4"), make("b.mp4"));
    // An ffprobe that notes each stream report it makes.
    let log = dir.path().join("reports.log");
    let counting = script(
        dir.path(),
        "ffprobe",
        &format!(
            r#"case "$*" in *-show_streams*) echo report >> '{}';; esac
exec ffprobe "$@""#,
            log.display()
        ),
    );
    let reports = || {
        std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    std::env::set_var(FFPROBE_ENV, &counting);
    let raw = ProbeOptions { raw_timeline: true };
    let (header, report) = probe_header_report(&a, raw).unwrap();
    assert_eq!((header.width, header.height), (64, 48));
    assert_eq!(reports(), 1);
    let reused = probe_with_report(&a, raw, Some(&report)).unwrap();
    assert_eq!(reports(), 1, "the report was made again");
    assert_eq!(reused, probe_with(&a, raw).unwrap());
    assert_eq!(reports(), 2);
    // Another file, other options, or the same file changed: made again.
    let other = probe_with_report(&b, raw, Some(&report)).unwrap();
    assert_eq!(other.path, b);
    assert_eq!(reports(), 3);
    probe_with_report(&a, ProbeOptions::default(), Some(&report)).unwrap();
    assert_eq!(reports(), 4);
    std::fs::copy(&b, &a).unwrap();
    let changed = probe_with_report(&a, raw, Some(&report)).unwrap();
    assert_eq!(reports(), 5);
    assert_eq!(changed.video.display_pts, other.video.display_pts);
    std::env::remove_var(FFPROBE_ENV);
}
