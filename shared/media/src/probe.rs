//! What is in a media file, from ffprobe, without decoding a single frame.
//!
//! Why two ffprobe runs: the JSON stream report gives codecs, sizes, rates
//! and rotation, but not an exact frame count (container `nb_frames` is
//! missing in Matroska and can be wrong elsewhere) nor where the keyframes
//! are. The second run lists every packet of the video stream (timestamps
//! and flags only, no decoding), which gives both exactly and quickly.
//!
//! Display order: packets arrive in decode order. Sorting them by
//! presentation timestamp (pts) gives display order; frame `i` is the packet
//! with the `i`-th smallest pts, and a keyframe's display index is the rank
//! of its pts. Packets flagged "discard" (edit-list trimming in MP4) produce
//! no frame and are left out.
//!
//! Limitation: if any packet lacks a pts (raw `.h264` streams, AVI with
//! B-frames), display order cannot be known without decoding. The order
//! then falls back to dts (or to file order), the keyframe positions are
//! approximate, and the decoder reads such files from the start and counts
//! frames instead of seeking (see [`crate::FrameReader`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

use serde::Deserialize;

use crate::error::{MediaError, StderrTail};
use crate::process::{tail_of, StderrDrain};
use crate::rational::Rational;
use crate::tools::{locate, Tool};

/// Everything the pipeline needs to know about a source file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaInfo {
    /// The file that was probed.
    pub path: PathBuf,
    /// Container format as FFmpeg names it, e.g. `"mov,mp4,m4a,3gp,3g2,mj2"`
    /// or `"matroska,webm"`.
    pub format_name: String,
    /// Size of the file in bytes.
    pub size_bytes: u64,
    /// Container duration in seconds, if known.
    pub duration_seconds: Option<f64>,
    /// Container start time in seconds (the earliest stream start), 0 if unknown.
    pub start_time_seconds: f64,
    /// The first video stream that is not cover art.
    pub video: VideoStreamInfo,
    /// All audio streams, in file order.
    pub audio: Vec<AudioStreamInfo>,
    /// All subtitle streams, in file order.
    pub subtitles: Vec<SubtitleStreamInfo>,
    /// Streams the pipeline does not carry over: further video streams, cover
    /// art, data and attachment streams.
    pub other_streams: Vec<OtherStreamInfo>,
    /// Whether MP4/MOV edit lists were ignored ([`ProbeOptions::raw_timeline`]):
    /// every sample is then a frame, at its stored timestamp, and decoders
    /// must ignore the edit lists too (see [`crate::FrameReader`]).
    #[serde(default)]
    pub raw_timeline: bool,
}

/// How to probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Ignore MP4/MOV edit lists, so that every stored sample counts as a
    /// frame at its stored timestamp, in the same order as the container's
    /// sample table. Compact mode needs this: it addresses pictures by their
    /// place among the stored samples, and an edit list may hide some of
    /// them (a stream-copied cut starts with hidden pictures).
    pub raw_timeline: bool,
}

/// Where the display order of frames came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimestampSource {
    /// Every packet had a presentation timestamp: display order is exact.
    Pts,
    /// Some packets had no pts; ordered by decode timestamp instead.
    Dts,
    /// Some packets had neither; file order was used.
    PacketOrder,
}

/// Colour metadata of the video stream, as ffprobe names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ColorInfo {
    /// `"tv"` (limited) or `"pc"` (full), if tagged.
    pub range: Option<String>,
    /// Matrix, e.g. `"bt709"`.
    pub space: Option<String>,
    /// Primaries, e.g. `"bt709"`.
    pub primaries: Option<String>,
    /// Transfer characteristics, e.g. `"bt709"`.
    pub transfer: Option<String>,
}

/// The video stream the data is hidden in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoStreamInfo {
    /// Absolute stream index in the file (what `-map 0:<index>` takes).
    pub index: usize,
    /// Codec, e.g. `"h264"`.
    pub codec_name: String,
    /// Coded width in pixels (before rotation).
    pub width: u32,
    /// Coded height in pixels (before rotation).
    pub height: u32,
    /// FFmpeg pixel format name, e.g. `"yuv420p"`.
    pub pix_fmt: Option<String>,
    /// Bits per sample, if the stream says.
    pub bits_per_raw_sample: Option<u32>,
    /// FFmpeg's guess of the base frame rate (exact).
    pub r_frame_rate: Rational,
    /// Average frame rate (exact).
    pub avg_frame_rate: Rational,
    /// Unit of the timestamps in [`VideoStreamInfo::display_pts`].
    pub time_base: Rational,
    /// Stream start time in seconds, if known.
    pub start_time_seconds: Option<f64>,
    /// Display rotation in degrees counter-clockwise, normalised to 0, 90,
    /// 180 or 270, from the display-matrix side data or the `rotate` tag.
    /// Frames are always decoded unrotated.
    pub rotation_degrees: i32,
    /// Pixel aspect ratio, when not square.
    pub sample_aspect_ratio: Option<Rational>,
    /// Colour tags.
    pub color: ColorInfo,
    /// Exact number of frames (packets minus discarded ones).
    pub frame_count: u64,
    /// Display-order indices of the keyframes, ascending.
    pub keyframes: Vec<u64>,
    /// Presentation timestamp of every frame in display order, in
    /// [`VideoStreamInfo::time_base`] units (from dts or packet order when
    /// [`VideoStreamInfo::timestamps`] says so).
    pub display_pts: Vec<i64>,
    /// How reliable [`VideoStreamInfo::display_pts`] is.
    pub timestamps: TimestampSource,
    /// Whether frames are not evenly spaced (see [`detect_variable_frame_rate`]).
    pub is_variable_frame_rate: bool,
    /// Why the frame rate was judged variable (empty when constant).
    pub variable_frame_rate_detail: String,
    /// For each packet in decoding (file) order, its display index, or
    /// `None` if the demuxer discards it. Not serialised.
    #[serde(skip)]
    pub packet_display_index: Vec<Option<u64>>,
}

