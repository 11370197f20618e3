//! The Entra-compatible identity provider, in process with an injected clock: every grant, the browser
//! pages, the error codes, key rotation, and tokens opening the REST API.

use super::*;
use base64::Engine;
use epicor_kinetic_emulator::clock::{Clock, ManualClock};
use epicor_kinetic_emulator::config::seed::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const T: &str = TENANT;
pub(crate) const V2_PARTS: &str = "api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts?$top=1";

pub(crate) fn server_scope() -> String {
    format!("api://{EPICOR_SERVER}/user_impersonation")
}

pub(crate) struct Idp {
    pub r: Router,
    pub clock: Arc<ManualClock>,
    pub idp: Arc<epicor_kinetic_emulator::idp::Idp>,
}

pub(crate) fn idp_with(tweak: impl FnOnce(&mut EmulatorConfig)) -> Idp {
    let clock = ManualClock::new();
    let mut config = EmulatorConfig {
        scale: 120,
        ..EmulatorConfig::default()
    };
    config.idp.device_interval_secs = 5;
    // The provider's public address, as a listening emulator would know it (requests say
    // Host: login.test).
    config.idp.issuer_base = Some("http://login.test".into());
    tweak(&mut config);
    let emu = Emulator::with_clock(config, clock.clone()).unwrap();
    Idp {
        r: emu.router(),
        clock,
        idp: emu.idp().unwrap(),
    }
}

/// A request to an absolute path (the IdP lives beside the instance, not under it).
pub(crate) async fn call(
    r: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header("host", "login.test");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match form {
        Some(pairs) => {
            req = req.header("content-type", "application/x-www-form-urlencoded");
            let enc: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", enc_form(k), enc_form(v)))
                .collect();
            Body::from(enc.join("&"))
        }
        None => Body::empty(),
    };
    exchange(r, req.body(body).unwrap()).await
}

pub(crate) fn enc_form(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(crate) async fn token(r: &Router, form: &[(&str, &str)]) -> Reply {
    call(
        r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/token"),
        &[],
        Some(form),
    )
    .await
}

/// Asserts an Entra error: status, `error`, the AADSTS code first in the description, and the fields.
#[track_caller]
pub(crate) fn aad_error(reply: &Reply, status: StatusCode, error: &str, code: u32) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    let j = reply.json();
    assert_eq!(j["error"], error, "{j}");
    assert!(
        j["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{code}:")),
        "{j}"
    );
    assert_eq!(j["error_codes"][0], code, "{j}");
    for f in ["timestamp", "trace_id", "correlation_id"] {
        assert!(j[f].is_string(), "missing {f}: {j}");
    }
    j
}

/// The token's claims (not verified: the REST API verifies).
pub(crate) fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

pub(crate) async fn rest_with(r: &Router, access_token: &str) -> Reply {
    send(
        r,
        Method::GET,
        V2_PARTS,
        &[("authorization", &format!("Bearer {access_token}"))],
        None,
    )
    .await
}

/// The desktop app's refresh-token grant, asking for the Epicor server's scope.
pub(crate) async fn refresh_desktop(r: &Router, rt: String) -> Reply {
    token(
        r,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DESKTOP),
            ("refresh_token", &rt),
            ("scope", &server_scope()),
        ],
    )
    .await
}

pub(crate) fn daemon_cc(scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", DAEMON.into()),
        ("client_secret", DAEMON_SECRET.into()),
        ("scope", scope.into()),
    ]
}

pub(crate) fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

#[tokio::test]
async fn discovery_and_jwks() {
    let t = idp_with(|_| {});
    let d = call(
        &t.r,
        Method::GET,
        &format!("/{T}/v2.0/.well-known/openid-configuration"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(d["issuer"], format!("http://login.test/{T}/v2.0"));
    assert_eq!(
        d["token_endpoint"],
        format!("http://login.test/{T}/oauth2/v2.0/token")
    );
    for k in [
        "authorization_endpoint",
        "device_authorization_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        assert!(
            d[k].as_str()
                .unwrap()
                .starts_with(&format!("http://login.test/{T}/")),
            "{k}"
        );
    }
    let keys = call(
        &t.r,
        Method::GET,
        &format!("/{T}/discovery/v2.0/keys"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let k = &keys["keys"][0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    for f in ["kid", "x5t", "n", "e"] {
        assert!(k[f].is_string(), "{f}");
    }
    assert!(k["x5c"][0].is_string());
    let e = call(
        &t.r,
        Method::GET,
        "/not-a-tenant/v2.0/.well-known/openid-configuration",
        &[],
        None,
    )
    .await;
    aad_error(&e, StatusCode::BAD_REQUEST, "invalid_request", 90002);
    // `organizations` and `common` work as tenant aliases.
    call(
        &t.r,
        Method::GET,
        "/organizations/v2.0/.well-known/openid-configuration",
        &[],
        None,
    )
    .await
    .expect(StatusCode::OK);
}

#[tokio::test]
async fn client_credentials_with_a_secret() {
    let t = idp_with(|_| {});
    let default_scope = format!("api://{EPICOR_SERVER}/.default");
    let j = token(&t.r, &pairs(&daemon_cc(&default_scope)))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 3600);
    assert_eq!(j["ext_expires_in"], 3600);
    assert!(
        j.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    let c = claims(j["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], EPICOR_SERVER);
    assert_eq!(c["roles"], json!(["Epicor.Integration"]));
    assert_eq!(c["tid"], T);
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["azp"], DAEMON);
    assert_eq!(c["idtyp"], "app");
    assert!(c.get("scp").is_none());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );
    rest_with(&t.r, j["access_token"].as_str().unwrap())
        .await
        .expect(StatusCode::OK);
    // Secret in HTTP Basic instead of the body.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{DAEMON}:{DAEMON_SECRET}"))
    );
    let r = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/token"),
        &[("authorization", &basic)],
        Some(&[
            ("grant_type", "client_credentials"),
            ("scope", &default_scope),
        ]),
    )
    .await;
    r.expect(StatusCode::OK);
    // Refusals.
    let mut bad = daemon_cc(&default_scope);
    bad[2].1 = "wrong".into();
    aad_error(
        &token(&t.r, &pairs(&bad)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000215,
    );
    let mut unknown = daemon_cc(&default_scope);
    unknown[1].1 = "00000000-0000-0000-0000-000000000000".into();
    aad_error(
        &token(&t.r, &pairs(&unknown)).await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    );
    aad_error(
        &token(&t.r, &pairs(&daemon_cc(&server_scope()))).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        1002012,
    );
    aad_error(
        &token(
            &t.r,
            &pairs(&daemon_cc(&format!("api://{EPICOR_SERVER}/nope"))),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
    );
    aad_error(
        &token(
            &t.r,
            &[("client_id", DAEMON), ("client_secret", DAEMON_SECRET)],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
    );
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DAEMON),
                ("scope", &default_scope),
            ],
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000218,
    );
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "password"),
                ("client_id", DAEMON),
                ("client_secret", DAEMON_SECRET),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
    );
    // Lifetime is configurable; expiry is seen by the REST API.
    let short = idp_with(|c| c.idp.token_lifetime_secs = 120);
    let j = token(&short.r, &pairs(&daemon_cc(&default_scope)))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(j["expires_in"], 120);
    let at = j["access_token"].as_str().unwrap().to_string();
    rest_with(&short.r, &at).await.expect(StatusCode::OK);
    short.clock.advance(Duration::from_secs(120 + 61));
    rest_with(&short.r, &at)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "has expired");
}

