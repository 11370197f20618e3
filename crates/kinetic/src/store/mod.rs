//! Where tokens are kept between runs: the `OAuthSettingsLocation`.
//!
//! A [`TokenStore`] holds one [`StoredSettings`]: the token (access token, refresh token, expiry,
//! when it was obtained) and, during a web sign-in, the PKCE verifier and `state` of the
//! authorization request. Two stores exist:
//! - [`MemoryStore`], for `OAuthSettingsLocation=memory://name`: shared by name within the process,
//!   gone when it ends;
//! - [`FileStore`], for a file path: encrypted (XChaCha20-Poly1305 under a 256-bit key), written
//!   atomically with mode 0600, and guarded by a lock across processes, so that many processes
//!   sharing one file refresh a rotating refresh token once and none is left holding a revoked
//!   one.
//!
//! [`open`] picks the store from the settings; with no `OAuthSettingsLocation` it is a file under
//! the configuration directory, one per URL, instance, client and user ([`default_path`]).
//!
//! Refreshing through a store is one [`TokenStore::update`]: under the lock, the closure sees what
//! is stored *now* (another process may have refreshed a moment ago), and either uses it or calls
//! the identity provider and returns what to write.
//!
//! ```
//! use epicor_kinetic::auth::Token;
//! use epicor_kinetic::store::{Change, MemoryStore, StoredSettings, TokenStore};
//!
//! let store = MemoryStore::named("doc-example");
//! let stored = store.update(&mut |current| {
//!     if current.and_then(|s| s.token.as_ref()).is_some() {
//!         return Ok(Change::Keep); // someone else already signed in
//!     }
//!     Ok(Change::Write(StoredSettings::with_token(Token::bearer("t").with_refresh_token("r"))))
//! })?;
//! assert_eq!(stored.and_then(|s| s.token).map(|t| t.access_token), Some("t".into()));
//! # Ok::<(), epicor_kinetic::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::settings::{ConfigFiles, Env};
use crate::token::Token;
use crate::{Error, Result, Secret, Settings};

mod file;
mod format;
mod key;
mod memory;
pub mod redis;
mod resp;
pub mod users;

/// Entry points for the fuzz targets (`fuzz/`): the token file's reader on any bytes. Not part of
/// the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::{format, SettingsKey};

    /// Reads `bytes` as a token file under a fixed key; whether they opened.
    pub fn open_file_bytes(bytes: &[u8]) -> bool {
        format::open(bytes, &SettingsKey::from_bytes([7; 32])).is_ok()
    }

    /// Parses `plaintext` as a decrypted token file's contents; whether they parsed. (Random bytes
    /// never pass the cipher's tag, so this is how a fuzzer reaches the parser behind it.)
    pub fn open_plaintext(plaintext: &[u8]) -> bool {
        format::from_json(plaintext).is_ok()
    }
}

pub use file::FileStore;
pub use key::{SettingsKey, KEY_FILE_NAME, SETTINGS_KEY_VAR};
pub use memory::MemoryStore;
pub use redis::{RedisSlot, RedisStats, RedisStore};
pub use users::{UserCacheStats, UserKey, UserTokenCache};

/// What an `OAuthSettingsLocation` keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSettings {
    /// The current token, once signed in.
    pub token: Option<Token>,
    /// An authorization request waiting for its redirect (web sign-in).
    pub pending: Option<PendingAuthorization>,
    /// What the token is for, when an app-only source stored it (a fingerprint of the grant,
    /// client, scope and server): a token stored for other settings is not used.
    pub source: Option<String>,
    /// The identity provider's discovery document, as last read.
    pub discovery: Option<StoredDiscovery>,
}

impl StoredSettings {
    /// Settings holding `token` and nothing else.
    pub fn with_token(token: Token) -> Self {
        StoredSettings {
            token: Some(token),
            ..StoredSettings::default()
        }
    }

    /// Empty settings that keep what `current` holds beside tokens (the discovery document),
    /// to build a write that replaces only the token and pending request.
    pub fn carried(current: Option<&StoredSettings>) -> Self {
        StoredSettings {
            discovery: current.and_then(|c| c.discovery.clone()),
            ..StoredSettings::default()
        }
    }
}

/// A discovery document kept in the store, so a warm start needs no network call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredDiscovery {
    /// The document's address.
    pub url: String,
    /// What it named.
    pub endpoints: crate::oauth::Endpoints,
    /// When it was read, in seconds since the Unix epoch.
    pub fetched_at: u64,
}

