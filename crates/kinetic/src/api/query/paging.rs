//! The pager under every query: first page, links or `$skip` pages (several at once with
//! `Parallelism`), repeats dropped, a server that ignores `$skip` or `$top` recognised. The rules
//! are in the [parent module](super).

use super::super::value::Record;
use super::super::Row;
use super::{next_page_url, EntitySetQuery};
use crate::http::{Request, Response, Url};
use crate::{Error, Result};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Decodes one page: its rows and its next link. The number is the index of the page's first
/// row in the result, as the server sends it (for errors naming a row).
pub(super) type Decoder<T> =
    Arc<dyn Fn(&Response, u64) -> Result<(Vec<T>, Option<String>)> + Send + Sync>;

/// Turns a decoded row into the one handed out (see [`Paging::project`]).
pub(super) type Projector<T> = Arc<dyn Fn(T) -> T + Send + Sync>;

/// A page fetched by `$skip`: the offset of its first new row, the `$top` asked, the answer
/// (decoded by the pager), how long the server took to answer it, and whether it starts one row
/// early (the last row of the page before, to check that nothing moved between them).
pub(super) type SkipPage = (u64, u64, Response, Duration, bool);

/// How many `$skip` pages are under way at once. Fixed with `Parallelism`; else chosen as the
/// server answers, the way TCP chooses its window: one page at first; one more for each page
/// answered as fast as the fastest so far (so doubling each round trip, "slow start") up to the
/// threshold, then one more per round trip; halved when a page's answer takes more than twice the
/// fastest (plus 50 ms: a local server's noise is no signal) or the server pushes back (429,
/// 502-504, no answer); one at a time for good once the server answers `Retry-After` (it paces
/// its clients: more requests only wait longer). Never above `MaxParallelism`. Only how many
/// requests are under way changes: the offsets, the order and the checks do not.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    size: usize,
    max: usize,
    adaptive: bool,
    /// Below it, the window grows a page per page answered; above, a page per round trip.
    threshold: usize,
    /// The fastest answer so far.
    fastest: Option<Duration>,
    /// Pages answered since the window last grew past the threshold.
    answered: usize,
    /// The pipeline's push-backs when last looked at.
    pushbacks: u64,
}

/// Slack over twice the fastest answer before a slower one counts as the server slowing down.
const SLOWER: Duration = Duration::from_millis(50);

impl Window {
    /// A window of `fixed` pages, or, without, one chosen as the server answers, up to `max`.
    pub(crate) fn new(fixed: Option<usize>, max: usize) -> Window {
        let max = max.max(1);
        Window {
            size: fixed.unwrap_or(1).max(1),
            max: fixed.unwrap_or(max).max(1),
            adaptive: fixed.is_none(),
            threshold: max,
            fastest: None,
            answered: 0,
            pushbacks: 0,
        }
    }

    /// The pages to keep under way now.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The most pages ever under way at once.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// A page was answered in `took`; `pushbacks` and `told_to_wait` are the pipeline's now.
    pub(crate) fn answered(&mut self, took: Duration, pushbacks: u64, told_to_wait: bool) {
        if !self.adaptive {
            return;
        }
        if told_to_wait {
            self.size = 1;
            self.threshold = 1;
            self.max = 1;
            return;
        }
        let fastest = *self.fastest.get_or_insert(took);
        self.fastest = Some(fastest.min(took));
        if pushbacks > self.pushbacks || took > fastest * 2 + SLOWER {
            self.pushbacks = pushbacks;
            self.threshold = (self.size / 2).max(1);
            self.size = self.threshold;
            self.answered = 0;
            return;
        }
        if self.size < self.threshold {
            self.size += 1;
        } else {
            self.answered += 1;
            if self.answered >= self.size {
                self.size += 1;
                self.answered = 0;
            }
        }
        self.size = self.size.min(self.max);
    }
}

enum Next {
    First,
    Link(Url),
    Skip,
    Done,
}

