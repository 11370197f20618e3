//! What the operator tells the server ([`Options`], [`Auth`]), and what its sessions share
//! ([`Shared`]): the options, the place among `--max-sessions`, the refused sign-ins in a row,
//! the Entra ID client and token check, the metrics and the cancel keys.

use crate::metrics::Metrics;
use crate::statement::Cancels;
use epicor_kinetic::auth::inbound::InboundVerifier;
use epicor_kinetic::settings::Settings;
use epicor_kinetic::store::UserCacheStats;
use epicor_kinetic::Client;
use epicor_kinetic_tls::CertificateSource;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// What the server is told by its operator.
#[derive(Debug, Clone)]
pub struct Options {
    /// The upstream Epicor connection: everything but a user's credentials, which each
    /// session's client gives (its `User` and `Password` are replaced by the client's).
    pub upstream: Settings,
    /// Whether writes and procedure calls may run (read-only otherwise).
    pub allow_writes: bool,
    /// The most sessions at once; one more is refused with SQLSTATE 53300.
    pub max_sessions: usize,
    /// TLS, and where its certificate comes from ([`Options::with_tls_files`],
    /// [`Options::with_local_ca`]); `None` serves plain TCP on loopback addresses only.
    pub tls: Option<CertificateSource>,
    /// What a client's password is: its Epicor password, or an Entra ID access token.
    pub auth: Auth,
}

/// What a client's password is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// The user's Epicor password: the session signs in to Epicor with the user name and
    /// password (`User`, `Password` on the upstream settings).
    #[default]
    Basic,
    /// A Microsoft Entra ID access token for this server's app registration (the upstream
    /// settings' `OAuthClientId`), as Azure Database for PostgreSQL takes tokens as passwords:
    /// checked (signature by the tenant's keys, issuer, audience, lifetime, tenant), then
    /// exchanged on behalf of the user for an Epicor token (`Client::on_behalf_of`, cached per
    /// user, in Redis with `OAuthSettingsLocation`). The user name must be the token's user
    /// (`preferred_username`, `upn` or `oid`).
    AzureAd,
}

impl Auth {
    /// The name the start-up line and the flag give it.
    pub fn name(self) -> &'static str {
        match self {
            Auth::Basic => "basic",
            Auth::AzureAd => "azuread",
        }
    }
}

/// In Entra ID mode: the client the sessions' connections come from (its per-user token cache
/// shared by them) and the check of their tokens.
pub(crate) struct Entra {
    pub(crate) client: Client,
    pub(crate) verifier: InboundVerifier,
}

impl Options {
    /// Serves TLS with the operator's certificate: `cert` a PEM chain (the server's
    /// certificate first, then its intermediates) for the name clients connect to, `key` its
    /// PEM private key. For servers that clients on other machines reach.
    pub fn with_tls_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Options {
        self.tls = Some(CertificateSource::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Serves TLS with a local CA made at start, its certificate written to `ca_out` for
    /// clients to trust (`sslrootcert`); the server's certificate names `localhost`,
    /// `127.0.0.1` and `::1` only, and a new CA is made at each start. For trying TLS on one
    /// machine; other machines need [`Options::with_tls_files`].
    pub fn with_local_ca(mut self, ca_out: impl Into<PathBuf>) -> Options {
        self.tls = Some(CertificateSource::LocalCa {
            ca_out: ca_out.into(),
        });
        self
    }
}

/// What the sessions of one server share.
pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) sessions: Arc<Semaphore>,
    /// Refused sign-ins in a row, by user name (reset by a good one).
    pub(crate) failures: Mutex<HashMap<String, u32>>,
    /// In Entra ID mode, the client and the token check.
    pub(crate) entra: Option<Entra>,
    /// The counters `--metrics` serves.
    pub(crate) metrics: Arc<Metrics>,
    /// The signed-in sessions a cancel request can reach.
    pub(crate) cancels: Cancels,
}

impl Shared {
    pub(crate) fn new(options: Options, entra: Option<Entra>) -> Shared {
        Shared {
            sessions: Arc::new(Semaphore::new(options.max_sessions.max(1))),
            options,
            entra,
            metrics: Arc::default(),
            failures: Mutex::new(HashMap::new()),
            cancels: Cancels::default(),
        }
    }

    /// In Entra ID mode, the users' token cache's counters (for the metrics).
    pub(crate) async fn token_stats(&self) -> Option<UserCacheStats> {
        let entra = self.entra.as_ref()?;
        Some(entra.client.user_tokens().await.ok()?.stats())
    }
}
