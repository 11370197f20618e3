//! Entity set queries, read as a `Stream` of rows paged underneath.
//!
//! Paging rules ([`EntitySetQuery::rows`]):
//! - every request asks `$top` = the page size (`Pagesize`, or less when `$top`/`MaxRows` leave
//!   fewer rows to read) and is ordered by the caller's `$orderby` followed by the entity's key
//!   columns (from the service's `$metadata`, cached per address), so the order is total and
//!   `$skip` never loses nor repeats a row;
//! - a page with `@odata.nextLink` (v4) / `odata.nextLink` (v3) is followed by that link, on the
//!   same pipeline (which refuses another origin);
//! - a page without a link is followed by `$skip` = the caller's `$skip` + the rows read so far:
//!   servers cap pages below the `$top` asked (Epicor: 100), so a short page does not mean the end;
//! - reading stops at the first empty page, or when `$top` / `MaxRows` rows have been read.
//!
//! At most one page is held in memory.

use super::{strip_annotations, Row};
use crate::http::{Request, Response, Url};
use crate::{Connection, Error, Result};
use futures_util::stream::{self, Stream, TryStreamExt};
use kinetic_odata::{parse_filter, parse_orderby, print_expr, print_orderby, Expr, OrderBy};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A query on one entity set, from [`Connection::entity_set`].
#[derive(Debug, Clone)]
pub struct EntitySetQuery<'c> {
    connection: &'c Connection,
    service: String,
    set: String,
    select: Vec<String>,
    filter: Option<String>,
    order_by: Vec<OrderBy>,
    key: Option<Vec<String>>,
    top: Option<u64>,
    skip: u64,
    page_size: u64,
    max_rows: Option<u64>,
}

impl<'c> EntitySetQuery<'c> {
    pub(super) fn new(connection: &'c Connection, service: &str, set: &str) -> Self {
        let settings = connection.settings();
        EntitySetQuery {
            connection,
            service: service.to_owned(),
            set: set.to_owned(),
            select: Vec::new(),
            filter: None,
            order_by: Vec::new(),
            key: None,
            top: None,
            skip: 0,
            page_size: u64::from(settings.page_size.max(1)),
            max_rows: settings.max_rows,
        }
    }

