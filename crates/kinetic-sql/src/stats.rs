//! What a statement cost: rows the server sent, pages and requests it answered.

use epicor_kinetic::http::Pipeline;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Rows, pages and requests of a session's statements, counted as they happen.
#[derive(Debug, Clone)]
pub struct Transfer(Arc<Counters>);

#[derive(Debug)]
struct Counters {
    rows: AtomicU64,
    pages: AtomicU64,
    /// The connection's pipeline, whose calls are the requests; its count at the last reset.
    pipeline: Pipeline,
    requests_at_reset: AtomicU64,
}

impl Transfer {
    /// Counters whose requests are the calls `pipeline` sends.
    pub(crate) fn for_pipeline(pipeline: Pipeline) -> Transfer {
        Transfer(Arc::new(Counters {
            rows: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            requests_at_reset: AtomicU64::new(pipeline.requests_sent()),
            pipeline,
        }))
    }

    pub(crate) fn add_page(&self, rows: u64) {
        self.0.rows.fetch_add(rows, Ordering::Relaxed);
        self.0.pages.fetch_add(1, Ordering::Relaxed);
    }

    /// Rows received from the server so far.
    pub fn rows(&self) -> u64 {
        self.0.rows.load(Ordering::Relaxed)
    }

    /// Pages of rows received so far (an empty page too): one request each.
    pub fn pages(&self) -> u64 {
        self.0.pages.load(Ordering::Relaxed)
    }

    /// Every request the connection sent since the last reset: pages, the `$count` of a
    /// `COUNT(*)` or of a parallel scan, `$metadata` and the list of services when first read,
    /// writes. (With statements running at once on one session, theirs together.)
    pub fn requests(&self) -> u64 {
        self.0
            .pipeline
            .requests_sent()
            .saturating_sub(self.0.requests_at_reset.load(Ordering::Relaxed))
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        self.0.rows.store(0, Ordering::Relaxed);
        self.0.pages.store(0, Ordering::Relaxed);
        self.0
            .requests_at_reset
            .store(self.0.pipeline.requests_sent(), Ordering::Relaxed);
    }
}
