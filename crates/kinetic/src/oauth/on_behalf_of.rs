//! On-behalf-of: a web app trades its signed-in user's token for one to Epicor.

use super::{refresh, OAuthClient};
use crate::clock::BoxFuture;
use crate::token::{Token, TokenSource};
use crate::{Result, Secret};

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
