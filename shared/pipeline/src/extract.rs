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
use vidstega_media::{choose_raw_format, probe, FrameReader, RawFormat};

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

/// Frames decoded while looking for the header (index and bytes).
type ReadFrames = Vec<(u64, Vec<u8>)>;

/// What a header search found.
struct Search {
    /// The layout, if a header was found.
    layout: Option<Layout>,
    /// The frames read on the way, which still have to be extracted;
    /// normally just frame 0.
    read: ReadFrames,
    /// The first error other than "no message here", if any.
    error: Option<CoreError>,
}

/// Looks for the header in the first [`HEADER_SEARCH_FRAMES`] frames that
/// `reader` (positioned at frame 0) delivers.
fn locate(reader: &mut FrameReader, format: RawFormat, key: &PlacementKey) -> Result<Search> {
    let geometry = geometry_of(&format)?;
    let mut read = Vec::new();
    let mut first_error = None;
    while (read.len() as u64) < HEADER_SEARCH_FRAMES {
        let mut buf = vec![0u8; format.frame_len()];
        let Some(f) = reader.read_frame(&mut buf)? else {
            break;
        };
        let found = Layout::locate(key, &geometry, f, &format.split_planes(&buf)?);
        read.push((f, buf));
        match found {
            Ok(layout) => {
                return Ok(Search {
                    layout: Some(layout),
                    read,
                    error: None,
                })
            }
            Err(CoreError::NoMessage) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Ok(Search {
        layout: None,
        read,
        error: first_error,
    })
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
    let segments = gop_segments(
        media.video.frame_count,
        &media.video.keyframes,
        target_frames(media.video.frame_count, workers, 24, 900),
    )?;
    // The header is read from the first segment's own decoder: its first
    // frame normally carries it, and no separate decode is needed.
    progress.stage("locate", 0);
    let mut first_reader = FrameReader::open(&media, segments[0].clone(), format)?;
    let search = locate(&mut first_reader, format, key)?;
    let (layout, mut first) = match search.layout {
        Some(layout) => (layout, Some((first_reader, search.read))),
        // A first segment shorter than the search: look further on.
        None if (search.read.len() as u64) < HEADER_SEARCH_FRAMES.min(media.video.frame_count) => {
            drop(first_reader);
            let last = HEADER_SEARCH_FRAMES.min(media.video.frame_count);
            let mut reader = FrameReader::open(&media, 0..last, format)?;
            let wider = locate(&mut reader, format, key)?;
            match wider.layout {
                Some(layout) => (layout, None),
                None => {
                    let error = wider.error.or(search.error).unwrap_or(CoreError::NoMessage);
                    return Err(error.into());
                }
            }
        }
        None => return Err(search.error.unwrap_or(CoreError::NoMessage).into()),
    };
    let frames = layout.frame_count().min(media.video.frame_count);
    if media.video.frame_count < layout.frame_count() {
        progress.warn(&format!(
            "the video has {} frames but the message was spread over {}; the missing frames' bits count as lost",
            media.video.frame_count,
            layout.frame_count()
        ));
    }
    // Frames past the message's (a longer video) carry none of its bits.
    let segments: Vec<Range<u64>> = segments
        .into_iter()
        .map(|r| r.start.min(frames)..r.end.min(frames))
        .filter(|r| !r.is_empty())
        .collect();
    progress.stage("extract", frames);
    let assembly = Mutex::new(BodyAssembly::new(layout.envelope_header().body_bits()));
    let damaged = Mutex::new(Vec::new());
    let queue = Mutex::new(segments.iter().enumerate());
    let failure: Mutex<Option<PipelineError>> = Mutex::new(None);
    let first = Mutex::new(first.take());
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
                    let mut take = |f: u64, buf: &[u8]| -> Result<()> {
                        let planes = format.split_planes(buf)?;
                        if !layout.extract_frame(f, &planes, &mut part)?.header_intact {
                            damaged.lock().unwrap().push(f);
                        }
                        progress.frames(i as u32, 1);
                        Ok(())
                    };
                    // Segment 0 continues the reader that found the header.
                    let resumed = if i == 0 {
                        first.lock().unwrap().take()
                    } else {
                        None
                    };
                    let (mut reader, read) = match resumed {
                        Some(started) => started,
                        None => (FrameReader::open(&media, r.clone(), format)?, Vec::new()),
                    };
                    for (f, buf) in read.into_iter().filter(|(f, _)| r.contains(f)) {
                        take(f, &buf)?;
                    }
                    let mut buf = vec![0u8; format.frame_len()];
                    // Read to the reader's end (which checks that ffmpeg
                    // finished cleanly), unless the message ends earlier.
                    let beyond = reader.range().end - r.end;
                    while beyond == 0 || reader.frames_remaining() > beyond {
                        let Some(f) = reader.read_frame(&mut buf)? else {
                            break;
                        };
                        take(f, &buf)?;
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
