//! Values typed from `$metadata`: what a cell of a row is, read exactly from the wire.
//!
//! Epicor's v1 API (OData v3 JSON) sends `Edm.Decimal` and `Edm.Int64` as strings (`"3.00"`), v2
//! may send numbers; both read into the same [`Value`]. Decimals are read from the JSON text
//! itself, never through a float, so `12345678901234.56789` stays exactly that. Dates come as
//! Epicor writes them (`2025-01-31T00:00:00`, with or without an offset).

use crate::{Error, Result};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use epicor_kinetic_odata::csdl::{EdmType, EntityType, Metadata};
use epicor_kinetic_odata::{ExpandItem, SelectItem};
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

/// One cell, typed by its column's EDM type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// JSON `null`.
    Null,
    /// `Edm.Boolean`.
    Bool(bool),
    /// `Edm.Byte`, `Edm.Int16`, `Edm.Int32`, `Edm.Int64`.
    Int(i64),
    /// `Edm.Decimal`, exact.
    Decimal(Decimal),
    /// `Edm.Double`, `Edm.Single`.
    Float(f64),
    /// `Edm.String`, and any text the other types do not read (kept as sent).
    Text(String),
    /// `Edm.Date`, or a date-time at midnight in a `Edm.Date` column.
    Date(NaiveDate),
    /// `Edm.DateTime` (v3), or a `Edm.DateTimeOffset` sent without an offset (as Epicor does).
    DateTime(NaiveDateTime),
    /// `Edm.DateTimeOffset` with its offset.
    DateTimeOffset(DateTime<FixedOffset>),
    /// `Edm.Guid`.
    Guid(Uuid),
    /// The rows of an expanded to-many navigation, typed from the target's `$metadata`.
    Records(Vec<Record>),
    /// The row of an expanded to-one navigation.
    Record(Box<Record>),
    /// Anything else structured (a complex type, an undeclared column), as JSON.
    Json(serde_json::Value),
}

/// One cell read by [`Column::read_cell`]: a [`Value`] whose text is borrowed from the
/// server's answer (no allocation for text without escapes).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Cell<'a> {
    /// JSON `null` (or a cell the row lacks).
    Null,
    /// See [`Value::Bool`].
    Bool(bool),
    /// See [`Value::Int`].
    Int(i64),
    /// See [`Value::Decimal`].
    Decimal(Decimal),
    /// See [`Value::Float`].
    Float(f64),
    /// See [`Value::Text`]: the string's content, borrowed unless it had escapes.
    Text(Cow<'a, str>),
    /// See [`Value::Date`].
    Date(NaiveDate),
    /// See [`Value::DateTime`].
    DateTime(NaiveDateTime),
    /// See [`Value::DateTimeOffset`].
    DateTimeOffset(DateTime<FixedOffset>),
    /// See [`Value::Guid`].
    Guid(Uuid),
    /// An expanded navigation's rows or row, or other structured JSON: [`Value::Records`],
    /// [`Value::Record`] or [`Value::Json`].
    Nested(Value),
}

impl Cell<'_> {
    /// The owned [`Value`].
    pub fn into_value(self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::Int(i) => Value::Int(i),
            Cell::Decimal(d) => Value::Decimal(d),
            Cell::Float(f) => Value::Float(f),
            Cell::Text(s) => Value::Text(s.into_owned()),
            Cell::Date(d) => Value::Date(d),
            Cell::DateTime(d) => Value::DateTime(d),
            Cell::DateTimeOffset(d) => Value::DateTimeOffset(d),
            Cell::Guid(g) => Value::Guid(g),
            Cell::Nested(v) => v,
        }
    }
}

/// A column of an entity type, from `$metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The property name (`CustNum`).
    pub name: String,
    /// Its EDM type.
    pub edm_type: EdmType,
    /// Whether it may be null.
    pub nullable: bool,
    /// `Precision` and `Scale` of a decimal, when declared.
    pub precision: Option<u32>,
    /// See [`Column::precision`].
    pub scale: Option<u32>,
    /// Whether it is part of the entity's key.
    pub key: bool,
    /// For an expanded navigation: the columns of its rows.
    pub nested: Option<Arc<Vec<Column>>>,
}

