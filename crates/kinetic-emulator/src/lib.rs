//! An Epicor Kinetic compatible REST server over an embedded SQLite store, for running and testing
//! the kinetic connector with no Epicor server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), epicor_kinetic_emulator::EmulatorError> {
//! let running = epicor_kinetic_emulator::spawn(epicor_kinetic_emulator::EmulatorConfig::default(), "127.0.0.1:0").await?;
//! println!("{}", running.startup_line());
//! # Ok(()) }
//! ```

pub mod api_error;
pub mod auth;
pub mod clock;
pub mod collation;
pub mod config;
pub mod data;
pub mod db;
mod encoding;
pub mod erp;
pub mod expiring;
pub mod faults;
pub mod idp;
pub mod markup;
pub mod model;
pub mod password;
pub mod request_log;
pub mod throttle;
pub mod tls;

pub use config::EmulatorConfig;
pub use db::OpenReport;
pub use request_log::{LoggedRequest, RequestLog};

use axum::response::IntoResponse;
use axum::Router;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// State shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<EmulatorConfig>,
    pub db: db::Db,
    /// Served over TLS (URLs in answers say https).
    pub tls: bool,
    pub auth: Arc<auth::Authenticator>,
    pub licensing: Arc<auth::license::Licensing>,
    /// The Entra-compatible identity provider (unless turned off).
    pub idp: Option<Arc<idp::Idp>>,
    /// Failed sign-ins per user and address, shared by the REST API and the identity provider.
    pub throttle: Arc<throttle::Throttle>,
    /// The last requests served (`request_log`; none remembered by default).
    pub requests: Arc<RequestLog>,
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("invalid emulator configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The emulator's store and configuration, ready to serve.
pub struct Emulator {
    state: AppState,
    report: OpenReport,
}

impl Emulator {
    /// Opens (or generates) the database. Blocking: generation at large scales takes seconds.
    pub fn new(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        Self::with_clock(config, Arc::new(clock::SystemClock))
    }

    /// As [`Emulator::new`], with an injected clock (tests move time instead of sleeping).
    pub fn with_clock(
        config: EmulatorConfig,
        clock: Arc<dyn clock::Clock>,
    ) -> Result<Emulator, EmulatorError> {
        config.validate().map_err(EmulatorError::Invalid)?;
        let idp = if config.idp.enabled {
            let idp =
                idp::Idp::new(config.idp.clone(), clock.clone()).map_err(EmulatorError::Invalid)?;
            Some(Arc::new(idp))
        } else {
            None
        };
        let throttle = Arc::new(throttle::Throttle::new(
            config.security.clone(),
            clock.clone(),
        ));
        let auth = auth::Authenticator::new(
            &config,
            clock.clone(),
            idp.clone().map(|i| i as Arc<dyn auth::oidc::LocalIssuer>),
            throttle.clone(),
        )
        .map_err(EmulatorError::Invalid)?;
        let licensing = auth::license::Licensing::new(config.licenses.clone(), clock);
        let (db, report) = db::Db::open(&config)?;
        Ok(Emulator {
            state: AppState {
                tls: config.tls.enabled,
                requests: RequestLog::new(config.request_log),
                config: Arc::new(config),
                db,
                auth: Arc::new(auth),
                licensing,
                idp,
                throttle,
            },
            report,
        })
    }

    /// The HTTP routes.
    pub fn router(&self) -> Router {
        app_with_state(self.state.clone())
    }

    pub fn report(&self) -> &OpenReport {
        &self.report
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.state.config
    }

    /// The identity provider, unless turned off.
    pub fn idp(&self) -> Option<Arc<idp::Idp>> {
        self.state.idp.clone()
    }

    /// The last requests served (see `request_log` in [`EmulatorConfig`]).
    pub fn requests(&self) -> Arc<RequestLog> {
        self.state.requests.clone()
    }
}

/// The REST API's routes for a configuration (opens or generates the database first).
pub fn app(config: EmulatorConfig) -> Result<Router, EmulatorError> {
    Ok(Emulator::new(config)?.router())
}

fn app_with_state(state: AppState) -> Router {
    let faults = state.config.faults.clone();
    let instance = state.config.instance.clone();
    let limit = state.config.security.max_body_bytes;
    let requests = state.requests.clone();
    let router = Router::new()
        .merge(idp::routes())
        .fallback(erp::dispatch)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(no_panic));
    // Outermost: a request a fault rule answers is recorded too.
    faults::apply(router, &faults, &instance).layer(axum::middleware::from_fn_with_state(
        requests,
        request_log::record,
    ))
}

