//! Rows between SQLite and JSON: typed reading (decimals printed exactly at their scale, dates as Epicor
//! prints them), typed writing (values checked against the column type and length), and the shared
//! insert / update / delete used by both OData writes and BO `Update` methods.

use crate::api_error::ApiError;
use crate::config::DateOffset;
use crate::model::{ColType, Column, Table};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Transaction};
use serde_json::Map;
use std::io::Write;

/// Which wire flavour: v1 is OData v3 JSON (Int64 and Decimal as strings), v2 is OData v4 JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

/// What kind of rows an answer holds: they differ on real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// OData entities (`Customers`): OData v3 JSON in v1 (Int64 as strings), no row-state members.
    Entity,
    /// Rows of a BO tableset (GetByID, GetRows, Update...): `BitFlag` and `RowMod` after the
    /// columns, `SysRevID` a number in v1 too (as a real v1 tableset shows).
    Tableset,
    /// BAQ result rows: `RowIdent` last, integers as numbers in v1.
    Baq,
}

/// How cells and rows are written: the API version, the kind of rows, and the realism switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    pub version: ApiVersion,
    pub rows: RowKind,
    /// The emulator's old shapes (`tidy = true`).
    pub tidy: bool,
    /// Written after dates in v2 answers.
    pub date_offset: DateOffset,
}

impl Wire {
    /// True when Int64 is written as a JSON string: OData v3 JSON does so for entities; real v1
    /// tablesets and BAQ rows carry numbers (EPICOR.md), the tidy shapes strings everywhere in v1.
    fn int64_as_string(self) -> bool {
        self.version == ApiVersion::V1 && (self.tidy || self.rows == RowKind::Entity)
    }
    /// Real row shapes (not tidy).
    pub fn real(self) -> bool {
        !self.tidy
    }
}

/// Writes `s` as a JSON string.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Writes one cell as JSON according to its column.
pub fn write_cell(out: &mut Vec<u8>, c: &Column, v: ValueRef<'_>, wire: Wire) {
    let ty = c.ty;
    match v {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Integer(i) => match ty {
            ColType::Boolean => out.extend_from_slice(if i != 0 { b"true" } else { b"false" }),
            ColType::Int64 if wire.int64_as_string() => {
                let _ = write!(out, "\"{i}\"");
            }
            ColType::Decimal { scale, .. } => write_decimal(out, i as f64, scale, wire.version),
            _ => {
                let _ = write!(out, "{i}");
            }
        },
        ValueRef::Real(f) => match ty {
            ColType::Decimal { scale, .. } => write_decimal(out, f, scale, wire.version),
            ColType::Int32 | ColType::Int64 => {
                let _ = write!(out, "{}", f as i64);
            }
            _ => {
                let _ = write!(out, "{f}");
            }
        },
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            match ty {
                ColType::Date if s.len() == 10 => {
                    let offset = match wire.version {
                        ApiVersion::V2 => wire.date_offset.suffix(),
                        ApiVersion::V1 => String::new(),
                    };
                    write_json_str(out, &format!("{s}T00:00:00{offset}"))
                }
                ColType::String { max_len } if c.fixed && wire.real() => {
                    let width = max_len as usize;
                    write_json_str(out, &format!("{s:<width$}"))
                }
                _ => write_json_str(out, &s),
            }
        }
        ValueRef::Blob(_) => out.extend_from_slice(b"null"),
    }
}

/// One cell as a JSON value, written as [`write_cell`] writes it.
pub fn cell_json(c: &Column, v: &Value, wire: Wire) -> serde_json::Value {
    let mut out = Vec::new();
    write_cell(&mut out, c, ValueRef::from(v), wire);
    serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
}

