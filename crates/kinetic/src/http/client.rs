//! The HTTP client under the pipeline: TLS, timeouts, proxy and redirect policy, from settings.

use std::fmt;
use std::time::Duration;

use reqwest::redirect;
use reqwest::Url;

use super::tls;
use super::url::origin;
use crate::error::{Error, Result};
use crate::settings::{ProxySettings, Settings};

/// Most redirects followed for one call (all on the same server).
pub const MAX_REDIRECTS: usize = 5;

/// Addresses that never go through the proxy: this machine. A local emulator or a tunnel's end
/// must not be sent to a corporate proxy, which could not reach it anyway.
pub const NO_PROXY: &str = "localhost,127.0.0.0/8,::1";

/// A redirect the client refused to follow because it leads to another server (scheme, host or
/// port differs): following it would send the credentials and keys to that server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrossOriginRedirect {
    pub status: u16,
    pub from: String,
    pub to: String,
}

impl fmt::Display for CrossOriginRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server redirected (HTTP {}) from {} to another server, {}; the connector does not follow redirects to another server, so your credentials are not sent there. If {} is the right server, set URL to it",
            self.status, self.from, self.to, self.to
        )
    }
}

impl std::error::Error for CrossOriginRedirect {}

/// More redirects than [`MAX_REDIRECTS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooManyRedirects;

impl fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "more than {MAX_REDIRECTS} redirects; check URL and ERPInstance"
        )
    }
}

impl std::error::Error for TooManyRedirects {}

/// Follows redirects on the same origin only. reqwest drops `Authorization` on a cross-host
/// redirect but would carry `x-api-key`, `License` and `CallSettings`; stopping is the only safe
/// choice, and the error tells the user where the server pointed.
fn redirect_policy() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        let status = attempt.status().as_u16();
        let to = origin(attempt.url());
        let from = attempt.previous().first().map(origin).unwrap_or_default();
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(TooManyRedirects)
        } else if to != from {
            attempt.error(CrossOriginRedirect { status, from, to })
        } else {
            attempt.follow()
        }
    })
}

/// The proxy's address (`http://host:port`) from the proxy settings.
pub(crate) fn proxy_url(proxy: &ProxySettings) -> String {
    let host = if proxy.host.contains(':') && !proxy.host.starts_with('[') {
        format!("[{}]", proxy.host) // an IPv6 address
    } else {
        proxy.host.clone()
    };
    format!("http://{host}:{}", proxy.port)
}

fn proxy(settings: &ProxySettings) -> Result<reqwest::Proxy> {
    let url = proxy_url(settings);
    let mut proxy = reqwest::Proxy::all(&url).map_err(|e| {
        Error::invalid_settings(
            "ProxyServer",
            format!("`ProxyServer` and `ProxyPort` do not make a proxy address ({url}): {e}"),
            "set ProxyServer to the proxy's host name or address, and ProxyPort to its port",
        )
    })?;
    if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
        proxy = proxy.basic_auth(user, password.expose());
    }
    Ok(proxy.no_proxy(reqwest::NoProxy::from_string(NO_PROXY)))
}

/// The connect timeout: the answer timeout, but never more than this (a host that does not answer
/// a TCP handshake in 30 s will not).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The reqwest client for `settings`: verified TLS (with `SSLServerCert`), `Timeout`, the proxy
/// (and only it: environment proxies are ignored, so what runs is what the settings say), and
/// same-origin redirects.
pub(crate) fn build_client(settings: &Settings) -> Result<reqwest::Client> {
    let tls = tls::client_config(settings.ssl_server_cert.as_ref())?;
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(redirect_policy())
        .user_agent(concat!("kinetic/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(timeout) = settings.timeout {
        builder = builder
            .timeout(timeout)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT));
    }
    builder = match &settings.proxy {
        // Adding a proxy turns reqwest's system-proxy lookup off.
        Some(p) => builder.proxy(proxy(p)?),
        None => builder.no_proxy(),
    };
    builder.build().map_err(|e| Error::Transport {
        status: None,
        message: format!("cannot set up the HTTP client: {e}"),
        correlation_id: None,
        source: Some(std::sync::Arc::new(e)),
    })
}

/// Whether two URLs are on the same server (scheme, host and port).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    origin(a) == origin(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(s: &str) -> Settings {
        Settings::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn proxy_addresses() {
        let s = settings(
            "URL=https://h;ERPInstance=K;User=u;Password=p;ProxyServer=proxy.local;ProxyPort=3128;ProxyUser=pu;ProxyPassword=pp",
        );
        let p = s.proxy.as_ref().unwrap_or_else(|| panic!("no proxy"));
        assert_eq!(proxy_url(p), "http://proxy.local:3128");
        assert!(proxy(p).is_ok());
        assert!(build_client(&s).is_ok());
        let mut v6 = p.clone();
        v6.host = "::1".into();
        assert_eq!(proxy_url(&v6), "http://[::1]:3128");
        // The proxy's password never shows in the settings or the client.
        let shown = format!("{s:?} {:?}", build_client(&s));
        assert!(
            !shown.contains("pp;") && !shown.contains("\"pp\""),
            "{shown}"
        );
    }

    #[test]
    fn clients_build_with_and_without_timeouts() {
        assert!(build_client(&settings(
            "URL=https://h;ERPInstance=K;User=u;Password=p;Timeout=0"
        ))
        .is_ok());
        assert!(build_client(&settings(
            "URL=https://h;ERPInstance=K;User=u;Password=p;Timeout=5"
        ))
        .is_ok());
        let any = settings("URL=https://h;ERPInstance=K;User=u;Password=p;SSLServerCert=*");
        assert_eq!(
            build_client(&any).err().as_ref().and_then(Error::property),
            Some("SSLServerCert")
        );
    }

    #[test]
    fn redirect_errors_read_well() {
        let e = CrossOriginRedirect {
            status: 302,
            from: "http://127.0.0.1:80".into(),
            to: "http://localhost:80".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("another server") && text.contains("set URL"),
            "{text}"
        );
        let a = Url::parse("http://127.0.0.1/x").unwrap_or_else(|e| panic!("{e}"));
        let b = Url::parse("http://127.0.0.1:80/y").unwrap_or_else(|e| panic!("{e}"));
        assert!(same_origin(&a, &b));
    }
}
