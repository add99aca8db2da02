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
use std::num::NonZeroUsize;
use std::time::Instant;
use vidstega_core::{byte_span, BodyBits, Envelope, Layout, PlacementKey, Slot, ENVELOPE_HEADER_LEN};
use vidstega_h264::nal::join_length_prefixed;
use vidstega_h264::write_carrier;
use vidstega_media::{FrameReader, MediaInfo};

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
    let mut reader = ObjectReader::open(objects, plan.source())?;
    let track = open_track(&mut reader)?;

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
    let mut changed = 0u64;
    let mut embedded = 0u64;
    let mut frame = vec![0u8; format.frame_len()];
    for group in &groups {
        let range = group[0].display..group[group.len() - 1].display + 1;
        let mut decoder = FrameReader::open_with_threads(media, range, format, decoder_threads)?;
        let mut next = group.iter().peekable();
        while let Some(display) = decoder.read_frame(&mut frame)? {
            let Some(carrier) = next.next_if(|c| c.display == display) else {
                continue;
            };
            let mut planes = format.split_planes_mut(&mut frame)?;
            let slot = Slot {
                rank: carrier.rank,
                key_index: carrier.candidate,
            };
            changed += layout.embed_slot(slot, &window, &mut planes)?.changed_samples;
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
            embedded += 1;
            progress.frames(index, 1);
        }
        if let Some(missed) = next.next() {
            return Err(PipelineError::Mismatch(format!(
                "the decoder never delivered frame {} (carrier {})",
                missed.display, missed.rank
            )));
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
