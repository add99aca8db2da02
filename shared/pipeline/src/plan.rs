//! The `plan` step: probe the source, check limits and capacity, cut
//! GOP-aligned segments with their frame and bit ranges, and record them.

use crate::contract::OutputMode;
use crate::error::{PipelineError, Result};
use crate::ports::{JobStore, MediaSource, ObjectStore};
use crate::progress::Progress;
use crate::records::{CarrierRecord, JobRecord, SegmentRecord};
use crate::segments::{gop_segments, target_frames};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vidstega_core::{
    check_fits, BitSchedule, Envelope, EnvelopeHeader, FrameGeometry, PlacementKey, PlaneSet,
    ENVELOPE_HEADER_LEN,
};
use vidstega_media::{
    choose_raw_format, probe, LosslessCodec, MediaInfo, OutputContainer, PlanarFormat, RawFormat,
};

/// Limits an operator sets on what is accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest source file, in bytes.
    pub max_input_bytes: u64,
    /// Longest source, in seconds.
    pub max_duration_seconds: f64,
    /// Most pixels per frame (width × height).
    pub max_pixels: u64,
    /// Most frames.
    pub max_frames: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 20 << 30,
            max_duration_seconds: 4.0 * 3600.0,
            max_pixels: 3840 * 2160,
            max_frames: 1_000_000,
        }
    }
}

/// Default largest fraction of a carrier picture's samples that carry a bit
/// (compact mode). At a quarter, about one sample in eight changes by ±1.
pub const DEFAULT_MAX_RATE: f64 = 0.25;

/// Most carriers one segment embeds (each needs its GOP decoded).
pub const MAX_CARRIERS_PER_SEGMENT: usize = 16;

/// Compact mode: when a source is transcoded to H.264 first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TranscodePolicy {
    /// Only when its video cannot hold carrier pictures (another codec,
    /// interlaced or 10-bit H.264, no picture that can carry).
    #[default]
    Auto,
    /// Never: such a source is refused, saying why.
    Never,
    /// Always (to re-encode with a GOP structure that has many carriers).
    Always,
}

/// How jobs are planned.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSettings {
    /// How the output is written.
    pub mode: OutputMode,
    /// Compact mode: the largest fraction of a carrier's samples that carry
    /// a bit; a lower rate spreads the message over more carriers.
    pub max_rate: f64,
    /// Compact mode: when the source is transcoded to H.264 first.
    pub transcode: TranscodePolicy,
    /// The output's container; `None` keeps the source's (compact mode) or
    /// uses Matroska (lossless mode).
    pub container: Option<OutputContainer>,
    /// Planes that carry bits.
    pub plane_set: PlaneSet,
    /// The lossless encoder of the stego video.
    pub codec: LosslessCodec,
    /// Segments that will run at once (cores locally, Map concurrency on AWS).
    pub workers: usize,
    /// Shortest segment worth an ffmpeg start-up, in frames.
    pub min_segment_frames: u64,
    /// Longest segment (bounded by a worker's time budget), in frames.
    pub max_segment_frames: u64,
    /// Input limits.
    pub limits: Limits,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            mode: OutputMode::Compact,
            max_rate: DEFAULT_MAX_RATE,
            transcode: TranscodePolicy::Auto,
            container: None,
            plane_set: PlaneSet::All,
            codec: LosslessCodec::default(),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            min_segment_frames: 24,
            max_segment_frames: 900,
            limits: Limits::default(),
        }
    }
}

/// A job's plan: everything a segment worker needs besides the source and the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The job.
    pub job_id: String,
    /// Source video key.
    pub video_key: String,
    /// Sealed payload key.
    pub envelope_key: String,
    /// Output key.
    pub output_key: String,
    /// Frames in the source.
    pub frame_count: u64,
    /// Raw frame width.
    pub width: u32,
    /// Raw frame height.
    pub height: u32,
    /// Raw planar layout, as ffmpeg names it (`yuv420p`, …).
    pub pixel_format: String,
    /// Full-range samples.
    pub full_range: bool,
    /// Planes that carry bits: `"luma"` or `"all"`.
    pub planes: String,
    /// Payload bits.
    pub body_bits: u64,
    /// The segments, in order.
    pub segments: Vec<SegmentRecord>,
    /// Notes for the user (pixel-format conversion, streams not carried over).
    pub warnings: Vec<String>,
    /// How the output is written.
    #[serde(default = "OutputMode::legacy")]
    pub mode: OutputMode,
    /// The object the output is made from: the upload itself, or a copy of
    /// it in the output's container (compact mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key: Option<String>,
    /// Compact mode: pictures that could carry (the format's candidates).
    #[serde(default)]
    pub candidates: u64,
    /// Compact mode: the carrier pictures, by rank.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carriers: Vec<CarrierRecord>,
}

