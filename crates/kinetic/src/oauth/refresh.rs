//! The refresh-token grant.

use super::OAuthClient;
use crate::token::Token;
use crate::{Result, Secret};

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
