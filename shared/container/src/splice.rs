//! The output plan ([`Splice`]) and its streaming writer.
//!
//! Planning and writing are separate so that the output's exact size is known
//! before the first byte is written (an upload API wants a Content-Length),
//! and so that writing needs nothing but one forward pass over the source:
//! the source can be a network stream, and memory stays bounded by one copy
//! buffer whatever the file size.
//!
//! Both container planners describe their changes the same way, as a sorted
//! list of [`Edit`]s (a byte range of the source replaced by new bytes or by
//! a replacement sample). [`PosMap`] turns that list into the function "where
//! does source byte `p` end up in the output", which is all the index
//! rewriting (chunk offsets, cue and seek positions) needs.

use std::io::{self, Read, Write};

use crate::error::{ContainerError, Result};

/// Size of the copy buffer of [`Splice::write_to`].
const COPY_BUFFER: usize = 1 << 20;

/// One piece of the output file, in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Copy `len` bytes of the source starting at `offset`.
    Source {
        /// Position of the first byte in the source.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
    /// New bytes (rewritten headers, index boxes or elements).
    Bytes(Vec<u8>),
    /// The replacement of video sample `sample` (decode-order index into
    /// [`VideoTrack::samples`](crate::VideoTrack::samples)), `len` bytes,
    /// provided by the caller while writing.
    Replacement {
        /// Decode-order index of the replaced sample.
        sample: usize,
        /// Length of the replacement in bytes.
        len: u64,
    },
}

impl Piece {
    /// Number of output bytes this piece produces.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Source { len, .. } | Piece::Replacement { len, .. } => *len,
            Piece::Bytes(b) => b.len() as u64,
        }
    }

    /// Whether the piece produces no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the output file will be: an ordered list of pieces, computed by
/// [`plan_splice`](crate::plan_splice) before any byte is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pieces: Vec<Piece>,
    len: u64,
}

impl Splice {
    /// The pieces in output order. `Source` pieces are in increasing,
    /// non-overlapping source order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Exact size of the output in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the output is empty (only for an empty plan).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Streams the output into `out`.
    ///
    /// Reads `source` once, forward only, from byte 0 (bytes between `Source`
    /// pieces are read and discarded), asks `replacement(sample)` for each
    /// replacement's bytes (which must be exactly the planned length, else
    /// [`ContainerError::Replacement`]), and copies through one fixed 1 MiB
    /// buffer. Returns the number of bytes written, which equals
    /// [`len`](Self::len).
    pub fn write_to<'r, S: Read, W: Write>(
        &self,
        source: S,
        replacement: impl FnMut(usize) -> io::Result<Box<dyn Read + 'r>>,
        mut out: W,
    ) -> Result<u64> {
        let mut reader = SpliceReader::new(&self.pieces, source, replacement);
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut written = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(unwrap_error(e)),
            };
            out.write_all(&buf[..n])?;
            written += n as u64;
        }
        out.flush()?;
        debug_assert_eq!(written, self.len);
        Ok(written)
    }

    /// [`Splice::write_to`] from a source file into an output file, with
    /// the source's bytes copied by the kernel (`std::io::copy` between
    /// files uses `copy_file_range` on Linux) rather than through this
    /// process's buffers: the whole-file copy of a splice is then about
    /// as cheap as a remux's. `out` is written from its current position.
    pub fn write_file_to<'r>(
        &self,
        source: &std::fs::File,
        mut replacement: impl FnMut(usize) -> io::Result<Box<dyn Read + 'r>>,
        mut out: &std::fs::File,
    ) -> Result<u64> {
        use std::io::{Seek, SeekFrom};
        let mut written = 0u64;
        for piece in &self.pieces {
            match piece {
                Piece::Source { offset, len } => {
                    let mut from = source;
                    from.seek(SeekFrom::Start(*offset))?;
                    if io::copy(&mut from.take(*len), &mut out)? != *len {
                        return Err(ContainerError::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the source ended early",
                        )));
                    }
                }
                Piece::Bytes(bytes) => out.write_all(bytes)?,
                Piece::Replacement { sample, len } => {
                    let reader = replacement(*sample).map_err(unwrap_error)?;
                    let n = io::copy(&mut reader.take(len + 1), &mut out).map_err(unwrap_error)?;
                    if n != *len {
                        return Err(ContainerError::Replacement {
                            sample: *sample,
                            detail: format!(
                                "{n} bytes{} instead of {len}",
                                if n > *len { " or more" } else { "" }
                            ),
                        });
                    }
                }
            }
            written += piece.len();
        }
        out.flush()?;
        Ok(written)
    }

    /// The same output as a pull-based reader, for APIs that take
    /// `impl Read` (an upload body, for instance). Errors are `io::Error`s;
    /// a replacement of the wrong length is `ErrorKind::InvalidData` wrapping
    /// a [`ContainerError::Replacement`].
    pub fn reader<'a, S: Read + 'a>(
        &'a self,
        source: S,
        replacement: impl FnMut(usize) -> io::Result<Box<dyn Read + 'a>> + 'a,
    ) -> impl Read + 'a {
        SpliceReader::new(&self.pieces, source, replacement)
    }

    /// Builds the plan from sorted, non-overlapping edits of a source of
    /// `source_len` bytes.
    pub(crate) fn from_edits(edits: Vec<Edit>, source_len: u64) -> Result<Splice> {
        check_sorted(&edits)?;
        let mut pieces = Vec::with_capacity(edits.len() * 2 + 1);
        let mut pos = 0u64;
        for edit in edits {
            if edit.end > source_len {
                return Err(ContainerError::malformed(
                    "a rewritten structure extends past the end of the file",
                ));
            }
            if edit.start > pos {
                pieces.push(Piece::Source {
                    offset: pos,
                    len: edit.start - pos,
                });
            }
            match edit.content {
                EditContent::Bytes(b) => {
                    if !b.is_empty() {
                        pieces.push(Piece::Bytes(b))
                    }
                }
                EditContent::Replacement { sample, len } => pieces.push(Piece::Replacement { sample, len }),
            }
            pos = edit.end;
        }
        if source_len > pos {
            pieces.push(Piece::Source {
                offset: pos,
                len: source_len - pos,
            });
        }
        let len = pieces.iter().map(Piece::len).sum();
        Ok(Splice { pieces, len })
    }
}

