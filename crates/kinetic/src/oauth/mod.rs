//! OAuth 2.0 / OpenID Connect for Azure AD (Microsoft Entra ID) and any OpenID provider: endpoint
//! discovery, client authentication (secret, or a certificate assertion RS256 + `x5t` / PS256 +
//! `x5t#S256`), and the token requests of the grants the connector uses, each as a [`TokenSource`]
//! for the token cache.

use crate::auth::cache::TokenSource;
use crate::auth::Token;
use crate::clock::{BoxFuture, Clock};
use crate::http::{HeaderValue, Method, Pipeline, Request};
use crate::settings::{AuthScheme, JwtCertType, OAuthSettings, ThumbprintAlgorithm};
use crate::{Error, Result, Secret};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;

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
}

/// The discovery document's address for the settings: Azure AD's
/// `{authority}/{tenant}/v2.0/.well-known/openid-configuration`, or `{issuer}/.well-known/...`.
pub fn discovery_url(scheme: AuthScheme, s: &OAuthSettings) -> Result<String> {
    match scheme {
        AuthScheme::AzureAd => {
            let authority = s.azure_authority().ok_or_else(|| {
                Error::invalid_settings(
                    "AzureTenant",
                    "Azure AD needs a tenant",
                    "set AzureTenant to your directory (tenant) id, or OAuthAuthority to https://login.microsoftonline.com/{tenant}",
                )
            })?;
            Ok(format!(
                "{}/v2.0/.well-known/openid-configuration",
                authority.trim_end_matches('/')
            ))
        }
        _ => {
            let base = s.issuer.clone().unwrap_or_else(|| s.authority.clone());
            Ok(format!(
                "{}/.well-known/openid-configuration",
                base.trim_end_matches('/')
            ))
        }
    }
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
        prompt_values: doc
            .get("prompt_values_supported")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }),
    };
    check_endpoints(url, &endpoints)?;
    Ok(endpoints)
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

/// How the client proves who it is at the token endpoint.
#[derive(Debug)]
pub enum ClientCredential {
    /// A public client (desktop, device): no credential.
    Public,
    /// A client secret, sent in the body.
    Secret(Secret),
    /// A certificate: a signed client assertion per request.
    Certificate(Box<CertificateAssertion>),
}

/// A certificate credential: signs a fresh client assertion for every token request.
pub struct CertificateAssertion {
    key: EncodingKey,
    algorithm: Algorithm,
    /// base64url thumbprint for the header (`x5t` or `x5t#S256`).
    thumbprint: String,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("algorithm", &self.algorithm)
            .field("thumbprint", &self.thumbprint)
            .field("key", &crate::secret::REDACTED)
            .finish()
    }
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The PEM blocks of a text, as `(label, DER)`.
fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut label: Option<String> = None;
    let mut b64 = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            label = Some(l.to_string());
            b64.clear();
        } else if line.starts_with("-----END ") {
            if let Some(l) = label.take() {
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
                    out.push((l, der));
                }
            }
            b64.clear();
        } else if label.is_some() {
            b64.push_str(line);
        }
    }
    out
}

