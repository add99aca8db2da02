//! The `embed-segment` step of compact mode: decode each carrier's cover
//! picture, embed its share of the payload by ±1, and store the I_PCM access
//! unit that replaces it.
//!
//! A carrier's cover is decoded from its GOP's keyframe (ffmpeg, frame-exact
//! by timestamp); carriers of one GOP share one decode. Only those GOPs are
//! decoded: the work grows with the number of carriers, not the video's
//! length.

use crate::carriers::open_track;
use crate::contract::keys;
use crate::embed::SegmentOutcome;
use crate::error::{PipelineError, Result};
use crate::plan::{geometry_of, Plan};
use crate::ports::{Finished, JobStore, ObjectStore};
use crate::progress::Progress;
use crate::records::CarrierRecord;
use crate::source::ObjectReader;
use crate::track::H264Track;
use std::num::NonZeroUsize;
use std::time::Instant;
use vidstega_core::{byte_span, BodyBits, Envelope, Layout, PlacementKey, Slot, ENVELOPE_HEADER_LEN};
use vidstega_h264::nal::join_length_prefixed;
use vidstega_h264::{write_carrier, AccessUnitKind};
use vidstega_media::{FrameReader, MediaInfo, PipedFrameReader};

/// Bytes per read of the readers that fetch samples near a carrier (its
/// own, its parameter sets, its GOP's first pictures): far smaller than a
/// whole-file scan's blocks, to keep memory (and ranged reads) small.
const SAMPLE_BLOCK: u64 = 1 << 20;

/// The decoder threads each cover decode gets when `concurrent` segments
/// run side by side on `cores` cores: an equal share, at least one.
///
/// A carrier's decode is a few frames from its keyframe; frame threads add
/// start-up work and memory to each decoder and, with the cores already
/// shared between segments, slow the decodes down.
pub fn decoder_threads_per_segment(cores: usize, concurrent: usize) -> NonZeroUsize {
    NonZeroUsize::new(cores / concurrent.max(1)).unwrap_or(NonZeroUsize::MIN)
}

