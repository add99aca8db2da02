//! Finding the system's `ffmpeg` and `ffprobe`, and checking them.
//!
//! Why the system binaries: VidStega never downloads FFmpeg (the
//! `ffmpeg-sidecar` download feature is compiled out), so users get their
//! distribution's patched build and the tests run against the same build the
//! users have. `VIDSTEGA_FFMPEG` / `VIDSTEGA_FFPROBE` point at other builds
//! when `PATH` is not the answer.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ffmpeg_sidecar::command::FfmpegCommand;

use crate::error::{MediaError, StderrTail};

/// Environment variable that overrides the path of `ffmpeg`.
pub const FFMPEG_ENV: &str = "VIDSTEGA_FFMPEG";
/// Environment variable that overrides the path of `ffprobe`.
pub const FFPROBE_ENV: &str = "VIDSTEGA_FFPROBE";

/// One of the two FFmpeg programs this crate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// The `ffmpeg` converter (decoding, encoding, joining).
    Ffmpeg,
    /// The `ffprobe` analyser (stream and packet information).
    Ffprobe,
}

impl Tool {
    /// The program's file name without extension.
    pub fn program_name(self) -> &'static str {
        match self {
            Tool::Ffmpeg => "ffmpeg",
            Tool::Ffprobe => "ffprobe",
        }
    }

    /// The environment variable that overrides where the program is.
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::Ffmpeg => FFMPEG_ENV,
            Tool::Ffprobe => FFPROBE_ENV,
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program_name())
    }
}

/// Where the tools are and what they can do, as found by [`ensure_tools`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolVersions {
    /// Path of the `ffmpeg` that will be run.
    pub ffmpeg_path: PathBuf,
    /// Version string `ffmpeg -version` reported (e.g. `5.1.6-0+deb12u1`).
    pub ffmpeg_version: String,
    /// Path of the `ffprobe` that will be run.
    pub ffprobe_path: PathBuf,
    /// Version string `ffprobe -version` reported.
    pub ffprobe_version: String,
    /// Whether this ffmpeg has the libx264 encoder (needed for
    /// [`crate::SegmentCodec::H264Lossless`]).
    pub has_libx264: bool,
    /// Whether this ffmpeg has the FFV1 encoder (needed for
    /// [`crate::SegmentCodec::Ffv1`]).
    pub has_ffv1: bool,
}

/// Finds `ffmpeg` and `ffprobe`, checks that they run and are FFmpeg 5.1 or
/// newer, and reports their versions and which lossless encoders exist.
pub fn ensure_tools() -> Result<ToolVersions, MediaError> {
    let ffmpeg_path = locate(Tool::Ffmpeg)?;
    let ffprobe_path = locate(Tool::Ffprobe)?;
    // The two runs are independent; each costs a process start (most of it
    // dynamic linking), so they run side by side. ffmpeg's encoder list
    // comes with its version in the banner on stderr: one run, not two.
    let (ffmpeg_run, ffprobe_version) = std::thread::scope(|scope| {
        let ffprobe = scope.spawn(|| version_of(Tool::Ffprobe, &ffprobe_path));
        let ffmpeg = run_capture_with_stderr(Tool::Ffmpeg, &ffmpeg_path, &["-encoders"]);
        let ffprobe = ffprobe
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (ffmpeg, ffprobe)
    });
    let (encoders, banner) = ffmpeg_run?;
    let ffmpeg_version = version_in(&banner);
    let ffprobe_version = ffprobe_version?;
    for (tool, path, version) in [
        (Tool::Ffmpeg, &ffmpeg_path, &ffmpeg_version),
        (Tool::Ffprobe, &ffprobe_path, &ffprobe_version),
    ] {
        if let Some((major, minor)) = parse_major_minor(version) {
            if (major, minor) < (5, 1) {
                return Err(MediaError::ToolTooOld {
                    tool,
                    path: path.clone(),
                    version: version.clone(),
                    env_var: tool.env_var(),
                });
            }
        }
    }
    let has_encoder = |name: &str| {
        encoders
            .lines()
            .any(|line| line.split_whitespace().nth(1) == Some(name))
    };
    Ok(ToolVersions {
        has_libx264: has_encoder("libx264"),
        has_ffv1: has_encoder("ffv1"),
        ffmpeg_path,
        ffmpeg_version,
        ffprobe_path,
        ffprobe_version,
    })
}

/// Finds `ffmpeg` and `ffprobe` without running them: the check for a job
/// that needs no encoder (compact mode's decodes and probes). A missing
/// program is the same [`MediaError::ToolMissing`] as [`ensure_tools`]
/// gives; a program too old for the options this crate uses is reported as
/// [`MediaError::ToolTooOld`] when it first refuses one (see
/// [`check_not_too_old`]). Each `ensure_tools` run costs two process
/// starts (~0.08 s of CPU each with a distribution's shared-library build).
pub fn locate_tools() -> Result<(), MediaError> {
    locate(Tool::Ffmpeg)?;
    locate(Tool::Ffprobe)?;
    Ok(())
}