pub(super) struct Paging<T> {
    query: EntitySetQuery,
    decode: Decoder<T>,
    /// Drops the key columns asked for only for the repeat check, after it.
    project: Option<Projector<T>>,
    next: Next,
    /// Rows read so far (before truncation to the limit), i.e. the offset of the next row.
    read: u64,
    /// Rows dropped as repeats (see [`Paging::drop_repeats`]).
    dropped: u64,
    /// The entity's key columns.
    key: Vec<String>,
    /// The keys of the last pages handed out, newest last.
    recent: VecDeque<HashSet<String>>,
    /// The first page: its first row's text, its length and a hash of its rows, to recognise a
    /// server that ignores `$skip` (it answers every `$skip` page with the first page again).
    first_page: Option<(String, usize, u64)>,
    /// `$orderby` of every request.
    order: String,
    /// Rows per `$skip` request: the page size, or the server's cap once a page showed it.
    page: u64,
    /// `$skip` requests under way, in offset order (at most the window's size of them).
    inflight: FuturesOrdered<BoxFuture<'static, Result<SkipPage>>>,
    /// How many may be under way.
    window: Window,
    /// The key of the last row read (the row at `read - 1`), which a page fetched beside others
    /// starts with when nothing moved.
    last_key: Option<String>,
    /// Reading one page alone again, after a page fetched beside others did not start where the
    /// page before it ended.
    resync: bool,
    /// The offset (relative to the caller's `$skip`) the next `$skip` request starts at.
    issued: u64,
    /// Pages handed out so far.
    pages: u64,
    /// While following links: the rows read before the request that began the chain, and the
    /// `$top` it asked (the chain serves that many rows at most).
    chain: Option<(u64, u64)>,
}

/// A spawned page fetch, aborted when dropped.
pub(super) struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What paging needs of a row: its key, to recognise a row seen twice.
pub trait PageItem: Send + 'static {
    /// The text of column `name`, or `None` when the row lacks it.
    fn cell_text(&self, name: &str) -> Option<String>;

    /// The whole row as one text.
    fn row_text(&self) -> String;

    /// The row's key values as one text, or `None` when the row lacks a key column.
    fn key_text(&self, key: &[String]) -> Option<String> {
        let mut text = String::new();
        for k in key {
            text.push_str(&self.cell_text(k)?);
            text.push('\u{1f}');
        }
        Some(text)
    }
}

impl PageItem for Row {
    fn cell_text(&self, name: &str) -> Option<String> {
        self.get(name).map(ToString::to_string)
    }

    fn row_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl PageItem for Record {
    fn cell_text(&self, name: &str) -> Option<String> {
        self.get(name).map(ToString::to_string)
    }

    fn row_text(&self) -> String {
        self.to_json_text()
    }
}

impl<T: PageItem> Paging<T> {
    /// A pager at the first page of `query`.
    pub(super) fn new(
        query: EntitySetQuery,
        decode: Decoder<T>,
        project: Option<Projector<T>>,
    ) -> Self {
        let window = Window::new(query.parallelism, query.max_parallelism);
        Paging {
            query,
            decode,
            project,
            next: Next::First,
            read: 0,
            dropped: 0,
            key: Vec::new(),
            recent: VecDeque::new(),
            first_page: None,
            order: String::new(),
            page: 0,
            window,
            last_key: None,
            resync: false,
            inflight: FuturesOrdered::new(),
            issued: 0,
            pages: 0,
            chain: None,
        }
    }

