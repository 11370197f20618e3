//! SQL over Epicor Kinetic, on Apache DataFusion.
//!
//! Every service is a schema (`"Erp.BO.CustomerSvc"`, or its alias `CustomerSvc`), its entity
//! sets tables; BAQs are tables of schema `BaqSvc` (with parameters as table-function
//! arguments); the reference connector's system tables (`sys_tables`, ...) describe them all.
//! Filters, projections, `LIMIT` and `ORDER BY` become the OData request (see [`pushdown`]);
//! joins, aggregates and window functions run here, streaming. `INSERT`, `UPDATE` and `DELETE`
//! write through the entity sets; `EXEC`/`CALL` run the OAuth procedures, BO methods and Epicor
//! Functions.
//!
//! ```no_run
//! # async fn demo(conn: epicor_kinetic::Connection) -> Result<(), epicor_kinetic_sql::SqlError> {
//! let session = epicor_kinetic_sql::SqlSession::new(conn).await?;
//! let batches = session
//!     .query("SELECT Name, State FROM Customers WHERE State = 'MN' LIMIT 5")
//!     .await?
//!     .collect()
//!     .await?;
//! # Ok(()) }
//! ```

pub mod arrow;
pub mod catalog;
mod corrections;
mod dml;
mod error;
pub mod format;
mod joins;
pub mod limits;
pub mod literal;
pub mod names;
mod optimizer;
pub mod params;
pub mod procedures;
pub mod pushdown;
pub mod rewrite;
mod server;
mod stats;
pub mod system;
pub mod table;

/// The engine, for code that handles its streams and plans.
pub use datafusion;
pub use error::{SqlError, SqlErrorKind};
pub use limits::SqlLimits;
pub use params::Param;
pub use stats::Transfer;

use catalog::{EpicorCatalog, ServerModel, CATALOG, DEFAULT_SCHEMA};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use epicor_kinetic::Connection;
use futures_util::TryStreamExt;
use std::sync::Arc;

/// A SQL session over one connection. Cheap to share (`Arc` inside); statements may run
/// concurrently.
#[derive(Clone)]
pub struct SqlSession {
    ctx: SessionContext,
    server: Arc<ServerModel>,
    transfer: Transfer,
    limits: SqlLimits,
    rewrite: Option<Rewrite>,
}

/// A change made to every statement after it is parsed and before anything else looks at
/// it (see [`SqlSession::with_rewrite`]).
pub type Rewrite = Arc<dyn Fn(&mut Statement) -> Result<(), SqlError> + Send + Sync>;

impl std::fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSession")
            .field("url", &self.server.conn.settings().url)
            .finish_non_exhaustive()
    }
}

/// The result of a statement: its schema and its batches, streamed.
pub struct QueryResult {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    affected: Option<u64>,
}

impl QueryResult {
    pub(crate) fn new(schema: SchemaRef, stream: SendableRecordBatchStream) -> Self {
        QueryResult {
            schema,
            stream,
            affected: None,
        }
    }

    /// For `INSERT`, `UPDATE` and `DELETE`: how many rows were written (the result is then one
    /// row holding that count). `None` for queries and procedures.
    pub fn rows_affected(&self) -> Option<u64> {
        self.affected
    }

    pub(crate) fn with_rows_affected(mut self, n: u64) -> Self {
        self.affected = Some(n);
        self
    }

    /// The result's columns.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batches, one at a time (memory stays bounded by a few pages for a streaming plan).
    pub fn stream(self) -> SendableRecordBatchStream {
        self.stream
    }

    /// Every batch, in memory.
    pub async fn collect(self) -> Result<Vec<RecordBatch>, SqlError> {
        self.stream.try_collect().await.map_err(SqlError::from)
    }
}

/// What [`SqlSession::describe`] finds of a statement.
#[derive(Debug, Clone)]
pub struct Described {
    /// The result's columns; `None` for a write (which answers a count of rows).
    pub columns: Option<SchemaRef>,
    /// One entry per parameter (`$1` first): the type the statement gives it, if any.
    pub parameters: Vec<Option<DataType>>,
}

