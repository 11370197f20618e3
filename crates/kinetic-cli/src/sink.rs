//! Where a command's result goes (`kinetic export`, `kinetic sql`): standard output, or a file
//! written whole or not at all.
//!
//! A regular file (or a new one) is written under a temporary name beside it and renamed into
//! place only when every row is written (and synced), so an interrupted or failed command never
//! leaves a half-written file under the final name (and never replaces an older complete one).
//! The new file honours the umask; one replaced keeps its mode (and owner, where allowed).
//! Symbolic links are followed: the file they lead to is replaced (a dangling link's target is
//! made) and the links stay. Anything else (a device such as /dev/null, a FIFO, a socket) is
//! written through and never replaced, as is standard output. Also here: the progress bar, the
//! refusal of Parquet on a terminal, and the SQL layer's errors as the command line's failures
//! (a closed pipe a quiet exit).

use crate::common::{exit, usage, Failure};
use epicor_kinetic_sql::{SqlError, SqlErrorKind};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Parquet is binary: never onto a terminal.
pub(crate) fn parquet_to_terminal() -> Failure {
    usage(
        "Parquet is a binary format: it is not written to a terminal",
        "give -o FILE.parquet, or redirect standard output to a file (> FILE.parquet)",
    )
}

/// An output of a command that writes a result (`export`, `sql`): standard output, a file
/// written through (a device, a FIFO, a socket), or a regular file written under a temporary
/// name and renamed into place when complete, with the signals that would leave the temporary
/// file behind caught while it is written.
pub(crate) struct Output {
    sink: Option<Box<dyn Write + Send>>,
    pending: Option<Pending>,
    named: Option<PathBuf>,
    stops: Option<Stops>,
    /// The output is a terminal (standard output, or `-o /dev/tty`).
    pub terminal: bool,
}

impl Output {
    /// The output `path` names (`None` or `-`: standard output). A FIFO is opened here, before
    /// the signal handlers: its open waits for a reader, and Ctrl-C must still end that wait.
    pub fn open(path: Option<&Path>) -> Result<Output, Failure> {
        let named = path.filter(|p| p.as_os_str() != "-").map(Path::to_path_buf);
        let destination = match &named {
            Some(path) => Destination::open(path)?,
            None => Destination::Stdout,
        };
        // A temporary file must be removed when a signal stops the command, so the signals that
        // would end the process are caught from before it is made; written through, nothing is
        // left behind and the signals keep their default action.
        let stops = match &destination {
            Destination::Atomic { .. } => Some(Stops::listen()?),
            _ => None,
        };
        let (pending, sink, terminal): (Option<Pending>, Box<dyn Write + Send>, bool) =
            match destination {
                Destination::Stdout => (
                    None,
                    Box::new(std::io::stdout()),
                    std::io::stdout().is_terminal(),
                ),
                Destination::Through(sink, terminal) => (None, sink, terminal),
                Destination::Atomic { target, existing } => {
                    let pending = Pending::create(&target, existing.as_ref())?;
                    let file = pending.file.reopen().map_err(|e| Failure::Io {
                        what: format!("opening {}", pending.temp_path().display()),
                        source: e,
                    })?;
                    (Some(pending), Box::new(file), false)
                }
            };
        Ok(Output {
            sink: Some(sink),
            pending,
            named,
            stops,
            terminal,
        })
    }

    /// The writer (once).
    pub fn take_sink(&mut self) -> Box<dyn Write + Send> {
        self.sink
            .take()
            .unwrap_or_else(|| Box::new(std::io::sink()))
    }

    /// Runs `work`, ended early by SIGINT, SIGTERM or SIGHUP while a temporary file is open.
    pub async fn guard<T>(
        &mut self,
        work: impl std::future::Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        match &mut self.stops {
            Some(stops) => tokio::select! {
                r = work => r,
                stop = stops.next() => Err(stop),
            },
            None => work.await,
        }
    }

    /// Moves a complete temporary file into place; returns where the output went, for a
    /// message. (Dropped without this, the temporary file is removed.)
    pub fn finish(self) -> Result<String, Failure> {
        Ok(match (self.pending, &self.named) {
            (Some(p), Some(named)) => {
                p.persist()?;
                named.display().to_string()
            }
            (_, Some(named)) => named.display().to_string(),
            (_, None) => "standard output".into(),
        })
    }
}

