//! Every server-side authentication option and every refusal: Basic, the token service, API keys,
//! OpenID Connect / Azure AD bearer tokens, licences and sessions. No refusal reaches data.

use super::*;
use base64::Engine;
use epicor_kinetic_emulator::clock::ManualClock;
use epicor_kinetic_emulator::config::{ApiKeyConfig, ApiKeyScope, TrustedIssuer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const CUSTOMER_1: &str = "api/v1/Erp.BO.CustomerSvc/Customers('EPIC06',1)";
const V2_CUSTOMER_1: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers('EPIC06',1)";

/// A router with a manual clock.
fn with_clock(tweak: impl FnOnce(&mut EmulatorConfig)) -> (Router, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let mut config = EmulatorConfig {
        scale: 150,
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    let router = Emulator::with_clock(config, clock.clone())
        .unwrap()
        .router();
    (router, clock)
}

/// A write that must not happen: the city of customer 1 stays as it was.
async fn city(r: &Router) -> String {
    get(r, CUSTOMER_1).await.expect(StatusCode::OK).json()["City"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn try_write(r: &Router, headers: &[(&str, &str)]) -> Reply {
    send(
        r,
        Method::PATCH,
        V2_CUSTOMER_1,
        headers,
        Some(json!({"City": "Hacked"})),
    )
    .await
}

#[tokio::test]
async fn basic_auth_refusals() {
    let (r, _) = with_clock(|c| {
        c.users.push(epicor_kinetic_emulator::config::UserConfig {
            companies: Vec::new(),
            id: "gone".into(),
            password: "pw".into(),
            password_hash: None,
            name: String::new(),
            default_company: None,
            disabled: true,
            password_expires: None,
            external_ids: vec![],
            admin: false,
        });
        c.users.push(epicor_kinetic_emulator::config::UserConfig {
            companies: Vec::new(),
            id: "stale".into(),
            password: "pw".into(),
            password_hash: None,
            name: String::new(),
            default_company: Some("EPIC03".into()),
            disabled: false,
            password_expires: Some("2020-01-01T00:00:00Z".into()),
            external_ids: vec![],
            admin: false,
        });
    });
    let before = city(&r).await;
    let reply = try_write(&r, &[("authorization", &basic("manager", "wrong"))]).await;
    assert!(reply.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("Basic"));
    let j = reply.expect_error(StatusCode::UNAUTHORIZED, "Invalid user name or password");
    assert_eq!(j["ErrorType"], "UnauthorizedAccessException");
    try_write(&r, &[("authorization", &basic("nobody", "wrong"))])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "Invalid user name or password");
    try_write(&r, &[("authorization", "")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "Authentication is required");
    try_write(&r, &[("authorization", "Basic !!!")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not valid base64");
    try_write(&r, &[("authorization", "Digest x")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "scheme `Digest` is not supported");
    try_write(&r, &[("authorization", &basic("gone", "pw"))])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "User account gone is disabled");
    try_write(&r, &[("authorization", &basic("stale", "pw"))])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "password of stale has expired");
    // A disabled user with a wrong password learns nothing about the account.
    try_write(&r, &[("authorization", &basic("gone", "nope"))])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "Invalid user name or password");
    assert_eq!(city(&r).await, before, "no refusal reached data");
    // XML when JSON is not accepted.
    let x = raw(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("accept", "application/xml")],
        None,
    )
    .await;
    assert_eq!(x.status, StatusCode::UNAUTHORIZED);
    assert!(
        x.text.contains("<HttpStatus>401</HttpStatus>"),
        "{}",
        x.text
    );
    // Passwords are case-sensitive, user ids are not.
    send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("authorization", &basic("MANAGER", "Epicor123!"))],
        None,
    )
    .await
    .expect(StatusCode::OK);
    send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("authorization", &basic("manager", "epicor123!"))],
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_service_issues_and_expires_tokens() {
    let (r, clock) = with_clock(|c| c.token_lifetime_secs = 600);
    let j = epicor_token_answer(&r).await;
    assert_eq!(j["TokenType"], "Bearer");
    assert_eq!(j["ExpiresIn"], 600);
    let token = j["AccessToken"].as_str().unwrap().to_string();
    // The token is an HS256 JWT with Epicor's claims.
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "epicor");
    assert_eq!(claims["aud"], "epicor");
    assert_eq!(claims["username"], "manager");
    // exp and iat are JSON strings, as real servers write them.
    let secs = |k: &str| claims[k].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(secs("exp") - secs("iat"), 600);
    let bearer = format!("Bearer {token}");
    send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("authorization", &bearer)],
        None,
    )
    .await
    .expect(StatusCode::OK);
    // XML by default; Basic credentials work too.
    let x = raw(
        &r,
        Method::POST,
        "TokenResource.svc/",
        &[("authorization", BASIC_MANAGER)],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert!(
        x.text.contains("<AccessToken>") && x.text.contains("<TokenType>Bearer</TokenType>"),
        "{}",
        x.text
    );
    raw(
        &r,
        Method::POST,
        "TokenResource.svc/",
        &[("username", "manager"), ("password", "bad")],
        None,
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "Invalid user name or password");
    raw(&r, Method::POST, "TokenResource.svc/", &[], None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "needs credentials");
    raw(&r, Method::GET, "TokenResource.svc/", &[], None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "POST");
    // Expired: 401 saying so.
    let before = city(&r).await;
    clock.advance(Duration::from_secs(601));
    try_write(&r, &[("authorization", &bearer)])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "The Epicor token has expired");
    // A token signed with another secret is refused.
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": "epicor", "aud": "epicor", "username": "manager", "iat": clock_now(&clock), "exp": clock_now(&clock) + 600, "jti": "x"}),
        &EncodingKey::from_secret(b"guessed"),
    )
    .unwrap();
    try_write(&r, &[("authorization", &format!("Bearer {forged}"))])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not valid");
    assert_eq!(city(&r).await, before);
}

