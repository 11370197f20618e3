//! OAuth 2.0 / OpenID Connect for Azure AD (Microsoft Entra ID) and any OpenID provider: the
//! protocol only. Endpoint discovery ([`discovery`]), client authentication ([`assertion`]: a
//! secret, or a certificate assertion RS256 + `x5t` / PS256 + `x5t#S256`), and one file per grant:
//! [`client_credentials`], [`on_behalf_of`], [`refresh`](mod@refresh), [`code`] (authorization
//! code with PKCE) and [`device`] (RFC 8628), each a [`TokenSource`](crate::token::TokenSource) or
//! a function.
//!
//! This layer never reads [`Settings`](crate::Settings): `auth/` turns settings into the values
//! it takes. Every request goes through the [`Pipeline`] it is given (retry on 429 and 5xx, the
//! answer size limit, secrets scrubbed from errors and logs, the settings' TLS trust and proxy).

pub mod assertion;
pub mod client_credentials;
pub mod code;
pub mod device;
pub mod discovery;
pub mod on_behalf_of;
pub mod refresh;

pub use assertion::{CertificateAssertion, CertificateSource, ClientCredential};
pub use client_credentials::ClientCredentialsSource;
pub use code::pkce;
pub use discovery::{check_endpoints, discover, Endpoints};
pub use on_behalf_of::OnBehalfOfSource;
pub use refresh::refresh;

use crate::clock::Clock;
use crate::http::{HeaderValue, Method, Pipeline, Request};
use crate::token::Token;
use crate::{Error, Result, Secret};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A client of one provider's token endpoint.
#[derive(Debug)]
pub struct OAuthClient {
    pipeline: Pipeline,
    /// The provider wants the client secret in the `Authorization` header (learnt from a refusal).
    secret_in_header: AtomicBool,
    /// The provider's endpoints.
    pub endpoints: Endpoints,
    /// The app registration's client id.
    pub client_id: String,
    credential: ClientCredential,
    clock: Arc<dyn Clock>,
}

impl OAuthClient {
    /// A client from its parts; requests go through `pipeline` (a [`Client`](crate::Client)'s
    /// pipeline for calls outside Epicor: retried on 429 and 5xx, bounded, scrubbed), without
    /// the connection's credentials.
    pub fn new(
        pipeline: Pipeline,
        endpoints: Endpoints,
        client_id: String,
        credential: ClientCredential,
        clock: Arc<dyn Clock>,
    ) -> OAuthClient {
        OAuthClient {
            pipeline,
            secret_in_header: AtomicBool::new(false),
            endpoints,
            client_id,
            credential,
            clock,
        }
    }

