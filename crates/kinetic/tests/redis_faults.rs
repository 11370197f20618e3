//! The shared token store against Redis servers that misbehave, and against writers to Redis
//! that have no key (issue 26).
//!
//! Fake servers on `127.0.0.1:0` speak just enough RESP to be taken for Redis: one drips its
//! answers a byte every 0.3 s, one never answers, one holds every lock, one answers only after
//! 600 ms, and two send 300 MB replies. Each call against them must be a miss within its bound
//! (at most 2 s; the store's deadline is 1 s), counted in `stats()`, and a 300 MB reply must not
//! grow the process by more than a few megabytes (measured in a child process of its own).
//! A real `redis-server` then carries forged sign-outs (raw, sealed under another key, copied
//! from another user's record, a flood of 10,000) that must change nothing, while real
//! sign-outs still reach every instance.

#[allow(dead_code)] // the helpers other test binaries use
mod common;
use common::fake_redis::{Behaviour, FakeRedis};
use common::redis::RedisServer;

use epicor_kinetic::clock::{BoxFuture, Clock, SystemClock};
use epicor_kinetic::store::{
    Change, RedisStore, SettingsKey, StoredSettings, TokenStore, UserKey, UserTokenCache,
};
use epicor_kinetic::token::{Token, TokenSource};
use epicor_kinetic::{Result, Secret};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The bound every failed call is held to (the store's deadline is 1 s: twice that leaves room
/// for a loaded 2-core machine, and the old behaviour, a hang, fails it).
const CALL_BOUND: Duration = Duration::from_secs(2);

// ---- helpers ----

const KEY: [u8; 32] = [0x5e; 32];

fn store_at(url: &str, key: [u8; 32]) -> Arc<RedisStore> {
    RedisStore::open(url, SettingsKey::from_bytes(key), None).unwrap()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Times `f`; what it returned and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}

/// An identity provider that answers at once, counting what it was asked.
#[derive(Default)]
struct CountingSource(AtomicU64);

impl TokenSource for CountingSource {
    fn fetch<'a>(&'a self, _previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        Box::pin(async move {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Token::bearer(format!("epicor-token-{n}"))
                .with_expires_at(now_secs() + 3600)
                .with_obtained_at(now_secs()))
        })
    }
}

fn user_key(user: &str) -> UserKey {
    UserKey {
        user: user.to_owned(),
        entry: format!("obo:{user}:0123456789abcdef"),
    }
}

// ---- each fault: a miss within its bound, counted ----

/// The calls a request makes, each against `store`: every one must be a miss within the bound.
/// The first reaches the server; the others, within `RETRY_AFTER`, are skipped at once.
fn every_call_is_a_bounded_miss(store: &RedisStore) -> Vec<Duration> {
    let settings = StoredSettings::with_token(Token::bearer("t"));
    type Call<'a> = (&'a str, Box<dyn Fn() -> bool + 'a>);
    let calls: Vec<Call> = vec![
        ("get", Box::new(|| store.get("obo:u:1").is_err())),
        (
            "put",
            Box::new(|| {
                store
                    .put(
                        "obo:u:1",
                        &settings,
                        Duration::from_secs(60),
                        Some(("u", 8)),
                    )
                    .is_err()
            }),
        ),
        (
            "try_lock",
            Box::new(|| store.try_lock("obo:u:1", RedisStore::LOCK_TTL).is_err()),
        ),
        ("publish", Box::new(|| store.publish("out u 1").is_err())),
        (
            "get_sealed",
            Box::new(|| store.get_sealed("out:u").is_err()),
        ),
    ];
    let mut took = Vec::new();
    for (name, call) in calls {
        let (missed, t) = timed(call);
        assert!(missed, "{name} did not fail");
        assert!(t < CALL_BOUND, "{name} took {t:?}");
        took.push(t);
    }
    took
}

