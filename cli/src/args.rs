//! Command-line arguments, turned into validated settings once.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Hide an encrypted message in a video, and get it back out exactly.
#[derive(Debug, Parser)]
#[command(name = "vidstega", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hide a message in a video (the output looks the same; audio is copied bit-exact).
    Embed(EmbedArgs),
    /// Recover the message from a stego video.
    Extract(ExtractArgs),
    /// How many bytes a video can carry with these settings.
    Capacity(CapacityArgs),
    /// Probe a video and show the segments it would be cut into.
    Inspect(InspectArgs),
}

/// Where the password comes from.
#[derive(Debug, Args, Clone)]
pub struct PasswordArgs {
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// Which planes carry bits.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Planes {
    /// The luma plane only (least visible).
    Luma,
    /// Luma and both chroma planes (more capacity).
    All,
}

/// The lossless codec of the stego video.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Codec {
    /// Lossless H.264 (libx264 -qp 0): fast, widely playable, .mkv/.mp4/.mov.
    H264,
    /// FFV1: any frame size, .mkv/.mov only.
    Ffv1,
}

/// Settings shared by embed and capacity.
#[derive(Debug, Args, Clone)]
pub struct LayoutArgs {
    /// Planes that carry bits.
    #[arg(long, value_enum, default_value_t = Planes::Luma)]
    pub planes: Planes,
    /// Parity shards per 16 data shards: a stripe survives losing this many.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=240))]
    pub parity: u8,
}

/// `vidstega embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// The cover video.
    pub input: PathBuf,
    /// The stego video to write (.mkv recommended; .mp4 and .mov where the codecs allow).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The message, as text.
    #[arg(long, conflicts_with = "message_file")]
    pub message: Option<String>,
    /// The message, from a file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Lossless codec of the output.
    #[arg(long, value_enum, default_value_t = Codec::H264)]
    pub codec: Codec,
    /// PBKDF2 iterations for the encryption key.
    #[arg(long, default_value_t = vidstega_core::DEFAULT_KDF_ITERATIONS)]
    pub kdf_iterations: u32,
    /// Segments embedded at once (default: the number of cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
    /// Keep the work folder (segments, job table) after success.
    #[arg(long)]
    pub keep_work: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `vidstega extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The stego video.
    pub input: PathBuf,
    /// Write the message to this file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Segments read at once (default: the number of cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary (with the message) instead of the raw message.
    #[arg(long)]
    pub json: bool,
}

/// `vidstega capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The cover video.
    pub input: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `vidstega inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The video.
    pub input: PathBuf,
    /// Segments that would run at once (default: the number of cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A mistake in how the command was called that clap cannot see (a missing
/// password or message source): exit code 2, like clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Workers to use: the flag or the number of cores.
pub fn workers(flag: Option<usize>) -> usize {
    flag.filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
}
