//! The encrypted token file, shared safely by any number of processes.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::format::{self, Damage};
use super::{Change, SettingsKey, StoredSettings, TokenStore, SETTINGS_KEY_VAR};
use crate::{Error, Result};

/// How long [`FileStore::update`](TokenStore::update) waits for another process's update by
/// default. An update holds the lock for one token request, which has its own timeouts well
/// below this.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Tokens in a file, encrypted with XChaCha20-Poly1305 under a [`SettingsKey`].
///
/// - The file (and every temporary file) is created with mode 0600, its directory with 0700.
/// - A write goes to a temporary file in the same directory, is flushed to disk, then renamed over
///   the file, and the directory is flushed: a crash or `kill -9` at any moment leaves the old
///   file or the new one, never a mix.
/// - [`update`](TokenStore::update) holds an advisory lock on a sibling `{file}.lock` across
///   processes and re-reads the file under it, so concurrent refreshes are serialized and each
///   sees the previous one's result.
/// - A file that cannot be read (not a token file, truncated, another key, damaged contents) is an
///   [`Error::ConfigFile`] saying why and what to do; it is never overwritten by `update`.
///
/// The format is described in the `store` module's source (`format.rs`): a 29-byte header
/// (`KNTS`, version 1, 24-byte nonce) bound to the ciphertext as associated data.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    key: SettingsKey,
    lock_timeout: Duration,
}

