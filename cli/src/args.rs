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
    /// Seal a message locally and start an embedding job on the AWS deployment.
    #[cfg(feature = "cloud")]
    Submit(SubmitArgs),
    /// Show (or follow) a cloud job, and download its output when done.
    #[cfg(feature = "cloud")]
    Status(StatusArgs),
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

/// How the stego video is written.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A few carrier pictures stored uncompressed (I_PCM), everything else
    /// copied: about the source's size, plays wherever the source plays.
    Compact,
    /// Every frame re-encoded losslessly: the most capacity, a huge file
    /// only FFmpeg-based players play.
    Lossless,
    /// Every frame re-encoded as normal H.264 (CRF 18) with the message in
    /// luma block means: tens of bytes per second of video, surviving
    /// re-encoding and downscaling (see --robustness).
    Robust,
}

impl Mode {
    /// The pipeline's name for it.
    pub fn output_mode(self) -> vidstega_pipeline::contract::OutputMode {
        match self {
            Mode::Compact => vidstega_pipeline::contract::OutputMode::Compact,
            Mode::Lossless => vidstega_pipeline::contract::OutputMode::Lossless,
            Mode::Robust => vidstega_pipeline::contract::OutputMode::Robust,
        }
    }
}

/// Robust mode's preset.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Hash)]
pub enum Robustness {
    /// Survives H.264 CRF 23 at the source's size and a downscale to 720p
    /// at CRF 23 (measured on 1080p sources).
    Normal,
    /// Survives a downscale to 480p at CRF 28; about a fifth of normal's
    /// capacity.
    Strong,
}

impl Robustness {
    /// The pipeline's option.
    pub fn option(self) -> vidstega_pipeline::contract::Robustness {
        match self {
            Robustness::Normal => vidstega_pipeline::contract::Robustness::Normal,
            Robustness::Strong => vidstega_pipeline::contract::Robustness::Strong,
        }
    }
}

/// Compact mode: when the source is transcoded to H.264 first.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Hash)]
pub enum Transcode {
    /// Only when its video cannot hold carrier pictures (HEVC, VP9, AV1,
    /// interlaced or 10-bit H.264, ...).
    Auto,
    /// Never: refuse such a source, saying why.
    Never,
    /// Always.
    Always,
}

impl Transcode {
    /// The pipeline's policy.
    pub fn policy(self) -> vidstega_pipeline::TranscodePolicy {
        match self {
            Transcode::Auto => vidstega_pipeline::TranscodePolicy::Auto,
            Transcode::Never => vidstega_pipeline::TranscodePolicy::Never,
            Transcode::Always => vidstega_pipeline::TranscodePolicy::Always,
        }
    }
}

/// A `--max-rate` value: a fraction in (0, 1].
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number like 0.25"))?;
    if rate > 0.0 && rate <= 1.0 {
        Ok(rate)
    } else {
        Err(format!("{text} is outside 0 < rate <= 1"))
    }
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
    /// How the stego video is written.
    #[arg(long, value_enum, default_value_t = Mode::Compact)]
    pub mode: Mode,
    /// Planes that carry bits [default: all in compact mode (a carrier
    /// costs the same either way), luma in lossless mode].
    #[arg(long, value_enum)]
    pub planes: Option<Planes>,
    /// Compact mode: the largest fraction of a carrier picture's samples
    /// that carry a bit. Lower spreads the message over more carriers
    /// (harder to detect, a larger file: each carrier adds about
    /// width × height × 1.5 bytes).
    #[arg(long, value_name = "RATE", default_value_t = vidstega_pipeline::DEFAULT_MAX_RATE, value_parser = parse_rate)]
    pub max_rate: f64,
    /// Parity shards per 16 data shards: a stripe survives losing this many
    /// (compact and lossless modes; robust mode has its own error correction).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=240))]
    pub parity: u8,
    /// Robust mode: how much re-encoding the message survives, traded
    /// against capacity.
    #[arg(long, value_enum, default_value_t = Robustness::Normal)]
    pub robustness: Robustness,
}

impl LayoutArgs {
    /// The planes that carry bits, with the mode's default.
    pub fn plane_set(&self) -> vidstega_core::PlaneSet {
        match (self.planes, self.mode) {
            (_, Mode::Robust) | (Some(Planes::Luma), _) | (None, Mode::Lossless) => {
                vidstega_core::PlaneSet::Luma
            }
            (Some(Planes::All), _) | (None, Mode::Compact) => vidstega_core::PlaneSet::All,
        }
    }

