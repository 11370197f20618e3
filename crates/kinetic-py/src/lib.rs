//! `epicor_kinetic._internal`: the native half of the Python module. The DB-API surface
//! (`connect`, `Connection`, `Cursor`) is plain Python in `python/epicor_kinetic/`, over the
//! classes here: [`Session`] (a connection and its SQL session), [`Statement`] (a running
//! statement's rows, fetched as tuples or handed over as an Arrow C stream) and [`Emulator`].
//!
//! Every wait on the network releases the GIL and hears Ctrl-C (see [`runtime::wait`]).

mod convert;
mod errors;
mod runtime;

use arrow::array::RecordBatchReader;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::RecordBatch;
use epicor_kinetic::{Connection, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_sql::datafusion::physical_plan::SendableRecordBatchStream;
use epicor_kinetic_sql::{SqlError, SqlSession};
use errors::{core_error, sql_error, InterfaceError, ProgrammingError};
use futures_util::StreamExt;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyList};
use std::sync::Mutex;

/// A connection: settings, the connector's client (token cache included) and a SQL session.
#[pyclass(module = "epicor_kinetic._internal", frozen)]
struct Session {
    sql: SqlSession,
    pid: u32,
    shown: String,
}

fn settings_from(
    py: Python<'_>,
    connection_string: &str,
    mut properties: Vec<(String, String)>,
) -> PyResult<Settings> {
    let pairs: Vec<(&str, &str)> = properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let settings = Settings::parse_with(connection_string, &pairs);
    // The values may be secrets: this copy is wiped (the settings keep their own, wiped on drop).
    for (_, v) in &mut properties {
        zeroize::Zeroize::zeroize(v);
    }
    settings.map_err(|e| core_error(py, &e))
}

#[pymethods]
impl Session {
    /// Opens a connection: `connection_string` with `properties` (name, value) on top.
    #[new]
    fn new(
        py: Python<'_>,
        connection_string: &str,
        properties: Vec<(String, String)>,
    ) -> PyResult<Self> {
        let settings = settings_from(py, connection_string, properties)?;
        let shown = format!(
            "URL={}; AuthScheme={:?}; User={}; Company={}",
            settings.url,
            settings.auth.scheme,
            settings.auth.user.as_deref().unwrap_or(""),
            settings.company.as_deref().unwrap_or("")
        );
        let conn =
            runtime::wait(py, Connection::open(settings))?.map_err(|e| core_error(py, &e))?;
        let sql = runtime::wait(py, SqlSession::new(conn))?.map_err(|e| sql_error(py, &e))?;
        Ok(Session {
            sql,
            pid: runtime::pid(),
            shown,
        })
    }

    /// Runs one statement with `params` bound to its `?` markers.
    fn execute(
        &self,
        py: Python<'_>,
        sql: &str,
        params: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<Statement> {
        runtime::check_process(self.pid, "connection")?;
        let params = params
            .iter()
            .enumerate()
            .map(|(i, p)| convert::param(py, i + 1, p))
            .collect::<PyResult<Vec<_>>>()?;
        let session = self.sql.clone();
        let sql = sql.to_owned();
        let result = runtime::wait(py, async move { session.query_with(&sql, &params).await })?
            .map_err(|e| sql_error(py, &e))?;
        let affected = result.rows_affected();
        let schema = result.schema().clone();
        Ok(Statement {
            schema,
            affected,
            pid: self.pid,
            state: Mutex::new(Pending {
                stream: Some(result.stream()),
                batch: None,
                offset: 0,
                fetched: 0,
                handed_over: false,
            }),
        })
    }

    /// An access token for this connection (see `epicor_kinetic.token`).
    fn access_token(&self, py: Python<'_>) -> PyResult<String> {
        runtime::check_process(self.pid, "connection")?;
        let conn = self.sql.connection().clone();
        let token = runtime::wait(py, async move { conn.access_token().await })?
            .map_err(|e| core_error(py, &e))?;
        Ok(token.expose().to_owned())
    }

    /// Rows the server has sent to this connection's queries, and the pages they came in.
    fn transfer(&self) -> (u64, u64) {
        let t = self.sql.transfer();
        (t.rows(), t.pages())
    }

    /// Ends the connection: an Epicor session (`UseSession`) is signed out.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if runtime::pid() != self.pid {
            return Ok(()); // The parent's connection: nothing of it to end here.
        }
        let conn = self.sql.connection().clone();
        runtime::wait(py, async move { conn.close().await })?.map_err(|e| core_error(py, &e))
    }

    /// The connection's server, scheme, user and company (never a secret).
    #[getter]
    fn shown(&self) -> String {
        self.shown.clone()
    }

    fn __repr__(&self) -> String {
        format!("<epicor_kinetic._internal.Session {}>", self.shown)
    }
}

