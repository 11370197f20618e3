//! Client authentication at the token endpoint: a secret (in the body or Basic), a certificate
//! assertion (RS256 with `x5t`, PS256 with `x5t#S256`), or none for a public client.

use super::{app, Form, ASSERTION_TYPE, SKEW};
use crate::encoding::{b64url, b64url_decode, hex_decode};
use crate::idp::{AadError, App, Idp, Ready};
use axum::http::{header, HeaderMap};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use subtle::ConstantTimeEq;

/// How a client proved itself: 0 public, 1 secret, 2 certificate (Entra's `azpacr`).
pub(super) type Authn = u8;

/// Authenticates the client of a token request.
pub(super) fn authenticate_client<'a>(
    idp: &Idp,
    ready: &'a Ready,
    form: &Form,
    headers: &HeaderMap,
    token_urls: &[String],
) -> Result<(&'a App, Authn), AadError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (u, p) = s.split_once(':')?;
            let dec = |x: &str| {
                percent_encoding::percent_decode_str(&x.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((dec(u), dec(p)))
        });
    let client_id = form
        .get("client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|b| b.0.clone()))
        .ok_or_else(|| AadError::missing("client_id"))?;
    let app = app(ready, &client_id)?;
    let secret = form
        .get("client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|b| b.1));
    let now = idp.clock.now_secs();
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(ASSERTION_TYPE) {
            return Err(AadError::invalid_request(
                90025,
                format!("client_assertion_type must be {ASSERTION_TYPE}."),
            ));
        }
        if app.reg.public_client {
            return Err(public_with_credential());
        }
        verify_assertion(idp, app, assertion, token_urls, now)?;
        return Ok((app, 2));
    }
    if let Some(secret) = secret {
        if app.reg.public_client {
            return Err(public_with_credential());
        }
        let matching = app
            .reg
            .secrets
            .iter()
            .find(|s| bool::from(s.value.as_bytes().ct_eq(secret.as_bytes())));
        return match matching {
            None => Err(AadError::invalid_client(
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '".to_string()
                    + &app.reg.client_id
                    + "'.",
            )),
            Some(s) if s.expires.as_deref().and_then(crate::clock::parse_rfc3339).is_some_and(|t| t <= now) => Err(
                AadError::invalid_client(
                    7000222,
                    format!("The provided client secret keys for app '{}' are expired. Create new keys for your app.", app.reg.client_id),
                ),
            ),
            Some(_) => Ok((app, 1)),
        };
    }
    if app.reg.public_client {
        Ok((app, 0))
    } else {
        Err(AadError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ))
    }
}

fn public_with_credential() -> AadError {
    AadError::invalid_client(
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    )
}

