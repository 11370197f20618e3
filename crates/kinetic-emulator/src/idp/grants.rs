//! The token endpoint (every grant) and the device authorization endpoint.

use super::{
    AadError, App, AuthCode, DeviceGrant, DeviceState, Idp, Issued, Ready, RefreshRecord, User,
    OIDC_SCOPES, REMEMBER_SPENT,
};
use crate::config::ConditionalAccessPolicy;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use std::collections::HashSet;
use subtle::ConstantTimeEq;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Microsoft Graph: the audience of tokens asked for with OpenID scopes only.
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
/// Clock skew allowed on client assertions.
const SKEW: i64 = 300;

/// A form body (`application/x-www-form-urlencoded`, `+` is a space).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        let text = String::from_utf8_lossy(body);
        Form(parse_pairs(&text))
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
    pub fn require(&self, k: &str) -> Result<&str, AadError> {
        self.get(k).ok_or_else(|| AadError::missing(k))
    }
    /// Refuses a parameter given more than once (RFC 6749 §3.1: each may appear once), which
    /// would otherwise let the first or last copy win depending on who reads it.
    pub fn refuse_duplicates(&self) -> Result<(), AadError> {
        let mut seen = HashSet::new();
        match self.0.iter().map(|(k, _)| k.as_str()).find(|k| !seen.insert(*k)) {
            None => Ok(()),
            Some(dup) => Err(AadError::invalid_request(
                90015,
                format!("The parameter '{dup}' is given more than once; each may appear once (RFC 6749 §3.1)."),
            )),
        }
    }
}

/// Parses `a=1&b=x+y` (form encoding) into pairs.
pub fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

pub fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn random_token(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    b64url(&v)
}

/// What a `scope` parameter asks for.
#[derive(Debug, Clone)]
pub struct Scopes<'a> {
    pub oidc: Vec<String>,
    pub resource: Option<&'a App>,
    /// Short names (`user_impersonation`), or `.default`.
    pub names: Vec<String>,
}

impl Scopes<'_> {
    pub fn offline(&self) -> bool {
        self.oidc.iter().any(|s| s == "offline_access")
    }
    pub fn openid(&self) -> bool {
        self.oidc.iter().any(|s| s == "openid")
    }
    pub fn is_default(&self) -> bool {
        self.names.iter().any(|n| n == ".default")
    }
}

/// Resolves a `scope` parameter against the registered APIs.
pub fn resolve_scopes<'a>(ready: &'a Ready, scope: &str) -> Result<Scopes<'a>, AadError> {
    let mut out = Scopes {
        oidc: Vec::new(),
        resource: None,
        names: Vec::new(),
    };
    for item in scope.split_whitespace() {
        if OIDC_SCOPES.contains(&item) {
            out.oidc.push(item.to_string());
            continue;
        }
        let (resource_id, name) = item.rsplit_once('/').ok_or_else(|| {
            AadError::invalid_scope(format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{item}' does not exist."
            ))
        })?;
        let app =
            ready
                .apps
                .iter()
                .find(|a| a.is_resource(resource_id))
                .ok_or_else(|| {
                    AadError::new(
                "invalid_resource",
                500011,
                format!("The resource principal named {resource_id} was not found in the tenant."),
            )
                })?;
        if name != ".default" && !app.reg.scopes.iter().any(|s| s == name) {
            return Err(AadError::invalid_scope(format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{item}' does not exist."
            )));
        }
        match out.resource {
            Some(r) if r.reg.client_id != app.reg.client_id => {
                return Err(AadError::new(
                    "invalid_scope",
                    28000,
                    "Provided value for the input parameter scope is not valid because it contains more than one resource.",
                ))
            }
            _ => out.resource = Some(app),
        }
        out.names.push(name.to_string());
    }
    if out.names.contains(&".default".to_string()) && out.names.len() > 1 {
        return Err(AadError::invalid_scope(
            "The provided value for the input parameter 'scope' is not valid. .default cannot be combined with other scopes of the resource.",
        ));
    }
    Ok(out)
}