/// In a forked child, the parent's connection is leaked, never dropped: its pools and tasks
/// belong to the parent's runtime, whose threads (and whatever locks they held at the fork) do not
/// exist in the child.
impl Drop for Session {
    fn drop(&mut self) {
        if self.pid != runtime::pid() {
            std::mem::forget(self.sql.clone());
        }
    }
}

/// What is left of a statement's result.
struct Pending {
    stream: Option<SendableRecordBatchStream>,
    /// The batch being read, and the next row of it.
    batch: Option<convert::Rows>,
    offset: usize,
    fetched: u64,
    /// The rest went to an Arrow consumer (which counts its rows itself).
    handed_over: bool,
}

/// A statement's result: rows fetched as tuples, or handed over as an Arrow C stream.
#[pyclass(module = "epicor_kinetic._internal", frozen)]
struct Statement {
    schema: SchemaRef,
    affected: Option<u64>,
    pid: u32,
    state: Mutex<Pending>,
}

impl Statement {
    fn pending(&self) -> PyResult<std::sync::MutexGuard<'_, Pending>> {
        runtime::check_process(self.pid, "cursor")?;
        self.state.try_lock().map_err(|_| {
            ProgrammingError::new_err(
                "this cursor is in use by another thread: give each thread its own cursor (threadsafety 2)",
            )
        })
    }
}

#[pymethods]
impl Statement {
    /// Each column as `Cursor.description` gives it: (name, kind, display_size, internal_size,
    /// precision, scale, null_ok). Sizes, precision and scale by the column's type (see
    /// [`convert::shape`]); `null_ok` is whether the result's schema lets the column hold nulls
    /// (a table's columns always do: servers send nulls where `$metadata` says they do not).
    #[allow(clippy::type_complexity)]
    fn columns(
        &self,
    ) -> Vec<(
        String,
        &'static str,
        Option<i32>,
        Option<i32>,
        Option<i32>,
        Option<i32>,
        bool,
    )> {
        self.schema
            .fields()
            .iter()
            .map(|f| {
                let s = convert::shape(f);
                (
                    f.name().clone(),
                    convert::PyKind::of(f).name(),
                    s.display_size,
                    s.internal_size,
                    s.precision,
                    s.scale,
                    f.is_nullable(),
                )
            })
            .collect()
    }

    /// Rows written by INSERT, UPDATE or DELETE; `None` for queries.
    #[getter]
    fn rows_affected(&self) -> Option<u64> {
        self.affected
    }

    /// Rows fetched as tuples so far, and whether that is all of them (not when the rest went
    /// to Arrow: then the count is not known here).
    fn progress(&self) -> PyResult<(u64, bool)> {
        let p = self.pending()?;
        let rest = p.batch.as_ref().is_some_and(|b| p.offset < b.len());
        Ok((p.fetched, p.stream.is_none() && !rest && !p.handed_over))
    }

