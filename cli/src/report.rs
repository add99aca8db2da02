//! What a person reads when a command fails: one line that says what went
//! wrong, in their own file names, then only the causes that add something,
//! then the last lines ffmpeg or ffprobe printed, set apart and trimmed.
//!
//! The libraries name the files they touch, and some of those are the
//! embed's own work files (`.OUT.vidstega/scratch/…`, `.OUT.partial.mkv`,
//! the resolved path of the input): [`name_paths`] registers how to say
//! them as the user gave them, and [`render`] rewrites every message with it.

use std::path::Path;
use std::sync::Mutex;
use vidstega_core::CoreError;
use vidstega_pipeline::PipelineError;

/// The tool's own lines shown under an error (its last ones; the libraries
/// keep at most 20).
pub const TOOL_LINES: usize = 8;

/// The phrases after which an error message quotes a tool's output: the
/// rest of the message is the tool's, or "(it printed nothing)".
const TOOL_INTROS: &[&str] = &[
    "ffprobe said:",
    "ffmpeg said:",
    "Its last lines:",
    "ffmpeg's last lines:",
];

/// How internal paths are said: `(prefix, what to say, whole_folder)`.
/// A `whole_folder` prefix covers every path inside it.
struct Names {
    /// The work folder (absolute, resolved).
    work: String,
    /// Said instead of paths in the work folder's `scratch` (files being
    /// written for the output): the output as given.
    output: String,
    /// Exact paths said otherwise: the partial output, the resolved input.
    exact: Vec<(String, String)>,
    /// Said instead of the source's copies in the store.
    input: String,
}

static NAMES: Mutex<Option<Names>> = Mutex::new(None);

/// Registers how the embed's internal paths are said in errors: paths in
/// the work folder's `scratch` and the partial output as the output given,
/// the source's copies in the store as copies of the input given, the
/// resolved input as given, anything else in the work folder as the folder.
pub fn name_paths(work: &Path, partial: &Path, input: &Path, input_given: &Path, output_given: &Path) {
    let output = output_given.display().to_string();
    let input_said = input_given.display().to_string();
    *NAMES.lock().unwrap_or_else(|e| e.into_inner()) = Some(Names {
        work: work.display().to_string(),
        output: output.clone(),
        exact: vec![
            (partial.display().to_string(), output),
            (input.display().to_string(), input_said.clone()),
        ],
        input: input_said,
    });
}

/// Where a path written in a message ends.
fn path_end(text: &str) -> usize {
    text.find(|c: char| c.is_whitespace() || matches!(c, ':' | '\'' | '"' | ')' | ',' | ';' | '`'))
        .unwrap_or(text.len())
}

/// `text` with the registered internal paths said as the user knows them.
pub fn rewrite(text: &str) -> String {
    let guard = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let Some(names) = guard.as_ref() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    // Paths inside the work folder.
    let mut from = 0;
    while let Some(at) = out[from..].find(&names.work).map(|i| i + from) {
        let rest = &out[at + names.work.len()..];
        let inner_len = if rest.starts_with('/') { path_end(rest) } else { 0 };
        let inner = &rest[..inner_len];
        let said = if inner.starts_with("/scratch/") {
            names.output.clone()
        } else if let Some(file) = inner.strip_prefix("/store/").and_then(|k| k.rsplit('/').next()) {
            if file.starts_with("source-copy.") {
                format!("the stream copy of {}", names.input)
            } else if file.starts_with("source-h264.") {
                format!("the H.264 transcode of {}", names.input)
            } else if file.starts_with("source.") {
                names.input.clone()
            } else {
                names.work.clone()
            }
        } else {
            names.work.clone()
        };
        out.replace_range(at..at + names.work.len() + inner_len, &said);
        from = at + said.len();
    }
    for (path, said) in &names.exact {
        let mut from = 0;
        while let Some(at) = out[from..].find(path.as_str()).map(|i| i + from) {
            let end = at + path.len();
            // Whole paths only (`/x/a.mp4`, not `/x/a.mp4.bak`).
            if path_end(&out[end..]) != 0 {
                from = end;
                continue;
            }
            out.replace_range(at..end, said);
            from = at + said.len();
        }
    }
    out
}

/// A message split into its own words and the tool output it quotes.
struct Split {
    /// The message without the quoted output (and without its intro).
    text: String,
    /// The intro (`ffprobe said:`) and the tool's lines, if it quoted any.
    tool: Option<(String, Vec<String>)>,
}