/// A decimal at its scale (`45000.000`; never `-0.000`): a JSON number on v2, a string on v1.
pub(crate) fn write_decimal(out: &mut Vec<u8>, f: f64, scale: u32, version: ApiVersion) {
    let f = if f == 0.0 { 0.0 } else { f };
    let text = format!("{:.*}", scale as usize, f);
    if version == ApiVersion::V1 {
        write_json_str(out, &text);
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Writes the row at `row` (columns in `cols` order starting at index 0) as a JSON object's members,
/// without the braces.
pub fn write_members(
    out: &mut Vec<u8>,
    cols: &[&Column],
    row: &rusqlite::Row<'_>,
    wire: Wire,
) -> rusqlite::Result<()> {
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, c.name);
        out.push(b':');
        write_cell(out, c, row.get_ref(i)?, wire);
    }
    Ok(())
}

/// A JSON value converted to a column's SQL value, or a message saying why it cannot be.
pub fn json_to_sql(c: &Column, v: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    if v.is_null() {
        return if c.nullable {
            Ok(Value::Null)
        } else {
            Err(format!("{} cannot be null", c.name))
        };
    }
    let bad = || format!("{} must be {}, not {v}", c.name, c.ty.describe());
    match c.ty {
        ColType::String { max_len } => {
            let s = v.as_str().ok_or_else(bad)?;
            if s.chars().count() > max_len as usize {
                return Err(format!(
                    "{} is limited to {max_len} characters; the value has {}",
                    c.name,
                    s.chars().count()
                ));
            }
            // CHAR values come back padded; stored without the padding so that comparisons and
            // business rules see the code itself (SQL Server ignores trailing blanks of CHAR too).
            let s = if c.fixed { s.trim_end_matches(' ') } else { s };
            Ok(Value::Text(s.to_string()))
        }
        ColType::Int32 | ColType::Int64 => {
            let i = match v {
                J::Number(n) => n.as_i64().ok_or_else(bad)?,
                J::String(s) => s.trim().parse::<i64>().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            if c.ty == ColType::Int32 && i32::try_from(i).is_err() {
                return Err(format!("{} is out of the Edm.Int32 range: {i}", c.name));
            }
            Ok(Value::Integer(i))
        }
        ColType::Decimal { precision, scale } => {
            let text = match v {
                J::Number(n) => n.to_string(),
                J::String(s) => s.trim().to_string(),
                _ => return Err(bad()),
            };
            let f: f64 = text.parse().map_err(|_| bad())?;
            if !f.is_finite() {
                return Err(bad());
            }
            // Integer digits from the value (the text may use an exponent), fraction digits from the text.
            let int_digits = if f.abs() < 1.0 {
                0
            } else {
                f.abs().log10().floor() as u32 + 1
            };
            if int_digits > precision.saturating_sub(scale) {
                return Err(format!(
                    "{} does not fit Edm.Decimal({precision},{scale}): {text}",
                    c.name
                ));
            }
            let frac_digits = match text.split_once('.') {
                Some((_, frac)) if !text.contains(['e', 'E']) => {
                    frac.trim_end_matches('0').len() as u32
                }
                _ => 0,
            };
            if int_digits + frac_digits.min(scale) > 15 {
                return Err(format!(
                    "{}: the emulator stores at most 15 significant digits; {text} has more",
                    c.name
                ));
            }
            Ok(Value::Real(f))
        }
        ColType::Boolean => match v {
            J::Bool(b) => Ok(Value::Integer(i64::from(*b))),
            J::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Integer(1)),
            J::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Integer(0)),
            _ => Err(bad()),
        },
        ColType::Date => {
            let s = v.as_str().ok_or_else(bad)?;
            let date = s.get(..10).ok_or_else(bad)?;
            chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad())?;
            Ok(Value::Text(date.to_string()))
        }
        ColType::Guid => {
            let s = v.as_str().ok_or_else(bad)?;
            let g = uuid::Uuid::parse_str(s).map_err(|_| bad())?;
            Ok(Value::Text(g.hyphenated().to_string()))
        }
    }
}

