//! The `extract` step: find the header with the password alone, read the
//! bits of every carrier picture (compact mode) or of every frame (lossless
//! mode, in parallel segments cut at the stego video's keyframes), and
//! rebuild the message.

use crate::contract::OutputMode;
use crate::error::{PipelineError, Result};
use crate::plan::geometry_of;
use crate::progress::Progress;
use crate::segments::{gop_segments, target_frames};
use crate::source::ObjectReader;
use crate::track::{H264Track, Scan};
use std::io::{Read, Seek};
use std::ops::Range;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use vidstega_container::sniff;
use vidstega_core::{
    salt_slot, BodyAssembly, BodyBits, CarrierOrder, CoreError, FrameGeometry, Layout, LayoutKind,
    PlacementKey, PlaneDims, Slot,
};
use vidstega_h264::{read_carrier, CarrierRead};
use vidstega_media::{choose_raw_format, probe, FrameReader, RawFormat};

/// Frames tried when looking for the header (frame 0 first; later ones if it
/// is damaged); in compact mode, the first points of the carrier order.
pub const HEADER_SEARCH_FRAMES: u64 = 8;

/// Compact mode: points of the carrier order tried for the header when the
/// first [`HEADER_SEARCH_FRAMES`] held carrier pictures but none authenticated.
pub const HEADER_SEARCH_CARRIERS: u64 = 64;

/// Most salted placement keys one extraction derives (each costs a PBKDF2
/// run of ~0.2 s), over the salts the carrier pictures hold and those of
/// the first frames.
pub const MAX_SALTS_TRIED: usize = 3;

/// Carrier pictures whose salt slots are read (without a key) before the
/// compact-mode search, spread over the video: a video embedded into again
/// holds the carriers of two messages, with two salts.
const SALT_CARRIERS: usize = 8;

/// The placement keys a reader tries, each derived once, when first needed:
/// keys salted with what the salt slots hold (format version 3 on, compact
/// and lossless mode), then the fixed-salt key (versions 1 and 2, and robust
/// mode).
pub(crate) struct ReaderKeys<'p> {
    password: &'p [u8],
    fixed: OnceLock<PlacementKey>,
    salted: Mutex<Vec<([u8; 16], PlacementKey)>>,
}

impl<'p> ReaderKeys<'p> {
    fn new(password: &'p [u8]) -> Self {
        ReaderKeys {
            password,
            fixed: OnceLock::new(),
            salted: Mutex::new(Vec::new()),
        }
    }

    /// The fixed-salt key.
    pub(crate) fn fixed(&self) -> &PlacementKey {
        self.fixed.get_or_init(|| PlacementKey::derive(self.password))
    }

    /// The key salted with `salt`, derived unless it was already, or `None`
    /// once [`MAX_SALTS_TRIED`] different salts have been derived.
    fn salted(&self, salt: [u8; 16]) -> Option<PlacementKey> {
        let mut salted = self.salted.lock().unwrap();
        if let Some((_, key)) = salted.iter().find(|(s, _)| *s == salt) {
            return Some(key.clone());
        }
        if salted.len() >= MAX_SALTS_TRIED {
            return None;
        }
        let key = PlacementKey::derive_salted(self.password, &salt);
        salted.push((salt, key.clone()));
        Some(key)
    }

    /// The salted keys derived so far, oldest first.
    fn salted_keys(&self) -> Vec<PlacementKey> {
        self.salted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, k)| k.clone())
            .collect()
    }
}

/// The bitwise majority of salt slots (ties give 0).
fn majority_salt(slots: &[[u8; 16]]) -> Option<[u8; 16]> {
    if slots.is_empty() {
        return None;
    }
    let mut salt = [0u8; 16];
    for bit in 0..128 {
        let ones = slots
            .iter()
            .filter(|s| s[bit / 8] >> (7 - bit % 8) & 1 == 1)
            .count();
        if 2 * ones > slots.len() {
            salt[bit / 8] |= 1 << (7 - bit % 8);
        }
    }
    Some(salt)
}

