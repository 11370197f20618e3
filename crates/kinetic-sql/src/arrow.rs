//! Arrow from the server's pages: each cell read from its JSON text (the connector's
//! [`JsonPage`], by its one reader of cells) straight into its column's Arrow builder, one
//! column at a time; no typed record in between.
//!
//! Types follow `$metadata` (see [`field_of`]): decimals become `Decimal128` with the declared
//! precision and scale (the mantissa is rescaled as an integer, never through a float), dates
//! `Date32`, `Edm.DateTimeOffset` a UTC timestamp (Epicor sends it without an offset: read as
//! UTC), GUIDs their text. Text is right-trimmed of spaces: Epicor serves SQL Server `CHAR(n)`
//! columns padded, and SQL Server compares strings without trailing spaces, so `TermsCode =
//! 'N30'` must match what the server matched.

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use epicor_kinetic::api::{Cell, Column, JsonPage};
use epicor_kinetic_odata::csdl::EdmType;
use rust_decimal::Decimal;
use std::sync::Arc;

/// The time zone of `Edm.DateTimeOffset` columns.
pub const UTC: &str = "UTC";

/// The widest decimal Arrow's `Decimal128` holds.
const MAX_PRECISION: u8 = 38;

/// Precision and scale for a decimal column that does not declare them.
const DEFAULT_DECIMAL: (u8, i8) = (38, 10);

/// The Arrow type of an EDM type (with a decimal's precision and scale).
pub fn data_type(edm: &EdmType, precision: Option<u32>, scale: Option<u32>) -> DataType {
    match edm {
        EdmType::Boolean => DataType::Boolean,
        EdmType::Byte | EdmType::Int16 | EdmType::Int32 => DataType::Int32,
        EdmType::Int64 => DataType::Int64,
        EdmType::Decimal => {
            let (p, s) = decimal_shape(precision, scale);
            DataType::Decimal128(p, s)
        }
        EdmType::Double => DataType::Float64,
        EdmType::Single => DataType::Float32,
        EdmType::Date => DataType::Date32,
        EdmType::DateTimeOffset => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        EdmType::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => DataType::Utf8,
    }
}

fn decimal_shape(precision: Option<u32>, scale: Option<u32>) -> (u8, i8) {
    match (precision, scale) {
        (Some(p), s) => {
            let p = p.clamp(1, MAX_PRECISION as u32) as u8;
            let s = s.unwrap_or(0).min(p as u32) as i8;
            (p, s)
        }
        (None, Some(s)) => (MAX_PRECISION, s.min(MAX_PRECISION as u32) as i8),
        (None, None) => DEFAULT_DECIMAL,
    }
}

/// The Arrow field of a column. Key columns keep their `key` flag in the field's metadata.
pub fn field_of(column: &Column) -> Field {
    // Always nullable in Arrow: servers send nulls where `$metadata` says they do not (the
    // declared nullability is in `sys_tablecolumns` and guides pushdown).
    let mut field = Field::new(
        &column.name,
        data_type(&column.edm_type, column.precision, column.scale),
        true,
    );
    let mut meta = std::collections::HashMap::new();
    meta.insert("edm_type".to_owned(), column.edm_type.as_str().to_owned());
    if column.key {
        meta.insert("key".to_owned(), "true".to_owned());
    }
    field = field.with_metadata(meta);
    field
}

/// The Arrow schema of columns.
pub fn schema_of(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(field_of).collect::<Vec<_>>(),
    ))
}

/// The record batch of a page, in `schema` (the fields of the page's columns, by name).
pub fn batch_of(page: &JsonPage, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = page.columns();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let index = columns
            .iter()
            .position(|c| c.name == *field.name())
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "the page has no column {} (it has {})",
                    field.name(),
                    columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        arrays.push(column_array(page, index, field)?);
    }
    let options =
        datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(page.len()));
    RecordBatch::try_new_with_options(schema.clone(), arrays, &options).map_err(Into::into)
}

