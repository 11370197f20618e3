//! `kinetic sql`: SQL over the connection (`epicor-kinetic-sql`, on Apache DataFusion), one
//! statement, a file of them, or an interactive shell.
//!
//! Results stream to standard output or to `-o FILE` through the same safe output as `kinetic
//! export` (a temporary file renamed into place when complete; devices, FIFOs and links as
//! there). Errors map to the command line's exit codes: the statement's fault (bad SQL, an
//! unknown table or column, a type error) is 2, the connector's errors keep their codes.

use crate::common::{report_code, usage, ConnectionArgs, Failure};
use crate::output::outln;
use crate::sink::{failure, parquet_to_terminal, progress_bar, Output, Watched};
use clap::{Args, ValueEnum};
use epicor_kinetic_sql::format::{self, Format};
use epicor_kinetic_sql::{SqlError, SqlErrorKind, SqlSession};
use indicatif::ProgressBar;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// How a result is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// A text table with a `(N rows)` line (read whole before the first line is printed).
    Table,
    /// Comma-separated values with a header row; null is an empty field.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet (Snappy): to a file or a pipe, never a terminal.
    Parquet,
}

impl From<SqlFormat> for Format {
    fn from(f: SqlFormat) -> Format {
        match f {
            SqlFormat::Table => Format::Table,
            SqlFormat::Csv => Format::Csv,
            SqlFormat::Json => Format::Json,
            SqlFormat::Ndjson => Format::Ndjson,
            SqlFormat::Parquet => Format::Parquet,
        }
    }
}

/// `kinetic sql`.
#[derive(Args)]
pub struct SqlArgs {
    /// The statement (or several, each ended by `;`); `-` reads them from standard input.
    /// Without one: the interactive shell on a terminal, else the statements piped in.
    #[arg(value_name = "STATEMENT", conflicts_with = "file")]
    pub statement: Option<String>,
    /// Run the statements of FILE (each ended by `;`; `--` and `/* */` comments allowed),
    /// stopping at the first that fails.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    pub file: Option<PathBuf>,
    /// The output format. Default: from -o's extension (.csv, .json, .ndjson, .parquet; csv for
    /// others), else a table on a terminal and CSV when standard output is not one.
    #[arg(long, value_enum)]
    pub format: Option<SqlFormat>,
    /// Write the result to FILE (one statement only): it appears under its name only when
    /// complete, as for `kinetic export -o` (devices, FIFOs and links as described there).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the statement's plan and the OData requests its scans send, instead of running
    /// it (`EXPLAIN SELECT ...` in table format prints the same).
    #[arg(long)]
    pub explain: bool,
    /// No progress line while writing to a file, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// After each statement, print on standard error what it cost: rows returned, rows the
    /// server sent, every request made for it ($metadata, pages, $count), seconds (`sql: 10
    /// rows returned, 10 rows transferred in 1 request, 0.05 s`): how much of the work the
    /// server did.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `kinetic sql`.
pub async fn sql(args: SqlArgs) -> Result<(), Failure> {
    let script = match (&args.statement, &args.file) {
        (Some(s), _) if s == "-" => Some((read_stdin()?, "standard input".to_owned())),
        (Some(s), _) => Some((s.clone(), "the STATEMENT argument".to_owned())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                usage(
                    format!("cannot read {}: {e}", path.display()),
                    "give -f a file of SQL statements that exists and can be read",
                )
            })?;
            Some((text, path.display().to_string()))
        }
        (None, None) => None,
    };
    let Some((text, from)) = script else {
        if args.output.is_some() || args.explain {
            return Err(usage(
                "-o and --explain apply to a statement, and none was given",
                "give it, e.g. kinetic sql \"SELECT Name FROM Customers LIMIT 5\" -o names.csv",
            ));
        }
        let format = choose_format(args.format, None);
        if format == Format::Parquet && std::io::stdout().is_terminal() {
            return Err(parquet_to_terminal());
        }
        return shell(&args.connection, format).await;
    };
    let statements = split_script(&text);
    if statements.is_empty() {
        return Err(usage(
            format!("{from} holds no SQL statement"),
            "give one, e.g. kinetic sql \"SELECT Name FROM Customers LIMIT 5\"",
        ));
    }
    if statements.len() > 1 && args.output.is_some() {
        return Err(usage(
            format!(
                "-o writes one result, and {from} holds {} statements",
                statements.len()
            ),
            "run them one at a time, or leave out -o to print each result",
        ));
    }
    let format = choose_format(args.format, args.output.as_deref());
    // The destination is checked before any network call.
    let mut output = Output::open(args.output.as_deref())?;
    if format == Format::Parquet && output.terminal && !args.explain {
        return Err(parquet_to_terminal());
    }
    let named = args.output.is_some() && args.output.as_deref() != Some(Path::new("-"));
    let show_progress = named && !args.no_progress && std::io::stderr().is_terminal();
    let mut sink = Some(output.take_sink());
    let started = Instant::now();
    let explain = args.explain;
    let stats = args.stats;
    let work = async {
        let session = open(&args.connection).await?;
        let mut rows = 0;
        for statement in &statements {
            let out = sink
                .take()
                .unwrap_or_else(|| Box::new(std::io::stdout()) as Box<dyn Write + Send>);
            let bar = if show_progress {
                progress_bar(None)
            } else {
                ProgressBar::hidden()
            };
            session.transfer().reset();
            let began = Instant::now();
            let result = run(&session, statement, format, explain, out, &bar).await;
            bar.finish_and_clear();
            rows = result?;
            if stats {
                let t = session.transfer();
                eprintln!(
                    "sql: {}, {} transferred in {}, {:.3} s",
                    plural(rows, "row returned", "rows returned"),
                    plural(t.rows(), "row", "rows"),
                    plural(t.requests(), "request", "requests"),
                    began.elapsed().as_secs_f64()
                );
            }
        }
        let _ = session.connection().close().await;
        Ok::<u64, Failure>(rows)
    };
    let rows = output.guard(work).await?;
    let place = output.finish()?;
    if named {
        let secs = started.elapsed().as_secs_f64();
        eprintln!("wrote {rows} rows to {place} in {secs:.1} s");
    }
    Ok(())
}

