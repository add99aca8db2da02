//! Robust mode: every frame re-encoded by libx264 with the sealed payload on
//! luma block means (`vidstega-robust`), so the message survives lossy
//! re-encoding and downscaling.
//!
//! The steps are lossless mode's — plan, `embed-segment` over GOP-aligned
//! segments, concat — with three differences: every segment embeds the
//! whole payload (the robust core spreads it over the video's hold periods
//! by global frame index, so segments are independent), the encoder is
//! libx264 at [`ROBUST_CRF`], and the loop is closed: each segment's encoded
//! frames are decoded and read back, a segment that lost too much of the
//! embedding is encoded again at a lower rate factor, and the joined output
//! is extracted once before it is declared done.

use crate::contract::{OutputMode, Robustness};
use crate::error::{PipelineError, Result};
use crate::plan::{
    check_output_estimate, check_segment_work, dropped_streams_warning, probe_every_frame_source, store_plan,
    Plan, PlanSettings, Planned,
};
use crate::ports::{JobStore, ObjectStore};
use crate::progress::Progress;
use crate::records::{JobRecord, SegmentRecord};
use crate::segments::{gop_segments, target_frames};
use std::path::Path;
use vidstega_core::{EnvelopeHeader, PlacementKey, ENVELOPE_HEADER_LEN};
use vidstega_media::{
    choose_raw_format, probe, FrameReader, MediaInfo, PlanarFormat, RawFormat, SegmentCodec, X264Preset,
};
use vidstega_robust::{
    Embedder, ExtractReport, Extractor, ExtractorConfig, ReadBack, RobustError, VideoInfo,
};

/// The rate factor robust mode encodes at first: every measurement of
/// `docs/robust.md` was made on outputs encoded at it.
pub const ROBUST_CRF: u8 = 18;

/// Rate factors a segment is encoded at again, in turn, when its frames do
/// not read back well enough at the one before.
pub const ROBUST_CRF_RETRIES: [u8; 2] = [12, 6];

/// A segment whose decoded frames, combined over each hold period as the
/// extractor combines them, decide more than this share of slots wrongly is
/// encoded again at a lower rate factor. Our own CRF 18 output reads at
/// about 0.02% (single frames: about 1%); after the channels the presets
/// survive, extraction measured up to 1% (CRF 23), 6% (720p) and 19%
/// (`strong`, 480p CRF 28): a fresh output must leave that margin.
pub const MAX_SEGMENT_SLOT_ERRORS: f64 = 0.005;

/// Upper estimate of robust mode's output, in bytes per pixel of every
/// frame (about 40 Mbit/s at 1080p30; CRF 18 of camera footage measured
/// well under it), for the output limits.
pub const ROBUST_BYTES_PER_PIXEL: f64 = 0.08;

/// Seconds of frames an extractor reads without locking on a period header
/// before it decides the video holds no robust-mode message for this
/// password (a message locks within the first 4 s of any stretch of video
/// that carries it).
pub const ROBUST_LOCK_SECONDS: f64 = 20.0;

/// The encoder of robust mode's segments, at rate factor `crf`.
pub fn robust_codec(crf: u8) -> SegmentCodec {
    SegmentCodec::H264Crf {
        preset: X264Preset::Medium,
        crf,
    }
}

/// The raw layout robust mode embeds in: the source's size, 8-bit 4:2:0 (a
/// widely playable output), the source's range.
fn robust_format(media: &MediaInfo) -> Result<(RawFormat, Vec<String>)> {
    let v = &media.video;
    if v.width % 2 == 1 || v.height % 2 == 1 {
        return Err(PipelineError::InvalidInput(format!(
            "robust mode writes H.264 4:2:0, which needs an even width and height, and this video is {}x{}; \
             crop it by a pixel first (ffmpeg -i in.mp4 -vf 'crop=trunc(iw/2)*2:trunc(ih/2)*2' -c:a copy \
             out.mp4)",
            v.width, v.height
        )));
    }
    let native = choose_raw_format(v, None).format;
    let mut warnings = Vec::new();
    if native.pixel != PlanarFormat::Yuv420p || v.pix_fmt.as_deref().is_some_and(|p| p.contains("10")) {
        warnings.push(format!(
            "robust mode writes 8-bit 4:2:0 H.264; the source's {} frames are converted",
            v.pix_fmt.as_deref().unwrap_or("unknown")
        ));
    }
    Ok((
        RawFormat {
            width: v.width,
            height: v.height,
            pixel: PlanarFormat::Yuv420p,
            full_range: native.full_range,
        },
        warnings,
    ))
}

