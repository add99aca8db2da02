//! The process's own peak memory, for the summaries and the benchmark.

/// Peak resident set size of this process in bytes (Linux `VmHWM`), not
/// counting the ffmpeg children; `None` where the OS does not say.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