#[test]
fn a_dripping_redis_is_a_miss_within_the_deadline() {
    let fake = FakeRedis::start(Behaviour::Drip);
    let store = store_at(&fake.url(), KEY);
    let took = every_call_is_a_bounded_miss(&store);
    let s = store.stats();
    assert_eq!((s.errors, s.timeouts, s.ok), (1, 1, 0), "{s:?}");
    assert_eq!(s.skipped, 4, "{s:?}");
    assert!(took[0] >= RedisStore::CALL_DEADLINE, "{took:?}");
    assert!(
        took[1..].iter().all(|t| *t < Duration::from_millis(50)),
        "{took:?}"
    );
    // After RETRY_AFTER it is asked again, and again costs one deadline.
    std::thread::sleep(RedisStore::RETRY_AFTER);
    let (missed, t) = timed(|| store.get("obo:u:1").is_err());
    assert!(missed && t < CALL_BOUND, "{t:?}");
    assert_eq!(store.stats().timeouts, 2);
    eprintln!(
        "dripping Redis (1 byte / 0.3 s, endlessly): first call a miss after {:.2} s, the next \
         four skipped in {:.1} ms at most, a call after the pause {:.2} s; {:?}",
        took[0].as_secs_f64(),
        took[1..].iter().max().unwrap().as_secs_f64() * 1000.0,
        t.as_secs_f64(),
        store.stats()
    );
}

#[test]
fn a_redis_that_never_answers_is_a_miss_within_the_deadline() {
    let fake = FakeRedis::start(Behaviour::Stall);
    let store = store_at(&fake.url(), KEY);
    let took = every_call_is_a_bounded_miss(&store);
    let s = store.stats();
    assert_eq!((s.errors, s.timeouts, s.skipped), (1, 1, 4), "{s:?}");
    eprintln!(
        "silent Redis: a miss after {:.2} s; {s:?}",
        took[0].as_secs_f64()
    );
}

#[test]
fn a_slow_answer_is_used_and_redis_left_alone_for_a_while() {
    let fake = FakeRedis::start(Behaviour::Slow);
    let store = store_at(&fake.url(), KEY);
    let (found, t) = timed(|| store.get("obo:u:1"));
    assert!(matches!(found, Ok(None)), "{found:?}");
    assert!(t >= Duration::from_millis(600) && t < CALL_BOUND, "{t:?}");
    let (again, t2) = timed(|| store.get("obo:u:1"));
    assert!(again.is_err() && t2 < Duration::from_millis(50), "{t2:?}");
    let s = store.stats();
    assert_eq!((s.ok, s.slow, s.skipped, s.errors), (1, 1, 1, 0), "{s:?}");
}

#[test]
fn a_huge_reply_is_refused_within_the_deadline() {
    for behaviour in [Behaviour::HugeBulk, Behaviour::HugeLine] {
        let fake = FakeRedis::start(behaviour);
        let store = store_at(&fake.url(), KEY);
        let (found, t) = timed(|| store.get("obo:u:1"));
        let e = found.unwrap_err().to_string();
        assert!(e.contains("longer than 1024 KiB"), "{e}");
        assert!(t < CALL_BOUND, "{behaviour:?}: {t:?}");
        let s = store.stats();
        assert_eq!((s.errors, s.oversized, s.timeouts), (1, 1, 0), "{s:?}");
        eprintln!("{behaviour:?}: refused in {:.3} s", t.as_secs_f64());
    }
}

const CHILD_ROLE: &str = "KINETIC_REDIS_FAULTS_CHILD";

/// Peak resident memory of this process, in bytes (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The child's part of [`a_huge_reply_costs_little_memory`]: a 300 MB reply of each shape, and
/// how much the peak resident memory grew; a no-op in a normal run.
#[test]
fn huge_reply_child_entry() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let behaviour = match role.as_str() {
        "bulk" => Behaviour::HugeBulk,
        _ => Behaviour::HugeLine,
    };
    let fake = FakeRedis::start(behaviour);
    let store = store_at(&fake.url(), KEY);
    // Reset the peak to the current size (Linux: `5` to clear_refs), then read the reply.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss().unwrap();
    let refused = store.get("obo:u:1").is_err();
    let after = peak_rss().unwrap();
    println!(
        "RESULT refused={refused} growth={}",
        after.saturating_sub(before)
    );
}

