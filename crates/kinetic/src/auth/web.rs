//! Web applications: users sign in with Azure AD (or another OpenID provider) and the server calls
//! Epicor as each of them.
//!
//! - [`WebSignIn`]: the sign-in as a confidential client (authorization code with PKCE, `state` and
//!   `nonce`), the refresh of the user's token to the app, and the sign-out address.
//! - [`Client::on_behalf_of`](crate::Client::on_behalf_of): the user's token to the app in, a
//!   [`Connection`](crate::Connection) that calls Epicor as that user out. The on-behalf-of
//!   exchange happens once per incoming token and the Epicor token is kept per user in the
//!   client's [`UserTokenCache`] (in Redis too, with `OAuthSettingsLocation=redis://...`, shared by
//!   every instance), renewed before it expires. An answer that needs the user (consent missing,
//!   MFA or conditional access: `interaction_required`, `consent_required`, `invalid_grant`)
//!   is [`Error::OAuth`] whose [`OAuthError::needs_sign_in`](crate::OAuthError::needs_sign_in) is
//!   true, with the claims challenge to send back in [`WebSignIn::begin`].

use std::sync::{Arc, Mutex, PoisonError};

use super::providers::oauth_client;
use crate::clock::{unix_seconds, BoxFuture};
use crate::http::{Authorization, Credential};
use crate::oauth::{code, OAuthClient, OnBehalfOfSource};
use crate::settings::AuthScheme;
use crate::store::{UserKey, UserTokenCache};
use crate::token::Token;
use crate::{Client, Error, Result, Secret, Settings};

/// The credential of a per-user connection: the Epicor token of one user from the client's
/// [`UserTokenCache`].
pub struct OnBehalfOfCredential {
    cache: Arc<UserTokenCache>,
    key: UserKey,
    source: OnBehalfOfSource,
    /// A token the server refused: not handed out again.
    refused: Mutex<Option<Token>>,
}

impl std::fmt::Debug for OnBehalfOfCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnBehalfOfCredential")
            .field("user", &self.key.user)
            .finish_non_exhaustive()
    }
}

impl OnBehalfOfCredential {
    /// The key of the user's entry.
    pub fn key(&self) -> &UserKey {
        &self.key
    }
}

impl Credential for OnBehalfOfCredential {
    fn authorization(&self) -> BoxFuture<'_, Result<Option<Authorization>>> {
        Box::pin(async move {
            let refused = self
                .refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let token = self
                .cache
                .get(&self.key, refused.as_ref(), &self.source)
                .await?;
            Ok(Some(Authorization::bearer(&token.access_token)))
        })
    }

    fn invalidate(&self, rejected: &Authorization) -> bool {
        let Some(token) = rejected.expose().strip_prefix("Bearer ") else {
            return false;
        };
        let token = Secret::new(token);
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Token::bearer(token.clone()));
        let (cache, key) = (self.cache.clone(), self.key.clone());
        // A 401 is seen inside the runtime; Redis is told in the background.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { cache.invalidate(&key, &token).await });
        }
        true
    }
}

/// Checks that `settings` can make on-behalf-of exchanges: `AuthScheme=AzureAD` or `OAuth`, a
/// client id, a client credential and the Epicor `Scope`.
fn obo_settings(settings: &Settings, assertion: &Secret) -> Result<Settings> {
    if !matches!(
        settings.auth.scheme,
        AuthScheme::AzureAd | AuthScheme::OAuth
    ) {
        return Err(Error::invalid_settings(
            "AuthScheme",
            format!(
                "on-behalf-of needs AuthScheme=AzureAD or OAuth, not {}",
                settings.auth.scheme
            ),
            "make the client with AuthScheme=AzureAD (or OAuth), your web app's OAuthClientId and OAuthClientSecret (or OAuthJWTCert), and the Epicor API's Scope",
        ));
    }
    confidential(
        settings,
        "on-behalf-of needs the web app's client credential",
    )?;
    if settings.oauth.scope.is_none() {
        return Err(Error::invalid_settings(
            "Scope",
            "on-behalf-of needs the Epicor API's scope",
            "set Scope to the Epicor server app's delegated scope, e.g. api://{server app id}/user_impersonation",
        ));
    }
    let mut s = settings.clone();
    s.oauth.grant_type = crate::settings::OAuthGrantType::Obo;
    s.oauth.user_assertion = Some(assertion.clone());
    Ok(s)
}

