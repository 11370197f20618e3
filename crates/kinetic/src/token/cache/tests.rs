use std::sync::atomic::AtomicUsize;

use super::*;
use crate::clock::{unix_seconds, ManualClock};
use crate::Error;

/// A token source that counts its fetches, takes `delay` on the manual clock, fails while
/// `failures` is above zero, and remembers the previous token it was given.
struct Counting {
    clock: ManualClock,
    fetches: AtomicUsize,
    failures: AtomicUsize,
    lifetime: Option<u64>,
    refresh_in: Option<u64>,
    delay: Duration,
    previous: Mutex<Vec<Option<String>>>,
}

impl Counting {
    fn new(clock: &ManualClock, lifetime: Option<u64>) -> Self {
        Counting {
            clock: clock.clone(),
            fetches: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            lifetime,
            refresh_in: None,
            delay: Duration::ZERO,
            previous: Mutex::new(Vec::new()),
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl TokenSource for Counting {
    fn fetch<'a>(&'a self, previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        Box::pin(async move {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            self.previous
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(previous.map(|t| t.access_token.expose().to_owned()));
            self.clock.sleep(self.delay).await;
            let fail = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
                .is_ok();
            if fail {
                return Err(Error::Transport {
                    status: None,
                    message: "identity provider unreachable".into(),
                    correlation_id: Some("corr-1".into()),
                    source: Some(std::sync::Arc::new(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "connection refused",
                    ))),
                });
            }
            let now = unix_seconds(self.clock.now());
            let mut token = Token::bearer(format!("token-{n}")).with_obtained_at(now);
            token.expires_at = self.lifetime.map(|l| now + l);
            token.refresh_in = self.refresh_in;
            Ok(token)
        })
    }
}

fn no_jitter() -> RefreshPolicy {
    RefreshPolicy::new(Duration::from_secs(300), Duration::ZERO)
}

fn cache(
    clock: &ManualClock,
    source: Counting,
    policy: RefreshPolicy,
) -> Arc<TokenCache<Counting>> {
    Arc::new(TokenCache::with_clock(
        source,
        Arc::new(clock.clone()),
        policy,
    ))
}

async fn access(cache: &TokenCache<Counting>) -> String {
    match cache.get().await {
        Ok(t) => t.access_token.expose().to_owned(),
        Err(e) => panic!("get failed: {e}"),
    }
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test]
async fn refreshes_five_minutes_before_expiry() {
    let clock = ManualClock::new();
    let c = cache(&clock, Counting::new(&clock, Some(3600)), no_jitter());
    assert_eq!(access(&c).await, "token-1");
    clock.advance(S(3600 - 300 - 1));
    assert_eq!(access(&c).await, "token-1");
    assert_eq!(c.source().fetches(), 1);
    clock.advance(S(1));
    assert_eq!(access(&c).await, "token-2");
    assert_eq!(c.source().fetches(), 2);
    assert_eq!(c.fetches(), 2);
}

#[tokio::test]
async fn honours_refresh_in() {
    let clock = ManualClock::new();
    let mut source = Counting::new(&clock, Some(3600));
    source.refresh_in = Some(1800);
    let c = cache(&clock, source, no_jitter());
    assert_eq!(access(&c).await, "token-1");
    clock.advance(S(1799));
    assert_eq!(access(&c).await, "token-1");
    clock.advance(S(1));
    assert_eq!(access(&c).await, "token-2");
}

#[tokio::test]
async fn a_short_lived_token_is_used_for_half_its_life() {
    let clock = ManualClock::new();
    let c = cache(&clock, Counting::new(&clock, Some(120)), no_jitter());
    assert_eq!(access(&c).await, "token-1");
    clock.advance(S(59));
    assert_eq!(access(&c).await, "token-1");
    clock.advance(S(1));
    assert_eq!(access(&c).await, "token-2");
}

#[tokio::test]
async fn a_token_without_expiry_is_kept_until_invalidated() {
    let clock = ManualClock::new();
    let c = cache(
        &clock,
        Counting::new(&clock, None),
        RefreshPolicy::default(),
    );
    assert_eq!(access(&c).await, "token-1");
    clock.advance(S(10 * 365 * 86_400));
    assert_eq!(access(&c).await, "token-1");
    assert_eq!(c.source().fetches(), 1);
}

#[test]
fn jitter_stays_within_its_bounds() {
    let policy = RefreshPolicy::default();
    let now = from_unix_seconds(1_000_000);
    let token = Token::bearer("t").with_expires_at(1_000_000 + 3600);
    let latest = now + S(3600 - 300);
    assert_eq!(policy.refresh_at(&token, now, 0.0), Some(latest));
    assert_eq!(policy.refresh_at(&token, now, 1.0), Some(latest - S(30)));
    assert_eq!(policy.refresh_at(&token, now, 7.0), Some(latest - S(30)));
    assert_eq!(
        policy.refresh_at(&token, now, 0.5),
        Some(latest - Duration::from_millis(15_000))
    );
    // A token refreshed 40 s from now gets at most 10 s of jitter, so it is still used.
    let short = Token::bearer("t").with_expires_at(1_000_000 + 80);
    assert_eq!(policy.refresh_at(&short, now, 1.0), Some(now + S(30)));
    // No expiry, no advice: kept until invalidated.
    assert_eq!(policy.refresh_at(&Token::bearer("t"), now, 0.5), None);
    // `refresh_in` counts from when the token was obtained, not received.
    let stored = Token::bearer("t")
        .with_obtained_at(1_000_000 - 1000)
        .with_refresh_in(1800)
        .with_expires_at(1_000_000 + 2600);
    assert_eq!(policy.refresh_at(&stored, now, 0.0), Some(now + S(800)));
}

#[tokio::test]
async fn jittered_refreshes_land_in_the_window_and_spread() {
    let mut moments = Vec::new();
    for _ in 0..20 {
        let clock = ManualClock::new();
        let c = cache(
            &clock,
            Counting::new(&clock, Some(3600)),
            RefreshPolicy::default(),
        );
        assert_eq!(access(&c).await, "token-1");
        clock.advance(S(3600 - 300 - 31));
        let mut at = None;
        for second in (3600 - 300 - 31)..=(3600 - 300) {
            access(&c).await;
            if c.source().fetches() == 2 {
                at = Some(second);
                break;
            }
            clock.advance(S(1));
        }
        let at = at.unwrap_or_else(|| panic!("no refresh by the 5-minute mark"));
        assert!(
            ((3600 - 300 - 30)..=(3600 - 300)).contains(&at),
            "refreshed at {at}"
        );
        moments.push(at);
    }
    moments.sort_unstable();
    moments.dedup();
    assert!(
        moments.len() > 1,
        "jitter did not spread refreshes: {moments:?}"
    );
}

/// Waits (on the real clock, briefly) until `ready` holds, yielding to the runtime.
async fn until(mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_callers_at_expiry_cause_one_fetch() {
    const CALLERS: usize = 50;
    let clock = ManualClock::new();
    let mut source = Counting::new(&clock, Some(3600));
    source.delay = S(1);
    let c = cache(&clock, source, no_jitter());
    let first = tokio::spawn({
        let c = c.clone();
        async move { access(&c).await }
    });
    until(|| clock.sleepers() == 1).await;
    clock.advance(S(1));
    assert_eq!(first.await.unwrap_or_default(), "token-1");

    clock.advance(S(3600));
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (c, started) = (c.clone(), started.clone());
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                access(&c).await
            })
        })
        .collect();
    // The one fetch is waiting on the clock and every other caller has joined it: all of them are
    // inside `get` together, as the cache itself counts (no guess with a sleep).
    until(|| {
        started.load(Ordering::SeqCst) == CALLERS
            && clock.sleepers() == 1
            && c.waiters() == CALLERS - 1
    })
    .await;
    assert_eq!(c.source().fetches(), 2, "one fetch under way");
    clock.advance(S(1));
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.unwrap_or_default());
    }
    assert!(got.iter().all(|t| t == "token-2"), "{got:?}");
    assert_eq!(
        c.source().fetches(),
        2,
        "{CALLERS} callers caused more than one fetch"
    );
    eprintln!(
        "single flight: {CALLERS} concurrent get() at expiry -> {} fetch",
        c.source().fetches() - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_error_reaches_every_waiter_and_is_not_cached() {
    let clock = ManualClock::new();
    let mut source = Counting::new(&clock, Some(3600));
    source.delay = S(1);
    source.failures = AtomicUsize::new(1);
    let c = cache(&clock, source, no_jitter());
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get().await })
        })
        .collect();
    // The leader's fetch is waiting on the clock and the nine others have joined it.
    until(|| clock.sleepers() == 1 && c.waiters() == 9).await;
    clock.advance(S(1));
    for task in tasks {
        match task.await {
            Ok(Err(e @ Error::Transport { .. })) => {
                assert_eq!(
                    e.to_string(),
                    "transport error: identity provider unreachable"
                );
                assert_eq!(e.correlation_id(), Some("corr-1"));
                let cause = std::error::Error::source(&e).map(ToString::to_string);
                assert_eq!(cause.as_deref(), Some("connection refused"));
            }
            other => panic!("expected the transport error, got {other:?}"),
        }
    }
    assert_eq!(c.source().fetches(), 1);
    assert_eq!(c.waiters(), 0);
    // The next call tries again, and succeeds.
    let next = tokio::spawn({
        let c = c.clone();
        async move { access(&c).await }
    });
    until(|| clock.sleepers() == 1).await;
    clock.advance(S(1));
    assert_eq!(next.await.unwrap_or_default(), "token-2");
    assert_eq!(c.source().fetches(), 2);
}