pub(crate) fn progress_bar(total: Option<u64>) -> ProgressBar {
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

/// Where an export goes.
enum Destination {
    /// Standard output (no `-o`, or `-o -`).
    Stdout,
    /// Not a regular file (a character or block device, a FIFO, a socket), after symbolic
    /// links: written as it is, never replaced (and whether it is a terminal).
    Through(Box<dyn Write + Send>, bool),
    /// A regular file or a new one, after symbolic links: written under a temporary name
    /// beside `target` and renamed over it when complete.
    Atomic {
        /// The file the links lead to (the name given when it is no link).
        target: PathBuf,
        /// The file there now, whose mode (and owner) the new one keeps.
        existing: Option<std::fs::Metadata>,
    },
}

impl Destination {
    /// The destination `path` names: links followed, devices, FIFOs and sockets opened.
    fn open(path: &Path) -> Result<Destination, Failure> {
        let cannot = |e: std::io::Error| {
            usage(
                format!("cannot write to {}: {e}", path.display()),
                "give -o a file in a directory that exists and that you may write to",
            )
        };
        let target = follow_links(path).map_err(cannot)?;
        let existing = match std::fs::metadata(&target) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Destination::Atomic {
                    target,
                    existing: None,
                })
            }
            Err(e) => return Err(cannot(e)),
        };
        let kind = existing.file_type();
        if kind.is_dir() {
            return Err(usage(
                format!("{} is a directory", path.display()),
                "give a file name, e.g. -o lines.csv",
            ));
        }
        if kind.is_file() {
            return Ok(Destination::Atomic {
                target,
                existing: Some(existing),
            });
        }
        #[cfg(unix)]
        if std::os::unix::fs::FileTypeExt::is_socket(&kind) {
            let socket = std::os::unix::net::UnixStream::connect(&target).map_err(cannot)?;
            return Ok(Destination::Through(Box::new(socket), false));
        }
        // Written in place, as a shell's `>` does: no truncation (meaningless for these), no
        // creation (it exists).
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .map_err(cannot)?;
        let terminal = file.is_terminal();
        Ok(Destination::Through(Box::new(file), terminal))
    }
}

/// The path that `path` leads to through symbolic links (itself when it is none), whether
/// that exists or not: a dangling link leads to the file to create.
fn follow_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut at = path.to_path_buf();
    // Linux's limit (MAXSYMLINKS) on links followed in one lookup.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&at)?;
                at = match at.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Ok(_) => return Ok(at),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(at),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// The signals that end an export with a temporary file to remove: SIGINT (Ctrl-C), SIGTERM
/// (`kill`, service managers) and SIGHUP (the terminal closed). A signal ignored when the
/// command started (`nohup`, a script's background job) stays ignored.
struct Stops {
    #[cfg(unix)]
    caught: Vec<(tokio::signal::unix::Signal, u8, &'static str)>,
}

impl Stops {
    #[cfg(unix)]
    fn listen() -> Result<Stops, Failure> {
        use crate::common::exit;
        use tokio::signal::unix::{signal, SignalKind};
        let mut caught = Vec::new();
        for (kind, code, what) in [
            (SignalKind::interrupt(), exit::INTERRUPTED, "interrupted"),
            (SignalKind::terminate(), exit::TERMINATED, "terminated"),
            (SignalKind::hangup(), exit::HANGUP, "hung up"),
        ] {
            if ignored(kind.as_raw_value()) {
                continue;
            }
            let s = signal(kind).map_err(|e| Failure::Io {
                what: "setting up the signal handlers".into(),
                source: e,
            })?;
            caught.push((s, code, what));
        }
        Ok(Stops { caught })
    }

    #[cfg(not(unix))]
    fn listen() -> Result<Stops, Failure> {
        Ok(Stops {})
    }