/// Recovers a [`ContainerError`] that travelled through an `io::Error`.
fn unwrap_error(e: io::Error) -> ContainerError {
    if e.get_ref().is_some_and(|inner| inner.is::<ContainerError>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(c) = inner.downcast::<ContainerError>() {
                return *c;
            }
        }
        return ContainerError::malformed("internal error while unwrapping an error");
    }
    ContainerError::Io(e)
}

fn replacement_error(sample: usize, detail: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        ContainerError::Replacement { sample, detail },
    )
}

/// Pull-based streaming of a plan.
struct SpliceReader<'p, 'a, S, F> {
    pieces: &'p [Piece],
    /// Index of the current piece.
    index: usize,
    /// Bytes of the current piece already produced.
    done: u64,
    source: S,
    /// Bytes of the source consumed so far.
    source_pos: u64,
    replacement: F,
    current: Option<Box<dyn Read + 'a>>,
    /// Scratch space to discard source bytes when the caller's buffer is tiny.
    scratch: Vec<u8>,
}

impl<'p, 'a, S: Read, F: FnMut(usize) -> io::Result<Box<dyn Read + 'a>>> SpliceReader<'p, 'a, S, F> {
    fn new(pieces: &'p [Piece], source: S, replacement: F) -> Self {
        SpliceReader {
            pieces,
            index: 0,
            done: 0,
            source,
            source_pos: 0,
            replacement,
            current: None,
            scratch: Vec::new(),
        }
    }

    fn next_piece(&mut self) {
        self.index += 1;
        self.done = 0;
        self.current = None;
    }

    /// Reads and drops source bytes up to `target`, using `buf` as scratch.
    fn discard_until(&mut self, target: u64, buf: &mut [u8]) -> io::Result<()> {
        while self.source_pos < target {
            let scratch: &mut [u8] = if buf.len() >= 64 * 1024 {
                buf
            } else {
                if self.scratch.is_empty() {
                    self.scratch = vec![0u8; 64 * 1024];
                }
                &mut self.scratch
            };
            let want = (target - self.source_pos).min(scratch.len() as u64) as usize;
            let n = self.source.read(&mut scratch[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the source ended early",
                ));
            }
            self.source_pos += n as u64;
        }
        Ok(())
    }
}

