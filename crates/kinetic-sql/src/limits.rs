//! Bounds on what a statement may take, for servers that run other people's SQL.
//!
//! - **Memory** (`MemoryLimit`): DataFusion's memory pool bounds what operators hold (sorts,
//!   joins, aggregates, the rows of a recursive query), and nothing spills to disk instead. The
//!   pool does not see the values functions build, so the functions that can build a value far
//!   larger than their arguments (`repeat`, `lpad`, `rpad`, `replace`, `regexp_replace`)
//!   compute the size of what they would build first and refuse above the limit;
//!   the functions that concatenate (`concat`, `concat_ws`, `overlay`, `translate`) check
//!   what they built, and every
//!   projection's batches are checked too (`||` is an operator, not a
//!   function). Planning folds constant calls with the same functions, so a literal
//!   `repeat('a', 2000000000)` is refused before anything runs. The engine is built without
//!   DataFusion's array functions (`range`, `array_repeat`, `unnest` of arrays), which would
//!   need bounds of their own.
//! - **Time** (`StatementTimeout`): one deadline for the whole statement, from planning to its
//!   last row, the server's answers included. A write is not cut off
//!   in the middle of a request: it stops between rows and says what it wrote.
//! - **Recursion** (`MaxRecursion`): the iterations of a `WITH RECURSIVE`.
//! - **Credentials** (`CredentialProcedures`): whether `EXEC GetOAuthAccessToken` and
//!   `RefreshOAuthAccessToken`, which answer the connection's access token, may run.
//! - **Read-only** ([`SqlLimits::read_only`], a server's default): writes and procedure calls
//!   fail with [`SqlErrorKind::ReadOnly`](crate::SqlErrorKind::ReadOnly) before anything is sent.
//!
//! A statement stopped by a bound fails with [`SqlErrorKind::Limit`](crate::SqlErrorKind::Limit)
//! and a message naming the property to raise.

use crate::SqlError;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::udf_eq::UdfEq;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::recursive_query::RecursiveQueryExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::unnest::UnnestExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use epicor_kinetic::settings::Settings;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// The bounds of a [`SqlSession`](crate::SqlSession)'s statements: see the [module](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlLimits {
    /// `MemoryLimit` in bytes: what the session's statements may hold at once, and the largest
    /// value or batch a function may build. `None`: no limit.
    pub memory: Option<u64>,
    /// `StatementTimeout`: the longest one statement may take. `None`: no limit.
    pub timeout: Option<Duration>,
    /// `MaxRecursion`: the most iterations of a recursive query. `None`: no limit.
    pub max_recursion: Option<u32>,
    /// `CredentialProcedures`: whether the procedures that answer the connection's access
    /// token may run.
    pub credential_procedures: bool,
    /// Whether only queries run: `INSERT`, `UPDATE`, `DELETE` and procedure calls (`EXEC`,
    /// `CALL`: Epicor's methods and functions may write) fail with
    /// [`SqlErrorKind::ReadOnly`](crate::SqlErrorKind::ReadOnly) before anything is sent. Decided
    /// on the parsed statement, never on its first word (`WITH ... DELETE`, a comment first, an
    /// `EXPLAIN ANALYZE` of a write: DataFusion itself runs no write at all). Off for the command
    /// line and the Python module; on in [`Self::for_server`].
    pub read_only: bool,
}

impl SqlLimits {
    /// A server's memory limit where its connection string sets none: 512 MiB.
    pub const SERVER_MEMORY: u64 = 512 * MIB;
    /// A server's statement timeout where its connection string sets none: 5 minutes.
    pub const SERVER_TIMEOUT: Duration = Duration::from_secs(300);
    /// A server's recursion cap where its connection string sets none (SQL Server's default).
    pub const SERVER_RECURSION: u32 = 100;

    /// The bounds the connection's properties set (`MemoryLimit`, `StatementTimeout`,
    /// `MaxRecursion`, `CredentialProcedures`): what the command line and the Python module use.
    pub fn of(settings: &Settings) -> SqlLimits {
        SqlLimits {
            memory: settings.memory_limit,
            timeout: settings.statement_timeout,
            max_recursion: settings.max_recursion,
            credential_procedures: settings.credential_procedures,
            read_only: false,
        }
    }

