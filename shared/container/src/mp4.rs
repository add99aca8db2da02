//! MP4, MOV, M4V and 3GP (ISO base media file format and QuickTime).
//!
//! A non-fragmented file keeps all its indexes in the `moov` box: per track,
//! `stsz`/`stz2` give each sample's size, `stsc` groups samples into chunks
//! and `stco`/`co64` give each chunk's absolute file position. The sample
//! data itself sits in `mdat` boxes and is never parsed.
//!
//! Replacing video samples therefore changes: the video track's sample
//! sizes; the chunk offsets of *every* track that lie after a replaced sample
//! or after a box whose size changed (audio too, or it would play the wrong
//! bytes); the size of each `mdat` holding a replaced sample; and the size of
//! `moov` and its ancestors of the rewritten tables. When `moov` precedes the
//! data ("faststart"), its own size change moves every chunk, which may push
//! an offset past 4 GiB and turn `stco` into the larger `co64`, which changes
//! the `moov` size again: the plan iterates to a fixed point. Everything else
//! (`udta`, `meta`, edit lists, matrices, `free`, unknown boxes) is copied
//! byte for byte.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};

use crate::error::{ContainerError, Result};
use crate::input::Input;
use crate::splice::{sort_edits, Edit, EditContent, PosMap, Span, Splice};
use crate::{ContainerKind, Limits, NewSample, Sample, TrackTiming, VideoTrack};

/// Largest `moov` this crate loads into memory.
const MAX_MOOV: u64 = 1 << 30;
/// Largest top-level `meta` box inspected.
const MAX_META: u64 = 64 << 20;
/// Most samples a constant-size `stsz` may claim for the video track.
const MAX_VIDEO_SAMPLES: u64 = 100_000_000;
/// Container boxes on the way from `moov` to the sample tables.
const PATH_CONTAINERS: [&[u8; 4]; 5] = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];

fn be16(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or_else(|| ContainerError::malformed("a box is too short for its fields"))
}

fn be32(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| ContainerError::malformed("a box is too short for its fields"))
}

fn be64(b: &[u8], at: usize) -> Result<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_be_bytes(s.try_into().unwrap_or_default()))
        .ok_or_else(|| ContainerError::malformed("a box is too short for its fields"))
}

fn fourcc(t: &[u8; 4]) -> String {
    t.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

/// A box inside an in-memory buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BoxRef {
    typ: [u8; 4],
    start: usize,
    header_len: usize,
    end: usize,
    /// Written with the 64-bit `largesize` field.
    large: bool,
}

impl BoxRef {
    fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start + self.header_len..self.end]
    }

    fn data_start(&self) -> usize {
        self.start + self.header_len
    }
}

/// Parses the boxes of `buf[start..end]`. Returns them and where the bytes
/// that do not form a box begin (QuickTime ends some lists with a zero
/// terminator); those bytes are kept verbatim.
fn parse_boxes(buf: &[u8], start: usize, end: usize) -> Result<(Vec<BoxRef>, usize)> {
    let mut boxes = Vec::new();
    let mut pos = start;
    while end - pos >= 8 {
        let size32 = be32(buf, pos)?;
        let typ: [u8; 4] = [buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]];
        if size32 == 0 {
            break;
        }
        let (mut header_len, size, large) = if size32 == 1 {
            if end - pos < 16 {
                return Err(ContainerError::malformed(format!(
                    "box '{}' is cut off",
                    fourcc(&typ)
                )));
            }
            (16usize, be64(buf, pos + 8)?, true)
        } else {
            (8usize, u64::from(size32), false)
        };
        if &typ == b"uuid" {
            header_len += 16;
        }
        if size < header_len as u64 || size > (end - pos) as u64 {
            return Err(ContainerError::malformed(format!(
                "box '{}' has size {size}, which does not fit its parent",
                fourcc(&typ)
            )));
        }
        boxes.push(BoxRef {
            typ,
            start: pos,
            header_len,
            end: pos + size as usize,
            large,
        });
        pos += size as usize;
    }
    Ok((boxes, pos))
}

fn child(buf: &[u8], parent: &BoxRef, typ: &[u8; 4]) -> Result<Option<BoxRef>> {
    Ok(parse_boxes(buf, parent.data_start(), parent.end)?
        .0
        .into_iter()
        .find(|b| &b.typ == typ))
}

/// A box header of the given form.
fn box_header(typ: &[u8; 4], payload_len: u64, large: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let total = payload_len + 8;
    if !large && total <= u64::from(u32::MAX) {
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(typ);
    } else {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(typ);
        out.extend_from_slice(&(total + 8).to_be_bytes());
    }
    out
}

/// A top-level box of the file.
#[derive(Debug, Clone, Copy)]
struct TopBox {
    typ: [u8; 4],
    start: u64,
    header_len: u64,
    end: u64,
    /// Size field 0: "extends to the end of the file".
    to_eof: bool,
}