    pub(super) async fn next_page(&mut self) -> Result<Option<Vec<T>>> {
        let limit = self.query.limit();
        let remaining = limit.map(|l| l.saturating_sub(self.read - self.dropped));
        if remaining == Some(0) {
            self.next = Next::Done;
            self.inflight = FuturesOrdered::new();
        }
        let pipeline = self.query.connection.pipeline();
        // The request that may begin a chain of links: rows read before it, and its `$top`.
        let mut asked = None;
        // A page longer than the `$top` asked, without a link: the server ignores `$top` and
        // sent every row from the page's offset on, so this page is the last.
        let mut sent_all = false;
        // 1 when a page kept the row before its position (see the `$skip` arm).
        let mut kept_overlap = 0u64;
        let (mut rows, link, response_url) = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return Ok(None),
            Next::Link(url) => {
                let response = pipeline
                    .send(Request::new(crate::http::Method::GET, url))
                    .await?;
                let (rows, link) = (self.decode)(&response, self.read)?;
                (rows, link, Some(response.url().clone()))
            }
            Next::First => {
                self.key = self.query.key_columns().await?;
                self.order = self.query.request_order(&self.key);
                let top = remaining.map_or(self.query.page_size, |r| r.min(self.query.page_size));
                let url = self.query.page_url(&self.order, top, self.query.skip)?;
                asked = Some((0, top));
                let response = pipeline
                    .send(Request::new(crate::http::Method::GET, url))
                    .await?;
                let (rows, link) = (self.decode)(&response, 0)?;
                sent_all = link.is_none() && rows.len() as u64 > top;
                // A first page shorter than asked shows the server's cap (or is the only page).
                self.page = if rows.is_empty() || rows.len() as u64 >= top {
                    self.query.page_size
                } else {
                    rows.len() as u64
                };
                (rows, link, Some(response.url().clone()))
            }
            Next::Skip => loop {
                let Some((offset, top, response, took, overlap)) =
                    self.next_skip_page(limit).await?
                else {
                    return Ok(None);
                };
                let pipeline = self.query.connection.pipeline();
                self.window
                    .answered(took, pipeline.pushbacks(), pipeline.told_to_wait());
                debug_assert_eq!(offset, self.read);
                // The next request leaves before this page is decoded (it assumes a full page;
                // a short one resets below), so the server works while this side decodes and
                // the caller consumes. The yield lets the new task send it, even on a
                // single-threaded runtime.
                self.fill(limit)?;
                tokio::task::yield_now().await;
                // Rows are numbered as the server placed them (the page may start a row early).
                let (mut rows, link) = (self.decode)(&response, offset - u64::from(overlap))?;
                drop(response);
                if link.is_none() && rows.len() as u64 > top {
                    sent_all = true;
                } else if self.repeats_first_page(&rows) {
                    return Err(Error::Protocol {
                        status: None,
                        message: format!(
                            "{} answered the same rows again for the next page (the server \
                             ignores $skip); narrow it with parameters or a filter",
                            self.query.what()
                        ),
                        correlation_id: None,
                        source: None,
                    });
                }
                let raw = rows.len() as u64;
                if overlap && !rows.is_empty() {
                    let found = self.last_key.is_some()
                        && rows.iter().any(|r| r.key_text(&self.key) == self.last_key);
                    if !found && !self.resync {
                        // Fetched at another moment than the page before it: a row inserted or
                        // deleted between the two could have moved a row past both. Read this
                        // position again, alone (one request at a time sees rows move only
                        // forward, into the next page, where they are recognised as repeats).
                        self.inflight = FuturesOrdered::new();
                        self.issued = offset;
                        self.resync = true;
                        sent_all = false;
                        continue;
                    }
                    self.resync = false;
                    // The row before this page's position: a repeat when it is the last row
                    // read or one seen before (rows moved forward); else rows moved back (a
                    // delete) and it is new.
                    let first = rows[0].key_text(&self.key);
                    if found
                        || first
                            .as_ref()
                            .is_some_and(|k| self.recent.iter().any(|p| p.contains(k)))
                    {
                        rows.remove(0);
                    } else {
                        kept_overlap = 1;
                    }
                }
                if sent_all {
                    self.inflight = FuturesOrdered::new();
                } else if raw > 0 && raw < top {
                    // Shorter than asked (the end, or a smaller cap): the pages under way start
                    // at the wrong offsets.
                    self.inflight = FuturesOrdered::new();
                    self.issued = offset + raw - u64::from(overlap);
                    self.page = raw;
                    self.fill(limit)?;
                    tokio::task::yield_now().await;
                }
                break (rows, link, None);
            },
        };
        if rows.is_empty() {
            // The end, whatever a link says (a link to an empty page would loop otherwise).
            self.inflight = FuturesOrdered::new();
            return Ok(None);
        }
        if self.pages == 0 {
            self.first_page = rows
                .first()
                .map(|r| (r.row_text(), rows.len(), page_hash(&rows)));
        }
        self.read = self.read.saturating_add(rows.len() as u64 - kept_overlap);
        if !self.key.is_empty() {
            self.last_key = rows.last().and_then(|r| r.key_text(&self.key));
        }
        self.drop_repeats(&mut rows);
        if let Some(r) = remaining {
            rows.truncate(usize::try_from(r).unwrap_or(usize::MAX));
        }
        let chain_done = link.is_none()
            && asked.is_none()
            && self
                .chain
                .is_some_and(|(start, top)| self.read - start < top);
        self.next = match (link, response_url) {
            (Some(link), Some(page_url)) => {
                if asked.is_some() {
                    self.chain = asked;
                }
                Next::Link(next_page_url(&page_url, &link)?)
            }
            // A chain of links that served fewer rows than the `$top` that began it has served
            // them all: a `$skip` after it would only find an empty page (and a server that
            // pages by links alone refuses `$skip`).
            _ if chain_done || sent_all => {
                self.inflight = FuturesOrdered::new();
                Next::Done
            }
            // Without a link, or at the end of a chain of links (which covers only the `$top`
            // asked), go on by `$skip` until an empty page.
            _ => {
                if self.inflight.is_empty() {
                    self.issued = self.read;
                    self.fill(limit)?;
                }
                Next::Skip
            }
        };
        self.pages += 1;
        tracing::debug!(
            target: "epicor_kinetic::paging",
            "{}: page {} with {} rows ({} read, {} repeats dropped); next by {}",
            self.query.what(),
            self.pages,
            rows.len(),
            self.read,
            self.dropped,
            match &self.next {
                Next::Link(_) => "the server's link",
                Next::Skip => "$skip",
                _ => "nothing (the end)",
            }
        );
        let rows = match &self.project {
            Some(project) => rows.into_iter().map(|r| project(r)).collect(),
            None => rows,
        };
        Ok(Some(rows))
    }

