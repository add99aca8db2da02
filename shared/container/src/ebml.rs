//! EBML, the binary format under Matroska and WebM: variable-length integers,
//! element headers, and an in-memory element tree that can be written back
//! with a few unsigned integers changed.
//!
//! Rewriting works by *patching*, not by re-encoding: every element that is
//! not changed is copied byte for byte (so an unchanged file comes out
//! identical, whatever non-minimal encodings its muxer chose), a changed
//! integer keeps its original width when the new value fits, and a master
//! keeps its size field's width when its new size fits. Widths only ever
//! grow ("sticky" widths remembered between passes), which is what makes the
//! position fixed-point iteration in `matroska.rs` terminate.

use std::collections::HashMap;

use crate::error::{ContainerError, Result};

/// The EBML header at the start of the file.
pub(crate) const EBML: u32 = 0x1A45_DFA3;
/// EBML DocType ("matroska", "webm").
pub(crate) const DOC_TYPE: u32 = 0x4282;
/// Segment: everything else lives in it.
pub(crate) const SEGMENT: u32 = 0x1853_8067;
/// SeekHead: index of the level-1 elements.
pub(crate) const SEEK_HEAD: u32 = 0x114D_9B74;
/// Seek entry of a SeekHead.
pub(crate) const SEEK: u32 = 0x4DBB;
/// SeekPosition: position of an element relative to the Segment's data.
pub(crate) const SEEK_POSITION: u32 = 0x53AC;
/// Tracks.
pub(crate) const TRACKS: u32 = 0x1654_AE6B;
/// TrackEntry.
pub(crate) const TRACK_ENTRY: u32 = 0xAE;
/// TrackNumber (used in blocks).
pub(crate) const TRACK_NUMBER: u32 = 0xD7;
/// TrackType (1 = video).
pub(crate) const TRACK_TYPE: u32 = 0x83;
/// CodecID string.
pub(crate) const CODEC_ID: u32 = 0x86;
/// CodecPrivate bytes.
pub(crate) const CODEC_PRIVATE: u32 = 0x63A2;
/// Video settings master.
pub(crate) const VIDEO: u32 = 0xE0;
/// PixelWidth.
pub(crate) const PIXEL_WIDTH: u32 = 0xB0;
/// PixelHeight.
pub(crate) const PIXEL_HEIGHT: u32 = 0xBA;
/// ContentEncodings (compression or encryption of the track's frames).
pub(crate) const CONTENT_ENCODINGS: u32 = 0x6D80;
/// Cluster.
pub(crate) const CLUSTER: u32 = 0x1F43_B675;
/// Cluster Timestamp.
pub(crate) const TIMESTAMP: u32 = 0xE7;
/// Cluster SilentTracks.
pub(crate) const SILENT_TRACKS: u32 = 0x5854;
/// Cluster Position (relative to the Segment's data).
pub(crate) const POSITION: u32 = 0xA7;
/// Cluster PrevSize (size of the previous Cluster).
pub(crate) const PREV_SIZE: u32 = 0xAB;
/// SimpleBlock.
pub(crate) const SIMPLE_BLOCK: u32 = 0xA3;
/// BlockGroup.
pub(crate) const BLOCK_GROUP: u32 = 0xA0;
/// Block inside a BlockGroup.
pub(crate) const BLOCK: u32 = 0xA1;
/// ReferenceBlock: its absence makes a BlockGroup a keyframe.
pub(crate) const REFERENCE_BLOCK: u32 = 0xFB;
/// EncryptedBlock (deprecated).
pub(crate) const ENCRYPTED_BLOCK: u32 = 0xAF;
/// Cues.
pub(crate) const CUES: u32 = 0x1C53_BB6B;
/// CuePoint.
pub(crate) const CUE_POINT: u32 = 0xBB;
/// CueTrackPositions.
pub(crate) const CUE_TRACK_POSITIONS: u32 = 0xB7;
/// CueClusterPosition (relative to the Segment's data).
pub(crate) const CUE_CLUSTER_POSITION: u32 = 0xF1;
/// CueRelativePosition (relative to the Cluster's data).
pub(crate) const CUE_RELATIVE_POSITION: u32 = 0xF0;
/// CueCodecState (relative to the Segment's data, 0 = none).
pub(crate) const CUE_CODEC_STATE: u32 = 0xEA;
/// CueReference.
pub(crate) const CUE_REFERENCE: u32 = 0xDB;
/// CueRefCluster (relative to the Segment's data).
pub(crate) const CUE_REF_CLUSTER: u32 = 0x97;
/// CueRefCodecState (relative to the Segment's data, 0 = none).
pub(crate) const CUE_REF_CODEC_STATE: u32 = 0xEB;
/// Void: padding.
pub(crate) const VOID: u32 = 0xEC;
/// CRC-32 of the rest of the parent's data, little-endian.
pub(crate) const CRC32: u32 = 0xBF;

