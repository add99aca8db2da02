//! Progress bars (indicatif) for the pipeline's stages and segments.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use vidstega_pipeline::Progress;

/// One bar for the stage, one per running segment. Hidden when `quiet` or
/// when standard error is not a terminal; warnings are kept for the summary.
pub struct Bars {
    multi: MultiProgress,
    main: ProgressBar,
    segments: Mutex<HashMap<u32, ProgressBar>>,
    warnings: Mutex<Vec<String>>,
    quiet: bool,
}

impl Bars {
    /// Bars on standard error (or none when `quiet`).
    pub fn new(quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let multi = MultiProgress::with_draw_target(target);
        let main = multi.add(ProgressBar::new(0));
        main.set_style(counting_style());
        Bars {
            multi,
            main,
            segments: Mutex::new(HashMap::new()),
            warnings: Mutex::new(Vec::new()),
            quiet,
        }
    }

    /// Warnings reported so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap().clone()
    }

    /// Removes the bars.
    pub fn finish(&self) {
        self.main.finish_and_clear();
    }
}

/// The stage bar while there is nothing to count yet (planning, locating
/// the message): the stage and the time, no bar (indicatif draws a bar of
/// length 0 full).
fn counting_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:>8} [{elapsed_precise}]").expect("valid template")
}

/// The stage bar over frames.
fn frames_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} frames ({eta})")
        .expect("valid template")
}

impl Progress for Bars {
    fn stage(&self, name: &str, total_frames: u64) {
        // Every change may draw: the bar gets its length before its style
        // shows one, and loses its style before its length is 0.
        if total_frames == 0 {
            self.main.set_style(counting_style());
        }
        self.main.set_length(total_frames);
        self.main.set_position(0);
        if total_frames > 0 {
            self.main.set_style(frames_style());
        }
        self.main.set_message(name.to_string());
    }

    fn segment_started(&self, index: u32, frames: u64) {
        let bar = self.multi.add(ProgressBar::new(frames));
        bar.set_style(
            ProgressStyle::with_template("  segment {prefix:>4} {bar:30} {pos}/{len}")
                .expect("valid template"),
        );
        bar.set_prefix(index.to_string());
        self.segments.lock().unwrap().insert(index, bar);
    }

    fn frames(&self, index: u32, frames: u64) {
        self.main.inc(frames);
        if let Some(bar) = self.segments.lock().unwrap().get(&index) {
            bar.inc(frames);
        }
    }

    fn segment_finished(&self, index: u32, _skipped: bool) {
        if let Some(bar) = self.segments.lock().unwrap().remove(&index) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn warn(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_string());
        if !self.quiet {
            let _ = self.multi.println(format!("warning: {message}"));
        }
    }
}
