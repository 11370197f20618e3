//! The device authorization grant: the device code endpoint, and the token endpoint's polling
//! (`authorization_pending`, `slow_down`, then the user's tokens once approved on the device page).

use super::{app, check_tenant, idp, random_token, resolve_scopes, user, Form, Request};
use crate::idp::{AadError, DeviceGrant, DeviceState, REMEMBER_SPENT};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
pub(super) fn redeem(r: &Request<'_>) -> Result<Value, AadError> {
    let (idp, now) = (r.idp, r.now);
    let code = r.form.require("device_code")?;
    let grant = {
        let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        let g = store
            .devices
            .get_mut(now, &code.to_string())
            .ok_or_else(|| {
                AadError::invalid_grant(
                    70000,
                    "The provided value for the input parameter 'device_code' is not valid.",
                )
            })?;
        r.require_owner(
            &g.client_id,
            "The device code was issued to another client.",
        )?;
        if now > g.expires {
            return Err(AadError::new(
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
                ));
        }
        let too_fast = g.last_poll.is_some_and(|t| now - t < g.interval);
        g.last_poll = Some(now);
        match &g.state {
            DeviceState::Pending if too_fast => {
                g.interval += 5;
                return Err(AadError::new(
                        "slow_down",
                        70016,
                        format!("OAuth 2.0 device flow error. Polling too fast: wait at least {} seconds between requests.", g.interval),
                    ));
            }
            DeviceState::Pending => {
                return Err(AadError::new(
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                ))
            }
            DeviceState::Declined => {
                return Err(AadError::new(
                    "access_denied",
                    65004,
                    "The user declined to authorize the device.",
                ))
            }
            DeviceState::Redeemed => {
                return Err(AadError::invalid_grant(
                    54005,
                    "The device code was already redeemed.",
                ))
            }
            DeviceState::Approved { .. } => {}
        }
        let granted = g.clone();
        g.state = DeviceState::Redeemed;
        granted
    };
    let DeviceState::Approved { user: upn, mfa } = &grant.state else {
        return Err(AadError::server("device grant in an unexpected state"));
    };
    let user = user(r.ready, upn)?;
    let (out, _) = r.user_tokens(user, &grant.scopes, None, None, *mfa)?;
    Ok(out)
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub async fn devicecode(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return AadError::invalid_request(90015, "The device code request is too large.")
            .into_response();
    };
    if let Some(i) = &state.idp {
        if let Err(e) = i.prepared().await {
            return e.into_response();
        }
    }
    let result = (|| -> Result<Value, AadError> {
        let idp = idp(&state)?;
        check_tenant(idp, &tenant)?;
        let ready = idp.ready()?;
        let form = Form::parse(&body);
        form.refuse_duplicates()?;
        let client = app(ready, form.require("client_id")?)?;
        let scope = form.require("scope")?;
        if scope.len() > 2048 {
            return Err(AadError::invalid_request(
                90015,
                "The parameter 'scope' is too long (at most 2048 bytes).",
            ));
        }
        resolve_scopes(ready, scope)?;
        let now = idp.clock.now_secs();
        let device_code = random_token(48);
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let user_code: String = (0..9)
            .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
            .collect();
        let verification_uri = format!(
            "{}/{}/oauth2/v2.0/devicelogin",
            idp.public_base(),
            idp.cfg.tenant
        );
        let expires_in = 900;
        let grant = DeviceGrant {
            client_id: client.reg.client_id.clone(),
            user_code: user_code.clone(),
            scopes: scope.split_whitespace().map(str::to_string).collect(),
            expires: now + expires_in,
            interval: idp.cfg.device_interval_secs as i64,
            last_poll: None,
            state: DeviceState::Pending,
        };
        let weight =
            device_code.len() + user_code.len() + client.reg.client_id.len() + scope.len() + 128;
        // Remembered past its expiry, to answer "expired" rather than "unknown".
        let until = now + expires_in + REMEMBER_SPENT;
        let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .devices
            .insert(now, device_code.clone(), grant, until, weight);
        store.user_codes.insert(
            now,
            user_code.clone(),
            device_code.clone(),
            now + expires_in,
            user_code.len() + device_code.len() + 32,
        );
        Ok(json!({
            "user_code": user_code, "device_code": device_code, "verification_uri": verification_uri,
            "expires_in": expires_in, "interval": idp.cfg.device_interval_secs,
            "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
        }))
    })();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
