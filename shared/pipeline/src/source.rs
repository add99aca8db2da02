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

/// Where an [`ObjectReader`] reads its blocks from.
enum Backing<'a> {
    /// An object of a store, by ranged reads.
    Store {
        objects: &'a dyn ObjectStore,
        key: String,
    },
    /// A local file.
    File {
        file: std::fs::File,
        path: std::path::PathBuf,
    },
}

/// Bytes fetched per read from a local file.
const FILE_BLOCK: u64 = 1 << 20;

/// An object of an [`ObjectStore`] (or a local file) as `Read + Seek`.
pub struct ObjectReader<'a> {
    backing: Backing<'a>,
    block_len: u64,
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
            backing: Backing::Store {
                objects,
                key: key.to_string(),
            },
            block_len: BLOCK,
            len,
            pos: 0,
            blocks: Vec::new(),
            error: None,
        })
    }

    /// Opens `key` (which must exist), read in blocks of `block_len` bytes
    /// (at least 64 KiB): smaller blocks than [`ObjectReader::open`]'s for a
    /// reader that reads a few nearby samples, keeping its memory small.
    pub fn open_with_block(objects: &'a dyn ObjectStore, key: &str, block_len: u64) -> Result<Self> {
        let mut reader = Self::open(objects, key)?;
        reader.block_len = block_len.max(64 << 10);
        Ok(reader)
    }

    /// Opens a local file, read in 1 MiB blocks.
    pub fn file(path: &std::path::Path) -> Result<ObjectReader<'static>> {
        let file = std::fs::File::open(path)
            .map_err(|e| PipelineError::io(format!("cannot read {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| PipelineError::io(format!("cannot read {}", path.display()), e))?
            .len();
        Ok(ObjectReader {
            backing: Backing::File {
                file,
                path: path.to_path_buf(),
            },
            block_len: FILE_BLOCK,
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
            let end = (start + self.block_len).min(self.len);
            let read = match &self.backing {
                Backing::Store { objects, key } => objects.read_range(key, start..end),
                Backing::File { file, path } => {
                    let mut bytes = vec![0u8; (end - start) as usize];
                    let mut f = file;
                    f.seek(SeekFrom::Start(start))
                        .and_then(|_| f.read_exact(&mut bytes))
                        .map(|_| bytes)
                        .map_err(|e| PipelineError::io(format!("cannot read {}", path.display()), e))
                }
            };
            let bytes = match read {
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
        let start = self.pos - self.pos % self.block_len;
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