    /// The bounds for a server that runs other people's SQL: the connection's, with
    /// [`Self::SERVER_MEMORY`], [`Self::SERVER_TIMEOUT`] and [`Self::SERVER_RECURSION`] where
    /// it sets none (or `0`), the credential procedures always off, and read-only (its
    /// operator allows writes by setting [`Self::read_only`] to `false`).
    pub fn for_server(settings: &Settings) -> SqlLimits {
        let mut limits = SqlLimits::of(settings);
        limits.memory.get_or_insert(Self::SERVER_MEMORY);
        limits.timeout.get_or_insert(Self::SERVER_TIMEOUT);
        limits.max_recursion.get_or_insert(Self::SERVER_RECURSION);
        limits.credential_procedures = false;
        limits.read_only = true;
        limits
    }

    /// The engine's runtime: a memory pool of [`Self::memory`] (unbounded without it), and no
    /// spill files (a statement's reach is the Epicor server, never the local disk).
    pub(crate) fn runtime(&self) -> Result<Arc<RuntimeEnv>> {
        let mut builder = RuntimeEnvBuilder::new().with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        );
        if let Some(bytes) = self.memory {
            builder = builder.with_memory_limit(usize::try_from(bytes).unwrap_or(usize::MAX), 1.0);
        }
        builder.build_arc()
    }

    /// Replaces the session's value-building functions by their [`Capped`] forms (with a
    /// memory limit only).
    pub(crate) fn cap_functions(&self, ctx: &SessionContext) {
        let Some(limit) = self.memory else {
            return;
        };
        let state = ctx.state();
        let functions = state.scalar_functions();
        for (name, growth) in GROWERS {
            if let Some(f) = functions.get(*name) {
                ctx.register_udf(ScalarUDF::new_from_impl(Capped {
                    inner: UdfEq::from(f.inner().clone()),
                    growth: *growth,
                    limit,
                }));
            }
        }
    }
}

/// Says what [`SqlErrorKind::Limit`](crate::SqlErrorKind::Limit) failures say about memory.
pub(crate) fn memory_error(what: String, limit: u64) -> DataFusionError {
    DataFusionError::External(Box::new(SqlError::limit(format!(
        "{what}, more than MemoryLimit allows ({}): raise MemoryLimit, or build smaller values",
        shown_bytes(limit)
    ))))
}

fn shown_bytes(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// How a function's output can outgrow its arguments, and so how its size is known before it
/// is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: `len(text) * n`.
    Repeat,
    /// `lpad/rpad(text, n [, fill])`: `len(text) + n` characters of `fill`.
    Pad,
    /// `replace(text, from, to)`: each occurrence of `from` (or each character boundary for an
    /// empty `from`) becomes `to`.
    Replace,
    /// `regexp_replace(text, pattern, replacement [, flags])`: a match per character boundary
    /// at most, each replaced by `replacement`, whose group references copy at most the text.
    RegexpReplace,
    /// Output bounded by the sum of its arguments (`concat`, ...): checked once built.
    Built,
}

/// The functions [`SqlLimits::cap_functions`] replaces, by DataFusion's names.
const GROWERS: &[(&str, Growth)] = &[
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("replace", Growth::Replace),
    ("regexp_replace", Growth::RegexpReplace),
    ("concat", Growth::Built),
    ("concat_ws", Growth::Built),
    ("overlay", Growth::Built),
    ("translate", Growth::Built),
];

/// A function whose output is bounded by `limit` bytes per call (see the [module](self)).
/// Everything but the evaluation is the inner function's; its simplifications are left out, as
/// they would put the unbounded function back.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Capped {
    inner: UdfEq<Arc<dyn ScalarUDFImpl>>,
    growth: Growth,
    limit: u64,
}

impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.inner.propagate_constraints(interval, inputs)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.strictly_order_preserving(inputs)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        if let Some(bytes) = self.size_before(&args.args, rows)? {
            if bytes > self.limit {
                return Err(memory_error(
                    format!(
                        "{}(...) would build {} in one call",
                        self.inner.name(),
                        shown_bytes(bytes)
                    ),
                    self.limit,
                ));
            }
        }
        let out = self.inner.invoke_with_args(args)?;
        let built = match &out {
            ColumnarValue::Array(a) => a.get_array_memory_size() as u64,
            ColumnarValue::Scalar(s) => s.size() as u64,
        };
        if built > self.limit {
            return Err(memory_error(
                format!("{}(...) built {}", self.inner.name(), shown_bytes(built)),
                self.limit,
            ));
        }
        Ok(out)
    }
}

