//! An entity set (or a BAQ) as a DataFusion table: filters, projection, `LIMIT` and `ORDER BY`
//! pushed into the OData request, rows streamed page by page as Arrow batches.

use crate::arrow::{batch_of, schema_of};
use crate::pushdown::{self, Exactness};
use crate::stats::Transfer;
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::config::ConfigOptions;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use epicor_kinetic::api::{Column, EntitySetQuery};
use epicor_kinetic::Connection;
use epicor_kinetic_odata::{print_expr, Expr as OData, OrderBy};
use futures_util::{StreamExt, TryStreamExt};
use std::fmt;
use std::sync::Arc;

/// What a table reads from: an entity set of a service, or a BAQ with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    EntitySet {
        service: String,
        set: String,
    },
    Baq {
        id: String,
        parameters: Vec<(String, String)>,
    },
}

impl Source {
    fn query(&self, conn: &Connection) -> EntitySetQuery {
        match self {
            Source::EntitySet { service, set } => conn.entity_set(service, set),
            Source::Baq { id, parameters } => {
                let mut q = conn.baq_query(id);
                for (name, value) in parameters {
                    q = q.parameter(name, value);
                }
                q
            }
        }
    }

    /// `Erp.BO.CustomerSvc.Customers`, `BaqSvc.zCustomerList`.
    pub fn name(&self) -> String {
        match self {
            Source::EntitySet { service, set } => format!("{service}.{set}"),
            Source::Baq { id, .. } => format!("BaqSvc.{id}"),
        }
    }
}

/// An entity set or BAQ as a table.
#[derive(Debug, Clone)]
pub struct ODataTable {
    conn: Connection,
    source: Source,
    columns: Arc<Vec<Column>>,
    key: Vec<String>,
    schema: SchemaRef,
    transfer: Transfer,
}

impl ODataTable {
    pub fn new(
        conn: Connection,
        source: Source,
        columns: Vec<Column>,
        key: Vec<String>,
        transfer: Transfer,
    ) -> Self {
        let schema = schema_of(&columns);
        ODataTable {
            conn,
            source,
            columns: Arc::new(columns),
            key,
            schema,
            transfer,
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn columns(&self) -> &Arc<Vec<Column>> {
        &self.columns
    }

    pub fn key(&self) -> &[String] {
        &self.key
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

#[async_trait]
impl TableProvider for ODataTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| pushdown::pushdown_of(f, self.columns.as_ref()))
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (schema, select) = match projection {
            Some(p) => {
                let schema = Arc::new(self.schema.project(p)?);
                let mut select: Vec<String> =
                    p.iter().map(|&i| self.columns[i].name.clone()).collect();
                if select.is_empty() {
                    // COUNT(*) and the like: the rows, not their values. The key is the least
                    // the server can send.
                    select = self.key.clone();
                    if select.is_empty() {
                        select.push(self.columns[0].name.clone());
                    }
                }
                (schema, select)
            }
            None => (self.schema.clone(), Vec::new()),
        };
        let filter = pushdown::conjunction(filters, self.columns.as_ref());
        // Every filter exact: the server's rows are the answer, so LIMIT is the server's `$top`.
        let exact = filters.iter().all(|f| {
            pushdown::translate(f, self.columns.as_ref())
                .is_some_and(|t| t.exactness == Exactness::Exact)
        });
        let spec = ScanSpec {
            source: self.source.clone(),
            select,
            filter,
            order: Vec::new(),
            top: if exact { limit.map(|l| l as u64) } else { None },
            skip: None,
            exact,
            key: self.key.clone(),
        };
        let partitions = self.partitions(&spec).await?;
        let properties = Arc::new(ODataScanExec::properties_of(
            &schema,
            partitions.len(),
            None,
        ));
        Ok(Arc::new(ODataScanExec {
            conn: self.conn.clone(),
            spec,
            schema,
            columns: self.columns.clone(),
            ranges: partitions,
            transfer: self.transfer.clone(),
            properties,
            join_filters: Vec::new(),
        }))
    }

    // DataFusion's own DML planning is refused: it rebuilds an UPDATE's or DELETE's WHERE from
    // what is left after optimization, so a WHERE simplified away (`WHERE 1 = 0`) could reach
    // here as no filter at all, i.e. every row. Writes go through `SqlSession::query` (see
    // `crate::dml`), which reads the matching keys with an ordinary query first.
    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(direct_write("INSERT"))
    }