/// An audio stream (copied unchanged into the output).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudioStreamInfo {
    /// Absolute stream index.
    pub index: usize,
    /// Codec, e.g. `"aac"`.
    pub codec_name: String,
    /// Channel count, if known.
    pub channels: Option<u32>,
    /// Sample rate in Hz, if known.
    pub sample_rate: Option<u32>,
    /// Language tag, if any.
    pub language: Option<String>,
}

/// A subtitle stream (copied when the output container can hold it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubtitleStreamInfo {
    /// Absolute stream index.
    pub index: usize,
    /// Codec, e.g. `"subrip"` or `"mov_text"`.
    pub codec_name: String,
    /// Language tag, if any.
    pub language: Option<String>,
}

/// A stream that is not carried over.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OtherStreamInfo {
    /// Absolute stream index.
    pub index: usize,
    /// `"video"`, `"data"`, `"attachment"`, ...
    pub codec_type: String,
    /// Codec name, if any.
    pub codec_name: Option<String>,
    /// Why it is not the main video (e.g. "cover art").
    pub note: String,
}

impl MediaInfo {
    /// Errors with [`MediaError::VariableFrameRate`] (which suggests the
    /// conversion command) when the video's frame rate is variable.
    pub fn require_constant_frame_rate(&self) -> Result<(), MediaError> {
        if !self.video.is_variable_frame_rate {
            return Ok(());
        }
        let avg = self.video.avg_frame_rate;
        let suggested = if avg.is_valid() {
            let fps = avg.as_f64();
            if (fps - fps.round()).abs() < 0.01 {
                format!("{}", fps.round() as i64)
            } else {
                format!("{fps:.3}")
            }
        } else {
            "30".to_string()
        };
        Err(MediaError::VariableFrameRate {
            path: self.path.clone(),
            detail: self.video.variable_frame_rate_detail.clone(),
            suggested_rate: suggested,
        })
    }
}

impl VideoStreamInfo {
    /// The constant frame rate used to re-encode: `r_frame_rate`, or the
    /// average rate if FFmpeg could not guess a base rate.
    pub fn frame_rate(&self) -> Rational {
        if self.r_frame_rate.is_valid() {
            self.r_frame_rate
        } else {
            self.avg_frame_rate
        }
    }

    /// Presentation time in seconds (stream clock, not shifted to 0) of the
    /// frame with display index `index`.
    pub fn pts_seconds(&self, index: u64) -> Option<f64> {
        let pts = *self.display_pts.get(usize::try_from(index).ok()?)?;
        Some(pts as f64 * self.time_base.as_f64())
    }

    /// The last keyframe at or before display frame `index` (0 if none).
    pub fn keyframe_at_or_before(&self, index: u64) -> u64 {
        match self.keyframes.binary_search(&index) {
            Ok(i) => self.keyframes[i],
            Err(0) => 0,
            Err(i) => self.keyframes[i - 1],
        }
    }

    /// Splits all frames into consecutive ranges that each start at a
    /// keyframe (the first starts at 0) and hold at least `min_frames`
    /// frames where possible. Decoding such ranges needs no extra frames.
    pub fn keyframe_aligned_ranges(&self, min_frames: u64) -> Vec<Range<u64>> {
        let mut ranges = Vec::new();
        let mut start = 0u64;
        for &k in &self.keyframes {
            if k > start && k - start >= min_frames.max(1) {
                ranges.push(start..k);
                start = k;
            }
        }
        if start < self.frame_count {
            ranges.push(start..self.frame_count);
        }
        ranges
    }
}

/// Whether `path` is an `http://` or `https://` URL rather than a file.
pub fn is_url(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|p| p.starts_with("https://") || p.starts_with("http://"))
}

/// Input options for reading `path` (given before its `-i`, or before the
/// input for ffprobe): for a URL, reconnect after a dropped connection, a
/// network error or a 5xx answer (up to 4 s between tries), give up on a
/// connection silent for 30 s rather than stall or end the read early, and
/// use no proxy (the URLs the pipeline reads are its own loopback server's;
/// ffmpeg would otherwise send them to an `http_proxy` from the
/// environment); for a file, none.
pub fn url_input_options(path: &Path) -> &'static [&'static str] {
    if is_url(path) {
        &[
            "-http_proxy",
            "",
            "-reconnect",
            "1",
            "-reconnect_on_network_error",
            "1",
            "-reconnect_on_http_error",
            "5xx",
            "-reconnect_delay_max",
            "4",
            "-rw_timeout",
            "30000000",
        ]
    } else {
        &[]
    }
}

/// Probes `path` (a file, or an http(s) URL): streams, exact frame count,
/// keyframes, timestamps.
///
/// Errors: [`MediaError::Io`] (missing/unreadable), [`MediaError::EmptyFile`],
/// [`MediaError::NotMedia`], [`MediaError::NoVideoStream`],
/// [`MediaError::Truncated`], [`MediaError::ToolMissing`].
pub fn probe(path: &Path) -> Result<MediaInfo, MediaError> {
    probe_with(path, ProbeOptions::default())
}

/// Checks, with one quick ffprobe run (streams and format, no packet
/// list), that `path` is readable media with a video stream. The errors
/// are [`probe`]'s; a file that passes may still fail a full probe (a
/// damaged packet index, for instance).
pub fn check_video(path: &Path) -> Result<(), MediaError> {
    probe_header(path).map(|_| ())
}