#[test]
fn a_huge_reply_costs_little_memory() {
    if !std::path::Path::new("/proc/self/clear_refs").exists() {
        eprintln!("no /proc/self/clear_refs here: not measured");
        return;
    }
    for role in ["bulk", "line"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["huge_reply_child_entry", "--exact", "--nocapture", "-q"])
            .env(CHILD_ROLE, role)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        assert!(line.contains("refused=true"), "{line}");
        let growth: u64 = line.split("growth=").nth(1).unwrap().parse().unwrap();
        eprintln!(
            "300 MB {role} reply: peak RSS grew by {} KiB",
            growth / 1024
        );
        assert!(growth < 8 << 20, "{role}: {growth} bytes");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_held_for_ever_costs_one_lock_wait_then_the_identity_provider() {
    let fake = FakeRedis::start(Behaviour::LockHeld);
    let store = store_at(&fake.url(), KEY);
    let cache = UserTokenCache::new(Some(store.clone()), Arc::new(SystemClock)).unwrap();
    let source = CountingSource::default();
    let started = Instant::now();
    let token = cache.get(&user_key("t.u1"), None, &source).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(token.access_token, Secret::new("epicor-token-1"));
    assert!(
        waited >= RedisStore::LOCK_WAIT && waited < RedisStore::LOCK_WAIT + CALL_BOUND,
        "{waited:?}"
    );
    let s = cache.stats();
    assert_eq!(
        (s.fetches, s.lock_timeouts, s.shared_errors),
        (1, 1, 0),
        "{s:?}"
    );
    assert!(s.waits >= 1, "{s:?}");
    assert_eq!(store.stats().lock_timeouts, 1);

    // A slot (an app-only or interactive connection's store): the update fails after the wait,
    // as a file store's does when its lock stays taken.
    let slot = store.slot("slot:x");
    let (updated, t) = timed(|| slot.update(&mut |_| Ok(Change::Keep)));
    let e = updated.unwrap_err().to_string();
    assert!(e.contains("stayed taken"), "{e}");
    assert!(t < RedisStore::LOCK_WAIT + CALL_BOUND, "{t:?}");
    assert_eq!(store.stats().lock_timeouts, 2);
    eprintln!(
        "lock held for ever: a user's renewal asked the identity provider after {:.2} s, a slot \
         update failed after {:.2} s; {:?}",
        waited.as_secs_f64(),
        t.as_secs_f64(),
        store.stats()
    );
}

// ---- sign-outs: only sealed ones count ----

/// Waits for `ready` (polled every 10 ms, for 20 s at most).
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn listeners(redis: &RedisServer) -> u64 {
    let (_, n): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("kinetic:events")
        .query(&mut redis.raw(None))
        .unwrap();
    n
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Two instances (A listens, B signs out) sharing one Redis under one key.
async fn two_instances(
    redis: &RedisServer,
) -> (Arc<RedisStore>, Arc<UserTokenCache>, Arc<UserTokenCache>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let a_store = store_at(&redis.url(), KEY);
    let a = UserTokenCache::new(Some(a_store.clone()), clock.clone()).unwrap();
    let b = UserTokenCache::new(Some(store_at(&redis.url(), KEY)), clock).unwrap();
    until("both instances subscribed", || listeners(redis) == 2).await;
    (a_store, a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_sign_outs_change_nothing_and_real_ones_still_arrive() {
    let redis = RedisServer::start(&[]);
    let (a_store, a, b) = two_instances(&redis).await;
    let mut raw = redis.raw(None);
    let publish = |raw: &mut redis::Connection, payload: &[u8]| {
        redis::cmd("PUBLISH")
            .arg("kinetic:events")
            .arg(payload)
            .query::<i64>(raw)
            .unwrap();
    };
    // In clear, as the attacker sent it.
    publish(&mut raw, b"out t.alice 99999999999999");
    // Sealed, under another key.
    let other = store_at(&redis.url(), [0x77; 32]);
    other.publish("out t.alice 99999999999999").unwrap();
    // A sealed sign-out record of the right key, sent as an event (another context).
    b.sign_out("t.bob").await.unwrap();
    let record: Vec<u8> = redis::cmd("GET")
        .arg("kinetic:out:t.bob")
        .query(&mut raw)
        .unwrap();
    assert!(!record.is_empty() && !String::from_utf8_lossy(&record).contains("t.bob"));
    publish(&mut raw, &record);
    // A real sign-out after them all: once A has it, A has heard the others too (one channel,
    // in order).
    b.sign_out("t.carol").await.unwrap();
    until("A heard the real sign-outs", || {
        a_store.stats().refused >= 3
    })
    .await;
    let a_ref = &a;
    let deadline = Instant::now() + Duration::from_secs(20);
    while a_ref.signed_out_at("t.carol").await.is_none() {
        assert!(
            Instant::now() < deadline,
            "A never heard of carol's sign-out"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a_store.stats().refused, 3, "{:?}", a_store.stats());
    assert!(a.signed_out_at("t.bob").await.is_some(), "a real sign-out");
    assert!(
        a.signed_out_at("t.alice").await.is_none(),
        "a forged sign-out was taken"
    );

    // Records in Redis: in clear, and another user's sealed record copied over: no sign-out.
    redis::cmd("SET")
        .arg("kinetic:out:t.dave")
        .arg("99999999999999")
        .query::<()>(&mut raw)
        .unwrap();
    redis::cmd("SET")
        .arg("kinetic:out:t.erin")
        .arg(&record)
        .query::<()>(&mut raw)
        .unwrap();
    let c_store = store_at(&redis.url(), KEY);
    let c = UserTokenCache::new(Some(c_store.clone()), Arc::new(SystemClock)).unwrap();
    assert!(
        c.signed_out_at("t.dave").await.is_none(),
        "a record in clear was taken"
    );
    assert!(
        c.signed_out_at("t.erin").await.is_none(),
        "bob's record was taken for erin's"
    );
    assert_eq!(c_store.stats().refused, 2, "{:?}", c_store.stats());
    // Bob's own record is his sign-out.
    assert!(c.signed_out_at("t.bob").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_out_ahead_of_the_clock_is_taken_as_now() {
    let redis = RedisServer::start(&[]);
    let (a_store, a, _b) = two_instances(&redis).await;
    // A key holder whose clock runs far ahead: as an event, and as a record.
    let ahead = store_at(&redis.url(), KEY);
    let far = now_ms() + 30 * 24 * 3600 * 1000;
    ahead.publish(&format!("out t.frank {far}")).unwrap();
    ahead
        .set_sealed("out:t.gina", &far.to_string(), Duration::from_secs(60))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let heard = loop {
        if let Some(at) = a.signed_out_at("t.frank").await {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "A never heard of frank's sign-out"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let read = a.signed_out_at("t.gina").await.expect("gina's record");
    for at in [heard, read] {
        // Sessions made from now on are not ended by it.
        assert!(at <= SystemTime::now(), "{at:?}");
        assert!(SystemTime::now().duration_since(at).unwrap() < Duration::from_secs(20));
    }
    assert_eq!(a_store.stats().refused, 0);
}

/// 10,000 forged sign-outs (in clear, as anyone who can reach Redis can send), then 10,001
/// sealed ones of made-up users (a key holder gone wrong): real sign-outs after both are still
/// remembered here, and what is remembered stays bounded (the oldest forgotten first).
#[tokio::test(flavor = "multi_thread")]
async fn floods_of_sign_outs_do_not_stop_real_ones() {
    let mut redis = RedisServer::start(&[]);
    let (a_store, a, b) = two_instances(&redis).await;
    let mut raw = redis.raw(None);
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.cmd("PUBLISH")
            .arg("kinetic:events")
            .arg(format!("out t.fake{i} {}", now_ms()))
            .ignore();
    }
    pipe.query::<()>(&mut raw).unwrap();
    b.sign_out("t.henry").await.unwrap();
    until("A refused the forged flood", || {
        a_store.stats().refused >= 10_000
    })
    .await;
    let b_store = store_at(&redis.url(), KEY);
    let flood = UserTokenCache::SIGN_OUTS_CAP + 1;
    let started = Instant::now();
    for i in 0..flood {
        b_store
            .publish(&format!("out t.sealed{i} {}", now_ms()))
            .unwrap();
    }
    b.sign_out("t.iris").await.unwrap();
    // An event-only marker (no record in Redis): once A knows it, A has heard everything before.
    b_store
        .publish(&format!("out t.marker {}", now_ms()))
        .unwrap();
    let (a_ref, deadline) = (&a, Instant::now() + Duration::from_secs(30));
    while a_ref.signed_out_at("t.marker").await.is_none() {
        assert!(Instant::now() < deadline, "A never heard the last event");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "10,000 forged and {flood} sealed sign-outs heard in {:.2} s; {:?}",
        started.elapsed().as_secs_f64(),
        a_store.stats()
    );
    // Henry's sign-out came before the sealed flood pushed it out of A's memory; Redis keeps
    // it (another instance reads it there).
    let c = UserTokenCache::new(Some(store_at(&redis.url(), KEY)), Arc::new(SystemClock)).unwrap();
    assert!(
        c.signed_out_at("t.henry").await.is_some(),
        "henry's record is gone"
    );
    // What A knows of itself, with Redis gone.
    redis.stop();
    assert!(a.signed_out_at("t.iris").await.is_some(), "iris forgotten");
    assert!(a.signed_out_at("t.sealed10000").await.is_some());
    assert!(
        a.signed_out_at("t.sealed0").await.is_none(),
        "more than SIGN_OUTS_CAP remembered"
    );
    assert!(a.signed_out_at("t.fake0").await.is_none());
}

/// Entries stay sealed and bound to their key: no token in clear, and one user's entry copied
/// under another's name does not open (refused, counted, a miss).
#[test]
fn entries_are_sealed_and_bound_to_their_key() {
    let redis = RedisServer::start(&[]);
    let store = store_at(&redis.url(), KEY);
    let token = Token::bearer("SECRET-epicor-token").with_expires_at(now_secs() + 3600);
    store
        .put(
            "obo:t.alice:1",
            &StoredSettings::with_token(token.clone()),
            Duration::from_secs(60),
            Some(("t.alice", 8)),
        )
        .unwrap();
    let mut raw = redis.raw(None);
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg("kinetic:obo:t.alice:1")
        .query(&mut raw)
        .unwrap();
    assert!(bytes.starts_with(b"KNTS\x01"));
    assert!(!String::from_utf8_lossy(&bytes).contains("SECRET"));
    let got = store.get("obo:t.alice:1").unwrap().and_then(|s| s.token);
    assert_eq!(got.map(|t| t.access_token), Some(token.access_token));
    redis::cmd("SET")
        .arg("kinetic:obo:t.bob:1")
        .arg(&bytes)
        .query::<()>(&mut raw)
        .unwrap();
    let e = store.get("obo:t.bob:1").unwrap_err().to_string();
    assert!(e.contains("cannot be used"), "{e}");
    // Nor does it open as a sign-out record, nor under another key.
    redis::cmd("SET")
        .arg("kinetic:out:t.alice")
        .arg(&bytes)
        .query::<()>(&mut raw)
        .unwrap();
    assert!(store.get_sealed("out:t.alice").is_err());
    assert!(store_at(&redis.url(), [0x11; 32])
        .get("obo:t.alice:1")
        .is_err());
    assert_eq!(store.stats().refused, 2, "{:?}", store.stats());
}

/// A location's parameters: kinetic's own, and nothing silently ignored.
#[test]
fn locations_are_checked() {
    let key = || SettingsKey::from_bytes(KEY);
    for bad in [
        "redis://127.0.0.1:6379/0?protocol=resp3",
        "rediss://127.0.0.1:6380/0#insecure",
        "redis://127.0.0.1:6379/zero",
        "redis://127.0.0.1:6379/0?prefix=",
    ] {
        assert!(RedisStore::open(bad, key(), None).is_err(), "{bad}");
    }
    for good in [
        "redis://127.0.0.1:6379/0",
        "redis://localhost/3?prefix=app",
        "REDIS://[::1]:6379",
        "redis://user@cache.example:6379/0",
    ] {
        RedisStore::open(good, key(), None).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

/// Over TLS (the store's own TLS, on its own connection): entries shared, sign-outs heard, and
/// the subscription holds through idle seconds (a read that times out while nothing is said is
/// no break).
#[tokio::test(flavor = "multi_thread")]
async fn over_tls_entries_and_sign_outs_still_travel() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, ca) = RedisServer::start_tls(dir.path());
    let url = format!("rediss://127.0.0.1:{}/0?ca={}", tls.port, ca.display());
    let (a_store, b_store) = (store_at(&url, KEY), store_at(&url, KEY));
    let a = UserTokenCache::new(Some(a_store.clone()), Arc::new(SystemClock)).unwrap();
    let settings = StoredSettings::with_token(Token::bearer("over-tls"));
    b_store
        .put("obo:t.tls:1", &settings, Duration::from_secs(60), None)
        .unwrap();
    assert_eq!(a_store.get("obo:t.tls:1").unwrap(), Some(settings));
    let heard = |name: &'static str| {
        let (a, b_store) = (a.clone(), b_store.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while a.signed_out_at(name).await.is_none() {
                assert!(Instant::now() < deadline, "{name} never heard");
                b_store
                    .publish(&format!("out {name} {}", now_ms()))
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    heard("t.first").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let started = Instant::now();
    heard("t.second").await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.stats().resubscriptions, 0, "{:?}", a.stats());
    let s = a_store.stats();
    assert_eq!((s.errors, s.refused), (0, 0), "{s:?}");
}