    /// Refuses settings that do not go together.
    pub fn check(&self) -> Result<(), UsageError> {
        if self.mode == Mode::Robust && self.planes == Some(Planes::All) {
            return Err(UsageError(
                "robust mode embeds in the luma plane only; leave out --planes all".into(),
            ));
        }
        Ok(())
    }

    /// The planes' name, as the summaries print it.
    pub fn planes_name(&self) -> &'static str {
        match self.plane_set() {
            vidstega_core::PlaneSet::Luma => "luma",
            vidstega_core::PlaneSet::All => "all",
        }
    }
}

/// `vidstega embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// The cover video.
    pub input: PathBuf,
    /// The stego video to write: .mp4, .mov or .mkv. In compact mode, the
    /// source's own container family is copied as is; another one (or a
    /// source in MPEG-TS, AVI, ...) is stream-copied into it first.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The message, as text. Other users of this computer can read it in
    /// the process list (`ps`) while the embed runs: prefer
    /// --message-file FILE, or --message-file - to read standard input.
    #[arg(long, conflicts_with = "message_file")]
    pub message: Option<String>,
    /// The message, from a file (`-` for standard input). Reading stops,
    /// with an error, once the message cannot fit in the video.
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Lossless mode: the codec of the output.
    #[arg(long, value_enum, default_value_t = Codec::H264)]
    pub codec: Codec,
    /// Compact mode: when to transcode the source to H.264 first (once,
    /// at a quality matched to the source; it changes every picture slightly).
    #[arg(long, value_enum, default_value_t = Transcode::Auto)]
    pub transcode: Transcode,
    /// PBKDF2 iterations for the encryption key (at least 1000).
    #[arg(long, default_value_t = vidstega_core::DEFAULT_KDF_ITERATIONS,
          value_parser = clap::value_parser!(u32).range(vidstega_core::MIN_KDF_ITERATIONS as i64..))]
    pub kdf_iterations: u32,
    /// Segments embedded at once, at least 1 (default: half the cores in
    /// lossless mode, all of them in compact mode).
    #[arg(short, long, value_parser = parse_jobs)]
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
    /// Write the message to this file, atomically (default, or `-`:
    /// standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Segments read at once, at least 1 (default: half the cores).
    #[arg(short, long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Overwrite the output file if it exists; print a binary message on a
    /// terminal.
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
    /// Segments that would run at once, at least 1 (default: half the cores).
    #[arg(short, long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The container of a cloud job's output.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Container {
    /// Matroska: holds every audio codec (recommended).
    Mkv,
    /// MP4: lossless H.264 and the audio codecs MP4 can hold.
    Mp4,
    /// QuickTime.
    Mov,
}

#[cfg(feature = "cloud")]
impl Container {
    /// The job contract's name of it.
    pub fn name(self) -> vidstega_pipeline::contract::ContainerName {
        use vidstega_pipeline::contract::ContainerName;
        match self {
            Container::Mkv => ContainerName::Mkv,
            Container::Mp4 => ContainerName::Mp4,
            Container::Mov => ContainerName::Mov,
        }
    }
}

/// How requests to the presign and status Function URLs are authenticated.
#[derive(Debug, Args, Clone)]
pub struct FunctionUrlAuth {
    /// Sign requests to the Function URL with SigV4 (service `lambda`), using
    /// the credentials of the standard AWS chain (environment, profile, SSO
    /// cache, instance role). Needed when the stack's FunctionUrlAuthType is
    /// AWS_IAM (its default); also turned on by
    /// VIDSTEGA_FUNCTION_URL_AUTH=AWS_IAM.
    #[arg(long)]
    pub sign: bool,
}

