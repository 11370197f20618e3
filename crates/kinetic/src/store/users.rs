//! Per-user tokens of a web application: the Epicor tokens its server obtained on behalf of its
//! signed-in users ([`crate::Client::on_behalf_of`]), kept in two levels.
//!
//! - **First level**: in the process, for [`UserTokenCache::L1_TTL`] at most, so a busy page costs
//!   no Redis call; bounded in entries (in all and per user).
//! - **Second level**: a [`RedisStore`] shared by every instance of the application, when
//!   `OAuthSettingsLocation` names one: an instance that has never seen a user finds the token
//!   another obtained. Entries expire with their tokens and are capped per user.
//!
//! A token is renewed before it expires (5 minutes ahead, or at half the lifetime of a
//! shorter-lived one) by whichever instance asks first: it takes a lock in Redis, looks again,
//! and only then asks the identity provider; the others wait for its entry, for
//! [`RedisStore::LOCK_WAIT`] at most (a holder that died, or a lock a hostile Redis claims is
//! taken, costs that, not the lock's lifetime), then ask the identity provider themselves. Within
//! one instance, one request per user asks and the others wait for it (single flight).
//!
//! Redis failing is never a failed request: every Redis error is a miss (counted in
//! [`UserCacheStats::shared_errors`] and logged), and the identity provider is asked instead.
//! Each Redis call has a deadline ([`RedisStore::CALL_DEADLINE`]) however slowly Redis answers.
//!
//! Signing a user out ([`UserTokenCache::sign_out`]) deletes their entries in Redis, records
//! when in Redis for [`UserTokenCache::SIGN_OUT_MEMORY`], and tells every instance (Redis publish) to
//! drop its first-level entries; an instance that lost its subscription drops all of them when
//! it is back, and no first-level entry lives longer than [`UserTokenCache::L1_TTL`] in any case.
//! The record and the event are sealed under the settings key ([`RedisStore::publish`]), so
//! whoever can write to Redis without the key can sign nobody out; a time ahead of this
//! instance's clock is taken as now; and the sign-outs an instance remembers are bounded
//! ([`UserTokenCache::SIGN_OUTS_CAP`], the oldest forgotten first: Redis still has them).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::redis::RedisStore;
use super::StoredSettings;
use crate::clock::{from_unix_seconds, unix_seconds, Clock};
use crate::token::{RefreshPolicy, Token, TokenSource};
use crate::{Error, Result, Secret};

/// Which user a token belongs to and which entry holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserKey {
    /// `{tenant}.{object id}` of the signed-in user, from their token; `unknown` when it is not a
    /// JWT with both.
    pub user: String,
    /// The entry's name: the user, then a hash of what the token is for (client, server, scope)
    /// and of the incoming token itself (never the token).
    pub entry: String,
}

impl UserKey {
    /// The key for `assertion` (the user's token to the web app) exchanged for `scope` by
    /// `client_id` against the Epicor server `server`.
    pub fn for_assertion(assertion: &Secret, client_id: &str, server: &str, scope: &str) -> Self {
        let user = user_of(assertion.expose()).unwrap_or_else(|| "unknown".to_owned());
        let server = server.to_ascii_lowercase();
        let digest = super::fields_digest([
            client_id.as_bytes(),
            server.as_bytes(),
            scope.as_bytes(),
            &Sha256::digest(assertion.expose().as_bytes())[..],
        ]);
        UserKey {
            entry: format!("obo:{user}:{digest}"),
            user,
        }
    }
}

/// `{tid}.{oid}` from a JWT's payload, read without checking its signature: it only groups entries
/// (the identity provider checks the token before it issues anything for it, and the entry name
/// hashes the whole token, so a forged one never reaches another user's entry).
pub fn user_of(jwt: &str) -> Option<String> {
    let claims = jwt_claims(jwt)?;
    let part = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= 64
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(str::to_ascii_lowercase)
    };
    Some(format!("{}.{}", part("tid")?, part("oid")?))
}

/// A JWT's claims, read without checking anything.
pub(crate) fn jwt_claims(jwt: &str) -> Option<serde_json::Value> {
    let bytes = crate::encoding::base64url_decode(jwt.split('.').nth(1)?)?;
    serde_json::from_slice(&bytes).ok()
}