fn clock_now(c: &ManualClock) -> i64 {
    use epicor_kinetic_emulator::clock::Clock;
    c.now_secs()
}

#[tokio::test]
async fn api_keys_expiry_and_scope() {
    let (r, clock) = with_clock(|c| {
        let now = chrono::Utc::now();
        c.api_keys.push(ApiKeyConfig {
            key: "soon-expired".into(),
            name: "short".into(),
            expires: Some((now + chrono::Duration::seconds(100)).to_rfc3339()),
            scope: None,
        });
        c.api_keys.push(ApiKeyConfig {
            key: "parts-only".into(),
            name: "parts".into(),
            expires: None,
            scope: Some(ApiKeyScope {
                services: vec!["Erp.BO.PartSvc".into()],
                methods: vec!["Erp.BO.CustomerSvc/GetByID".into()],
                baqs: vec!["zPartSales".into()],
                functions: vec!["CustomerTools/GetCreditStatus".into()],
            }),
        });
    });
    let before = city(&r).await;
    try_write(&r, &[("x-api-key", "")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "An API key is required");
    try_write(&r, &[("x-api-key", "nope")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API key is not valid");
    try_write(&r, &[("x-api-key", "parts-only")])
        .await
        .expect_error(
            StatusCode::FORBIDDEN,
            "not allowed to call service Erp.BO.CustomerSvc",
        );
    send(
        &r,
        Method::GET,
        "api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts?$top=1",
        &[("x-api-key", "parts-only")],
        None,
    )
    .await
    .expect(StatusCode::OK);
    send(
        &r,
        Method::POST,
        "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/GetByID",
        &[("x-api-key", "parts-only")],
        Some(json!({"custNum": 1})),
    )
    .await
    .expect(StatusCode::OK);
    send(
        &r,
        Method::POST,
        "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/UpdateExt",
        &[("x-api-key", "parts-only")],
        Some(json!({"ds": {}})),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "method Erp.BO.CustomerSvc/UpdateExt");
    send(
        &r,
        Method::GET,
        "api/v2/odata/EPIC06/BaqSvc/zPartSales/Data",
        &[("x-api-key", "parts-only")],
        None,
    )
    .await
    .expect(StatusCode::OK);
    send(
        &r,
        Method::GET,
        "api/v2/odata/EPIC06/BaqSvc/zCustomerList/Data",
        &[("x-api-key", "parts-only")],
        None,
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "BAQ zCustomerList");
    send(
        &r,
        Method::POST,
        "api/v2/efx/EPIC06/CustomerTools/SetCreditHold",
        &[("x-api-key", "parts-only")],
        Some(json!({"CustID": "X", "Hold": true})),
    )
    .await
    .expect_error(
        StatusCode::FORBIDDEN,
        "function CustomerTools/SetCreditHold",
    );
    send(
        &r,
        Method::POST,
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        &[("x-api-key", "parts-only")],
        Some(json!({"CustID": "X"})),
    )
    .await
    .expect(StatusCode::OK);
    // The key may come as a query parameter; v1 needs none.
    send(
        &r,
        Method::GET,
        &format!("{V2_CUSTOMER_1}?api-key={API_KEY}"),
        &[("x-api-key", "")],
        None,
    )
    .await
    .expect(StatusCode::OK);
    send(&r, Method::GET, CUSTOMER_1, &[("x-api-key", "")], None)
        .await
        .expect(StatusCode::OK);
    // Expiry.
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[("x-api-key", "soon-expired")],
        None,
    )
    .await
    .expect(StatusCode::OK);
    clock.advance(Duration::from_secs(101));
    try_write(&r, &[("x-api-key", "soon-expired")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "API key `short` has expired");
    assert_eq!(city(&r).await, before);
    // A server that does not require keys.
    let (open, _) = with_clock(|c| c.require_api_key = false);
    send(
        &open,
        Method::GET,
        V2_CUSTOMER_1,
        &[("x-api-key", "")],
        None,
    )
    .await
    .expect(StatusCode::OK);
}

/// An RSA signing key with its JWK.
struct SigningKey {
    kid: String,
    der: Vec<u8>,
    public_pem: String,
    jwk: serde_json::Value,
}

fn rsa_key(kid: &str) -> SigningKey {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    SigningKey {
        kid: kid.into(),
        der: private.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        public_pem: private
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap(),
        jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": b64(private.n().to_bytes_be()), "e": b64(private.e().to_bytes_be())}),
    }
}

fn keys() -> &'static (SigningKey, SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| (rsa_key("trusted-1"), rsa_key("rogue"), rsa_key("rotated-2")))
}

fn sign(key: &SigningKey, alg: Algorithm, claims: &serde_json::Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(&key.der)).unwrap()
}

/// A JWKS endpoint on a real socket, counting fetches; `published` can change (key rotation).
struct Jwks {
    url: String,
    fetches: Arc<AtomicUsize>,
    published: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn jwks_server(initial: Vec<serde_json::Value>) -> Jwks {
    let fetches = Arc::new(AtomicUsize::new(0));
    let published = Arc::new(Mutex::new(initial));
    let (f, p) = (fetches.clone(), published.clone());
    let app = Router::new().route(
        "/keys",
        axum::routing::get(move || {
            let (f, p) = (f.clone(), p.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"keys": *p.lock().unwrap()}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Jwks {
        url: format!("http://{addr}/keys"),
        fetches,
        published,
    }
}

const ISS: &str = "https://login.example/11111111-2222-3333-4444-555555555555/v2.0";
const AUD: &str = "api://epicor-server";

fn user_claims(now: i64) -> serde_json::Value {
    json!({"iss": ISS, "aud": AUD, "iat": now, "nbf": now, "exp": now + 3600, "tid": "11111111-2222-3333-4444-555555555555",
           "oid": epicor_kinetic_emulator::config::seed::ALICE_OID, "sub": "alice-sub", "azp": "desktop-client", "ver": "2.0",
           "preferred_username": "alice@kinetic.example", "name": "Alice", "scp": "user_impersonation"})
}

#[tokio::test]
async fn bearer_tokens_from_trusted_issuers() {
    let (trusted, rogue, rotated) = keys();
    let jwks = jwks_server(vec![trusted.jwk.clone()]).await;
    let (r, clock) = with_clock(|c| {
        c.trusted_issuers.push(TrustedIssuer {
            name: "test-tenant".into(),
            issuer: Some(ISS.into()),
            audiences: vec![AUD.into()],
            jwks_uri: Some(jwks.url.clone()),
            required_scopes: vec!["user_impersonation".into()],
            required_roles: vec!["Epicor.Integration".into()],
            app_user: Some("integration".into()),
            ..TrustedIssuer::default()
        })
    });
    let now = clock_now(&clock);
    let bearer = |t: String| format!("Bearer {t}");
    // A good user token opens the API as the mapped Epicor user.
    let good = sign(trusted, Algorithm::RS256, &user_claims(now));
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[("authorization", &bearer(good.clone()))],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[("authorization", &bearer(good))],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1, "keys are cached");
    // PS256 with the same key works too.
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[(
            "authorization",
            &bearer(sign(trusted, Algorithm::PS256, &user_claims(now))),
        )],
        None,
    )
    .await
    .expect(StatusCode::OK);

    let before = city(&r).await;
    let refuse = |token: String, status: StatusCode, needle: &'static str| {
        let r = r.clone();
        async move {
            try_write(&r, &[("authorization", &format!("Bearer {token}"))])
                .await
                .expect_error(status, needle)
        }
    };
    // Signed by a key the issuer does not publish: fetched again once, then refused.
    refuse(
        sign(rogue, Algorithm::RS256, &user_claims(now)),
        StatusCode::UNAUTHORIZED,
        "which test-tenant does not publish",
    )
    .await;
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        2,
        "an unknown kid fetches the keys again"
    );
    // A second unknown-kid token right after does not hammer the issuer.
    refuse(
        sign(rogue, Algorithm::RS256, &user_claims(now)),
        StatusCode::UNAUTHORIZED,
        "does not publish",
    )
    .await;
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
    // A rogue key that claims a published kid fails the signature.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("trusted-1".into());
    let forged = jsonwebtoken::encode(
        &h,
        &user_claims(now),
        &EncodingKey::from_rsa_der(&rogue.der),
    )
    .unwrap();
    refuse(
        forged,
        StatusCode::UNAUTHORIZED,
        "signature does not verify",
    )
    .await;
    // alg none.
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&user_claims(now))
    );
    refuse(none, StatusCode::UNAUTHORIZED, "alg none").await;
    // HS256 signed with the issuer's public key as the secret (the classic key-confusion attack).
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("trusted-1".into());
    let confused = jsonwebtoken::encode(
        &h,
        &user_claims(now),
        &EncodingKey::from_secret(trusted.public_pem.as_bytes()),
    )
    .unwrap();
    refuse(
        confused,
        StatusCode::UNAUTHORIZED,
        "HMAC-signed tokens (HS256) are not accepted",
    )
    .await;
    // Wrong audience, wrong (untrusted) issuer.
    let mut c = user_claims(now);
    c["aud"] = json!("api://some-other-app");
    refuse(
        sign(trusted, Algorithm::RS256, &c),
        StatusCode::UNAUTHORIZED,
        "audience is not this server",
    )
    .await;
    let mut c = user_claims(now);
    c["iss"] = json!("https://evil.example/v2.0");
    refuse(
        sign(trusted, Algorithm::RS256, &c),
        StatusCode::UNAUTHORIZED,
        "issuer https://evil.example/v2.0 are not trusted",
    )
    .await;
    // Expired, and not yet valid (beyond the skew).
    let mut c = user_claims(now);
    c["exp"] = json!(now - 120);
    refuse(
        sign(trusted, Algorithm::RS256, &c),
        StatusCode::UNAUTHORIZED,
        "has expired",
    )
    .await;
    let mut c = user_claims(now);
    c["nbf"] = json!(now + 600);
    refuse(
        sign(trusted, Algorithm::RS256, &c),
        StatusCode::UNAUTHORIZED,
        "not valid yet",
    )
    .await;
    // Inside the skew is fine.
    let mut c = user_claims(now);
    c["exp"] = json!(now - 30);
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[(
            "authorization",
            &bearer(sign(trusted, Algorithm::RS256, &c)),
        )],
        None,
    )
    .await
    .expect(StatusCode::OK);
    // Unmapped user: the message names the claim and value.
    let mut c = user_claims(now);
    c["preferred_username"] = json!("mallory@kinetic.example");
    c["oid"] = json!("0000-mallory");
    refuse(
        sign(trusted, Algorithm::RS256, &c),
        StatusCode::UNAUTHORIZED,
        "No Epicor user is mapped to oid '0000-mallory'",
    )
    .await;
    // Another account that took Alice's mutable name is not Alice: users map by the immutable oid.
    let mut c = user_claims(now);
    c["oid"] = json!("0000-mallory");
    refuse(
        sign(trusted, Algorithm::RS256, &c),
        StatusCode::UNAUTHORIZED,
        "No Epicor user is mapped to oid '0000-mallory'",
    )
    .await;
    // Missing scope; app token without the role.
    let mut c = user_claims(now);
    c["scp"] = json!("User.Read");
    refuse(
        sign(trusted, Algorithm::RS256, &c),
        StatusCode::FORBIDDEN,
        "lacks the scope user_impersonation",
    )
    .await;
    let app = |roles: serde_json::Value| json!({"iss": ISS, "aud": AUD, "iat": now, "nbf": now, "exp": now + 3600, "oid": "daemon-sp", "sub": "daemon-sp", "azp": "daemon", "ver": "2.0", "roles": roles});
    refuse(
        sign(trusted, Algorithm::RS256, &app(json!(["Other.Role"]))),
        StatusCode::FORBIDDEN,
        "lacks the role Epicor.Integration",
    )
    .await;
    assert_eq!(city(&r).await, before, "no refusal reached data");
    // An app token with the role acts as the integration user.
    send(
        &r,
        Method::PATCH,
        V2_CUSTOMER_1,
        &[(
            "authorization",
            &bearer(sign(
                trusted,
                Algorithm::RS256,
                &app(json!(["Epicor.Integration"])),
            )),
        )],
        Some(json!({"City": "Daemonville"})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // Key rotation: the issuer publishes a new key; its first token fetches the keys again.
    // Every fetch so far was awaited inside a request (the emulator fetches keys in line, never
    // in the background), so the count is settled.
    jwks.published.lock().unwrap().push(rotated.jwk.clone());
    let fetched = jwks.fetches.load(Ordering::SeqCst);
    // The refetch guard (10 s) still holds from the rogue attempts: wait it out on the real clock is
    // too slow for a test, so use a fresh emulator that has cached only the old key.
    let (r2, _) = with_clock(|c| {
        c.trusted_issuers.push(TrustedIssuer {
            name: "test-tenant".into(),
            issuer: Some(ISS.into()),
            audiences: vec![AUD.into()],
            jwks_uri: Some(jwks.url.clone()),
            ..TrustedIssuer::default()
        })
    });
    send(
        &r2,
        Method::GET,
        V2_CUSTOMER_1,
        &[(
            "authorization",
            &bearer(sign(trusted, Algorithm::RS256, &user_claims(now))),
        )],
        None,
    )
    .await
    .expect(StatusCode::OK);
    send(
        &r2,
        Method::GET,
        V2_CUSTOMER_1,
        &[(
            "authorization",
            &bearer(sign(rotated, Algorithm::RS256, &user_claims(now))),
        )],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        fetched + 1,
        "one fetch: the rotated key was already published"
    );
    // The API key is still required beside a bearer token on v2.
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[
            (
                "authorization",
                &bearer(sign(trusted, Algorithm::RS256, &user_claims(now))),
            ),
            ("x-api-key", ""),
        ],
        None,
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "API key is required");
}