/// The value a new row gets for a column the client did not send.
pub fn default_value(c: &Column) -> Value {
    if c.nullable {
        return Value::Null;
    }
    match c.ty {
        ColType::String { .. } => Value::Text(String::new()),
        ColType::Int32 | ColType::Int64 | ColType::Boolean => Value::Integer(0),
        ColType::Decimal { .. } => Value::Real(0.0),
        ColType::Date => Value::Text(chrono::Utc::now().format("%Y-%m-%d").to_string()),
        ColType::Guid => Value::Text(uuid::Uuid::nil().hyphenated().to_string()),
    }
}

/// True for members that are annotations or Epicor row-state fields rather than columns.
pub fn is_meta_member(name: &str) -> bool {
    name.starts_with('@')
        || name.starts_with("odata.")
        || name.contains("@odata.")
        || matches!(
            name,
            "RowMod" | "SpecifiedProperties" | "UD_SysRevID" | "BitFlag" | "RowIdent"
        )
}

/// Checks every member of a JSON row names a column of `table`.
pub fn check_members(table: &Table, row: &Map<String, serde_json::Value>) -> Result<(), ApiError> {
    for k in row.keys() {
        if !is_meta_member(k) && table.column(k).is_none() {
            return Err(ApiError::bad_request(format!(
                "Could not find a property named '{k}' on type 'Erp.Tablesets.{}'",
                table.entity_type()
            )));
        }
    }
    Ok(())
}

