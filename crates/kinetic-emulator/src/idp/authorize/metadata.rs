//! The provider's metadata: OpenID discovery and the signing keys (JWKS).

use super::idp_arc;
use crate::idp::grants::{self, check_tenant, idp};
use crate::idp::AadError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn discovery(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let result = (|| -> Result<serde_json::Value, AadError> {
        let idp = idp(&state)?;
        check_tenant(idp, &tenant)?;
        let base = idp.public_base();
        let t = &idp.cfg.tenant;
        let e = |path: &str| format!("{base}/{t}/{path}");
        Ok(json!({
            "token_endpoint": e("oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": e("discovery/v2.0/keys"),
            "response_modes_supported": ["query", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": idp.issuer(),
            "request_uri_parameter_supported": false,
            "authorization_endpoint": e("oauth2/v2.0/authorize"),
            "device_authorization_endpoint": e("oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": e("oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "nonce", "oid", "preferred_username", "tid", "ver", "scp", "roles", "azp"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                grants::JWT_BEARER, grants::TOKEN_EXCHANGE, grants::DEVICE_CODE],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "kinetic.emulator",
        }))
    })();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub async fn jwks(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let result = match idp_arc(&state) {
        Ok(i) => match check_tenant(&i, &tenant) {
            Ok(()) => i.prepared().await.and_then(|_| i.jwks()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
