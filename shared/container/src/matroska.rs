//! Matroska and WebM.
//!
//! A Matroska file is one Segment holding level-1 elements: SeekHead (where
//! the other level-1 elements are), Info, Tracks, Clusters (the frames, in
//! SimpleBlocks or BlockGroups), Cues (where keyframes are), Tags, Chapters,
//! Attachments. Positions are stored relative to the Segment's data start;
//! CueRelativePosition is relative to its Cluster's data start.
//!
//! Replacing frames changes the size of their blocks (and BlockGroups) and
//! Clusters, which moves every later element: so the Cues, the SeekHeads, the
//! Segment size, and the rare Cluster Position/PrevSize fields are patched,
//! and every rewritten master that carries a CRC-32 gets it recomputed.
//! Growth of a SeekHead or Cues is taken from a directly following Void when
//! there is room (muxers reserve one for this), so the rest of the file does
//! not move. Patched positions can need wider integers, which moves things
//! again, so planning iterates to a fixed point (widths only ever grow, so it
//! ends). Everything else, including audio, subtitles, attachments and
//! unknown elements, is copied byte for byte.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};

use crate::ebml::{self, Node, Patcher};
use crate::error::{ContainerError, Result};
use crate::input::Input;
use crate::splice::{sort_edits, Edit, EditContent, PosMap, Span, Splice};
use crate::{ContainerKind, NewSample, Sample, VideoTrack};

/// Largest SeekHead or Cues loaded into memory.
const MAX_INDEX: u64 = 256 << 20;
/// Largest Tracks element loaded into memory.
const MAX_TRACKS: u64 = 64 << 20;
/// Passes of the position fixed point before giving up.
const MAX_PASSES: usize = 32;

/// An element of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Element {
    id: u32,
    start: u64,
    header_len: u64,
    size_len: usize,
    end: u64,
    /// Written with the reserved "unknown size".
    unknown: bool,
}

impl Element {
    fn data_start(&self) -> u64 {
        self.start + self.header_len
    }

    fn data_len(&self) -> u64 {
        self.end - self.data_start()
    }
}

/// Reads the element header at `pos`; an unknown size extends to `limit`.
fn element_at<R: Read + Seek>(input: &mut Input<R>, pos: u64, limit: u64) -> Result<Element> {
    let head = input.peek(pos, 12)?;
    let avail = (limit - pos).min(head.len() as u64) as usize;
    let h = ebml::parse_header(&head[..avail])?.ok_or_else(|| {
        ContainerError::malformed(format!("element header at {pos} is cut off (truncated file?)"))
    })?;
    let data_start = pos + h.len() as u64;
    let (end, unknown) = match h.size {
        None => (limit, true),
        Some(size) => match data_start.checked_add(size).filter(|&e| e <= limit) {
            Some(end) => (end, false),
            None => {
                return Err(ContainerError::malformed(format!(
                    "element 0x{:X} at {pos} ({size} bytes) extends past its parent or the file (truncated?)",
                    h.id
                )))
            }
        },
    };
    Ok(Element {
        id: h.id,
        start: pos,
        header_len: h.len() as u64,
        size_len: h.size_len,
        end,
        unknown,
    })
}

fn is_cluster_child(id: u32) -> bool {
    matches!(
        id,
        ebml::TIMESTAMP
            | ebml::SILENT_TRACKS
            | ebml::POSITION
            | ebml::PREV_SIZE
            | ebml::SIMPLE_BLOCK
            | ebml::BLOCK_GROUP
            | ebml::ENCRYPTED_BLOCK
            | ebml::CRC32
            | ebml::VOID
    )
}

/// One video frame (the whole data of a non-laced block).
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The BlockGroup holding the Block, if any.
    group: Option<Element>,
    /// The SimpleBlock or Block.
    block: Element,
    offset: u64,
    size: u64,
    keyframe: bool,
}

/// An unsigned-integer element and its value.
#[derive(Debug, Clone, Copy)]
struct UintField {
    el: Element,
    value: u64,
}

#[derive(Debug, Clone)]
struct Cluster {
    el: Element,
    crc: Option<Element>,
    position: Option<UintField>,
    prev_size: Option<UintField>,
    frames: Vec<Frame>,
}

/// A SeekHead or Cues element, in memory.
#[derive(Debug, Clone)]
struct Index {
    el: Element,
    bytes: Vec<u8>,
    root: Node,
    /// Its position in `Mkv::level1`.
    level1: usize,
}

