//! The refresh token grant: rotation, reuse detection (a used token revokes its family), expiry.

use super::{user, Request};
use crate::idp::AadError;
use serde_json::Value;

/// `grant_type=refresh_token`.
pub(super) fn redeem(r: &Request<'_>) -> Result<Value, AadError> {
    let (idp, form, now) = (r.idp, r.form, r.now);
    let rt = form.require("refresh_token")?;
    let record = {
        let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        let rec = store
                .refresh
                .get(now, &rt.to_string())
                .cloned()
                .ok_or_else(|| AadError::invalid_grant(9002313, "Invalid request. The refresh token is malformed or not one this server issued."))?;
        if store.revoked_families.get(now, &rec.family).is_some() {
            return Err(AadError::invalid_grant(
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password, or a refresh token was reused.",
                ));
        }
        if rec.used && idp.cfg.refresh_reuse_detection {
            let family = rec.family.clone();
            let weight = family.len() + 32;
            store.revoked_families.insert(
                now,
                family,
                (),
                rec.expires.max(now) + idp.cfg.refresh_token_lifetime_secs as i64,
                weight,
            );
            return Err(AadError::invalid_grant(
                    50173,
                    "The provided grant has been revoked: this refresh token was already used, so every token of its sign-in is revoked (refresh token reuse). Sign in again.",
                ));
        }
        if now > rec.expires {
            return Err(AadError::invalid_grant(
                    700082,
                    "The refresh token has expired due to inactivity. The token was issued and was inactive for too long.",
                ));
        }
        r.require_owner(
            &rec.client_id,
            "The refresh token was issued to another client.",
        )?;
        if let Some(r) = store.refresh.get_mut(now, &rt.to_string()) {
            r.used = true;
        }
        rec
    };
    let user = user(r.ready, &record.user)?;
    let scope_text = form
        .get("scope")
        .map(str::to_string)
        .unwrap_or_else(|| record.scopes.join(" "));
    let mut requested: Vec<String> = scope_text.split_whitespace().map(str::to_string).collect();
    if !requested.iter().any(|s| s == "offline_access") {
        // A refresh keeps the sign-in's offline access.
        requested.push("offline_access".into());
    }
    let (out, _) = r.user_tokens(user, &requested, None, Some(record.family), record.mfa)?;
    Ok(out)
}
