//! Server-side authentication, as Epicor does it: Basic on every call, Epicor's token service
//! (HS256 JWTs), API keys on v2 routes, bearer tokens from trusted OpenID Connect / Azure AD issuers,
//! and licence seats with sessions ([`license`]).

pub mod apikey;
pub mod license;
pub mod oidc;

use crate::api_error::{kind, ApiError};
use crate::clock::{parse_rfc3339, Clock};
use crate::config::{EmulatorConfig, UserConfig};
use crate::expiring::{Bounds, ExpiringMap};
use crate::throttle::{self, ClientAddr, Refusal, Throttle};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An Epicor user as the server knows it: the password only as an Argon2 hash.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub password_hash: String,
    pub default_company: Option<String>,
    /// The companies the user may use; empty: every company.
    pub companies: Vec<String>,
    pub disabled: bool,
    pub password_expires: Option<i64>,
    pub external_ids: Vec<String>,
    pub admin: bool,
}

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Basic,
    EpicorToken,
    /// A bearer token from a trusted issuer (its configured name).
    Bearer(String),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: String,
    pub default_company: Option<String>,
    /// The companies the user may use; empty: every company.
    pub companies: Vec<String>,
    pub via: Via,
    /// An administrator of the emulator (`admin = true` on the user).
    pub admin: bool,
}

/// Refuses a caller who is not an administrator (403).
pub fn require_admin(p: &Principal) -> Result<(), ApiError> {
    if p.admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            kind::UNAUTHORIZED,
            format!(
                "User {} is not an administrator of this server; admin routes need a user with admin = true in the emulator's configuration",
                p.user
            ),
        ))
    }
}

/// Claims of the tokens `TokenResource.svc` issues. Real servers write `exp` and `iat` as JSON
/// strings (`"exp":"1759275961"`) and no `jti`; the tidy shapes have numbers and a `jti`.
#[derive(Debug, Serialize)]
pub struct EpicorClaims {
    pub iss: String,
    pub aud: String,
    pub username: String,
    pub iat: serde_json::Value,
    pub exp: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// What verification reads from a `TokenResource.svc` token. `exp` is parsed here, from a string
/// or a number: jsonwebtoken only reads numbers, and a string `exp` is what real servers issue.
#[derive(Debug, Deserialize)]
struct ReceivedClaims {
    username: String,
    exp: Option<serde_json::Value>,
}

/// A NumericDate given as a JSON number or a string of digits.
fn numeric_date(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Everything authentication needs, built once at start.
pub struct Authenticator {
    users: HashMap<String, User>,
    token_key: Vec<u8>,
    pub token_lifetime_secs: u64,
    /// Issue tokens in the tidy shape (numeric `exp`/`iat`, a `jti`).
    tidy_tokens: bool,
    pub clock: Arc<dyn Clock>,
    pub api_keys: apikey::ApiKeys,
    pub issuers: oidc::Issuers,
    /// Successful password checks, by a salted digest of user and password, so that Basic auth on every
    /// call does not pay Argon2 every time. Failures are never cached.
    verified: Mutex<ExpiringMap<[u8; 32], ()>>,
    cache_salt: [u8; 16],
    /// Failed sign-ins per user and address (shared with the identity provider).
    pub throttle: Arc<Throttle>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("token_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// How long a verified password is remembered.
const VERIFIED_TTL_SECS: i64 = 300;

/// The `WWW-Authenticate` challenge on every 401.
pub fn challenge() -> (header::HeaderName, HeaderValue) {
    (
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Epicor Kinetic\", Bearer"),
    )
}

/// A 401 in Epicor's shape with the challenge.
pub fn unauthorized(message: impl Into<String>) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNAUTHORIZED, kind::UNAUTHORIZED, message);
    e.headers.push(challenge());
    e
}

impl Authenticator {
    pub fn new(
        config: &EmulatorConfig,
        clock: Arc<dyn Clock>,
        idp: Option<Arc<dyn oidc::LocalIssuer>>,
        throttle: Arc<Throttle>,
    ) -> Result<Authenticator, String> {
        let mut users = HashMap::new();
        for u in &config.users {
            users.insert(u.id.to_ascii_lowercase(), user_from_config(u)?);
        }
        let token_key = match &config.token_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        Ok(Authenticator {
            users,
            token_key,
            token_lifetime_secs: config.token_lifetime_secs,
            tidy_tokens: config.tidy,
            api_keys: apikey::ApiKeys::new(&config.api_keys),
            issuers: oidc::Issuers::new(&config.trusted_issuers, idp)?,
            clock,
            verified: Mutex::new(ExpiringMap::new(Bounds {
                max_entries: 10_000,
                max_bytes: 1 << 20,
            })),
            cache_salt: rand::random(),
            throttle,
        })
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(&id.to_ascii_lowercase())
    }

