//! VidStega's FFmpeg layer: everything that touches video files.
//!
//! VidStega hides data in the least significant bits of decoded video
//! frames, so it needs four things from FFmpeg, each exact to the bit and to
//! the frame:
//!
//! 1. [`probe`]: what is in a file, including the exact frame count and the
//!    display-order keyframe positions, without decoding;
//! 2. [`FrameReader`]: frames `start..end` of the video as raw 8-bit planar
//!    buffers ([`RawFormat`]), frame-exact even for open-GOP and B-frame
//!    sources, streamed one frame at a time;
//! 3. [`FrameWriter`]: raw frames into a lossless segment file
//!    ([`SegmentCodec`]), bit-exact on decode;
//! 4. [`concat()`]: segments joined, with the source's audio copied
//!    bit-identically, subtitles, metadata and rotation, keeping frame count,
//!    frame rate and audio sync.
//!
//! It runs the system's `ffmpeg`/`ffprobe` (never downloads them; see
//! [`ensure_tools`] and the `VIDSTEGA_FFMPEG` / `VIDSTEGA_FFPROBE`
//! overrides), because linking libav* would tie the build to one FFmpeg
//! version and make cross-platform builds painful. Needs FFmpeg 5.1 or newer.
//!
//! The choice of default codec and container is measured and explained in
//! `docs/codec.md`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod concat;
mod decode;
mod encode;
mod error;
mod piped;
mod pixel;
mod probe;
mod process;
mod rational;
mod remux;
mod tools;
mod transcode;

pub use concat::{
    concat, concat_to_stream, joins_in_one_pass, verify_joined, ConcatOptions, ConcatReport, OutputContainer,
    StreamSink,
};
pub use decode::FrameReader;
pub use encode::{EncodeSettings, EncodedSegment, FrameWriter, SegmentCodec, X264Preset, SEGMENT_EXTENSION};
pub use error::{MediaError, StderrTail};
pub use piped::PipedFrameReader;
pub use pixel::{choose_raw_format, PlanarFormat, RawFormat, RawFormatChoice};
pub use probe::{
    check_video, detect_variable_frame_rate, is_url, network_failure, probe, probe_header,
    probe_header_report, probe_with, probe_with_known_packets, probe_with_report, url_input_options,
    AudioStreamInfo, ColorInfo, KnownPackets, MediaInfo, OtherStreamInfo, ProbeOptions, StreamReport,
    SubtitleStreamInfo, TimestampSource, VideoHeader, VideoStreamInfo,
};
pub use rational::Rational;
pub use remux::remux;
pub use tools::{ensure_tools, locate, locate_tools, Tool, ToolVersions, FFMPEG_ENV, FFPROBE_ENV};
pub use transcode::{transcode_bitrate, transcode_to_h264, TranscodeReport, TRANSCODE_CRF};