/// The delegated scopes a user has allowed a client on a resource (all, when the client is
/// pre-authorised or is the resource itself), or `None` when consent is missing for `wanted`.
pub fn consented(
    idp: &Idp,
    user: &User,
    client: &App,
    resource: &App,
    wanted: &[String],
) -> Option<Vec<String>> {
    let preauthorised = client.reg.client_id == resource.reg.client_id
        || resource
            .reg
            .known_client_applications
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&client.reg.client_id));
    let all: Vec<String> = resource.reg.scopes.clone();
    if preauthorised {
        return Some(if wanted.iter().any(|w| w == ".default") {
            all
        } else {
            wanted.to_vec()
        });
    }
    let store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    let key = (
        user.upn.to_ascii_lowercase(),
        client.reg.client_id.clone(),
        resource.reg.client_id.clone(),
    );
    let key_uri = resource
        .reg
        .app_id_uri
        .clone()
        .map(|u| (key.0.clone(), key.1.clone(), u));
    let granted: HashSet<String> = store
        .consents
        .get(&key)
        .into_iter()
        .chain(key_uri.as_ref().and_then(|k| store.consents.get(k)))
        .flatten()
        .cloned()
        .collect();
    if wanted.iter().any(|w| w == ".default") {
        return (!granted.is_empty()).then(|| granted.into_iter().collect());
    }
    wanted
        .iter()
        .all(|w| granted.contains(w))
        .then(|| wanted.to_vec())
}

/// Records a user's consent.
pub fn grant_consent(idp: &Idp, user: &User, client: &App, resource: &App, scopes: &[String]) {
    let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    let names: Vec<String> = if scopes.iter().any(|s| s == ".default") {
        resource.reg.scopes.clone()
    } else {
        scopes.to_vec()
    };
    store
        .consents
        .entry((
            user.upn.to_ascii_lowercase(),
            client.reg.client_id.clone(),
            resource.reg.client_id.clone(),
        ))
        .or_default()
        .extend(names);
}

pub fn app<'a>(ready: &'a Ready, client_id: &str) -> Result<&'a App, AadError> {
    ready
        .apps
        .iter()
        .find(|a| a.reg.client_id.eq_ignore_ascii_case(client_id))
        .ok_or_else(|| {
            AadError::new(
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant."
                ),
            )
        })
}

/// How a client proved itself: 0 public, 1 secret, 2 certificate (Entra's `azpacr`).
type Authn = u8;

/// Authenticates the client of a token request.
fn authenticate_client<'a>(
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
    let thumb_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(thumb.trim_end_matches('='))
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