    /// Up to `n` more rows (all of them when `n` is None), as tuples.
    #[pyo3(signature = (n=None))]
    fn fetch<'py>(&self, py: Python<'py>, n: Option<usize>) -> PyResult<Bound<'py, PyList>> {
        let mut p = self.pending()?;
        let out = PyList::empty(py);
        let mut want = n.unwrap_or(usize::MAX);
        while want > 0 {
            if let Some(batch) = &p.batch {
                let left = batch.len() - p.offset;
                if left > 0 {
                    let take = left.min(want);
                    batch.append(py, p.offset, take, &out)?;
                    p.offset += take;
                    p.fetched += take as u64;
                    want -= take;
                    continue;
                }
            }
            p.batch = None;
            let Some(stream) = p.stream.as_mut() else {
                break;
            };
            match runtime::wait(py, stream.next())? {
                None => p.stream = None,
                Some(Ok(batch)) => {
                    p.batch = Some(convert::Rows::new(batch)?);
                    p.offset = 0;
                }
                Some(Err(e)) => {
                    p.stream = None;
                    return Err(sql_error(py, &SqlError::from(e)));
                }
            }
            // Converting a large result takes a while with the GIL held: hear Ctrl-C.
            py.check_signals()?;
        }
        Ok(out)
    }

    /// The rest of the result as an Arrow C stream (PyCapsule `arrow_array_stream`): what
    /// `__arrow_c_stream__` answers. The stream owns the rows; the cursor is then exhausted.
    /// `collect`: read every batch first, here, with Ctrl-C heard (for a consumer that keeps the
    /// whole result anyway, as `fetch_arrow_table` does); otherwise the consumer pulls the
    /// batches one by one (streaming, but a pull waits without hearing Ctrl-C).
    #[pyo3(signature = (requested_schema=None, collect=false))]
    fn arrow_stream<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
        collect: bool,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // A requested schema is a request the producer may decline (the PyCapsule interface):
        // the result's own types are its exact ones.
        let _ = requested_schema;
        let mut p = self.pending()?;
        p.handed_over = true;
        let mut ready = std::collections::VecDeque::new();
        if let Some(b) = p.batch.take() {
            let left = b.len() - p.offset;
            if left > 0 {
                ready.push_back(b.batch().slice(p.offset, left));
            }
        }
        let mut stream = p.stream.take();
        if collect {
            while let Some(s) = stream.as_mut() {
                match runtime::wait(py, s.next())? {
                    None => stream = None,
                    Some(Ok(b)) => ready.push_back(b),
                    Some(Err(e)) => return Err(sql_error(py, &SqlError::from(e))),
                }
            }
        }
        let reader = Reader {
            schema: self.schema.clone(),
            ready,
            stream,
            runtime: runtime::runtime()?,
            failed: None,
        };
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// Stops the statement: its remaining rows are not read.
    fn close(&self) -> PyResult<()> {
        if let Ok(mut p) = self.state.try_lock() {
            p.stream = None;
            p.batch = None;
        }
        Ok(())
    }
}

/// Rows per batch handed to an Arrow consumer: the server's pages (about 100 rows each) are
/// joined up to this, as importing a batch costs the consumer per column, not per row (ten
/// thousand 100-row batches made `fetch_arrow_table` slower than fetching tuples).
const ARROW_BATCH_ROWS: usize = 65_536;

/// As for [`Session`]: a forked child leaks the parent's stream rather than drop it.
impl Drop for Statement {
    fn drop(&mut self) {
        if self.pid != runtime::pid() {
            let mut p = self.state.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::forget(p.stream.take());
        }
    }
}

/// The rows of a statement as an Arrow record batch reader (for the C stream interface).
struct Reader {
    schema: SchemaRef,
    /// Batches already read.
    ready: std::collections::VecDeque<RecordBatch>,
    stream: Option<SendableRecordBatchStream>,
    runtime: &'static tokio::runtime::Runtime,
    /// An error met after rows that were handed out first.
    failed: Option<ArrowError>,
}

impl Reader {
    /// The next batch as it came, or an error.
    fn pull(&mut self) -> Option<Result<RecordBatch, ArrowError>> {
        if let Some(b) = self.ready.pop_front() {
            return Some(Ok(b));
        }
        let stream = self.stream.as_mut()?;
        match self.runtime.block_on(stream.next()) {
            None => {
                self.stream = None;
                None
            }
            Some(Ok(b)) => Some(Ok(b)),
            Some(Err(e)) => {
                self.stream = None;
                Some(Err(ArrowError::ExternalError(Box::new(SqlError::from(e)))))
            }
        }
    }
}

