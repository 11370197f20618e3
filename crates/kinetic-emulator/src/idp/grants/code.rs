//! The authorization code grant: a single-use code, its redirect URI and PKCE verifier checked; a
//! replayed code revokes what it issued.

use super::{revoke, user, Request};
use crate::encoding::b64url;
use crate::idp::{AadError, Issued};
use serde_json::Value;

/// `grant_type=authorization_code`.
pub(super) fn redeem(r: &Request<'_>) -> Result<Value, AadError> {
    let (idp, form, now) = (r.idp, r.form, r.now);
    let code = form.require("code")?;
    let redirect_uri = form.require("redirect_uri")?;
    let record = {
        let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        let rec = store.codes.get_mut(now, &code.to_string()).ok_or_else(|| {
                AadError::invalid_grant(9002313, "Invalid request. Request is malformed or invalid: the code is not one this server issued.")
            })?;
        if rec.redeemed {
            // A replayed code: revoke what it issued (RFC 6749 §4.1.2), as the code may
            // have been stolen.
            rec.issued.replayed = true;
            let issued = rec.issued.clone();
            revoke(idp, &mut store, &issued);
            return Err(AadError::invalid_grant(
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token. The tokens issued from it are revoked.",
                ));
        }
        if now > rec.expires {
            return Err(AadError::invalid_grant(
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
                ));
        }
        r.require_owner(
            &rec.client_id,
            "The provided value for the 'code' parameter is not valid: it was issued to another client.",
        )?;
        // Single use, even when the rest of this request fails.
        rec.redeemed = true;
        rec.clone()
    };
    if record.redirect_uri != redirect_uri {
        return Err(AadError::invalid_grant(
                50011,
                format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URI '{}' of the authorization request.",
                    record.redirect_uri
                ),
            ));
    }
    if let Some(challenge) = &record.code_challenge {
        let verifier = form.require("code_verifier")?;
        use sha2::Digest;
        if b64url(&sha2::Sha256::digest(verifier.as_bytes())) != *challenge {
            return Err(AadError::invalid_grant(
                    50148,
                    "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                ));
        }
    }
    let user = user(r.ready, &record.user)?;
    let (out, issued) = r.user_tokens(
        user,
        &record.scopes,
        record.nonce.as_deref(),
        None,
        record.mfa,
    )?;
    let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    let replayed = match store.codes.get_mut(now, &code.to_string()) {
        Some(rec) => {
            let replayed = rec.issued.replayed;
            rec.issued = Issued {
                replayed,
                ..issued.clone()
            };
            replayed
        }
        None => false,
    };
    if replayed {
        // Replayed while this redemption was under way: what it issued is revoked too.
        revoke(idp, &mut store, &issued);
        return Err(AadError::invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed; the tokens issued from it are revoked.",
            ));
    }
    Ok(out)
}