/// The format: as given, else from the output file's extension, else a table on a terminal and
/// CSV otherwise.
fn choose_format(given: Option<SqlFormat>, output: Option<&Path>) -> Format {
    if let Some(f) = given {
        return f.into();
    }
    match output.filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            match ext.as_str() {
                "json" => Format::Json,
                "ndjson" | "jsonl" => Format::Ndjson,
                "parquet" | "pq" => Format::Parquet,
                _ => Format::Csv,
            }
        }
        None if std::io::stdout().is_terminal() => Format::Table,
        None => Format::Csv,
    }
}

fn read_stdin() -> Result<String, Failure> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Failure::Io {
        what: "reading the statement from standard input".into(),
        source: e,
    })?;
    Ok(s)
}

/// The connection and a SQL session over it.
async fn open(connection: &ConnectionArgs) -> Result<SqlSession, Failure> {
    let connection = connection.open().await?;
    SqlSession::new(connection)
        .await
        .map_err(|e| failure(e, &AtomicBool::new(false)))
}

/// Runs one statement and writes its result (or, with `explain`, its plan) to `out`; returns
/// the rows written.
async fn run(
    session: &SqlSession,
    statement: &str,
    format: Format,
    explain: bool,
    out: Box<dyn Write + Send>,
    bar: &ProgressBar,
) -> Result<u64, Failure> {
    let (out, broken) = Watched::new(out);
    let explained = if explain {
        Some(statement.to_owned())
    } else if format == Format::Table {
        strip_explain(statement).map(|_| statement.to_owned())
    } else {
        None
    };
    if let Some(statement) = explained {
        let text = explain_text(session, &statement)
            .await
            .map_err(|e| failure(e, &broken))?;
        let mut out = out;
        return match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(0),
            Err(e) => Err(write_error(e)),
        };
    }
    let result = session
        .query(statement)
        .await
        .map_err(|e| failure(e, &broken))?;
    let (mut out, written) = format::write(result, format, out, |n| bar.set_position(n))
        .await
        .map_err(|e| failure(e, &broken))?;
    // The JSON array ends its line, as every other format's text does.
    if format == Format::Json {
        out.write_all(b"\n").map_err(write_error)?;
    }
    out.flush().map_err(write_error)?;
    Ok(written.rows)
}

