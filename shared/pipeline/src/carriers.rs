//! Planning compact mode: which pictures carry the message.
//!
//! The source's H.264 track is scanned for the pictures that may carry (no
//! other picture references them; see [`vidstega_h264::eligible_carriers`]),
//! the message's size and the largest embedding rate give the number of
//! carriers, and the placement key picks them, spread over the whole video
//! ([`CarrierOrder`]). Consecutive carriers are grouped into segments, each
//! one embed-segment task; the rest of the video needs no work at all.

use crate::contract::keys;
use crate::contract::OutputMode;
use crate::error::{PipelineError, Result};
use crate::plan::{
    check_limits, check_output_estimate, check_segment_work, geometry_of, source_path, store_plan,
    stored_plan, Plan, PlanSettings, Planned,
};
use crate::plan::{TranscodePolicy, DEFAULT_MAX_RATE, MAX_CARRIERS_PER_SEGMENT};
use crate::ports::{JobStore, MediaSource, ObjectStore};
use crate::progress::Progress;
use crate::records::{CarrierRecord, JobRecord, SegmentRecord};
use crate::source::ObjectReader;
use crate::track::{H264Track, Scan};
use std::io::{Read, Seek};
use std::path::Path;
use vidstega_container::{sniff, ContainerError, ContainerKind};
use vidstega_core::{
    carriers_needed, max_message_len, BitSchedule, CarrierOrder, EnvelopeHeader, Layout, PlacementKey,
    PlaneSet, SealParams, PICTURE_OVERHEAD_BITS,
};
use vidstega_h264::{ChromaSampling, H264Error, PictureShape};
use vidstega_media::{
    probe_with, probe_with_known_packets, remux, transcode_to_h264, MediaError, MediaInfo, OutputContainer,
    PlanarFormat, ProbeOptions, RawFormat, StreamReport, TRANSCODE_CRF,
};

/// The raw layout a carrier's cover picture is decoded to: the stream's own
/// size and sampling, in the pixel format the decoder outputs (no
/// conversion of any kind, so the carrier holds exactly the decoded samples).
pub fn carrier_format(media: &MediaInfo, shape: &PictureShape) -> Result<RawFormat> {
    let name = media.video.pix_fmt.as_deref().unwrap_or("unknown");
    let (pixel, full_range) = PlanarFormat::from_ffmpeg_name(name).ok_or_else(|| {
        PipelineError::InvalidInput(format!("the decoder outputs {name}, not 8-bit planar video"))
    })?;
    let expected = match shape.chroma {
        ChromaSampling::Monochrome => PlanarFormat::Gray,
        ChromaSampling::Yuv420 => PlanarFormat::Yuv420p,
        ChromaSampling::Yuv422 => PlanarFormat::Yuv422p,
        ChromaSampling::Yuv444 => PlanarFormat::Yuv444p,
    };
    if pixel != expected || media.video.width != shape.width() || media.video.height != shape.height() {
        return Err(PipelineError::InvalidInput(format!(
            "the stream's parameter sets describe {}x{} {}, but ffprobe reports {}x{} {name}",
            shape.width(),
            shape.height(),
            expected.ffmpeg_name(),
            media.video.width,
            media.video.height
        )));
    }
    Ok(RawFormat {
        width: shape.width(),
        height: shape.height(),
        pixel,
        full_range,
    })
}

/// Probes a compact-mode source: with MP4 edit lists ignored, so that every
/// stored sample is a frame, in the container's own order.
pub fn probe_source(objects: &dyn ObjectStore, key: &str) -> Result<MediaInfo> {
    Ok(probe_with(
        &source_path(objects.media_source(key)?),
        ProbeOptions { raw_timeline: true },
    )?)
}

/// Reads a source's H.264 track, turning the reader's store error (lost
/// behind an `io::Error`) back into the real one.
pub fn open_track(reader: &mut ObjectReader<'_>) -> Result<H264Track> {
    H264Track::open(reader).map_err(|e| reader.take_error().unwrap_or(e))
}