/// A recovered message and what was seen on the way.
#[derive(Debug)]
pub struct Extracted {
    /// The message.
    pub message: Vec<u8>,
    /// Frames (or carrier pictures) the message was spread over.
    pub frames: u64,
    /// Frames (or carrier ranks) whose header copy did not read back intact,
    /// or that could not be read (damage that was repaired).
    pub damaged_frames: Vec<u64>,
    /// Bit ranges that could not be read at all (missing frames).
    pub missing_bits: Vec<Range<u64>>,
    /// The mode the message was written in.
    pub mode: OutputMode,
    /// Robust mode: what the extraction found and measured.
    pub robust: Option<vidstega_robust::ExtractReport>,
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
/// `reader` (positioned at frame 0) delivers. Every frame of a version-3
/// message holds its salt: each frame is tried with the keys salted with
/// the slots read so far (see [`ReaderKeys`]), then with the fixed-salt key.
fn locate(reader: &mut FrameReader, format: RawFormat, keys: &ReaderKeys) -> Result<Search> {
    let geometry = geometry_of(&format)?;
    let mut read = Vec::new();
    let mut slots = Vec::new();
    let mut first_error = None;
    while (read.len() as u64) < HEADER_SEARCH_FRAMES {
        let mut buf = vec![0u8; format.frame_len()];
        let Some(f) = reader.read_frame(&mut buf)? else {
            break;
        };
        let planes = format.split_planes(&buf)?;
        slots.extend(planes.first().and_then(|p| salt_slot(p)));
        // Frame 0's salt; later, the bitwise majority once two slots agree
        // on it (frame 0's slot was damaged). The slots of frames without
        // a message are random and never agree: no key is derived for them.
        let salt = match slots.as_slice() {
            [first] => Some(*first),
            _ => majority_salt(&slots).filter(|m| slots.iter().filter(|s| *s == m).count() >= 2),
        };
        if let Some(salt) = salt {
            keys.salted(salt);
        }
        let mut found = Err(CoreError::NoMessage);
        // The fixed-salt key is derived only when a salted one finds nothing.
        let salted = keys.salted_keys();
        for key in salted.iter().chain(std::iter::once_with(|| keys.fixed())) {
            found = Layout::locate(key, &geometry, f, &planes);
            if !matches!(found, Err(CoreError::NoMessage)) {
                break;
            }
        }
        drop(planes);
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

/// Extracts the message hidden in the video at `path`, whichever mode
/// wrote it: carrier pictures are looked for first (reading them needs no
/// decoding), then a lossless-mode header in the first frames, then a
/// robust-mode message (which decodes up to
/// [`crate::ROBUST_LOCK_SECONDS`] of video before it gives up).
///
/// The placement key is derived from `password` and the salt the carrier
/// pictures (or the first frames) hold; in compact mode, while the file's
/// NAL units are read: the two are independent, and each takes a
/// noticeable part of a short extraction.
pub fn extract_file(
    path: &Path,
    password: &[u8],
    workers: usize,
    progress: &dyn Progress,
) -> Result<Extracted> {
    let started = std::time::Instant::now();
    let keys = ReaderKeys::new(password);
    let prepared = prepare_carriers(path, &keys, progress)?;
    tracing::debug!(
        h264_carriers_possible = prepared.is_some(),
        millis = started.elapsed().as_millis() as u64,
        "key derived and container read"
    );
    let carriers_seen = match prepared {
        Some(prepared) => match extract_carriers(path, prepared, &keys, password, workers, progress)? {
            CarrierSearch::Found(extracted) => {
                let extracted = *extracted;
                tracing::debug!(
                    millis = started.elapsed().as_millis() as u64,
                    "found in carrier pictures"
                );
                return Ok(extracted);
            }
            CarrierSearch::NoHeader { carriers_seen } => carriers_seen,
        },
        None => false,
    };
    tracing::debug!(
        carriers_seen,
        "no carrier opened with this key; reading every frame"
    );
    let lossless = match extract_frames(path, &keys, password, workers, progress) {
        // The file holds carrier pictures: it was written in compact mode,
        // and no carrier authenticated with this password.
        Err(PipelineError::Core(CoreError::NoMessage)) if carriers_seen => {
            return Err(CoreError::NoMessage.into())
        }
        Ok(found) => return Ok(found),
        Err(e) => e,
    };
    // A lossless-mode header that authenticated (a message that did not
    // open) is the answer; so is a failure that is not the video's.
    let robust_possible = match &lossless {
        PipelineError::Core(CoreError::NoMessage) => true,
        PipelineError::Core(_) => false,
        e => e.class() == vidstega_core::ErrorClass::InvalidInput,
    };
    if !robust_possible {
        return Err(lossless);
    }
    tracing::debug!(%lossless, "no lossless-mode message; looking for a robust-mode one");
    match crate::robust::extract_robust(path, keys.fixed(), password, progress)? {
        Some(found) => Ok(Extracted {
            message: found.message,
            frames: found.report.frames_read,
            damaged_frames: Vec::new(),
            missing_bits: Vec::new(),
            mode: OutputMode::Robust,
            robust: Some(found.report),
        }),
        None => Err(lossless),
    }
}

/// What looking for carrier pictures found.
enum CarrierSearch {
    /// The message, from its carriers.
    Found(Box<Extracted>),
    /// No carrier authenticated with this key (`carriers_seen`: some of the
    /// pictures tried were carrier pictures, so the video was written in
    /// compact mode and the password is likely wrong).
    NoHeader {
        /// Whether I_PCM carrier pictures were seen.
        carriers_seen: bool,
    },
}

/// Reads the picture of candidate `candidate` as a carrier.
fn read_candidate(
    file: &mut (impl Read + Seek),
    track: &H264Track,
    scan: &Scan,
    candidate: u64,
) -> Result<CarrierRead> {
    let sample = scan.candidates[candidate as usize];
    let bytes = track.read_sample(file, sample)?;
    let sets = track.sets_for(file, sample)?;
    Ok(read_carrier(&sets, &track.nal_units(&bytes)?)?)
}

/// What a compact-mode reader needs from the file before the key: its
/// video track, the carrier candidates and the picture geometry.
struct PreparedCarriers {
    track: H264Track,
    scan: Scan,
    geometry: FrameGeometry,
    /// The salts the carrier pictures hold (read without a key), most
    /// frequent first; empty if the video has no carrier. The first one's
    /// key has been derived.
    salts: Vec<[u8; 16]>,
}

/// Finds up to [`SALT_CARRIERS`] carrier pictures without a key — access
/// units as large as a picture of raw samples that read as carriers, spread
/// over the video — and returns the salts their slots hold, the most
/// frequent first (then the bitwise majority of all, which outvotes a
/// damaged slot); empty when the video has no carrier.
fn salts_of_carriers(file: &mut ObjectReader, track: &H264Track) -> Vec<[u8; 16]> {
    let Ok(shape) = track.shape() else {
        return Vec::new();
    };
    let raw = shape.macroblocks() as u64 * shape.pcm_bytes_per_mb() as u64;
    let large: Vec<usize> = (0..track.len())
        .filter(|&i| track.track.samples[i].size >= raw)
        .collect();
    let step = large.len().div_ceil(SALT_CARRIERS).max(1);
    let mut slots = Vec::new();
    for &index in large.iter().step_by(step) {
        let read = track.read_sample(file, index).and_then(|bytes| {
            let sets = track.sets_for(file, index)?;
            Ok(read_carrier(&sets, &track.nal_units(&bytes)?)?)
        });
        if let Ok(CarrierRead::Carrier(planes)) = read {
            slots.extend(planes.first().and_then(|p| salt_slot(p)));
        }
    }
    let mut counted: Vec<([u8; 16], usize)> = Vec::new();
    for slot in &slots {
        match counted.iter_mut().find(|(s, _)| s == slot) {
            Some((_, n)) => *n += 1,
            None => counted.push((*slot, 1)),
        }
    }
    // Most frequent first; equal counts keep their order in the video.
    counted.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut salts: Vec<[u8; 16]> = counted.into_iter().map(|(s, _)| s).collect();
    if let Some(majority) = majority_salt(&slots).filter(|m| !salts.contains(m)) {
        salts.push(majority);
    }
    salts
}

/// Reads the container and the NAL headers of `path`; `None` when the file
/// is not an H.264 MP4/MOV/Matroska file with carrier candidates (its
/// message, if any, is in every frame). The salted key of the carriers'
/// salt is derived while the NAL headers are read.
fn prepare_carriers(
    path: &Path,
    keys: &ReaderKeys,
    progress: &dyn Progress,
) -> Result<Option<PreparedCarriers>> {
    let mut file = ObjectReader::file(path)?;
    let mut head = [0u8; 16];
    let n = file
        .read(&mut head)
        .map_err(|e| PipelineError::io(format!("cannot read {}", path.display()), e))?;
    if sniff(&head[..n]).is_none() {
        return Ok(None);
    }
    let mut track = match H264Track::open(&mut file) {
        Ok(t) => t,
        Err(PipelineError::InvalidInput(_))
        | Err(PipelineError::Container(_))
        | Err(PipelineError::H264(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    progress.stage("locate", 0);
    // The picture size comes from the container's parameter sets; a
    // stream that carries them only in-band has it after the scan.
    let shape_known = track.shape().is_ok();
    let mut salts = salts_of_carriers(&mut file, &track);
    // A stream whose NAL units cannot be walked (damage, or not the H.264
    // its container claims) is left to the every-frame reader.
    let (_, scan) = rayon::join(
        || salts.first().map(|&s| keys.salted(s)),
        || track.scan(&mut file),
    );
    let Ok(scan) = scan else {
        return Ok(None);
    };
    if !shape_known {
        salts = salts_of_carriers(&mut file, &track);
    }
    let Ok(shape) = track.shape() else {
        return Ok(None);
    };
    if scan.candidates.is_empty() {
        return Ok(None);
    }
    let geometry = FrameGeometry::new(
        shape
            .display_planes()
            .into_iter()
            .map(|(width, height)| PlaneDims { width, height })
            .collect(),
    )?;
    Ok(Some(PreparedCarriers {
        track,
        scan,
        geometry,
        salts,
    }))
}

/// Compact mode's extraction: the key salted with the carriers' salt (the
/// fixed-salt key for versions 1 and 2) names the carrier holding the
/// header, then every carrier is read (I_PCM samples are read straight
/// from the file, no decoder needed).
fn extract_carriers(
    path: &Path,
    prepared: PreparedCarriers,
    keys: &ReaderKeys,
    password: &[u8],
    workers: usize,
    progress: &dyn Progress,
) -> Result<CarrierSearch> {
    // Without a carrier picture (intact, by its size) there is nothing to
    // look for: the message, if any, is in every frame.
    if prepared.salts.is_empty() {
        return Ok(CarrierSearch::NoHeader { carriers_seen: false });
    }
    let mut carriers_seen = false;
    let mut first_error = None;
    let salted = prepared.salts.iter().map_while(|&s| keys.salted(s));
    let fixed = std::iter::once_with(|| keys.fixed().clone());
    for key in salted.chain(fixed) {
        match carriers_with_key(path, &prepared, &key) {
            Ok(KeyedSearch::Found(found)) => {
                let (layout, order) = *found;
                return read_carriers(path, &prepared, layout, &order, password, workers, progress);
            }
            Ok(KeyedSearch::NoHeader { carriers_seen: seen }) => carriers_seen |= seen,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if !carriers_seen => Err(e),
        _ => Ok(CarrierSearch::NoHeader { carriers_seen }),
    }
}

/// What looking for the header with one key found.
enum KeyedSearch {
    /// The header, and the key's carrier order.
    Found(Box<(Layout, CarrierOrder)>),
    /// No header (see [`CarrierSearch::NoHeader`]).
    NoHeader {
        /// Whether I_PCM carrier pictures were seen.
        carriers_seen: bool,
    },
}

/// Looks for the header in the first carriers `key`'s order names.
fn carriers_with_key(path: &Path, prepared: &PreparedCarriers, key: &PlacementKey) -> Result<KeyedSearch> {
    let PreparedCarriers {
        track,
        scan,
        geometry,
        ..
    } = prepared;
    let mut file = ObjectReader::file(path)?;
    let m = scan.candidates.len() as u64;
    let order = CarrierOrder::new(key, &scan.groups)?;
    let mut carriers_seen = false;
    let mut found = None;
    let mut first_error = None;
    // The first points of the order first. The next ones fall between them,
    // so damage that spared no early point (every other carrier destroyed)
    // spares later ones: when carriers were seen but none authenticated,
    // look further before concluding.
    let tries = order.first(HEADER_SEARCH_CARRIERS.min(m))?;
    for (i, &candidate) in tries.iter().enumerate() {
        if i as u64 == HEADER_SEARCH_FRAMES && !carriers_seen {
            break;
        }
        let planes = match read_candidate(&mut file, track, scan, candidate) {
            Ok(CarrierRead::Carrier(p)) => p,
            Ok(CarrierRead::NotCarrier(_)) => continue,
            Ok(CarrierRead::Damaged(_)) => {
                carriers_seen = true;
                continue;
            }
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        carriers_seen = true;
        let refs: Vec<&[u8]> = planes.iter().map(|p| p.as_slice()).collect();
        match Layout::locate_at(key, geometry, candidate, &refs) {
            Ok(layout) if layout.kind() == LayoutKind::Carriers => {
                found = Some(layout);
                break;
            }
            Ok(_) | Err(CoreError::NoMessage) => {}
            Err(e) => {
                first_error.get_or_insert(e.into());
            }
        }
    }
    match found {
        Some(layout) => Ok(KeyedSearch::Found(Box::new((layout, order)))),
        // Carriers that read well but did not authenticate mean a wrong
        // password, whatever else was damaged; only damaged ones, damage.
        None => match first_error {
            Some(e) if !carriers_seen => Err(e),
            _ => Ok(KeyedSearch::NoHeader { carriers_seen }),
        },
    }
}

/// Reads every carrier of the message whose header `layout` is.
fn read_carriers(
    path: &Path,
    prepared: &PreparedCarriers,
    layout: Layout,
    order: &CarrierOrder,
    password: &[u8],
    workers: usize,
    progress: &dyn Progress,
) -> Result<CarrierSearch> {
    let PreparedCarriers { track, scan, .. } = prepared;
    let open = || ObjectReader::file(path);
    let m = scan.candidates.len() as u64;
    let count = layout.frame_count();
    if count > m {
        return Err(PipelineError::InvalidInput(format!(
            "the message was spread over {count} carrier pictures but this video has only {m} pictures \
             that can carry; it was cut or re-encoded after embedding"
        )));
    }
    let mut chosen = order.first(count)?;
    chosen.sort_unstable();
    progress.stage("extract", count);
    let assembly = Mutex::new(BodyAssembly::new(layout.envelope_header().body_bits()));
    let damaged = Mutex::new(Vec::new());
    crate::pool::for_each(
        "carrier",
        workers,
        chosen.iter().enumerate(),
        open,
        |file, (rank, &candidate)| {
            let slot = Slot {
                rank: rank as u64,
                key_index: candidate,
            };
            let mut part = BodyBits::zeroed(layout.frame_bits(slot.rank));
            // A carrier that is missing or unreadable is an erasure: the
            // parity rebuilds it if it can.
            let intact = match read_candidate(file, track, scan, candidate) {
                Ok(CarrierRead::Carrier(planes)) => {
                    let refs: Vec<&[u8]> = planes.iter().map(|p| p.as_slice()).collect();
                    match layout.extract_slot(slot, &refs, &mut part) {
                        Ok(check) => {
                            assembly.lock().unwrap().add(&part)?;
                            check.header_intact
                        }
                        Err(_) => false,
                    }
                }
                Ok(CarrierRead::NotCarrier(_)) | Ok(CarrierRead::Damaged(_)) | Err(_) => false,
            };
            if !intact {
                damaged.lock().unwrap().push(slot.rank);
            }
            progress.frames(0, 1);
            Ok(())
        },
    )?;
    let assembly = assembly.into_inner().unwrap();
    let mut damaged_frames = damaged.into_inner().unwrap();
    damaged_frames.sort_unstable();
    let missing_bits = assembly.missing();
    let message = layout.open(&assembly, password)?;
    Ok(CarrierSearch::Found(Box::new(Extracted {
        message,
        frames: count,
        damaged_frames,
        missing_bits,
        mode: OutputMode::Compact,
        robust: None,
    })))
}

/// Lossless mode's extraction: every frame decoded and read.
fn extract_frames(
    path: &Path,
    keys: &ReaderKeys,
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
    let search = locate(&mut first_reader, format, keys)?;
    let (layout, mut first) = match search.layout {
        Some(layout) => (layout, Some((first_reader, search.read))),
        // A first segment shorter than the search: look further on.
        None if (search.read.len() as u64) < HEADER_SEARCH_FRAMES.min(media.video.frame_count) => {
            drop(first_reader);
            let last = HEADER_SEARCH_FRAMES.min(media.video.frame_count);
            let mut reader = FrameReader::open(&media, 0..last, format)?;
            let wider = locate(&mut reader, format, keys)?;
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
    let first = Mutex::new(first.take());
    crate::pool::for_each(
        "segment",
        workers,
        segments.iter().enumerate(),
        || Ok(()),
        |_, (i, r)| {
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
        },
    )?;
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
        mode: OutputMode::Lossless,
        robust: None,
    })
}
