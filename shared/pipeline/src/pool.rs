//! The local pipeline's one worker pool: segments embedded at once (the
//! Map state's `MaxConcurrency` on one machine), carriers and segments read
//! at once when extracting.
//!
//! Threads are named (`<name>-<n>`, as panics and debuggers show them);
//! the first error, or a panic, raises an abort flag that stops every worker
//! before its next item, and is what the pool returns.

use crate::error::{PipelineError, Result};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Runs `work` on each item of `items` on up to `workers` threads named
/// `<name>-<n>`. Each thread first makes its own state with `state` (an
/// open file, a buffer) and passes it to every item it takes. Items are
/// taken in order. The first error stops the pool: items not yet taken are
/// left, items already running finish, and that error is returned; a panic
/// in `state` or `work` is caught and returned as
/// [`PipelineError::Panicked`].
pub fn for_each<I, S>(
    name: &str,
    workers: usize,
    items: I,
    state: impl Fn() -> Result<S> + Sync,
    work: impl Fn(&mut S, I::Item) -> Result<()> + Sync,
) -> Result<()>
where
    I: Iterator + Send,
{
    let queue = Mutex::new(items);
    let abort = AtomicBool::new(false);
    let failure: Mutex<Option<PipelineError>> = Mutex::new(None);
    let fail = |e: PipelineError| {
        abort.store(true, Ordering::SeqCst);
        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    };
    std::thread::scope(|scope| {
        for n in 0..workers.max(1) {
            let worker = || {
                let run = || -> Result<()> {
                    let mut own = state()?;
                    while !abort.load(Ordering::SeqCst) {
                        let Some(item) = queue.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                            break;
                        };
                        work(&mut own, item)?;
                    }
                    Ok(())
                };
                match catch_unwind(AssertUnwindSafe(run)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => fail(e),
                    Err(panic) => fail(PipelineError::Panicked(panic_text(panic.as_ref()))),
                }
            };
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn_scoped(scope, worker);
            if let Err(e) = spawned {
                fail(PipelineError::io(format!("cannot start a {name} thread"), e));
                break;
            }
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What a panic said.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_item_runs_once_with_its_threads_own_state() {
        let seen = Mutex::new(Vec::new());
        let states = AtomicUsize::new(0);
        for_each(
            "test",
            3,
            0..100u32,
            || {
                states.fetch_add(1, Ordering::SeqCst);
                Ok(std::thread::current().name().unwrap().to_string())
            },
            |thread_name, i| {
                assert!(thread_name.starts_with("test-"), "{thread_name}");
                seen.lock().unwrap().push(i);
                Ok(())
            },
        )
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert!((1..=3).contains(&states.load(Ordering::SeqCst)));
    }

    #[test]
    fn the_first_error_stops_the_pool_and_is_returned() {
        let ran = AtomicUsize::new(0);
        let e = for_each(
            "test",
            2,
            0..1000u32,
            || Ok(()),
            |_, i| {
                ran.fetch_add(1, Ordering::SeqCst);
                if i == 5 {
                    return Err(PipelineError::InvalidInput("item 5".into()));
                }
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "item 5");
        // Stopped long before the end (each worker takes at most one more).
        assert!(ran.load(Ordering::SeqCst) < 20, "{}", ran.load(Ordering::SeqCst));
    }

    #[test]
    fn a_panic_becomes_an_error_instead_of_ending_the_process() {
        let e = for_each(
            "test",
            2,
            0..10u32,
            || Ok(()),
            |_, i| {
                if i == 3 {
                    panic!("item {i} broke");
                }
                Ok(())
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, PipelineError::Panicked(ref m) if m == "item 3 broke"),
            "{e}"
        );
        // A failing state (an unopenable file) is an error too.
        let e = for_each(
            "test",
            2,
            0..10u32,
            || Err::<(), _>(PipelineError::InvalidInput("no file".into())),
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "no file");
    }
}
