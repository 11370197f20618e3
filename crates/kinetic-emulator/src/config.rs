//! The emulator's configuration: built-in defaults, a TOML file (`--config`), then command-line flags.

pub use crate::collation::Collation;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything the emulator needs to start. `Default` is the built-in demo configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// The ERP instance name: the first path segment (`https://host/{instance}/api/v1/...`).
    pub instance: String,
    /// Companies in the demo data. The first is the default company.
    pub companies: Vec<CompanyConfig>,
    /// Demo users (Epicor user ids and passwords).
    pub users: Vec<UserConfig>,
    /// API keys accepted on v2 routes.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Server-side page cap: at most this many rows per entity-set page (0 = no cap).
    pub page_cap: usize,
    /// Answer capped pages with `@odata.nextLink` (v2) / `odata.nextLink` (v1).
    pub next_link: bool,
    /// Strict server-driven paging, for tests that must fail when a client does not follow
    /// `@odata.nextLink` or leaves the key out of `$orderby`: capped pages carry a next link (as
    /// with `next_link`) holding an opaque `$skiptoken` instead of `$skip`; a `$skip` on a request
    /// the server would page with links is refused (400: follow the link); rows are sorted only as
    /// asked, with no key appended (rows that tie come in an order that changes from page to page,
    /// as a database's parallel plans may give them); without `$orderby` the order is the store's
    /// own (its clustered key), which stays the same between pages. Off by default.
    pub strict_paging: bool,
    /// Remember the last this many requests (method, path and query as sent, status) for tests
    /// to inspect ([`crate::RunningEmulator::requests`]); 0 (the default) remembers none.
    pub request_log: usize,
    /// How text compares in `$filter`, `$orderby`, keys and lookups: `ci` (the default, as
    /// Epicor's SQL Server `SQL_Latin1_General_CP1_CI_AS`: case and trailing spaces ignored,
    /// `length` without trailing spaces) or `binary` (byte for byte, for tests that want a strict
    /// server). See [`crate::collation`].
    pub collation: Collation,
    /// Number of sales order lines to generate.
    pub scale: u64,
    /// Seed of the deterministic data generator.
    pub seed: u64,
    /// Keep the database in this file between runs (default: a temporary file removed on exit).
    pub db: Option<PathBuf>,
    /// Require an API key (`x-api-key` header or `api-key` query parameter) on every v2 route.
    pub require_api_key: bool,
    /// Lifetime of tokens from `TokenResource.svc`, in seconds.
    pub token_lifetime_secs: u64,
    /// HS256 secret of `TokenResource.svc` tokens; a random one per start when absent.
    pub token_secret: Option<String>,
    /// Licence seats and sessions.
    pub licenses: LicenseConfig,
    /// OpenID Connect / Azure AD issuers whose bearer tokens the REST API accepts.
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// Injected faults, for resilience tests (off unless rules are given).
    pub faults: FaultConfig,
    /// HTTPS serving.
    pub tls: TlsConfig,
    /// The identity provider that speaks Microsoft Entra ID (Azure AD) v2.
    pub idp: IdpConfig,
    /// Defences against hostile clients: request sizes, password guessing.
    pub security: SecurityConfig,
    /// Resource limits of the REST API's queries (`[limits]`).
    pub limits: LimitsConfig,
    /// Answer in the emulator's old, tidy shapes instead of what real Epicor servers send: no
    /// `ExtensionTables`, `BitFlag` or `RowIdent`, v1 `SysRevID` as a string, no CHAR padding, no
    /// null strings in the data, TokenResource `exp`/`iat` as numbers (with a `jti`). Business rules,
    /// case-insensitive names, `+` as a space, the extra routes and generic 500s stay on. For tests
    /// written against the old shapes; a connector must work against the default (`false`).
    pub tidy: bool,
    /// Most rows per page of a BAQ's results (0 = no cap). Unsettled [?]: no source says whether
    /// Epicor caps BAQ results, or caps them like entity sets (`page_cap`). Default 0.
    pub baq_page_cap: usize,
    /// Accept a PATCH of an updatable BAQ that leaves out some of its columns. Unsettled [?]: real
    /// clients send the full row; by default a partial row is refused (400 naming the missing columns).
    pub baq_partial_rows: bool,
    /// The UTC offset written after v2 dates: "" (none, `2025-01-31T00:00:00`, the default), "Z", or
    /// "+hh:mm" / "-hh:mm". Unsettled [?]: no source shows whether v2 dates carry an offset. v1 dates
    /// never do.
    pub v2_date_offset: String,
}