/// The robust core's view of the whole video.
pub(crate) fn video_info(plan: &Plan, media: &MediaInfo) -> VideoInfo {
    VideoInfo {
        width: plan.width,
        height: plan.height,
        fps: media.video.frame_rate().as_f64(),
        frames: plan.frame_count,
    }
}

/// The preset a robust plan embeds with.
pub(crate) fn plan_preset(plan: &Plan) -> vidstega_robust::Preset {
    plan.robustness.unwrap_or_default().preset()
}

/// Robust mode's `plan` step: probe, limits, capacity, GOP-aligned segments
/// (each embeds the whole payload, so every segment's bit range is all of it).
pub(crate) fn plan_robust(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    job: &JobRecord,
    header: &EnvelopeHeader,
    settings: &PlanSettings,
) -> Result<Planned> {
    let media = match probe_every_frame_source(objects, jobs, job, header, settings, OutputMode::Robust)? {
        Ok(planned) => return Ok(planned),
        Err(media) => media,
    };
    let (format, mut warnings) = robust_format(&media)?;
    let frames = media.video.frame_count;
    let fps = media.video.frame_rate().as_f64();
    let preset = settings.robustness.preset();
    let capacity = vidstega_robust::capacity(format.width, format.height, frames, fps, &preset.params());
    let payload = ENVELOPE_HEADER_LEN as u64 + header.body_len();
    if payload > capacity.payload_bytes {
        let other = match settings.robustness {
            Robustness::Strong => ", or the normal preset (about five times the room)",
            Robustness::Normal => "",
        };
        return Err(PipelineError::InvalidInput(format!(
            "the sealed message is {payload} bytes but this video carries at most {} bytes in robust mode \
             ({} preset: about {} bytes of message, {:.0} bytes per second of video); use a shorter message, \
             a longer video{other}, or compact mode",
            capacity.payload_bytes,
            preset.name(),
            capacity.message_bytes,
            capacity.message_bytes_per_second
        )));
    }
    let target = target_frames(
        frames,
        settings.workers,
        settings.min_segment_frames,
        settings.max_segment_frames,
    );
    let pixels = format.width as u64 * format.height as u64;
    check_output_estimate(
        (frames as f64 * pixels as f64 * ROBUST_BYTES_PER_PIXEL) as u64,
        &format!("robust: {frames} frames of {}x{}", format.width, format.height),
        &settings.limits,
    )?;
    let ranges = gop_segments(frames, &media.video.keyframes, target)?;
    for (i, r) in ranges.iter().enumerate() {
        check_segment_work(i as u32, r.end - r.start, pixels, &settings.limits)?;
    }
    let segments: Vec<SegmentRecord> = ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| SegmentRecord {
            index: i as u32,
            frame_start: r.start,
            frame_end: r.end,
            bit_start: 0,
            bit_end: header.body_bits(),
            done: false,
            millis: None,
        })
        .collect();
    warnings.extend(dropped_streams_warning(&media));
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
        planes: "luma".to_string(),
        body_bits: header.body_bits(),
        segments,
        warnings,
        mode: OutputMode::Robust,
        source_key: None,
        candidates: 0,
        carriers: Vec::new(),
        robustness: Some(settings.robustness),
    };
    store_plan(objects, jobs, &plan)?;
    Ok(Planned { plan, media })
}

/// Reads the whole sealed payload (every robust segment embeds all of it).
pub(crate) fn read_payload(objects: &dyn ObjectStore, plan: &Plan) -> Result<Vec<u8>> {
    let len = ENVELOPE_HEADER_LEN as u64 + plan.body_bits.div_ceil(8);
    let payload = objects.read_range(&plan.envelope_key, 0..len)?;
    if payload.len() as u64 != len {
        return Err(PipelineError::InvalidInput(format!(
            "the sealed payload {} is shorter than its plan says ({} of {len} bytes)",
            plan.envelope_key,
            payload.len()
        )));
    }
    Ok(payload)
}

/// A robust-mode embedder for `plan`'s whole video.
pub(crate) fn embedder(
    objects: &dyn ObjectStore,
    plan: &Plan,
    media: &MediaInfo,
    key: &PlacementKey,
) -> Result<Embedder> {
    let payload = read_payload(objects, plan)?;
    Ok(Embedder::new(
        &payload,
        key,
        &plan_preset(plan).params(),
        video_info(plan, media),
    )?)
}