    /// The first of the signals to come, as the failure it causes.
    async fn next(&mut self) -> Failure {
        #[cfg(unix)]
        {
            if self.caught.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.caught.iter_mut().map(|(s, code, what)| {
                Box::pin(async move {
                    s.recv().await;
                    Failure::Interrupted { code: *code, what }
                })
            });
            futures_util::future::select_all(waits).await.0
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Failure::Interrupted {
                code: crate::common::exit::INTERRUPTED,
                what: "interrupted",
            }
        }
    }
}

/// Whether `signal` is ignored (SIG_IGN), as it was inherited.
#[cfg(unix)]
pub(crate) fn ignored(signal: i32) -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: with no new action, sigaction(2) only writes the current one into `current`,
    // which is zeroed memory of its type.
    let read = unsafe { libc::sigaction(signal, std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: zeroed, then filled by a successful call: a valid sigaction either way.
    read == 0 && unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// An output file being written under a temporary name in its directory.
struct Pending {
    file: tempfile::NamedTempFile,
    target: PathBuf,
}

impl Pending {
    /// A temporary file beside `target`: with the permission bits (and owner, where allowed)
    /// of the `existing` file, else those the umask leaves of 0666, as any new file.
    fn create(target: &Path, existing: Option<&std::fs::Metadata>) -> Result<Pending, Failure> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "export".into());
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The kernel takes the umask from 0666, as for any new file (the umask is never
            // read: reading it means changing it, for the whole process). A file replaced
            // starts private and takes its mode below.
            let mode = if existing.is_some() { 0o600 } else { 0o666 };
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        let file = builder.tempfile_in(&dir).map_err(|e| {
            usage(
                format!("cannot write in {}: {e}", dir.display()),
                "give -o a file in a directory that exists and that you may write to",
            )
        })?;
        #[cfg(unix)]
        if let Some(existing) = existing {
            keep_owner_and_mode(file.as_file(), existing).map_err(|e| Failure::Io {
                what: format!(
                    "giving {} the mode of {}",
                    file.path().display(),
                    target.display()
                ),
                source: e,
            })?;
        }
        #[cfg(not(unix))]
        let _ = existing;
        Ok(Pending {
            file,
            target: target.to_path_buf(),
        })
    }

    fn temp_path(&self) -> &Path {
        self.file.path()
    }

    /// Renames the complete file over the target, its data and its name on disk first.
    fn persist(self) -> Result<PathBuf, Failure> {
        let target = self.target.clone();
        self.file.as_file().sync_all().map_err(|e| Failure::Io {
            what: format!("writing {}", self.file.path().display()),
            source: e,
        })?;
        let dir = self.file.path().parent().map(Path::to_path_buf);
        self.file.persist(&target).map_err(|e| Failure::Io {
            what: format!("moving the export into place at {}", target.display()),
            source: e.error,
        })?;
        // The rename itself, on disk (where a directory can be opened and synced).
        if let Some(Ok(dir)) = dir.map(std::fs::File::open) {
            let _ = dir.sync_all();
        }
        Ok(target)
    }
}

/// Gives `file` the owner and group of `existing` where this user may (root may; anyone may
/// keep their own uid and a group they belong to), then its permission bits (not setuid,
/// setgid or sticky).
#[cfg(unix)]
fn keep_owner_and_mode(file: &std::fs::File, existing: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::{fchown, MetadataExt, PermissionsExt};
    if fchown(file, Some(existing.uid()), Some(existing.gid())).is_err() {
        let _ = fchown(file, None, Some(existing.gid()));
    }
    file.set_permissions(std::fs::Permissions::from_mode(existing.mode() & 0o777))
}

/// A writer that remembers whether its reader went away (a closed pipe), which the SQL layer's
/// error only tells as text: a closed pipe is a quiet exit, as for every command.
pub(crate) struct Watched {
    inner: Box<dyn Write + Send>,
    broken: Arc<AtomicBool>,
}

impl Watched {
    /// `inner`, buffered and watched; the flag turns true when its reader has gone.
    pub fn new(inner: Box<dyn Write + Send>) -> (std::io::BufWriter<Watched>, Arc<AtomicBool>) {
        let broken = Arc::new(AtomicBool::new(false));
        let w = Watched {
            inner,
            broken: broken.clone(),
        };
        (std::io::BufWriter::with_capacity(1 << 16, w), broken)
    }

    fn seen<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                self.broken.store(true, Ordering::Relaxed);
            }
        }
        r
    }
}

impl Write for Watched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.seen(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.seen(r)
    }
}

/// The command line's failure for a SQL error: the statement's fault is bad usage (2), the
/// connector's errors keep their codes (sign-in 4, business rules 5, ...), a closed pipe is a
/// quiet exit.
pub(crate) fn failure(e: SqlError, broken: &AtomicBool) -> Failure {
    if broken.load(Ordering::Relaxed) {
        return Failure::ClosedPipe;
    }
    match e.kind() {
        SqlErrorKind::Invalid => usage(
            e.to_string(),
            "fix the statement (in the `kinetic sql` shell, \\d lists the tables and \\d TABLE a table's columns)",
        ),
        SqlErrorKind::Connector(_) if e.connector().is_some() => {
            Failure::Kinetic(e.connector().cloned().expect("checked"))
        }
        SqlErrorKind::Partial => Failure::Other {
            message: e.to_string(),
            hint: Some(
                "the rows named above were written and the others were not: check them before running the statement again"
                    .into(),
            ),
            code: e.connector().map_or(exit::FAILED, crate::common::code),
        },
        // The message says the session is read-only and that nothing was sent.
        SqlErrorKind::ReadOnly => Failure::Other {
            message: e.to_string(),
            hint: None,
            code: exit::USAGE,
        },
        // The message names the property that stopped the statement and what to do.
        SqlErrorKind::Limit => Failure::Other {
            message: e.to_string(),
            hint: None,
            code: exit::FAILED,
        },
        _ => Failure::Other {
            message: e.to_string(),
            hint: None,
            code: exit::FAILED,
        },
    }
}
