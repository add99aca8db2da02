//! The `embed-segment` step: one segment, streamed.
//!
//! Three stages run at once and hand frames along bounded channels:
//! the decoder (ffmpeg → raw frames) → the embedder (this thread; rayon inside
//! a frame) → the encoder (raw frames → lossless ffmpeg). A fixed pool of
//! frame buffers circulates between them, so memory stays at a handful of
//! frames whatever the segment's length.

use crate::contract::OutputMode;
use crate::error::{PipelineError, Result};
use crate::plan::{geometry_of, Plan};
use crate::ports::{Finished, JobStore, ObjectStore};
use crate::progress::{NoProgress, Progress};
use crate::records::SegmentRecord;
use crate::robust::{robust_codec, MAX_SEGMENT_SLOT_ERRORS, ROBUST_CRF, ROBUST_CRF_RETRIES};
use crossbeam_channel::bounded;
use std::path::Path;
use std::time::Instant;
use vidstega_core::{byte_span, BodyBits, Envelope, Layout, PlacementKey, ENVELOPE_HEADER_LEN};
use vidstega_media::{
    verify_joined, ConcatReport, EncodeSettings, FrameReader, FrameWriter, MediaInfo, OutputContainer,
    RawFormat, SegmentCodec,
};
use vidstega_robust::Embedder;

/// Frame buffers per segment pipeline: one being decoded, one embedded, one
/// encoded, one queued.
pub const FRAME_BUFFERS: usize = 4;

/// What [`embed_segment`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentOutcome {
    /// Embedded and stored now.
    Embedded {
        /// Frames embedded.
        frames: u64,
        /// Samples changed by ±1.
        changed_samples: u64,
        /// Wall time.
        millis: u64,
    },
    /// Already done (a rerun or a duplicate delivery): nothing was redone.
    AlreadyDone,
}

/// Embeds segment `index` of `plan` and stores its encoded file.
///
/// Idempotent: a segment whose row is done and whose file exists is skipped;
/// a retried segment overwrites its own file with identical content.
#[allow(clippy::too_many_arguments)]
pub fn embed_segment(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    scratch: &Path,
    plan: &Plan,
    media: &MediaInfo,
    codec: SegmentCodec,
    index: u32,
    key: &PlacementKey,
    progress: &dyn Progress,
) -> Result<SegmentOutcome> {
    let seg =
        plan.segments.iter().find(|s| s.index == index).ok_or_else(|| {
            PipelineError::InvalidInput(format!("job {} has no segment {index}", plan.job_id))
        })?;
    let segment_key = plan.segment_key(index);
    let row_done = jobs
        .segments(&plan.job_id)?
        .iter()
        .any(|s| s.index == index && s.done);
    if row_done && objects.size(&segment_key)?.is_some() {
        progress.resumed(index, seg.frame_end - seg.frame_start);
        progress.segment_finished(index, true);
        return Ok(SegmentOutcome::AlreadyDone);
    }
    let started = Instant::now();
    progress.segment_started(index, seg.frame_end - seg.frame_start);
    let mut prepared = prepare(objects, plan, media, seg, key)?;

    let tmp = tempfile::Builder::new()
        .prefix(&format!("{}-{index:05}-", plan.job_id))
        .suffix(&format!(".{}", vidstega_media::SEGMENT_EXTENSION))
        .tempfile_in(scratch)
        .map_err(|e| {
            PipelineError::io(
                format!("cannot create a segment file in {}", scratch.display()),
                e,
            )
        })?
        .into_temp_path();
    let changed = match plan.mode {
        OutputMode::Robust => encode_robust_segment(media, seg, &mut prepared, &tmp, progress)?,
        _ => {
            let settings = EncodeSettings::for_source(&media.video, codec);
            let writer = FrameWriter::create(&tmp, prepared.format, &settings)?;
            stream_segment(media, seg, &mut prepared, writer, progress)?
        }
    };
    objects.put_file(&segment_key, &tmp)?;
    let millis = started.elapsed().as_millis() as u64;
    tracing::debug!(segment = index, millis, "segment embedded");
    if let Finished::Already = jobs.finish_segment(&plan.job_id, index, millis)? {
        tracing::info!(job = %plan.job_id, segment = index, "segment was already counted; file refreshed");
    }
    progress.segment_finished(index, false);
    Ok(SegmentOutcome::Embedded {
        frames: seg.frame_end - seg.frame_start,
        changed_samples: changed,
        millis,
    })
}

/// What a segment's embedding needs besides its frames.
struct Prepared {
    format: RawFormat,
    embed: FrameEmbedding,
}

/// How a frame is embedded into.
// One per segment, made once and never moved in the frame loop: the size
// difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum FrameEmbedding {
    /// ±1 at keyed positions: the segment's share of the body.
    Lossless { layout: Layout, window: BodyBits },
    /// Robust mode: the whole payload, on luma block means.
    Robust(Embedder),
}

