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
//! - with `Parallelism` = n > 1, up to n `$skip` pages are requested at once, at the offsets the
//!   server's page size predicts (learnt from the first page: a page shorter than asked shows the
//!   cap), and handed out in order. A page that comes back shorter than predicted drops the
//!   requests under way and paging goes on from where that page ended, so a cap that changes or
//!   an early end never loses nor repeats a row. Links are always followed one after another.
//!
//! At most `Parallelism` + 1 pages are held in memory, whatever the total.

use super::value::{mismatch_error, Cells, Column, Record, Value};
use super::{strip_annotations, Row};
use crate::http::{Endpoint, Request, Response, Url};
use crate::{Connection, Error, Result};
use epicor_kinetic_odata::csdl::{EntityType, Metadata};
use epicor_kinetic_odata::{
    parse_expand, parse_filter, parse_orderby, print_expr, print_orderby, Expr, OrderBy,
};
use futures_util::future::BoxFuture;
use futures_util::stream::{self, FuturesOrdered, Stream, StreamExt, TryStreamExt};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

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
    parallelism: usize,
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
            parallelism: settings.parallelism.max(1) as usize,
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

    /// How many pages to fetch at once (default: the `Parallelism` setting); rows still come in
    /// order.
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
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
        stream::once(async move {
            let columns = query.columns().await?;
            let key = query.key_columns().await?;
            let extra = query.missing_key_columns(&key);
            // With key columns the caller left out, records are decoded with them (for the
            // repeat check) and projected to the caller's columns before they are handed out.
            let decoded = if extra.is_empty() {
                columns.clone()
            } else {
                let mut wider = query.clone();
                wider.select.extend(extra.iter().cloned());
                wider.columns().await?
            };
            Ok::<_, Error>((columns, decoded, extra, key))
        })
        .map_ok(move |(columns, decoded, extra, key)| {
            let decode = {
                let decoded = decoded.clone();
                Arc::new(move |response: &Response, first: u64| {
                    page_records(response, &decoded, first)
                })
            };
            let project: Option<Projector<Record>> = (!extra.is_empty()).then(|| {
                let keep: Vec<usize> = columns
                    .iter()
                    .filter_map(|c| decoded.iter().position(|d| d.name == c.name))
                    .collect();
                let columns = columns.clone();
                Arc::new(move |r: Record| r.project(&columns, &keep)) as Projector<Record>
            });
            let mut query = self.clone();
            query.request_extra = extra;
            query.key = Some(key);
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

    /// The pages of the query, each decoded by `decode` (rows and the next link).
    fn paged<T: PageItem>(
        self,
        decode: Decoder<T>,
        project: Option<Projector<T>>,
    ) -> impl Stream<Item = Result<Vec<T>>> + Send + 'static {
        let state = Paging {
            query: self,
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
        };
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
        let guess = crate::settings::registry::closest(set, sets.iter().copied())
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

/// Decodes one page: its rows and its next link. The number is the index of the page's first
/// row in the result, as the server sends it (for errors naming a row).
type Decoder<T> = Arc<dyn Fn(&Response, u64) -> Result<(Vec<T>, Option<String>)> + Send + Sync>;

/// Turns a decoded row into the one handed out (see [`Paging::project`]).
type Projector<T> = Arc<dyn Fn(T) -> T + Send + Sync>;

/// A page fetched by `$skip`: its offset, the `$top` asked, and the answer (decoded by the pager).
type SkipPage = (u64, u64, Response);

enum Next {
    First,
    Link(Url),
    Skip,
    Done,
}

struct Paging<T> {
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
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

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
    async fn next_page(&mut self) -> Result<Option<Vec<T>>> {
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

/// The typed records of a collection answer and its next link.
fn page_records(
    response: &Response,
    columns: &Arc<Vec<Column>>,
    first: u64,
) -> Result<(Vec<Record>, Option<String>)> {
    let page: RawPage<'_> =
        serde_json::from_slice(response.body()).map_err(|e| Error::Protocol {
            status: Some(response.status().as_u16()),
            message: format!(
                "the answer from {} is not a page of rows: {e}",
                response.url().path()
            ),
            correlation_id: None,
            source: Some(std::sync::Arc::new(e)),
        })?;
    let Some(values) = page.value else {
        return Err(Error::Protocol {
            status: Some(response.status().as_u16()),
            message: format!(
                "the answer from {}: no `value` array of rows",
                response.url().path()
            ),
            correlation_id: None,
            source: None,
        });
    };
    let records = values
        .iter()
        .enumerate()
        .map(|(i, cells)| {
            Record::from_cells(columns, cells).map_err(|e| {
                match mismatch_error(e, Some(first + i as u64), cells, columns) {
                    Error::Protocol {
                        message, source, ..
                    } => Error::Protocol {
                        status: Some(response.status().as_u16()),
                        message: format!("the answer from {}: {message}", response.url().path()),
                        correlation_id: None,
                        source,
                    },
                    other => other,
                }
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