    async fn delete_from(
        &self,
        _state: &dyn Session,
        _filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(direct_write("DELETE"))
    }

    async fn update(
        &self,
        _state: &dyn Session,
        _assignments: Vec<(String, Expr)>,
        _filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(direct_write("UPDATE"))
    }
}

fn direct_write(what: &str) -> DataFusionError {
    DataFusionError::Plan(format!(
        "{what} runs through SqlSession::query (kinetic sql), which reads the keys of the rows it writes first; DataFusion's own {what} plans (and EXPLAIN of a write) are not run against Epicor"
    ))
}

impl ODataTable {
    /// How the scan splits: `Parallelism` ranges of `$skip`/`$top` when the setting asks for
    /// more than one and the server counts the rows (one range otherwise: unset, the one range's
    /// pager chooses how many pages it fetches at once).
    async fn partitions(&self, spec: &ScanSpec) -> Result<Vec<Range>> {
        let n = self.conn.settings().parallelism.unwrap_or(1).max(1) as u64;
        if n <= 1 || spec.top.is_some() || !matches!(self.source, Source::EntitySet { .. }) {
            return Ok(vec![Range::All]);
        }
        let query = spec.query(&self.conn);
        let count = match query.count().await {
            Ok(c) => c,
            // No count from this server: one range, paged as usual.
            Err(e) => {
                tracing::debug!(error = %e, "no count for a parallel scan; one partition");
                return Ok(vec![Range::All]);
            }
        };
        let page = u64::from(self.conn.settings().page_size.max(1));
        if count <= page {
            return Ok(vec![Range::All]);
        }
        let per = count.div_ceil(n);
        let mut ranges = Vec::new();
        let mut start = 0;
        while start < count {
            let len = per.min(count - start);
            // The last range reads to the end: rows added since the count are not lost.
            let last = start + len >= count;
            ranges.push(if last {
                Range::From { skip: start }
            } else {
                Range::Slice {
                    skip: start,
                    top: len,
                }
            });
            start += len;
        }
        Ok(ranges)
    }
}

/// The rows one partition of a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    All,
    Slice { skip: u64, top: u64 },
    From { skip: u64 },
}

/// What a scan asks the server for.
#[derive(Debug, Clone)]
pub struct ScanSpec {
    pub source: Source,
    pub select: Vec<String>,
    pub filter: Option<OData>,
    pub order: Vec<OrderBy>,
    pub top: Option<u64>,
    /// `$skip`: an `OFFSET` the server answers (only on an exact scan, see
    /// [`ODataScanExec::with_offset`]).
    pub skip: Option<u64>,
    /// Every filter of the scan is [`Exactness::Exact`]: the server's rows are the answer, so a
    /// `LIMIT`, an `OFFSET` or a `COUNT(*)` may be the server's.
    pub exact: bool,
    pub key: Vec<String>,
}

impl ScanSpec {
    pub fn query(&self, conn: &Connection) -> EntitySetQuery {
        let mut q = self.source.query(conn).max_rows(None);
        if !self.key.is_empty() {
            q = q.key(self.key.iter());
        }
        if !self.select.is_empty() {
            q = q.select(self.select.iter());
        }
        if let Some(f) = &self.filter {
            q = q.filter(f);
        }
        if !self.order.is_empty() {
            q = q.order_by(self.order.iter().cloned());
        }
        if let Some(t) = self.top {
            q = q.top(t);
        }
        if let Some(s) = self.skip {
            q = q.skip(s);
        }
        q
    }