/// One column of a page as an Arrow array of `field`'s type.
fn column_array(page: &JsonPage, index: usize, field: &Field) -> Result<ArrayRef> {
    let n = page.len();
    let name = field.name();
    // Each cell read as its column's type (a cell that does not is the connector's error,
    // naming the row and its key).
    let cells = (0..n).map(|row| {
        page.read(row, index)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    });
    let mismatch = |v: &Cell<'_>, row: usize| {
        DataFusionError::Execution(format!(
            "row {} column {name}: the value {v:?} does not fit {}",
            page.first_row() + row as u64,
            field.data_type()
        ))
    };
    Ok(match field.data_type() {
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            for (row, v) in cells.enumerate() {
                match v? {
                    Cell::Null => b.append_null(),
                    Cell::Bool(x) => b.append_value(x),
                    other => return Err(mismatch(&other, row)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int32 => {
            let mut b = Int32Builder::with_capacity(n);
            for (row, v) in cells.enumerate() {
                match v? {
                    Cell::Null => b.append_null(),
                    Cell::Int(x) => {
                        b.append_value(i32::try_from(x).map_err(|_| mismatch(&Cell::Int(x), row))?)
                    }
                    other => return Err(mismatch(&other, row)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(n);
            for (row, v) in cells.enumerate() {
                match v? {
                    Cell::Null => b.append_null(),
                    Cell::Int(x) => b.append_value(x),
                    other => return Err(mismatch(&other, row)),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Float64 | DataType::Float32 => {
            let mut b64 = Float64Builder::with_capacity(n);
            for (row, v) in cells.enumerate() {
                match v? {
                    Cell::Null => b64.append_null(),
                    Cell::Float(x) => b64.append_value(x),
                    Cell::Int(x) => b64.append_value(x as f64),
                    Cell::Decimal(d) => b64.append_value(
                        d.to_string()
                            .parse()
                            .map_err(|_| mismatch(&Cell::Decimal(d), row))?,
                    ),
                    other => return Err(mismatch(&other, row)),
                }
            }
            let a = b64.finish();
            if field.data_type() == &DataType::Float32 {
                let mut b = Float32Builder::with_capacity(n);
                for x in a.iter() {
                    b.append_option(x.map(|x| x as f32));
                }
                Arc::new(b.finish())
            } else {
                Arc::new(a)
            }
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::with_capacity(n);
            for (row, v) in cells.enumerate() {
                let d = match v? {
                    Cell::Null => {
                        b.append_null();
                        continue;
                    }
                    Cell::Decimal(d) => d,
                    Cell::Int(x) => Decimal::from(x),
                    other => return Err(mismatch(&other, row)),
                };
                b.append_value(
                    mantissa_at(d, *p, *s).ok_or_else(|| mismatch(&Cell::Decimal(d), row))?,
                );
            }
            Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(n);
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date");
            for (row, v) in cells.enumerate() {
                let date = match v? {
                    Cell::Null => {
                        b.append_null();
                        continue;
                    }
                    Cell::Date(d) => d,
                    Cell::DateTime(dt) => dt.date(),
                    Cell::DateTimeOffset(dt) => dt.date_naive(),
                    other => return Err(mismatch(&other, row)),
                };
                let days = (date - epoch).num_days();
                b.append_value(i32::try_from(days).map_err(|_| mismatch(&Cell::Date(date), row))?);
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n);
            for (row, v) in cells.enumerate() {
                let micros = match v? {
                    Cell::Null => {
                        b.append_null();
                        continue;
                    }
                    Cell::Date(d) => d.and_time(chrono::NaiveTime::MIN).and_utc(),
                    Cell::DateTime(dt) => dt.and_utc(),
                    Cell::DateTimeOffset(dt) => dt.to_utc(),
                    other => return Err(mismatch(&other, row)),
                }
                .timestamp_micros();
                b.append_value(micros);
            }
            Arc::new(b.finish().with_timezone_opt(tz.clone()))
        }
        DataType::Utf8 => {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            let mut text = String::new();
            for v in cells {
                match v? {
                    Cell::Null => b.append_null(),
                    Cell::Text(s) => b.append_value(s.trim_end_matches(' ')),
                    Cell::Guid(g) => b.append_value(
                        g.hyphenated()
                            .encode_lower(&mut uuid::Uuid::encode_buffer()),
                    ),
                    other => {
                        text.clear();
                        other.into_value().write_json(&mut text);
                        let plain = match serde_json::from_str::<serde_json::Value>(&text) {
                            Ok(serde_json::Value::String(s)) => s,
                            _ => text.clone(),
                        };
                        b.append_value(plain)
                    }
                }
            }
            Arc::new(b.finish())
        }
        other => {
            return Err(DataFusionError::Internal(format!(
                "column {name}: no Arrow decoder for {other}"
            )))
        }
    })
}

/// The integer mantissa of `d` at scale `s`, if it fits precision `p` without losing digits.
pub fn mantissa_at(d: Decimal, p: u8, s: i8) -> Option<i128> {
    let s = u32::try_from(s).ok()?;
    let have = d.scale();
    let m = d.mantissa();
    let m = if have <= s {
        m.checked_mul(10i128.checked_pow(s - have)?)?
    } else {
        let div = 10i128.checked_pow(have - s)?;
        if m % div != 0 {
            // More decimals than the column declares: not representable exactly.
            return None;
        }
        m / div
    };
    let limit = 10i128.checked_pow(p as u32)?;
    (m.abs() < limit).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn decimals_rescale_as_integers() {
        let d = Decimal::from_str("12345678901234.56789").unwrap();
        assert_eq!(mantissa_at(d, 22, 8), Some(1_234_567_890_123_456_789_000));
        assert_eq!(
            mantissa_at(Decimal::from_str("3.10").unwrap(), 17, 3),
            Some(3100)
        );
        assert_eq!(
            mantissa_at(Decimal::from_str("3.1005").unwrap(), 17, 3),
            None
        );
        assert_eq!(
            mantissa_at(Decimal::from_str("3.1000").unwrap(), 17, 3),
            Some(3100)
        );
        assert_eq!(
            mantissa_at(Decimal::from_str("-0.5").unwrap(), 3, 1),
            Some(-5)
        );
        assert_eq!(mantissa_at(Decimal::from_str("1000").unwrap(), 4, 1), None);
    }

    #[test]
    fn types_follow_metadata() {
        assert_eq!(
            data_type(&EdmType::Decimal, Some(17), Some(3)),
            DataType::Decimal128(17, 3)
        );
        assert_eq!(
            data_type(&EdmType::Decimal, None, None),
            DataType::Decimal128(38, 10)
        );
        assert_eq!(
            data_type(&EdmType::DateTimeOffset, None, None),
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
        );
        assert_eq!(data_type(&EdmType::Guid, None, None), DataType::Utf8);
        assert_eq!(data_type(&EdmType::Int16, None, None), DataType::Int32);
    }
}
