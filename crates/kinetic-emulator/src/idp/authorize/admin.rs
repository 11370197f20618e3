//! The emulator's own administrative routes: key rotation and grant statistics (administrators only).

use super::idp_arc;
use crate::idp::grants::check_tenant;
use crate::idp::AadError;
use crate::throttle::ClientAddr;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `POST /{tenant}/admin/rotate-keys` (the emulator's own; needs an administrator's credentials):
/// makes a new signing key current, keeping the old one in the JWKS for `key_grace_secs`.
pub async fn rotate_keys(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    if let Err(refused) = administrator(&state, &headers, &ext).await {
        return refused;
    }
    let result = async {
        let i = idp_arc(&state)?;
        check_tenant(&i, &tenant)?;
        let kid = i.rotate_keys().await?;
        Ok::<_, AadError>(json!({"kid": kid, "jwks": i.jwks()?}))
    }
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Refuses a caller who is not one of the emulator's administrators (401 or 403).
pub(super) async fn administrator(
    state: &AppState,
    headers: &HeaderMap,
    ext: &Extensions,
) -> Result<(), Response> {
    let principal = state
        .auth
        .authenticate(headers, ClientAddr::from_extensions(ext))
        .await
        .map_err(IntoResponse::into_response)?;
    crate::auth::require_admin(&principal).map_err(IntoResponse::into_response)
}

/// `GET /{tenant}/admin/stats` (the emulator's own; an administrator's credentials): tokens issued
/// by grant, and on-behalf-of exchanges by user object id, since start.
pub async fn stats(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    if let Err(refused) = administrator(&state, &headers, &ext).await {
        return refused;
    }
    match idp_arc(&state).and_then(|i| check_tenant(&i, &tenant).map(|_| i.stats())) {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => e.into_response(),
    }
}