impl CertificateAssertion {
    /// From `OAuthJWTCert` (a PEM file or PEM text holding the private key and the certificate) and
    /// `OAuthJWTCertThumbprint` (SHA1 → RS256 with `x5t`; SHA256 → PS256 with `x5t#S256`; when the
    /// thumbprint is given it must match the certificate).
    pub fn from_settings(s: &OAuthSettings) -> Result<CertificateAssertion> {
        let bad =
            |message: String, hint: &str| Error::invalid_settings("OAuthJWTCert", message, hint);
        let cert = s.jwt_cert.as_ref().ok_or_else(|| {
            bad(
                "no certificate is set".into(),
                "set OAuthJWTCert to a PEM file holding the private key and the certificate",
            )
        })?;
        let (key, der) = match s.jwt_cert_type {
            JwtCertType::PemKeyFile | JwtCertType::PemKeyBlob => {
                let text = if s.jwt_cert_type == JwtCertType::PemKeyFile {
                    zeroize::Zeroizing::new(std::fs::read_to_string(cert.expose()).map_err(
                        |e| {
                            bad(
                                format!("cannot read the certificate file: {e}"),
                                "check the path in OAuthJWTCert (OAuthJWTCertType=PEMKEY_FILE)",
                            )
                        },
                    )?)
                } else {
                    zeroize::Zeroizing::new(cert.expose().to_string())
                };
                pem_key_and_cert(&text)?
            }
            JwtCertType::PfxFile | JwtCertType::PfxBlob => {
                let data = if s.jwt_cert_type == JwtCertType::PfxFile {
                    zeroize::Zeroizing::new(std::fs::read(cert.expose()).map_err(|e| {
                        bad(
                            format!("cannot read the PFX file: {e}"),
                            "check the path in OAuthJWTCert (OAuthJWTCertType=PFXFILE)",
                        )
                    })?)
                } else {
                    zeroize::Zeroizing::new(
                        base64::engine::general_purpose::STANDARD
                            .decode(cert.expose().trim())
                            .map_err(|_| {
                                bad(
                                    "the PFX blob is not base64".into(),
                                    "set OAuthJWTCert to the PFX file's bytes in base64 (OAuthJWTCertType=PFXBLOB)",
                                )
                            })?,
                    )
                };
                let password = s
                    .jwt_cert_password
                    .as_ref()
                    .map(|p| p.expose().to_string())
                    .unwrap_or_default();
                pfx_key_and_cert(&data, &password)?
            }
        };
        let sha1 = sha1::Sha1::digest(&der);
        let sha256 = sha2::Sha256::digest(&der);
        let algorithm = s.jwt_cert_thumbprint.as_ref().map(|t| t.algorithm);
        if let Some(t) = &s.jwt_cert_thumbprint {
            let actual = match t.algorithm {
                ThumbprintAlgorithm::Sha1 => hex(&sha1),
                ThumbprintAlgorithm::Sha256 => hex(&sha256),
            };
            if actual != t.hex {
                return Err(Error::invalid_settings(
                    "OAuthJWTCertThumbprint",
                    format!("the thumbprint does not match the certificate in OAuthJWTCert (its thumbprint is {actual})"),
                    "correct OAuthJWTCertThumbprint, or leave it out",
                ));
            }
        }
        let (algorithm, thumbprint) = match algorithm {
            Some(ThumbprintAlgorithm::Sha256) => (Algorithm::PS256, b64url(&sha256)),
            _ => (Algorithm::RS256, b64url(&sha1)),
        };
        Ok(CertificateAssertion {
            key,
            algorithm,
            thumbprint,
        })
    }

    /// A client assertion for `client_id` at `token_endpoint`, valid five minutes.
    pub fn assertion(&self, client_id: &str, token_endpoint: &str, now: u64) -> Result<String> {
        let mut h = Header::new(self.algorithm);
        if self.algorithm == Algorithm::PS256 {
            h.x5t_s256 = Some(self.thumbprint.clone());
        } else {
            h.x5t = Some(self.thumbprint.clone());
        }
        let claims = serde_json::json!({
            "aud": token_endpoint, "iss": client_id, "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 300,
        });
        jsonwebtoken::encode(&h, &claims, &self.key).map_err(|e| Error::Protocol {
            status: None,
            message: format!("cannot sign the client assertion: {e}"),
            correlation_id: None,
            source: None,
        })
    }
}

