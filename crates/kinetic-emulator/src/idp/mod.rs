//! An identity provider that speaks Microsoft Entra ID (Azure AD) v2: discovery, authorize (HTML sign-in
//! and consent), token (authorization code + PKCE, refresh with rotation, client credentials with a
//! secret or a certificate assertion, on-behalf-of, RFC 8693 token exchange, device code), devicecode,
//! JWKS and logout, under `/{tenant}/...`, with Entra's token shapes and AADSTS error codes.

mod authorize;
mod errors;
mod grants;
mod keys;

pub use errors::AadError;
pub use keys::rsa_certificate;

use crate::clock::Clock;
use crate::config::{AppRegistration, IdpConfig, IdpUser};
use crate::encoding::{b64url, b64url_decode, hex};
use crate::expiring::ExpiringMap;
use axum::routing::{get, post};
use axum::Router;
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// OpenID Connect scopes: they ask for tokens, not for a resource's permissions.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// A user as the IdP holds it (password as an Argon2 hash).
#[derive(Debug, Clone)]
pub struct User {
    pub upn: String,
    pub display_name: String,
    pub object_id: String,
    pub password_hash: String,
    /// The second factor's code (see [`IdpUser::mfa_code`]).
    pub mfa_code: Option<String>,
}

/// A registered certificate credential.
#[derive(Debug, Clone)]
pub struct Credential {
    pub der: Vec<u8>,
    pub sha1: Vec<u8>,
    pub sha256: Vec<u8>,
}

/// An app registration with its certificates loaded.
#[derive(Debug, Clone)]
pub struct App {
    pub reg: AppRegistration,
    pub certificates: Vec<Credential>,
    /// Files of a generated certificate credential: (certificate PEM, private key PEM).
    pub generated: Option<(PathBuf, PathBuf)>,
}

impl App {
    /// Whether `id` names this app as a resource: its client id or its App ID URI.
    pub fn is_resource(&self, id: &str) -> bool {
        self.reg.client_id.eq_ignore_ascii_case(id) || self.reg.app_id_uri.as_deref() == Some(id)
    }
}

/// An authorization code, single use, bound to client, redirect URI and PKCE challenge.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub user: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    /// The sign-in passed a second factor (`amr` has `mfa`).
    pub mfa: bool,
    pub expires: i64,
    pub redeemed: bool,
    /// What its redemption issued: revoked if the code is presented again (RFC 6749 §4.1.2).
    pub issued: Issued,
}

/// Tokens issued from one grant, to revoke them together.
#[derive(Debug, Clone, Default)]
pub struct Issued {
    /// The refresh-token family started.
    pub family: Option<String>,
    /// `uti` of the access token.
    pub access_uti: Option<String>,
    /// The code was presented again: whatever it issued is revoked.
    pub replayed: bool,
}

/// A refresh token's record. Tokens of one sign-in form a family; with reuse detection on, reusing a
/// rotated-out token revokes the family.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub family: String,
    pub client_id: String,
    pub user: String,
    pub scopes: Vec<String>,
    pub expires: i64,
    pub used: bool,
    /// The sign-in it continues passed a second factor.
    pub mfa: bool,
}

/// A device authorization in progress.
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub client_id: String,
    pub user_code: String,
    pub scopes: Vec<String>,
    pub expires: i64,
    pub interval: i64,
    pub last_poll: Option<i64>,
    pub state: DeviceState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    Pending,
    Approved { user: String, mfa: bool },
    Declined,
    Redeemed,
}

/// How the answer of an authorization request goes back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// An authorization request as checked at `/authorize`: typed fields only, never the client's raw
/// query, so no parameter a client adds can set server state.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub response_mode: ResponseMode,
    /// `prompt=consent`: ask even when consent was given.
    pub force_consent: bool,
    /// A claims challenge asked for a stronger sign-in (`claims` naming `polids`, `acrs` or `amr`):
    /// the second factor is asked for even when no policy covers the resource.
    pub step_up: bool,
}

impl AuthRequest {
    /// Bytes held, for the store's budget.
    pub fn weight(&self) -> usize {
        self.client_id.len()
            + self.redirect_uri.len()
            + self.scope.len()
            + self.state.as_ref().map_or(0, String::len)
            + self.nonce.as_ref().map_or(0, String::len)
            + self.code_challenge.as_ref().map_or(0, String::len)
            + 128
    }
}