/// A failed write of a result: a closed pipe is a quiet end, as for every command.
fn write_error(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Failure::ClosedPipe;
    }
    Failure::Io {
        what: "writing the result".into(),
        source: e,
    }
}

/// The statement after a leading `EXPLAIN` (and its `ANALYZE`/`VERBOSE`), when it has one.
fn strip_explain(statement: &str) -> Option<&str> {
    let mut rest = statement.trim_start();
    let word = |s: &str, w: &str| {
        s.len() > w.len()
            && s[..w.len()].eq_ignore_ascii_case(w)
            && s[w.len()..].starts_with(char::is_whitespace)
    };
    if !word(rest, "EXPLAIN") {
        return None;
    }
    rest = rest[7..].trim_start();
    for w in ["ANALYZE", "VERBOSE"] {
        if word(rest, w) {
            rest = rest[w.len()..].trim_start();
        }
    }
    Some(rest)
}

/// The plan of `statement` (`EXPLAIN ...` as written, or the statement to explain), then the
/// OData request each scan sends (its first page).
async fn explain_text(session: &SqlSession, statement: &str) -> Result<String, SqlError> {
    let (explain, query) = match strip_explain(statement) {
        Some(query) => (statement.to_owned(), query.to_owned()),
        None => (format!("EXPLAIN {statement}"), statement.to_owned()),
    };
    let result = session.query(&explain).await?;
    // The plan's rows as JSON objects: {"plan_type": ..., "plan": ...}.
    let (lines, _) = format::write(result, Format::Ndjson, Vec::new(), |_| {}).await?;
    let mut text = String::new();
    for line in String::from_utf8_lossy(&lines).lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let kind = row["plan_type"].as_str().unwrap_or("plan");
        text.push_str(kind);
        text.push_str(":\n");
        for l in row["plan"].as_str().unwrap_or_default().lines() {
            text.push_str("  ");
            text.push_str(l);
            text.push('\n');
        }
    }
    let requests = session.requests_of(&query).await?;
    text.push_str("OData requests (the first page of each scan):\n");
    if requests.is_empty() {
        text.push_str("  none (nothing is read from an entity set or BAQ)\n");
    }
    for r in requests {
        text.push_str("  ");
        text.push_str(&r);
        text.push('\n');
    }
    Ok(text)
}

/// Splits `text` into its statements (each ended by `;`, the last one may lack it), comments
/// and blank statements dropped from the count but kept in the text.
pub(crate) fn split_script(text: &str) -> Vec<String> {
    let (mut statements, rest, rest_has_code) = split(text);
    if rest_has_code {
        statements.push(rest.trim().to_owned());
    }
    statements
}