fn top_boxes<R: Read + Seek>(input: &mut Input<R>) -> Result<Vec<TopBox>> {
    let len = input.len();
    let mut boxes = Vec::new();
    let mut pos = 0u64;
    while len - pos >= 8 {
        let head = input.peek(pos, 32)?.to_vec();
        let size32 = be32(&head, 0)?;
        let typ: [u8; 4] = [head[4], head[5], head[6], head[7]];
        let (mut header_len, size) = match size32 {
            0 => (8u64, len - pos),
            1 => (16, be64(&head, 8)?),
            n => (8, u64::from(n)),
        };
        if &typ == b"uuid" {
            header_len += 16;
        }
        if size < header_len {
            return Err(ContainerError::malformed(format!(
                "box '{}' at {pos} has size {size}",
                fourcc(&typ)
            )));
        }
        if size > len - pos {
            return Err(ContainerError::malformed(format!(
                "box '{}' at {pos} claims {size} bytes but the file ends {} bytes later (truncated?)",
                fourcc(&typ),
                len - pos
            )));
        }
        boxes.push(TopBox {
            typ,
            start: pos,
            header_len,
            end: pos + size,
            to_eof: size32 == 0,
        });
        pos += size;
    }
    if boxes.is_empty() {
        return Err(ContainerError::malformed("no MP4 boxes"));
    }
    Ok(boxes)
}

/// Sample sizes of a track.
#[derive(Debug, Clone)]
enum Sizes {
    /// `stsz` with a constant `sample_size`.
    Constant { size: u32, count: u64 },
    /// One size per sample.
    Table(Vec<u32>),
}

impl Sizes {
    fn count(&self) -> u64 {
        match self {
            Sizes::Constant { count, .. } => *count,
            Sizes::Table(t) => t.len() as u64,
        }
    }

    fn get(&self, i: u64) -> u64 {
        match self {
            Sizes::Constant { size, .. } => u64::from(*size),
            Sizes::Table(t) => u64::from(t[i as usize]),
        }
    }
}

/// What the sample tables of one track say, plus where they are in `moov`.
#[derive(Debug, Clone)]
struct Track {
    handler: [u8; 4],
    track_id: u32,
    tkhd_size: (u32, u32),
    entry_type: Option<[u8; 4]>,
    entry_size: (u32, u32),
    codec_private: Vec<u8>,
    /// A sample entry of the track uses a data reference outside this file.
    external: bool,
    /// The track has `saio` (sample auxiliary information at file offsets).
    saio: bool,
    sizes: Sizes,
    size_box: Option<BoxRef>,
    offsets: Vec<u64>,
    offset_box: Option<BoxRef>,
    co64: bool,
    /// Samples in each chunk.
    chunk_samples: Vec<u32>,
    sync: Option<Vec<u32>>,
    /// `mdhd` timescale (0 when absent).
    timescale: u32,
    /// `stts` runs: (sample count, duration).
    stts: Vec<(u32, u32)>,
    /// `ctts` runs: (sample count, offset, read as signed as FFmpeg does).
    ctts: Option<Vec<(u32, i32)>>,
    /// The sample table has sample groups (`sbgp`), which may mark more
    /// random access points than `stss` does.
    sample_groups: bool,
    /// The track has an edit list (`edts`/`elst`).
    edit_list: bool,
}

impl Track {
    /// Each chunk's position and total length.
    fn chunk_spans(&self) -> Vec<(u64, u64)> {
        let mut spans = Vec::with_capacity(self.offsets.len());
        let mut sample = 0u64;
        for (&off, &n) in self.offsets.iter().zip(&self.chunk_samples) {
            let len = match &self.sizes {
                Sizes::Constant { size, .. } => u64::from(n) * u64::from(*size),
                Sizes::Table(t) => t[sample as usize..(sample + u64::from(n)) as usize]
                    .iter()
                    .map(|&s| u64::from(s))
                    .sum(),
            };
            sample += u64::from(n);
            spans.push((off, len));
        }
        spans
    }

    fn samples(&self, file_len: u64) -> Result<Vec<Sample>> {
        if self.sizes.count() > MAX_VIDEO_SAMPLES {
            return Err(ContainerError::unsupported(
                "a video track with more than 100 million samples",
            ));
        }
        if let Sizes::Constant { size, count } = self.sizes {
            if count.saturating_mul(u64::from(size)) > file_len {
                return Err(ContainerError::malformed(
                    "the sample size table describes more data than the file",
                ));
            }
        }
        let mut samples = Vec::with_capacity(self.sizes.count() as usize);
        let mut next_sync = 0usize;
        for (&off, &n) in self.offsets.iter().zip(&self.chunk_samples) {
            let mut pos = off;
            for _ in 0..n {
                let i = samples.len() as u64;
                let size = self.sizes.get(i);
                let keyframe = match &self.sync {
                    None => true,
                    Some(sync) => {
                        while next_sync < sync.len() && u64::from(sync[next_sync]) < i + 1 {
                            next_sync += 1;
                        }
                        next_sync < sync.len() && u64::from(sync[next_sync]) == i + 1
                    }
                };
                samples.push(Sample {
                    offset: pos,
                    size,
                    keyframe,
                });
                pos = pos.saturating_add(size);
            }
        }
        Ok(samples)
    }
}

