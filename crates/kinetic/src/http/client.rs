//! The HTTP client under the pipeline: TLS, timeouts, proxy and redirect policy, from the
//! [`HttpOptions`].

use std::fmt;
use std::time::Duration;

use reqwest::redirect;
use reqwest::Url;

use super::options::{HttpOptions, Proxy};
use super::tls;
use super::url::origin;
use crate::error::{Error, Result};

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

fn proxy(options: &Proxy) -> Result<reqwest::Proxy> {
    let url = options.url();
    let mut proxy = reqwest::Proxy::all(&url).map_err(|e| {
        Error::invalid_settings(
            "ProxyServer",
            format!("`ProxyServer` and `ProxyPort` do not make a proxy address ({url}): {e}"),
            "set ProxyServer to the proxy's host name or address, and ProxyPort to its port",
        )
    })?;
    if let Some((user, password)) = &options.login {
        proxy = proxy.basic_auth(user, password.expose());
    }
    Ok(proxy.no_proxy(reqwest::NoProxy::from_string(NO_PROXY)))
}

/// The connect timeout: the answer timeout, but never more than this (a host that does not answer
/// a TCP handshake in 30 s will not).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The reqwest client for `options`: verified TLS (trusting `SSLServerCert` too), `Timeout`, the
/// proxy (and only it: environment proxies are ignored, so what runs is what the settings say),
/// and same-origin redirects.
pub(crate) fn build_client(options: &HttpOptions) -> Result<reqwest::Client> {
    let tls = tls::client_config(options.trusted_certificate.as_ref())?;
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(redirect_policy())
        .user_agent(options.user_agent.as_str())
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(timeout) = options.timeout {
        builder = builder
            .timeout(timeout)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT));
    }
    builder = match &options.proxy {
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

    fn options() -> HttpOptions {
        let endpoints = super::super::Endpoints::new("https://h", "K", super::super::Api::V1, None)
            .unwrap_or_else(|e| panic!("{e}"));
        HttpOptions::new(endpoints, "00000003-B615-4300-957B-34956697F040")
    }

    #[test]
    fn proxy_addresses() {
        let p = Proxy::new(
            "proxy.local",
            3128,
            Some(("pu".into(), crate::Secret::new("pp"))),
        );
        assert_eq!(p.url(), "http://proxy.local:3128");
        assert!(proxy(&p).is_ok());
        let mut o = options();
        o.proxy = Some(p.clone());
        assert!(build_client(&o).is_ok());
        let v6 = Proxy::new("::1", 3128, None);
        assert_eq!(v6.url(), "http://[::1]:3128");
        // The proxy's password never shows in the options or the client.
        let shown = format!("{o:?} {:?}", build_client(&o));
        assert!(
            !shown.contains("pp;") && !shown.contains("\"pp\""),
            "{shown}"
        );
    }

    #[test]
    fn clients_build_with_and_without_timeouts() {
        let mut o = options();
        assert!(build_client(&o).is_ok());
        o.timeout = Some(Duration::from_secs(5));
        assert!(build_client(&o).is_ok());
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
