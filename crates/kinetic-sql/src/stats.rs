//! What a statement cost: rows the server sent, pages (requests) it answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Rows and pages transferred to the scans of a session, counted as pages arrive.
#[derive(Debug, Clone, Default)]
pub struct Transfer(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    rows: AtomicU64,
    pages: AtomicU64,
}

impl Transfer {
    pub(crate) fn add_page(&self, rows: u64) {
        self.0.rows.fetch_add(rows, Ordering::Relaxed);
        self.0.pages.fetch_add(1, Ordering::Relaxed);
    }

    /// Rows received from the server so far.
    pub fn rows(&self) -> u64 {
        self.0.rows.load(Ordering::Relaxed)
    }

    /// Pages received so far: one request each (besides the `$count` of a parallel scan and
    /// the `$metadata` reads, which are not counted).
    pub fn pages(&self) -> u64 {
        self.0.pages.load(Ordering::Relaxed)
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        self.0.rows.store(0, Ordering::Relaxed);
        self.0.pages.store(0, Ordering::Relaxed);
    }
}
