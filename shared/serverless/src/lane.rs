//! Lanes by video length: which planner queue a job is planned from, and
//! which functions its execution runs on.
//!
//! Every job arrives on the jobs queue, the **express lane**. Planning reads
//! the whole source (ffprobe's packet list; in compact mode every access
//! unit's NAL headers, and a stream copy or transcode when needed), so it
//! takes about as long as the video is large: a burst of long videos would
//! hold every planner for minutes while short ones wait behind them in the
//! queue. So the express lane's planner first reads only the container's
//! header (one quick ffprobe run), and a job over the threshold is sent on
//! to the **long lane**'s queue, which has its own event source mapping and
//! its own `MaximumConcurrency`; short jobs never wait behind long ones.
//! The planner puts the lane a job was planned on into its execution input
//! ([`Lane`]), and the state machine runs the job's segments and concat on
//! that lane's functions, each with its own reserved concurrency: long jobs
//! that fill their functions cannot throttle a short job's.
//!
//! The lane is chosen from the work the header promises, in seconds of
//! 1080p video: the longer of the duration and the frame count at 30 frames
//! per second, times how many 1080p frames one of its frames is (at least
//! one). A header that states neither a duration nor a frame count sends
//! the job to the long lane: its size is unknown, so it must not take an
//! express planner for long.

use crate::error::StepError;
use vidstega_media::VideoHeader;
use vidstega_pipeline::contract::{ErrorType, JobMessage};

/// Pixels of a 1080p frame: the unit of [`equivalent_seconds`].
pub const PIXELS_1080P: f64 = 1920.0 * 1080.0;
/// Frame rate at which a stated frame count becomes seconds.
pub const REFERENCE_FRAME_RATE: f64 = 30.0;
/// The express lane's default threshold, in 1080p-equivalent seconds.
pub const DEFAULT_EXPRESS_MAX_SECONDS: u64 = 120;

/// A lane: defined with the execution input, which names it
/// ([`vidstega_pipeline::contract::ExecutionInput::lane`]).
pub use vidstega_pipeline::contract::Lane;

/// The work a header promises, in seconds of 1080p video: the longer of its
/// duration and its frame count at [`REFERENCE_FRAME_RATE`], times how many
/// 1080p frames one of its frames is (at least one). `None` when the header
/// states neither a duration nor a frame count.
pub fn equivalent_seconds(header: &VideoHeader) -> Option<f64> {
    let from_frames = header.frame_count.map(|f| f as f64 / REFERENCE_FRAME_RATE);
    let seconds = match (header.duration_seconds, from_frames) {
        (Some(d), Some(f)) => d.max(f),
        (Some(d), None) => d,
        (None, Some(f)) => f,
        (None, None) => return None,
    };
    let scale = (header.width as f64 * header.height as f64 / PIXELS_1080P).max(1.0);
    Some(seconds * scale)
}

/// The lane of a video whose header is `header`, for an express lane that
/// takes up to `express_max_seconds` 1080p-equivalent seconds.
pub fn lane_for(header: &VideoHeader, express_max_seconds: u64) -> Lane {
    match equivalent_seconds(header) {
        Some(s) if s <= express_max_seconds as f64 => Lane::Express,
        _ => Lane::Long,
    }
}

/// The lanes' settings, read once from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneSettings {
    /// Jobs of up to this many 1080p-equivalent seconds are planned on the
    /// express lane (`VIDSTEGA_EXPRESS_MAX_SECONDS`).
    pub express_max_seconds: u64,
    /// The long lane's queue (`VIDSTEGA_LONG_QUEUE_URL`); without one there
    /// is one lane and every job is planned where it arrives.
    pub long_queue_url: Option<String>,
}

impl Default for LaneSettings {
    fn default() -> Self {
        LaneSettings {
            express_max_seconds: DEFAULT_EXPRESS_MAX_SECONDS,
            long_queue_url: None,
        }
    }
}

/// A queue of job messages (the port the planner sends long jobs through;
/// SQS in Lambda).
pub trait JobQueue: Send + Sync {
    /// The queue's URL.
    fn url(&self) -> &str;
    /// Sends `message`.
    fn send(&self, message: &JobMessage) -> vidstega_pipeline::Result<()>;
}

/// What the planner routes by: the threshold and the long lane's queue.
#[derive(Clone, Copy)]
pub struct Lanes<'a> {
    /// Jobs of up to this many 1080p-equivalent seconds stay on the express
    /// lane.
    pub express_max_seconds: u64,
    /// Where longer jobs are sent.
    pub long_queue: &'a dyn JobQueue,
}