/// `vidstega submit`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("transport")
        .required(true)
        .args(["presign_url", "bucket"])
))]
pub struct SubmitArgs {
    /// The cover video.
    pub input: PathBuf,
    /// The message, as text. Other users of this computer can read it in
    /// the process list (`ps`) while the embed runs: prefer
    /// --message-file FILE, or --message-file - to read standard input.
    #[arg(long, conflicts_with = "message_file")]
    pub message: Option<String>,
    /// The message, from a file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Container of the stego video the job writes [default: the source's
    /// own (mp4 for anything but Matroska) in compact mode, mkv in lossless mode].
    #[arg(long, value_enum)]
    pub container: Option<Container>,
    /// PBKDF2 iterations for the encryption key (at least 1000).
    #[arg(long, default_value_t = vidstega_core::DEFAULT_KDF_ITERATIONS,
          value_parser = clap::value_parser!(u32).range(vidstega_core::MIN_KDF_ITERATIONS as i64..))]
    pub kdf_iterations: u32,
    /// The presign Function URL (the stack's PresignUrl output): the job is
    /// created there and the files are uploaded to the URLs it returns.
    #[arg(long, value_name = "URL", conflicts_with_all = ["bucket", "queue_url"])]
    pub presign_url: Option<String>,
    #[command(flatten)]
    pub auth: FunctionUrlAuth,
    /// Upload straight to this bucket with your AWS credentials (needs
    /// --queue-url too).
    #[arg(long, value_name = "BUCKET", requires = "queue_url")]
    pub bucket: Option<String>,
    /// The jobs queue the job message is sent to (with --bucket).
    #[arg(long, value_name = "URL", requires = "bucket")]
    pub queue_url: Option<String>,
    /// Print a JSON summary instead of text (the job id alone goes to
    /// standard output without it).
    #[arg(long)]
    pub json: bool,
}

/// `vidstega status`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("source")
        .required(true)
        .args(["status_url", "table"])
))]
pub struct StatusArgs {
    /// The job id `vidstega submit` printed.
    pub job: String,
    /// The status Function URL (the stack's StatusUrl output).
    #[arg(long, value_name = "URL", conflicts_with = "table")]
    pub status_url: Option<String>,
    #[command(flatten)]
    pub auth: FunctionUrlAuth,
    /// Read the job table in DynamoDB directly with your AWS credentials.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// The bucket to download the output from (with --table --download).
    #[arg(long, value_name = "BUCKET", requires = "table")]
    pub bucket: Option<String>,
    /// Keep polling until the job is done or failed, with a progress bar.
    #[arg(long)]
    pub follow: bool,
    /// Seconds between polls with --follow.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub interval: f64,
    /// Give up following after this long (e.g. 90s, 30m, 2h; plain numbers are seconds).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// When the job is done, download the stego video to this file.
    #[arg(long, value_name = "FILE")]
    pub download: Option<PathBuf>,
    /// Overwrite the --download file if it exists.
    #[arg(long, requires = "download")]
    pub force: bool,
    /// Print one line of JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Parses `90`, `90s`, `30m`, `2h` or `1d` into a duration.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86400.0,
        _ => return Err(format!("{text:?} is not a duration like 90s, 30m or 2h")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 30m or 2h"))?;
    let seconds = value * scale;
    if !(seconds.is_finite() && seconds > 0.0 && seconds < 1e9) {
        return Err(format!("{text:?} is not a positive duration"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// A mistake in how the command was called that clap cannot see (a missing
/// password or message source): exit code 2, like clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An input that cannot be used (a folder or a pipe given as the video, an
/// unreadable message file, a message that cannot fit): exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// A `--jobs` value: a whole number, at least 1.
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number like 2")),
    }
}

/// Fails unless the video at `path` is a regular file (or a link to one).
/// ffprobe and ffmpeg read a video several times, so a pipe or a device
/// cannot be used, and opening a named pipe that has no writer would wait
/// forever; a folder is refused with its own message. A path that cannot be
/// read at all is left to the probe, which says why.
pub fn require_video_file(path: &std::path::Path) -> Result<(), InputError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    if t.is_dir() {
        return Err(InputError(format!(
            "{} is a folder, not a video file: give the video file itself",
            path.display()
        )));
    }
    let kind = if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(InputError(format!(
        "{} is {kind}, not a video file: the video is read more than once, so give a regular file \
         (save a stream to a file first)",
        path.display()
    )))
}

/// Segments run at once: the flag, or half the cores (at least one). Each
/// segment's ffmpeg decoder and encoder already use several threads; on 2
/// cores, two segments at once measured ~25% slower than one at a time.
pub fn workers(flag: Option<usize>) -> usize {
    flag.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        (cores / 2).max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "0", "-5", "5 weeks", "h", "1e99h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