    /// The query options, as the request would carry them (where it cannot be built).
    fn describe(&self) -> String {
        let options = [
            (
                "$select",
                (!self.select.is_empty()).then(|| self.select.join(",")),
            ),
            ("$filter", self.filter.as_ref().map(print_expr)),
            (
                "$orderby",
                (!self.order.is_empty()).then(|| epicor_kinetic_odata::print_orderby(&self.order)),
            ),
            ("$top", self.top.map(|t| t.to_string())),
            ("$skip", self.skip.map(|s| s.to_string())),
        ];
        let parts: Vec<String> = options
            .into_iter()
            .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
            .collect();
        parts.join("&")
    }
}

/// The scan: streams the pages of the OData query as record batches.
#[derive(Debug, Clone)]
pub struct ODataScanExec {
    conn: Connection,
    spec: ScanSpec,
    schema: SchemaRef,
    columns: Arc<Vec<Column>>,
    ranges: Vec<Range>,
    transfer: Transfer,
    properties: Arc<PlanProperties>,
    /// The dynamic filters of the joins above whose keys this scan reads by (see
    /// [`crate::joins`]); none until DataFusion's filter pushdown hands them over.
    join_filters: Vec<Arc<dyn PhysicalExpr>>,
}

impl ODataScanExec {
    fn properties_of(
        schema: &SchemaRef,
        partitions: usize,
        ordering: Option<LexOrdering>,
    ) -> PlanProperties {
        let eq = match ordering {
            Some(o) => EquivalenceProperties::new_with_orderings(schema.clone(), [o]),
            None => EquivalenceProperties::new(schema.clone()),
        };
        PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        )
    }

    /// The OData query this scan sends (for tests and `EXPLAIN`).
    pub fn spec(&self) -> &ScanSpec {
        &self.spec
    }

    /// This scan with `OFFSET skip` and `LIMIT fetch` answered by the server (`$skip`, `$top`),
    /// applied after any `$top` it has: only where that is exact (every filter exact, one
    /// partition), `None` otherwise.
    pub fn with_offset(&self, skip: u64, fetch: Option<u64>) -> Option<ODataScanExec> {
        if !self.spec.exact || self.ranges.len() > 1 || !self.join_filters.is_empty() {
            return None;
        }
        let mut scan = self.clone();
        let top = match (self.spec.top, fetch) {
            (Some(t), Some(f)) => Some(t.saturating_sub(skip).min(f)),
            (Some(t), None) => Some(t.saturating_sub(skip)),
            (None, f) => f,
        };
        scan.spec.skip = Some(self.spec.skip.unwrap_or(0) + skip);
        scan.spec.top = top;
        Some(scan)
    }

    /// A plan that answers `COUNT(*)` over this scan with the server's count (`$count`), its
    /// one row in `schema` (a count per column): only where that is exact (every filter
    /// exact, no `$top` or `$skip`), `None` otherwise.
    pub fn count_plan(&self, schema: SchemaRef) -> Option<ODataCountExec> {
        if !self.spec.exact
            || self.spec.top.is_some()
            || self.spec.skip.is_some()
            || !self.join_filters.is_empty()
        {
            return None;
        }
        if schema
            .fields()
            .iter()
            .any(|f| f.data_type() != &datafusion::arrow::datatypes::DataType::Int64)
        {
            return None;
        }
        Some(ODataCountExec::new(
            self.conn.clone(),
            self.spec.clone(),
            schema,
        ))
    }

    /// The column of `expr` when it is a plain column of this scan's output that the server
    /// orders as SQL does: numbers, dates and booleans that cannot be null (text collations
    /// and the place of nulls differ).
    fn orderable(&self, sort: &PhysicalSortExpr) -> Option<OrderBy> {
        let col = sort
            .expr
            .downcast_ref::<datafusion::physical_expr::expressions::Column>()?;
        let name = self.schema.fields().get(col.index())?.name();
        let column = self.columns.iter().find(|c| &c.name == name)?;
        if column.nullable || column.nested.is_some() {
            return None;
        }
        use epicor_kinetic_odata::csdl::EdmType as E;
        let orderable = matches!(
            column.edm_type,
            E::Boolean
                | E::Byte
                | E::Int16
                | E::Int32
                | E::Int64
                | E::Decimal
                | E::Double
                | E::Single
                | E::Date
                | E::DateTime
                | E::DateTimeOffset
        );
        orderable.then(|| OrderBy {
            expr: OData::property(name),
            descending: sort.options.descending,
        })
    }
}

