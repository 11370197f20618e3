//! The emulator's own administrative routes: key rotation and grant statistics (administrators only).

use super::idp_arc;
use crate::idp::grants::check_tenant;
use crate::idp::{AadError, Idp};
use crate::throttle::ClientAddr;
use crate::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// The provider, for a caller who is one of the emulator's administrators, on the tenant of the
/// path. Checked in this order: the path, the caller's credentials (401 or 403), the provider and
/// the tenant.
pub struct Administrator(Arc<Idp>);

impl FromRequestParts<AppState> for Administrator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(tenant) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let principal = state
            .auth
            .authenticate(
                &parts.headers,
                ClientAddr::from_extensions(&parts.extensions),
            )
            .await
            .map_err(IntoResponse::into_response)?;
        crate::auth::require_admin(&principal).map_err(IntoResponse::into_response)?;
        let idp = idp_arc(state).map_err(IntoResponse::into_response)?;
        check_tenant(&idp, &tenant).map_err(IntoResponse::into_response)?;
        Ok(Administrator(idp))
    }
}

/// `POST /{tenant}/admin/rotate-keys` (the emulator's own; needs an administrator's credentials):
/// makes a new signing key current, keeping the old one in the JWKS for `key_grace_secs`.
pub async fn rotate_keys(Administrator(i): Administrator) -> Response {
    let result = async {
        let kid = i.rotate_keys().await?;
        Ok::<_, AadError>(json!({"kid": kid, "jwks": i.jwks()?}))
    }
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /{tenant}/admin/stats` (the emulator's own; an administrator's credentials): tokens issued
/// by grant, and on-behalf-of exchanges by user object id, since start.
pub async fn stats(Administrator(i): Administrator) -> Response {
    axum::Json(i.stats()).into_response()
}
