//! Entity set and BAQ queries, read as a `Stream` paged underneath: of JSON rows
//! ([`EntitySetQuery::rows`]), of records typed from `$metadata` ([`EntitySetQuery::records`]),
//! or of typed [`Page`]s, one per answer of the server, sharing their columns
//! ([`EntitySetQuery::pages`], for columnar consumers). All three go through one pager.
//!
//! Typing is strict: a cell that does not read as its column's declared EDM type ends the stream
//! with [`Error::Protocol`] naming the row (its index in the result as the server sent it, and its
//! key), the column, the type and the value (cut when long). What Epicor sends is not a mismatch:
//! v1 numbers and decimals as strings (`"5"`, `"3.00"`), dates as date-times at midnight (see
//! [`Column::read`]).
//!
//! A BAQ ([`Connection::baq_query`]) is typed from its own `$metadata`
//! (`BaqSvc/{id}/$metadata`) and paged by the same rules, with two differences: without an order
//! of the caller's no `$orderby` is sent (rows come in the BAQ's own order), and a BAQ whose
//! `$metadata` gives no key has no row dropped as a repeat.
//!
//! Paging rules:
//! - every request asks `$top` = the page size (`Pagesize`, or less when `$top`/`MaxRows` leave
//!   fewer rows to read) and is ordered by the caller's `$orderby` followed by the entity's key
//!   columns (from the service's `$metadata`, cached per address), so the order is total and
//!   `$skip` never loses nor repeats a row;
//! - a page with `@odata.nextLink` (v4) / `odata.nextLink` (v3) is followed by that link, on the
//!   same pipeline (which refuses another origin);
//! - a page without a link is followed by `$skip` = the caller's `$skip` + the rows read so far:
//!   servers cap pages below the `$top` asked (Epicor: 100), so a short page does not mean the end;
//!   but a chain of links ends the read when it served fewer rows than the `$top` that began it
//!   (the server had no more; servers that page by links may refuse `$skip`);
//! - reading stops at the first empty page, or when `$top` / `MaxRows` rows have been read, or
//!   after a page longer than the `$top` asked without a link (the server ignores `$top` and sent
//!   every row); a `$skip` page equal to the first page, row for row, is an error (the server
//!   ignores `$skip`: paging would never end);
//! - a row whose key was handed out in one of the last pages is dropped: rows inserted before
//!   the reading position during `$skip` paging shift later rows forward, and would otherwise be
//!   read twice. A `$select` that leaves out key columns gets them added to the request (the
//!   check needs them) and removed from the rows and records handed out;
//! - with `Parallelism` = n > 1, up to n `$skip` pages are requested at once (unset: as many as
//!   the server's answers allow, see [`paging::Window`]), at the offsets the
//!   server's page size predicts (learnt from the first page: a page shorter than asked shows the
//!   cap), and handed out in order. A page that comes back shorter than predicted drops the
//!   requests under way and paging goes on from where that page ended, so a cap that changes or
//!   an early end never loses nor repeats a row. Links are always followed one after another.
//!
//! At most `Parallelism` (or `MaxParallelism`) + 1 pages are held in memory, whatever the total.

mod json;
mod paging;

use super::value::{mismatch_error, Cells, Column, Record, Value};
use super::{strip_annotations, Row};
use crate::http::{Endpoint, Request, Response, Url};
use crate::{Connection, Error, Result};
use epicor_kinetic_odata::csdl::{EntityType, Metadata};
use epicor_kinetic_odata::{
    parse_expand, parse_filter, parse_orderby, print_expr, print_orderby, Expr, OrderBy,
};
use futures_util::stream::{self, Stream, TryStreamExt};
pub use json::JsonPage;
use std::sync::Arc;

pub use paging::PageItem;
use paging::{Decoder, Paging, Projector};