impl DisplayAs for ODataScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "ODataScanExec: {}", self.source_line())?;
                if self.ranges.len() > 1 {
                    write!(f, ", partitions={} ($skip ranges)", self.ranges.len())?;
                }
                for filter in &self.join_filters {
                    // Empty until the join has read its build side (EXPLAIN ANALYZE shows it
                    // filled in).
                    write!(f, ", join keys: {filter}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => write!(f, "{}", self.source_line()),
        }
    }
}

impl ODataScanExec {
    /// `GET <path>?<query>` of the first request, percent-decoded to be read (`EXPLAIN`).
    fn source_line(&self) -> String {
        match self.first_request() {
            Ok(url) => format!("GET {}", readable(&url)),
            Err(e) => format!("{} ({e})", self.spec.describe()),
        }
    }

    /// The address of the first request the scan sends (of its first partition), as sent.
    pub fn first_request(&self) -> epicor_kinetic::Result<epicor_kinetic::http::Url> {
        let mut query = self.spec.query(&self.conn);
        match self.ranges.first() {
            Some(Range::Slice { skip, top }) => query = query.skip(*skip).top(*top),
            Some(Range::From { skip }) => query = query.skip(*skip),
            _ => {}
        }
        query.first_request()
    }
}

impl ExecutionPlan for ODataScanExec {
    leaf_plan!("ODataScanExec", expressions: [join_filters]);

    // False, though the scan takes a fetch: to DataFusion's limit pushdown, `true` means "passes
    // a limit on to its children", and with none the limit node above was dropped, its OFFSET
    // with it (`LIMIT 2 OFFSET 5` returned 7 rows). A fetch still reaches the scan through
    // `with_fetch`, and an OFFSET through `crate::optimizer`.
    fn supports_limit_pushdown(&self) -> bool {
        false
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        // A fetch is the server's `$top` only on one partition (ranges are read in parallel),
        // and of rows not narrowed by a join's keys.
        if self.ranges.len() > 1 || !self.join_filters.is_empty() {
            return None;
        }
        let mut scan = self.clone();
        scan.spec.top = match (limit, self.spec.top) {
            (Some(l), Some(t)) => Some((l as u64).min(t)),
            (Some(l), None) => Some(l as u64),
            (None, t) => t,
        };
        Some(Arc::new(scan))
    }