impl Plan {
    /// The raw frame layout.
    pub fn raw_format(&self) -> Result<RawFormat> {
        let (pixel, _) = PlanarFormat::from_ffmpeg_name(&self.pixel_format).ok_or_else(|| {
            PipelineError::InvalidInput(format!("plan has unknown pixel format {}", self.pixel_format))
        })?;
        Ok(RawFormat {
            width: self.width,
            height: self.height,
            pixel,
            full_range: self.full_range,
        })
    }

    /// The planes that carry bits.
    pub fn plane_set(&self) -> PlaneSet {
        if self.planes == "all" {
            PlaneSet::All
        } else {
            PlaneSet::Luma
        }
    }

    /// The object the output is made from.
    pub fn source(&self) -> &str {
        self.source_key.as_deref().unwrap_or(&self.video_key)
    }

    /// Compact mode: the carriers segment `index` embeds.
    pub fn segment_carriers(&self, index: u32) -> impl Iterator<Item = &CarrierRecord> {
        self.carriers.iter().filter(move |c| c.segment == index)
    }

    /// Key of the plan object.
    pub fn key(job_id: &str) -> String {
        format!("jobs/{job_id}/plan.json")
    }

    /// Key of segment `index`'s encoded file.
    pub fn segment_key(&self, index: u32) -> String {
        format!(
            "jobs/{}/segments/{index:05}.{}",
            self.job_id,
            vidstega_media::SEGMENT_EXTENSION
        )
    }
}

/// The core's view of a raw layout.
pub fn geometry_of(format: &RawFormat) -> Result<FrameGeometry> {
    let planes = format
        .plane_dims()
        .into_iter()
        .map(|(w, h)| vidstega_core::PlaneDims {
            width: w as u32,
            height: h as u32,
        })
        .collect();
    Ok(FrameGeometry::new(planes)?)
}

/// A local path for a media source (the local pipeline reads files).
pub fn source_path(source: MediaSource) -> PathBuf {
    match source {
        MediaSource::Path(p) => p,
        MediaSource::Url(u) => PathBuf::from(u),
    }
}

/// Reads and checks the sealed payload's header.
pub fn envelope_header(objects: &dyn ObjectStore, key: &str) -> Result<EnvelopeHeader> {
    let size = objects
        .size(key)?
        .ok_or_else(|| PipelineError::InvalidInput(format!("the sealed payload {key} was not uploaded")))?;
    if size < ENVELOPE_HEADER_LEN as u64 {
        return Err(PipelineError::InvalidInput(format!(
            "the sealed payload {key} is {size} bytes: too short to be a VidStega payload (a broken upload?)"
        )));
    }
    let header = Envelope::parse_header(&objects.read_range(key, 0..ENVELOPE_HEADER_LEN as u64)?)?;
    let want = ENVELOPE_HEADER_LEN as u64 + header.body_len();
    if size != want {
        return Err(PipelineError::InvalidInput(format!(
            "the sealed payload {key} is {size} bytes but its header says {want}: the upload is truncated or padded"
        )));
    }
    Ok(header)
}

pub(crate) fn check_limits(info: &MediaInfo, limits: &Limits) -> Result<()> {
    let v = &info.video;
    let mut problems = Vec::new();
    if info.size_bytes > limits.max_input_bytes {
        problems.push(format!(
            "the file is {} bytes, over the limit of {}",
            info.size_bytes, limits.max_input_bytes
        ));
    }
    if let Some(d) = info.duration_seconds {
        if d > limits.max_duration_seconds {
            problems.push(format!(
                "it lasts {d:.0} s, over the limit of {:.0} s",
                limits.max_duration_seconds
            ));
        }
    }
    let pixels = v.width as u64 * v.height as u64;
    if pixels > limits.max_pixels {
        problems.push(format!(
            "{}x{} is {pixels} pixels per frame, over the limit of {}",
            v.width, v.height, limits.max_pixels
        ));
    }
    if v.frame_count > limits.max_frames {
        problems.push(format!(
            "it has {} frames, over the limit of {}",
            v.frame_count, limits.max_frames
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PipelineError::InvalidInput(format!(
            "the video is over this service's limits: {}",
            problems.join("; ")
        )))
    }
}

/// The plan stored for `job`, if it was planned before (in `mode`) and has
/// segment rows.
pub(crate) fn stored_plan(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    job: &JobRecord,
    mode: OutputMode,
) -> Result<Option<Plan>> {
    let key = Plan::key(&job.job_id);
    if jobs.segments(&job.job_id)?.is_empty() || objects.size(&key)?.is_none() {
        return Ok(None);
    }
    // One that cannot be read is planned again (and checked against the rows).
    let plan = serde_json::from_slice::<Plan>(&objects.read_all(&key)?).ok();
    Ok(plan.filter(|p| p.envelope_key == job.envelope_key && p.video_key == job.video_key && p.mode == mode))
}

/// What planning produced: the stored plan and the probe it came from.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The plan (also stored at [`Plan::key`]).
    pub plan: Plan,
    /// The source's probe.
    pub media: MediaInfo,
}

