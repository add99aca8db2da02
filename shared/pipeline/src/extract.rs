//! The `extract` step: find the header with the password alone, read every
//! frame's bits in parallel segments cut at the stego video's keyframes, and
//! rebuild the message.

use crate::error::{PipelineError, Result};
use crate::plan::geometry_of;
use crate::progress::Progress;
use crate::segments::{gop_segments, target_frames};
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;
use vidstega_core::{BodyAssembly, BodyBits, CoreError, Layout, PlacementKey};
use vidstega_media::{choose_raw_format, probe, FrameReader, MediaInfo, RawFormat};

/// Frames tried when looking for the header (frame 0 first; later ones if it is damaged).
pub const HEADER_SEARCH_FRAMES: u64 = 8;

/// A recovered message and what was seen on the way.
#[derive(Debug)]
pub struct Extracted {
    /// The message.
    pub message: Vec<u8>,
    /// Frames the message was spread over.
    pub frames: u64,
    /// Frames whose header copy did not read back intact (damage that was repaired).
    pub damaged_frames: Vec<u64>,
    /// Bit ranges that could not be read at all (missing frames).
    pub missing_bits: Vec<Range<u64>>,
}

fn locate(media: &MediaInfo, format: RawFormat, key: &PlacementKey) -> Result<Layout> {
    let geometry = geometry_of(&format)?;
    let last = HEADER_SEARCH_FRAMES.min(media.video.frame_count);
    let mut reader = FrameReader::open(media, 0..last, format)?;
    let mut buf = vec![0u8; format.frame_len()];
    let mut first_error = None;
    while let Some(f) = reader.read_frame(&mut buf)? {
        let planes = format.split_planes(&buf)?;
        match Layout::locate(key, &geometry, f, &planes) {
            Ok(layout) => return Ok(layout),
            Err(CoreError::NoMessage) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(CoreError::NoMessage).into())
}

/// Extracts the message hidden in the video at `path`.
pub fn extract_file(
    path: &Path,
    key: &PlacementKey,
    password: &[u8],
    workers: usize,
    progress: &dyn Progress,
) -> Result<Extracted> {
    let media = probe(path)?;
    // The stego video is stored losslessly in the layout it was embedded in.
    let format = choose_raw_format(&media.video, None).format;
    progress.stage("locate", 0);
    let layout = locate(&media, format, key)?;
    let frames = layout.frame_count().min(media.video.frame_count);
    if media.video.frame_count < layout.frame_count() {
        progress.warn(&format!(
            "the video has {} frames but the message was spread over {}; the missing frames' bits count as lost",
            media.video.frame_count,
            layout.frame_count()
        ));
    }
    let segments = gop_segments(
        frames,
        &media.video.keyframes,
        target_frames(frames, workers, 24, 900),
    )?;
    progress.stage("extract", frames);
    let assembly = Mutex::new(BodyAssembly::new(layout.envelope_header().body_bits()));
    let damaged = Mutex::new(Vec::new());
    let queue = Mutex::new(segments.iter().enumerate());
    let failure: Mutex<Option<PipelineError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                if failure.lock().unwrap().is_some() {
                    return;
                }
                let Some((i, r)) = queue.lock().unwrap().next() else {
                    return;
                };
                let run = || -> Result<()> {
                    progress.segment_started(i as u32, r.end - r.start);
                    let mut part = BodyBits::zeroed(layout.segment_bits(r.clone()));
                    let mut reader = FrameReader::open(&media, r.clone(), format)?;
                    let mut buf = vec![0u8; format.frame_len()];
                    while let Some(f) = reader.read_frame(&mut buf)? {
                        let planes = format.split_planes(&buf)?;
                        if !layout.extract_frame(f, &planes, &mut part)?.header_intact {
                            damaged.lock().unwrap().push(f);
                        }
                        progress.frames(i as u32, 1);
                    }
                    assembly.lock().unwrap().add(&part)?;
                    progress.segment_finished(i as u32, false);
                    Ok(())
                };
                if let Err(e) = run() {
                    failure.lock().unwrap().get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    let assembly = assembly.into_inner().unwrap();
    let mut damaged_frames = damaged.into_inner().unwrap();
    damaged_frames.sort_unstable();
    let missing_bits = assembly.missing();
    let message = layout.open(&assembly, password)?;
    Ok(Extracted {
        message,
        frames,
        damaged_frames,
        missing_bits,
    })
}
