//! What a [`Pipeline`](super::Pipeline) is told about its connection, in HTTP's terms only: the
//! addresses, Epicor's headers already rendered, retries, and the connection pool's timeout,
//! proxy and TLS trust. [`Client::http_options`](crate::Client::http_options) makes it from the
//! connection string's settings; nothing under `http/` reads those.

use std::time::Duration;

use ::http::header::HeaderValue;

use super::retry::RetryConfig;
use super::tls::TrustedCertificate;
use super::url::Endpoints;
use crate::secret::Secret;

/// The `User-Agent` every call carries unless the options say otherwise.
pub const USER_AGENT: &str = concat!("kinetic/", env!("CARGO_PKG_VERSION"));

/// The HTTP side of one connection: what a [`Pipeline`](super::Pipeline) is told about it, in
/// HTTP's terms only: the addresses, Epicor's headers already rendered, retries, and the
/// connection pool's timeout, proxy and TLS trust. [`Client::http_options`](crate::Client::http_options)
/// makes it from the connection string's settings; nothing under `http/` reads those.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpOptions {
    /// The server's addresses (`URL`, `ERPInstance`, `ApiVersion`, `Company`).
    pub endpoints: Endpoints,
    /// Sent as `x-api-key` on `api/v2/` addresses (`ApiKey`).
    pub api_key: Option<Secret>,
    /// The GUID of the licence claimed in the `License` header (`LicenseType`), which adds the
    /// session once there is one.
    pub claimed_license: String,
    /// The `CallSettings` header (`Company`, `Plant`, `Language`), when there is one.
    pub call_settings: Option<HeaderValue>,
    /// Retries of failed attempts (`MaxRetries`).
    pub retry: RetryConfig,
    /// How long one answer may take (`Timeout`); `None` waits forever.
    pub timeout: Option<Duration>,
    /// The proxy every call goes through (`ProxyServer`); `None` for none, whatever the
    /// environment says.
    pub proxy: Option<Proxy>,
    /// A certificate trusted besides Mozilla's roots (`SSLServerCert`).
    pub trusted_certificate: Option<TrustedCertificate>,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl HttpOptions {
    /// Options for `endpoints` claiming the licence `claimed_license` (a GUID), with no API key,
    /// no `CallSettings`, the default retries, no timeout, no proxy and Mozilla's roots only.
    pub fn new(endpoints: Endpoints, claimed_license: impl Into<String>) -> Self {
        HttpOptions {
            endpoints,
            api_key: None,
            claimed_license: claimed_license.into(),
            call_settings: None,
            retry: RetryConfig::default(),
            timeout: None,
            proxy: None,
            trusted_certificate: None,
            user_agent: USER_AGENT.to_owned(),
        }
    }
}

/// An HTTP proxy (`ProxyServer`, `ProxyPort`, `ProxyUser`, `ProxyPassword`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Proxy {
    /// Host name or address (an IPv6 address with or without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User and password, sent to the proxy as Basic; `None` for an open proxy.
    pub login: Option<(String, Secret)>,
}

impl Proxy {
    /// The proxy at `host:port`, with `login` when it asks for one.
    pub fn new(host: impl Into<String>, port: u16, login: Option<(String, Secret)>) -> Self {
        Proxy {
            host: host.into(),
            port,
            login,
        }
    }

    /// Its address, `http://host:port`.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host) // an IPv6 address
        } else {
            self.host.clone()
        };
        format!("http://{host}:{}", self.port)
    }
}