#[derive(Debug, Clone, Default)]
struct VideoInfo {
    number: u64,
    codec: String,
    private: Vec<u8>,
    width: u32,
    height: u32,
    encoded: bool,
}

/// A parsed Matroska/WebM file.
pub(crate) struct Mkv {
    file_len: u64,
    segment: Element,
    level1: Vec<Element>,
    clusters: Vec<Cluster>,
    seek_heads: Vec<Index>,
    cues: Vec<Index>,
    video: Option<VideoInfo>,
    /// Cluster and frame of each video sample.
    sample_loc: Vec<(usize, usize)>,
}

fn read_uint_at<R: Read + Seek>(input: &mut Input<R>, el: &Element) -> Result<u64> {
    if el.data_len() > 8 {
        return Err(ContainerError::malformed(format!(
            "integer element 0x{:X} is longer than 8 bytes",
            el.id
        )));
    }
    let data = input.peek(el.data_start(), el.data_len() as usize)?;
    if data.len() as u64 != el.data_len() {
        return Err(ContainerError::malformed("integer element is cut off"));
    }
    ebml::read_uint(data)
}

fn load_index<R: Read + Seek>(input: &mut Input<R>, el: Element, level1: usize) -> Result<Index> {
    if el.end - el.start > MAX_INDEX {
        return Err(ContainerError::unsupported(
            "a SeekHead or Cues element larger than 256 MiB",
        ));
    }
    let bytes = input.read_vec(el.start, el.end - el.start, "index element")?;
    let is_master = |id| {
        matches!(
            id,
            ebml::SEEK_HEAD
                | ebml::SEEK
                | ebml::CUES
                | ebml::CUE_POINT
                | ebml::CUE_TRACK_POSITIONS
                | ebml::CUE_REFERENCE
        )
    };
    let mut nodes = ebml::parse_nodes(&bytes, 0, bytes.len(), &is_master)?;
    let root = nodes
        .pop()
        .ok_or_else(|| ContainerError::malformed("empty index element"))?;
    Ok(Index {
        el,
        bytes,
        root,
        level1,
    })
}

fn parse_tracks(bytes: &[u8]) -> Result<Option<VideoInfo>> {
    let is_master = |id| matches!(id, ebml::TRACKS | ebml::TRACK_ENTRY | ebml::VIDEO);
    let nodes = ebml::parse_nodes(bytes, 0, bytes.len(), &is_master)?;
    let Some(tracks) = nodes.first() else {
        return Ok(None);
    };
    for entry in tracks.children.iter().filter(|n| n.id == ebml::TRACK_ENTRY) {
        let uint = |id| {
            entry
                .child(id)
                .map(|n| ebml::read_uint(n.data(bytes)))
                .transpose()
        };
        if uint(ebml::TRACK_TYPE)? != Some(1) {
            continue;
        }
        let number = uint(ebml::TRACK_NUMBER)?
            .ok_or_else(|| ContainerError::malformed("video track without TrackNumber"))?;
        let codec = entry
            .child(ebml::CODEC_ID)
            .map(|n| {
                String::from_utf8_lossy(n.data(bytes))
                    .trim_end_matches('\0')
                    .to_string()
            })
            .unwrap_or_default();
        let private = entry
            .child(ebml::CODEC_PRIVATE)
            .map(|n| n.data(bytes).to_vec())
            .unwrap_or_default();
        let (mut width, mut height) = (0, 0);
        if let Some(video) = entry.child(ebml::VIDEO) {
            let dim = |id| -> Result<u32> {
                Ok(video
                    .child(id)
                    .map(|n| ebml::read_uint(n.data(bytes)))
                    .transpose()?
                    .unwrap_or(0)
                    .min(u64::from(u32::MAX)) as u32)
            };
            width = dim(ebml::PIXEL_WIDTH)?;
            height = dim(ebml::PIXEL_HEIGHT)?;
        }
        let encoded = entry
            .child(ebml::CONTENT_ENCODINGS)
            .is_some_and(|n| n.end > n.start + n.header_len);
        return Ok(Some(VideoInfo {
            number,
            codec,
            private,
            width,
            height,
            encoded,
        }));
    }
    Ok(None)
}