impl FileStore {
    /// The store in the file at `path`, encrypted with `key`. Nothing is read or created until
    /// it is used.
    pub fn new(path: impl Into<PathBuf>, key: SettingsKey) -> Self {
        FileStore {
            path: path.into(),
            key,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// The same store, waiting at most `timeout` for the lock.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file beside it.
    pub fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    fn read(&self) -> Result<Option<StoredSettings>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("the token file cannot be read", e)),
        };
        // An empty file holds nothing to lose (this store never writes one): treat it as not
        // signed in, so a file created empty to name the location just works.
        if bytes.is_empty() {
            return Ok(None);
        }
        format::open(&bytes, &self.key)
            .map(Some)
            .map_err(|damage| self.damaged(&damage))
    }

    fn damaged(&self, damage: &Damage) -> Error {
        let key_hint = if *damage == Damage::WrongKeyOrTampered {
            format!(
                ", or set OAuthSettingsKey (or {SETTINGS_KEY_VAR}) to the key it was written with"
            )
        } else {
            String::new()
        };
        Error::ConfigFile {
            path: self.path.clone(),
            message: format!(
                "the token file cannot be read: {damage}. It was left as it is: delete it to sign \
                 in again{key_hint}"
            ),
            source: None,
        }
    }

    /// `message` with the system's reason (a full disk, a permission) in the text itself, so that
    /// whoever shows only the message still says why.
    fn io_error(&self, message: &str, e: io::Error) -> Error {
        Error::ConfigFile {
            path: self.path.clone(),
            message: format!("{message}: {e}"),
            source: Some(std::sync::Arc::new(e)),
        }
    }

    fn lock(&self) -> Result<File> {
        let lock_path = self.lock_path();
        let lock_error = |e: io::Error| Error::ConfigFile {
            path: lock_path.clone(),
            message: "the token file's lock cannot be taken".into(),
            source: Some(std::sync::Arc::new(e)),
        };
        create_private_dir(parent(&self.path)).map_err(lock_error)?;
        let file = open_private(&lock_path).map_err(lock_error)?;
        let deadline = Instant::now() + self.lock_timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            // Called through the trait: `File::try_lock` in newer standard libraries shadows it.
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(file),
                Err(fs4::TryLockError::WouldBlock) => {}
                Err(fs4::TryLockError::Error(e)) => return Err(lock_error(e)),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::ConfigFile {
                    path: lock_path,
                    message: format!(
                        "the token file is locked by another process, which has held it for more \
                         than {} s; try again, and if no other kinetic process is running, check \
                         that the file system supports locks",
                        self.lock_timeout.as_secs()
                    ),
                    source: Some(std::sync::Arc::new(io::ErrorKind::TimedOut.into())),
                });
            }
            std::thread::sleep(pause.min(deadline - now));
            // Short pauses first: a refresh usually holds the lock for one quick request.
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    fn write(&self, settings: &StoredSettings) -> Result<()> {
        let bytes = format::seal(settings, &self.key)
            .map_err(|e| self.io_error("the token file cannot be written", e))?;
        write_atomically(&self.path, &bytes)
            .map_err(|e| self.io_error("the token file cannot be written", e))
    }

    /// Removes temporary files that writers killed mid-write left behind. Only called under the
    /// lock, when no writer of this file can be running.
    fn remove_stale_temp_files(&self) {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(parent(&self.path)) else {
            return;
        };
        let prefix = format!(".{name}.");
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(other) = file_name.to_str() else {
                continue;
            };
            if is_temp_of(other, &prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl TokenStore for FileStore {
    fn load(&self) -> Result<Option<StoredSettings>> {
        // No lock: writes are atomic renames, so a reader sees a whole file, old or new.
        self.read()
    }

    fn update(
        &self,
        change: &mut dyn FnMut(Option<&StoredSettings>) -> Result<Change>,
    ) -> Result<Option<StoredSettings>> {
        let _lock = self.lock()?;
        let current = self.read()?;
        match change(current.as_ref())? {
            Change::Keep => Ok(current),
            Change::Write(settings) => {
                self.remove_stale_temp_files();
                self.write(&settings)?;
                Ok(Some(settings))
            }
            Change::Remove => {
                match std::fs::remove_file(&self.path) {
                    Ok(()) => sync_dir(parent(&self.path)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.io_error("the token file cannot be removed", e)),
                }
                Ok(None)
            }
        }
        // The lock is released when `_lock` is closed, after the rename is on disk.
    }
}

/// `.{name}.{pid}.{n}.tmp`, the shape of `temp_path`'s names, for this file only.
fn is_temp_of(candidate: &str, prefix: &str) -> bool {
    let Some(rest) = candidate
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let mut parts = rest.split('.');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// A new, exclusively created file beside `path` named `.{name}.{pid}.{n}.tmp`, opened by `open`.
pub(super) fn temp_path(
    path: &Path,
    open: impl Fn(&Path) -> io::Result<File>,
) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tokens".into());
    let dir = parent(path);
    let mut attempt = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            // Left by an earlier process with the same id: pick another number.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Replaces `path` with `bytes`: temporary file (0600) in the same directory, write, fsync,
/// rename, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    create_private_dir(dir)?;
    let (tmp, mut file) = temp_path(path, open_private_new)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename is durable only once the directory entry is.
    sync_dir(dir);
    Ok(())
}

/// Flushes a directory's entries to disk, where the platform can (Unix); best effort, since the
/// data itself is already flushed and some file systems refuse to sync a directory.
pub(super) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Creates `path` exclusively, readable and writable by the owner only.
pub(super) fn open_private_new(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    owner_only(&mut options);
    options.open(path)
}

/// Opens or creates `path` (the lock file), owner only when created.
fn open_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    owner_only(&mut options);
    options.open(path)
}

fn owner_only(options: &mut std::fs::OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    // Windows: files under the user's profile are private to the user by default ACLs.
    #[cfg(not(unix))]
    let _ = options;
}

/// Creates `dir` and its missing parents, owner only (0700) on Unix.
pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_match_only_their_own_file() {
        assert!(is_temp_of(".t.json.enc.123.0.tmp", ".t.json.enc."));
        assert!(!is_temp_of(".t.json.enc.x.123.0.tmp", ".t.json.enc."));
        assert!(!is_temp_of(".t.json.enc.123.tmp", ".t.json.enc."));
        assert!(!is_temp_of(".t.json.enc.123.0.1.tmp", ".t.json.enc."));
        assert!(!is_temp_of("t.json.enc", ".t.json.enc."));
    }

    #[test]
    fn siblings_and_parents() {
        assert_eq!(
            sibling(Path::new("/a/t.json.enc"), ".lock"),
            PathBuf::from("/a/t.json.enc.lock")
        );
        assert_eq!(parent(Path::new("t.json")), Path::new("."));
        assert_eq!(parent(Path::new("/a/t.json")), Path::new("/a"));
    }
}
