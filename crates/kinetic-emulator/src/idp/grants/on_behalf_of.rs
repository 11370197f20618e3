//! On-behalf-of: a user's access token for our app exchanged for one to another resource, as the
//! jwt-bearer grant or as RFC 8693 token exchange.

use super::{user_by_oid, Request, ACCESS_TOKEN_TYPE};
use crate::idp::AadError;
use serde_json::{json, Value};

/// `grant_type` jwt-bearer with `requested_token_use=on_behalf_of`, or token exchange (`exchange`).
pub(super) fn redeem(r: &Request<'_>, exchange: bool) -> Result<Value, AadError> {
    r.require_confidential(
        "On-behalf-of needs a confidential client: send client_secret or client_assertion.",
    )?;
    let (idp, ready, form, client, now) = (r.idp, r.ready, r.form, r.client, r.now);
    let assertion = if exchange {
        let t = form.require("subject_token_type")?;
        if t != ACCESS_TOKEN_TYPE && t != "urn:ietf:params:oauth:token-type:jwt" {
            return Err(AadError::invalid_request(
                9002340,
                format!("subject_token_type '{t}' is not supported; use {ACCESS_TOKEN_TYPE}."),
            ));
        }
        form.require("subject_token")?
    } else {
        if form.get("requested_token_use") != Some("on_behalf_of") {
            return Err(AadError::invalid_request(
                    900144,
                    "The request body must contain the following parameter: 'requested_token_use' (on_behalf_of).",
                ));
        }
        form.require("assertion")?
    };
    let claims = ready
        .keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .verify(assertion, &r.mint.issuer)
        .map_err(|e| {
            AadError::invalid_grant(
                50013,
                format!("Assertion failed signature validation: {e}."),
            )
        })?;
    if claims
        .get("uti")
        .and_then(Value::as_str)
        .is_some_and(|u| idp.is_revoked(u))
    {
        return Err(AadError::invalid_grant(
            50013,
            "The assertion was revoked (its authorization code was used twice).",
        ));
    }
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
    if !client.is_resource(aud) {
        return Err(AadError::invalid_grant(
                50013,
                format!("Assertion audience '{aud}' does not match the Client app presenting the assertion '{}'.", client.reg.client_id),
            ));
    }
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|e| e <= now)
    {
        return Err(AadError::invalid_grant(
            500133,
            "Assertion is not within its valid time range: the incoming token has expired.",
        ));
    }
    if claims.get("scp").and_then(Value::as_str).is_none() {
        return Err(AadError::invalid_grant(50013, "The assertion is not a user token (it has no scp): on-behalf-of needs a token of a signed-in user."));
    }
    let oid = claims.get("oid").and_then(Value::as_str).unwrap_or("");
    let user = user_by_oid(ready, oid).ok_or_else(|| {
        AadError::invalid_grant(
            50034,
            format!("The user {oid} of the assertion does not exist."),
        )
    })?;
    let scope_text = match (
        form.get("scope"),
        form.get("audience").or(form.get("resource")),
    ) {
        (Some(s), _) => s.to_string(),
        (None, Some(a)) if exchange => format!("{a}/.default"),
        _ => return Err(AadError::missing("scope")),
    };
    // The second factor travels with the sign-in: the assertion's `amr` says whether the
    // user passed one.
    let mfa = claims
        .get("amr")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|m| m.as_str() == Some("mfa")));
    let requested: Vec<String> = scope_text.split_whitespace().map(str::to_string).collect();
    let (mut out, _) = r.user_tokens(user, &requested, None, None, mfa)?;
    idp.count_on_behalf_of(&user.object_id);
    if exchange {
        out["issued_token_type"] = json!(ACCESS_TOKEN_TYPE);
    }
    Ok(out)
}