/// Refuses settings without a client credential (`why` says what needs one).
fn confidential(settings: &Settings, why: &str) -> Result<()> {
    let o = &settings.oauth;
    if o.client_secret.is_none() && o.jwt_cert.is_none() {
        return Err(Error::invalid_settings(
            "OAuthClientSecret",
            why,
            "set OAuthClientSecret to your web app's secret, or OAuthJWTCert to its certificate",
        ));
    }
    Ok(())
}

/// The credential [`Client::on_behalf_of`](crate::Client::on_behalf_of) opens its connection with.
pub async fn on_behalf_of_credential(
    client: &Client,
    user_access_token: &Secret,
) -> Result<(Settings, Arc<OnBehalfOfCredential>)> {
    let settings = obo_settings(client.settings(), user_access_token)?;
    let cache = client.user_tokens().await?;
    let oauth = oauth_client(client, &settings, None).await?;
    let scope = settings.oauth.scope.clone().unwrap_or_default();
    let key = UserKey::for_assertion(
        user_access_token,
        &oauth.client_id,
        &format!("{}/{}", settings.url, settings.erp_instance),
        &scope,
    );
    let credential = OnBehalfOfCredential {
        cache,
        key,
        source: OnBehalfOfSource {
            client: oauth,
            assertion: user_access_token.clone(),
            scope,
        },
        refused: Mutex::new(None),
    };
    Ok((settings, Arc::new(credential)))
}

/// A sign-in in progress: what the application keeps (in its session cookie, encrypted) between
/// sending the browser to the identity provider and its return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The `state` sent, matched against the redirect's.
    pub state: Secret,
    /// The PKCE verifier.
    pub verifier: Secret,
    /// The `nonce` sent, matched against the id token's.
    pub nonce: Secret,
    /// The scopes asked for.
    pub scope: String,
}

/// Who signed in, and their tokens to the application.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The tokens: the access token is the one [`Client::on_behalf_of`](crate::Client::on_behalf_of)
    /// exchanges; the refresh token renews it ([`WebSignIn::refresh`]).
    pub token: Token,
    /// `{tenant}.{object id}`: the user, as the token cache and sign-out name them.
    pub user: String,
    /// The display name (`name`).
    pub name: String,
    /// The sign-in name (`preferred_username`).
    pub username: String,
}

/// The web application's side of the sign-in: see the [module documentation](self).
#[derive(Debug)]
pub struct WebSignIn {
    oauth: OAuthClient,
    redirect_uri: String,
    clock: Arc<dyn crate::clock::Clock>,
}

impl WebSignIn {
    /// The sign-in of the client's app registration (its `OAuthClientId`, `OAuthClientSecret` or
    /// `OAuthJWTCert`, `AzureTenant` or `OAuthIssuer`), coming back to `redirect_uri` (registered
    /// with the identity provider).
    pub async fn new(client: &Client, redirect_uri: &str) -> Result<WebSignIn> {
        let settings = client.settings();
        confidential(
            settings,
            "a web app signs users in as a confidential client",
        )?;
        Ok(WebSignIn {
            oauth: oauth_client(client, settings, None).await?,
            redirect_uri: redirect_uri.to_owned(),
            clock: client.clock().clone(),
        })
    }

