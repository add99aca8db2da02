//! `vidstega`: hide an encrypted message in a video and get it back out.
//!
//! The exit codes are documented once, in `docs/pipeline.md` ("Exit
//! codes"); [`exit_code`] is where they are decided. A closed standard
//! output (`vidstega inspect x | head -1`) ends the command quietly with 0.

mod args;
mod capacity;
#[cfg(feature = "cloud")]
mod cloud;
mod disk;
mod embed;
mod extract;
mod interrupt;
mod memory;
mod outfile;
mod output;
mod progress;
mod report;
mod secrets;
#[cfg(feature = "cloud")]
mod status;
#[cfg(feature = "cloud")]
mod submit;

use clap::Parser;
use vidstega_core::{CoreError, ErrorClass};
use vidstega_media::MediaError;
use vidstega_pipeline::PipelineError;
use vidstega_robust::RobustError;

/// Crates whose debug and trace logs carry request URLs (presigned URLs are
/// bearer credentials) or request bodies (the placement key): capped at
/// `warn` whatever `VIDSTEGA_LOG` asks for (`info` would also show them at
/// the default level, which is `warn`).
const QUIET_TARGETS: &[&str] = &[
    "ureq",
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_runtime",
    "aws_config",
    "aws_sdk_s3",
    "aws_sdk_sqs",
    "aws_sdk_dynamodb",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

/// The exit code of a failed command (the table in `docs/pipeline.md`).
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<disk::DiskError>()) || disk::full(e) || disk::device_failed(e) {
        return 8;
    }
    for cause in e.chain() {
        if let Some(c) = report::core_cause(cause) {
            return match c {
                CoreError::NoMessage | CoreError::WrongPassword => 4,
                CoreError::Damaged { .. } | CoreError::Tampered => 5,
                c if c.class() == ErrorClass::InvalidInput => 3,
                _ => 1,
            };
        }
        let robust =
            cause
                .downcast_ref::<RobustError>()
                .or_else(|| match cause.downcast_ref::<PipelineError>() {
                    Some(PipelineError::Robust(r)) => Some(r),
                    _ => None,
                });
        match robust {
            Some(RobustError::NotFound { .. }) => return 4,
            Some(RobustError::Damaged { .. }) => return 5,
            Some(RobustError::OverCapacity { .. } | RobustError::InvalidInput(_)) => return 3,
            _ => {}
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
        #[cfg(feature = "cloud")]
        if cause.downcast_ref::<cloud::JobFailed>().is_some() {
            return 3;
        }
        if cause.downcast_ref::<args::InputError>().is_some() {
            return 3;
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
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_env("VIDSTEGA_LOG").unwrap_or_else(|_| "warn".into());
    for target in QUIET_TARGETS {
        filter = filter.add_directive(format!("{target}=warn").parse().expect("a valid directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log kept in a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Embed(a) => embed::run(a),
        args::Command::Extract(a) => extract::run(a),
        args::Command::Capacity(a) => capacity::capacity_cmd(a),
        args::Command::Inspect(a) => capacity::inspect_cmd(a),
        #[cfg(feature = "cloud")]
        args::Command::Submit(a) => submit::run(a),
        #[cfg(feature = "cloud")]
        args::Command::Status(a) => status::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of standard output is gone (`| head`): nothing is
        // wrong, and there is no one left to tell.
        Err(e) if e.chain().any(|c| c.is::<output::StdoutClosed>()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            for line in report::render(&e) {
                output::note(line);
            }
            std::process::ExitCode::from(exit_code(&e))
        }
    }
}
