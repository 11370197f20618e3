//! The device authorization grant (RFC 8628), for machines without a browser.

use super::OAuthClient;
use crate::clock::Clock;
use crate::token::Token;
use crate::{Error, OAuthErrorCode, Result, Secret};
use std::sync::Arc;
use std::time::Duration;

/// The grant type of the device code's redemption.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The device-code flow (RFC 8628): asks for a code, hands the message for the person to `show`
/// (where to go, what to enter), and polls until they approve, decline or the code expires.
pub async fn sign_in(
    client: &OAuthClient,
    scope: &str,
    clock: &Arc<dyn Clock>,
    show: &(dyn Fn(&str) + Send + Sync),
) -> Result<Token> {
    let endpoint = client
        .endpoints
        .device_authorization
        .clone()
        .ok_or_else(|| {
            Error::invalid_settings(
                "OAuthGrantType",
                "the identity provider's discovery document names no device authorization endpoint",
                "use OAuthGrantType=CODE",
            )
        })?;
    let response = client
        .post_form(&endpoint, vec![("scope", Secret::new(scope))])
        .await?;
    let status = response.status().as_u16();
    let body = response.body();
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| Error::Protocol {
        status: Some(status),
        message: format!("the device authorization answer is not JSON: {e}"),
        correlation_id: None,
        source: None,
    })?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let num = |k: &str| {
        v.get(k).and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let device_code = text("device_code")
        .map(Secret::new)
        .ok_or_else(|| Error::Protocol {
            status: Some(status),
            message: "the device authorization answer has no device_code".into(),
            correlation_id: None,
            source: None,
        })?;
    let message = text("message").unwrap_or_else(|| {
        format!(
            "To sign in, open {} in a web browser and enter the code {}.",
            text("verification_uri")
                .or_else(|| text("verification_url"))
                .unwrap_or_default(),
            text("user_code").unwrap_or_default()
        )
    });
    show(&message);
    // A device code lives minutes (Entra: 15); the poll interval is seconds. Larger values from a
    // server are clamped so a broken answer neither overflows nor parks the sign-in for ever.
    let deadline = crate::clock::saturating_add(
        clock.now(),
        Duration::from_secs(num("expires_in").unwrap_or(900).min(86_400)),
    );
    let mut interval = Duration::from_secs(num("interval").unwrap_or(5).clamp(1, 60));
    loop {
        clock.sleep(interval).await;
        if clock.now() >= deadline {
            return Err(device_error(
                None,
                "the device code expired before the sign-in was completed; start again",
            ));
        }
        let answer = client
            .request(vec![
                ("grant_type", Secret::new(DEVICE_GRANT)),
                ("device_code", device_code.clone()),
            ])
            .await;
        let (status, refused) = match answer {
            Ok(token) => return Ok(token),
            Err(Error::OAuth { status, error }) => (status, error),
            Err(e) => return Err(e),
        };
        match &refused.code {
            OAuthErrorCode::AuthorizationPending => {}
            // RFC 8628 §3.5: add five seconds to this and every later poll.
            OAuthErrorCode::SlowDown => {
                interval = (interval + Duration::from_secs(5)).min(Duration::from_secs(60))
            }
            // Entra answers code_expired.
            code if *code == OAuthErrorCode::ExpiredToken || code.as_str() == "code_expired" => {
                return Err(device_error(
                    status,
                    "the device code expired before the sign-in was completed; start again",
                ))
            }
            // Declined (Entra answers authorization_declined): the provider's refusal as it is,
            // its code naming what happened.
            code if *code == OAuthErrorCode::AccessDenied
                || code.as_str() == "authorization_declined" =>
            {
                let mut error = refused;
                if error.description.is_empty() {
                    error.description = "the sign-in on the other device was declined".into();
                }
                return Err(Error::OAuth { status, error });
            }
            _ => {
                return Err(Error::OAuth {
                    status,
                    error: refused,
                })
            }
        }
    }
}

fn device_error(status: Option<u16>, message: &str) -> Error {
    Error::Unauthorized {
        status,
        message: message.to_owned(),
        correlation_id: None,
        error_type: None,
    }
}
