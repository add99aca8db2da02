//! Replaces a few video samples of an MP4/MOV or Matroska/WebM file and
//! copies every other byte unchanged.
//!
//! VidStega swaps some H.264 access units ("carrier pictures") for new,
//! larger ones. Re-muxing with the ffmpeg CLI cannot replace one packet while
//! keeping every timestamp, and it would also rewrite audio, subtitles,
//! metadata and unknown structures it does not understand. So this crate
//! patches the container itself: the output differs from the source only in
//! the replaced samples and in the index structures that locate samples
//! (sample sizes, chunk offsets, block and cluster sizes, cue and seek
//! positions, and the checksums covering them).
//!
//! The work is split in three steps:
//!
//! 1. [`read_video_track`] finds the first video track and every sample's
//!    position, size and keyframe flag (what to replace);
//! 2. [`plan_splice`] computes the whole output as a list of [`Piece`]s
//!    before writing anything, so its exact size is known up front;
//! 3. [`Splice::write_to`] (or [`Splice::reader`]) streams it, reading the
//!    source once, forward only, with bounded memory.
//!
//! Anything the crate cannot rewrite safely (fragmented MP4, external data
//! references, encryption, laced or compressed Matroska video) is reported as
//! [`ContainerError::Unsupported`]: remux with ffmpeg first, then patch.
//! Nothing here runs ffmpeg.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod ebml;
mod error;
mod input;
mod matroska;
mod mp4;
mod splice;

use std::collections::BTreeMap;
use std::io::{Read, Seek};

pub use error::ContainerError;
pub use splice::{Piece, Splice};

use error::Result;
use input::Input;

/// Which container family a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    /// ISO base media file format and QuickTime: MP4, MOV, M4V, 3GP.
    Mp4,
    /// Matroska and WebM.
    Matroska,
}

/// Top-level box types an ISO BMFF / QuickTime file can start with.
const MP4_FIRST_BOXES: [&[u8; 4]; 11] = [
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp", b"sidx", b"moof",
];

/// Sniffs the first bytes of a file (16 are enough): `Some(kind)` if this
/// crate can read that container family.
pub fn sniff(head: &[u8]) -> Option<ContainerKind> {
    if head.len() >= 4 && head[..4] == [0x1A, 0x45, 0xDF, 0xA3] {
        return Some(ContainerKind::Matroska);
    }
    if head.len() >= 8 {
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let typ = &head[4..8];
        if (size == 0 || size == 1 || size >= 8) && MP4_FIRST_BOXES.iter().any(|t| &t[..] == typ) {
            return Some(ContainerKind::Mp4);
        }
    }
    None
}

/// One sample (MP4) or one frame of a block (Matroska) of the video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sample {
    /// Position of the sample's first byte in the file.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Whether it is a sync sample (MP4 `stss`, or all when absent) /
    /// keyframe (SimpleBlock flag, or a BlockGroup without ReferenceBlock).
    pub keyframe: bool,
}

/// The first video track of a file: the first `trak` whose handler is `vide`
/// (MP4), or the first TrackEntry with TrackType 1 (Matroska). That is the
/// stream ffprobe reports as the first video stream, not counting cover art.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    /// Container family of the file.
    pub kind: ContainerKind,
    /// MP4 `track_ID` / Matroska TrackNumber.
    pub track_id: u64,
    /// MP4 sample entry type (`avc1`, `avc3`, `hvc1`, ...) / Matroska
    /// CodecID (`V_MPEG4/ISO/AVC`, ...).
    pub codec: String,
    /// The decoder configuration: the payload of the sample entry's `avcC`
    /// (or `hvcC`, `av1C`, `vpcC`, ...) box (MP4) / CodecPrivate
    /// (Matroska). Empty if there is none.
    pub codec_private: Vec<u8>,
    /// Coded width in pixels (MP4 sample entry, falling back to `tkhd`;
    /// Matroska PixelWidth).
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// Every sample, in decoding order (= the file order of the track's samples).
    pub samples: Vec<Sample>,
    /// The samples' timestamps as the container's tables give them (MP4);
    /// `None` when this crate does not read them (Matroska) or the tables
    /// are inconsistent.
    pub timing: Option<TrackTiming>,
}

/// A video track's timestamps from the container's own tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackTiming {
    /// Ticks per second (MP4 `mdhd` timescale).
    pub timescale: u32,
    /// Each sample's presentation timestamp in ticks, in decoding order,
    /// with no edit list applied: the sum of the `stts` durations of the
    /// samples before it plus its own `ctts` offset (signed).
    pub pts: Vec<i64>,
    /// Whether the track has an edit list (not applied to `pts`).
    pub edit_list: bool,
    /// Whether sample groups (`sbgp`/`sgpd`) may mark random access points
    /// beyond the sync samples (the `keyframe` flags only follow `stss`).
    pub other_random_access: bool,
}