/// Splits `text` at each `;` outside quotes ('...', "...") and comments (`--`, `/* */`): the
/// complete statements (trimmed, without their `;`, blank ones left out), the unfinished rest,
/// and whether that rest holds anything but blanks and comments.
pub(crate) fn split(text: &str) -> (Vec<String>, String, bool) {
    #[derive(PartialEq)]
    enum State {
        Code,
        Single,
        Double,
        Line,
        Block,
    }
    let bytes = text.as_bytes();
    let mut state = State::Code;
    let mut statements = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::Code => match c {
                b'\'' => {
                    state = State::Single;
                    has_code = true;
                }
                b'"' => {
                    state = State::Double;
                    has_code = true;
                }
                b'-' if next == Some(b'-') => {
                    state = State::Line;
                    i += 1;
                }
                b'/' if next == Some(b'*') => {
                    state = State::Block;
                    i += 1;
                }
                b';' => {
                    if has_code {
                        statements.push(text[start..i].trim().to_owned());
                    }
                    start = i + 1;
                    has_code = false;
                }
                c if c.is_ascii_whitespace() => {}
                _ => has_code = true,
            },
            // A doubled quote inside is the quote itself.
            State::Single | State::Double => {
                let quote = if state == State::Single { b'\'' } else { b'"' };
                if c == quote {
                    if next == Some(quote) {
                        i += 1;
                    } else {
                        state = State::Code;
                    }
                }
            }
            State::Line => {
                if c == b'\n' {
                    state = State::Code;
                }
            }
            State::Block => {
                if c == b'*' && next == Some(b'/') {
                    state = State::Code;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    (statements, text[start..].to_owned(), has_code)
}

/// The shell's own commands.
#[derive(Debug, PartialEq)]
enum Meta {
    Quit,
    Help,
    Tables,
    Describe(String),
    Unknown(String),
}

fn meta(line: &str) -> Meta {
    let line = line.trim().trim_end_matches(';').trim();
    let (command, argument) = match line.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (line, ""),
    };
    match (command, argument) {
        ("\\q" | "\\quit", _) => Meta::Quit,
        ("\\?" | "\\h" | "\\help", _) => Meta::Help,
        ("\\d" | "\\dt", "") => Meta::Tables,
        ("\\d", name) => Meta::Describe(name.to_owned()),
        _ => Meta::Unknown(command.to_owned()),
    }
}

const SHELL_HELP: &str = "\
Statements end with `;` and may span lines; Ctrl-C cancels the one running (or the line being
typed), Ctrl-D or \\q quits. The shell's commands:
  \\d          list the tables (SchemaName, TableName)
  \\d TABLE    a table's columns and their types (TABLE as in FROM: Customers,
              \"Erp.BO.CustomerSvc\".Customers, BaqSvc.zCustomerList)
  \\?          this help
  \\q          quit
EXPLAIN SELECT ... prints the plan and the OData requests it sends.";

/// One line read by the shell.
enum Read {
    Line(String),
    /// Ctrl-C while typing: the statement being typed is dropped.
    Interrupted,
    End,
}

/// Where the shell's lines come from: the line editor on a terminal, else standard input.
enum Lines {
    Editor {
        editor: Box<rustyline::DefaultEditor>,
        history: Option<PathBuf>,
        entries: Vec<String>,
    },
    Piped(std::io::StdinLock<'static>),
}

/// Most statements the history file keeps.
const HISTORY: usize = 1000;

impl Lines {
    fn editor() -> Result<Lines, Failure> {
        let config = rustyline::Config::builder()
            .max_history_size(HISTORY)
            .map_err(editor_failure)?
            .auto_add_history(false)
            .build();
        let mut editor = rustyline::DefaultEditor::with_config(config).map_err(editor_failure)?;
        use epicor_kinetic::settings::ConfigFiles as _;
        let config_dir =
            epicor_kinetic::settings::ConfigDir::locate(&epicor_kinetic::settings::ProcessEnv);
        let history = config_dir.dir().map(|d| d.join("sql_history"));
        let mut entries = Vec::new();
        if let Some(path) = &history {
            if let Ok(text) = std::fs::read_to_string(path) {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = editor.add_history_entry(line);
                    entries.push(line.to_owned());
                }
            }
        }
        Ok(Lines::Editor {
            editor: Box::new(editor),
            history,
            entries,
        })
    }

    fn read(&mut self, prompt: &str) -> Read {
        match self {
            Lines::Editor { editor, .. } => match editor.readline(prompt) {
                Ok(line) => Read::Line(line),
                Err(rustyline::error::ReadlineError::Interrupted) => Read::Interrupted,
                Err(rustyline::error::ReadlineError::Eof) => Read::End,
                Err(e) => {
                    eprintln!("error: reading the terminal: {e}");
                    Read::End
                }
            },
            Lines::Piped(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) => Read::End,
                    Ok(_) => Read::Line(line.trim_end_matches(['\n', '\r']).to_owned()),
                    Err(e) => {
                        eprintln!("error: reading standard input: {e}");
                        Read::End
                    }
                }
            }
        }
    }

    /// Keeps an entry in the history (and its file: 0600 in the configuration directory).
    fn remember(&mut self, entry: &str) {
        let Lines::Editor {
            editor,
            history,
            entries,
        } = self
        else {
            return;
        };
        let entry = entry.split_whitespace().collect::<Vec<_>>().join(" ");
        // A statement that carries a credential (an authorization code, a refresh token) is
        // never written down.
        if carries_credential(&entry) {
            return;
        }
        let _ = editor.add_history_entry(entry.as_str());
        entries.push(entry);
        if entries.len() > HISTORY {
            entries.drain(..entries.len() - HISTORY);
        }
        if let Some(path) = history {
            use epicor_kinetic::settings::ConfigFiles as _;
            let mut text = entries.join("\n");
            text.push('\n');
            let dir =
                epicor_kinetic::settings::ConfigDir::locate(&epicor_kinetic::settings::ProcessEnv);
            if let Err(e) = dir.write_private(path, &text) {
                eprintln!("note: the history is not saved to {}: {e}", path.display());
                *history = None;
            }
        }
    }
}