/// Plans `job`: probes, validates, segments, records. Running it again for
/// the same job changes nothing: once segments are recorded, the stored plan
/// is kept (a resumed run may have other settings, such as fewer workers,
/// but its finished segments belong to the first plan).
///
/// `key` is the job's placement key: compact mode chooses its carrier
/// pictures with it. `scratch` is local space for a copy of the source in
/// another container, when compact mode needs one.
#[allow(clippy::too_many_arguments)]
pub fn plan_job(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    scratch: &Path,
    job: &JobRecord,
    key: &PlacementKey,
    settings: &PlanSettings,
    progress: &dyn Progress,
) -> Result<Planned> {
    let header = envelope_header(objects, &job.envelope_key)?;
    match settings.mode {
        OutputMode::Lossless => plan_lossless(objects, jobs, job, &header, settings),
        OutputMode::Compact => {
            crate::carriers::plan_carriers(objects, jobs, scratch, job, key, &header, settings, progress)
        }
    }
}

fn plan_lossless(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    job: &JobRecord,
    header: &EnvelopeHeader,
    settings: &PlanSettings,
) -> Result<Planned> {
    let media = probe(&source_path(objects.media_source(&job.video_key)?))?;
    check_limits(&media, &settings.limits)?;
    media.require_constant_frame_rate()?;
    if let Some(plan) = stored_plan(objects, jobs, job, OutputMode::Lossless)? {
        if plan.frame_count == media.video.frame_count && plan.body_bits == header.body_bits() {
            return Ok(Planned { plan, media });
        }
    }
    let choice = choose_raw_format(&media.video, Some(&settings.codec));
    let format = choice.format;
    let geometry = geometry_of(&format)?;
    let frames = media.video.frame_count;
    check_fits(header, &geometry, settings.plane_set, frames)?;
    let target = target_frames(
        frames,
        settings.workers,
        settings.min_segment_frames,
        settings.max_segment_frames,
    );
    let schedule = BitSchedule::new(frames, header.body_bits());
    let segments: Vec<SegmentRecord> = gop_segments(frames, &media.video.keyframes, target)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let bits = schedule.frames_bits(r.clone());
            SegmentRecord {
                index: i as u32,
                frame_start: r.start,
                frame_end: r.end,
                bit_start: bits.start,
                bit_end: bits.end,
                done: false,
                millis: None,
            }
        })
        .collect();
    let mut warnings = choice.warnings;
    if !media.other_streams.is_empty() {
        warnings.push(format!(
            "{} stream(s) besides video, audio and subtitles (cover art, data, extra video) are not carried over",
            media.other_streams.len()
        ));
    }
    let plane_set = if geometry.planes().len() == 1 {
        PlaneSet::Luma
    } else {
        settings.plane_set
    };
    let plan = Plan {
        job_id: job.job_id.clone(),
        video_key: job.video_key.clone(),
        envelope_key: job.envelope_key.clone(),
        output_key: job.output_key.clone(),
        frame_count: frames,
        width: format.width,
        height: format.height,
        pixel_format: format.pixel.ffmpeg_name().to_string(),
        full_range: format.full_range,
        planes: if plane_set == PlaneSet::All { "all" } else { "luma" }.to_string(),
        body_bits: header.body_bits(),
        segments,
        warnings,
        mode: OutputMode::Lossless,
        source_key: None,
        candidates: 0,
        carriers: Vec::new(),
    };
    store_plan(objects, jobs, &plan)?;
    Ok(Planned { plan, media })
}

/// Records a new plan: its segment rows, then the plan object.
pub(crate) fn store_plan(objects: &dyn ObjectStore, jobs: &dyn JobStore, plan: &Plan) -> Result<()> {
    jobs.put_segments(&plan.job_id, &plan.segments)?;
    let json = serde_json::to_vec_pretty(plan).expect("plans serialise");
    objects.write_bytes(&Plan::key(&plan.job_id), &json)
}