fn split_tool_output(message: &str) -> Split {
    let found = TOOL_INTROS
        .iter()
        .filter_map(|intro| message.find(intro).map(|at| (at, *intro)))
        .min_by_key(|(at, _)| *at);
    let Some((at, intro)) = found else {
        // A message may still carry lines of its own: the first is its text.
        let mut lines = message.lines();
        let text = lines.next().unwrap_or_default().to_string();
        let rest: Vec<String> = lines
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        return Split {
            tool: (!rest.is_empty()).then(|| (String::new(), rest)),
            text,
        };
    };
    let text = message[..at]
        .trim_end()
        .trim_end_matches([';', '.', ','])
        .trim_end();
    let quoted = message[at + intro.len()..].trim();
    let lines: Vec<String> = if quoted.starts_with("(it printed nothing)") {
        Vec::new()
    } else {
        quoted
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    Split {
        text: format!("{text}{}", if text.ends_with(['.', ')', '`']) { "" } else { "." }),
        tool: (!lines.is_empty()).then(|| (intro.to_string(), lines)),
    }
}

/// The core error behind `e`, if any.
pub fn core_error(e: &anyhow::Error) -> Option<&CoreError> {
    e.chain().find_map(core_cause)
}

/// The core error that one cause of an error chain is, or wraps (in a
/// pipeline or robust-mode error).
pub fn core_cause<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a CoreError> {
    cause
        .downcast_ref::<CoreError>()
        .or_else(|| match cause.downcast_ref::<PipelineError>() {
            Some(PipelineError::Core(c))
            | Some(PipelineError::Robust(vidstega_robust::RobustError::Core(c))) => Some(c),
            _ => None,
        })
}

/// "No message": the password may be wrong, the video may carry none, or a
/// re-encode may have destroyed it. Which one cannot be told from the file,
/// so all three are said as possibilities.
pub const NO_MESSAGE: &str = "no hidden message found with this password. The password may be wrong, the \
     video may carry no VidStega message, or the message may have been destroyed by re-encoding or editing \
     the video after it was hidden (a compact- or lossless-mode message survives only a stream copy, such as \
     `ffmpeg -i in -map 0 -c copy out.mkv`; a robust-mode one survives the re-encodes its preset was measured \
     against, not heavier ones)";

/// The lines to print for `e`: `error: …` first, then `  caused by: …` for
/// causes that say something new, then the tool's last lines, indented.
pub fn render(e: &anyhow::Error) -> Vec<String> {
    let mut lines = Vec::new();
    let mut said: Vec<String> = Vec::new();
    let mut tools: Vec<(String, Vec<String>)> = Vec::new();
    for (i, cause) in e.chain().enumerate() {
        let mut split = split_tool_output(&rewrite(&cause.to_string()));
        if i == 0 {
            if matches!(core_error(e), Some(CoreError::NoMessage)) {
                split.text = NO_MESSAGE.to_string();
            } else if crate::disk::full(e) && e.downcast_ref::<crate::disk::DiskError>().is_none() {
                split.text = format!("the disk is full (no space left on device): {}", split.text);
            }
        }
        if let Some(tool) = split.tool.take() {
            if !tools.contains(&tool) {
                tools.push(tool);
            }
        }
        let text = split.text.trim().trim_end_matches('.').to_string();
        if text.is_empty() || said.iter().any(|s| s.contains(&text)) {
            continue;
        }
        lines.push(if i == 0 {
            format!("error: {}", split.text)
        } else {
            format!("  caused by: {}", split.text)
        });
        said.push(split.text);
    }
    for (intro, tool_lines) in tools {
        let skipped = tool_lines.len().saturating_sub(TOOL_LINES);
        if skipped > 0 {
            lines.push(format!(
                "  {} (its last {TOOL_LINES} lines):",
                intro.trim_end_matches(':')
            ));
        } else if !intro.is_empty() {
            lines.push(format!("  {intro}"));
        }
        for l in &tool_lines[skipped..] {
            lines.push(format!("    {}", l.trim_end()));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_output_goes_below_and_nothing_printed_goes_away() {
        let s = split_tool_output(
            "x.mp4 looks truncated (partial file). Re-copy it; ffprobe said: \n[mov @ 0x1] partial file\nmore",
        );
        assert_eq!(s.text, "x.mp4 looks truncated (partial file). Re-copy it.");
        assert_eq!(
            s.tool,
            Some((
                "ffprobe said:".to_string(),
                vec!["[mov @ 0x1] partial file".to_string(), "more".to_string()]
            ))
        );
        let s =
            split_tool_output("x.mp4 looks truncated (box cut short); ffprobe said: (it printed nothing)");
        assert_eq!(s.text, "x.mp4 looks truncated (box cut short)");
        assert_eq!(s.tool, None);
    }

    #[test]
    fn repeated_causes_are_dropped() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = anyhow::Error::new(io).context(format!(
            "cannot read x.mp4: {}",
            std::io::Error::from(std::io::ErrorKind::NotFound)
        ));
        let lines = render(&e);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("error: cannot read x.mp4"));
    }

    #[test]
    fn work_paths_are_said_as_the_user_gave_them() {
        name_paths(
            Path::new("/d/.o.mp4.vidstega"),
            Path::new("/d/.o.partial.mp4"),
            Path::new("/d/in.mkv"),
            Path::new("in.mkv"),
            Path::new("o.mp4"),
        );
        assert_eq!(
            rewrite("cannot write /d/.o.mp4.vidstega/scratch/ab-source-XyZ.mp4: no"),
            "cannot write o.mp4: no"
        );
        assert_eq!(
            rewrite("cannot write /d/.o.partial.mp4: no"),
            "cannot write o.mp4: no"
        );
        assert_eq!(
            rewrite("'/d/in.mkv' is odd; /d/in.mkv.bak too"),
            "'in.mkv' is odd; /d/in.mkv.bak too"
        );
        assert_eq!(
            rewrite("/d/.o.mp4.vidstega/store/jobs/ab/source-copy.mp4 is cut"),
            "the stream copy of in.mkv is cut"
        );
        assert_eq!(
            rewrite("cannot open /d/.o.mp4.vidstega/jobs.sqlite: full"),
            "cannot open /d/.o.mp4.vidstega: full"
        );
        *NAMES.lock().unwrap() = None;
    }
}