/// What a browser is in the middle of.
#[derive(Debug, Clone)]
pub enum Flow {
    /// An authorization-code request.
    Authorize(AuthRequest),
    /// A device code entered on the code page.
    Device { device_code: String },
}

/// A sign-in or consent step waiting for the browser that started it.
#[derive(Debug, Clone)]
pub struct Interaction {
    /// The browser (cookie) it belongs to: only that browser may continue it.
    pub browser: String,
    pub flow: Flow,
    /// The signed-in user (UPN, lower case) once past sign-in: the consent or verification step.
    pub user: Option<String>,
    /// The step waits for the second factor's code (not for consent).
    pub verify: bool,
}

impl Interaction {
    pub fn weight(&self) -> usize {
        self.browser.len()
            + self.user.as_ref().map_or(0, String::len)
            + match &self.flow {
                Flow::Authorize(r) => r.weight(),
                Flow::Device { device_code } => device_code.len() + 64,
            }
    }
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// The user's UPN, lower case.
    pub user: String,
    /// The sign-in passed a second factor.
    pub mfa: bool,
}

/// Bounds of the stores a client can grow. Each entry's size is bounded by the input limits at the
/// endpoints, so these bound the memory as well: together well under 300 MiB at the very worst.
pub mod bounds {
    use crate::expiring::Bounds;
    /// At most `max_entries` entries and `mib` MiB.
    const fn bounds(max_entries: usize, mib: usize) -> Bounds {
        Bounds {
            max_entries,
            max_bytes: mib << 20,
        }
    }
    pub const INTERACTIONS: Bounds = bounds(10_000, 16);
    pub const SESSIONS: Bounds = bounds(10_000, 4);
    pub const CODES: Bounds = bounds(10_000, 16);
    pub const DEVICES: Bounds = bounds(10_000, 16);
    pub const REFRESH: Bounds = bounds(100_000, 64);
    pub const REVOKED: Bounds = bounds(100_000, 16);
    pub const JTIS: Bounds = bounds(100_000, 16);
}

/// How long a sign-in or consent page stays usable.
pub const INTERACTION_LIFETIME: i64 = 900;
/// How long a browser stays signed in.
pub const SESSION_LIFETIME: i64 = 12 * 3600;
/// How long spent codes and device grants are remembered after they end (to answer "already
/// redeemed" rather than "unknown").
pub const REMEMBER_SPENT: i64 = 3600;

/// What the provider remembers between requests: every store bounded and expiring.
pub struct Store {
    pub codes: ExpiringMap<String, AuthCode>,
    pub refresh: ExpiringMap<String, RefreshRecord>,
    /// Refresh-token families revoked (reuse detected, or their code replayed).
    pub revoked_families: ExpiringMap<String, ()>,
    /// `uti`s of access tokens revoked (their code replayed); the REST API refuses them.
    pub revoked_tokens: ExpiringMap<String, ()>,
    pub devices: ExpiringMap<String, DeviceGrant>,
    /// User code → device code, for the code page.
    pub user_codes: ExpiringMap<String, String>,
    /// Client-assertion `jti`s seen, with the assertion's digest.
    pub jtis: ExpiringMap<String, [u8; 32]>,
    /// Signed-in browsers (cookie value → session).
    pub sessions: ExpiringMap<String, BrowserSession>,
    /// Sign-in and consent steps waiting for their browser (id → interaction).
    pub interactions: ExpiringMap<String, Interaction>,
    /// Consents granted at run time: (user UPN lower-case, client id, resource client id) → scopes.
    /// Grows only by a signed-in user's consent to a registered client, so by the configuration.
    pub consents: HashMap<(String, String, String), HashSet<String>>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            codes: ExpiringMap::new(bounds::CODES),
            refresh: ExpiringMap::new(bounds::REFRESH),
            revoked_families: ExpiringMap::new(bounds::REVOKED),
            revoked_tokens: ExpiringMap::new(bounds::REVOKED),
            devices: ExpiringMap::new(bounds::DEVICES),
            user_codes: ExpiringMap::new(bounds::DEVICES),
            jtis: ExpiringMap::new(bounds::JTIS),
            sessions: ExpiringMap::new(bounds::SESSIONS),
            interactions: ExpiringMap::new(bounds::INTERACTIONS),
            consents: HashMap::new(),
        }
    }
}