/// Decodes the encoded segment file at `path` (frames `seg`'s range of the
/// video) and reads every frame back against what was embedded.
pub(crate) fn check_segment(
    path: &Path,
    seg: &SegmentRecord,
    format: RawFormat,
    embedder: &mut Embedder,
) -> Result<ReadBack> {
    let media = probe(path)?;
    let frames = seg.frame_end - seg.frame_start;
    if media.video.frame_count != frames {
        return Err(PipelineError::Mismatch(format!(
            "segment {} was encoded with {} frames, not {frames}",
            seg.index, media.video.frame_count
        )));
    }
    let mut reader = FrameReader::open(&media, 0..frames, format)?;
    let mut buf = vec![0u8; format.frame_len()];
    let luma = format.width as usize * format.height as usize;
    let mut check = ReadBack::default();
    while let Some(i) = reader.read_frame(&mut buf)? {
        embedder.read_back(seg.frame_start + i, &buf[..luma], &mut check)?;
    }
    check.finish();
    Ok(check)
}

/// Extracts the joined output at `output` with the plan's preset and checks
/// that it gives back exactly the payload that was embedded: the last word
/// of the closed loop. Returns what the extraction measured.
pub fn verify_robust_output(
    objects: &dyn ObjectStore,
    plan: &Plan,
    key: &PlacementKey,
    output: &Path,
    progress: &dyn Progress,
) -> Result<ExtractReport> {
    let payload = read_payload(objects, plan)?;
    let media = probe(output)?;
    let cfg = ExtractorConfig::with_params(plan_preset(plan).params(), media.video.frame_rate().as_f64());
    let mut extractor = Extractor::new(key, cfg)?;
    progress.stage("verify", media.video.frame_count);
    read_luma(&media, &mut extractor, None, progress)?;
    let found = extractor.finish().map_err(|e| {
        PipelineError::Mismatch(format!(
            "the robust-mode output does not extract ({e}); it is not delivered"
        ))
    })?;
    if found.report.failed_codewords > 0 || found.payload != payload {
        return Err(PipelineError::Mismatch(format!(
            "the robust-mode output extracts with {} of {} codewords failed; it is not delivered",
            found.report.failed_codewords, found.report.codewords
        )));
    }
    Ok(found.report)
}

/// Feeds every frame's luma plane of `media`'s video to `extractor`, at its
/// presentation time (from the first frame's). With `give_up_after`, stops
/// once that many seconds of frames have gone by without a lock; returns
/// whether it read to the end.
fn read_luma(
    media: &MediaInfo,
    extractor: &mut Extractor,
    give_up_after: Option<f64>,
    progress: &dyn Progress,
) -> Result<bool> {
    let video = &media.video;
    let format = choose_raw_format(video, None).format;
    let fps = video.frame_rate().as_f64();
    let luma = format.width as usize * format.height as usize;
    let start = video.pts_seconds(0).unwrap_or(0.0);
    let mut reader = FrameReader::open(media, 0..video.frame_count, format)?;
    let mut buf = vec![0u8; format.frame_len()];
    while let Some(i) = reader.read_frame(&mut buf)? {
        let t = video.pts_seconds(i).map_or(i as f64 / fps, |t| t - start);
        extractor.push_frame_at(&buf[..luma], format.width, format.height, t)?;
        progress.frames(0, 1);
        if give_up_after.is_some_and(|s| t >= s) && !extractor.locked() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Looks for a robust-mode message in the video at `path` with `key`, and
/// opens it with `password`. `Ok(None)`: no period header authenticated in
/// the first [`ROBUST_LOCK_SECONDS`] (or the whole video): no robust-mode
/// message for this password. A located message that cannot be repaired is
/// an error with counts, never a wrong message.
pub(crate) fn extract_robust(
    path: &Path,
    key: &PlacementKey,
    password: &[u8],
    progress: &dyn Progress,
) -> Result<Option<RobustExtracted>> {
    let media = probe(path)?;
    let fps = media.video.frame_rate().as_f64();
    if !(fps > 0.0 && fps.is_finite()) {
        return Ok(None);
    }
    let mut extractor = Extractor::new(key, ExtractorConfig::new(fps))?;
    progress.stage("robust", media.video.frame_count);
    if !read_luma(&media, &mut extractor, Some(ROBUST_LOCK_SECONDS), progress)? {
        return Ok(None);
    }
    let found = match extractor.finish() {
        Ok(found) => found,
        Err(RobustError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let message = found.open(password)?;
    Ok(Some(RobustExtracted {
        message,
        report: found.report,
    }))
}

/// A message read in robust mode, with what the extraction measured.
pub(crate) struct RobustExtracted {
    /// The message.
    pub message: Vec<u8>,
    /// What the extraction found and measured.
    pub report: ExtractReport,
}