impl Iterator for Reader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut parts = Vec::new();
        let mut rows = 0;
        while rows < ARROW_BATCH_ROWS {
            match self.pull() {
                None => break,
                Some(Ok(b)) => {
                    rows += b.num_rows();
                    parts.push(b);
                }
                Some(Err(e)) if parts.is_empty() => return Some(Err(e)),
                Some(Err(e)) => {
                    self.failed = Some(e);
                    break;
                }
            }
        }
        match parts.len() {
            0 => self.failed.take().map(Err),
            1 => parts.pop().map(Ok),
            _ => Some(arrow::compute::concat_batches(&self.schema, &parts)),
        }
    }
}

impl RecordBatchReader for Reader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// An access token for a connection string: what code that calls Epicor itself sends as
/// `Authorization: Bearer ...` (see `Connection::access_token` in the Rust crate).
#[pyfunction]
fn access_token(
    py: Python<'_>,
    connection_string: &str,
    properties: Vec<(String, String)>,
) -> PyResult<String> {
    let settings = settings_from(py, connection_string, properties)?;
    let token = runtime::wait(py, async move {
        let conn = Connection::open(settings).await?;
        conn.access_token().await
    })?
    .map_err(|e| core_error(py, &e))?;
    Ok(token.expose().to_owned())
}

/// The emulator, serving on 127.0.0.1 (a free port) from this process.
#[pyclass(module = "epicor_kinetic._internal", frozen)]
struct Emulator {
    running: Mutex<Option<RunningEmulator>>,
    url: String,
    startup: String,
    pid: u32,
}

#[pymethods]
impl Emulator {
    #[new]
    #[pyo3(signature = (scale=5000, seed=None, tls=false, strict_paging=false, token_lifetime_secs=None, request_log=0, config=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        scale: u64,
        seed: Option<u64>,
        tls: bool,
        strict_paging: bool,
        token_lifetime_secs: Option<u64>,
        request_log: usize,
        config: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let mut c = match config {
            Some(path) => EmulatorConfig::from_file(&path)
                .map_err(|e| InterfaceError::new_err(format!("{}: {e}", path.display())))?,
            None => EmulatorConfig::default(),
        };
        c.scale = scale;
        if let Some(seed) = seed {
            c.seed = seed;
        }
        c.tls.enabled = tls || c.tls.enabled;
        c.strict_paging = strict_paging || c.strict_paging;
        if let Some(secs) = token_lifetime_secs {
            c.token_lifetime_secs = secs;
            c.idp.token_lifetime_secs = secs;
        }
        c.request_log = request_log;
        let running = runtime::wait(py, epicor_kinetic_emulator::spawn(c, "127.0.0.1:0"))?
            .map_err(|e| InterfaceError::new_err(format!("the emulator did not start: {e}")))?;
        Ok(Emulator {
            url: running.url(),
            startup: running.startup_info().to_string(),
            running: Mutex::new(Some(running)),
            pid: runtime::pid(),
        })
    }

    /// `http://127.0.0.1:port` (or https).
    #[getter]
    fn url(&self) -> String {
        self.url.clone()
    }

    /// What `kinetic emulator` prints first: URLs, users, connection strings (JSON text).
    #[getter]
    fn startup_info(&self) -> String {
        self.startup.clone()
    }

    /// The requests served so far (when started with `request_log`): (method, uri, status).
    fn requests(&self) -> PyResult<Vec<(String, String, u16)>> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = running.as_ref() else {
            return Err(InterfaceError::new_err("the emulator was stopped"));
        };
        Ok(r.requests()
            .into_iter()
            .map(|q| (q.method, q.uri, q.status))
            .collect())
    }

    /// Forgets the requests served so far.
    fn clear_requests(&self) {
        if let Some(r) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            r.clear_requests();
        }
    }

    /// Stops serving (idempotent).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match running {
            Some(r) if self.pid == runtime::pid() => runtime::wait(py, r.shutdown()),
            // A forked child holds a copy of the parent's emulator: the parent stops it.
            Some(r) => {
                std::mem::forget(r);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[pymodule]
#[pyo3(name = "_internal")]
fn internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<Session>()?;
    m.add_class::<Statement>()?;
    m.add_class::<Emulator>()?;
    m.add_function(wrap_pyfunction!(access_token, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
