//! `kinetic export`: an entity set to CSV, NDJSON, JSON or Parquet, streamed page by page.
//!
//! A regular file (or a new one) is written under a temporary name beside it and renamed into
//! place only when every row is written (and synced), so an interrupted or failed export never
//! leaves a half-written file under the final name (and never replaces an older complete one).
//! The new file honours the umask; one replaced keeps its mode (and owner, where allowed).
//! Symbolic links are followed: the file they lead to is replaced (a dangling link's target is
//! made) and the links stay. Anything else (a device such as /dev/null, a FIFO, a socket) is
//! written through and never replaced, as is standard output.

use crate::common::{parse_target, usage, ConnectionArgs, Failure};
use crate::data::QueryArgs;
use crate::sink::{parquet_to_terminal, progress_bar, Output};
use clap::{Args, ValueEnum};
use epicor_kinetic::api::{Record, TypedValue};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

/// The file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values with a header row (RFC 4180 quoting); null is an empty field.
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// One JSON array of objects.
    Json,
    /// Apache Parquet (Snappy), columns typed from `$metadata` (decimals exact); a file or a
    /// pipe, never a terminal; not with --expand.
    Parquet,
}

/// `kinetic export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Service/EntitySet: Erp.BO.SalesOrderSvc/OrderDtls
    #[arg(value_name = "SERVICE/SET")]
    pub target: String,
    #[command(flatten)]
    pub query: QueryArgs,
    /// The file format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// The output file; `-` or none for standard output.
    ///
    /// A regular file appears under its name only when complete (written beside it under a
    /// temporary name, synced, renamed over it); a new one gets the mode the umask gives, one
    /// replaced keeps its mode. A symbolic link is followed: the file it leads to is replaced
    /// (or made, for a dangling link) and the link stays. A device (/dev/null), a FIFO or a
    /// socket is written through as it is, never replaced.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub async fn export(args: ExportArgs) -> Result<(), Failure> {
    let target = parse_target(
        &args.target,
        "entity set",
        "Erp.BO.SalesOrderSvc/OrderDtls -o lines.csv",
    )?;
    if target.keys.is_some() {
        return Err(usage(
            "export reads an entity set, not one row",
            "drop the key, or use `kinetic get` for one row",
        ));
    }
    if args.format == ExportFormat::Parquet && args.query.expand.is_some() {
        return Err(usage(
            "--expand cannot go with --format parquet: a Parquet file holds flat columns",
            "export the related entity set on its own (e.g. kinetic export Erp.BO.SalesOrderSvc/OrderDtls --format parquet -o lines.parquet), or use --format ndjson or json for nested rows",
        ));
    }
    // Check the destination before any network call (see `Output::open`).
    let mut output = Output::open(args.output.as_deref())?;
    if args.format == ExportFormat::Parquet && output.terminal {
        return Err(parquet_to_terminal());
    }
    let sink = output.take_sink();
    let bar = std::cell::RefCell::new(ProgressBar::hidden());
    let started = std::cell::Cell::new(Instant::now());
    let work = async {
        let connection = args.connection.open().await?;
        let query = args.query.query(&connection, &target)?;
        let columns = query.columns().await?;
        let show_progress = !args.no_progress && std::io::stderr().is_terminal();
        if show_progress {
            let total = match query.count().await {
                Ok(n) => {
                    let after_skip = n.saturating_sub(args.query.skip.unwrap_or(0));
                    let limits = [args.query.rows.top, connection.settings().max_rows];
                    Some(limits.iter().flatten().fold(after_skip, |t, l| t.min(*l)))
                }
                Err(_) => None, // no estimate; the rows still come
            };
            *bar.borrow_mut() = progress_bar(total);
        }
        let bar = bar.borrow().clone();
        started.set(Instant::now());
        if args.format == ExportFormat::Parquet {
            let n = write_parquet(query, &columns, sink, &bar).await?;
            return Ok::<_, Failure>((n, connection));
        }
        let mut writer = RowWriter::new(sink, args.format, &columns)?;
        let mut stream = Box::pin(query.records());
        let mut n: u64 = 0;
        while let Some(record) = stream.try_next().await? {
            writer.write(&record)?;
            n += 1;
            if n.is_multiple_of(256) {
                bar.set_position(n);
            }
        }
        writer.finish()?;
        bar.set_position(n);
        Ok::<_, Failure>((n, connection))
    };
    let outcome = output.guard(work).await;
    let bar = bar.into_inner();
    let (rows, connection) = match outcome {
        Ok(done) => done,
        Err(e) => {
            bar.abandon();
            // `output` is dropped with its temporary file: nothing under the final name.
            return Err(e);
        }
    };
    bar.finish_and_clear();
    let place = output.finish()?;
    let secs = started.get().elapsed().as_secs_f64();
    eprintln!(
        "exported {rows} rows to {place} in {secs:.1} s ({:.0} rows/s)",
        rows as f64 / secs.max(1e-9)
    );
    let _ = connection.close().await;
    Ok(())
}

