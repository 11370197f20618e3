//! The functions PostgreSQL clients call on their own (psql's `\d`, drivers' metadata, BI
//! tools' start-up queries): `version()`, `current_database()`, `current_schema()`,
//! `current_user`, `current_setting(name)`, `format_type(oid, typmod)`,
//! `pg_table_is_visible(oid)` and their kin, answered for this session; the ones that
//! describe objects this server does not have (`pg_get_expr`, `obj_description`, ...) answer
//! NULL. `kinetic_oid(...)` gives each schema and table its stable object id; the other
//! `kinetic_*` functions are what the rewrite (`rewrite.rs`) turns PostgreSQL's spellings into
//! (`'name'::regclass`, `LIKE ... ESCAPE '/'`, `_pg_expandarray`).

use super::Identity;
use epicor_kinetic_sql::datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int16Array, Int32Array, ListArray, StringArray,
    StructArray, UInt32Array,
};
use epicor_kinetic_sql::datafusion::arrow::buffer::OffsetBuffer;
use epicor_kinetic_sql::datafusion::arrow::compute::cast;
use epicor_kinetic_sql::datafusion::arrow::datatypes::{DataType, Field, Fields};
use epicor_kinetic_sql::datafusion::error::{DataFusionError, Result};
use epicor_kinetic_sql::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use epicor_kinetic_sql::datafusion::prelude::SessionContext;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

type Body = Arc<dyn Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync>;

/// A function of any arguments (none included), its body over whole columns.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFunction")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let columns = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array((self.body)(&columns, rows)?))
    }
}

fn register(ctx: &SessionContext, name: &'static str, returns: DataType, body: Body) {
    let signature = Signature::one_of(
        vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
        Volatility::Stable,
    );
    ctx.register_udf(ScalarUDF::new_from_impl(PgFunction {
        name,
        signature,
        returns,
        body,
    }));
}

/// A function that answers the same text for every row.
fn text(ctx: &SessionContext, name: &'static str, value: Option<String>) {
    register(
        ctx,
        name,
        DataType::Utf8,
        Arc::new(move |_, rows| {
            Ok(Arc::new(StringArray::from(vec![value.clone(); rows])) as ArrayRef)
        }),
    );
}

/// A function that answers the same boolean for every row.
fn boolean(ctx: &SessionContext, name: &'static str, value: bool) {
    register(
        ctx,
        name,
        DataType::Boolean,
        Arc::new(move |_, rows| Ok(Arc::new(BooleanArray::from(vec![value; rows])) as ArrayRef)),
    );
}

/// The `n`-th argument as text (NULL where it is NULL or missing).
fn text_argument(args: &[ArrayRef], n: usize, rows: usize) -> Result<StringArray> {
    let Some(column) = args.get(n) else {
        return Ok(StringArray::from(vec![None::<&str>; rows]));
    };
    let column = cast(column, &DataType::Utf8)?;
    Ok(column
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::from(vec![None::<&str>; rows])))
}

/// The `n`-th argument as a 64-bit integer (NULL where it is NULL, missing or not a number).
fn int_argument(args: &[ArrayRef], n: usize, rows: usize) -> Vec<Option<i64>> {
    let Some(column) = args.get(n) else {
        return vec![None; rows];
    };
    match cast(column, &DataType::Int64) {
        Ok(c) => {
            let c = c
                .as_any()
                .downcast_ref::<epicor_kinetic_sql::datafusion::arrow::array::Int64Array>()
                .cloned();
            (0..rows)
                .map(|i| c.as_ref().filter(|c| c.is_valid(i)).map(|c| c.value(i)))
                .collect()
        }
        Err(_) => vec![None; rows],
    }
}

/// The object id of a schema or table: a hash of its name's parts (FNV-1a, 32 bits), kept
/// above PostgreSQL's own ids (16384) so that it never names a built-in object. Stable for a
/// name across statements and sessions, as clients that read an id in one query and use it in
/// the next need.
pub fn oid_of(parts: &[&str]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash ^= 0x1f;
            hash = hash.wrapping_mul(0x0100_0193);
        }
        for b in part.bytes() {
            hash ^= u32::from(b.to_ascii_lowercase());
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    16_384 + hash % (i32::MAX as u32 - 16_384)
}