/// Reads the container's structure (not the sample data) and returns the
/// first video track.
pub fn read_video_track<R: Read + Seek>(r: &mut R) -> Result<VideoTrack> {
    let mut input = Input::new(r)?;
    match sniff(input.peek(0, 16)?) {
        Some(ContainerKind::Mp4) => Ok(mp4::Mp4::read(&mut input)?.video_track()?),
        Some(ContainerKind::Matroska) => Ok(matroska::Mkv::read(&mut input)?.video_track()?),
        None => Err(ContainerError::unsupported(
            "container format (neither MP4/MOV nor Matroska/WebM)",
        )),
    }
}

/// A replacement sample as [`plan_splice_with_crc`] wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSample {
    /// Length of the replacement in bytes.
    pub len: u64,
    /// CRC-32 (ISO-HDLC, as [`crc32`] computes it) of the replacement's
    /// bytes, if known. Matroska Clusters protected by a CRC-32 element need
    /// it to get a recomputed checksum; without it that element is turned
    /// into a Void of the same size (a valid file without the optional
    /// checksum). MP4 ignores it.
    pub crc32: Option<u32>,
}

/// CRC-32/ISO-HDLC of `data`, the checksum Matroska uses.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Plans the output in which the video samples named in `new_sizes` (sample
/// index → new length in bytes) are replaced and everything else is kept.
///
/// `track` must be what [`read_video_track`] returned for the same file. With
/// an empty `new_sizes` the plan reproduces the input byte for byte. In
/// Matroska files whose Clusters carry CRC-32 elements, the CRC-32 of each
/// Cluster holding a replaced frame becomes a Void here, because the
/// replacement bytes are not known yet; use [`plan_splice_with_crc`] to keep
/// valid checksums instead.
pub fn plan_splice<R: Read + Seek>(
    r: &mut R,
    track: &VideoTrack,
    new_sizes: &BTreeMap<usize, u64>,
) -> Result<Splice> {
    let new: BTreeMap<usize, NewSample> = new_sizes
        .iter()
        .map(|(&i, &len)| (i, NewSample { len, crc32: None }))
        .collect();
    plan_splice_with_limits(r, track, &new, Limits::default())
}

/// [`plan_splice`] with each replacement's CRC-32, so that Matroska CRC-32
/// elements covering replaced frames are recomputed rather than dropped.
pub fn plan_splice_with_crc<R: Read + Seek>(
    r: &mut R,
    track: &VideoTrack,
    new: &BTreeMap<usize, NewSample>,
) -> Result<Splice> {
    plan_splice_with_limits(r, track, new, Limits::default())
}

/// Thresholds at which MP4 offsets and box sizes switch to 64-bit forms.
/// Only tests change them (to exercise `co64` and `largesize` on small files).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest chunk offset kept in a 32-bit `stco` (else `co64`).
    pub offset32_max: u64,
    /// Largest `mdat` size kept in the 32-bit size field (else `largesize`).
    pub size32_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            offset32_max: u64::from(u32::MAX),
            size32_max: u64::from(u32::MAX),
        }
    }
}

/// [`plan_splice_with_crc`] with explicit [`Limits`] (a test hook).
#[doc(hidden)]
pub fn plan_splice_with_limits<R: Read + Seek>(
    r: &mut R,
    track: &VideoTrack,
    new: &BTreeMap<usize, NewSample>,
    limits: Limits,
) -> Result<Splice> {
    if let Some((&index, _)) = new.range(track.samples.len()..).next() {
        return Err(ContainerError::invalid(format!(
            "sample {index} does not exist (the video track has {} samples)",
            track.samples.len()
        )));
    }
    for (&index, n) in new {
        if track.samples[index].size == 0 {
            return Err(ContainerError::unsupported(format!(
                "replacing sample {index}, which is empty in the source"
            )));
        }
        if track.kind == ContainerKind::Mp4 && n.len > u64::from(u32::MAX) {
            return Err(ContainerError::invalid(format!(
                "sample {index}: MP4 samples are at most 4 GiB"
            )));
        }
    }
    let mut input = Input::new(r)?;
    match track.kind {
        ContainerKind::Mp4 => {
            let file = mp4::Mp4::read(&mut input)?;
            check_same_track(&file.video_track()?, track)?;
            file.plan(new, limits)
        }
        ContainerKind::Matroska => {
            let file = matroska::Mkv::read(&mut input)?;
            check_same_track(&file.video_track()?, track)?;
            file.plan(&mut input, new)
        }
    }
}

fn check_same_track(found: &VideoTrack, given: &VideoTrack) -> Result<()> {
    if found.kind != given.kind || found.track_id != given.track_id || found.samples != given.samples {
        return Err(ContainerError::invalid(
            "the VideoTrack was not read from this file",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_containers() {
        assert_eq!(
            sniff(&[0, 0, 0, 0x20, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm']),
            Some(ContainerKind::Mp4)
        );
        assert_eq!(
            sniff(&[0, 0, 0, 0x08, b'w', b'i', b'd', b'e']),
            Some(ContainerKind::Mp4)
        );
        assert_eq!(
            sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]),
            Some(ContainerKind::Matroska)
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI "), None);
        assert_eq!(sniff(&[0x47, 0x40, 0x11, 0x10, 0, 0, 0, 0]), None);
        assert_eq!(sniff(&[0, 0, 0, 4, b'f', b't', b'y', b'p']), None);
        assert_eq!(sniff(b""), None);
    }
}
