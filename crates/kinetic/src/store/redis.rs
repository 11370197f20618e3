//! `OAuthSettingsLocation=redis://host:port/db` (or `rediss://` for TLS): tokens kept in Redis,
//! shared by every server instance that names the same Redis and key.
//!
//! Values are encrypted as the token file is (XChaCha20-Poly1305 under the `OAuthSettingsKey`),
//! with the Redis key name bound in as associated data: an entry copied under another key (another
//! user's) does not decrypt. Sign-out records ([`RedisStore::set_sealed`]) and the events published
//! to other instances ([`RedisStore::publish`]) are sealed the same way, so whoever can write to
//! Redis but has no key can forge none of them: what does not open is refused and counted
//! ([`RedisStats::refused`]). Every entry expires with its token (`PX`), so nothing grows without
//! bound; entries are grouped per user in a sorted set, capped ([`RedisStore::put`]), the
//! soonest-expiring evicted first.
//!
//! Redis is a cache here, never the only copy of anything a request needs, and a slow or hostile
//! one must not hold the application up. Each call (connecting included) has one deadline,
//! [`RedisStore::CALL_DEADLINE`], however the server drips its answer; a reply longer than
//! [`RedisStore::REPLY_CAP`] is refused from its header; a connection that failed is dropped,
//! never pooled half-read. After a failure, or an answer slower than half the deadline, the store
//! is skipped for [`RedisStore::RETRY_AFTER`] (calls answer at once with an error the caller
//! treats as a miss), then tried again, so a Redis restart is picked up without a restart of the
//! application. A lock another holder keeps is waited for [`RedisStore::LOCK_WAIT`] at most.
//! [`RedisStore::stats`] counts all of it.
//!
//! The location takes two parameters of kinetic's own: `ca=/path/ca.pem` (a CA to trust for
//! `rediss://` besides Mozilla's roots) and `prefix=name` (the key prefix, `kinetic` by default).
//! The password goes in `OAuthSettingsPassword`, never in the URL, so that it stays out of settings
//! dumps and logs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::{RedisError, RedisResult};