/// The export as Parquet: each page decoded into an Arrow batch as the SQL scans decode it
/// (`epicor_kinetic_sql::arrow`: decimals exact, dates and timestamps typed from `$metadata`),
/// written by the SQL layer's Parquet writer. The query is the one the other formats send.
async fn write_parquet(
    query: epicor_kinetic::api::EntitySetQuery,
    columns: &[epicor_kinetic::api::Column],
    sink: Box<dyn Write + Send>,
    bar: &ProgressBar,
) -> Result<u64, Failure> {
    use epicor_kinetic_sql::{arrow, format, QueryResult, SqlError};
    let schema = arrow::schema_of(columns);
    let page_schema = schema.clone();
    let batches = query.json_pages().map(move |page| {
        let page = page.map_err(SqlError::from)?;
        arrow::batch_of(&page, &page_schema).map_err(SqlError::from)
    });
    let result = QueryResult::from_batches(schema, batches);
    let (sink, broken) = crate::sink::Watched::new(sink);
    let (mut out, written) = format::write(result, format::Format::Parquet, sink, |n| {
        bar.set_position(n)
    })
    .await
    .map_err(|e| crate::sink::failure(e, &broken))?;
    out.flush().map_err(io_error)?;
    bar.set_position(written.rows);
    Ok(written.rows)
}

/// Writes records in one of the formats.
struct RowWriter {
    format: ExportFormat,
    csv: Option<csv::Writer<Box<dyn Write + Send>>>,
    plain: Option<std::io::BufWriter<Box<dyn Write + Send>>>,
    first: bool,
    cell: String,
}

fn io_error(e: std::io::Error) -> Failure {
    // Standard output or a FIFO whose reader has gone: a quiet end, as for every command.
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Failure::ClosedPipe;
    }
    Failure::Io {
        what: "writing the export".into(),
        source: e,
    }
}

fn csv_error(e: csv::Error) -> Failure {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if io.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::ClosedPipe;
        }
    }
    io_error(std::io::Error::other(e))
}

impl RowWriter {
    /// A writer of `format` to `sink`; CSV starts with the header of `columns`.
    fn new(
        sink: Box<dyn Write + Send>,
        format: ExportFormat,
        columns: &[epicor_kinetic::api::Column],
    ) -> Result<Self, Failure> {
        let mut w = RowWriter {
            format,
            csv: None,
            plain: None,
            first: true,
            cell: String::new(),
        };
        match format {
            ExportFormat::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .buffer_capacity(1 << 20)
                    .from_writer(sink);
                csv.write_record(columns.iter().map(|c| c.name.as_str()))
                    .map_err(csv_error)?;
                w.csv = Some(csv);
            }
            ExportFormat::Ndjson | ExportFormat::Json | ExportFormat::Parquet => {
                let mut plain = std::io::BufWriter::with_capacity(1 << 20, sink);
                if format == ExportFormat::Json {
                    plain.write_all(b"[").map_err(io_error)?;
                }
                w.plain = Some(plain);
            }
        }
        Ok(w)
    }

    fn write(&mut self, record: &Record) -> Result<(), Failure> {
        if let Some(csv) = &mut self.csv {
            for value in record.values() {
                self.cell.clear();
                if !matches!(value, TypedValue::Null) {
                    use std::fmt::Write as _;
                    let _ = write!(self.cell, "{value}");
                }
                csv.write_field(&self.cell).map_err(csv_error)?;
            }
            csv.write_record(None::<&[u8]>).map_err(csv_error)?;
            return Ok(());
        }
        let out = self.plain.as_mut().expect("a writer");
        let text = record.to_json_text();
        match self.format {
            ExportFormat::Json => {
                out.write_all(if self.first { b"\n" } else { b",\n" })
                    .map_err(io_error)?;
                out.write_all(text.as_bytes()).map_err(io_error)?;
            }
            _ => {
                out.write_all(text.as_bytes()).map_err(io_error)?;
                out.write_all(b"\n").map_err(io_error)?;
            }
        }
        self.first = false;
        Ok(())
    }

    fn finish(mut self) -> Result<(), Failure> {
        if let Some(mut csv) = self.csv.take() {
            csv.flush().map_err(io_error)?;
            csv.into_inner()
                .map_err(|e| io_error(e.into_error()))?
                .flush()
                .map_err(io_error)?;
        }
        if let Some(mut out) = self.plain.take() {
            if self.format == ExportFormat::Json {
                out.write_all(b"\n]\n").map_err(io_error)?;
            }
            out.flush().map_err(io_error)?;
            out.into_inner()
                .map_err(|e| io_error(e.into_error()))?
                .flush()
                .map_err(io_error)?;
        }
        Ok(())
    }
}
