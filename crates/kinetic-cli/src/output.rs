//! Printing results: a readable table on a terminal, JSON for scripts.
//!
//! Everything a command prints on standard output goes through [`print`] (or the [`outln!`] and
//! [`out!`] macros, or [`stdout_error`] for a writer of its own), never `println!`, which panics
//! when the reader has gone (`kinetic get ... | head -1`). A closed pipe is normal: it becomes
//! [`Failure::ClosedPipe`], a quiet exit with 141, the status a shell reports for SIGPIPE.

use crate::common::Failure;
use crate::exact::Json;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::Value;
use std::io::Write;

/// The failure of a write to standard output: [`Failure::ClosedPipe`] when the reader closed
/// it, else an I/O failure.
pub fn stdout_error(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::ClosedPipe
    } else {
        Failure::Io {
            what: "writing to standard output".into(),
            source: e,
        }
    }
}

/// Writes `args` to standard output and flushes it.
pub fn print(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// `print!` that returns the failure (a closed pipe, quietly) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!($($arg)*))
    };
}

/// `println!` that returns the failure (a closed pipe, quietly) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// The widest a table cell is shown; longer text is cut with `…` (JSON output is never cut).
const CELL_WIDTH: usize = 60;

/// A table of `headers` and `rows` on stdout.
pub fn table(headers: &[String], rows: &[Vec<String>]) -> Result<(), Failure> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers);
    for row in rows {
        t.add_row(row.iter().map(|c| cut(c)));
    }
    outln!("{t}")
}

/// A cell's text, one line, cut to [`CELL_WIDTH`] characters.
pub fn cut(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= CELL_WIDTH {
        one_line
    } else {
        let mut s: String = one_line.chars().take(CELL_WIDTH - 1).collect();
        s.push('…');
        s
    }
}

/// A JSON value's text in a table: strings bare, the rest as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// JSON on stdout: pretty on a terminal, compact otherwise, one document and a newline.
pub fn json(value: &Value) -> Result<(), Failure> {
    let text = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .unwrap_or_else(|_| "null".into());
    outln!("{text}")
}

/// Rows of JSON objects as a table: the columns of the first row, in order, then any others.
/// No rows: `no rows`, not an empty box.
pub fn rows_table(rows: &[serde_json::Map<String, Value>]) -> Result<(), Failure> {
    let rows: Vec<Json> = rows.iter().map(Json::from).collect();
    exact_rows_table(&exact_objects(&rows).unwrap_or_default())
}

/// One typed row as a two-column table (name, value).
pub fn record_table(record: &epicor_kinetic::api::Record) -> Result<(), Failure> {
    column_value_table(
        record
            .columns()
            .iter()
            .zip(record.values())
            .map(|(c, v)| vec![c.name.clone(), v.to_string()])
            .collect(),
    )
}

fn column_value_table(rows: Vec<Vec<String>>) -> Result<(), Failure> {
    table(&["column".into(), "value".into()], &rows)
}

/// Typed rows as a table under `columns` (their shared columns).
pub fn records_table(
    columns: &[epicor_kinetic::api::Column],
    records: &[epicor_kinetic::api::Record],
) -> Result<(), Failure> {
    if records.is_empty() {
        return no_rows();
    }
    let headers: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let cells: Vec<Vec<String>> = records
        .iter()
        .map(|r| r.values().iter().map(ToString::to_string).collect())
        .collect();
    table(&headers, &cells)
}

/// What an empty table prints.
fn no_rows() -> Result<(), Failure> {
    outln!("no rows")
}

/// A JSON answer as a table: its rows (`value`, or the row tables of a `returnObj` tableset), or
/// its fields (nested values as compact JSON); JSON when `as_table` is false. Numbers print as
/// the server wrote them (see [`crate::exact`]).
pub fn answer(value: &Json, as_table: bool) -> Result<(), Failure> {
    if !as_table {
        return exact_json(value);
    }
    match value {
        Json::Object(members) => {
            if let Some(Json::Array(rows)) = value.get("value") {
                if let Some(objs) = exact_objects(rows) {
                    return exact_rows_table(&objs);
                }
            }
            if members
                .iter()
                .all(|(_, v)| !matches!(v, Json::Object(_) | Json::Array(_)))
            {
                return exact_object_table(members);
            }
            if let Some(ds) = value.get("returnObj").filter(|v| v.members().is_some()) {
                if tableset_tables(ds)? {
                    return Ok(());
                }
            }
            exact_object_table(members)
        }
        Json::Array(rows) => match exact_objects(rows) {
            Some(objs) => exact_rows_table(&objs),
            None => table(
                &["value".into()],
                &rows.iter().map(|v| vec![v.cell()]).collect::<Vec<_>>(),
            ),
        },
        other => table(&["value".into()], &[vec![other.cell()]]),
    }
}

/// A BO tableset as one titled table per row table with rows (which members are row tables is
/// the connector's [`Tableset`](epicor_kinetic::api::Tableset) rule); false when it has no rows
/// to show.
fn tableset_tables(ds: &Json) -> Result<bool, Failure> {
    let Ok(shape) = epicor_kinetic::api::Tableset::from_value(ds.to_value()) else {
        return Ok(false);
    };
    let tables: Vec<(&str, &[Json])> = shape
        .table_names()
        .into_iter()
        .filter_map(|name| match ds.get(name) {
            Some(Json::Array(rows)) if !rows.is_empty() => Some((name, rows.as_slice())),
            _ => None,
        })
        .collect();
    if tables.is_empty() {
        return Ok(false);
    }
    for (name, rows) in tables {
        let n = rows.len();
        outln!("{name} ({n} row{})", if n == 1 { "" } else { "s" })?;
        if let Some(objs) = exact_objects(rows) {
            exact_rows_table(&objs)?;
        }
    }
    Ok(true)
}

/// JSON on stdout, numbers as written: pretty on a terminal, compact otherwise.
pub fn exact_json(value: &Json) -> Result<(), Failure> {
    let pretty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    outln!("{}", value.text(pretty))
}

fn exact_objects(rows: &[Json]) -> Option<Vec<&[(String, Json)]>> {
    rows.iter().map(Json::members).collect()
}

/// Rows of objects as a table: the columns of the first row, in order, then any others.
fn exact_rows_table(rows: &[&[(String, Json)]]) -> Result<(), Failure> {
    if rows.is_empty() {
        return no_rows();
    }
    let mut headers: Vec<String> = Vec::new();
    for row in rows {
        for (k, _) in row.iter() {
            if !headers.contains(k) {
                headers.push(k.clone());
            }
        }
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            headers
                .iter()
                .map(|h| {
                    r.iter()
                        .find(|(k, _)| k == h)
                        .map(|(_, v)| v.cell())
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    table(&headers, &cells)
}

fn exact_object_table(members: &[(String, Json)]) -> Result<(), Failure> {
    column_value_table(
        members
            .iter()
            .map(|(k, v)| vec![k.clone(), v.cell()])
            .collect(),
    )
}