impl StoredDiscovery {
    /// How long a stored discovery document is used before it is read again (a day, as
    /// identity providers' metadata caches do).
    pub const LIFETIME_SECS: u64 = 24 * 3600;

    /// A document read at `fetched_at`.
    pub fn new(url: String, endpoints: crate::oauth::Endpoints, fetched_at: u64) -> Self {
        StoredDiscovery {
            url,
            endpoints,
            fetched_at,
        }
    }

    /// Whether it is the document at `url` and young enough at `now`.
    pub fn usable(&self, url: &str, now: u64) -> bool {
        self.url == url && self.fetched_at <= now && now - self.fetched_at < Self::LIFETIME_SECS
    }
}

/// An authorization-code request in progress: what `GetOAuthAuthorizationURL` leaves behind for
/// the redirect to complete.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// The PKCE code verifier.
    pub code_verifier: Secret,
    /// The `state` sent with the request, to match against the redirect's.
    pub state: Secret,
    /// The redirect URI the request named, which the code redemption must repeat.
    pub redirect_uri: Option<String>,
    /// When the request was made, in seconds since the Unix epoch.
    pub created_at: u64,
}

impl PendingAuthorization {
    /// A request made at `created_at` with this verifier and state.
    pub fn new(code_verifier: Secret, state: Secret, created_at: u64) -> Self {
        PendingAuthorization {
            code_verifier,
            state,
            redirect_uri: None,
            created_at,
        }
    }
}

/// What an [`update`](TokenStore::update) closure decides.
// Returned once per update and consumed at once: boxing `Write` would cost an allocation for
// nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Change {
    /// Leave the stored settings as they are (for example: another process already refreshed).
    Keep,
    /// Replace them.
    Write(StoredSettings),
    /// Delete them (sign out).
    Remove,
}

/// A place that keeps [`StoredSettings`] between runs.
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// What is stored now, without waiting for a writer.
    fn load(&self) -> Result<Option<StoredSettings>>;

    /// Reads what is stored, runs `change` on it and applies its decision, all under the store's
    /// lock (across processes for a file), so no other update runs in between. Returns what is
    /// stored afterwards. An error reading the store is returned without running `change`; an
    /// error from `change` is returned with nothing written.
    fn update(
        &self,
        change: &mut dyn FnMut(Option<&StoredSettings>) -> Result<Change>,
    ) -> Result<Option<StoredSettings>>;
}

/// [`TokenStore::load`] on Tokio's blocking pool: a file store reads, decrypts and may wait for
/// a lock, which must not hold up a runtime worker.
pub async fn load_blocking(store: &Arc<dyn TokenStore>) -> Result<Option<StoredSettings>> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.load())
        .await
        .map_err(|_| Error::internal("the token store task stopped before it finished"))?
}

/// [`TokenStore::update`] on Tokio's blocking pool (see [`load_blocking`]).
pub async fn update_blocking(
    store: &Arc<dyn TokenStore>,
    mut change: impl FnMut(Option<&StoredSettings>) -> Result<Change> + Send + 'static,
) -> Result<Option<StoredSettings>> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.update(&mut change))
        .await
        .map_err(|_| Error::internal("the token store task stopped before it finished"))?
}

/// Where `OAuthSettingsLocation` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// `memory://name`.
    Memory(String),
    /// A file.
    File(PathBuf),
    /// `redis://...` or `rediss://...` (TLS): a [`RedisStore`].
    Redis(String),
}

/// The prefix that makes an `OAuthSettingsLocation` a [`MemoryStore`].
pub const MEMORY_PREFIX: &str = "memory://";

impl StoreLocation {
    /// Reads an `OAuthSettingsLocation` value: `memory://name`, `redis://...` or `rediss://...`
    /// (prefixes in any case), or a path.
    pub fn parse(location: &Path) -> Self {
        if let Some(text) = location.to_str() {
            if starts_with_ignore_case(text, MEMORY_PREFIX) {
                return StoreLocation::Memory(text[MEMORY_PREFIX.len()..].to_owned());
            }
            if redis::is_redis(text) {
                return StoreLocation::Redis(text.to_owned());
            }
        }
        StoreLocation::File(location.to_owned())
    }
}

