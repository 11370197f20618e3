//! Arrow values to Python objects (rows for the DB-API), and Python objects to parameters.
//!
//! Decimals become `decimal.Decimal` (from the exact mantissa, never a float), `Edm.Date`
//! `datetime.date`, `Edm.DateTimeOffset` an aware `datetime.datetime` in UTC, naive timestamps
//! naive datetimes, times of day `datetime.time`, GUIDs (`Edm.Guid` in the field's metadata)
//! `uuid.UUID`, text `str`.

use crate::errors::{NotSupportedError, ProgrammingError};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float64Type, Int64Type, Time64MicrosecondType,
    TimeUnit, TimestampMicrosecondType, UInt64Type,
};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate, Timelike};
use epicor_kinetic_sql::literal::decimal_text;
use epicor_kinetic_sql::Param;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString, PyTuple};

/// What a column's values become in Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyKind {
    Bool,
    Int,
    Float,
    Decimal,
    Str,
    Uuid,
    Date,
    /// Aware, UTC.
    DateTimeUtc,
    /// Naive.
    DateTime,
    /// A time of day (naive).
    Time,
    Bytes,
    /// No values (`NULL` typed column).
    None,
}

impl PyKind {
    /// The kind for a field (what `Cursor.description` names too).
    pub fn of(field: &Field) -> PyKind {
        match field.data_type() {
            DataType::Boolean => PyKind::Bool,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => PyKind::Int,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => PyKind::Float,
            DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => PyKind::Decimal,
            DataType::Date32 | DataType::Date64 => PyKind::Date,
            DataType::Timestamp(_, Some(_)) => PyKind::DateTimeUtc,
            DataType::Timestamp(_, None) => PyKind::DateTime,
            DataType::Time32(_) | DataType::Time64(_) => PyKind::Time,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => PyKind::Bytes,
            DataType::Null => PyKind::None,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                if field.metadata().get("edm_type").map(String::as_str) == Some("Edm.Guid") =>
            {
                PyKind::Uuid
            }
            _ => PyKind::Str,
        }
    }

    /// Its name in `Cursor.description` (the Python package maps it to a type object).
    pub fn name(self) -> &'static str {
        match self {
            PyKind::Bool => "bool",
            PyKind::Int => "int",
            PyKind::Float => "float",
            PyKind::Decimal => "decimal",
            PyKind::Str => "str",
            PyKind::Uuid => "uuid",
            PyKind::Date => "date",
            PyKind::DateTimeUtc | PyKind::DateTime => "datetime",
            PyKind::Time => "time",
            PyKind::Bytes => "bytes",
            PyKind::None => "none",
        }
    }
}

/// What `Cursor.description` says of a column besides its name and type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Characters that show any value (PEP 249's `display_size`).
    pub display_size: Option<i32>,
    /// The column's size (PEP 249's `internal_size`): digits of a number, characters of a date,
    /// time or GUID.
    pub internal_size: Option<i32>,
    pub precision: Option<i32>,
    pub scale: Option<i32>,
}

/// The shape of a field, by its type: ODBC's column size and display size, the values
/// `sys_tablecolumns` gives (`Length`, `DisplaySize`, `NumericPrecision`, `NumericScale`) for
/// a column of that type. Text has no size here: `$metadata`'s `MaxLength` is not part of a
/// result's schema (`sys_tablecolumns.Length` has it).
pub fn shape(field: &Field) -> Shape {
    let sized = |internal: i32, display: i32, precision: Option<i32>, scale: Option<i32>| Shape {
        display_size: Some(display),
        internal_size: Some(internal),
        precision,
        scale,
    };
    let numeric = |digits: i32, display: i32| sized(digits, display, Some(digits), Some(0));
    match field.data_type() {
        DataType::Boolean => sized(1, 5, None, None),
        DataType::Int8 => numeric(3, 4),
        DataType::Int16 => numeric(5, 6),
        DataType::Int32 => numeric(10, 11),
        DataType::Int64 => numeric(19, 20),
        DataType::UInt8 => numeric(3, 3),
        DataType::UInt16 => numeric(5, 5),
        DataType::UInt32 => numeric(10, 10),
        DataType::UInt64 => numeric(20, 20),
        DataType::Float16 | DataType::Float32 => sized(7, 14, Some(7), None),
        DataType::Float64 => sized(15, 24, Some(15), None),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            let (p, s) = (i32::from(*p), i32::from(*s));
            // A sign and a point besides the digits.
            sized(p, p + 2, Some(p), Some(s))
        }
        DataType::Date32 | DataType::Date64 => sized(10, 10, None, None),
        // `2024-01-02 03:04:05.600000`.
        DataType::Timestamp(..) => sized(26, 26, None, None),
        // `03:04:05.600000`.
        DataType::Time32(_) | DataType::Time64(_) => sized(15, 15, None, None),
        _ if PyKind::of(field) == PyKind::Uuid => sized(36, 36, None, None),
        _ => Shape {
            display_size: None,
            internal_size: None,
            precision: None,
            scale: None,
        },
    }
}