/// Defences against hostile clients (`[security]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Largest request body accepted, in bytes; larger ones are refused with 413.
    pub max_body_bytes: usize,
    /// Failed sign-ins of one user (Basic, token service, the identity provider's page) after which
    /// each further attempt must wait, the wait doubling per failure (0: never).
    pub user_failures: u32,
    /// Failed sign-ins from one client address (any users) after which the address must wait (0: never).
    pub address_failures: u32,
    /// Failures are forgotten this long after the last one, in seconds.
    pub failure_window_secs: u64,
    /// The longest wait imposed, in seconds.
    pub max_lockout_secs: u64,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            max_body_bytes: 4 << 20,
            user_failures: 5,
            address_failures: 50,
            failure_window_secs: 300,
            max_lockout_secs: 60,
        }
    }
}

/// The emulator's Entra-compatible identity provider: one tenant with users, app registrations and
/// consents. `Default` is the seed scenario (an Epicor server app, a desktop public client, a web
/// application, a daemon, two users).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdpConfig {
    /// Serve it (its endpoints under `/{tenant}/...`) and trust its tokens on the REST API.
    pub enabled: bool,
    /// The tenant (directory) id, a GUID.
    pub tenant: String,
    /// Access and id token lifetime, in seconds.
    pub token_lifetime_secs: u64,
    /// Refresh token lifetime, in seconds.
    pub refresh_token_lifetime_secs: u64,
    /// A refresh token used twice revokes its whole family (detects a stolen, replayed token), as
    /// Okta and Auth0 rotate. Off by default, as Entra: a redeemed refresh token stays valid until it
    /// expires (Microsoft, "Refresh tokens in the Microsoft identity platform").
    pub refresh_reuse_detection: bool,
    /// Seconds a device-code client must wait between polls.
    pub device_interval_secs: u64,
    /// Refuse a client assertion presented a second time. Off by default, as Entra: MSAL reuses one
    /// assertion until shortly before it expires. A jti reused by a different assertion is always refused.
    pub single_use_assertions: bool,
    /// How long a rotated-out signing key stays in the JWKS, in seconds.
    pub key_grace_secs: u64,
    /// The issuer's scheme and host (`https://127.0.0.1:8040`); by default the address the emulator
    /// listens on, over https when TLS is on.
    pub issuer_base: Option<String>,
    /// The client id of the app registration the REST API trusts (the "Epicor server" app).
    pub rest_api_app: String,
    /// The Epicor user that app-only tokens for that app act as.
    pub app_user: String,
    pub users: Vec<IdpUser>,
    pub apps: Vec<AppRegistration>,
    /// Users' consents: which client may use which scopes of which resource on their behalf.
    pub consents: Vec<ConsentConfig>,
    /// Conditional Access policies demanding multi-factor authentication for some users on some
    /// resources. A token for such a resource is issued only to a sign-in that passed the second
    /// factor; an on-behalf-of or refresh grant without it is answered `interaction_required` with a
    /// claims challenge (AADSTS50076), as Entra does.
    pub conditional_access: Vec<ConditionalAccessPolicy>,
}

/// A Conditional Access policy: these users need multi-factor authentication for these resources.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalAccessPolicy {
    /// The policy id (a GUID), named in the claims challenge (`polids`).
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// UPNs, or `"All"` for every user.
    pub users: Vec<String>,
    /// Resources (client ids or App ID URIs) the policy protects.
    pub resources: Vec<String>,
}

/// A user of the tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpUser {
    /// The sign-in name (UPN), e.g. `alice@kinetic.example`; Epicor users map to it by `external_ids`.
    pub upn: String,
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    /// The object id (a GUID).
    pub object_id: String,
    /// The code the sign-in's verification page accepts for this user, standing in for an
    /// authenticator app. Without one, a policy demanding multi-factor authentication cannot be met
    /// (AADSTS50079: the user must enrol).
    #[serde(default)]
    pub mfa_code: Option<String>,
}