use super::format;
use super::resp::{Fault, Target, Wire};
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
    /// Calls that failed (Redis down, timed out, refused, a reply too long).
    pub errors: u64,
    /// Calls not made because Redis failed (or was slow) a moment ago.
    pub skipped: u64,
    /// Of the failed calls, those that missed their deadline ([`RedisStore::CALL_DEADLINE`]).
    pub timeouts: u64,
    /// Of the failed calls, those whose reply was longer than [`RedisStore::REPLY_CAP`].
    pub oversized: u64,
    /// Of the answered calls, those slower than half their deadline (Redis then skipped for a
    /// while, as after a failure).
    pub slow: u64,
    /// Values read from Redis that did not open under the key (an entry, a sign-out record or an
    /// event unsealed, damaged, sealed under another key or copied from another name).
    pub refused: u64,
    /// Waits for a lock another holder kept for [`RedisStore::LOCK_WAIT`] (the waiter then did
    /// without it).
    pub lock_timeouts: u64,
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
    target: Target,
    key: SettingsKey,
    prefix: String,
    idle: Mutex<Vec<Wire>>,
    /// After a failure, Redis is not asked again until then.
    down_until: Mutex<Option<Instant>>,
    ok: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    timeouts: AtomicU64,
    oversized: AtomicU64,
    slow: AtomicU64,
    refused: AtomicU64,
    lock_timeouts: AtomicU64,
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
    /// The longest one call may take, all of it: connecting (name lookup, TCP, TLS, `AUTH`,
    /// `SELECT`), sending, and reading the whole reply. A healthy Redis answers in a millisecond.
    pub const CALL_DEADLINE: Duration = Duration::from_secs(1);
    /// The longest reply read: entries, sign-out records and events are a few kilobytes.
    pub const REPLY_CAP: usize = super::resp::REPLY_CAP;
    /// The longest anyone waits for a lock another holder keeps (a renewal takes well under a
    /// second); then the waiter does without it ([`UserTokenCache`](super::UserTokenCache) asks
    /// the identity provider itself; a [`RedisSlot`] update fails, as a file store's lock
    /// timeout does).
    pub const LOCK_WAIT: Duration = Duration::from_millis(1_500);

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
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "ca" => ca = Some(v.into_owned()),
                "prefix" if !v.is_empty() && !v.contains(['{', '}', ' ']) => {
                    prefix = v.into_owned()
                }
                "prefix" => return Err(bad(format!("prefix `{v}` must be a non-empty word"))),
                other => {
                    return Err(bad(format!(
                        "`{other}` is not a parameter of a Redis location (kinetic reads ca= and prefix=)"
                    )))
                }
            }
        }
        url.set_query(None);
        let shown_location = url.to_string();
        if url.fragment().is_some() {
            return Err(bad(format!(
                "`{}` has a #fragment: certificate checks cannot be turned off (give the CA with ?ca= instead)",
                shown(location)
            )));
        }
        let tls = url.scheme().eq_ignore_ascii_case("rediss");
        let host = url
            .host()
            .map(|h| h.to_owned())
            .ok_or_else(|| bad(format!("`{shown_location}` names no host")))?;
        let db = match url.path().trim_matches('/') {
            "" => 0,
            path => path.parse::<i64>().map_err(|_| {
                bad(format!(
                    "`{path}` in `{shown_location}` is not a database number"
                ))
            })?,
        };
        let username = match url.username() {
            "" => None,
            name => Some(
                percent_encoding::percent_decode_str(name)
                    .decode_utf8()
                    .map_err(|_| bad("the user name is not UTF-8".into()))?
                    .into_owned(),
            ),
        };
        let tls = if tls {
            Some(Arc::new(tls_config(ca.as_deref())?))
        } else {
            None
        };
        Ok(Arc::new(RedisStore {
            shown: shown_location,
            target: Target {
                host,
                port: url.port().unwrap_or(6379),
                tls,
                username,
                password: password.cloned(),
                db,
            },
            key,
            prefix,
            idle: Mutex::new(Vec::new()),
            down_until: Mutex::new(None),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            lock_timeouts: AtomicU64::new(0),
        }))
    }

    /// The counters since the store was opened.
    pub fn stats(&self) -> RedisStats {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RedisStats {
            ok: n(&self.ok),
            errors: n(&self.errors),
            skipped: n(&self.skipped),
            timeouts: n(&self.timeouts),
            oversized: n(&self.oversized),
            slow: n(&self.slow),
            refused: n(&self.refused),
            lock_timeouts: n(&self.lock_timeouts),
        }
    }

    /// Counts a wait for a lock given up after [`Self::LOCK_WAIT`].
    pub(crate) fn gave_up_waiting(&self) {
        self.lock_timeouts.fetch_add(1, Ordering::Relaxed);
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

    fn mark_down(&self) {
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + Self::RETRY_AFTER);
    }

    /// Runs `f` on a pooled connection (or a new one), all of it within [`Self::CALL_DEADLINE`].
    /// A failure, or an answer slower than half the deadline, leaves Redis alone for
    /// [`Self::RETRY_AFTER`].
    fn with<T>(&self, f: impl FnOnce(&mut Wire) -> RedisResult<T>) -> Result<T> {
        {
            let mut down = self
                .down_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *down {
                Some(until) if Instant::now() < until => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    return Err(self.unavailable(
                        "not asked: it failed or was slow a moment ago (tried again shortly)"
                            .into(),
                    ));
                }
                Some(_) => *down = None,
                None => {}
            }
        }
        let started = Instant::now();
        let deadline = started + Self::CALL_DEADLINE;
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut wire = match pooled {
            Some(mut w) => {
                w.set_deadline(deadline);
                w
            }
            None => match Wire::connect(&self.target, deadline) {
                Ok(w) => w,
                Err(e) => return Err(self.failed(e, None)),
            },
        };
        match f(&mut wire) {
            Ok(value) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                let took = started.elapsed();
                if took > Self::CALL_DEADLINE / 2 {
                    self.slow.fetch_add(1, Ordering::Relaxed);
                    self.mark_down();
                    tracing::warn!(target: "epicor_kinetic::auth", "the token store at {} took {} ms to answer; carrying on without it for {} s", self.shown, took.as_millis(), Self::RETRY_AFTER.as_secs());
                } else if wire.reusable() {
                    let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                    if idle.len() < 16 {
                        idle.push(wire);
                    }
                }
                Ok(value)
            }
            Err(e) => Err(self.failed(e, wire.fault())),
        }
    }

    /// Counts and logs a failed call, leaves Redis alone for [`Self::RETRY_AFTER`], and returns
    /// the error a caller treats as a miss.
    fn failed(&self, e: RedisError, fault: Option<Fault>) -> Error {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let why = match fault {
            Some(Fault::Deadline) => None,
            Some(Fault::Oversized) => {
                self.oversized.fetch_add(1, Ordering::Relaxed);
                Some(format!(
                    "a reply longer than {} KiB was refused",
                    Self::REPLY_CAP / 1024
                ))
            }
            _ if e.is_timeout() => None,
            _ => Some(e.to_string()),
        };
        let why = why.unwrap_or_else(|| {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            format!("no answer within {} ms", Self::CALL_DEADLINE.as_millis())
        });
        // Connections made before the failure may be as broken: start again.
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.mark_down();
        tracing::warn!(target: "epicor_kinetic::auth", "the token store at {} failed ({why}); carrying on without it", self.shown);
        self.unavailable(why)
    }

    /// Counts and logs a value that did not open under the key.
    fn refuse(&self, what: &str, damage: format::Damage) -> Error {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        // Forged values may come by the thousand: the first and then every power of two.
        if n.is_power_of_two() {
            tracing::warn!(target: "epicor_kinetic::auth", "the token store at {}: {what} was refused ({damage}); {n} refused so far", self.shown);
        }
        self.unavailable(format!("{what} cannot be used: {damage}"))
    }

    /// The entry `name`, decrypted; `None` when there is none (or it expired).
    pub fn get(&self, name: &str) -> Result<Option<StoredSettings>> {
        let full = self.full(name);
        let bytes: Option<Vec<u8>> = self.with(|c| redis::cmd("GET").arg(&full).query(c))?;
        bytes.map(|b| self.decrypt(&full, &b)).transpose()
    }

    fn decrypt(&self, full: &str, bytes: &[u8]) -> Result<StoredSettings> {
        format::open_bound(bytes, &self.key, full.as_bytes())
            .map_err(|damage| self.refuse(&format!("the entry {full}"), damage))
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
            None => self.set_px(&full, &sealed, ms),
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

    /// What a sealed record or event is bound to besides its bytes: what it is and where it is
    /// kept, so one never passes for another (or for an entry, bound to its bare key name).
    fn context(kind: &str, full: &str) -> Vec<u8> {
        format!("kinetic {kind}\n{full}").into_bytes()
    }

    fn seal_text(&self, kind: &str, full: &str, text: &str) -> Result<Vec<u8>> {
        format::seal_bytes(text.as_bytes(), &self.key, &Self::context(kind, full))
            .map_err(|e| Error::internal(format!("sealing a token store record: {e}")))
    }

    fn open_text(&self, kind: &str, full: &str, bytes: &[u8]) -> Result<String> {
        let what = || format!("the {kind} {full}");
        let plain = format::open_bytes(bytes, &self.key, &Self::context(kind, full))
            .map_err(|damage| self.refuse(&what(), damage))?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| self.refuse(&what(), format::Damage::BadContents("not UTF-8".into())))
    }

    /// Writes the short text `value` as `name` for `ttl`, sealed under the key and bound to
    /// `name` (a sign-out's time: no secret, but it must not be forged).
    pub fn set_sealed(&self, name: &str, value: &str, ttl: Duration) -> Result<()> {
        let full = self.full(name);
        let sealed = self.seal_text("record", &full, value)?;
        self.set_px(&full, &sealed, ttl.as_millis().max(1) as u64)
    }

    /// `SET full sealed PX ms`: one value that expires after `ms` milliseconds.
    fn set_px(&self, full: &str, sealed: &[u8], ms: u64) -> Result<()> {
        self.with(|c| {
            redis::cmd("SET")
                .arg(full)
                .arg(sealed)
                .arg("PX")
                .arg(ms)
                .query::<()>(c)
        })
    }

    /// What [`RedisStore::set_sealed`] wrote as `name`. A value that does not open (written by
    /// someone without the key, or copied from another name) is an error, counted in
    /// [`RedisStats::refused`].
    pub fn get_sealed(&self, name: &str) -> Result<Option<String>> {
        let full = self.full(name);
        let bytes: Option<Vec<u8>> = self.with(|c| redis::cmd("GET").arg(&full).query(c))?;
        bytes
            .map(|b| self.open_text("record", &full, &b))
            .transpose()
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
        let token = crate::encoding::base64url(&rand::random::<[u8; 16]>());
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

    /// Publishes `message` on the store's channel, sealed under the key and bound to the
    /// channel: every [`RedisStore::subscribe`]r with the same key hears it.
    pub fn publish(&self, message: &str) -> Result<()> {
        let channel = self.full("events");
        let sealed = self.seal_text("event", &channel, message)?;
        self.with(|c| {
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&sealed)
                .query::<i64>(c)
                .map(|_| ())
        })
    }

    /// Calls `handler` with each message [`RedisStore::publish`]ed on the store's channel under
    /// the same key (anything else heard there is refused and counted in
    /// [`RedisStats::refused`]), from a thread of its own that reconnects after Redis restarts,
    /// until the store is dropped. `on_reconnect` runs each time the subscription is made again
    /// after a break (messages published meanwhile were missed: drop what they might have
    /// said). A message must arrive whole within [`Self::CALL_DEADLINE`] of its first byte, or
    /// the subscription is made again.
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
                    let subscribed =
                        Wire::connect(&store.target, Instant::now() + Self::CALL_DEADLINE)
                            .and_then(|mut w| w.subscribe(&channel).map(|()| w));
                    drop(store);
                    let mut wire = match subscribed {
                        Ok(w) => w,
                        Err(_) => {
                            broken = true;
                            std::thread::sleep(Duration::from_millis(500));
                            continue;
                        }
                    };
                    if broken {
                        on_reconnect();
                    }
                    loop {
                        if weak.strong_count() == 0 {
                            return;
                        }
                        match wire.next_message(Duration::from_millis(500), Self::CALL_DEADLINE) {
                            Ok(None) => {}
                            Ok(Some(payload)) => {
                                let Some(store) = weak.upgrade() else { return };
                                if let Ok(text) = store.open_text("event", &channel, &payload) {
                                    handler(&text);
                                }
                            }
                            Err(_) => {
                                broken = true;
                                std::thread::sleep(Duration::from_millis(100));
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
        // Bounded: a lock kept by a holder that died (or by a hostile Redis) must not stall
        // every renewal for the lock's lifetime. Past the wait this update fails, as a file
        // store's does when its lock stays taken, rather than run without the lock: two
        // holders could then both redeem a rotating refresh token. Callers that can do without
        // the store (app-only tokens, the discovery document) ask the identity provider
        // themselves.
        let deadline = Instant::now() + RedisStore::LOCK_WAIT;
        let lock = loop {
            if let Some(l) = self.store.try_lock(&self.name, RedisStore::LOCK_TTL)? {
                break l;
            }
            if Instant::now() > deadline {
                self.store.gave_up_waiting();
                return Err(self.store.unavailable(format!(
                    "the lock of {} stayed taken for {} ms",
                    self.name,
                    RedisStore::LOCK_WAIT.as_millis()
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

/// TLS for `rediss://`: Mozilla's roots, and the certificates of the `ca=` file when given.
fn tls_config(ca: Option<&str>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        let unreadable = |message: String, source: Option<Arc<std::io::Error>>| Error::ConfigFile {
            path: path.into(),
            message,
            source,
        };
        let pem = std::fs::read(path).map_err(|e| {
            unreadable(
                format!("cannot read the Redis CA certificate `ca={path}`"),
                Some(Arc::new(e)),
            )
        })?;
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| {
                unreadable(
                    format!("the Redis CA certificate `ca={path}` is not PEM: {e}"),
                    None,
                )
            })?;
            roots.add(cert).map_err(|e| {
                unreadable(
                    format!("the Redis CA certificate `ca={path}` cannot be trusted: {e}"),
                    None,
                )
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(unreadable(
                format!("the Redis CA certificate `ca={path}` holds no certificate"),
                None,
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS for Redis: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
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