    /// The columns to read (`$select`); all when never called.
    pub fn select<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.select = columns.into_iter().map(|c| c.as_ref().to_owned()).collect();
        self
    }

    /// The rows to read (`$filter`), as an expression.
    pub fn filter(mut self, filter: &Expr) -> Self {
        self.filter = Some(print_expr(filter));
        self
    }

    /// The rows to read (`$filter`), as OData text. It is parsed here, before anything is sent: a
    /// mistake is [`Error::InvalidSettings`] (property `$filter`) naming the byte position.
    pub fn filter_str(mut self, filter: &str) -> Result<Self> {
        let expr = parse_filter(filter).map_err(|e| {
            Error::invalid_settings(
                "$filter",
                format!("the filter does not parse: {e}"),
                "write an OData filter, e.g. CustID eq 'ADDIS0001' and CreditHold eq false",
            )
        })?;
        self.filter = Some(print_expr(&expr));
        Ok(self)
    }

    /// The order (`$orderby`). The entity's key columns are added after it for stable paging.
    pub fn order_by(mut self, order: impl IntoIterator<Item = OrderBy>) -> Self {
        self.order_by = order.into_iter().collect();
        self
    }

    /// The order as OData text (`"Name desc, CustNum"`), parsed here; a mistake is
    /// [`Error::InvalidSettings`] (property `$orderby`) naming the byte position.
    pub fn order_by_str(self, order: &str) -> Result<Self> {
        let items = parse_orderby(order).map_err(|e| {
            Error::invalid_settings(
                "$orderby",
                format!("the order does not parse: {e}"),
                "write an OData order, e.g. Name desc, CustNum",
            )
        })?;
        Ok(self.order_by(items))
    }

    /// The entity's key columns, when known, so `$metadata` need not be read.
    pub fn key<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.key = Some(columns.into_iter().map(|c| c.as_ref().to_owned()).collect());
        self
    }

    /// Reads at most `n` rows (`$top`).
    pub fn top(mut self, n: u64) -> Self {
        self.top = Some(n);
        self
    }

    /// Skips the first `n` rows (`$skip`).
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Rows asked per request (default: the `Pagesize` setting). The server may answer fewer.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = u64::from(n.max(1));
        self
    }

    /// Reads at most `n` rows in all (default: the `MaxRows` setting); `None` for no limit.
    pub fn max_rows(mut self, n: Option<u64>) -> Self {
        self.max_rows = n;
        self
    }

    /// How many rows the whole query reads, if limited: the smaller of `$top` and `MaxRows`.
    fn limit(&self) -> Option<u64> {
        match (self.top, self.max_rows) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many rows match the filter, by the server (`{set}/$count`); `$top`, `$skip` and
    /// `MaxRows` do not apply.
    pub async fn count(&self) -> Result<u64> {
        let mut endpoint = self
            .connection
            .pipeline()
            .endpoints()
            .service(&self.service)?
            .segment(&self.set)
            .segment("$count");
        if let Some(f) = &self.filter {
            endpoint = endpoint.query("$filter", f);
        }
        let response = self
            .connection
            .pipeline()
            .send(Request::get(&endpoint)?)
            .await?;
        let text = response.text();
        text.trim()
            .trim_start_matches('\u{feff}')
            .parse::<u64>()
            .map_err(|e| Error::Protocol {
                status: Some(response.status().as_u16()),
                message: format!(
                    "the answer from {} is not a row count: {e}",
                    response.url().path()
                ),
                correlation_id: None,
                source: Some(Box::new(e)),
            })
    }

    /// The rows, as a stream paged underneath (see the [module](self) for the rules). Errors end
    /// the stream.
    pub fn rows(self) -> impl Stream<Item = Result<Row>> + 'c {
        let state = Paging {
            query: self,
            next: Next::First,
            read: 0,
            order: String::new(),
        };
        stream::try_unfold(state, |mut state| async move {
            match state.next_page().await? {
                Some(rows) => Ok(Some((rows, state))),
                None => Ok(None),
            }
        })
        .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
        .try_flatten()
    }

    /// The key columns of the entity set, from `$metadata` (cached per address).
    async fn key_columns(&self) -> Result<Vec<String>> {
        if let Some(k) = &self.key {
            return Ok(k.clone());
        }
        let endpoint = self
            .connection
            .pipeline()
            .endpoints()
            .service(&self.service)?
            .segment("$metadata");
        let cache_key = format!("{endpoint}#{}", self.set);
        if let Some(k) = key_cache()
            .lock()
            .ok()
            .and_then(|c| c.get(&cache_key).cloned())
        {
            return Ok(k);
        }
        let request = Request::get(&endpoint)?.header(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/xml"),
        );
        let response = self.connection.pipeline().send(request).await?;
        let metadata = kinetic_odata::csdl::Metadata::from_xml(&response.text()).map_err(|e| {
            Error::Protocol {
                status: Some(response.status().as_u16()),
                message: format!("the $metadata of {} does not parse: {e}", self.service),
                correlation_id: None,
                source: Some(Box::new(e)),
            }
        })?;
        let key = match metadata.entity_set(&self.set) {
            Some((_, ty)) if !ty.key.is_empty() => ty.key.clone(),
            Some(_) => {
                return Err(Error::Protocol {
                    status: None,
                    message: format!(
                        "the $metadata of {} gives {} no key; name it with EntitySetQuery::key",
                        self.service, self.set
                    ),
                    correlation_id: None,
                    source: None,
                })
            }
            None => {
                return Err(Error::NotFound {
                    status: None,
                    message: format!("{} has no entity set {}", self.service, self.set),
                    correlation_id: None,
                })
            }
        };
        if let Ok(mut cache) = key_cache().lock() {
            cache.insert(cache_key, key.clone());
        }
        Ok(key)
    }
}

