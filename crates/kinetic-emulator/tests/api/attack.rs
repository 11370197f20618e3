//! The attack suite: what an outside review sent to the emulator, and the ways in it found, each as
//! a test that failed on the code before the fixes. OAuth/OpenID attacks (parameter injection,
//! redirect URI tricks, open redirects, CSRF, code and refresh-token replay, assertion tricks, alg
//! confusion), administrative routes, credentials on every route family, password guessing, and
//! bounded memory under floods. Hostile OData and whereClause input is in `hostile.rs`.

use super::idp::{
    aad_error, accept_consent, authorize_path, call, challenge, claims, hidden, idp_with,
    location_param, refresh_desktop, rest_with, server_scope, sign_in, token, Browser, Idp, T,
    VERIFIER,
};
use super::*;
use base64::Engine;
use epicor_kinetic_emulator::clock::Clock;
use epicor_kinetic_emulator::config::seed::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::time::Duration;

const ALICE_PW: &str = "Alice123!";

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// A page of the identity provider: the headers every page must carry (no framing, no caching).
#[track_caller]
fn assert_page_headers(reply: &Reply) {
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    assert!(reply.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(reply.headers["cache-control"], "no-store");
}

/// Row 1: a client's query can never set server state. `_user=alice` on `/authorize` used to land
/// in the stored request and be read back as the signed-in user at consent, which gave the attacker
/// Alice's token with no password.
#[tokio::test]
async fn a_query_parameter_cannot_sign_anybody_in() {
    let t = idp_with(|_| {});
    let redirect = "http://localhost:40123";
    // The web app is not pre-consented for alice on its own API: the old flow went to consent.
    let scope = format!("api://{WEB_APP}/access_as_user");
    let path = authorize_path(
        DESKTOP,
        redirect,
        &scope,
        Some(&challenge()),
        &format!("&_user={ALICE}&_device=x&prompt=consent"),
    );
    // No cookie: the sign-in page, never a consent page.
    let page = call(&t.r, Method::GET, &path, &[], None)
        .await
        .expect(StatusCode::OK);
    assert!(page.text.contains("id=\"signin\""), "{}", page.text);
    assert!(!page.text.contains("id=\"consent\""), "{}", page.text);
    assert_page_headers(&page);
    let request = hidden(&page.text, "request");
    // Posting "accept" for that request, with or without a cookie, gives no code.
    let accept = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/consent"),
        &[],
        Some(&[("request", &request), ("decision", "accept")]),
    )
    .await;
    assert_eq!(accept.status, StatusCode::BAD_REQUEST, "{}", accept.text);
    assert!(accept.headers.get("location").is_none());
    let cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = hidden(&page.text, "csrf");
    let accept = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/consent"),
        &[("cookie", &cookie)],
        Some(&[
            ("request", &request),
            ("decision", "accept"),
            ("csrf", &csrf),
        ]),
    )
    .await;
    assert_eq!(accept.status, StatusCode::BAD_REQUEST, "{}", accept.text);
    assert!(accept.headers.get("location").is_none(), "{}", accept.text);
    assert!(
        accept.text.contains("not for the user signed in"),
        "{}",
        accept.text
    );
    // Every parameter once: a second copy is refused, not silently shadowed.
    let dup = call(
        &t.r,
        Method::GET,
        &format!("{path}&client_id={WEB_APP}"),
        &[],
        None,
    )
    .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert!(dup.text.contains("more than once"), "{}", dup.text);
    let dup = token(
        &t.r,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON),
            ("client_id", DESKTOP),
            ("client_secret", DAEMON_SECRET),
            ("scope", &format!("api://{EPICOR_SERVER}/.default")),
        ],
    )
    .await;
    aad_error(&dup, StatusCode::BAD_REQUEST, "invalid_request", 90015);
}