impl FrameEmbedding {
    /// Embeds into frame `f` (a raw `format` frame); returns the samples changed
    /// (counted in lossless mode only).
    fn embed(&mut self, format: &RawFormat, f: u64, buf: &mut [u8]) -> Result<u64> {
        match self {
            FrameEmbedding::Lossless { layout, window } => {
                let mut planes = format.split_planes_mut(buf)?;
                Ok(layout.embed_frame(f, window, &mut planes)?.changed_samples)
            }
            FrameEmbedding::Robust(embedder) => {
                let luma = format.width as usize * format.height as usize;
                embedder.embed_frame(f, &mut buf[..luma])?;
                Ok(0)
            }
        }
    }
}

/// Reads this segment's share of the sealed body (by range reads) and builds
/// the layout that places it; in robust mode, the whole payload and its
/// embedder.
fn prepare(
    objects: &dyn ObjectStore,
    plan: &Plan,
    media: &MediaInfo,
    seg: &SegmentRecord,
    key: &PlacementKey,
) -> Result<Prepared> {
    let format = plan.raw_format()?;
    if plan.mode == OutputMode::Robust {
        return Ok(Prepared {
            format,
            embed: FrameEmbedding::Robust(crate::robust::embedder(objects, plan, media, key)?),
        });
    }
    let header =
        Envelope::parse_header(&objects.read_range(&plan.envelope_key, 0..ENVELOPE_HEADER_LEN as u64)?)?;
    let bits = seg.bit_start..seg.bit_end;
    let span = byte_span(&bits);
    let base = ENVELOPE_HEADER_LEN as u64;
    let window = BodyBits::new(
        bits,
        objects.read_range(&plan.envelope_key, base + span.start..base + span.end)?,
    )?;
    let geometry = geometry_of(&format)?;
    let layout = Layout::for_embedding(key, &header, &geometry, plan.plane_set(), plan.frame_count)?;
    Ok(Prepared {
        format,
        embed: FrameEmbedding::Lossless { layout, window },
    })
}

/// Robust mode's segment: embedded and encoded at [`ROBUST_CRF`], decoded
/// and read back; encoded again at each of [`ROBUST_CRF_RETRIES`] in turn
/// while more than [`MAX_SEGMENT_SLOT_ERRORS`] of its slots read wrong.
fn encode_robust_segment(
    media: &MediaInfo,
    seg: &SegmentRecord,
    prepared: &mut Prepared,
    path: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut last = None;
    for crf in std::iter::once(ROBUST_CRF).chain(ROBUST_CRF_RETRIES) {
        let settings = EncodeSettings::for_source(&media.video, robust_codec(crf));
        let writer = FrameWriter::create(path, prepared.format, &settings)?;
        // The segment's frames were counted by its first encode (a warning
        // says why it is encoded again).
        let counted: &dyn Progress = if last.is_none() { progress } else { &NoProgress };
        stream_segment(media, seg, prepared, writer, counted)?;
        let FrameEmbedding::Robust(embedder) = &mut prepared.embed else {
            unreachable!("a robust plan prepares a robust embedder");
        };
        let check = crate::robust::check_segment(path, seg, prepared.format, embedder)?;
        let rate = check.slot_error_rate();
        tracing::debug!(
            segment = seg.index,
            crf,
            slots = check.slots,
            wrong_slots = check.wrong_slots,
            frame_cells = check.frames.cells,
            wrong_frame_cells = check.frames.wrong,
            "segment read back"
        );
        if rate <= MAX_SEGMENT_SLOT_ERRORS {
            return Ok(0);
        }
        progress.warn(&format!(
            "segment {} read back {:.2}% of its slots wrong at CRF {crf} (at most {:.1}% allowed); encoding it \
             again at a higher quality",
            seg.index,
            rate * 100.0,
            MAX_SEGMENT_SLOT_ERRORS * 100.0
        ));
        last = Some((crf, rate));
    }
    let (crf, rate) = last.expect("at least one attempt");
    Err(PipelineError::InvalidInput(format!(
        "segment {} of this video does not keep robust mode's embedding through H.264 even at CRF {crf} \
         ({:.2}% of slots read wrong); the video may be mostly black or white, or too small for the grid; \
         try --robustness strong or compact mode",
        seg.index,
        rate * 100.0
    )))
}