/// The name PostgreSQL's `format_type` gives a type and modifier.
pub fn format_type(oid: i64, typmod: Option<i64>) -> Option<String> {
    let modifier = typmod.filter(|m| *m >= 4).map(|m| m - 4);
    Some(match oid {
        16 => "boolean".into(),
        17 => "bytea".into(),
        18 => "\"char\"".into(),
        19 => "name".into(),
        20 => "bigint".into(),
        21 => "smallint".into(),
        23 => "integer".into(),
        25 => "text".into(),
        26 => "oid".into(),
        700 => "real".into(),
        701 => "double precision".into(),
        1043 => match modifier {
            Some(n) => format!("character varying({n})"),
            None => "character varying".into(),
        },
        1082 => "date".into(),
        1083 => "time without time zone".into(),
        1114 => "timestamp without time zone".into(),
        1184 => "timestamp with time zone".into(),
        1700 => match modifier {
            Some(m) => format!("numeric({},{})", m >> 16, m & 0xffff),
            None => "numeric".into(),
        },
        2950 => "uuid".into(),
        _ => return None,
    })
}

/// PostgreSQL's `quote_ident`: `name` as a statement must spell it, in double quotes unless it
/// is lower-case letters, digits and underscores (Epicor's CamelCase names always are quoted,
/// as PostgreSQL's `pg_get_constraintdef` quotes them).
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A `LIKE` pattern written with `escape` as its escape character, written again with the
/// backslash (the only escape the SQL layer's `LIKE` knows): SQLAlchemy escapes with `/`.
/// An error for a pattern that ends with its escape character, as PostgreSQL's.
pub fn like_with_backslash(pattern: &str, escape: char) -> std::result::Result<String, String> {
    if escape == '\\' {
        return Ok(pattern.to_owned());
    }
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            match chars.next() {
                Some(n @ ('%' | '_' | '\\')) => {
                    out.push('\\');
                    out.push(n);
                }
                // Any other escaped character (the escape character itself included) stands
                // for itself.
                Some(n) => out.push(n),
                None => return Err("LIKE pattern must not end with escape character".into()),
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The object ids PostgreSQL gives its own catalog tables, for `'pg_class'::regclass` and its
/// kin (clients compare `pg_description.classoid` with them).
const CATALOG_OIDS: &[(&str, u32)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_database", 1262),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_namespace", 2615),
    ("pg_rewrite", 2618),
    ("pg_trigger", 2620),
    ("pg_collation", 3456),
];

/// The parts of a relation's name as `regclass` reads it: dot-separated, each in double quotes
/// or not (quoted parts keep their dots and case).
fn name_parts(name: &str) -> Option<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut chars = name.trim().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                parts.last_mut()?.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => parts.last_mut()?.push(c),
        }
    }
    (!quoted && parts.iter().all(|p| !p.is_empty())).then_some(parts)
}

/// The object id `'name'::regclass` stands for: a number is itself; `pg_class` or
/// `pg_catalog.pg_class` PostgreSQL's own id; `schema.table` (a service's schema has dots of
/// its own: everything before the last dot is the schema) that table's [`oid_of`]. An error
/// for a name without its schema, which could be any service's table.
pub fn regclass(name: &str) -> std::result::Result<u32, String> {
    if let Ok(n) = name.trim().parse::<u32>() {
        return Ok(n);
    }
    let mut parts = name_parts(name).ok_or_else(|| format!("invalid name syntax: {name:?}"))?;
    let table = parts.pop().unwrap_or_default();
    let schema = parts.join(".");
    let catalog = CATALOG_OIDS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&table))
        .map(|(_, o)| *o);
    match (schema.as_str(), catalog) {
        ("" | "pg_catalog", Some(o)) => Ok(o),
        ("pg_catalog", None) => Ok(oid_of(&["pg_catalog", &table])),
        ("", None) => Err(format!(
            "relation \"{table}\" cannot be named without its schema here (every Epicor \
             service is a schema): write '\"Erp.BO.CustomerSvc\".\"{table}\"'::regclass"
        )),
        (schema, _) => Ok(oid_of(&[schema, &table])),
    }
}

