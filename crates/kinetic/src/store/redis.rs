//! `OAuthSettingsLocation=redis://host:port/db` (or `rediss://` for TLS): tokens kept in Redis,
//! shared by every server instance that names the same Redis and key.
//!
//! Values are encrypted as the token file is (XChaCha20-Poly1305 under the `OAuthSettingsKey`),
//! with the Redis key name bound in as associated data: an entry copied under another key (another
//! user's) does not decrypt. Every entry expires with its token (`PX`), so nothing grows without
//! bound; entries are grouped per user in a sorted set, capped ([`RedisStore::put`]), the
//! soonest-expiring evicted first.
//!
//! Redis is a cache here, never the only copy of anything a request needs: every call has a short
//! timeout, and after a failure the store is skipped for [`RedisStore::RETRY_AFTER`] (calls answer
//! at once with an error the caller treats as a miss), then tried again, so a Redis restart is
//! picked up without a restart of the application. [`RedisStore::stats`] counts calls, failures
//! and skips.
//!
//! The location takes two parameters of kinetic's own, removed before the URL reaches Redis:
//! `ca=/path/ca.pem` (a CA to trust for `rediss://` besides Mozilla's roots) and `prefix=name`
//! (the key prefix, `kinetic` by default). The password goes in `OAuthSettingsPassword`, never in
//! the URL, so that it stays out of settings dumps and logs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult};

use super::format;
use super::{Change, SettingsKey, StoredSettings, TokenStore};
use crate::{Error, Result, Secret};

/// The prefixes that make an `OAuthSettingsLocation` a Redis store.
pub const REDIS_PREFIXES: [&str; 2] = ["redis://", "rediss://"];

/// Whether `location` names a Redis store.
pub fn is_redis(location: &str) -> bool {
    REDIS_PREFIXES
        .iter()
        .any(|p| super::starts_with_ignore_case(location, p))
}

/// Counters of a [`RedisStore`] since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Calls Redis answered.
    pub ok: u64,
    /// Calls that failed (Redis down, timed out, refused).
    pub errors: u64,
    /// Calls not made because Redis failed a moment ago.
    pub skipped: u64,
}

/// A lock held in Redis ([`RedisStore::try_lock`]): released by [`RedisStore::unlock`], or by
/// Redis itself when its time is up (an instance that dies holding it blocks nobody for longer).
#[derive(Debug)]
pub struct RedisLock {
    name: String,
    token: String,
}

/// A Redis server holding kinetic's entries: see the [module documentation](self).
pub struct RedisStore {
    /// The location without its parameters, for messages (it holds no password: see
    /// [`RedisStore::open`]).
    shown: String,
    client: redis::Client,
    key: SettingsKey,
    prefix: String,
    idle: Mutex<Vec<Connection>>,
    /// After a failure, Redis is not asked again until then.
    down_until: Mutex<Option<Instant>>,
    timeout: Duration,
    ok: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("location", &self.shown)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Deletes a lock only when it is still ours (its random token), so a lock that expired and was
/// taken by another instance is not released by the first.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// Writes an entry with its lifetime and files it in its group (a sorted set scored by expiry),
/// dropping the group's expired names and, above the cap, its soonest-expiring entries. KEYS: the
/// entry, the group. ARGV: value, lifetime ms, expiry ms (Unix), now ms, cap.
const PUT_IN_GROUP: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local cap = tonumber(ARGV[5])
local n = redis.call('ZCARD', KEYS[2])
if n > cap then
  local old = redis.call('ZRANGE', KEYS[2], 0, n - cap - 1)
  for _, k in ipairs(old) do redis.call('DEL', k); redis.call('ZREM', KEYS[2], k) end
end
local keep = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[2])
if left < keep then redis.call('PEXPIRE', KEYS[2], keep) end
return n";

/// Deletes every entry of a group, then the group. KEYS: the group.
const REMOVE_GROUP: &str = r"
local names = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, k in ipairs(names) do redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return #names";

impl RedisStore {
    /// How long Redis is left alone after a failure.
    pub const RETRY_AFTER: Duration = Duration::from_secs(2);
    /// The longest a lock is held before Redis drops it.
    pub const LOCK_TTL: Duration = Duration::from_secs(15);

