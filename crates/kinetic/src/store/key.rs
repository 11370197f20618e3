//! The 256-bit key that encrypts token files.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use chacha20poly1305::aead::Generate;
use chacha20poly1305::Key;
use zeroize::{Zeroize, Zeroizing};

use super::file::{create_private_dir, open_private_new, sync_dir, temp_path};
use crate::settings::{ConfigFiles, Env};
use crate::{Error, Result, Secret};

/// The environment variable that gives the token files' key when `OAuthSettingsKey` is not set.
pub const SETTINGS_KEY_VAR: &str = "KINETIC_SETTINGS_KEY";

/// The per-user key file in the configuration directory, used when no key is given.
pub const KEY_FILE_NAME: &str = "settings.key";

/// A 256-bit key: redacted when printed, zeroed on drop.
///
/// Written as 64 hexadecimal digits or as the base64 of 32 bytes (standard or URL-safe alphabet,
/// padded or not):
///
/// ```
/// use epicor_kinetic::store::SettingsKey;
///
/// assert!(SettingsKey::parse(&"ab".repeat(32)).is_some());
/// assert!(SettingsKey::parse("q83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80=").is_some());
/// assert!(SettingsKey::parse("my password").is_none());
/// assert_eq!(format!("{:?}", SettingsKey::generate()), "SettingsKey([redacted])");
/// ```
#[derive(Clone)]
pub struct SettingsKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SettingsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SettingsKey({})", crate::secret::REDACTED)
    }
}