/// PostgreSQL's `to_regtype(name)`: the object id of the type `name` (its `pg_type` name,
/// `int4`, or its SQL name, `integer`, with or without `pg_catalog.`), NULL for a type this
/// server does not have (psycopg and SQLAlchemy ask for `hstore` so).
pub fn to_regtype(name: &str) -> Option<u32> {
    let name = name.trim().trim_matches('"').to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    super::catalog::TYPES
        .iter()
        .find(|(oid, typname, ..)| {
            *typname == name || format_type(i64::from(*oid), None).as_deref() == Some(name)
        })
        .map(|(oid, ..)| *oid)
}

/// The text of a JSON string.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// PostgreSQL's `json_build_object(key, value, ...)` over whole columns, as JSON text.
fn json_build_object(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    if !args.len().is_multiple_of(2) {
        return Err(DataFusionError::Execution(
            "argument list must have even number of elements (json_build_object)".into(),
        ));
    }
    let texts = (0..args.len())
        .map(|n| text_argument(args, n, rows))
        .collect::<Result<Vec<_>>>()?;
    let objects: Vec<String> = (0..rows)
        .map(|i| {
            let members: Vec<String> = args
                .chunks(2)
                .zip(texts.chunks(2))
                .map(|(columns, text)| {
                    let key = if text[0].is_valid(i) {
                        text[0].value(i)
                    } else {
                        ""
                    };
                    let value = if !text[1].is_valid(i) {
                        "null".to_owned()
                    } else if columns[1].data_type().is_numeric()
                        || columns[1].data_type() == &DataType::Boolean
                    {
                        text[1].value(i).to_owned()
                    } else {
                        json_string(text[1].value(i))
                    };
                    format!("{} : {value}", json_string(key))
                })
                .collect();
            format!("{{{}}}", members.join(", "))
        })
        .collect();
    Ok(Arc::new(StringArray::from(objects)) as ArrayRef)
}

/// The element type of `_pg_expandarray`'s rows: the element and its position (from 1).
fn expanded_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int16, true),
        Field::new("n", DataType::Int32, false),
    ])
}

/// `information_schema._pg_expandarray(array)` without its set: each row's array as a list of
/// `(x, n)` (the element and its position from 1), which `unnest` then spreads (see the
/// rewrite). pgJDBC reads primary keys' columns from `pg_index.indkey` through it.
fn expand_array(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let item = Field::new_list_field(DataType::Int16, true);
    let Some(column) = args.first() else {
        return Err(DataFusionError::Execution(
            "_pg_expandarray takes one array".into(),
        ));
    };
    let list = cast(column, &DataType::List(Arc::new(item)))?;
    let list = list.as_list::<i32>();
    let values = list
        .values()
        .as_primitive::<epicor_kinetic_sql::datafusion::arrow::datatypes::Int16Type>();
    let mut positions = Vec::with_capacity(values.len());
    for i in 0..rows {
        let (start, end) = (list.value_offsets()[i], list.value_offsets()[i + 1]);
        positions.extend(1..=(end - start));
    }
    let pairs = StructArray::try_new(
        expanded_fields(),
        vec![
            Arc::new(Int16Array::from(values.iter().collect::<Vec<_>>())) as ArrayRef,
            Arc::new(Int32Array::from(positions)) as ArrayRef,
        ],
        None,
    )?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(
            DataType::Struct(expanded_fields()),
            true,
        )),
        OffsetBuffer::new(list.offsets().inner().clone()),
        Arc::new(pairs),
        list.nulls().cloned(),
    )?) as ArrayRef)
}

/// `generate_subscripts(array, 1)` without its set: each row's positions (from 1) as a list,
/// which `unnest` then spreads beside `unnest(array)` (see the rewrite).
fn subscripts(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let Some(column) = args.first() else {
        return Err(DataFusionError::Execution(
            "generate_subscripts takes an array".into(),
        ));
    };
    let item = Arc::new(Field::new_list_field(DataType::Int32, true));
    let list = cast(column, &DataType::List(item.clone()))?;
    let list = list.as_list::<i32>();
    let mut positions = Vec::with_capacity(list.values().len());
    for i in 0..rows {
        let (start, end) = (list.value_offsets()[i], list.value_offsets()[i + 1]);
        positions.extend(1..=(end - start));
    }
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::new(list.offsets().inner().clone()),
        Arc::new(Int32Array::from(positions)),
        list.nulls().cloned(),
    )?) as ArrayRef)
}