    /// Whether a `$skip` page is the first page again, row for row: the server ignores `$skip`
    /// (paging would never end). Rows equal to the first page's are not enough (a BAQ without
    /// a key may hold runs of equal rows): the whole page must be. Only a page starting with the
    /// first page's first row is hashed.
    fn repeats_first_page(&self, rows: &[T]) -> bool {
        let Some((first, len, hash)) = &self.first_page else {
            return false;
        };
        rows.len() == *len
            && rows.first().is_some_and(|r| r.row_text() == *first)
            && page_hash(rows) == *hash
    }

    /// Drops rows already handed out in one of the last pages. Rows inserted before the reading
    /// position while `$skip` paging goes on shift the later rows forward, so the next page would
    /// start with rows of the previous one: they are recognised by their key and dropped. (Rows
    /// deleted before the position shift rows back instead; no client can see those without a
    /// server cursor: servers that page with `@odata.nextLink` handle it.)
    fn drop_repeats(&mut self, rows: &mut Vec<T>) {
        const WINDOW: usize = 3;
        if self.key.is_empty() {
            // A BAQ without a key: nothing tells a repeat from an equal row.
            return;
        }
        let mut keys = HashSet::with_capacity(rows.len());
        let before = rows.len();
        rows.retain(|row| match row.key_text(&self.key) {
            Some(k) => !self.recent.iter().any(|page| page.contains(&k)) && keys.insert(k),
            None => true,
        });
        self.dropped += (before - rows.len()) as u64;
        self.recent.push_back(keys);
        while self.recent.len() > WINDOW.max(self.window.max() + 1) {
            self.recent.pop_front();
        }
    }

    /// The next `$skip` page in order, keeping up to the window's size of requests under way.
    async fn next_skip_page(&mut self, limit: Option<u64>) -> Result<Option<SkipPage>> {
        self.fill(limit)?;
        self.inflight.next().await.transpose()
    }

    /// Whether `$skip` pages start one row early: when several may be under way at once, so
    /// that a page fetched at another moment than the one before it is recognised (rows that
    /// moved between the two). One at a time needs no check; rows without a key cannot have one.
    fn overlaps(&self) -> bool {
        !self.key.is_empty() && self.window.max() > 1
    }

