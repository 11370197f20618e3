//! Bearer tokens from trusted OpenID Connect issuers (Azure AD / Entra ID, or any provider): signature
//! by a key from the issuer's JWKS, `iss`, `aud` and `exp` required, `nbf` with a small skew, the
//! algorithm (never `none`, never HMAC), the required scope or role, then the Epicor user through the
//! external-identity mapping (by the immutable `oid` unless configured otherwise).
//!
//! The JWKS is cached and refreshed on a schedule; it is fetched outside the cache's lock (tokens
//! with a known key never wait for a fetch), one fetch at a time per issuer, a failed fetch is
//! remembered briefly (a flood of tokens cannot make us hammer a failing issuer), and an unknown
//! `kid` fetches again at most once per `REFETCH_AFTER`.

use super::{unauthorized, Authenticator, Principal, Via};
use crate::api_error::{kind, ApiError};
use crate::config::TrustedIssuer;
use crate::encoding::b64url_decode;
use axum::http::StatusCode;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The emulator's own identity provider as the bearer check sees it: who it is, its signing keys,
/// and the tokens it revoked. `idp::Idp` implements it, so auth never imports the provider.
pub trait LocalIssuer: Send + Sync {
    /// The tenant: its tokens' `iss` ends in `/{tenant}/v2.0`.
    fn tenant(&self) -> &str;
    /// The app registration of the REST API (the tokens' audience).
    fn rest_api_app(&self) -> &str;
    /// The Epicor user app-only tokens act as.
    fn app_user(&self) -> &str;
    /// The `iss` its tokens carry now (`{public_base}/{tenant}/v2.0`).
    fn issuer(&self) -> String;
    /// Whether an access token (by its `uti`) was revoked.
    fn is_revoked(&self, uti: &str) -> bool;
    /// The current signing keys as a JWKS (made off the async workers the first time), or why not.
    fn signing_keys(
        self: Arc<Self>,
    ) -> futures_util::future::BoxFuture<'static, Result<Value, String>>;
}

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const SKEW_SECS: i64 = 60;
/// An unknown `kid` fetches the keys again at most this often (a flood of bad tokens cannot hammer the
/// issuer).
const REFETCH_AFTER: Duration = Duration::from_secs(10);
/// Keys are fetched again after this long, so a rotation is seen even without an unknown `kid`.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// A failed fetch is answered from memory this long before trying again.
const FAILURE_TTL: Duration = Duration::from_secs(5);
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

struct Issuer {
    cfg: TrustedIssuer,
    /// Accepted `iss` values (a tenant accepts its v2 and v1 forms).
    iss: Vec<String>,
    client: reqwest::Client,
    /// The cached keys: held only to read or store, never across a fetch.
    keys: std::sync::Mutex<Keys>,
    /// One fetch at a time; waiters then use what it stored.
    fetching: tokio::sync::Mutex<()>,
    /// The emulator's own identity provider: keys read in process, any `iss` ending in
    /// `/{tenant}/v2.0` (its signature is what proves it is ours).
    local: Option<Arc<dyn LocalIssuer>>,
}

impl Issuer {
    fn accepts(&self, iss: &str) -> bool {
        match &self.local {
            Some(idp) => iss == idp.issuer(),
            None => self.iss.iter().any(|i| i == iss),
        }
    }
}

#[derive(Default)]
struct Keys {
    set: Option<std::sync::Arc<JwkSet>>,
    /// When `set` was fetched.
    fetched: Option<Instant>,
    /// The last failed fetch and why.
    failed: Option<(Instant, String)>,
    /// When an unknown `kid` last made us fetch again.
    refetched: Option<Instant>,
}

/// The trusted issuers.
pub struct Issuers {
    list: Vec<Issuer>,
}

/// The `iss` of a JWT, read without verification, to choose who must verify it.
pub fn unverified_issuer(token: &str) -> Option<String> {
    unverified_text(token, 1, "iss")
}

fn unverified_alg(token: &str) -> Option<String> {
    unverified_text(token, 0, "alg")
}

