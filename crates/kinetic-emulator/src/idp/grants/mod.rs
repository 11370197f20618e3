//! The token endpoint: the form, client authentication ([`client_auth`]), scopes and consent, then one
//! file per grant ([`code`], [`refresh`], [`client_credentials`], [`on_behalf_of`], [`device`], which
//! also has the device authorization endpoint); tokens are minted in [`mint`].

mod client_auth;
mod client_credentials;
mod code;
mod device;
mod mint;
mod on_behalf_of;
mod refresh;

pub use device::devicecode;

use super::{AadError, App, AuthCode, Idp, Issued, Ready, User, OIDC_SCOPES, REMEMBER_SPENT};
use crate::config::ConditionalAccessPolicy;
use crate::encoding::b64url;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use client_auth::{authenticate_client, Authn};
use mint::Mint;
use serde_json::{json, Value};
use std::collections::HashSet;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Microsoft Graph: the audience of tokens asked for with OpenID scopes only.
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
/// Clock skew allowed on client assertions.
const SKEW: i64 = 300;

/// A form body (`application/x-www-form-urlencoded`, `+` is a space).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        let text = String::from_utf8_lossy(body);
        Form(parse_pairs(&text))
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
    pub fn require(&self, k: &str) -> Result<&str, AadError> {
        self.get(k).ok_or_else(|| AadError::missing(k))
    }
    /// Refuses a parameter given more than once (RFC 6749 §3.1: each may appear once), which
    /// would otherwise let the first or last copy win depending on who reads it.
    pub fn refuse_duplicates(&self) -> Result<(), AadError> {
        let mut seen = HashSet::new();
        match self.0.iter().map(|(k, _)| k.as_str()).find(|k| !seen.insert(*k)) {
            None => Ok(()),
            Some(dup) => Err(AadError::invalid_request(
                90015,
                format!("The parameter '{dup}' is given more than once; each may appear once (RFC 6749 §3.1)."),
            )),
        }
    }
}

/// Parses `a=1&b=x+y` (form encoding) into pairs.
pub fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn random_token(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    b64url(&v)
}

/// What a `scope` parameter asks for.
#[derive(Debug, Clone)]
pub struct Scopes<'a> {
    pub oidc: Vec<String>,
    pub resource: Option<&'a App>,
    /// Short names (`user_impersonation`), or `.default`.
    pub names: Vec<String>,
}

impl Scopes<'_> {
    pub fn offline(&self) -> bool {
        self.oidc.iter().any(|s| s == "offline_access")
    }
    pub fn openid(&self) -> bool {
        self.oidc.iter().any(|s| s == "openid")
    }
    pub fn is_default(&self) -> bool {
        self.names.iter().any(|n| n == ".default")
    }
}

/// Resolves a `scope` parameter against the registered APIs.
pub fn resolve_scopes<'a>(ready: &'a Ready, scope: &str) -> Result<Scopes<'a>, AadError> {
    let mut out = Scopes {
        oidc: Vec::new(),
        resource: None,
        names: Vec::new(),
    };
    for item in scope.split_whitespace() {
        if OIDC_SCOPES.contains(&item) {
            out.oidc.push(item.to_string());
            continue;
        }
        let (resource_id, name) = item.rsplit_once('/').ok_or_else(|| {
            AadError::invalid_scope(format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{item}' does not exist."
            ))
        })?;
        let app =
            ready
                .apps
                .iter()
                .find(|a| a.is_resource(resource_id))
                .ok_or_else(|| {
                    AadError::new(
                "invalid_resource",
                500011,
                format!("The resource principal named {resource_id} was not found in the tenant."),
            )
                })?;
        if name != ".default" && !app.reg.scopes.iter().any(|s| s == name) {
            return Err(AadError::invalid_scope(format!(
                "The provided value for the input parameter 'scope' is not valid. The scope '{item}' does not exist."
            )));
        }
        match out.resource {
            Some(r) if r.reg.client_id != app.reg.client_id => {
                return Err(AadError::new(
                    "invalid_scope",
                    28000,
                    "Provided value for the input parameter scope is not valid because it contains more than one resource.",
                ))
            }
            _ => out.resource = Some(app),
        }
        out.names.push(name.to_string());
    }
    if out.names.contains(&".default".to_string()) && out.names.len() > 1 {
        return Err(AadError::invalid_scope(
            "The provided value for the input parameter 'scope' is not valid. .default cannot be combined with other scopes of the resource.",
        ));
    }
    Ok(out)
}