/// Embeds the carriers of segment `index` of a compact-mode `plan` and
/// stores their access units ([`keys::carrier`]).
///
/// `decoder_threads` limits each cover decode's threads: a runner that
/// decodes several segments side by side on the same cores passes its
/// share of them ([`decoder_threads_per_segment`]); `None` leaves the
/// choice to ffmpeg (a segment alone on its machine).
///
/// Idempotent: a segment whose row is done and whose carriers are stored is
/// skipped; a retried segment rewrites its carriers with identical bytes.
#[allow(clippy::too_many_arguments)]
pub fn embed_carriers(
    objects: &dyn ObjectStore,
    jobs: &dyn JobStore,
    plan: &Plan,
    media: &MediaInfo,
    index: u32,
    key: &PlacementKey,
    decoder_threads: Option<NonZeroUsize>,
    progress: &dyn Progress,
) -> Result<SegmentOutcome> {
    let seg =
        plan.segments.iter().find(|s| s.index == index).ok_or_else(|| {
            PipelineError::InvalidInput(format!("job {} has no segment {index}", plan.job_id))
        })?;
    let mut carriers: Vec<&CarrierRecord> = plan.segment_carriers(index).collect();
    let row_done = jobs
        .segments(&plan.job_id)?
        .iter()
        .any(|s| s.index == index && s.done);
    if row_done {
        let mut stored = true;
        for c in &carriers {
            stored &= objects.size(&keys::carrier(&plan.job_id, c.sample))?.is_some();
        }
        if stored {
            progress.resumed(index, carriers.len() as u64);
            progress.segment_finished(index, true);
            return Ok(SegmentOutcome::AlreadyDone);
        }
    }
    let started = Instant::now();
    progress.segment_started(index, carriers.len() as u64);

    let header =
        Envelope::parse_header(&objects.read_range(&plan.envelope_key, 0..ENVELOPE_HEADER_LEN as u64)?)?;
    let bits = seg.bit_start..seg.bit_end;
    let span = byte_span(&bits);
    let base = ENVELOPE_HEADER_LEN as u64;
    let window = BodyBits::new(
        bits,
        objects.read_range(&plan.envelope_key, base + span.start..base + span.end)?,
    )?;
    let format = plan.raw_format()?;
    let geometry = geometry_of(&format)?;
    let layout = Layout::for_carriers(
        key,
        &header,
        &geometry,
        plan.plane_set(),
        plan.carriers.len() as u64,
    )?;
    let track = open_track(&mut ObjectReader::open(objects, plan.source())?)?;
    // The carriers' own samples (and their GOPs' first ones) are read
    // where they lie, a few at a time: small blocks.
    let mut reader = ObjectReader::open_with_block(objects, plan.source(), SAMPLE_BLOCK)?;

    // Carriers decoded from the same keyframe share one decoder run.
    carriers.sort_by_key(|c| c.display);
    let mut groups: Vec<Vec<&CarrierRecord>> = Vec::new();
    for c in carriers {
        let gop = media.video.keyframe_at_or_before(c.display);
        match groups.last_mut() {
            Some(g) if media.video.keyframe_at_or_before(g[0].display) == gop => g.push(c),
            _ => groups.push(vec![c]),
        }
    }
    // Several GOPs: one ffmpeg fed just their packets, when they are
    // closed GOPs (see `cover_stream_plan`).
    let cover_stream = (groups.len() > 1)
        .then(|| cover_stream_plan(&mut reader, media, &track, &groups))
        .transpose()?
        .flatten();
    // One frame buffer for the segment, whichever way it is decoded.
    let mut frame = vec![0u8; format.frame_len()];
    // Embeds a carrier's bits into its decoded cover in `frame` and stores
    // its access unit; returns the samples changed.
    let mut store = |carrier: &CarrierRecord, frame: &mut [u8]| -> Result<u64> {
        let mut planes = format.split_planes_mut(frame)?;
        let slot = Slot {
            rank: carrier.rank,
            key_index: carrier.candidate,
        };
        let changed = layout.embed_slot(slot, &window, &mut planes)?.changed_samples;
        let sample = carrier.sample as usize;
        let sets = track
            .sets_for(&mut reader, sample)
            .map_err(|e| reader.take_error().unwrap_or(e))?;
        let original = track
            .read_sample(&mut reader, sample)
            .map_err(|e| reader.take_error().unwrap_or(e))?;
        let nals = track.nal_units(&original)?;
        let planes: Vec<&[u8]> = planes.iter().map(|p| &**p).collect();
        let unit = write_carrier(&sets, &nals, &planes)?;
        let bytes = join_length_prefixed(&unit, sets.length_size())?;
        objects.write_bytes(&keys::carrier(&plan.job_id, carrier.sample), &bytes)?;
        progress.frames(index, 1);
        Ok(changed)
    };
    // A failure of the one decode (an unusual stream) falls back to one
    // decode per GOP, which rewrites the same carriers.
    let batched = match cover_stream {
        Some(stream) => {
            match decode_cover_stream(
                ObjectReader::open_with_block(objects, plan.source(), SAMPLE_BLOCK)?,
                &track,
                &stream,
                format,
                decoder_threads,
                &mut frame,
                |c, f| store(c, f),
            ) {
                Ok(changed) => Some(changed),
                Err(e) => {
                    tracing::debug!(segment = index, error = %e, "one decode for the segment's GOPs failed; decoding GOP by GOP");
                    None
                }
            }
        }
        None => None,
    };
    let mut changed = 0u64;
    let embedded = plan.segment_carriers(index).count() as u64;
    match batched {
        Some(c) => changed = c,
        None => {
            for group in &groups {
                let range = group[0].display..group[group.len() - 1].display + 1;
                let mut decoder = FrameReader::open_with_threads(media, range, format, decoder_threads)?;
                let mut next = group.iter().peekable();
                while let Some(display) = decoder.read_frame(&mut frame)? {
                    let Some(carrier) = next.next_if(|c| c.display == display) else {
                        continue;
                    };
                    changed += store(carrier, &mut frame)?;
                }
                if let Some(missed) = next.next() {
                    return Err(PipelineError::Mismatch(format!(
                        "the decoder never delivered frame {} (carrier {})",
                        missed.display, missed.rank
                    )));
                }
            }
        }
    }
    let millis = started.elapsed().as_millis() as u64;
    tracing::debug!(segment = index, millis, "carriers of a segment embedded");
    if let Finished::Already = jobs.finish_segment(&plan.job_id, index, millis)? {
        tracing::info!(job = %plan.job_id, segment = index, "segment was already counted; carriers refreshed");
    }
    progress.segment_finished(index, false);
    Ok(SegmentOutcome::Embedded {
        frames: embedded,
        changed_samples: changed,
        millis,
    })
}

/// The GOPs of a segment's carriers as one Matroska stream for one
/// decoder ([`decode_cover_stream`]).
#[derive(Debug)]
struct CoverStream {
    /// The Matroska header (EBML header, Segment of unknown size, Info,
    /// Tracks): one H.264 track with the source's `avcC`, timestamps in
    /// milliseconds.
    header: Vec<u8>,
    /// Per GOP: the samples to send (decoding order, from its IDR picture
    /// to the last one displayed at or before its last carrier) and each
    /// one's display index, which is its timestamp in the stream.
    gops: Vec<(std::ops::Range<usize>, Vec<u64>)>,
    /// The carriers, in display order.
    carriers: Vec<CarrierRecord>,
}