/// Whether `text` starts with `prefix`, ignoring ASCII case.
pub(crate) fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// The token file used when `OAuthSettingsLocation` is not set:
/// `{config dir}/tokens/{hash}.json.enc`, where the hash covers the URL, instance, client id and
/// user, so every identity against every server has its own file.
pub fn default_path(config: &dyn ConfigFiles, settings: &Settings) -> Result<PathBuf> {
    let dir = config.dir().ok_or_else(|| {
        Error::invalid_settings(
            "OAuthSettingsLocation",
            "no configuration directory was found to keep tokens in (no home directory)",
            "set OAuthSettingsLocation to a file, or to memory://name to keep tokens in memory",
        )
    })?;
    Ok(dir
        .join("tokens")
        .join(format!("{}.json.enc", identity_hash(settings))))
}

/// The first 128 bits of SHA-256 over `fields`, each length-prefixed so that no two different
/// field lists hash the same text, in hex: the one way the store names and fingerprints things
/// (token files, Redis entries, what a stored token was obtained for).
pub fn fields_digest<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hash = Sha256::new();
    for field in fields {
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field);
    }
    crate::encoding::hex(&hash.finalize()[..16])
}

/// [`fields_digest`] of the identity the settings name (URL, instance, client id, user); URL and
/// instance are compared without case, as servers do.
fn identity_hash(settings: &Settings) -> String {
    fields_digest([
        settings.url.to_ascii_lowercase().as_bytes(),
        settings.erp_instance.to_ascii_lowercase().as_bytes(),
        settings.oauth.client_id.as_deref().unwrap_or("").as_bytes(),
        settings.auth.user.as_deref().unwrap_or("").as_bytes(),
    ])
}

/// The Redis store at `location`, with the settings' key and password (one per process).
fn redis_store(
    settings: &Settings,
    location: &str,
    env: &dyn Env,
    config: &dyn ConfigFiles,
) -> Result<Arc<RedisStore>> {
    let key = SettingsKey::resolve(settings.oauth.settings_key.as_ref(), env, config)?;
    redis::shared(location, key, settings.oauth.settings_password.as_ref())
}

/// The shared Redis store the settings name (`OAuthSettingsLocation=redis://...`), if they name
/// one: what a web application's per-user tokens are kept in ([`crate::Client::on_behalf_of`]).
pub fn open_shared(
    settings: &Settings,
    env: &dyn Env,
    config: &dyn ConfigFiles,
) -> Result<Option<Arc<RedisStore>>> {
    match settings
        .oauth
        .settings_location
        .as_deref()
        .map(StoreLocation::parse)
    {
        Some(StoreLocation::Redis(location)) => {
            if settings.oauth.settings_key.is_none() && env.var(SETTINGS_KEY_VAR).is_none() {
                return Err(Error::invalid_settings(
                    "OAuthSettingsKey",
                    "a Redis token store is shared by every instance of the application, and they must all encrypt with one key",
                    format!("set OAuthSettingsKey (or {SETTINGS_KEY_VAR}) to the same 64 hex digits on every instance (`openssl rand -hex 32` makes one)"),
                ));
            }
            Ok(Some(redis_store(settings, &location, env, config)?))
        }
        _ => Ok(None),
    }
}

/// The store the settings name: `memory://name`, `redis://...`, the `OAuthSettingsLocation` file, or the
/// [`default_path`] file. A file's key comes from `OAuthSettingsKey`, else
/// [`SETTINGS_KEY_VAR`], else the per-user key file (created on first use); see
/// [`SettingsKey::resolve`].
pub fn open(
    settings: &Settings,
    env: &dyn Env,
    config: &dyn ConfigFiles,
) -> Result<Arc<dyn TokenStore>> {
    let location = match &settings.oauth.settings_location {
        Some(location) => StoreLocation::parse(location),
        None => StoreLocation::File(default_path(config, settings)?),
    };
    Ok(match location {
        StoreLocation::Memory(name) => Arc::new(MemoryStore::named(&name)),
        StoreLocation::File(path) => {
            let key = SettingsKey::resolve(settings.oauth.settings_key.as_ref(), env, config)?;
            Arc::new(FileStore::new(path, key))
        }
        StoreLocation::Redis(location) => {
            let store = redis_store(settings, &location, env, config)?;
            // One slot per identity, as the default file is one per identity.
            Arc::new(store.slot(&format!("slot:{}", identity_hash(settings))))
        }
    })
}

#[cfg(test)]
mod tests;
