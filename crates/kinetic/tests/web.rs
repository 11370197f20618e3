//! Web applications: users sign in to the app (authorization code + PKCE, confidential client),
//! and the server calls Epicor on their behalf through `Client::on_behalf_of`, with the users'
//! Epicor tokens kept per user in this process and in a real Redis shared by "instances" (two
//! `Client`s, as two servers would have). The emulator (in process) counts the on-behalf-of
//! exchanges; Redis is Debian's `redis-server` on a loopback port of its own.

mod common;
use common::browser::Browser;
use common::fake_redis::{Behaviour, FakeRedis};
use common::redis::RedisServer;
use common::{azure_base, parts};

use epicor_kinetic::auth::web::{SignedIn, WebSignIn};
use epicor_kinetic::clock::{Clock, ManualClock};
use epicor_kinetic::store::{RedisStore, UserTokenCache};
use epicor_kinetic::{Client, Error, Secret, Settings};
use epicor_kinetic_emulator::config::seed;
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY_HEX: &str = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b";
const CALLBACK: &str = "http://127.0.0.1:5999/auth/callback";

async fn emulator_with(tweak: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig {
        scale: 150,
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap()
}

/// The web app's settings: the emulator's Azure AD string with the web app's client and the
/// Epicor scope, and `extra` (the token store).
fn web_settings(e: &RunningEmulator, extra: &str) -> Settings {
    Settings::parse(&web_string(e, extra)).unwrap()
}

/// The text of [`web_settings`].
fn web_string(e: &RunningEmulator, extra: &str) -> String {
    let info = e.startup_info();
    let web = &info["idp"]["apps"]["web_app"];
    format!(
        "{};OAuthGrantType=OBO;OAuthClientId={};OAuthClientSecret={};Scope={};{extra}",
        azure_base(&info),
        web["client_id"].as_str().unwrap(),
        web["client_secret"].as_str().unwrap(),
        info["idp"]["apps"]["epicor_server"]["scope"]
            .as_str()
            .unwrap(),
    )
}

fn shared(redis: &RedisServer) -> String {
    format!(
        "OAuthSettingsLocation={};OAuthSettingsKey={KEY_HEX}",
        redis.url()
    )
}

/// Signs `upn` in to the web app through the emulator's pages; who signed in and their tokens.
async fn sign_in(client: &Client, upn: &str, password: &str) -> SignedIn {
    let web = WebSignIn::new(client, CALLBACK).await.unwrap();
    let app_scope = format!("api://{}/access_as_user", seed::WEB_APP);
    let (url, pending) = web.begin(&app_scope, None, None).unwrap();
    assert!(url.contains("code_challenge_method=S256") && url.contains("nonce="));
    let mut b = Browser::new();
    let (_, page, _) = b.get(&url).await;
    let login = format!("{}/login", url.split("/authorize").next().unwrap());
    let (status, text, location) = b.sign_in_as(&login, &page, upn, password).await;
    assert_eq!(status, 302, "{text}");
    let (code, state) = code_and_state(location);
    // A forged state is refused before the code is redeemed.
    let forged = web
        .finish(&pending, "forged", &Secret::new(code.clone()))
        .await
        .unwrap_err();
    assert!(forged.to_string().contains("state"), "{forged}");
    web.finish(&pending, &state, &Secret::new(code))
        .await
        .unwrap()
}

/// The code and the state of the identity provider's redirect back to the app.
fn code_and_state(location: Option<String>) -> (String, String) {
    let back = url::Url::parse(&location.expect("a redirect")).unwrap();
    let q = |k: &str| {
        back.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {k} in {back}"))
    };
    (q("code"), q("state"))
}

/// The emulator's counters: (on-behalf-of exchanges of `oid`, refresh-token grants).
async fn exchanges(e: &RunningEmulator, oid: &str) -> (u64, u64) {
    let info = e.startup_info();
    let stats: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/admin/stats",
            info["idp"]["authority"].as_str().unwrap()
        ))
        .basic_auth("manager", Some("Epicor123!"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        stats["on_behalf_of_by_user"][oid].as_u64().unwrap_or(0),
        stats["tokens_by_grant"]["refresh_token"]
            .as_u64()
            .unwrap_or(0),
    )
}