    /// A store at `location` (`redis://host:port/db`, `rediss://...` for TLS, with the optional
    /// `ca=` and `prefix=` parameters), encrypting with `key`, authenticating with `password` when
    /// given. Nothing is sent yet. A password inside the URL is refused (put it in
    /// `OAuthSettingsPassword`).
    pub fn open(
        location: &str,
        key: SettingsKey,
        password: Option<&Secret>,
    ) -> Result<Arc<RedisStore>> {
        let bad = |why: String| {
            Error::invalid_settings(
                "OAuthSettingsLocation",
                why,
                "write it as redis://host:6379/0 or rediss://host:6380/0 (TLS), with optional ?ca=/path/ca.pem&prefix=name, and the password in OAuthSettingsPassword",
            )
        };
        let mut url = url::Url::parse(location)
            .map_err(|e| bad(format!("`{}` is not a URL: {e}", shown(location))))?;
        if url.password().is_some() {
            return Err(Error::invalid_settings(
                "OAuthSettingsPassword",
                "the Redis password is in OAuthSettingsLocation, where it would show wherever the settings do",
                "move it to OAuthSettingsPassword and leave it out of the URL",
            ));
        }
        let mut ca = None;
        let mut prefix = "kinetic".to_owned();
        let mut rest = Vec::new();
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "ca" => ca = Some(v.into_owned()),
                "prefix" if !v.is_empty() && !v.contains(['{', '}', ' ']) => {
                    prefix = v.into_owned()
                }
                "prefix" => return Err(bad(format!("prefix `{v}` must be a non-empty word"))),
                _ => rest.push((k.into_owned(), v.into_owned())),
            }
        }
        if rest.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(rest);
        }
        let shown_location = url.to_string();
        let mut info: redis::ConnectionInfo = url
            .as_str()
            .parse::<redis::ConnectionInfo>()
            .map_err(|e| bad(format!("`{shown_location}`: {e}")))?;
        if let Some(p) = password {
            let redis_settings = info.redis_settings().clone().set_password(p.expose());
            info = info.set_redis_settings(redis_settings);
        }
        let client = match ca {
            Some(path) => {
                let pem = std::fs::read(&path).map_err(|e| Error::ConfigFile {
                    path: path.clone().into(),
                    message: format!("cannot read the Redis CA certificate `ca={path}`"),
                    source: Some(Arc::new(e)),
                })?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
            None => redis::Client::open(info),
        }
        .map_err(|e| bad(format!("`{shown_location}`: {e}")))?;
        Ok(Arc::new(RedisStore {
            shown: shown_location,
            client,
            key,
            prefix,
            idle: Mutex::new(Vec::new()),
            down_until: Mutex::new(None),
            timeout: Duration::from_millis(500),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }))
    }

    /// The counters since the store was opened.
    pub fn stats(&self) -> RedisStats {
        RedisStats {
            ok: self.ok.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }

    /// The full Redis key of `name`.
    fn full(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn unavailable(&self, why: String) -> Error {
        Error::Transport {
            status: None,
            message: format!("the token store at {}: {why}", self.shown),
            correlation_id: None,
            source: None,
        }
    }

    fn connect(&self) -> RedisResult<Connection> {
        let c = self.client.get_connection_with_timeout(self.timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        Ok(c)
    }

    /// Runs `f` on a pooled connection; a failure marks Redis down for [`Self::RETRY_AFTER`].
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Result<T> {
        {
            let mut down = self
                .down_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *down {
                Some(until) if Instant::now() < until => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    return Err(self.unavailable(
                        "not asked: it failed a moment ago (tried again shortly)".into(),
                    ));
                }
                Some(_) => *down = None,
                None => {}
            }
        }
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let result = match pooled {
            Some(c) => Ok(c),
            None => self.connect(),
        }
        .and_then(|mut c| f(&mut c).map(|v| (v, c)));
        match result {
            Ok((value, c)) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                if idle.len() < 16 {
                    idle.push(c);
                }
                Ok(value)
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                // Connections made before the failure may be as broken: start again.
                self.idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                *self
                    .down_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some(Instant::now() + Self::RETRY_AFTER);
                tracing::warn!(target: "epicor_kinetic::auth", "the token store at {} failed ({e}); carrying on without it", self.shown);
                Err(self.unavailable(e.to_string()))
            }
        }
    }

    /// The entry `name`, decrypted; `None` when there is none (or it expired).
    pub fn get(&self, name: &str) -> Result<Option<StoredSettings>> {
        let full = self.full(name);
        let bytes: Option<Vec<u8>> = self.with(|c| redis::cmd("GET").arg(&full).query(c))?;
        bytes.map(|b| self.decrypt(&full, &b)).transpose()
    }

    fn decrypt(&self, full: &str, bytes: &[u8]) -> Result<StoredSettings> {
        format::open_bound(bytes, &self.key, full.as_bytes()).map_err(|damage| {
            self.unavailable(format!("the entry {full} cannot be used: {damage}"))
        })
    }

    fn encrypt(&self, full: &str, value: &StoredSettings) -> Result<Vec<u8>> {
        format::seal_bound(value, &self.key, full.as_bytes())
            .map_err(|e| Error::internal(format!("sealing a token store entry: {e}")))
    }

    /// Writes `value` as `name` for `ttl` (at least a second). With `group`, the entry is filed in
    /// that group (a user's), which keeps at most `cap` live entries: the soonest-expiring go
    /// first.
    pub fn put(
        &self,
        name: &str,
        value: &StoredSettings,
        ttl: Duration,
        group: Option<(&str, usize)>,
    ) -> Result<()> {
        let full = self.full(name);
        let sealed = self.encrypt(&full, value)?;
        let ms = ttl.as_millis().clamp(1_000, u64::MAX as u128) as u64;
        match group {
            None => self.with(|c| {
                redis::cmd("SET")
                    .arg(&full)
                    .arg(&sealed)
                    .arg("PX")
                    .arg(ms)
                    .query::<()>(c)
            }),
            Some((group, cap)) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let group = self.full(&format!("group:{group}"));
                self.with(|c| {
                    redis::Script::new(PUT_IN_GROUP)
                        .key(&full)
                        .key(&group)
                        .arg(&sealed)
                        .arg(ms)
                        .arg(now.saturating_add(ms))
                        .arg(now)
                        .arg(cap.max(1))
                        .invoke::<i64>(c)
                        .map(|_| ())
                })
            }
        }
    }

    /// Writes `value` as `name` for `ttl`, in clear: for what is no secret (a sign-out's time).
    pub fn set_plain(&self, name: &str, value: &str, ttl: Duration) -> Result<()> {
        let full = self.full(name);
        let ms = ttl.as_millis().max(1) as u64;
        self.with(|c| {
            redis::cmd("SET")
                .arg(&full)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .query::<()>(c)
        })
    }

    /// What [`RedisStore::set_plain`] wrote as `name`.
    pub fn get_plain(&self, name: &str) -> Result<Option<String>> {
        let full = self.full(name);
        self.with(|c| redis::cmd("GET").arg(&full).query(c))
    }

    /// Deletes the entry `name`.
    pub fn remove(&self, name: &str) -> Result<()> {
        let full = self.full(name);
        self.with(|c| redis::cmd("DEL").arg(&full).query::<i64>(c).map(|_| ()))
    }

    /// Deletes every entry of `group`; returns how many there were.
    pub fn remove_group(&self, group: &str) -> Result<u64> {
        let group = self.full(&format!("group:{group}"));
        self.with(|c| {
            redis::Script::new(REMOVE_GROUP)
                .key(&group)
                .invoke::<u64>(c)
        })
    }

    /// Takes the lock `name` for at most `ttl`; `None` when another holder has it.
    pub fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<RedisLock>> {
        let full = self.full(&format!("lock:{name}"));
        let token = crate::oauth::b64url(&rand::random::<[u8; 16]>());
        let ms = ttl.as_millis().max(1) as u64;
        let taken: Option<String> = self.with(|c| {
            redis::cmd("SET")
                .arg(&full)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query(c)
        })?;
        Ok(taken.map(|_| RedisLock { name: full, token }))
    }

    /// Releases a lock (only if it is still ours).
    pub fn unlock(&self, lock: RedisLock) -> Result<()> {
        self.with(|c| {
            redis::Script::new(UNLOCK)
                .key(&lock.name)
                .arg(&lock.token)
                .invoke::<i64>(c)
                .map(|_| ())
        })
    }

    /// Whether the lock `name` is held by anyone.
    pub fn is_locked(&self, name: &str) -> Result<bool> {
        let full = self.full(&format!("lock:{name}"));
        self.with(|c| redis::cmd("EXISTS").arg(&full).query::<bool>(c))
    }

    /// Publishes `message` on the store's channel (every [`RedisStore::subscribe`]r hears it).
    pub fn publish(&self, message: &str) -> Result<()> {
        let channel = self.full("events");
        self.with(|c| {
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(message)
                .query::<i64>(c)
                .map(|_| ())
        })
    }

    /// Calls `handler` with each message published on the store's channel, from a thread of its
    /// own that reconnects after Redis restarts, until the store is dropped. `on_reconnect` runs
    /// each time the subscription is made again after a break (messages published meanwhile were
    /// missed: drop what they might have said).
    pub fn subscribe(
        self: &Arc<Self>,
        handler: Box<dyn Fn(&str) + Send>,
        on_reconnect: Box<dyn Fn() + Send>,
    ) -> Result<()> {
        let weak: Weak<RedisStore> = Arc::downgrade(self);
        let channel = self.full("events");
        std::thread::Builder::new()
            .name("kinetic-redis-events".into())
            .spawn(move || {
                let mut broken = false;
                loop {
                    let Some(store) = weak.upgrade() else { return };
                    let connected = store.connect();
                    drop(store);
                    let mut conn = match connected {
                        Ok(c) => c,
                        Err(_) => {
                            broken = true;
                            std::thread::sleep(Duration::from_millis(500));
                            continue;
                        }
                    };
                    if broken {
                        // Every way back to the top of the loop breaks again first.
                        on_reconnect();
                    }
                    let mut sub = conn.as_pubsub();
                    if sub.subscribe(&channel).is_err() {
                        broken = true;
                        continue;
                    }
                    loop {
                        if weak.strong_count() == 0 {
                            return;
                        }
                        match sub.get_message() {
                            Ok(msg) => {
                                if let Ok(text) = msg.get_payload::<String>() {
                                    handler(&text);
                                }
                            }
                            Err(e) if e.is_timeout() => continue,
                            Err(_) => {
                                broken = true;
                                break;
                            }
                        }
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the Redis event thread: {e}")))?;
        Ok(())
    }

    /// The single-slot [`TokenStore`] `name` in this Redis (what `OAuthSettingsLocation=redis://`
    /// gives an interactive or app-only connection).
    pub fn slot(self: &Arc<Self>, name: &str) -> RedisSlot {
        RedisSlot {
            store: self.clone(),
            name: name.to_owned(),
        }
    }
}

/// One [`StoredSettings`] in a [`RedisStore`], as a [`TokenStore`]: updates run under a Redis lock,
/// so instances sharing it refresh a rotating refresh token once.
#[derive(Debug, Clone)]
pub struct RedisSlot {
    store: Arc<RedisStore>,
    name: String,
}

impl TokenStore for RedisSlot {
    fn load(&self) -> Result<Option<StoredSettings>> {
        self.store.get(&self.name)
    }

    fn update(
        &self,
        change: &mut dyn FnMut(Option<&StoredSettings>) -> Result<Change>,
    ) -> Result<Option<StoredSettings>> {
        let deadline = Instant::now() + RedisStore::LOCK_TTL;
        let lock = loop {
            if let Some(l) = self.store.try_lock(&self.name, RedisStore::LOCK_TTL)? {
                break l;
            }
            if Instant::now() > deadline {
                return Err(self.store.unavailable(format!(
                    "the lock of {} stayed taken for {} s",
                    self.name,
                    RedisStore::LOCK_TTL.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let outcome = (|| {
            let current = self.store.get(&self.name)?;
            match change(current.as_ref())? {
                Change::Keep => Ok(current),
                Change::Write(next) => {
                    // A slot lives as long as its refresh token may: 90 days, Entra's longest.
                    self.store
                        .put(&self.name, &next, Duration::from_secs(90 * 86_400), None)?;
                    Ok(Some(next))
                }
                Change::Remove => {
                    self.store.remove(&self.name)?;
                    Ok(None)
                }
            }
        })();
        let released = self.store.unlock(lock);
        let value = outcome?;
        released?;
        Ok(value)
    }
}

/// Opened stores, one per location and key, so every connection of a process that names the same
/// Redis shares one pool and one event thread.
pub(crate) fn shared(
    location: &str,
    key: SettingsKey,
    password: Option<&Secret>,
) -> Result<Arc<RedisStore>> {
    type Registry = Mutex<HashMap<(String, Vec<u8>), Weak<RedisStore>>>;
    static OPEN: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    // Keyed by a hash of the key and password, never by them.
    let mut hash = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut hash, key.cipher_key().as_slice());
    sha2::Digest::update(&mut hash, [0u8]);
    sha2::Digest::update(&mut hash, password.map_or("", |p| p.expose()).as_bytes());
    let id = (location.to_owned(), sha2::Digest::finalize(hash).to_vec());
    let mut open = OPEN
        .get_or_init(Registry::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = open.get(&id).and_then(Weak::upgrade) {
        return Ok(s);
    }
    let store = RedisStore::open(location, key, password)?;
    open.retain(|_, w| w.strong_count() > 0);
    open.insert(id, Arc::downgrade(&store));
    Ok(store)
}

/// `location` with any password and query removed, for messages.
fn shown(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}