impl Store {
    /// Entries and bytes held by the stores a client can grow (for tests and reports).
    pub fn footprint(&self) -> (usize, usize) {
        let parts = [
            (self.codes.len(), self.codes.bytes()),
            (self.refresh.len(), self.refresh.bytes()),
            (self.revoked_families.len(), self.revoked_families.bytes()),
            (self.revoked_tokens.len(), self.revoked_tokens.bytes()),
            (self.devices.len(), self.devices.bytes()),
            (self.user_codes.len(), self.user_codes.bytes()),
            (self.jtis.len(), self.jtis.bytes()),
            (self.sessions.len(), self.sessions.bytes()),
            (self.interactions.len(), self.interactions.bytes()),
        ];
        parts
            .iter()
            .fold((0, 0), |(n, b), (pn, pb)| (n + pn, b + pb))
    }
}

/// The identity provider.
pub struct Idp {
    pub cfg: IdpConfig,
    pub clock: Arc<dyn Clock>,
    /// `https://127.0.0.1:PORT`: the scheme and host of `iss` (set when the server binds).
    issuer_base: RwLock<Option<String>>,
    /// Users, apps and keys are made on first use: key generation costs time a test that never
    /// signs in should not pay.
    ready: OnceLock<Result<Ready, String>>,
    pub store: Mutex<Store>,
    scratch: tempfile::TempDir,
    /// Key of the CSRF tokens: a form's token is an HMAC of the browser's cookie under it.
    csrf_key: [u8; 32],
    /// Tokens issued, by grant and by on-behalf-of user (`GET /{tenant}/admin/stats`).
    stats: Mutex<Stats>,
}

/// Tokens issued since start: by grant type, and on-behalf-of exchanges by user object id.
/// Bounded: grant types are counted only when a token was issued (so by the grants this provider
/// serves), users only when they exist.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub tokens_by_grant: std::collections::BTreeMap<String, u64>,
    /// Tokens issued by how the client proved itself: `none` (a public client), `secret`,
    /// `certificate` (a client assertion).
    pub tokens_by_client_credential: std::collections::BTreeMap<String, u64>,
    pub on_behalf_of_by_user: std::collections::BTreeMap<String, u64>,
}

/// Users, apps and the signing keys.
pub struct Ready {
    pub users: HashMap<String, User>,
    pub apps: Vec<App>,
    pub keys: Mutex<keys::KeyRing>,
}

impl std::fmt::Debug for Idp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idp")
            .field("tenant", &self.cfg.tenant)
            .finish_non_exhaustive()
    }
}

impl Idp {
    pub fn new(cfg: IdpConfig, clock: Arc<dyn Clock>) -> Result<Idp, String> {
        let scratch = tempfile::Builder::new()
            .prefix("kinetic-idp-")
            .tempdir()
            .map_err(|e| format!("cannot make a folder for the identity provider's files: {e}"))?;
        let mut store = Store::default();
        for c in &cfg.consents {
            store
                .consents
                .entry((
                    c.user.to_ascii_lowercase(),
                    c.client_id.clone(),
                    c.resource.clone(),
                ))
                .or_default()
                .extend(c.scopes.iter().cloned());
        }
        Ok(Idp {
            issuer_base: RwLock::new(cfg.issuer_base.clone()),
            cfg,
            clock,
            ready: OnceLock::new(),
            store: Mutex::new(store),
            scratch,
            csrf_key: rand::random(),
            stats: Mutex::new(Stats::default()),
        })
    }

    /// Users, apps and keys; made on first use.
    pub fn ready(&self) -> Result<&Ready, AadError> {
        self.ready
            .get_or_init(|| self.prepare())
            .as_ref()
            .map_err(|e| AadError::server(e.clone()))
    }