/// A query on one entity set, from [`Connection::entity_set`].
#[derive(Debug, Clone)]
pub struct EntitySetQuery {
    connection: Connection,
    source: Source,
    /// Custom query options sent with every request (BAQ parameters: `CustID=KEYST0045`).
    parameters: Vec<(String, String)>,
    select: Vec<String>,
    filter: Option<String>,
    order_by: Vec<OrderBy>,
    key: Option<Vec<String>>,
    top: Option<u64>,
    skip: u64,
    page_size: u64,
    max_rows: Option<u64>,
    expand: Option<String>,
    /// Pages fetched at once, fixed; `None`: chosen as the server answers ([`paging::Window`]).
    parallelism: Option<usize>,
    /// The most pages fetched at once when `parallelism` is `None`.
    max_parallelism: usize,
    /// Key columns asked for beside a `$select` that leaves them out: the pager needs them to
    /// recognise repeats, and drops them before rows are handed out.
    request_extra: Vec<String>,
}

/// What a query reads: an entity set of a service, or a BAQ's results.
#[derive(Debug, Clone)]
enum Source {
    EntitySet {
        service: String,
        set: String,
    },
    /// A BAQ: its rows at `BaqSvc/{id}/` (v1) or `BaqSvc/{id}/Data` (v2), typed by the one
    /// entity set of `BaqSvc/{id}/$metadata`.
    Baq {
        id: String,
    },
}

impl EntitySetQuery {
    pub(super) fn new(connection: &Connection, service: &str, set: &str) -> Self {
        Self::of(
            connection,
            Source::EntitySet {
                service: service.to_owned(),
                set: set.to_owned(),
            },
        )
    }

    pub(super) fn baq(connection: &Connection, baq_id: &str) -> Self {
        Self::of(
            connection,
            Source::Baq {
                id: baq_id.to_owned(),
            },
        )
    }

    fn of(connection: &Connection, source: Source) -> Self {
        let settings = connection.settings();
        EntitySetQuery {
            connection: connection.clone(),
            source,
            parameters: Vec::new(),
            select: Vec::new(),
            filter: None,
            order_by: Vec::new(),
            key: None,
            top: None,
            skip: 0,
            page_size: u64::from(settings.page_size.max(1)),
            max_rows: settings.max_rows,
            expand: None,
            parallelism: settings.parallelism.map(|n| n.max(1) as usize),
            // Epicor's throughput is bounded by licence seats, not by the client's cores; the
            // one session of `UseSession` holds one seat, so adaptive paging stays at one page
            // under way on it (`Parallelism=N` still sets it, as the user's decision).
            max_parallelism: if settings.auth.use_session {
                1
            } else {
                settings.max_parallelism.max(1) as usize
            },
            request_extra: Vec::new(),
        }
    }