impl Capped {
    /// An upper bound of the bytes a call would build over `rows` rows, when its arguments
    /// tell; `None` when only the built value can say ([`Growth::Built`], argument types the
    /// bound does not know).
    fn size_before(&self, args: &[ColumnarValue], rows: usize) -> Result<Option<u64>> {
        let arg = |i: usize| args.get(i);
        let total = |f: &dyn Fn(usize) -> u64| -> u64 {
            (0..rows).fold(0u64, |sum, row| sum.saturating_add(f(row)))
        };
        Ok(match self.growth {
            Growth::Built => None,
            Growth::Repeat => {
                let (Some(text), Some(n)) = (arg(0), arg(1)) else {
                    return Ok(None);
                };
                let (text, n) = (lengths(text, rows)?, counts(n, rows)?);
                Some(total(&|r| text.at(r).saturating_mul(n.at(r))))
            }
            Growth::Pad => {
                let (Some(text), Some(n)) = (arg(0), arg(1)) else {
                    return Ok(None);
                };
                let (text, n) = (lengths(text, rows)?, counts(n, rows)?);
                // A character of the fill is 1 to 4 bytes; the default fill is a space.
                let fill = match arg(2) {
                    Some(fill) => lengths(fill, rows)?,
                    None => Values::One(1),
                };
                Some(total(&|r| {
                    text.at(r)
                        .saturating_add(n.at(r).saturating_mul(fill.at(r).clamp(1, 4)))
                }))
            }
            Growth::Replace | Growth::RegexpReplace => {
                let (Some(text), Some(from), Some(to)) = (arg(0), arg(1), arg(2)) else {
                    return Ok(None);
                };
                let (text, from, to) = (
                    lengths(text, rows)?,
                    lengths(from, rows)?,
                    lengths(to, rows)?,
                );
                let regexp = self.growth == Growth::RegexpReplace;
                Some(total(&|r| {
                    let len = text.at(r);
                    let matches = if regexp {
                        len + 1
                    } else {
                        len / from.at(r).max(1) + 1
                    };
                    // A group reference copies at most the whole text, once per reference.
                    let copies = if regexp {
                        to.at(r).saturating_mul(len)
                    } else {
                        0
                    };
                    len.saturating_add(matches.saturating_mul(to.at(r)))
                        .saturating_add(copies)
                }))
            }
        })
    }
}

/// One value per row, or one for every row.
enum Values {
    One(u64),
    Many(Vec<u64>),
}

impl Values {
    fn at(&self, row: usize) -> u64 {
        match self {
            Values::One(v) => *v,
            Values::Many(v) => v.get(row).copied().unwrap_or(0),
        }
    }
}

/// The byte length of each text or binary value (0 for null); other types by their text.
fn lengths(v: &ColumnarValue, rows: usize) -> Result<Values> {
    Ok(match v {
        ColumnarValue::Scalar(s) => Values::One(scalar_len(s)),
        ColumnarValue::Array(a) => Values::Many(array_lengths(a, rows)),
    })
}

fn scalar_len(s: &ScalarValue) -> u64 {
    match s {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
            v.as_ref().map_or(0, |t| t.len() as u64)
        }
        ScalarValue::Binary(v) | ScalarValue::LargeBinary(v) | ScalarValue::BinaryView(v) => {
            v.as_ref().map_or(0, |b| b.len() as u64)
        }
        other if other.is_null() => 0,
        other => other.to_string().len() as u64,
    }
}

fn array_lengths(a: &ArrayRef, rows: usize) -> Vec<u64> {
    let len = |i: usize, f: &dyn Fn(usize) -> usize| {
        if a.is_null(i) {
            0
        } else {
            f(i) as u64
        }
    };
    let _ = rows;
    let n = a.len();
    match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            (0..n).map(|i| len(i, &|i| s.value(i).len())).collect()
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            (0..n).map(|i| len(i, &|i| s.value(i).len())).collect()
        }
        DataType::Utf8View => {
            let s = a.as_string_view();
            (0..n).map(|i| len(i, &|i| s.value(i).len())).collect()
        }
        DataType::Binary => {
            let b = a.as_binary::<i32>();
            (0..n).map(|i| len(i, &|i| b.value(i).len())).collect()
        }
        DataType::LargeBinary => {
            let b = a.as_binary::<i64>();
            (0..n).map(|i| len(i, &|i| b.value(i).len())).collect()
        }
        _ => (0..n)
            .map(|i| {
                ScalarValue::try_from_array(a, i)
                    .map(|s| scalar_len(&s))
                    .unwrap_or(0)
            })
            .collect(),
    }
}

/// Each value as a count: negative and null count 0.
fn counts(v: &ColumnarValue, _rows: usize) -> Result<Values> {
    use datafusion::arrow::compute::cast;
    let count = |n: Option<i64>| n.map_or(0, |n| u64::try_from(n).unwrap_or(0));
    Ok(match v {
        ColumnarValue::Scalar(s) => Values::One(match s.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(n) => count(n),
            _ => 0,
        }),
        ColumnarValue::Array(a) => {
            let ints = cast(a, &DataType::Int64)?;
            let ints = ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            Values::Many(ints.iter().map(count).collect())
        }
    })
}