impl Column {
    /// A column of `name` read as JSON, for names that `$metadata` does not declare (navigation
    /// properties from `$expand`, BAQ columns).
    pub fn untyped(name: &str) -> Column {
        Column {
            name: name.to_owned(),
            edm_type: EdmType::Other("Json".into()),
            nullable: true,
            precision: None,
            scale: None,
            key: false,
            nested: None,
        }
    }

    /// The columns of an entity type, in `$metadata` order.
    pub fn of(entity: &EntityType) -> Vec<Column> {
        entity
            .properties
            .iter()
            .map(|p| Column {
                name: p.name.clone(),
                edm_type: p.edm_type.clone(),
                nullable: p.nullable,
                precision: p.precision,
                scale: p.scale,
                key: entity.key.contains(&p.name),
                nested: None,
            })
            .collect()
    }

    /// Reads this column's cell from its JSON text, strictly: a value that does not read as the
    /// declared type is a [`TypeMismatch`], never kept as text (a typed consumer, an Arrow
    /// schema, must be able to trust the type). What real servers send is not a mismatch:
    /// numbers and decimals as strings (v1: `"5"`, `"3.00"`), numbers and booleans where text is
    /// declared (read as their JSON text), dates as date-times at midnight, date-times with or
    /// without an offset. Null is read as null whatever the column's `Nullable`.
    pub fn read(&self, raw: &RawValue) -> std::result::Result<Value, TypeMismatch> {
        self.read_cell(raw.get()).map(Cell::into_value)
    }

    /// [`Column::read`] of a cell's JSON text, borrowing text from it: what a columnar decoder
    /// (Arrow builders) takes straight from the server's answer, with no [`Value`] (nor a
    /// `String` per text cell) in between. The same rules; the one reader of cells.
    pub fn read_cell<'a>(&self, text: &'a str) -> std::result::Result<Cell<'a>, TypeMismatch> {
        let text = text.trim();
        if text == "null" {
            return Ok(Cell::Null);
        }
        if let Some(columns) = &self.nested {
            // A mismatch inside an expanded row names the path to it (`OrderDtls/OrderQty`).
            let inside = |e: TypeMismatch| TypeMismatch {
                column: format!("{}/{}", self.name, e.column),
                ..e
            };
            if text.starts_with('[') {
                let rows = serde_json::from_str::<Vec<Cells<'_>>>(text)
                    .map_err(|_| self.mismatch(text))?;
                return rows
                    .iter()
                    .map(|c| Record::from_cells(columns, c))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map(|r| Cell::Nested(Value::Records(r)))
                    .map_err(inside);
            }
            let cells = serde_json::from_str::<Cells<'_>>(text).map_err(|_| self.mismatch(text))?;
            return Record::from_cells(columns, &cells)
                .map(|r| Cell::Nested(Value::Record(Box::new(r))))
                .map_err(inside);
        }
        // A JSON string's content (borrowed when it has no escapes), or the bare token.
        let unquoted: Option<Cow<'a, str>> = if text.starts_with('"') {
            match text.get(1..text.len() - 1) {
                Some(inner) if text.len() >= 2 && !inner.contains(['\\', '"']) => {
                    Some(Cow::Borrowed(inner))
                }
                _ => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
            }
        } else {
            None
        };
        let scalar: &str = unquoted.as_deref().unwrap_or(text);
        let int = |v: Option<i64>| v.map(Cell::Int);
        let typed = match &self.edm_type {
            EdmType::Boolean => match scalar {
                "true" => Some(Cell::Bool(true)),
                "false" => Some(Cell::Bool(false)),
                _ => None,
            },
            // Each integer type within its own range (an Arrow column of it must hold it).
            EdmType::Byte => int(scalar.parse::<u8>().ok().map(i64::from)),
            EdmType::Int16 => int(scalar.parse::<i16>().ok().map(i64::from)),
            EdmType::Int32 => int(scalar.parse::<i32>().ok().map(i64::from)),
            EdmType::Int64 => int(scalar.parse::<i64>().ok()),
            EdmType::Decimal => parse_decimal(scalar).map(Cell::Decimal),
            EdmType::Double | EdmType::Single => scalar.parse::<f64>().ok().map(Cell::Float),
            EdmType::Date => parse_date(scalar),
            EdmType::DateTime | EdmType::DateTimeOffset => parse_date_time(scalar),
            EdmType::Guid => Uuid::parse_str(scalar).ok().map(Cell::Guid),
            // Text is kept exactly as sent: trailing spaces of padded CHAR columns included
            // (Epicor pads some); a number or boolean where text was declared is its JSON text.
            EdmType::String | EdmType::TimeOfDay | EdmType::Duration | EdmType::Binary => {
                match unquoted {
                    Some(s) => Some(Cell::Text(s)),
                    None if !text.starts_with(['{', '[']) => Some(Cell::Text(Cow::Borrowed(text))),
                    None => None,
                }
            }
            // No declared scalar type (an undeclared column, a complex type): as sent.
            EdmType::Other(_) => Some(match unquoted {
                Some(s) => Cell::Text(s),
                None => serde_json::from_str(text)
                    .map(|v| Cell::Nested(Value::Json(v)))
                    .unwrap_or(Cell::Text(Cow::Borrowed(text))),
            }),
        };
        typed.ok_or_else(|| self.mismatch(text))
    }

    /// The mismatch of `text` (a cell's JSON text) with this column.
    fn mismatch(&self, text: &str) -> TypeMismatch {
        TypeMismatch {
            column: self.name.clone(),
            edm_type: if self.nested.is_some() {
                "a navigation (an object or an array of objects)".into()
            } else {
                self.edm_type.as_str().to_owned()
            },
            value: shorten(text, 64),
        }
    }
}

