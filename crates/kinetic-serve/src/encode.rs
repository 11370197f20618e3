//! Arrow results as PostgreSQL rows: each column's PostgreSQL type (its OID, and a numeric's
//! precision and scale), each value as PostgreSQL's text output writes it (`t`/`f`, ISO dates,
//! `2025-01-31 00:00:00`, `+00` on a time zone, decimals exact) or, where the client asks for
//! binary (the extended protocol's `Bind`), as PostgreSQL's binary format (`numeric` in base
//! 10000 digits, exact; dates and timestamps from 2000-01-01).

use crate::values;
use bytes::{BufMut, BytesMut};
use epicor_kinetic_sql::datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use epicor_kinetic_sql::datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use epicor_kinetic_sql::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::{to_sql_checked, IsNull, ToSql};
use std::sync::Arc;

/// The PostgreSQL type of an Arrow type, and its type modifier (a numeric's precision and
/// scale; -1 for none).
pub fn pg_type(data_type: &DataType) -> (Type, i32) {
    match data_type {
        DataType::Boolean => (Type::BOOL, -1),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => (Type::INT2, -1),
        DataType::Int32 | DataType::UInt16 => (Type::INT4, -1),
        DataType::Int64 | DataType::UInt32 => (Type::INT8, -1),
        DataType::UInt64 => (Type::NUMERIC, -1),
        DataType::Float16 | DataType::Float32 => (Type::FLOAT4, -1),
        DataType::Float64 => (Type::FLOAT8, -1),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            // PostgreSQL's numeric typmod: ((precision << 16) | scale) + 4 (VARHDRSZ).
            let scale = i32::from((*s).max(0));
            (Type::NUMERIC, ((i32::from(*p) << 16) | scale) + 4)
        }
        DataType::Date32 | DataType::Date64 => (Type::DATE, -1),
        DataType::Timestamp(_, None) => (Type::TIMESTAMP, -1),
        DataType::Timestamp(_, Some(_)) => (Type::TIMESTAMPTZ, -1),
        DataType::Time32(_) | DataType::Time64(_) => (Type::TIME, -1),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => (Type::BYTEA, -1),
        // PostgreSQL's arrays (the catalog's `conkey`, `indkey`, `array_agg`'s results), of
        // the element's type.
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            (array_of(&pg_type(f.data_type()).0), -1)
        }
        _ => (Type::TEXT, -1),
    }
}

/// The array type of `element`.
fn array_of(element: &Type) -> Type {
    match *element {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::NUMERIC => Type::NUMERIC_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        Type::TIME => Type::TIME_ARRAY,
        Type::BYTEA => Type::BYTEA_ARRAY,
        _ => Type::TEXT_ARRAY,
    }
}

/// The elements of the list at `row` of `column`, if `column` is a list.
fn elements(column: &dyn Array, row: usize) -> Option<ArrayRef> {
    use epicor_kinetic_sql::datafusion::arrow::array::AsArray;
    Some(match column.data_type() {
        DataType::List(_) => column.as_list::<i32>().value(row),
        DataType::LargeList(_) => column.as_list::<i64>().value(row),
        DataType::FixedSizeList(..) => column.as_fixed_size_list().value(row),
        _ => return None,
    })
}

/// Each value of `column` as PostgreSQL's text writes it (`None` for NULL).
fn element_texts(column: &dyn Array) -> PgWireResult<Vec<Option<String>>> {
    let options = options();
    let formatter = ArrayFormatter::try_new(column, &options).map_err(api_error)?;
    let nulls = column.logical_nulls();
    (0..column.len())
        .map(|row| {
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                return Ok(None);
            }
            let mut text = String::new();
            value_text(column, &formatter, row, &mut text)?;
            Ok(Some(text))
        })
        .collect()
}

/// PostgreSQL's text of an array: `{a,b,NULL}`, an element in double quotes (with `\` before
/// `"` and `\`) where it is empty, `NULL` or has a brace, comma, quote, backslash or space.
fn array_text(values: &[Option<String>]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| match v {
            None => "NULL".to_owned(),
            Some(t)
                if t.is_empty()
                    || t.eq_ignore_ascii_case("NULL")
                    || t.chars().any(|c| {
                        matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace()
                    }) =>
            {
                format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""))
            }
            Some(t) => t.clone(),
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