/// What the carrier count of a message of `body_bits` comes to.
fn too_large(
    header: &EnvelopeHeader,
    needed: u64,
    candidates: u64,
    samples: u64,
    rate: f64,
) -> PipelineError {
    let per_carrier = ((rate * samples as f64).floor() as u64).saturating_sub(PICTURE_OVERHEAD_BITS);
    let params = SealParams {
        data_shards: header.data_shards,
        parity_shards: header.parity_shards,
        ..SealParams::default()
    };
    let fits = max_message_len(&params, per_carrier.saturating_mul(candidates)).unwrap_or(0);
    let raise = if rate < 1.0 {
        format!("raise --max-rate (now {rate}, at most 1), ")
    } else {
        String::new()
    };
    PipelineError::InvalidInput(format!(
        "the message needs {needed} carrier pictures at an embedding rate of {rate}, but only {candidates} \
         pictures of this video can carry; about {fits} bytes of (compressed) message fit. To fit more, \
         {raise}use a longer video, or --mode lossless"
    ))
}

/// The container family an output container belongs to.
fn family(container: OutputContainer) -> ContainerKind {
    match container {
        OutputContainer::Matroska => ContainerKind::Matroska,
        OutputContainer::Mp4 | OutputContainer::Mov => ContainerKind::Mp4,
    }
}

/// A source ready for compact mode: probed, its track scanned.
#[derive(Clone)]
struct Analysed {
    media: MediaInfo,
    scan: Scan,
    shape: PictureShape,
    format: RawFormat,
}

/// Why a source is not ready for compact mode, and what would make it so.
enum Unfit {
    /// The container cannot be patched (or is not the output's family):
    /// a stream copy into the output's container fixes it.
    Remux(String),
    /// The video stream cannot hold carrier pictures: a transcode fixes it.
    Transcode(String),
    /// Anything else (unreadable, broken).
    Error(PipelineError),
}

impl From<PipelineError> for Unfit {
    fn from(e: PipelineError) -> Self {
        Unfit::Error(e)
    }
}

/// A source to analyse: an object of the store, or a local file.
#[derive(Clone, Copy)]
enum Source<'a> {
    Object(&'a dyn ObjectStore, &'a str),
    File(&'a Path),
}

impl Source<'_> {
    fn reader(&self) -> Result<ObjectReader<'_>> {
        match *self {
            Source::Object(objects, key) => ObjectReader::open(objects, key),
            Source::File(path) => ObjectReader::file(path),
        }
    }

    /// The path (or URL) ffmpeg reads it from.
    fn path(&self) -> Result<std::path::PathBuf> {
        match *self {
            Source::Object(objects, key) => Ok(source_path(objects.media_source(key)?)),
            Source::File(path) => Ok(path.to_path_buf()),
        }
    }
}

/// Reads a source as compact mode needs it, or says why it cannot be used.
/// `report`: ffprobe's stream report of the source made earlier, if any
/// (used when it describes this very file, see
/// [`vidstega_media::probe_with_report`]).
fn analyse(
    source: Source<'_>,
    wanted: Option<ContainerKind>,
    report: Option<&StreamReport>,
) -> Result<Analysed, Unfit> {
    let mut reader = source.reader()?;
    let mut head = [0u8; 16];
    let n = reader.read(&mut head).map_err(|e| {
        reader
            .take_error()
            .unwrap_or_else(|| PipelineError::io("reading the video's first bytes", e))
    })?;
    let Some(found) = sniff(&head[..n]) else {
        return Err(Unfit::Remux(
            "its container is neither MP4/MOV nor Matroska".into(),
        ));
    };
    reader
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| PipelineError::io("seeking the video", e))?;
    let truncated = |detail: String| -> Result<Analysed, Unfit> {
        Err(PipelineError::Media(MediaError::Truncated {
            path: source.path()?,
            detail,
            stderr: Default::default(),
        })
        .into())
    };
    // A damaged file is refused before anything else: a stream copy would
    // only hide the damage.
    let track = match open_track(&mut reader) {
        Ok(t) => Ok(t),
        Err(PipelineError::Container(ContainerError::Malformed { detail })) => return truncated(detail),
        Err(e) => Err(e),
    };
    if let Some(end) = track
        .as_ref()
        .ok()
        .and_then(|t| t.data_end())
        .filter(|&end| end > reader.len())
    {
        return truncated(format!(
            "its index lists video data up to byte {end} but the file ends at byte {}",
            reader.len()
        ));
    }
    if wanted.is_some_and(|w| w != found) {
        return Err(Unfit::Remux("the output is asked in another container".into()));
    }
    let mut track = match track {
        Ok(t) => t,
        Err(PipelineError::Container(ContainerError::Unsupported { what })) => {
            return Err(Unfit::Remux(what))
        }
        Err(PipelineError::InvalidInput(why)) => return Err(Unfit::Transcode(why)),
        Err(e) => return Err(e.into()),
    };
    // The packets' timestamps come from the container's tables when it has
    // them (MP4/MOV, edit lists not applied, as the probe reads them), so
    // ffprobe need not list them; otherwise ffprobe's packet listing and
    // the NAL-header scan each read the whole file, side by side: the
    // second reader finds it in the page cache (or, over HTTPS, the two
    // transfers overlap). The scan's verdicts come first.
    let path = source.path()?;
    let known = track.container_packets();
    let (scan, media) = std::thread::scope(|scope| {
        let probe = scope.spawn(|| {
            probe_with_known_packets(&path, ProbeOptions { raw_timeline: true }, report, known.as_ref())
        });
        let scan = track
            .scan(&mut reader)
            .map_err(|e| reader.take_error().unwrap_or(e));
        let media = probe
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (scan, media)
    });
    let scan = scan?;
    let shape = match track.shape() {
        Ok(s) => s,
        Err(PipelineError::H264(H264Error::Unsupported(why))) => {
            return Err(Unfit::Transcode(format!("its H.264 uses {why}")))
        }
        Err(e) => return Err(e.into()),
    };
    if scan.candidates.is_empty() {
        return Err(Unfit::Transcode(
            "no picture of its H.264 stream can carry".into(),
        ));
    }
    let media = media.map_err(PipelineError::from)?;
    if media.video.packet_display_index.len() != track.len() {
        return Err(Unfit::Remux(format!(
            "its container lists {} video samples but ffprobe reads {} packets",
            track.len(),
            media.video.packet_display_index.len()
        )));
    }
    let format = carrier_format(&media, &shape).map_err(|e| Unfit::Transcode(e.to_string()))?;
    Ok(Analysed {
        media,
        scan,
        shape,
        format,
    })
}