/// An app registration.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AppRegistration {
    /// A short name for messages and the start-up line (`epicor_server`, `desktop`, ...).
    pub name: String,
    pub client_id: String,
    /// A public client (desktop, device) has no credential and must use PKCE.
    pub public_client: bool,
    pub secrets: Vec<ClientSecret>,
    /// Certificates for client assertions: PEM files (public certificates). With `generate_certificate`,
    /// one is made at start (RSA 2048) and its certificate and key files are named in the start-up line.
    pub certificates: Vec<PathBuf>,
    pub generate_certificate: bool,
    /// Allowed redirect URIs; `http://localhost` and `http://127.0.0.1` allow any port (loopback).
    pub redirect_uris: Vec<String>,
    /// The App ID URI of an API (`api://{client_id}`).
    pub app_id_uri: Option<String>,
    /// Delegated scopes this API exposes (`user_impersonation`).
    pub scopes: Vec<String>,
    /// Application roles this API defines (`Epicor.Integration`).
    pub app_roles: Vec<String>,
    /// Client ids pre-authorised to this API's scopes (no user consent needed).
    pub known_client_applications: Vec<String>,
    /// Application permissions granted to this client: `{resource client id}/{role}`.
    pub granted_roles: Vec<String>,
}

/// A client secret with an optional expiry (RFC 3339).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSecret {
    pub value: String,
    #[serde(default)]
    pub expires: Option<String>,
}

/// A user's consent for a client to call a resource with some scopes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentConfig {
    pub user: String,
    pub client_id: String,
    pub resource: String,
    pub scopes: Vec<String>,
}

/// Fixed ids of the seed scenario, so connection strings stay the same between runs.
pub mod seed {
    pub const TENANT: &str = "4b1d5e7a-9c2f-4e3a-8b6d-0a1c2e3f4a5b";
    pub const EPICOR_SERVER: &str = "e91c0d4f-6a3b-4c2d-9e8f-1a2b3c4d5e6f";
    pub const DESKTOP: &str = "d35c7a2e-1b4f-4a6d-8c9e-2b3c4d5e6f70";
    pub const WEB_APP: &str = "a7e2b9c1-3d5f-4b8a-9c1d-3c4d5e6f7081";
    pub const DAEMON: &str = "b2f4c6d8-5e7a-4c9b-8d1e-4d5e6f708192";
    pub const WEB_APP_SECRET: &str = "webapp-secret-0123456789abcdef";
    pub const DAEMON_SECRET: &str = "daemon-secret-0123456789abcdef";
    pub const ALICE: &str = "alice@kinetic.example";
    pub const BOB: &str = "bob@kinetic.example";
    pub const ALICE_OID: &str = "0a11ce00-0000-4000-8000-00000000a11c";
    pub const BOB_OID: &str = "00b0b000-0000-4000-8000-000000000b0b";
}

impl Default for IdpConfig {
    fn default() -> Self {
        use seed::*;
        let server_uri = format!("api://{EPICOR_SERVER}");
        IdpConfig {
            enabled: true,
            tenant: TENANT.into(),
            token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 14 * 86_400,
            refresh_reuse_detection: false,
            device_interval_secs: 5,
            single_use_assertions: false,
            key_grace_secs: 3600,
            issuer_base: None,
            rest_api_app: EPICOR_SERVER.into(),
            app_user: "integration".into(),
            users: vec![
                IdpUser {
                    upn: ALICE.into(),
                    password: "Alice123!".into(),
                    display_name: "Alice Example".into(),
                    object_id: ALICE_OID.into(),
                    mfa_code: None,
                },
                IdpUser {
                    upn: BOB.into(),
                    password: "Bob123!".into(),
                    display_name: "Bob Example".into(),
                    object_id: BOB_OID.into(),
                    mfa_code: None,
                },
            ],
            apps: vec![
                AppRegistration {
                    name: "epicor_server".into(),
                    client_id: EPICOR_SERVER.into(),
                    app_id_uri: Some(server_uri.clone()),
                    scopes: vec!["user_impersonation".into()],
                    app_roles: vec!["Epicor.Integration".into()],
                    known_client_applications: vec![WEB_APP.into()],
                    ..AppRegistration::default()
                },
                AppRegistration {
                    name: "desktop".into(),
                    client_id: DESKTOP.into(),
                    public_client: true,
                    redirect_uris: vec!["http://localhost".into(), "http://127.0.0.1".into()],
                    ..AppRegistration::default()
                },
                AppRegistration {
                    name: "web_app".into(),
                    client_id: WEB_APP.into(),
                    secrets: vec![ClientSecret {
                        value: WEB_APP_SECRET.into(),
                        expires: None,
                    }],
                    generate_certificate: true,
                    redirect_uris: vec![
                        "http://localhost:5000/callback".into(),
                        "http://localhost".into(),
                        // examples/webapp on any loopback port: its callback, and where
                        // sign-out comes back to.
                        "http://127.0.0.1/auth/callback".into(),
                        "http://localhost/auth/callback".into(),
                        "http://127.0.0.1".into(),
                    ],
                    app_id_uri: Some(format!("api://{WEB_APP}")),
                    scopes: vec!["access_as_user".into()],
                    ..AppRegistration::default()
                },
                AppRegistration {
                    name: "daemon".into(),
                    client_id: DAEMON.into(),
                    secrets: vec![ClientSecret {
                        value: DAEMON_SECRET.into(),
                        expires: None,
                    }],
                    granted_roles: vec![format!("{EPICOR_SERVER}/Epicor.Integration")],
                    // A certificate credential too, for the `azuread_client_cert` string.
                    generate_certificate: true,
                    ..AppRegistration::default()
                },
            ],
            consents: vec![ConsentConfig {
                user: ALICE.into(),
                client_id: DESKTOP.into(),
                resource: EPICOR_SERVER.into(),
                scopes: vec!["user_impersonation".into()],
            }],
            conditional_access: Vec::new(),
        }
    }
}

