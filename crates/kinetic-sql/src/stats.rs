//! What a statement cost: rows the server sent, requests made.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Rows transferred by the scans of a session, counted as pages arrive.
#[derive(Debug, Clone, Default)]
pub struct Transfer(Arc<AtomicU64>);

impl Transfer {
    pub(crate) fn add_rows(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Rows received from the server so far.
    pub fn rows(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}
