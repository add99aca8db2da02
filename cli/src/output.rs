//! Writing to standard output and standard error without panicking.
//!
//! `println!` and `eprintln!` panic when the stream is gone (`vidstega
//! inspect x | head -1`). Here a closed standard output becomes
//! [`StdoutClosed`], which `main` turns into a quiet exit 0 (as ripgrep
//! does), and a closed standard error is ignored.

use std::fmt::Display;
use std::io::Write;

/// Standard output was closed by its reader (`| head`, `| true`): the
/// command stops writing and exits 0 without a message.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct StdoutClosed;

/// Writes `bytes` to standard output and flushes it.
pub fn write(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            anyhow::Error::new(StdoutClosed)
        } else {
            anyhow::Error::new(e).context("cannot write to standard output")
        }
    })
}

/// Prints `text` and a newline on standard output.
pub fn line(text: impl Display) -> anyhow::Result<()> {
    write(format!("{text}\n").as_bytes())
}

/// Prints `text` and a newline on standard error; a closed standard error
/// is ignored (there is nowhere left to say anything).
pub fn note(text: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `n` and the noun agreeing with it: `1 frame`, `2 frames`, `0 frames`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0u64, "frame", "frames"), "0 frames");
        assert_eq!(count(1u64, "frame", "frames"), "1 frame");
        assert_eq!(count(2u32, "audio stream", "audio streams"), "2 audio streams");
    }
}
