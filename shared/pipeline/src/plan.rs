//! The `plan` step: probe the source, check limits and capacity, cut
//! GOP-aligned segments with their frame and bit ranges, and record them.

use crate::contract::{OutputMode, Robustness};
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
    choose_raw_format, probe, MediaInfo, OutputContainer, PlanarFormat, RawFormat, SegmentCodec, StreamReport,
};

/// Limits an operator sets on what is accepted.
///
/// The first four are checked from the container's header before the file
/// is read through, then again exactly; the last three bound the work a plan
/// asks of one function invocation (the service's concat and segments run
/// in 15-minute Lambda invocations with 10 GB of `/tmp`), and a plan over
/// any of them is refused before anything is embedded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest source file, in bytes.
    pub max_input_bytes: u64,
    /// Longest source, in seconds.
    pub max_duration_seconds: f64,
    /// Most pixels per frame (width × height).
    pub max_pixels: u64,
    /// Most frames.
    pub max_frames: u64,
    /// Largest output a plan may make, estimated from the plan (lossless:
    /// [`LOSSLESS_BYTES_PER_PIXEL`] per pixel of every frame; compact: the
    /// source plus its carriers): concat writes it in one invocation.
    pub max_output_bytes: u64,
    /// Largest lossless segment file, estimated the same way (it is written
    /// to the function's scratch space).
    pub max_segment_bytes: u64,
    /// Most pixels one segment may decode (frames decoded × width × height):
    /// a segment's time. A GOP too long for it (keyframes too far apart)
    /// is refused, saying how far apart they may be.
    pub max_segment_pixels: u64,
    /// Whether the input limits are first checked from the file's size and
    /// container header (one quick ffprobe run) before it is read through:
    /// the service does, so a video over the limits costs no full read;
    /// local runs, with generous limits, skip the extra run.
    pub check_header_first: bool,
}

impl Default for Limits {
    /// Generous limits for local runs, which have no invocation time limit.
    fn default() -> Self {
        Limits {
            max_input_bytes: 20 << 30,
            max_duration_seconds: 4.0 * 3600.0,
            max_pixels: 3840 * 2160,
            max_frames: 1_000_000,
            max_output_bytes: 1 << 40,
            max_segment_bytes: 1 << 40,
            max_segment_pixels: u64::MAX,
            check_header_first: false,
        }
    }
}

/// Lossless output bytes per pixel of every frame, for the size estimates
/// behind [`Limits::max_output_bytes`] and [`Limits::max_segment_bytes`]:
/// noisy camera footage measured 1.06 (codec.md); cleaner video is smaller.
pub const LOSSLESS_BYTES_PER_PIXEL: f64 = 1.1;

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
    /// Robust mode: the preset.
    pub robustness: Robustness,
    /// The lossless encoder of the stego video (lossless mode; robust mode
    /// encodes with libx264 at [`crate::ROBUST_CRF`]).
    pub codec: SegmentCodec,
    /// Segments that will run at once (cores locally, Map concurrency on AWS).
    pub workers: usize,
    /// Shortest segment worth an ffmpeg start-up, in frames.
    pub min_segment_frames: u64,
    /// Longest segment (bounded by a worker's time budget), in frames.
    pub max_segment_frames: u64,
    /// Input limits.
    pub limits: Limits,
    /// Compact mode: ffprobe's stream report of the upload, made by the
    /// caller with edit lists ignored (`ProbeOptions { raw_timeline: true }`)
    /// when it checked the file. The plan uses it instead of running that
    /// ffprobe again if it describes the very file the upload's key points
    /// at (a local file); otherwise it is ignored.
    pub source_report: Option<StreamReport>,
    /// Compact mode: the upload already analysed by the caller
    /// ([`crate::analyse_local_source`], e.g. while it sealed the payload);
    /// used instead of analysing it again when it describes the very file
    /// the upload's key points at, unchanged, for the same container family.
    pub source_analysis: Option<crate::SourceAnalysis>,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            mode: OutputMode::Compact,
            max_rate: DEFAULT_MAX_RATE,
            transcode: TranscodePolicy::Auto,
            container: None,
            plane_set: PlaneSet::All,
            robustness: Robustness::Normal,
            codec: SegmentCodec::default(),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            min_segment_frames: 24,
            max_segment_frames: 900,
            limits: Limits::default(),
            source_report: None,
            source_analysis: None,
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
    /// Robust mode: the preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<Robustness>,
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

    /// The encoder of this plan's segments: libx264 at
    /// [`crate::ROBUST_CRF`] in robust mode (a segment that does not read
    /// back well is encoded again at a lower factor), else `lossless`, the
    /// configured lossless codec.
    pub fn segment_codec(&self, lossless: SegmentCodec) -> SegmentCodec {
        match self.mode {
            OutputMode::Robust => crate::robust::robust_codec(crate::robust::ROBUST_CRF),
            OutputMode::Lossless | OutputMode::Compact => lossless,
        }
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
    input_limits(
        info.size_bytes,
        info.duration_seconds,
        (v.width, v.height),
        Some(v.frame_count),
        limits,
    )
}