/// Row 2 and the loopback rule: redirect URIs are parsed, never prefix-matched.
#[tokio::test]
async fn redirect_uri_tricks_are_refused() {
    let t = idp_with(|_| {});
    let scope = server_scope();
    let refused = [
        // userinfo: the host is evil.example
        "http://localhost:1@evil.example/",
        "http://localhost@evil.example",
        "http://127.0.0.1:80@evil.example/",
        // look-alike hosts
        "http://localhost.evil.example/",
        "http://127.0.0.1.evil.example:8080/",
        "http://localhostevil.example/",
        // another scheme or host than registered
        "https://localhost:40123/",
        "http://[::1]:40123/",
        "http://0.0.0.0:40123/",
        // another path, a fragment, a query
        "http://localhost:40123/callback",
        "http://localhost:40123/#frag",
        "http://localhost:40123/?next=https://evil.example",
        // not a URL
        "localhost:40123",
        "//evil.example",
    ];
    for uri in refused {
        let path = authorize_path(DESKTOP, uri, &scope, Some(&challenge()), "");
        let r = call(&t.r, Method::GET, &path, &[], None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text);
        assert!(r.text.contains("AADSTS50011"), "{uri}: {}", r.text);
        assert!(r.headers.get("location").is_none(), "{uri}");
    }
    // The web app's registered exact URI and its loopback one.
    for (client, uri) in [
        (DESKTOP, "http://localhost:40123"),
        (DESKTOP, "http://127.0.0.1:5555/"),
        (DESKTOP, "http://LOCALHOST:1"),
        (WEB_APP, "http://localhost:5000/callback"),
    ] {
        let path = authorize_path(client, uri, &scope, Some(&challenge()), "");
        let r = call(&t.r, Method::GET, &path, &[], None).await;
        assert_eq!(r.status, StatusCode::OK, "{client} {uri}: {}", r.text);
    }
    for uri in [
        "http://localhost:5000/callback/",
        "http://localhost:5000/Callback",
        "https://localhost:5000/callback",
        "http://localhost:5000/callback/../evil",
    ] {
        let path = authorize_path(WEB_APP, uri, &scope, None, "");
        let r = call(&t.r, Method::GET, &path, &[], None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text);
    }
}

/// Row 3: logout goes back only to a URI registered for the client the request names.
#[tokio::test]
async fn logout_is_no_open_redirect() {
    let t = idp_with(|_| {});
    let logout = |q: &str| format!("/{T}/oauth2/v2.0/logout?{q}");
    for q in [
        "post_logout_redirect_uri=https://evil.example/".to_string(),
        format!("post_logout_redirect_uri=https://evil.example/&client_id={WEB_APP}"),
        format!("post_logout_redirect_uri=http://localhost:1@evil.example/&client_id={DESKTOP}"),
        // registered, but for no client named
        "post_logout_redirect_uri=http://localhost:5000/callback".to_string(),
        "post_logout_redirect_uri=http://localhost:5000/callback&id_token_hint=forged.token.here"
            .to_string(),
    ] {
        let r = call(&t.r, Method::GET, &logout(&q), &[], None).await;
        assert_eq!(r.status, StatusCode::OK, "{q}");
        assert!(r.headers.get("location").is_none(), "{q}");
        assert!(r.text.contains("You have signed out"), "{q}");
        assert_page_headers(&r);
    }
    let r = call(
        &t.r,
        Method::GET,
        &logout(&format!(
            "post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Fcallback&client_id={WEB_APP}&state=s1"
        )),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.headers["location"],
        "http://localhost:5000/callback?state=s1"
    );
}