/// Samples in each chunk, from `stsc`, for `chunks` chunks and `samples` samples.
fn chunk_samples(stsc: &[(u32, u32)], chunks: usize, samples: u64) -> Result<Vec<u32>> {
    let mut counts = vec![0u32; chunks];
    let mut left = samples;
    for (i, &(first, per_chunk)) in stsc.iter().enumerate() {
        if first == 0 || (i > 0 && first <= stsc[i - 1].0) {
            return Err(ContainerError::malformed(
                "sample-to-chunk table (stsc) is not in increasing chunk order",
            ));
        }
        let next = stsc.get(i + 1).map_or(chunks as u64 + 1, |e| u64::from(e.0));
        let mut chunk = u64::from(first);
        while chunk < next && chunk <= chunks as u64 {
            let n = u64::from(per_chunk).min(left);
            counts[chunk as usize - 1] = n as u32;
            left -= n;
            chunk += 1;
        }
    }
    if left > 0 {
        return Err(ContainerError::malformed(
            "the chunk tables (stsc/stco) hold fewer samples than the sample size table (stsz)",
        ));
    }
    Ok(counts)
}

fn parse_track(buf: &[u8], trak: &BoxRef) -> Result<Track> {
    let tkhd = child(buf, trak, b"tkhd")?.ok_or_else(|| ContainerError::malformed("track without tkhd"))?;
    let p = tkhd.payload(buf);
    let (track_id, wh_at) = if p.first() == Some(&1) {
        (be32(p, 20)?, 88)
    } else {
        (be32(p, 12)?, 76)
    };
    let tkhd_size = (
        be32(p, wh_at).unwrap_or(0) >> 16,
        be32(p, wh_at + 4).unwrap_or(0) >> 16,
    );

    let mut track = Track {
        handler: [0; 4],
        track_id,
        tkhd_size,
        entry_type: None,
        entry_size: (0, 0),
        codec_private: Vec::new(),
        external: false,
        saio: false,
        sizes: Sizes::Table(Vec::new()),
        size_box: None,
        offsets: Vec::new(),
        offset_box: None,
        co64: false,
        chunk_samples: Vec::new(),
        sync: None,
        timescale: 0,
        stts: Vec::new(),
        ctts: None,
        sample_groups: false,
        edit_list: child(buf, trak, b"edts")?.is_some(),
    };
    let Some(mdia) = child(buf, trak, b"mdia")? else {
        return Ok(track);
    };
    if let Some(mdhd) = child(buf, &mdia, b"mdhd")? {
        let p = mdhd.payload(buf);
        track.timescale = if p.first() == Some(&1) {
            be32(p, 20).unwrap_or(0)
        } else {
            be32(p, 12).unwrap_or(0)
        };
    }
    if let Some(hdlr) = child(buf, &mdia, b"hdlr")? {
        let p = hdlr.payload(buf);
        if let Some(h) = p.get(8..12) {
            track.handler.copy_from_slice(h);
        }
    }
    let Some(minf) = child(buf, &mdia, b"minf")? else {
        return Ok(track);
    };
    let mut self_contained: Vec<bool> = Vec::new();
    if let Some(dref) = child(buf, &minf, b"dinf")?
        .map(|d| child(buf, &d, b"dref"))
        .transpose()?
        .flatten()
    {
        let start = dref.data_start() + 8;
        if start <= dref.end {
            for entry in parse_boxes(buf, start, dref.end)?.0 {
                let flags = entry
                    .payload(buf)
                    .get(..4)
                    .map_or(0, |f| u32::from_be_bytes([0, f[1], f[2], f[3]]));
                self_contained.push(flags & 1 == 1);
            }
        }
    }
    let Some(stbl) = child(buf, &minf, b"stbl")? else {
        return Ok(track);
    };
    let (tables, _) = parse_boxes(buf, stbl.data_start(), stbl.end)?;
    let find = |t: &[u8; 4]| tables.iter().find(|b| &b.typ == t).copied();
    track.saio = find(b"saio").is_some();

    if let Some(stsd) = find(b"stsd") {
        let start = stsd.data_start() + 8;
        if start <= stsd.end {
            let (entries, _) = parse_boxes(buf, start, stsd.end)?;
            for (i, entry) in entries.iter().enumerate() {
                let dref_index = be16(buf, entry.start + 14).unwrap_or(1);
                let own = dref_index == 0
                    || self_contained.is_empty()
                    || self_contained
                        .get(dref_index as usize - 1)
                        .copied()
                        .unwrap_or(false);
                track.external |= !own;
                if i == 0 {
                    track.entry_type = Some(entry.typ);
                    if entry.end - entry.start >= 8 + 78 {
                        track.entry_size = (
                            u32::from(be16(buf, entry.start + 32)?),
                            u32::from(be16(buf, entry.start + 34)?),
                        );
                        if let Ok((children, _)) = parse_boxes(buf, entry.start + 8 + 78, entry.end) {
                            let configs: [&[u8; 4]; 4] = [b"avcC", b"hvcC", b"av1C", b"vpcC"];
                            if let Some(c) = children.iter().find(|c| configs.contains(&&c.typ)) {
                                track.codec_private = c.payload(buf).to_vec();
                            }
                        }
                    }
                }
            }
        }
    }

    // Sample sizes.
    if let Some(stsz) = find(b"stsz") {
        let p = stsz.payload(buf);
        let size = be32(p, 4)?;
        let count = u64::from(be32(p, 8)?);
        track.sizes = if size != 0 {
            Sizes::Constant { size, count }
        } else {
            if (p.len() as u64 - 12) / 4 < count {
                return Err(ContainerError::malformed(
                    "sample size table (stsz) is shorter than its count",
                ));
            }
            Sizes::Table(
                (0..count as usize)
                    .map(|i| be32(p, 12 + 4 * i))
                    .collect::<Result<_>>()?,
            )
        };
        track.size_box = Some(stsz);
    } else if let Some(stz2) = find(b"stz2") {
        let p = stz2.payload(buf);
        let field = *p
            .get(7)
            .ok_or_else(|| ContainerError::malformed("stz2 is too short"))?;
        let count = be32(p, 8)? as usize;
        let data = &p[12..];
        let sizes: Vec<u32> = match field {
            4 if data.len() >= count.div_ceil(2) => (0..count)
                .map(|i| {
                    u32::from(if i % 2 == 0 {
                        data[i / 2] >> 4
                    } else {
                        data[i / 2] & 15
                    })
                })
                .collect(),
            8 if data.len() >= count => data[..count].iter().map(|&b| u32::from(b)).collect(),
            16 if data.len() / 2 >= count => (0..count)
                .map(|i| be16(data, 2 * i).map(u32::from))
                .collect::<Result<_>>()?,
            _ => {
                return Err(ContainerError::malformed(
                    "compact sample size table (stz2) is invalid",
                ))
            }
        };
        track.sizes = Sizes::Table(sizes);
        track.size_box = Some(stz2);
    }

    // Chunk offsets.
    if let Some((b, wide)) = find(b"stco")
        .map(|b| (b, false))
        .or_else(|| find(b"co64").map(|b| (b, true)))
    {
        let p = b.payload(buf);
        let count = be32(p, 4)? as usize;
        let width = if wide { 8 } else { 4 };
        if (p.len() - 8) / width < count {
            return Err(ContainerError::malformed(
                "chunk offset table (stco/co64) is shorter than its count",
            ));
        }
        track.offsets = (0..count)
            .map(|i| {
                if wide {
                    be64(p, 8 + 8 * i)
                } else {
                    be32(p, 8 + 4 * i).map(u64::from)
                }
            })
            .collect::<Result<_>>()?;
        track.offset_box = Some(b);
        track.co64 = wide;
    }

    // Sample-to-chunk.
    let mut stsc = Vec::new();
    if let Some(b) = find(b"stsc") {
        let p = b.payload(buf);
        let count = be32(p, 4)? as usize;
        if (p.len() - 8) / 12 < count {
            return Err(ContainerError::malformed(
                "sample-to-chunk table (stsc) is shorter than its count",
            ));
        }
        for i in 0..count {
            stsc.push((be32(p, 8 + 12 * i)?, be32(p, 12 + 12 * i)?));
        }
    }
    track.chunk_samples = chunk_samples(&stsc, track.offsets.len(), track.sizes.count())?;

    if let Some(b) = find(b"stss") {
        let p = b.payload(buf);
        let count = be32(p, 4)? as usize;
        if (p.len() - 8) / 4 < count {
            return Err(ContainerError::malformed(
                "sync sample table (stss) is shorter than its count",
            ));
        }
        let mut sync: Vec<u32> = (0..count).map(|i| be32(p, 8 + 4 * i)).collect::<Result<_>>()?;
        sync.sort_unstable();
        track.sync = Some(sync);
    }
    // Timing: read for the video track's timestamps; a table that does not
    // parse leaves them unknown (the caller asks ffprobe), it does not
    // make the file unreadable.
    let runs = |b: BoxRef| -> Option<Vec<(u32, u32)>> {
        let p = b.payload(buf);
        let count = be32(p, 4).ok()? as usize;
        if (p.len().checked_sub(8)?) / 8 < count {
            return None;
        }
        (0..count)
            .map(|i| Some((be32(p, 8 + 8 * i).ok()?, be32(p, 12 + 8 * i).ok()?)))
            .collect()
    };
    track.stts = find(b"stts").and_then(runs).unwrap_or_default();
    track.ctts = find(b"ctts").map(|b| {
        runs(b)
            .unwrap_or_default()
            .into_iter()
            .map(|(n, offset)| (n, offset as i32))
            .collect()
    });
    track.sample_groups = find(b"sbgp").is_some() || find(b"sgpd").is_some();
    Ok(track)
}