/// Plans one decode for the carriers' GOPs, or `None` when this stream
/// does not allow it: each GOP must start with an IDR picture and hold no
/// picture displayed before it (so decoding it after another GOP gives the
/// same pictures as after a seek), the track must have an `avcC`
/// configuration, and a GOP's display span must fit Matroska's 16-bit
/// block timestamps.
fn cover_stream_plan(
    reader: &mut ObjectReader<'_>,
    media: &MediaInfo,
    track: &H264Track,
    groups: &[Vec<&CarrierRecord>],
) -> Result<Option<CoverStream>> {
    let display_of = &media.video.packet_display_index;
    if track.track.codec_private.is_empty() || display_of.len() != track.len() {
        return Ok(None);
    }
    let mut sample_at = vec![usize::MAX; media.video.frame_count as usize];
    for (sample, display) in display_of.iter().enumerate() {
        match display.and_then(|d| sample_at.get_mut(d as usize)) {
            Some(slot) => *slot = sample,
            None => return Ok(None),
        }
    }
    let mut gops = Vec::with_capacity(groups.len());
    let mut next_free = 0usize;
    for group in groups {
        let key = media.video.keyframe_at_or_before(group[0].display);
        let last = group[group.len() - 1].display;
        let first = sample_at[key as usize];
        let end = (key..=last).map(|d| sample_at[d as usize]).max().unwrap_or(first) + 1;
        if first == usize::MAX || first < next_free || end <= first {
            return Ok(None);
        }
        let displays: Option<Vec<u64>> = display_of[first..end]
            .iter()
            .map(|d| d.filter(|&d| d >= key && d - key <= i16::MAX as u64))
            .collect();
        let Some(displays) = displays else {
            return Ok(None);
        };
        let sample = track
            .read_sample(reader, first)
            .map_err(|e| reader.take_error().unwrap_or(e))?;
        if !AccessUnitKind::from_nal_units(&track.nal_units(&sample)?).is_idr {
            return Ok(None);
        }
        gops.push((first..end, displays));
        next_free = end;
    }
    Ok(Some(CoverStream {
        header: matroska_header(&track.track.codec_private, track.track.width, track.track.height),
        gops,
        carriers: groups.iter().flatten().map(|&c| c.clone()).collect(),
    }))
}

/// Decodes the carriers' covers of `stream` in one ffmpeg, fed the GOPs'
/// packets (read through `samples`) on its standard input from a second
/// thread, and hands each, decoded into `frame`, to `store` (in display
/// order). Returns the sum of what `store` returned.
fn decode_cover_stream(
    samples: ObjectReader<'_>,
    track: &H264Track,
    stream: &CoverStream,
    format: vidstega_media::RawFormat,
    threads: Option<NonZeroUsize>,
    frame: &mut [u8],
    mut store: impl FnMut(&CarrierRecord, &mut [u8]) -> Result<u64>,
) -> Result<u64> {
    let wanted: Vec<i64> = stream.carriers.iter().map(|c| c.display as i64).collect();
    let (mut decoder, stdin) = PipedFrameReader::start("matroska", &wanted, format, threads)?;
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || write_cover_stream(samples, track, stream, stdin));
        let mut changed = 0u64;
        let mut carriers = stream.carriers.iter();
        let read = (|| -> Result<u64> {
            while let Some(pts) = decoder.read_frame(frame)? {
                let carrier = carriers
                    .next()
                    .filter(|c| c.display as i64 == pts)
                    .ok_or_else(|| {
                        PipelineError::Mismatch(format!("the decoder delivered frame {pts}, not a carrier"))
                    })?;
                changed += store(carrier, frame)?;
            }
            Ok(changed)
        })();
        // Stops ffmpeg (if still running), so the writer ends too.
        drop(decoder);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let changed = read?;
        written?;
        Ok(changed)
    })
}