/// Largest encodable element size (all-ones is reserved for "unknown").
#[cfg(test)]
pub(crate) const MAX_SIZE: u64 = (1 << 56) - 2;

/// A parsed element header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub id: u32,
    pub id_len: usize,
    /// `None` for the reserved "unknown size".
    pub size: Option<u64>,
    pub size_len: usize,
}

impl Header {
    pub fn len(&self) -> usize {
        self.id_len + self.size_len
    }
}

fn vint_len(first: u8) -> Option<usize> {
    (first != 0).then(|| first.leading_zeros() as usize + 1)
}

/// Reads a variable-length integer (length marker removed) at the start of
/// `buf`: its value and length, or `None` if `buf` is too short or invalid.
pub(crate) fn read_vint(buf: &[u8]) -> Option<(u64, usize)> {
    let len = vint_len(*buf.first()?)?;
    let bytes = buf.get(..len)?;
    let first = u64::from(bytes[0] & (0xFFu16 >> len) as u8);
    Some((
        bytes[1..].iter().fold(first, |acc, &b| acc << 8 | u64::from(b)),
        len,
    ))
}

/// Parses the element header at the start of `buf`. `Ok(None)` when `buf` is
/// too short to hold it; `Err` when it is not a valid header.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<Header>> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let id_len = match vint_len(first) {
        Some(n @ 1..=4) => n,
        _ => {
            return Err(ContainerError::malformed(format!(
                "invalid EBML element ID byte 0x{first:02X}"
            )))
        }
    };
    if buf.len() < id_len + 1 {
        return Ok(None);
    }
    let id = buf[..id_len].iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
    let sfirst = buf[id_len];
    let Some(size_len) = vint_len(sfirst) else {
        return Err(ContainerError::malformed(format!(
            "invalid EBML size of element 0x{id:X}"
        )));
    };
    if buf.len() < id_len + size_len {
        return Ok(None);
    }
    let mut size = u64::from(sfirst & (0xFFu16 >> size_len) as u8);
    let mut all_ones = size == u64::from((0xFFu16 >> size_len) as u8);
    for &b in &buf[id_len + 1..id_len + size_len] {
        size = size << 8 | u64::from(b);
        all_ones &= b == 0xFF;
    }
    Ok(Some(Header {
        id,
        id_len,
        size: (!all_ones).then_some(size),
        size_len,
    }))
}

/// Smallest size-field width (1..=8) that holds `size`, or 9 if none does.
pub(crate) fn size_width(size: u64) -> usize {
    (1..=8).find(|&w| size < (1u64 << (7 * w)) - 1).unwrap_or(9)
}

/// Appends `size` as an EBML size field of `width` bytes.
pub(crate) fn put_size(out: &mut Vec<u8>, size: u64, width: usize) -> Result<()> {
    if !(1..=8).contains(&width) || size >= (1u64 << (7 * width)) - 1 {
        return Err(ContainerError::invalid(format!(
            "an EBML element size of {size} bytes is too large"
        )));
    }
    let v = size | 1u64 << (7 * width);
    out.extend_from_slice(&v.to_be_bytes()[8 - width..]);
    Ok(())
}