struct Classes {
    decimal: Py<PyAny>,
    date: Py<PyAny>,
    datetime: Py<PyAny>,
    time: Py<PyAny>,
    utc: Py<PyAny>,
    uuid: Py<PyAny>,
    gc_isenabled: Py<PyAny>,
    gc_disable: Py<PyAny>,
    gc_enable: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let datetime = py.import("datetime")?;
        let gc = py.import("gc")?;
        Ok(Classes {
            gc_isenabled: gc.getattr("isenabled")?.unbind(),
            gc_disable: gc.getattr("disable")?.unbind(),
            gc_enable: gc.getattr("enable")?.unbind(),
            decimal: py.import("decimal")?.getattr("Decimal")?.unbind(),
            date: datetime.getattr("date")?.unbind(),
            datetime: datetime.getattr("datetime")?.unbind(),
            time: datetime.getattr("time")?.unbind(),
            utc: datetime.getattr("timezone")?.getattr("utc")?.unbind(),
            uuid: py.import("uuid")?.getattr("UUID")?.unbind(),
        })
    })
}

/// A column ready to convert: its array, in the form the kind reads.
struct Column {
    kind: PyKind,
    array: ArrayRef,
    scale: i8,
}

fn prepare(field: &Field, array: &ArrayRef) -> PyResult<Column> {
    let kind = PyKind::of(field);
    let cast = |to: DataType| {
        arrow::compute::cast(array, &to)
            .map_err(|e| crate::errors::DataError::new_err(format!("column {}: {e}", field.name())))
    };
    let (array, scale) = match (kind, array.data_type()) {
        (PyKind::Decimal, DataType::Decimal128(_, s)) => (array.clone(), *s),
        (PyKind::Decimal, DataType::Decimal32(_, s) | DataType::Decimal64(_, s)) => {
            (cast(DataType::Decimal128(38, *s))?, *s)
        }
        // Decimal256 values wider than 38 digits come out as text (exact still).
        (PyKind::Decimal, _) => (cast(DataType::Utf8)?, 0),
        (PyKind::Int, DataType::UInt64) => (array.clone(), 0),
        (PyKind::Int, _) => (cast(DataType::Int64)?, 0),
        (PyKind::Float, _) => (cast(DataType::Float64)?, 0),
        (PyKind::Date, _) => (cast(DataType::Date32)?, 0),
        (PyKind::DateTimeUtc, DataType::Timestamp(_, tz)) => (
            cast(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?,
            0,
        ),
        (PyKind::DateTime, _) => (cast(DataType::Timestamp(TimeUnit::Microsecond, None))?, 0),
        (PyKind::Time, _) => (cast(DataType::Time64(TimeUnit::Microsecond))?, 0),
        (PyKind::Bytes, _) => (cast(DataType::LargeBinary)?, 0),
        (PyKind::Str | PyKind::Uuid, DataType::LargeUtf8) => (array.clone(), 0),
        (PyKind::Str | PyKind::Uuid, _) => (cast(DataType::LargeUtf8)?, 0),
        _ => (array.clone(), 0),
    };
    Ok(Column { kind, array, scale })
}

fn value(py: Python<'_>, c: &Column, classes: &Classes, i: usize) -> PyResult<Py<PyAny>> {
    if c.array.is_null(i) {
        return Ok(py.None());
    }
    let a = &c.array;
    Ok(match c.kind {
        PyKind::None => py.None(),
        PyKind::Bool => a
            .as_boolean()
            .value(i)
            .into_pyobject(py)?
            .to_owned()
            .into_any()
            .unbind(),
        PyKind::Int => match a.data_type() {
            DataType::UInt64 => a
                .as_primitive::<UInt64Type>()
                .value(i)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            _ => a
                .as_primitive::<Int64Type>()
                .value(i)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        },
        PyKind::Float => a
            .as_primitive::<Float64Type>()
            .value(i)
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        PyKind::Decimal => match a.data_type() {
            DataType::Decimal128(..) => {
                let text = decimal_text(a.as_primitive::<Decimal128Type>().value(i), c.scale);
                classes.decimal.call1(py, (text,))?
            }
            _ => classes
                .decimal
                .call1(py, (a.as_string::<i64>().value(i),))?,
        },
        PyKind::Str => PyString::new(py, a.as_string::<i64>().value(i))
            .into_any()
            .unbind(),
        PyKind::Uuid => {
            let text = a.as_string::<i64>().value(i);
            // A server's malformed GUID stays text rather than failing the fetch.
            match classes.uuid.call1(py, (text,)) {
                Ok(u) => u,
                Err(_) => PyString::new(py, text).into_any().unbind(),
            }
        }
        PyKind::Date => {
            let days = a.as_primitive::<Date32Type>().value(i);
            let d = NaiveDate::from_num_days_from_ce_opt(days + 719_163).ok_or_else(|| {
                crate::errors::DataError::new_err(format!(
                    "{days} days after 1970-01-01 is not a date Python can hold"
                ))
            })?;
            classes.date.call1(py, (d.year(), d.month(), d.day()))?
        }
        PyKind::DateTimeUtc | PyKind::DateTime => {
            let micros = a.as_primitive::<TimestampMicrosecondType>().value(i);
            let t = chrono::DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| {
                    crate::errors::DataError::new_err(format!(
                        "{micros} µs after 1970 is not a time Python can hold"
                    ))
                })?
                .naive_utc();
            let (y, mo, d) = (t.year(), t.month(), t.day());
            let (h, mi, s, us) = (t.hour(), t.minute(), t.second(), t.nanosecond() / 1000);
            if c.kind == PyKind::DateTimeUtc {
                // An instant: whatever zone the column names, the same instant in UTC
                // (`tzinfo` is datetime's eighth positional argument).
                let utc = classes.utc.bind(py);
                classes.datetime.call1(py, (y, mo, d, h, mi, s, us, utc))?
            } else {
                classes.datetime.call1(py, (y, mo, d, h, mi, s, us))?
            }
        }
        PyKind::Time => {
            let micros = a.as_primitive::<Time64MicrosecondType>().value(i);
            let t = u64::try_from(micros)
                .ok()
                .filter(|&m| m < 86_400_000_000)
                .ok_or_else(|| {
                    crate::errors::DataError::new_err(format!(
                        "{micros} µs after midnight is not a time of day"
                    ))
                })?;
            let (s, us) = (t / 1_000_000, t % 1_000_000);
            classes
                .time
                .call1(py, (s / 3600, s / 60 % 60, s % 60, us))?
        }
        PyKind::Bytes => pyo3::types::PyBytes::new(py, a.as_binary::<i64>().value(i))
            .into_any()
            .unbind(),
    })
}