/// A handler that panics answers a generic 500 with a correlation id (the details go to stderr),
/// instead of dropping the connection; the server keeps serving.
async fn no_panic(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            crate::api_error::ApiError::internal(format!("a request handler panicked: {what}"))
                .into_response()
        }
    }
}

/// An emulator serving on a socket until dropped or [`RunningEmulator::shutdown`].
pub struct RunningEmulator {
    pub addr: SocketAddr,
    config: Arc<EmulatorConfig>,
    report: OpenReport,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The certificate clients should trust, when serving HTTPS.
    tls_cert: Option<std::path::PathBuf>,
    // Holds a generated certificate's folder (when no cert_out was given) for the server's life.
    _scratch: Option<tempfile::TempDir>,
    idp: Option<Arc<idp::Idp>>,
    requests: Arc<RequestLog>,
}

/// Opens the store and serves on `addr` (`127.0.0.1:0` picks a free port) in a background task.
pub async fn spawn(config: EmulatorConfig, addr: &str) -> Result<RunningEmulator, EmulatorError> {
    let emulator = tokio::task::spawn_blocking(move || Emulator::new(config))
        .await
        .map_err(|e| EmulatorError::Invalid(format!("start-up task failed: {e}")))??;
    serve(emulator, addr).await
}

/// Serves an emulator already opened (e.g. [`Emulator::with_clock`], for tests that move time
/// instead of sleeping) on `addr` in a background task, as [`spawn`] does.
pub async fn serve(emulator: Emulator, addr: &str) -> Result<RunningEmulator, EmulatorError> {
    let bind_err = |source| EmulatorError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    let (tx, rx) = oneshot::channel::<()>();
    let router = emulator.router();
    let config = emulator.state.config.clone();
    if let Some(idp) = &emulator.state.idp {
        let scheme = if config.tls.enabled { "https" } else { "http" };
        idp.set_issuer_base(format!("{scheme}://{local}"));
    }
    let idp = emulator.state.idp.clone();
    let requests = emulator.state.requests.clone();
    let (task, tls_cert, scratch) = if config.tls.enabled {
        let scratch = tempfile::Builder::new()
            .prefix("kinetic-emulator-tls-")
            .tempdir()
            .map_err(|e| {
                EmulatorError::Invalid(format!("cannot make a folder for the TLS certificate: {e}"))
            })?;
        let material = tls::prepare(&config.tls, scratch.path()).map_err(EmulatorError::Invalid)?;
        let std_listener = listener.into_std().map_err(bind_err)?;
        let handle = axum_server::Handle::new();
        let shutdown = handle.clone();
        tokio::spawn(async move {
            let _ = rx.await;
            shutdown.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        });
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
            axum_server::tls_rustls::RustlsConfig::from_config(material.server_config),
        )
        .acceptor(TcpOptions::from_env());
        let server = axum_server::from_tcp(std_listener)
            .map_err(bind_err)?
            .acceptor(acceptor)
            .handle(handle);
        let task = tokio::spawn(async move {
            let _ = server
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await;
        });
        (task, Some(material.trust_path), Some(scratch))
    } else {
        use axum::serve::ListenerExt;
        let options = TcpOptions::from_env();
        let listener = listener.tap_io(move |tcp| options.apply(tcp));
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        });
        (task, None, None)
    };
    Ok(RunningEmulator {
        addr: local,
        config,
        report: emulator.report.clone(),
        shutdown: Some(tx),
        task: Some(task),
        tls_cert,
        _scratch: scratch,
        idp,
        requests,
    })
}

/// Options of accepted connections. TCP_NODELAY is on: without it a small answer written in two
/// pieces (TLS records, headers then body) waits for the client's delayed ACK, 40 ms stalls on a
/// fraction of requests. `KINETIC_EMULATOR_TCP_NODELAY=0` turns it off, for `bench/latency.sh` to
/// show the difference.
#[derive(Debug, Clone, Copy)]
struct TcpOptions {
    nodelay: bool,
}

impl TcpOptions {
    fn from_env() -> TcpOptions {
        TcpOptions {
            nodelay: std::env::var("KINETIC_EMULATOR_TCP_NODELAY").map_or(true, |v| v != "0"),
        }
    }

    fn apply(&self, tcp: &tokio::net::TcpStream) {
        if self.nodelay {
            let _ = tcp.set_nodelay(true);
        }
    }
}

impl<S> axum_server::accept::Accept<tokio::net::TcpStream, S> for TcpOptions {
    type Stream = tokio::net::TcpStream;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(tokio::net::TcpStream, S)>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        self.apply(&stream);
        std::future::ready(Ok((stream, service)))
    }
}