/// PostgreSQL's binary array (one dimension, from 1) of `values`, whose element type is `element`.
fn array_binary(
    values: &dyn Array,
    texts: &[Option<String>],
    element: &Type,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    let has_null = texts.iter().any(Option::is_none);
    out.put_i32(i32::from(!texts.is_empty()));
    out.put_i32(i32::from(has_null));
    out.put_u32(element.oid());
    if !texts.is_empty() {
        out.put_i32(i32::try_from(texts.len()).unwrap_or(i32::MAX));
        out.put_i32(1);
    }
    let mut item = BytesMut::new();
    for (i, text) in texts.iter().enumerate() {
        match text {
            None => out.put_i32(-1),
            Some(text) => {
                item.clear();
                binary(values, i, text, &mut item)?;
                out.put_i32(i32::try_from(item.len()).unwrap_or(i32::MAX));
                out.put_slice(&item);
            }
        }
    }
    Ok(())
}

/// Writes the value at `row` of `column` as PostgreSQL's text (booleans `t`/`f`, infinities
/// `Infinity`), into `text`.
fn value_text(
    column: &dyn Array,
    formatter: &ArrayFormatter<'_>,
    row: usize,
    text: &mut String,
) -> PgWireResult<()> {
    use std::fmt::Write as _;
    match column.data_type() {
        DataType::Boolean => {
            let b = column
                .as_any()
                .downcast_ref::<epicor_kinetic_sql::datafusion::arrow::array::BooleanArray>()
                .is_some_and(|a| a.value(row));
            text.push(if b { 't' } else { 'f' });
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let _ = write!(text, "{}", formatter.value(row));
            // PostgreSQL spells them so.
            match text.as_str() {
                "inf" => *text = "Infinity".into(),
                "-inf" => *text = "-Infinity".into(),
                "NaN" | "nan" => *text = "NaN".into(),
                _ => {}
            }
        }
        _ => write!(text, "{}", formatter.value(row)).map_err(api_error)?,
    }
    Ok(())
}

/// The row description of `schema`, every column in text format.
#[cfg(test)]
pub fn fields(schema: &Schema) -> Arc<Vec<FieldInfo>> {
    Arc::new(fields_as(schema, |_| FieldFormat::Text))
}

/// The row description of `schema`, each column in the format `format` gives it.
pub fn fields_as(schema: &Schema, format: impl Fn(usize) -> FieldFormat) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (ty, modifier) = pg_type(f.data_type());
            FieldInfo::new(f.name().clone(), None, None, ty, format(i)).with_type_modifier(modifier)
        })
        .collect()
}

/// A value already in its wire format (text or binary), written as it is.
#[derive(Debug)]
struct Raw<'a>(&'a [u8]);

impl ToSql for Raw<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl ToSqlText for Raw<'_> {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
        _options: &pgwire::types::format::FormatOptions,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_slice(self.0);
        Ok(IsNull::No)
    }
}

