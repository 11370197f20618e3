//! The authentication schemes as pipeline credentials: Basic, Epicor's token service, OAuth / Azure AD
//! grants through the token cache, a given access token, or none. Chosen once from settings, at the
//! edge ([`credential_for`](super::scheme::credential_for)); inside, code holds a `dyn Credential`.

use crate::clock::{unix_seconds, BoxFuture, Clock};
use crate::http::{Anonymous, Authorization, Basic, Credential, Pipeline, Request};
use crate::http::{HeaderName, HeaderValue};
use crate::oauth::{self, CertificateAssertion, CertificateSource, ClientCredential, OAuthClient};
use crate::settings::{AuthScheme, JwtCertType, OAuthSettings, ThumbprintAlgorithm};
use crate::store::{self, Change, StoredDiscovery, TokenStore};
use crate::token::Token;
use crate::token::{TokenCache, TokenSource};
use crate::Client;
use crate::{Error, Result, Secret, Settings};
use std::sync::{Arc, Mutex};

/// A credential whose bearer token comes from a [`TokenCache`] (refreshed ahead of expiry, one
/// request for any number of callers, dropped on a 401).
pub struct TokenCredential<S> {
    cache: TokenCache<S>,
    /// The token last handed out, to invalidate exactly it on a 401.
    last: Mutex<Option<Token>>,
}

impl<S> std::fmt::Debug for TokenCredential<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCredential").finish_non_exhaustive()
    }
}

impl<S: TokenSource> TokenCredential<S> {
    /// Wraps a token source with a cache on `clock`.
    pub fn new(source: S, clock: Arc<dyn Clock>) -> Self {
        TokenCredential {
            cache: TokenCache::with_clock(source, clock, Default::default()),
            last: Mutex::new(None),
        }
    }

    /// The current token (fetched or refreshed when needed).
    pub async fn token(&self) -> Result<Token> {
        let t = self.cache.get().await?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(t.clone());
        Ok(t)
    }

    /// How many tokens the source was asked for.
    pub fn fetches(&self) -> u64 {
        self.cache.fetches()
    }
}

impl<S: TokenSource + 'static> Credential for TokenCredential<S> {
    fn authorization(&self) -> BoxFuture<'_, Result<Option<Authorization>>> {
        Box::pin(async move {
            let t = self.token().await?;
            Ok(Some(Authorization::bearer(&t.access_token)))
        })
    }

    fn invalidate(&self, rejected: &Authorization) -> bool {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match last {
            Some(t) if Authorization::bearer(&t.access_token).expose() == rejected.expose() => {
                self.cache.invalidate(&t);
                true
            }
            // Already replaced by a newer token: retrying with it may work.
            Some(_) => true,
            None => false,
        }
    }
}

/// HTTP Basic from `User` and `Password` (`AuthScheme=Basic`); an error naming the missing one
/// otherwise.
pub fn basic(settings: &Settings) -> Result<Basic> {
    let user = settings.auth.user.as_deref().ok_or_else(|| {
        Error::invalid_settings(
            "User",
            "`User` is required for Basic authentication",
            "set User to your Epicor user name",
        )
    })?;
    let password = settings.auth.password.as_ref().ok_or_else(|| {
        Error::invalid_settings(
            "Password",
            "`Password` is required for Basic authentication",
            "set Password, or set it in KINETIC_PASSWORD",
        )
    })?;
    Ok(Basic::new(user, password))
}

/// Epicor's token service (`AuthScheme=Token`): `POST {base}TokenResource.svc/` with the user's
/// credentials as headers. There is no refresh token: a new token is asked for before expiry.
#[derive(Debug)]
pub struct EpicorTokenSource {
    pipeline: Pipeline,
    user: String,
    password: Secret,
    clock: Arc<dyn Clock>,
}