/// Every form carries a CSRF token bound to the browser's cookie, and each step belongs to the
/// browser that started it.
#[tokio::test]
async fn forms_need_the_browsers_own_cookie_and_csrf_token() {
    let t = idp_with(|_| {});
    let redirect = "http://localhost:40123";
    let path = authorize_path(DESKTOP, redirect, &server_scope(), Some(&challenge()), "");
    let login = format!("/{T}/oauth2/v2.0/login");
    // The attacker's browser starts a sign-in.
    let mut attacker = Browser::new();
    let page = attacker.go(&t.r, Method::GET, &path, None).await;
    let request = hidden(&page.text, "request");
    // Without the token, with a wrong one, or without the cookie: refused before any password check.
    let attacker_csrf = attacker.csrf.clone().unwrap();
    for (cookie, csrf) in [
        (attacker.cookie.clone(), None),
        (attacker.cookie.clone(), Some("d3Jvbmc")),
        (None, Some(attacker_csrf.as_str())),
    ] {
        let mut headers = vec![];
        if let Some(c) = &cookie {
            headers.push(("cookie", c.as_str()));
        }
        let mut form = vec![
            ("request", request.as_str()),
            ("login", ALICE),
            ("passwd", ALICE_PW),
        ];
        if let Some(c) = &csrf {
            form.push(("csrf", c));
        }
        let r = call(&t.r, Method::POST, &login, &headers, Some(&form)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.headers.get("location").is_none());
    }
    // The victim's browser, with its own valid cookie and token, cannot continue the attacker's
    // request (login CSRF: the victim would be signed in to the attacker's flow).
    let mut victim = Browser::new();
    victim.go(&t.r, Method::GET, &path, None).await;
    let r = victim
        .go(
            &t.r,
            Method::POST,
            &login,
            Some(&[
                ("request", &request),
                ("login", ALICE),
                ("passwd", ALICE_PW),
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("unknown to this browser"), "{}", r.text);
    // A consent step belongs to its browser too: bob's consent page, posted from alice's browser.
    let scope = format!("api://{WEB_APP}/access_as_user");
    let consent_path = authorize_path(DESKTOP, redirect, &scope, Some(&challenge()), "");
    let mut bob = Browser::new();
    let bob_consent = sign_in(&t, &mut bob, &consent_path, BOB, "Bob123!").await;
    assert!(
        bob_consent.text.contains("id=\"consent\""),
        "{}",
        bob_consent.text
    );
    let mut alice = Browser::new();
    sign_in(&t, &mut alice, &consent_path, ALICE, ALICE_PW).await;
    let r = accept_consent(&t, &mut alice, &bob_consent.text).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.headers.get("location").is_none());
    // The device-code form too.
    let r = call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/devicelogin"),
        &[],
        Some(&[("otc", "ABCDEFGHJ")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Sign-in gives the browser a new cookie value: one planted before sign-in is worth nothing.
    let mut b = Browser::new();
    b.go(&t.r, Method::GET, &path, None).await;
    let planted = b.cookie.clone().unwrap();
    let back = sign_in(&t, &mut b, &path, ALICE, ALICE_PW).await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert_ne!(b.cookie.clone().unwrap(), planted);
    let replay = call(&t.r, Method::GET, &path, &[("cookie", &planted)], None).await;
    assert!(replay.text.contains("id=\"signin\""), "{}", replay.text);
}

/// The identity provider's cookie is `Secure` over HTTPS, and its pages cannot be framed.
#[tokio::test]
async fn the_cookie_is_secure_over_https() {
    let t = idp_with(|c| c.tls.enabled = true);
    let path = authorize_path(
        DESKTOP,
        "http://localhost:1",
        &server_scope(),
        Some(&challenge()),
        "",
    );
    let page = call(&t.r, Method::GET, &path, &[], None).await;
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert_page_headers(&page);
    let t = idp_with(|_| {});
    let page = call(&t.r, Method::GET, &path, &[], None).await;
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
}

async fn alice_code(t: &Idp, scope: &str) -> String {
    let path = authorize_path(
        DESKTOP,
        "http://localhost:40123",
        scope,
        Some(&challenge()),
        "",
    );
    let mut b = Browser::new();
    let back = sign_in(t, &mut b, &path, ALICE, ALICE_PW).await;
    location_param(&back, "code").unwrap()
}

async fn redeem(t: &Idp, code: &str) -> Reply {
    token(
        &t.r,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", DESKTOP),
            ("code", code),
            ("redirect_uri", "http://localhost:40123"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// A replayed authorization code revokes what it issued (RFC 6749 §4.1.2): the refresh token and,
/// on this REST API, the access token.
#[tokio::test]
async fn a_replayed_code_revokes_its_tokens() {
    let t = idp_with(|_| {});
    let code = alice_code(&t, &format!("{} offline_access", server_scope())).await;
    let j = redeem(&t, &code).await.expect(StatusCode::OK).json();
    let at = j["access_token"].as_str().unwrap();
    let rt = j["refresh_token"].as_str().unwrap();
    rest_with(&t.r, at).await.expect(StatusCode::OK);
    aad_error(
        &redeem(&t, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        54005,
    );
    rest_with(&t.r, at)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "revoked");
    let refreshed = token(
        &t.r,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DESKTOP),
            ("refresh_token", rt),
        ],
    )
    .await;
    aad_error(&refreshed, StatusCode::BAD_REQUEST, "invalid_grant", 50173);
}

/// As Entra: a redeemed refresh token stays valid until it expires (no rotation revocation by
/// default), while a forged one is refused.
#[tokio::test]
async fn refresh_tokens_follow_entra_by_default() {
    let t = idp_with(|_| {});
    let code = alice_code(&t, &format!("{} offline_access", server_scope())).await;
    let j = redeem(&t, &code).await.expect(StatusCode::OK).json();
    let rt = j["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: String| refresh_desktop(&t.r, rt);
    let next = refresh(rt.clone()).await.expect(StatusCode::OK).json();
    refresh(rt).await.expect(StatusCode::OK);
    refresh(next["refresh_token"].as_str().unwrap().to_string())
        .await
        .expect(StatusCode::OK);
    aad_error(
        &refresh("1.forged".into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        9002313,
    );
}

/// A client assertion signed with the web app's generated key, with a header and claims of the
/// test's choosing.
fn web_app_assertion(
    t: &Idp,
    header: impl FnOnce(&mut Header),
    claims: serde_json::Value,
) -> String {
    let creds = t.idp.generated_credentials();
    let (_, cert_path, key_path, _, _) = creds.iter().find(|c| c.0 == "web_app").unwrap();
    let der = super::idp::pem_der(&std::fs::read_to_string(cert_path).unwrap());
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(b64(&<sha1::Sha1 as sha2::Digest>::digest(&der)));
    header(&mut h);
    jsonwebtoken::encode(
        &h,
        &claims,
        &EncodingKey::from_rsa_pem(&std::fs::read(key_path).unwrap()).unwrap(),
    )
    .unwrap()
}

async fn with_assertion(t: &Idp, assertion: &str, host: &str) -> Reply {
    call(
        &t.r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/token"),
        &[("host", host)],
        Some(&[
            ("grant_type", "client_credentials"),
            ("client_id", WEB_APP),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("scope", &format!("api://{EPICOR_SERVER}/.default")),
        ]),
    )
    .await
}

/// Row 5 and the assertion checks: a non-ASCII thumbprint used to panic the handler; `aud` was
/// optional and the accepted audiences came from the Host header.
#[tokio::test]
async fn client_assertion_tricks() {
    let t = idp_with(|_| {});
    let now = t.clock.now_secs();
    let aud = format!("http://login.test/{T}/oauth2/v2.0/token");
    let good = |jti: &str| json!({"aud": aud, "iss": WEB_APP, "sub": WEB_APP, "jti": jti, "nbf": now, "exp": now + 300});
    // The good one works (the baseline).
    with_assertion(&t, &web_app_assertion(&t, |_| {}, good("j0")), "login.test")
        .await
        .expect(StatusCode::OK);
    for (name, thumb) in [
        ("non-ASCII hex", "aéb"),
        ("odd hex", "abc"),
        ("huge", &"A".repeat(10_000)),
        ("multibyte pair", "éé"),
    ] {
        let a = web_app_assertion(&t, |h| h.x5t = Some(thumb.to_string()), good(name));
        let r = with_assertion(&t, &a, "login.test").await;
        aad_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    }
    // Every required claim.
    for missing in ["aud", "exp", "iss", "sub"] {
        let mut c = good(&format!("no-{missing}"));
        c.as_object_mut().unwrap().remove(missing);
        let r = with_assertion(&t, &web_app_assertion(&t, |_| {}, c), "login.test").await;
        let j = aad_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
        assert!(
            j["error_description"].as_str().unwrap().contains(missing)
                || missing == "iss"
                || missing == "sub",
            "{j}"
        );
    }
    // An audience of the attacker's choosing, sent with a matching Host header.
    let mut c = good("evil-aud");
    c["aud"] = json!(format!("http://evil.test/{T}/oauth2/v2.0/token"));
    let r = with_assertion(&t, &web_app_assertion(&t, |_| {}, c), "evil.test").await;
    aad_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    // Alg confusion: HS256 keyed with the (public) certificate, and alg none.
    let creds = t.idp.generated_credentials();
    let cert = std::fs::read(&creds.iter().find(|c| c.0 == "web_app").unwrap().1).unwrap();
    let mut h = Header::new(Algorithm::HS256);
    h.x5t = Some("x".into());
    let hs = jsonwebtoken::encode(&h, &good("hs"), &EncodingKey::from_secret(&cert)).unwrap();
    aad_error(
        &with_assertion(&t, &hs, "login.test").await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good("none").to_string().as_bytes())
    );
    aad_error(
        &with_assertion(&t, &none, "login.test").await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    );
    // The server kept serving through all of it.
    with_assertion(
        &t,
        &web_app_assertion(&t, |_| {}, good("j-last")),
        "login.test",
    )
    .await
    .expect(StatusCode::OK);
}

/// Bearer tokens on the REST API: our own issuer's tokens need `aud`, `exp` and `iss`; HMAC tokens
/// keyed with a published key, tokens from another issuer URL, and forged signatures are refused.
#[tokio::test]
async fn bearer_token_tricks_on_the_rest_api() {
    let t = idp_with(|_| {});
    let code = alice_code(&t, &server_scope()).await;
    let j = redeem(&t, &code).await.expect(StatusCode::OK).json();
    let at = j["access_token"].as_str().unwrap();
    rest_with(&t.r, at).await.expect(StatusCode::OK);
    let parts: Vec<&str> = at.split('.').collect();
    let mut c = claims(at);
    // A changed payload: the signature no longer verifies.
    c["oid"] = json!(BOB_OID);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    rest_with(&t.r, &forged)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "signature");
    // HS256 keyed with the JWKS's public modulus.
    let jwks = call(
        &t.r,
        Method::GET,
        &format!("/{T}/discovery/v2.0/keys"),
        &[],
        None,
    )
    .await
    .json();
    let n = jwks["keys"][0]["n"].as_str().unwrap().to_string();
    let mut h = Header::new(Algorithm::HS256);
    h.kid = jwks["keys"][0]["kid"].as_str().map(str::to_string);
    let hs =
        jsonwebtoken::encode(&h, &claims(at), &EncodingKey::from_secret(n.as_bytes())).unwrap();
    rest_with(&t.r, &hs)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "HMAC");
    // Our issuer's path on another host is not our issuer.
    let mut c = claims(at);
    c["iss"] = json!(format!("http://evil.test/{T}/v2.0"));
    let other = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    rest_with(&t.r, &other)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not trusted");
}

fn seed_config(c: &mut EmulatorConfig) {
    c.scale = 120;
}

/// Row 6: admin routes need an administrator (a flag on the user; `manager` is one by default).
#[tokio::test]
async fn admin_routes_need_an_administrator() {
    let r = fresh(seed_config);
    // The manager logs in a session.
    let login = send(
        &r,
        Method::POST,
        "api/v1/Ice.Lib.SessionModSvc/Login",
        &[],
        Some(json!({})),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let session = login["returnObj"].as_str().unwrap().to_string();
    let integration = basic("integration", "Integration123!");
    let as_integration = [("authorization", integration.as_str())];
    send(&r, Method::GET, "admin/sessions", &as_integration, None)
        .await
        .expect_error(StatusCode::FORBIDDEN, "not an administrator");
    send(
        &r,
        Method::DELETE,
        &format!("admin/sessions/{session}"),
        &as_integration,
        None,
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "not an administrator");
    let list = send(&r, Method::GET, "admin/sessions", &[], None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(
        list.to_string().contains(&session),
        "the manager's session survived: {list}"
    );
    send(
        &r,
        Method::DELETE,
        &format!("admin/sessions/{session}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // Key rotation too.
    let t = idp_with(|_| {});
    let rotate = format!("/{T}/admin/rotate-keys");
    let r = call(&t.r, Method::POST, &rotate, &as_integration, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = call(&t.r, Method::POST, &rotate, &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = call(
        &t.r,
        Method::POST,
        &rotate,
        &[("authorization", BASIC_MANAGER)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Every route family of the REST API refuses a call without credentials (the swagger documents
/// used to answer 200). The identity provider's protocol endpoints are public by the protocol.
#[tokio::test]
async fn every_route_family_needs_credentials() {
    let r = fresh(seed_config);
    for (method, path, needs) in epicor_kinetic_emulator::erp::ROUTE_FAMILIES {
        assert!(
            *needs,
            "{path} is listed as open: say why in ROUTE_FAMILIES"
        );
        let m: Method = method.parse().unwrap();
        // Without credentials (the API key alone does not sign anybody in).
        let reply = raw(&r, m.clone(), path, &[("x-api-key", API_KEY)], None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            reply.text
        );
        // With credentials the family exists (not a 404 of the router).
        let reply = send(&r, m, path, &[], Some(json!({}))).await;
        assert_ne!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            reply.text
        );
        assert!(
            reply.status != StatusCode::NOT_FOUND || path.contains("sessions/x"),
            "{method} {path} is not a route: {}",
            reply.text
        );
    }
}

/// Repeated wrong passwords are slowed down per user and per address, before any hashing: Basic
/// on the REST API, the token service, and the identity provider's sign-in page.
#[tokio::test]
async fn password_guessing_is_slowed_down() {
    let clock = epicor_kinetic_emulator::clock::ManualClock::new();
    let mut config = EmulatorConfig {
        scale: 120,
        ..EmulatorConfig::default()
    };
    config.security.user_failures = 3;
    config.idp.issuer_base = Some("http://login.test".into());
    let emu = Emulator::with_clock(config, clock.clone()).unwrap();
    let r = emu.router();
    let wrong = basic("manager", "guess");
    for _ in 0..3 {
        send(
            &r,
            Method::GET,
            "api/v1/",
            &[("authorization", &wrong)],
            None,
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "Invalid user name or password");
    }
    // Now even the right password waits, with Retry-After.
    let reply = send(&r, Method::GET, "api/v1/", &[], None).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text
    );
    assert!(reply.headers.contains_key("retry-after"));
    // The token service shares the count.
    let tr = raw(
        &r,
        Method::POST,
        "TokenResource.svc/",
        &[("username", "manager"), ("password", "Epicor123!")],
        None,
    )
    .await;
    assert_eq!(tr.status, StatusCode::TOO_MANY_REQUESTS, "{}", tr.text);
    // Other users are not slowed by the manager's failures.
    send(
        &r,
        Method::GET,
        "api/v1/",
        &[("authorization", &basic("integration", "Integration123!"))],
        None,
    )
    .await
    .expect(StatusCode::OK);
    clock.advance(Duration::from_secs(61));
    send(&r, Method::GET, "api/v1/", &[], None)
        .await
        .expect(StatusCode::OK);
    // The sign-in page: unknown users count too (and cost a hash: the time does not tell).
    let path = authorize_path(
        DESKTOP,
        "http://localhost:1",
        &server_scope(),
        Some(&challenge()),
        "",
    );
    let mut b = Browser::new();
    let page = b.go(&r, Method::GET, &path, None).await;
    let request = hidden(&page.text, "request");
    for attempt in 1..=4 {
        let answer = b
            .go(
                &r,
                Method::POST,
                &format!("/{T}/oauth2/v2.0/login"),
                Some(&[
                    ("request", &request),
                    ("login", "nobody@kinetic.example"),
                    ("passwd", "x"),
                ]),
            )
            .await;
        if attempt <= 3 {
            assert!(answer.text.contains("AADSTS50126"), "{}", answer.text);
        } else {
            assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
            assert!(answer.text.contains("AADSTS50053"), "{}", answer.text);
        }
    }
}

/// Peak resident memory of this process, in KiB (Linux), for the report.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// 20,000 `/authorize` calls (each with a 2 KB state) and 20,000 `/devicecode` calls from nobody:
/// what the provider keeps stays within its count and byte bounds. (The figure for the release
/// binary comes from `bench/idp_flood.sh`.)
#[tokio::test]
async fn memory_stays_bounded_under_a_flood_of_anonymous_requests() {
    let t = idp_with(|_| {});
    let state = "s".repeat(2000);
    let before = peak_rss_kib();
    let base = authorize_path(
        DESKTOP,
        "http://localhost:1",
        &server_scope(),
        Some(&challenge()),
        "",
    )
    .replace("&state=st8", "");
    for i in 0..20_000 {
        let path = format!("{base}&state={state}{i}");
        let r = call(&t.r, Method::GET, &path, &[], None).await;
        assert_eq!(r.status, StatusCode::OK);
        let d = call(
            &t.r,
            Method::POST,
            &format!("/{T}/oauth2/v2.0/devicecode"),
            &[],
            Some(&[("client_id", DESKTOP), ("scope", &server_scope())]),
        )
        .await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    }
    {
        let store = t.idp.store.lock().unwrap();
        let b = epicor_kinetic_emulator::idp::bounds::INTERACTIONS;
        assert!(store.interactions.len() <= b.max_entries);
        assert!(store.interactions.bytes() <= b.max_bytes);
        assert!(
            store.interactions.evicted() > 0,
            "the byte budget was reached"
        );
        let d = epicor_kinetic_emulator::idp::bounds::DEVICES;
        assert!(store.devices.len() <= d.max_entries);
        assert!(store.devices.bytes() <= d.max_bytes);
        assert_eq!(
            store.devices.len(),
            d.max_entries,
            "the count bound was reached"
        );
        let (entries, bytes) = store.footprint();
        eprintln!(
            "flood: 20,000 /authorize + 20,000 /devicecode: {entries} entries, {} KiB held by the stores; peak RSS {:?} -> {:?} KiB",
            bytes / 1024,
            before,
            peak_rss_kib()
        );
    }
    // Expiry: a quarter of an hour later, the sign-in steps are gone.
    t.clock.advance(Duration::from_secs(901));
    let path = authorize_path(
        DESKTOP,
        "http://localhost:1",
        &server_scope(),
        Some(&challenge()),
        "",
    );
    call(&t.r, Method::GET, &path, &[], None).await;
    assert_eq!(t.idp.store.lock().unwrap().interactions.len(), 1);
}

/// Request bodies have a size limit on every route (413 in Epicor's shape on the REST API).
#[tokio::test]
async fn request_bodies_are_bounded() {
    let r = fresh(|c| {
        c.scale = 120;
        c.security.max_body_bytes = 64 * 1024;
    });
    let big = json!({"whereClause": "x".repeat(100 * 1024)});
    let reply = send(
        &r,
        Method::POST,
        "api/v1/Erp.BO.CustomerSvc/GetList",
        &[],
        Some(big),
    )
    .await;
    reply.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "max_body_bytes");
    let reply = call(
        &r,
        Method::POST,
        &format!("/{T}/oauth2/v2.0/token"),
        &[],
        Some(&[("grant_type", &"x".repeat(100 * 1024))]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    // The server keeps serving.
    get(&r, "api/v1/").await.expect(StatusCode::OK);
}