/// What a file's header says about its video, read without listing its
/// packets (one quick ffprobe run): enough to check limits before the whole
/// file is read.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoHeader {
    /// The file's size in bytes (as ffprobe or the file system reports it).
    pub size_bytes: u64,
    /// The container's duration, if it states one.
    pub duration_seconds: Option<f64>,
    /// Coded width of the video stream.
    pub width: u32,
    /// Coded height of the video stream.
    pub height: u32,
    /// The frame count the container states (MP4/MOV sample tables do;
    /// Matroska usually does not).
    pub frame_count: Option<u64>,
}

/// [`check_video`], returning what the header says ([`VideoHeader`]).
pub fn probe_header(path: &Path) -> Result<VideoHeader, MediaError> {
    probe_header_report(path, ProbeOptions::default()).map(|(header, _)| header)
}

/// [`probe_header`] with options, also returning ffprobe's stream report,
/// which [`probe_with_report`] can use instead of running it again: a
/// caller that checks a file's header first and probes it fully later (the
/// compact-mode embed) then starts one ffprobe for the report, not two.
pub fn probe_header_report(
    path: &Path,
    options: ProbeOptions,
) -> Result<(VideoHeader, StreamReport), MediaError> {
    match probe_impl(path, options, false, None, None)? {
        (Probed::Header(h), report) => Ok((h, report)),
        (Probed::Full(_), _) => unreachable!("no packets were asked for"),
    }
}

/// [`probe`] with options.
pub fn probe_with(path: &Path, options: ProbeOptions) -> Result<MediaInfo, MediaError> {
    probe_with_report(path, options, None)
}

/// [`probe_with`], using `report` (from [`probe_header_report`]) instead of
/// running ffprobe's stream report again when it was made with the same
/// options for this very file (same file, size and modification time);
/// otherwise as `probe_with`.
pub fn probe_with_report(
    path: &Path,
    options: ProbeOptions,
    report: Option<&StreamReport>,
) -> Result<MediaInfo, MediaError> {
    probe_with_known_packets(path, options, report, None)
}

/// [`probe_with_report`], taking the video stream's packets from `known`
/// (the container's own tables) instead of ffprobe's packet listing, which
/// starts a process and reads the whole file. `known` is used only where
/// it must say what the listing would: edit lists ignored
/// ([`ProbeOptions::raw_timeline`]), an MP4/MOV file (FFmpeg's `mov`
/// demuxer), the stream ffprobe picks as the video has the container id
/// `known.stream_id`, and the same time base; otherwise the listing runs as
/// usual.
pub fn probe_with_known_packets(
    path: &Path,
    options: ProbeOptions,
    report: Option<&StreamReport>,
    known: Option<&KnownPackets>,
) -> Result<MediaInfo, MediaError> {
    let reuse =
        report.filter(|r| r.options == options && r.identity.is_some() && r.identity == identity_of(path));
    let known = known.filter(|k| options.raw_timeline && !k.packets.is_empty());
    match probe_impl(path, options, true, reuse, known)? {
        (Probed::Full(info), _) => Ok(*info),
        (Probed::Header(_), _) => unreachable!("packets were asked for"),
    }
}

/// A video stream's packets as its container's tables give them, for
/// [`probe_with_known_packets`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownPackets {
    /// The stream's id in the container (MP4 `track_ID`), which ffprobe
    /// reports as the stream's `id`.
    pub stream_id: u64,
    /// The unit of the timestamps.
    pub time_base: Rational,
    /// Each packet's presentation timestamp and keyframe flag, in decoding
    /// order, exactly as FFmpeg's demuxer gives them.
    pub packets: Vec<(i64, bool)>,
}

/// ffprobe's stream report (`-show_format -show_streams`, JSON) of a local
/// file, kept by [`probe_header_report`] for [`probe_with_report`].
#[derive(Clone, Debug, PartialEq)]
pub struct StreamReport {
    /// The options it was made with.
    options: ProbeOptions,
    /// Which file it describes (`None` for a URL: never reused).
    identity: Option<FileIdentity>,
    /// ffprobe's standard output.
    json: Vec<u8>,
    /// ffprobe's standard error (its last lines).
    stderr: StderrTail,
}

/// What tells one local file from another, or from itself after a change:
/// device and inode (Unix), size and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

