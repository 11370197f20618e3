//! INSERT, UPDATE and DELETE on entity sets.
//!
//! - `INSERT INTO t (cols) VALUES (...), (...)` and `INSERT INTO t (cols) SELECT ...`: the rows
//!   are computed first (all of them), then `POST`ed one at a time to the entity set.
//! - `UPDATE t SET c = expr WHERE ...` and `DELETE FROM t WHERE ...`: the keys of the rows that
//!   match (and the new values, computed per row) are read first, through an ordinary scan whose
//!   `WHERE` is pushed down as OData where it can be and re-applied here where it cannot; then
//!   each row is `PATCH`ed (only the columns set) or `DELETE`d by its key.
//!
//! Every statement answers one row with the column `count` (`UInt64`): the rows written, as
//! DataFusion's own DML does. Epicor has no transactions over REST: when a row fails after
//! others were written, the error is [`SqlErrorKind::Partial`](crate::SqlErrorKind::Partial) and
//! says how many were written, the keys of the first of them, the key of the failing row and
//! the server's message. When the first row fails, nothing was written and the error keeps the
//! connector's kind (a business-rule rejection is `Connector(Rejected)`).
//!
//! Values go to Epicor as it writes them: decimals exactly (numeric literals of a DML statement
//! are read as decimals, never as floats; a decimal is sent as a JSON number only when that
//! number is the same decimal, as text otherwise, and always as text to `ApiVersion=v1`, which
//! is OData v3), dates as `2025-01-31T00:00:00`, date-times with an offset in UTC (`...Z`).
//!
//! BAQs are read-only here; key columns cannot be updated (delete and insert the row instead).

use crate::literal::{decimal_json, decimal_text};
use crate::table::{ODataTable, Source};
use crate::{QueryResult, SqlError, SqlSession};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int32Type, Int64Type,
    Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, Ident, ObjectName, SelectItem, SetExpr, Statement,
    TableObject, TableWithJoins,
};
use epicor_kinetic::api::Column;
use epicor_kinetic::http::KeyValue;
use epicor_kinetic::settings::ApiVersion;
use epicor_kinetic_odata::csdl::EdmType;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// Keys of written rows named in a partial failure's message.
const KEYS_SHOWN: usize = 5;

/// What a write does with each row of its input.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// `POST` each row; the input's columns are the values of `columns`, in order. With
    /// `skip_nulls`, a null is not sent (the server's default applies): the rows DataFusion
    /// plans for an `INSERT` carry nulls for the columns the statement did not name.
    Insert {
        columns: Vec<String>,
        skip_nulls: bool,
    },
    /// `PATCH` each row: the input's columns are the key, then the new values of `columns`.
    Update { columns: Vec<String> },
    /// `DELETE` each row: the input's columns are the key.
    Delete,
}

impl Write {
    fn verb(&self) -> &'static str {
        match self {
            Write::Insert { .. } => "INSERT",
            Write::Update { .. } => "UPDATE",
            Write::Delete => "DELETE",
        }
    }
}

// ---- the statements, from SqlSession::query ----