/// The RSA private key and the certificate of a PEM text holding both.
fn pem_key_and_cert(text: &str) -> Result<(EncodingKey, Vec<u8>)> {
    let bad = |message: &str, hint: &str| Error::invalid_settings("OAuthJWTCert", message, hint);
    let blocks = pem_blocks(text);
    let der = blocks
        .iter()
        .find(|(l, _)| l == "CERTIFICATE")
        .map(|(_, d)| d.clone())
        .ok_or_else(|| {
            bad(
                "the PEM holds no CERTIFICATE block",
                "put the certificate after the private key in the file",
            )
        })?;
    let key_pem = text
        .split("-----BEGIN ")
        .find(|part| {
            part.starts_with("PRIVATE KEY-----") || part.starts_with("RSA PRIVATE KEY-----")
        })
        .map(|part| zeroize::Zeroizing::new(format!("-----BEGIN {part}")))
        .ok_or_else(|| {
            bad(
                "the PEM holds no private key",
                "put the PKCS#8 or PKCS#1 RSA private key in the file",
            )
        })?;
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).map_err(|_| {
        bad(
            "the private key is not an RSA key in PEM",
            "use an RSA key (PKCS#8 PRIVATE KEY or PKCS#1 RSA PRIVATE KEY)",
        )
    })?;
    Ok((key, der))
}

/// The RSA private key and its certificate from a PKCS#12 (PFX) file.
fn pfx_key_and_cert(data: &[u8], password: &str) -> Result<(EncodingKey, Vec<u8>)> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let bad = |message: &str, hint: &str| Error::invalid_settings("OAuthJWTCert", message, hint);
    let store = p12_keystore::KeyStore::from_pkcs12(
        data,
        password,
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|_| {
        bad(
            "the PFX cannot be opened",
            "check OAuthJWTCertPassword and that OAuthJWTCert is a PKCS#12 (PFX) file",
        )
    })?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        bad(
            "the PFX holds no private key",
            "export the certificate with its private key",
        )
    })?;
    let der = chain
        .certs()
        .first()
        .map(|c| c.as_der().to_vec())
        .ok_or_else(|| {
            bad(
                "the PFX holds no certificate for its key",
                "export the certificate with its private key",
            )
        })?;
    let private = rsa::RsaPrivateKey::from_pkcs8_der(chain.key().as_der()).map_err(|_| {
        bad(
            "the PFX's private key is not an RSA key",
            "use an RSA certificate",
        )
    })?;
    let pkcs1 = private.to_pkcs1_der().map_err(|_| {
        bad(
            "the PFX's private key cannot be used",
            "use an RSA certificate",
        )
    })?;
    Ok((EncodingKey::from_rsa_der(pkcs1.as_bytes()), der))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A client of one provider's token endpoint.
#[derive(Debug)]
pub struct OAuthClient {
    pipeline: Pipeline,
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
            endpoints,
            client_id,
            credential,
            clock,
        }
    }

    /// The client credential from settings: a secret, a certificate, or none (public client).
    pub fn credential_from(s: &OAuthSettings) -> Result<ClientCredential> {
        Ok(match (&s.client_secret, &s.jwt_cert) {
            (Some(secret), None) => ClientCredential::Secret(secret.clone()),
            (None, Some(_)) => {
                ClientCredential::Certificate(Box::new(CertificateAssertion::from_settings(s)?))
            }
            (None, None) => ClientCredential::Public,
            (Some(_), Some(_)) => {
                return Err(Error::invalid_settings(
                    "OAuthClientSecret",
                    "both a client secret and a certificate are set",
                    "set only one of OAuthClientSecret and OAuthJWTCert",
                ))
            }
        })
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
        mut form: Vec<(&'static str, Secret)>,
    ) -> Result<crate::http::Response> {
        form.push(("client_id", Secret::new(self.client_id.as_str())));
        match &self.credential {
            ClientCredential::Public => {}
            ClientCredential::Secret(s) => form.push(("client_secret", s.clone())),
            ClientCredential::Certificate(c) => {
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
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(
                        v.expose(),
                        percent_encoding::NON_ALPHANUMERIC
                    )
                )
            })
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
        for (name, value) in &form {
            if !matches!(
                *name,
                "client_id" | "grant_type" | "scope" | "client_assertion_type"
            ) {
                request = request.secret(value);
            }
        }
        self.pipeline.send(request).await
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
    token.expires_at = num("expires_in").map(|e| crate::auth::expiry_after(obtained_at, e));
    token.refresh_in = num("refresh_in").map(|r| r.min(crate::auth::MAX_LIFETIME_SECS));
    token.obtained_at = Some(obtained_at);
    token.refresh_token = v
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(Secret::new);
    token.scope = v.get("scope").and_then(Value::as_str).map(str::to_string);
    token.id_token = v.get("id_token").and_then(Value::as_str).map(Secret::new);
    Ok(token)
}