/// The identity of the local file at `path` (`None` for a URL or an
/// unreadable path).
fn identity_of(path: &Path) -> Option<FileIdentity> {
    if is_url(path) {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (device, inode) = {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    };
    #[cfg(not(unix))]
    let (device, inode) = (0, 0);
    Some(FileIdentity {
        device,
        inode,
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// What [`probe_impl`] read.
enum Probed {
    /// Streams and format only.
    Header(VideoHeader),
    /// Everything, packets included.
    Full(Box<MediaInfo>),
}

/// Probes; without `packets`, stops after finding the video stream and
/// returns its header. With `reuse`, takes the stream report from it
/// instead of running ffprobe for it; with `known`, the packets from it
/// when it fits the stream (see [`probe_with_known_packets`]).
fn probe_impl(
    path: &Path,
    options: ProbeOptions,
    packets: bool,
    reuse: Option<&StreamReport>,
    container_packets: Option<&KnownPackets>,
) -> Result<(Probed, StreamReport), MediaError> {
    // ffprobe ignores demuxer options a format does not have, so the MP4
    // option can be given for any input.
    let demuxer_options: &[&str] = if options.raw_timeline {
        &["-ignore_editlist", "1"]
    } else {
        &[]
    };
    // An http(s) URL (e.g. the S3 adapter's loopback server) is handed to ffprobe as is;
    // ffmpeg reads it with range requests.
    let local = !is_url(path);
    let mut file_len = None;
    if local {
        let meta = std::fs::metadata(path).map_err(|e| MediaError::io("read", path, e))?;
        if meta.is_dir() {
            return Err(MediaError::io(
                "read",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "it is a directory, not a file"),
            ));
        }
        // Opening it tells "no permission" apart from ffprobe's vaguer errors.
        std::fs::File::open(path).map_err(|e| MediaError::io("read", path, e))?;
        if meta.len() == 0 {
            return Err(MediaError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        file_len = Some(meta.len());
    }
    let ffprobe = locate(Tool::Ffprobe)?;
    let listing = if packets && container_packets.is_none() {
        Some(PacketListing::start(&ffprobe, path, demuxer_options)?)
    } else {
        None
    };

    let stream_report = match reuse {
        Some(report) => report.clone(),
        None => {
            let identity = identity_of(path);
            let out = Command::new(&ffprobe)
                .args([
                    "-v",
                    "error",
                    "-print_format",
                    "json",
                    "-show_format",
                    "-show_streams",
                ])
                .args(demuxer_options)
                .args(url_input_options(path))
                .arg(path)
                .stdin(Stdio::null())
                .output()
                .map_err(|source| MediaError::Spawn {
                    tool: Tool::Ffprobe,
                    path: ffprobe.clone(),
                    env_var: Tool::Ffprobe.env_var(),
                    source,
                })?;
            let stderr = StderrTail(tail_of(&String::from_utf8_lossy(&out.stderr)));
            if !out.status.success() {
                return Err(classify_unreadable(path, stderr));
            }
            StreamReport {
                options,
                identity,
                json: out.stdout,
                stderr,
            }
        }
    };
    let stderr = stream_report.stderr.clone();
    let report: ProbeJson =
        serde_json::from_slice(&stream_report.json).map_err(|e| MediaError::ProbeOutput {
            path: path.to_path_buf(),
            detail: "the JSON stream report did not parse".into(),
            source: Some(e),
        })?;
    let format = report.format.ok_or_else(|| MediaError::NotMedia {
        path: path.to_path_buf(),
        stderr: stderr.clone(),
    })?;

    let mut video: Option<&StreamJson> = None;
    let mut audio = Vec::new();
    let mut subtitles = Vec::new();
    let mut other_streams = Vec::new();
    for s in &report.streams {
        let kind = s.codec_type.as_deref().unwrap_or("unknown");
        let cover_art = s.disposition.get("attached_pic").copied().unwrap_or(0) != 0;
        match kind {
            "video" if !cover_art && video.is_none() && s.width.unwrap_or(0) > 0 => video = Some(s),
            "audio" => audio.push(AudioStreamInfo {
                index: s.index,
                codec_name: s.codec_name.clone().unwrap_or_else(|| "unknown".into()),
                channels: s.channels,
                sample_rate: s.sample_rate.as_deref().and_then(|r| r.parse().ok()),
                language: s.tag("language"),
            }),
            "subtitle" => subtitles.push(SubtitleStreamInfo {
                index: s.index,
                codec_name: s.codec_name.clone().unwrap_or_else(|| "unknown".into()),
                language: s.tag("language"),
            }),
            _ => other_streams.push(OtherStreamInfo {
                index: s.index,
                codec_type: kind.to_string(),
                codec_name: s.codec_name.clone(),
                note: if cover_art {
                    "cover art".into()
                } else if kind == "video" {
                    "additional video stream".into()
                } else {
                    format!("{kind} stream")
                },
            }),
        }
    }
    let Some(v) = video else {
        let found = if report.streams.is_empty() {
            "no streams at all".to_string()
        } else {
            report
                .streams
                .iter()
                .map(|s| {
                    format!(
                        "{} {}",
                        s.codec_type.as_deref().unwrap_or("unknown"),
                        s.codec_name.as_deref().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(MediaError::NoVideoStream {
            path: path.to_path_buf(),
            found,
        });
    };

    let time_base = v
        .time_base
        .as_deref()
        .and_then(Rational::parse)
        .filter(Rational::is_valid)
        .ok_or_else(|| MediaError::ProbeOutput {
            path: path.to_path_buf(),
            detail: format!("video stream {} has no usable time_base", v.index),
            source: None,
        })?;
    let r_frame_rate = v
        .r_frame_rate
        .as_deref()
        .and_then(Rational::parse)
        .unwrap_or(Rational { num: 0, den: 0 });
    let avg_frame_rate = v
        .avg_frame_rate
        .as_deref()
        .and_then(Rational::parse)
        .unwrap_or(Rational { num: 0, den: 0 });

    if !packets {
        let header = VideoHeader {
            size_bytes: format
                .size
                .as_deref()
                .and_then(|s| s.parse().ok())
                .or(file_len)
                .unwrap_or(0),
            duration_seconds: format.duration.as_deref().and_then(|d| d.parse().ok()),
            width: v.width.unwrap_or(0),
            height: v.height.unwrap_or(0),
            frame_count: v
                .nb_frames
                .as_deref()
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0),
        };
        return Ok((Probed::Header(header), stream_report));
    }
    let fits = |k: &&KnownPackets| {
        format
            .format_name
            .as_deref()
            .is_some_and(|f| f.starts_with("mov,"))
            && v.id.as_deref() == Some(format!("0x{:x}", k.stream_id).as_str())
            && k.time_base.num * time_base.den == time_base.num * k.time_base.den
    };
    let packets = match (container_packets.filter(fits), listing) {
        (Some(k), _) => PacketList {
            packets: k
                .packets
                .iter()
                .map(|&(pts, key)| Packet {
                    pts: Some(pts),
                    dts: None,
                    key,
                    discard: false,
                })
                .collect(),
            stderr: StderrTail::default(),
        },
        (None, Some(listing)) => listing.finish(&ffprobe, path, v.index)?,
        // The container's packets do not fit the stream: list them.
        (None, None) => {
            PacketListing::start(&ffprobe, path, demuxer_options)?.finish(&ffprobe, path, v.index)?
        }
    };
    let order = display_order(&packets.packets);
    if order.frames.is_empty() {
        return Err(MediaError::Truncated {
            path: path.to_path_buf(),
            detail: "the video stream has no frames".into(),
            stderr: packets.stderr,
        });
    }
    if let Some(marker) = truncation_marker(&packets.stderr.0) {
        return Err(MediaError::Truncated {
            path: path.to_path_buf(),
            detail: format!("ffprobe reported \"{marker}\" while listing the video packets"),
            stderr: packets.stderr,
        });
    }
    // An MP4/MOV cut short after its index (a "faststart" file, or a copy
    // that stopped in the media data) still plays up to the cut, and the
    // demuxer shortens the last packet to what is there: its top-level
    // boxes say how long the file should be.
    if file_len.is_some() && starts_with_ftyp(path) {
        if let Some(detail) = mp4_box_past_end(path) {
            return Err(MediaError::Truncated {
                path: path.to_path_buf(),
                detail,
                stderr: packets.stderr,
            });
        }
    }

    let frame_rate = if r_frame_rate.is_valid() {
        r_frame_rate
    } else {
        avg_frame_rate
    };
    let (is_vfr, vfr_detail) = if order.source == TimestampSource::Pts {
        match detect_variable_frame_rate(&order.frames, time_base, frame_rate) {
            Some(detail) => (true, detail),
            None => (false, String::new()),
        }
    } else {
        (false, String::new())
    };

    let video = VideoStreamInfo {
        index: v.index,
        codec_name: v.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        width: v.width.unwrap_or(0),
        height: v.height.unwrap_or(0),
        pix_fmt: v.pix_fmt.clone(),
        bits_per_raw_sample: v.bits_per_raw_sample.as_deref().and_then(|b| b.parse().ok()),
        r_frame_rate,
        avg_frame_rate,
        time_base,
        start_time_seconds: v.start_time.as_deref().and_then(|t| t.parse().ok()),
        rotation_degrees: rotation_of(v),
        sample_aspect_ratio: v
            .sample_aspect_ratio
            .as_deref()
            .and_then(Rational::parse)
            .filter(|r| r.is_valid() && r.num != r.den),
        color: ColorInfo {
            range: known(&v.color_range),
            space: known(&v.color_space),
            primaries: known(&v.color_primaries),
            transfer: known(&v.color_transfer),
        },
        frame_count: order.frames.len() as u64,
        keyframes: order.keyframes,
        display_pts: order.frames,
        timestamps: order.source,
        is_variable_frame_rate: is_vfr,
        variable_frame_rate_detail: vfr_detail,
        packet_display_index: order.packet_display_index,
    };

    let info = MediaInfo {
        path: path.to_path_buf(),
        format_name: format.format_name.unwrap_or_default(),
        size_bytes: format
            .size
            .as_deref()
            .and_then(|s| s.parse().ok())
            .or(file_len)
            .unwrap_or(0),
        duration_seconds: format.duration.as_deref().and_then(|d| d.parse().ok()),
        start_time_seconds: format
            .start_time
            .as_deref()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
        video,
        audio,
        subtitles,
        other_streams,
        raw_timeline: options.raw_timeline,
    };
    Ok((Probed::Full(Box::new(info)), stream_report))
}

/// Decides whether frames are unevenly spaced.
///
/// `pts` must be in display order and in `time_base` units; `rate` is the
/// rate the video would be re-encoded at. Returns why, or `None` for
/// constant frame rate. Two checks, both tolerant of containers that round
/// timestamps (Matroska stores milliseconds, so 29.97 fps alternates 33 and
/// 34 ms):
///
/// 1. every gap between neighbouring frames is within one time-base tick
///    plus 1% of the nominal frame duration; a dropped or duplicated frame,
///    or a rate switch, fails this;
/// 2. the span from first to last frame is within half a frame of
///    `(frames - 1)` nominal durations, so slow drift that would carry the
///    re-encoded video out of sync with the audio also fails.
pub fn detect_variable_frame_rate(pts: &[i64], time_base: Rational, rate: Rational) -> Option<String> {
    if pts.len() < 2 {
        return None;
    }
    if !rate.is_valid() {
        return Some("the stream has no usable frame rate".into());
    }
    // Nominal frame duration in ticks: (1/rate) / time_base.
    let expected = (rate.den as f64 * time_base.den as f64) / (rate.num as f64 * time_base.num as f64);
    let tolerance = 1.0 + expected * 0.01;
    let mut worst: Option<(usize, i64)> = None;
    for (i, pair) in pts.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let deviation = (gap as f64 - expected).abs();
        let worse = match worst {
            None => true,
            Some((_, w)) => deviation > (w as f64 - expected).abs(),
        };
        if deviation > tolerance && worse {
            worst = Some((i, gap));
        }
    }
    let seconds = |ticks: f64| ticks * time_base.as_f64();
    if let Some((i, gap)) = worst {
        return Some(format!(
            "the gap between frames {i} and {} is {:.4} s, but {} fps needs {:.4} s",
            i + 1,
            seconds(gap as f64),
            rate,
            seconds(expected)
        ));
    }
    let span = (pts[pts.len() - 1] - pts[0]) as f64;
    let nominal = expected * (pts.len() - 1) as f64;
    if (span - nominal).abs() > (expected / 2.0).max(1.0) {
        return Some(format!(
            "{} frames span {:.3} s, but at {} fps they would span {:.3} s",
            pts.len(),
            seconds(span),
            rate,
            seconds(nominal)
        ));
    }
    None
}

// ---------------------------------------------------------------------------
// ffprobe JSON

#[derive(Debug, Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<StreamJson>,
    format: Option<FormatJson>,
}

#[derive(Debug, Deserialize)]
struct FormatJson {
    format_name: Option<String>,
    duration: Option<String>,
    size: Option<String>,
    start_time: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StreamJson {
    index: usize,
    /// The container's id of the stream (MP4 `track_ID`), e.g. `"0x1"`.
    id: Option<String>,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    nb_frames: Option<String>,
    pix_fmt: Option<String>,
    bits_per_raw_sample: Option<String>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    time_base: Option<String>,
    start_time: Option<String>,
    sample_aspect_ratio: Option<String>,
    color_range: Option<String>,
    color_space: Option<String>,
    color_primaries: Option<String>,
    color_transfer: Option<String>,
    channels: Option<u32>,
    sample_rate: Option<String>,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    disposition: HashMap<String, i64>,
    #[serde(default)]
    side_data_list: Vec<SideDataJson>,
}

impl StreamJson {
    fn tag(&self, key: &str) -> Option<String> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    }
}

#[derive(Debug, Deserialize)]
struct SideDataJson {
    side_data_type: Option<String>,
    rotation: Option<serde_json::Value>,
}

fn known(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty() && v != "unknown")
}

/// Rotation from the display matrix (preferred) or the legacy `rotate` tag,
/// normalised to 0..360.
fn rotation_of(stream: &StreamJson) -> i32 {
    let from_matrix = stream
        .side_data_list
        .iter()
        .filter(|sd| sd.side_data_type.as_deref() == Some("Display Matrix"))
        .find_map(|sd| sd.rotation.as_ref().and_then(|r| r.as_f64()));
    let degrees = from_matrix.or_else(|| stream.tag("rotate").and_then(|r| r.trim().parse::<f64>().ok()));
    degrees
        .map(|d| (d.round() as i64).rem_euclid(360) as i32)
        .unwrap_or(0)
}

/// Turns a failed JSON probe into the most helpful error.
/// What in ffmpeg's stderr says a read by URL failed in the network or at
/// the server rather than in the video (these are messages of FFmpeg's
/// network protocols, never of a file input), and whether trying again can
/// help.
pub fn network_failure(stderr: &str) -> Option<(&'static str, bool)> {
    let text = stderr.to_ascii_lowercase();
    const MARKERS: &[(&str, &str, bool)] = &[
        (
            "failed to resolve hostname",
            "the server's name did not resolve",
            true,
        ),
        ("connection refused", "the connection was refused", true),
        ("connection timed out", "the connection timed out", true),
        ("connection reset", "the connection was reset", true),
        ("network is unreachable", "the network is unreachable", true),
        (
            "stream ends prematurely",
            "the connection ended before the bytes did",
            true,
        ),
        ("server returned 5", "the server answered with a 5xx error", true),
        ("server returned 403", "the server refused access (403)", false),
        ("server returned 404", "the object is not there (404)", false),
        ("operation timed out", "the read timed out", true),
    ];
    MARKERS
        .iter()
        .find(|(marker, _, _)| text.contains(marker))
        .map(|&(_, detail, transient)| (detail, transient))
}

fn classify_unreadable(path: &Path, stderr: StderrTail) -> MediaError {
    if let Some((detail, transient)) = is_url(path).then(|| network_failure(&stderr.0)).flatten() {
        return MediaError::Unreachable {
            detail: detail.into(),
            transient,
            stderr,
        };
    }
    let text = stderr.0.to_ascii_lowercase();
    // An MP4/MOV whose index ("moov") is missing but which starts like an
    // MP4 was almost certainly cut off before the index was written.
    if text.contains("moov atom not found") && starts_with_ftyp(path) {
        return MediaError::Truncated {
            path: path.to_path_buf(),
            detail: "the MP4/MOV index (moov atom) is missing, which happens when a recording or copy is cut short"
                .into(),
            stderr,
        };
    }
    if let Some(marker) = truncation_marker(&stderr.0) {
        return MediaError::Truncated {
            path: path.to_path_buf(),
            detail: format!("ffprobe reported \"{marker}\""),
            stderr,
        };
    }
    MediaError::NotMedia {
        path: path.to_path_buf(),
        stderr,
    }
}

/// The first top-level MP4/MOV box that claims to extend past the end of
/// the file, said for a person; `None` when every box fits (or the file
/// cannot be read, which the probe reports its own way).
fn mp4_box_past_end(path: &Path) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut at = 0u64;
    while at + 8 <= len {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut head = [0u8; 16];
        let got = file.read(&mut head).ok()?;
        if got < 8 {
            return None;
        }
        let kind = String::from_utf8_lossy(&head[4..8]).into_owned();
        let size = match u32::from_be_bytes(head[..4].try_into().ok()?) {
            // To the end of the file.
            0 => return None,
            1 if got >= 16 => u64::from_be_bytes(head[8..16].try_into().ok()?),
            1 => return None,
            n => u64::from(n),
        };
        if size < 8 {
            return None;
        }
        if at + size > len {
            return Some(format!(
                "box '{kind}' at byte {at} claims {size} bytes but the file ends {} bytes later",
                len - at
            ));
        }
        at += size;
    }
    None
}

fn starts_with_ftyp(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head[4..8] == b"ftyp")
        .unwrap_or(false)
}

fn truncation_marker(stderr: &str) -> Option<&'static str> {
    let lower = stderr.to_ascii_lowercase();
    [
        "partial file",
        "ended prematurely",
        "truncat",
        "end of file",
        "read error",
        "premature end",
    ]
    .into_iter()
    .find(|m| lower.contains(m))
}

// ---------------------------------------------------------------------------
// Packet listing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packet {
    pts: Option<i64>,
    dts: Option<i64>,
    key: bool,
    discard: bool,
}

struct PacketList {
    packets: Vec<Packet>,
    stderr: StderrTail,
}

/// Packets, each with the index of its stream, in file order.
type StreamPackets = Vec<(usize, Packet)>;

/// ffprobe listing the packets of every video stream, started before the
/// stream report says which stream is the video: the two processes run side
/// by side (each a process start and a read of the container's index) and
/// the listing is read on its own thread meanwhile. Dropped unfinished, the
/// process is killed and reaped.
struct PacketListing {
    child: Option<std::process::Child>,
    lines: Option<JoinHandle<std::io::Result<StreamPackets>>>,
    drain: Option<StderrDrain>,
}

impl PacketListing {
    fn start(ffprobe: &Path, path: &Path, demuxer_options: &[&str]) -> Result<Self, MediaError> {
        let mut child = Command::new(ffprobe)
            .args(["-v", "error", "-select_streams", "v"])
            .args([
                "-show_entries",
                "packet=stream_index,pts,dts,flags",
                "-of",
                "csv=p=0:nk=0",
            ])
            .args(demuxer_options)
            .args(url_input_options(path))
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| MediaError::Spawn {
                tool: Tool::Ffprobe,
                path: ffprobe.to_path_buf(),
                env_var: Tool::Ffprobe.env_var(),
                source,
            })?;
        let drain = StderrDrain::plain(child.stderr.take().expect("stderr is piped"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let lines = std::thread::Builder::new()
            .name("ffprobe-packets".into())
            .spawn(move || {
                let mut packets = Vec::new();
                for line in BufReader::new(stdout).lines() {
                    let line = line?;
                    if let (Some(stream), Some(p)) = (stream_index_of(&line), parse_packet_line(&line)) {
                        packets.push((stream, p));
                    }
                }
                Ok(packets)
            })
            .map_err(|e| MediaError::io("start a thread to read", path, e))?;
        Ok(PacketListing {
            child: Some(child),
            lines: Some(lines),
            drain: Some(drain),
        })
    }

    /// Waits for the listing and keeps the packets of `stream_index`.
    fn finish(mut self, ffprobe: &Path, path: &Path, stream_index: usize) -> Result<PacketList, MediaError> {
        let read = self
            .lines
            .take()
            .expect("the listing is read once")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let status = self
            .child
            .take()
            .expect("the listing is waited for once")
            .wait()
            .map_err(|source| MediaError::Spawn {
                tool: Tool::Ffprobe,
                path: ffprobe.to_path_buf(),
                env_var: Tool::Ffprobe.env_var(),
                source,
            })?;
        let stderr = self.drain.take().expect("stderr is drained once").finish();
        let packets = read.map_err(|e| MediaError::ProbeOutput {
            path: path.to_path_buf(),
            detail: format!("reading ffprobe's packet list failed: {e}"),
            source: None,
        })?;
        if !status.success() {
            return Err(MediaError::Truncated {
                path: path.to_path_buf(),
                detail: format!("ffprobe could not list the video packets ({status})"),
                stderr,
            });
        }
        Ok(PacketList {
            packets: packets
                .into_iter()
                .filter(|&(stream, _)| stream == stream_index)
                .map(|(_, p)| p)
                .collect(),
            stderr,
        })
    }
}

impl Drop for PacketListing {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(lines) = self.lines.take() {
            let _ = lines.join();
        }
    }
}

/// The `stream_index=` field of a packet line.
fn stream_index_of(line: &str) -> Option<usize> {
    line.trim()
        .split(',')
        .find_map(|field| field.strip_prefix("stream_index="))
        .and_then(|v| v.parse().ok())
}

/// Parses `pts=0,dts=-1024,flags=K_` (any field order, `N/A` for missing).
fn parse_packet_line(line: &str) -> Option<Packet> {
    let mut packet = Packet {
        pts: None,
        dts: None,
        key: false,
        discard: false,
    };
    let mut seen = false;
    // MPEG-TS adds a trailing comma (an empty side-data section).
    for field in line.trim().split(',').filter(|f| !f.is_empty()) {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        seen = true;
        match key {
            "pts" => packet.pts = value.parse().ok(),
            "dts" => packet.dts = value.parse().ok(),
            "flags" => {
                packet.key = value.contains('K');
                packet.discard = value.contains('D');
            }
            _ => {}
        }
    }
    seen.then_some(packet)
}

struct DisplayOrder {
    frames: Vec<i64>,
    keyframes: Vec<u64>,
    source: TimestampSource,
    packet_display_index: Vec<Option<u64>>,
}

fn display_order(packets: &[Packet]) -> DisplayOrder {
    let kept_index: Vec<usize> = (0..packets.len()).filter(|&i| !packets[i].discard).collect();
    let kept: Vec<&Packet> = kept_index.iter().map(|&i| &packets[i]).collect();
    let source = if kept.iter().all(|p| p.pts.is_some()) {
        TimestampSource::Pts
    } else if kept.iter().all(|p| p.dts.is_some()) {
        TimestampSource::Dts
    } else {
        TimestampSource::PacketOrder
    };
    let mut keyed: Vec<(i64, usize, bool)> = kept
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ts = match source {
                TimestampSource::Pts => p.pts.unwrap_or_default(),
                TimestampSource::Dts => p.dts.unwrap_or_default(),
                TimestampSource::PacketOrder => i as i64,
            };
            (ts, i, p.key)
        })
        .collect();
    // Stable on ties: equal timestamps keep decode order.
    keyed.sort_by_key(|&(ts, i, _)| (ts, i));
    let keyframes = keyed
        .iter()
        .enumerate()
        .filter(|(_, &(_, _, key))| key)
        .map(|(rank, _)| rank as u64)
        .collect();
    let mut packet_display_index = vec![None; packets.len()];
    for (rank, &(_, i, _)) in keyed.iter().enumerate() {
        packet_display_index[kept_index[i]] = Some(rank as u64);
    }
    DisplayOrder {
        frames: keyed.iter().map(|&(ts, _, _)| ts).collect(),
        keyframes,
        source,
        packet_display_index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_lines_name_their_stream() {
        assert_eq!(stream_index_of("stream_index=2,pts=1,dts=0,flags=K_"), Some(2));
        assert_eq!(stream_index_of("pts=1,dts=0,flags=K_,stream_index=0,"), Some(0));
        assert_eq!(stream_index_of("pts=1,dts=0,flags=K_"), None);
    }

    fn pkt(pts: Option<i64>, dts: Option<i64>, key: bool) -> Packet {
        Packet {
            pts,
            dts,
            key,
            discard: false,
        }
    }

    #[test]
    fn parses_packet_lines() {
        assert_eq!(
            parse_packet_line("pts=2048,dts=-512,flags=K_"),
            Some(pkt(Some(2048), Some(-512), true))
        );
        assert_eq!(
            parse_packet_line("pts=N/A,dts=3,flags=__"),
            Some(pkt(None, Some(3), false))
        );
        let d = parse_packet_line("flags=_D,dts=1,pts=1").unwrap();
        assert!(d.discard && !d.key);
        assert_eq!(parse_packet_line(""), None);
        assert_eq!(
            parse_packet_line("pts=1,dts=0,flags=K_,"),
            Some(pkt(Some(1), Some(0), true))
        );
    }

    #[test]
    fn display_order_ranks_keyframes_by_pts() {
        // Decode order I P B B with pts 0 3 1 2; a discarded packet is dropped.
        let mut packets = vec![
            pkt(Some(0), Some(-2), true),
            pkt(Some(3), Some(-1), false),
            pkt(Some(1), Some(0), false),
            pkt(Some(2), Some(1), false),
            pkt(Some(4), Some(2), true),
        ];
        packets.push(Packet {
            discard: true,
            ..pkt(Some(-1), Some(3), false)
        });
        let order = display_order(&packets);
        assert_eq!(order.frames, vec![0, 1, 2, 3, 4]);
        assert_eq!(order.keyframes, vec![0, 4]);
        assert_eq!(
            order.packet_display_index,
            vec![Some(0), Some(3), Some(1), Some(2), Some(4), None]
        );
        assert_eq!(order.source, TimestampSource::Pts);
    }

    #[test]
    fn display_order_falls_back_without_pts() {
        let packets = vec![
            pkt(None, Some(0), true),
            pkt(None, Some(1), false),
            pkt(Some(5), Some(2), true),
        ];
        let order = display_order(&packets);
        assert_eq!(order.source, TimestampSource::Dts);
        assert_eq!(order.keyframes, vec![0, 2]);
        let packets = vec![pkt(None, None, true), pkt(None, None, false)];
        assert_eq!(display_order(&packets).source, TimestampSource::PacketOrder);
    }

    #[test]
    fn vfr_detection_tolerates_millisecond_rounding() {
        let ntsc = Rational::new(30000, 1001);
        let ms = Rational::new(1, 1000);
        // Matroska: 29.97 fps rounded to milliseconds.
        let pts: Vec<i64> = (0..300)
            .map(|i| (i as f64 * 1001.0 / 30.0).round() as i64)
            .collect();
        assert_eq!(detect_variable_frame_rate(&pts, ms, ntsc), None);
        // Exact MP4-style timestamps.
        let tb = Rational::new(1, 30000);
        let pts: Vec<i64> = (0..300).map(|i| i * 1001).collect();
        assert_eq!(detect_variable_frame_rate(&pts, tb, ntsc), None);
        // A dropped frame.
        let mut dropped = pts.clone();
        dropped.remove(100);
        assert!(detect_variable_frame_rate(&dropped, tb, ntsc).is_some());
        // Slow drift: 30 fps timestamps but nominal 29.97; after 100 s the
        // video would be 3 s out of sync.
        let drift: Vec<i64> = (0..3000).map(|i| i * 1000).collect();
        assert!(detect_variable_frame_rate(&drift, tb, ntsc).is_some());
        // Phone-style jitter: gaps between 25 and 40 ms.
        let mut t = 0;
        let jitter: Vec<i64> = (0..100)
            .map(|i| {
                t += if i % 3 == 0 { 40 } else { 25 };
                t
            })
            .collect();
        assert!(detect_variable_frame_rate(&jitter, ms, Rational::new(30, 1)).is_some());
    }

    #[test]
    fn keyframe_ranges() {
        let info = VideoStreamInfo {
            index: 0,
            codec_name: "h264".into(),
            width: 2,
            height: 2,
            pix_fmt: Some("yuv420p".into()),
            bits_per_raw_sample: None,
            r_frame_rate: Rational::new(25, 1),
            avg_frame_rate: Rational::new(25, 1),
            time_base: Rational::new(1, 25),
            start_time_seconds: Some(0.0),
            rotation_degrees: 0,
            sample_aspect_ratio: None,
            color: ColorInfo::default(),
            frame_count: 100,
            keyframes: vec![0, 13, 25, 43, 55, 77],
            display_pts: (0..100).collect(),
            timestamps: TimestampSource::Pts,
            is_variable_frame_rate: false,
            variable_frame_rate_detail: String::new(),
            packet_display_index: Vec::new(),
        };
        assert_eq!(
            info.keyframe_aligned_ranges(20),
            vec![0..25, 25..55, 55..77, 77..100]
        );
        assert_eq!(info.keyframe_aligned_ranges(30), vec![0..43, 43..77, 77..100]);
        assert_eq!(info.keyframe_aligned_ranges(1).len(), 6);
        assert_eq!(info.keyframe_at_or_before(24), 13);
        assert_eq!(info.keyframe_at_or_before(25), 25);
        assert_eq!(info.pts_seconds(50), Some(2.0));
        assert_eq!(info.pts_seconds(100), None);
    }
}