#[tokio::test]
async fn sessions_and_licence_seats() {
    let (r, clock) = with_clock(|c| {
        c.licenses.default = 1;
        c.licenses.web_service = 1;
        c.licenses.web_service_shared = 1;
        c.licenses.shared_delay_ms = 300;
        c.licenses.session_idle_secs = 3600;
    });
    const DEFAULT: &str = r#"{"ClaimedLicense":"00000003-B615-4300-957B-34956697F040"}"#;
    const WS: &str = r#"{"ClaimedLicense":"00000003-9439-4B30-A6F4-6D2FD4B9FD0F"}"#;
    // Login takes the one Default seat for the session.
    let login = post(&r, "api/v1/Ice.Lib.SessionModSvc/Login", json!({}))
        .await
        .expect(StatusCode::OK)
        .json();
    let sid = login["returnObj"].as_str().unwrap().to_string();
    assert_eq!(login["parameters"]["licenseType"], "Default");
    let with_session = format!(
        r#"{{"ClaimedLicense":"00000003-B615-4300-957B-34956697F040","SessionID":"{sid}"}}"#
    );
    // Calls in the session reuse its seat; a call without a session finds no seat.
    let before = city_in(&r, &with_session).await;
    let reply = send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("License", &with_session)],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(reply.headers["x-kinetic-license"], "Default");
    let j = try_write(&r, &[("License", DEFAULT)]).await.expect_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "All Default licences are in use",
    );
    assert!(j["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("log out idle sessions"));
    post(&r, "api/v1/Ice.Lib.SessionModSvc/Login", json!({}))
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "licences are in use");
    assert_eq!(
        city_in(&r, &with_session).await,
        before,
        "no refusal reached data"
    );
    // The admin route shows the seat and the session.
    let report = get(&r, "admin/sessions")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(report["sessions"][0]["id"], sid.as_str());
    assert_eq!(report["sessions"][0]["user"], "manager");
    assert_eq!(report["seats"][0]["InUse"], 1);
    raw(&r, Method::GET, "admin/sessions", &[], None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    // WebService: one seat, then the shared fallback (slowed down), then nothing.
    let ws1 = post_with(&r, "api/v1/Ice.Lib.SessionModSvc/Login", WS)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(ws1["parameters"]["licenseType"], "WebService");
    let ws2 = post_with(&r, "api/v1/Ice.Lib.SessionModSvc/Login", WS)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(ws2["parameters"]["licenseType"], "WebServiceShared");
    let shared = format!(
        r#"{{"SessionID":"{}"}}"#,
        ws2["returnObj"].as_str().unwrap()
    );
    let t = std::time::Instant::now();
    let reply = send(&r, Method::GET, CUSTOMER_1, &[("License", &shared)], None)
        .await
        .expect(StatusCode::OK);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "WebServiceShared calls are slowed down"
    );
    assert_eq!(reply.headers["x-kinetic-license"], "WebServiceShared");
    post_with(&r, "api/v1/Ice.Lib.SessionModSvc/Login", WS)
        .await
        .expect_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "All WebService and WebServiceShared licences are in use",
        );
    // Logout frees the seat; the session is then gone (410).
    send(
        &r,
        Method::POST,
        "api/v1/Ice.Lib.SessionModSvc/Logout",
        &[("License", &with_session)],
        Some(json!({})),
    )
    .await
    .expect(StatusCode::OK);
    send(&r, Method::GET, CUSTOMER_1, &[("License", DEFAULT)], None)
        .await
        .expect(StatusCode::OK);
    let j = try_write(&r, &[("License", &with_session)])
        .await
        .expect_error(StatusCode::GONE, "invalid or has been deleted");
    assert!(j["ErrorMessage"].as_str().unwrap().contains(&sid));
    // An administrator deletes a session: 410 for its next call.
    let ws1_header = format!(
        r#"{{"SessionID":"{}"}}"#,
        ws1["returnObj"].as_str().unwrap()
    );
    send(
        &r,
        Method::DELETE,
        &format!("admin/sessions/{}", ws1["returnObj"].as_str().unwrap()),
        &[],
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    try_write(&r, &[("License", &ws1_header)])
        .await
        .expect_error(StatusCode::GONE, "invalid or has been deleted");
    // Idle sessions expire.
    clock.advance(Duration::from_secs(3601));
    try_write(&r, &[("License", &shared)])
        .await
        .expect_error(StatusCode::GONE, "invalid or has been deleted");
    // Another user cannot use someone's session.
    let login = post(&r, "api/v1/Ice.Lib.SessionModSvc/Login", json!({}))
        .await
        .expect(StatusCode::OK)
        .json();
    let theirs = format!(
        r#"{{"SessionID":"{}"}}"#,
        login["returnObj"].as_str().unwrap()
    );
    send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[
            ("License", &theirs),
            ("authorization", &basic("integration", "Integration123!")),
        ],
        None,
    )
    .await
    .expect_error(StatusCode::GONE, "invalid or has been deleted");
    // Bad headers.
    send(&r, Method::GET, CUSTOMER_1, &[("License", "{nope")], None)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "License header is not valid JSON");
    send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("License", r#"{"ClaimedLicense":"12345"}"#)],
        None,
    )
    .await
    .expect_error(
        StatusCode::BAD_REQUEST,
        "ClaimedLicense 12345 is not a licence type",
    );
    send(
        &r,
        Method::POST,
        "api/v1/Ice.Lib.SessionModSvc/Logout",
        &[],
        Some(json!({})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "SessionID");
    // The per-call seat is released after each call: many calls in a row on the one seat.
    send(
        &r,
        Method::POST,
        "api/v1/Ice.Lib.SessionModSvc/Logout",
        &[("License", &theirs)],
        Some(json!({})),
    )
    .await
    .expect(StatusCode::OK);
    for _ in 0..5 {
        send(&r, Method::GET, CUSTOMER_1, &[("License", "")], None)
            .await
            .expect(StatusCode::OK);
    }
    let report = get(&r, "admin/sessions").await.json();
    assert_eq!(report["seats"][0]["InUse"], 0, "no seat is left claimed");
    assert!(report["sessions"].as_array().unwrap().is_empty());
}