/// What a [`UserTokenCache`] did since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserCacheStats {
    /// Tokens served from the first level.
    pub l1_hits: u64,
    /// Tokens served from the second level (Redis).
    pub l2_hits: u64,
    /// Tokens obtained from the identity provider (exchanges and refreshes).
    pub fetches: u64,
    /// Times this instance waited for another's renewal.
    pub waits: u64,
    /// Redis calls that failed or were skipped (each one a miss).
    pub shared_errors: u64,
    /// Times the subscription to other instances' sign-outs was made again after a break (Redis
    /// restarted or unreachable), each dropping the first level.
    pub resubscriptions: u64,
    /// Times this instance stopped waiting for another's renewal after
    /// [`RedisStore::LOCK_WAIT`] and asked the identity provider itself.
    pub lock_timeouts: u64,
}

/// A Redis entry, as [`UserTokenCache::l2_hit`] judges it.
enum Found {
    Hit(Token),
    Stale(Token),
    Refused,
}

struct L1Entry {
    token: Token,
    user: String,
    stored: Instant,
}

/// The sign-outs an instance knows of, oldest first out: at most `cap`, each for `horizon`.
#[derive(Default)]
struct SignOuts {
    /// user → (when they signed out, Unix milliseconds; their place in `order`).
    by_user: HashMap<String, (u64, u64)>,
    /// place → (user, when this instance learnt of it), in the order learnt.
    order: BTreeMap<u64, (String, Instant)>,
    next: u64,
}

impl SignOuts {
    fn get(&self, user: &str, horizon: Duration) -> Option<u64> {
        let (at, place) = self.by_user.get(user)?;
        let (_, learnt) = self.order.get(place)?;
        (learnt.elapsed() < horizon).then_some(*at)
    }

    /// Remembers that `user` signed out at `at` (the later of two times for one user), dropping
    /// the expired and, at the cap, the oldest.
    fn record(&mut self, user: &str, at: u64, horizon: Duration, cap: usize) {
        let at = match self.by_user.remove(user) {
            Some((before, place)) => {
                self.order.remove(&place);
                before.max(at)
            }
            None => at,
        };
        loop {
            let full = self.order.len() >= cap;
            let Some(entry) = self.order.first_entry() else {
                break;
            };
            if !full && entry.get().1.elapsed() < horizon {
                break;
            }
            let (gone, _) = entry.remove();
            self.by_user.remove(&gone);
        }
        let place = self.next;
        self.next += 1;
        self.order.insert(place, (user.to_owned(), Instant::now()));
        self.by_user.insert(user.to_owned(), (at, place));
    }
}

/// Per-user tokens in two levels: see the [module documentation](self).
pub struct UserTokenCache {
    l1: Mutex<HashMap<String, L1Entry>>,
    l1_ttl: Duration,
    shared: Option<Arc<RedisStore>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Users signed out, as this instance heard.
    signed_out: Mutex<SignOuts>,
    /// Users found not signed out in Redis, and when that was checked.
    checked: Mutex<HashMap<String, Instant>>,
    clock: Arc<dyn Clock>,
    l1_hits: AtomicU64,
    l2_hits: AtomicU64,
    fetches: AtomicU64,
    waits: AtomicU64,
    shared_errors: AtomicU64,
    resubscriptions: AtomicU64,
    lock_timeouts: AtomicU64,
}

