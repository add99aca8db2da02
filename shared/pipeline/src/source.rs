//! Reading an object as a seekable byte stream, in large blocks.
//!
//! Compact mode reads the source video itself (its container index and the
//! NAL unit headers of every picture), not through ffmpeg. On S3 every read
//! is a ranged GET, so reads are made in blocks of [`BLOCK`] bytes and the
//! last two blocks are kept: walking the samples of a file in order then
//! costs one request per block, and jumping back to a table nearby costs
//! nothing.

use crate::error::{PipelineError, Result};
use crate::ports::ObjectStore;
use std::io::{self, Read, Seek, SeekFrom};

/// Bytes fetched per read.
pub const BLOCK: u64 = 8 << 20;

/// An object of an [`ObjectStore`] as `Read + Seek`.
pub struct ObjectReader<'a> {
    objects: &'a dyn ObjectStore,
    key: String,
    len: u64,
    pos: u64,
    /// The most recently used blocks: (start offset, bytes), newest first.
    blocks: Vec<(u64, Vec<u8>)>,
    /// The error that stopped a read (the `io::Error` handed out loses its type).
    error: Option<PipelineError>,
}

impl<'a> ObjectReader<'a> {
    /// Opens `key` (which must exist).
    pub fn open(objects: &'a dyn ObjectStore, key: &str) -> Result<Self> {
        let len = objects
            .size(key)?
            .ok_or_else(|| PipelineError::InvalidInput(format!("object {key} does not exist")))?;
        Ok(ObjectReader {
            objects,
            key: key.to_string(),
            len,
            pos: 0,
            blocks: Vec::new(),
            error: None,
        })
    }

    /// Size of the object.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The store error behind the last failed read, if any.
    pub fn take_error(&mut self) -> Option<PipelineError> {
        self.error.take()
    }

    fn block(&mut self, start: u64) -> io::Result<&[u8]> {
        if let Some(i) = self.blocks.iter().position(|(s, _)| *s == start) {
            let b = self.blocks.remove(i);
            self.blocks.insert(0, b);
        } else {
            let end = (start + BLOCK).min(self.len);
            let bytes = match self.objects.read_range(&self.key, start..end) {
                Ok(b) => b,
                Err(e) => {
                    let message = e.to_string();
                    self.error = Some(e);
                    return Err(io::Error::other(message));
                }
            };
            self.blocks.insert(0, (start, bytes));
            self.blocks.truncate(2);
        }
        Ok(&self.blocks[0].1)
    }
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let start = self.pos - self.pos % BLOCK;
        let offset = (self.pos - start) as usize;
        let block = self.block(start)?;
        let n = buf.len().min(block.len() - offset);
        buf[..n].copy_from_slice(&block[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ObjectReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the object",
            )),
        }
    }
}
