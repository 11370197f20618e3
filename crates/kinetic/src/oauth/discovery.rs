//! Where a provider's endpoints are: its OpenID discovery document, read and checked.

use crate::http::{Method, Pipeline, Request};
use crate::{Error, Result};
use serde_json::Value;

/// Where a provider's endpoints are, from its discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// The issuer (`iss` of its tokens).
    pub issuer: String,
    /// The token endpoint.
    pub token: String,
    /// The authorization endpoint (browser sign-in), when it has one.
    pub authorization: Option<String>,
    /// The device authorization endpoint, when it has one.
    pub device_authorization: Option<String>,
    /// `prompt_values_supported`, when the document lists them.
    pub prompt_values: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`, when the document lists them.
    pub auth_methods: Option<Vec<String>>,
    /// `end_session_endpoint` (RP-initiated logout), when it has one.
    pub end_session: Option<String>,
}

/// Fetches and reads the discovery document, through `pipeline` (retried, bounded, without the
/// connection's credentials).
pub async fn discover(pipeline: &Pipeline, url: &str) -> Result<Endpoints> {
    let protocol = |message: String| Error::Protocol {
        status: None,
        message,
        correlation_id: None,
        source: None,
    };
    let address = crate::http::Url::parse(url)
        .map_err(|e| protocol(format!("the discovery address {url} is not a URL: {e}")))?;
    let response = pipeline
        .send(Request::new(Method::GET, address).without_credentials())
        .await
        .map_err(|e| match e {
            Error::Transport {
                status,
                message,
                correlation_id,
                source,
            } => Error::Transport {
                status,
                message: format!("cannot fetch the OpenID discovery document {url}: {message}"),
                correlation_id,
                source,
            },
            other => other,
        })?;
    let body = response.body();
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("the discovery document {url} is not JSON: {e}")))?;
    let field = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let endpoints = Endpoints {
        issuer: field("issuer").ok_or_else(|| protocol(format!("{url} names no issuer")))?,
        token: field("token_endpoint")
            .ok_or_else(|| protocol(format!("{url} names no token_endpoint")))?,
        authorization: field("authorization_endpoint"),
        device_authorization: field("device_authorization_endpoint"),
        prompt_values: strings(&doc, "prompt_values_supported"),
        auth_methods: strings(&doc, "token_endpoint_auth_methods_supported"),
        end_session: field("end_session_endpoint"),
    };
    check_endpoints(url, &endpoints)?;
    Ok(endpoints)
}

/// A list of strings of the document, when it has one.
fn strings(doc: &Value, key: &str) -> Option<Vec<String>> {
    doc.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// The endpoints a discovery document names must be on the discovery address's host, over https
/// (plain http only when the discovery address itself is plain http, which the settings allow for
/// loopback or a declared lab): a tampered or misconfigured document cannot send client secrets,
/// codes or passwords to another host or in clear.
pub fn check_endpoints(discovery_url: &str, e: &Endpoints) -> Result<()> {
    let bad = |message: String| Error::Protocol {
        status: None,
        message,
        correlation_id: None,
        source: None,
    };
    let base = crate::http::Url::parse(discovery_url).map_err(|err| {
        bad(format!(
            "the discovery address {discovery_url} is not a URL: {err}"
        ))
    })?;
    let named = [
        ("token_endpoint", Some(&e.token)),
        ("authorization_endpoint", e.authorization.as_ref()),
        (
            "device_authorization_endpoint",
            e.device_authorization.as_ref(),
        ),
        ("end_session_endpoint", e.end_session.as_ref()),
    ];
    for (name, value) in named {
        let Some(value) = value else { continue };
        let u = crate::http::Url::parse(value).map_err(|err| {
            bad(format!(
                "the discovery document's {name} `{value}` is not a URL: {err}"
            ))
        })?;
        let scheme_ok = u.scheme() == "https" || (u.scheme() == "http" && base.scheme() == "http");
        if !scheme_ok || u.host_str() != base.host_str() {
            return Err(bad(format!(
                "the discovery document at {discovery_url} names {name} {value}, which is not https on {}: refused (a tampered or misconfigured document); check OAuthAuthority / OAuthIssuer",
                base.host_str().unwrap_or("")
            )));
        }
    }
    Ok(())
}
