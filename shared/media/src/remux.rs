//! Stream-copying a file into another container, every stream kept.
//!
//! Compact mode patches MP4/MOV and Matroska files itself; a source in any
//! other container (MPEG-TS, AVI, FLV, ...), or one whose container family
//! differs from the output's, is first copied into the output's container
//! with `ffmpeg -map 0 -c copy`: packets, timestamps and metadata stay as
//! they are, only the container changes.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::concat::OutputContainer;
use crate::error::{MediaError, StderrTail};
use crate::process::tail_of;
use crate::tools::{locate, Tool};

/// Copies every stream of `input` into `output`, a new `container` file.
pub fn remux(input: &Path, output: &Path, container: OutputContainer) -> Result<(), MediaError> {
    let ffmpeg = locate(Tool::Ffmpeg)?;
    let mut command = Command::new(&ffmpeg);
    command
        .args(["-hide_banner", "-nostdin", "-nostats", "-v", "error", "-y"])
        .args(crate::probe::url_input_options(input))
        .arg("-i")
        .arg(input)
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-map_metadata",
            "0",
            "-map_chapters",
            "0",
        ]);
    if container != OutputContainer::Matroska {
        // The index first, so browsers can start playing before the end arrives.
        command.args(["-movflags", "+faststart"]);
    }
    command.args(["-f", container.muxer()]).arg(output);
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| MediaError::Spawn {
            tool: Tool::Ffmpeg,
            path: ffmpeg.clone(),
            env_var: Tool::Ffmpeg.env_var(),
            source,
        })?;
    if !out.status.success() {
        return Err(MediaError::IncompatibleContainer {
            path: output.to_path_buf(),
            detail: format!(
                "the source's streams could not all be copied into .{} ({}); choose another output \
                 container (.mkv holds every codec). ffmpeg said: {}",
                container.extension(),
                out.status,
                StderrTail(tail_of(&String::from_utf8_lossy(&out.stderr)))
            ),
        });
    }
    Ok(())
}
