//! The interactive OAuth flows (DEVICE, CODE desktop, CODE web procedures) and the token store
//! behind them, end to end against the emulator's identity provider started in process. The
//! "browser" is an HTTP client driving the emulator's sign-in pages; nothing leaves loopback.

mod common;
use common::browser::{hidden, sign_in, Browser};
use common::{azure_base, parts};

use epicor_kinetic::auth::interactive::{StoredTokenSource, UserAgent, WebFlow};
use epicor_kinetic::auth::providers::TokenCredential;
use epicor_kinetic::auth::{Token, TokenSource};
use epicor_kinetic::clock::{Clock, SystemClock};
use epicor_kinetic::http::{Credential, Request};
use epicor_kinetic::{Connection, Settings};
use epicor_kinetic_emulator::config::seed;
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHILD_SETTINGS: &str = "KINETIC_TEST_INTERACTIVE_CHILD_SETTINGS";
const CHILD_ROUNDS: &str = "KINETIC_TEST_INTERACTIVE_CHILD_ROUNDS";
const KEY_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

async fn emulator() -> RunningEmulator {
    emulator_with(|_| {}).await
}

async fn emulator_with(tweak: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig {
        scale: 150,
        ..EmulatorConfig::default()
    };
    // Poll the device code every second rather than five.
    config.idp.device_interval_secs = 1;
    tweak(&mut config);
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap()
}

/// The connection string of a delegated sign-in with the desktop (public) client.
fn delegated(e: &RunningEmulator, grant: &str, extra: &str) -> String {
    let info = e.startup_info();
    let base = azure_base(&info);
    format!(
        "{base};OAuthGrantType={grant};OAuthClientId={};Scope={};{extra}",
        info["idp"]["apps"]["desktop"]["client_id"]
            .as_str()
            .unwrap(),
        info["idp"]["apps"]["epicor_server"]["scope"]
            .as_str()
            .unwrap(),
    )
}

fn file_store(path: &std::path::Path) -> String {
    format!(
        "OAuthSettingsLocation={};OAuthSettingsKey={KEY_HEX}",
        path.display()
    )
}

/// Enters the device code on the emulator's pages, signs in as alice and approves.
async fn approve_device(message: String) {
    let uri = message
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap()
        .to_string();
    let code = message
        .split_whitespace()
        .skip_while(|w| *w != "code")
        .nth(1)
        .unwrap()
        .to_string();
    let mut b = Browser::new();
    assert_eq!(b.get(&uri).await.0, 200);
    let (_, page, _) = b.post(&uri, &[("otc", &code)]).await;
    let login = uri.replace("/devicelogin", "/login");
    let (_, page, _) = b.sign_in_as_alice(&login, &page).await;
    let consent = uri.replace("/devicelogin", "/consent");
    let (_, done, _) = b
        .post(
            &consent,
            &[
                ("request", &hidden(&page, "request")),
                ("decision", "accept"),
            ],
        )
        .await;
    assert!(done.contains("You have signed in"), "{done}");
}

