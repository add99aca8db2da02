//! The serverless flows run by the Lambda layer's own ffmpeg and ffprobe
//! (static aarch64 builds, `infra/build-ffmpeg-layer.sh`), under
//! qemu-aarch64 on a non-arm64 machine, against the local AWS-protocol
//! servers.
//!
//! The other tests run Debian's ffmpeg 5.1; the functions run the layer's
//! (ffmpeg 7.0, an ffprobe git snapshot), which cannot resolve host names.
//! Here every ffmpeg and ffprobe the handlers start is the layer's, through
//! a wrapper that also logs its arguments, so the test proves that the
//! layer's binaries accept every option the pipeline passes and read every
//! object through the functions' loopback server by IP address (a URL naming
//! a host would fail exactly as on Lambda).
//!
//! Needs `VIDSTEGA_LAYER_DIR` (scripts/test.sh builds the layer and sets it).

mod common;

use common::{Cloud, Video};
use std::path::{Path, PathBuf};
use vidstega_pipeline::contract::OutputMode;

/// The built layer's directory, or a failure saying how to build it.
fn layer_dir() -> PathBuf {
    let dir = std::env::var_os("VIDSTEGA_LAYER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "VIDSTEGA_LAYER_DIR is not set: build the layer with infra/build-ffmpeg-layer.sh and export \
             VIDSTEGA_LAYER_DIR=$PWD/infra/layers/ffmpeg (scripts/test.sh does both)"
            )
        });
    for tool in ["ffmpeg", "ffprobe"] {
        assert!(
            dir.join("bin").join(tool).is_file(),
            "{} has no bin/{tool}: run infra/build-ffmpeg-layer.sh",
            dir.display()
        );
    }
    dir
}

/// How this machine runs aarch64 binaries: directly on arm64 Linux, else
/// through qemu-aarch64 (no binfmt handler is assumed).
fn runner() -> Option<String> {
    if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
        return None;
    }
    for qemu in ["qemu-aarch64-static", "qemu-aarch64"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {qemu}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return Some(qemu.to_string());
        }
    }
    panic!(
        "cannot run the layer's aarch64 binaries: install qemu-user-static (scripts/ensure-tools.sh does)"
    );
}

/// A shell wrapper that logs its arguments (one call per line) and runs the
/// layer's `tool`.
fn wrapper(dir: &Path, layer: &Path, tool: &str, log: &Path) -> PathBuf {
    let path = dir.join(tool);
    let binary = layer.join("bin").join(tool);
    let run = match runner() {
        Some(qemu) => format!("exec {qemu} '{}' \"$@\"", binary.display()),
        None => format!("exec '{}' \"$@\"", binary.display()),
    };
    let script = format!(
        "#!/bin/sh\nprintf '%s' '{tool}' >> '{log}'\nfor a in \"$@\"; do printf ' %s' \"$a\" >> '{log}'; done\n\
         printf '\\n' >> '{log}'\n{run}\n",
        log = log.display()
    );
    std::fs::write(&path, script).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

#[test]
fn the_layer_binaries_run_compact_and_lossless_jobs_through_the_loopback_server() {
    let layer = layer_dir();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let ffmpeg = wrapper(dir.path(), &layer, "ffmpeg", &log);
    let ffprobe = wrapper(dir.path(), &layer, "ffprobe", &log);
    // The only test of this binary: nothing else reads these variables
    // while they change.
    std::env::set_var("VIDSTEGA_FFMPEG", &ffmpeg);
    std::env::set_var("VIDSTEGA_FFPROBE", &ffprobe);
    let tools = vidstega_media::ensure_tools().expect("the layer's binaries pass the tool checks");
    assert!(tools.has_libx264 && tools.has_ffv1, "{tools:?}");
    println!(
        "layer: ffmpeg {}, ffprobe {}",
        tools.ffmpeg_version, tools.ffprobe_version
    );

    let cloud = Cloud::new();
    // Compact into Matroska: the planner stream-copies the MP4 upload
    // (ffmpeg reads it by URL), probes and lists its packets; embed-segment
    // decodes each carrier's GOP by URL.
    common::presigned_uploads_to_extractable_output(&cloud, Video::Small, OutputMode::Compact, "mkv");
    // Compact into MP4: the upload is patched as it is.
    common::presigned_uploads_to_extractable_output(&cloud, Video::Small, OutputMode::Compact, "mp4");
    // Lossless: every segment decoded and encoded, concat joins segments and
    // the source's audio by URL.
    common::presigned_uploads_to_extractable_output(&cloud, Video::Small, OutputMode::Lossless, "mkv");

    let calls = std::fs::read_to_string(&log).unwrap();
    let count = |tool: &str| {
        calls
            .lines()
            .filter(|l| l.starts_with(&format!("{tool} ")))
            .count()
    };
    assert!(
        count("ffprobe") >= 3,
        "the layer's ffprobe ran {} times:\n{calls}",
        count("ffprobe")
    );
    assert!(
        count("ffmpeg") >= 6,
        "the layer's ffmpeg ran {} times:\n{calls}",
        count("ffmpeg")
    );
    // Every URL the layer was given names an address, never a host: a static
    // glibc binary cannot resolve names.
    let urls: Vec<&str> = calls
        .split_whitespace()
        .filter(|w| w.contains("://") && !w.starts_with("file:"))
        .collect();
    assert!(!urls.is_empty(), "the layer read nothing by URL:\n{calls}");
    for url in &urls {
        assert!(url.starts_with("http://127.0.0.1:"), "the layer was given {url}");
        assert!(
            !url.contains("X-Amz-"),
            "a credential on ffmpeg's command line: {url}"
        );
    }
    println!(
        "the layer ran ffprobe {} and ffmpeg {} times, reading {} URLs, all by address",
        count("ffprobe"),
        count("ffmpeg"),
        urls.len()
    );
}
