//! One Tokio runtime for the process, and waiting on it from Python: the GIL released, Ctrl-C
//! heard, `fork()` detected.

use crate::errors::InterfaceError;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// The runtime of the process that made it.
struct Owned {
    pid: u32,
    runtime: &'static tokio::runtime::Runtime,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// How often a wait wakes to let Python run its signal handlers (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The process's runtime, made on first use. After `fork()` the child makes its own: the
/// parent's worker threads do not exist in the child, so its runtime is left untouched
/// (never dropped: dropping would wait for threads that are not there).
pub fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some(owned) = slot.as_ref() {
        if owned.pid == pid {
            return Ok(owned.runtime);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(2, 8),
        )
        .thread_name("epicor-kinetic")
        .enable_all()
        .build()
        .map_err(|e| InterfaceError::new_err(format!("cannot start the I/O runtime: {e}")))?;
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
    *slot = Some(Owned { pid, runtime });
    Ok(runtime)
}

/// The id of this process (what a connection remembers, to refuse use after `fork()`).
pub fn pid() -> u32 {
    std::process::id()
}

/// An error unless `owner` is this process.
pub fn check_process(owner: u32, what: &str) -> PyResult<()> {
    if owner == pid() {
        return Ok(());
    }
    Err(InterfaceError::new_err(format!(
        "this {what} was opened in process {owner}, and this is process {} (a fork): its network connections and threads belong to the parent; call connect() again in this process",
        pid()
    )))
}

/// Runs `future` to completion on the process's runtime with the GIL released, waking every
/// 100 ms to run Python's signal handlers: Ctrl-C (`KeyboardInterrupt`) cancels the future.
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let runtime = runtime()?;
    let mut future = std::pin::pin!(future);
    loop {
        let step = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, future.as_mut()).await })
        });
        match step {
            Ok(output) => return Ok(output),
            Err(_) => py.check_signals()?,
        }
    }
}
