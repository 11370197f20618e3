//! App-only tokens kept between runs: the client-credentials grant (secret or certificate) and
//! Epicor's token service write their tokens to the token store, as the interactive grants do, so
//! a second run within the token's life asks no server (a shell loop of `kinetic get` does not
//! hit the identity provider, which throttles). See [`Persisted`].

use crate::clock::{unix_seconds, BoxFuture, Clock};
use crate::store::{self, Change, StoredSettings, TokenStore};
use crate::token::Token;
use crate::token::TokenSource;
use crate::{Result, Settings};
use std::sync::Arc;

/// A stored token is used only with at least this long left (the cache renews 5 minutes ahead).
const MIN_REMAINING_SECS: u64 = 6 * 60;

/// A token source whose tokens are read from and written to a [`TokenStore`]: a stored token
/// for the same settings ([`Persisted::fingerprint`]) with more than six minutes left is used
/// instead of asking; a new one is written after it is obtained (a failed write only costs the
/// next run a request, and is logged).
pub struct Persisted<S> {
    inner: S,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    fingerprint: String,
}

impl<S> std::fmt::Debug for Persisted<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persisted")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<S: TokenSource> Persisted<S> {
    /// `inner`'s tokens, kept in `store` for the settings `fingerprint` names.
    pub fn new(
        inner: S,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        fingerprint: String,
    ) -> Self {
        Persisted {
            inner,
            store,
            clock,
            fingerprint,
        }
    }

    /// What a stored token must have been obtained for: the scheme, grant, server, identity
    /// provider, client, scope, user and credentials (password, client secret, certificate) of
    /// `settings`, hashed (and kept only inside the encrypted store): a token obtained with
    /// other credentials, such as before a password change, or a wrong password now, is not used.
    pub fn fingerprint(settings: &Settings) -> String {
        let o = &settings.oauth;
        let text = [
            settings.auth.scheme.to_string(),
            o.grant_type.to_string(),
            settings.url.to_ascii_lowercase(),
            settings.erp_instance.to_ascii_lowercase(),
            o.azure_authority().unwrap_or_default(),
            o.issuer.clone().unwrap_or_default(),
            o.client_id.clone().unwrap_or_default(),
            o.scope.clone().unwrap_or_default(),
            settings.auth.user.clone().unwrap_or_default(),
        ];
        let secrets = [
            &settings.auth.password,
            &o.client_secret,
            &o.jwt_cert,
            &o.jwt_cert_password,
        ];
        store::fields_digest(
            text.iter().map(|t| t.as_bytes()).chain(
                secrets
                    .into_iter()
                    .map(|s| s.as_ref().map_or(&b""[..], |s| s.expose().as_bytes())),
            ),
        )
    }

    /// The stored token for these settings, if it is not `previous` and has time left.
    async fn stored(&self, previous: Option<&Token>) -> Option<Token> {
        let settings = match store::load_blocking(&self.store).await {
            Ok(s) => s?,
            Err(e) => {
                tracing::warn!(target: "epicor_kinetic::auth", "the token store cannot be read ({e}); asking for a new token");
                return None;
            }
        };
        if settings.source.as_deref() != Some(self.fingerprint.as_str()) {
            return None;
        }
        let token = settings.token?;
        let now = unix_seconds(self.clock.now());
        let replaced = previous.is_some_and(|p| p.access_token == token.access_token);
        let lasts = token
            .expires_at
            .is_some_and(|at| at > now.saturating_add(MIN_REMAINING_SECS));
        (!replaced && lasts).then_some(token)
    }

    async fn save(&self, token: &Token) {
        let token = token.clone();
        let fingerprint = self.fingerprint.clone();
        let written = store::update_blocking(&self.store, move |current| {
            Ok(Change::Write(StoredSettings {
                token: Some(token.clone()),
                source: Some(fingerprint.clone()),
                ..StoredSettings::carried(current)
            }))
        })
        .await;
        match written {
            Ok(_) => {
                tracing::debug!(target: "epicor_kinetic::auth", "token written to the token store")
            }
            Err(e) => tracing::warn!(
                target: "epicor_kinetic::auth",
                "the token could not be written to the token store ({e}); the next run will ask for a new one"
            ),
        }
    }
}

impl<S: TokenSource> TokenSource for Persisted<S> {
    fn fetch<'a>(&'a self, previous: Option<&'a Token>) -> BoxFuture<'a, Result<Token>> {
        Box::pin(async move {
            if let Some(token) = self.stored(previous).await {
                tracing::info!(
                    target: "epicor_kinetic::auth",
                    "token from the token store: expires in {}",
                    crate::token::expiry_text(&token, self.clock.now())
                );
                return Ok(token);
            }
            let token = self.inner.fetch(previous).await?;
            self.save(&token).await;
            Ok(token)
        })
    }
}