impl SqlSession {
    /// A session over `conn`. Nothing is sent yet: the server's list of services is read
    /// before the first statement is planned, each service's `$metadata` when a statement
    /// first names one of its tables (cached by the connection's client). Procedures need
    /// neither (`EXEC GetOAuthAuthorizationURL` works before anyone has signed in).
    ///
    /// The statements are bounded as the connection's properties say ([`SqlLimits::of`]:
    /// `MemoryLimit`, `StatementTimeout`, `MaxRecursion`, `CredentialProcedures`); a server
    /// that runs other people's SQL uses [`SqlSession::with_limits`] with
    /// [`SqlLimits::for_server`] instead.
    pub async fn new(conn: Connection) -> Result<SqlSession, SqlError> {
        let limits = SqlLimits::of(conn.settings());
        SqlSession::with_limits(conn, limits).await
    }

    /// A session over `conn` whose statements are bounded by `limits` (see [`limits`]).
    pub async fn with_limits(conn: Connection, limits: SqlLimits) -> Result<SqlSession, SqlError> {
        let transfer = Transfer::for_pipeline(conn.pipeline().clone());
        let join_keys = conn.settings().join_pushdown_keys as usize;
        let server = ServerModel::new(conn, transfer.clone());
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(
                std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8)),
            )
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
            // `127435.55` is an exact numeric literal (SQL's, and the only kind money wants): as a
            // Float64 it was coerced to the decimal column's type through a float and sent as
            // `127435.550000000008192`, which a decimal column on SQL Server never equals.
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
            .set_bool("datafusion.execution.parquet.pushdown_filters", false)
            // A join hands its scans its keys (crate::joins); the scans wait for them, so only a
            // join's filters may reach a scan: a TopK's or an aggregate's is final only once the
            // scan has been read.
            .set_bool(
                "datafusion.optimizer.enable_topk_dynamic_filter_pushdown",
                false,
            )
            .set_bool(
                "datafusion.optimizer.enable_aggregate_dynamic_filter_pushdown",
                false,
            )
            .set_bool(
                "datafusion.optimizer.enable_join_dynamic_filter_pushdown",
                join_keys > 0,
            )
            .set_usize(
                "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
                join_keys,
            );
        let mut builder = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(limits.runtime()?)
            .with_default_features()
            .with_analyzer_rule(Arc::new(corrections::intervals::DurationComparisons))
            .with_analyzer_rule(Arc::new(corrections::casts::NarrowingCasts))
            .with_physical_optimizer_rule(Arc::new(optimizer::PUSH_SORT_INTO_SCAN))
            .with_physical_optimizer_rule(Arc::new(optimizer::PUSH_OFFSET_INTO_SCAN))
            .with_physical_optimizer_rule(Arc::new(optimizer::COUNT_ON_SERVER));
        // The bounds' nodes go in last, around what the rules above left.
        if limits.memory.is_some() || limits.timeout.is_some() || limits.max_recursion.is_some() {
            builder = builder.with_physical_optimizer_rule(Arc::new(limits::Bounds(limits)));
        }
        let ctx = SessionContext::new_with_state(builder.build());
        limits.cap_functions(&ctx);
        let system = Arc::new(system::SystemTables::new(server.clone()));
        ctx.register_catalog(
            CATALOG,
            Arc::new(EpicorCatalog::new(server.clone(), system)),
        );
        Ok(SqlSession {
            ctx,
            server,
            transfer,
            limits,
            rewrite: None,
        })
    }

    /// The session, each statement changed by `rewrite` once parsed, before its markers are
    /// bound and before the read-only policy, the planner or anything else sees it: a
    /// server's dialect (the PostgreSQL server reads `OPERATOR(pg_catalog.~)` and
    /// `pg_catalog.`-qualified functions this way). It sees the statement under `EXPLAIN`.
    pub fn with_rewrite(mut self, rewrite: Rewrite) -> SqlSession {
        self.rewrite = Some(rewrite);
        self
    }

    /// Applies the session's rewrite (if any) to a parsed statement.
    fn rewritten(&self, mut statement: DFStatement) -> Result<DFStatement, SqlError> {
        let Some(rewrite) = &self.rewrite else {
            return Ok(statement);
        };
        let mut inner = &mut statement;
        while let DFStatement::Explain(e) = inner {
            inner = e.statement.as_mut();
        }
        if let DFStatement::Statement(s) = inner {
            rewrite(s.as_mut())?;
        }
        Ok(statement)
    }

    /// The bounds of the session's statements.
    pub fn limits(&self) -> &SqlLimits {
        &self.limits
    }

    /// The connection the session reads through.
    pub fn connection(&self) -> &Connection {
        &self.server.conn
    }

    /// Rows the server has sent to this session's scans (see [`Transfer`]).
    pub fn transfer(&self) -> &Transfer {
        &self.transfer
    }

    /// The DataFusion context (to register more tables or functions).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one statement: a query, `EXPLAIN`, `INSERT`/`UPDATE`/`DELETE` (one row with the
    /// count of rows affected), or `EXEC`/`CALL` of a procedure.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, SqlError> {
        self.query_with(sql, &[]).await
    }

    /// Runs one statement with `params` bound to its `?` markers, in the order they appear
    /// (see [`params`]): one value per marker, each a literal of the statement, never SQL text.
    ///
    /// With a `StatementTimeout`, the statement stops at its deadline wherever it is, its
    /// result's stream included; a procedure's one request and a write's rows already sent are
    /// not cut off (see [`limits`]).
    pub async fn query_with(&self, sql: &str, params: &[Param]) -> Result<QueryResult, SqlError> {
        let statement = self.parse_one(sql, params)?;
        let statement = match statement {
            Parsed::Procedure(_) if self.limits.read_only => {
                return Err(SqlError::read_only("EXEC"))
            }
            Parsed::Procedure(call) => return procedures::call(self, call).await,
            Parsed::Statement(s) => s,
        };
        if let (true, Some(what)) = (self.limits.read_only, dml::writes(&statement)) {
            return Err(SqlError::read_only(what));
        }
        // `EXPLAIN` (not `ANALYZE`) plans only: a BAQ's missing parameters are shown, not asked.
        let plan_only = matches!(&statement, DFStatement::Explain(e) if !e.options.analyze);
        limits::with_deadline(
            self.limits.timeout,
            PLAN_ONLY.scope(plan_only, self.run_statement(statement)),
        )
        .await
    }

    async fn run_statement(&self, mut statement: DFStatement) -> Result<QueryResult, SqlError> {
        limits::within(self.prepare(&mut statement)).await?;
        if let Some(written) = dml::statement(self, &statement).await? {
            return Ok(written);
        }
        let plan = limits::within(self.plan(statement)).await?;
        let is_query = !matches!(
            plan,
            datafusion::logical_expr::LogicalPlan::Dml(_)
                | datafusion::logical_expr::LogicalPlan::Explain(_)
                | datafusion::logical_expr::LogicalPlan::Analyze(_)
                | datafusion::logical_expr::LogicalPlan::Ddl(_)
                | datafusion::logical_expr::LogicalPlan::Statement(_)
        );
        let max_rows = self.server.conn.settings().max_rows;
        let (schema, stream) = limits::within(async {
            let mut frame = self.ctx.execute_logical_plan(plan).await?;
            // `MaxRows` limits what a query returns, never what its scans read (a join or a sum
            // over a truncated table would be a wrong answer, silently).
            if let (true, Some(max)) = (is_query, max_rows) {
                frame = frame.limit(0, Some(usize::try_from(max).unwrap_or(usize::MAX)))?;
            }
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            Ok::<_, SqlError>((schema, frame.execute_stream().await?))
        })
        .await?;
        Ok(QueryResult::new(schema, limits::bounded(stream)))
    }

    /// The parameters of the BAQ `id` (any case) as the server lists them: `(name, required)`;
    /// `None` when the server has no such BAQ.
    pub async fn baq_parameters(&self, id: &str) -> Result<Option<Vec<(String, bool)>>, SqlError> {
        let baqs = self.server.baqs().await?;
        Ok(baqs
            .iter()
            .find(|b| b.id.eq_ignore_ascii_case(id))
            .map(|b| b.parameters.clone()))
    }

    /// The columns a query would answer, planned but not run (nothing is read; a BAQ called
    /// without its required parameters is planned with placeholders): what `\d` shows.
    pub async fn schema_of(&self, sql: &str) -> Result<SchemaRef, SqlError> {
        PLAN_ONLY
            .scope(true, async {
                let mut statement = match self.parse_one(sql, &[])? {
                    Parsed::Statement(s) => s,
                    Parsed::Procedure(_) => {
                        return Err(SqlError::invalid(
                            "a procedure call has no columns to describe before it runs",
                        ))
                    }
                };
                self.prepare(&mut statement).await?;
                let plan = self.plan(statement).await?;
                Ok(Arc::new(plan.schema().as_arrow().clone()))
            })
            .await
    }

    /// What a statement takes and answers, planned but not run (nothing is read): its
    /// parameters (`?` or `$n` markers) with the types the statement gives them (`CustNum =
    /// $1`: the column's type; `None` where nothing says), and its columns (`None` for a write,
    /// which answers a count). What a PostgreSQL client's `Parse` and `Describe` ask.
    ///
    /// A write in a read-only session is refused here, as it would be when run; a procedure
    /// call (`EXEC`) cannot be described before it runs.
    pub async fn describe(&self, sql: &str) -> Result<Described, SqlError> {
        PLAN_ONLY.scope(true, self.describe_planned(sql)).await
    }

    async fn describe_planned(&self, sql: &str) -> Result<Described, SqlError> {
        // An `EXEC` (its markers counted against no values: an error, still an `EXEC`).
        if !matches!(procedures::parse_exec(sql, &[]), Ok(None)) {
            return Err(if self.limits.read_only {
                SqlError::read_only("EXEC")
            } else {
                SqlError::invalid(
                    "a procedure call (EXEC) cannot be prepared: its columns are known only once \
                     it runs; send it as a simple query",
                )
            });
        }
        let mut statement = self.rewritten(parse_single(sql)?)?;
        let count = params::number_markers(&mut statement)?;
        if let Some(what) = dml::writes(&statement) {
            if self.limits.read_only {
                return Err(SqlError::read_only(what));
            }
            return Ok(Described {
                columns: None,
                parameters: vec![None; count],
            });
        }
        if let DFStatement::Statement(s) = &statement {
            if matches!(s.as_ref(), Statement::Call(_)) {
                return Err(SqlError::read_only("CALL"));
            }
        }
        self.prepare(&mut statement).await?;
        let plan = self.plan(statement).await?;
        let mut types = plan.get_parameter_types()?;
        // `CAST($1 AS DATE)` (`$1::date`): the parameter is what it is cast to, as PostgreSQL
        // reads it (DataFusion leaves it untyped).
        for (id, to) in placeholder_casts(&plan) {
            if let Some(slot @ None) = types.get_mut(&id) {
                *slot = Some(to);
            }
        }
        let parameters = (1..=count)
            .map(|n| types.get(&format!("${n}")).cloned().flatten())
            .collect();
        Ok(Described {
            columns: Some(Arc::new(plan.schema().as_arrow().clone())),
            parameters,
        })
    }

    /// The OData requests a query's scans send, as the server receives them (the first page of
    /// each): what `EXPLAIN` summarises. Nothing is read; a BAQ called without its required
    /// parameters shows them as placeholders (`CustID={CustID}`).
    pub async fn requests_of(&self, sql: &str) -> Result<Vec<String>, SqlError> {
        PLAN_ONLY.scope(true, self.requests_of_planned(sql)).await
    }

    async fn requests_of_planned(&self, sql: &str) -> Result<Vec<String>, SqlError> {
        let mut statement = match self.parse_one(sql, &[])? {
            Parsed::Statement(s) => s,
            Parsed::Procedure(_) => return Ok(Vec::new()),
        };
        self.prepare(&mut statement).await?;
        let plan = self.plan(statement).await?;
        let physical = self
            .ctx
            .execute_logical_plan(plan)
            .await?
            .create_physical_plan()
            .await?;
        let mut out = Vec::new();
        collect_requests(&physical, &mut out)?;
        Ok(out)
    }
}