/// The delegated scopes a user has allowed a client on a resource (all, when the client is
/// pre-authorised or is the resource itself), or `None` when consent is missing for `wanted`.
pub fn consented(
    idp: &Idp,
    user: &User,
    client: &App,
    resource: &App,
    wanted: &[String],
) -> Option<Vec<String>> {
    let preauthorised = client.reg.client_id == resource.reg.client_id
        || resource
            .reg
            .known_client_applications
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&client.reg.client_id));
    let all: Vec<String> = resource.reg.scopes.clone();
    if preauthorised {
        return Some(if wanted.iter().any(|w| w == ".default") {
            all
        } else {
            wanted.to_vec()
        });
    }
    let store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    let key = (
        user.upn.to_ascii_lowercase(),
        client.reg.client_id.clone(),
        resource.reg.client_id.clone(),
    );
    let key_uri = resource
        .reg
        .app_id_uri
        .clone()
        .map(|u| (key.0.clone(), key.1.clone(), u));
    let granted: HashSet<String> = store
        .consents
        .get(&key)
        .into_iter()
        .chain(key_uri.as_ref().and_then(|k| store.consents.get(k)))
        .flatten()
        .cloned()
        .collect();
    if wanted.iter().any(|w| w == ".default") {
        return (!granted.is_empty()).then(|| granted.into_iter().collect());
    }
    wanted
        .iter()
        .all(|w| granted.contains(w))
        .then(|| wanted.to_vec())
}

/// Records a user's consent.
pub fn grant_consent(idp: &Idp, user: &User, client: &App, resource: &App, scopes: &[String]) {
    let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    let names: Vec<String> = if scopes.iter().any(|s| s == ".default") {
        resource.reg.scopes.clone()
    } else {
        scopes.to_vec()
    };
    store
        .consents
        .entry((
            user.upn.to_ascii_lowercase(),
            client.reg.client_id.clone(),
            resource.reg.client_id.clone(),
        ))
        .or_default()
        .extend(names);
}

pub fn app<'a>(ready: &'a Ready, client_id: &str) -> Result<&'a App, AadError> {
    ready
        .apps
        .iter()
        .find(|a| a.reg.client_id.eq_ignore_ascii_case(client_id))
        .ok_or_else(|| {
            AadError::new(
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant."
                ),
            )
        })
}

/// The Conditional Access policy that demands a second factor of `user` for `resource`, if any.
pub fn mfa_policy<'a>(
    idp: &'a Idp,
    user: &User,
    resource: Option<&App>,
) -> Option<&'a ConditionalAccessPolicy> {
    let resource = resource?;
    idp.cfg.conditional_access.iter().find(|p| {
        p.users
            .iter()
            .any(|u| u.eq_ignore_ascii_case("all") || u.eq_ignore_ascii_case(&user.upn))
            && p.resources.iter().any(|r| resource.is_resource(r))
    })
}

/// Refuses a non-interactive grant for a resource whose policy wants a second factor the sign-in
/// behind the grant did not pass: Entra's `interaction_required` (AADSTS50076) with a claims
/// challenge naming the policy, which the client sends back as `claims` when it signs the user in.
fn require_mfa(idp: &Idp, user: &User, scopes: &Scopes<'_>, mfa: bool) -> Result<(), AadError> {
    match (mfa_policy(idp, user, scopes.resource), scopes.resource) {
        (Some(policy), Some(resource)) if !mfa => {
            let mut e = AadError::new(
                "interaction_required",
                50076,
                format!(
                    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{}'.",
                    resource.reg.client_id
                ),
            );
            e.claims = Some(
                json!({"access_token": {"polids": {"essential": true, "values": [policy.id]}}})
                    .to_string(),
            );
            Err(e)
        }
        _ => Ok(()),
    }
}