/// Whether a statement passes a credential to a procedure (`GetOAuthAccessToken`'s verifier,
/// `RefreshOAuthAccessToken`'s refresh token): such statements stay out of the history.
fn carries_credential(statement: &str) -> bool {
    let lower = statement.to_ascii_lowercase();
    lower.contains("getoauthaccesstoken") || lower.contains("refreshoauthaccesstoken")
}

fn editor_failure(e: rustyline::error::ReadlineError) -> Failure {
    Failure::Io {
        what: "starting the line editor".into(),
        source: std::io::Error::other(e),
    }
}

/// The shell: statements from the terminal (with history), or piped in. Errors are printed and
/// the shell goes on; piped, it exits with the code of the last statement that failed.
async fn shell(connection: &ConnectionArgs, format: Format) -> Result<(), Failure> {
    let interactive = std::io::stdin().is_terminal();
    let session = open(connection).await?;
    let mut lines = if interactive {
        Lines::editor()?
    } else {
        Lines::Piped(std::io::stdin().lock())
    };
    if interactive {
        eprintln!(
            "kinetic sql on {}: end statements with `;`, \\d lists the tables, \\? helps, \\q quits",
            session.connection().settings().url
        );
    }
    // Ctrl-C cancels the running statement only in the interactive shell; piped, it ends the
    // command as usual. A SIGINT ignored at start (nohup) stays ignored.
    let cancel = interactive && !crate::sink::ignored(libc::SIGINT);
    let mut last_failure: Option<u8> = None;
    let mut pending = String::new();
    loop {
        let blank = !split(&pending).2;
        let prompt = if blank { "kinetic> " } else { "     ..> " };
        let line = match lines.read(prompt) {
            Read::Line(line) => line,
            Read::Interrupted => {
                pending.clear();
                continue;
            }
            Read::End => {
                // Piped: a last statement without `;` still runs.
                if !interactive && split(&pending).2 {
                    let statement = pending.trim().to_owned();
                    pending.clear();
                    if let Err(f) = shell_statement(&session, &statement, format, cancel).await {
                        last_failure = Some(report_code(&f));
                    }
                }
                break;
            }
        };
        if blank && line.trim_start().starts_with('\\') {
            lines.remember(&line);
            pending.clear();
            let outcome = match meta(&line) {
                Meta::Quit => break,
                Meta::Help => outln!("{SHELL_HELP}"),
                Meta::Tables => cancellable(list_tables(&session), cancel).await,
                Meta::Describe(name) => cancellable(describe(&session, &name), cancel).await,
                Meta::Unknown(c) => Err(usage(
                    format!("{c} is not a command of the shell"),
                    "\\? lists them",
                )),
            };
            if let Err(f) = outcome {
                if matches!(f, Failure::ClosedPipe) {
                    return Err(f);
                }
                last_failure = Some(report_code(&f));
            }
            continue;
        }
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        let (statements, rest, _) = split(&pending);
        pending = rest;
        for statement in statements {
            lines.remember(&format!("{statement};"));
            if let Err(f) = shell_statement(&session, &statement, format, cancel).await {
                if matches!(f, Failure::ClosedPipe) {
                    return Err(f);
                }
                last_failure = Some(report_code(&f));
            }
        }
    }
    let _ = session.connection().close().await;
    match last_failure {
        Some(code) if !interactive => Err(Failure::Other {
            message: "a statement failed (see above)".into(),
            hint: Some("the shell ran the others; its exit code is the last failure's".into()),
            code,
        }),
        _ => Ok(()),
    }
}

