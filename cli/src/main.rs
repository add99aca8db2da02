//! `vidstega`: hide an encrypted message in a video and get it back out.
//!
//! Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | an unexpected failure (a bug, a crash of ffmpeg, a full disk) |
//! | 2 | wrong usage (bad flags; no password or message source given) |
//! | 3 | the input cannot be used (not a video, no video stream, too large a message, over the limits, variable frame rate, …) |
//! | 4 | no message found: wrong password, or the video carries none |
//! | 5 | the message is damaged beyond repair, or was tampered with |
//! | 6 | ffmpeg/ffprobe is missing or too old |
//! | 7 | the output exists (use `--force`) or cannot be written |

mod args;
mod capacity;
mod embed;
mod extract;
mod memory;
mod outfile;
mod progress;
mod secrets;

use clap::Parser;
use vidstega_core::{CoreError, ErrorClass};
use vidstega_media::MediaError;
use vidstega_pipeline::PipelineError;

fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        let core =
            cause
                .downcast_ref::<CoreError>()
                .or_else(|| match cause.downcast_ref::<PipelineError>() {
                    Some(PipelineError::Core(c)) => Some(c),
                    _ => None,
                });
        if let Some(c) = core {
            return match c {
                CoreError::NoMessage | CoreError::WrongPassword => 4,
                CoreError::Damaged { .. } | CoreError::Tampered => 5,
                c if c.class() == ErrorClass::InvalidInput => 3,
                _ => 1,
            };
        }
        let media =
            cause
                .downcast_ref::<MediaError>()
                .or_else(|| match cause.downcast_ref::<PipelineError>() {
                    Some(PipelineError::Media(m)) => Some(m),
                    _ => None,
                });
        if let Some(m) = media {
            return match m {
                MediaError::ToolMissing { .. } | MediaError::ToolTooOld { .. } => 6,
                MediaError::IncompatibleContainer { .. } => 3,
                _ => match vidstega_pipeline::media_class(m) {
                    ErrorClass::InvalidInput => 3,
                    _ => 1,
                },
            };
        }
        if cause.downcast_ref::<outfile::OutputError>().is_some() {
            return 7;
        }
        if cause.downcast_ref::<args::UsageError>().is_some() {
            return 2;
        }
        if let Some(p) = cause.downcast_ref::<PipelineError>() {
            return if p.class() == ErrorClass::InvalidInput {
                3
            } else {
                1
            };
        }
    }
    1
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIDSTEGA_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Embed(a) => embed::run(a),
        args::Command::Extract(a) => extract::run(a),
        args::Command::Capacity(a) => capacity::capacity_cmd(a),
        args::Command::Inspect(a) => capacity::inspect_cmd(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::from(exit_code(&e))
        }
    }
}