impl EpicorTokenSource {
    /// From `User` and `Password`, over a pipeline without credentials of its own on the
    /// client's pool.
    pub fn from_settings(client: &Client, settings: &Settings) -> Result<Self> {
        let clock = client.clock().clone();
        let missing = |p: &str| {
            Error::invalid_settings(
                p,
                format!("`{p}` is required for AuthScheme=Token"),
                format!("set {p}"),
            )
        };
        let user = settings.auth.user.clone().ok_or_else(|| missing("User"))?;
        let password = settings
            .auth
            .password
            .clone()
            .ok_or_else(|| missing("Password"))?;
        let pipeline = client.pipeline(settings, Arc::new(Anonymous))?;
        Ok(EpicorTokenSource {
            pipeline,
            user,
            password,
            clock,
        })
    }
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let v = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_settings(
            if name == "username" { "User" } else { "Password" },
            "the value cannot be sent in an HTTP header (it holds a line break or another control character)",
            "remove control characters from it",
        )
    })?;
    Ok((HeaderName::from_static(name), v))
}

impl TokenSource for EpicorTokenSource {
    fn fetch<'a>(&'a self, _previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        Box::pin(async move {
            let (un, uv) = header("username", &self.user)?;
            let (pn, mut pv) = header("password", self.password.expose())?;
            pv.set_sensitive(true);
            let endpoint = self.pipeline.endpoints().token_resource();
            let request = Request::post(&endpoint)?
                .header(un, uv)
                .header(pn, pv)
                .confidential();
            let obtained = unix_seconds(self.clock.now());
            let response = self.pipeline.send(request).await?;
            let v: serde_json::Value = response.json()?;
            let token = v
                .get("AccessToken")
                .and_then(|t| t.as_str())
                .ok_or_else(|| Error::Protocol {
                    status: Some(response.status().as_u16()),
                    message: "the token service's answer has no AccessToken".into(),
                    correlation_id: None,
                    source: None,
                })?;
            let mut t = Token::bearer(Secret::new(token));
            t.obtained_at = Some(obtained);
            t.expires_at = v
                .get("ExpiresIn")
                .and_then(|e| {
                    e.as_u64()
                        .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
                })
                .map(|e| crate::token::expiry_after(obtained, e));
            Ok(t)
        })
    }
}