/// Licence seats per type, and session settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LicenseConfig {
    /// Seats of the Default (user) licence.
    pub default: u32,
    /// Seats of the WebService licence.
    pub web_service: u32,
    /// Seats of the WebServiceShared licence (used when no WebService seat is free).
    pub web_service_shared: u32,
    /// Seats of the DataCollection licence.
    pub data_collection: u32,
    /// Delay added to every call made on a WebServiceShared seat, in milliseconds (Epicor: 20 s).
    pub shared_delay_ms: u64,
    /// A session unused for this long is deleted, in seconds (Epicor: 72 h).
    pub session_idle_secs: u64,
}

impl Default for LicenseConfig {
    fn default() -> Self {
        LicenseConfig {
            default: 50,
            web_service: 5,
            web_service_shared: 20,
            data_collection: 5,
            shared_delay_ms: 2_000,
            session_idle_secs: 72 * 3600,
        }
    }
}

/// An issuer of bearer tokens the REST API trusts (Azure AD / Entra ID, or any OpenID provider).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TrustedIssuer {
    /// A name for messages and the admin route.
    pub name: String,
    /// The exact `iss` of its tokens. With `tenant` instead: `{authority}/{tenant}/v2.0`.
    pub issuer: Option<String>,
    /// An Entra tenant (directory) id.
    pub tenant: Option<String>,
    /// The Entra authority for `tenant` (default `https://login.microsoftonline.com`).
    pub authority: Option<String>,
    /// Accepted `aud` values (the Epicor server app's client id and/or App ID URI).
    pub audiences: Vec<String>,
    /// Where its signing keys are; or `discovery_url` (its `jwks_uri` is used). With neither, the
    /// issuer's `/.well-known/openid-configuration` (for a tenant: `{authority}/{tenant}/v2.0/...`).
    pub jwks_uri: Option<String>,
    pub discovery_url: Option<String>,
    /// A PEM certificate to trust when fetching keys over https (e.g. the emulator's own).
    pub ca_cert: Option<PathBuf>,
    /// Delegated scopes of which a user token must carry at least one (`scp`), e.g. `user_impersonation`.
    pub required_scopes: Vec<String>,
    /// Application roles of which an app-only token must carry at least one (`roles`).
    pub required_roles: Vec<String>,
    /// Claims tried in order to find the Epicor user among `external_ids`. Default: `oid` alone, the
    /// immutable object id; name mutable claims (`preferred_username`, `upn`, `email`) only for an
    /// issuer where nobody else can take a name once used.
    pub user_claims: Vec<String>,
    /// The Epicor user that app-only (client-credentials) tokens act as.
    pub app_user: Option<String>,
}

/// Faults to inject, chosen at random (seeded) per request.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the fault dice: the same seed and request order give the same faults.
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