fn api_error(e: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

/// Writes the value at `row` of `column` in PostgreSQL's binary format for the type
/// [`pg_type`] gives the column; `text` is the value as text (for decimals and text).
fn binary(column: &dyn Array, row: usize, text: &str, out: &mut BytesMut) -> PgWireResult<()> {
    use epicor_kinetic_sql::datafusion::arrow::array::AsArray;
    use epicor_kinetic_sql::datafusion::arrow::datatypes as t;
    let micros = |v: i64, unit: &TimeUnit| match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v.div_euclid(1000),
    };
    match column.data_type() {
        DataType::Boolean => out.put_u8(u8::from(column.as_boolean().value(row))),
        DataType::Int8 => out.put_i16(i16::from(column.as_primitive::<t::Int8Type>().value(row))),
        DataType::Int16 => out.put_i16(column.as_primitive::<t::Int16Type>().value(row)),
        DataType::UInt8 => out.put_i16(i16::from(column.as_primitive::<t::UInt8Type>().value(row))),
        DataType::Int32 => out.put_i32(column.as_primitive::<t::Int32Type>().value(row)),
        DataType::UInt16 => {
            out.put_i32(i32::from(column.as_primitive::<t::UInt16Type>().value(row)));
        }
        DataType::Int64 => out.put_i64(column.as_primitive::<t::Int64Type>().value(row)),
        DataType::UInt32 => {
            out.put_i64(i64::from(column.as_primitive::<t::UInt32Type>().value(row)));
        }
        DataType::Float16 => {
            out.put_f32(column.as_primitive::<t::Float16Type>().value(row).to_f32());
        }
        DataType::Float32 => out.put_f32(column.as_primitive::<t::Float32Type>().value(row)),
        DataType::Float64 => out.put_f64(column.as_primitive::<t::Float64Type>().value(row)),
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            values::numeric_binary(text, out).ok_or_else(|| {
                PgWireError::ApiError(format!("{text:?} is not a decimal number").into())
            })?;
        }
        DataType::Date32 => out
            .put_i32(column.as_primitive::<t::Date32Type>().value(row) - values::DAYS_1970_TO_2000),
        DataType::Date64 => {
            let days = column
                .as_primitive::<t::Date64Type>()
                .value(row)
                .div_euclid(86_400_000);
            out.put_i32(i32::try_from(days).unwrap_or(i32::MAX) - values::DAYS_1970_TO_2000);
        }
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => column.as_primitive::<t::TimestampSecondType>().value(row),
                TimeUnit::Millisecond => column
                    .as_primitive::<t::TimestampMillisecondType>()
                    .value(row),
                TimeUnit::Microsecond => column
                    .as_primitive::<t::TimestampMicrosecondType>()
                    .value(row),
                TimeUnit::Nanosecond => column
                    .as_primitive::<t::TimestampNanosecondType>()
                    .value(row),
            };
            out.put_i64(micros(v, unit).saturating_sub(values::MICROS_1970_TO_2000));
        }
        DataType::Time32(unit) => {
            let v = match unit {
                TimeUnit::Second => column.as_primitive::<t::Time32SecondType>().value(row),
                _ => column.as_primitive::<t::Time32MillisecondType>().value(row),
            };
            out.put_i64(micros(i64::from(v), unit));
        }
        DataType::Time64(unit) => {
            let v = match unit {
                TimeUnit::Microsecond => {
                    column.as_primitive::<t::Time64MicrosecondType>().value(row)
                }
                _ => column.as_primitive::<t::Time64NanosecondType>().value(row),
            };
            out.put_i64(micros(v, unit));
        }
        DataType::Binary => out.put_slice(column.as_binary::<i32>().value(row)),
        DataType::LargeBinary => out.put_slice(column.as_binary::<i64>().value(row)),
        DataType::BinaryView => out.put_slice(column.as_binary_view().value(row)),
        _ => out.put_slice(text.as_bytes()),
    }
    Ok(())
}