/// Hex text to bytes; anything else (odd length, non-hex, non-ASCII) is an error, never a panic.
fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(());
    }
    let digit = |c: u8| (c as char).to_digit(16).ok_or(());
    b.chunks(2)
        .map(|p| Ok((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
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

/// Everything needed to mint tokens for one answer.
pub struct Mint<'a> {
    pub idp: &'a Idp,
    pub ready: &'a Ready,
    pub issuer: String,
    pub client: &'a App,
    pub authn: Authn,
}

impl Mint<'_> {
    fn now(&self) -> i64 {
        self.idp.clock.now_secs()
    }

    /// A delegated (user) access token.
    fn user_access_token(
        &self,
        user: &User,
        resource: Option<&App>,
        scopes: &[String],
        mfa: bool,
    ) -> (String, String, String) {
        let now = self.now();
        let uti = random_token(16);
        let (aud, scp) = match resource {
            Some(r) => (r.reg.client_id.clone(), scopes.join(" ")),
            None => (GRAPH.to_string(), "openid profile email".to_string()),
        };
        let claims = json!({
            "aud": aud, "iss": self.issuer, "iat": now, "nbf": now,
            "exp": now + self.idp.cfg.token_lifetime_secs as i64,
            "aio": random_token(12), "amr": amr(mfa), "azp": self.client.reg.client_id, "azpacr": self.authn.to_string(),
            "name": user.display_name, "oid": user.object_id, "preferred_username": user.upn,
            "rh": "0.kinetic", "scp": scp, "sub": pairwise(&user.object_id, &self.client.reg.client_id),
            "tid": self.idp.cfg.tenant, "uti": uti, "ver": "2.0",
        });
        let granted = match resource {
            Some(r) => {
                let prefix = r
                    .reg
                    .app_id_uri
                    .clone()
                    .unwrap_or_else(|| r.reg.client_id.clone());
                scopes
                    .iter()
                    .map(|s| format!("{prefix}/{s}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => scp,
        };
        (self.sign(&claims), granted, uti)
    }

    fn id_token(&self, user: &User, nonce: Option<&str>, mfa: bool) -> String {
        let now = self.now();
        let mut claims = json!({
            "aud": self.client.reg.client_id, "amr": amr(mfa), "iss": self.issuer, "iat": now, "nbf": now,
            "exp": now + self.idp.cfg.token_lifetime_secs as i64,
            "name": user.display_name, "oid": user.object_id, "preferred_username": user.upn,
            "sub": pairwise(&user.object_id, &self.client.reg.client_id), "tid": self.idp.cfg.tenant,
            "uti": random_token(16), "ver": "2.0",
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.sign(&claims)
    }

    fn sign(&self, claims: &Value) -> String {
        self.ready
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sign(claims)
    }

    /// A new refresh token of `family` (or of a new family); returns it and its family.
    fn refresh_token(
        &self,
        user: &User,
        scopes: &[String],
        family: Option<String>,
        mfa: bool,
    ) -> (String, String) {
        let token = format!("1.{}", random_token(48));
        let family = family.unwrap_or_else(|| random_token(12));
        let now = self.now();
        let expires = now + self.idp.cfg.refresh_token_lifetime_secs as i64;
        let record = RefreshRecord {
            family: family.clone(),
            client_id: self.client.reg.client_id.clone(),
            user: user.upn.clone(),
            scopes: scopes.to_vec(),
            expires,
            used: false,
            mfa,
        };
        let weight = token.len()
            + family.len()
            + record.client_id.len()
            + record.user.len()
            + scopes.iter().map(|s| s.len() + 8).sum::<usize>()
            + 64;
        let mut store = self.idp.store.lock().unwrap_or_else(|p| p.into_inner());
        // Remembered a while past its expiry, to answer "expired" rather than "unknown".
        store
            .refresh
            .insert(now, token.clone(), record, expires + REMEMBER_SPENT, weight);
        (token, family)
    }

    /// The token response of a user flow. `scope_text` is the full requested scope list (kept for refresh).
    fn user_response(
        &self,
        user: &User,
        scopes: &Scopes<'_>,
        granted_names: &[String],
        extras: Extras<'_>,
        requested: &[String],
    ) -> (Value, Issued) {
        let (access, granted, uti) =
            self.user_access_token(user, scopes.resource, granted_names, extras.mfa);
        let mut issued = Issued {
            family: None,
            access_uti: Some(uti),
            replayed: false,
        };
        let life = self.idp.cfg.token_lifetime_secs;
        let mut scope_list: Vec<String> = granted
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        scope_list.extend(
            scopes
                .oidc
                .iter()
                .filter(|s| *s != "offline_access")
                .cloned(),
        );
        let mut out = json!({
            "token_type": "Bearer", "scope": scope_list.join(" "), "expires_in": life, "ext_expires_in": life,
            "access_token": access,
        });
        if life >= 600 {
            out["refresh_in"] = json!(life / 2);
        }
        if scopes.offline() {
            let (token, family) = self.refresh_token(user, requested, extras.family, extras.mfa);
            out["refresh_token"] = json!(token);
            issued.family = Some(family);
        }
        if scopes.openid() {
            out["id_token"] = json!(self.id_token(user, extras.nonce, extras.mfa));
        }
        if extras.client_info {
            let ci = json!({"uid": user.object_id, "utid": self.idp.cfg.tenant});
            out["client_info"] = json!(b64url(ci.to_string().as_bytes()));
        }
        (out, issued)
    }
}

/// Optional parts of a user-flow answer.
struct Extras<'a> {
    nonce: Option<&'a str>,
    /// The refresh-token family to continue (a refresh), or a new one.
    family: Option<String>,
    /// Return `client_info` (MSAL asks with `client_info=1`).
    client_info: bool,
    /// The sign-in behind it passed a second factor.
    mfa: bool,
}

/// How the user signed in, as Entra's `amr` claim says it.
fn amr(mfa: bool) -> Value {
    if mfa {
        json!(["pwd", "mfa"])
    } else {
        json!(["pwd"])
    }
}

/// The Conditional Access policy that demands a second factor of `user` for `resource`, if any.
pub fn mfa_policy<'a>(
    idp: &'a Idp,
    user: &User,
    resource: Option<&App>,
) -> Option<&'a ConditionalAccessPolicy> {
    let resource = resource?;
    idp.cfg.conditional_access.iter().find(|p| {
        p.users
            .iter()
            .any(|u| u.eq_ignore_ascii_case("all") || u.eq_ignore_ascii_case(&user.upn))
            && p.resources.iter().any(|r| resource.is_resource(r))
    })
}

/// Refuses a non-interactive grant for a resource whose policy wants a second factor the sign-in
/// behind the grant did not pass: Entra's `interaction_required` (AADSTS50076) with a claims
/// challenge naming the policy, which the client sends back as `claims` when it signs the user in.
fn require_mfa(idp: &Idp, user: &User, scopes: &Scopes<'_>, mfa: bool) -> Result<(), AadError> {
    match (mfa_policy(idp, user, scopes.resource), scopes.resource) {
        (Some(policy), Some(resource)) if !mfa => {
            let mut e = AadError::new(
                "interaction_required",
                50076,
                format!(
                    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{}'.",
                    resource.reg.client_id
                ),
            );
            e.claims = Some(
                json!({"access_token": {"polids": {"essential": true, "values": [policy.id]}}})
                    .to_string(),
            );
            Err(e)
        }
        _ => Ok(()),
    }
}

/// A per-app subject, as Entra's `sub` is pairwise.
fn pairwise(oid: &str, client: &str) -> String {
    use sha2::Digest;
    b64url(&sha2::Sha256::digest(format!("{oid}|{client}").as_bytes())[..24])
}

fn user<'a>(ready: &'a Ready, upn: &str) -> Result<&'a User, AadError> {
    ready.users.get(&upn.to_ascii_lowercase()).ok_or_else(|| {
        AadError::invalid_grant(
            50034,
            format!("The user account {upn} does not exist in the directory."),
        )
    })
}

fn user_by_oid<'a>(ready: &'a Ready, oid: &str) -> Option<&'a User> {
    ready
        .users
        .values()
        .find(|u| u.object_id.eq_ignore_ascii_case(oid))
}