/// The input limits, from whatever is known of the video.
fn input_limits(
    size_bytes: u64,
    duration_seconds: Option<f64>,
    (width, height): (u32, u32),
    frame_count: Option<u64>,
    limits: &Limits,
) -> Result<()> {
    let mut problems = Vec::new();
    if size_bytes > limits.max_input_bytes {
        problems.push(format!(
            "the file is {size_bytes} bytes, over the limit of {}",
            limits.max_input_bytes
        ));
    }
    if let Some(d) = duration_seconds {
        if d > limits.max_duration_seconds {
            problems.push(format!(
                "it lasts {d:.0} s, over the limit of {:.0} s",
                limits.max_duration_seconds
            ));
        }
    }
    let pixels = width as u64 * height as u64;
    if pixels > limits.max_pixels {
        problems.push(format!(
            "{width}x{height} is {pixels} pixels per frame, over the limit of {}",
            limits.max_pixels
        ));
    }
    if let Some(frames) = frame_count.filter(|&f| f > limits.max_frames) {
        problems.push(format!(
            "it has {frames} frames, over the limit of {}",
            limits.max_frames
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PipelineError::InvalidInput(format!(
            "the video is over the limits: {}",
            problems.join("; ")
        )))
    }
}

/// The input limits from the source's size and its container's header
/// alone (one quick ffprobe run), before the file is read through: a video
/// over them is refused without the cost of reading it.
pub(crate) fn check_header_limits(objects: &dyn ObjectStore, video_key: &str, limits: &Limits) -> Result<()> {
    let size = objects
        .size(video_key)?
        .ok_or_else(|| PipelineError::InvalidInput(format!("the video {video_key} was not uploaded")))?;
    if size > limits.max_input_bytes {
        return input_limits(size, None, (0, 0), None, limits);
    }
    let header = vidstega_media::probe_header(&source_path(objects.media_source(video_key)?))?;
    input_limits(
        size,
        header.duration_seconds,
        (header.width, header.height),
        header.frame_count,
        limits,
    )
}

/// Refuses a plan whose estimated output concat could not write.
pub(crate) fn check_output_estimate(estimate: u64, what: &str, limits: &Limits) -> Result<()> {
    if estimate > limits.max_output_bytes {
        return Err(PipelineError::InvalidInput(format!(
            "the output would be about {:.1} GB ({what}), over the limit of {:.1} GB that one concat \
             can write; use a shorter or smaller video{}",
            estimate as f64 / 1e9,
            limits.max_output_bytes as f64 / 1e9,
            if what.starts_with("lossless") {
                ", or compact mode (its output is about the source's size)"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Refuses a segment that decodes more than one invocation can: `frames`
/// decoded from its keyframe at `pixels` per frame.
pub(crate) fn check_segment_work(index: u32, frames: u64, pixels: u64, limits: &Limits) -> Result<()> {
    if frames.saturating_mul(pixels) > limits.max_segment_pixels {
        let most = limits.max_segment_pixels / pixels.max(1);
        return Err(PipelineError::InvalidInput(format!(
            "segment {index} would decode {frames} frames from a keyframe, more than the {most} one segment \
             can decode at this frame size in time; re-encode the video with keyframes at most {most} frames \
             apart (e.g. ffmpeg -i in.mp4 -c:v libx264 -g 250 -c:a copy out.mp4)"
        )));
    }
    Ok(())
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
    if settings.limits.check_header_first {
        check_header_limits(objects, &job.video_key, &settings.limits)?;
    }
    match settings.mode {
        OutputMode::Lossless => plan_lossless(objects, jobs, job, &header, settings),
        OutputMode::Robust => crate::robust::plan_robust(objects, jobs, job, &header, settings),
        OutputMode::Compact => {
            crate::carriers::plan_carriers(objects, jobs, scratch, job, key, &header, settings, progress)
        }
    }
}

/// Where a mode that re-encodes every frame (lossless, robust) starts its
/// plan: the source probed, checked against the limits and for a constant
/// frame rate; `Ok` with the plan stored for `job` in `mode` if it still
/// matches the source and the payload (a rerun keeps it), else `Err` with
/// the probe to plan from.
pub(crate) fn probe_every_frame_source(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    job: &JobRecord,
    header: &EnvelopeHeader,
    settings: &PlanSettings,
    mode: OutputMode,
) -> Result<std::result::Result<Planned, MediaInfo>> {
    let media = probe(&source_path(objects.media_source(&job.video_key)?))?;
    check_limits(&media, &settings.limits)?;
    media.require_constant_frame_rate()?;
    if let Some(plan) = stored_plan(objects, jobs, job, mode)? {
        if plan.frame_count == media.video.frame_count && plan.body_bits == header.body_bits() {
            return Ok(Ok(Planned { plan, media }));
        }
    }
    Ok(Err(media))
}

/// The warning for streams a re-encoding mode does not carry over, if any.
pub(crate) fn dropped_streams_warning(media: &MediaInfo) -> Option<String> {
    (!media.other_streams.is_empty()).then(|| {
        format!(
            "{} stream(s) besides video, audio and subtitles (cover art, data, extra video) are not carried over",
            media.other_streams.len()
        )
    })
}

fn plan_lossless(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    job: &JobRecord,
    header: &EnvelopeHeader,
    settings: &PlanSettings,
) -> Result<Planned> {
    let media = match probe_every_frame_source(objects, jobs, job, header, settings, OutputMode::Lossless)? {
        Ok(planned) => return Ok(planned),
        Err(media) => media,
    };
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
    let pixels = format.width as u64 * format.height as u64;
    let lossless_bytes = |frames: u64| (frames as f64 * pixels as f64 * LOSSLESS_BYTES_PER_PIXEL) as u64;
    check_output_estimate(
        lossless_bytes(frames),
        &format!("lossless: {frames} frames of {}x{}", format.width, format.height),
        &settings.limits,
    )?;
    let ranges = gop_segments(frames, &media.video.keyframes, target)?;
    for (i, r) in ranges.iter().enumerate() {
        let n = r.end - r.start;
        check_segment_work(i as u32, n, pixels, &settings.limits)?;
        if lossless_bytes(n) > settings.limits.max_segment_bytes {
            return Err(PipelineError::InvalidInput(format!(
                "segment {i} ({n} frames between keyframes) would be a lossless file of about {:.1} GB, over \
                 the {:.1} GB a segment may take; re-encode the video with keyframes closer together \
                 (e.g. ffmpeg -i in.mp4 -c:v libx264 -g 250 -c:a copy out.mp4)",
                lossless_bytes(n) as f64 / 1e9,
                settings.limits.max_segment_bytes as f64 / 1e9
            )));
        }
    }
    let schedule = BitSchedule::new(frames, header.body_bits());
    let segments: Vec<SegmentRecord> = ranges
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
    warnings.extend(dropped_streams_warning(&media));
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
        robustness: None,
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