    fn fetch(&self) -> Option<usize> {
        self.spec.top.map(|t| t as usize)
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
    ) -> Result<SortOrderPushdownResult<Arc<dyn ExecutionPlan>>> {
        if order.is_empty()
            || !self.spec.order.is_empty()
            || self.spec.top.is_some()
            || !self.join_filters.is_empty()
        {
            return Ok(SortOrderPushdownResult::Unsupported);
        }
        let Some(order_by) = order
            .iter()
            .map(|s| self.orderable(s))
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(SortOrderPushdownResult::Unsupported);
        };
        let mut scan = self.clone();
        scan.spec.order = order_by;
        scan.ranges = vec![Range::All];
        scan.properties = Arc::new(Self::properties_of(
            &self.schema,
            1,
            LexOrdering::new(order.iter().cloned()),
        ));
        Ok(SortOrderPushdownResult::Exact {
            inner: Arc::new(scan),
        })
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let range = *self.ranges.get(partition).ok_or_else(|| {
            DataFusionError::Internal(format!("ODataScanExec has no partition {partition}"))
        })?;
        let pages = if self.join_filters.is_empty() {
            self.pages(range, &self.spec).boxed()
        } else {
            // The join's keys come once its build side is read: wait for them, then read the
            // rows of those keys only, in as many requests as the keys need.
            let scan = self.clone();
            futures_util::stream::once(async move {
                let specs = scan.join_specs().await;
                futures_util::stream::iter(specs)
                    .map(move |spec| scan.pages(range, &spec))
                    .flatten()
            })
            .flatten()
            .boxed()
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            pages,
        )))
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let offered: Vec<Arc<dyn PhysicalExpr>> = child_pushdown_result
            .parent_filters
            .iter()
            .map(|f| f.filter.clone())
            .collect();
        // Each stays with the node above as well (`No`): what the scan reads is a superset.
        let propagation = FilterPushdownPropagation::with_parent_pushdown_result(vec![
                PushedDown::No;
                offered.len()
            ]);
        let joins = crate::joins::dynamic(&offered);
        // A `$top` or `$skip` counts the rows of the unfiltered set (a join filter would change
        // which rows those are), and an order asked of the server holds within one request,
        // not across the several the keys may need.
        if joins.is_empty()
            || self.spec.top.is_some()
            || self.spec.skip.is_some()
            || !self.spec.order.is_empty()
        {
            return Ok(propagation);
        }
        let mut scan = self.clone();
        scan.join_filters.extend(joins);
        Ok(propagation.with_updated_node(Arc::new(scan)))
    }
}

impl ODataScanExec {
    /// The record batches of the server's pages for `spec` over `range`.
    fn pages(
        &self,
        range: Range,
        spec: &ScanSpec,
    ) -> impl futures_util::Stream<Item = Result<RecordBatch>> + Send + 'static {
        let mut query = spec.query(&self.conn);
        match range {
            Range::All => {}
            Range::Slice { skip, top } => query = query.skip(skip).top(top),
            Range::From { skip } => query = query.skip(skip),
        }
        let schema = self.schema.clone();
        let transfer = self.transfer.clone();
        query
            .json_pages()
            .map_err(|e| DataFusionError::External(Box::new(e)))
            .and_then(move |page| {
                transfer.add_page(page.len() as u64);
                let batch = batch_of(&page, &schema);
                futures_util::future::ready(batch)
            })
    }

    /// The scans to run once the joins' keys are known: the spec with each piece of the keys'
    /// filter added ([`crate::joins::chunks`]), none when no row can match, the spec alone when
    /// nothing of the keys can be sent.
    async fn join_specs(&self) -> Vec<ScanSpec> {
        let keys = match crate::joins::settled(&self.join_filters, &self.schema).await {
            None => return vec![self.spec.clone()],
            Some(crate::joins::Allowed::Nothing) => return Vec::new(),
            Some(crate::joins::Allowed::Rows(keys)) => keys,
        };
        let with = |piece: &OData| {
            let mut spec = self.spec.clone();
            spec.filter = Some(match &self.spec.filter {
                Some(f) => f.clone().and(piece.clone()),
                None => piece.clone(),
            });
            spec
        };
        let fits = |piece: &OData| {
            with(piece)
                .query(&self.conn)
                .first_request()
                .is_ok_and(|url| {
                    url.query().map_or(0, str::len) + crate::joins::PAGE_ROOM
                        <= crate::joins::MAX_QUERY
                })
        };
        let pieces = crate::joins::chunks(&keys, self.columns.as_ref(), fits);
        if pieces.is_empty() {
            return vec![self.spec.clone()];
        }
        tracing::debug!(requests = pieces.len(), "a join's keys narrow the scan");
        pieces.iter().map(with).collect()
    }
}