/// One kind of fault at a rate, optionally only on some paths.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// `latency`, `429`, `502`, `503`, `504` or `close` (connection closed mid-response).
    pub kind: String,
    /// Probability per request, 0.0 to 1.0.
    pub rate: f64,
    /// Only requests whose path starts with this (after the instance, e.g. `/api/v2/`).
    #[serde(default)]
    pub path: Option<String>,
    /// For `latency`: the range of the delay, in milliseconds.
    #[serde(default)]
    pub min_ms: u64,
    #[serde(default)]
    pub max_ms: u64,
    /// For `429` and `503`: the `Retry-After` value, in seconds.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

/// HTTPS serving: a given certificate and key, or a self-signed one made at start.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM certificate (chain) and private key to serve; both or neither.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Where to write the self-signed certificate (PEM) so clients can trust it.
    pub cert_out: Option<PathBuf>,
}

/// A company of the demo data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyConfig {
    pub id: String,
    pub name: String,
}

/// An Epicor user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub id: String,
    /// The password in clear (demo users); hashed with Argon2 at start and never kept in clear.
    #[serde(default)]
    pub password: String,
    /// Or an Argon2 PHC hash (`$argon2id$v=19$...`), so no clear password sits in the file.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub name: String,
    /// The company used when a call names none (defaults to the first company the user may use).
    #[serde(default)]
    pub default_company: Option<String>,
    /// The companies the user may use (Epicor's user-company list); empty: every company. A call
    /// naming another company is refused (403).
    #[serde(default)]
    pub companies: Vec<String>,
    /// A disabled account is refused with its own message.
    #[serde(default)]
    pub disabled: bool,
    /// When the password expires (RFC 3339); an expired password is refused with its own message.
    #[serde(default)]
    pub password_expires: Option<String>,
    /// External identities that sign in as this user: Azure AD object ids (`oid`, the default and
    /// immutable mapping), or UPNs / e-mails when the issuer maps by those (`user_claims`).
    #[serde(default)]
    pub external_ids: Vec<String>,
    /// An administrator of the emulator: may use the admin routes (sessions, key rotation).
    #[serde(default)]
    pub admin: bool,
}

/// An API key for the v2 routes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub key: String,
    #[serde(default)]
    pub name: String,
    /// When the key stops working (RFC 3339).
    #[serde(default)]
    pub expires: Option<String>,
    /// What the key may call; absent means everything.
    #[serde(default)]
    pub scope: Option<ApiKeyScope>,
}

/// An API key's access scope: a call is allowed when it matches any list.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiKeyScope {
    /// Whole services (`Erp.BO.CustomerSvc`): entity sets and methods.
    pub services: Vec<String>,
    /// Single methods (`Erp.BO.SalesOrderSvc/GetByID`).
    pub methods: Vec<String>,
    /// BAQ ids (`zCustomerList`).
    pub baqs: Vec<String>,
    /// Function libraries (`CustomerTools`) or single functions (`CustomerTools/GetCreditStatus`).
    pub functions: Vec<String>,
}

