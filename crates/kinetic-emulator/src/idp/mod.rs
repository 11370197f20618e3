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
    pub expires: i64,
    pub redeemed: bool,
}

/// A refresh token's record. Tokens of one sign-in form a family; reusing a rotated-out token
/// revokes the family.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub family: String,
    pub client_id: String,
    pub user: String,
    pub scopes: Vec<String>,
    pub expires: i64,
    pub used: bool,
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
    Approved { user: String },
    Declined,
    Redeemed,
}

/// What the provider remembers between requests.
#[derive(Default)]
pub struct Store {
    pub codes: HashMap<String, AuthCode>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub revoked_families: HashSet<String>,
    pub devices: HashMap<String, DeviceGrant>,
    /// Client-assertion `jti`s seen, with the assertion's expiry and digest.
    pub jtis: HashMap<String, (i64, [u8; 32])>,
    /// Browser sessions (cookie value → user UPN).
    pub browser: HashMap<String, String>,
    /// Authorization requests waiting for sign-in or consent (id → (created, query parameters)).
    pub pending: HashMap<String, (i64, Vec<(String, String)>)>,
    /// Consents granted at run time: (user UPN lower-case, client id, resource client id) → scopes.
    pub consents: HashMap<(String, String, String), HashSet<String>>,
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

/// How long a sign-in page stays usable, and how long spent codes and device grants are remembered
/// (to answer "already redeemed" rather than "unknown").
const PENDING_LIFETIME: i64 = 3600;

impl Store {
    /// Forgets what can no longer be used, so a long-running emulator does not grow without bound.
    pub fn prune(&mut self, now: i64) {
        self.pending
            .retain(|_, (created, _)| now - *created < PENDING_LIFETIME);
        self.codes.retain(|_, c| now - c.expires < PENDING_LIFETIME);
        self.devices
            .retain(|_, d| now - d.expires < PENDING_LIFETIME);
        self.refresh.retain(|_, r| now < r.expires);
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
                        password_hash: crate::auth::hash_password(&u.password),
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

    /// The scheme and host of `iss`: configured, else where the server listens, else as the caller
    /// reached us.
    pub fn issuer_base(&self, request_base: &str) -> String {
        self.issuer_base
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| request_base.to_string())
    }

    /// `{issuer_base}/{tenant}/v2.0`.
    pub fn issuer(&self, request_base: &str) -> String {
        format!(
            "{}/{}/v2.0",
            self.issuer_base(request_base),
            self.cfg.tenant
        )
    }

    /// The signing keys as a JWKS (current and those still in their grace period).
    pub fn jwks(&self) -> Result<serde_json::Value, AadError> {
        let ready = self.ready()?;
        let mut ring = ready.keys.lock().unwrap_or_else(|p| p.into_inner());
        ring.expire(self.clock.now_secs(), self.cfg.key_grace_secs as i64);
        Ok(ring.jwks())
    }

    /// Makes a new signing key current; the old one stays published for `key_grace_secs`.
    pub fn rotate_keys(&self) -> Result<String, AadError> {
        let ready = self.ready()?;
        let mut ring = ready.keys.lock().unwrap_or_else(|p| p.into_inner());
        ring.rotate(self.clock.now_secs()).map_err(AadError::server)
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

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_forgets_what_can_no_longer_be_used() {
        let mut s = Store::default();
        s.pending.insert("old".into(), (0, vec![]));
        s.pending
            .insert("new".into(), (PENDING_LIFETIME + 10, vec![]));
        let code = |expires| AuthCode {
            client_id: String::new(),
            redirect_uri: String::new(),
            code_challenge: None,
            user: String::new(),
            scopes: vec![],
            nonce: None,
            expires,
            redeemed: true,
        };
        s.codes.insert("spent long ago".into(), code(0));
        s.codes
            .insert("spent lately".into(), code(PENDING_LIFETIME));
        s.refresh.insert(
            "expired".into(),
            RefreshRecord {
                family: "f".into(),
                client_id: String::new(),
                user: String::new(),
                scopes: vec![],
                expires: 100,
                used: false,
            },
        );
        s.prune(PENDING_LIFETIME + 20);
        assert_eq!(s.pending.keys().collect::<Vec<_>>(), ["new"]);
        assert_eq!(s.codes.keys().collect::<Vec<_>>(), ["spent lately"]);
        assert!(s.refresh.is_empty());
    }
}