/// The discovery document's address for the settings: Azure AD's
/// `{authority}/{tenant}/v2.0/.well-known/openid-configuration`, or `{issuer}/.well-known/...`.
pub fn discovery_url(settings: &Settings) -> Result<String> {
    let s = &settings.oauth;
    match settings.auth.scheme {
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

/// An OAuth client for the settings: endpoints by discovery (read once per [`Client`], and kept
/// in `store` for a day when one is given, so a warm start needs no network call), the client
/// credential, requests through the client's pipeline.
pub async fn oauth_client(
    client: &Client,
    settings: &Settings,
    store: Option<&Arc<dyn TokenStore>>,
) -> Result<OAuthClient> {
    let s = &settings.oauth;
    let client_id = s.client_id.clone().ok_or_else(|| {
        Error::invalid_settings(
            "OAuthClientId",
            "`OAuthClientId` is required for OAuth",
            "set OAuthClientId to the app registration's client id",
        )
    })?;
    let url = discovery_url(settings)?;
    let endpoints = match store {
        Some(store) => stored_discovery(client, store, &url).await?,
        None => client.discover(&url).await?,
    };
    let credential = client_credential(s)?;
    Ok(OAuthClient::new(
        client.outside().clone(),
        endpoints,
        client_id,
        credential,
        client.clock().clone(),
    ))
}

/// The discovery document from the store when it is young enough (checked again as if just
/// read), else from the provider, then written to the store (a failed write is only logged).
async fn stored_discovery(
    client: &Client,
    store: &Arc<dyn TokenStore>,
    url: &str,
) -> Result<oauth::Endpoints> {
    let now = unix_seconds(client.clock().now());
    let stored = store::load_blocking(store)
        .await
        .ok()
        .flatten()
        .and_then(|s| s.discovery)
        .filter(|d| d.usable(url, now));
    if let Some(d) = stored {
        oauth::check_endpoints(url, &d.endpoints)?;
        tracing::debug!(target: "epicor_kinetic::auth", "OpenID discovery from the token store ({url})");
        return Ok(d.endpoints);
    }
    let endpoints = client.discover(url).await?;
    let doc = StoredDiscovery::new(url.to_owned(), endpoints.clone(), now);
    let written = store::update_blocking(store, move |current| {
        let mut next = current.cloned().unwrap_or_default();
        next.discovery = Some(doc.clone());
        Ok(Change::Write(next))
    })
    .await;
    if let Err(e) = written {
        tracing::warn!(target: "epicor_kinetic::auth", "the discovery document could not be kept in the token store: {e}");
    }
    Ok(endpoints)
}

/// How the application proves who it is, from the settings: `OAuthClientSecret`, a certificate
/// (`OAuthJWTCert` and its type, password and thumbprint), or nothing (a public client).
pub fn client_credential(s: &OAuthSettings) -> Result<ClientCredential> {
    Ok(match (&s.client_secret, &s.jwt_cert) {
        (Some(secret), None) => ClientCredential::Secret(secret.clone()),
        (None, Some(_)) => ClientCredential::Certificate(Box::new(certificate(s)?)),
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

/// The certificate credential of `OAuthJWTCert` (a PEM file or text holding the private key and
/// the certificate, or a PFX file or blob) and `OAuthJWTCertThumbprint` (SHA1: RS256 with `x5t`;
/// SHA256: PS256 with `x5t#S256`; when given it must match the certificate).
fn certificate(s: &OAuthSettings) -> Result<CertificateAssertion> {
    let bad = |message: String, hint: &str| Error::invalid_settings("OAuthJWTCert", message, hint);
    let cert = s.jwt_cert.as_ref().ok_or_else(|| {
        bad(
            "no certificate is set".into(),
            "set OAuthJWTCert to a PEM file holding the private key and the certificate",
        )
    })?;
    let sha256 = s
        .jwt_cert_thumbprint
        .as_ref()
        .is_some_and(|t| t.algorithm == ThumbprintAlgorithm::Sha256);
    let assertion = match s.jwt_cert_type {
        JwtCertType::PemKeyFile | JwtCertType::PemKeyBlob => {
            let text = if s.jwt_cert_type == JwtCertType::PemKeyFile {
                zeroize::Zeroizing::new(std::fs::read_to_string(cert.expose()).map_err(|e| {
                    bad(
                        format!("cannot read the certificate file: {e}"),
                        "check the path in OAuthJWTCert (OAuthJWTCertType=PEMKEY_FILE)",
                    )
                })?)
            } else {
                zeroize::Zeroizing::new(cert.expose().to_string())
            };
            CertificateAssertion::load(CertificateSource::Pem(&text), sha256)?
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
                    crate::encoding::base64_decode(cert.expose().trim()).ok_or_else(|| {
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
                .map(|p| p.expose())
                .unwrap_or_default();
            CertificateAssertion::load(
                CertificateSource::Pfx {
                    data: &data,
                    password,
                },
                sha256,
            )?
        }
    };
    if let Some(t) = &s.jwt_cert_thumbprint {
        let (sha1, sha256) = assertion.thumbprints();
        let actual = match t.algorithm {
            ThumbprintAlgorithm::Sha1 => sha1,
            ThumbprintAlgorithm::Sha256 => sha256,
        };
        if actual != t.hex {
            return Err(Error::invalid_settings(
                "OAuthJWTCertThumbprint",
                format!("the thumbprint does not match the certificate in OAuthJWTCert (its thumbprint is {actual})"),
                "correct OAuthJWTCertThumbprint, or leave it out",
            ));
        }
    }
    Ok(assertion)
}