#[tokio::test]
async fn invalidate_drops_only_the_refused_token() {
    let clock = ManualClock::new();
    let c = cache(&clock, Counting::new(&clock, Some(3600)), no_jitter());
    let t1 = c.get().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(c.invalidate(&t1));
    assert!(!c.invalidate(&t1), "already invalidated");
    let t2 = c.get().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t2.access_token.expose(), "token-2");
    // The refused token was handed to the source, so a refresh token flow can use it.
    let previous = c
        .source()
        .previous
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    assert_eq!(previous, vec![None, Some("token-1".to_owned())]);
    // A late 401 for the old token does not discard the new one.
    assert!(!c.invalidate(&t1));
    assert_eq!(access(&c).await, "token-2");
    assert_eq!(c.source().fetches(), 2);
}

#[tokio::test]
async fn a_seeded_token_is_used_without_a_fetch() {
    let clock = ManualClock::new();
    let c = cache(&clock, Counting::new(&clock, Some(3600)), no_jitter());
    let now = unix_seconds(clock.now());
    c.seed(Token::bearer("stored").with_expires_at(now + 3600));
    assert_eq!(access(&c).await, "stored");
    assert_eq!(c.source().fetches(), 0);
    clock.advance(S(3600));
    assert_eq!(access(&c).await, "token-1");
    let previous = c
        .source()
        .previous
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    assert_eq!(previous, vec![Some("stored".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_hands_the_flight_on() {
    let clock = ManualClock::new();
    let mut source = Counting::new(&clock, Some(3600));
    source.delay = S(10);
    let c = cache(&clock, source, no_jitter());
    let leader = tokio::spawn({
        let c = c.clone();
        async move { access(&c).await }
    });
    until(|| clock.sleepers() == 1).await;
    let waiter = tokio::spawn({
        let c = c.clone();
        async move { access(&c).await }
    });
    // The waiter has joined the leader's flight before the leader goes.
    until(|| c.waiters() == 1).await;
    leader.abort();
    assert!(leader.await.is_err(), "the leader was cancelled");
    // The waiter takes over: a second fetch, which completes when the clock moves.
    until(|| c.source().fetches() == 2 && clock.sleepers() == 1 && c.waiters() == 0).await;
    clock.advance(S(10));
    assert_eq!(waiter.await.unwrap_or_default(), "token-2");
}

#[test]
fn debug_shows_no_token() {
    let clock = ManualClock::new();
    let c = cache(&clock, Counting::new(&clock, None), no_jitter());
    c.seed(Token::bearer("secret-XYZ"));
    let shown = format!("{c:?}");
    assert!(!shown.contains("XYZ"), "{shown}");
    assert!(shown.contains("TokenCache"));
}
