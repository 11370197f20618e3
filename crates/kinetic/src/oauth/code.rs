//! The authorization-code grant with PKCE (RFC 7636): the authorization request's address, the
//! `state` and verifier that go with it, and the code's redemption.

use super::OAuthClient;
use crate::encoding::base64url;
use crate::http::Url;
use crate::token::Token;
use crate::{Error, Result, Secret};
use sha2::Digest;

/// A PKCE pair: `(verifier, S256 challenge)`.
pub fn pkce() -> (Secret, String) {
    let bytes: [u8; 32] = rand::random();
    let verifier = base64url(&bytes);
    let challenge = base64url(&sha2::Sha256::digest(verifier.as_bytes()));
    (Secret::new(verifier), challenge)
}

/// Redeems an authorization code.
pub async fn redeem(
    client: &OAuthClient,
    code: &Secret,
    redirect_uri: &str,
    code_verifier: Option<&Secret>,
    scope: &str,
) -> Result<Token> {
    let mut form = vec![
        ("grant_type", Secret::new("authorization_code")),
        ("code", code.clone()),
        ("redirect_uri", Secret::new(redirect_uri)),
        ("scope", Secret::new(scope)),
    ];
    if let Some(v) = code_verifier {
        form.push(("code_verifier", v.clone()));
    }
    client.request(form).await
}

/// A random `state`, 128 bits, base64url.
pub fn random_state() -> Secret {
    Secret::new(base64url(&rand::random::<[u8; 16]>()))
}

/// The authorization request's URL (`response_mode=query`, S256 challenge, `prompt` when
/// given).
pub fn authorization_url(
    client: &OAuthClient,
    redirect_uri: &str,
    scope: &str,
    state: &Secret,
    challenge: &str,
    prompt: Option<&str>,
) -> Result<String> {
    let base = client.endpoints.authorization.as_deref().ok_or_else(|| {
        Error::invalid_settings(
            "OAuthGrantType",
            "the identity provider's discovery document names no authorization endpoint",
            "use OAuthGrantType=DEVICE, or check OAuthAuthority / OAuthIssuer",
        )
    })?;
    let mut url = Url::parse(base).map_err(|e| Error::Protocol {
        status: None,
        message: format!("the authorization endpoint {base} is not a URL: {e}"),
        correlation_id: None,
        source: None,
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &client.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", scope)
            .append_pair("state", state.expose())
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(p) = prompt {
            q.append_pair("prompt", p);
        }
    }
    Ok(url.into())
}

/// The error of a sign-in the identity provider answered with an error redirect (RFC 6749
/// 4.1.2.1: `error=access_denied` when the person cancels or declines, ...): the provider's
/// refusal, so that it is reported as its OAuth code rather than as a wrong Epicor password.
pub fn redirect_error(code: &str, description: String) -> Error {
    Error::OAuth {
        status: None,
        error: Box::new(crate::OAuthError::new(
            crate::OAuthErrorCode::parse(code),
            description,
        )),
    }
}