/// How values are written: as PostgreSQL writes them in text (ISO dates, a space between date
/// and time, `+00` for UTC).
fn options() -> FormatOptions<'static> {
    FormatOptions::new()
        .with_date_format(Some("%Y-%m-%d"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:::z"))
}

/// The rows of `batch` under `fields`, each value as PostgreSQL's text.
pub fn rows(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let options = options();
    let columns = batch.columns();
    let formatters = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(api_error)?;
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut bytes = BytesMut::new();
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut text = String::new();
    // A column of nulls (`SELECT NULL`) has no null mask of its own: its logical one says.
    let nulls: Vec<_> = columns.iter().map(|c| c.logical_nulls()).collect();
    for row in 0..batch.num_rows() {
        for (((column, formatter), field), nulls) in columns
            .iter()
            .zip(&formatters)
            .zip(fields.iter())
            .zip(&nulls)
        {
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                encoder.encode_field(&None::<&str>)?;
                continue;
            }
            if let Some(values) = elements(column.as_ref(), row) {
                let items = element_texts(values.as_ref())?;
                if field.format() == FieldFormat::Binary {
                    bytes.clear();
                    let element = match field.datatype().kind() {
                        postgres_types::Kind::Array(e) => e.clone(),
                        _ => Type::TEXT,
                    };
                    array_binary(values.as_ref(), &items, &element, &mut bytes)?;
                    encoder.encode_field(&Raw(&bytes))?;
                } else {
                    encoder.encode_field(&Raw(array_text(&items).as_bytes()))?;
                }
                continue;
            }
            text.clear();
            value_text(column.as_ref(), formatter, row, &mut text)?;
            if field.format() == FieldFormat::Binary {
                bytes.clear();
                binary(column.as_ref(), row, &text, &mut bytes)?;
                encoder.encode_field(&Raw(&bytes))?;
            } else {
                encoder.encode_field(&Raw(text.as_bytes()))?;
            }
        }
        out.push(encoder.take_row());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use epicor_kinetic_sql::datafusion::arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, StringArray,
        TimestampMicrosecondArray,
    };

    fn texts(batch: &RecordBatch) -> Vec<String> {
        let options = options();
        (0..batch.num_columns())
            .map(|i| {
                let f = ArrayFormatter::try_new(batch.column(i).as_ref(), &options).unwrap();
                f.value(0).to_string()
            })
            .collect()
    }

    #[test]
    fn values_are_written_as_postgresql_writes_them() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "d",
                Arc::new(
                    Decimal128Array::from(vec![-1234567890123456789012345678i128])
                        .with_precision_and_scale(38, 10)
                        .unwrap(),
                ),
            ),
            ("day", Arc::new(Date32Array::from(vec![20_119]))),
            (
                "at",
                Arc::new(TimestampMicrosecondArray::from(vec![1_738_281_600_000_000])),
            ),
            (
                "utc",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![1_738_281_600_500_000])
                        .with_timezone("UTC"),
                ),
            ),
            ("s", Arc::new(StringArray::from(vec!["a b"]))),
            ("f", Arc::new(Float64Array::from(vec![f64::INFINITY]))),
            ("b", Arc::new(BooleanArray::from(vec![true]))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        assert_eq!(
            texts(&batch)[..5],
            [
                "-123456789012345678.9012345678",
                "2025-01-31",
                "2025-01-31 00:00:00",
                "2025-01-31 00:00:00.500+00",
                "a b"
            ]
        );
        let fields = fields(batch.schema().as_ref());
        assert_eq!(fields[0].datatype(), &Type::NUMERIC);
        assert_eq!(fields[0].type_modifier(), ((38 << 16) | 10) + 4);
        assert_eq!(fields[3].datatype(), &Type::TIMESTAMPTZ);
        assert_eq!(rows(&batch, &fields).unwrap().len(), 1);
    }

    #[test]
    fn lists_are_postgresql_arrays_and_null_columns_null() {
        use epicor_kinetic_sql::datafusion::arrow::array::{
            Int16Array, ListArray, NullArray, StringArray,
        };
        use epicor_kinetic_sql::datafusion::arrow::datatypes::Int16Type;
        let keys =
            ListArray::from_iter_primitive::<Int16Type, _, _>(vec![Some(vec![Some(1), Some(2)])]);
        assert_eq!(pg_type(keys.data_type()).0, Type::INT2_ARRAY);
        let items = element_texts(&StringArray::from(vec![
            Some("Company"),
            Some("a b"),
            Some("x\"y"),
            None,
            Some(""),
        ]))
        .unwrap();
        assert_eq!(array_text(&items), r#"{Company,"a b","x\"y",NULL,""}"#);
        let ints = Int16Array::from(vec![1, 2]);
        let mut out = BytesMut::new();
        array_binary(&ints, &element_texts(&ints).unwrap(), &Type::INT2, &mut out).unwrap();
        assert_eq!(
            out.as_ref(),
            [
                0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 21, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0,
                0, 0, 2, 0, 2
            ]
        );
        let batch = RecordBatch::try_from_iter(vec![
            ("k", Arc::new(keys) as ArrayRef),
            ("n", Arc::new(NullArray::new(1)) as ArrayRef),
        ])
        .unwrap();
        let fields = fields(batch.schema().as_ref());
        let rows = rows(&batch, &fields).unwrap();
        assert_eq!(rows.len(), 1);
        // `{1,2}`, then NULL (length -1), not an empty text.
        let bytes = rows[0].data.as_ref();
        assert!(bytes.ends_with(&[0xff, 0xff, 0xff, 0xff]), "{bytes:?}");
        assert!(bytes.windows(5).any(|w| w == b"{1,2}"), "{bytes:?}");
    }
}
