//! Blocking on the SDK's async calls from the synchronous ports.

use std::future::Future;
use tokio::runtime::Handle;

/// Runs `fut` to completion on `handle`'s runtime, blocking this thread.
///
/// Meant for threads that are not runtime workers (plain threads, or tokio's
/// blocking pool via `spawn_blocking`), where this is a plain
/// [`Handle::block_on`]. On a multi-thread runtime's worker it still works,
/// through [`tokio::task::block_in_place`], at the cost of that worker; on a
/// current-thread runtime it panics, as any blocking call there would
/// deadlock.
pub(crate) fn block_on<F: Future>(handle: &Handle, fut: F) -> F::Output {
    tokio::task::block_in_place(|| handle.block_on(fut))
}

/// Runs a synchronous port call (or a whole pipeline step) on tokio's
/// blocking pool and waits for it without blocking the async caller.
///
/// This is how async code (a Lambda handler) should use [`crate::S3Store`]
/// and [`crate::DynamoJobStore`]:
///
/// ```no_run
/// # async fn handler(store: vidstega_aws::S3Store) -> vidstega_pipeline::Result<()> {
/// use vidstega_pipeline::ObjectStore;
/// let size = vidstega_aws::run_blocking(move || store.size("uploads/v.mp4")).await?;
/// # let _ = size; Ok(()) }
/// ```
///
/// A panic in `f` resumes in the caller.
pub async fn run_blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the blocking task was cancelled (runtime shutting down): {e}"),
    }
}