/// A client assertion for the web app's generated certificate.
pub(crate) fn assertion(
    t: &Idp,
    alg: Algorithm,
    thumb: &str,
    aud: &str,
    exp_in: i64,
    jti: &str,
) -> String {
    let creds = t.idp.generated_credentials();
    let (_, cert_path, key_path, _, _) = creds.iter().find(|c| c.0 == "web_app").unwrap();
    let der = pem_der(&std::fs::read_to_string(cert_path).unwrap());
    let mut h = Header::new(alg);
    match thumb {
        "x5t" => {
            h.x5t = Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der)),
            )
        }
        "x5t#S256" => {
            h.x5t_s256 = Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der)),
            )
        }
        "wrong" => h.x5t = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 20])),
        _ => {}
    }
    let now = t.clock.now_secs();
    let c = json!({"aud": aud, "iss": WEB_APP, "sub": WEB_APP, "jti": jti, "nbf": now, "iat": now, "exp": now + exp_in});
    jsonwebtoken::encode(
        &h,
        &c,
        &EncodingKey::from_rsa_pem(&std::fs::read(key_path).unwrap()).unwrap(),
    )
    .unwrap()
}

pub(crate) fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[tokio::test]
async fn client_credentials_with_a_certificate_assertion() {
    let t = idp_with(|c| {
        let web = c.idp.apps.iter_mut().find(|a| a.name == "web_app").unwrap();
        web.granted_roles
            .push(format!("{EPICOR_SERVER}/Epicor.Integration"));
    });
    let aud = format!("http://login.test/{T}/oauth2/v2.0/token");
    let scope = format!("api://{EPICOR_SERVER}/.default");
    let cc = |a: String| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", WEB_APP.to_string()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", a),
            ("scope", scope.clone()),
        ]
    };
    // RS256 with x5t (SHA-1), and PS256 with x5t#S256.
    for (alg, thumb, jti) in [
        (Algorithm::RS256, "x5t", "j1"),
        (Algorithm::PS256, "x5t#S256", "j2"),
    ] {
        let j = token(&t.r, &pairs(&cc(assertion(&t, alg, thumb, &aud, 300, jti))))
            .await
            .expect(StatusCode::OK)
            .json();
        let c = claims(j["access_token"].as_str().unwrap());
        assert_eq!(c["azpacr"], "2", "certificate authentication");
        rest_with(&t.r, j["access_token"].as_str().unwrap())
            .await
            .expect(StatusCode::OK);
    }
    // The same assertion again is accepted (as Entra; MSAL caches assertions), but a different one
    // reusing its jti is a replay.
    let reused = assertion(&t, Algorithm::RS256, "x5t", &aud, 300, "j8");
    token(&t.r, &pairs(&cc(reused.clone())))
        .await
        .expect(StatusCode::OK);
    token(&t.r, &pairs(&cc(reused.clone())))
        .await
        .expect(StatusCode::OK);
    aad_error(
        &token(
            &t.r,
            &pairs(&cc(assertion(
                &t,
                Algorithm::PS256,
                "x5t#S256",
                &aud,
                299,
                "j8",
            ))),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
    // With single-use assertions, the second presentation is refused too.
    let strict = idp_with(|c| {
        c.idp.single_use_assertions = true;
        let web = c.idp.apps.iter_mut().find(|a| a.name == "web_app").unwrap();
        web.granted_roles
            .push(format!("{EPICOR_SERVER}/Epicor.Integration"));
    });
    let once = assertion(&strict, Algorithm::RS256, "x5t", &aud, 300, "s1");
    token(&strict.r, &pairs(&cc(once.clone())))
        .await
        .expect(StatusCode::OK);
    aad_error(
        &token(&strict.r, &pairs(&cc(once))).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
    // Thumbprint of the wrong kind (PS256 named by SHA-1) or of no registered certificate.
    aad_error(
        &token(
            &t.r,
            &pairs(&cc(assertion(&t, Algorithm::PS256, "x5t", &aud, 300, "j3"))),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
    aad_error(
        &token(
            &t.r,
            &pairs(&cc(assertion(
                &t,
                Algorithm::RS256,
                "wrong",
                &aud,
                300,
                "j4",
            ))),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
    // Audience not the token endpoint; expiry more than ten minutes ahead.
    aad_error(
        &token(
            &t.r,
            &pairs(&cc(assertion(
                &t,
                Algorithm::RS256,
                "x5t",
                "https://elsewhere/token",
                300,
                "j5",
            ))),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
    aad_error(
        &token(
            &t.r,
            &pairs(&cc(assertion(
                &t,
                Algorithm::RS256,
                "x5t",
                &aud,
                3600,
                "j6",
            ))),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700024,
    );
    // A bad signature: the assertion altered after signing.
    let good = assertion(&t, Algorithm::RS256, "x5t", &aud, 300, "j7");
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut c = claims(&good);
    c["sub"] = json!(DAEMON);
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
    aad_error(
        &token(&t.r, &pairs(&cc(parts.join(".")))).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
}

/// A cookie-keeping browser for the HTML pages: it sends its cookie, and the CSRF token of the last
/// page it was shown with every form it posts (as submitting that page's form would).
pub(crate) struct Browser {
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            cookie: None,
            csrf: None,
        }
    }
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

impl Browser {
    pub async fn go(
        &mut self,
        r: &Router,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Reply {
        let cookie = self.cookie.clone();
        let headers: Vec<(&str, &str)> = cookie
            .as_deref()
            .map(|c| vec![("cookie", c)])
            .unwrap_or_default();
        let csrf = self.csrf.clone().unwrap_or_default();
        let form: Option<Vec<(&str, &str)>> = form.map(|f| {
            let mut f = f.to_vec();
            if !f.iter().any(|(k, _)| *k == "csrf") {
                f.push(("csrf", csrf.as_str()));
            }
            f
        });
        let reply = call(r, method, path, &headers, form.as_deref()).await;
        if let Some(sc) = reply.headers.get("set-cookie") {
            self.cookie = Some(sc.to_str().unwrap().split(';').next().unwrap().to_string());
        }
        if reply.text.contains("name=\"csrf\"") {
            self.csrf = Some(hidden(&reply.text, "csrf"));
        }
        reply
    }
}

pub(crate) fn authorize_path(
    client: &str,
    redirect: &str,
    scope: &str,
    challenge: Option<&str>,
    extra: &str,
) -> String {
    let mut q = format!(
        "client_id={client}&response_type=code&redirect_uri={}&scope={}&state=st8&nonce=n0nce{extra}",
        enc_form(redirect),
        enc_form(scope)
    );
    if let Some(c) = challenge {
        q.push_str(&format!("&code_challenge={c}&code_challenge_method=S256"));
    }
    format!("/{T}/oauth2/v2.0/authorize?{q}")
}

pub(crate) fn location_param(reply: &Reply, k: &str) -> Option<String> {
    let loc = reply.headers.get("location")?.to_str().ok()?.to_string();
    let query = loc.split_once('?')?.1;
    kinetic_emulator_form(query)
        .into_iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v)
}

fn kinetic_emulator_form(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789";

pub(crate) fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

/// Signs in through the pages and returns the code (consenting when asked).
pub(crate) async fn sign_in(
    t: &Idp,
    b: &mut Browser,
    path: &str,
    user: &str,
    password: &str,
) -> Reply {
    let page = b
        .go(&t.r, Method::GET, path, None)
        .await
        .expect(StatusCode::OK);
    assert!(page.text.contains("id=\"signin\""), "{}", page.text);
    let request = hidden(&page.text, "request");
    b.go(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/login"),
        Some(&[("request", &request), ("login", user), ("passwd", password)]),
    )
    .await
}

#[tokio::test]
async fn authorization_code_with_pkce_and_refresh() {
    let t = idp_with(|_| {});
    let redirect = "http://localhost:40123";
    let scope = format!("{} offline_access openid profile", server_scope());
    let ch = challenge();
    let path = authorize_path(DESKTOP, redirect, &scope, Some(&ch), "&client_info=1");
    let mut b = Browser::new();
    // A wrong password shows the page again with Entra's message.
    let page = b.go(&t.r, Method::GET, &path, None).await;
    let request = hidden(&page.text, "request");
    let again = b
        .go(
            &t.r,
            Method::POST,
            &format!("/{T}/oauth2/v2.0/login"),
            Some(&[("request", &request), ("login", ALICE), ("passwd", "nope")]),
        )
        .await;
    assert!(again.text.contains("AADSTS50126"), "{}", again.text);
    // Alice has consented already: straight back to the app with a code and the state.
    let back = sign_in(&t, &mut b, &path, ALICE, "Alice123!").await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text);
    assert!(back.headers["location"]
        .to_str()
        .unwrap()
        .starts_with(redirect));
    assert_eq!(location_param(&back, "state").as_deref(), Some("st8"));
    let code = location_param(&back, "code").unwrap();
    let redeem = |code: String, verifier: &'static str, redirect: &'static str| {
        let r = t.r.clone();
        async move {
            token(
                &r,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", DESKTOP),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                    ("scope", "openid"),
                    ("client_info", "1"),
                ],
            )
            .await
        }
    };
    // PKCE mismatch: refused (and the code is spent).
    aad_error(
        &redeem(
            code.clone(),
            "wrong-verifier-wrong-verifier-wrong-verifier",
            "http://localhost:40123",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50148,
    );
    aad_error(
        &redeem(code.clone(), VERIFIER, "http://localhost:40123").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        54005,
    );
    // A fresh code (the browser session skips the sign-in page), redeemed properly.
    let back = b.go(&t.r, Method::GET, &path, None).await;
    assert_eq!(
        back.status,
        StatusCode::FOUND,
        "signed in already: {}",
        back.text
    );
    let code = location_param(&back, "code").unwrap();
    aad_error(
        &redeem(code.clone(), VERIFIER, "http://localhost:9").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50011,
    );
    let back = b.go(&t.r, Method::GET, &path, None).await;
    let code = location_param(&back, "code").unwrap();
    let j = redeem(code, VERIFIER, "http://localhost:40123")
        .await
        .expect(StatusCode::OK)
        .json();
    let at = j["access_token"].as_str().unwrap();
    let c = claims(at);
    assert_eq!(c["aud"], EPICOR_SERVER);
    assert_eq!(c["scp"], "user_impersonation");
    assert_eq!(c["preferred_username"], ALICE);
    assert_eq!(c["oid"], ALICE_OID);
    assert_eq!(c["azp"], DESKTOP);
    assert_eq!(c["iss"], format!("http://login.test/{T}/v2.0"));
    let id = claims(j["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n0nce");
    assert_eq!(id["aud"], DESKTOP);
    assert!(j["refresh_token"].is_string());
    assert!(j["refresh_in"].is_number());
    let ci: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(j["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ci["uid"], ALICE_OID);
    // The token opens the REST API as the mapped Epicor user.
    rest_with(&t.r, at).await.expect(StatusCode::OK);
    let rt1 = j["refresh_token"].as_str().unwrap().to_string();

    // Refresh rotates: a new refresh token each time.
    let refresh = |rt: String| refresh_desktop(&t.r, rt);
    let j2 = refresh(rt1.clone()).await.expect(StatusCode::OK).json();
    let rt2 = j2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    rest_with(&t.r, j2["access_token"].as_str().unwrap())
        .await
        .expect(StatusCode::OK);
    // As Entra: a redeemed refresh token stays valid until it expires (no family revocation by
    // default; `refresh_reuse_detection` turns it on, tested below).
    refresh(rt1).await.expect(StatusCode::OK);
    refresh(rt2).await.expect(StatusCode::OK);

    // An expired code (ten minutes) and an expired refresh token.
    let back = b.go(&t.r, Method::GET, &path, None).await;
    let code = location_param(&back, "code").unwrap();
    t.clock.advance(Duration::from_secs(601));
    aad_error(
        &redeem(code, VERIFIER, "http://localhost:40123").await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        70008,
    );
    let back = b.go(&t.r, Method::GET, &path, None).await;
    let j = redeem(
        location_param(&back, "code").unwrap(),
        VERIFIER,
        "http://localhost:40123",
    )
    .await
    .expect(StatusCode::OK)
    .json();
    t.clock.advance(Duration::from_secs(14 * 86_400 + 60));
    aad_error(
        &refresh(j["refresh_token"].as_str().unwrap().to_string()).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        700082,
    );
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", DESKTOP),
                ("redirect_uri", redirect),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
    );
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", DESKTOP),
                ("code", "forged"),
                ("redirect_uri", redirect),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        9002313,
    );
    // Without offline_access there is no refresh token. (Two weeks later the browser session
    // has ended too: sign in again.)
    let path = authorize_path(DESKTOP, redirect, &server_scope(), Some(&ch), "");
    let back = sign_in(&t, &mut b, &path, ALICE, "Alice123!").await;
    let j = redeem(
        location_param(&back, "code").unwrap(),
        VERIFIER,
        "http://localhost:40123",
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert!(j.get("refresh_token").is_none());
}

#[tokio::test]
async fn authorize_refusals_and_consent() {
    let t = idp_with(|_| {});
    let ch = challenge();
    let mut b = Browser::new();
    // A redirect URI that is not registered: an error page, never a redirect.
    let page = b
        .go(
            &t.r,
            Method::GET,
            &authorize_path(
                DESKTOP,
                "https://evil.example/cb",
                &server_scope(),
                Some(&ch),
                "",
            ),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text.contains("AADSTS50011"), "{}", page.text);
    assert!(page.headers.get("location").is_none());
    // Errors after that go back to the app.
    let r = b
        .go(
            &t.r,
            Method::GET,
            &authorize_path(
                DESKTOP,
                "http://localhost:1",
                &format!("api://{EPICOR_SERVER}/nope"),
                Some(&ch),
                "",
            ),
            None,
        )
        .await;
    assert_eq!(
        location_param(&r, "error").as_deref(),
        Some("invalid_scope")
    );
    assert!(location_param(&r, "error_description")
        .unwrap()
        .starts_with("AADSTS70011"));
    assert_eq!(location_param(&r, "state").as_deref(), Some("st8"));
    let r = b
        .go(
            &t.r,
            Method::GET,
            &authorize_path(DESKTOP, "http://localhost:1", &server_scope(), None, ""),
            None,
        )
        .await;
    assert_eq!(
        location_param(&r, "error").as_deref(),
        Some("invalid_request"),
        "PKCE is required for public clients"
    );
    let r = b
        .go(
            &t.r,
            Method::GET,
            &authorize_path(
                DESKTOP,
                "http://localhost:1",
                &server_scope(),
                Some(&ch),
                "&prompt=none",
            ),
            None,
        )
        .await;
    assert_eq!(
        location_param(&r, "error").as_deref(),
        Some("login_required")
    );
    // Bob has not consented: the consent page; Cancel sends access_denied back.
    let path = authorize_path(
        DESKTOP,
        "http://localhost:1",
        &server_scope(),
        Some(&ch),
        "",
    );
    let consent = sign_in(&t, &mut b, &path, BOB, "Bob123!")
        .await
        .expect(StatusCode::OK);
    assert!(
        consent.text.contains("id=\"consent\"") && consent.text.contains("user_impersonation"),
        "{}",
        consent.text
    );
    let declined = b
        .go(
            &t.r,
            Method::POST,
            &format!("/{T}/oauth2/v2.0/consent"),
            Some(&[
                ("request", &hidden(&consent.text, "request")),
                ("decision", "decline"),
            ]),
        )
        .await;
    assert_eq!(
        location_param(&declined, "error").as_deref(),
        Some("access_denied")
    );
    // prompt=none while consent is missing: consent_required (65001).
    let r = b
        .go(
            &t.r,
            Method::GET,
            &authorize_path(
                DESKTOP,
                "http://localhost:1",
                &server_scope(),
                Some(&ch),
                "&prompt=none",
            ),
            None,
        )
        .await;
    assert_eq!(
        location_param(&r, "error").as_deref(),
        Some("consent_required")
    );
    assert!(location_param(&r, "error_description")
        .unwrap()
        .starts_with("AADSTS65001"));
    // Accept: a code, and the consent is remembered.
    let consent = b
        .go(&t.r, Method::GET, &path, None)
        .await
        .expect(StatusCode::OK);
    let accepted = accept_consent(&t, &mut b, &consent.text).await;
    assert!(
        location_param(&accepted, "code").is_some(),
        "{:?}",
        accepted.headers
    );
    let again = b.go(&t.r, Method::GET, &path, None).await;
    assert!(
        location_param(&again, "code").is_some(),
        "no second consent page"
    );
    // form_post answers with a self-posting form.
    let fp = b
        .go(
            &t.r,
            Method::GET,
            &authorize_path(
                DESKTOP,
                "http://localhost:1",
                &server_scope(),
                Some(&ch),
                "&response_mode=form_post",
            ),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        fp.text.contains("action=\"http://localhost:1\"") && fp.text.contains("name=\"code\""),
        "{}",
        fp.text
    );
    // Logout ends the browser session.
    b.go(&t.r, Method::GET, &format!("/{T}/oauth2/v2.0/logout"), None)
        .await
        .expect(StatusCode::OK);
    let after = b.go(&t.r, Method::GET, &path, None).await;
    assert!(
        after.text.contains("id=\"signin\""),
        "signed out: {}",
        after.text
    );
}

/// Alice signs into the web app (its own API), then the web app trades her token for one to Epicor.
async fn web_app_user_token(t: &Idp) -> String {
    let mut b = Browser::new();
    let path = authorize_path(
        WEB_APP,
        "http://localhost:5000/callback",
        &format!("api://{WEB_APP}/access_as_user offline_access"),
        None,
        "",
    );
    let back = sign_in(t, &mut b, &path, ALICE, "Alice123!").await;
    let code =
        location_param(&back, "code").unwrap_or_else(|| panic!("{:?} {}", back.headers, back.text));
    let j = token(
        &t.r,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", WEB_APP),
            ("client_secret", WEB_APP_SECRET),
            ("code", &code),
            ("redirect_uri", "http://localhost:5000/callback"),
        ],
    )
    .await
    .expect(StatusCode::OK)
    .json();
    j["access_token"].as_str().unwrap().to_string()
}

/// The web app's on-behalf-of request for the Epicor scope with `assertion`.
async fn obo_request(r: &Router, assertion: &str) -> Reply {
    token(
        r,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", WEB_APP),
            ("client_secret", WEB_APP_SECRET),
            ("assertion", assertion),
            ("requested_token_use", "on_behalf_of"),
            ("scope", &server_scope()),
        ],
    )
    .await
}

#[tokio::test]
async fn on_behalf_of_and_token_exchange() {
    let t = idp_with(|_| {});
    let user_token = web_app_user_token(&t).await;
    assert_eq!(claims(&user_token)["aud"], WEB_APP);
    let obo = obo_request(&t.r, &user_token)
        .await
        .expect(StatusCode::OK)
        .json();
    let c = claims(obo["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], EPICOR_SERVER);
    assert_eq!(c["oid"], ALICE_OID, "the user is kept");
    assert_eq!(c["azp"], WEB_APP);
    assert_eq!(c["scp"], "user_impersonation");
    rest_with(&t.r, obo["access_token"].as_str().unwrap())
        .await
        .expect(StatusCode::OK);
    // RFC 8693 token exchange does the same for generic clients.
    let te = token(
        &t.r,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("client_id", WEB_APP),
            ("client_secret", WEB_APP_SECRET),
            ("subject_token", &user_token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", &format!("api://{EPICOR_SERVER}")),
        ],
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(
        te["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    rest_with(&t.r, te["access_token"].as_str().unwrap())
        .await
        .expect(StatusCode::OK);
    // The assertion must be a user token whose audience is the calling app.
    let obo_token = obo["access_token"].as_str().unwrap();
    aad_error(
        &obo_request(&t.r, obo_token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50013,
    );
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("client_id", WEB_APP),
                ("client_secret", WEB_APP_SECRET),
                ("assertion", &user_token),
                ("scope", &server_scope()),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
    );
    // Missing consent: the daemon-less desktop app is not pre-authorised and Bob never consented.
    let t2 = idp_with(|c| {
        let server = c
            .idp
            .apps
            .iter_mut()
            .find(|a| a.name == "epicor_server")
            .unwrap();
        server.known_client_applications.clear();
    });
    let user_token = web_app_user_token(&t2).await;
    aad_error(
        &obo_request(&t2.r, &user_token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        65001,
    );
    // Entra's suberror tells the web app to send the user to consent.
    let refused = obo_request(&t2.r, &user_token).await.json();
    assert_eq!(refused["suberror"], "consent_required");
    // The administrator's counters: the first provider issued two on-behalf-of tokens for Alice
    // (the jwt-bearer grant and the token exchange); refusals are not counted.
    let stats_path = format!("/{T}/admin/stats");
    let stats = call(
        &t.r,
        Method::GET,
        &stats_path,
        &[("authorization", BASIC_MANAGER)],
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(stats["on_behalf_of_by_user"][ALICE_OID], 2, "{stats}");
    assert_eq!(stats["tokens_by_grant"]["on_behalf_of"], 1, "{stats}");
    assert_eq!(stats["tokens_by_grant"]["token_exchange"], 1, "{stats}");
    assert_eq!(stats["tokens_by_grant"]["authorization_code"], 1, "{stats}");
    assert_eq!(
        stats["tokens_by_client_credential"],
        json!({"secret": 3}),
        "{stats}"
    );
    let stats2 = call(
        &t2.r,
        Method::GET,
        &stats_path,
        &[("authorization", BASIC_MANAGER)],
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(stats2["on_behalf_of_by_user"], json!({}), "{stats2}");
    // Administrators only.
    let bob = basic("integration", "Integration123!");
    call(
        &t.r,
        Method::GET,
        &stats_path,
        &[("authorization", &bob)],
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    call(&t.r, Method::GET, &stats_path, &[], None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

/// A user limited to some companies (Epicor's user-company list) is refused the others, on v1
/// (query, CallSettings, default) and v2 (the address), however they signed in.
#[tokio::test]
async fn user_companies_limit_what_a_user_sees() {
    let t = idp_with(|c| {
        let manager = c.users.iter_mut().find(|u| u.id == "manager").unwrap();
        manager.companies = vec!["EPIC03".into()];
    });
    let v1 = "api/v1/Erp.BO.CustomerSvc/Customers?$top=1&$select=Company";
    let own = send(&t.r, Method::GET, v1, &[], None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        own["value"][0]["Company"], "EPIC03",
        "the default is the user's first company"
    );
    for (uri, headers) in [
        (format!("{v1}&Company=EPIC06"), vec![]),
        (
            v1.to_string(),
            vec![("CallSettings", r#"{"Company":"EPIC06"}"#)],
        ),
        (V2_PARTS.to_string(), vec![]),
        // A key naming the other company, read or written.
        (
            "api/v1/Erp.BO.CustomerSvc/Customers('EPIC06',1)".to_string(),
            vec![],
        ),
    ] {
        send(&t.r, Method::GET, &uri, &headers, None)
            .await
            .expect_error(
                StatusCode::FORBIDDEN,
                "does not have access to company 'EPIC06'",
            );
    }
    send(
        &t.r,
        Method::PATCH,
        "api/v1/Erp.BO.CustomerSvc/Customers('EPIC06',1)",
        &[],
        Some(json!({"Name": "Taken over"})),
    )
    .await
    .expect_error(
        StatusCode::FORBIDDEN,
        "does not have access to company 'EPIC06'",
    );
    // Alice's token maps to manager: the same limits.
    let user_token = web_app_user_token(&t).await;
    let obo = obo_request(&t.r, &user_token)
        .await
        .expect(StatusCode::OK)
        .json();
    rest_with(&t.r, obo["access_token"].as_str().unwrap())
        .await
        .expect(StatusCode::FORBIDDEN);
    // An unknown company in a user's list is a configuration error.
    let mut bad = EmulatorConfig::default();
    bad.users[0].companies = vec!["NOPE".into()];
    assert!(bad.validate().unwrap_err().contains("company `NOPE`"));
}

/// Accepts the consent step shown on `page` (its request id), from browser `b`.
pub(crate) async fn accept_consent(t: &Idp, b: &mut Browser, page: &str) -> Reply {
    b.go(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/consent"),
        Some(&[
            ("request", &hidden(page, "request")),
            ("decision", "accept"),
        ]),
    )
    .await
}

/// On the device page `verification`: enters the code of `start` (the devicecode answer), then
/// signs in as `user`; the page that follows (consent, or the second factor).
async fn device_sign_in(
    t: &Idp,
    b: &mut Browser,
    verification: &str,
    start: &Value,
    user: &str,
    password: &str,
) -> Reply {
    let signin = b
        .go(
            &t.r,
            Method::POST,
            verification,
            Some(&[("otc", start["user_code"].as_str().unwrap())]),
        )
        .await
        .expect(StatusCode::OK);
    b.go(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/login"),
        Some(&[
            ("request", &hidden(&signin.text, "request")),
            ("login", user),
            ("passwd", password),
        ]),
    )
    .await
    .expect(StatusCode::OK)
}

#[tokio::test]
async fn device_code_flow() {
    let t = idp_with(|_| {});
    let start = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/devicecode"),
        &[],
        Some(&[
            ("client_id", DESKTOP),
            ("scope", &format!("{} offline_access", server_scope())),
        ]),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    for k in ["device_code", "user_code", "verification_uri", "message"] {
        assert!(start[k].is_string(), "{k}");
    }
    assert_eq!(start["interval"], 5);
    assert_eq!(start["expires_in"], 900);
    let device_code = start["device_code"].as_str().unwrap().to_string();
    let poll = || {
        let r = t.r.clone();
        let d = device_code.clone();
        async move {
            token(
                &r,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", DESKTOP),
                    ("device_code", &d),
                ],
            )
            .await
        }
    };
    aad_error(
        &poll().await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        70016,
    );
    // Polling faster than the interval: slow_down.
    let j = aad_error(&poll().await, StatusCode::BAD_REQUEST, "slow_down", 70016);
    assert!(j["error_description"]
        .as_str()
        .unwrap()
        .contains("10 seconds"));
    t.clock.advance(Duration::from_secs(11));
    aad_error(
        &poll().await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
        70016,
    );
    // A person enters the code, signs in and approves.
    let verification = start["verification_uri"]
        .as_str()
        .unwrap()
        .replace("http://login.test", "");
    let mut b = Browser::new();
    b.go(&t.r, Method::GET, &verification, None)
        .await
        .expect(StatusCode::OK);
    let wrong = b
        .go(
            &t.r,
            Method::POST,
            &verification,
            Some(&[("otc", "WRONGCODE")]),
        )
        .await;
    assert!(wrong.text.contains("not valid"), "{}", wrong.text);
    let approve = device_sign_in(&t, &mut b, &verification, &start, BOB, "Bob123!").await;
    assert!(approve.text.contains("id=\"consent\""), "{}", approve.text);
    let done = accept_consent(&t, &mut b, &approve.text)
        .await
        .expect(StatusCode::OK);
    assert!(done.text.contains("You may now close this window"));
    t.clock.advance(Duration::from_secs(30));
    let j = poll().await.expect(StatusCode::OK).json();
    let c = claims(j["access_token"].as_str().unwrap());
    assert_eq!(c["preferred_username"], BOB);
    assert!(j["refresh_token"].is_string());
    // Bob maps to the Epicor user integration.
    rest_with(&t.r, j["access_token"].as_str().unwrap())
        .await
        .expect(StatusCode::OK);
    t.clock.advance(Duration::from_secs(30));
    aad_error(
        &poll().await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        54005,
    );

    // Declined, and expired.
    let start = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/devicecode"),
        &[],
        Some(&[("client_id", DESKTOP), ("scope", &server_scope())]),
    )
    .await
    .json();
    let signin = b
        .go(
            &t.r,
            Method::POST,
            &verification,
            Some(&[("otc", start["user_code"].as_str().unwrap())]),
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        signin.text.contains("id=\"consent\""),
        "signed in already: straight to approval"
    );
    b.go(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/consent"),
        Some(&[
            ("request", &hidden(&signin.text, "request")),
            ("decision", "decline"),
        ]),
    )
    .await;
    let d = start["device_code"].as_str().unwrap().to_string();
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", DESKTOP),
                ("device_code", &d),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "access_denied",
        65004,
    );
    let start = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/devicecode"),
        &[],
        Some(&[("client_id", DESKTOP), ("scope", &server_scope())]),
    )
    .await
    .json();
    t.clock.advance(Duration::from_secs(901));
    let d = start["device_code"].as_str().unwrap().to_string();
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", DESKTOP),
                ("device_code", &d),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "expired_token",
        70020,
    );
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_for_a_grace_period() {
    let t = idp_with(|c| c.idp.key_grace_secs = 600);
    let default_scope = format!("api://{EPICOR_SERVER}/.default");
    let old = token(&t.r, &pairs(&daemon_cc(&default_scope))).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &t.r,
        Method::POST,
        &format!("/{T}/admin/rotate-keys"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "Authentication is required");
    let rotated = call(
        &t.r,
        Method::POST,
        &format!("/{T}/admin/rotate-keys"),
        &[("authorization", BASIC_MANAGER)],
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let keys = rotated["jwks"]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "old and new key published");
    assert_eq!(keys[0]["kid"], rotated["kid"], "the current key first");
    let new = token(&t.r, &pairs(&daemon_cc(&default_scope))).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let kid = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    assert_ne!(kid(&old), kid(&new));
    rest_with(&t.r, &old).await.expect(StatusCode::OK);
    rest_with(&t.r, &new).await.expect(StatusCode::OK);
    // After the grace period the old key is gone, and so is trust in its tokens.
    t.clock.advance(Duration::from_secs(601));
    let jwks = call(
        &t.r,
        Method::GET,
        &format!("/{T}/discovery/v2.0/keys"),
        &[],
        None,
    )
    .await
    .json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let fresh = token(&t.r, &pairs(&daemon_cc(&default_scope))).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    rest_with(&t.r, &fresh).await.expect(StatusCode::OK);
    // (The old token has also expired by now only if lifetime < 601 s; it has not: 3600 s.)
    rest_with(&t.r, &old)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "does not publish");
}

/// With `refresh_reuse_detection` on (Okta/Auth0-style rotation), reusing a rotated-out refresh
/// token revokes its whole family: the newer token stops working too.
#[tokio::test]
async fn refresh_token_reuse_detection_when_turned_on() {
    let t = idp_with(|c| c.idp.refresh_reuse_detection = true);
    let redirect = "http://localhost:40123";
    let scope = format!("{} offline_access", server_scope());
    let path = authorize_path(DESKTOP, redirect, &scope, Some(&challenge()), "");
    let mut b = Browser::new();
    let back = sign_in(&t, &mut b, &path, ALICE, "Alice123!").await;
    let code = location_param(&back, "code").unwrap();
    let j = token(
        &t.r,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DESKTOP),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let refresh = |rt: String| refresh_desktop(&t.r, rt);
    let rt1 = j["refresh_token"].as_str().unwrap().to_string();
    let rt2 = refresh(rt1.clone()).await.expect(StatusCode::OK).json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    aad_error(
        &refresh(rt1).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50173,
    );
    aad_error(
        &refresh(rt2).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        50173,
    );
}

const MFA_POLICY: &str = "9ab03e19-ed42-4168-b6b7-7001fb3e933a";

/// A provider whose Conditional Access policy demands a second factor of Alice for Epicor.
fn idp_with_mfa_for_alice() -> Idp {
    idp_with(|c| {
        let alice = c.idp.users.iter_mut().find(|u| u.upn == ALICE).unwrap();
        alice.mfa_code = Some("246810".into());
        c.idp
            .conditional_access
            .push(epicor_kinetic_emulator::config::ConditionalAccessPolicy {
                id: MFA_POLICY.into(),
                name: "MFA for Epicor".into(),
                users: vec![ALICE.into()],
                resources: vec![format!("api://{EPICOR_SERVER}")],
            });
    })
}

/// Posts `code` to the second-factor step `request`, from browser `b`.
async fn enter_code(t: &Idp, b: &mut Browser, request: &str, code: &str) -> Reply {
    b.go(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/verify"),
        Some(&[("request", request), ("otc", code)]),
    )
    .await
}

/// Redeems a web-app code at the token endpoint.
async fn web_app_redeem(t: &Idp, code: &str) -> Value {
    token(
        &t.r,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", WEB_APP),
            ("client_secret", WEB_APP_SECRET),
            ("code", code),
            ("redirect_uri", "http://localhost:5000/callback"),
        ],
    )
    .await
    .expect(StatusCode::OK)
    .json()
}

/// Conditional Access: a web app's on-behalf-of request for a user who has not passed the second
/// factor is `interaction_required` with a claims challenge (as Entra answers, AADSTS50076); the app
/// sends it back as `claims`, the provider asks for the code, and the tokens then say `mfa`, which the
/// exchange and the refresh carry on. Every way to a token for Epicor asks for it.
#[tokio::test]
async fn conditional_access_steps_up_to_a_second_factor() {
    let t = idp_with_mfa_for_alice();
    let app_scope = format!("api://{WEB_APP}/access_as_user offline_access");
    let mut b = Browser::new();
    let path = authorize_path(
        WEB_APP,
        "http://localhost:5000/callback",
        &app_scope,
        None,
        "",
    );
    // Signing in to the web app itself needs no second factor (the policy is on Epicor).
    let back = sign_in(&t, &mut b, &path, ALICE, "Alice123!").await;
    let first = web_app_redeem(&t, &location_param(&back, "code").unwrap()).await;
    let user_token = first["access_token"].as_str().unwrap();
    assert_eq!(claims(user_token)["amr"], json!(["pwd"]));
    let refused = aad_error(
        &obo_request(&t.r, user_token).await,
        StatusCode::BAD_REQUEST,
        "interaction_required",
        50076,
    );
    let asked: Value = serde_json::from_str(refused["claims"].as_str().unwrap()).unwrap();
    assert_eq!(
        asked,
        json!({"access_token": {"polids": {"essential": true, "values": [MFA_POLICY]}}})
    );
    // Nor does a refresh of that sign-in reach Epicor.
    let old_refresh = first["refresh_token"].as_str().unwrap();
    aad_error(
        &token(
            &t.r,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", WEB_APP),
                ("client_secret", WEB_APP_SECRET),
                ("refresh_token", old_refresh),
                ("scope", &server_scope()),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "interaction_required",
        50076,
    );
    // The claims challenge sent back: the signed-in browser is asked for the code, not the password.
    let claims_param = format!("&claims={}", enc_form(refused["claims"].as_str().unwrap()));
    let path = authorize_path(
        WEB_APP,
        "http://localhost:5000/callback",
        &app_scope,
        None,
        &claims_param,
    );
    let page = b
        .go(&t.r, Method::GET, &path, None)
        .await
        .expect(StatusCode::OK);
    assert!(page.text.contains("id=\"verify\""), "{}", page.text);
    let request = hidden(&page.text, "request");
    // The step is not a consent step: posted there, it is refused.
    let consent = b
        .go(
            &t.r,
            Method::POST,
            &format!("/{T}/oauth2/v2.0/consent"),
            Some(&[("request", &request), ("decision", "accept")]),
        )
        .await;
    assert!(consent.text.contains("AADSTS50059"), "{}", consent.text);
    // Another browser cannot answer it.
    let mut other = Browser::new();
    other
        .go(&t.r, Method::GET, &path, None)
        .await
        .expect(StatusCode::OK);
    let stolen = enter_code(&t, &mut other, &request, "246810").await;
    assert!(stolen.text.contains("AADSTS50059"), "{}", stolen.text);
    // A wrong code: the page again, with Entra's words.
    let wrong = enter_code(&t, &mut b, &request, "000000")
        .await
        .expect(StatusCode::OK);
    assert!(wrong.text.contains("AADSTS50181"), "{}", wrong.text);
    let cookie_before = b.cookie.clone();
    let back = enter_code(&t, &mut b, &request, "246810").await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text);
    assert_ne!(
        b.cookie, cookie_before,
        "a stronger sign-in is a new session"
    );
    let stepped = web_app_redeem(&t, &location_param(&back, "code").unwrap()).await;
    let user_token = stepped["access_token"].as_str().unwrap();
    assert_eq!(claims(user_token)["amr"], json!(["pwd", "mfa"]));
    let obo = obo_request(&t.r, user_token)
        .await
        .expect(StatusCode::OK)
        .json();
    let epicor = obo["access_token"].as_str().unwrap();
    assert_eq!(claims(epicor)["amr"], json!(["pwd", "mfa"]));
    rest_with(&t.r, epicor).await.expect(StatusCode::OK);
    // The refresh of the stronger sign-in reaches Epicor; its tokens keep the factor.
    let refreshed = token(
        &t.r,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", WEB_APP),
            ("client_secret", WEB_APP_SECRET),
            ("refresh_token", stepped["refresh_token"].as_str().unwrap()),
            ("scope", &server_scope()),
        ],
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(
        claims(refreshed["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa"])
    );
    // The same browser is not asked again (its session passed the factor).
    let again = b.go(&t.r, Method::GET, &path, None).await;
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.text);
    // Guessing codes is throttled as guessing passwords is: after five wrong codes even the right
    // one waits.
    let mut guesser = Browser::new();
    let page = guesser.go(&t.r, Method::GET, &path, None).await;
    let step = guesser
        .go(
            &t.r,
            Method::POST,
            &format!("/{T}/oauth2/v2.0/login"),
            Some(&[
                ("request", &hidden(&page.text, "request")),
                ("login", ALICE),
                ("passwd", "Alice123!"),
            ]),
        )
        .await
        .expect(StatusCode::OK);
    let request = hidden(&step.text, "request");
    for _ in 0..5 {
        enter_code(&t, &mut guesser, &request, "111111")
            .await
            .expect(StatusCode::OK);
    }
    let throttled = enter_code(&t, &mut guesser, &request, "246810").await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.text
    );
    assert!(throttled.text.contains("AADSTS50053"), "{}", throttled.text);
    // A silent request from that browser (signed in, without the factor) cannot ask for it.
    let silent = guesser
        .go(
            &t.r,
            Method::GET,
            &authorize_path(
                WEB_APP,
                "http://localhost:5000/callback",
                &app_scope,
                None,
                &format!("{claims_param}&prompt=none"),
            ),
            None,
        )
        .await;
    assert_eq!(
        location_param(&silent, "error").as_deref(),
        Some("interaction_required"),
        "{:?}",
        silent.headers
    );
    // A malformed claims parameter goes back to the app as invalid_request.
    let bad = b
        .go(
            &t.r,
            Method::GET,
            &authorize_path(
                WEB_APP,
                "http://localhost:5000/callback",
                &app_scope,
                None,
                "&claims=%7Bnope",
            ),
            None,
        )
        .await;
    assert_eq!(
        location_param(&bad, "error").as_deref(),
        Some("invalid_request")
    );
    // Bob, whom the policy does not name, is never asked; a policy on a user with no second
    // factor cannot be met (AADSTS50079, sent back to the app).
    let t2 = idp_with(|c| {
        c.idp
            .conditional_access
            .push(epicor_kinetic_emulator::config::ConditionalAccessPolicy {
                id: MFA_POLICY.into(),
                name: String::new(),
                users: vec!["All".into()],
                resources: vec![EPICOR_SERVER.into()],
            });
    });
    let desktop = authorize_path(
        DESKTOP,
        "http://localhost:40123",
        &server_scope(),
        Some(&challenge()),
        "",
    );
    let mut b2 = Browser::new();
    let no_factor = sign_in(&t2, &mut b2, &desktop, ALICE, "Alice123!").await;
    assert_eq!(
        location_param(&no_factor, "error").as_deref(),
        Some("interaction_required")
    );
    assert!(location_param(&no_factor, "error_description")
        .unwrap()
        .starts_with("AADSTS50079"));
    let mut b3 = Browser::new();
    let bob = sign_in(&t, &mut b3, &desktop, BOB, "Bob123!").await;
    assert!(bob.text.contains("id=\"consent\""), "{}", bob.text);
}

/// The device flow asks for the second factor too, and its tokens carry it.
#[tokio::test]
async fn conditional_access_in_the_device_flow() {
    let t = idp_with_mfa_for_alice();
    let start = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/devicecode"),
        &[],
        Some(&[("client_id", DESKTOP), ("scope", &server_scope())]),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let verification = start["verification_uri"]
        .as_str()
        .unwrap()
        .replace("http://login.test", "");
    let mut b = Browser::new();
    b.go(&t.r, Method::GET, &verification, None)
        .await
        .expect(StatusCode::OK);
    let after_password =
        device_sign_in(&t, &mut b, &verification, &start, ALICE, "Alice123!").await;
    assert!(
        after_password.text.contains("id=\"verify\""),
        "{}",
        after_password.text
    );
    let request = hidden(&after_password.text, "request");
    let approve = enter_code(&t, &mut b, &request, "246810")
        .await
        .expect(StatusCode::OK);
    assert!(approve.text.contains("id=\"consent\""), "{}", approve.text);
    accept_consent(&t, &mut b, &approve.text)
        .await
        .expect(StatusCode::OK);
    let j = token(
        &t.r,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", DESKTOP),
            ("device_code", start["device_code"].as_str().unwrap()),
        ],
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(
        claims(j["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa"])
    );
}