/// A batch ready to become rows: each column cast once to the form its Python values are read
/// from (not again for every `fetchone`).
pub struct Rows {
    batch: RecordBatch,
    columns: Vec<Column>,
}

impl Rows {
    pub fn new(batch: RecordBatch) -> PyResult<Rows> {
        let schema = batch.schema();
        let columns = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, a)| prepare(f, a))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Rows { batch, columns })
    }

    /// The batch as it came.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Rows `start..start + len` as tuples, appended to `out`.
    pub fn append(
        &self,
        py: Python<'_>,
        start: usize,
        len: usize,
        out: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        let classes = classes(py)?;
        // Python's cyclic garbage collector would otherwise run every few hundred tuples made
        // here and walk the rows kept so far (a third of a million-row fetchall's time,
        // measured). The rows hold no cycles: the collector is paused for the batch and resumed
        // after it, as it was. (Another thread may run meanwhile, when uuid.UUID's Python code
        // lets the GIL go: its garbage is only collected a batch later.)
        let was_enabled: bool = classes.gc_isenabled.call0(py)?.extract(py)?;
        if was_enabled {
            classes.gc_disable.call0(py)?;
        }
        let made = (|| {
            let mut row = Vec::with_capacity(self.columns.len());
            for i in start..start + len {
                row.clear();
                for c in &self.columns {
                    row.push(value(py, c, classes, i)?);
                }
                out.append(PyTuple::new(py, row.drain(..))?)?;
            }
            Ok(())
        })();
        if was_enabled {
            classes.gc_enable.call0(py)?;
        }
        made
    }
}

