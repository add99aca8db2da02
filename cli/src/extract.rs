//! `vidstega extract`: recover the message from a stego video.

use crate::args::{workers, ExtractArgs};
use crate::outfile::{check_writable, write_atomic};
use crate::progress::Bars;
use crate::secrets;
use anyhow::Result;
use base64::Engine;
use serde::Serialize;
use std::io::Write;
use vidstega_media::ensure_tools;
use vidstega_pipeline::{extract_file, PipelineError};

#[derive(Serialize)]
struct Summary {
    message_bytes: usize,
    frames: u64,
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

/// Runs `vidstega extract`.
pub fn run(args: ExtractArgs) -> Result<()> {
    let started = std::time::Instant::now();
    if let Some(out) = &args.output {
        check_writable(out, args.force)?;
    }
    std::fs::metadata(&args.input)
        .map_err(|e| PipelineError::io(format!("cannot read the stego video {}", args.input.display()), e))?;
    let password = secrets::password(&args.password, false)?;
    let bars = Bars::new(args.json || args.output.is_none());
    // Carrier pictures are read without ffmpeg; only a lossless-mode file
    // needs it. The tool check runs beside the extraction, and a failed
    // extraction with unusable tools is reported as the tools' problem.
    let (tools, result) = rayon::join(ensure_tools, || {
        extract_file(&args.input, &password, workers(args.jobs), &bars)
    });
    bars.finish();
    let extracted = match (result, tools) {
        (Ok(extracted), _) => extracted,
        (Err(_), Err(tools)) => return Err(tools.into()),
        (Err(e), Ok(_)) => return Err(e.into()),
    };
    if let Some(out) = &args.output {
        write_atomic(out, &extracted.message)?;
    }
    if args.json {
        let text = if args.output.is_none() {
            String::from_utf8(extracted.message.clone()).ok()
        } else {
            None
        };
        let summary = Summary {
            message_bytes: extracted.message.len(),
            frames: extracted.frames,
            damaged_frames: extracted.damaged_frames.clone(),
            output: args.output.clone(),
            seconds: started.elapsed().as_secs_f64(),
            peak_rss_bytes: crate::memory::peak_rss_bytes(),
            message_base64: (args.output.is_none() && text.is_none())
                .then(|| base64::engine::general_purpose::STANDARD.encode(&extracted.message)),
            message_text: text,
            warnings: bars.warnings(),
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        if !extracted.damaged_frames.is_empty() {
            eprintln!(
                "note: {} damaged frame(s) were repaired by the error correction",
                extracted.damaged_frames.len()
            );
        }
        match &args.output {
            Some(out) => eprintln!(
                "recovered {} bytes into {}",
                extracted.message.len(),
                out.display()
            ),
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&extracted.message)?;
                stdout.flush()?;
            }
        }
    }
    Ok(())
}