/// After `tool` refused an option (its stderr says "Unrecognized option"),
/// tells a too old FFmpeg ([`MediaError::ToolTooOld`], after one `-version`
/// run) from any other cause (`Ok`). For callers that skipped the version
/// check of [`ensure_tools`] ([`locate_tools`]).
pub(crate) fn check_not_too_old(tool: Tool, stderr: &str) -> Result<(), MediaError> {
    if !stderr.contains("Unrecognized option") {
        return Ok(());
    }
    let path = locate(tool)?;
    let version = version_of(tool, &path)?;
    match parse_major_minor(&version) {
        Some(v) if v < (5, 1) => Err(MediaError::ToolTooOld {
            tool,
            path,
            version,
            env_var: tool.env_var(),
        }),
        _ => Ok(()),
    }
}

/// Finds a program: the path in its environment variable if that is set,
/// otherwise the first executable of that name on `PATH`.
pub fn locate(tool: Tool) -> Result<PathBuf, MediaError> {
    let missing = |detail: String| MediaError::ToolMissing {
        tool,
        env_var: tool.env_var(),
        detail,
    };
    if let Some(value) = std::env::var_os(tool.env_var()).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&value);
        if path.components().count() > 1 || path.is_absolute() {
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(missing(format!(
                    "{} is set to {}, but that is not an executable file",
                    tool.env_var(),
                    path.display()
                )))
            };
        }
        // A bare name: look it up on PATH like a shell would.
        return search_path(&value).ok_or_else(|| {
            missing(format!(
                "{} is set to {:?}, which is not on PATH",
                tool.env_var(),
                value
            ))
        });
    }
    search_path(tool.program_name().as_ref()).ok_or_else(|| {
        missing(format!(
            "no `{}` on PATH ({})",
            tool.program_name(),
            std::env::var("PATH").unwrap_or_default()
        ))
    })
}

/// An `FfmpegCommand` for the located ffmpeg, quiet except for the log.
///
/// `-nostats` keeps the progress line (which uses `\r`) out of stderr so the
/// stderr tail in errors stays readable.
pub(crate) fn ffmpeg_command() -> Result<(FfmpegCommand, PathBuf), MediaError> {
    let path = locate(Tool::Ffmpeg)?;
    let mut command = FfmpegCommand::new_with_path(&path);
    command.hide_banner().arg("-nostats");
    Ok((command, path))
}

/// Spawns a prepared `FfmpegCommand`, mapping failures to [`MediaError::Spawn`].
pub(crate) fn spawn_ffmpeg(
    command: &mut FfmpegCommand,
    path: &Path,
) -> Result<ffmpeg_sidecar::child::FfmpegChild, MediaError> {
    command.spawn().map_err(|source| MediaError::Spawn {
        tool: Tool::Ffmpeg,
        path: path.to_path_buf(),
        env_var: FFMPEG_ENV,
        source,
    })
}

fn search_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH")?;
    let mut names: Vec<OsString> = vec![name.to_os_string()];
    if cfg!(windows) {
        let mut exe = name.to_os_string();
        exe.push(".exe");
        names.insert(0, exe);
    }
    std::env::split_paths(&path_var)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

fn version_of(tool: Tool, path: &Path) -> Result<String, MediaError> {
    let (out, _) = run_capture_with_stderr(tool, path, &["-hide_banner", "-version"])?;
    Ok(version_in(&out))
}

/// The version in the first line of `-version`'s output or of the banner:
/// "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 ...".
fn version_in(text: &str) -> String {
    text.lines()
        .next()
        .filter(|line| line.contains(" version "))
        .and_then(|line| line.split_whitespace().nth(2))
        .unwrap_or("unknown")
        .to_string()
}

/// Runs a tool to completion: its stdout and its stderr.
fn run_capture_with_stderr(tool: Tool, path: &Path, args: &[&str]) -> Result<(String, String), MediaError> {
    let out = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| MediaError::Spawn {
            tool,
            path: path.to_path_buf(),
            env_var: tool.env_var(),
            source,
        })?;
    if !out.status.success() {
        return Err(MediaError::ProcessFailed {
            tool,
            action: format!("running `{} {}`", tool, args.join(" ")),
            status: out.status.to_string(),
            stderr: StderrTail(crate::process::tail_of(&String::from_utf8_lossy(&out.stderr))),
        });
    }
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Parses "5.1.6-0+deb12u1", "n6.1", "7.0.2-static" into (major, minor).
/// Git snapshots ("N-112233-g...") give `None` and are accepted as new.
fn parse_major_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.strip_prefix('n').unwrap_or(version);
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::{parse_major_minor, version_in};

    #[test]
    fn reads_the_version_from_the_banner_or_version_output() {
        assert_eq!(
            version_in("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers\n  built with gcc 12"),
            "5.1.6-0+deb12u1"
        );
        assert_eq!(version_in("ffprobe version n6.1 Copyright (c) 2007-2023"), "n6.1");
        assert_eq!(version_in(""), "unknown");
        assert_eq!(version_in("Encoders:\n V..... libx264"), "unknown");
    }

    #[test]
    fn parses_common_version_strings() {
        assert_eq!(parse_major_minor("5.1.6-0+deb12u1"), Some((5, 1)));
        assert_eq!(parse_major_minor("n6.1"), Some((6, 1)));
        assert_eq!(parse_major_minor("7.0.2-static"), Some((7, 0)));
        assert_eq!(parse_major_minor("4.4.2-0ubuntu0.22.04.1"), Some((4, 4)));
        assert_eq!(parse_major_minor("N-112233-gabc"), None);
    }
}
