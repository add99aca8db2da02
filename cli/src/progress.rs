//! Progress bars (indicatif) for the pipeline's stages and segments.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vidstega_pipeline::Progress;

/// One bar for the stage, one per running segment. Hidden when `quiet` or
/// when standard error is not a terminal; warnings are kept for the summary.
pub struct Bars {
    multi: MultiProgress,
    main: ProgressBar,
    segments: Mutex<HashMap<u32, ProgressBar>>,
    warnings: Mutex<Vec<String>>,
    /// Frames of the current stage done by an earlier run (not in the rate).
    resumed: Arc<AtomicU64>,
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
            resumed: Arc::new(AtomicU64::new(0)),
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

/// The stage bar over frames, with the time left estimated from this
/// run's own rate (`resumed` frames left out).
fn frames_style(resumed: Arc<AtomicU64>) -> ProgressStyle {
    ProgressStyle::with_template("{msg:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} frames ({left})")
        .expect("valid template")
        .with_key(
            "left",
            move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&time_left(
                    state.pos(),
                    state.len().unwrap_or(0),
                    resumed.load(Ordering::Relaxed),
                    state.elapsed(),
                ));
            },
        )
}

/// Before this, a rate is mostly start-up (probing, the first decode).
const FIRST_ESTIMATE_AFTER: Duration = Duration::from_secs(2);

/// The time left for `len - pos` frames at the average rate of this stage
/// so far (`pos - resumed` frames in `elapsed`). An average over the whole
/// stage moves slowly, unlike a recent-rate estimate, which swings as
/// segments start (slow: decoding up to their first frame) and as resumed
/// segments are counted at once.
fn time_left(pos: u64, len: u64, resumed: u64, elapsed: Duration) -> String {
    let left = len.saturating_sub(pos);
    let worked = pos.saturating_sub(resumed);
    if left == 0 {
        return "finishing".into();
    }
    if worked == 0 || elapsed < FIRST_ESTIMATE_AFTER {
        return "estimating".into();
    }
    let seconds = elapsed.as_secs_f64() * left as f64 / worked as f64;
    format!("about {} left", rounded_duration(seconds))
}

/// `5 s`, `40 s`, `3 min`, `1 h 20 min`: rounded so the figure does not
/// flicker (to 5 s under a minute, to the minute under an hour).
fn rounded_duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{} s", ((seconds / 5.0).ceil() as u64).max(1) * 5)
    } else if seconds < 3600.0 {
        format!("{} min", (seconds / 60.0).round() as u64)
    } else {
        let minutes = (seconds / 60.0).round() as u64;
        format!("{} h {} min", minutes / 60, minutes % 60)
    }
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
        self.main.reset_elapsed();
        self.resumed.store(0, Ordering::Relaxed);
        if total_frames > 0 {
            self.main.set_style(frames_style(self.resumed.clone()));
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

    fn resumed(&self, index: u32, frames: u64) {
        self.resumed.fetch_add(frames, Ordering::Relaxed);
        self.frames(index, frames);
    }

    fn segment_finished(&self, index: u32, _skipped: bool) {
        if let Some(bar) = self.segments.lock().unwrap().remove(&index) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn warn(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_string());
        if self.quiet {
            return;
        }
        if self.multi.is_hidden() {
            // No bars are drawn (standard error is not a terminal): the
            // warning is still for the user.
            crate::output::note(format!("warning: {message}"));
        } else {
            let _ = self.multi.println(format!("warning: {message}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_uses_this_runs_rate_only() {
        let s = Duration::from_secs;
        // 100 of 400 frames in 10 s: 300 more take 30 s.
        assert_eq!(time_left(100, 400, 0, s(10)), "about 30 s left");
        // 200 of them were resumed at once: 100 in 10 s is still the rate.
        assert_eq!(time_left(300, 400, 200, s(10)), "about 10 s left");
        // Only resumed frames so far, or too early to say.
        assert_eq!(time_left(200, 400, 200, s(10)), "estimating");
        assert_eq!(time_left(10, 400, 0, Duration::from_millis(1500)), "estimating");
        assert_eq!(time_left(400, 400, 0, s(10)), "finishing");
    }

    #[test]
    fn durations_are_rounded_so_they_do_not_flicker() {
        assert_eq!(rounded_duration(0.2), "5 s");
        assert_eq!(rounded_duration(26.0), "30 s");
        assert_eq!(rounded_duration(89.0), "1 min");
        assert_eq!(rounded_duration(3599.0), "60 min");
        assert_eq!(rounded_duration(4800.0), "1 h 20 min");
    }
}