/// A certificate client assertion: RS256 with `x5t` (SHA-1) or PS256 with `x5t#S256`, signed by a
/// registered certificate's key, `aud` the token endpoint, `iss` = `sub` = client id, `exp` at most
/// ten minutes ahead, a `jti` that no other assertion used.
fn verify_assertion(
    idp: &Idp,
    app: &App,
    assertion: &str,
    token_urls: &[String],
    now: i64,
) -> Result<(), AadError> {
    let bad = |msg: String| {
        AadError::invalid_client(
            700027,
            format!("Client assertion failed signature validation. {msg}"),
        )
    };
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| bad(format!("The assertion is not a JWT: {e}.")))?;
    let (thumb, is_sha256) = match (header.alg, &header.x5t, &header.x5t_s256) {
        (Algorithm::PS256, _, Some(t)) => (t.clone(), true),
        (Algorithm::RS256, Some(t), _) => (t.clone(), false),
        (Algorithm::RS256, None, Some(t)) => (t.clone(), true),
        (Algorithm::PS256, Some(_), None) => {
            return Err(bad("A PS256 assertion must name its certificate by x5t#S256 (SHA-256 thumbprint).".into()))
        }
        (alg, _, _) => {
            return Err(bad(format!(
                "The assertion must be signed with RS256 (with x5t) or PS256 (with x5t#S256), not {alg:?} without a thumbprint."
            )))
        }
    };
    let thumb_bytes = b64url_decode(thumb.trim_end_matches('='))
        .or_else(|_| hex_decode(&thumb))
        .map_err(|_| bad(format!("The thumbprint '{thumb}' is not base64url.")))?;
    let cred = app
        .certificates
        .iter()
        .find(|c| if is_sha256 { c.sha256 == thumb_bytes } else { c.sha1 == thumb_bytes })
        .ok_or_else(|| {
            bad(format!(
                "Key was not found: no certificate with {} thumbprint {thumb} is registered for app '{}'.",
                if is_sha256 { "SHA-256 (x5t#S256)" } else { "SHA-1 (x5t)" },
                app.reg.client_id
            ))
        })?;
    let key = certificate_key(&cred.der)
        .map_err(|e| bad(format!("The registered certificate cannot be used: {e}.")))?;
    let mut v = Validation::new(header.alg);
    v.set_audience(token_urls);
    // Time is checked below against the injected clock; the claims must be there all the same.
    v.validate_exp = false;
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &v)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidAudience => bad(format!(
                "The assertion's aud must be the token endpoint, {}.",
                token_urls.first().map(String::as_str).unwrap_or("")
            )),
            jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(c) => bad(format!(
                "The assertion has no {c} claim; iss, sub, aud and exp are required."
            )),
            _ => bad(format!("Signature verification failed: {e}.")),
        })?
        .claims;
    let s = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    if s("iss") != app.reg.client_id || s("sub") != app.reg.client_id {
        return Err(bad(
            "The assertion's iss and sub must both be the client id.".into(),
        ));
    }
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or_else(|| bad("The assertion has no exp.".into()))?;
    if exp <= now - SKEW || exp > now + 600 + SKEW {
        return Err(AadError::invalid_client(
            700024,
            "Client assertion is not within its valid time range: exp must be in the future and at most 10 minutes ahead.",
        ));
    }
    if claims
        .get("nbf")
        .and_then(numeric_date)
        .is_some_and(|n| n > now + SKEW)
    {
        return Err(AadError::invalid_client(
            700024,
            "Client assertion is not within its valid time range (nbf).",
        ));
    }
    let jti = s("jti");
    if jti.is_empty() {
        return Err(bad("The assertion has no jti.".into()));
    }
    // Entra does not make a client assertion single use: the same assertion may be presented again
    // until it expires, and MSAL relies on that (MSAL Python reuses one for up to nine minutes). A jti
    // seen on a *different* assertion is a replay, refused; `single_use_assertions` refuses any reuse
    // (RFC 7523's optional strict rule).
    use sha2::Digest;
    let digest: [u8; 32] = sha2::Sha256::digest(assertion.as_bytes()).into();
    if jti.len() > 256 {
        return Err(bad(
            "The assertion's jti is too long (at most 256 bytes).".into()
        ));
    }
    let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    let key = jti.to_string();
    match store.jtis.get(now, &key) {
        Some(seen) if *seen == digest && !idp.cfg.single_use_assertions => Ok(()),
        Some(_) => Err(bad(format!(
            "The assertion jti '{jti}' was already used; make a new assertion, with a new jti, for each use."
        ))),
        None => {
            // Remembered until the assertion itself can no longer be used.
            let weight = key.len() + 64;
            store.jtis.insert(now, key, digest, exp + SKEW + 1, weight);
            Ok(())
        }
    }
}

/// A JWT NumericDate as whole seconds. RFC 7519 allows fractions and MSAL sends them (`exp` is
/// `time.time() + 600`, a float); Entra accepts them, so must we.
fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

/// The RSA public key of a DER certificate, for jsonwebtoken.
fn certificate_key(der: &[u8]) -> Result<DecodingKey, String> {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    use x509_cert::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let public = rsa::RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| format!("not an RSA key: {e}"))?;
    DecodingKey::from_rsa_components(
        &b64url(&public.n().to_bytes_be()),
        &b64url(&public.e().to_bytes_be()),
    )
    .map_err(|e| e.to_string())
}
