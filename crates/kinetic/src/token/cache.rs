//! The one caching wrapper around every token flow.
//!
//! [`TokenCache::get`] hands out the cached token until it enters its refresh window, then fetches
//! a new one from its [`TokenSource`]:
//! - **refresh ahead**: 5 minutes before expiry (or half the lifetime of a shorter-lived token), or
//!   at the issuer's `refresh_in` when it gives one, whichever is earlier; minus a random jitter of
//!   up to 30 seconds, so that many processes holding tokens from the same moment do not all call
//!   the identity provider in the same second;
//! - **single flight**: however many callers find the token stale at once, one of them fetches and
//!   the others wait for its outcome, success or error; an error is not cached, so the next call
//!   tries again;
//! - **invalidation**: [`TokenCache::invalidate`] after a 401 drops the token that was refused,
//!   unless it has already been replaced (a late 401 for an old token does not discard a fresh
//!   one).
//!
//! Time comes from an injected [`Clock`], so tests move it by hand.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::Token;
use crate::clock::{from_unix_seconds, BoxFuture, Clock, SystemClock};
use crate::Result;

/// A way to get a token: one per flow (Epicor's token service, an Azure AD grant, ...).
///
/// Implementations only fetch; caching, single flight and refresh timing are the
/// [`TokenCache`]'s.
pub trait TokenSource: Send + Sync {
    /// Gets a new token. `previous` is the token being replaced (expired, about to expire, or
    /// refused by the server), if there is one: a flow with refresh tokens refreshes with it.
    fn fetch<'a>(&'a self, previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>>;
}

impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    fn fetch<'a>(&'a self, previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        (**self).fetch(previous)
    }
}

impl<T: TokenSource + ?Sized> TokenSource for Box<T> {
    fn fetch<'a>(&'a self, previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        (**self).fetch(previous)
    }
}

/// When a cached token is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// How long before expiry to refresh; a token that lives less than twice this long is
    /// refreshed at half its lifetime instead, so it is used at all.
    pub refresh_ahead: Duration,
    /// The most the refresh moment is moved earlier at random. The jitter is also kept below a
    /// quarter of the time to the refresh moment, so a short-lived token is still used.
    pub max_jitter: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            refresh_ahead: Duration::from_secs(5 * 60),
            max_jitter: Duration::from_secs(30),
        }
    }
}

impl RefreshPolicy {
    /// The policy with `refresh_ahead` before expiry and up to `max_jitter` of jitter.
    pub fn new(refresh_ahead: Duration, max_jitter: Duration) -> Self {
        RefreshPolicy {
            refresh_ahead,
            max_jitter,
        }
    }

    /// When a token expiring at `expiry`, received at `received_at`, enters its refresh window:
    /// `refresh_ahead` before expiry, or half its lifetime before it when that is shorter (no
    /// jitter, no `refresh_in` advice).
    pub fn ahead_of_expiry(&self, expiry: SystemTime, received_at: SystemTime) -> SystemTime {
        let lifetime = expiry.duration_since(received_at).unwrap_or(Duration::ZERO);
        expiry - self.refresh_ahead.min(lifetime / 2)
    }

    /// When to replace `token`, received at `received_at`, with `fraction` (in `[0, 1)`) of the
    /// jitter applied; `None` for a token without expiry or advice, which is kept until
    /// invalidated.
    pub fn refresh_at(
        &self,
        token: &Token,
        received_at: SystemTime,
        fraction: f64,
    ) -> Option<SystemTime> {
        let ahead_of_expiry = token
            .expiry()
            .map(|expiry| self.ahead_of_expiry(expiry, received_at));
        // `refresh_in` counts from when the issuer issued the token, which a stored token may
        // have been long before this process received it.
        let advised = token.refresh_in.map(|secs| {
            let obtained = token.obtained_at.map_or(received_at, from_unix_seconds);
            crate::clock::saturating_add(obtained, Duration::from_secs(secs))
        });
        let at = match (ahead_of_expiry, advised) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let until = at.duration_since(received_at).unwrap_or(Duration::ZERO);
        let jitter = self
            .max_jitter
            .min(until / 4)
            .mul_f64(fraction.clamp(0.0, 1.0));
        Some(at - jitter)
    }
}