/// A cell that does not read as its column's declared EDM type: the server broke the contract
/// of its own `$metadata`. Page decoding reports it as [`Error::Protocol`], naming the row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypeMismatch {
    /// The column (`OrderAmt`; `OrderDtls/OrderQty` inside an expanded navigation).
    pub column: String,
    /// The declared type (`Edm.Decimal`).
    pub edm_type: String,
    /// The cell's JSON text as sent, cut after 64 characters.
    pub value: String,
}

impl fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {} is declared {} but holds {}",
            self.column, self.edm_type, self.value
        )
    }
}

impl std::error::Error for TypeMismatch {}

/// `text` cut after `max` characters, saying how long it was.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}... ({} bytes)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

/// A decimal from its text, exactly; exponents (`1.5E+3`) too.
fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text)
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

fn parse_date(text: &str) -> Option<Cell<'static>> {
    if let Ok(d) = NaiveDate::from_str(text) {
        return Some(Cell::Date(d));
    }
    // A date column sent as a date-time at midnight, with or without an offset, is its date.
    match parse_date_time(text)? {
        Cell::DateTime(dt) if dt.time() == NaiveTime::MIN => Some(Cell::Date(dt.date())),
        Cell::DateTimeOffset(dt) if dt.naive_local().time() == NaiveTime::MIN => {
            Some(Cell::Date(dt.naive_local().date()))
        }
        // A time of day in a date column: not a date.
        _ => None,
    }
}

fn parse_date_time(text: &str) -> Option<Cell<'static>> {
    // Epicor sends no offset (`2025-01-31T00:00:00`): try that first.
    if let Ok(dt) = NaiveDateTime::from_str(text) {
        return Some(Cell::DateTime(dt));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(Cell::DateTimeOffset(dt));
    }
    // v3 JSON verbose dates: `/Date(1735689600000)/`, milliseconds since the epoch, UTC.
    let ms = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let ms: i64 = ms.split(['+', '-']).next()?.parse().ok()?;
    DateTime::from_timestamp_millis(ms).map(|d| Cell::DateTime(d.naive_utc()))
}