/// A Python value as a parameter (the `?` it is bound to is `index`, from 1, for messages).
pub fn param(py: Python<'_>, index: usize, v: &Bound<'_, PyAny>) -> PyResult<Param> {
    use pyo3::types::{PyBool, PyFloat, PyInt};
    let classes = classes(py)?;
    if v.is_none() {
        return Ok(Param::Null);
    }
    // bool before int: True is an int in Python.
    if v.is_instance_of::<PyBool>() {
        return Ok(Param::Bool(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        return v.extract::<i64>().map(Param::Int).or_else(|_| {
            // Wider than 64 bits: exact, as a decimal.
            Ok(Param::Decimal(v.str()?.to_string()))
        });
    }
    if v.is_instance_of::<PyFloat>() {
        let f: f64 = v.extract()?;
        if !f.is_finite() {
            // Epicor has no such number, and compared here NaN would order above every number.
            return Err(crate::errors::DataError::new_err(format!(
                "parameter {index}: {} is not a number Epicor can store or compare (its numbers are SQL Server decimals and integers, without NaN or infinities); use None for no value",
                v.repr()?
            )));
        }
        return Ok(Param::Float(f));
    }
    if v.is_instance(classes.decimal.bind(py))? {
        if !v.call_method0("is_finite")?.extract::<bool>()? {
            return Err(crate::errors::DataError::new_err(format!(
                "parameter {index}: {} is not a number SQL can hold",
                v.str()?
            )));
        }
        // Fixed-point text: `Decimal('1E+3')` is `1000`.
        let text: String = py
            .import("builtins")?
            .getattr("format")?
            .call1((v, "f"))?
            .extract()?;
        return Ok(Param::Decimal(text));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Param::Text(v.extract()?));
    }
    // datetime before date: a datetime is a date in Python.
    if v.is_instance(classes.datetime.bind(py))? {
        let aware = !v.call_method0("utcoffset")?.is_none();
        let t = if aware {
            v.call_method1("astimezone", (classes.utc.bind(py),))?
        } else {
            v.clone()
        };
        let get = |name: &str| -> PyResult<u32> { t.getattr(name)?.extract() };
        let naive =
            NaiveDate::from_ymd_opt(t.getattr("year")?.extract()?, get("month")?, get("day")?)
                .and_then(|d| {
                    d.and_hms_micro_opt(
                        get("hour").ok()?,
                        get("minute").ok()?,
                        get("second").ok()?,
                        get("microsecond").ok()?,
                    )
                })
                .ok_or_else(|| {
                    ProgrammingError::new_err(format!("parameter {index}: not a valid datetime"))
                })?;
        return Ok(if aware {
            Param::Timestamp(naive.and_utc())
        } else {
            Param::LocalTimestamp(naive)
        });
    }
    if v.is_instance(classes.date.bind(py))? {
        let d = NaiveDate::from_ymd_opt(
            v.getattr("year")?.extract()?,
            v.getattr("month")?.extract()?,
            v.getattr("day")?.extract()?,
        )
        .ok_or_else(|| ProgrammingError::new_err(format!("parameter {index}: not a valid date")))?;
        return Ok(Param::Date(d));
    }
    if v.is_instance(classes.time.bind(py))? {
        if !v.getattr("tzinfo")?.is_none() {
            return Err(NotSupportedError::new_err(format!(
                "parameter {index}: a time of day with a time zone ({}) cannot be bound: without a date it is no instant; give a naive datetime.time, or a datetime.datetime",
                v.repr()?
            )));
        }
        let get = |name: &str| -> PyResult<u32> { v.getattr(name)?.extract() };
        let t = chrono::NaiveTime::from_hms_micro_opt(
            get("hour")?,
            get("minute")?,
            get("second")?,
            get("microsecond")?,
        )
        .ok_or_else(|| ProgrammingError::new_err(format!("parameter {index}: not a valid time")))?;
        return Ok(Param::Time(t));
    }
    if v.is_instance(classes.uuid.bind(py))? {
        return Ok(Param::Text(v.str()?.to_string()));
    }
    Err(NotSupportedError::new_err(format!(
        "parameter {index}: a {} cannot be bound; use None, bool, int, float, decimal.Decimal, str, datetime.date, datetime.datetime, datetime.time or uuid.UUID",
        v.get_type().name()?
    )))
}