/// Parses a request body that must be a JSON object; `hint` says what the object holds.
pub fn json_object(body: &[u8], hint: &str) -> Result<Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request(format!(
            "the request body must be a JSON object: {hint}"
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Key values of a table, in key order.
pub type KeyValues = Vec<Value>;

fn key_where(table: &Table, first_param: usize) -> String {
    table
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("\"{k}\" = ?{}", first_param + i))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The values of the columns `names` in a row of `table` (`values` in the table's column order).
fn column_values(table: &Table, values: &[Value], names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|k| {
            values[table
                .columns
                .iter()
                .position(|c| c.name == *k)
                .expect("key")]
            .clone()
        })
        .collect()
}

/// Whether the row of `table` with `key` exists.
pub fn row_exists(conn: &Connection, table: &Table, key: &[Value]) -> rusqlite::Result<bool> {
    let sql = format!(
        "SELECT 1 FROM \"{}\" WHERE {}",
        table.name,
        key_where(table, 1)
    );
    conn.prepare_cached(&sql)?
        .exists(rusqlite::params_from_iter(key.iter()))
}

/// Describes a key for messages: `Company='EPIC06', CustNum=45`.
pub fn describe_key(table: &Table, key: &[Value]) -> String {
    table
        .key
        .iter()
        .zip(key)
        .map(|(k, v)| match v {
            Value::Text(s) => format!("{k}='{}'", s.replace('\'', "''")),
            Value::Integer(i) => format!("{k}={i}"),
            Value::Real(f) => format!("{k}={f}"),
            _ => format!("{k}=null"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The current SysRevID of a row, or `None` when it does not exist.
pub fn current_rev(
    tx: &Transaction<'_>,
    table: &Table,
    key: &[Value],
) -> rusqlite::Result<Option<i64>> {
    let sql = format!(
        "SELECT \"SysRevID\" FROM \"{}\" WHERE {}",
        table.name,
        key_where(table, 1)
    );
    let mut st = tx.prepare_cached(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(key.iter()))?;
    Ok(match rows.next()? {
        Some(r) => Some(r.get(0)?),
        None => None,
    })
}

/// Every column of an existing row, in the table's column order.
fn current_row(tx: &Transaction<'_>, table: &Table, key: &[Value]) -> rusqlite::Result<Vec<Value>> {
    let cols: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let sql = format!(
        "SELECT {} FROM \"{}\" WHERE {}",
        cols.join(", "),
        table.name,
        key_where(table, 1)
    );
    tx.prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(key.iter()), |r| {
            (0..table.columns.len())
                .map(|i| r.get::<_, Value>(i))
                .collect()
        })
}

/// The current SysRevID of a row that must exist.
fn require_rev(tx: &Transaction<'_>, table: &Table, key: &[Value]) -> Result<i64, ApiError> {
    current_rev(tx, table, key)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "{} record not found: {}",
            table.name,
            describe_key(table, key)
        ))
    })
}

/// The key of a JSON row (numbers as strings accepted), or which key column is missing.
pub fn key_of(table: &Table, row: &Map<String, serde_json::Value>) -> Result<KeyValues, ApiError> {
    table
        .key_columns()
        .map(|c| match row.get(c.name) {
            Some(v) => {
                json_to_sql(c, v).map_err(|m| ApiError::rule(m, table.name, c.name, "Update"))
            }
            None => Err(ApiError::business(
                format!("{} is required to identify a {} row", c.name, table.name),
                table.name,
            )),
        })
        .collect()
}

/// Inserts a row: missing columns take defaults, `SysRowID` a new GUID, `SysRevID` 1. Auto-numbers a
/// missing last integer key (CustNum, OrderNum, VendorNum, OrderLine, ...) as Epicor does.
pub fn insert_row(
    tx: &Transaction<'_>,
    table: &Table,
    row: &Map<String, serde_json::Value>,
    company: &str,
) -> Result<KeyValues, ApiError> {
    check_members(table, row)?;
    let mut values: Vec<Value> = Vec::with_capacity(table.columns.len());
    for c in table.columns {
        let v = match (c.name, row.get(c.name)) {
            ("SysRowID", _) => Value::Text(uuid::Uuid::new_v4().hyphenated().to_string()),
            ("SysRevID", _) => Value::Integer(1),
            ("Company", None) => Value::Text(company.to_string()),
            (_, Some(v)) => {
                json_to_sql(c, v).map_err(|m| ApiError::rule(m, table.name, c.name, "Update"))?
            }
            (_, None) => default_value(c),
        };
        values.push(v);
    }
    // Auto-number the last key column when it is an integer that was not given (or given as 0).
    let last_key = table.key[table.key.len() - 1];
    let last_idx = table
        .columns
        .iter()
        .position(|c| c.name == last_key)
        .expect("key column");
    if matches!(table.columns[last_idx].ty, ColType::Int32)
        && matches!(values[last_idx], Value::Integer(0))
    {
        let prefix = &table.key[..table.key.len() - 1];
        let cond = if prefix.is_empty() {
            "1".to_string()
        } else {
            key_where(
                &Table {
                    key: prefix,
                    ..*table
                },
                1,
            )
        };
        let sql = format!(
            "SELECT coalesce(max(\"{last_key}\"), 0) + 1 FROM \"{}\" WHERE {cond}",
            table.name
        );
        let prefix_vals = column_values(table, &values, prefix);
        let next: i64 =
            tx.query_row(&sql, rusqlite::params_from_iter(prefix_vals.iter()), |r| {
                r.get(0)
            })?;
        values[last_idx] = Value::Integer(next);
    }
    let key: KeyValues = column_values(table, &values, table.key);
    if table.name == "OrderDtl" {
        header_customer(tx, table, &mut values)?;
    }
    if current_rev(tx, table, &key)?.is_some() {
        return Err(ApiError::conflict(
            format!(
                "{} record already exists: {}",
                table.name,
                describe_key(table, &key)
            ),
            table.name,
        ));
    }
    super::rules::check(tx, table, &values)?;
    let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO \"{}\" VALUES ({})",
        table.name,
        placeholders.join(",")
    );
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(values.iter()))?;
    Ok(key)
}

