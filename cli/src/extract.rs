//! `vidstega extract`: recover the message from a stego video.

use crate::args::{require_video_file, workers, ExtractArgs};
use crate::outfile::{check_writable, refuse_same_file, write_atomic, OutputError};
use crate::output::{count, note};
use crate::progress::Bars;
use crate::secrets;
use anyhow::Result;
use base64::Engine;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::Path;
use vidstega_core::CoreError;
use vidstega_media::ensure_tools;
use vidstega_pipeline::{extract_file, PipelineError};

#[derive(Serialize)]
struct Summary {
    message_bytes: usize,
    mode: &'static str,
    frames: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    robust: Option<RobustSummary>,
    damaged_frames: Vec<u64>,
    output: Option<std::path::PathBuf>,
    seconds: f64,
    peak_rss_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_base64: Option<String>,
    warnings: Vec<String>,
}

/// What reading a robust-mode message measured.
#[derive(Serialize)]
struct RobustSummary {
    robustness: &'static str,
    /// Raw bit error rate of the slots before error correction.
    raw_bit_error_rate: f64,
    hold_periods: u64,
    hold_periods_with_header: u64,
    /// Where the first frame read lies in the video that was embedded (a
    /// trimmed copy starts later).
    offset_seconds: f64,
}

impl RobustSummary {
    fn of(r: &vidstega_robust::ExtractReport) -> Self {
        RobustSummary {
            robustness: r.preset.name(),
            raw_bit_error_rate: r.slot_ber,
            hold_periods: r.windows,
            hold_periods_with_header: r.windows_with_header,
            offset_seconds: r.offset_seconds,
        }
    }
}

/// Runs `vidstega extract`.
pub fn run(args: ExtractArgs) -> Result<()> {
    let started = std::time::Instant::now();
    // `-o -` is standard output, as `--message-file -` is standard input.
    let output = args.output.clone().filter(|p| p != Path::new("-"));
    if let Some(out) = &output {
        refuse_same_file(&args.input, out)?;
        check_writable(out, args.force)?;
    }
    std::fs::metadata(&args.input)
        .map_err(|e| PipelineError::io(format!("cannot read the stego video {}", args.input.display()), e))?;
    require_video_file(&args.input)?;
    let password = secrets::password(&args.password, false)?;
    let bars = Bars::new(args.json || output.is_none());
    // Carrier pictures are read without ffmpeg; only a lossless-mode file
    // needs it. The tool check runs beside the extraction, and a failed
    // extraction with unusable tools is reported as the tools' problem.
    let (tools, result) = rayon::join(ensure_tools, || {
        // The normalised password first; a file written before passwords
        // were normalised was keyed with the bytes as given.
        let mut result = Err(PipelineError::Core(CoreError::NoMessage));
        for form in password.forms() {
            result = extract_file(&args.input, form, workers(args.jobs), &bars);
            if !matches!(result, Err(PipelineError::Core(CoreError::NoMessage))) {
                break;
            }
        }
        result
    });
    bars.finish();
    let extracted = match (result, tools) {
        (Ok(extracted), _) => extracted,
        (Err(_), Err(tools)) => return Err(tools.into()),
        (Err(e), Ok(_)) => return Err(e.into()),
    };
    if let Some(out) = &output {
        write_atomic(out, &extracted.message, args.force)?;
    }
    if args.json {
        let text = if output.is_none() {
            String::from_utf8(extracted.message.clone()).ok()
        } else {
            None
        };
        let summary = Summary {
            message_bytes: extracted.message.len(),
            mode: extracted.mode.as_str(),
            frames: extracted.frames,
            robust: extracted.robust.as_ref().map(RobustSummary::of),
            damaged_frames: extracted.damaged_frames.clone(),
            output: output.clone(),
            seconds: started.elapsed().as_secs_f64(),
            peak_rss_bytes: crate::memory::peak_rss_bytes(),
            message_base64: (output.is_none() && text.is_none())
                .then(|| base64::engine::general_purpose::STANDARD.encode(&extracted.message)),
            message_text: text,
            warnings: bars.warnings(),
        };
        crate::output::line(serde_json::to_string_pretty(&summary)?)?;
    } else {
        if !extracted.damaged_frames.is_empty() {
            let n = extracted.damaged_frames.len() as u64;
            note(format!(
                "note: {} repaired by the error correction",
                if n == 1 {
                    "1 damaged frame was".to_string()
                } else {
                    format!("{n} damaged frames were")
                }
            ));
        }
        if let Some(r) = extracted.robust.as_ref().map(RobustSummary::of) {
            note(format!(
                "read in robust mode ({} preset): {:.2}% raw bit errors before error correction, a header in {} \
                 of {} hold periods",
                r.robustness,
                r.raw_bit_error_rate * 100.0,
                r.hold_periods_with_header,
                r.hold_periods
            ));
        }
        match &output {
            Some(out) => note(format!(
                "recovered {} into {}",
                count(extracted.message.len() as u64, "byte", "bytes"),
                out.display()
            )),
            None => {
                // Raw bytes on a terminal can garble it (or drive it, with
                // escape sequences): only text goes there unless asked.
                if !args.force
                    && std::io::stdout().is_terminal()
                    && std::str::from_utf8(&extracted.message).is_err()
                {
                    return Err(OutputError::BinaryToTerminal.into());
                }
                crate::output::write(&extracted.message)?;
            }
        }
    }
    Ok(())
}