/// A text member of a JWT's header (`segment` 0) or payload (1), read without verification.
fn unverified_text(token: &str, segment: usize, name: &str) -> Option<String> {
    let part = token.split('.').nth(segment)?;
    let bytes = b64url_decode(part.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get(name)?.as_str().map(str::to_string)
}

fn forbidden(message: String) -> ApiError {
    let mut e = ApiError::new(StatusCode::FORBIDDEN, kind::UNAUTHORIZED, message);
    e.headers.push(super::challenge());
    e
}

impl Issuers {
    pub fn new(
        config: &[TrustedIssuer],
        local: Option<Arc<dyn LocalIssuer>>,
    ) -> Result<Issuers, String> {
        let mut list = Vec::new();
        if let Some(idp) = local {
            let app = idp.rest_api_app().to_string();
            let cfg = TrustedIssuer {
                name: "kinetic emulator identity provider".into(),
                issuer: Some(format!("/{}/v2.0", idp.tenant())),
                audiences: vec![app.clone(), format!("api://{app}")],
                required_scopes: vec!["user_impersonation".into()],
                required_roles: vec!["Epicor.Integration".into()],
                app_user: Some(idp.app_user().to_string()),
                ..TrustedIssuer::default()
            };
            list.push(Issuer {
                cfg,
                iss: Vec::new(),
                client: reqwest::Client::new(),
                keys: std::sync::Mutex::new(Keys::default()),
                fetching: tokio::sync::Mutex::new(()),
                local: Some(idp),
            });
        }
        for cfg in config {
            let iss = match (&cfg.issuer, &cfg.tenant) {
                (Some(i), _) => vec![i.clone()],
                (None, Some(t)) => {
                    let authority = cfg
                        .authority
                        .as_deref()
                        .unwrap_or(DEFAULT_AUTHORITY)
                        .trim_end_matches('/');
                    vec![
                        format!("{authority}/{t}/v2.0"),
                        format!("https://sts.windows.net/{t}/"),
                    ]
                }
                (None, None) => {
                    return Err(format!(
                        "trusted issuer `{}` needs issuer or tenant",
                        cfg.name
                    ))
                }
            };
            let mut builder = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none());
            if let Some(path) = &cfg.ca_cert {
                let pem = std::fs::read(path).map_err(|e| {
                    format!(
                        "trusted issuer `{}`: cannot read ca_cert {}: {e}",
                        cfg.name,
                        path.display()
                    )
                })?;
                let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                    format!(
                        "trusted issuer `{}`: ca_cert {} is not PEM: {e}",
                        cfg.name,
                        path.display()
                    )
                })?;
                builder = builder.add_root_certificate(cert);
            }
            let client = builder
                .build()
                .map_err(|e| format!("trusted issuer `{}`: HTTP client: {e}", cfg.name))?;
            list.push(Issuer {
                cfg: cfg.clone(),
                iss,
                client,
                keys: std::sync::Mutex::new(Keys::default()),
                fetching: tokio::sync::Mutex::new(()),
                local: None,
            });
        }
        Ok(Issuers { list })
    }

    /// Verifies a bearer token from a trusted issuer and maps it to an Epicor user.
    pub async fn verify(&self, token: &str, auth: &Authenticator) -> Result<Principal, ApiError> {
        let alg = unverified_alg(token).ok_or_else(|| {
            unauthorized("The bearer token is not a JWT (header.payload.signature)")
        })?;
        if alg.eq_ignore_ascii_case("none") {
            return Err(unauthorized("Unsigned tokens (alg none) are not accepted"));
        }
        if alg.to_ascii_uppercase().starts_with("HS") {
            return Err(unauthorized(format!(
                "HMAC-signed tokens ({alg}) are not accepted from an OpenID issuer; its tokens must be signed with its published keys"
            )));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| unauthorized(format!("The bearer token's header is not valid: {e}")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(unauthorized(format!(
                "Tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let iss = unverified_issuer(token)
            .ok_or_else(|| unauthorized("The bearer token has no issuer (iss)"))?;
        let issuer = self.list.iter().find(|i| i.accepts(&iss)).ok_or_else(|| {
            unauthorized(format!(
                "Tokens from issuer {iss} are not trusted by this server; add it under [[trusted_issuers]]"
            ))
        })?;
        let kid = header
            .kid
            .clone()
            .ok_or_else(|| unauthorized("The bearer token names no signing key (kid)"))?;
        let key = issuer.key(&kid).await?;
        let mut v = Validation::new(header.alg);
        v.set_audience(&issuer.cfg.audiences);
        // The local provider's iss was matched above; a remote one's is checked here too.
        v.set_issuer(&[iss.as_str()]);
        // Time is checked below against the injected clock; the claims must be there all the same.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_required_spec_claims(&["exp", "aud", "iss"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            unauthorized(match e.kind() {
                K::InvalidSignature => "The bearer token's signature does not verify".to_string(),
                K::InvalidAudience => format!(
                    "The bearer token's audience is not this server; expected one of: {}",
                    issuer.cfg.audiences.join(", ")
                ),
                K::InvalidIssuer => format!(
                    "The bearer token's issuer is not {}",
                    issuer.iss.join(" or ")
                ),
                K::InvalidAlgorithm => {
                    "The bearer token's algorithm does not match its key".to_string()
                }
                K::MissingRequiredClaim(c) => {
                    format!("The bearer token has no {c} claim; iss, aud and exp are required")
                }
                _ => format!("The bearer token is not valid: {e}"),
            })
        })?;
        let claims = data.claims;
        let now = auth.clock.now_secs();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| unauthorized("The bearer token has no expiry (exp)"))?;
        if exp + SKEW_SECS <= now {
            return Err(unauthorized(format!(
                "The bearer token has expired ({} s ago); get a new one",
                now - exp
            )));
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) {
            if nbf - SKEW_SECS > now {
                return Err(unauthorized(format!(
                    "The bearer token is not valid yet (nbf is {} s ahead)",
                    nbf - now
                )));
            }
        }
        if let Some(idp) = &issuer.local {
            // Tokens whose authorization code was replayed are revoked.
            if claims
                .get("uti")
                .and_then(Value::as_str)
                .is_some_and(|u| idp.is_revoked(u))
            {
                return Err(unauthorized(
                    "The bearer token was revoked (its authorization code was used twice); sign in again",
                ));
            }
        }
        let via = Via::Bearer(issuer.cfg.name.clone());
        let scopes: Vec<&str> = claims
            .get("scp")
            .and_then(Value::as_str)
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        let roles: Vec<&str> = claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !scopes.is_empty() {
            let required = &issuer.cfg.required_scopes;
            if !required.is_empty() && !required.iter().any(|r| scopes.contains(&r.as_str())) {
                return Err(forbidden(format!(
                    "The bearer token lacks the scope {} (it has: {})",
                    required.join(" or "),
                    scopes.join(" ")
                )));
            }
            // By default only the immutable object id maps a user: `preferred_username`, `upn` and
            // `email` can change hands (a renamed account, a guest), so they map only when configured.
            let names = if issuer.cfg.user_claims.is_empty() {
                vec!["oid".to_string()]
            } else {
                issuer.cfg.user_claims.clone()
            };
            let mut tried = Vec::new();
            for name in &names {
                if let Some(value) = claims.get(name).and_then(Value::as_str) {
                    if let Some(u) = auth.user_by_external_id(value) {
                        return auth.principal_for(u, via);
                    }
                    tried.push(format!("{name} '{value}'"));
                }
            }
            return Err(unauthorized(if tried.is_empty() {
                format!(
                    "The bearer token carries none of the claims {} that map to an Epicor user",
                    names.join(", ")
                )
            } else {
                format!(
                    "No Epicor user is mapped to {}; add it to a user's external_ids (or set user_claims for this issuer)",
                    tried.join(" or ")
                )
            }));
        }
        if !roles.is_empty() {
            let required = &issuer.cfg.required_roles;
            if !required.is_empty() && !required.iter().any(|r| roles.contains(&r.as_str())) {
                return Err(forbidden(format!(
                    "The bearer token lacks the role {} (it has: {})",
                    required.join(" or "),
                    roles.join(" ")
                )));
            }
            let Some(app_user) = &issuer.cfg.app_user else {
                return Err(unauthorized(format!(
                    "App-only tokens from {} act as no Epicor user; set app_user for this issuer",
                    issuer.cfg.name
                )));
            };
            let u = auth.user(app_user).ok_or_else(|| {
                unauthorized(format!(
                    "app_user {app_user} is not an Epicor user of this server"
                ))
            })?;
            return auth.principal_for(u, via);
        }
        Err(forbidden(
            "The bearer token carries neither delegated scopes (scp) nor application roles (roles)"
                .into(),
        ))
    }
}

