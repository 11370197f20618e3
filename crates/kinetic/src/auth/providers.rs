//! The authentication schemes as pipeline credentials: Basic, Epicor's token service, OAuth / Azure AD
//! grants through the token cache, a given access token, or none. Chosen once from settings, at the
//! edge ([`credential_for`]); inside, code holds a `dyn Credential`.

use super::cache::{TokenCache, TokenSource};
use super::persisted::Persisted;
use super::Token;
use crate::clock::{unix_seconds, BoxFuture, Clock};
use crate::http::{Anonymous, Authorization, Basic, Credential, Pipeline, Request, StaticBearer};
use crate::http::{HeaderName, HeaderValue};
use crate::oauth::{self, ClientCredentialsSource, OAuthClient, OnBehalfOfSource};
use crate::settings::{AuthScheme, InitiateOAuth, OAuthGrantType, TokenExpiry};
use crate::settings::{ConfigDir, ProcessEnv};
use crate::store::{self, Change, StoredDiscovery, TokenStore};
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
                .map(|e| crate::auth::expiry_after(obtained, e));
            Ok(t)
        })
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
    let url = oauth::discovery_url(settings.auth.scheme, s)?;
    let endpoints = match store {
        Some(store) => stored_discovery(client, store, &url).await?,
        None => client.discover(&url).await?,
    };
    let credential = OAuthClient::credential_from(s)?;
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
    let reader = store.clone();
    let stored = tokio::task::spawn_blocking(move || reader.load())
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .and_then(|s| s.discovery)
        .filter(|d| d.usable(url, now));
    if let Some(d) = stored {
        oauth::check_endpoints(url, &d.endpoints)?;
        tracing::debug!(target: "epicor_kinetic::auth", "OpenID discovery from the token store ({url})");
        return Ok(d.endpoints);
    }
    let endpoints = client.discover(url).await?;
    let writer = store.clone();
    let doc = StoredDiscovery::new(url.to_owned(), endpoints.clone(), now);
    let written = tokio::task::spawn_blocking(move || {
        writer.update(&mut |current| {
            let mut next = current.cloned().unwrap_or_default();
            next.discovery = Some(doc.clone());
            Ok(Change::Write(next))
        })
    })
    .await;
    if let Ok(Err(e)) = written {
        tracing::warn!(target: "epicor_kinetic::auth", "the discovery document could not be kept in the token store: {e}");
    }
    Ok(endpoints)
}

/// The token store of the settings, for app-only tokens: `None` (tokens kept in memory only, and
/// a warning logged) when there is none to open, such as without a home directory.
pub fn app_store(settings: &Settings) -> Option<Arc<dyn TokenStore>> {
    match store::open(settings, &ProcessEnv, &ConfigDir::locate(&ProcessEnv)) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(target: "epicor_kinetic::auth", "app-only tokens are not kept between runs: {e}");
            None
        }
    }
}

/// `source` behind the token cache, its tokens kept in `store` when there is one.
fn cached<S: TokenSource + 'static>(
    source: S,
    store: Option<Arc<dyn TokenStore>>,
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Arc<dyn Credential> {
    match store {
        Some(store) => Arc::new(TokenCredential::new(
            Persisted::new(
                source,
                store,
                clock.clone(),
                Persisted::<S>::fingerprint(settings),
            ),
            clock,
        )),
        None => Arc::new(TokenCredential::new(source, clock)),
    }
}

fn scope(settings: &Settings) -> Result<String> {
    settings.oauth.scope.clone().ok_or_else(|| {
        Error::invalid_settings(
            "Scope",
            "`Scope` is required to ask for tokens",
            "set Scope to the Epicor server app's scope, e.g. api://{server app id}/user_impersonation (or /.default for OAuthGrantType=CLIENT)",
        )
    })
}

/// A given access token (`OAuthAccessToken`, with `InitiateOAuth=OFF`): used as is; an error once
/// `OAuthExpiresIn` / `OAuthTokenTimestamp` say it has expired.
fn given_token(settings: &Settings, clock: &Arc<dyn Clock>) -> Result<Arc<dyn Credential>> {
    let s = &settings.oauth;
    let token = s.access_token.clone().ok_or_else(|| {
        Error::invalid_settings(
            "OAuthAccessToken",
            "InitiateOAuth=OFF uses only the given token, and none is set",
            "set OAuthAccessToken, or InitiateOAuth=GETANDREFRESH to sign in",
        )
    })?;
    if let (Some(TokenExpiry::After(after)), Some(stamp)) = (&s.expires_in, s.token_timestamp) {
        let expires = stamp + *after;
        if clock.now() >= expires {
            return Err(Error::invalid_settings(
                "OAuthAccessToken",
                "the given access token has expired (OAuthTokenTimestamp + OAuthExpiresIn is past)",
                "set a new OAuthAccessToken, or InitiateOAuth=GETANDREFRESH to let the connector get one",
            ));
        }
    }
    Ok(Arc::new(StaticBearer::new(&token)))
}

/// The credential for the settings' `AuthScheme` (and grant), on `client`'s pool and caches.
pub async fn credential_for(client: &Client, settings: &Settings) -> Result<Arc<dyn Credential>> {
    let clock = client.clock().clone();
    match settings.auth.scheme {
        AuthScheme::Basic => Ok(Arc::new(Basic::from_settings(settings)?)),
        AuthScheme::Token => Ok(cached(
            EpicorTokenSource::from_settings(client, settings)?,
            app_store(settings),
            settings,
            clock,
        )),
        AuthScheme::None => Ok(Arc::new(Anonymous)),
        AuthScheme::AzureAd | AuthScheme::OAuth => {
            let s = &settings.oauth;
            if s.initiate == InitiateOAuth::Off && s.grant_type.is_interactive() {
                return given_token(settings, &clock);
            }
            match s.grant_type {
                OAuthGrantType::Client => {
                    let store = app_store(settings);
                    let source = ClientCredentialsSource {
                        client: oauth_client(client, settings, store.as_ref()).await?,
                        scope: scope(settings)?,
                    };
                    Ok(cached(source, store, settings, clock))
                }
                OAuthGrantType::Obo => {
                    let oauth = oauth_client(client, settings, None).await?;
                    let assertion = s.user_assertion.clone().ok_or_else(|| {
                        Error::invalid_settings(
                            "OAuthUserAssertion",
                            "on-behalf-of needs the user's token",
                            "set OAuthUserAssertion to the access token your web app received for its signed-in user",
                        )
                    })?;
                    let source = OnBehalfOfSource {
                        client: oauth,
                        assertion,
                        scope: scope(settings)?,
                    };
                    Ok(Arc::new(TokenCredential::new(source, clock)))
                }
                // CODE and DEVICE: tokens through the token store, signing in (GETANDREFRESH) or
                // only refreshing (REFRESH); InitiateOAuth=OFF was handled above.
                _ => {
                    super::interactive::credential(
                        client,
                        settings,
                        Arc::new(super::interactive::SystemUserAgent),
                    )
                    .await
                }
            }
        }
    }
}