/// The default demo API key. Fixed, so that demo connection strings can be copied between runs.
pub const DEFAULT_API_KEY: &str = "kinetic-demo-api-key-0000000000000000";

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            instance: "Kinetic".into(),
            companies: vec![
                CompanyConfig {
                    id: "EPIC06".into(),
                    name: "Epicor Education".into(),
                },
                CompanyConfig {
                    id: "EPIC03".into(),
                    name: "Epicor Manufacturing".into(),
                },
            ],
            users: vec![
                UserConfig {
                    id: "manager".into(),
                    password: "Epicor123!".into(),
                    password_hash: None,
                    name: "Demo Manager".into(),
                    default_company: None,
                    companies: Vec::new(),
                    disabled: false,
                    password_expires: None,
                    external_ids: vec![seed::ALICE_OID.into()],
                    admin: true,
                },
                UserConfig {
                    id: "integration".into(),
                    password: "Integration123!".into(),
                    password_hash: None,
                    name: "Integration User".into(),
                    default_company: None,
                    companies: Vec::new(),
                    disabled: false,
                    password_expires: None,
                    external_ids: vec![seed::BOB_OID.into()],
                    admin: false,
                },
            ],
            api_keys: vec![ApiKeyConfig {
                key: DEFAULT_API_KEY.into(),
                name: "demo".into(),
                expires: None,
                scope: None,
            }],
            page_cap: 100,
            next_link: false,
            strict_paging: false,
            request_log: 0,
            collation: Collation::Ci,
            scale: 5_000,
            seed: 6,
            db: None,
            require_api_key: true,
            token_lifetime_secs: 3600,
            token_secret: None,
            licenses: LicenseConfig::default(),
            trusted_issuers: Vec::new(),
            faults: FaultConfig::default(),
            tls: TlsConfig::default(),
            idp: IdpConfig::default(),
            security: SecurityConfig::default(),
            limits: LimitsConfig::default(),
            tidy: false,
            baq_page_cap: 0,
            baq_partial_rows: false,
            v2_date_offset: String::new(),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read emulator config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid emulator config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl EmulatorConfig {
    /// Reads a TOML file; missing keys keep their defaults, unknown keys are an error.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: EmulatorConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.companies.is_empty() {
            return Err("at least one company is required ([[companies]] id = \"EPIC06\")".into());
        }
        if self.instance.is_empty() || self.instance.contains('/') {
            return Err(format!(
                "instance `{}` must be one non-empty path segment, e.g. \"Kinetic\"",
                self.instance
            ));
        }
        for c in &self.companies {
            if c.id.is_empty() || c.id.len() > 8 {
                return Err(format!("company id `{}` must be 1 to 8 characters", c.id));
            }
        }
        for u in &self.users {
            if let Some(c) = u.companies.iter().find(|c| !self.has_company(c)) {
                return Err(format!(
                    "user `{}`: company `{c}` in companies is not one of the server's [[companies]]",
                    u.id
                ));
            }
        }
        let rfc3339 = |what: &str, v: &Option<String>| -> Result<(), String> {
            match v {
                Some(t) if chrono::DateTime::parse_from_rfc3339(t).is_err() => Err(format!(
                    "{what} `{t}` is not an RFC 3339 time such as 2026-12-31T23:59:59Z"
                )),
                _ => Ok(()),
            }
        };
        for k in &self.api_keys {
            rfc3339(&format!("api key `{}` expires", k.name), &k.expires)?;
        }
        for t in &self.trusted_issuers {
            if t.issuer.is_none() && t.tenant.is_none() {
                return Err(format!(
                    "trusted issuer `{}` needs `issuer` (its exact iss) or `tenant` (an Entra tenant id)",
                    t.name
                ));
            }
            if t.audiences.is_empty() {
                return Err(format!(
                    "trusted issuer `{}` needs `audiences`: the Epicor server app's client id or App ID URI",
                    t.name
                ));
            }
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err("tls.cert and tls.key go together: give both, or neither for a self-signed certificate".into());
        }
        for r in &self.faults.rules {
            if !(0.0..=1.0).contains(&r.rate) {
                return Err(format!(
                    "fault `{}` has rate {}; rates are 0.0 to 1.0",
                    r.kind, r.rate
                ));
            }
            if !matches!(
                r.kind.as_str(),
                "latency" | "429" | "502" | "503" | "504" | "close"
            ) {
                return Err(format!(
                    "unknown fault kind `{}`; use latency, 429, 502, 503, 504 or close",
                    r.kind
                ));
            }
            if r.kind == "latency" && r.min_ms > r.max_ms {
                return Err(format!(
                    "latency fault: min_ms {} is above max_ms {}",
                    r.min_ms, r.max_ms
                ));
            }
        }
        DateOffset::parse(&self.v2_date_offset)?;
        for u in &self.users {
            if u.password.is_empty() && u.password_hash.is_none() {
                return Err(format!(
                    "user `{}` needs a password or a password_hash",
                    u.id
                ));
            }
            rfc3339(
                &format!("user `{}` password_expires", u.id),
                &u.password_expires,
            )?;
            if let Some(dc) = &u.default_company {
                if !self.companies.iter().any(|c| &c.id == dc) {
                    return Err(format!(
                        "user `{}` has default_company `{dc}`, which is not among the companies",
                        u.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// The company used when a call names none.
    pub fn default_company(&self) -> &str {
        &self.companies[0].id
    }

    pub fn has_company(&self, id: &str) -> bool {
        self.companies.iter().any(|c| c.id == id)
    }

    /// The companies' ids, in the configuration's order.
    pub fn company_ids(&self) -> Vec<&str> {
        self.companies.iter().map(|c| c.id.as_str()).collect()
    }
}

/// Resource limits of the REST API's queries (`[limits]` in TOML): hostile or careless requests get a
/// 4xx/503 naming the limit instead of holding a worker, the stack or the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Longest time one request may spend in SQLite, in milliseconds (SQLite's progress handler
    /// interrupts it); the request is answered 503. 0 turns the limit off.
    pub statement_timeout_ms: u64,
    /// Read connections that may run at once (each one is a blocking thread and a SQLite handle).
    pub max_readers: usize,
    /// How long a request waits for a free read connection, in milliseconds, before a 503.
    pub reader_wait_ms: u64,
    /// Longest `$filter`, `$orderby`, `$expand`, `$select` value or `whereClause`, in bytes once
    /// percent-decoded.
    pub max_expression_bytes: usize,
    /// Largest `$top` and `$skip` (also `pageSize`, and the rows `absolutePage` skips). The default is
    /// the Int32 range ASP.NET OData (and so Epicor) accepts.
    pub max_top_skip: u64,
    /// Most rows one `$expand`ed navigation may return under one parent row; more is a 400 asking
    /// for a nested `$top` (nothing is silently cut off).
    pub max_expand_rows: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            statement_timeout_ms: 10_000,
            max_readers: 8,
            reader_wait_ms: 10_000,
            max_expression_bytes: 64 * 1024,
            max_top_skip: i32::MAX as u64,
            max_expand_rows: 1_000,
        }
    }
}

/// The UTC offset written after v2 dates (`[?]` in EPICOR.md: `v2_date_offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOffset {
    None,
    /// `Z`
    Utc,
    /// `+hh:mm` / `-hh:mm`, in minutes east of UTC.
    Minutes(i16),
}