/// A local video analysed for compact mode before the plan needs it
/// ([`analyse_local_source`]), so that the analysis (a read of the whole
/// file) can run while the caller does other work, such as sealing the
/// payload. The plan uses it ([`PlanSettings::source_analysis`]) only for
/// the same file, unchanged, asked in the same container family.
#[derive(Clone)]
pub struct SourceAnalysis {
    /// The file analysed (canonical path), its size and modification time.
    path: std::path::PathBuf,
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// The container family the output is asked in.
    wanted: Option<ContainerKind>,
    analysed: std::sync::Arc<Analysed>,
}

impl SourceAnalysis {
    /// The analysis, if it describes the file at `path` as it is now, for
    /// an output in the `wanted` family.
    fn for_file(&self, path: &Path, wanted: Option<ContainerKind>) -> Option<Analysed> {
        let meta = std::fs::metadata(path).ok()?;
        (self.path == path
            && self.wanted == wanted
            && self.len == meta.len()
            && self.modified == meta.modified().ok())
        .then(|| (*self.analysed).clone())
    }
}

impl PartialEq for SourceAnalysis {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.analysed, &other.analysed)
    }
}

impl std::fmt::Debug for SourceAnalysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceAnalysis")
            .field("path", &self.path)
            .field("frames", &self.analysed.media.video.frame_count)
            .field("candidates", &self.analysed.scan.candidates.len())
            .finish_non_exhaustive()
    }
}

/// Analyses the local video at `path` as the compact-mode plan would for
/// an output in `container` (`report`: ffprobe's stream report of it, if
/// made already): `None` when it cannot be used as it is (it needs a
/// stream copy or a transcode, or cannot be read; the plan then finds and
/// reports that itself).
pub fn analyse_local_source(
    path: &Path,
    container: Option<OutputContainer>,
    report: Option<&StreamReport>,
) -> Option<SourceAnalysis> {
    let path = std::fs::canonicalize(path).ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    let wanted = container.map(family);
    let analysed = analyse(Source::File(&path), wanted, report).ok()?;
    Some(SourceAnalysis {
        len: meta.len(),
        modified: meta.modified().ok(),
        path,
        wanted,
        analysed: std::sync::Arc::new(analysed),
    })
}