/// Runs an `INSERT`, `UPDATE` or `DELETE` of a session (`None` for any other statement).
///
/// The statement is turned into the query that reads what it writes (the rows to insert; the
/// keys and new values of the rows to change), planned and run by DataFusion as any query, so
/// that its `WHERE` means exactly what SQL says (subqueries, constant conditions, three-valued
/// logic) and is pushed down as far as it can be.
/// The kind of write `statement` is (`INSERT`, `UPDATE`, `DELETE`: what [`statement`] runs;
/// `MERGE`, which nothing runs), or `None` for anything else (DataFusion runs no write: see
/// `only_reads`).
/// A write under `WITH` or `EXPLAIN` counts as the write it is.
pub(crate) fn writes(statement: &DFStatement) -> Option<&'static str> {
    use datafusion::sql::sqlparser::ast::SetExpr;
    match statement {
        DFStatement::Explain(e) => writes(&e.statement),
        DFStatement::Statement(s) => match s.as_ref() {
            Statement::Insert(_) => Some("INSERT"),
            Statement::Update(_) => Some("UPDATE"),
            Statement::Delete(_) => Some("DELETE"),
            Statement::Merge(_) => Some("MERGE"),
            Statement::Query(q) => match q.body.as_ref() {
                SetExpr::Insert(_) => Some("INSERT"),
                SetExpr::Update(_) => Some("UPDATE"),
                SetExpr::Delete(_) => Some("DELETE"),
                SetExpr::Merge(_) => Some("MERGE"),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

pub(crate) async fn statement(
    session: &SqlSession,
    statement: &DFStatement,
) -> Result<Option<QueryResult>, SqlError> {
    let DFStatement::Statement(s) = statement else {
        return Ok(None);
    };
    match s.as_ref() {
        Statement::Insert(insert) => {
            if insert.overwrite
                || insert.or.is_some()
                || insert.on.is_some()
                || insert.returning.is_some()
                || insert.replace_into
                || !insert.assignments.is_empty()
                || insert.partitioned.is_some()
            {
                return Err(SqlError::invalid(
                    "only INSERT INTO table [(columns)] VALUES ... or SELECT ... is supported (no OVERWRITE, OR REPLACE, ON CONFLICT, RETURNING or SET)",
                ));
            }
            let TableObject::TableName(name) = &insert.table else {
                return Err(SqlError::invalid("INSERT needs a table name"));
            };
            let Some(source) = &insert.source else {
                return Err(SqlError::invalid(
                    "INSERT needs its rows: VALUES (...) or a SELECT",
                ));
            };
            let table = resolve(session, &name.to_string()).await?;
            let target = writable(&table, "INSERT into")?;
            let columns: Vec<String> = if insert.columns.is_empty() {
                table.columns().iter().map(|c| c.name.clone()).collect()
            } else {
                insert
                    .columns
                    .iter()
                    .map(|c| column_named(&table, &last_part(c)).map(|c| c.name.clone()))
                    .collect::<Result<_, _>>()?
            };
            // The rows' query as parsed (parameters bound in it stay values, never text).
            let plan = plan_statement(
                session,
                DFStatement::Statement(Box::new(Statement::Query(source.clone()))),
            )
            .await?;
            let width = plan.schema().fields().len();
            if width != columns.len() {
                return Err(SqlError::invalid(format!(
                    "INSERT into {target} names {} column{} but its rows have {width} value{}",
                    columns.len(),
                    plural(columns.len()),
                    plural(width)
                )));
            }
            let batches = read_all(session, plan).await?;
            let write = Write::Insert {
                columns,
                skip_nulls: false,
            };
            let n = apply(&table, &write, batches).await?;
            Ok(Some(count_result(n)?))
        }
        Statement::Update(update) => {
            if update.from.is_some()
                || update.returning.is_some()
                || update.output.is_some()
                || update.limit.is_some()
                || !update.order_by.is_empty()
                || update.or.is_some()
            {
                return Err(SqlError::invalid(
                    "only UPDATE table SET column = expression, ... [WHERE ...] is supported (no FROM, RETURNING, ORDER BY or LIMIT: use a subquery in WHERE)",
                ));
            }
            let relation = single_table(std::slice::from_ref(&update.table), "UPDATE")?;
            let table = resolve(session, &relation).await?;
            let target = writable(&table, "UPDATE")?;
            let mut columns = Vec::new();
            let mut values = Vec::new();
            for a in &update.assignments {
                let AssignmentTarget::ColumnName(name) = &a.target else {
                    return Err(SqlError::invalid(
                        "UPDATE sets one column at a time: SET a = 1, b = 2",
                    ));
                };
                let column = column_named(&table, &last_part(name))?;
                if column.key {
                    return Err(SqlError::invalid(format!(
                        "{} is part of the key of {target} ({}): a key cannot be updated; DELETE the row and INSERT it with the new key",
                        column.name,
                        table.key().join(", ")
                    )));
                }
                if columns.contains(&column.name) {
                    return Err(SqlError::invalid(format!(
                        "UPDATE sets {} twice",
                        column.name
                    )));
                }
                columns.push(column.name.clone());
                values.push(SelectItem::ExprWithAlias {
                    expr: a.value.clone(),
                    alias: Ident::with_quote('"', format!("__value{}", values.len())),
                });
            }
            let select = keys_select(
                &relation,
                &keys_of(&table, &target)?,
                values,
                update.selection.as_ref(),
            )?;
            let plan = plan_statement(session, select).await?;
            let batches = read_all(session, plan).await?;
            let n = apply(&table, &Write::Update { columns }, batches).await?;
            Ok(Some(count_result(n)?))
        }
        Statement::Delete(delete) => {
            if delete.using.is_some()
                || delete.returning.is_some()
                || delete.output.is_some()
                || delete.limit.is_some()
                || !delete.order_by.is_empty()
                || !delete.tables.is_empty()
            {
                return Err(SqlError::invalid(
                    "only DELETE FROM table [WHERE ...] is supported (no USING, RETURNING, ORDER BY or LIMIT: use a subquery in WHERE)",
                ));
            }
            let from = match &delete.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            let relation = single_table(from, "DELETE")?;
            let table = resolve(session, &relation).await?;
            let target = writable(&table, "DELETE from")?;
            let select = keys_select(
                &relation,
                &keys_of(&table, &target)?,
                Vec::new(),
                delete.selection.as_ref(),
            )?;
            let plan = plan_statement(session, select).await?;
            let batches = read_all(session, plan).await?;
            let n = apply(&table, &Write::Delete, batches).await?;
            Ok(Some(count_result(n)?))
        }
        _ => Ok(None),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `SELECT keys, values FROM relation WHERE selection`: what an UPDATE or DELETE reads first.
/// The keys and the relation are names (text the session wrote or the statement named); the
/// values and the WHERE are the statement's own expressions, moved as parsed (a bound parameter
/// stays a value, never SQL text).
fn keys_select(
    relation: &str,
    keys: &[String],
    values: Vec<SelectItem>,
    selection: Option<&Expr>,
) -> Result<DFStatement, SqlError> {
    let mut statement =
        crate::parse_single(&format!("SELECT {} FROM {relation}", keys.join(", ")))?;
    let DFStatement::Statement(s) = &mut statement else {
        return Err(SqlError::invalid(format!("{relation} is not a table")));
    };
    let Statement::Query(query) = s.as_mut() else {
        return Err(SqlError::invalid(format!("{relation} is not a table")));
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(SqlError::invalid(format!("{relation} is not a table")));
    };
    select.projection.extend(values);
    select.selection = selection.cloned();
    Ok(statement)
}

/// The one table a statement writes (`Customers`, `CustomerSvc.Customers AS c`), as SQL text.
fn single_table(from: &[TableWithJoins], verb: &str) -> Result<String, SqlError> {
    match from {
        [t] if t.joins.is_empty() => Ok(t.to_string()),
        _ => Err(SqlError::invalid(format!(
            "{verb} writes one table, without joins (use a subquery in WHERE to match rows of other tables)"
        ))),
    }
}

fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_else(|| name.to_string())
}

/// The column `name` of `table`: as spelled, or the one column of that name in another case.
fn column_named<'a>(table: &'a ODataTable, name: &str) -> Result<&'a Column, SqlError> {
    let columns = table.columns();
    if let Some(c) = columns.iter().find(|c| c.name == name) {
        return Ok(c);
    }
    let mut other = columns.iter().filter(|c| c.name.eq_ignore_ascii_case(name));
    match (other.next(), other.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(SqlError::invalid(format!(
            "{} has no column {name}; its columns: {}",
            table.source().name(),
            columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The key columns as SQL (quoted), or an error when the table has none.
fn keys_of(table: &ODataTable, target: &str) -> Result<Vec<String>, SqlError> {
    if table.key().is_empty() {
        return Err(SqlError::invalid(format!(
            "{target} declares no key in its $metadata: its rows cannot be addressed one by one"
        )));
    }
    Ok(table
        .key()
        .iter()
        .map(|k| format!("\"{}\"", k.replace('"', "\"\"")))
        .collect())
}

/// The table's name when it can be written; BAQs cannot.
fn writable(table: &ODataTable, verb: &str) -> Result<String, SqlError> {
    match table.source() {
        Source::EntitySet { .. } => Ok(table.source().name()),
        Source::Baq { id, .. } => Err(SqlError::invalid(format!(
            "cannot {verb} BaqSvc.{id}: BAQs are read-only in SQL; write to the entity set of the service the BAQ reads (e.g. CustomerSvc.Customers)"
        ))),
    }
}

/// Parses and plans one query of a DML statement with the session's rewrites, numeric
/// literals read as decimals (`SET CreditLimit = 1234.56` never passes through a float).
async fn plan_sql(session: &SqlSession, sql: &str) -> Result<LogicalPlan, SqlError> {
    plan_statement(session, crate::parse_single(sql)?).await
}

/// Plans one parsed query of a DML statement (see [`plan_sql`]).
async fn plan_statement(
    session: &SqlSession,
    mut statement: DFStatement,
) -> Result<LogicalPlan, SqlError> {
    crate::limits::within(async {
        session.prepare(&mut statement).await?;
        session.plan(statement).await
    })
    .await
}

/// Every row `plan` gives (what a write reads before its first request).
async fn read_all(session: &SqlSession, plan: LogicalPlan) -> Result<Vec<RecordBatch>, SqlError> {
    crate::limits::within(async {
        Ok(session
            .ctx
            .execute_logical_plan(plan)
            .await?
            .collect()
            .await?)
    })
    .await
}

/// The entity set (or BAQ) `relation` names, as the session resolves it.
async fn resolve(session: &SqlSession, relation: &str) -> Result<ODataTable, SqlError> {
    session.server.load_services().await?;
    let plan = plan_sql(session, &format!("SELECT * FROM {relation}")).await?;
    let mut found = None;
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) {
                if let Some(t) = provider.downcast_ref::<ODataTable>() {
                    found = Some(t.clone());
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    found.ok_or_else(|| {
        SqlError::invalid(format!(
            "{relation} is not an entity set of Epicor: only entity sets can be written"
        ))
    })
}

fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

fn count_batch(n: u64) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        count_schema(),
        vec![Arc::new(UInt64Array::from(vec![n]))],
    )?)
}

fn count_result(n: u64) -> Result<QueryResult, SqlError> {
    let schema = count_schema();
    let batch = count_batch(n)?;
    let stream =
        RecordBatchStreamAdapter::new(schema.clone(), futures_util::stream::iter([Ok(batch)]));
    Ok(QueryResult::new(schema, Box::pin(stream)).with_rows_affected(n))
}

/// One request to send.
enum Request {
    Post(Map<String, Json>),
    Patch(Vec<KeyValue>, Map<String, Json>),
    Delete(Vec<KeyValue>),
}

/// Sends `write` for every row of `batches` (read in full before anything is sent); the rows
/// written.
pub(crate) async fn apply(
    table: &ODataTable,
    write: &Write,
    batches: Vec<RecordBatch>,
) -> Result<u64, SqlError> {
    let target = writable(table, write.verb())?;
    let Source::EntitySet { service, set } = table.source() else {
        unreachable!("writable() refuses BAQs")
    };
    let v1 = table.connection().settings().api_version == ApiVersion::V1;
    let key_columns: Vec<&Column> = table
        .key()
        .iter()
        .map(|k| column_named(table, k))
        .collect::<Result<_, _>>()?;
    // Every request is built before the first is sent: a value that does not convert stops
    // the statement before anything is written.
    let mut requests: Vec<(String, Request)> = Vec::new();
    for batch in &batches {
        let (values_from, value_columns): (usize, Vec<&Column>) = match write {
            Write::Insert { columns, .. } => (
                0,
                columns
                    .iter()
                    .map(|c| column_named(table, c))
                    .collect::<Result<_, _>>()?,
            ),
            Write::Update { columns } => (
                key_columns.len(),
                columns
                    .iter()
                    .map(|c| column_named(table, c))
                    .collect::<Result<_, _>>()?,
            ),
            Write::Delete => (key_columns.len(), Vec::new()),
        };
        if batch.num_columns() != values_from + value_columns.len() {
            return Err(SqlError::invalid(format!(
                "{} {target}: the rows read have {} columns, {} expected (an internal error: please report it)",
                write.verb(),
                batch.num_columns(),
                values_from + value_columns.len()
            )));
        }
        let values: Vec<ArrayRef> = value_columns
            .iter()
            .enumerate()
            .map(|(i, c)| cast_to(batch.column(values_from + i), c))
            .collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            let mut body = Map::new();
            for (array, column) in values.iter().zip(&value_columns) {
                let value = json_of(array, row, column, v1)?;
                if value.is_null()
                    && matches!(
                        write,
                        Write::Insert {
                            skip_nulls: true,
                            ..
                        }
                    )
                {
                    continue;
                }
                body.insert(column.name.clone(), value);
            }
            let (label, request) = match write {
                Write::Insert { .. } => (describe_json(&key_columns, &body), Request::Post(body)),
                Write::Update { .. } | Write::Delete => {
                    let keys: Vec<KeyValue> = key_columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| key_of(batch.column(i), row, c))
                        .collect::<Result<_, _>>()?;
                    let label = describe_keys(&key_columns, &keys);
                    if matches!(write, Write::Delete) {
                        (label, Request::Delete(keys))
                    } else {
                        (label, Request::Patch(keys, body))
                    }
                }
            };
            requests.push((label, request));
        }
    }
    let conn = table.connection();
    let total = requests.len();
    let mut written: Vec<String> = Vec::new();
    for (label, request) in requests {
        // A request is never cut off half way (whether the server applied it could not be
        // said): a `StatementTimeout` stops the write between rows.
        if let Err(late) = crate::limits::check_deadline() {
            return Err(stopped(write.verb(), &target, &written, total, late));
        }
        let sent = match &request {
            Request::Post(body) => conn
                .create(service, set, &Json::Object(body.clone()))
                .await
                .map(|answer| {
                    // The key the server gave the row (it may number it itself).
                    answer
                        .map(|row| describe_json(&key_columns, &row))
                        .filter(|l| !l.contains("?"))
                        .unwrap_or(label.clone())
                }),
            Request::Patch(keys, body) => conn
                .update(service, set, keys, &Json::Object(body.clone()))
                .await
                .map(|()| label.clone()),
            Request::Delete(keys) => conn.delete(service, set, keys).await.map(|_| label.clone()),
        };
        match sent {
            Ok(done) => written.push(done),
            Err(e) => return Err(failure(write.verb(), &target, &written, total, &label, e)),
        }
    }
    Ok(written.len() as u64)
}

/// The error of a write stopped by its deadline before `written.len() + 1`'th row.
fn stopped(verb: &str, target: &str, written: &[String], total: usize, late: SqlError) -> SqlError {
    if written.is_empty() {
        return SqlError::limit(format!("{verb} {target}: nothing was written: {late}"));
    }
    SqlError::partial(
        format!(
            "{verb} {target} stopped part way: {}, the other {} not attempted: {late}. Epicor has no transaction over REST: the rows written stay written",
            written_so_far(written, total),
            total - written.len(),
        ),
        None,
    )
}

/// `3 of 10 rows written (keys, ... and 1 more)`.
fn written_so_far(written: &[String], total: usize) -> String {
    let shown: Vec<&str> = written
        .iter()
        .take(KEYS_SHOWN)
        .map(String::as_str)
        .collect();
    let more = written.len().saturating_sub(KEYS_SHOWN);
    format!(
        "{} of {total} row{} written ({}{})",
        written.len(),
        plural(total),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
    )
}

/// The error of a row that failed: the connector's when nothing was written, partial after.
fn failure(
    verb: &str,
    target: &str,
    written: &[String],
    total: usize,
    label: &str,
    e: epicor_kinetic::Error,
) -> SqlError {
    if written.is_empty() {
        return SqlError::connector_in(
            format!(
                "{verb} {target}: the row {label} failed, nothing was written ({total} row{} to write)",
                plural(total)
            ),
            e,
        );
    }
    let not_tried = total - written.len() - 1;
    SqlError::partial(
        format!(
            "{verb} {target} stopped part way: {} before the row {label} failed: {e}. {} row{} after it {} not attempted. Epicor has no transaction over REST: the rows written stay written; check them and run the statement again for the rest",
            written_so_far(written, total),
            not_tried,
            plural(not_tried),
            if not_tried == 1 { "was" } else { "were" },
        ),
        Some(e),
    )
}

/// `(Company='EPIC06', CustNum=4)`.
fn describe_keys(columns: &[&Column], keys: &[KeyValue]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .zip(keys)
        .map(|(c, k)| match k {
            KeyValue::Str(s) => format!("{}='{}'", c.name, s.replace('\'', "''")),
            KeyValue::Int(i) => format!("{}={i}", c.name),
            KeyValue::Guid(g) => format!("{}={g}", c.name),
            other => format!("{}={other:?}", c.name),
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// The key of a row given as JSON (`?` for a key column it does not have).
fn describe_json(columns: &[&Column], row: &Map<String, Json>) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| match row.get(&c.name) {
            Some(Json::String(s)) => format!("{}='{}'", c.name, s.replace('\'', "''")),
            Some(v) => format!("{}={v}", c.name),
            None => format!("{}=?", c.name),
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// `array` as `column`'s Arrow type (what the server reads it as).
fn cast_to(array: &ArrayRef, column: &Column) -> Result<ArrayRef, SqlError> {
    let to = crate::arrow::data_type(&column.edm_type, column.precision, column.scale);
    if array.data_type() == &to {
        return Ok(array.clone());
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(array, &to, &options).map_err(|e| {
        SqlError::invalid(format!(
            "a value for {} ({}) does not convert to its type {} ({to}): {e}",
            column.name,
            array.data_type(),
            column.edm_type.as_str()
        ))
    })
}

/// The key value of `row` for a URL (`Customers('EPIC06',4)`).
fn key_of(array: &ArrayRef, row: usize, column: &Column) -> Result<KeyValue, SqlError> {
    if array.is_null(row) {
        return Err(SqlError::invalid(format!(
            "a row read has no value for the key column {}: it cannot be addressed",
            column.name
        )));
    }
    let unsupported = || {
        SqlError::invalid(format!(
            "the key column {} is of type {}, which this connector cannot put in a URL (strings, whole numbers and GUIDs only)",
            column.name,
            column.edm_type.as_str()
        ))
    };
    Ok(match array.data_type() {
        DataType::Int32 => KeyValue::Int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => KeyValue::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Utf8 => {
            let s = array.as_string::<i32>().value(row).to_owned();
            match column.edm_type {
                EdmType::Guid => KeyValue::Guid(s),
                EdmType::String => KeyValue::Str(s),
                _ => return Err(unsupported()),
            }
        }
        _ => return Err(unsupported()),
    })
}

/// The JSON Epicor reads for the value at `row` of `array` (already of `column`'s Arrow type).
fn json_of(array: &ArrayRef, row: usize, column: &Column, v1: bool) -> Result<Json, SqlError> {
    if array.is_null(row) {
        return Ok(Json::Null);
    }
    Ok(match array.data_type() {
        DataType::Boolean => Json::Bool(array.as_boolean().value(row)),
        DataType::Int32 => Json::from(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => {
            let i = array.as_primitive::<Int64Type>().value(row);
            // OData v3 JSON writes Int64 as a string.
            if v1 {
                Json::String(i.to_string())
            } else {
                Json::from(i)
            }
        }
        DataType::Float64 | DataType::Float32 => {
            let f = if array.data_type() == &DataType::Float64 {
                array.as_primitive::<Float64Type>().value(row)
            } else {
                f64::from(array.as_primitive::<Float32Type>().value(row))
            };
            serde_json::Number::from_f64(f)
                .map(Json::Number)
                .ok_or_else(|| SqlError::invalid(format!("{} cannot be {f}", column.name)))?
        }
        DataType::Decimal128(_, scale) => {
            let text = decimal_text(array.as_primitive::<Decimal128Type>().value(row), *scale);
            decimal_json(text, v1)
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .ok_or_else(|| SqlError::invalid(format!("{}: no such date", column.name)))?;
            Json::String(date.format("%Y-%m-%dT00:00:00").to_string())
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            let at = chrono::DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| SqlError::invalid(format!("{}: no such time", column.name)))?
                .naive_utc();
            let mut text = at.format("%Y-%m-%dT%H:%M:%S%.f").to_string();
            if tz.is_some() {
                text.push('Z');
            }
            Json::String(text)
        }
        DataType::Utf8 => Json::String(array.as_string::<i32>().value(row).to_owned()),
        other => {
            return Err(SqlError::invalid(format!(
                "{}: values of type {other} cannot be written",
                column.name
            )))
        }
    })
}
