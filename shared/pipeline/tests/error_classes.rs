//! The class of every pipeline error. The class is what reaches Step
//! Functions as the error type (`VidStega.Retryable`, `VidStega.InvalidInput`,
//! `VidStega.Fatal`): only Retryable is retried by the state machine;
//! InvalidInput fails the job blaming the input; Fatal fails it as ours and
//! alarms. So a wrong class either retries what cannot succeed or gives up
//! on what would have.

use std::io::ErrorKind;
use vidstega_container::ContainerError;
use vidstega_core::{CoreError, ErrorClass};
use vidstega_h264::H264Error;
use vidstega_media::{MediaError, StderrTail, Tool};
use vidstega_pipeline::PipelineError;

use ErrorClass::{Fatal, InvalidInput, Retryable};

fn io(kind: ErrorKind) -> std::io::Error {
    std::io::Error::from(kind)
}

fn tail(text: &str) -> StderrTail {
    StderrTail(text.to_string())
}

fn ffmpeg_failed(stderr: &str) -> MediaError {
    MediaError::ProcessFailed {
        tool: Tool::Ffmpeg,
        action: "decoding".into(),
        status: "exit status: 1".into(),
        stderr: tail(stderr),
    }
}

fn check(table: Vec<(&str, PipelineError, ErrorClass)>) {
    let wrong: Vec<String> = table
        .into_iter()
        .filter(|(_, error, class)| error.class() != *class)
        .map(|(case, error, class)| format!("{case}: {:?}, expected {class:?} ({error})", error.class()))
        .collect();
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}

#[test]
fn every_pipeline_error_has_the_class_that_decides_its_retry() {
    let store = |retryable| PipelineError::Store {
        message: "put jobs/j/plan.json".into(),
        retryable,
        source: None,
    };
    let jobs = |retryable| PipelineError::Jobs {
        message: "update job j".into(),
        retryable,
        source: None,
    };
    check(vec![
        ("core: wrong password", CoreError::NoMessage.into(), InvalidInput),
        (
            "core: empty message",
            CoreError::EmptyMessage.into(),
            InvalidInput,
        ),
        (
            "core: random source unavailable",
            CoreError::Random("EAGAIN".into()).into(),
            Retryable,
        ),
        (
            "core: inflate failed",
            CoreError::Decompression("bad block".into()).into(),
            Fatal,
        ),
        (
            "container: unsupported feature",
            ContainerError::Unsupported {
                what: "fragmented MP4".into(),
            }
            .into(),
            InvalidInput,
        ),
        (
            "container: malformed",
            ContainerError::Malformed {
                detail: "stsz runs past the file".into(),
            }
            .into(),
            InvalidInput,
        ),
        (
            "container: no video track",
            ContainerError::NoVideoTrack.into(),
            InvalidInput,
        ),
        (
            "container: impossible request (our bug)",
            ContainerError::InvalidRequest {
                detail: "sample 99 of 10".into(),
            }
            .into(),
            Fatal,
        ),
        (
            "container: replacement of the wrong length (our bug)",
            ContainerError::Replacement {
                sample: 3,
                detail: "gave 10 bytes of 12".into(),
            }
            .into(),
            Fatal,
        ),
        (
            "container: read interrupted",
            ContainerError::Io(io(ErrorKind::Interrupted)).into(),
            Retryable,
        ),
        (
            "container: file gone",
            ContainerError::Io(io(ErrorKind::NotFound)).into(),
            InvalidInput,
        ),
        (
            "container: disk failure",
            ContainerError::Io(io(ErrorKind::Other)).into(),
            Fatal,
        ),
        (
            "h264: malformed",
            H264Error::Malformed("NAL size".into()).into(),
            InvalidInput,
        ),
        (
            "h264: unsupported",
            H264Error::Unsupported("interlaced".into()).into(),
            InvalidInput,
        ),
        (
            "h264: invalid picture",
            H264Error::InvalidPicture("odd width".into()).into(),
            InvalidInput,
        ),
        ("store: throttled", store(true), Retryable),
        ("store: access denied", store(false), Fatal),
        ("job table: throttled", jobs(true), Retryable),
        ("job table: table missing", jobs(false), Fatal),
        (
            "invalid input",
            PipelineError::InvalidInput("too many frames".into()),
            InvalidInput,
        ),
        (
            "conflict",
            PipelineError::Conflict("job j failed before".into()),
            InvalidInput,
        ),
        (
            "mismatch",
            PipelineError::Mismatch("decoded 10 of 12 frames".into()),
            Retryable,
        ),
        (
            "a worker panicked",
            PipelineError::Panicked("index out of bounds".into()),
            Fatal,
        ),
        (
            "io: interrupted",
            PipelineError::io("reading", io(ErrorKind::Interrupted)),
            Retryable,
        ),
        (
            "io: timed out",
            PipelineError::io("reading", io(ErrorKind::TimedOut)),
            Retryable,
        ),
        (
            "io: not found",
            PipelineError::io("opening", io(ErrorKind::NotFound)),
            InvalidInput,
        ),
        (
            "io: permission denied",
            PipelineError::io("opening", io(ErrorKind::PermissionDenied)),
            InvalidInput,
        ),
        (
            "io: anything else",
            PipelineError::io("writing", io(ErrorKind::Other)),
            Fatal,
        ),
    ]);
}