impl Lanes<'_> {
    /// The lane a message received from `event_source_arn` (an SQS record's
    /// `eventSourceARN`) arrived on: the long lane if it names the long
    /// queue (queue names are unique in an account and region), else the
    /// express lane.
    pub fn arrived_on(&self, event_source_arn: Option<&str>) -> Lane {
        let long_name = self.long_queue.url().rsplit('/').next().unwrap_or_default();
        match event_source_arn.and_then(|arn| arn.rsplit(':').next()) {
            Some(name) if !long_name.is_empty() && name == long_name => Lane::Long,
            _ => Lane::Express,
        }
    }

    /// Sends `message` to the long lane. A failure is retryable: the
    /// message comes back and is routed again.
    pub fn send_long(&self, message: &JobMessage) -> Result<(), StepError> {
        self.long_queue.send(message).map_err(|e| {
            StepError::new(
                ErrorType::Retryable,
                format!("cannot send job {} to the long lane: {e}", message.job_id),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seconds: Option<f64>, frames: Option<u64>, (width, height): (u32, u32)) -> VideoHeader {
        VideoHeader {
            size_bytes: 1,
            duration_seconds: seconds,
            width,
            height,
            frame_count: frames,
        }
    }

    #[test]
    fn the_threshold_splits_by_duration_at_and_below_1080p() {
        let at = header(Some(120.0), Some(3_600), (1920, 1080));
        assert_eq!(
            lane_for(&at, 120),
            Lane::Express,
            "the threshold itself is express"
        );
        let over = header(Some(120.5), Some(3_615), (1920, 1080));
        assert_eq!(lane_for(&over, 120), Lane::Long);
        // Smaller frames count as 1080p ones: a long 360p video is long.
        let small = header(Some(300.0), Some(7_500), (640, 360));
        assert_eq!(equivalent_seconds(&small), Some(300.0));
        assert_eq!(lane_for(&small, 120), Lane::Long);
        assert_eq!(lane_for(&small, 300), Lane::Express);
    }

    #[test]
    fn larger_frames_and_higher_frame_rates_count_as_more_work() {
        // 40 s of 2160p is four times 40 s of 1080p.
        let uhd = header(Some(40.0), Some(1_200), (3840, 2160));
        assert_eq!(equivalent_seconds(&uhd), Some(160.0));
        assert_eq!(lane_for(&uhd, 120), Lane::Long);
        // 100 s at 60 fps: 6,000 frames are 200 s at 30 fps.
        let fast = header(Some(100.0), Some(6_000), (1280, 720));
        assert_eq!(equivalent_seconds(&fast), Some(200.0));
        assert_eq!(lane_for(&fast, 120), Lane::Long);
    }

    #[test]
    fn a_header_without_duration_or_frames_is_long() {
        let matroska = header(None, Some(900), (1280, 720));
        assert_eq!(lane_for(&matroska, 120), Lane::Express, "frames alone decide");
        let unknown = header(None, None, (640, 360));
        assert_eq!(equivalent_seconds(&unknown), None);
        assert_eq!(lane_for(&unknown, 100_000), Lane::Long);
    }

    struct Named(&'static str);

    impl JobQueue for Named {
        fn url(&self) -> &str {
            self.0
        }
        fn send(&self, _: &JobMessage) -> vidstega_pipeline::Result<()> {
            Err(vidstega_pipeline::PipelineError::Store {
                message: "the queue is unreachable".into(),
                retryable: false,
                source: None,
            })
        }
    }

    #[test]
    fn the_arrival_lane_is_the_queue_an_sqs_record_names() {
        let queue = Named("https://sqs.us-east-1.amazonaws.com/123456789012/vidstega-LongJobsQueue-X1");
        let lanes = Lanes {
            express_max_seconds: 120,
            long_queue: &queue,
        };
        assert_eq!(
            lanes.arrived_on(Some(
                "arn:aws:sqs:us-east-1:123456789012:vidstega-LongJobsQueue-X1"
            )),
            Lane::Long
        );
        assert_eq!(
            lanes.arrived_on(Some("arn:aws:sqs:us-east-1:123456789012:vidstega-JobsQueue-X2")),
            Lane::Express
        );
        assert_eq!(lanes.arrived_on(None), Lane::Express);
        // Whatever the queue says, a failed send is retried.
        let message = JobMessage {
            job_id: "job-0123456789abcdef".into(),
            video_key: None,
            payload_key: None,
            container: None,
            planes: None,
            mode: None,
            max_rate: None,
            robustness: None,
        };
        let e = lanes.send_long(&message).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Retryable);
        assert!(e.message.contains("long lane"), "{}", e.message);
    }
}