    /// The columns to read (`$select`); all when never called.
    pub fn select<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.select = columns.into_iter().map(|c| c.as_ref().to_owned()).collect();
        self
    }

    /// A custom query option sent with every request, as `?name=value`: a BAQ's parameter
    /// (`CustID`, `KEYST0045`). Repeat for several. Name and value are percent-encoded but for
    /// unreserved characters; a name a server reads as its own (`$filter`, `@alias`) makes every
    /// request of the query [`Error::InvalidSettings`] (property `parameter`), never sent.
    pub fn parameter(mut self, name: &str, value: &str) -> Self {
        self.parameters.push((name.to_owned(), value.to_owned()));
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
                "write an OData filter, e.g. CustID eq 'KEYST0045' and CreditHold eq false",
            )
        })?;
        self.filter = Some(print_expr(&expr));
        Ok(self)
    }

    /// Related rows to read with each row (`$expand`, e.g. `OrderDtls($select=PartNum)`), as
    /// OData text, parsed here; a mistake is [`Error::InvalidSettings`] (property `$expand`).
    pub fn expand(mut self, expand: &str) -> Result<Self> {
        parse_expand(expand).map_err(|e| {
            Error::invalid_settings(
                "$expand",
                format!("the expansion does not parse: {e}"),
                "write an OData expansion, e.g. OrderDtls or OrderDtls($select=PartNum,OrderQty)",
            )
        })?;
        self.expand = Some(expand.to_owned());
        Ok(self)
    }

    /// How many pages to fetch at once, fixed (default: the `Parallelism` setting, or, unset,
    /// chosen as the server answers, up to `MaxParallelism`); rows still come in order.
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = Some(n.max(1));
        self
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

    /// The address of the first request the query sends (what `EXPLAIN` shows): its `$select`
    /// (with the key columns the pager adds), `$filter`, `$orderby` (the caller's order, then
    /// the key), `$top` and `$skip`. The key columns are those given to [`EntitySetQuery::key`]
    /// (without them, the pager reads them from `$metadata` first and this address lacks them).
    pub fn first_request(&self) -> Result<Url> {
        let key = self.key.clone().unwrap_or_default();
        let mut query = self.clone();
        query.request_extra = query.missing_key_columns(&key);
        let order = query.request_order(&key);
        let top = query
            .limit()
            .map_or(query.page_size, |l| l.min(query.page_size));
        query.page_url(&order, top, query.skip)
    }

    /// How many rows the whole query reads, if limited: the smaller of `$top` and `MaxRows`.
    fn limit(&self) -> Option<u64> {
        match (self.top, self.max_rows) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many rows match the filter, by the server (`{set}/$count`; for a BAQ, which has no
    /// `$count` resource, the inline count of an answer with no row); `$top`, `$skip` and
    /// `MaxRows` do not apply.
    pub async fn count(&self) -> Result<u64> {
        let baq = matches!(self.source, Source::Baq { .. });
        let endpoint = self.count_endpoint()?;
        let response = self
            .connection
            .pipeline()
            .send(Request::get(&endpoint)?)
            .await?;
        self.read_count(baq, &response)
    }

    /// The address [`EntitySetQuery::count`] asks (for `EXPLAIN`).
    pub fn count_url(&self) -> Result<Url> {
        self.count_endpoint()?.url()
    }

    fn count_endpoint(&self) -> Result<Endpoint> {
        let baq = matches!(self.source, Source::Baq { .. });
        let mut endpoint = self.endpoint()?;
        if !baq {
            endpoint = endpoint.segment("$count");
        }
        if let Some(f) = &self.filter {
            endpoint = endpoint.query("$filter", f);
        }
        if baq {
            endpoint = match self.connection.settings().api_version {
                crate::settings::ApiVersion::V1 => endpoint.query("$inlinecount", "allpages"),
                _ => endpoint.query("$count", "true"),
            }
            .query("$top", "0");
        }
        Ok(endpoint)
    }

    fn read_count(&self, baq: bool, response: &crate::http::Response) -> Result<u64> {
        let not_a_count = |e: String| Error::Protocol {
            status: Some(response.status().as_u16()),
            message: format!(
                "the answer from {} is not a row count: {e}",
                response.url().path()
            ),
            correlation_id: None,
            source: None,
        };
        let text = if baq {
            // `@odata.count` is a number (v4), `odata.count` a string (v3).
            let body: serde_json::Value = response.json()?;
            match body.get("@odata.count").or_else(|| body.get("odata.count")) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(n @ serde_json::Value::Number(_)) => n.to_string(),
                _ => return Err(not_a_count("no @odata.count nor odata.count".into())),
            }
        } else {
            response.text()
        };
        text.trim()
            .trim_start_matches('\u{feff}')
            .parse::<u64>()
            .map_err(|e| not_a_count(e.to_string()))
    }

    /// The rows, as a stream paged underneath (see the [module](self) for the rules). Errors end
    /// the stream.
    pub fn rows(self) -> impl Stream<Item = Result<Row>> + Send + 'static {
        let query = self.clone();
        stream::once(async move { query.key_columns().await })
            .map_ok(move |key| {
                let mut query = self.clone();
                query.request_extra = query.missing_key_columns(&key);
                // Known now: the pager need not look it up again.
                query.key = Some(key);
                let extra = query.request_extra.clone();
                let project: Option<Projector<Row>> = (!extra.is_empty()).then(|| {
                    Arc::new(move |mut row: Row| {
                        for c in &extra {
                            row.remove(c);
                        }
                        row
                    }) as Projector<Row>
                });
                query
                    .paged(
                        Arc::new(|response: &Response, _| page_rows(response)),
                        project,
                    )
                    .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
                    .try_flatten()
            })
            .try_flatten()
    }

    /// The key columns a `$select` leaves out (none without a `$select`: every column comes).
    fn missing_key_columns(&self, key: &[String]) -> Vec<String> {
        if self.select.is_empty() {
            return Vec::new();
        }
        key.iter()
            .filter(|k| !self.select.contains(k))
            .cloned()
            .collect()
    }

    /// The `$metadata` that types the query: its service's, or the BAQ's own.
    async fn metadata(&self) -> Result<Arc<Metadata>> {
        match &self.source {
            Source::EntitySet { service, .. } => self.connection.metadata(service).await,
            Source::Baq { id } => {
                let endpoint = self
                    .connection
                    .pipeline()
                    .endpoints()
                    .service("BaqSvc")?
                    .segment(id)
                    .segment("$metadata");
                self.connection
                    .client()
                    .metadata_at(self.connection.pipeline(), endpoint, &format!("BAQ {id}"))
                    .await
            }
        }
    }

    /// The entity type of the query's rows in `metadata`: the entity set's, or for a BAQ the
    /// type of the one entity set its `$metadata` declares (`Results` in v1, `Data` in v2).
    fn entity<'m>(&self, metadata: &'m Metadata) -> Result<&'m EntityType> {
        match &self.source {
            Source::EntitySet { service, set } => Ok(entity_of(metadata, service, set)?.1),
            Source::Baq { id } => metadata
                .schemas
                .iter()
                .filter_map(|s| s.entity_container.as_ref())
                .flat_map(|c| c.entity_sets.iter())
                .find_map(|set| metadata.entity_type(&set.entity_type))
                .ok_or_else(|| Error::Protocol {
                    status: None,
                    message: format!("the $metadata of BAQ {id} declares no entity set of rows"),
                    correlation_id: None,
                    source: None,
                }),
        }
    }

    /// The query's rows, for messages: `Erp.BO.CustomerSvc/Customers` or `BAQ zCustomerList`.
    fn what(&self) -> String {
        match &self.source {
            Source::EntitySet { service, set } => format!("{service}/{set}"),
            Source::Baq { id } => format!("BAQ {id}"),
        }
    }

    /// The address of the rows, with the custom query options.
    fn endpoint(&self) -> Result<Endpoint> {
        let endpoints = self.connection.pipeline().endpoints();
        let mut endpoint = match &self.source {
            Source::EntitySet { service, set } => endpoints.service(service)?.segment(set),
            Source::Baq { id } => endpoints.baq(id)?,
        };
        for (name, value) in &self.parameters {
            endpoint = endpoint.custom_option(name, value)?;
        }
        Ok(endpoint)
    }

    /// The columns [`EntitySetQuery::records`] yields, in order: the `$select`ed ones (all of the
    /// entity's when none), typed from `$metadata` (a BAQ's own), then the `$expand`ed
    /// navigations (typed from their targets).
    pub async fn columns(&self) -> Result<Arc<Vec<Column>>> {
        let metadata = self.metadata().await?;
        let entity = self.entity(&metadata)?;
        let expand = match &self.expand {
            Some(e) => parse_expand(e).unwrap_or_default(),
            None => Vec::new(),
        };
        let columns = super::value::columns_for(&metadata, entity, &self.select, &expand).map_err(
            |e| match e {
                Error::InvalidSettings {
                    property,
                    message,
                    hint,
                } => Error::InvalidSettings {
                    property,
                    message: format!("{message} ({})", self.what()),
                    hint,
                },
                other => other,
            },
        )?;
        Ok(Arc::new(columns))
    }

    /// The rows typed from `$metadata` (exact decimals, dates, GUIDs; see
    /// [`TypedValue`](super::TypedValue)), one at a time: the records of
    /// [`EntitySetQuery::pages`]. Every record shares the [`EntitySetQuery::columns`]; a cell
    /// that does not read as its column's type ends the stream with [`Error::Protocol`].
    pub fn records(self) -> impl Stream<Item = Result<Record>> + Send + 'static {
        self.pages()
            .map_ok(|page| stream::iter(page.into_records().into_iter().map(Ok)))
            .try_flatten()
    }

    /// The rows typed from `$metadata`, a [`Page`] per answer of the server, in order: what a
    /// columnar consumer (Arrow record batches, a DB-API `fetchmany`) takes. Paged as
    /// [`EntitySetQuery::rows`] (same rules, same memory bound: at most `Parallelism` + 1 pages
    /// held). Every page shares the [`EntitySetQuery::columns`]. Typing is strict: a cell that
    /// does not read as its column's declared type ends the stream with [`Error::Protocol`]
    /// naming the row (its index in the result and its key), the column, the type and the value.
    pub fn pages(self) -> impl Stream<Item = Result<Page>> + Send + 'static {
        let query = self.clone();
        stream::once(async move { query.decoding().await })
            .map_ok(move |(query, columns, decoded)| {
                let decode = {
                    let decoded = decoded.clone();
                    Arc::new(move |response: &Response, first: u64| {
                        page_records(response, &decoded, first)
                    })
                };
                let project: Option<Projector<Record>> =
                    (decoded.len() > columns.len()).then(|| {
                        let keep: Vec<usize> = columns
                            .iter()
                            .filter_map(|c| decoded.iter().position(|d| d.name == c.name))
                            .collect();
                        let columns = columns.clone();
                        Arc::new(move |r: Record| r.project(&columns, &keep)) as Projector<Record>
                    });
                let mut handed_out = 0u64;
                query
                    .paged(decode, project)
                    // A page whose rows all repeat earlier ones is left out.
                    .try_filter(|records| futures_util::future::ready(!records.is_empty()))
                    .map_ok(move |records| {
                        let first_row = handed_out;
                        handed_out += records.len() as u64;
                        Page {
                            columns: columns.clone(),
                            records,
                            first_row,
                        }
                    })
            })
            .try_flatten()
    }

    /// The rows as the server sent them, a [`JsonPage`] per answer, in order: each row's cells
    /// as their JSON text, for a columnar consumer that reads them straight into its own
    /// representation ([`JsonPage::read`], by the rules of [`Column::read`]) with no
    /// [`Record`] in between: the SQL layer's Arrow batches. Paged and checked as
    /// [`EntitySetQuery::pages`] (the same pager; rows recognised by their keys' JSON text);
    /// a cell that does not read as its type is an error when it is read.
    pub fn json_pages(self) -> impl Stream<Item = Result<JsonPage>> + Send + 'static {
        let query = self.clone();
        stream::once(async move { query.decoding().await })
            .map_ok(move |(query, columns, decoded)| {
                let at: Arc<Vec<Option<usize>>> = Arc::new(
                    columns
                        .iter()
                        .map(|c| decoded.iter().position(|d| d.name == c.name))
                        .collect(),
                );
                let decode = Arc::new(move |response: &Response, _first: u64| {
                    json::page_json_rows(response, &decoded)
                });
                let mut handed_out = 0u64;
                query
                    .paged(decode, None)
                    .try_filter(|rows| futures_util::future::ready(!rows.is_empty()))
                    .map_ok(move |rows| {
                        let first_row = handed_out;
                        handed_out += rows.len() as u64;
                        JsonPage::new(columns.clone(), at.clone(), rows, first_row)
                    })
            })
            .try_flatten()
    }

    /// What typed pages are decoded with: the query to page (its key known, the key columns
    /// the caller left out added to the request), the caller's columns, and the columns
    /// decoded (the caller's, then those key columns, which are checked for repeats and
    /// projected away before rows are handed out).
    async fn decoding(&self) -> Result<(EntitySetQuery, Arc<Vec<Column>>, Arc<Vec<Column>>)> {
        let columns = self.columns().await?;
        let key = self.key_columns().await?;
        let extra = self.missing_key_columns(&key);
        let decoded = if extra.is_empty() {
            columns.clone()
        } else {
            let mut wider = self.clone();
            wider.select.extend(extra.iter().cloned());
            wider.columns().await?
        };
        let mut query = self.clone();
        query.request_extra = extra;
        query.key = Some(key);
        Ok((query, columns, decoded))
    }

    /// The pages of the query, each decoded by `decode` (rows and the next link).
    fn paged<T: PageItem>(
        self,
        decode: Decoder<T>,
        project: Option<Projector<T>>,
    ) -> impl Stream<Item = Result<Vec<T>>> + Send + 'static {
        let state = Paging::new(self, decode, project);
        stream::try_unfold(state, |mut state| async move {
            match state.next_page().await? {
                Some(rows) => Ok(Some((rows, state))),
                None => Ok(None),
            }
        })
    }

    /// The key columns of the rows, from `$metadata` (cached by the connection). An entity set
    /// must have one; a BAQ may have none (then no row is recognised as a repeat, and its rows
    /// come in the BAQ's own order).
    async fn key_columns(&self) -> Result<Vec<String>> {
        if let Some(k) = &self.key {
            return Ok(k.clone());
        }
        let metadata = self.metadata().await?;
        let entity = self.entity(&metadata)?;
        if entity.key.is_empty() && matches!(self.source, Source::EntitySet { .. }) {
            return Err(Error::Protocol {
                status: None,
                message: format!(
                    "the $metadata of {} gives it no key; name it with EntitySetQuery::key",
                    self.what()
                ),
                correlation_id: None,
                source: None,
            });
        }
        Ok(entity.key.clone())
    }

    /// The `$orderby` of every request: the caller's order followed by the key columns it does
    /// not name. A BAQ without a caller's order is read in its own order (its definition's
    /// sort, which is part of its meaning), so none is sent.
    fn request_order(&self, key: &[String]) -> String {
        if self.order_by.is_empty() && matches!(self.source, Source::Baq { .. }) {
            return String::new();
        }
        stable_order(&self.order_by, key)
    }

    /// The address of one `$top`/`$skip` page under `order`.
    fn page_url(&self, order: &str, top: u64, skip: u64) -> Result<Url> {
        let mut endpoint = self.endpoint()?;
        if !self.select.is_empty() {
            let mut select = self.select.clone();
            select.extend(self.request_extra.iter().cloned());
            endpoint = endpoint.query("$select", &select.join(","));
        }
        if let Some(f) = &self.filter {
            endpoint = endpoint.query("$filter", f);
        }
        if let Some(e) = &self.expand {
            endpoint = endpoint.query("$expand", e);
        }
        if !order.is_empty() {
            endpoint = endpoint.query("$orderby", order);
        }
        endpoint = endpoint.query("$top", &top.to_string());
        if skip > 0 {
            endpoint = endpoint.query("$skip", &skip.to_string());
        }
        endpoint.url()
    }
}

