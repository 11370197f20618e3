//! The [`Client`]: what every connection to a server shares (its documentation says how).

use crate::clock::{Clock, SystemClock};
use crate::http::{
    call_settings_header, Anonymous, Api, Credential, Endpoints, HttpOptions, Pipeline, Proxy,
    Request, RetryConfig, TrustedCertificate,
};
use crate::settings::{ApiVersion, ServerCert, Settings, ThumbprintAlgorithm};
use crate::{Error, Result};
use epicor_kinetic_odata::csdl::Metadata;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

/// Values fetched once per key, with one request in flight however many ask at once. A failed
/// fetch is not kept: the next caller asks again.
struct Once<T> {
    cells: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T: Clone> Once<T> {
    fn new() -> Self {
        Once {
            cells: Mutex::new(HashMap::new()),
        }
    }

    async fn get<F>(&self, key: &str, fetch: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| fetch).await.cloned()
    }
}

struct Inner {
    settings: Settings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// For calls outside Epicor (the identity provider): no credentials, the same pool.
    outside: Pipeline,
    discovery: Once<crate::oauth::Endpoints>,
    metadata: Once<Arc<Metadata>>,
    /// Per-user tokens of a web application ([`Client::user_tokens`]), made on first use.
    users: OnceCell<Arc<crate::store::UserTokenCache>>,
}