/// One statement of the shell, to standard output; Ctrl-C cancels it.
async fn shell_statement(
    session: &SqlSession,
    statement: &str,
    format: Format,
    cancel: bool,
) -> Result<(), Failure> {
    let work = async {
        run(
            session,
            statement,
            format,
            false,
            Box::new(std::io::stdout()),
            &ProgressBar::hidden(),
        )
        .await
        .map(|_| ())
    };
    cancellable(work, cancel).await
}

/// `work`, unless Ctrl-C comes first (then it is dropped, which cancels its requests).
async fn cancellable(
    work: impl std::future::Future<Output = Result<(), Failure>>,
    cancel: bool,
) -> Result<(), Failure> {
    if !cancel {
        return work.await;
    }
    tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("cancelled");
            Ok(())
        }
    }
}

/// `\d`: the tables, from `sys_tables`; where the session has no `sys_tables`, the services
/// (each a schema) from the server's list.
async fn list_tables(session: &SqlSession) -> Result<(), Failure> {
    let sql = "SELECT SchemaName, TableName FROM sys_tables ORDER BY SchemaName, TableName";
    let attempt = async {
        let result = session.query(sql).await?;
        format::write(result, Format::Table, Vec::new(), |_| {}).await
    };
    match attempt.await {
        Ok((text, _)) => crate::output::out!("{}", String::from_utf8_lossy(&text)),
        Err(e) if e.kind() == SqlErrorKind::Invalid => {
            let services = session.connection().services().await?;
            eprintln!(
                "note: this build has no sys_tables yet: these are the services, each a schema (by its full or its short name); \\d SCHEMA lists a schema's tables"
            );
            let rows: Vec<Vec<String>> = services
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        epicor_kinetic_sql::catalog::alias_of(&s.name).to_owned(),
                    ]
                })
                .collect();
            crate::output::table(&["schema".into(), "short name".into()], &rows)
        }
        Err(e) => Err(failure(e, &AtomicBool::new(false))),
    }
}