impl Issuer {
    /// The decoding key for `kid`, fetching the JWKS when it is not cached, is stale, or does not
    /// know the kid (at most once per `REFETCH_AFTER` for unknown kids).
    async fn key(&self, kid: &str) -> Result<DecodingKey, ApiError> {
        if let Some(idp) = &self.local {
            // In process: read the provider's current keys every time (rotation shows at once).
            let v = idp
                .clone()
                .signing_keys()
                .await
                .map_err(ApiError::internal)?;
            let set: JwkSet = serde_json::from_value(v)
                .map_err(|e| ApiError::internal(format!("own JWKS: {e}")))?;
            return self.decoding_key(set.find(kid).cloned(), kid);
        }
        let started = Instant::now();
        if let Some(found) = self.cached(kid)? {
            return self.decoding_key(Some(found), kid);
        }
        let _one_fetch = self.fetching.lock().await;
        // Another task may have fetched while we waited: use what it stored.
        let fetched_meanwhile = self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fetched
            .is_some_and(|t| t >= started);
        if fetched_meanwhile {
            let found = self.cached(kid)?;
            return self.decoding_key(found, kid);
        }
        {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = keys.fetched.is_some_and(|t| t.elapsed() < KEYS_TTL);
            if fresh {
                // The set is fresh and does not know the kid: refetch only now and then.
                if keys.refetched.is_some_and(|t| t.elapsed() < REFETCH_AFTER) {
                    return Err(self.unknown_kid(kid));
                }
                keys.refetched = Some(Instant::now());
            }
        }
        match self.fetch().await {
            Ok(set) => {
                let set = std::sync::Arc::new(set);
                let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
                keys.set = Some(set.clone());
                keys.fetched = Some(Instant::now());
                keys.failed = None;
                drop(keys);
                self.decoding_key(set.find(kid).cloned(), kid)
            }
            Err(e) => {
                let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
                keys.failed = Some((Instant::now(), e.message.clone()));
                // A stale set still serves the keys it knows while the issuer is failing.
                let stale = keys.set.as_ref().and_then(|s| s.find(kid).cloned());
                drop(keys);
                match stale {
                    Some(jwk) => self.decoding_key(Some(jwk), kid),
                    None => Err(e),
                }
            }
        }
    }