/// What every connection to a server shares, built once. Cheap to clone (clones share everything).
///
/// A client holds the HTTP connection pool (with the settings' TLS trust, proxy and timeout),
/// the OpenID discovery documents it has read and each service's `$metadata`, each fetched once
/// however many connections and tasks ask at the same moment (single flight). Connections made
/// from it ([`Client::connect`]) differ only in who they are: a web server makes one client at
/// start-up and one cheap connection per signed-in user.
///
/// Connections are opened with [`Client::connect`] (the connection module sits above `auth/`;
/// this one below it).
///
/// ```no_run
/// use epicor_kinetic::{Client, Settings};
///
/// # async fn demo() -> epicor_kinetic::Result<()> {
/// let base = Settings::parse(
///     "URL=https://erp.example.com;ERPInstance=Kinetic;User=manager;Password=secret;Company=EPIC06",
/// )?;
/// let client = Client::new(&base)?;
/// let first = client.connect(base.clone()).await?;
/// let second = client.connect(base).await?; // same pool, same $metadata, no new handshake
/// # let _ = (first, second); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.settings.url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server and transport of `settings` (`URL`, `SSLServerCert`, the proxy,
    /// `Timeout`). Nothing is sent yet.
    pub fn new(settings: &Settings) -> Result<Client> {
        Client::with_clock(settings, Arc::new(SystemClock))
    }

    /// As [`Client::new`], with an injected clock (token lifetimes, backoff waits).
    pub fn with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Client> {
        if let Some(path) = &settings.log_file {
            crate::logging::install_file(path, settings.verbosity)?;
        }
        let options = Client::http_options(settings)?;
        let http = crate::http::build_client(&options)?;
        let outside = Pipeline::builder(options, Arc::new(Anonymous))
            .http(http.clone())
            .clock(clock.clone())
            .build()?;
        Ok(Client {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                http,
                clock,
                outside,
                discovery: Once::new(),
                metadata: Once::new(),
                users: OnceCell::new(),
            }),
        })
    }

    /// What the HTTP pipeline is told of the connection `settings` describe, in HTTP's terms:
    /// the addresses (`URL`, `ERPInstance`, `ApiVersion`, `Company`), `ApiKey`, the `License`
    /// (`LicenseType`) and `CallSettings` (`Company`, `Plant`, `Language`) headers, `MaxRetries`,
    /// `Timeout`, the proxy and `SSLServerCert`. The one place the pipeline's options are read
    /// from settings. `SSLServerCert=*` is refused: no option turns verification off.
    pub fn http_options(settings: &Settings) -> Result<HttpOptions> {
        let trusted_certificate = match &settings.ssl_server_cert {
            None => None,
            Some(ServerCert::AnyCertificate) => {
                return Err(Error::invalid_settings(
                    "SSLServerCert",
                    "`SSLServerCert=*` would turn off certificate verification, which this connector never does",
                    "set SSLServerCert to the server's CA certificate (a PEM file path or PEM text), or to the server certificate's SHA-256 thumbprint",
                ))
            }
            Some(ServerCert::PemFile(path)) => Some(TrustedCertificate::PemFile(path.clone())),
            Some(ServerCert::Pem(text)) => Some(TrustedCertificate::Pem(text.clone())),
            Some(ServerCert::Thumbprint(t)) => Some(match t.algorithm {
                ThumbprintAlgorithm::Sha1 => TrustedCertificate::Sha1(t.hex.clone()),
                ThumbprintAlgorithm::Sha256 => TrustedCertificate::Sha256(t.hex.clone()),
            }),
        };
        let api = match settings.api_version {
            ApiVersion::V1 => Api::V1,
            ApiVersion::V2 => Api::V2,
        };
        let endpoints = Endpoints::new(
            &settings.url,
            &settings.erp_instance,
            api,
            settings.company.clone(),
        )?;
        let mut options = HttpOptions::new(endpoints, settings.auth.license_type.guid());
        options.api_key = settings.auth.api_key.clone();
        options.call_settings = call_settings_header(
            settings.company.as_deref(),
            settings.plant.as_deref(),
            settings.language.as_deref(),
        )?;
        options.retry = RetryConfig::default().with_max_retries(settings.max_retries);
        options.timeout = settings.timeout;
        options.proxy = settings.proxy.as_ref().map(|p| {
            Proxy::new(
                p.host.as_str(),
                p.port,
                p.user.clone().zip(p.password.clone()),
            )
        });
        options.trusted_certificate = trusted_certificate;
        Ok(options)
    }

    /// The settings the client was made from.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// A pipeline for `settings` on the client's pool.
    pub(crate) fn pipeline(
        &self,
        settings: &Settings,
        credential: Arc<dyn Credential>,
    ) -> Result<Pipeline> {
        Pipeline::builder(Client::http_options(settings)?, credential)
            .http(self.inner.http.clone())
            .clock(self.inner.clock.clone())
            .build()
    }

    /// The pipeline for calls outside Epicor (identity providers): no credentials of the
    /// connection, the client's pool, retry and limits.
    pub(crate) fn outside(&self) -> &Pipeline {
        &self.inner.outside
    }

    /// The OpenID discovery document at `url`, read once for the client's life.
    pub async fn discover(&self, url: &str) -> Result<crate::oauth::Endpoints> {
        self.inner
            .discovery
            .get(url, async {
                let endpoints = crate::oauth::discover(self.outside(), url).await?;
                tracing::info!(
                    target: "epicor_kinetic::auth",
                    "OpenID discovery: issuer {}, token endpoint {}",
                    endpoints.issuer,
                    endpoints.token
                );
                Ok(endpoints)
            })
            .await
    }

    /// The `$metadata` of `service` on `pipeline`'s server, read once per address for the
    /// client's life (every connection shares it).
    pub(crate) async fn metadata(
        &self,
        pipeline: &Pipeline,
        service: &str,
    ) -> Result<Arc<Metadata>> {
        let endpoint = pipeline.endpoints().service(service)?.segment("$metadata");
        self.metadata_at(pipeline, endpoint, service).await
    }

    /// The `$metadata` document at `endpoint` (a service's, or a BAQ's `BaqSvc/{id}/$metadata`),
    /// cached by its address as [`Client::metadata`] is; `service` names it in errors.
    pub(crate) async fn metadata_at(
        &self,
        pipeline: &Pipeline,
        endpoint: crate::http::Endpoint,
        service: &str,
    ) -> Result<Arc<Metadata>> {
        let url = endpoint.url()?;
        let key = url.to_string();
        let fetch = async {
            let request = Request::get(&endpoint)?.header(
                crate::http::header::ACCEPT,
                crate::http::HeaderValue::from_static("application/xml"),
            );
            let response = pipeline.send(request).await?;
            let metadata = Metadata::from_xml(&response.text()).map_err(|e| Error::Protocol {
                status: Some(response.status().as_u16()),
                message: format!("the $metadata of {service} does not parse: {e}"),
                correlation_id: None,
                source: Some(Arc::new(e)),
            })?;
            Ok(Arc::new(metadata))
        };
        self.inner.metadata.get(&key, fetch).await
    }

    /// The per-user token cache of a web application (what [`Client::on_behalf_of`] keeps its
    /// users' Epicor tokens in): in this process, and in Redis too when `OAuthSettingsLocation`
    /// names one (`redis://...`), shared by every instance. Made on first use; a Redis location
    /// needs `OAuthSettingsKey` (or `KINETIC_SETTINGS_KEY`), the same on every instance.
    pub async fn user_tokens(&self) -> Result<Arc<crate::store::UserTokenCache>> {
        self.inner
            .users
            .get_or_try_init(|| async {
                let env = crate::settings::ProcessEnv;
                let shared = crate::store::open_shared(
                    &self.inner.settings,
                    &env,
                    &crate::settings::ConfigDir::locate(&env),
                )?;
                crate::store::UserTokenCache::new(shared, self.inner.clock.clone())
            })
            .await
            .cloned()
    }
}