impl SqlSession {
    /// Makes `statement` ready to plan: the server's services listed (once), dotted service
    /// names and BAQ calls rewritten (see [`rewrite`]).
    pub(crate) async fn prepare(&self, statement: &mut DFStatement) -> Result<(), SqlError> {
        self.server.load_services().await?;
        let mut statement = statement;
        // The statement an EXPLAIN explains is rewritten as it would be run.
        while let DFStatement::Explain(e) = statement {
            statement = e.statement.as_mut();
        }
        if let DFStatement::Statement(s) = statement {
            rewrite::rewrite(s, &self.server).await?;
        }
        Ok(())
    }

    /// The logical plan of a prepared statement, refused unless it only reads (see
    /// [`only_reads`]).
    pub(crate) async fn plan(
        &self,
        statement: DFStatement,
    ) -> Result<datafusion::logical_expr::LogicalPlan, SqlError> {
        let calls = calls_in(&statement);
        let plan = self
            .ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(|e| no_signature(SqlError::from(e), &calls))?;
        only_reads(&plan)?;
        Ok(plan)
    }
}

/// Every parameter a plan casts directly (`CAST($1 AS DATE)`), with the type it is cast to.
fn placeholder_casts(plan: &datafusion::logical_expr::LogicalPlan) -> Vec<(String, DataType)> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{expr::Placeholder, Cast, Expr, TryCast};
    let mut found = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) = e
                {
                    if let Expr::Placeholder(Placeholder { id, .. }) = expr.as_ref() {
                        found.push((id.clone(), field.data_type().clone()));
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

tokio::task_local! {
    /// Set while a statement is planned and not run (`EXPLAIN`, [`SqlSession::requests_of`],
    /// [`SqlSession::schema_of`]): a BAQ's missing required parameters become placeholders.
    pub(crate) static PLAN_ONLY: bool;
}

/// Whether the statement being planned will not run (see [`PLAN_ONLY`]).
pub(crate) fn planning_only() -> bool {
    PLAN_ONLY.try_with(|p| *p).unwrap_or(false)
}

/// Every function call of a statement, as written (`SUM(Name)`), with its name in lower case.
fn calls_in(statement: &DFStatement) -> Vec<(String, String)> {
    use datafusion::sql::sqlparser::ast::{visit_expressions, Expr};
    let mut calls = Vec::new();
    let mut statement = statement;
    while let DFStatement::Explain(e) = statement {
        statement = e.statement.as_ref();
    }
    if let DFStatement::Statement(s) = statement {
        let _ = visit_expressions(s.as_ref(), |e| {
            if let Expr::Function(f) = e {
                calls.push((f.name.to_string().to_ascii_lowercase(), e.to_string()));
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    calls
}

/// DataFusion 55 reports a function given arguments of types it does not take (`SUM(Name)`
/// over text) as an internal error naming only the types: the statement's fault, said with
/// the call as written and the types the function takes.
fn no_signature(e: SqlError, calls: &[(String, String)]) -> SqlError {
    let text = e.to_string();
    let Some(rest) = text
        .split("No function matches the given name and argument types '")
        .nth(1)
    else {
        return e;
    };
    let Some((called, after)) = rest.split_once('\'') else {
        return e;
    };
    let name = called
        .split('(')
        .next()
        .unwrap_or(called)
        .to_ascii_lowercase();
    let written: Vec<&str> = calls
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, w)| w.as_str())
        .collect();
    let takes: Vec<&str> = after
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&format!("{name}(")))
        .collect();
    let argument_types = called
        .strip_prefix(&name)
        .or_else(|| called.split_once('(').map(|(_, r)| r))
        .unwrap_or(called)
        .trim_start_matches('(')
        .trim_end_matches(')');
    SqlError::invalid(format!(
        "{}: {name} does not take {argument_types}{}; cast the argument, e.g. CAST(x AS DECIMAL(18, 2))",
        if written.is_empty() {
            called.to_owned()
        } else {
            written.join(", ")
        },
        if takes.is_empty() {
            String::new()
        } else {
            format!(" (it takes {})", takes.join(", "))
        }
    ))
}

/// What DataFusion itself may run: queries and `EXPLAIN`. Its own DDL (`CREATE EXTERNAL TABLE`
/// reads any local file), `COPY ... TO` (writes one) and `SET` (changes how names resolve) are
/// refused: SQL may come from a web form, and the session's reach is the Epicor server only.
/// Writes to Epicor go through [`dml`], which never hands DataFusion a DML plan.
fn only_reads(plan: &datafusion::logical_expr::LogicalPlan) -> Result<(), SqlError> {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| {
            SqlError::invalid(format!(
                "{}: only queries, EXPLAIN, INSERT, UPDATE, DELETE and EXEC/CALL run here",
                e.message()
            ))
        })
}

/// The first request of each scan and count of a plan, in plan order.
fn collect_requests(
    plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    out: &mut Vec<String>,
) -> Result<(), SqlError> {
    if let Some(scan) = plan.downcast_ref::<table::ODataScanExec>() {
        out.push(scan.first_request()?.to_string());
    }
    if let Some(count) = plan.downcast_ref::<table::ODataCountExec>() {
        out.push(count.first_request()?.to_string());
    }
    for child in plan.children() {
        collect_requests(child, out)?;
    }
    Ok(())
}

/// A statement as parsed: one for DataFusion, or a procedure call.
enum Parsed {
    Statement(DFStatement),
    Procedure(procedures::Call),
}

impl SqlSession {
    /// Parses exactly one statement (a trailing `;` is fine), rewritten (see
    /// [`SqlSession::with_rewrite`]), `params` bound to its markers.
    fn parse_one(&self, sql: &str, params: &[Param]) -> Result<Parsed, SqlError> {
        parse_one(sql, params, |s| self.rewritten(s))
    }
}

/// Parses exactly one statement (a trailing `;` is fine), `params` bound to its markers.
fn parse_one(
    sql: &str,
    params: &[Param],
    rewrite: impl FnOnce(DFStatement) -> Result<DFStatement, SqlError>,
) -> Result<Parsed, SqlError> {
    if let Some(call) = procedures::parse_exec(sql, params)? {
        return Ok(Parsed::Procedure(call));
    }
    let mut statement = rewrite(parse_single(sql)?)?;
    params::bind(&mut statement, params)?;
    if let DFStatement::Statement(s) = &statement {
        if let Statement::Call(function) = s.as_ref() {
            return Ok(Parsed::Procedure(procedures::Call::from_function(
                function,
            )?));
        }
    }
    Ok(Parsed::Statement(statement))
}

/// Exactly one statement of `sql` (a trailing `;` is fine), parsed.
pub(crate) fn parse_single(sql: &str) -> Result<DFStatement, SqlError> {
    let mut statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| SqlError::invalid(format!("{e}")))?;
    match (statements.pop_front(), statements.len()) {
        (Some(statement), 0) => Ok(statement),
        (first, rest) => Err(SqlError::invalid(format!(
            "give one statement at a time (got {})",
            rest + usize::from(first.is_some())
        ))),
    }
}

impl QueryResult {
    /// A result from batches made outside a statement, so that [`format::write`] writes them:
    /// the command line's `kinetic export --format parquet` decodes an OData query's pages with
    /// [`arrow::batch_of`] (the scans' own decoding) and writes them through this.
    pub fn from_batches<S>(schema: SchemaRef, batches: S) -> QueryResult
    where
        S: futures_util::Stream<Item = Result<RecordBatch, SqlError>> + Send + 'static,
    {
        use futures_util::StreamExt;
        let stream = batches
            .map(|b| b.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e))));
        QueryResult::new(
            schema.clone(),
            Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream),
            ),
        )
    }
}
