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

/// Decodes one page: its rows and its next link. The number is the index of the page's first
/// row in the result, as the server sends it (for errors naming a row).
pub(super) type Decoder<T> =
    Arc<dyn Fn(&Response, u64) -> Result<(Vec<T>, Option<String>)> + Send + Sync>;

/// Turns a decoded row into the one handed out (see [`Paging::project`]).
pub(super) type Projector<T> = Arc<dyn Fn(T) -> T + Send + Sync>;

/// A page fetched by `$skip`: its offset, the `$top` asked, and the answer (decoded by the pager).
pub(super) type SkipPage = (u64, u64, Response);

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
    /// `$skip` requests under way, in offset order (at most `Parallelism` of them).
    inflight: FuturesOrdered<BoxFuture<'static, Result<SkipPage>>>,
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
            Next::Skip => {
                let Some((offset, top, response)) = self.next_skip_page(limit).await? else {
                    return Ok(None);
                };
                debug_assert_eq!(offset, self.read);
                // The next request leaves before this page is decoded (it assumes a full page;
                // a short one resets below), so the server works while this side decodes and
                // the caller consumes. The yield lets the new task send it, even on a
                // single-threaded runtime.
                self.fill(limit)?;
                tokio::task::yield_now().await;
                let (rows, link) = (self.decode)(&response, offset)?;
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
                if sent_all {
                    self.inflight = FuturesOrdered::new();
                } else if !rows.is_empty() && (rows.len() as u64) < top {
                    // Shorter than asked (the end, or a smaller cap): the pages under way start
                    // at the wrong offsets.
                    self.inflight = FuturesOrdered::new();
                    self.issued = offset + rows.len() as u64;
                    self.page = rows.len() as u64;
                    self.fill(limit)?;
                    tokio::task::yield_now().await;
                }
                (rows, link, None)
            }
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
        self.read = self.read.saturating_add(rows.len() as u64);
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
        while self.recent.len() > WINDOW.max(self.query.parallelism + 1) {
            self.recent.pop_front();
        }
    }

    /// The next `$skip` page in order, keeping up to `Parallelism` requests under way.
    async fn next_skip_page(&mut self, limit: Option<u64>) -> Result<Option<SkipPage>> {
        self.fill(limit)?;
        self.inflight.next().await.transpose()
    }

    /// Sends `$skip` requests until `Parallelism` are under way (or the limit is covered).
    fn fill(&mut self, limit: Option<u64>) -> Result<()> {
        let parallelism = self.query.parallelism.max(1);
        while self.inflight.len() < parallelism {
            let left = limit.map(|l| l.saturating_sub(self.issued - self.dropped));
            if left == Some(0) {
                break;
            }
            let top = left.map_or(self.page, |l| l.min(self.page)).max(1);
            let offset = self.issued;
            let url =
                self.query
                    .page_url(&self.order, top, self.query.skip.saturating_add(offset))?;
            let pipeline = self.query.connection.pipeline().clone();
            let fetch = async move {
                let response = pipeline
                    .send(Request::new(crate::http::Method::GET, url))
                    .await?;
                Ok((offset, top, response))
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
            self.issued = offset + top;
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