    fn prepare(&self) -> Result<Ready, String> {
        let users = self
            .cfg
            .users
            .iter()
            .map(|u: &IdpUser| {
                (
                    u.upn.to_ascii_lowercase(),
                    User {
                        upn: u.upn.clone(),
                        display_name: u.display_name.clone(),
                        object_id: u.object_id.clone(),
                        password_hash: crate::password::hash_password(&u.password),
                        mfa_code: u.mfa_code.clone(),
                    },
                )
            })
            .collect();
        let mut apps = Vec::new();
        for reg in &self.cfg.apps {
            let mut certificates = Vec::new();
            for path in &reg.certificates {
                let pem = std::fs::read(path).map_err(|e| {
                    format!(
                        "app {}: cannot read certificate {}: {e}",
                        reg.name,
                        path.display()
                    )
                })?;
                let der = keys::pem_certificate_der(&pem).map_err(|e| {
                    format!("app {}: certificate {}: {e}", reg.name, path.display())
                })?;
                certificates.push(credential(der));
            }
            let mut generated = None;
            if reg.generate_certificate {
                let made = rsa_certificate(&format!("{} client certificate", reg.name))?;
                let cert_path = self.scratch.path().join(format!("{}-cert.pem", reg.name));
                let key_path = self.scratch.path().join(format!("{}-key.pem", reg.name));
                std::fs::write(&cert_path, &made.cert_pem)
                    .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
                write_private(&key_path, made.key_pem.as_bytes())?;
                // The key and the certificate in one file, as connectors take it (OAuthJWTCert,
                // OAuthJWTCertType=PEMKEY_FILE).
                let bundle_path = self
                    .scratch
                    .path()
                    .join(format!("{}-key-and-cert.pem", reg.name));
                write_private(
                    &bundle_path,
                    format!("{}{}", made.key_pem, made.cert_pem).as_bytes(),
                )?;
                certificates.push(credential(made.cert_der));
                generated = Some((cert_path, key_path));
            }
            apps.push(App {
                reg: reg.clone(),
                certificates,
                generated,
            });
        }
        let ring = keys::KeyRing::new(self.clock.now_secs())?;
        Ok(Ready {
            users,
            apps,
            keys: Mutex::new(ring),
        })
    }

    /// Sets the issuer's scheme and host once the server's address is known.
    pub fn set_issuer_base(&self, base: String) {
        let mut b = self.issuer_base.write().unwrap_or_else(|p| p.into_inner());
        if self.cfg.issuer_base.is_none() {
            *b = Some(base);
        }
    }

    /// The provider's public scheme and host (`https://127.0.0.1:8040`): configured, else where the
    /// server listens, else `http://localhost` (a router that never listened, as in tests). Never
    /// the request's Host header: addresses in tokens, discovery and assertion audiences must not be
    /// the client's to choose.
    pub fn public_base(&self) -> String {
        self.issuer_base
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "http://localhost".to_string())
    }

    /// `{public_base}/{tenant}/v2.0`.
    pub fn issuer(&self) -> String {
        format!("{}/{}/v2.0", self.public_base(), self.cfg.tenant)
    }

    /// The CSRF token of forms shown to the browser with this cookie value.
    pub fn csrf_token(&self, browser: &str) -> String {
        use hmac::Mac;
        b64url(&self.csrf_mac(browser).finalize().into_bytes())
    }

    /// Whether `token` is the CSRF token of `browser` (compared in constant time).
    pub fn csrf_ok(&self, browser: &str, token: &str) -> bool {
        use hmac::Mac;
        match b64url_decode(token) {
            Ok(bytes) => self.csrf_mac(browser).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }

    /// The HMAC of a browser's cookie value under the CSRF key.
    fn csrf_mac(&self, browser: &str) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.csrf_key)
            .expect("HMAC takes any key length");
        mac.update(b"csrf|");
        mac.update(browser.as_bytes());
        mac
    }

    /// Whether an access token (by its `uti`) was revoked, e.g. because its code was replayed.
    pub fn is_revoked(&self, uti: &str) -> bool {
        let now = self.clock.now_secs();
        self.store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .revoked_tokens
            .get(now, &uti.to_string())
            .is_some()
    }

    /// As [`Idp::ready`], making users, apps and keys on the blocking pool the first time (RSA key
    /// generation and Argon2 hashing must not run on the async workers).
    pub async fn prepared(self: &Arc<Self>) -> Result<&Ready, AadError> {
        if self.ready.get().is_none() {
            let me = self.clone();
            tokio::task::spawn_blocking(move || {
                let _ = me.ready();
            })
            .await
            .map_err(|e| {
                AadError::server(format!("start-up of the identity provider failed: {e}"))
            })?;
        }
        self.ready()
    }

    /// The signing keys as a JWKS (current and those still in their grace period).
    pub fn jwks(&self) -> Result<serde_json::Value, AadError> {
        let ready = self.ready()?;
        let mut ring = ready.keys.lock().unwrap_or_else(|p| p.into_inner());
        ring.expire(self.clock.now_secs(), self.cfg.key_grace_secs as i64);
        Ok(ring.jwks())
    }

    /// Makes a new signing key current; the old one stays published for `key_grace_secs`. The key
    /// is generated on the blocking pool, outside the key ring's lock.
    pub async fn rotate_keys(self: &Arc<Self>) -> Result<String, AadError> {
        self.prepared().await?;
        let made = tokio::task::spawn_blocking(keys::signing_key)
            .await
            .map_err(|e| AadError::server(format!("key generation failed: {e}")))?
            .map_err(AadError::server)?;
        let ready = self.ready()?;
        let mut ring = ready.keys.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ring.rotate(made, self.clock.now_secs()))
    }

    /// Generated credential files of apps, for the start-up line.
    pub fn generated_credentials(&self) -> Vec<(String, PathBuf, PathBuf, String, String)> {
        let Ok(ready) = self.ready() else {
            return Vec::new();
        };
        ready
            .apps
            .iter()
            .filter_map(|a| {
                let (c, k) = a.generated.clone()?;
                let cred = a.certificates.last()?;
                Some((a.reg.name.clone(), c, k, hex(&cred.sha1), hex(&cred.sha256)))
            })
            .collect()
    }

    /// Counts a token issued by `grant_type` (its short name for the URN grants) to a client that
    /// proved itself with `credential` (Entra's `azpacr`: 0 none, 1 secret, 2 certificate).
    pub fn count_grant(&self, grant_type: &str, credential: u8) {
        let name = match grant_type {
            grants::JWT_BEARER => "on_behalf_of",
            grants::TOKEN_EXCHANGE => "token_exchange",
            grants::DEVICE_CODE => "device_code",
            other => other,
        };
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        // Only names that issued a token reach here; still, cap a pathological config.
        if stats.tokens_by_grant.len() < 32 || stats.tokens_by_grant.contains_key(name) {
            *stats.tokens_by_grant.entry(name.to_owned()).or_default() += 1;
        }
        let credential = match credential {
            0 => "none",
            1 => "secret",
            _ => "certificate",
        };
        *stats
            .tokens_by_client_credential
            .entry(credential.to_owned())
            .or_default() += 1;
    }

    /// Counts an on-behalf-of exchange for the user with object id `oid`.
    pub fn count_on_behalf_of(&self, oid: &str) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        *stats
            .on_behalf_of_by_user
            .entry(oid.to_ascii_lowercase())
            .or_default() += 1;
    }

    /// What was issued since start.
    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `tenant` (from a path) names this tenant; `common` and `organizations` do too.
    pub fn is_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.cfg.tenant)
            || matches!(tenant, "common" | "organizations")
    }
}