/// Reads the block header of `block`; `Some(frame)` if it belongs to `track`.
fn parse_block<R: Read + Seek>(
    input: &mut Input<R>,
    block: Element,
    group: Option<(Element, bool)>,
    track: u64,
) -> Result<Option<Frame>> {
    let head = input.peek(block.data_start(), 12)?;
    let (number, vlen) = ebml::read_vint(head)
        .ok_or_else(|| ContainerError::malformed(format!("invalid block header at {}", block.start)))?;
    if block.data_len() < vlen as u64 + 3 || head.len() < vlen + 3 {
        return Err(ContainerError::malformed(format!(
            "block at {} is too short",
            block.start
        )));
    }
    if number != track {
        return Ok(None);
    }
    let flags = head[vlen + 2];
    if flags & 0x06 != 0 {
        return Err(ContainerError::unsupported("laced video frames"));
    }
    let keyframe = match group {
        None => flags & 0x80 != 0,
        Some((_, has_reference)) => !has_reference,
    };
    let offset = block.data_start() + vlen as u64 + 3;
    Ok(Some(Frame {
        group: group.map(|g| g.0),
        block,
        offset,
        size: block.end - offset,
        keyframe,
    }))
}

fn scan_cluster<R: Read + Seek>(input: &mut Input<R>, mut el: Element, track: u64) -> Result<Cluster> {
    let mut c = Cluster {
        el,
        crc: None,
        position: None,
        prev_size: None,
        frames: Vec::new(),
    };
    let mut pos = el.data_start();
    while pos < el.end {
        let child = element_at(input, pos, el.end)?;
        if el.unknown && !is_cluster_child(child.id) {
            break;
        }
        if child.unknown {
            return Err(ContainerError::malformed(format!(
                "unknown-size element 0x{:X} in a Cluster",
                child.id
            )));
        }
        match child.id {
            ebml::CRC32 if pos == el.data_start() && child.data_len() == 4 => c.crc = Some(child),
            ebml::POSITION => {
                c.position = Some(UintField {
                    el: child,
                    value: read_uint_at(input, &child)?,
                })
            }
            ebml::PREV_SIZE => {
                c.prev_size = Some(UintField {
                    el: child,
                    value: read_uint_at(input, &child)?,
                })
            }
            ebml::SIMPLE_BLOCK => c.frames.extend(parse_block(input, child, None, track)?),
            ebml::BLOCK_GROUP => {
                let mut block = None;
                let mut has_reference = false;
                let mut p = child.data_start();
                while p < child.end {
                    let g = element_at(input, p, child.end)?;
                    if g.unknown {
                        return Err(ContainerError::malformed("unknown-size element in a BlockGroup"));
                    }
                    match g.id {
                        ebml::BLOCK if block.is_none() => block = Some(g),
                        ebml::REFERENCE_BLOCK => has_reference = true,
                        _ => {}
                    }
                    p = g.end;
                }
                if let Some(b) = block {
                    c.frames
                        .extend(parse_block(input, b, Some((child, has_reference)), track)?);
                }
            }
            _ => {}
        }
        pos = child.end;
    }
    if el.unknown {
        el.end = pos;
        c.el = el;
    }
    Ok(c)
}