impl<'a, S: Read, F: FnMut(usize) -> io::Result<Box<dyn Read + 'a>>> Read for SpliceReader<'_, 'a, S, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(piece) = self.pieces.get(self.index) else {
                return Ok(0);
            };
            let remaining = piece.len() - self.done;
            match piece {
                Piece::Source { offset, .. } => {
                    if remaining == 0 {
                        self.next_piece();
                        continue;
                    }
                    let at = offset + self.done;
                    if self.source_pos > at {
                        return Err(io::Error::other("source pieces are not in increasing order"));
                    }
                    self.discard_until(at, buf)?;
                    let want = remaining.min(buf.len() as u64) as usize;
                    let n = self.source.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the source ended early",
                        ));
                    }
                    self.source_pos += n as u64;
                    self.done += n as u64;
                    return Ok(n);
                }
                Piece::Bytes(bytes) => {
                    if remaining == 0 {
                        self.next_piece();
                        continue;
                    }
                    let from = self.done as usize;
                    let n = (bytes.len() - from).min(buf.len());
                    buf[..n].copy_from_slice(&bytes[from..from + n]);
                    self.done += n as u64;
                    return Ok(n);
                }
                Piece::Replacement { sample, len } => {
                    let (sample, len) = (*sample, *len);
                    if self.current.is_none() {
                        self.current = Some((self.replacement)(sample)?);
                    }
                    let Some(reader) = self.current.as_mut() else {
                        continue;
                    };
                    if remaining == 0 {
                        let mut probe = [0u8; 1];
                        let extra = loop {
                            match reader.read(&mut probe) {
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                other => break other?,
                            }
                        };
                        if extra != 0 {
                            return Err(replacement_error(
                                sample,
                                format!("yields more than the planned {len} bytes"),
                            ));
                        }
                        self.next_piece();
                        continue;
                    }
                    let want = remaining.min(buf.len() as u64) as usize;
                    let n = reader.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(replacement_error(
                            sample,
                            format!("yields only {} of the planned {len} bytes", self.done),
                        ));
                    }
                    self.done += n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

/// What replaces an edited range of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EditContent {
    /// New bytes.
    Bytes(Vec<u8>),
    /// A replacement video sample supplied while writing.
    Replacement { sample: usize, len: u64 },
}

/// The source range `start..end` is replaced by `content` in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub start: u64,
    pub end: u64,
    pub content: EditContent,
}

impl Edit {
    pub fn bytes(start: u64, end: u64, bytes: Vec<u8>) -> Edit {
        Edit {
            start,
            end,
            content: EditContent::Bytes(bytes),
        }
    }

    pub fn new_len(&self) -> u64 {
        match &self.content {
            EditContent::Bytes(b) => b.len() as u64,
            EditContent::Replacement { len, .. } => *len,
        }
    }

    /// The part of the edit that decides positions.
    pub fn span(&self) -> Span {
        Span {
            start: self.start,
            end: self.end,
            new_len: self.new_len(),
        }
    }
}

/// An edit reduced to what positions depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub start: u64,
    pub end: u64,
    pub new_len: u64,
}

fn check_sorted(edits: &[Edit]) -> Result<()> {
    for e in edits {
        if e.end <= e.start {
            return Err(ContainerError::malformed(
                "an edited structure is empty or has a negative length",
            ));
        }
    }
    for w in edits.windows(2) {
        if w[1].start < w[0].end {
            return Err(ContainerError::unsupported(format!(
                "structures that overlap in the file (bytes {}..{} and {}..{})",
                w[0].start, w[0].end, w[1].start, w[1].end
            )));
        }
    }
    Ok(())
}

/// Sorts edits by position and rejects overlaps.
pub(crate) fn sort_edits(mut edits: Vec<Edit>) -> Result<Vec<Edit>> {
    edits.sort_by_key(|e| (e.start, e.end));
    check_sorted(&edits)?;
    Ok(edits)
}

/// Maps source positions to output positions for a set of edits.
#[derive(Debug, Clone, Default)]
pub(crate) struct PosMap {
    spans: Vec<Span>,
    /// `shift[i]`: output minus source position after span `i`.
    shift: Vec<i128>,
}

impl PosMap {
    /// `spans` must be sorted, non-empty and non-overlapping (see [`sort_edits`]).
    pub fn new(spans: Vec<Span>) -> PosMap {
        let mut shift = Vec::with_capacity(spans.len());
        let mut acc = 0i128;
        for s in &spans {
            acc += s.new_len as i128 - (s.end - s.start) as i128;
            shift.push(acc);
        }
        PosMap { spans, shift }
    }

