//! The SQLite store: one writer connection (writes are serialised, so no update is ever lost) and a
//! pool of read-only connections (WAL mode lets readers run beside the writer).

use crate::api_error::{kind, ApiError};
use crate::collation::{self, Collation};
use crate::config::EmulatorConfig;
use crate::data::{self, DataSummary};
use axum::http::StatusCode;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot prepare the database file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a kinetic emulator database (or was made by another version); \
         choose another --db path or delete the file to regenerate it"
    )]
    Foreign { path: PathBuf },
    #[error(
        "{path} was made with --collation {stored} and this server compares text as \
         --collation {wanted}; give the same --collation, another --db path, or delete the file \
         to regenerate it"
    )]
    CollationMismatch {
        path: PathBuf,
        stored: &'static str,
        wanted: &'static str,
    },
    #[error("database task failed: {0}")]
    Task(String),
    /// The request's SQLite work ran past `[limits] statement_timeout_ms` and was interrupted.
    #[error(
        "the query ran longer than this server's limit of {} ms ([limits] statement_timeout_ms) \
         and was stopped; narrow it with $filter, $top or fewer $expand levels",
        limit.as_millis()
    )]
    TimedOut { limit: Duration },
    /// Every read connection stayed busy for `[limits] reader_wait_ms`.
    #[error(
        "the server is busy: all {readers} database readers stayed in use for {} ms \
         ([limits] max_readers, reader_wait_ms); retry later",
        waited.as_millis()
    )]
    Busy { readers: usize, waited: Duration },
}

/// How the store came to be.
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// Rows generated now, or `None` when an existing `--db` file was reused.
    pub generated: Option<DataSummary>,
    pub elapsed: Duration,
    /// Scale of the data actually served (a reused file keeps its own).
    pub scale: u64,
    pub path: PathBuf,
    pub size_bytes: u64,
}

/// The shared database handle.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read connection that may be in use: bounds threads and SQLite handles.
    reader_permits: Arc<Semaphore>,
    max_readers: usize,
    reader_wait: Duration,
    /// See [`crate::config::LimitsConfig::statement_timeout_ms`]; `None` when off.
    statement_timeout: Option<Duration>,
    /// How text compares (baked into the schema, see [`crate::collation`]).
    collation: Collation,
    /// See [`Db::generation`].
    generation: AtomicU64,
    // Keeps a temporary database alive (and deletes it) with the handle.
    _temp: Option<tempfile::TempDir>,
}

/// Source of write generations, process-wide so that no two databases ever share one.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::SeqCst)
}

/// Registers the OData functions SQLite lacks (Unicode case mapping and trimming, floor, ceiling).
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("odata_lower", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_lowercase()))
    })?;
    conn.create_scalar_function("odata_upper", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_uppercase()))
    })?;
    conn.create_scalar_function("odata_trim", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|s| s.trim().to_string()))
    })?;
    conn.create_scalar_function("odata_floor", 1, flags, |ctx| {
        Ok(ctx.get::<Option<f64>>(0)?.map(f64::floor))
    })?;
    conn.create_scalar_function("odata_mod", 2, flags, |ctx| {
        let a = ctx.get::<Option<f64>>(0)?;
        let b = ctx.get::<Option<f64>>(1)?;
        Ok(match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => Some(a % b),
            _ => None,
        })
    })?;
    conn.create_scalar_function("odata_ceiling", 1, flags, |ctx| {
        Ok(ctx.get::<Option<f64>>(0)?.map(f64::ceil))
    })?;
    Ok(())
}

fn open_conn(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(256);
    register_functions(&conn)?;
    collation::register(&conn)?;
    Ok(conn)
}