impl Track {
    /// Each sample's presentation timestamp (decoding order), with the
    /// edit list not applied: the running sum of the `stts` durations
    /// before it plus its `ctts` offset. `None` when the tables do not
    /// describe every sample exactly once, or a duration does not fit
    /// FFmpeg's signed reading of it.
    fn presentation_times(&self, samples: usize) -> Option<Vec<i64>> {
        let stts_total: u64 = self.stts.iter().map(|&(n, _)| u64::from(n)).sum();
        if self.timescale == 0
            || stts_total != samples as u64
            || self.stts.iter().any(|&(_, d)| d > i32::MAX as u32)
        {
            return None;
        }
        let mut pts = Vec::with_capacity(samples);
        let mut dts = 0i64;
        for &(n, duration) in &self.stts {
            for _ in 0..n {
                pts.push(dts);
                dts += i64::from(duration);
            }
        }
        if let Some(ctts) = &self.ctts {
            let ctts_total: u64 = ctts.iter().map(|&(n, _)| u64::from(n)).sum();
            if ctts_total != samples as u64 {
                return None;
            }
            let mut i = 0;
            for &(n, offset) in ctts {
                for _ in 0..n {
                    pts[i] += i64::from(offset);
                    i += 1;
                }
            }
        }
        Some(pts)
    }
}