/// Appends an element ID (IDs keep their length marker, so the minimal
/// big-endian bytes are the encoding).
pub(crate) fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// Bytes needed for an unsigned integer element's value (at least 1).
pub(crate) fn uint_width(v: u64) -> usize {
    (8 - v.leading_zeros() as usize / 8).max(1)
}

/// Reads an unsigned integer element's value.
pub(crate) fn read_uint(data: &[u8]) -> Result<u64> {
    if data.len() > 8 {
        return Err(ContainerError::malformed(
            "an unsigned integer element is longer than 8 bytes",
        ));
    }
    Ok(data.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
}

/// A Void element of exactly `n >= 2` bytes (zero-filled).
pub(crate) fn void(n: usize) -> Vec<u8> {
    debug_assert!(n >= 2);
    let width = if n <= 128 { 1 } else { 8 };
    let mut out = Vec::with_capacity(n);
    put_id(&mut out, VOID);
    // n - 1 - width always fits the chosen width for n >= 2.
    let _ = put_size(&mut out, (n - 1 - width) as u64, width);
    out.resize(n, 0);
    out
}

/// A header followed by `size` bytes, with an explicit size-field width.
pub(crate) fn header_bytes(id: u32, size: u64, width: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(12);
    put_id(&mut out, id);
    put_size(&mut out, size, width)?;
    Ok(out)
}

/// An element of an in-memory buffer. Offsets index that buffer.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub id: u32,
    pub start: usize,
    pub header_len: usize,
    pub size_len: usize,
    pub end: usize,
    /// Children, for elements parsed as masters.
    pub children: Vec<Node>,
    pub master: bool,
}

impl Node {
    pub fn data<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.start + self.header_len..self.end]
    }

    pub fn child(&self, id: u32) -> Option<&Node> {
        self.children.iter().find(|c| c.id == id)
    }
}

/// Parses the elements in `buf[start..end]`; elements for which `is_master`
/// holds are parsed recursively.
pub(crate) fn parse_nodes(
    buf: &[u8],
    start: usize,
    end: usize,
    is_master: &dyn Fn(u32) -> bool,
) -> Result<Vec<Node>> {
    parse_nodes_at(buf, start, end, is_master, 0)
}

fn parse_nodes_at(
    buf: &[u8],
    start: usize,
    end: usize,
    is_master: &dyn Fn(u32) -> bool,
    depth: usize,
) -> Result<Vec<Node>> {
    if depth > 16 {
        return Err(ContainerError::malformed("EBML elements nested too deeply"));
    }
    let mut nodes = Vec::new();
    let mut pos = start;
    while pos < end {
        let Some(h) = parse_header(&buf[pos..end])? else {
            return Err(ContainerError::malformed(
                "an EBML element header is cut off by its parent's end",
            ));
        };
        let Some(size) = h.size else {
            return Err(ContainerError::unsupported(format!(
                "unknown-size EBML element 0x{:X} inside an index",
                h.id
            )));
        };
        let data = pos + h.len();
        let Some(node_end) = usize::try_from(size)
            .ok()
            .and_then(|s| data.checked_add(s))
            .filter(|&e| e <= end)
        else {
            return Err(ContainerError::malformed(format!(
                "EBML element 0x{:X} extends past its parent",
                h.id
            )));
        };
        let master = is_master(h.id);
        let children = if master {
            parse_nodes_at(buf, data, node_end, is_master, depth + 1)?
        } else {
            Vec::new()
        };
        nodes.push(Node {
            id: h.id,
            start: pos,
            header_len: h.len(),
            size_len: h.size_len,
            end: node_end,
            children,
            master,
        });
        pos = node_end;
    }
    Ok(nodes)
}