impl Db {
    /// Opens `config.db` (reusing it when it holds our data, generating it when absent) or a fresh
    /// temporary database.
    pub fn open(config: &EmulatorConfig) -> Result<(Db, OpenReport), DbError> {
        let started = Instant::now();
        let (path, temp) = match &config.db {
            Some(p) => (p.clone(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("kinetic-emulator-")
                    .tempdir()
                    .map_err(|source| DbError::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (dir.path().join("erp.db"), Some(dir))
            }
        };
        let mut generated = None;
        let scale;
        if path.exists() {
            let conn = open_conn(&path, false)?;
            match data::stored_generation(&conn) {
                Some((v, s, _, stored)) if v == data::DATA_VERSION => {
                    if stored != config.collation {
                        return Err(DbError::CollationMismatch {
                            path,
                            stored: stored.as_str(),
                            wanted: config.collation.as_str(),
                        });
                    }
                    scale = s
                }
                _ => return Err(DbError::Foreign { path }),
            }
        } else {
            // Generate beside the final name and rename, so an interrupted run leaves no half database.
            let partial = path.with_extension("partial");
            let _ = std::fs::remove_file(&partial);
            {
                let mut conn = open_conn(&partial, false)?;
                conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
                data::create_schema(&conn, config.collation)?;
                generated = Some(data::generate(&mut conn, config)?);
                conn.execute_batch("PRAGMA journal_mode = DELETE; ANALYZE;")?;
            }
            std::fs::rename(&partial, &path).map_err(|source| DbError::Io {
                path: path.clone(),
                source,
            })?;
            scale = config.scale;
        }
        let writer = open_conn(&path, false)?;
        writer.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        let size_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let limits = &config.limits;
        // Zero readers would make every read wait forever.
        let max_readers = limits.max_readers.max(1);
        let db = Db {
            inner: Arc::new(DbInner {
                path: path.clone(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                reader_permits: Arc::new(Semaphore::new(max_readers)),
                max_readers,
                reader_wait: Duration::from_millis(limits.reader_wait_ms),
                statement_timeout: (limits.statement_timeout_ms > 0)
                    .then(|| Duration::from_millis(limits.statement_timeout_ms)),
                collation: config.collation,
                generation: AtomicU64::new(next_generation()),
                _temp: temp,
            }),
        };
        Ok((
            db,
            OpenReport {
                generated,
                elapsed: started.elapsed(),
                scale,
                path,
                size_bytes,
            },
        ))
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How this database compares text.
    pub fn collation(&self) -> Collation {
        self.inner.collation
    }

    /// The write generation: a new value (never seen before in this process, by any database)
    /// after every write transaction, 0 while one commits. A read that sees the same non-zero value
    /// before and after it read the data of that generation.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Runs `f` on a pooled read-only connection, off the async runtime. At most `max_readers` run at
    /// once; a caller waits `reader_wait` for a turn ([`DbError::Busy`]), and `f` may spend
    /// `statement_timeout` in SQLite ([`DbError::TimedOut`]).
    pub async fn read<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let inner = &self.inner;
        let permit = tokio::time::timeout(
            inner.reader_wait,
            inner.reader_permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            E::from(DbError::Busy {
                readers: inner.max_readers,
                waited: inner.reader_wait,
            })
        })?
        .map_err(|e| E::from(DbError::Task(e.to_string())))?;
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the connection is back in the pool.
            let _permit = permit;
            let mut conn = db.take_reader()?;
            let out = db.limited(&mut conn, |c| f(c));
            db.inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            out
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Runs `f` with SQLite interrupting any statement once `statement_timeout` has passed since the
    /// start; whatever error `f` made of the interruption is replaced by [`DbError::TimedOut`].
    fn limited<T, E: From<DbError>>(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let Some(limit) = self.inner.statement_timeout else {
            return f(conn);
        };
        let deadline = Instant::now() + limit;
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = fired.clone();
        // Every 1,000 virtual machine steps: cheap, and often enough to stop within milliseconds.
        let set = conn.progress_handler(
            1_000,
            Some(move || {
                let late = Instant::now() >= deadline;
                if late {
                    flag.store(true, Ordering::Relaxed);
                }
                late
            }),
        );
        if let Err(e) = set {
            return Err(E::from(DbError::from(e)));
        }
        let out = f(conn);
        // A pooled connection must not keep this request's deadline.
        let _ = conn.progress_handler(0, None::<fn() -> bool>);
        match out {
            Err(_) if fired.load(Ordering::Relaxed) => Err(E::from(DbError::TimedOut { limit })),
            other => other,
        }
    }

    fn take_reader(&self) -> Result<Connection, DbError> {
        if let Some(c) = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
        {
            return Ok(c);
        }
        Ok(open_conn(&self.inner.path, true)?)
    }

    /// Runs `f` in an immediate transaction on the writer connection, off the async runtime; commits
    /// when `f` succeeds, rolls back when it fails. Writers are serialised.
    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            db.limited(&mut conn, |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(DbError::from)?;
                let out = f(&tx)?;
                db.inner.generation.store(0, Ordering::SeqCst);
                let committed = tx.commit();
                db.inner
                    .generation
                    .store(next_generation(), Ordering::SeqCst);
                committed.map_err(DbError::from)?;
                Ok(out)
            })
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }
}

/// A database failure as an answer: limits are the caller's business, the rest the server's.
impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            // Limits are the caller's business: say which one and what to do.
            DbError::TimedOut { .. } | DbError::Busy { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, kind::API, e.to_string())
            }
            DbError::Sqlite(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}