/// The client-credentials grant (`OAuthGrantType=CLIENT`): no user; refreshed by asking again.
#[derive(Debug)]
pub struct ClientCredentialsSource {
    /// The token endpoint's client.
    pub client: OAuthClient,
    /// The scope asked for (`{resource}/.default`).
    pub scope: String,
}

impl TokenSource for ClientCredentialsSource {
    fn fetch<'a>(&'a self, _previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        Box::pin(async move {
            self.client
                .request(vec![
                    ("grant_type", Secret::new("client_credentials")),
                    ("scope", Secret::new(self.scope.as_str())),
                ])
                .await
        })
    }
}

/// On-behalf-of (`OAuthGrantType=OBO`): trades the user's token for one to Epicor; asks again with the
/// same assertion when the result expires (or refreshes, when a refresh token came back).
#[derive(Debug)]
pub struct OnBehalfOfSource {
    /// The token endpoint's client (the web app, a confidential client).
    pub client: OAuthClient,
    /// The user's token the web app received.
    pub assertion: Secret,
    /// The Epicor API's scope.
    pub scope: String,
}

impl TokenSource for OnBehalfOfSource {
    fn fetch<'a>(&'a self, previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        Box::pin(async move {
            if let Some(rt) = previous.and_then(|p| p.refresh_token.as_ref()) {
                if let Ok(t) = refresh(&self.client, rt, &self.scope).await {
                    return Ok(t);
                }
            }
            self.client
                .request(vec![
                    (
                        "grant_type",
                        Secret::new("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ),
                    ("requested_token_use", Secret::new("on_behalf_of")),
                    ("assertion", self.assertion.clone()),
                    ("scope", Secret::new(self.scope.as_str())),
                ])
                .await
        })
    }
}

/// The refresh-token grant.
pub async fn refresh(client: &OAuthClient, refresh_token: &Secret, scope: &str) -> Result<Token> {
    let mut t = client
        .request(vec![
            ("grant_type", Secret::new("refresh_token")),
            ("refresh_token", refresh_token.clone()),
            ("scope", Secret::new(scope)),
        ])
        .await?;
    // A provider that does not rotate keeps the old refresh token valid.
    if t.refresh_token.is_none() {
        t.refresh_token = Some(refresh_token.clone());
    }
    Ok(t)
}

/// A PKCE pair: `(verifier, S256 challenge)`.
pub fn pkce() -> (Secret, String) {
    let bytes: [u8; 32] = rand::random();
    let verifier = b64url(&bytes);
    let challenge = b64url(&sha2::Sha256::digest(verifier.as_bytes()));
    (Secret::new(verifier), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let max = crate::auth::MAX_LIFETIME_SECS;
        assert_eq!(t.expires_at, Some(1_000 + max));
        assert_eq!(t.refresh_in, Some(max));
        let now = crate::clock::from_unix_seconds(1_000);
        assert!(!t.is_expired(now));
        let policy = crate::auth::cache::RefreshPolicy::new(
            std::time::Duration::from_secs(300),
            std::time::Duration::from_secs(30),
        );
        assert!(policy.refresh_at(&t, now, 0.5).is_some());
        // A stored token whose expiry is beyond any time (a file from a broken server).
        let stored = crate::auth::Token::bearer("x")
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
        assert_eq!(c, b64url(&sha2::Sha256::digest(v.expose().as_bytes())));
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