    /// The user an external identity (UPN, e-mail, object id) maps to.
    pub fn user_by_external_id(&self, value: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.external_ids.iter().any(|x| x.eq_ignore_ascii_case(value)))
    }

    /// Checks a user id and password: unknown user and wrong password answer alike (no user
    /// enumeration, the same hashing time); a disabled account and an expired password have their
    /// own messages. Argon2 runs on the blocking pool in a bounded number of slots, and repeated
    /// failures of a user or an address are answered 429 with `Retry-After` before any hashing.
    pub async fn check_password(
        &self,
        user: &str,
        password: &str,
        addr: ClientAddr,
    ) -> Result<Principal, ApiError> {
        let bad = || unauthorized("Invalid user name or password; check User and Password");
        if user.len() > 256 || password.len() > 1024 {
            return Err(bad());
        }
        let known = self.user(user);
        let now = self.clock.now_secs();
        let digest: [u8; 32] = Sha256::new()
            .chain_update(self.cache_salt)
            .chain_update(user.to_ascii_lowercase().as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        let cached = known.is_some()
            && self
                .verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(now, &digest)
                .is_some();
        if !cached {
            if let Err(Refusal::Throttled { retry_after }) = self.throttle.check(user, addr) {
                return Err(too_many_failures(retry_after));
            }
            let ok = throttle::verify_password(
                known.map(|u| u.password_hash.clone()),
                password.to_string(),
            )
            .await
            .map_err(|_| busy())?;
            if !ok || known.is_none() {
                self.throttle.failed(user, addr);
                return Err(bad());
            }
            self.throttle.succeeded(user);
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(now, digest, (), now + VERIFIED_TTL_SECS, 64);
        }
        let u = known.ok_or_else(bad)?;
        let principal = self.principal_for(u, Via::Basic)?;
        if u.password_expires.is_some_and(|t| t <= now) {
            return Err(unauthorized(format!(
                "The password of {} has expired; change it in Epicor before connecting",
                u.id
            )));
        }
        Ok(principal)
    }

    /// Checks that a mapped user may sign in (enabled).
    pub fn principal_for(&self, u: &User, via: Via) -> Result<Principal, ApiError> {
        if u.disabled {
            return Err(unauthorized(format!(
                "User account {} is disabled; ask an administrator to enable it",
                u.id
            )));
        }
        Ok(Principal {
            user: u.id.clone(),
            default_company: u.default_company.clone(),
            companies: u.companies.clone(),
            via,
            admin: u.admin,
        })
    }

    /// Issues a `TokenResource.svc` token for a checked user.
    pub fn issue_token(&self, p: &Principal) -> (String, u64) {
        let now = self.clock.now_secs();
        let exp = now + self.token_lifetime_secs as i64;
        let claims = if self.tidy_tokens {
            EpicorClaims {
                iss: "epicor".into(),
                aud: "epicor".into(),
                username: p.user.clone(),
                iat: now.into(),
                exp: exp.into(),
                jti: Some(uuid::Uuid::new_v4().to_string()),
            }
        } else {
            EpicorClaims {
                iss: "epicor".into(),
                aud: "epicor".into(),
                username: p.user.clone(),
                iat: now.to_string().into(),
                exp: exp.to_string().into(),
                jti: None,
            }
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.token_key),
        )
        .expect("HS256 signing cannot fail");
        (token, self.token_lifetime_secs)
    }