/// `\d NAME`: a table's columns (the schema of `SELECT * FROM NAME LIMIT 0`); a service's name
/// lists its entity sets.
async fn describe(session: &SqlSession, name: &str) -> Result<(), Failure> {
    if name.contains(';') || name.split_whitespace().count() != 1 {
        return Err(usage(
            format!("`{name}` is not one table name"),
            "write it as in FROM, e.g. \\d Customers or \\d \"Erp.BO.CustomerSvc\".Customers",
        ));
    }
    let e = match session.schema_of(&format!("SELECT * FROM {name}")).await {
        Ok(schema) => {
            let rows: Vec<Vec<String>> = schema
                .fields()
                .iter()
                .map(|f| {
                    let meta = f.metadata();
                    vec![
                        f.name().clone(),
                        f.data_type().to_string(),
                        meta.get("edm_type").cloned().unwrap_or_default(),
                        if meta.get("key").is_some_and(|k| k == "true") {
                            "key".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            crate::output::table(
                &[
                    "column".into(),
                    "type".into(),
                    "edm type".into(),
                    "key".into(),
                ],
                &rows,
            )?;
            // A BAQ: the parameters it is called with.
            let baq = name
                .trim_matches('"')
                .split_once('.')
                .filter(|(schema, _)| {
                    schema
                        .trim_matches('"')
                        .eq_ignore_ascii_case(epicor_kinetic_sql::catalog::BAQ_SCHEMA)
                })
                .map(|(_, id)| id.trim_matches('"').to_owned());
            if let Some(id) = baq {
                if let Some(parameters) = session
                    .baq_parameters(&id)
                    .await
                    .map_err(|e| failure(e, &AtomicBool::new(false)))?
                {
                    if !parameters.is_empty() {
                        let listed: Vec<String> = parameters
                            .iter()
                            .map(|(p, required)| {
                                if *required {
                                    format!("{p} (required)")
                                } else {
                                    p.clone()
                                }
                            })
                            .collect();
                        outln!(
                            "parameters: {}; call it as BaqSvc.{id}({} => 'value')",
                            listed.join(", "),
                            parameters[0].0
                        )?;
                    }
                }
            }
            return Ok(());
        }
        Err(e) => e,
    };
    // A schema (service) rather than a table: its entity sets.
    if e.kind() == SqlErrorKind::Invalid {
        let bare = name.trim_matches('"');
        let services = session.connection().services().await?;
        let service = services.iter().find(|s| {
            s.name.eq_ignore_ascii_case(bare)
                || epicor_kinetic_sql::catalog::alias_of(&s.name).eq_ignore_ascii_case(bare)
        });
        if let Some(service) = service {
            let sets = session.connection().entity_sets(&service.name).await?;
            let rows: Vec<Vec<String>> = sets
                .iter()
                .map(|s| vec![service.name.clone(), s.name.clone(), s.key.join(", ")])
                .collect();
            return crate::output::table(&["schema".into(), "table".into(), "key".into()], &rows);
        }
    }
    Err(failure(e, &AtomicBool::new(false)))
}

/// `1 row returned`, `2 rows returned`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let (done, rest, more) = split(
            "SELECT 'a;b', \"x;y\" FROM t; -- c;d\nSELECT 1 /* e;f */ ; ;\n SELECT 'it''s;'; SELECT",
        );
        assert_eq!(
            done,
            vec![
                "SELECT 'a;b', \"x;y\" FROM t",
                "-- c;d\nSELECT 1 /* e;f */",
                "SELECT 'it''s;'"
            ]
        );
        assert_eq!(rest, " SELECT");
        assert!(more);
        // Only comments and blanks: nothing pending.
        let (done, _, more) = split("-- nothing\n/* still; nothing */  ");
        assert!(done.is_empty());
        assert!(!more);
        // An open quote keeps the statement going across lines.
        let (done, _, more) = split("SELECT 'a\n;b");
        assert!(done.is_empty());
        assert!(more);
        assert_eq!(
            split_script("SELECT 1;\nSELECT 2"),
            vec!["SELECT 1", "SELECT 2"]
        );
        assert!(split_script(" ; -- x\n").is_empty());
    }

    #[test]
    fn shell_commands_parse() {
        assert_eq!(meta("\\q"), Meta::Quit);
        assert_eq!(meta("  \\d  "), Meta::Tables);
        assert_eq!(meta("\\d Customers;"), Meta::Describe("Customers".into()));
        assert_eq!(meta("\\?"), Meta::Help);
        assert_eq!(meta("\\x"), Meta::Unknown("\\x".into()));
    }

    #[test]
    fn credentials_stay_out_of_the_history() {
        assert!(carries_credential(
            "EXEC GetOAuthAccessToken @Verifier = 'code-123'"
        ));
        assert!(carries_credential(
            "call refreshoauthaccesstoken(OAuthRefreshToken => 'x')"
        ));
        assert!(!carries_credential("SELECT * FROM Customers"));
    }

    #[test]
    fn explain_is_recognised() {
        assert_eq!(strip_explain("explain  SELECT 1"), Some("SELECT 1"));
        assert_eq!(strip_explain("EXPLAIN ANALYZE SELECT 1"), Some("SELECT 1"));
        assert_eq!(strip_explain("EXPLAINED"), None);
        assert_eq!(strip_explain("SELECT 1"), None);
    }

    #[test]
    fn formats_follow_the_output_name() {
        assert_eq!(
            choose_format(None, Some(Path::new("a.PARQUET"))),
            Format::Parquet
        );
        assert_eq!(
            choose_format(None, Some(Path::new("a.ndjson"))),
            Format::Ndjson
        );
        assert_eq!(choose_format(None, Some(Path::new("a.out"))), Format::Csv);
        assert_eq!(
            choose_format(Some(SqlFormat::Json), Some(Path::new("a.csv"))),
            Format::Json
        );
    }
}