    /// Where the source byte at `p` is in the output. A position inside an
    /// edited range maps into the new content (clamped to its end).
    pub fn map(&self, p: u64) -> u64 {
        let k = self.spans.partition_point(|s| s.end <= p);
        let before = if k == 0 { 0 } else { self.shift[k - 1] };
        let base = p as i128 + before;
        let mapped = match self.spans.get(k) {
            Some(s) if s.start < p => {
                let start = s.start as i128 + before;
                start + ((p - s.start).min(s.new_len)) as i128
            }
            _ => base,
        };
        mapped.max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splice_of(edits: Vec<Edit>, len: u64) -> Splice {
        Splice::from_edits(sort_edits(edits).unwrap(), len).unwrap()
    }

    fn run(splice: &Splice, source: &[u8], reps: &[Vec<u8>]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        splice.write_to(source, |i| Ok(Box::new(&reps[i][..]) as Box<dyn Read>), &mut out)?;
        Ok(out)
    }

    #[test]
    fn empty_plan_copies_everything() {
        let src: Vec<u8> = (0..=255).collect();
        let s = splice_of(vec![], 256);
        assert_eq!(s.pieces(), &[Piece::Source { offset: 0, len: 256 }]);
        assert_eq!(run(&s, &src, &[]).unwrap(), src);
    }

    #[test]
    fn edits_and_replacements_stream_in_order() {
        let src: Vec<u8> = (0..100).collect();
        let edits = vec![
            Edit {
                start: 50,
                end: 60,
                content: EditContent::Replacement { sample: 1, len: 3 },
            },
            Edit::bytes(0, 2, vec![9, 9, 9]),
            Edit {
                start: 10,
                end: 20,
                content: EditContent::Replacement { sample: 0, len: 12 },
            },
        ];
        let s = splice_of(edits, 100);
        let reps = vec![vec![7u8; 12], vec![8u8; 3]];
        let out = run(&s, &src, &reps).unwrap();
        let mut want = vec![9, 9, 9];
        want.extend(2..10u8);
        want.extend([7u8; 12]);
        want.extend(20..50u8);
        want.extend([8u8; 3]);
        want.extend(60..100u8);
        assert_eq!(out, want);
        assert_eq!(s.len(), want.len() as u64);

        // The pull reader gives the same bytes even with a tiny buffer.
        let mut r = s.reader(&src[..], |i| Ok(Box::new(&reps[i][..]) as Box<dyn Read>));
        let mut got = Vec::new();
        let mut b = [0u8; 3];
        loop {
            let n = r.read(&mut b).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn wrong_replacement_lengths_are_errors() {
        let src = vec![0u8; 10];
        let s = splice_of(
            vec![Edit {
                start: 2,
                end: 4,
                content: EditContent::Replacement { sample: 5, len: 3 },
            }],
            10,
        );
        let short = run(&s, &src, &[vec![], vec![], vec![], vec![], vec![], vec![1, 2]]).unwrap_err();
        assert!(
            matches!(short, ContainerError::Replacement { sample: 5, .. }),
            "{short}"
        );
        let long = run(
            &s,
            &src,
            &[vec![], vec![], vec![], vec![], vec![], vec![1, 2, 3, 4]],
        )
        .unwrap_err();
        assert!(
            matches!(long, ContainerError::Replacement { sample: 5, .. }),
            "{long}"
        );
        let truncated = run(
            &s,
            &src[..6],
            &[vec![], vec![], vec![], vec![], vec![], vec![1, 2, 3]],
        )
        .unwrap_err();
        assert!(matches!(truncated, ContainerError::Io(_)), "{truncated}");
    }

    #[test]
    fn overlapping_edits_are_rejected() {
        let e = sort_edits(vec![Edit::bytes(0, 10, vec![]), Edit::bytes(5, 12, vec![])]);
        assert!(e.is_err());
    }

    #[test]
    fn positions_map_through_edits() {
        let m = PosMap::new(vec![
            Span {
                start: 10,
                end: 20,
                new_len: 15,
            },
            Span {
                start: 30,
                end: 32,
                new_len: 0,
            },
        ]);
        assert_eq!(m.map(0), 0);
        assert_eq!(m.map(10), 10);
        assert_eq!(m.map(20), 25);
        assert_eq!(m.map(29), 34);
        assert_eq!(m.map(30), 35);
        assert_eq!(m.map(32), 35);
        assert_eq!(m.map(40), 43);
        assert_eq!(m.map(12), 12);
    }
}