#[test]
fn every_media_error_has_the_class_that_decides_its_retry() {
    let media = |e: MediaError| PipelineError::Media(e);
    check(vec![
        (
            "tool missing",
            media(MediaError::ToolMissing {
                tool: Tool::Ffmpeg,
                env_var: "VIDSTEGA_FFMPEG",
                detail: "not on PATH".into(),
            }),
            Fatal,
        ),
        (
            "tool too old",
            media(MediaError::ToolTooOld {
                tool: Tool::Ffprobe,
                path: "/usr/bin/ffprobe".into(),
                version: "4.4".into(),
                env_var: "VIDSTEGA_FFPROBE",
            }),
            Fatal,
        ),
        (
            "tool could not start",
            media(MediaError::Spawn {
                tool: Tool::Ffmpeg,
                path: "/opt/bin/ffmpeg".into(),
                env_var: "VIDSTEGA_FFMPEG",
                source: io(ErrorKind::WouldBlock),
            }),
            Retryable,
        ),
        (
            "file missing",
            media(MediaError::Io {
                action: "read",
                path: "v.mp4".into(),
                source: io(ErrorKind::NotFound),
            }),
            InvalidInput,
        ),
        (
            "file unreadable",
            media(MediaError::Io {
                action: "read",
                path: "v.mp4".into(),
                source: io(ErrorKind::PermissionDenied),
            }),
            InvalidInput,
        ),
        (
            "read failed",
            media(MediaError::Io {
                action: "read",
                path: "v.mp4".into(),
                source: io(ErrorKind::UnexpectedEof),
            }),
            Retryable,
        ),
        (
            "empty file",
            media(MediaError::EmptyFile { path: "v.mp4".into() }),
            InvalidInput,
        ),
        (
            "not media",
            media(MediaError::NotMedia {
                path: "v.mp4".into(),
                stderr: tail("Invalid data found when processing input"),
            }),
            InvalidInput,
        ),
        (
            "server failed (5xx)",
            media(MediaError::Unreachable {
                detail: "the server answered with a 5xx error".into(),
                transient: true,
                stderr: tail("Server returned 503"),
            }),
            Retryable,
        ),
        (
            "access refused (403)",
            media(MediaError::Unreachable {
                detail: "the server refused access (403)".into(),
                transient: false,
                stderr: tail("Server returned 403 Forbidden"),
            }),
            Fatal,
        ),
        (
            "no video stream",
            media(MediaError::NoVideoStream {
                path: "a.m4a".into(),
                found: "audio aac".into(),
            }),
            InvalidInput,
        ),
        (
            "truncated",
            media(MediaError::Truncated {
                path: "v.mp4".into(),
                detail: "moov atom not found".into(),
                stderr: tail(""),
            }),
            InvalidInput,
        ),
        (
            "ffprobe output not understood",
            media(MediaError::ProbeOutput {
                path: "v.mp4".into(),
                detail: "no streams".into(),
                source: None,
            }),
            Fatal,
        ),
        (
            "ffmpeg: name did not resolve",
            media(ffmpeg_failed(
                "[tcp @ 0x1] Failed to resolve hostname bucket.s3.amazonaws.com",
            )),
            Retryable,
        ),
        (
            "ffmpeg: connection cut",
            media(ffmpeg_failed(
                "[http @ 0x1] Stream ends prematurely at 1000, should be 5000",
            )),
            Retryable,
        ),
        (
            "ffmpeg: 5xx",
            media(ffmpeg_failed("Server returned 5XX Server Error reply")),
            Retryable,
        ),
        (
            "ffmpeg: 404",
            media(ffmpeg_failed("Server returned 404 Not Found")),
            Fatal,
        ),
        (
            "ffmpeg: the video is broken",
            media(ffmpeg_failed("[h264 @ 0x1] Invalid NAL unit size")),
            InvalidInput,
        ),
        (
            "pipe broke",
            media(MediaError::Pipe {
                action: "reading frames".into(),
                source: io(ErrorKind::BrokenPipe),
                stderr: tail(""),
            }),
            Retryable,
        ),
        (
            "decoder gave other frame count",
            media(MediaError::FrameCount {
                path: "v.mp4".into(),
                start: 0,
                end: 10,
                expected: 10,
                got: 9,
                stderr: tail(""),
            }),
            Fatal,
        ),
        (
            "decoder gave another frame",
            media(MediaError::FrameTimestamp {
                path: "v.mp4".into(),
                index: 4,
                expected: 4000,
                got: "5000".into(),
                attempts: 2,
                stderr: tail(""),
            }),
            Fatal,
        ),
        (
            "frame range outside the video",
            media(MediaError::InvalidRange {
                start: 5,
                end: 50,
                frame_count: 20,
            }),
            InvalidInput,
        ),
        (
            "frame buffer size",
            media(MediaError::FrameSize {
                expected: 100,
                got: 99,
                format: "yuv420p".into(),
            }),
            InvalidInput,
        ),
        (
            "frame format the encoder cannot store",
            media(MediaError::UnsupportedFrameFormat {
                detail: "12-bit".into(),
            }),
            InvalidInput,
        ),
        (
            "container cannot hold the streams",
            media(MediaError::IncompatibleContainer {
                path: "out.mp4".into(),
                detail: "FLAC audio".into(),
            }),
            InvalidInput,
        ),
        (
            "segments do not add up (our bug)",
            media(MediaError::SegmentFrames {
                segments: 70,
                source_frames: 75,
            }),
            Fatal,
        ),
        (
            "variable frame rate",
            media(MediaError::VariableFrameRate {
                path: "v.mp4".into(),
                detail: "12 to 30 fps".into(),
                suggested_rate: "30".into(),
            }),
            InvalidInput,
        ),
        (
            "joined output failed its check (our bug)",
            media(MediaError::OutputCheck {
                path: "out.mkv".into(),
                detail: "frame count".into(),
            }),
            Fatal,
        ),
    ]);
}