fn credential(der: Vec<u8>) -> Credential {
    let sha1 = sha1::Sha1::digest(&der).to_vec();
    let sha256 = sha2::Sha256::digest(&der).to_vec();
    Credential { der, sha1, sha256 }
}

/// Writes a private key readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What the bearer check needs of the provider (auth sees it only through this trait).
impl crate::auth::oidc::LocalIssuer for Idp {
    fn tenant(&self) -> &str {
        &self.cfg.tenant
    }
    fn rest_api_app(&self) -> &str {
        &self.cfg.rest_api_app
    }
    fn app_user(&self) -> &str {
        &self.cfg.app_user
    }
    fn issuer(&self) -> String {
        Idp::issuer(self)
    }
    fn is_revoked(&self, uti: &str) -> bool {
        Idp::is_revoked(self, uti)
    }
    fn signing_keys(
        self: Arc<Self>,
    ) -> futures_util::future::BoxFuture<'static, Result<serde_json::Value, String>> {
        Box::pin(async move {
            self.prepared().await.map_err(|e| e.description)?;
            self.jwks().map_err(|e| e.description)
        })
    }
}

/// The provider's routes, under `/{tenant}/...`.
pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(authorize::discovery),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(authorize::discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(authorize::jwks))
        .route("/{tenant}/discovery/keys", get(authorize::jwks))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::authorize).post(authorize::authorize_post),
        )
        .route("/{tenant}/oauth2/v2.0/login", post(authorize::login))
        .route("/{tenant}/oauth2/v2.0/consent", post(authorize::consent))
        .route("/{tenant}/oauth2/v2.0/verify", post(authorize::verify))
        .route("/{tenant}/oauth2/v2.0/token", post(grants::token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(grants::devicecode))
        .route(
            "/{tenant}/oauth2/v2.0/devicelogin",
            get(authorize::device_page).post(authorize::device_post),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(authorize::logout).post(authorize::logout),
        )
        .route("/{tenant}/admin/rotate-keys", post(authorize::rotate_keys))
        .route("/{tenant}/admin/stats", get(authorize::stats))
        .layer(axum::middleware::map_response(authorize::page_headers))
}