/// The bounds' nodes, put around what DataFusion's rules and ours left (so it runs last):
/// - with a memory limit, below every projection and unnest, a check of each batch's size:
///   values built by operators (`||`) rather than functions;
/// - with a deadline, above every join and recursive query, a check of the time at each batch:
///   work that computes without waiting (a cross join) stops within one batch of the deadline,
///   whatever runtime reads the result. The deadline is the one of the statement being planned
///   (see [`with_deadline`]);
/// - with a recursion cap, around each recursive query's terms, the count of its iterations.
#[derive(Debug)]
pub(crate) struct Bounds(pub(crate) SqlLimits);

impl PhysicalOptimizerRule for Bounds {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let deadline = self.0.timeout.and_then(|_| deadline());
        plan.transform_up(|node| {
            let mut node = node;
            let mut changed = false;
            let recursive = node.downcast_ref::<RecursiveQueryExec>().is_some();
            if let (true, Some(max)) = (recursive, self.0.max_recursion) {
                node = cap_recursion(node, max)?;
                changed = true;
            }
            let builds = node.downcast_ref::<ProjectionExec>().is_some()
                || node.downcast_ref::<UnnestExec>().is_some();
            if let (true, Some(limit)) = (builds, self.0.memory) {
                node = Arc::new(Checked::new(node, Check::Batch { limit }));
                changed = true;
            }
            let computes = recursive || node.name().contains("Join");
            if let (true, Some((at, timeout))) = (computes, deadline) {
                node = Arc::new(Checked::new(node, Check::Deadline { at, timeout }));
                changed = true;
            }
            Ok(if changed {
                Transformed::yes(node)
            } else {
                Transformed::no(node)
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "kinetic_bounds"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The recursive query `node` with its iterations counted, at most `max`.
fn cap_recursion(node: Arc<dyn ExecutionPlan>, max: u32) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(recursive) = node.downcast_ref::<RecursiveQueryExec>() else {
        return Ok(node);
    };
    let count = Arc::new(AtomicU32::new(0));
    let start = Checked::new(
        recursive.static_term().clone(),
        Check::RecursionStart {
            count: count.clone(),
        },
    );
    let step = Checked::new(
        recursive.recursive_term().clone(),
        Check::RecursionStep { count, max },
    );
    let children: Vec<Arc<dyn ExecutionPlan>> = vec![Arc::new(start), Arc::new(step)];
    replace_children_if_necessary(node, children)
}

/// What a [`Checked`] node checks.
#[derive(Debug, Clone)]
enum Check {
    /// Each batch's size against a memory limit.
    Batch { limit: u64 },
    /// The static term of a recursive query: its run starts the count of iterations.
    RecursionStart { count: Arc<AtomicU32> },
    /// The recursive term: each run is an iteration, at most `max`.
    RecursionStep { count: Arc<AtomicU32>, max: u32 },
    /// Each batch's time against the statement's deadline.
    Deadline {
        at: tokio::time::Instant,
        timeout: Duration,
    },
}

/// A node that passes its input's batches through, checking them ([`Check`]).
#[derive(Debug)]
struct Checked {
    input: Arc<dyn ExecutionPlan>,
    check: Check,
}

impl Checked {
    fn new(input: Arc<dyn ExecutionPlan>, check: Check) -> Checked {
        Checked { input, check }
    }
}

impl DisplayAs for Checked {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match &self.check {
            Check::Batch { limit } => write!(f, "BoundBatches: limit={}", shown_bytes(*limit)),
            Check::RecursionStart { .. } => write!(f, "RecursionStart"),
            Check::RecursionStep { max, .. } => write!(f, "RecursionCap: max={max}"),
            Check::Deadline { timeout, .. } => {
                write!(f, "Deadline: timeout={}s", timeout.as_secs())
            }
        }
    }
}

impl ExecutionPlan for Checked {
    fn name(&self) -> &str {
        "Checked"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Checked::new(input, self.check.clone()))),
            _ => Err(DataFusionError::Internal(
                "a checked node has one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        match &self.check {
            Check::RecursionStart { count } => {
                count.store(0, Ordering::Relaxed);
                self.input.execute(partition, context)
            }
            Check::RecursionStep { count, max } => {
                let stream = self.input.execute(partition, context)?;
                if count.fetch_add(1, Ordering::Relaxed) < *max {
                    return Ok(stream);
                }
                // One iteration more than allowed: an error if it finds rows (it is the last
                // one if it finds none, as SQL Server counts).
                let max = *max;
                let schema = stream.schema();
                let checked = stream.map(move |batch| {
                    let batch = batch?;
                    if batch.num_rows() > 0 {
                        return Err(DataFusionError::External(Box::new(SqlError::limit(
                            format!(
                                "the recursive query went deeper than MaxRecursion allows ({max} iterations) and was stopped: end its recursion with a WHERE on the recursive part, or raise MaxRecursion (0: no limit)"
                            ),
                        ))));
                    }
                    Ok(batch)
                });
                Ok(Box::pin(RecordBatchStreamAdapter::new(schema, checked)))
            }
            Check::Deadline { at, timeout } => {
                let (at, timeout) = (*at, *timeout);
                let schema: SchemaRef = self.input.schema();
                let stream = self.input.execute(partition, context)?.map(move |batch| {
                    if tokio::time::Instant::now() >= at {
                        return Err(DataFusionError::External(Box::new(timeout_error(timeout))));
                    }
                    batch
                });
                Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
            }
            Check::Batch { limit } => {
                let limit = *limit;
                let schema: SchemaRef = self.input.schema();
                let stream = self.input.execute(partition, context)?.map(move |batch| {
                    let batch = batch?;
                    let size = batch.get_array_memory_size() as u64;
                    if size > limit {
                        return Err(memory_error(
                            format!(
                                "a batch of {} rows built {}",
                                batch.num_rows(),
                                shown_bytes(size)
                            ),
                            limit,
                        ));
                    }
                    Ok(batch)
                });
                Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
            }
        }
    }
}

tokio::task_local! {
    /// The deadline of the statement being run, and the timeout it came from.
    static DEADLINE: Option<(tokio::time::Instant, Duration)>;
}

/// Runs `statement` (a whole [`SqlSession::query_with`](crate::SqlSession::query_with)) with
/// the deadline `timeout` from now visible to [`within`], [`bounded`] and [`check_deadline`].
pub(crate) async fn with_deadline<F: std::future::Future>(
    timeout: Option<Duration>,
    statement: F,
) -> F::Output {
    let deadline = timeout.map(|t| (tokio::time::Instant::now() + t, t));
    DEADLINE.scope(deadline, statement).await
}

fn deadline() -> Option<(tokio::time::Instant, Duration)> {
    DEADLINE.try_with(|d| *d).ok().flatten()
}

fn timeout_error(timeout: Duration) -> SqlError {
    SqlError::limit(format!(
        "the statement ran longer than StatementTimeout allows ({} s) and was stopped: raise StatementTimeout, or read less (a WHERE the server can answer, fewer rows, a LIMIT)",
        timeout.as_secs()
    ))
}

/// `work`, stopped at the statement's deadline.
pub(crate) async fn within<T>(
    work: impl std::future::Future<Output = Result<T, SqlError>>,
) -> Result<T, SqlError> {
    match deadline() {
        None => work.await,
        Some((at, timeout)) => tokio::time::timeout_at(at, work)
            .await
            .unwrap_or_else(|_| Err(timeout_error(timeout))),
    }
}

/// A [`SqlErrorKind::Limit`](crate::SqlErrorKind::Limit) error when the statement's deadline
/// has passed (a write checks it between rows).
pub(crate) fn check_deadline() -> Result<(), SqlError> {
    match deadline() {
        Some((at, timeout)) if tokio::time::Instant::now() >= at => Err(timeout_error(timeout)),
        _ => Ok(()),
    }
}

/// `stream`, ended with an error at the statement's deadline (taken now, while the statement
/// runs: the stream is read after [`with_deadline`] returns). The stream is read in a task of
/// its own, so that the deadline is seen at once even while an operator computes without
/// pause; the task is aborted at the deadline or when the result is dropped.
pub(crate) fn bounded(stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
    let Some((at, timeout)) = deadline() else {
        return stream;
    };
    let schema = stream.schema();
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let reader = tokio::spawn(async move {
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    let state = Some((rx, Box::pin(tokio::time::sleep_until(at)), Abort(reader)));
    let bounded = futures_util::stream::unfold(state, move |state| async move {
        let (mut rx, mut sleep, reader) = state?;
        tokio::select! {
            biased;
            () = &mut sleep => Some((
                Err(DataFusionError::External(Box::new(timeout_error(timeout)))),
                None,
            )),
            next = rx.recv() => next.map(|item| (item, Some((rx, sleep, reader)))),
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, bounded))
}

/// Aborts its task when dropped.
struct Abort(tokio::task::JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}
