//! Ctrl-C (and `kill`) during an embed: the finished work is kept and the
//! user is told that running the same command again resumes, and from
//! where. The process then exits with 130 (128 + SIGINT) or 143 (SIGTERM),
//! as shells expect; ffmpeg children in the same process group receive the
//! terminal's SIGINT themselves.

use crate::output::note;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The work folder being filled, and how to tell whether it holds finished
/// work (set by the embed once it has the folder).
static WORK: Mutex<Option<WorkWatch>> = Mutex::new(None);

/// What the handler needs to know about the running embed.
struct WorkWatch {
    folder: PathBuf,
    resumable: fn(&std::path::Path) -> bool,
}

/// Whether a termination signal arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Tells the handler which work folder this run fills; `resumable` says
/// whether it holds finished work a rerun would keep.
pub fn watch(folder: PathBuf, resumable: fn(&std::path::Path) -> bool) {
    *WORK.lock().unwrap_or_else(|e| e.into_inner()) = Some(WorkWatch { folder, resumable });
}

/// Installs the handler (once, before the work starts). Without it the
/// default action ends the process silently, which also keeps the work.
pub fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            INTERRUPTED.store(true, Ordering::SeqCst);
            let guard = WORK.lock().unwrap_or_else(|e| e.into_inner());
            // Start the message on a fresh line (a progress bar may be
            // drawn on the current one).
            eprintln!();
            match guard.as_ref() {
                Some(w) if (w.resumable)(&w.folder) => note(format!(
                    "interrupted: the finished work is kept in {}; run the same command again to resume \
                         from it (or delete that folder to start over)",
                    w.folder.display()
                )),
                Some(w) => {
                    let _ = std::fs::remove_dir_all(&w.folder);
                    note("interrupted before any part was finished: nothing was kept and nothing was written")
                }
                None => note("interrupted: nothing was written"),
            }
            std::process::exit(128 + signal);
        }
    });
}