fn user<'a>(ready: &'a Ready, upn: &str) -> Result<&'a User, AadError> {
    ready.users.get(&upn.to_ascii_lowercase()).ok_or_else(|| {
        AadError::invalid_grant(
            50034,
            format!("The user account {upn} does not exist in the directory."),
        )
    })
}

fn user_by_oid<'a>(ready: &'a Ready, oid: &str) -> Option<&'a User> {
    ready
        .users
        .values()
        .find(|u| u.object_id.eq_ignore_ascii_case(oid))
}

fn consent_error(user: &User, client: &App, resource: &App) -> AadError {
    let mut e = AadError::invalid_grant(
        65001,
        format!(
            "The user or administrator has not consented to use the application with ID '{}' named '{}' for resource '{}'. Send an interactive authorization request for this user and resource.",
            client.reg.client_id, client.reg.name, resource.reg.client_id
        ),
    );
    let _ = user;
    e.error = "invalid_grant";
    // As Entra answers a non-interactive grant (on-behalf-of, refresh) that lacks consent.
    e.suberror = Some("consent_required");
    e
}

/// Resolves and checks the scopes a user flow asks for; returns the granted short names.
fn delegated<'a>(
    idp: &Idp,
    ready: &'a Ready,
    user: &User,
    client: &App,
    scope: &str,
) -> Result<(Scopes<'a>, Vec<String>), AadError> {
    let scopes = resolve_scopes(ready, scope)?;
    let granted = match scopes.resource {
        None => Vec::new(),
        Some(r) => consented(idp, user, client, r, &scopes.names)
            .ok_or_else(|| consent_error(user, client, r))?,
    };
    Ok((scopes, granted))
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return AadError::invalid_request(90015, "The token request is too large.").into_response();
    };
    // Users, apps and keys are made on the blocking pool the first time.
    if let Some(i) = &state.idp {
        if let Err(e) = i.prepared().await {
            return e.into_response();
        }
    }
    match token_inner(&state, &tenant, &headers, &body) {
        Ok(v) => {
            let mut r = axum::Json(v).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

pub fn check_tenant(idp: &Idp, tenant: &str) -> Result<(), AadError> {
    if idp.is_tenant(tenant) {
        Ok(())
    } else {
        Err(AadError::invalid_request(
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        ))
    }
}

pub fn idp(state: &AppState) -> Result<&Idp, AadError> {
    state.idp.as_deref().ok_or_else(|| {
        AadError::server("the identity provider is turned off ([idp] enabled = false)")
    })
}

/// A token request whose client is authenticated: what every grant reads.
struct Request<'a> {
    idp: &'a Idp,
    ready: &'a Ready,
    form: &'a Form,
    /// The client, and how it proved itself.
    client: &'a App,
    authn: Authn,
    now: i64,
    /// Return `client_info` (MSAL asks with `client_info=1`).
    client_info: bool,
    mint: Mint<'a>,
}

impl Request<'_> {
    /// Refuses a public client (no secret, no assertion) where the grant needs a confidential one.
    fn require_confidential(&self, message: &str) -> Result<(), AadError> {
        if self.authn == 0 {
            return Err(AadError::invalid_client(7000218, message));
        }
        Ok(())
    }

    /// Refuses a code, refresh token or device code that `owner` (its client) was issued, when
    /// another client presents it.
    fn require_owner(&self, owner: &str, message: &str) -> Result<(), AadError> {
        if !owner.eq_ignore_ascii_case(&self.client.reg.client_id) {
            return Err(AadError::invalid_grant(70000, message));
        }
        Ok(())
    }

    /// A user flow's answer, the same for every delegated grant: the scopes of `requested` the
    /// user consented to, the second factor the resource's policy wants (`mfa`: the sign-in behind
    /// the grant passed one), then the tokens.
    fn user_tokens(
        &self,
        user: &User,
        requested: &[String],
        nonce: Option<&str>,
        family: Option<String>,
        mfa: bool,
    ) -> Result<(Value, Issued), AadError> {
        let (scopes, granted) = delegated(
            self.idp,
            self.ready,
            user,
            self.client,
            &requested.join(" "),
        )?;
        require_mfa(self.idp, user, &scopes, mfa)?;
        let extras = mint::Extras {
            nonce,
            family,
            client_info: self.client_info,
            mfa,
        };
        Ok(self
            .mint
            .user_response(user, &scopes, &granted, extras, requested))
    }
}

