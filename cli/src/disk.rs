//! Disk space for an embed. Before any work, the output and the work folder
//! at its largest (carriers or segments, and any copy of the source) are
//! estimated and compared with what the file system holding them has free
//! (`statvfs`); an embed that cannot fit is refused then. A disk that fills
//! up anyway during a run (`ENOSPC`, a quota, SQLite's "disk is full",
//! ffmpeg's "No space left on device") is recognised and reported as such.

use crate::embed::human_bytes;
use std::fmt;
use std::path::{Path, PathBuf};
use vidstega_pipeline::LOSSLESS_BYTES_PER_PIXEL;

/// What an embed writes: the output, and its work folder at its largest
/// (which is while the output is being written, beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The output.
    pub output: u64,
    /// The work folder.
    pub work: u64,
}

impl Needs {
    /// Lossless mode: the plan's own estimate of the output
    /// ([`LOSSLESS_BYTES_PER_PIXEL`] per pixel of every frame). The
    /// segments, about as large together, stay in the work folder while
    /// concat writes the output, unless the single segment is written
    /// straight into the output (`one_pass`).
    pub fn lossless(frames: u64, width: u32, height: u32, one_pass: bool) -> Needs {
        let output = (frames as f64 * width as f64 * height as f64 * LOSSLESS_BYTES_PER_PIXEL) as u64;
        Needs {
            output,
            work: if one_pass { 0 } else { output },
        }
    }

    /// Robust mode: the plan's upper estimate of the output
    /// ([`vidstega_pipeline::ROBUST_BYTES_PER_PIXEL`] per pixel of every
    /// frame); the segments, about as large together, stay in the work
    /// folder while concat writes the output.
    pub fn robust(frames: u64, width: u32, height: u32) -> Needs {
        let output =
            (frames as f64 * width as f64 * height as f64 * vidstega_pipeline::ROBUST_BYTES_PER_PIXEL) as u64;
        Needs { output, work: output }
    }

    /// Compact mode: the source and its carriers (each an uncompressed
    /// picture). The work folder holds the carriers, and a stream copy of
    /// the source when its container is not the output's (`copied`).
    pub fn compact(source_bytes: u64, carriers: u64, carrier_bytes: u64, copied: bool) -> Needs {
        let carriers = carriers.saturating_mul(carrier_bytes);
        Needs {
            output: source_bytes.saturating_add(carriers),
            work: carriers.saturating_add(if copied { source_bytes } else { 0 }),
        }
    }

    /// What still has to be written, `kept` bytes of work being on the
    /// disk already (a resumed run reuses them).
    pub fn bytes_to_write(self, kept: u64) -> u64 {
        self.output.saturating_add(self.work.saturating_sub(kept))
    }
}

/// The bytes missing when `needs` does not fit in `free`, with `kept` bytes
/// of earlier work already on the disk; `None` when it fits.
pub fn shortfall(needs: Needs, free: u64, kept: u64) -> Option<u64> {
    let total = needs.bytes_to_write(kept);
    (total > free).then(|| total - free)
}

/// The bytes of one carrier access unit for a `width`×`height` 4:2:0
/// picture: its macroblocks, each 384 samples stored as they are and about
/// 2 bytes of header. (A 4:2:2 or 4:4:4 carrier is larger but carries more
/// samples, so a message needs fewer of them: the total is about the same.)
pub fn carrier_bytes_420(width: u32, height: u32) -> u64 {
    u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16)) * (384 + 2)
}

/// The bytes an unprivileged user may still write on the file system
/// holding `dir` (`f_bavail` × `f_frsize`).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The bytes of the regular files under `path` (links not followed).
pub fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| tree_size(&entry.path()))
        .sum()
}