impl Value {
    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Appends the value as JSON: decimals as exact JSON numbers, dates as ISO 8601 strings.
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Decimal(d) => {
                let _ = write!(out, "{d}");
            }
            Value::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            Value::Float(f) => push_json_str(out, &f.to_string()),
            Value::Json(v) => out.push_str(&v.to_string()),
            Value::Records(rows) => {
                out.push('[');
                for (i, r) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    r.write_json(out);
                }
                out.push(']');
            }
            Value::Record(r) => r.write_json(out),
            Value::Text(s) => push_json_str(out, s),
            other => push_json_str(out, &other.to_string()),
        }
    }

    /// The value as a `serde_json::Value`; decimals become numbers only when a float holds them
    /// exactly, strings otherwise.
    pub fn to_json(&self) -> serde_json::Value {
        let mut text = String::new();
        self.write_json(&mut text);
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    }
}

/// One row typed from `$metadata`: values in the order of its shared columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    columns: Arc<Vec<Column>>,
    values: Vec<Value>,
}

impl Record {
    /// The record of `columns` from a row's cells (JSON text by name); a missing cell is null.
    /// A cell that does not read as its column's type is a [`TypeMismatch`] (see [`Column::read`]).
    pub fn from_cells(
        columns: &Arc<Vec<Column>>,
        cells: &Cells<'_>,
    ) -> std::result::Result<Record, TypeMismatch> {
        Ok(Record {
            columns: columns.clone(),
            values: columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cells
                        .get(i, &c.name)
                        .map_or(Ok(Value::Null), |raw| c.read(raw))
                })
                .collect::<std::result::Result<_, _>>()?,
        })
    }

    /// The record of `columns` from one JSON object's text: [`Error::Protocol`] when it is not a
    /// JSON object or a cell does not read as its column's type.
    pub fn from_json(columns: &Arc<Vec<Column>>, json: &str) -> Result<Record> {
        let cells: Cells<'_> = serde_json::from_str(json).map_err(|e| Error::Protocol {
            status: None,
            message: format!("the row is not a JSON object: {e}"),
            correlation_id: None,
            source: Some(Arc::new(e)),
        })?;
        Record::from_cells(columns, &cells)
            .map_err(|e| mismatch_error(e, None, cells.key_text(columns)))
    }

    /// The record with only the values at `keep` (indices into its columns), under `columns`
    /// (the shared columns of those values, in the same order).
    /// The record with only the columns `names`, in that order; `Err` names the first column
    /// the record does not have.
    pub fn select<S: AsRef<str>>(&self, names: &[S]) -> Result<Record, String> {
        let mut keep = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            let i = self
                .columns
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| name.to_owned())?;
            keep.push(i);
        }
        let columns: Vec<Column> = keep.iter().map(|&i| self.columns[i].clone()).collect();
        Ok(self.clone().project(&Arc::new(columns), &keep))
    }

    pub(crate) fn project(self, columns: &Arc<Vec<Column>>, keep: &[usize]) -> Record {
        let mut values: Vec<Option<Value>> = self.values.into_iter().map(Some).collect();
        Record {
            columns: columns.clone(),
            values: keep
                .iter()
                .map(|&i| {
                    values
                        .get_mut(i)
                        .and_then(Option::take)
                        .unwrap_or(Value::Null)
                })
                .collect(),
        }
    }

    /// The columns, shared by every record of a query.
    pub fn columns(&self) -> &Arc<Vec<Column>> {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The value of column `name`, if the record has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.columns.iter().position(|c| c.name == name)?;
        self.values.get(i)
    }

    /// The record as a JSON object (decimals as exact numbers; see [`Value::write_json`]).
    pub fn to_json_text(&self) -> String {
        let mut out = String::with_capacity(64 * self.values.len());
        self.write_json(&mut out);
        out
    }

    /// Appends the record as a JSON object.
    pub fn write_json(&self, out: &mut String) {
        out.push('{');
        for (i, (c, v)) in self.columns.iter().zip(&self.values).enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(out, &c.name);
            out.push(':');
            v.write_json(out);
        }
        out.push('}');
    }
}