    /// The cached key for `kid` when the set is fresh, or the remembered failure; `None` when a
    /// fetch is needed.
    fn cached(&self, kid: &str) -> Result<Option<jsonwebtoken::jwk::Jwk>, ApiError> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let found = keys.set.as_ref().and_then(|s| s.find(kid).cloned());
        let fresh = keys.fetched.is_some_and(|t| t.elapsed() < KEYS_TTL);
        if let (Some(jwk), true) = (&found, fresh) {
            return Ok(Some(jwk.clone()));
        }
        if let Some((when, why)) = &keys.failed {
            if when.elapsed() < FAILURE_TTL {
                return match found {
                    Some(jwk) => Ok(Some(jwk)),
                    None => Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        kind::SERVER,
                        why.clone(),
                    )),
                };
            }
        }
        Ok(None)
    }

    fn unknown_kid(&self, kid: &str) -> ApiError {
        unauthorized(format!(
            "The bearer token is signed with key {kid}, which {} does not publish",
            self.cfg.name
        ))
    }

    fn decoding_key(
        &self,
        jwk: Option<jsonwebtoken::jwk::Jwk>,
        kid: &str,
    ) -> Result<DecodingKey, ApiError> {
        let jwk = jwk.ok_or_else(|| self.unknown_kid(kid))?;
        DecodingKey::from_jwk(&jwk)
            .map_err(|e| unauthorized(format!("Signing key {kid} cannot be used: {e}")))
    }

    async fn fetch(&self) -> Result<JwkSet, ApiError> {
        let fail = |what: String| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                kind::SERVER,
                format!("Cannot fetch the signing keys of {}: {what}", self.cfg.name),
            )
        };
        let jwks_uri = match (&self.cfg.jwks_uri, &self.cfg.discovery_url) {
            (Some(u), _) => u.clone(),
            (None, discovery) => {
                let url = match discovery {
                    Some(d) => d.clone(),
                    None => format!(
                        "{}/.well-known/openid-configuration",
                        self.iss[0].trim_end_matches('/')
                    ),
                };
                let doc: Value = self.get_json(&url).await.map_err(fail)?;
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail(format!("{url} has no jwks_uri")))?
                    .to_string()
            }
        };
        let v = self.get_json(&jwks_uri).await.map_err(fail)?;
        serde_json::from_value(v).map_err(|e| fail(format!("{jwks_uri} is not a JWKS: {e}")))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let r = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{url} answered {}", r.status()));
        }
        r.json().await.map_err(|e| format!("{url}: {e}"))
    }
}