    /// Verifies a `TokenResource.svc` token (HS256, our key, not expired).
    fn check_epicor_token(&self, token: &str) -> Result<Principal, ApiError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&["epicor"]);
        v.set_issuer(&["epicor"]);
        // Expiry is checked below against the injected clock, and exp is required there: the
        // library would refuse the string exp real servers issue as a malformed claim.
        v.validate_exp = false;
        v.set_required_spec_claims(&["aud", "iss"]);
        let data = jsonwebtoken::decode::<ReceivedClaims>(
            token,
            &DecodingKey::from_secret(&self.token_key),
            &v,
        )
        .map_err(|e| {
            unauthorized(format!(
                "The Epicor token is not valid ({e}); get a new one from TokenResource.svc"
            ))
        })?;
        let now = self.clock.now_secs();
        let exp = data
            .claims
            .exp
            .as_ref()
            .and_then(numeric_date)
            .ok_or_else(|| {
                unauthorized(
                "The Epicor token has no valid exp claim (seconds since 1970, as a number or a \
                 string); get a new one from TokenResource.svc",
            )
            })?;
        if exp <= now {
            return Err(unauthorized(format!(
                "The Epicor token has expired ({} s ago); get a new one from TokenResource.svc",
                now - exp
            )));
        }
        let u = self
            .user(&data.claims.username)
            .ok_or_else(|| unauthorized("The Epicor token names a user that no longer exists"))?;
        self.principal_for(u, Via::EpicorToken)
    }

    /// Authenticates a REST call from its `Authorization` header.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        addr: ClientAddr,
    ) -> Result<Principal, ApiError> {
        let Some(auth) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "Authentication is required: send Basic credentials (User/Password) or a Bearer token",
            ));
        };
        let auth = auth
            .to_str()
            .map_err(|_| unauthorized("The Authorization header is not text"))?;
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let (user, password) = decode_basic(rest.trim())?;
            return self.check_password(&user, &password, addr).await;
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = rest.trim();
            return match oidc::unverified_issuer(token) {
                Some(iss) if iss == "epicor" => self.check_epicor_token(token),
                _ => self.issuers.verify(token, self).await,
            };
        }
        Err(unauthorized(format!(
            "Authorization scheme `{scheme}` is not supported; use Basic or Bearer"
        )))
    }
}

/// Decodes `base64(user:password)`.
pub fn decode_basic(b64: &str) -> Result<(String, String), ApiError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| unauthorized("The Basic credentials are not valid base64"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| unauthorized("The Basic credentials are not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| unauthorized("The Basic credentials must be user:password"))?;
    Ok((u.to_string(), p.to_string()))
}

fn user_from_config(u: &UserConfig) -> Result<User, String> {
    let password_hash = match &u.password_hash {
        Some(h) => {
            crate::password::check_phc(h)
                .map_err(|e| format!("user `{}`: password_hash is not a PHC string: {e}", u.id))?;
            h.clone()
        }
        None => crate::password::hash_password(&u.password),
    };
    Ok(User {
        id: u.id.clone(),
        name: u.name.clone(),
        password_hash,
        // The configured default, else the first company the user may use.
        default_company: u
            .default_company
            .clone()
            .or_else(|| u.companies.first().cloned()),
        companies: u.companies.clone(),
        disabled: u.disabled,
        password_expires: u.password_expires.as_deref().and_then(parse_rfc3339),
        external_ids: u.external_ids.clone(),
        admin: u.admin,
    })
}

/// 429 with `Retry-After`: too many failed sign-ins.
pub fn too_many_failures(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        kind::UNAUTHORIZED,
        format!("Too many failed sign-ins for this user or from this address; wait {retry_after} s and try again"),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        e.headers.push((header::RETRY_AFTER, v));
    }
    e
}

/// 503: every password-hashing slot stayed busy.
fn busy() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        kind::SERVER,
        "The server is busy checking passwords; try again in a few seconds",
    );
    e.headers
        .push((header::RETRY_AFTER, HeaderValue::from_static("2")));
    e
}