/// A token source wrapped with caching, refresh ahead of expiry, single flight and invalidation.
///
/// ```
/// use epicor_kinetic::auth::{Token, TokenCache, TokenSource};
/// use epicor_kinetic::clock::BoxFuture;
///
/// struct Fixed;
/// impl TokenSource for Fixed {
///     fn fetch<'a>(&'a self, _: Option<&'a Token>) -> BoxFuture<'a, epicor_kinetic::Result<Token>> {
///         Box::pin(async { Ok(Token::bearer("t")) })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = TokenCache::new(Fixed);
/// let token = cache.get().await?;
/// assert_eq!(token.access_token.expose(), "t");
/// # Ok::<(), epicor_kinetic::Error>(())
/// # }).unwrap();
/// ```
pub struct TokenCache<S> {
    source: S,
    clock: Arc<dyn Clock>,
    policy: RefreshPolicy,
    state: Mutex<State>,
    flights: AtomicU64,
    /// Callers waiting for another caller's fetch (see [`Waiting`]).
    waiting: AtomicUsize,
}

impl<S> std::fmt::Debug for TokenCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cached token's Debug is redacted, but there is nothing useful to show from it.
        f.debug_struct("TokenCache")
            .field("policy", &self.policy)
            .field("fetches", &self.flights.load(Ordering::Relaxed))
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    /// The fetch in progress: its id and where its outcome will be published.
    flight: Option<(u64, watch::Receiver<Option<Outcome>>)>,
}

type Outcome = Result<Token>;

/// What a caller of `get` does once it has looked at the state (decided under the lock, done
/// after it is released, since the lock is never held across an await).
enum Step<'a> {
    Join(watch::Receiver<Option<Outcome>>, Waiting<'a>),
    Lead(u64, watch::Sender<Option<Outcome>>, Option<Token>),
}

/// A caller waiting for the outcome of another caller's fetch, counted from the moment it joined
/// the flight (under the state's lock, holding the flight's receiver) until it stops waiting or
/// is dropped; so a count of `n` means `n` callers will be handed that flight's outcome.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Cached {
    token: Token,
    refresh_at: Option<SystemTime>,
    invalidated: bool,
}

impl Cached {
    fn usable(&self, now: SystemTime) -> bool {
        !self.invalidated && self.refresh_at.is_none_or(|at| now < at)
    }
}

impl<S: TokenSource> TokenCache<S> {
    /// A cache over `source` on the system clock with the default [`RefreshPolicy`].
    pub fn new(source: S) -> Self {
        Self::with_clock(source, Arc::new(SystemClock), RefreshPolicy::default())
    }

    /// A cache over `source` on `clock` with `policy`.
    pub fn with_clock(source: S, clock: Arc<dyn Clock>, policy: RefreshPolicy) -> Self {
        TokenCache {
            source,
            clock,
            policy,
            state: Mutex::new(State::default()),
            flights: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
        }
    }

    /// A cache that starts with `token` (for example one read from a token store), received at
    /// the clock's current time.
    pub fn seed(&self, token: Token) {
        let cached = self.cached(token);
        self.lock().current = Some(cached);
    }

    /// The source this cache wraps.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// How many fetches this cache has started.
    pub fn fetches(&self) -> u64 {
        self.flights.load(Ordering::Relaxed)
    }

