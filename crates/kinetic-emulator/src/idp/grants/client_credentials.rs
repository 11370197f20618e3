//! The client credentials grant: an app-only token for `{resource}/.default`, with the app roles
//! granted to the client.

use super::mint::pairwise;
use super::{random_token, resolve_scopes, Request};
use crate::idp::AadError;
use serde_json::{json, Value};

/// `grant_type=client_credentials` (a confidential client only).
pub(super) fn redeem(r: &Request<'_>) -> Result<Value, AadError> {
    r.require_confidential(
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )?;
    let Request {
        idp,
        ready,
        form,
        client,
        authn,
        now,
        ..
    } = *r;
    let scope = form.require("scope")?;
    let scopes = resolve_scopes(ready, scope)?;
    let resource = match (scopes.resource, scopes.is_default(), scopes.oidc.is_empty()) {
            (Some(r), true, true) => r,
            _ => {
                return Err(AadError::new(
                    "invalid_scope",
                    1002012,
                    format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
                ))
            }
        };
    let roles: Vec<String> = client
        .reg
        .granted_roles
        .iter()
        .filter_map(|g| g.rsplit_once('/'))
        .filter(|(res, _)| resource.is_resource(res))
        .map(|(_, role)| role.to_string())
        .collect();
    let life = idp.cfg.token_lifetime_secs;
    let mut claims = json!({
        "aud": resource.reg.client_id, "iss": r.mint.issuer, "iat": now, "nbf": now, "exp": now + life as i64,
        "azp": client.reg.client_id, "azpacr": authn.to_string(), "idtyp": "app",
        "oid": pairwise(&client.reg.client_id, "service-principal"), "rh": "0.kinetic",
        "sub": pairwise(&client.reg.client_id, "service-principal"), "tid": idp.cfg.tenant,
        "uti": random_token(16), "ver": "2.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    Ok(
        json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": r.mint.sign(&claims)}),
    )
}