impl Mkv {
    pub fn read<R: Read + Seek>(input: &mut Input<R>) -> Result<Mkv> {
        let len = input.len();
        let header = element_at(input, 0, len)?;
        if header.id != ebml::EBML || header.unknown {
            return Err(ContainerError::malformed("no EBML header"));
        }
        if header.data_len() > 4096 {
            return Err(ContainerError::malformed("EBML header is too large"));
        }
        let bytes = input.read_vec(header.data_start(), header.data_len(), "EBML header")?;
        let nodes = ebml::parse_nodes(&bytes, 0, bytes.len(), &|_| false)?;
        let doc_type = nodes
            .iter()
            .find(|n| n.id == ebml::DOC_TYPE)
            .map(|n| n.data(&bytes))
            .unwrap_or(b"matroska");
        let doc_type = String::from_utf8_lossy(doc_type)
            .trim_end_matches('\0')
            .to_string();
        if doc_type != "matroska" && doc_type != "webm" {
            return Err(ContainerError::unsupported(format!(
                "EBML document type '{doc_type}'"
            )));
        }

        let mut pos = header.end;
        let mut segment = loop {
            if pos >= len {
                return Err(ContainerError::malformed("no Segment element"));
            }
            let el = element_at(input, pos, len)?;
            if el.id == ebml::SEGMENT {
                break el;
            }
            if el.unknown {
                return Err(ContainerError::malformed(
                    "unknown-size element before the Segment",
                ));
            }
            pos = el.end;
        };

        let mut mkv = Mkv {
            file_len: len,
            segment,
            level1: Vec::new(),
            clusters: Vec::new(),
            seek_heads: Vec::new(),
            cues: Vec::new(),
            video: None,
            sample_loc: Vec::new(),
        };
        let mut tracks_seen = false;
        let mut seg_end = segment.end;
        let mut pos = segment.data_start();
        while pos < seg_end {
            let mut el = element_at(input, pos, seg_end)?;
            if segment.unknown && el.id == ebml::EBML {
                // A second Segment follows (chained file): copied as it is.
                seg_end = pos;
                break;
            }
            if el.unknown && el.id != ebml::CLUSTER {
                return Err(ContainerError::unsupported(format!(
                    "unknown-size level-1 element 0x{:X}",
                    el.id
                )));
            }
            let index = mkv.level1.len();
            match el.id {
                ebml::CLUSTER => {
                    if !tracks_seen {
                        return Err(ContainerError::unsupported("Clusters before the Tracks element"));
                    }
                    let number = mkv.video.as_ref().map_or(0, |v| v.number);
                    let cluster = scan_cluster(input, el, number)?;
                    el = cluster.el;
                    let ci = mkv.clusters.len();
                    mkv.sample_loc.extend((0..cluster.frames.len()).map(|f| (ci, f)));
                    mkv.clusters.push(cluster);
                }
                ebml::TRACKS if !tracks_seen => {
                    if el.data_len() > MAX_TRACKS {
                        return Err(ContainerError::unsupported("a Tracks element larger than 64 MiB"));
                    }
                    let bytes = input.read_vec(el.start, el.end - el.start, "Tracks")?;
                    mkv.video = parse_tracks(&bytes)?;
                    tracks_seen = true;
                }
                ebml::SEEK_HEAD => mkv.seek_heads.push(load_index(input, el, index)?),
                ebml::CUES => mkv.cues.push(load_index(input, el, index)?),
                _ => {}
            }
            mkv.level1.push(el);
            pos = el.end;
        }
        if segment.unknown {
            segment.end = seg_end.min(pos);
            mkv.segment = segment;
        }
        Ok(mkv)
    }

    pub fn video_track(&self) -> Result<VideoTrack> {
        let v = self.video.as_ref().ok_or(ContainerError::NoVideoTrack)?;
        if v.encoded {
            return Err(ContainerError::unsupported(
                "a video track with ContentEncodings (compression or encryption)",
            ));
        }
        let samples = self
            .sample_loc
            .iter()
            .map(|&(c, f)| {
                let f = &self.clusters[c].frames[f];
                Sample {
                    offset: f.offset,
                    size: f.size,
                    keyframe: f.keyframe,
                }
            })
            .collect();
        Ok(VideoTrack {
            kind: ContainerKind::Matroska,
            track_id: v.number,
            codec: v.codec.clone(),
            codec_private: v.private.clone(),
            width: v.width,
            height: v.height,
            samples,
            timing: None,
        })
    }

    fn cluster_at(&self, pos: u64) -> Option<&Cluster> {
        let i = self.clusters.partition_point(|c| c.el.start < pos);
        self.clusters.get(i).filter(|c| c.el.start == pos)
    }

    pub fn plan<R: Read + Seek>(
        &self,
        input: &mut Input<R>,
        new: &BTreeMap<usize, NewSample>,
    ) -> Result<Splice> {
        let mut by_cluster: BTreeMap<usize, Vec<(usize, usize, u64)>> = BTreeMap::new();
        for (&sample, n) in new {
            let (c, f) = self.sample_loc[sample];
            by_cluster.entry(c).or_default().push((f, sample, n.len));
        }
        let mut widths: HashMap<u64, usize> = HashMap::new();
        let mut map = PosMap::default();
        let mut previous: Option<Vec<Span>> = None;
        let mut converged = None;
        for _ in 0..MAX_PASSES {
            let edits = sort_edits(self.edits(&map, &by_cluster, &mut widths)?)?;
            let spans: Vec<Span> = edits.iter().map(Edit::span).collect();
            if previous.as_ref() == Some(&spans) {
                converged = Some(edits);
                break;
            }
            map = PosMap::new(spans.clone());
            previous = Some(spans);
        }
        let mut edits =
            converged.ok_or_else(|| ContainerError::unsupported("element positions that do not converge"))?;
        let crcs = self.crc_edits(input, &edits, new)?;
        edits.extend(crcs);
        Splice::from_edits(sort_edits(edits)?, self.file_len)
    }