impl DateOffset {
    /// Parses the `v2_date_offset` setting: "", "Z", "+hh:mm" or "-hh:mm".
    pub fn parse(text: &str) -> Result<DateOffset, String> {
        let bad = || {
            format!(
                "v2_date_offset `{text}` is not an offset; use \"\" (none), \"Z\", or \"+hh:mm\" / \"-hh:mm\" such as \"-05:00\""
            )
        };
        match text {
            "" => Ok(DateOffset::None),
            "Z" | "z" => Ok(DateOffset::Utc),
            _ => {
                let (sign, rest) = match text.as_bytes().first() {
                    Some(b'+') => (1, &text[1..]),
                    Some(b'-') => (-1, &text[1..]),
                    _ => return Err(bad()),
                };
                let (h, m) = rest.split_once(':').ok_or_else(bad)?;
                let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
                if !digits(h) || !digits(m) {
                    return Err(bad());
                }
                let (h, m): (i16, i16) =
                    (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
                if h > 14 || m > 59 {
                    return Err(bad());
                }
                Ok(DateOffset::Minutes(sign * (h * 60 + m)))
            }
        }
    }

    /// What follows a v2 date: "", "Z" or "+hh:mm".
    pub fn suffix(self) -> String {
        match self {
            DateOffset::None => String::new(),
            DateOffset::Utc => "Z".into(),
            DateOffset::Minutes(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emulator.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn toml_overrides_defaults_and_keeps_the_rest() {
        let (_d, path) = write(
            "instance = \"ERP11\"\npage_cap = 25\n[[users]]\nid = \"alice\"\npassword = \"pw\"\n",
        );
        let c = EmulatorConfig::from_file(&path).unwrap();
        assert_eq!(c.instance, "ERP11");
        assert_eq!(c.page_cap, 25);
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].id, "alice");
        assert_eq!(c.companies.len(), 2, "companies keep their default");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let (_d, path) = write("pagecap = 3\n");
        let e = EmulatorConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("unknown field `pagecap`"), "{e}");
        let (_d, path) = write("companies = []\n");
        let e = EmulatorConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("at least one company"), "{e}");
        let (_d, path) =
            write("[[users]]\nid = \"u\"\npassword = \"p\"\ndefault_company = \"NOPE\"\n");
        let e = EmulatorConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("default_company `NOPE`"), "{e}");
        let e = EmulatorConfig::from_file(Path::new("/nonexistent/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read emulator config /nonexistent/x.toml"),
            "{e}"
        );
    }
}