fn consent_error(user: &User, client: &App, resource: &App) -> AadError {
    let mut e = AadError::invalid_grant(
        65001,
        format!(
            "The user or administrator has not consented to use the application with ID '{}' named '{}' for resource '{}'. Send an interactive authorization request for this user and resource.",
            client.reg.client_id, client.reg.name, resource.reg.client_id
        ),
    );
    let _ = user;
    e.error = "invalid_grant";
    // As Entra answers a non-interactive grant (on-behalf-of, refresh) that lacks consent.
    e.suberror = Some("consent_required");
    e
}

/// Resolves and checks the scopes a user flow asks for; returns the granted short names.
fn delegated<'a>(
    idp: &Idp,
    ready: &'a Ready,
    user: &User,
    client: &App,
    scope: &str,
) -> Result<(Scopes<'a>, Vec<String>), AadError> {
    let scopes = resolve_scopes(ready, scope)?;
    let granted = match scopes.resource {
        None => Vec::new(),
        Some(r) => consented(idp, user, client, r, &scopes.names)
            .ok_or_else(|| consent_error(user, client, r))?,
    };
    Ok((scopes, granted))
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return AadError::invalid_request(90015, "The token request is too large.").into_response();
    };
    // Users, apps and keys are made on the blocking pool the first time.
    if let Some(i) = &state.idp {
        if let Err(e) = i.prepared().await {
            return e.into_response();
        }
    }
    match token_inner(&state, &tenant, &headers, &body) {
        Ok(v) => {
            let mut r = axum::Json(v).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

pub fn check_tenant(idp: &Idp, tenant: &str) -> Result<(), AadError> {
    if idp.is_tenant(tenant) {
        Ok(())
    } else {
        Err(AadError::invalid_request(
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        ))
    }
}

pub fn idp(state: &AppState) -> Result<&Idp, AadError> {
    state.idp.as_deref().ok_or_else(|| {
        AadError::server("the identity provider is turned off ([idp] enabled = false)")
    })
}

fn token_inner(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, AadError> {
    let idp = idp(state)?;
    check_tenant(idp, tenant)?;
    let ready = idp.ready()?;
    let form = Form::parse(body);
    form.refuse_duplicates()?;
    let issuer = idp.issuer();
    // A client assertion's aud must be our token endpoint at the public address we were configured
    // with (or listen on), never one built from the request's Host header.
    let base = idp.public_base();
    let token_urls: Vec<String> = vec![
        format!("{base}/{}/oauth2/v2.0/token", idp.cfg.tenant),
        format!("{base}/{tenant}/oauth2/v2.0/token"),
    ];
    let grant_type = form.require("grant_type")?.to_string();
    let client_info = form.get("client_info") == Some("1");
    let now = idp.clock.now_secs();
    let (client, authn) = authenticate_client(idp, ready, &form, headers, &token_urls)?;
    let mint = Mint {
        idp,
        ready,
        issuer: issuer.clone(),
        client,
        authn,
    };
    let issued = match grant_type.as_str() {
        "authorization_code" => {
            let code = form.require("code")?;
            let redirect_uri = form.require("redirect_uri")?;
            let record = {
                let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
                let rec = store.codes.get_mut(now, &code.to_string()).ok_or_else(|| {
                    AadError::invalid_grant(9002313, "Invalid request. Request is malformed or invalid: the code is not one this server issued.")
                })?;
                if rec.redeemed {
                    // A replayed code: revoke what it issued (RFC 6749 §4.1.2), as the code may
                    // have been stolen.
                    rec.issued.replayed = true;
                    let issued = rec.issued.clone();
                    revoke(idp, &mut store, &issued);
                    return Err(AadError::invalid_grant(
                        54005,
                        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token. The tokens issued from it are revoked.",
                    ));
                }
                if now > rec.expires {
                    return Err(AadError::invalid_grant(
                        70008,
                        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
                    ));
                }
                if !rec.client_id.eq_ignore_ascii_case(&client.reg.client_id) {
                    return Err(AadError::invalid_grant(70000, "The provided value for the 'code' parameter is not valid: it was issued to another client."));
                }
                // Single use, even when the rest of this request fails.
                rec.redeemed = true;
                rec.clone()
            };
            if record.redirect_uri != redirect_uri {
                return Err(AadError::invalid_grant(
                    50011,
                    format!(
                        "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URI '{}' of the authorization request.",
                        record.redirect_uri
                    ),
                ));
            }
            if let Some(challenge) = &record.code_challenge {
                let verifier = form.require("code_verifier")?;
                use sha2::Digest;
                if b64url(&sha2::Sha256::digest(verifier.as_bytes())) != *challenge {
                    return Err(AadError::invalid_grant(
                        50148,
                        "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                    ));
                }
            }
            let user = user(ready, &record.user)?;
            let scope_text = record.scopes.join(" ");
            let (scopes, granted) = delegated(idp, ready, user, client, &scope_text)?;
            require_mfa(idp, user, &scopes, record.mfa)?;
            let (out, issued) = mint.user_response(
                user,
                &scopes,
                &granted,
                Extras {
                    nonce: record.nonce.as_deref(),
                    family: None,
                    client_info,
                    mfa: record.mfa,
                },
                &record.scopes,
            );
            let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
            let replayed = match store.codes.get_mut(now, &code.to_string()) {
                Some(rec) => {
                    let replayed = rec.issued.replayed;
                    rec.issued = Issued {
                        replayed,
                        ..issued.clone()
                    };
                    replayed
                }
                None => false,
            };
            if replayed {
                // Replayed while this redemption was under way: what it issued is revoked too.
                revoke(idp, &mut store, &issued);
                return Err(AadError::invalid_grant(
                    54005,
                    "OAuth2 Authorization code was already redeemed; the tokens issued from it are revoked.",
                ));
            }
            Ok(out)
        }
        "refresh_token" => {
            let rt = form.require("refresh_token")?;
            let record = {
                let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
                let rec = store
                    .refresh
                    .get(now, &rt.to_string())
                    .cloned()
                    .ok_or_else(|| AadError::invalid_grant(9002313, "Invalid request. The refresh token is malformed or not one this server issued."))?;
                if store.revoked_families.get(now, &rec.family).is_some() {
                    return Err(AadError::invalid_grant(
                        50173,
                        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password, or a refresh token was reused.",
                    ));
                }
                if rec.used && idp.cfg.refresh_reuse_detection {
                    let family = rec.family.clone();
                    let weight = family.len() + 32;
                    store.revoked_families.insert(
                        now,
                        family,
                        (),
                        rec.expires.max(now) + idp.cfg.refresh_token_lifetime_secs as i64,
                        weight,
                    );
                    return Err(AadError::invalid_grant(
                        50173,
                        "The provided grant has been revoked: this refresh token was already used, so every token of its sign-in is revoked (refresh token reuse). Sign in again.",
                    ));
                }
                if now > rec.expires {
                    return Err(AadError::invalid_grant(
                        700082,
                        "The refresh token has expired due to inactivity. The token was issued and was inactive for too long.",
                    ));
                }
                if !rec.client_id.eq_ignore_ascii_case(&client.reg.client_id) {
                    return Err(AadError::invalid_grant(
                        70000,
                        "The refresh token was issued to another client.",
                    ));
                }
                if let Some(r) = store.refresh.get_mut(now, &rt.to_string()) {
                    r.used = true;
                }
                rec
            };
            let user = user(ready, &record.user)?;
            let scope_text = form
                .get("scope")
                .map(str::to_string)
                .unwrap_or_else(|| record.scopes.join(" "));
            let (scopes, granted) = delegated(idp, ready, user, client, &scope_text)?;
            let mut requested: Vec<String> =
                scope_text.split_whitespace().map(str::to_string).collect();
            if !requested.iter().any(|s| s == "offline_access") {
                // A refresh keeps the sign-in's offline access.
                requested.push("offline_access".into());
            }
            require_mfa(idp, user, &scopes, record.mfa)?;
            let mut scopes = scopes;
            if !scopes.offline() {
                scopes.oidc.push("offline_access".into());
            }
            Ok(mint
                .user_response(
                    user,
                    &scopes,
                    &granted,
                    Extras {
                        nonce: None,
                        family: Some(record.family),
                        client_info,
                        mfa: record.mfa,
                    },
                    &requested,
                )
                .0)
        }
        "client_credentials" => {
            if authn == 0 {
                return Err(AadError::invalid_client(
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ));
            }
            let scope = form.require("scope")?;
            let scopes = resolve_scopes(ready, scope)?;
            let resource = match (scopes.resource, scopes.is_default(), scopes.oidc.is_empty()) {
                (Some(r), true, true) => r,
                _ => {
                    return Err(AadError::new(
                        "invalid_scope",
                        1002012,
                        format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                    ))
                }
            };
            let roles: Vec<String> = client
                .reg
                .granted_roles
                .iter()
                .filter_map(|g| g.rsplit_once('/'))
                .filter(|(res, _)| resource.is_resource(res))
                .map(|(_, role)| role.to_string())
                .collect();
            let life = idp.cfg.token_lifetime_secs;
            let mut claims = json!({
                "aud": resource.reg.client_id, "iss": issuer, "iat": now, "nbf": now, "exp": now + life as i64,
                "azp": client.reg.client_id, "azpacr": authn.to_string(), "idtyp": "app",
                "oid": pairwise(&client.reg.client_id, "service-principal"), "rh": "0.kinetic",
                "sub": pairwise(&client.reg.client_id, "service-principal"), "tid": idp.cfg.tenant,
                "uti": random_token(16), "ver": "2.0",
            });
            if !roles.is_empty() {
                claims["roles"] = json!(roles);
            }
            Ok(
                json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": mint.sign(&claims)}),
            )
        }
        JWT_BEARER | TOKEN_EXCHANGE => {
            let exchange = grant_type == TOKEN_EXCHANGE;
            if authn == 0 {
                return Err(AadError::invalid_client(
                    7000218,
                    "On-behalf-of needs a confidential client: send client_secret or client_assertion.",
                ));
            }
            let assertion = if exchange {
                let t = form.require("subject_token_type")?;
                if t != ACCESS_TOKEN_TYPE && t != "urn:ietf:params:oauth:token-type:jwt" {
                    return Err(AadError::invalid_request(
                        9002340,
                        format!(
                            "subject_token_type '{t}' is not supported; use {ACCESS_TOKEN_TYPE}."
                        ),
                    ));
                }
                form.require("subject_token")?
            } else {
                if form.get("requested_token_use") != Some("on_behalf_of") {
                    return Err(AadError::invalid_request(
                        900144,
                        "The request body must contain the following parameter: 'requested_token_use' (on_behalf_of).",
                    ));
                }
                form.require("assertion")?
            };
            let claims = ready
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .verify(assertion, &issuer)
                .map_err(|e| {
                    AadError::invalid_grant(
                        50013,
                        format!("Assertion failed signature validation: {e}."),
                    )
                })?;
            if claims
                .get("uti")
                .and_then(Value::as_str)
                .is_some_and(|u| idp.is_revoked(u))
            {
                return Err(AadError::invalid_grant(
                    50013,
                    "The assertion was revoked (its authorization code was used twice).",
                ));
            }
            let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
            if !client.is_resource(aud) {
                return Err(AadError::invalid_grant(
                    50013,
                    format!("Assertion audience '{aud}' does not match the Client app presenting the assertion '{}'.", client.reg.client_id),
                ));
            }
            if claims
                .get("exp")
                .and_then(Value::as_i64)
                .is_none_or(|e| e <= now)
            {
                return Err(AadError::invalid_grant(
                    500133,
                    "Assertion is not within its valid time range: the incoming token has expired.",
                ));
            }
            if claims.get("scp").and_then(Value::as_str).is_none() {
                return Err(AadError::invalid_grant(50013, "The assertion is not a user token (it has no scp): on-behalf-of needs a token of a signed-in user."));
            }
            let oid = claims.get("oid").and_then(Value::as_str).unwrap_or("");
            let user = user_by_oid(ready, oid).ok_or_else(|| {
                AadError::invalid_grant(
                    50034,
                    format!("The user {oid} of the assertion does not exist."),
                )
            })?;
            let scope_text = match (
                form.get("scope"),
                form.get("audience").or(form.get("resource")),
            ) {
                (Some(s), _) => s.to_string(),
                (None, Some(a)) if exchange => format!("{a}/.default"),
                _ => return Err(AadError::missing("scope")),
            };
            let (scopes, granted) = delegated(idp, ready, user, client, &scope_text)?;
            // The second factor travels with the sign-in: the assertion's `amr` says whether the
            // user passed one.
            let mfa = claims
                .get("amr")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|m| m.as_str() == Some("mfa")));
            require_mfa(idp, user, &scopes, mfa)?;
            let requested: Vec<String> =
                scope_text.split_whitespace().map(str::to_string).collect();
            let extras = Extras {
                nonce: None,
                family: None,
                client_info,
                mfa,
            };
            let (mut out, _) = mint.user_response(user, &scopes, &granted, extras, &requested);
            idp.count_on_behalf_of(&user.object_id);
            if exchange {
                out["issued_token_type"] = json!(ACCESS_TOKEN_TYPE);
            }
            Ok(out)
        }
        DEVICE_CODE | "device_code" => {
            let code = form.require("device_code")?;
            let grant = {
                let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
                let g = store
                    .devices
                    .get_mut(now, &code.to_string())
                    .ok_or_else(|| {
                        AadError::invalid_grant(
                        70000,
                        "The provided value for the input parameter 'device_code' is not valid.",
                    )
                    })?;
                if !g.client_id.eq_ignore_ascii_case(&client.reg.client_id) {
                    return Err(AadError::invalid_grant(
                        70000,
                        "The device code was issued to another client.",
                    ));
                }
                if now > g.expires {
                    return Err(AadError::new(
                        "expired_token",
                        70020,
                        "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
                    ));
                }
                let too_fast = g.last_poll.is_some_and(|t| now - t < g.interval);
                g.last_poll = Some(now);
                match &g.state {
                    DeviceState::Pending if too_fast => {
                        g.interval += 5;
                        return Err(AadError::new(
                            "slow_down",
                            70016,
                            format!("OAuth 2.0 device flow error. Polling too fast: wait at least {} seconds between requests.", g.interval),
                        ));
                    }
                    DeviceState::Pending => return Err(AadError::new(
                        "authorization_pending",
                        70016,
                        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                    )),
                    DeviceState::Declined => {
                        return Err(AadError::new(
                            "access_denied",
                            65004,
                            "The user declined to authorize the device.",
                        ))
                    }
                    DeviceState::Redeemed => {
                        return Err(AadError::invalid_grant(
                            54005,
                            "The device code was already redeemed.",
                        ))
                    }
                    DeviceState::Approved { .. } => {}
                }
                let granted = g.clone();
                g.state = DeviceState::Redeemed;
                granted
            };
            let DeviceState::Approved { user: upn, mfa } = &grant.state else {
                return Err(AadError::server("device grant in an unexpected state"));
            };
            let user = user(ready, upn)?;
            let scope_text = grant.scopes.join(" ");
            let (scopes, granted) = delegated(idp, ready, user, client, &scope_text)?;
            require_mfa(idp, user, &scopes, *mfa)?;
            Ok(mint
                .user_response(
                    user,
                    &scopes,
                    &granted,
                    Extras {
                        nonce: None,
                        family: None,
                        client_info,
                        mfa: *mfa,
                    },
                    &grant.scopes,
                )
                .0)
        }
        other => Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    };
    if issued.is_ok() {
        idp.count_grant(&grant_type, authn);
    }
    issued
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn devicecode(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return AadError::invalid_request(90015, "The device code request is too large.")
            .into_response();
    };
    if let Some(i) = &state.idp {
        if let Err(e) = i.prepared().await {
            return e.into_response();
        }
    }
    let result = (|| -> Result<Value, AadError> {
        let idp = idp(&state)?;
        check_tenant(idp, &tenant)?;
        let ready = idp.ready()?;
        let form = Form::parse(&body);
        form.refuse_duplicates()?;
        let client = app(ready, form.require("client_id")?)?;
        let scope = form.require("scope")?;
        if scope.len() > 2048 {
            return Err(AadError::invalid_request(
                90015,
                "The parameter 'scope' is too long (at most 2048 bytes).",
            ));
        }
        resolve_scopes(ready, scope)?;
        let now = idp.clock.now_secs();
        let device_code = random_token(48);
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let user_code: String = (0..9)
            .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
            .collect();
        let verification_uri = format!(
            "{}/{}/oauth2/v2.0/devicelogin",
            idp.public_base(),
            idp.cfg.tenant
        );
        let expires_in = 900;
        let grant = DeviceGrant {
            client_id: client.reg.client_id.clone(),
            user_code: user_code.clone(),
            scopes: scope.split_whitespace().map(str::to_string).collect(),
            expires: now + expires_in,
            interval: idp.cfg.device_interval_secs as i64,
            last_poll: None,
            state: DeviceState::Pending,
        };
        let weight =
            device_code.len() + user_code.len() + client.reg.client_id.len() + scope.len() + 128;
        // Remembered past its expiry, to answer "expired" rather than "unknown".
        let until = now + expires_in + REMEMBER_SPENT;
        let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .devices
            .insert(now, device_code.clone(), grant, until, weight);
        store.user_codes.insert(
            now,
            user_code.clone(),
            device_code.clone(),
            now + expires_in,
            user_code.len() + device_code.len() + 32,
        );
        Ok(json!({
            "user_code": user_code, "device_code": device_code, "verification_uri": verification_uri,
            "expires_in": expires_in, "interval": idp.cfg.device_interval_secs,
            "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
        }))
    })();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Issues an authorization code (after sign-in and consent).
pub fn issue_code(idp: &Idp, code: AuthCode) -> String {
    let value = format!("1.{}", random_token(64));
    let now = idp.clock.now_secs();
    let weight = value.len()
        + code.client_id.len()
        + code.redirect_uri.len()
        + code.code_challenge.as_ref().map_or(0, String::len)
        + code.user.len()
        + code.scopes.iter().map(|s| s.len() + 8).sum::<usize>()
        + code.nonce.as_ref().map_or(0, String::len)
        + 128;
    // Remembered past its expiry, to answer "already redeemed" rather than "unknown".
    let until = code.expires + REMEMBER_SPENT;
    idp.store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .codes
        .insert(now, value.clone(), code, until, weight);
    value
}

/// Revokes what one grant issued: its refresh-token family and its access token.
fn revoke(idp: &Idp, store: &mut super::Store, issued: &Issued) {
    let now = idp.clock.now_secs();
    if let Some(f) = &issued.family {
        let until = now + idp.cfg.refresh_token_lifetime_secs as i64;
        store
            .revoked_families
            .insert(now, f.clone(), (), until, f.len() + 32);
    }
    if let Some(u) = &issued.access_uti {
        let until = now + idp.cfg.token_lifetime_secs as i64 + 600;
        store
            .revoked_tokens
            .insert(now, u.clone(), (), until, u.len() + 32);
    }
}