    fn now(&self) -> u64 {
        self.clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// POSTs a token request with the client's authentication added, and reads the token. A
    /// refusal is [`Error::OAuth`] with the provider's code (`invalid_grant`, the device flow's
    /// `authorization_pending`, ...).
    pub async fn request(&self, form: Vec<(&'static str, Secret)>) -> Result<Token> {
        let obtained = self.now();
        let token_endpoint = self.endpoints.token.clone();
        let response = self.post_form(&token_endpoint, form).await?;
        token_from_json(response.body(), obtained)
    }

    /// POSTs a form to one of the provider's endpoints (token, device authorization) with the
    /// client id and the client's authentication added. Every value is a [`Secret`]: the form
    /// carries client secrets, refresh tokens, codes and verifiers, kept out of errors and logs.
    pub async fn post_form(
        &self,
        url: &str,
        form: Vec<(&'static str, Secret)>,
    ) -> Result<crate::http::Response> {
        let basic = self.secret_in_header.load(Ordering::Relaxed);
        let answer = self
            .pipeline
            .send(self.form_request(url, &form, basic)?)
            .await;
        // A client secret goes in the body (what Entra expects); a provider that refuses it
        // there and lists `client_secret_basic` (RFC 6749 2.3.1's must-have) gets it in the
        // header instead, from then on. The refusal means the client was not authenticated, so
        // no code or refresh token was spent: the request can be sent again.
        let refused = matches!(&answer, Err(Error::OAuth { error, .. })
            if error.code == crate::OAuthErrorCode::InvalidClient);
        let can_basic = self
            .endpoints
            .auth_methods
            .as_ref()
            .is_some_and(|m| m.iter().any(|x| x == "client_secret_basic"));
        if refused && !basic && can_basic && matches!(self.credential, ClientCredential::Secret(_))
        {
            tracing::info!(
                target: "epicor_kinetic::auth",
                "the identity provider refused the client secret in the body; sending it in the Authorization header (client_secret_basic)"
            );
            let again = self
                .pipeline
                .send(self.form_request(url, &form, true)?)
                .await;
            if again.is_ok() {
                self.secret_in_header.store(true, Ordering::Relaxed);
            }
            return again;
        }
        answer
    }

    /// The form POST with the client id and the client's authentication: a secret in the body,
    /// or (`basic`) in an HTTP Basic `Authorization` header; a certificate's fresh assertion.
    fn form_request(
        &self,
        url: &str,
        form: &[(&'static str, Secret)],
        basic: bool,
    ) -> Result<Request> {
        let mut form = form.to_vec();
        let mut authorization = None;
        match &self.credential {
            ClientCredential::Public => {
                form.push(("client_id", Secret::new(self.client_id.as_str())))
            }
            ClientCredential::Secret(s) if basic => {
                // RFC 6749 2.3.1: each form-encoded, then `id:secret` in base64.
                let pair = zeroize::Zeroizing::new(format!(
                    "{}:{}",
                    form_encode(&self.client_id),
                    form_encode(s.expose())
                ));
                authorization = Some(Secret::new(format!(
                    "Basic {}",
                    crate::encoding::base64(pair.as_bytes())
                )));
            }
            ClientCredential::Secret(s) => {
                form.push(("client_id", Secret::new(self.client_id.as_str())));
                form.push(("client_secret", s.clone()));
            }
            ClientCredential::Certificate(c) => {
                form.push(("client_id", Secret::new(self.client_id.as_str())));
                form.push((
                    "client_assertion_type",
                    Secret::new("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ));
                form.push((
                    "client_assertion",
                    Secret::new(c.assertion(&self.client_id, &self.endpoints.token, self.now())?),
                ));
            }
        }
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v.expose())))
            .collect::<Vec<_>>()
            .join("&");
        // The form holds secrets (client secret, refresh token, code verifier): wiped after use.
        let body = zeroize::Zeroizing::new(body);
        let address = crate::http::Url::parse(url).map_err(|e| Error::Protocol {
            status: None,
            message: format!("the identity provider's endpoint {url} is not a URL: {e}"),
            correlation_id: None,
            source: None,
        })?;
        let mut request = Request::new(Method::POST, address)
            .without_credentials()
            .confidential()
            .header(
                crate::http::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            )
            .body(
                HeaderValue::from_static("application/x-www-form-urlencoded"),
                body.as_bytes().to_vec(),
            );
        if let Some(a) = &authorization {
            let mut value = HeaderValue::from_str(a.expose()).map_err(|_| {
                Error::invalid_settings(
                    "OAuthClientSecret",
                    "the client secret holds a character that cannot go in a header",
                    "copy the secret again from the app registration",
                )
            })?;
            value.set_sensitive(true);
            request = request
                .header(crate::http::header::AUTHORIZATION, value)
                .secret(a);
        }
        for (name, value) in &form {
            if !matches!(
                *name,
                "client_id" | "grant_type" | "scope" | "client_assertion_type"
            ) {
                request = request.secret(value);
            }
        }
        Ok(request)
    }
}

/// Reads a token endpoint answer.
pub fn token_from_json(bytes: &[u8], obtained_at: u64) -> Result<Token> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::Protocol {
        status: None,
        message: format!("the token answer is not JSON: {e}"),
        correlation_id: None,
        source: None,
    })?;
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Protocol {
            status: None,
            message: "the token answer has no access_token".into(),
            correlation_id: None,
            source: None,
        })?;
    // Numbers may come as strings (older Azure AD answers did).
    let num = |k: &str| {
        v.get(k).and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let mut token = Token::bearer(Secret::new(access));
    token.token_type = v
        .get("token_type")
        .and_then(Value::as_str)
        .unwrap_or("Bearer")
        .to_string();
    token.expires_at = num("expires_in").map(|e| crate::token::expiry_after(obtained_at, e));
    token.refresh_in = num("refresh_in").map(|r| r.min(crate::token::MAX_LIFETIME_SECS));
    token.obtained_at = Some(obtained_at);
    token.refresh_token = v
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(Secret::new);
    token.scope = v.get("scope").and_then(Value::as_str).map(str::to_string);
    token.id_token = v.get("id_token").and_then(Value::as_str).map(Secret::new);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::assertion::pem_blocks;
    use super::*;
    use sha2::Digest;

    #[test]
    fn token_answers_are_read_with_their_lifetimes() {
        let t = token_from_json(br#"{"token_type":"Bearer","expires_in":"3599","refresh_in":1800,"access_token":"at","refresh_token":"rt","scope":"a b"}"#, 1000).unwrap();
        assert_eq!(t.access_token.expose(), "at");
        assert_eq!(t.expires_at, Some(4599));
        assert_eq!(t.refresh_in, Some(1800));
        assert_eq!(t.refresh_token.as_ref().map(Secret::expose), Some("rt"));
        assert!(token_from_json(br#"{"token_type":"Bearer"}"#, 0).is_err());
        assert!(!format!("{t:?}").contains("\"at\""));
    }

    #[test]
    fn discovered_endpoints_stay_on_the_issuers_host_and_https() {
        let e = |token: &str, authz: Option<&str>| Endpoints {
            issuer: "https://login.example/t/v2.0".into(),
            token: token.into(),
            authorization: authz.map(str::to_string),
            device_authorization: None,
            prompt_values: None,
            auth_methods: None,
            end_session: None,
        };
        let d = "https://login.example/t/v2.0/.well-known/openid-configuration";
        assert!(check_endpoints(
            d,
            &e(
                "https://login.example/t/oauth2/v2.0/token",
                Some("https://login.example/t/authorize")
            )
        )
        .is_ok());
        for (token, authz) in [
            ("https://evil.example/token", None),
            ("http://login.example/t/token", None),
            (
                "https://login.example/t/token",
                Some("https://login.example.evil.example/a"),
            ),
            ("https://login.example/t/token", Some("javascript:alert(1)")),
        ] {
            let err = check_endpoints(d, &e(token, authz))
                .unwrap_err()
                .to_string();
            assert!(err.contains("refused"), "{token} {authz:?}: {err}");
        }
        // A loopback emulator over plain http names plain http endpoints on itself.
        let local = "http://127.0.0.1:8040/t/v2.0/.well-known/openid-configuration";
        assert!(
            check_endpoints(local, &e("http://127.0.0.1:8040/t/oauth2/v2.0/token", None)).is_ok()
        );
        assert!(
            check_endpoints(local, &e("http://localhost:8040/t/oauth2/v2.0/token", None)).is_err()
        );
    }

    /// A server's lifetime near `u64::MAX` (hostile or broken) is clamped: no overflow now, and
    /// none later when the stored token's expiry is turned into a time and a refresh is planned.
    #[test]
    fn absurd_lifetimes_are_clamped_never_overflow() {
        let t = token_from_json(
            br#"{"token_type":"Bearer","expires_in":18446744073709551615,"refresh_in":"18446744073709551615","access_token":"at"}"#,
            1_000,
        )
        .unwrap();
        let max = crate::token::MAX_LIFETIME_SECS;
        assert_eq!(t.expires_at, Some(1_000 + max));
        assert_eq!(t.refresh_in, Some(max));
        let now = crate::clock::from_unix_seconds(1_000);
        assert!(!t.is_expired(now));
        let policy = crate::token::RefreshPolicy::new(
            std::time::Duration::from_secs(300),
            std::time::Duration::from_secs(30),
        );
        assert!(policy.refresh_at(&t, now, 0.5).is_some());
        // A stored token whose expiry is beyond any time (a file from a broken server).
        let stored = crate::token::Token::bearer("x")
            .with_expires_at(u64::MAX)
            .with_obtained_at(u64::MAX)
            .with_refresh_in(u64::MAX);
        assert!(!stored.is_expired(now));
        assert!(stored.remaining(now).is_some());
        assert!(policy.refresh_at(&stored, now, 0.5).is_some());
    }

    #[test]
    fn pkce_pairs_follow_rfc_7636() {
        let (v, c) = pkce();
        assert!(v.expose().len() >= 43);
        assert_eq!(
            c,
            crate::encoding::base64url(&sha2::Sha256::digest(v.expose().as_bytes()))
        );
    }

    #[test]
    fn pem_blocks_are_found() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        assert_eq!(
            pem_blocks(text),
            vec![("CERTIFICATE".to_string(), vec![0, 1, 2])]
        );
    }
}