/// Writes `stream` (its header, then a Cluster per GOP, the samples read
/// through `reader`) to ffmpeg's standard input, and closes it.
fn write_cover_stream(
    mut reader: ObjectReader<'_>,
    track: &H264Track,
    stream: &CoverStream,
    stdin: std::process::ChildStdin,
) -> Result<()> {
    use std::io::Write;
    let broken = |e| PipelineError::io("writing the carriers' GOPs to ffmpeg", e);
    let mut out = std::io::BufWriter::with_capacity(256 << 10, stdin);
    out.write_all(&stream.header).map_err(broken)?;
    for (samples, displays) in &stream.gops {
        let base = displays.iter().copied().min().unwrap_or(0);
        let mut timestamp = Vec::new();
        mkv_uint(&mut timestamp, 0xE7, base);
        let blocks: u64 = samples
            .clone()
            .map(|i| 1 + 8 + 4 + track.track.samples[i].size)
            .sum();
        let mut cluster = Vec::new();
        mkv_id(&mut cluster, 0x1F43B675);
        mkv_size(&mut cluster, timestamp.len() as u64 + blocks);
        cluster.extend_from_slice(&timestamp);
        out.write_all(&cluster).map_err(broken)?;
        for (i, &display) in samples.clone().zip(displays) {
            let data = track
                .read_sample(&mut reader, i)
                .map_err(|e| reader.take_error().unwrap_or(e))?;
            let mut head = Vec::with_capacity(13);
            mkv_id(&mut head, 0xA3);
            mkv_size(&mut head, 4 + data.len() as u64);
            head.push(0x81); // track 1
            head.extend_from_slice(&((display - base) as i16).to_be_bytes());
            head.push(if track.track.samples[i].keyframe { 0x80 } else { 0 });
            out.write_all(&head).map_err(broken)?;
            out.write_all(&data).map_err(broken)?;
        }
    }
    out.flush().map_err(broken)
}

/// A Matroska header for one H.264 track (`avcc`, `width`×`height`) with
/// millisecond timestamps, its Segment of unknown size (Clusters follow).
fn matroska_header(avcc: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut ebml = Vec::new();
    mkv_uint(&mut ebml, 0x4286, 1); // EBMLVersion
    mkv_uint(&mut ebml, 0x42F7, 1); // EBMLReadVersion
    mkv_uint(&mut ebml, 0x42F2, 4); // EBMLMaxIDLength
    mkv_uint(&mut ebml, 0x42F3, 8); // EBMLMaxSizeLength
    mkv_element(&mut ebml, 0x4282, b"matroska"); // DocType
    mkv_uint(&mut ebml, 0x4287, 4); // DocTypeVersion
    mkv_uint(&mut ebml, 0x4285, 2); // DocTypeReadVersion
    let mut info = Vec::new();
    mkv_uint(&mut info, 0x2AD7B1, 1_000_000); // TimestampScale: 1 ms
    let mut video = Vec::new();
    mkv_uint(&mut video, 0xB0, u64::from(width)); // PixelWidth
    mkv_uint(&mut video, 0xBA, u64::from(height)); // PixelHeight
    let mut entry = Vec::new();
    mkv_uint(&mut entry, 0xD7, 1); // TrackNumber
    mkv_uint(&mut entry, 0x73C5, 1); // TrackUID
    mkv_uint(&mut entry, 0x83, 1); // TrackType: video
    mkv_uint(&mut entry, 0x9C, 0); // FlagLacing
    mkv_element(&mut entry, 0x86, b"V_MPEG4/ISO/AVC"); // CodecID
    mkv_element(&mut entry, 0x63A2, avcc); // CodecPrivate
    mkv_element(&mut entry, 0xE0, &video); // Video
    let mut tracks = Vec::new();
    mkv_element(&mut tracks, 0xAE, &entry); // TrackEntry
    let mut out = Vec::new();
    mkv_element(&mut out, 0x1A45DFA3, &ebml); // EBML
    mkv_id(&mut out, 0x18538067); // Segment, unknown size
    out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    mkv_element(&mut out, 0x1549A966, &info); // Info
    mkv_element(&mut out, 0x1654AE6B, &tracks); // Tracks
    out
}

/// An EBML ID (its bytes as written, marker bits included).
fn mkv_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.extend_from_slice(&bytes[skip..]);
}

/// An EBML element size, always in 8 bytes.
fn mkv_size(out: &mut Vec<u8>, size: u64) {
    out.push(0x01);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
}

/// An element: ID, size, payload.
fn mkv_element(out: &mut Vec<u8>, id: u32, payload: &[u8]) {
    mkv_id(out, id);
    mkv_size(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// An unsigned-integer element in as few bytes as it needs (at least one).
fn mkv_uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    mkv_element(out, id, &bytes[skip..]);
}

#[cfg(test)]
mod tests {
    use super::decoder_threads_per_segment;

    #[test]
    fn segments_side_by_side_share_the_cores() {
        let threads = |cores, concurrent| decoder_threads_per_segment(cores, concurrent).get();
        assert_eq!(threads(2, 2), 1);
        assert_eq!(threads(2, 1), 2);
        assert_eq!(threads(8, 3), 2);
        assert_eq!(threads(2, 4), 1, "more segments than cores: one thread each");
        assert_eq!(threads(4, 0), 4, "no segment counts as one");
    }
}