pub(crate) fn same_proxy(a: &Settings, b: &Settings) -> bool {
    match (&a.proxy, &b.proxy) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            x.host == y.host && x.port == y.port && x.user == y.user && x.password == y.password
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(extra: &str) -> Result<HttpOptions> {
        let s = Settings::parse(&format!(
            "URL=https://h;ERPInstance=K;User=u;Password=p;{extra}"
        ))?;
        Client::http_options(&s)
    }

    #[test]
    fn http_options_say_in_http_terms_what_the_settings_say() {
        let o = options(
            "ApiVersion=v2;Company=EPIC06;Plant=MfgSys;ApiKey=k;LicenseType=WebService;MaxRetries=5;\
             Timeout=7;ProxyServer=::1;ProxyPort=3128;ProxyUser=pu;ProxyPassword=pp;\
             SSLServerCert=AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.endpoints.api_version(), Api::V2);
        assert_eq!(o.endpoints.company(), Some("EPIC06"));
        assert_eq!(o.endpoints.base(), "https://h/K/");
        assert_eq!(o.api_key.as_ref().map(|k| k.expose()), Some("k"));
        assert_eq!(o.claimed_license, "00000003-9439-4B30-A6F4-6D2FD4B9FD0F");
        assert_eq!(
            o.call_settings.as_ref().and_then(|v| v.to_str().ok()),
            Some(r#"{"Company":"EPIC06","Plant":"MfgSys"}"#)
        );
        assert_eq!(o.retry, RetryConfig::default().with_max_retries(5));
        assert_eq!(o.timeout, Some(std::time::Duration::from_secs(7)));
        let proxy = o.proxy.as_ref().unwrap_or_else(|| panic!("no proxy"));
        assert_eq!(proxy.url(), "http://[::1]:3128");
        assert_eq!(
            proxy.login.as_ref().map(|(u, p)| (u.as_str(), p.expose())),
            Some(("pu", "pp"))
        );
        assert_eq!(
            o.trusted_certificate,
            Some(TrustedCertificate::Sha1(
                "abcdef0123456789abcdef0123456789abcdef01".into()
            ))
        );

        let plain = options("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.endpoints.api_version(), Api::V1);
        assert!(plain.call_settings.is_none() && plain.proxy.is_none());
        assert_eq!(plain.timeout, Some(std::time::Duration::from_secs(60)));
        let open = options("ProxyServer=p").unwrap_or_else(|e| panic!("{e}"));
        assert!(open
            .proxy
            .is_some_and(|p| p.login.is_none() && p.port == 80));
    }

    #[test]
    fn any_certificate_is_refused() {
        let err = options("SSLServerCert=*").err();
        assert_eq!(
            err.as_ref().and_then(Error::property),
            Some("SSLServerCert")
        );
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("never"), "{text}");
        assert!(text.contains("thumbprint"), "{text}");
    }
}