/// Makes a copy of the upload for compact mode — a stream copy into
/// `container` (`transcode` false) or a transcode to H.264 — stored once
/// under `key`.
fn make_source(
    objects: &dyn ObjectStore,
    scratch: &Path,
    job: &JobRecord,
    key: &str,
    container: OutputContainer,
    transcode: bool,
    progress: &dyn Progress,
) -> Result<()> {
    if objects.size(key)?.is_some() {
        return Ok(());
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{}-source-", job.job_id))
        .suffix(&format!(".{}", container.extension()))
        .tempfile_in(scratch)
        .map_err(|e| PipelineError::io(format!("cannot create a file in {}", scratch.display()), e))?
        .into_temp_path();
    let upload = source_path(objects.media_source(&job.video_key)?);
    if transcode {
        let info = vidstega_media::probe(&upload)?;
        let report = transcode_to_h264(&info, &tmp, container)?;
        progress.warn(&format!(
            "transcoded to H.264 ({}, CRF {TRANSCODE_CRF}, at most {:.1} Mbit/s) in {:.1} s",
            report.pix_fmt,
            report.max_bitrate as f64 / 1e6,
            report.seconds
        ));
    } else {
        remux(&upload, &tmp, container)?;
    }
    objects.put_file(key, &tmp)
}

/// The source compact mode patches, analysed: the upload itself when it
/// can be used as it is; else a stream copy of it into the output's
/// container (MP4 when none is asked); else (policy permitting) an H.264
/// transcode. Returns the key, its analysis and notes for the user.
fn choose_source(
    objects: &dyn ObjectStore,
    scratch: &Path,
    job: &JobRecord,
    settings: &PlanSettings,
    progress: &dyn Progress,
) -> Result<(String, Analysed, Vec<String>)> {
    let wanted = settings.container.map(family);
    let target = settings.container.unwrap_or(OutputContainer::Mp4);
    let mut notes = Vec::new();
    let no_transcode = |why: String| {
        PipelineError::InvalidInput(format!(
            "the video cannot hold carrier pictures as it is: {why}. Compact mode can transcode it to H.264 \
             once (leave out --transcode never), or use --mode lossless"
        ))
    };
    let ready = settings
        .source_analysis
        .as_ref()
        .and_then(|a| match objects.media_source(&job.video_key) {
            Ok(MediaSource::Path(path)) => a.for_file(&path, wanted),
            _ => None,
        });
    let first = if settings.transcode == TranscodePolicy::Always {
        Err(Unfit::Transcode("a transcode was asked for".into()))
    } else if let Some(analysed) = ready {
        Ok(analysed)
    } else {
        analyse(
            Source::Object(objects, &job.video_key),
            wanted,
            settings.source_report.as_ref(),
        )
    };
    let why = match first {
        Ok(a) => return Ok((job.video_key.clone(), a, notes)),
        Err(Unfit::Error(e)) => return Err(e),
        Err(Unfit::Remux(why)) => {
            let key = keys::remuxed_source(&job.job_id, target.extension());
            make_source(objects, scratch, job, &key, target, false, progress)?;
            notes.push(format!(
                "the video was first copied into the .{} container, streams and timestamps unchanged ({why})",
                target.extension()
            ));
            match analyse(Source::Object(objects, &key), wanted, None) {
                Ok(a) => return Ok((key, a, notes)),
                Err(Unfit::Error(e)) => return Err(e),
                Err(Unfit::Remux(why)) => {
                    return Err(PipelineError::InvalidInput(format!(
                        "even a stream copy of the video cannot be patched: {why}"
                    )))
                }
                Err(Unfit::Transcode(why)) => why,
            }
        }
        Err(Unfit::Transcode(why)) => why,
    };
    if settings.transcode == TranscodePolicy::Never {
        return Err(no_transcode(why));
    }
    progress.warn(&format!(
        "{why}: the video is transcoded once to H.264 High (x264, CRF {TRANSCODE_CRF}), which takes about as \
         long as a full decode and encode, and changes every picture slightly"
    ));
    let key = keys::transcoded_source(&job.job_id, target.extension());
    make_source(objects, scratch, job, &key, target, true, progress)?;
    notes.push(format!("the video was transcoded to H.264 first ({why})"));
    match analyse(Source::Object(objects, &key), wanted, None) {
        Ok(a) => Ok((key, a, notes)),
        Err(Unfit::Error(e)) => Err(e),
        Err(Unfit::Remux(why)) | Err(Unfit::Transcode(why)) => Err(PipelineError::InvalidInput(format!(
            "the transcoded video still cannot hold carriers: {why}"
        ))),
    }
}

/// What a video can carry in compact mode.
#[derive(Clone, Debug, PartialEq)]
pub struct CarrierCapacity {
    /// Pictures that can carry.
    pub candidates: u64,
    /// The layout carriers are decoded to (the stream's own).
    pub format: RawFormat,
    /// Samples per carrier in the chosen planes.
    pub samples_per_carrier: u64,
    /// Bytes one carrier access unit takes (about W·H·1.5 for 4:2:0).
    pub carrier_bytes: u64,
    /// The largest message that fits with every candidate a carrier, at the rate asked.
    pub max_message_bytes: u64,
    /// Whether these numbers are an estimate for the H.264 transcode the
    /// source needs (it cannot hold carriers as it is).
    pub estimated: bool,
}

/// What the local video at `path` can carry in compact mode with these
/// settings (reads its index and NAL unit headers; decodes nothing). A
/// source in another container is stream-copied into a temporary MP4
/// first, as `embed` would; one whose video cannot hold carriers is
/// estimated as the H.264 transcode `embed` would make (`estimated`).
pub fn carrier_capacity(
    path: &Path,
    plane_set: PlaneSet,
    max_rate: f64,
    params: &SealParams,
) -> Result<CarrierCapacity> {
    let tmp;
    let mut analysed = analyse(Source::File(path), None, None);
    if let Err(Unfit::Remux(_)) = analysed {
        tmp = tempfile::Builder::new()
            .prefix("vidstega-capacity-")
            .suffix(".mp4")
            .tempfile()
            .map_err(|e| PipelineError::io("cannot create a temporary file", e))?
            .into_temp_path();
        remux(path, &tmp, OutputContainer::Mp4)?;
        analysed = analyse(Source::File(&tmp), None, None);
    }
    let (candidates, format, carrier_bytes, estimated) = match analysed {
        Ok(a) => (
            a.scan.candidates.len() as u64,
            a.format,
            a.shape.macroblocks() as u64 * (a.shape.pcm_bytes_per_mb() as u64 + 2),
            false,
        ),
        Err(Unfit::Error(e)) => return Err(e),
        Err(Unfit::Remux(why)) => {
            return Err(PipelineError::InvalidInput(format!(
                "even a stream copy of the video cannot be patched: {why}"
            )))
        }
        Err(Unfit::Transcode(_)) => {
            // The transcode has B-frames that nothing references: about
            // three pictures in four can carry.
            let media = vidstega_media::probe(path)?;
            let (w, h) = (media.video.width, media.video.height);
            let format = RawFormat {
                width: w,
                height: h,
                pixel: PlanarFormat::Yuv420p,
                full_range: false,
            };
            let mbs = (w.div_ceil(16) * h.div_ceil(16)) as u64;
            (media.video.frame_count * 7 / 10, format, mbs * 386, true)
        }
    };
    let geometry = geometry_of(&format)?;
    let set = if geometry.planes().len() == 1 {
        PlaneSet::Luma
    } else {
        plane_set
    };
    let samples = geometry.samples(set);
    carriers_needed(0, samples, max_rate)?;
    let per_carrier = ((max_rate * samples as f64).floor() as u64).min(samples) - PICTURE_OVERHEAD_BITS;
    Ok(CarrierCapacity {
        candidates,
        format,
        samples_per_carrier: samples,
        carrier_bytes,
        max_message_bytes: max_message_len(params, per_carrier.saturating_mul(candidates))?,
        estimated,
    })
}

/// Plans a compact-mode job (see the module docs).
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_carriers(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    scratch: &Path,
    job: &JobRecord,
    key: &PlacementKey,
    header: &EnvelopeHeader,
    settings: &PlanSettings,
    progress: &dyn Progress,
) -> Result<Planned> {
    if let Some(plan) = stored_plan(objects, jobs, job, OutputMode::Compact)? {
        if plan.body_bits == header.body_bits() {
            let media = probe_source(objects, plan.source())?;
            return Ok(Planned { plan, media });
        }
    }
    let (source_key, analysed, notes) = choose_source(objects, scratch, job, settings, progress)?;
    let Analysed {
        media,
        scan,
        shape,
        format,
    } = analysed;
    check_limits(&media, &settings.limits)?;
    let geometry = geometry_of(&format)?;
    let plane_set = if geometry.planes().len() == 1 {
        PlaneSet::Luma
    } else {
        settings.plane_set
    };
    let samples = geometry.samples(plane_set);
    let rate = if settings.max_rate > 0.0 {
        settings.max_rate
    } else {
        DEFAULT_MAX_RATE
    };
    let needed = carriers_needed(header.body_bits(), samples, rate)?;
    let m = scan.candidates.len() as u64;
    if needed > m {
        return Err(too_large(header, needed, m, samples, rate));
    }
    // Checks the envelope's version and the fit before anything is stored.
    Layout::for_carriers(key, header, &geometry, plane_set, needed)?;
    let mut chosen = CarrierOrder::new(key, &scan.groups)?.first(needed)?;
    chosen.sort_unstable();
    let per_segment = (needed as usize)
        .div_ceil(settings.workers.max(1))
        .clamp(1, MAX_CARRIERS_PER_SEGMENT);
    let mut carriers = Vec::with_capacity(chosen.len());
    for (rank, &candidate) in chosen.iter().enumerate() {
        let sample = scan.candidates[candidate as usize];
        let display = media.video.packet_display_index[sample].ok_or_else(|| {
            PipelineError::InvalidInput(format!(
                "the demuxer hides video sample {sample}, a chosen carrier"
            ))
        })?;
        carriers.push(CarrierRecord {
            rank: rank as u64,
            candidate,
            sample: sample as u64,
            display,
            segment: (rank / per_segment) as u32,
        });
    }
    let schedule = BitSchedule::new(needed, header.body_bits());
    let segments: Vec<SegmentRecord> = carriers
        .chunks(per_segment)
        .enumerate()
        .map(|(i, group)| {
            let bits = schedule.frames_bits(group[0].rank..group[group.len() - 1].rank + 1);
            SegmentRecord {
                index: i as u32,
                frame_start: group.iter().map(|c| c.display).min().unwrap_or(0),
                frame_end: group.iter().map(|c| c.display + 1).max().unwrap_or(0),
                bit_start: bits.start,
                bit_end: bits.end,
                done: false,
                millis: None,
            }
        })
        .collect();
    let carrier_bytes = shape.macroblocks() as u64 * (shape.pcm_bytes_per_mb() as u64 + 2);
    check_output_estimate(
        media.size_bytes + needed * carrier_bytes,
        &format!("the source and {needed} carrier picture(s)"),
        &settings.limits,
    )?;
    // Each segment decodes its carriers' GOPs from their keyframes.
    let pixels = format.width as u64 * format.height as u64;
    for (i, group) in carriers.chunks(per_segment).enumerate() {
        let mut decoded = 0u64;
        let mut last: Option<(u64, u64)> = None;
        for c in group {
            let key = media.video.keyframe_at_or_before(c.display);
            match last {
                Some((k, _)) if k == key => last = Some((k, c.display.max(last.unwrap().1))),
                _ => {
                    if let Some((k, end)) = last {
                        decoded += end - k + 1;
                    }
                    last = Some((key, c.display));
                }
            }
        }
        if let Some((k, end)) = last {
            decoded += end - k + 1;
        }
        check_segment_work(i as u32, decoded, pixels, &settings.limits)?;
    }
    let mut warnings = notes;
    warnings.push(format!(
        "{needed} carrier picture(s) of {m} possible, each stored uncompressed (about {:.1} MB; {:.0}% of \
         its samples carry a bit at most)",
        carrier_bytes as f64 / 1e6,
        100.0 * (PICTURE_OVERHEAD_BITS + schedule.max_frame_bits()) as f64 / samples as f64
    ));
    if !media.other_streams.is_empty() {
        warnings.push(format!(
            "{} other stream(s) (cover art, data, extra video) are copied unchanged",
            media.other_streams.len()
        ));
    }
    let plan = Plan {
        job_id: job.job_id.clone(),
        video_key: job.video_key.clone(),
        envelope_key: job.envelope_key.clone(),
        output_key: job.output_key.clone(),
        frame_count: media.video.frame_count,
        width: format.width,
        height: format.height,
        pixel_format: format.pixel.ffmpeg_name().to_string(),
        full_range: format.full_range,
        planes: if plane_set == PlaneSet::All { "all" } else { "luma" }.to_string(),
        body_bits: header.body_bits(),
        segments,
        warnings,
        mode: OutputMode::Compact,
        source_key: (source_key != job.video_key).then_some(source_key),
        candidates: m,
        carriers,
        robustness: None,
    };
    store_plan(objects, jobs, &plan)?;
    Ok(Planned { plan, media })
}