/// The columns of `entity` for a query: the `select`ed ones in order (all when none), then one per
/// `expand`ed navigation whose rows are typed from the target's columns, recursively.
pub fn columns_for(
    metadata: &Metadata,
    entity: &EntityType,
    select: &[String],
    expand: &[ExpandItem],
) -> Result<Vec<Column>> {
    let all = Column::of(entity);
    let mut columns = if select.is_empty() {
        all
    } else {
        let mut picked = Vec::with_capacity(select.len());
        for name in select {
            match all.iter().find(|c| c.name == *name) {
                Some(c) => picked.push(c.clone()),
                None => {
                    return Err(Error::invalid_settings(
                        "$select",
                        format!("there is no column {name}"),
                        format!(
                            "pick from: {}",
                            all.iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            }
        }
        picked
    };
    for item in expand {
        let name = item.path.join("/");
        if columns.iter().any(|c| c.name == name) {
            continue;
        }
        let nav = entity
            .navigation
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| {
                Error::invalid_settings(
                    "$expand",
                    format!("there is no navigation {name}"),
                    format!(
                        "expand one of: {}",
                        entity
                            .navigation
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        let mut column = Column::untyped(&name);
        if let Some(target) = metadata.entity_type(&nav.target_type) {
            let nested_select: Vec<String> = item
                .options
                .select
                .iter()
                .flatten()
                .filter_map(|s| match s {
                    SelectItem::Path(p) => Some(p.join("/")),
                    _ => None,
                })
                .collect();
            column.nested = Some(Arc::new(columns_for(
                metadata,
                target,
                &nested_select,
                &item.options.expand,
            )?));
        }
        columns.push(column);
    }
    Ok(columns)
}

/// A row's cells as sent: names and their JSON text, in the server's order (borrowed from the
/// answer's body, so nothing is copied until a value is read).
#[derive(Debug, Default)]
pub struct Cells<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl Cells<'_> {
    /// The row's key as sent (`Company="EPIC06", OrderNum=5`), from the key columns of
    /// `columns`; `None` when it has no key column or lacks one.
    pub(crate) fn key_text(&self, columns: &[Column]) -> Option<String> {
        let mut parts = Vec::new();
        for (i, c) in columns.iter().enumerate().filter(|(_, c)| c.key) {
            parts.push((c.name.as_str(), self.get(i, &c.name)?.get()));
        }
        key_text(parts)
    }

    /// The cell of column `name`, which is most often the `i`-th (servers write columns in
    /// their `$metadata` order).
    pub(crate) fn get(&self, i: usize, name: &str) -> Option<&RawValue> {
        match self.0.get(i) {
            Some((k, v)) if k == name => Some(v),
            _ => self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v),
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Cells<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Cells<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (a row)")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Cells<'a>, M::Error> {
                let mut cells = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(key) = map.next_key::<Key<'a>>()? {
                    cells.push((key.0, map.next_value::<&'a RawValue>()?));
                }
                Ok(Cells(cells))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// A property name: borrowed from the body, or owned when it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a property name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

/// A row's key as sent, from its key columns' names and JSON texts (`Company="EPIC06",
/// OrderNum=5`, each value cut after 40 characters); `None` without a key column.
pub(crate) fn key_text<'a>(parts: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let parts: Vec<String> = parts
        .into_iter()
        .map(|(name, text)| format!("{name}={}", shorten(text, 40)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The [`Error::Protocol`] of a cell that does not read as its type, naming the row: its index
/// in the result (counting from 0) when known, and its key as sent (see [`key_text`]) when the
/// row has one.
pub(crate) fn mismatch_error(
    mismatch: TypeMismatch,
    index: Option<u64>,
    key: Option<String>,
) -> Error {
    let mut row = match index {
        Some(i) => format!("row {i} (counting from 0)"),
        None => "the row".to_owned(),
    };
    if let Some(key) = key {
        row.push_str(&format!(" with key {key}"));
    }
    Error::Protocol {
        status: None,
        message: format!(
            "{row}: {mismatch}, which does not read as that type (the server's answer breaks \
             its own $metadata)"
        ),
        correlation_id: None,
        source: Some(Arc::new(mismatch)),
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// The text of a value as a person or a CSV file wants it: empty for null, decimals as sent
/// (`3.00`), dates ISO 8601 (`2025-01-31`, `2025-01-31T08:30:00`), JSON for structures.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Date(d) => write_date(f, *d),
            Value::DateTime(d) => {
                // By hand: chrono's `format` parses its pattern on every call.
                use chrono::Timelike as _;
                write_date(f, d.date())?;
                let t = d.time();
                write!(f, "T{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())?;
                match t.nanosecond() {
                    0 => Ok(()),
                    n if n % 1_000_000 == 0 => write!(f, ".{:03}", n / 1_000_000),
                    n if n % 1_000 == 0 => write!(f, ".{:06}", n / 1_000),
                    n => write!(f, ".{n:09}"),
                }
            }
            Value::DateTimeOffset(d) => f.write_str(&d.to_rfc3339()),
            Value::Guid(g) => write!(f, "{g}"),
            Value::Json(v) => write!(f, "{v}"),
            Value::Records(_) | Value::Record(_) => {
                let mut text = String::new();
                self.write_json(&mut text);
                f.write_str(&text)
            }
        }
    }
}

fn write_date(f: &mut fmt::Formatter<'_>, d: NaiveDate) -> fmt::Result {
    use chrono::Datelike as _;
    match d.year() {
        y @ 0..=9999 => write!(f, "{y:04}-{:02}-{:02}", d.month(), d.day()),
        y => write!(f, "{y:+05}-{:02}-{:02}", d.month(), d.day()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: EdmType) -> Column {
        Column {
            edm_type: ty,
            ..Column::untyped("X")
        }
    }

    fn read(ty: EdmType, json: &str) -> Value {
        let raw: Box<RawValue> = serde_json::from_str(json).expect("json");
        col(ty.clone())
            .read(&raw)
            .unwrap_or_else(|e| panic!("{json} as {}: {e}", ty.as_str()))
    }

    fn mismatch(ty: EdmType, json: &str) -> TypeMismatch {
        let raw: Box<RawValue> = serde_json::from_str(json).expect("json");
        match col(ty.clone()).read(&raw) {
            Ok(v) => panic!("{json} read as {} into {v:?}", ty.as_str()),
            Err(e) => e,
        }
    }

    #[test]
    fn decimals_are_exact_from_numbers_and_strings() {
        let big = "12345678901234.56789";
        assert_eq!(read(EdmType::Decimal, big).to_string(), big);
        assert_eq!(
            read(EdmType::Decimal, &format!("\"{big}\"")).to_string(),
            big
        );
        assert_eq!(read(EdmType::Decimal, "\"3.00\"").to_string(), "3.00");
        assert_eq!(read(EdmType::Decimal, "0.1").to_string(), "0.1");
        assert_eq!(read(EdmType::Decimal, "1.5E+3").to_string(), "1500");
        let mut json = String::new();
        read(EdmType::Decimal, big).write_json(&mut json);
        assert_eq!(json, big, "written as an exact JSON number");
    }

    /// What real servers send where a tidy one would not (EPICOR.md): numbers where text is
    /// declared and text where numbers are, padded CHAR text, dates with and without an offset.
    #[test]
    fn untidy_cells_read_as_their_declared_type() {
        assert_eq!(read(EdmType::String, "12"), Value::Text("12".into()));
        assert_eq!(read(EdmType::String, "true"), Value::Text("true".into()));
        assert_eq!(
            read(EdmType::String, "\"MN  \""),
            Value::Text("MN  ".into())
        );
        assert_eq!(read(EdmType::String, "null"), Value::Null);
        assert_eq!(read(EdmType::Int32, "\"45\""), Value::Int(45));
        assert_eq!(
            read(EdmType::Decimal, "62400.00000000").to_string(),
            "62400.00000000"
        );
        assert_eq!(
            read(EdmType::Decimal, "\"62400.00000000\"").to_string(),
            "62400.00000000"
        );
        let day = Value::Date(NaiveDate::from_ymd_opt(2025, 1, 31).expect("date"));
        for sent in [
            "\"2025-01-31\"",
            "\"2025-01-31T00:00:00\"",
            "\"2025-01-31T00:00:00Z\"",
            "\"2025-01-31T00:00:00+01:00\"",
        ] {
            assert_eq!(read(EdmType::Date, sent), day, "{sent}");
        }
        // A date-time column reads both ways as a date-time of the same wall clock.
        for sent in ["\"2025-01-31T08:30:00\"", "\"2025-01-31T08:30:00Z\""] {
            match read(EdmType::DateTimeOffset, sent) {
                Value::DateTime(dt) => assert_eq!(dt.to_string(), "2025-01-31 08:30:00"),
                Value::DateTimeOffset(dt) => {
                    assert_eq!(dt.naive_local().to_string(), "2025-01-31 08:30:00")
                }
                other => panic!("{sent}: {other:?}"),
            }
        }
    }

    /// Columns a server adds that `$metadata` does not declare (`RowIdent` on BAQ rows, `BitFlag`
    /// on tableset rows) are left out of typed records; a declared column it leaves out is null.
    #[test]
    fn undeclared_columns_are_left_out_and_missing_ones_are_null() {
        let columns = Arc::new(vec![
            col(EdmType::Int32),
            Column {
                name: "Name".into(),
                ..col(EdmType::String)
            },
        ]);
        let r = Record::from_json(
            &columns,
            r#"{"RowIdent":"6f1c...","X":7,"BitFlag":0,"Extra":{"a":[1]}}"#,
        )
        .expect("a row");
        assert_eq!(r.values(), &[Value::Int(7), Value::Null]);
        assert_eq!(r.to_json_text(), r#"{"X":7,"Name":null}"#);
    }

    #[test]
    fn numbers_as_strings_and_other_types_read() {
        assert_eq!(
            read(EdmType::Int64, "\"9007199254740993\""),
            Value::Int(9007199254740993)
        );
        assert_eq!(read(EdmType::Int32, "45"), Value::Int(45));
        assert_eq!(read(EdmType::Boolean, "true"), Value::Bool(true));
        assert_eq!(
            read(EdmType::Date, "\"2025-01-31T00:00:00\""),
            Value::Date(NaiveDate::from_ymd_opt(2025, 1, 31).expect("date"))
        );
        assert_eq!(
            read(EdmType::DateTimeOffset, "\"2025-01-31T08:30:00\"").to_string(),
            "2025-01-31T08:30:00"
        );
        assert_eq!(
            read(EdmType::DateTime, "\"0987-01-02T08:30:05.25\"").to_string(),
            "0987-01-02T08:30:05.250"
        );
        assert_eq!(
            read(EdmType::DateTime, "\"2025-01-31T08:30:05.123456789\"").to_string(),
            "2025-01-31T08:30:05.123456789"
        );
        assert_eq!(
            read(EdmType::DateTimeOffset, "\"2025-01-31T08:30:00+02:00\"").to_string(),
            "2025-01-31T08:30:00+02:00"
        );
        assert_eq!(
            read(EdmType::DateTime, "\"/Date(1738281600000)/\"").to_string(),
            "2025-01-31T00:00:00"
        );
        let g = "5b6c2ad9-1a43-4c8e-9d8b-2f4e9c1a7b3d";
        assert_eq!(
            read(EdmType::Guid, &format!("\"{g}\"")),
            Value::Guid(Uuid::parse_str(g).expect("guid"))
        );
        assert_eq!(read(EdmType::String, "null"), Value::Null);
    }

    #[test]
    fn rows_read_by_name_in_any_order_with_escapes() {
        let columns = Arc::new(vec![
            Column {
                edm_type: EdmType::Int32,
                ..Column::untyped("N")
            },
            Column {
                edm_type: EdmType::String,
                ..Column::untyped("Name")
            },
            Column {
                edm_type: EdmType::Decimal,
                ..Column::untyped("Gone")
            },
        ]);
        let r =
            Record::from_json(&columns, r#"{"Na\u006de":"O\"Brien \u00e9","N":7}"#).expect("a row");
        assert_eq!(r.get("N"), Some(&Value::Int(7)));
        assert_eq!(r.get("Name"), Some(&Value::Text("O\"Brien é".into())));
        assert_eq!(r.get("Gone"), Some(&Value::Null), "a missing cell is null");
        assert_eq!(
            r.to_json_text(),
            r#"{"N":7,"Name":"O\"Brien é","Gone":null}"#
        );
        assert!(Record::from_json(&columns, "[1]").is_err());
    }

    /// Strict typing: a cell that does not read as its declared type is an error naming the
    /// column, the type and the value (cut when long), never text in its place (which would
    /// break a typed consumer's schema). This replaces the old fallback to `Value::Text`.
    #[test]
    fn values_that_do_not_read_as_their_type_are_errors() {
        let e = mismatch(EdmType::Int32, "\"n/a\"");
        assert_eq!(
            (e.column.as_str(), e.edm_type.as_str(), e.value.as_str()),
            ("X", "Edm.Int32", "\"n/a\"")
        );
        assert_eq!(
            e.to_string(),
            "column X is declared Edm.Int32 but holds \"n/a\""
        );
        mismatch(EdmType::Decimal, "\"\"");
        mismatch(EdmType::Decimal, "true");
        mismatch(EdmType::Int32, "5.5");
        mismatch(EdmType::Int32, "4294967296");
        mismatch(EdmType::Int16, "40000");
        mismatch(EdmType::Byte, "-1");
        mismatch(EdmType::Boolean, "1");
        mismatch(EdmType::Boolean, "\"yes\"");
        mismatch(EdmType::Double, "\"abc\"");
        mismatch(EdmType::Guid, "\"not-a-guid\"");
        mismatch(EdmType::Date, "\"2025-01-31T08:30:00\"");
        mismatch(EdmType::DateTimeOffset, "\"yesterday\"");
        mismatch(EdmType::String, "{\"a\":1}");
        let long = format!("\"{}\"", "x".repeat(500));
        let e = mismatch(EdmType::Int64, &long);
        assert!(
            e.value.len() < 100 && e.value.ends_with("(502 bytes)"),
            "{}",
            e.value
        );
        // Undeclared types stay as sent.
        assert_eq!(
            read(EdmType::Other("Json".into()), "[{\"a\":1}]"),
            Value::Json(serde_json::json!([{"a": 1}]))
        );
        assert_eq!(read(EdmType::Int64, "\"-9\""), Value::Int(-9));
    }

    /// A mismatch in a row names the row by its key as sent, and inside an expanded
    /// navigation the path to the cell.
    #[test]
    fn a_mismatch_in_a_row_names_its_key_and_path() {
        let inner = Arc::new(vec![Column {
            name: "Qty".into(),
            ..col(EdmType::Decimal)
        }]);
        let columns = Arc::new(vec![
            Column {
                name: "Num".into(),
                key: true,
                ..col(EdmType::Int32)
            },
            Column {
                name: "Lines".into(),
                nested: Some(inner),
                ..Column::untyped("Lines")
            },
        ]);
        let e = Record::from_json(
            &columns,
            r#"{"Num":"7","Lines":[{"Qty":1},{"Qty":"many"}]}"#,
        )
        .expect_err("a mismatch");
        let text = e.to_string();
        assert!(
            text.contains("the row with key Num=\"7\": column Lines/Qty is declared Edm.Decimal but holds \"many\""),
            "{text}"
        );
        assert_eq!(e.kind(), crate::ErrorKind::Protocol);
    }
}