/// One page of a typed query ([`EntitySetQuery::pages`]): the rows of one answer of the server,
/// typed from `$metadata`, in order, under the query's shared columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    columns: Arc<Vec<Column>>,
    records: Vec<Record>,
    first_row: u64,
}

impl Page {
    /// The columns, shared by every page (and record) of the query.
    pub fn columns(&self) -> &Arc<Vec<Column>> {
        &self.columns
    }

    /// The rows, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The rows, taken.
    pub fn into_records(self) -> Vec<Record> {
        self.records
    }

    /// How many rows the page holds (never 0).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the page holds no row (pages handed out never are).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The index of the page's first row in the whole result (counting from 0): the rows of
    /// the pages before it.
    pub fn first_row(&self) -> u64 {
        self.first_row
    }

    /// The values of column `i` (in [`Page::columns`] order), row by row: one column of a
    /// columnar batch. Empty when there is no column `i`.
    pub fn column(&self, i: usize) -> impl Iterator<Item = &Value> + '_ {
        self.records.iter().filter_map(move |r| r.values().get(i))
    }
}

/// The entity set `set` and its type in `metadata`, or [`Error::NotFound`] naming what exists.
pub(super) fn entity_of<'m>(
    metadata: &'m Metadata,
    service: &str,
    set: &str,
) -> Result<(&'m epicor_kinetic_odata::csdl::EntitySet, &'m EntityType)> {
    metadata.entity_set(set).ok_or_else(|| {
        let sets: Vec<&str> = metadata
            .schemas
            .iter()
            .filter_map(|s| s.entity_container.as_ref())
            .flat_map(|c| c.entity_sets.iter().map(|e| e.name.as_str()))
            .collect();
        let guess = crate::did_you_mean::closest(set, sets.iter().copied())
            .map(|g| format!("did you mean {g}? "))
            .unwrap_or_default();
        Error::NotFound {
            status: None,
            message: format!(
                "{service} has no entity set {set}; {guess}its entity sets are: {}",
                sets.join(", ")
            ),
            correlation_id: None,
            error_type: None,
        }
    })
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

/// The shape of a collection answer, borrowing each cell's JSON text.
#[derive(serde::Deserialize)]
struct RawPage<'a> {
    #[serde(borrow, default)]
    value: Option<Vec<Cells<'a>>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_v4: Option<String>,
    #[serde(rename = "odata.nextLink", default)]
    next_v3: Option<String>,
}