    /// Sends `$skip` requests until the window's size are under way (or the limit is covered).
    fn fill(&mut self, limit: Option<u64>) -> Result<()> {
        let size = if self.resync { 1 } else { self.window.size() };
        while self.inflight.len() < size {
            let left = limit.map(|l| l.saturating_sub(self.issued - self.dropped));
            if left == Some(0) {
                break;
            }
            let top = left.map_or(self.page, |l| l.min(self.page)).max(1);
            let offset = self.issued;
            // A page of one row cannot also hold the row before it.
            let overlap = self.overlaps() && offset > 0 && top > 1;
            let url = self.query.page_url(
                &self.order,
                top,
                self.query.skip.saturating_add(offset - u64::from(overlap)),
            )?;
            let pipeline = self.query.connection.pipeline().clone();
            let fetch = async move {
                let sent = Instant::now();
                let response = pipeline
                    .send(Request::new(crate::http::Method::GET, url))
                    .await?;
                Ok((offset, top, response, sent.elapsed(), overlap))
            };
            // Each page under way runs as its own task: the transfer goes on while the caller
            // consumes earlier rows. Dropping the paging (or a page that ends it) aborts them.
            let page: BoxFuture<'static, Result<SkipPage>> =
                match tokio::runtime::Handle::try_current() {
                    Ok(handle) => {
                        let mut task = AbortOnDrop(handle.spawn(fetch));
                        Box::pin(async move {
                            match (&mut task.0).await {
                                Ok(result) => result,
                                Err(e) => Err(Error::Transport {
                                    status: None,
                                    message: format!("a page fetch stopped: {e}"),
                                    correlation_id: None,
                                    source: Some(std::sync::Arc::new(e)),
                                }),
                            }
                        })
                    }
                    _ => Box::pin(fetch),
                };
            self.inflight.push_back(page);
            self.issued = offset + top - u64::from(overlap);
        }
        Ok(())
    }
}

/// A hash of a page's rows (their whole text, in order).
fn page_hash<T: PageItem>(rows: &[T]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for r in rows {
        r.row_text().hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_fixed_window_stays_what_it_was_set_to() {
        let mut w = Window::new(Some(4), 8);
        for _ in 0..20 {
            w.answered(100 * MS, 0, false);
        }
        w.answered(900 * MS, 3, true);
        assert_eq!((w.size(), w.max()), (4, 4));
    }

    #[test]
    fn an_adaptive_window_grows_while_answers_hold_and_never_past_the_cap() {
        let mut w = Window::new(None, 8);
        assert_eq!(w.size(), 1);
        let mut sizes = Vec::new();
        for _ in 0..12 {
            w.answered(100 * MS, 0, false);
            sizes.push(w.size());
        }
        assert_eq!(sizes[..7], [2, 3, 4, 5, 6, 7, 8]);
        assert!(sizes.iter().all(|s| *s <= 8));
        assert_eq!(w.max(), 8);
    }

    #[test]
    fn slower_answers_and_push_backs_halve_it_and_retry_after_makes_it_serial() {
        let mut w = Window::new(None, 8);
        for _ in 0..7 {
            w.answered(100 * MS, 0, false);
        }
        assert_eq!(w.size(), 8);
        // Twice the fastest and more than 50 ms over: the server is slowing down.
        w.answered(260 * MS, 0, false);
        assert_eq!(w.size(), 4);
        // Past the threshold it grows one page per round trip (4 pages answered at 4).
        for _ in 0..4 {
            w.answered(100 * MS, 0, false);
        }
        assert_eq!(w.size(), 5);
        // A 503 (retried, so the page still came): halved.
        w.answered(100 * MS, 1, false);
        assert_eq!(w.size(), 2);
        // The same push-back seen again is not counted twice.
        w.answered(100 * MS, 1, false);
        assert!(w.size() >= 2);
        // Retry-After: one at a time, for good.
        w.answered(100 * MS, 1, true);
        for _ in 0..10 {
            w.answered(100 * MS, 1, false);
        }
        assert_eq!((w.size(), w.max()), (1, 1));
        // A local server's noise (a few ms against a fastest of 1 ms) is no signal.
        let mut local = Window::new(None, 8);
        for took in [1, 5, 2, 30, 1, 4, 3, 2] {
            local.answered(took * MS, 0, false);
        }
        assert_eq!(local.size(), 8);
    }
}