/// Waits for `ready` (polled every 10 ms, for 20 s at most: a generous deadline, never a guess of
/// how long something takes); `what` names the event in the failure.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut ready: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many connections listen on the shared store's channel (instances subscribed to sign-outs).
fn listeners(redis: &RedisServer) -> u64 {
    let (_, n): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("kinetic:events")
        .query(&mut redis.raw(None))
        .unwrap();
    n
}

/// Two instances sharing one Redis: the user signs in through one, the other serves them with no
/// new exchange; many requests at once on both make one exchange; the token is renewed before
/// it expires by one instance for both; sign-out on one reaches the other.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_users_tokens_through_redis() {
    let redis = RedisServer::start(&[]);
    // Entra's hour-long tokens, on one manual clock for the emulator and both instances: the hour
    // passes when the test moves the clock (no sleep, and no skew between the connector's idea of
    // the time and the identity provider's, whatever the machine's load).
    const LIFETIME: u64 = 3600;
    let time = ManualClock::new();
    let mut config = EmulatorConfig {
        scale: 150,
        ..EmulatorConfig::default()
    };
    config.idp.token_lifetime_secs = LIFETIME;
    let e = common::emulator_at(config, &time).await;
    let settings = web_settings(&e, &shared(&redis));
    let clock: Arc<dyn Clock> = Arc::new(time.clone());
    let a = Client::with_clock(&settings, clock.clone()).unwrap();
    let b = Client::with_clock(&settings, clock.clone()).unwrap();
    let alice = sign_in(&a, seed::ALICE, "Alice123!").await;
    assert_eq!(alice.user, format!("{}.{}", seed::TENANT, seed::ALICE_OID));
    assert_eq!(alice.username, seed::ALICE);
    let assertion = &alice.token.access_token;

    // Instance A exchanges once; B finds it in Redis; A again in its first level.
    assert_eq!(parts(&a.on_behalf_of(assertion).await.unwrap()).await, 200);
    assert_eq!(exchanges(&e, seed::ALICE_OID).await.0, 1);
    assert_eq!(parts(&b.on_behalf_of(assertion).await.unwrap()).await, 200);
    assert_eq!(parts(&a.on_behalf_of(assertion).await.unwrap()).await, 200);
    assert_eq!(
        exchanges(&e, seed::ALICE_OID).await.0,
        1,
        "no second exchange"
    );
    let (sa, sb) = (
        a.user_tokens().await.unwrap().stats(),
        b.user_tokens().await.unwrap().stats(),
    );
    assert_eq!((sa.fetches, sa.l1_hits), (1, 1), "{sa:?}");
    assert_eq!((sb.fetches, sb.l2_hits), (0, 1), "{sb:?}");
    // The Epicor token acts as Alice's Epicor user.
    let token = a
        .on_behalf_of(assertion)
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap();
    assert!(!token.expose().is_empty());

    // Bob, signed in just now: 16 requests at once over both instances, one exchange.
    let bob = sign_in(&a, seed::BOB, "Bob123!").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        let assertion = bob.token.access_token.clone();
        tasks.push(tokio::spawn(async move {
            parts(&client.on_behalf_of(&assertion).await.unwrap()).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        exchanges(&e, seed::BOB_OID).await.0,
        1,
        "one exchange for 16 requests on two instances"
    );

    // Eight requests at once over both instances, at `at` seconds into the tokens' life; the
    // emulator's counters before and after.
    let burst = |at: u64| {
        let (a, b, e, assertion) = (a.clone(), b.clone(), &e, assertion.clone());
        async move {
            let before = exchanges(e, seed::ALICE_OID).await;
            let mut tasks = Vec::new();
            for i in 0..8 {
                let client = if i % 2 == 0 { a.clone() } else { b.clone() };
                let assertion = assertion.clone();
                tasks.push(tokio::spawn(async move {
                    parts(&client.on_behalf_of(&assertion).await.unwrap()).await
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), 200, "at {at} s");
            }
            (before, exchanges(e, seed::ALICE_OID).await)
        }
    };
    // The renewal window opens 5 minutes before expiry. A second before it, nobody renews.
    let window = LIFETIME - 300;
    time.advance(Duration::from_secs(window - 1));
    let (before, after) = burst(window - 1).await;
    assert_eq!(before, after, "renewed before the window");
    // In the window both instances find it stale and renew it, one of them asking, once.
    time.advance(Duration::from_secs(1));
    let renewed_at = Instant::now();
    let (before, after) = burst(window).await;
    assert_eq!(
        (after.0 - before.0) + (after.1 - before.1),
        1,
        "renewed once for both instances: {before:?} -> {after:?}"
    );

    // Sign-out on B: A hears it (Redis publish) and drops Alice's tokens; Redis has none left.
    // Both instances listen before B speaks (each subscribes from a thread of its own).
    let redis_ref = &redis;
    until(
        "both instances subscribed to sign-outs",
        move || async move { listeners(redis_ref) == 2 },
    )
    .await;
    b.sign_out_user(&alice.user).await.unwrap();
    let mut raw = redis.raw(None);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("kinetic:obo:*")
        .query(&mut raw)
        .unwrap();
    assert!(
        left.iter().all(|k| !k.contains(seed::ALICE_OID)),
        "{left:?}"
    );
    // A's first level holds Alice's renewed token, good for the whole window: only the published
    // sign-out drops it, and then A's next request exchanges again (nothing asks Redis whether
    // she signed out first). Until then A keeps serving from its first level.
    let before = exchanges(&e, seed::ALICE_OID).await.0;
    let (a_ref, e_ref) = (&a, &e);
    until(
        "A dropped Alice's tokens on hearing the sign-out",
        move || async move {
            assert_eq!(
                parts(&a_ref.on_behalf_of(assertion).await.unwrap()).await,
                200
            );
            let now = exchanges(e_ref, seed::ALICE_OID).await.0;
            assert!(now <= before + 1, "{before} -> {now}");
            now == before + 1
        },
    )
    .await;
    assert!(
        renewed_at.elapsed() < UserTokenCache::L1_TTL,
        "too slow to tell the sign-out heard from the first level's expiry"
    );
    let heard = a.user_tokens().await.unwrap();
    assert!(
        heard.signed_out_at(&alice.user).await.is_some(),
        "A heard the sign-out"
    );
    // The subscriptions held all along (read timeouts are not breaks).
    for c in [&a, &b] {
        let s = c.user_tokens().await.unwrap().stats();
        assert_eq!(s.resubscriptions, 0, "{s:?}");
    }
    // A third instance, started afterwards, learns of the sign-out from Redis.
    let c = Client::with_clock(&settings, clock.clone()).unwrap();
    assert!(c
        .user_tokens()
        .await
        .unwrap()
        .signed_out_at(&alice.user)
        .await
        .is_some());
    assert!(c
        .user_tokens()
        .await
        .unwrap()
        .signed_out_at(&bob.user)
        .await
        .is_none());
}

/// Redis is a cache: stopped, pages still work (each instance asks the identity provider itself),
/// and the failures are counted; restarted, it is used again without restarting the app.
#[tokio::test(flavor = "multi_thread")]
async fn a_redis_outage_is_a_cache_miss_and_a_restart_is_picked_up() {
    let mut redis = RedisServer::start(&[]);
    let e = emulator_with(|_| {}).await;
    let settings = web_settings(&e, &shared(&redis));
    let a = Client::new(&settings).unwrap();
    let alice = sign_in(&a, seed::ALICE, "Alice123!").await;
    redis.stop();
    let b = Client::new(&settings).unwrap();
    for _ in 0..3 {
        assert_eq!(
            parts(&b.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
            200
        );
    }
    let s = b.user_tokens().await.unwrap().stats();
    assert!(s.shared_errors >= 1, "{s:?}");
    assert_eq!(s.fetches, 1, "one exchange, then its first level: {s:?}");
    let store = b.user_tokens().await.unwrap().shared().unwrap().stats();
    assert!(store.errors >= 1, "{store:?}");

    redis.restart();
    tokio::time::sleep(epicor_kinetic::store::RedisStore::RETRY_AFTER + Duration::from_millis(300))
        .await;
    // Bob signs in: B exchanges and writes to Redis again; a fresh instance finds it there.
    let bob = sign_in(&a, seed::BOB, "Bob123!").await;
    assert_eq!(
        parts(&b.on_behalf_of(&bob.token.access_token).await.unwrap()).await,
        200
    );
    let c = Client::new(&settings).unwrap();
    assert_eq!(
        parts(&c.on_behalf_of(&bob.token.access_token).await.unwrap()).await,
        200
    );
    let s = c.user_tokens().await.unwrap().stats();
    assert_eq!((s.fetches, s.l2_hits), (0, 1), "{s:?}");
    assert_eq!(exchanges(&e, seed::BOB_OID).await.0, 1);
}

/// What Redis holds: encrypted values bound to their key (one user's entry copied under another
/// user's name is not used), a lifetime on every key, and at most 8 entries per user.
#[tokio::test(flavor = "multi_thread")]
async fn redis_entries_are_encrypted_bound_expiring_and_capped() {
    let redis = RedisServer::start(&[]);
    let e = emulator_with(|_| {}).await;
    let settings = web_settings(&e, &shared(&redis));
    let a = Client::new(&settings).unwrap();
    let alice = sign_in(&a, seed::ALICE, "Alice123!").await;
    let bob = sign_in(&a, seed::BOB, "Bob123!").await;
    let token = a
        .on_behalf_of(&alice.token.access_token)
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap();
    a.on_behalf_of(&bob.token.access_token)
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap();
    let mut raw = redis.raw(None);
    let keys: Vec<String> = redis::cmd("KEYS").arg("kinetic:*").query(&mut raw).unwrap();
    let alice_key = keys
        .iter()
        .find(|k| k.starts_with("kinetic:obo:") && k.contains(seed::ALICE_OID))
        .unwrap();
    let bob_key = keys
        .iter()
        .find(|k| k.starts_with("kinetic:obo:") && k.contains(seed::BOB_OID))
        .unwrap();
    for k in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(k).query(&mut raw).unwrap();
        assert!(ttl > 0, "{k} has no lifetime");
        let value: Vec<u8> = redis::cmd("GET").arg(k).query(&mut raw).unwrap_or_default();
        let text = String::from_utf8_lossy(&value);
        assert!(
            !text.contains(token.expose()) && !text.contains("eyJ"),
            "{k} holds a token in clear"
        );
    }
    // Alice's entry copied over Bob's: Bob's next instance does not use it.
    let alice_value: Vec<u8> = redis::cmd("GET").arg(alice_key).query(&mut raw).unwrap();
    redis::cmd("SET")
        .arg(bob_key)
        .arg(alice_value)
        .query::<()>(&mut raw)
        .unwrap();
    let b = Client::new(&settings).unwrap();
    let bobs = b
        .on_behalf_of(&bob.token.access_token)
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap();
    assert_ne!(bobs, token, "another user's entry was used");
    assert!(b.user_tokens().await.unwrap().stats().shared_errors >= 1);

    // Ten incoming tokens of one user (ten devices): at most 8 entries kept.
    for _ in 0..10 {
        let again = sign_in(&a, seed::ALICE, "Alice123!").await;
        a.on_behalf_of(&again.token.access_token)
            .await
            .unwrap()
            .access_token()
            .await
            .unwrap();
    }
    let group = format!("kinetic:group:{}", alice.user);
    let n: u64 = redis::cmd("ZCARD").arg(&group).query(&mut raw).unwrap();
    assert_eq!(n as usize, UserTokenCache::PER_USER_CAP);
    let mine: Vec<String> = redis::cmd("KEYS")
        .arg(format!("kinetic:obo:{}:*", alice.user))
        .query(&mut raw)
        .unwrap();
    assert_eq!(mine.len(), UserTokenCache::PER_USER_CAP, "{mine:?}");
}

/// A Redis with a password (OAuthSettingsPassword, never in the URL) and one over TLS with a CA of
/// its own (`rediss://...?ca=`).
#[tokio::test(flavor = "multi_thread")]
async fn redis_with_a_password_and_over_tls() {
    let redis = RedisServer::start(&["--requirepass", "s3cret-redis"]);
    let e = emulator_with(|_| {}).await;
    let in_url = Settings::parse(&web_string(
        &e,
        &format!(
            "OAuthSettingsLocation=redis://:s3cret-redis@127.0.0.1:{}/0;OAuthSettingsKey={KEY_HEX}",
            redis.port
        ),
    ));
    let err = match in_url {
        Ok(s) => Client::new(&s).unwrap().user_tokens().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(err.to_string().contains("OAuthSettingsPassword"), "{err}");
    assert!(!err.to_string().contains("s3cret-redis"), "{err}");

    let good = web_settings(
        &e,
        &format!("{};OAuthSettingsPassword=s3cret-redis", shared(&redis)),
    );
    let a = Client::new(&good).unwrap();
    let alice = sign_in(&a, seed::ALICE, "Alice123!").await;
    assert_eq!(
        parts(&a.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
        200
    );
    let b = Client::new(&good).unwrap();
    assert_eq!(
        parts(&b.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
        200
    );
    assert_eq!(b.user_tokens().await.unwrap().stats().l2_hits, 1);
    assert!(
        !format!("{good:?}").contains("s3cret-redis"),
        "the password shows in the settings"
    );
    // A wrong password: Redis refuses, requests still succeed (a miss).
    let wrong = web_settings(
        &e,
        &format!("{};OAuthSettingsPassword=wrong", shared(&redis)),
    );
    let c = Client::new(&wrong).unwrap();
    assert_eq!(
        parts(&c.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
        200
    );
    assert!(c.user_tokens().await.unwrap().stats().shared_errors >= 1);

    let dir = tempfile::tempdir().unwrap();
    let (tls, ca) = RedisServer::start_tls(dir.path());
    let over_tls = web_settings(
        &e,
        &format!(
            "OAuthSettingsLocation=rediss://127.0.0.1:{}/0?ca={};OAuthSettingsKey={KEY_HEX}",
            tls.port,
            ca.display()
        ),
    );
    let d = Client::new(&over_tls).unwrap();
    assert_eq!(
        parts(&d.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
        200
    );
    let f = Client::new(&over_tls).unwrap();
    assert_eq!(
        parts(&f.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
        200
    );
    let s = f.user_tokens().await.unwrap().stats();
    assert_eq!((s.l2_hits, s.shared_errors), (1, 0), "{s:?}");
}

/// The identity provider needs the user (consent for the Epicor API missing): a typed error the
/// app turns into "sign in again", with Entra's suberror; no token is cached.
#[tokio::test(flavor = "multi_thread")]
async fn missing_consent_is_a_typed_sign_in_again_error() {
    let e = emulator_with(|c| {
        let server = c
            .idp
            .apps
            .iter_mut()
            .find(|a| a.name == "epicor_server")
            .unwrap();
        server.known_client_applications.clear();
    })
    .await;
    let settings = web_settings(&e, "");
    let a = Client::new(&settings).unwrap();
    let alice = sign_in(&a, seed::ALICE, "Alice123!").await;
    let c = a.on_behalf_of(&alice.token.access_token).await.unwrap();
    let err = c.access_token().await.unwrap_err();
    let Error::OAuth { error, .. } = &err else {
        panic!("not an OAuth error: {err:?}");
    };
    assert!(error.needs_sign_in(), "{err}");
    assert_eq!(error.suberror.as_deref(), Some("consent_required"));
    assert_eq!(error.aadsts, vec![65001]);
    // The web app's settings alone are no connection: the user's token is missing.
    let err = a.connect(settings.clone()).await.unwrap_err();
    assert!(err.to_string().contains("OAuthUserAssertion"), "{err}");
    // Without a web app registration the client cannot exchange at all: a settings error.
    let basic = Settings::parse(
        e.startup_info()["connection_strings"]["basic"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let err = Client::new(&basic)
        .unwrap()
        .on_behalf_of(&alice.token.access_token)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AuthScheme"), "{err}");
    // A Redis location without an explicit key: refused (the instances would not share a key).
    let no_key = web_settings(&e, "OAuthSettingsLocation=redis://127.0.0.1:1/0");
    if std::env::var_os("KINETIC_SETTINGS_KEY").is_none() {
        let err = Client::new(&no_key)
            .unwrap()
            .user_tokens()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("OAuthSettingsKey"), "{err}");
    }
}

/// Conditional Access wants a second factor for Epicor: the exchange fails with a typed
/// `interaction_required` error carrying Entra's claims challenge; sent back through
/// `WebSignIn::begin`, it makes the identity provider ask for the second factor, and the new
/// token is exchanged.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_factor_demanded_is_a_typed_error_with_its_claims_challenge() {
    let policy = "9ab03e19-ed42-4168-b6b7-7001fb3e933a";
    let e = emulator_with(|c| {
        let alice = c
            .idp
            .users
            .iter_mut()
            .find(|u| u.upn == seed::ALICE)
            .unwrap();
        alice.mfa_code = Some("246810".into());
        c.idp
            .conditional_access
            .push(epicor_kinetic_emulator::config::ConditionalAccessPolicy {
                id: policy.into(),
                name: "MFA for Epicor".into(),
                users: vec![seed::ALICE.into()],
                resources: vec![seed::EPICOR_SERVER.into()],
            });
    })
    .await;
    let a = Client::new(&web_settings(&e, "")).unwrap();
    let alice = sign_in(&a, seed::ALICE, "Alice123!").await;
    let err = a
        .on_behalf_of(&alice.token.access_token)
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap_err();
    let Error::OAuth { error, .. } = &err else {
        panic!("not an OAuth error: {err:?}");
    };
    assert!(error.needs_sign_in(), "{err}");
    assert_eq!(
        error.code,
        epicor_kinetic::OAuthErrorCode::InteractionRequired
    );
    assert_eq!(error.aadsts, vec![50076]);
    let claims = error.claims.clone().expect("a claims challenge");
    assert!(claims.contains(policy), "{claims}");
    assert_eq!(
        exchanges(&e, seed::ALICE_OID).await.0,
        0,
        "a refusal is no exchange"
    );
    // The challenge sent back: after the password, the provider asks for the second factor.
    let web = WebSignIn::new(&a, CALLBACK).await.unwrap();
    let app_scope = format!("api://{}/access_as_user", seed::WEB_APP);
    let (url, pending) = web.begin(&app_scope, None, Some(&claims)).unwrap();
    let mut b = Browser::new();
    let (_, page, _) = b.get(&url).await;
    let base = url.split("/authorize").next().unwrap().to_string();
    let (status, verify, _) = b
        .sign_in_as(&format!("{base}/login"), &page, seed::ALICE, "Alice123!")
        .await;
    assert_eq!(status, 200);
    assert!(verify.contains("id=\"verify\""), "{verify}");
    let request = common::browser::hidden(&verify, "request");
    let (status, text, location) = b
        .post(
            &format!("{base}/verify"),
            &[("request", &request), ("otc", "246810")],
        )
        .await;
    assert_eq!(status, 302, "{text}");
    let (code, state) = code_and_state(location);
    let stepped = web
        .finish(&pending, &state, &Secret::new(code))
        .await
        .unwrap();
    let c = a.on_behalf_of(&stepped.token.access_token).await.unwrap();
    c.access_token().await.unwrap();
    assert_eq!(exchanges(&e, seed::ALICE_OID).await.0, 1);
}

/// An instance that dies holding the renewal lock (for the lock's whole 15 s life) costs the
/// others one bounded wait (`RedisStore::LOCK_WAIT`), then they ask the identity provider
/// themselves.
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_by_a_dead_instance_costs_one_bounded_wait() {
    let redis = RedisServer::start(&[]);
    let e = emulator_with(|_| {}).await;
    let settings = web_settings(&e, &shared(&redis));
    let a = Client::new(&settings).unwrap();
    let alice = sign_in(&a, seed::ALICE, "Alice123!").await;
    let key = epicor_kinetic::store::UserKey::for_assertion(
        &alice.token.access_token,
        seed::WEB_APP,
        &format!("{}/{}", settings.url, settings.erp_instance),
        settings.oauth.scope.as_deref().unwrap(),
    );
    // The dead instance's lock: someone else's token, the whole lifetime of a lock left.
    let mut raw = redis.raw(None);
    redis::cmd("SET")
        .arg(format!("kinetic:lock:{}", key.entry))
        .arg("dead-instance")
        .arg("PX")
        .arg(RedisStore::LOCK_TTL.as_millis() as u64)
        .query::<()>(&mut raw)
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        parts(&a.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
        200
    );
    let waited = started.elapsed();
    assert!(
        waited >= RedisStore::LOCK_WAIT && waited < RedisStore::LOCK_WAIT + Duration::from_secs(3),
        "{waited:?}"
    );
    let s = a.user_tokens().await.unwrap().stats();
    assert!(
        s.waits >= 1 && s.fetches == 1 && s.lock_timeouts == 1,
        "{s:?}"
    );
    assert_eq!(exchanges(&e, seed::ALICE_OID).await.0, 1);
    // The token it got is shared all the same: another instance finds it in Redis.
    let b = Client::new(&settings).unwrap();
    assert_eq!(
        parts(&b.on_behalf_of(&alice.token.access_token).await.unwrap()).await,
        200
    );
    assert_eq!(b.user_tokens().await.unwrap().stats().l2_hits, 1);
}

/// Redis misbehaving costs a command seconds, never minutes or for ever: with a Redis that drips
/// its answers (a byte every 0.3 s, endlessly) or one where every lock stays taken, an app-only
/// connection and a web app's user both get their pages within 10 s (each Redis call a miss
/// within its deadline, each lock waited for `LOCK_WAIT` at most).
#[tokio::test(flavor = "multi_thread")]
async fn a_dripping_or_locked_redis_costs_a_command_seconds() {
    const BOUND: Duration = Duration::from_secs(10);
    let e = emulator_with(|_| {}).await;
    let app_only = |location: &str| {
        let text: String = e.startup_info()["connection_strings"]["azuread_client_secret"]
            .as_str()
            .unwrap()
            .split(';')
            .filter(|p| {
                !p.starts_with("OAuthSettingsLocation=") && !p.starts_with("OAuthSettingsKey=")
            })
            .chain([location])
            .collect::<Vec<_>>()
            .join(";");
        Settings::parse(&text).unwrap()
    };
    let signer = Client::new(&web_settings(&e, "")).unwrap();
    let alice = sign_in(&signer, seed::ALICE, "Alice123!").await;
    let mut figures = Vec::new();
    for behaviour in [Behaviour::Drip, Behaviour::LockHeld] {
        let fake = FakeRedis::start(behaviour);
        let location = format!(
            "OAuthSettingsLocation={};OAuthSettingsKey={KEY_HEX}",
            fake.url()
        );
        let started = Instant::now();
        let c = tokio::time::timeout(
            BOUND * 3,
            epicor_kinetic::Connection::open(app_only(&location)),
        )
        .await
        .expect("an app-only connection hung on Redis")
        .unwrap();
        assert_eq!(parts(&c).await, 200);
        let app_took = started.elapsed();
        assert!(app_took < BOUND, "{behaviour:?}: app-only {app_took:?}");

        // A store of its own (another prefix), so that it meets Redis afresh rather than skip
        // it after the app-only connection's failure.
        let web = Client::new(&web_settings(
            &e,
            &format!(
                "OAuthSettingsLocation={}?prefix=web;OAuthSettingsKey={KEY_HEX}",
                fake.url()
            ),
        ))
        .unwrap();
        let started = Instant::now();
        let status = tokio::time::timeout(BOUND * 3, async {
            parts(&web.on_behalf_of(&alice.token.access_token).await.unwrap()).await
        })
        .await
        .expect("a web request hung on Redis");
        assert_eq!(status, 200);
        let user_took = started.elapsed();
        assert!(
            user_took < BOUND,
            "{behaviour:?}: on behalf of a user {user_took:?}"
        );
        let users = web.user_tokens().await.unwrap();
        let (s, store) = (users.stats(), users.shared().unwrap().stats());
        match behaviour {
            Behaviour::Drip => assert!(
                s.shared_errors >= 1 && store.timeouts >= 1,
                "{s:?} {store:?}"
            ),
            _ => assert!(
                s.lock_timeouts == 1 && store.lock_timeouts == 1,
                "{s:?} {store:?}"
            ),
        }
        figures.push(format!(
            "{behaviour:?}: app-only {:.2} s, on behalf of a user {:.2} s ({store:?})",
            app_took.as_secs_f64(),
            user_took.as_secs_f64()
        ));
    }
    eprintln!("a misbehaving Redis: {}", figures.join("; "));
}

/// The figure of the issue: on-behalf-of exchanges per user per hour across two instances, with
/// Entra's one-hour tokens and the web app's renewal rule (its token to the app renewed when the
/// Epicor token made from it is: 5 minutes before expiry). Two simulated hours (one clock for the
/// emulator and both instances), three users, each making a request every 30 s on alternate
/// instances.
#[tokio::test(flavor = "multi_thread")]
async fn about_one_exchange_per_user_per_hour_across_two_instances() {
    let redis = RedisServer::start(&[]);
    let mut config = EmulatorConfig {
        scale: 150,
        ..EmulatorConfig::default()
    };
    config.idp.token_lifetime_secs = 3600;
    let time = ManualClock::new();
    let e = common::emulator_at(config, &time).await;
    let settings = web_settings(&e, &shared(&redis));
    let clock: Arc<dyn Clock> = Arc::new(time.clone());
    let instances = [
        Client::with_clock(&settings, clock.clone()).unwrap(),
        Client::with_clock(&settings, clock.clone()).unwrap(),
    ];
    let web = WebSignIn::new(&instances[0], CALLBACK).await.unwrap();
    let app_scope = format!("api://{}/access_as_user", seed::WEB_APP);
    let mut users = [
        sign_in(&instances[0], seed::ALICE, "Alice123!").await,
        sign_in(&instances[1], seed::BOB, "Bob123!").await,
        sign_in(&instances[0], seed::ALICE, "Alice123!").await, // Alice on a second device
    ];
    let now = || epicor_kinetic::clock::unix_seconds(time.now());
    let mut renewals = 0;
    let hours = 2;
    for step in 0..(hours * 3600 / 30) {
        for (i, u) in users.iter_mut().enumerate() {
            // The web app's rule (examples/webapp): renew when the Epicor token would be.
            let t = &u.token;
            let (exp, got) = (t.expires_at.unwrap(), t.obtained_at.unwrap());
            if now() + ((exp - got) / 2).min(300) >= exp {
                let mut fresh = web
                    .refresh(t.refresh_token.as_ref().unwrap(), &app_scope)
                    .await
                    .unwrap();
                if fresh.refresh_token.is_none() {
                    fresh.refresh_token = t.refresh_token.clone();
                }
                u.token = fresh;
                renewals += 1;
            }
            let instance = &instances[(step + i) % 2];
            assert_eq!(
                parts(&instance.on_behalf_of(&u.token.access_token).await.unwrap()).await,
                200
            );
        }
        time.advance(Duration::from_secs(30));
    }
    let (alice, _) = exchanges(&e, seed::ALICE_OID).await;
    let (bob, _) = exchanges(&e, seed::BOB_OID).await;
    let per_user_hour = (alice + bob) as f64 / 3.0 / hours as f64;
    eprintln!(
        "on-behalf-of exchanges over {hours} simulated hours, 3 users (one on two devices), 2 instances, \
         one request per user every 30 s ({} requests): Alice {alice} (two devices), Bob {bob}; \
         {per_user_hour:.2} per user-device per hour; {renewals} renewals of tokens to the app",
        3 * hours * 3600 / 30
    );
    // One exchange at sign-in and one per renewal of the token to the app (every 55 minutes).
    assert_eq!(
        alice + bob,
        3 + renewals,
        "Alice {alice}, Bob {bob}, renewals {renewals}"
    );
    assert!(per_user_hour <= 1.7, "{per_user_hour}");
}
