//! Random-access reads of the source while planning.
//!
//! Planning looks at many small headers spread over the file (box headers,
//! Matroska block headers) and, for Matroska checksums, at a few whole
//! Clusters. A small read-ahead window makes the header scan cheap without
//! ever holding more than the window (or one explicitly requested structure)
//! in memory.

use std::io::{self, Read, Seek, SeekFrom};

use crate::error::{ContainerError, Result};

const WINDOW: usize = 16 * 1024;

/// A seekable source with a read-ahead window.
pub(crate) struct Input<R> {
    inner: R,
    len: u64,
    window: Vec<u8>,
    window_pos: u64,
}

impl<R: Read + Seek> Input<R> {
    pub fn new(mut inner: R) -> Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        Ok(Input {
            inner,
            len,
            window: Vec::new(),
            window_pos: 0,
        })
    }

    /// Size of the source in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Up to `n` (at most 16 KiB) bytes at `pos`; fewer only at the end of the file.
    pub fn peek(&mut self, pos: u64, n: usize) -> Result<&[u8]> {
        let n = n.min(WINDOW);
        let cached = pos >= self.window_pos
            && (pos - self.window_pos) as usize <= self.window.len()
            && (self.window.len() - (pos - self.window_pos) as usize >= n
                || self.window_pos + self.window.len() as u64 >= self.len);
        if !cached {
            self.fill(pos)?;
        }
        let from = (pos - self.window_pos) as usize;
        let to = (from + n).min(self.window.len());
        Ok(&self.window[from..to])
    }

    fn fill(&mut self, pos: u64) -> Result<()> {
        self.window.clear();
        self.window_pos = pos;
        if pos >= self.len {
            return Ok(());
        }
        self.inner.seek(SeekFrom::Start(pos))?;
        let want = (self.len - pos).min(WINDOW as u64) as usize;
        self.window.resize(want, 0);
        let mut got = 0;
        while got < want {
            match self.inner.read(&mut self.window[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.window.truncate(got);
        Ok(())
    }

    /// Exactly `len` bytes at `pos`, or `Malformed` naming `what` if the file
    /// is shorter. Callers bound `len` before calling.
    pub fn read_vec(&mut self, pos: u64, len: u64, what: &str) -> Result<Vec<u8>> {
        if pos.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(ContainerError::malformed(format!(
                "{what} extends past the end of the file"
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.seek(SeekFrom::Start(pos))?;
        self.inner.read_exact(&mut buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => ContainerError::malformed(format!("{what} is truncated")),
            _ => e.into(),
        })?;
        Ok(buf)
    }

    /// Feeds `len` bytes at `pos` to `sink`, through a bounded buffer.
    pub fn stream(&mut self, pos: u64, len: u64, mut sink: impl FnMut(&[u8])) -> Result<()> {
        if pos.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(ContainerError::malformed(
                "a checksummed range extends past the end of the file",
            ));
        }
        self.inner.seek(SeekFrom::Start(pos))?;
        let mut buf = vec![0u8; (256 * 1024).min(len as usize)];
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            self.inner.read_exact(&mut buf[..want])?;
            sink(&buf[..want]);
            left -= want as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn peeks_and_reads() {
        let data: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        let mut input = Input::new(Cursor::new(data.clone())).unwrap();
        assert_eq!(input.len(), 50_000);
        assert_eq!(input.peek(10, 4).unwrap(), &data[10..14]);
        assert_eq!(input.peek(20_000, 8).unwrap(), &data[20_000..20_008]);
        assert_eq!(input.peek(49_998, 8).unwrap(), &data[49_998..]);
        assert_eq!(input.peek(60_000, 8).unwrap(), &[] as &[u8]);
        assert_eq!(input.read_vec(5, 3, "x").unwrap(), &data[5..8]);
        assert!(input.read_vec(49_999, 3, "x").is_err());
        let mut n = 0;
        input.stream(0, 50_000, |b| n += b.len()).unwrap();
        assert_eq!(n, 50_000);
    }
}
