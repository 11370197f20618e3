//! The client-credentials grant: no user; refreshed by asking again.

use super::OAuthClient;
use crate::clock::BoxFuture;
use crate::token::{Token, TokenSource};
use crate::{Result, Secret};

/// The client-credentials grant (`OAuthGrantType=CLIENT`) as a token source.
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