/// Applies the given members to an existing row and bumps SysRevID. When the row sends a SysRevID that
/// is not the current one, the update is refused (another writer changed the row since it was read).
pub fn update_row(
    tx: &Transaction<'_>,
    table: &Table,
    key: &[Value],
    row: &Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    check_members(table, row)?;
    let rev = require_rev(tx, table, key)?;
    let mut changed: Vec<(&str, Value)> = Vec::new();
    let mut sets = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    for (name, v) in row {
        if is_meta_member(name) || name == "SysRowID" {
            continue;
        }
        let c = table.column(name).expect("checked above");
        let value =
            json_to_sql(c, v).map_err(|m| ApiError::rule(m, table.name, c.name, "Update"))?;
        if name == "SysRevID" {
            if value != Value::Integer(rev) {
                return Err(ApiError::conflict(
                    format!(
                        "Row has been modified by another user and couldn't be updated ({}: SysRevID is {rev}, the update was based on {})",
                        table.name,
                        v
                    ),
                    table.name,
                ));
            }
            continue;
        }
        if table.name == "OrderDtl" && name == "CustNum" {
            // A line's customer is its order's: kept from the header, whatever is sent.
            continue;
        }
        if let Some(pos) = table.key.iter().position(|k| *k == name) {
            if value != key[pos] {
                return Err(ApiError::business(
                    format!(
                        "{name} is part of the key of {} and cannot be changed",
                        table.name
                    ),
                    table.name,
                ));
            }
            continue;
        }
        changed.push((c.name, value.clone()));
        params.push(value);
        sets.push(format!("\"{name}\" = ?{}", params.len()));
    }
    // The rules see the row as it will be stored.
    let mut merged = current_row(tx, table, key)?;
    for (name, v) in changed {
        if let Some(i) = table.columns.iter().position(|c| c.name == name) {
            merged[i] = v;
        }
    }
    super::rules::check(tx, table, &merged)?;
    sets.push("\"SysRevID\" = \"SysRevID\" + 1".into());
    let first = params.len() + 1;
    params.extend(key.iter().cloned());
    let sql = format!(
        "UPDATE \"{}\" SET {} WHERE {}",
        table.name,
        sets.join(", "),
        key_where(table, first)
    );
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(params.iter()))?;
    if table.name == "OrderHed" && row.contains_key("CustNum") {
        // The lines follow their order to its new customer.
        tx.prepare_cached(
            "UPDATE OrderDtl SET CustNum = (SELECT h.CustNum FROM OrderHed AS h WHERE h.Company = ?1 AND h.OrderNum = ?2) WHERE Company = ?1 AND OrderNum = ?2",
        )?
        .execute(rusqlite::params_from_iter(key.iter()))?;
    }
    Ok(())
}

/// Sets an OrderDtl row's `CustNum` (in `values`, the table's column order) to its order
/// header's customer, as Epicor does; left as given when the header does not exist.
fn header_customer(
    tx: &Transaction<'_>,
    table: &Table,
    values: &mut [Value],
) -> rusqlite::Result<()> {
    let at = |name: &str| {
        table
            .columns
            .iter()
            .position(|c| c.name == name)
            .expect("OrderDtl column")
    };
    let customer: Option<i64> = tx
        .prepare_cached("SELECT CustNum FROM OrderHed WHERE Company = ?1 AND OrderNum = ?2")?
        .query_row([&values[at("Company")], &values[at("OrderNum")]], |r| {
            r.get(0)
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    if let Some(customer) = customer {
        values[at("CustNum")] = Value::Integer(customer);
    }
    Ok(())
}

/// Deletes a row (and, through `children`, the rows that hang under it). Not found is an error.
pub fn delete_row(
    tx: &Transaction<'_>,
    table: &Table,
    key: &[Value],
    children: &[&Table],
) -> Result<(), ApiError> {
    require_rev(tx, table, key)?;
    // Child tables share the parent's key as their key prefix (OrderDtl under OrderHed, ...).
    for child in children {
        let cond = key_where(
            &Table {
                key: table.key,
                ..**child
            },
            1,
        );
        let sql = format!("DELETE FROM \"{}\" WHERE {cond}", child.name);
        tx.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(key.iter()))?;
    }
    let sql = format!(
        "DELETE FROM \"{}\" WHERE {}",
        table.name,
        key_where(table, 1)
    );
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(key.iter()))?;
    Ok(())
}