    /// How many callers are waiting for the outcome of a fetch another caller started, so a test
    /// can tell that its callers have joined the flight instead of guessing with a sleep.
    #[cfg(test)]
    fn waiters(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// A token that is not in its refresh window: the cached one, or a new one fetched once for
    /// every caller waiting at the same time. An error from the fetch goes to every caller that
    /// waited for it and is not cached.
    pub async fn get(&self) -> Result<Token> {
        loop {
            let step = {
                let mut state = self.lock();
                if let Some(cached) = &state.current {
                    if cached.usable(self.clock.now()) {
                        return Ok(cached.token.clone());
                    }
                }
                match &state.flight {
                    Some((_, outcome)) => {
                        Step::Join(outcome.clone(), Waiting::enter(&self.waiting))
                    }
                    None => {
                        let id = self.flights.fetch_add(1, Ordering::Relaxed);
                        let (publish, outcome) = watch::channel(None);
                        state.flight = Some((id, outcome));
                        let previous = state.current.as_ref().map(|c| c.token.clone());
                        Step::Lead(id, publish, previous)
                    }
                }
            };
            let (mut joined, waiting) = match step {
                Step::Lead(id, publish, previous) => return self.lead(id, publish, previous).await,
                Step::Join(outcome, waiting) => (outcome, waiting),
            };
            // `wait_for` fails only when the leader was dropped before it finished (its caller
            // was cancelled): then go round again, and this caller may lead the next flight.
            let landed = match joined.wait_for(Option::is_some).await {
                Ok(outcome) => match outcome.as_ref() {
                    Some(Ok(token)) => Some(Ok(token.clone())),
                    Some(Err(e)) => Some(Err(e.clone())),
                    None => None,
                },
                Err(_) => None,
            };
            drop(waiting);
            if let Some(outcome) = landed {
                return outcome;
            }
        }
    }

    /// Drops `token` from the cache after the server refused it (HTTP 401), so the next
    /// [`get`](TokenCache::get) fetches a new one, passing `token` as the previous one. Does
    /// nothing if the cache already holds a different token. Returns whether it dropped it.
    pub fn invalidate(&self, token: &Token) -> bool {
        let mut state = self.lock();
        match &mut state.current {
            Some(cached) if cached.token.access_token == token.access_token => {
                let was_valid = !cached.invalidated;
                cached.invalidated = true;
                was_valid
            }
            _ => false,
        }
    }

    async fn lead(
        &self,
        id: u64,
        publish: watch::Sender<Option<Outcome>>,
        previous: Option<Token>,
    ) -> Result<Token> {
        let mut flight = Flight {
            state: &self.state,
            id,
            publish: Some(publish),
        };
        tracing::debug!(
            target: "epicor_kinetic::auth",
            "asking for a token ({})",
            if previous.is_some() { "renewal" } else { "first" }
        );
        let fetched = self.source.fetch(previous.as_ref()).await;
        let shared = match &fetched {
            Ok(token) => {
                let now = self.clock.now();
                tracing::info!(
                    target: "epicor_kinetic::auth",
                    "token {}: expires in {}{}",
                    if previous.is_some() { "renewed" } else { "obtained" },
                    crate::token::expiry_text(token, now),
                    if token.refresh_token.is_some() { ", with a refresh token" } else { "" }
                );
                let cached = self.cached(token.clone());
                self.lock().current = Some(cached);
                Ok(token.clone())
            }
            Err(e) => {
                tracing::warn!(target: "epicor_kinetic::auth", "no token: {e}");
                Err(e.clone())
            }
        };
        flight.land(shared);
        fetched
    }

    fn cached(&self, token: Token) -> Cached {
        let refresh_at = self
            .policy
            .refresh_at(&token, self.clock.now(), rand::random::<f64>());
        Cached {
            token,
            refresh_at,
            invalidated: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The lock is never held across a call that can panic with the state half changed.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The leader's side of a flight. Dropped without landing (the leader's future was cancelled),
/// it clears the flight before closing the channel, so the waiters wake, find no flight, and one
/// of them starts a new one.
struct Flight<'a> {
    state: &'a Mutex<State>,
    id: u64,
    publish: Option<watch::Sender<Option<Outcome>>>,
}

impl Flight<'_> {
    fn land(&mut self, outcome: Outcome) {
        self.clear();
        if let Some(publish) = self.publish.take() {
            publish.send_replace(Some(outcome));
        }
    }

    fn clear(&self) {
        let mut state = lock(self.state);
        if state.flight.as_ref().is_some_and(|(id, _)| *id == self.id) {
            state.flight = None;
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if self.publish.is_some() {
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests;
