//! Progress reports from long steps, for progress bars and logs.

/// Receives progress from the steps. Every method has a do-nothing default.
pub trait Progress: Send + Sync {
    /// A stage begins (`"plan"`, `"embed"`, `"concat"`, `"extract"`).
    fn stage(&self, _name: &str, _total_frames: u64) {}
    /// A segment starts.
    fn segment_started(&self, _index: u32, _frames: u64) {}
    /// `frames` more frames of a segment were processed.
    fn frames(&self, _index: u32, _frames: u64) {}
    /// A segment's `frames` frames were done by an earlier run (resumed, not
    /// worked on now). Counted as [`Progress::frames`] unless overridden; a
    /// time estimate should leave them out of the rate.
    fn resumed(&self, index: u32, frames: u64) {
        self.frames(index, frames);
    }
    /// A segment finished (`skipped`: it was already done).
    fn segment_finished(&self, _index: u32, _skipped: bool) {}
    /// A note for the user (conversions, dropped streams).
    fn warn(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