/// The `ExecutionPlan` methods of a leaf plan of this crate (a scan): its name, its properties
/// (the `properties` field), no children and no expressions of its own. A macro because
/// methods of DataFusion's trait cannot be shared otherwise (a blanket implementation of a
/// foreign trait is not allowed).
macro_rules! leaf_plan {
    ($name:literal) => {
        $crate::table::leaf_plan!($name, expressions: []);
    };
    ($name:literal, expressions: [$($field:ident),*]) => {
        fn name(&self) -> &str {
            $name
        }

        fn properties(&self) -> &std::sync::Arc<datafusion::physical_plan::PlanProperties> {
            &self.properties
        }

        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            Vec::new()
        }

        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::error::Result<
                datafusion::common::tree_node::TreeNodeRecursion,
            >,
        ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            // The expressions a join looks for to know its dynamic filter has a reader.
            $(
                for e in &self.$field {
                    if _f(e)? == datafusion::common::tree_node::TreeNodeRecursion::Stop {
                        return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
                    }
                }
            )*
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }

        fn with_new_children(
            self: std::sync::Arc<Self>,
            children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
        ) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>
        {
            $crate::table::leaf(self, &children)
        }
    };
}
pub(crate) use leaf_plan;

/// The stream of a plan with one partition (`partition` must be 0) and one batch, computed
/// by `batch` when the stream is first read.
pub(crate) fn one_batch(
    plan: &dyn ExecutionPlan,
    partition: usize,
    batch: impl std::future::Future<Output = Result<RecordBatch>> + Send + 'static,
) -> Result<SendableRecordBatchStream> {
    if partition != 0 {
        return Err(DataFusionError::Internal(format!(
            "{} has no partition {partition}",
            plan.name()
        )));
    }
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        plan.schema(),
        futures_util::stream::once(batch),
    )))
}

/// `with_new_children` of a plan that has none (a scan): itself, given none.
pub(crate) fn leaf(
    plan: Arc<dyn ExecutionPlan>,
    children: &[Arc<dyn ExecutionPlan>],
) -> Result<Arc<dyn ExecutionPlan>> {
    if children.is_empty() {
        Ok(plan)
    } else {
        Err(DataFusionError::Internal(format!(
            "{} has no children",
            plan.name()
        )))
    }
}

/// `COUNT(*)` answered by the server: one request (`{set}/$count?$filter=...`), one row.
#[derive(Debug, Clone)]
pub struct ODataCountExec {
    conn: Connection,
    spec: ScanSpec,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl ODataCountExec {
    fn new(conn: Connection, spec: ScanSpec, schema: SchemaRef) -> Self {
        let properties = Arc::new(ODataScanExec::properties_of(&schema, 1, None));
        ODataCountExec {
            conn,
            spec,
            schema,
            properties,
        }
    }

    /// The address of its one request, as sent.
    pub fn first_request(&self) -> epicor_kinetic::Result<epicor_kinetic::http::Url> {
        self.spec.query(&self.conn).count_url()
    }
}

impl DisplayAs for ODataCountExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match self.first_request() {
            Ok(url) => write!(f, "ODataCountExec: GET {}", readable(&url)),
            Err(e) => write!(f, "ODataCountExec: {} ({e})", self.spec.describe()),
        }
    }
}

/// `path?query` of an address, percent-decoded to be read (`EXPLAIN`).
fn readable(url: &epicor_kinetic::http::Url) -> String {
    let text = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    percent_encoding::percent_decode_str(&text)
        .decode_utf8_lossy()
        .into_owned()
}

impl ExecutionPlan for ODataCountExec {
    leaf_plan!("ODataCountExec");

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let query = self.spec.query(&self.conn);
        let schema = self.schema.clone();
        one_batch(self, partition, async move {
            let count = query
                .count()
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let value = i64::try_from(count).map_err(|_| {
                DataFusionError::Execution(format!("the server counted {count} rows"))
            })?;
            let columns: Vec<datafusion::arrow::array::ArrayRef> = schema
                .fields()
                .iter()
                .map(|_| {
                    Arc::new(datafusion::arrow::array::Int64Array::from(vec![value]))
                        as datafusion::arrow::array::ArrayRef
                })
                .collect();
            datafusion::arrow::record_batch::RecordBatch::try_new(schema, columns)
                .map_err(Into::into)
        })
    }
}