fn token_inner(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, AadError> {
    let idp = idp(state)?;
    check_tenant(idp, tenant)?;
    let ready = idp.ready()?;
    let form = Form::parse(body);
    form.refuse_duplicates()?;
    let issuer = idp.issuer();
    // A client assertion's aud must be our token endpoint at the public address we were configured
    // with (or listen on), never one built from the request's Host header.
    let base = idp.public_base();
    let token_urls: Vec<String> = vec![
        format!("{base}/{}/oauth2/v2.0/token", idp.cfg.tenant),
        format!("{base}/{tenant}/oauth2/v2.0/token"),
    ];
    let grant_type = form.require("grant_type")?.to_string();
    let client_info = form.get("client_info") == Some("1");
    let now = idp.clock.now_secs();
    let (client, authn) = authenticate_client(idp, ready, &form, headers, &token_urls)?;
    let mint = Mint {
        idp,
        ready,
        issuer,
        client,
        authn,
    };
    let r = Request {
        idp,
        ready,
        form: &form,
        client,
        authn,
        now,
        client_info,
        mint,
    };
    let issued = match grant_type.as_str() {
        "authorization_code" => code::redeem(&r),
        "refresh_token" => refresh::redeem(&r),
        "client_credentials" => client_credentials::redeem(&r),
        JWT_BEARER => on_behalf_of::redeem(&r, false),
        TOKEN_EXCHANGE => on_behalf_of::redeem(&r, true),
        DEVICE_CODE | "device_code" => device::redeem(&r),
        other => Err(AadError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    };
    if issued.is_ok() {
        idp.count_grant(&grant_type, authn);
    }
    issued
}

/// Issues an authorization code (after sign-in and consent).
pub fn issue_code(idp: &Idp, code: AuthCode) -> String {
    let value = format!("1.{}", random_token(64));
    let now = idp.clock.now_secs();
    let weight = value.len()
        + code.client_id.len()
        + code.redirect_uri.len()
        + code.code_challenge.as_ref().map_or(0, String::len)
        + code.user.len()
        + code.scopes.iter().map(|s| s.len() + 8).sum::<usize>()
        + code.nonce.as_ref().map_or(0, String::len)
        + 128;
    // Remembered past its expiry, to answer "already redeemed" rather than "unknown".
    let until = code.expires + REMEMBER_SPENT;
    idp.store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .codes
        .insert(now, value.clone(), code, until, weight);
    value
}

/// Revokes what one grant issued: its refresh-token family and its access token.
fn revoke(idp: &Idp, store: &mut super::Store, issued: &Issued) {
    let now = idp.clock.now_secs();
    if let Some(f) = &issued.family {
        let until = now + idp.cfg.refresh_token_lifetime_secs as i64;
        store
            .revoked_families
            .insert(now, f.clone(), (), until, f.len() + 32);
    }
    if let Some(u) = &issued.access_uti {
        let until = now + idp.cfg.token_lifetime_secs as i64 + 600;
        store
            .revoked_tokens
            .insert(now, u.clone(), (), until, u.len() + 32);
    }
}
