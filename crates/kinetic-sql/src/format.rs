//! Writing results as they stream: CSV, JSON (one array), NDJSON (a row per line), Parquet, and
//! a text table. Decimals are written exactly as Arrow holds them (never through a float);
//! timestamps of `Edm.DateTimeOffset` columns in RFC 3339 with their zone.

use crate::{QueryResult, SqlError};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures_util::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::Write;
use std::str::FromStr;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A text table (the whole result is read before the first line, to size the columns).
    Table,
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet (Snappy), to a file.
    Parquet,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "parquet" => Format::Parquet,
            other => {
                return Err(format!(
                    "unknown format {other}; use table, csv, json, ndjson or parquet"
                ))
            }
        })
    }
}

/// What writing a result did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    pub batches: u64,
}

fn io(e: impl std::fmt::Display) -> SqlError {
    SqlError::io(format!("writing the result: {e}"))
}

/// Writes `result` to `out` in `format`, batch by batch as they arrive. `on_batch` is told
/// the rows written so far (for a progress display).
pub async fn write<W: Write + Send + 'static>(
    result: QueryResult,
    format: Format,
    out: W,
    mut on_batch: impl FnMut(u64),
) -> Result<(W, Written), SqlError> {
    let schema = result.schema().clone();
    let mut stream = result.stream();
    let mut written = Written::default();
    let mut sink = Sink::new(format, schema.clone(), out)?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        written.rows += batch.num_rows() as u64;
        written.batches += 1;
        sink.write(&batch)?;
        on_batch(written.rows);
    }
    let out = sink.finish()?;
    Ok((out, written))
}

enum Sink<W: Write + Send> {
    /// The writer, its schema, and whether a batch was written (its header is written with
    /// the first batch, so an empty result writes an empty batch for it).
    Csv(datafusion::arrow::csv::Writer<W>, SchemaRef, bool),
    Json(ArrayWriter<W>),
    Ndjson(LineDelimitedWriter<W>),
    Parquet(ArrowWriter<W>),
    Table(W, SchemaRef, Vec<RecordBatch>),
}

impl<W: Write + Send> Sink<W> {
    fn new(format: Format, schema: SchemaRef, out: W) -> Result<Self, SqlError> {
        Ok(match format {
            Format::Csv => Sink::Csv(
                CsvWriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.f%:z".into())
                    .build(out),
                schema,
                false,
            ),
            Format::Json => Sink::Json(ArrayWriter::new(out)),
            Format::Ndjson => Sink::Ndjson(LineDelimitedWriter::new(out)),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                Sink::Parquet(ArrowWriter::try_new(out, schema, Some(props)).map_err(io)?)
            }
            Format::Table => Sink::Table(out, schema, Vec::new()),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SqlError> {
        match self {
            Sink::Csv(w, _, wrote) => {
                *wrote = true;
                w.write(batch).map_err(io)
            }
            Sink::Json(w) => w.write(batch).map_err(io),
            Sink::Ndjson(w) => w.write(batch).map_err(io),
            Sink::Parquet(w) => w.write(batch).map_err(io),
            Sink::Table(_, _, batches) => {
                batches.push(batch.clone());
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<W, SqlError> {
        match self {
            Sink::Csv(mut w, schema, wrote) => {
                if !wrote {
                    // No row: the header alone.
                    w.write(&RecordBatch::new_empty(schema)).map_err(io)?;
                }
                Ok(w.into_inner())
            }
            Sink::Json(mut w) => {
                w.finish().map_err(io)?;
                Ok(w.into_inner())
            }
            Sink::Ndjson(mut w) => {
                w.finish().map_err(io)?;
                Ok(w.into_inner())
            }
            Sink::Parquet(w) => w.into_inner().map_err(io),
            Sink::Table(mut out, schema, batches) => {
                out.write_all(table_text(&schema, &batches)?.as_bytes())
                    .map_err(io)?;
                Ok(out)
            }
        }
    }
}

/// The batches as a text table, with a header and a `(N rows)` line.
pub fn table_text(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, SqlError> {
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.f%:z"));
    let headers: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        for r in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let mut text = String::new();
    let line = |cells: &[String], text: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((c, w), num)| {
                let pad = w - c.chars().count();
                if *num {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        text.push_str(parts.join(" | ").trim_end());
        text.push('\n');
    };
    line(&headers, &mut text);
    text.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-"),
    );
    text.push('\n');
    for row in &rows {
        line(row, &mut text);
    }
    text.push_str(&format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    Ok(text)
}
