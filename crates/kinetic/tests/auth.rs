//! Authentication end to end against the emulator started in process: the emulator's own connection
//! strings for each scheme open a connection that can call the REST API.

mod common;
use common::parts;

use epicor_kinetic::auth::providers::{EpicorTokenSource, TokenCredential};
use epicor_kinetic::clock::{Clock, ManualClock};
use epicor_kinetic::http::{Credential, Pipeline, Request};
use epicor_kinetic::{Connection, Error, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use std::sync::Arc;
use std::time::Duration;

async fn emulator(tls: bool) -> RunningEmulator {
    let mut config = EmulatorConfig {
        scale: 150,
        ..EmulatorConfig::default()
    };
    config.tls.enabled = tls;
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap()
}

/// The emulator's connection string `name`, with its tokens kept in a store of this process
/// only (app-only tokens go to the token store too; the tests leave the user's files alone).
fn string(e: &RunningEmulator, name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let text = e.startup_info()["connection_strings"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no connection string {name}"))
        .to_string();
    format!("{text};OAuthSettingsLocation=memory://auth-test-{n}")
}

async fn seats_in_use(e: &RunningEmulator) -> (u64, usize) {
    let report: serde_json::Value = reqwest::Client::new()
        .get(format!("{}admin/sessions", e.base_url()))
        .basic_auth("manager", Some("Epicor123!"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seats = report["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["InUse"].as_u64().unwrap())
        .sum();
    (seats, report["sessions"].as_array().unwrap().len())
}

#[tokio::test]
async fn basic_and_basic_with_a_session() {
    let e = emulator(false).await;
    let c = Connection::open(Settings::parse(&string(&e, "basic")).unwrap())
        .await
        .unwrap();
    assert_eq!(parts(&c).await, 200);
    // Basic sends credentials; its token is one from Epicor's token service for the same user.
    let t = c.access_token().await.unwrap();
    assert_eq!(t.expose().split('.').count(), 3);
    // UseSession: one session for the connection's life, logged out on close.
    let c = Connection::open(Settings::parse(&string(&e, "basic_session")).unwrap())
        .await
        .unwrap();
    assert_eq!(seats_in_use(&e).await, (1, 1));
    for _ in 0..3 {
        assert_eq!(parts(&c).await, 200);
    }
    assert_eq!(
        seats_in_use(&e).await,
        (1, 1),
        "calls reuse the session's seat"
    );
    c.close().await.unwrap();
    assert_eq!(seats_in_use(&e).await, (0, 0), "logout freed the seat");
    // The last handle dropped without close: the seat is given back in the background.
    let c = Connection::open(Settings::parse(&string(&e, "basic_session")).unwrap())
        .await
        .unwrap();
    let clone = c.clone();
    drop(c);
    assert_eq!(seats_in_use(&e).await, (1, 1), "a clone still holds it");
    drop(clone);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while seats_in_use(&e).await != (0, 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped connection's seat came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn epicor_token_service_and_single_flight_at_expiry() {
    let e = emulator(false).await;
    let settings = Settings::parse(&string(&e, "token")).unwrap();
    let c = Connection::open(settings.clone()).await.unwrap();
    let token = c.access_token().await.unwrap();
    assert_eq!(token.expose().split('.').count(), 3, "a JWT");
    assert_eq!(parts(&c).await, 200);

    // 50 concurrent calls when the token is due: exactly one token request.
    let clock = Arc::new(ManualClock::at(std::time::SystemTime::now()));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let source = EpicorTokenSource::from_settings(
        &epicor_kinetic::Client::with_clock(&settings, dyn_clock.clone()).unwrap(),
        &settings,
    )
    .unwrap();
    let credential = Arc::new(TokenCredential::new(source, dyn_clock));
    let pipeline = Pipeline::builder(
        epicor_kinetic::Client::http_options(&settings).unwrap(),
        credential.clone(),
    )
    .build()
    .unwrap();
    credential.authorization().await.unwrap();
    assert_eq!(credential.fetches(), 1);
    clock.advance(Duration::from_secs(3600 - 60));
    let endpoint = pipeline
        .endpoints()
        .service("Erp.BO.PartSvc")
        .unwrap()
        .segment("Parts")
        .query("$top", "1");
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let p = pipeline.clone();
            let ep = endpoint.clone();
            tokio::spawn(async move {
                p.send(Request::get(&ep).unwrap())
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 200);
    }
    assert_eq!(
        credential.fetches(),
        2,
        "50 callers at expiry, one token request"
    );
    eprintln!(
        "single flight: 50 concurrent calls at expiry, {} token request",
        credential.fetches() - 1
    );
}

#[tokio::test]
async fn azure_ad_and_openid_client_credentials_over_tls() {
    let e = emulator(true).await;
    for name in ["azuread_client_secret", "oauth_discovery"] {
        let c = Connection::open(Settings::parse(&string(&e, name)).unwrap())
            .await
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parts(&c).await, 200, "{name}");
        let t = c.access_token().await.unwrap();
        assert_eq!(t.expose().split('.').count(), 3);
    }
    // Without SSLServerCert the emulator's certificate is not trusted: a clear error, no fallback.
    let without: String = string(&e, "azuread_client_secret")
        .split(';')
        .filter(|p| !p.starts_with("SSLServerCert="))
        .collect::<Vec<_>>()
        .join(";");
    let err = Connection::open(Settings::parse(&without).unwrap())
        .await
        .unwrap_err();
    let text = format!("{err}");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(
        text.contains("SSLServerCert") || text.contains("certificate"),
        "{text}"
    );
    // With a token and discovery document stored by a trusting run, opening needs no call; the
    // first call to the server still refuses its certificate.
    let trusting = string(&e, "azuread_client_secret");
    let store = trusting.rsplit(';').next().unwrap().to_owned();
    Connection::open(Settings::parse(&trusting).unwrap())
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap();
    let untrusting: String = without
        .split(';')
        .filter(|p| !p.starts_with("OAuthSettingsLocation="))
        .chain([store.as_str()])
        .collect::<Vec<_>>()
        .join(";");
    let c = Connection::open(Settings::parse(&untrusting).unwrap())
        .await
        .unwrap();
    assert!(c.access_token().await.is_ok(), "the stored token");
    let err = c
        .get_by_key("Erp.BO.PartSvc", "Parts", &["EPIC06".into(), "P-1".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("SSLServerCert"), "{err}");
}

#[tokio::test]
async fn certificate_credentials_sign_client_assertions() {
    let e = emulator(true).await;
    let info = e.startup_info();
    let web = &info["idp"]["apps"]["web_app"];
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("web_app.pem");
    let key = std::fs::read_to_string(web["private_key"].as_str().unwrap()).unwrap();
    let cert = std::fs::read_to_string(web["certificate"].as_str().unwrap()).unwrap();
    std::fs::write(&bundle, format!("{key}{cert}")).unwrap();
    let base: String = string(&e, "azuread_client_secret")
        .split(';')
        .filter(|p| !p.starts_with("OAuthClientId=") && !p.starts_with("OAuthClientSecret="))
        .collect::<Vec<_>>()
        .join(";");
    for thumb in [
        "",
        &format!(
            ";OAuthJWTCertThumbprint={}",
            web["thumbprint_sha256"].as_str().unwrap()
        ),
    ] {
        let s = format!(
            "{base};OAuthClientId={};OAuthJWTCert={};OAuthJWTCertType=PEMKEY_FILE{thumb}",
            web["client_id"].as_str().unwrap(),
            bundle.display()
        );
        let c = Connection::open(Settings::parse(&s).unwrap())
            .await
            .unwrap();
        let t = c
            .access_token()
            .await
            .unwrap_or_else(|err| panic!("{thumb}: {err}"));
        let claims: serde_json::Value = {
            use base64::Engine;
            let part = t.expose().split('.').nth(1).unwrap();
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(part)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(claims["azpacr"], "2", "authenticated by certificate");
    }
    // The same key and certificate as a PKCS#12 (PFX) file and as a base64 blob.
    let pem_der = |pem: &str| {
        use base64::Engine;
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let mut store = p12_keystore::KeyStore::new();
    let chain = p12_keystore::PrivateKeyChain::new(
        b"web".to_vec(),
        p12_keystore::PrivateKey::from_der(&pem_der(&key)).unwrap(),
        [p12_keystore::Certificate::from_der(&pem_der(&cert)).unwrap()],
    );
    store.add_entry("web", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let pfx = store.writer("pfx-pass").write().unwrap();
    let pfx_path = dir.path().join("web_app.pfx");
    std::fs::write(&pfx_path, &pfx).unwrap();
    let blob = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&pfx)
    };
    for (kind, value) in [
        ("PFXFILE", pfx_path.display().to_string()),
        ("PFXBLOB", blob),
    ] {
        let s = format!(
            "{base};OAuthClientId={};OAuthJWTCert={value};OAuthJWTCertType={kind};OAuthJWTCertPassword=pfx-pass",
            web["client_id"].as_str().unwrap()
        );
        let c = Connection::open(Settings::parse(&s).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        c.access_token()
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    let s = format!(
        "{base};OAuthClientId={};OAuthJWTCert={};OAuthJWTCertType=PFXFILE;OAuthJWTCertPassword=wrong",
        web["client_id"].as_str().unwrap(),
        pfx_path.display()
    );
    let err = Connection::open(Settings::parse(&s).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OAuthJWTCertPassword"), "{err}");
    // A thumbprint that is not the certificate's is caught before any request.
    let s = format!(
        "{base};OAuthClientId={};OAuthJWTCert={};OAuthJWTCertThumbprint={}",
        web["client_id"].as_str().unwrap(),
        bundle.display(),
        "00".repeat(32)
    );
    let err = Connection::open(Settings::parse(&s).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.property(), Some("OAuthJWTCertThumbprint"), "{err}");
}

#[tokio::test]
async fn a_given_token_is_used_until_it_expires() {
    let e = emulator(false).await;
    let mut settings = Settings::parse(&string(&e, "azuread_client_secret")).unwrap();
    let token = Connection::open(settings.clone())
        .await
        .unwrap()
        .access_token()
        .await
        .unwrap();
    // Read once: a second passing between two readings would leave `expired` unchanged.
    let fresh = chrono_like_now(-60);
    let s = format!(
        "URL={};ERPInstance=Kinetic;ApiVersion=v2;Company=EPIC06;ApiKey={};AuthScheme=AzureAD;AzureTenant={};OAuthClientId=x;InitiateOAuth=OFF;OAuthAccessToken={};OAuthExpiresIn=3600;OAuthTokenTimestamp={}",
        e.url(),
        epicor_kinetic_emulator::config::DEFAULT_API_KEY,
        epicor_kinetic_emulator::config::seed::TENANT,
        token.expose(),
        fresh
    );
    let c = Connection::open(Settings::parse(&s).unwrap())
        .await
        .unwrap();
    assert_eq!(parts(&c).await, 200);
    let expired = s.replace(
        &format!("OAuthTokenTimestamp={fresh}"),
        &format!("OAuthTokenTimestamp={}", fresh - 7_140_000),
    );
    let err = Connection::open(Settings::parse(&expired).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    settings.oauth.scope = None;
    let _ = settings;
}

/// `OAuthTokenTimestamp` (milliseconds since the epoch, as CData's), `delta` seconds from now.
fn chrono_like_now(delta: i64) -> i64 {
    let now = epicor_kinetic::clock::SystemClock.now();
    (epicor_kinetic::clock::unix_seconds(now) as i64 + delta) * 1000
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_during_use() {
    // Epicor tokens that live 2 s: a long-running integration keeps working across several lifetimes.
    let mut config = EmulatorConfig {
        scale: 150,
        ..EmulatorConfig::default()
    };
    config.token_lifetime_secs = 2;
    let time = ManualClock::new();
    let e = common::emulator_at(config, &time).await;
    let settings = Settings::parse(&string(&e, "token")).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(time.clone());
    let credential = Arc::new(TokenCredential::new(
        EpicorTokenSource::from_settings(
            &epicor_kinetic::Client::with_clock(&settings, clock.clone()).unwrap(),
            &settings,
        )
        .unwrap(),
        clock,
    ));
    let pipeline = Pipeline::builder(
        epicor_kinetic::Client::http_options(&settings).unwrap(),
        credential.clone(),
    )
    .build()
    .unwrap();
    let endpoint = pipeline
        .endpoints()
        .service("Erp.BO.PartSvc")
        .unwrap()
        .segment("Parts")
        .query("$top", "1");
    for _ in 0..6 {
        let answer = pipeline
            .send(Request::get(&endpoint).unwrap())
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        assert_eq!(
            answer.attempts(),
            1,
            "renewed ahead of expiry, never refused"
        );
        time.advance(Duration::from_secs(1));
    }
    assert!(
        credential.fetches() >= 3,
        "renewed across lifetimes: {} fetches",
        credential.fetches()
    );
}