/// Streams segment `seg` through decoder → embedder → `writer`, finishes the
/// writer, and returns the number of samples changed.
fn stream_segment(
    media: &MediaInfo,
    seg: &SegmentRecord,
    prepared: &mut Prepared,
    writer: FrameWriter,
    progress: &dyn Progress,
) -> Result<u64> {
    let format = prepared.format;
    let embed = &mut prepared.embed;
    let index = seg.index;
    let frame_len = format.frame_len();
    let expected = seg.frame_end - seg.frame_start;

    let (empty_tx, empty_rx) = bounded::<Vec<u8>>(FRAME_BUFFERS);
    let (decoded_tx, decoded_rx) = bounded::<(u64, Vec<u8>)>(FRAME_BUFFERS);
    let (embedded_tx, embedded_rx) = bounded::<Vec<u8>>(FRAME_BUFFERS);
    for _ in 0..FRAME_BUFFERS {
        empty_tx
            .send(vec![0u8; frame_len])
            .expect("room for every buffer");
    }

    let mut changed = 0u64;
    let (decoded, embedded, encoded) = std::thread::scope(|s| {
        let decoder = s.spawn(move || -> Result<u64> {
            let mut reader = FrameReader::open(media, seg.frame_start..seg.frame_end, format)?;
            let mut n = 0;
            while let Ok(mut buf) = empty_rx.recv() {
                match reader.read_frame(&mut buf)? {
                    Some(f) => {
                        n += 1;
                        if decoded_tx.send((f, buf)).is_err() {
                            break;
                        }
                    }
                    None => break,
                }
            }
            Ok(n)
        });
        let encoder = s.spawn(move || -> Result<u64> {
            let mut writer = writer;
            while let Ok(buf) = embedded_rx.recv() {
                writer.write_frame(&buf)?;
                // The decoder may have stopped; a closed pool is fine.
                let _ = empty_tx.send(buf);
            }
            let written = writer.frames_written();
            if written != expected {
                return Err(PipelineError::Mismatch(format!(
                    "segment {index} encoded {written} of its {expected} frames"
                )));
            }
            writer.finish()?;
            Ok(written)
        });
        let embedded = (|| -> Result<u64> {
            let mut n = 0;
            for (f, mut buf) in decoded_rx.iter() {
                changed += embed.embed(&format, f, &mut buf)?;
                n += 1;
                progress.frames(index, 1);
                if embedded_tx.send(buf).is_err() {
                    break;
                }
            }
            Ok(n)
        })();
        drop(embedded_tx);
        drop(decoded_rx);
        (
            decoder.join().expect("decoder thread"),
            embedded,
            encoder.join().expect("encoder thread"),
        )
    });
    // Report the root cause: a process error beats the "channel closed" it causes downstream.
    let decoded = decoded?;
    embedded?;
    let encoded = encoded?;
    if decoded != expected || encoded != expected {
        return Err(PipelineError::Mismatch(format!(
            "segment {index}: decoded {decoded}, encoded {encoded}, expected {expected} frames"
        )));
    }
    Ok(changed)
}

/// Embeds a one-segment plan straight into the finished video at `output`
/// (`container`): the encoder also copies the source's audio and other
/// streams, so no segment file is written and no join pass is needed. The
/// result is checked like a join's, and the segment and job are recorded as
/// done, as if embed-segment and concat had run.
#[allow(clippy::too_many_arguments)]
pub fn embed_in_one_pass(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    plan: &Plan,
    media: &MediaInfo,
    codec: SegmentCodec,
    key: &PlacementKey,
    output: &Path,
    container: OutputContainer,
    progress: &dyn Progress,
) -> Result<(SegmentOutcome, ConcatReport)> {
    let [seg] = plan.segments.as_slice() else {
        return Err(PipelineError::Conflict(format!(
            "job {} has {} segments; only a one-segment plan is embedded in one pass",
            plan.job_id,
            plan.segments.len()
        )));
    };
    if plan.mode != OutputMode::Lossless {
        return Err(PipelineError::Conflict(format!(
            "job {} is in {} mode; only lossless plans are embedded in one pass",
            plan.job_id, plan.mode
        )));
    }
    let started = Instant::now();
    progress.segment_started(seg.index, seg.frame_end - seg.frame_start);
    let mut prepared = prepare(objects, plan, media, seg, key)?;
    let settings = EncodeSettings::for_source(&media.video, codec);
    let (writer, report) = FrameWriter::create_joined(output, prepared.format, &settings, media, container)?;
    let changed = stream_segment(media, seg, &mut prepared, writer, progress)?;
    verify_joined(output, media, &codec, settings.frame_rate, &report)?;
    let millis = started.elapsed().as_millis() as u64;
    tracing::debug!(
        segment = seg.index,
        millis,
        "segment embedded and joined in one pass"
    );
    jobs.finish_segment(&plan.job_id, seg.index, millis)?;
    progress.segment_finished(seg.index, false);
    Ok((
        SegmentOutcome::Embedded {
            frames: seg.frame_end - seg.frame_start,
            changed_samples: changed,
            millis,
        },
        report,
    ))
}
