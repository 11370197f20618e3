//! `kinetic export`: an entity set to CSV, NDJSON or JSON, streamed page by page.
//!
//! The file is written under a temporary name beside the output and renamed into place only when
//! every row is written, so an interrupted or failed export never leaves a half-written file under
//! the final name (and never replaces an older complete one).

use crate::common::{parse_target, usage, ConnectionArgs, Failure};
use crate::data::QueryArgs;
use clap::{Args, ValueEnum};
use epicor_kinetic::api::{Record, TypedValue};
use futures_util::TryStreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
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
    let to_file = args
        .output
        .as_ref()
        .filter(|p| p.as_os_str() != "-")
        .cloned();
    // Check the destination before any network call.
    let pending = match &to_file {
        Some(path) => Some(Pending::create(path)?),
        None => None,
    };
    let connection = args.connection.open().await?;
    let query = args.query.query(&connection, &target)?;
    let columns = query.columns().await?;
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    let bar = if show_progress {
        let total = match query.count().await {
            Ok(n) => {
                let after_skip = n.saturating_sub(args.query.skip.unwrap_or(0));
                let limits = [args.query.top, connection.settings().max_rows];
                Some(limits.iter().flatten().fold(after_skip, |t, l| t.min(*l)))
            }
            Err(_) => None, // no estimate; the rows still come
        };
        progress_bar(total)
    } else {
        ProgressBar::hidden()
    };

    let started = Instant::now();
    let write = async {
        let sink: Box<dyn Write + Send> = match &pending {
            Some(p) => Box::new(p.file.reopen().map_err(|e| Failure::Io {
                what: format!("opening {}", p.temp_path().display()),
                source: e,
            })?),
            None => Box::new(std::io::stdout()),
        };
        let mut writer = RowWriter::new(sink, args.format, &columns)?;
        let mut stream = Box::pin(query.records());
        let mut n: u64 = 0;
        while let Some(record) = stream.try_next().await? {
            writer.write(&record)?;
            n += 1;
            if n % 256 == 0 {
                bar.set_position(n);
            }
        }
        writer.finish()?;
        bar.set_position(n);
        Ok::<u64, Failure>(n)
    };
    let rows = tokio::select! {
        r = write => r,
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            // `pending` is dropped with its temporary file: nothing under the final name.
            return Err(Failure::Interrupted);
        }
    };
    let rows = match rows {
        Ok(n) => n,
        Err(e) => {
            bar.abandon();
            return Err(e);
        }
    };
    bar.finish_and_clear();
    let place = match pending {
        Some(p) => {
            let path = p.persist()?;
            path.display().to_string()
        }
        None => "standard output".into(),
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "exported {rows} rows to {place} in {secs:.1} s ({:.0} rows/s)",
        rows as f64 / secs.max(1e-9)
    );
    let _ = connection.close().await;
    Ok(())
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let style = if total.is_some() {
        ProgressStyle::with_template(
            "{spinner} {bar:30} {human_pos}/{human_len} rows  {rate}  {elapsed_precise} elapsed, ~{eta} left",
        )
    } else {
        ProgressStyle::with_template("{spinner} {human_pos} rows  {rate}  {elapsed_precise}")
    };
    if let Ok(style) = style {
        bar.set_style(style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} rows/s", state.per_sec());
            },
        ));
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// An output file being written under a temporary name in its directory.
struct Pending {
    file: tempfile::NamedTempFile,
    target: PathBuf,
}

impl Pending {
    fn create(target: &Path) -> Result<Pending, Failure> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if target.is_dir() {
            return Err(usage(
                format!("{} is a directory", target.display()),
                "give a file name, e.g. -o lines.csv",
            ));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "export".into());
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|e| {
                usage(
                    format!("cannot write in {}: {e}", dir.display()),
                    "give -o a file in a directory that exists and that you may write to",
                )
            })?;
        Ok(Pending {
            file,
            target: target.to_path_buf(),
        })
    }

    fn temp_path(&self) -> &Path {
        self.file.path()
    }

    fn persist(self) -> Result<PathBuf, Failure> {
        let target = self.target.clone();
        self.file.as_file().sync_all().map_err(|e| Failure::Io {
            what: format!("writing {}", self.file.path().display()),
            source: e,
        })?;
        self.file.persist(&target).map_err(|e| Failure::Io {
            what: format!("moving the export into place at {}", target.display()),
            source: e.error,
        })?;
        Ok(target)
    }
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
    Failure::Io {
        what: "writing the export".into(),
        source: e,
    }
}

fn csv_error(e: csv::Error) -> Failure {
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
            ExportFormat::Ndjson | ExportFormat::Json => {
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
