//! Where settings come from besides an explicit connection string: the environment and the
//! configuration directory. Both are traits so tests (and embedders) never touch the real ones.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

/// The environment variables the connector may read.
pub trait Env {
    /// The value of `name`, or `None` when unset. Implementations may treat an empty value as
    /// unset; the connector ignores empty `KINETIC_*` variables either way.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        // A value that is not UTF-8 is read lossily rather than dropped: dropping it would fall
        // through to a lower source silently, which is harder to diagnose than a wrong value.
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

/// A fixed set of variables, for tests and for programs that build settings from their own map.
impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A fixed set of variables, for tests and for programs that build settings from their own map.
impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// No variables at all.
impl Env for () {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// The configuration directory (`~/.config/kinetic`) and the files in it.
pub trait ConfigFiles {
    /// The directory, or `None` when there is none (no home directory can be found).
    fn dir(&self) -> Option<PathBuf>;

    /// The contents of `path`, or `None` when it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<String>>;

    /// Replaces `path` with `contents` atomically (readers see the old file or the new one, never
    /// a mix), readable by the owner only (mode 0600 on Unix), creating its directory (0700) if
    /// needed.
    fn write_private(&self, path: &Path, contents: &str) -> io::Result<()>;
}

/// The real file system, rooted at one configuration directory.
#[derive(Clone, Debug, Default)]
pub struct ConfigDir {
    dir: Option<PathBuf>,
}

/// The variable that overrides where the configuration directory is.
pub const CONFIG_DIR_VAR: &str = "KINETIC_CONFIG_DIR";

impl ConfigDir {
    /// The files under `dir` (which is used as is: `profiles.toml` goes directly in it).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        ConfigDir {
            dir: Some(dir.into()),
        }
    }

    /// No configuration directory: every profile lookup finds nothing, and writing fails.
    pub fn none() -> Self {
        ConfigDir { dir: None }
    }

    /// The user's configuration directory, found in this order:
    /// 1. `$KINETIC_CONFIG_DIR`, used as is;
    /// 2. `$XDG_CONFIG_HOME/kinetic` when that variable holds an absolute path;
    /// 3. `$HOME/.config/kinetic` (on every Unix, macOS included, as command-line tools do);
    /// 4. on Windows, `%APPDATA%\kinetic`;
    /// 5. the home directory the operating system reports, plus `.config/kinetic`.
    pub fn locate(env: &dyn Env) -> Self {
        let non_empty = |name: &str| env.var(name).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty(CONFIG_DIR_VAR) {
            return ConfigDir::at(dir);
        }
        if let Some(xdg) = non_empty("XDG_CONFIG_HOME").map(PathBuf::from) {
            if xdg.is_absolute() {
                return ConfigDir::at(xdg.join("kinetic"));
            }
        }
        if cfg!(unix) {
            if let Some(home) = non_empty("HOME") {
                return ConfigDir::at(Path::new(&home).join(".config").join("kinetic"));
            }
        }
        if cfg!(windows) {
            if let Some(dir) = dirs::config_dir() {
                return ConfigDir::at(dir.join("kinetic"));
            }
        }
        match dirs::home_dir() {
            Some(home) => ConfigDir::at(home.join(".config").join("kinetic")),
            None => ConfigDir::none(),
        }
    }
}

impl ConfigFiles for ConfigDir {
    fn dir(&self) -> Option<PathBuf> {
        self.dir.clone()
    }

    fn read(&self, path: &Path) -> io::Result<Option<String>> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_private(&self, path: &Path, contents: &str) -> io::Result<()> {
        use std::io::Write;
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        // A unique temporary name in the same directory, so the final rename is atomic and two
        // writers never share a temporary file.
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "profiles.toml".into());
        let mut attempt = 0u32;
        let (tmp, mut file) = loop {
            let tmp = dir.join(format!(".{file_name}.{}.{attempt}.tmp", std::process::id()));
            match open_private(&tmp) {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let written = file
            .write_all(contents.as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> io::Result<std::fs::File> {
    // Windows: files under the user's profile are private to the user by default ACLs.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn locate_prefers_the_override_then_xdg_then_home() {
        let all = env(&[
            ("KINETIC_CONFIG_DIR", "/o"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(ConfigDir::locate(&all).dir(), Some(PathBuf::from("/o")));
        let xdg = env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            ConfigDir::locate(&xdg).dir(),
            Some(PathBuf::from("/x/kinetic"))
        );
        if cfg!(unix) {
            let relative_xdg = env(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")]);
            assert_eq!(
                ConfigDir::locate(&relative_xdg).dir(),
                Some(PathBuf::from("/h/.config/kinetic"))
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn write_private_is_atomic_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().map_err(|e| e.to_string());
        let tmp = tmp
            .as_ref()
            .map(|t| t.path())
            .unwrap_or(Path::new("/nonexistent"));
        let dir = tmp.join("nested").join("kinetic");
        let files = ConfigDir::at(&dir);
        let path = dir.join("profiles.toml");
        assert!(files.write_private(&path, "a = 1\n").is_ok());
        assert!(files.write_private(&path, "b = 2\n").is_ok());
        assert_eq!(files.read(&path).ok().flatten().as_deref(), Some("b = 2\n"));
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let dir_mode = std::fs::metadata(&dir).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(dir_mode.ok(), Some(0o700));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(files.read(&dir.join("missing.toml")).ok(), Some(None));
    }
}