/// Whether a `meta` box locates items by file offset (`iloc` with items).
fn meta_has_items(buf: &[u8], meta: &BoxRef) -> bool {
    // ISO `meta` is a full box (4 bytes of version/flags); QuickTime's is not.
    [meta.data_start() + 4, meta.data_start()].iter().any(|&start| {
        start <= meta.end
            && parse_boxes(buf, start, meta.end).is_ok_and(|(children, _)| {
                children.iter().any(|c| {
                    let p = c.payload(buf);
                    &c.typ == b"iloc"
                        && match p.first() {
                            Some(0 | 1) => be16(p, 6).map_or(true, |n| n > 0),
                            Some(2) => be32(p, 6).map_or(true, |n| n > 0),
                            _ => true,
                        }
                })
            })
    })
}

/// A parsed MP4/MOV file.
pub(crate) struct Mp4 {
    file_len: u64,
    top: Vec<TopBox>,
    moov_index: usize,
    moov: Vec<u8>,
    tracks: Vec<Track>,
    /// Why the file cannot be rewritten, if it cannot.
    blocker: Option<String>,
}

impl Mp4 {
    pub fn read<R: Read + Seek>(input: &mut Input<R>) -> Result<Mp4> {
        let top = top_boxes(input)?;
        if let Some(b) = top
            .iter()
            .find(|b| [b"moof", b"mfra", b"sidx", b"styp"].contains(&&b.typ))
        {
            return Err(ContainerError::unsupported(format!(
                "fragmented MP4 (top-level '{}' box)",
                fourcc(&b.typ)
            )));
        }
        let moovs: Vec<usize> = top
            .iter()
            .enumerate()
            .filter(|(_, b)| &b.typ == b"moov")
            .map(|(i, _)| i)
            .collect();
        let moov_index = match moovs[..] {
            [] => return Err(ContainerError::malformed("no moov box")),
            [i] => i,
            _ => return Err(ContainerError::unsupported("several moov boxes")),
        };
        let mb = top[moov_index];
        if mb.end - mb.start > MAX_MOOV {
            return Err(ContainerError::unsupported("a moov box larger than 1 GiB"));
        }
        let moov = input.read_vec(mb.start, mb.end - mb.start, "moov box")?;
        let moov_ref = BoxRef {
            typ: *b"moov",
            start: 0,
            header_len: mb.header_len as usize,
            end: moov.len(),
            large: mb.header_len == 16,
        };
        let (children, _) = parse_boxes(&moov, moov_ref.data_start(), moov_ref.end)?;
        if children.iter().any(|c| &c.typ == b"mvex") {
            return Err(ContainerError::unsupported(
                "fragmented MP4 (moov has an mvex box)",
            ));
        }
        if children.iter().any(|c| &c.typ == b"cmov") {
            return Err(ContainerError::unsupported("compressed movie header (cmov)"));
        }
        let mut blocker = None;
        let traks: Vec<BoxRef> = children.iter().filter(|c| &c.typ == b"trak").copied().collect();
        let mut metas: Vec<BoxRef> = children.iter().filter(|c| &c.typ == b"meta").copied().collect();
        for holder in children.iter().filter(|c| &c.typ == b"udta").chain(&traks) {
            for c in parse_boxes(&moov, holder.data_start(), holder.end)?.0 {
                if &c.typ == b"meta" {
                    metas.push(c);
                } else if &c.typ == b"udta" {
                    metas.extend(
                        parse_boxes(&moov, c.data_start(), c.end)?
                            .0
                            .into_iter()
                            .filter(|m| &m.typ == b"meta"),
                    );
                }
            }
        }
        if metas.iter().any(|m| meta_has_items(&moov, m)) {
            blocker = Some("meta items located by file offset (iloc)".to_string());
        }
        for b in top.iter().filter(|b| &b.typ == b"meta") {
            if b.end - b.start > MAX_META {
                return Err(ContainerError::unsupported(
                    "a top-level meta box larger than 64 MiB",
                ));
            }
            let bytes = input.read_vec(b.start, b.end - b.start, "meta box")?;
            let r = BoxRef {
                typ: *b"meta",
                start: 0,
                header_len: b.header_len as usize,
                end: bytes.len(),
                large: false,
            };
            if meta_has_items(&bytes, &r) {
                blocker = Some("meta items located by file offset (iloc)".to_string());
            }
        }
        let tracks = traks
            .iter()
            .map(|t| parse_track(&moov, t))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mp4 {
            file_len: input.len(),
            top,
            moov_index,
            moov,
            tracks,
            blocker,
        })
    }

    fn video_index(&self) -> Result<usize> {
        let i = self
            .tracks
            .iter()
            .position(|t| &t.handler == b"vide")
            .ok_or(ContainerError::NoVideoTrack)?;
        let t = &self.tracks[i];
        if t.entry_type == Some(*b"encv") {
            return Err(ContainerError::unsupported("encrypted video samples (encv)"));
        }
        if t.external {
            return Err(ContainerError::unsupported(
                "video samples stored in another file (data reference)",
            ));
        }
        Ok(i)
    }

    pub fn video_track(&self) -> Result<VideoTrack> {
        let t = &self.tracks[self.video_index()?];
        let samples = t.samples(self.file_len)?;
        if let Some(s) = samples
            .iter()
            .find(|s| s.offset.checked_add(s.size).is_none_or(|e| e > self.file_len))
        {
            return Err(ContainerError::malformed(format!(
                "a video sample at {} ({} bytes) lies past the end of the file",
                s.offset, s.size
            )));
        }
        let (width, height) = if t.entry_size.0 > 0 && t.entry_size.1 > 0 {
            t.entry_size
        } else {
            t.tkhd_size
        };
        let timing = t.presentation_times(samples.len()).map(|pts| TrackTiming {
            timescale: t.timescale,
            pts,
            edit_list: t.edit_list,
            other_random_access: t.sample_groups,
        });
        Ok(VideoTrack {
            kind: ContainerKind::Mp4,
            track_id: u64::from(t.track_id),
            codec: t.entry_type.map(|e| fourcc(&e)).unwrap_or_default(),
            codec_private: t.codec_private.clone(),
            width,
            height,
            samples,
            timing,
        })
    }

    /// Index of the top-level box whose data holds `start..end`.
    fn holder(&self, start: u64, end: u64) -> Option<usize> {
        let i = self.top.partition_point(|b| b.end <= start);
        let b = self.top.get(i)?;
        (b.start + b.header_len <= start && end <= b.end).then_some(i)
    }

    pub fn plan(&self, new: &BTreeMap<usize, NewSample>, limits: Limits) -> Result<Splice> {
        let video = self.video_index()?;
        if let Some(why) = &self.blocker {
            return Err(ContainerError::unsupported(why.clone()));
        }
        if self.tracks.iter().any(|t| t.external) {
            return Err(ContainerError::unsupported(
                "samples stored in another file (data reference)",
            ));
        }
        if self.tracks.iter().any(|t| t.saio) {
            return Err(ContainerError::unsupported(
                "sample auxiliary information at file offsets (saio)",
            ));
        }
        let samples = self.tracks[video].samples(self.file_len)?;

        // Replaced samples, and the mdat boxes whose sizes change.
        let mut edits = Vec::new();
        let mut mdat_delta: BTreeMap<usize, i128> = BTreeMap::new();
        for (&i, n) in new {
            let s = samples[i];
            let end = s.offset + s.size;
            let holder = self
                .holder(s.offset, end)
                .filter(|&h| &self.top[h].typ == b"mdat")
                .ok_or_else(|| {
                    ContainerError::unsupported(format!("video sample {i} is not inside an mdat box"))
                })?;
            *mdat_delta.entry(holder).or_default() += i128::from(n.len) - i128::from(s.size);
            edits.push(Edit {
                start: s.offset,
                end,
                content: EditContent::Replacement {
                    sample: i,
                    len: n.len,
                },
            });
        }
        self.check_overlaps(video, &samples, new)?;
        for (&h, &delta) in &mdat_delta {
            let b = self.top[h];
            if delta == 0 || b.to_eof {
                continue;
            }
            let data_len = u64::try_from(i128::from(b.end - b.start - b.header_len) + delta)
                .map_err(|_| ContainerError::malformed("an mdat box would get a negative size"))?;
            let prev = h.checked_sub(1).map(|p| self.top[p]);
            let edit = if b.header_len == 16 {
                Edit::bytes(b.start, b.start + 16, box_header(b"mdat", data_len, true))
            } else if data_len + 8 <= limits.size32_max {
                Edit::bytes(b.start, b.start + 8, box_header(b"mdat", data_len, false))
            } else if let Some(p) = prev.filter(|p| {
                (&p.typ == b"free" || &p.typ == b"wide") && p.end - p.start == 8 && p.end == b.start
            }) {
                // The 8-byte placeholder muxers leave before mdat becomes the 64-bit header.
                Edit::bytes(p.start, b.start + 8, box_header(b"mdat", data_len, true))
            } else {
                Edit::bytes(b.start, b.start + 8, box_header(b"mdat", data_len, true))
            };
            edits.push(edit);
        }

        // New video sample sizes.
        let video_track = &self.tracks[video];
        let sizes_change = new.iter().any(|(&i, n)| n.len != samples[i].size);
        let mut replacements: HashMap<usize, Vec<u8>> = HashMap::new();
        if sizes_change {
            let size_box = video_track
                .size_box
                .ok_or_else(|| ContainerError::malformed("video track without a sample size table"))?;
            let vf: [u8; 4] = if &size_box.typ == b"stsz" {
                size_box.payload(&self.moov)[..4].try_into().unwrap_or_default()
            } else {
                [0; 4]
            };
            let mut payload = Vec::with_capacity(12 + 4 * samples.len());
            payload.extend_from_slice(&vf);
            payload.extend_from_slice(&0u32.to_be_bytes());
            payload.extend_from_slice(&(samples.len() as u32).to_be_bytes());
            for (i, s) in samples.iter().enumerate() {
                let size = new.get(&i).map_or(s.size, |n| n.len);
                payload.extend_from_slice(&(size as u32).to_be_bytes());
            }
            let mut b = box_header(b"stsz", payload.len() as u64, false);
            b.extend_from_slice(&payload);
            replacements.insert(size_box.start, b);
        }

        // Fixed point: chunk offsets depend on the moov size when moov precedes the data.
        let mb = self.top[self.moov_index];
        let static_edits = sort_edits(edits)?;
        self.check_protected(&static_edits, mb)?;
        let mut promoted: Vec<bool> = self.tracks.iter().map(|t| t.co64).collect();
        let mut moov_len = mb.end - mb.start;
        let mut new_moov = None;
        for _ in 0..16 {
            let mut spans: Vec<Span> = static_edits.iter().map(Edit::span).collect();
            spans.push(Span {
                start: mb.start,
                end: mb.end,
                new_len: moov_len,
            });
            spans.sort();
            let map = PosMap::new(spans);
            let mut reps = replacements.clone();
            for (t, track) in self.tracks.iter().enumerate() {
                let Some(ob) = track.offset_box else { continue };
                let offsets: Vec<u64> = track.offsets.iter().map(|&o| map.map(o)).collect();
                if offsets.iter().any(|&o| o > limits.offset32_max) {
                    promoted[t] = true;
                }
                if offsets != track.offsets || promoted[t] != track.co64 {
                    reps.insert(ob.start, chunk_offset_box(&self.moov, &ob, &offsets, promoted[t]));
                }
            }
            let moov_ref = BoxRef {
                typ: *b"moov",
                start: 0,
                header_len: mb.header_len as usize,
                end: self.moov.len(),
                large: mb.header_len == 16,
            };
            let mut bytes = Vec::with_capacity(self.moov.len() + 1024);
            rebuild(&self.moov, &moov_ref, &reps, &mut bytes)?;
            let len = bytes.len() as u64;
            new_moov = Some(bytes);
            if len == moov_len {
                break;
            }
            moov_len = len;
            new_moov = None;
        }
        let new_moov = new_moov.ok_or_else(|| ContainerError::unsupported("moov size does not converge"))?;
        let mut edits = static_edits;
        if new_moov != self.moov {
            edits.push(Edit::bytes(mb.start, mb.end, new_moov));
        }
        Splice::from_edits(sort_edits(edits)?, self.file_len)
    }

    /// Chunks must not lie in structures that get rewritten (moov, box headers).
    fn check_protected(&self, edits: &[Edit], moov: TopBox) -> Result<()> {
        let mut protected: Vec<(u64, u64)> = edits
            .iter()
            .filter(|e| matches!(e.content, EditContent::Bytes(_)))
            .map(|e| (e.start, e.end))
            .collect();
        protected.push((moov.start, moov.end));
        protected.sort_unstable();
        for t in &self.tracks {
            for (off, len) in t.chunk_spans().into_iter().filter(|s| s.1 > 0) {
                let end = off.saturating_add(len);
                if end > self.file_len {
                    return Err(ContainerError::malformed(format!(
                        "a chunk at {off} lies past the end of the file"
                    )));
                }
                let i = protected.partition_point(|p| p.1 <= off);
                if protected.get(i).is_some_and(|p| p.0 < end) {
                    return Err(ContainerError::unsupported(format!(
                        "sample data at {off} inside a box header or the moov box"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Replaced samples must not share bytes with any other sample.
    fn check_overlaps(
        &self,
        video: usize,
        samples: &[Sample],
        new: &BTreeMap<usize, NewSample>,
    ) -> Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let mut others: Vec<(u64, u64)> = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            if t != video {
                others.extend(
                    track
                        .chunk_spans()
                        .into_iter()
                        .filter(|s| s.1 > 0)
                        .map(|(o, l)| (o, o.saturating_add(l))),
                );
            }
        }
        others.extend(
            samples
                .iter()
                .enumerate()
                .filter(|(i, s)| s.size > 0 && !new.contains_key(i))
                .map(|(_, s)| (s.offset, s.offset + s.size)),
        );
        others.sort_unstable();
        let mut max_end = Vec::with_capacity(others.len());
        let mut acc = 0u64;
        for &(_, end) in &others {
            acc = acc.max(end);
            max_end.push(acc);
        }
        let mut replaced: Vec<(u64, u64)> = new
            .keys()
            .map(|&i| (samples[i].offset, samples[i].offset + samples[i].size))
            .collect();
        replaced.sort_unstable();
        for (k, &(start, end)) in replaced.iter().enumerate() {
            let i = others.partition_point(|o| o.0 < end);
            let clash_other = i > 0 && max_end[i - 1] > start;
            let clash_replaced = k > 0 && replaced[k - 1].1 > start;
            if clash_other || clash_replaced {
                return Err(ContainerError::unsupported(format!(
                    "a replaced video sample at offset {start} shares bytes with another sample"
                )));
            }
        }
        Ok(())
    }
}

/// `stco` or `co64` with the given offsets, keeping version and flags.
fn chunk_offset_box(buf: &[u8], orig: &BoxRef, offsets: &[u64], co64: bool) -> Vec<u8> {
    let vf: [u8; 4] = orig
        .payload(buf)
        .get(..4)
        .and_then(|v| v.try_into().ok())
        .unwrap_or_default();
    let mut payload = Vec::with_capacity(8 + offsets.len() * if co64 { 8 } else { 4 });
    payload.extend_from_slice(&vf);
    payload.extend_from_slice(&(offsets.len() as u32).to_be_bytes());
    for &o in offsets {
        if co64 {
            payload.extend_from_slice(&o.to_be_bytes());
        } else {
            payload.extend_from_slice(&(o as u32).to_be_bytes());
        }
    }
    let mut out = box_header(if co64 { b"co64" } else { b"stco" }, payload.len() as u64, false);
    out.extend_from_slice(&payload);
    out
}

/// Writes box `b` with the boxes in `reps` (by start) replaced, rebuilding
/// only the containers on their paths.
fn rebuild(buf: &[u8], b: &BoxRef, reps: &HashMap<usize, Vec<u8>>, out: &mut Vec<u8>) -> Result<()> {
    if let Some(new) = reps.get(&b.start) {
        out.extend_from_slice(new);
        return Ok(());
    }
    let touched = reps.keys().any(|&k| k > b.start && k < b.end);
    if !touched || !PATH_CONTAINERS.contains(&&b.typ) {
        out.extend_from_slice(&buf[b.start..b.end]);
        return Ok(());
    }
    let (children, trailer) = parse_boxes(buf, b.data_start(), b.end)?;
    let mut content = Vec::with_capacity(b.end - b.start);
    for c in &children {
        rebuild(buf, c, reps, &mut content)?;
    }
    content.extend_from_slice(&buf[trailer..b.end]);
    out.extend_from_slice(&box_header(&b.typ, content.len() as u64, b.large));
    out.extend_from_slice(&content);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(typ: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = box_header(typ, payload.len() as u64, false);
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn box_headers_switch_to_largesize() {
        assert_eq!(
            box_header(b"mdat", 10, false),
            [0, 0, 0, 18, b'm', b'd', b'a', b't']
        );
        let h = box_header(b"mdat", 10, true);
        assert_eq!(h.len(), 16);
        assert_eq!(be64(&h, 8).unwrap(), 26);
        let h = box_header(b"mdat", u64::from(u32::MAX), false);
        assert_eq!(be32(&h, 0).unwrap(), 1);
        assert_eq!(be64(&h, 8).unwrap(), u64::from(u32::MAX) + 16);
    }

    #[test]
    fn chunk_offsets_promote_to_co64() {
        let orig = mk(b"stco", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9]);
        let (boxes, _) = parse_boxes(&orig, 0, orig.len()).unwrap();
        let b = chunk_offset_box(&orig, &boxes[0], &[9], false);
        assert_eq!(b, orig);
        let b = chunk_offset_box(&orig, &boxes[0], &[u64::from(u32::MAX) + 1], true);
        assert_eq!(&b[4..8], b"co64");
        assert_eq!(be64(&b, 16).unwrap(), u64::from(u32::MAX) + 1);
        assert_eq!(b.len(), 24);
    }

    #[test]
    fn stsc_expands_to_chunks() {
        assert_eq!(chunk_samples(&[(1, 3), (3, 1)], 4, 8).unwrap(), vec![3, 3, 1, 1]);
        assert_eq!(chunk_samples(&[(1, 3)], 4, 10).unwrap(), vec![3, 3, 3, 1]);
        assert!(chunk_samples(&[(1, 1)], 2, 3).is_err());
        assert!(chunk_samples(&[(2, 1), (1, 1)], 2, 2).is_err());
        assert!(chunk_samples(&[(0, 1)], 2, 2).is_err());
        // Absurd per-chunk counts are bounded by the sample count.
        assert_eq!(chunk_samples(&[(1, u32::MAX)], 2, 5).unwrap(), vec![5, 0]);
    }

    #[test]
    fn parse_boxes_keeps_trailers_and_rejects_oversized_children() {
        let mut buf = mk(b"free", &[1, 2]);
        buf.extend_from_slice(&[0, 0, 0, 0]);
        let (boxes, trailer) = parse_boxes(&buf, 0, buf.len()).unwrap();
        assert_eq!(boxes.len(), 1);
        assert_eq!(trailer, 10);
        let bad = [0, 0, 0, 50, b'f', b'r', b'e', b'e', 0, 0];
        assert!(parse_boxes(&bad, 0, bad.len()).is_err());
        let bad = [0, 0, 0, 4, b'f', b'r', b'e', b'e', 0, 0];
        assert!(parse_boxes(&bad, 0, bad.len()).is_err());
    }

    #[test]
    fn rebuild_rewrites_only_the_path() {
        // moov { udta { x }, trak { mdia { minf { stbl { stco } } } } }
        let stco = mk(b"stco", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9]);
        let stbl = mk(b"stbl", &stco);
        let minf = mk(b"minf", &stbl);
        let mdia = mk(b"mdia", &minf);
        let trak = mk(b"trak", &mdia);
        let mut content = mk(b"udta", b"abc");
        content.extend_from_slice(&trak);
        let moov = mk(b"moov", &content);
        let root = BoxRef {
            typ: *b"moov",
            start: 0,
            header_len: 8,
            end: moov.len(),
            large: false,
        };
        let mut out = Vec::new();
        rebuild(&moov, &root, &HashMap::new(), &mut out).unwrap();
        assert_eq!(out, moov);
        let stco_at = moov.len() - stco.len();
        let (b, _) = parse_boxes(&moov, stco_at, moov.len()).unwrap();
        let mut reps = HashMap::new();
        reps.insert(stco_at, chunk_offset_box(&moov, &b[0], &[1 << 33], true));
        let mut out = Vec::new();
        rebuild(&moov, &root, &reps, &mut out).unwrap();
        assert_eq!(out.len(), moov.len() + 4);
        assert_eq!(be32(&out, 0).unwrap() as usize, out.len());
        assert_eq!(&out[8..19], &moov[8..19]);
    }
}