    /// All edits for one pass, with positions taken from `map`.
    fn edits(
        &self,
        map: &PosMap,
        by_cluster: &BTreeMap<usize, Vec<(usize, usize, u64)>>,
        widths: &mut HashMap<u64, usize>,
    ) -> Result<Vec<Edit>> {
        let ds = self.segment.data_start();
        let base = map.map(ds);
        let rel = |p: u64| map.map(p).saturating_sub(base);
        let mut edits = Vec::new();

        for (ci, c) in self.clusters.iter().enumerate() {
            let replaced = by_cluster.get(&ci);
            if replaced.is_none() && c.position.is_none() && c.prev_size.is_none() {
                continue;
            }
            let mut delta = 0i128;
            for &(fi, sample, len) in replaced.into_iter().flatten() {
                let f = &c.frames[fi];
                edits.push(Edit {
                    start: f.offset,
                    end: f.offset + f.size,
                    content: EditContent::Replacement { sample, len },
                });
                let mut d = i128::from(len) - i128::from(f.size);
                d += resize_header(&f.block, d, widths, &mut edits)?;
                if let Some(g) = &f.group {
                    d += resize_header(g, d, widths, &mut edits)?;
                }
                delta += d;
            }
            if let Some(p) = &c.position {
                delta += patch_uint(p, rel(c.el.start), widths, &mut edits)?;
            }
            if let (Some(p), Some(prev)) = (&c.prev_size, ci.checked_sub(1).map(|i| &self.clusters[i].el)) {
                let new_total = i128::from(map.map(prev.end)) - i128::from(map.map(prev.start));
                let value = i128::from(p.value) + new_total - i128::from(prev.end - prev.start);
                delta += patch_uint(p, value.max(0) as u64, widths, &mut edits)?;
            }
            resize_header(&c.el, delta, widths, &mut edits)?;
        }

        for ix in &self.seek_heads {
            let mut values = HashMap::new();
            for seek in ix.root.children.iter().filter(|n| n.id == ebml::SEEK) {
                if let Some(p) = seek.child(ebml::SEEK_POSITION) {
                    let old = ebml::read_uint(p.data(&ix.bytes))?;
                    values.insert(ix.el.start + p.start as u64, rel(ds.saturating_add(old)));
                }
            }
            self.index_edit(ix, &values, widths, &mut edits)?;
        }

        for ix in &self.cues {
            let mut values = HashMap::new();
            let key = |n: &Node| ix.el.start + n.start as u64;
            let uint = |n: &Node| ebml::read_uint(n.data(&ix.bytes));
            for point in ix.root.children.iter().filter(|n| n.id == ebml::CUE_POINT) {
                for tp in point
                    .children
                    .iter()
                    .filter(|n| n.id == ebml::CUE_TRACK_POSITIONS)
                {
                    let mut cluster_pos = None;
                    for n in &tp.children {
                        match n.id {
                            ebml::CUE_CLUSTER_POSITION => {
                                let old = uint(n)?;
                                cluster_pos = Some(old);
                                values.insert(key(n), rel(ds.saturating_add(old)));
                            }
                            ebml::CUE_CODEC_STATE => {
                                let old = uint(n)?;
                                if old != 0 {
                                    values.insert(key(n), rel(ds.saturating_add(old)));
                                }
                            }
                            ebml::CUE_REFERENCE => {
                                for r in &n.children {
                                    let old = uint(r)?;
                                    let is_pos =
                                        r.id == ebml::CUE_REF_CLUSTER || r.id == ebml::CUE_REF_CODEC_STATE;
                                    if is_pos && old != 0 {
                                        values.insert(key(r), rel(ds.saturating_add(old)));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    let cluster = cluster_pos.and_then(|p| self.cluster_at(ds.saturating_add(p)));
                    if let (Some(n), Some(c)) = (tp.child(ebml::CUE_RELATIVE_POSITION), cluster) {
                        let old = uint(n)?;
                        let at = c.el.data_start().saturating_add(old);
                        values.insert(key(n), map.map(at).saturating_sub(map.map(c.el.data_start())));
                    }
                }
            }
            self.index_edit(ix, &values, widths, &mut edits)?;
        }

        let seg = &self.segment;
        if !seg.unknown {
            let new_len = i128::from(map.map(seg.end)) - i128::from(map.map(seg.data_start()));
            resize_header(seg, new_len - i128::from(seg.data_len()), widths, &mut edits)?;
        }
        Ok(edits)
    }

    /// The edit that rewrites a SeekHead or Cues, using the room of a
    /// directly following Void when it has to grow.
    fn index_edit(
        &self,
        ix: &Index,
        values: &HashMap<u64, u64>,
        widths: &mut HashMap<u64, usize>,
        edits: &mut Vec<Edit>,
    ) -> Result<()> {
        let emit = |widths: &mut HashMap<u64, usize>| -> Result<Vec<u8>> {
            let mut out = Vec::with_capacity(ix.bytes.len() + 64);
            Patcher {
                buf: &ix.bytes,
                base: ix.el.start,
                values,
                widths,
            }
            .emit(&ix.root, &mut out)?;
            Ok(out)
        };
        let mut out = emit(widths)?;
        if out == ix.bytes {
            return Ok(());
        }
        let void = self
            .level1
            .get(ix.level1 + 1)
            .filter(|v| v.id == ebml::VOID && v.start == ix.el.end && !v.unknown);
        if let Some(v) = void {
            let room = (v.end - ix.el.start) as usize;
            if out.len() + 1 == room {
                // One byte too few for a Void: write the size field one byte wider instead.
                let width = widths.get(&ix.el.start).copied().unwrap_or(ix.root.size_len);
                if width < 8 {
                    widths.insert(ix.el.start, width + 1);
                    out = emit(widths)?;
                }
            }
            if out.len() == room {
                edits.push(Edit::bytes(ix.el.start, v.end, out));
                return Ok(());
            }
            if out.len() + 2 <= room {
                let pad = room - out.len();
                out.extend_from_slice(&ebml::void(pad));
                edits.push(Edit::bytes(ix.el.start, v.end, out));
                return Ok(());
            }
        }
        edits.push(Edit::bytes(ix.el.start, ix.el.end, out));
        Ok(())
    }

    /// New CRC-32 elements for Clusters whose content changed.
    fn crc_edits<R: Read + Seek>(
        &self,
        input: &mut Input<R>,
        edits: &[Edit],
        new: &BTreeMap<usize, NewSample>,
    ) -> Result<Vec<Edit>> {
        let mut out = Vec::new();
        for c in &self.clusters {
            let Some(crc) = c.crc else { continue };
            let first = edits.partition_point(|e| e.start < crc.end);
            let inside: Vec<&Edit> = edits[first..].iter().take_while(|e| e.start < c.el.end).collect();
            if inside.is_empty() {
                continue;
            }
            let mut hasher = crc32fast::Hasher::new();
            let mut pos = crc.end;
            let mut known = true;
            for e in inside {
                if e.start > pos {
                    input.stream(pos, e.start - pos, |b| hasher.update(b))?;
                }
                match &e.content {
                    EditContent::Bytes(b) => hasher.update(b),
                    EditContent::Replacement { sample, len } => match new.get(sample).and_then(|n| n.crc32) {
                        Some(value) => hasher.combine(&crc32fast::Hasher::new_with_initial_len(value, *len)),
                        None => {
                            known = false;
                            break;
                        }
                    },
                }
                pos = e.end;
            }
            let bytes = if known {
                input.stream(pos, c.el.end - pos, |b| hasher.update(b))?;
                let mut b = input.peek(crc.start, crc.header_len as usize)?.to_vec();
                b.extend_from_slice(&hasher.finalize().to_le_bytes());
                b
            } else {
                ebml::void((crc.end - crc.start) as usize)
            };
            out.push(Edit::bytes(crc.start, crc.end, bytes));
        }
        Ok(out)
    }
}

/// Adds the edit giving element `el` a data size changed by `delta`; returns
/// how much its header grew.
fn resize_header(
    el: &Element,
    delta: i128,
    widths: &mut HashMap<u64, usize>,
    edits: &mut Vec<Edit>,
) -> Result<i128> {
    if el.unknown {
        return Ok(0);
    }
    let size = u64::try_from(i128::from(el.data_len()) + delta)
        .map_err(|_| ContainerError::malformed("an element would get a negative size"))?;
    let sticky = widths.get(&el.start).copied().unwrap_or(0);
    let width = el.size_len.max(ebml::size_width(size)).max(sticky);
    if width == el.size_len && size == el.data_len() {
        return Ok(0);
    }
    if width > 8 {
        return Err(ContainerError::invalid(
            "a Matroska element would exceed the largest EBML size",
        ));
    }
    widths.insert(el.start, width);
    let bytes = ebml::header_bytes(el.id, size, width)?;
    let grown = bytes.len() as i128 - i128::from(el.header_len);
    edits.push(Edit::bytes(el.start, el.data_start(), bytes));
    Ok(grown)
}

/// Adds the edit giving integer element `field` the value `value`; returns
/// how much the element grew.
fn patch_uint(
    field: &UintField,
    value: u64,
    widths: &mut HashMap<u64, usize>,
    edits: &mut Vec<Edit>,
) -> Result<i128> {
    let el = &field.el;
    let old_len = el.data_len() as usize;
    let sticky = widths.get(&el.start).copied().unwrap_or(0);
    let width = old_len.max(ebml::uint_width(value)).max(sticky);
    if width == old_len && value == field.value {
        return Ok(0);
    }
    widths.insert(el.start, width);
    let mut bytes = ebml::header_bytes(el.id, width as u64, el.size_len)?;
    bytes.extend_from_slice(&value.to_be_bytes()[8 - width..]);
    let grown = bytes.len() as i128 - (el.end - el.start) as i128;
    edits.push(Edit::bytes(el.start, el.end, bytes));
    Ok(grown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn el(id: u32, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        ebml::put_id(&mut out, id);
        ebml::put_size(
            &mut out,
            content.len() as u64,
            ebml::size_width(content.len() as u64),
        )
        .unwrap();
        out.extend_from_slice(content);
        out
    }

    fn uint4(id: u32, v: u64) -> Vec<u8> {
        el(id, &(v as u32).to_be_bytes())
    }

    fn cluster(position: u64, prev_size: Option<u64>, frame: &[u8], crc: bool) -> Vec<u8> {
        let mut content = el(ebml::TIMESTAMP, &[0]);
        content.extend(uint4(ebml::POSITION, position));
        if let Some(p) = prev_size {
            content.extend(uint4(ebml::PREV_SIZE, p));
        }
        let mut block = vec![0x81, 0, 0, 0x80];
        block.extend_from_slice(frame);
        content.extend(el(ebml::SIMPLE_BLOCK, &block));
        if crc {
            let mut with = el(ebml::CRC32, &crc32fast::hash(&content).to_le_bytes());
            with.extend(content);
            content = with;
        }
        el(ebml::CLUSTER, &content)
    }

    /// A small file with the rarely written Cluster Position and PrevSize
    /// fields, a CRC-32 in the second Cluster and Cues pointing at it.
    fn synthetic() -> Vec<u8> {
        let tracks = el(
            ebml::TRACKS,
            &el(
                ebml::TRACK_ENTRY,
                &[
                    el(ebml::TRACK_NUMBER, &[1]),
                    el(ebml::TRACK_TYPE, &[1]),
                    el(ebml::CODEC_ID, b"V_TEST"),
                ]
                .concat(),
            ),
        );
        let build = |c1_pos: u64, c2_pos: u64, c1_len: u64| {
            let c1 = cluster(c1_pos, None, &[1; 10], false);
            let c2 = cluster(c2_pos, Some(c1_len), &[2; 10], true);
            let cues = el(
                ebml::CUES,
                &el(
                    ebml::CUE_POINT,
                    &[
                        el(0xB3, &[0]),
                        el(
                            ebml::CUE_TRACK_POSITIONS,
                            &[el(0xF7, &[1]), uint4(0xF1, c2_pos)].concat(),
                        ),
                    ]
                    .concat(),
                ),
            );
            let content = [tracks.clone(), c1.clone(), c2, cues].concat();
            let mut file = el(ebml::EBML, &el(ebml::DOC_TYPE, b"matroska"));
            let mut seg = Vec::new();
            ebml::put_id(&mut seg, ebml::SEGMENT);
            ebml::put_size(&mut seg, content.len() as u64, 8).unwrap();
            seg.extend(content);
            file.extend(seg);
            (file, c1.len() as u64)
        };
        let t = tracks.len() as u64;
        let (_, c1_len) = build(0, 0, 0);
        build(t, t + c1_len, c1_len).0
    }

    fn read(data: &[u8]) -> Mkv {
        Mkv::read(&mut Input::new(Cursor::new(data)).unwrap()).unwrap()
    }

    #[test]
    fn position_prev_size_cues_and_crc_follow_a_grown_frame() {
        let src = synthetic();
        let mkv = read(&src);
        assert_eq!(mkv.clusters.len(), 2);
        assert!(mkv.clusters[1].crc.is_some() && mkv.clusters[1].prev_size.is_some());
        let track = mkv.video_track().unwrap();
        assert_eq!(track.samples.len(), 2);

        // Identity.
        let splice = mkv
            .plan(&mut Input::new(Cursor::new(&src)).unwrap(), &BTreeMap::new())
            .unwrap();
        let mut out = Vec::new();
        splice.write_to(&src[..], |_| unreachable!(), &mut out).unwrap();
        assert_eq!(out, src);

        // Frame 0 grows from 10 to 300 bytes: block and Cluster size fields widen.
        let new = BTreeMap::from([(
            0,
            NewSample {
                len: 300,
                crc32: None,
            },
        )]);
        let splice = mkv
            .plan(&mut Input::new(Cursor::new(&src)).unwrap(), &new)
            .unwrap();
        let mut out = Vec::new();
        splice
            .write_to(
                &src[..],
                |_| Ok(Box::new(&[9u8; 300][..]) as Box<dyn Read>),
                &mut out,
            )
            .unwrap();
        assert_eq!(out.len() as u64, splice.len());

        let o = read(&out);
        let ds = o.segment.data_start();
        assert_eq!(o.segment.end, out.len() as u64, "Segment size covers the file");
        let (c1, c2) = (&o.clusters[0], &o.clusters[1]);
        assert_eq!(c1.position.unwrap().value, c1.el.start - ds);
        assert_eq!(c2.position.unwrap().value, c2.el.start - ds);
        assert_eq!(c2.prev_size.unwrap().value, c1.el.end - c1.el.start);
        let crc = c2.crc.unwrap();
        let stored = u32::from_le_bytes(
            out[crc.data_start() as usize..crc.end as usize]
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            stored,
            crc32fast::hash(&out[crc.end as usize..c2.el.end as usize])
        );
        let cue_pos = o.cues[0].root.children[0].children[1].children[1]
            .data(&o.cues[0].bytes)
            .to_vec();
        assert_eq!(ebml::read_uint(&cue_pos).unwrap(), c2.el.start - ds);
        let t = o.video_track().unwrap();
        let s0 = t.samples[0];
        assert_eq!(
            &out[s0.offset as usize..(s0.offset + s0.size) as usize],
            &[9u8; 300][..]
        );
        let s1 = t.samples[1];
        assert_eq!(
            &out[s1.offset as usize..(s1.offset + s1.size) as usize],
            &[2u8; 10][..]
        );
    }

    #[test]
    fn replaced_frame_in_crc_cluster_gets_a_combined_crc_or_a_void() {
        let src = synthetic();
        let mkv = read(&src);
        let rep = [5u8; 40];
        for crc32 in [Some(crc32fast::hash(&rep)), None] {
            let new = BTreeMap::from([(1, NewSample { len: 40, crc32 })]);
            let splice = mkv
                .plan(&mut Input::new(Cursor::new(&src)).unwrap(), &new)
                .unwrap();
            let mut out = Vec::new();
            splice
                .write_to(&src[..], |_| Ok(Box::new(&rep[..]) as Box<dyn Read>), &mut out)
                .unwrap();
            let o = read(&out);
            let c2 = &o.clusters[1];
            match crc32 {
                Some(_) => {
                    let crc = c2.crc.expect("CRC-32 kept");
                    let stored = u32::from_le_bytes(
                        out[crc.data_start() as usize..crc.end as usize]
                            .try_into()
                            .unwrap(),
                    );
                    assert_eq!(
                        stored,
                        crc32fast::hash(&out[crc.end as usize..c2.el.end as usize])
                    );
                }
                None => {
                    assert!(c2.crc.is_none());
                    assert_eq!(out[c2.el.data_start() as usize], 0xEC, "CRC-32 became a Void");
                }
            }
        }
    }
}