    /// Where to send the browser to sign in for `scope` (with `openid profile offline_access`
    /// added), and what to keep until it comes back. `prompt` (`consent`, `login`,
    /// `select_account`) and `claims` (the challenge of an `interaction_required` error) are sent
    /// when given.
    pub fn begin(
        &self,
        scope: &str,
        prompt: Option<&str>,
        claims: Option<&str>,
    ) -> Result<(String, PendingSignIn)> {
        let (verifier, challenge) = code::pkce();
        let state = code::random_state();
        let nonce = code::random_state();
        let mut scopes: Vec<&str> = vec!["openid", "profile", "offline_access"];
        for s in scope.split_whitespace() {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        let scope = scopes.join(" ");
        let url = code::authorization_url(
            &self.oauth,
            &self.redirect_uri,
            &scope,
            &state,
            &challenge,
            prompt,
        )?;
        let mut url = crate::http::Url::parse(&url)
            .map_err(|e| Error::internal(format!("the authorization URL: {e}")))?;
        url.query_pairs_mut().append_pair("nonce", nonce.expose());
        if let Some(c) = claims {
            url.query_pairs_mut().append_pair("claims", c);
        }
        Ok((
            url.into(),
            PendingSignIn {
                state,
                verifier,
                nonce,
                scope,
            },
        ))
    }

    /// Completes a sign-in: checks the returned `state` against `pending`'s, redeems `code` with
    /// the PKCE verifier, and reads who signed in from the id token (its audience, issuer, nonce
    /// and lifetime checked; it came straight from the token endpoint over the pipeline, which
    /// OpenID Connect Core 3.1.3.7 accepts in place of its signature).
    pub async fn finish(
        &self,
        pending: &PendingSignIn,
        returned_state: &str,
        code: &Secret,
    ) -> Result<SignedIn> {
        if pending.state != Secret::new(returned_state) {
            return Err(refused(
                "the sign-in's state does not match the one this browser was sent with (a forged or replayed redirect)",
            ));
        }
        let token = code::redeem(
            &self.oauth,
            code,
            &self.redirect_uri,
            Some(&pending.verifier),
            &pending.scope,
        )
        .await?;
        let id = token
            .id_token
            .as_ref()
            .ok_or_else(|| refused("the identity provider returned no id token"))?;
        let claims = crate::store::users::jwt_claims(id.expose())
            .ok_or_else(|| refused("the id token is not a JWT"))?;
        let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let aud_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => *a == self.oauth.client_id,
            Some(serde_json::Value::Array(a)) => a.iter().any(|x| *x == *self.oauth.client_id),
            _ => false,
        };
        if !aud_ok {
            return Err(refused("the id token is not for this application (aud)"));
        }
        if text("iss") != self.oauth.endpoints.issuer {
            return Err(refused("the id token comes from another issuer (iss)"));
        }
        if Secret::new(text("nonce")) != pending.nonce {
            return Err(refused("the id token's nonce is not this sign-in's"));
        }
        let now = unix_seconds(self.clock.now());
        if claims
            .get("exp")
            .and_then(|v| v.as_u64())
            .is_none_or(|e| e + 300 < now)
        {
            return Err(refused("the id token has expired"));
        }
        let user = crate::store::users::user_of(id.expose())
            .ok_or_else(|| refused("the id token names no tenant and object id (tid, oid)"))?;
        Ok(SignedIn {
            user,
            name: text("name").to_owned(),
            username: text("preferred_username").to_owned(),
            token,
        })
    }

    /// A new token to the application from the user's refresh token (before the old one
    /// expires), for the scopes of the sign-in.
    pub async fn refresh(&self, refresh_token: &Secret, scope: &str) -> Result<Token> {
        crate::oauth::refresh(&self.oauth, refresh_token, scope).await
    }

    /// Where to send the browser to sign out at the identity provider too, coming back to
    /// `post_logout_redirect_uri` (registered); `None` when the provider has no end-session
    /// endpoint. The request names the app by `client_id`, never by an `id_token_hint`: no token
    /// goes in a URL.
    pub fn sign_out_url(&self, post_logout_redirect_uri: &str) -> Option<String> {
        let end = self.oauth.endpoints.end_session.as_deref()?;
        let mut url = crate::http::Url::parse(end).ok()?;
        url.query_pairs_mut()
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .append_pair("client_id", &self.oauth.client_id);
        Some(url.into())
    }
}

fn refused(why: &str) -> Error {
    Error::OAuth {
        status: None,
        error: Box::new(crate::OAuthError::new(
            crate::OAuthErrorCode::Other("invalid_sign_in".into()),
            why,
        )),
    }
}