/// Entity keys by `$metadata` address and entity set.
fn key_cache() -> &'static Mutex<HashMap<String, Vec<String>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<String>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The caller's order followed by the key columns it does not already name.
fn stable_order(order: &[OrderBy], key: &[String]) -> String {
    let mut items = order.to_vec();
    for k in key {
        let named = order.iter().any(|o| print_expr(&o.expr) == *k);
        if !named {
            items.push(OrderBy {
                expr: Expr::property(k),
                descending: false,
            });
        }
    }
    print_orderby(&items)
}

enum Next {
    First,
    Link(Url),
    Skip,
    Done,
}

struct Paging<'c> {
    query: EntitySetQuery<'c>,
    next: Next,
    /// Rows read so far (before truncation to the limit).
    read: u64,
    /// `$orderby` of every request.
    order: String,
}

impl Paging<'_> {
    async fn next_page(&mut self) -> Result<Option<Vec<Row>>> {
        let limit = self.query.limit();
        let remaining = limit.map(|l| l.saturating_sub(self.read));
        if remaining == Some(0) {
            self.next = Next::Done;
        }
        let pipeline = self.query.connection.pipeline();
        let request = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return Ok(None),
            Next::Link(url) => Request::new(crate::http::Method::GET, url),
            first_or_skip => {
                if matches!(first_or_skip, Next::First) {
                    let key = self.query.key_columns().await?;
                    self.order = stable_order(&self.query.order_by, &key);
                }
                let q = &self.query;
                let top = remaining.map_or(q.page_size, |r| r.min(q.page_size));
                let mut endpoint = pipeline.endpoints().service(&q.service)?.segment(&q.set);
                if !q.select.is_empty() {
                    endpoint = endpoint.query("$select", &q.select.join(","));
                }
                if let Some(f) = &q.filter {
                    endpoint = endpoint.query("$filter", f);
                }
                endpoint = endpoint
                    .query("$orderby", &self.order)
                    .query("$top", &top.to_string());
                let skip = q.skip.saturating_add(self.read);
                if skip > 0 {
                    endpoint = endpoint.query("$skip", &skip.to_string());
                }
                Request::get(&endpoint)?
            }
        };
        let response = pipeline.send(request).await?;
        let (mut rows, link) = page_rows(&response)?;
        if rows.is_empty() {
            // The end, whatever a link says (a link to an empty page would loop otherwise).
            return Ok(None);
        }
        self.read = self.read.saturating_add(rows.len() as u64);
        if let Some(r) = remaining {
            rows.truncate(usize::try_from(r).unwrap_or(usize::MAX));
        }
        self.next = match link {
            Some(link) => {
                let url = response.url().join(&link).map_err(|e| Error::Protocol {
                    status: Some(response.status().as_u16()),
                    message: format!("the server's next link is not an address: {e}"),
                    correlation_id: None,
                    source: Some(Box::new(e)),
                })?;
                if url == *response.url() {
                    return Err(Error::Protocol {
                        status: Some(response.status().as_u16()),
                        message: "the server's next link points to the page it came with".into(),
                        correlation_id: None,
                        source: None,
                    });
                }
                Next::Link(url)
            }
            // Without a link, or at the end of a chain of links (which covers only the `$top`
            // asked), go on by `$skip` until an empty page.
            None => Next::Skip,
        };
        Ok(Some(rows))
    }
}

/// The rows of a collection answer (`{"value": [...]}`) and its next link, if any.
pub(super) fn page_rows(response: &Response) -> Result<(Vec<Row>, Option<String>)> {
    let bad = |what: &str| Error::Protocol {
        status: Some(response.status().as_u16()),
        message: format!("the answer from {}: {what}", response.url().path()),
        correlation_id: None,
        source: None,
    };
    let body: Value = response.json()?;
    let Value::Object(mut body) = body else {
        return Err(bad("not a JSON object"));
    };
    let link = ["@odata.nextLink", "odata.nextLink"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str).map(str::to_owned))
        .filter(|l| !l.is_empty());
    let Some(Value::Array(values)) = body.remove("value") else {
        return Err(bad("no `value` array of rows"));
    };
    let rows = values
        .into_iter()
        .map(|v| match v {
            Value::Object(row) => Ok(strip_annotations(row)),
            _ => Err(bad("a row is not a JSON object")),
        })
        .collect::<Result<Vec<Row>>>()?;
    Ok((rows, link))
}