/// The disk cannot hold an embed (exit code 8).
#[derive(Debug)]
pub enum DiskError {
    /// Refused before any work: the estimate does not fit.
    TooSmall {
        /// The output, as given.
        output: PathBuf,
        /// The work folder.
        work: PathBuf,
        /// The estimate.
        needs: Needs,
        /// Free bytes on the output's file system.
        free: u64,
        /// Bytes of earlier work already in the work folder.
        kept: u64,
        /// What else may help (or nothing).
        hint: &'static str,
    },
    /// The disk filled up during the run.
    Full {
        /// The output, as given.
        output: PathBuf,
        /// The work folder.
        work: PathBuf,
        /// Whether finished work was kept there for a rerun.
        resumable: bool,
    },
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::TooSmall {
                output,
                work,
                needs,
                free,
                kept,
                hint,
            } => {
                write!(
                    f,
                    "not enough disk space for {}: writing it needs about {} (the output about {}",
                    output.display(),
                    human_bytes(needs.bytes_to_write(*kept)),
                    human_bytes(needs.output)
                )?;
                if needs.work > 0 {
                    write!(
                        f,
                        ", and about {} of work in {} while it runs",
                        human_bytes(needs.work),
                        work.display()
                    )?;
                    if *kept > 0 {
                        write!(
                            f,
                            ", {} of which is there already",
                            human_bytes((*kept).min(needs.work))
                        )?;
                    }
                }
                write!(
                    f,
                    "), but the file system holding it has {} free. Free some space, or write the output \
                     to another disk (-o){hint}",
                    human_bytes(*free)
                )
            }
            DiskError::Full {
                output,
                work,
                resumable,
            } => {
                write!(
                    f,
                    "the disk is full: no space was left on the file system holding {} while writing it. \
                     Free some space and run the same command again: ",
                    output.display()
                )?;
                if *resumable {
                    write!(f, "it resumes from the finished work kept in {}", work.display())
                } else {
                    write!(f, "no finished work could be kept, so it starts over")
                }
            }
        }
    }
}

impl std::error::Error for DiskError {}

/// The phrases of a full disk in messages that carry no OS error (ffmpeg's
/// output, SQLite's).
const FULL_PHRASES: &[&str] = &[
    "No space left on device",
    "Disk quota exceeded",
    "database or disk is full",
];

/// Whether `e` comes from a full disk or an exhausted quota.
pub fn full(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) {
                return true;
            }
        }
        let text = cause.to_string();
        FULL_PHRASES.iter().any(|p| text.contains(p))
    })
}

/// Whether `e` comes from a read or write the device failed (`EIO`).
pub fn device_failed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            == Some(rustix::io::Errno::IO.raw_os_error())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_each_mode() {
        // Lossless: 1.1 bytes per pixel; the segments as large again,
        // unless one segment is written straight into the output.
        let n = Needs::lossless(100, 640, 360, false);
        assert_eq!(n.output, 25_344_000);
        assert_eq!(n.work, n.output);
        assert_eq!(Needs::lossless(100, 640, 360, true).work, 0);
        // Compact: the source and its carriers; the carriers (and a copy of
        // the source into another container) in the work folder.
        assert_eq!(carrier_bytes_420(1920, 1080), 120 * 68 * 386);
        let c = Needs::compact(1_000_000, 3, 100_000, false);
        assert_eq!(
            c,
            Needs {
                output: 1_300_000,
                work: 300_000
            }
        );
        assert_eq!(Needs::compact(1_000_000, 3, 100_000, true).work, 1_300_000);
    }

    #[test]
    fn refusal_counts_work_already_kept() {
        let n = Needs {
            output: 600,
            work: 400,
        };
        assert_eq!(shortfall(n, 1000, 0), None);
        assert_eq!(shortfall(n, 999, 0), Some(1));
        // A resumed run has 300 bytes of its work on the disk already.
        assert_eq!(shortfall(n, 700, 300), None);
        assert_eq!(shortfall(n, 650, 300), Some(50));
        // Kept work beyond the estimate does not lower the output's share.
        assert_eq!(shortfall(n, 599, 5000), Some(1));
    }

    #[test]
    fn a_full_disk_is_recognised_in_any_form() {
        let io = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::StorageFull)).context("writing");
        assert!(full(&io));
        let ffmpeg =
            anyhow::anyhow!("ffmpeg failed while encoding. Its last lines: \nx: No space left on device");
        assert!(full(&ffmpeg));
        let other = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(!full(&other));
        let eio = anyhow::Error::new(std::io::Error::from_raw_os_error(5));
        assert!(device_failed(&eio) && !full(&eio));
    }
}