/// A user agent that drives the flows itself: approves device codes, follows authorization URLs
/// to the loopback listener (optionally with a forged `state`), and counts what it was asked.
#[derive(Debug, Default)]
struct TestAgent {
    forge_state: bool,
    opened: AtomicU64,
    shown: AtomicU64,
    failures: Mutex<Vec<String>>,
    /// The browser and device-approval tasks; [`TestAgent::finish`] joins them, so that their
    /// assertions fail the test (a dropped JoinHandle swallows a panic).
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl TestAgent {
    fn track(&self, task: tokio::task::JoinHandle<()>) {
        self.tasks.lock().unwrap().push(task);
    }

    /// Waits for every task the agent started and re-raises the first panic.
    async fn finish(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        for t in tasks {
            if let Err(e) = t.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

impl UserAgent for TestAgent {
    fn open_browser(&self, url: &str) -> bool {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let url = url.to_string();
        let forge = self.forge_state;
        self.track(tokio::spawn(async move {
            let mut location = sign_in(&url).await;
            if forge {
                let at = location.find("&state=").unwrap() + "&state=".len();
                location.replace_range(at.., "forged");
            }
            let page = reqwest::get(&location).await.unwrap().text().await.unwrap();
            assert!(
                page.contains(if forge { "refused" } else { "signed in" }),
                "{page}"
            );
        }));
        true
    }

    fn show(&self, message: &str) {
        self.shown.fetch_add(1, Ordering::Relaxed);
        if message.contains("enter the code") {
            self.track(tokio::spawn(approve_device(message.to_string())));
        } else {
            self.failures.lock().unwrap().push(message.to_string());
        }
    }
}

async fn source(settings: &Settings, agent: &Arc<TestAgent>) -> StoredTokenSource {
    let client = epicor_kinetic::Client::new(settings).unwrap();
    StoredTokenSource::from_settings(&client, settings, agent.clone())
        .await
        .unwrap()
}

async fn connect(settings: &Settings, source: &StoredTokenSource) -> Connection {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let credential: Arc<dyn Credential> =
        Arc::new(TokenCredential::new(source.clone(), clock.clone()));
    Connection::open_with_credential(settings.clone(), credential, clock)
        .await
        .unwrap()
}

fn stored_token(source: &StoredTokenSource) -> Token {
    source.store().load().unwrap().unwrap().token.unwrap()
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_then_the_store_serves_getandrefresh_and_refresh() {
    let e = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.enc");
    let settings = Settings::parse(&delegated(
        &e,
        "DEVICE",
        &format!("InitiateOAuth=GETANDREFRESH;{}", file_store(&file)),
    ))
    .unwrap();

    // First connection: the store is empty, so the device flow runs (once).
    let agent = Arc::new(TestAgent::default());
    let first = source(&settings, &agent).await;
    let started = Instant::now();
    let c = connect(&settings, &first).await;
    assert_eq!(parts(&c).await, 200);
    eprintln!(
        "device flow signed in in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!((first.flows(), agent.shown.load(Ordering::Relaxed)), (1, 1));
    agent.finish().await;
    let token = c.access_token().await.unwrap();
    assert!(stored_token(&first).refresh_token.is_some());

    // Second connection with the same OAuthSettingsLocation: the stored token, no flow.
    let again = Arc::new(TestAgent::default());
    let second = source(&settings, &again).await;
    let c2 = connect(&settings, &second).await;
    assert_eq!(c2.access_token().await.unwrap(), token);
    assert_eq!((second.flows(), second.refreshes()), (0, 0));
    assert_eq!(again.shown.load(Ordering::Relaxed), 0);
    // The same through the public entry point (system user agent: a flow would hang, not pass).
    let c3 = tokio::time::timeout(Duration::from_secs(20), Connection::open(settings.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c3.access_token().await.unwrap(), token);
    assert_eq!(parts(&c3).await, 200);

    // REFRESH, headless option 2: the file copied to another machine refreshes without a flow.
    let copy = dir.path().join("copied.enc");
    std::fs::copy(&file, &copy).unwrap();
    let headless = Settings::parse(&delegated(
        &e,
        "DEVICE",
        &format!("InitiateOAuth=REFRESH;{}", file_store(&copy)),
    ))
    .unwrap();
    let quiet = Arc::new(TestAgent::default());
    let refresher = source(&headless, &quiet).await;
    let before = stored_token(&refresher);
    let refreshed = refresher.fetch(Some(&before)).await.unwrap();
    assert_ne!(refreshed.access_token, before.access_token);
    assert_ne!(refreshed.refresh_token, before.refresh_token, "rotated");
    assert_eq!(stored_token(&refresher), refreshed);
    assert_eq!((refresher.flows(), refresher.refreshes()), (1 - 1, 1));
    let c4 = connect(&headless, &refresher).await;
    assert_eq!(parts(&c4).await, 200);

    // REFRESH with nothing to refresh: a clear error, and no flow.
    let empty = Settings::parse(&delegated(
        &e,
        "DEVICE",
        &format!(
            "InitiateOAuth=REFRESH;{}",
            file_store(&dir.path().join("none.enc"))
        ),
    ))
    .unwrap();
    let nothing = source(&empty, &quiet).await;
    let err = nothing.fetch(None).await.unwrap_err();
    let text = err.to_string();
    assert_eq!(err.property(), Some("InitiateOAuth"), "{text}");
    for hint in [
        "OAuthVerifier",
        "OAuthRefreshToken",
        "copy a token file",
        "GETANDREFRESH",
    ] {
        assert!(text.contains(hint), "{text}");
    }
    assert_eq!(
        (nothing.flows(), quiet.shown.load(Ordering::Relaxed)),
        (0, 0)
    );
    let err = Connection::open(empty)
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.property(), Some("InitiateOAuth"), "{err}");

    // OAuthRefreshToken given in the settings (no store content) is refreshed and then stored.
    let rt = refreshed.refresh_token.clone().unwrap();
    let given = Settings::parse(&delegated(
        &e,
        "DEVICE",
        &format!(
            "InitiateOAuth=REFRESH;OAuthRefreshToken={};OAuthSettingsLocation=memory://given-rt",
            rt.expose()
        ),
    ))
    .unwrap();
    let from_given = source(&given, &quiet).await;
    let t = from_given.fetch(None).await.unwrap();
    assert_eq!(from_given.refreshes(), 1);
    assert_eq!(stored_token(&from_given), t);
}

#[tokio::test(flavor = "multi_thread")]
async fn code_desktop_flow_receives_the_code_on_loopback_and_refuses_a_forged_state() {
    let e = emulator().await;
    let settings = Settings::parse(&delegated(
        &e,
        "CODE",
        "InitiateOAuth=GETANDREFRESH;CallbackURL=http://localhost:0;OAuthSettingsLocation=memory://desktop-code",
    ))
    .unwrap();
    let agent = Arc::new(TestAgent::default());
    let s = source(&settings, &agent).await;
    let c = connect(&settings, &s).await;
    assert_eq!(parts(&c).await, 200);
    assert_eq!((s.flows(), agent.opened.load(Ordering::Relaxed)), (1, 1));
    assert!(agent.failures.lock().unwrap().is_empty());
    agent.finish().await;
    // A second connection on the same store: no browser.
    let again = Arc::new(TestAgent::default());
    let s2 = source(&settings, &again).await;
    assert_eq!(
        connect(&settings, &s2).await.access_token().await.unwrap(),
        c.access_token().await.unwrap()
    );
    assert_eq!(again.opened.load(Ordering::Relaxed), 0);

    // A redirect whose state is not the request's is refused (CSRF guard).
    let forged = Settings::parse(&delegated(
        &e,
        "CODE",
        "InitiateOAuth=GETANDREFRESH;CallbackURL=http://localhost:0;OAuthSettingsLocation=memory://desktop-forged",
    ))
    .unwrap();
    let agent = Arc::new(TestAgent {
        forge_state: true,
        ..TestAgent::default()
    });
    let s = source(&forged, &agent).await;
    let err = s.fetch(None).await.unwrap_err();
    assert!(err.to_string().contains("state does not match"), "{err}");
    let stored = s.store().load().unwrap();
    assert!(stored.and_then(|st| st.token).is_none(), "no token stored");
    agent.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn web_procedures_and_a_verifier_redeemed_once() {
    let e = emulator().await;
    let settings = Settings::parse(&delegated(
        &e,
        "CODE",
        "InitiateOAuth=REFRESH;CallbackURL=http://localhost:5000;OAuthSettingsLocation=memory://web-procedures",
    ))
    .unwrap();
    // GetOAuthAuthorizationURL → the browser → GetOAuthAccessToken(Verifier) → Refresh.
    let web = WebFlow::with_clock(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let url = web.authorization_url().await.unwrap();
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("state="),
        "{url}"
    );
    let pending = web
        .source()
        .store()
        .load()
        .unwrap()
        .unwrap()
        .pending
        .unwrap();
    assert_eq!(
        pending.redirect_uri.as_deref(),
        Some("http://localhost:5000")
    );
    let redirect = sign_in(&url).await;
    assert!(redirect.starts_with("http://localhost:5000"), "{redirect}");
    let token = web.access_token(&redirect).await.unwrap();
    assert!(token.refresh_token.is_some());
    let stored = web.source().store().load().unwrap().unwrap();
    assert!(stored.pending.is_none(), "the pending request is used once");
    assert_eq!(stored.token.as_ref(), Some(&token));
    let err = web.access_token(&redirect).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no authorization request is pending"),
        "{err}"
    );
    let refreshed = web.refresh_access_token().await.unwrap();
    assert_ne!(refreshed.access_token, token.access_token);
    assert_ne!(refreshed.refresh_token, token.refresh_token);
    // The stored token opens a connection (REFRESH: no flow).
    let c = Connection::open(settings.clone()).await.unwrap();
    assert_eq!(c.access_token().await.unwrap(), refreshed.access_token);
    assert_eq!(parts(&c).await, 200);

    // A forged state in the redirect URL is refused.
    let url = web.authorization_url().await.unwrap();
    let mut redirect = sign_in(&url).await;
    let at = redirect.find("&state=").unwrap() + "&state=".len();
    redirect.replace_range(at.., "forged");
    let err = web.access_token(&redirect).await.unwrap_err();
    assert!(err.to_string().contains("state does not match"), "{err}");

    // REFRESH, headless option 1: a code obtained elsewhere, as OAuthVerifier, redeemed once.
    let store = "OAuthSettingsLocation=memory://verifier-once";
    let elsewhere = Settings::parse(&delegated(
        &e,
        "CODE",
        &format!("InitiateOAuth=REFRESH;CallbackURL=http://localhost:5000;{store}"),
    ))
    .unwrap();
    let web = WebFlow::with_clock(&elsewhere, Arc::new(SystemClock))
        .await
        .unwrap();
    let redirect = sign_in(&web.authorization_url().await.unwrap()).await;
    let code = redirect
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_string();
    let code = percent_encoding::percent_decode_str(&code)
        .decode_utf8()
        .unwrap();
    let with_verifier = Settings::parse(&delegated(
        &e,
        "CODE",
        &format!(
            "InitiateOAuth=REFRESH;CallbackURL=http://localhost:5000;OAuthVerifier={code};{store}"
        ),
    ))
    .unwrap();
    let quiet = Arc::new(TestAgent::default());
    let s = source(&with_verifier, &quiet).await;
    let c = connect(&with_verifier, &s).await;
    assert_eq!(parts(&c).await, 200);
    // Later runs with the same settings use the stored token (the code cannot be redeemed twice).
    let c = Connection::open(with_verifier.clone()).await.unwrap();
    assert_eq!(parts(&c).await, 200);
    assert_eq!((s.flows(), quiet.opened.load(Ordering::Relaxed)), (0, 0));
}

// ---- many processes, one file ----

/// The child's part when the test binary was started as a child; a no-op in a normal run.
#[test]
fn child_refresher() {
    let Ok(settings) = std::env::var(CHILD_SETTINGS) else {
        return;
    };
    let rounds: u64 = std::env::var(CHILD_ROUNDS).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let settings = Settings::parse(&settings).unwrap();
        let agent = Arc::new(TestAgent::default());
        let source = source(&settings, &agent).await;
        // Each round replaces the token this process last saw, as a refresh at expiry (or after
        // a 401) does; another process may have replaced it first, and then its token is used.
        let mut handed_out = 0u64;
        while source.refreshes() < rounds {
            let current = stored_token(&source);
            let t = source.fetch(Some(&current)).await.unwrap_or_else(|e| {
                panic!("refresh failed: {e}");
            });
            assert!(!t.access_token.expose().is_empty());
            handed_out += 1;
        }
        assert_eq!(source.flows(), 0);
        eprintln!(
            "child: {} refreshes, {handed_out} tokens",
            source.refreshes()
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_processes_share_one_file_and_never_reuse_a_refresh_token() {
    const PROCESSES: usize = 16;
    const ROUNDS: u64 = 100;
    // Reuse detection on (Okta/Auth0-style rotation; Entra itself does not revoke): any process
    // that refreshed with a token another had already used would revoke the family and fail.
    let e = emulator_with(|c| c.idp.refresh_reuse_detection = true).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.enc");
    // Seed the file by signing in once (device flow).
    let seed_settings = Settings::parse(&delegated(
        &e,
        "DEVICE",
        &format!("InitiateOAuth=GETANDREFRESH;{}", file_store(&file)),
    ))
    .unwrap();
    let agent = Arc::new(TestAgent::default());
    let seeded = source(&seed_settings, &agent).await;
    let first = seeded.fetch(None).await.unwrap();
    assert_eq!(seeded.flows(), 1);
    agent.finish().await;

    let child = delegated(
        &e,
        "DEVICE",
        &format!("InitiateOAuth=REFRESH;{}", file_store(&file)),
    );
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let waits: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let mut command = Command::new(&exe);
            command
                .args([
                    "child_refresher",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                    "-q",
                ])
                .env(CHILD_SETTINGS, &child)
                .env(CHILD_ROUNDS, ROUNDS.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            let mut child = command.spawn().unwrap();
            tokio::task::spawn_blocking(move || {
                // Bounded: a child that hangs is killed, so the test fails instead of hanging.
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    if let Ok(Some(status)) = child.try_wait() {
                        return status.success();
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    let mut ok = 0;
    for w in waits {
        if w.await.unwrap() {
            ok += 1;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(ok, PROCESSES, "every process succeeded");
    // The token left in the file still refreshes: its family was never revoked for reuse.
    let last = stored_token(&seeded);
    let after = seeded.fetch(Some(&last)).await.unwrap();
    assert_ne!(after.refresh_token, last.refresh_token);
    // The control: the emulator does detect reuse. Replaying the first, long-used refresh token
    // is refused with AADSTS50173 (and revokes the family, so this comes last).
    let replay = Settings::parse(&delegated(
        &e,
        "DEVICE",
        &format!(
            "InitiateOAuth=REFRESH;OAuthRefreshToken={};OAuthSettingsLocation=memory://replay",
            first.refresh_token.as_ref().unwrap().expose()
        ),
    ))
    .unwrap();
    let err = source(&replay, &agent).await.fetch(None).await.unwrap_err();
    assert!(err.to_string().contains("AADSTS50173"), "{err}");
    eprintln!(
        "shared file against the emulator's IdP (reuse detection on): {PROCESSES} processes x \
         {ROUNDS} refreshes = {} refreshes, 0 reused, {:.2} s",
        PROCESSES as u64 * ROUNDS,
        elapsed.as_secs_f64()
    );
}

/// The web application story: users sign in to the web app (web procedures, the web app's own
/// API scope), and its server calls Epicor on their behalf (OBO), as the mapped Epicor user.
#[tokio::test(flavor = "multi_thread")]
async fn a_web_app_calls_epicor_on_behalf_of_its_signed_in_user() {
    let e = emulator().await;
    let info = e.startup_info();
    let web_app = &info["idp"]["apps"]["web_app"];
    let base = azure_base(&info);
    let client = format!(
        "OAuthClientId={};OAuthClientSecret={}",
        web_app["client_id"].as_str().unwrap(),
        web_app["client_secret"].as_str().unwrap()
    );
    // 1. The user signs in to the web app.
    let sign_in_settings = Settings::parse(&format!(
        "{base};{client};OAuthGrantType=CODE;InitiateOAuth=REFRESH;CallbackURL=http://localhost:5000/callback;Scope={} offline_access;OAuthSettingsLocation=memory://web-app-user",
        web_app["scope"].as_str().unwrap()
    ))
    .unwrap();
    let web = WebFlow::with_clock(&sign_in_settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let redirect = sign_in(&web.authorization_url().await.unwrap()).await;
    let user_token = web.access_token(&redirect).await.unwrap();
    // 2. Its server trades the user's token for one to Epicor.
    let obo = Settings::parse(&format!(
        "{base};{client};OAuthGrantType=OBO;OAuthUserAssertion={};Scope={}",
        user_token.access_token.expose(),
        info["idp"]["apps"]["epicor_server"]["scope"]
            .as_str()
            .unwrap()
    ))
    .unwrap();
    let c = Connection::open(obo).await.unwrap();
    let endpoint = c
        .pipeline()
        .endpoints()
        .service("Erp.BO.PartSvc")
        .unwrap()
        .segment("Parts")
        .query("$top", "1");
    let answer = c
        .pipeline()
        .send(Request::get(&endpoint).unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let token = c.access_token().await.unwrap();
    let claims: serde_json::Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.expose().split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        claims["preferred_username"],
        seed::ALICE,
        "the user is kept"
    );
    assert_eq!(
        claims["azp"], web_app["client_id"],
        "the web app is the caller"
    );
}

/// A token store whose writes fail while `broken` is set (a full disk): it runs the change as a
/// real store does, then fails to write what the change decided.
#[derive(Debug)]
struct BrokenDisk {
    inner: epicor_kinetic::store::MemoryStore,
    broken: std::sync::atomic::AtomicBool,
}

impl epicor_kinetic::store::TokenStore for BrokenDisk {
    fn load(&self) -> epicor_kinetic::Result<Option<epicor_kinetic::store::StoredSettings>> {
        self.inner.load()
    }

    fn update(
        &self,
        change: &mut dyn FnMut(
            Option<&epicor_kinetic::store::StoredSettings>,
        ) -> epicor_kinetic::Result<epicor_kinetic::store::Change>,
    ) -> epicor_kinetic::Result<Option<epicor_kinetic::store::StoredSettings>> {
        if !self.broken.load(Ordering::SeqCst) {
            return self.inner.update(change);
        }
        let current = self.inner.load()?;
        match change(current.as_ref())? {
            epicor_kinetic::store::Change::Keep => Ok(current),
            _ => Err(epicor_kinetic::Error::ConfigFile {
                path: "/full/disk/tokens.enc".into(),
                message: "No space left on device".into(),
                source: None,
            }),
        }
    }
}

/// The identity provider rotated the refresh token but the store could not write it: the new
/// token is kept in memory and used (the older one is never replayed, which a rotating provider
/// answers by revoking the sign-in), the person is told, and it is written once the store works.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_refresh_token_survives_a_store_that_cannot_write() {
    let e = emulator_with(|c| c.idp.refresh_reuse_detection = true).await;
    let settings =
        Settings::parse(&delegated(&e, "DEVICE", "InitiateOAuth=GETANDREFRESH")).unwrap();
    let agent = Arc::new(TestAgent::default());
    let store = Arc::new(BrokenDisk {
        inner: epicor_kinetic::store::MemoryStore::private(),
        broken: std::sync::atomic::AtomicBool::new(false),
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let shared = epicor_kinetic::Client::with_clock(&settings, clock.clone()).unwrap();
    let client = epicor_kinetic::auth::providers::oauth_client(&shared, &settings, None)
        .await
        .unwrap();
    let source =
        StoredTokenSource::new(&settings, client, store.clone(), clock, agent.clone()).unwrap();
    let first = source.fetch(None).await.unwrap();
    agent.finish().await;
    store.broken.store(true, Ordering::SeqCst);
    let second = source
        .fetch(Some(&first))
        .await
        .unwrap_or_else(|e| panic!("a failed write must not lose the token: {e}"));
    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    assert!(
        agent
            .failures
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("could not be saved") && m.contains("No space left")),
        "the person is told"
    );
    // Still broken: the next refresh redeems the newer token kept in memory.
    let third = source.fetch(Some(&second)).await.unwrap();
    // Healthy again: the token kept in memory is written.
    store.broken.store(false, Ordering::SeqCst);
    let fourth = source.fetch(Some(&third)).await.unwrap();
    let stored = stored_token(&source);
    assert_eq!(stored.refresh_token, fourth.refresh_token);
    assert_eq!(source.refreshes(), 3);
    // And it still refreshes: no reuse was detected on the way.
    source.fetch(Some(&fourth)).await.unwrap();
}