impl SettingsKey {
    /// The key made of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SettingsKey(Zeroizing::new(bytes))
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut fresh = Key::generate();
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(fresh.as_slice());
        fresh.as_mut_slice().zeroize();
        SettingsKey(bytes)
    }

    /// Reads a key written as 64 hex digits or base64 of 32 bytes; `None` for anything else.
    /// Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let mut bytes = Zeroizing::new([0u8; 32]);
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, pair) in text.as_bytes().chunks(2).enumerate() {
                let digits = std::str::from_utf8(pair).ok()?;
                bytes[i] = u8::from_str_radix(digits, 16).ok()?;
            }
            return Some(SettingsKey(bytes));
        }
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            let mut decoded = Zeroizing::new(Vec::new());
            if engine.decode_vec(text, &mut decoded).is_ok() && decoded.len() == 32 {
                bytes.copy_from_slice(&decoded);
                return Some(SettingsKey(bytes));
            }
        }
        None
    }

    /// The key as 64 lower-case hex digits, the way the key file holds it.
    pub fn to_hex(&self) -> Secret {
        Secret::new(crate::encoding::hex(&*self.0))
    }

    /// The key for the token files: `OAuthSettingsKey` when given, else the
    /// [`SETTINGS_KEY_VAR`] environment variable, else the per-user key file
    /// `{config dir}/settings.key`, created (mode 0600) on first use.
    pub fn resolve(
        settings_key: Option<&Secret>,
        env: &dyn Env,
        config: &dyn ConfigFiles,
    ) -> Result<Self> {
        let bad_key = |source: &str| {
            Error::invalid_settings(
                "OAuthSettingsKey",
                format!("{source} is not a 256-bit key"),
                "give 64 hexadecimal digits or the base64 of 32 bytes (for example the output of \
                 `openssl rand -hex 32`)",
            )
        };
        if let Some(key) = settings_key {
            return Self::parse(key.expose()).ok_or_else(|| bad_key("`OAuthSettingsKey`"));
        }
        if let Some(text) = env.var(SETTINGS_KEY_VAR).map(Zeroizing::new) {
            if !text.trim().is_empty() {
                return Self::parse(&text).ok_or_else(|| {
                    bad_key(&format!("the environment variable `{SETTINGS_KEY_VAR}`"))
                });
            }
        }
        let dir = config.dir().ok_or_else(|| {
            Error::invalid_settings(
                "OAuthSettingsKey",
                "no key was given for the token file and there is no configuration directory to \
                 keep a key file in",
                format!("set OAuthSettingsKey or {SETTINGS_KEY_VAR} to 64 hexadecimal digits"),
            )
        })?;
        Self::load_or_create(&dir.join(KEY_FILE_NAME))
    }

    /// The key in the key file at `path`, creating the file with a new random key (mode 0600,
    /// directory 0700) when there is none. Two processes creating it at once agree on one key:
    /// the file appears complete or not at all, and the one that loses the race reads the
    /// winner's.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let io_error = |message: &str, e: std::io::Error| Error::ConfigFile {
            path: path.to_owned(),
            message: message.to_owned(),
            source: Some(std::sync::Arc::new(e)),
        };
        // Only in the fallback for file systems without hard links can a reader see a key file
        // that is still being written: give the writer a moment before calling it damaged.
        for attempt in 0..50 {
            match std::fs::read(path).map(Zeroizing::new) {
                Ok(text) => {
                    let parsed = std::str::from_utf8(&text).ok().and_then(Self::parse);
                    match parsed {
                        Some(key) => return Ok(key),
                        None if attempt < 49 && text.len() < 64 => {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                        None => {
                            return Err(Error::ConfigFile {
                                path: path.to_owned(),
                                message: "the token key file is damaged (it does not hold 64 \
                                          hexadecimal digits); delete it, and sign in again: \
                                          token files encrypted with it cannot be read any more"
                                    .into(),
                                source: None,
                            })
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("the token key file cannot be read", e)),
            }
            match Self::create(path) {
                Ok(Some(key)) => return Ok(key),
                Ok(None) => continue, // another process made it first: read theirs
                Err(e) => return Err(io_error("the token key file cannot be created", e)),
            }
        }
        Err(Error::ConfigFile {
            path: path.to_owned(),
            message: "the token key file is still being written by another process; try again"
                .into(),
            source: None,
        })
    }

    /// Writes a new key file, or returns `None` when one appeared first.
    fn create(path: &Path) -> std::io::Result<Option<Self>> {
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let key = Self::generate();
        let text = Zeroizing::new(format!("{}\n", key.to_hex().expose()));
        let (tmp, mut file) = temp_path(path, open_private_new)?;
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // A hard link publishes the complete file under its name, and fails if the name is
        // taken: no process ever sees a half-written key, and no key is ever replaced.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(dir);
                Ok(Some(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(_) => {
                // No hard links on this file system: create the name itself, exclusively.
                match open_private_new(path) {
                    Ok(mut file) => {
                        file.write_all(text.as_bytes())?;
                        file.sync_all()?;
                        sync_dir(dir);
                        Ok(Some(key))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    pub(crate) fn cipher_key(&self) -> &Key {
        (&*self.0).into()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::settings::ConfigDir;

    #[test]
    fn parses_hex_and_base64_and_nothing_else() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = SettingsKey::parse(hex).unwrap_or_else(|| panic!("hex"));
        assert_eq!(key.to_hex().expose(), hex.to_ascii_lowercase());
        let b64 = base64::engine::general_purpose::STANDARD.encode(*key.0);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*key.0);
        for text in [b64.as_str(), url.as_str(), &format!("  {hex}\n")] {
            let parsed = SettingsKey::parse(text).map(|k| k.to_hex());
            assert_eq!(parsed, Some(key.to_hex()), "{text}");
        }
        for bad in [
            "",
            "short",
            &hex[..62],
            &format!("{hex}00"),
            &"zz".repeat(32),
            "AAAA",
        ] {
            assert!(SettingsKey::parse(bad).is_none(), "{bad}");
        }
        // Base64 of 31 or 33 bytes is not a 256-bit key.
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        assert!(SettingsKey::parse(&short).is_none());
    }

    #[test]
    fn resolves_setting_then_environment_then_key_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = ConfigDir::at(dir.path().join("kinetic"));
        let a = "aa".repeat(32);
        let b = "bb".repeat(32);
        let env: HashMap<String, String> = [(SETTINGS_KEY_VAR.to_owned(), b.clone())].into();
        let hex = |k: Result<SettingsKey>| k.map(|k| k.to_hex().expose().to_owned());
        let explicit = Secret::new(a.clone());
        assert_eq!(
            hex(SettingsKey::resolve(Some(&explicit), &env, &config)).ok(),
            Some(a)
        );
        assert_eq!(hex(SettingsKey::resolve(None, &env, &config)).ok(), Some(b));
        assert!(
            !dir.path().join("kinetic").exists(),
            "no key file with a key given"
        );
        let first = hex(SettingsKey::resolve(None, &(), &config)).ok();
        let again = hex(SettingsKey::resolve(None, &(), &config)).ok();
        assert!(first.is_some());
        assert_eq!(first, again, "the key file is reused");
        let key_file = dir.path().join("kinetic").join(KEY_FILE_NAME);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| {
                std::fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o777)
                    .ok()
            };
            assert_eq!(mode(&key_file), Some(0o600));
            assert_eq!(mode(&dir.path().join("kinetic")), Some(0o700));
        }
        // No stray temporary files are left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("kinetic"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE_NAME)]);
    }

    #[test]
    fn a_bad_key_names_where_it_came_from_and_not_its_value() {
        let config = ConfigDir::none();
        let e = SettingsKey::resolve(Some(&Secret::new("hunter2-pass")), &(), &config)
            .err()
            .map(|e| (e.to_string(), e.property().map(str::to_owned)));
        let (text, property) = e.unwrap_or_default();
        assert!(
            text.contains("`OAuthSettingsKey` is not a 256-bit key"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(property.as_deref(), Some("OAuthSettingsKey"));
        let env: HashMap<String, String> =
            [(SETTINGS_KEY_VAR.to_owned(), "hunter2-env".to_owned())].into();
        let text = SettingsKey::resolve(None, &env, &config)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains(SETTINGS_KEY_VAR), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let text = SettingsKey::resolve(None, &(), &config)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("no configuration directory"), "{text}");
    }

    #[test]
    fn a_damaged_key_file_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(KEY_FILE_NAME);
        std::fs::write(&path, "x".repeat(80)).unwrap_or_else(|e| panic!("{e}"));
        let text = SettingsKey::load_or_create(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            text.contains("damaged") && text.contains("delete it"),
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(&path).ok(), Some("x".repeat(80)));
    }

    #[test]
    fn racing_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("k").join(KEY_FILE_NAME);
        let keys: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| SettingsKey::load_or_create(&path).map(|k| k.to_hex())))
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        assert_eq!(keys.len(), 8);
        let first = keys[0].as_ref().ok().cloned();
        assert!(first.is_some());
        assert!(keys.iter().all(|k| k.as_ref().ok() == first.as_ref()));
    }
}