/// A collection answer's shape, each cell's JSON text borrowed from it; [`Error::Protocol`]
/// when it is not one.
fn raw_page(response: &Response) -> Result<RawPage<'_>> {
    serde_json::from_slice(response.body()).map_err(|e| Error::Protocol {
        status: Some(response.status().as_u16()),
        message: format!(
            "the answer from {} is not a page of rows: {e}",
            response.url().path()
        ),
        correlation_id: None,
        source: Some(std::sync::Arc::new(e)),
    })
}

/// The typed records of a collection answer and its next link.
fn page_records(
    response: &Response,
    columns: &Arc<Vec<Column>>,
    first: u64,
) -> Result<(Vec<Record>, Option<String>)> {
    let page = raw_page(response)?;
    let Some(values) = page.value else {
        return Err(super::protocol(response, "no `value` array of rows"));
    };
    let records = values
        .iter()
        .enumerate()
        .map(|(i, cells)| {
            Record::from_cells(columns, cells).map_err(|e| {
                super::in_answer(
                    response,
                    mismatch_error(e, Some(first + i as u64), cells.key_text(columns)),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let link = page.next_v4.or(page.next_v3).filter(|l| !l.is_empty());
    Ok((records, link))
}

/// The address of a page's next link (relative to the page), refused when it is not an address
/// or points to the page it came with (which would page for ever).
pub(super) fn next_page_url(page_url: &Url, link: &str) -> Result<Url> {
    let url = page_url.join(link).map_err(|e| Error::Protocol {
        status: None,
        message: format!("the server's next link is not an address: {e}"),
        correlation_id: None,
        source: Some(std::sync::Arc::new(e)),
    })?;
    if url == *page_url {
        return Err(Error::Protocol {
            status: None,
            message: "the server's next link points to the page it came with".into(),
            correlation_id: None,
            source: None,
        });
    }
    Ok(url)
}

/// The rows of a collection answer (`{"value": [...]}`) and its next link, if any.
pub(super) fn page_rows(response: &Response) -> Result<(Vec<Row>, Option<String>)> {
    let bad = |what: &str| Error::Protocol {
        status: Some(response.status().as_u16()),
        message: format!("the answer from {}: {what}", response.url().path()),
        correlation_id: None,
        source: None,
    };
    let body: serde_json::Value = response.json()?;
    let serde_json::Value::Object(mut body) = body else {
        return Err(bad("not a JSON object"));
    };
    let link = ["@odata.nextLink", "odata.nextLink"]
        .iter()
        .find_map(|k| {
            body.get(*k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .filter(|l| !l.is_empty());
    let Some(serde_json::Value::Array(values)) = body.remove("value") else {
        return Err(bad("no `value` array of rows"));
    };
    let rows = values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Object(row) => Ok(strip_annotations(row)),
            _ => Err(bad("a row is not a JSON object")),
        })
        .collect::<Result<Vec<Row>>>()?;
    Ok((rows, link))
}
