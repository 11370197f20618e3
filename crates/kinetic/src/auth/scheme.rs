//! Where a [`Client`] chooses how to authenticate from the settings: `AuthScheme`, the grant and
//! `InitiateOAuth` pick the credential ([`credential_for`]). The modules it builds from
//! ([`providers`](super::providers), [`persisted`](super::persisted),
//! [`interactive`](super::interactive)) never import it, and the pipeline takes the credential it
//! is given: this is the one place that chooses by `AuthScheme`.

use super::persisted::Persisted;
use super::providers::{basic, oauth_client, EpicorTokenSource, TokenCredential};
use crate::clock::Clock;
use crate::http::{Anonymous, Credential, StaticBearer};
use crate::oauth::{ClientCredentialsSource, OnBehalfOfSource};
use crate::settings::{
    AuthScheme, ConfigDir, InitiateOAuth, OAuthGrantType, ProcessEnv, TokenExpiry,
};
use crate::store::{self, TokenStore};
use crate::token::TokenSource;
use crate::{Client, Error, Result, Settings};
use std::sync::Arc;

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
        AuthScheme::Basic => Ok(Arc::new(basic(settings)?)),
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