/// Writes an in-memory element back with some unsigned integers changed.
pub(crate) struct Patcher<'a> {
    /// The buffer the nodes index.
    pub buf: &'a [u8],
    /// File position of `buf[0]`; the keys below are file positions.
    pub base: u64,
    /// New values of unsigned-integer elements, by element start.
    pub values: &'a HashMap<u64, u64>,
    /// Sticky minimum widths (value width for integers, size-field width for
    /// masters), by element start.
    pub widths: &'a mut HashMap<u64, usize>,
}

impl Patcher<'_> {
    /// Appends `node`, patched, to `out`.
    pub fn emit(&mut self, node: &Node, out: &mut Vec<u8>) -> Result<()> {
        let key = self.base + node.start as u64;
        let original = &self.buf[node.start..node.end];
        let id_bytes = &self.buf[node.start..node.start + node.header_len - node.size_len];
        if node.master {
            let mut content = Vec::with_capacity(node.end - node.start);
            for child in &node.children {
                self.emit(child, &mut content)?;
            }
            let old_content = node.data(self.buf);
            let sticky = self.widths.get(&key).copied().unwrap_or(0);
            if content == old_content && sticky <= node.size_len {
                out.extend_from_slice(original);
                return Ok(());
            }
            if content != old_content {
                if let Some(first) = node.children.first() {
                    let crc_len = first.end - first.start;
                    if first.id == CRC32 && crc_len - first.header_len == 4 && content.len() >= crc_len {
                        let crc = crc32fast::hash(&content[crc_len..]);
                        content[first.header_len..crc_len].copy_from_slice(&crc.to_le_bytes());
                    }
                }
            }
            let width = node.size_len.max(size_width(content.len() as u64)).max(sticky);
            self.widths.insert(key, width);
            out.extend_from_slice(id_bytes);
            put_size(out, content.len() as u64, width)?;
            out.extend_from_slice(&content);
        } else if let Some(&value) = self.values.get(&key) {
            let old_len = node.end - node.start - node.header_len;
            let sticky = self.widths.get(&key).copied().unwrap_or(0);
            let width = old_len.min(8).max(uint_width(value)).max(sticky);
            self.widths.insert(key, width);
            let size_field = if size_width(width as u64) <= node.size_len {
                node.size_len
            } else {
                1
            };
            out.extend_from_slice(id_bytes);
            put_size(out, width as u64, size_field)?;
            out.extend_from_slice(&value.to_be_bytes()[8 - width..]);
        } else {
            out.extend_from_slice(original);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse() {
        let h = parse_header(&[0x1A, 0x45, 0xDF, 0xA3, 0x93]).unwrap().unwrap();
        assert_eq!(
            h,
            Header {
                id: EBML,
                id_len: 4,
                size: Some(0x13),
                size_len: 1
            }
        );
        let h = parse_header(&[
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ])
        .unwrap()
        .unwrap();
        assert_eq!(h.size, None);
        assert_eq!(h.size_len, 8);
        let h = parse_header(&[0xA3, 0x40, 0x02]).unwrap().unwrap();
        assert_eq!(h.size, Some(2));
        assert_eq!(parse_header(&[0xA3, 0x7F, 0xFF]).unwrap().unwrap().size, None);
        assert!(parse_header(&[0x1A, 0x45]).unwrap().is_none());
        assert!(parse_header(&[0x00, 0x81]).is_err());
        assert!(parse_header(&[0x08, 0x81]).is_err());
        assert!(parse_header(&[0xA3, 0x00]).is_err());
    }

    #[test]
    fn sizes_round_trip() {
        for (v, w) in [
            (0u64, 1usize),
            (126, 1),
            (127, 2),
            (16382, 2),
            (16383, 3),
            (MAX_SIZE, 8),
        ] {
            assert_eq!(size_width(v), w, "{v}");
            let mut out = vec![0xA3];
            put_size(&mut out, v, w).unwrap();
            let h = parse_header(&out).unwrap().unwrap();
            assert_eq!(h.size, Some(v));
            assert_eq!(h.size_len, w);
        }
        assert_eq!(size_width(MAX_SIZE + 1), 9);
        assert!(put_size(&mut Vec::new(), 127, 1).is_err());
        assert_eq!(uint_width(0), 1);
        assert_eq!(uint_width(255), 1);
        assert_eq!(uint_width(256), 2);
        assert_eq!(uint_width(u64::MAX), 8);
    }

    #[test]
    fn voids_have_the_requested_size() {
        for n in [2usize, 3, 6, 128, 129, 130, 5000] {
            let v = void(n);
            assert_eq!(v.len(), n);
            let h = parse_header(&v).unwrap().unwrap();
            assert_eq!(h.id, VOID);
            assert_eq!(h.len() as u64 + h.size.unwrap(), n as u64);
        }
    }

    #[test]
    fn patching_keeps_widths_and_recomputes_crc() {
        // SeekHead { CRC-32, Seek { SeekID, SeekPosition (2 bytes) } }
        let seek = [
            0x53, 0xAB, 0x84, 0x1C, 0x53, 0xBB, 0x6B, 0x53, 0xAC, 0x82, 0x01, 0x00,
        ];
        let mut seek_el = vec![0x4D, 0xBB, 0x80 | seek.len() as u8];
        seek_el.extend_from_slice(&seek);
        let mut content = vec![0xBF, 0x84];
        content.extend_from_slice(&crc32fast::hash(&seek_el).to_le_bytes());
        content.extend_from_slice(&seek_el);
        let mut buf = vec![0x11, 0x4D, 0x9B, 0x74, 0x80 | content.len() as u8];
        buf.extend_from_slice(&content);
        let master = |id| id == SEEK_HEAD || id == SEEK;
        let nodes = parse_nodes(&buf, 0, buf.len(), &master).unwrap();
        let pos_node = &nodes[0].children[1].children[1];
        assert_eq!(pos_node.id, SEEK_POSITION);

        let mut widths = HashMap::new();
        let mut values = HashMap::new();
        // Unchanged value: identical bytes.
        values.insert(100 + pos_node.start as u64, 0x100);
        let mut out = Vec::new();
        Patcher {
            buf: &buf,
            base: 100,
            values: &values,
            widths: &mut widths,
        }
        .emit(&nodes[0], &mut out)
        .unwrap();
        assert_eq!(out, buf);

        // A small value keeps the 2-byte width; a large one widens and the CRC follows.
        values.insert(100 + pos_node.start as u64, 5);
        let mut out = Vec::new();
        Patcher {
            buf: &buf,
            base: 100,
            values: &values,
            widths: &mut widths,
        }
        .emit(&nodes[0], &mut out)
        .unwrap();
        assert_eq!(out.len(), buf.len());
        assert_eq!(&out[out.len() - 2..], &[0x00, 0x05]);
        values.insert(100 + pos_node.start as u64, 0x0102_0304);
        let mut out = Vec::new();
        Patcher {
            buf: &buf,
            base: 100,
            values: &values,
            widths: &mut widths,
        }
        .emit(&nodes[0], &mut out)
        .unwrap();
        assert_eq!(out.len(), buf.len() + 2);
        let nodes2 = parse_nodes(&out, 0, out.len(), &master).unwrap();
        let crc_node = &nodes2[0].children[0];
        let crc = u32::from_le_bytes(crc_node.data(&out).try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&out[crc_node.end..]));
        // Sticky: going back to a small value keeps the 4-byte width.
        values.insert(100 + pos_node.start as u64, 5);
        let mut again = Vec::new();
        Patcher {
            buf: &buf,
            base: 100,
            values: &values,
            widths: &mut widths,
        }
        .emit(&nodes[0], &mut again)
        .unwrap();
        assert_eq!(again.len(), out.len());
    }
}