/// Quotes a connection-string value when it needs it.
fn cs_value(v: &str) -> String {
    if v.contains([';', '"', '\'', '{', '}']) || v.trim() != v {
        format!("{{{}}}", v.replace('}', "}}"))
    } else {
        v.to_string()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:port` or `https://...` (the server root: URL for the connector).
    pub fn url(&self) -> String {
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM certificate to trust when the emulator serves HTTPS.
    pub fn tls_cert(&self) -> Option<&std::path::Path> {
        self.tls_cert.as_deref()
    }

    /// `http://127.0.0.1:port/{instance}/`: the base of every REST address.
    pub fn base_url(&self) -> String {
        format!("{}/{}/", self.url(), self.config.instance)
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.config
    }

    pub fn report(&self) -> &OpenReport {
        &self.report
    }

    /// The requests served so far, oldest first: the last `request_log` of them (none unless the
    /// configuration sets `request_log`).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.requests.entries()
    }

    /// Forgets the requests served so far (a test's setup calls before the part it checks).
    pub fn clear_requests(&self) {
        self.requests.clear();
    }

    /// Everything a script needs, as one JSON object (the first line the `kinetic emulator` prints).
    pub fn startup_info(&self) -> serde_json::Value {
        let c = &self.config;
        let url = self.url();
        let company = c.default_company();
        let api_key = c.api_keys.first().map(|k| k.key.as_str()).unwrap_or("");
        let mut strings = serde_json::Map::new();
        if let Some(u) = c.users.first() {
            let mut base = format!(
                "URL={url};ERPInstance={};User={};Password={};Company={company}",
                cs_value(&c.instance),
                cs_value(&u.id),
                cs_value(&u.password)
            );
            if let Some(cert) = &self.tls_cert {
                base.push_str(&format!(
                    ";SSLServerCert={}",
                    cs_value(&cert.display().to_string())
                ));
            }
            strings.insert("basic".into(), json!(format!("{base};AuthScheme=Basic")));
            strings.insert(
                "basic_v2".into(),
                json!(format!(
                    "{base};AuthScheme=Basic;ApiVersion=v2;ApiKey={}",
                    cs_value(api_key)
                )),
            );
            strings.insert(
                "basic_session".into(),
                json!(format!(
                    "{base};AuthScheme=Basic;UseSession=true;LicenseType=WebService"
                )),
            );
            strings.insert("token".into(), json!(format!("{base};AuthScheme=Token")));
        }
        // Azure AD and OpenID strings for the built-in identity provider (they need https for real
        // clients; the connector accepts http too, for tests).
        if let Some(idp) = &self.idp {
            let cfg = &idp.cfg;
            let server = &cfg.rest_api_app;
            let v2 = format!(
                "URL={url};ERPInstance={};ApiVersion=v2;Company={company};ApiKey={}",
                cs_value(&c.instance),
                cs_value(api_key)
            );
            let tls = self
                .tls_cert
                .as_ref()
                .map(|p| format!(";SSLServerCert={}", cs_value(&p.display().to_string())))
                .unwrap_or_default();
            let azure = format!(
                "{v2};AuthScheme=AzureAD;AzureTenant={};OAuthAuthority={url}{tls}",
                cfg.tenant
            );
            if let Some(daemon) = cfg.apps.iter().find(|a| a.name == "daemon") {
                if let Some(secret) = daemon.secrets.first() {
                    strings.insert(
                        "azuread_client_secret".into(),
                        json!(format!(
                            "{azure};OAuthGrantType=CLIENT;OAuthClientId={};OAuthClientSecret={};Scope=api://{server}/.default",
                            daemon.client_id,
                            cs_value(&secret.value)
                        )),
                    );
                    strings.insert(
                        "oauth_discovery".into(),
                        json!(format!(
                            "{v2};AuthScheme=OAuth;OAuthIssuer={};OAuthGrantType=CLIENT;OAuthClientId={};OAuthClientSecret={};Scope=api://{server}/.default{tls}",
                            idp.issuer(),
                            daemon.client_id,
                            cs_value(&secret.value)
                        )),
                    );
                }
            }
            let public = format!(
                "{azure};OAuthClientId={};Scope=api://{server}/user_impersonation offline_access;InitiateOAuth=GETANDREFRESH",
                cfg.apps.iter().find(|a| a.public_client).map(|a| a.client_id.as_str()).unwrap_or_default()
            );
            strings.insert(
                "azuread_code".into(),
                json!(format!(
                    "{public};OAuthGrantType=CODE;CallbackURL=http://localhost:33333"
                )),
            );
            strings.insert(
                "azuread_device".into(),
                json!(format!("{public};OAuthGrantType=DEVICE")),
            );
            // The daemon (granted the REST API's app role) with its certificate; the web app's
            // certificate gets tokens too, but app-only they carry no role (MSAL's test checks
            // the 403).
            if let Some((_, cert, _, _, _)) = idp
                .generated_credentials()
                .into_iter()
                .find(|g| g.0 == "daemon")
            {
                let bundle = cert.with_file_name("daemon-key-and-cert.pem");
                let web = cfg
                    .apps
                    .iter()
                    .find(|a| a.name == "daemon")
                    .map(|a| a.client_id.clone())
                    .unwrap_or_default();
                strings.insert(
                    "azuread_client_cert".into(),
                    json!(format!(
                        "{azure};OAuthGrantType=CLIENT;OAuthClientId={web};OAuthJWTCert={};OAuthJWTCertType=PEMKEY_FILE;Scope=api://{server}/.default",
                        cs_value(&bundle.display().to_string())
                    )),
                );
            }
        }
        json!({
            "url": url,
            "instance": c.instance,
            "company": company,
            "companies": c.companies.iter().map(|x| json!({"id": x.id, "name": x.name})).collect::<Vec<_>>(),
            "api_key": api_key,
            "users": c.users.iter().map(|u| json!({"user": u.id, "password": u.password, "name": u.name})).collect::<Vec<_>>(),
            "rest_v1": format!("{}api/v1/", self.base_url()),
            "rest_v2": format!("{}api/v2/odata/{company}/", self.base_url()),
            "connection_strings": strings,
            "page_cap": c.page_cap,
            "next_link": c.next_link,
            "strict_paging": c.strict_paging,
            // How it plays what real servers do, so a test run's log says which variant it met.
            "tidy": c.tidy,
            "collation": c.collation.as_str(),
            "baq_page_cap": c.baq_page_cap,
            "baq_partial_rows": c.baq_partial_rows,
            "v2_date_offset": c.v2_date_offset,
            "scale": self.report.scale,
            "db": self.report.path,
            "tls_cert": self.tls_cert,
            "idp": self.idp_info(&url),
        })
    }

    /// The identity provider's part of the start-up line: authority, tenant, users, apps and their
    /// credentials.
    fn idp_info(&self, url: &str) -> serde_json::Value {
        let Some(idp) = &self.idp else {
            return serde_json::Value::Null;
        };
        let cfg = &idp.cfg;
        let authority = format!("{url}/{}", cfg.tenant);
        let generated = idp.generated_credentials();
        let mut apps = serde_json::Map::new();
        for a in &cfg.apps {
            let mut v = json!({"client_id": a.client_id, "public_client": a.public_client});
            if let Some(uri) = &a.app_id_uri {
                v["app_id_uri"] = json!(uri);
                if let Some(s) = a.scopes.first() {
                    v["scope"] = json!(format!("{uri}/{s}"));
                }
                v["default_scope"] = json!(format!("{uri}/.default"));
            }
            if let Some(s) = a.secrets.first() {
                v["client_secret"] = json!(s.value);
            }
            if !a.redirect_uris.is_empty() {
                v["redirect_uris"] = json!(a.redirect_uris);
            }
            if !a.app_roles.is_empty() {
                v["app_roles"] = json!(a.app_roles);
            }
            if let Some((_, cert, key, sha1, sha256)) = generated.iter().find(|g| g.0 == a.name) {
                v["certificate"] = json!(cert);
                v["private_key"] = json!(key);
                v["thumbprint_sha1"] = json!(sha1);
                v["thumbprint_sha256"] = json!(sha256);
            }
            apps.insert(a.name.clone(), v);
        }
        json!({
            "authority": authority,
            "tenant": cfg.tenant,
            "issuer": idp.issuer(),
            "discovery": format!("{authority}/v2.0/.well-known/openid-configuration"),
            "users": cfg.users.iter().map(|u| json!({"upn": u.upn, "password": u.password, "object_id": u.object_id})).collect::<Vec<_>>(),
            "apps": apps,
        })
    }

    /// [`Self::startup_info`] on one line.
    pub fn startup_line(&self) -> String {
        self.startup_info().to_string()
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum_server::accept::Accept;

    /// Accepted connections (the TLS acceptor's path and the plain listener's) get TCP_NODELAY.
    #[tokio::test]
    async fn accepted_connections_have_tcp_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = TcpOptions { nodelay: true };
        for _ in 0..2 {
            let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            assert!(!stream.nodelay().unwrap(), "off until set");
            let (stream, ()) = options.accept(stream, ()).await.unwrap();
            assert!(stream.nodelay().unwrap());
        }
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        TcpOptions { nodelay: false }.apply(&stream);
        assert!(!stream.nodelay().unwrap());
    }
}