async fn post_with(r: &Router, uri: &str, license: &str) -> Reply {
    send(
        r,
        Method::POST,
        uri,
        &[("License", license)],
        Some(json!({})),
    )
    .await
}

async fn city_in(r: &Router, license: &str) -> String {
    send(r, Method::GET, CUSTOMER_1, &[("License", license)], None)
        .await
        .expect(StatusCode::OK)
        .json()["City"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn call_settings_and_context_header() {
    let r = shared();
    let rows = send(&r, Method::GET, "api/v1/Erp.BO.CustomerSvc/Customers?$top=2", &[("CallSettings", r#"{"Company":"EPIC03","Plant":"MfgSys","Language":"en-US","FormatCulture":"en-US","Unknown":1}"#)], None)
        .await
        .expect(StatusCode::OK)
        .rows();
    assert!(rows.iter().all(|c| c["Company"] == "EPIC03"));
    // The path's company wins over CallSettings on v2.
    let rows = send(
        &r,
        Method::GET,
        "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers?$top=2",
        &[("CallSettings", r#"{"Company":"EPIC03"}"#)],
        None,
    )
    .await
    .rows();
    assert!(rows.iter().all(|c| c["Company"] == "EPIC06"));
    send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("CallSettings", r#"{"Company":5}"#)],
        None,
    )
    .await
    .expect_error(
        StatusCode::BAD_REQUEST,
        "CallSettings.Company must be a string",
    );
    send(&r, Method::GET, CUSTOMER_1, &[("CallSettings", "[]")], None)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "must be a JSON object");
    let ch = r#"{"Context":{"BPMData":[{"Character01":"from the client"}]}}"#;
    let reply = send(&r, Method::GET, CUSTOMER_1, &[("ContextHeader", ch)], None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply.headers["contextheader"], ch);
    send(
        &r,
        Method::GET,
        CUSTOMER_1,
        &[("ContextHeader", "{}")],
        None,
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "ContextHeader");
}

/// A JWKS endpoint on a real socket whose answers the test scripts: each fetch takes the next
/// (held, status) in turn, or the last one for ever. A held fetch answers only once the test adds a
/// permit to the semaphore returned (no wall-clock delay to race against).
async fn scripted_jwks(
    keys: Vec<serde_json::Value>,
    script: Vec<(bool, StatusCode)>,
) -> (String, Arc<AtomicUsize>, Arc<tokio::sync::Semaphore>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let (f, gate) = (fetches.clone(), release.clone());
    let script = Arc::new(script);
    let keys = Arc::new(keys);
    let app = Router::new().route(
        "/keys",
        axum::routing::get(move || {
            let (f, gate, script, keys) = (f.clone(), gate.clone(), script.clone(), keys.clone());
            async move {
                let n = f.fetch_add(1, Ordering::SeqCst);
                let (held, status) = script[n.min(script.len() - 1)];
                if held {
                    gate.acquire().await.expect("the gate stays open").forget();
                }
                (status, axum::Json(json!({"keys": *keys})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/keys"), fetches, release)
}

fn trusting(jwks: &str) -> impl FnOnce(&mut EmulatorConfig) + '_ {
    move |c: &mut EmulatorConfig| {
        c.trusted_issuers.push(TrustedIssuer {
            name: "test-tenant".into(),
            issuer: Some(ISS.into()),
            audiences: vec![AUD.into()],
            jwks_uri: Some(jwks.to_string()),
            ..TrustedIssuer::default()
        })
    }
}

/// A failing key endpoint is not hammered: a failed fetch is remembered for a few seconds, and
/// every token in that time is answered 503 from memory.
#[tokio::test]
async fn a_failing_jwks_endpoint_is_asked_once_per_failure_period() {
    let (trusted, _, _) = keys();
    let (url, fetches, _) = scripted_jwks(
        vec![trusted.jwk.clone()],
        vec![(false, StatusCode::INTERNAL_SERVER_ERROR)],
    )
    .await;
    let (r, clock) = with_clock(trusting(&url));
    let token = sign(trusted, Algorithm::RS256, &user_claims(clock_now(&clock)));
    for _ in 0..10 {
        send(
            &r,
            Method::GET,
            V2_CUSTOMER_1,
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await
        .expect_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot fetch the signing keys",
        );
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "one fetch for ten tokens"
    );
}

/// The key cache is not locked during a fetch: while an unknown kid waits on a slow key endpoint,
/// a token signed with a cached key is answered.
#[tokio::test]
async fn a_slow_jwks_fetch_does_not_hold_up_tokens_with_known_keys() {
    let (trusted, rogue, _) = keys();
    let (url, fetches, release) = scripted_jwks(
        vec![trusted.jwk.clone()],
        vec![(false, StatusCode::OK), (true, StatusCode::OK)],
    )
    .await;
    let (r, clock) = with_clock(trusting(&url));
    let now = clock_now(&clock);
    let good = format!(
        "Bearer {}",
        sign(trusted, Algorithm::RS256, &user_claims(now))
    );
    let unknown = format!(
        "Bearer {}",
        sign(rogue, Algorithm::RS256, &user_claims(now))
    );
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[("authorization", &good)],
        None,
    )
    .await
    .expect(StatusCode::OK);
    // The unknown kid starts the slow refetch...
    let slow = {
        let r = r.clone();
        let unknown = unknown.clone();
        tokio::spawn(async move {
            send(
                &r,
                Method::GET,
                V2_CUSTOMER_1,
                &[("authorization", &unknown)],
                None,
            )
            .await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fetches.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refetch did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...and meanwhile the known key answers at once (the refetch is held until released).
    send(
        &r,
        Method::GET,
        V2_CUSTOMER_1,
        &[("authorization", &good)],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert!(
        !slow.is_finished(),
        "the known key was answered during the fetch"
    );
    release.add_permits(1);
    slow.await
        .unwrap()
        .expect_error(StatusCode::UNAUTHORIZED, "does not publish");
}