/// `generate_series(start, stop[, step])` without its set: each row's series as a list, which
/// `unnest` then spreads (see the rewrite). At most a million values.
fn series(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let start = int_argument(args, 0, rows);
    let stop = int_argument(args, 1, rows);
    let step = if args.len() > 2 {
        int_argument(args, 2, rows)
    } else {
        vec![Some(1); rows]
    };
    let mut builder = epicor_kinetic_sql::datafusion::arrow::array::ListBuilder::new(
        epicor_kinetic_sql::datafusion::arrow::array::Int64Builder::new(),
    );
    for i in 0..rows {
        let (Some(a), Some(b), Some(s)) = (start[i], stop[i], step[i]) else {
            builder.append(false);
            continue;
        };
        if s == 0 {
            return Err(DataFusionError::Execution(
                "step size cannot equal zero (generate_series)".into(),
            ));
        }
        let count = if (s > 0 && a > b) || (s < 0 && a < b) {
            0
        } else {
            (b - a) / s + 1
        };
        if count > 1_000_000 {
            return Err(DataFusionError::Execution(format!(
                "generate_series({a}, {b}) has {count} values; at most 1000000 here"
            )));
        }
        for k in 0..count {
            builder.values().append_value(a + k * s);
        }
        builder.append(true);
    }
    Ok(Arc::new(builder.finish()) as ArrayRef)
}

/// `array[index]`: the element at `index` (from 1) of each row's list, NULL outside it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Element {
    signature: Signature,
}