impl std::fmt::Debug for UserTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTokenCache")
            .field("shared", &self.shared)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl UserTokenCache {
    /// The longest a first-level entry is used without looking at Redis again.
    pub const L1_TTL: Duration = Duration::from_secs(30);
    /// First-level entries in all; beyond, the oldest go.
    pub const L1_CAP: usize = 10_000;
    /// Live entries per user (first level and Redis): a user signed in on several devices has one
    /// per incoming token; beyond this, the soonest-expiring go.
    pub const PER_USER_CAP: usize = 8;
    /// How long a sign-out is remembered (in Redis): sessions older than it are refused.
    pub const SIGN_OUT_MEMORY: Duration = Duration::from_secs(24 * 3600);
    /// Sign-outs an instance remembers itself (besides Redis, which keeps each for
    /// [`Self::SIGN_OUT_MEMORY`]); beyond, the one learnt longest ago is forgotten here (and
    /// read again from Redis when asked). With names of at most [`Self::USER_NAME_CAP`] bytes,
    /// a few megabytes at most.
    pub const SIGN_OUTS_CAP: usize = 10_000;
    /// The longest user name a sign-out heard from another instance may carry (a
    /// `{tenant}.{object id}` is at most 129 bytes).
    pub const USER_NAME_CAP: usize = 256;

    /// A cache over `shared` (none: first level only), on `clock`. With a shared store, listens
    /// for other instances' sign-outs.
    pub fn new(shared: Option<Arc<RedisStore>>, clock: Arc<dyn Clock>) -> Result<Arc<Self>> {
        let cache = Arc::new(UserTokenCache {
            l1: Mutex::new(HashMap::new()),
            l1_ttl: Self::L1_TTL,
            shared,
            flights: Mutex::new(HashMap::new()),
            signed_out: Mutex::new(SignOuts::default()),
            checked: Mutex::new(HashMap::new()),
            clock,
            l1_hits: AtomicU64::new(0),
            l2_hits: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            shared_errors: AtomicU64::new(0),
            resubscriptions: AtomicU64::new(0),
            lock_timeouts: AtomicU64::new(0),
        });
        if let Some(store) = &cache.shared {
            let weak = Arc::downgrade(&cache);
            let on_reconnect = Arc::downgrade(&cache);
            store.subscribe(
                Box::new(move |message| {
                    if let Some(cache) = weak.upgrade() {
                        cache.heard(message);
                    }
                }),
                Box::new(move || {
                    if let Some(cache) = on_reconnect.upgrade() {
                        cache.resubscriptions.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(target: "epicor_kinetic::auth", "the token store is back: first-level user tokens dropped (sign-outs may have been missed)");
                        lock(&cache.l1).clear();
                        lock(&cache.checked).clear();
                    }
                }),
            )?;
        }
        Ok(cache)
    }

    /// The counters since the cache was made.
    pub fn stats(&self) -> UserCacheStats {
        UserCacheStats {
            l1_hits: self.l1_hits.load(Ordering::Relaxed),
            l2_hits: self.l2_hits.load(Ordering::Relaxed),
            fetches: self.fetches.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            shared_errors: self.shared_errors.load(Ordering::Relaxed),
            resubscriptions: self.resubscriptions.load(Ordering::Relaxed),
            lock_timeouts: self.lock_timeouts.load(Ordering::Relaxed),
        }
    }

    /// The shared store, when there is one.
    pub fn shared(&self) -> Option<&Arc<RedisStore>> {
        self.shared.as_ref()
    }

    fn now(&self) -> u64 {
        unix_seconds(self.clock.now())
    }

    /// Whether `token` can be handed out now: not within its renewal window (5 minutes before
    /// expiry, or half the lifetime of a shorter-lived token: [`RefreshPolicy::ahead_of_expiry`],
    /// without jitter, which the lock across instances makes unneeded).
    fn fresh(&self, token: &Token) -> bool {
        let Some(expiry) = token.expiry() else {
            return true;
        };
        let now = self.clock.now();
        let received = token.obtained_at.map_or(now.min(expiry), from_unix_seconds);
        now < RefreshPolicy::default().ahead_of_expiry(expiry, received)
    }

    /// The first level's token of `key` when it can be handed out (counted as a hit).
    fn l1_hit(&self, key: &UserKey, previous: Option<&Token>) -> Option<Token> {
        let l1 = lock(&self.l1);
        let e = l1.get(&key.entry)?;
        let usable = e.stored.elapsed() < self.l1_ttl
            && self.fresh(&e.token)
            && previous.is_none_or(|p| p.access_token != e.token.access_token);
        usable.then(|| {
            self.l1_hits.fetch_add(1, Ordering::Relaxed);
            e.token.clone()
        })
    }

    /// What `found` in Redis is: handed out (kept in the first level, counted as a hit), the
    /// stale token to renew, or one the server refused.
    fn l2_hit(&self, key: &UserKey, found: Token, previous: Option<&Token>) -> Found {
        if previous.is_some_and(|p| p.access_token == found.access_token) {
            return Found::Refused;
        }
        if !self.fresh(&found) {
            return Found::Stale(found);
        }
        self.l2_hits.fetch_add(1, Ordering::Relaxed);
        self.keep_l1(key, &found);
        Found::Hit(found)
    }

    fn keep_l1(&self, key: &UserKey, token: &Token) {
        let mut l1 = lock(&self.l1);
        if l1.len() >= Self::L1_CAP {
            let ttl = self.l1_ttl;
            l1.retain(|_, e| e.stored.elapsed() < ttl);
            if l1.len() >= Self::L1_CAP {
                if let Some(oldest) = l1
                    .iter()
                    .min_by_key(|(_, e)| e.stored)
                    .map(|(k, _)| k.clone())
                {
                    l1.remove(&oldest);
                }
            }
        }
        let mine: Vec<(String, Instant)> = l1
            .iter()
            .filter(|(k, e)| e.user == key.user && **k != key.entry)
            .map(|(k, e)| (k.clone(), e.stored))
            .collect();
        if mine.len() >= Self::PER_USER_CAP {
            let mut mine = mine;
            mine.sort_by_key(|(_, t)| *t);
            for (k, _) in mine.iter().take(mine.len() + 1 - Self::PER_USER_CAP) {
                l1.remove(k);
            }
        }
        l1.insert(
            key.entry.clone(),
            L1Entry {
                token: token.clone(),
                user: key.user.clone(),
                stored: Instant::now(),
            },
        );
    }

    /// Runs a Redis call on the blocking pool; an error is counted, logged by the store, and
    /// returned for the caller to treat as a miss.
    async fn redis<T: Send + 'static>(
        &self,
        call: impl FnOnce(&RedisStore) -> Result<T> + Send + 'static,
    ) -> Option<Result<T>> {
        let store = self.shared.clone()?;
        let out = tokio::task::spawn_blocking(move || call(&store))
            .await
            .unwrap_or_else(|_| Err(Error::internal("a token store task stopped")));
        if out.is_err() {
            self.shared_errors.fetch_add(1, Ordering::Relaxed);
        }
        Some(out)
    }

    /// The token of `key`, from the first level, else Redis, else `source` (the exchange), which
    /// is given the best stale token known (to refresh with its refresh token). `previous` is a
    /// token the server refused: never handed out again.
    pub async fn get(
        &self,
        key: &UserKey,
        previous: Option<&Token>,
        source: &dyn TokenSource,
    ) -> Result<Token> {
        if let Some(t) = self.l1_hit(key, previous) {
            return Ok(t);
        }
        let flight = lock(&self.flights)
            .entry(key.entry.clone())
            .or_default()
            .clone();
        let result = {
            let _one = flight.lock().await;
            // Another request of this instance may have just fetched it.
            match self.l1_hit(key, previous) {
                Some(t) => Ok(t),
                None => {
                    let stale = previous
                        .cloned()
                        .or_else(|| lock(&self.l1).get(&key.entry).map(|e| e.token.clone()));
                    self.get_shared(key, previous, stale, source).await
                }
            }
        };
        drop(flight);
        // The flight's entry goes with its last user.
        lock(&self.flights).retain(|_, f| Arc::strong_count(f) > 1);
        result
    }

    /// The token of `key` from Redis, else renewed by one instance (under Redis's lock) from
    /// `source` with `stale`, the best stale token known; inside this instance's flight.
    async fn get_shared(
        &self,
        key: &UserKey,
        previous: Option<&Token>,
        mut stale: Option<Token>,
        source: &dyn TokenSource,
    ) -> Result<Token> {
        let Some(store) = self.shared.clone() else {
            return self.fetch(key, stale.as_ref(), source, None).await;
        };
        let deadline = Instant::now() + RedisStore::LOCK_WAIT;
        loop {
            let entry = key.entry.clone();
            let found = match self.redis(move |s| s.get(&entry)).await {
                Some(Ok(found)) => found.and_then(|s| s.token),
                // Redis is down: the identity provider instead.
                _ => return self.fetch(key, stale.as_ref(), source, None).await,
            };
            if let Some(t) = found {
                match self.l2_hit(key, t, previous) {
                    Found::Hit(t) => return Ok(t),
                    Found::Stale(old) => stale = Some(old),
                    Found::Refused => {}
                }
            }
            let entry = key.entry.clone();
            match self
                .redis(move |s| s.try_lock(&entry, RedisStore::LOCK_TTL))
                .await
            {
                Some(Ok(Some(held))) => {
                    // Look once more under the lock: another instance may have renewed it
                    // between our read and our lock.
                    let entry = key.entry.clone();
                    if let Some(Ok(Some(t))) = self
                        .redis(move |s| s.get(&entry))
                        .await
                        .map(|r| r.map(|s| s.and_then(|s| s.token)))
                    {
                        if let Found::Hit(t) = self.l2_hit(key, t, previous) {
                            let _ = self.redis(move |s| s.unlock(held)).await;
                            return Ok(t);
                        }
                    }
                    let out = self.fetch(key, stale.as_ref(), source, Some(&store)).await;
                    let _ = self.redis(move |s| s.unlock(held)).await;
                    return out;
                }
                Some(Ok(None)) if Instant::now() < deadline => {
                    // Another instance is renewing it: wait for its entry.
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Waited long enough (its holder is gone, or the lock is not what it seems): ask
                // ourselves, and share what we get (an on-behalf-of token has no refresh token
                // to rotate, so two renewals at worst cost one exchange more).
                Some(Ok(None)) => {
                    self.lock_timeouts.fetch_add(1, Ordering::Relaxed);
                    store.gave_up_waiting();
                    return self.fetch(key, stale.as_ref(), source, Some(&store)).await;
                }
                // Redis failed: ask ourselves, keep it here only.
                _ => return self.fetch(key, stale.as_ref(), source, None).await,
            }
        }
    }

    /// Asks `source`, keeps the token in the first level and, when `store` is given (we hold
    /// the lock), in Redis.
    async fn fetch(
        &self,
        key: &UserKey,
        stale: Option<&Token>,
        source: &dyn TokenSource,
        store: Option<&Arc<RedisStore>>,
    ) -> Result<Token> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let token = source.fetch(stale).await?;
        let mut token = token;
        if token.obtained_at.is_none() {
            token.obtained_at = Some(self.now());
        }
        self.keep_l1(key, &token);
        if store.is_some() {
            let ttl = token
                .expires_at
                .map(|e| Duration::from_secs(e.saturating_sub(self.now()).max(1)))
                .unwrap_or(Duration::from_secs(3600));
            let (entry, user, value) = (
                key.entry.clone(),
                key.user.clone(),
                StoredSettings::with_token(token.clone()),
            );
            let _ = self
                .redis(move |s| s.put(&entry, &value, ttl, Some((&user, Self::PER_USER_CAP))))
                .await;
        }
        Ok(token)
    }

    /// Forgets `token` of `key` if it is still the one kept (the server refused it).
    pub async fn invalidate(&self, key: &UserKey, token: &Secret) {
        {
            let mut l1 = lock(&self.l1);
            if l1
                .get(&key.entry)
                .is_some_and(|e| e.token.access_token == *token)
            {
                l1.remove(&key.entry);
            }
        }
        let (entry, token) = (key.entry.clone(), token.clone());
        let _ = self
            .redis(move |s| {
                if s.get(&entry)?
                    .and_then(|v| v.token)
                    .is_some_and(|t| t.access_token == token)
                {
                    s.remove(&entry)?;
                }
                Ok(())
            })
            .await;
    }

    /// Signs `user` (`{tenant}.{object id}`, [`user_of`] a token of theirs) out of every instance:
    /// their tokens are deleted here and in Redis, the other instances drop theirs, and
    /// [`UserTokenCache::signed_out_at`] answers when, for [`Self::SIGN_OUT_MEMORY`]. A Redis
    /// failure is returned (this instance has forgotten the user all the same).
    pub async fn sign_out(&self, user: &str) -> Result<()> {
        // Milliseconds: a session made in the same second as a sign-out is not taken for older.
        let at = unix_millis(self.clock.now());
        self.forget(user, at);
        let user = user.to_owned();
        match self
            .redis(move |s| {
                s.remove_group(&user)?;
                s.set_sealed(
                    &format!("out:{user}"),
                    &at.to_string(),
                    Self::SIGN_OUT_MEMORY,
                )?;
                s.publish(&format!("out {user} {at}"))
            })
            .await
        {
            None | Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(e),
        }
    }

    fn forget(&self, user: &str, at: u64) {
        lock(&self.l1).retain(|_, e| e.user != user);
        lock(&self.checked).remove(user);
        lock(&self.signed_out).record(user, at, Self::SIGN_OUT_MEMORY, Self::SIGN_OUTS_CAP);
    }

    /// A sign-out's time as this instance takes it: one ahead of its clock is taken as now. The
    /// time comes sealed from an instance with the key, so ahead means that instance's clock
    /// runs ahead (or a key holder misbehaves); taken as sent, it would end sessions made after
    /// the sign-out, and a time far ahead would keep the user out until then. Taken as now, the
    /// sign-out still ends every session made before it was heard.
    fn clamped(&self, at: u64) -> u64 {
        at.min(unix_millis(self.clock.now()))
    }

    /// A message from another instance (it opened under the key: [`RedisStore::subscribe`]).
    fn heard(&self, message: &str) {
        let mut parts = message.split(' ');
        if let (Some("out"), Some(user), Some(at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            if let (Ok(at), true) = (
                at.parse(),
                !user.is_empty() && user.len() <= Self::USER_NAME_CAP,
            ) {
                self.forget(user, self.clamped(at));
            }
        }
    }

    /// When `user` last signed out of the application on any instance, if within
    /// [`Self::SIGN_OUT_MEMORY`]: a session made before then is over. Looks in Redis at most once
    /// per [`Self::L1_TTL`] per user; sign-outs published meanwhile arrive at once. With Redis
    /// down, only what this instance heard. A record in Redis that does not open under the key
    /// (forged, or copied from another user's) is no sign-out.
    pub async fn signed_out_at(&self, user: &str) -> Option<SystemTime> {
        let time = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        if let Some(at) = lock(&self.signed_out).get(user, Self::SIGN_OUT_MEMORY) {
            return Some(time(at));
        }
        let recent = lock(&self.checked)
            .get(user)
            .is_some_and(|t| t.elapsed() < self.l1_ttl);
        if recent || self.shared.is_none() {
            return None;
        }
        let name = format!("out:{user}");
        match self.redis(move |s| s.get_sealed(&name)).await {
            Some(Ok(Some(at))) => {
                let at = self.clamped(at.parse().ok()?);
                self.forget(user, at);
                Some(time(at))
            }
            Some(Ok(None)) => {
                let mut checked = lock(&self.checked);
                if checked.len() >= Self::L1_CAP {
                    checked.clear();
                }
                checked.insert(user.to_owned(), Instant::now());
                None
            }
            _ => None,
        }
    }
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::SignOuts;
    use std::time::Duration;

    #[test]
    fn sign_outs_keep_the_later_time_and_forget_the_oldest_first() {
        let day = Duration::from_secs(86_400);
        let mut s = SignOuts::default();
        s.record("a", 200, day, 3);
        s.record("a", 100, day, 3);
        assert_eq!(s.get("a", day), Some(200), "a replayed older time");
        s.record("b", 1, day, 3);
        s.record("c", 1, day, 3);
        s.record("d", 1, day, 3);
        assert_eq!(s.get("a", day), None, "the oldest goes at the cap");
        assert_eq!((s.get("b", day), s.get("d", day)), (Some(1), Some(1)));
        assert_eq!((s.by_user.len(), s.order.len()), (3, 3));
        // Learnt again, a sign-out moves to the back.
        s.record("b", 2, day, 3);
        s.record("e", 1, day, 3);
        assert_eq!((s.get("b", day), s.get("c", day)), (Some(2), None));
        // Past the horizon, none is used, and the next record drops them.
        assert_eq!(s.get("b", Duration::ZERO), None);
        s.record("f", 1, Duration::ZERO, 3);
        assert_eq!((s.by_user.len(), s.order.len()), (1, 1));
    }
}