impl ScalarUDFImpl for Element {
    fn name(&self) -> &str {
        "kinetic_element"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => {
                Ok(f.data_type().clone())
            }
            Some(DataType::Null) => Ok(DataType::Null),
            other => Err(DataFusionError::Plan(format!(
                "cannot subscript type {other:?}: only arrays have elements"
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use epicor_kinetic_sql::datafusion::arrow::array::new_null_array;
        let rows = args.number_rows;
        let columns = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(column) = columns.first() else {
            return Err(DataFusionError::Execution(
                "kinetic_element: no array".into(),
            ));
        };
        if column.data_type() == &DataType::Null {
            return Ok(ColumnarValue::Array(new_null_array(&DataType::Null, rows)));
        }
        let item = match column.data_type() {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.clone(),
            other => {
                return Err(DataFusionError::Execution(format!(
                    "cannot subscript type {other:?}"
                )))
            }
        };
        let list = cast(column, &DataType::List(item))?;
        let list = list.as_list::<i32>();
        let index = int_argument(&columns, 1, rows);
        let picks: Vec<Option<u64>> = (0..rows)
            .map(|i| {
                let (start, end) = (list.value_offsets()[i], list.value_offsets()[i + 1]);
                let n = index[i]?;
                (list.is_valid(i) && n >= 1 && n <= i64::from(end - start))
                    .then(|| u64::try_from(i64::from(start) + n - 1).ok())
                    .flatten()
            })
            .collect();
        let picks = epicor_kinetic_sql::datafusion::arrow::array::UInt64Array::from(picks);
        Ok(ColumnarValue::Array(
            epicor_kinetic_sql::datafusion::arrow::compute::take(
                list.values().as_ref(),
                &picks,
                None,
            )?,
        ))
    }
}

/// A function of one text argument whose answer for a row is `f` of it (NULL for NULL), an
/// error where `f` refuses.
fn text_function<T: Send + Sync + 'static>(
    ctx: &SessionContext,
    name: &'static str,
    returns: DataType,
    f: fn(&str, Option<&str>) -> std::result::Result<T, String>,
    build: fn(Vec<Option<T>>) -> ArrayRef,
) {
    register(
        ctx,
        name,
        returns,
        Arc::new(move |args, rows| {
            let first = text_argument(args, 0, rows)?;
            let second = text_argument(args, 1, rows)?;
            let values = (0..rows)
                .map(|i| {
                    if !first.is_valid(i) {
                        return Ok(None);
                    }
                    let other = second.is_valid(i).then(|| second.value(i));
                    f(first.value(i), other).map(Some)
                })
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(|e| DataFusionError::Execution(format!("{name}: {e}")))?;
            Ok(build(values))
        }),
    );
}

/// Registers the functions in `ctx`, for the session of `who`.
pub fn install(ctx: &SessionContext, who: &Arc<Identity>) {
    text(
        ctx,
        "version",
        Some(format!(
            "PostgreSQL 16.0 (kinetic {}: Epicor Kinetic through a PostgreSQL gateway)",
            env!("CARGO_PKG_VERSION")
        )),
    );
    text(ctx, "current_database", Some(who.database.clone()));
    text(ctx, "current_catalog", Some(who.database.clone()));
    text(ctx, "current_schema", Some(super::SCHEMA.into()));
    for name in [
        "current_user",
        "session_user",
        "user",
        "current_role",
        "pg_get_userbyid",
    ] {
        text(ctx, name, Some(who.user.clone()));
    }
    text(ctx, "pg_encoding_to_char", Some("UTF8".into()));
    text(ctx, "inet_server_addr", None);
    for name in [
        "pg_get_expr",
        "pg_get_indexdef",
        "pg_get_constraintdef",
        "pg_get_viewdef",
        "pg_get_triggerdef",
        "pg_get_ruledef",
        "pg_get_partkeydef",
        "pg_get_function_identity_arguments",
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_statisticsobjdef_columns",
        "obj_description",
        "col_description",
        "shobj_description",
        "pg_tablespace_location",
        "pg_get_serial_sequence",
    ] {
        text(ctx, name, None);
    }
    for name in [
        "pg_table_is_visible",
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_collation_is_visible",
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_any_column_privilege",
        "has_function_privilege",
    ] {
        boolean(ctx, name, true);
    }
    boolean(ctx, "pg_is_in_recovery", false);
    boolean(ctx, "pg_relation_is_publishable", false);
    boolean(ctx, "row_security_active", false);
    register(
        ctx,
        "array_upper",
        DataType::Int32,
        Arc::new(|_, rows| Ok(Arc::new(Int32Array::from(vec![None; rows])) as ArrayRef)),
    );
    let pid = who.pid;
    register(
        ctx,
        "pg_backend_pid",
        DataType::Int32,
        Arc::new(move |_, rows| Ok(Arc::new(Int32Array::from(vec![pid; rows])) as ArrayRef)),
    );
    let settings = who.clone();
    register(
        ctx,
        "current_setting",
        DataType::Utf8,
        Arc::new(move |args, rows| {
            let names = text_argument(args, 0, rows)?;
            let values: Vec<Option<String>> = (0..names.len())
                .map(|i| {
                    names
                        .is_valid(i)
                        .then(|| settings.setting(names.value(i)))
                        .flatten()
                })
                .collect();
            Ok(Arc::new(StringArray::from(values)) as ArrayRef)
        }),
    );
    register(
        ctx,
        "format_type",
        DataType::Utf8,
        Arc::new(|args, rows| {
            let oids = int_argument(args, 0, rows);
            let mods = int_argument(args, 1, rows);
            let names: Vec<Option<String>> = oids
                .iter()
                .zip(&mods)
                .map(|(oid, typmod)| oid.and_then(|o| format_type(o, *typmod)))
                .collect();
            Ok(Arc::new(StringArray::from(names)) as ArrayRef)
        }),
    );
    register(
        ctx,
        "kinetic_oid",
        DataType::UInt32,
        Arc::new(|args, rows| {
            let parts = (0..args.len())
                .map(|n| text_argument(args, n, rows))
                .collect::<Result<Vec<_>>>()?;
            let oids: Vec<Option<u32>> = (0..rows)
                .map(|i| {
                    let row: Option<Vec<&str>> = parts
                        .iter()
                        .map(|p| p.is_valid(i).then(|| p.value(i)))
                        .collect();
                    row.map(|r| oid_of(&r))
                })
                .collect();
            Ok(Arc::new(UInt32Array::from(oids)) as ArrayRef)
        }),
    );
    register(
        ctx,
        "current_schemas",
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        Arc::new(|args, rows| {
            // `current_schemas(true)` names the implicit `pg_catalog` first, as PostgreSQL's.
            let implicit = args
                .first()
                .map(|a| cast(a, &DataType::Boolean))
                .transpose()?;
            let implicit = implicit.as_ref().map(|a| a.as_boolean());
            let mut builder = epicor_kinetic_sql::datafusion::arrow::array::ListBuilder::new(
                epicor_kinetic_sql::datafusion::arrow::array::StringBuilder::new(),
            );
            for i in 0..rows {
                if implicit.is_some_and(|a| a.is_valid(i) && a.value(i)) {
                    builder.values().append_value("pg_catalog");
                }
                builder.values().append_value(super::SCHEMA);
                builder.append(true);
            }
            Ok(Arc::new(builder.finish()) as ArrayRef)
        }),
    );
    text_function(
        ctx,
        "quote_ident",
        DataType::Utf8,
        |name, _| Ok(quote_ident(name)),
        |v| Arc::new(StringArray::from(v)),
    );
    text_function(
        ctx,
        "kinetic_like_escape",
        DataType::Utf8,
        |pattern, escape| match escape.map(|e| e.chars().collect::<Vec<_>>()).as_deref() {
            Some([c]) => like_with_backslash(pattern, *c),
            Some([]) | None => Ok(pattern.to_owned()),
            Some(_) => Err("invalid escape string: it must be empty or one character".into()),
        },
        |v| Arc::new(StringArray::from(v)),
    );
    register(
        ctx,
        "kinetic_regclass",
        DataType::UInt32,
        Arc::new(|args, rows| {
            // An object id already (a column of `oid`s) stays itself.
            if let Some(column) = args.first().filter(|a| a.data_type().is_integer()) {
                return Ok(cast(column, &DataType::UInt32)?);
            }
            let names = text_argument(args, 0, rows)?;
            let oids = (0..rows)
                .map(|i| {
                    names
                        .is_valid(i)
                        .then(|| regclass(names.value(i)))
                        .transpose()
                })
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(DataFusionError::Execution)?;
            Ok(Arc::new(UInt32Array::from(oids)) as ArrayRef)
        }),
    );
    text_function(
        ctx,
        "to_regtype",
        DataType::UInt32,
        |name, _| Ok(to_regtype(name)),
        |v| {
            Arc::new(UInt32Array::from(
                v.into_iter().map(Option::flatten).collect::<Vec<_>>(),
            ))
        },
    );
    text_function(
        ctx,
        "to_regclass",
        DataType::UInt32,
        |name, _| Ok(regclass(name).ok()),
        |v| {
            Arc::new(UInt32Array::from(
                v.into_iter().map(Option::flatten).collect::<Vec<_>>(),
            ))
        },
    );
    register(
        ctx,
        "json_build_object",
        DataType::Utf8,
        Arc::new(json_build_object),
    );
    register(
        ctx,
        "kinetic_expandarray",
        DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(expanded_fields()),
            true,
        ))),
        Arc::new(expand_array),
    );
    register(
        ctx,
        "kinetic_series",
        DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
        Arc::new(series),
    );
    ctx.register_udf(ScalarUDF::new_from_impl(Element {
        signature: Signature::any(2, Volatility::Immutable),
    }));
    register(
        ctx,
        "kinetic_subscripts",
        DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
        Arc::new(subscripts),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_are_stable_and_above_postgresql_own() {
        let a = oid_of(&["Erp.BO.CustomerSvc", "Customers"]);
        assert_eq!(a, oid_of(&["erp.bo.customersvc", "CUSTOMERS"]), "any case");
        assert_ne!(a, oid_of(&["Erp.BO.CustomerSvc", "CustomerShips"]));
        assert_ne!(
            oid_of(&["a", "bc"]),
            oid_of(&["ab", "c"]),
            "parts stay apart"
        );
        assert!(a >= 16_384 && a < i32::MAX as u32);
    }

    #[test]
    fn types_are_named_as_postgresql_names_them() {
        assert_eq!(
            format_type(1700, Some(((18 << 16) | 2) + 4)).as_deref(),
            Some("numeric(18,2)")
        );
        assert_eq!(
            format_type(1043, Some(54)).as_deref(),
            Some("character varying(50)")
        );
        assert_eq!(
            format_type(1043, Some(-1)).as_deref(),
            Some("character varying")
        );
        assert_eq!(
            format_type(1184, None).as_deref(),
            Some("timestamp with time zone")
        );
        assert_eq!(format_type(99_999, None), None);
    }
    #[test]
    fn names_patterns_and_relations_as_postgresql_reads_them() {
        assert_eq!(quote_ident("customers"), "customers");
        assert_eq!(quote_ident("CustNum"), "\"CustNum\"");
        assert_eq!(quote_ident("Erp.BO.CustomerSvc"), "\"Erp.BO.CustomerSvc\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(like_with_backslash("pg/_%", '/').unwrap(), "pg\\_%");
        assert_eq!(like_with_backslash("a\\b//", '/').unwrap(), "a\\\\b/");
        assert!(like_with_backslash("x/", '/').is_err());
        assert_eq!(regclass("16385"), Ok(16_385));
        assert_eq!(regclass("pg_class"), Ok(1259));
        assert_eq!(regclass("pg_catalog.pg_constraint"), Ok(2606));
        let customers = oid_of(&["Erp.BO.CustomerSvc", "Customers"]);
        assert_eq!(regclass("Erp.BO.CustomerSvc.Customers"), Ok(customers));
        assert_eq!(
            regclass("\"Erp.BO.CustomerSvc\".\"Customers\""),
            Ok(customers)
        );
        assert_eq!(to_regtype("integer"), Some(23));
        assert_eq!(to_regtype("pg_catalog.int4"), Some(23));
        assert_eq!(to_regtype("character varying"), Some(1043));
        assert_eq!(to_regtype("hstore"), None);
        let unqualified = regclass("Customers").unwrap_err();
        assert!(unqualified.contains("schema"), "{unqualified}");
    }

    #[test]
    fn set_functions_give_lists_for_unnest() {
        use epicor_kinetic_sql::datafusion::arrow::array::Int64Array;
        use epicor_kinetic_sql::datafusion::arrow::datatypes::Int16Type;
        let list = series(
            &[
                Arc::new(Int64Array::from(vec![1, 5])) as ArrayRef,
                Arc::new(Int64Array::from(vec![3, 4])) as ArrayRef,
            ],
            2,
        )
        .unwrap();
        let list = list.as_list::<i32>();
        assert_eq!(
            list.value(0)
                .as_primitive::<epicor_kinetic_sql::datafusion::arrow::datatypes::Int64Type>()
                .values(),
            &[1, 2, 3]
        );
        assert_eq!(list.value(1).len(), 0, "an empty series");
        let keys: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int16Type, _, _>(vec![
            Some(vec![Some(3), Some(1)]),
            None,
        ]));
        let expanded = expand_array(std::slice::from_ref(&keys), 2).unwrap();
        let pairs = expanded.as_list::<i32>().value(0);
        let pairs = pairs.as_struct();
        assert_eq!(
            pairs.column(0).as_primitive::<Int16Type>().values(),
            &[3, 1],
            "the elements"
        );
        assert_eq!(
            pairs
                .column(1)
                .as_primitive::<epicor_kinetic_sql::datafusion::arrow::datatypes::Int32Type>()
                .values(),
            &[1, 2],
            "their positions"
        );
        assert!(expanded.is_null(1));
        let positions = subscripts(&[keys], 2).unwrap();
        assert_eq!(positions.as_list::<i32>().value(0).len(), 2);
        let object = json_build_object(
            &[
                Arc::new(StringArray::from(vec!["name"])) as ArrayRef,
                Arc::new(StringArray::from(vec!["a\"b"])) as ArrayRef,
                Arc::new(StringArray::from(vec!["n"])) as ArrayRef,
                Arc::new(Int64Array::from(vec![2])) as ArrayRef,
            ],
            1,
        )
        .unwrap();
        assert_eq!(
            object.as_string::<i32>().value(0),
            "{\"name\" : \"a\\\"b\", \"n\" : 2}"
        );
    }
}
