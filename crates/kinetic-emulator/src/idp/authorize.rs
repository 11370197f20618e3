//! The browser side: discovery, JWKS, the authorize endpoint with its HTML sign-in and consent pages,
//! the device-code pages, logout, and the emulator's key-rotation admin route.

use super::grants::{self, check_tenant, idp, issue_code, request_base, resolve_scopes, Form};
use super::{AadError, App, AuthCode, DeviceState, Idp, Ready, User};
use crate::erp::error::xml_escape as esc;
use crate::AppState;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

const COOKIE: &str = "kinetic_idp_session";
/// Authorization codes live ten minutes, as Entra's do.
const CODE_LIFETIME: i64 = 600;

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn discovery(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<serde_json::Value, AadError> {
        let idp = idp(&state)?;
        check_tenant(idp, &tenant)?;
        let base = request_base(&state, &headers);
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
            "issuer": idp.issuer(&base),
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
    let result = idp(&state).and_then(|i| check_tenant(i, &tenant).and_then(|_| i.jwks()));
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /{tenant}/admin/rotate-keys` (the emulator's own; needs an Epicor user's credentials): makes
/// a new signing key current, keeping the old one in the JWKS for `key_grace_secs`.
pub async fn rotate_keys(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = state.auth.authenticate(&headers).await {
        return e.into_response();
    }
    let result = idp(&state).and_then(|i| {
        check_tenant(i, &tenant)?;
        let kid = i.rotate_keys()?;
        Ok(json!({"kid": kid, "jwks": i.jwks()?}))
    });
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:28em;margin:3em auto}}label,input,button{{display:block;margin:.4em 0}}.error{{color:#a00}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    )
}

/// An error the user sees (no redirect: the redirect URI itself is not trusted).
fn error_page(e: &AadError) -> Response {
    let body = format!(
        "<p class=\"error\" id=\"error\">AADSTS{}: {}</p><p>error: <code>{}</code></p>",
        e.code,
        esc(&e.description),
        e.error
    );
    (StatusCode::BAD_REQUEST, Html(page("Sign-in error", &body))).into_response()
}

fn param<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Whether a redirect URI is registered: exact, or a loopback one on any port (the path must match).
fn redirect_allowed(app: &App, uri: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('/').to_string();
    app.reg.redirect_uris.iter().any(|r| {
        if norm(r) == norm(uri) {
            return true;
        }
        let loopback =
            |s: &str| s.starts_with("http://localhost") || s.starts_with("http://127.0.0.1");
        if !(loopback(r) && loopback(uri)) {
            return false;
        }
        let strip_port = |s: &str| -> (String, String) {
            let rest = s.trim_start_matches("http://");
            let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = hostport.split(':').next().unwrap_or("").to_string();
            (host, path.trim_end_matches('/').to_string())
        };
        strip_port(r) == strip_port(uri)
    })
}

/// Sends the result of an authorization request back to the client: query redirect or form post.
fn respond_to_client(params: &[(String, String)], fields: Vec<(&str, String)>) -> Response {
    let redirect_uri = param(params, "redirect_uri").unwrap_or_default();
    let mut fields = fields;
    if let Some(s) = param(params, "state") {
        fields.push(("state", s.to_string()));
    }
    if param(params, "response_mode") == Some("form_post") {
        let inputs: String = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    esc(k),
                    esc(v)
                )
            })
            .collect();
        let body = format!(
            "<form method=\"post\" action=\"{}\" id=\"response\">{inputs}<noscript><button type=\"submit\">Continue</button></noscript></form>\
             <script>document.getElementById('response').submit()</script>",
            esc(redirect_uri)
        );
        return Html(page("Signing in", &body)).into_response();
    }
    let query: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{sep}{}", query.join("&"));
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn redirect_error(params: &[(String, String)], e: &AadError) -> Response {
    respond_to_client(
        params,
        vec![
            ("error", e.error.to_string()),
            (
                "error_description",
                format!("AADSTS{}: {}", e.code, e.description),
            ),
            ("error_codes", e.code.to_string()),
        ],
    )
}

fn cookie_user<'a>(idp: &Idp, ready: &'a Ready, headers: &HeaderMap) -> Option<&'a User> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let value = cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)?
        .1;
    let upn = idp
        .store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .browser
        .get(value)?
        .clone();
    ready.users.get(&upn.to_ascii_lowercase())
}

fn sign_in_page(
    pending: &str,
    tenant: &str,
    app: &App,
    hint: &str,
    error: Option<&str>,
) -> Response {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<p>Sign in to continue to <strong>{app}</strong>.</p>{err}\
         <form method=\"post\" action=\"/{tenant}/oauth2/v2.0/login\" id=\"signin\">\
         <input type=\"hidden\" name=\"request\" value=\"{pending}\">\
         <label for=\"login\">Email or username</label><input id=\"login\" name=\"login\" value=\"{hint}\" autocomplete=\"username\">\
         <label for=\"passwd\">Password</label><input id=\"passwd\" name=\"passwd\" type=\"password\" autocomplete=\"current-password\">\
         <button type=\"submit\" id=\"idSIButton9\">Sign in</button></form>",
        app = esc(&app.reg.name),
        tenant = esc(tenant),
        pending = esc(pending),
        hint = esc(hint)
    );
    Html(page("Sign in", &body)).into_response()
}

fn consent_page(
    pending: &str,
    tenant: &str,
    user: &User,
    client: &App,
    resource: Option<&App>,
    scopes: &[String],
) -> Response {
    let items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", esc(s)))
        .collect();
    let body = format!(
        "<p>Signed in as <strong>{user}</strong>.</p><p><strong>{client}</strong> wants to use <strong>{resource}</strong> on your behalf:</p>\
         <ul id=\"scopes\">{items}</ul>\
         <form method=\"post\" action=\"/{tenant}/oauth2/v2.0/consent\" id=\"consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{pending}\">\
         <button type=\"submit\" name=\"decision\" value=\"accept\" id=\"accept\">Accept</button>\
         <button type=\"submit\" name=\"decision\" value=\"decline\" id=\"decline\">Cancel</button></form>",
        user = esc(&user.upn),
        client = esc(&client.reg.name),
        resource = esc(resource.map(|r| r.reg.name.as_str()).unwrap_or("your profile")),
        tenant = esc(tenant),
        pending = esc(pending)
    );
    Html(page("Permissions requested", &body)).into_response()
}

fn remember(idp: &Idp, params: Vec<(String, String)>) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = idp.clock.now_secs();
    let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    store.prune(now);
    store.pending.insert(id.clone(), (now, params));
    id
}

fn recall(idp: &Idp, id: &str) -> Option<Vec<(String, String)>> {
    idp.store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pending
        .get(id)
        .map(|(_, params)| params.clone())
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = grants::parse_pairs(q.as_deref().unwrap_or(""));
    start(&state, &tenant, params, &headers)
}

/// `POST /{tenant}/oauth2/v2.0/authorize` (form-encoded parameters).
pub async fn authorize_post(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    start(&state, &tenant, Form::parse(&body).0, &headers)
}

fn start(
    state: &AppState,
    tenant: &str,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Response {
    let checked = (|| -> Result<(&Idp, &Ready, &App), AadError> {
        let idp = idp(state)?;
        check_tenant(idp, tenant)?;
        let ready = idp.ready()?;
        let client = grants::app(
            ready,
            param(&params, "client_id").ok_or_else(|| AadError::missing("client_id"))?,
        )?;
        let redirect =
            param(&params, "redirect_uri").ok_or_else(|| AadError::missing("redirect_uri"))?;
        if !redirect_allowed(client, redirect) {
            return Err(AadError::invalid_request(
                50011,
                format!(
                    "The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                    client.reg.client_id
                ),
            ));
        }
        Ok((idp, ready, client))
    })();
    let (idp, ready, client) = match checked {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    // From here on, errors go back to the client's redirect URI.
    if param(&params, "response_type") != Some("code") {
        return redirect_error(
            &params,
            &AadError::new("unsupported_response_type", 70005, "The provided value for the input parameter 'response_type' is not allowed for this request. Expected: code."),
        );
    }
    let scope = param(&params, "scope").unwrap_or("");
    if scope.is_empty() {
        return redirect_error(&params, &AadError::missing("scope"));
    }
    if let Err(e) = resolve_scopes(ready, scope) {
        return redirect_error(&params, &e);
    }
    match (param(&params, "code_challenge"), param(&params, "code_challenge_method")) {
        (None, _) if client.reg.public_client => {
            return redirect_error(
                &params,
                &AadError::invalid_request(9002325, "Proof Key for Code Exchange is required for public clients: send code_challenge and code_challenge_method=S256."),
            )
        }
        (Some(_), m) if m != Some("S256") => {
            return redirect_error(
                &params,
                &AadError::invalid_request(9002326, "code_challenge_method must be S256."),
            )
        }
        _ => {}
    }
    let prompt = param(&params, "prompt").unwrap_or("");
    let signed_in =
        cookie_user(idp, ready, headers).filter(|_| !matches!(prompt, "login" | "select_account"));
    match signed_in {
        Some(user) => after_sign_in(idp, ready, tenant, params, user),
        None if prompt == "none" => redirect_error(
            &params,
            &AadError::new(
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            ),
        ),
        None => {
            let hint = param(&params, "login_hint").unwrap_or("").to_string();
            let id = remember(idp, params);
            sign_in_page(&id, tenant, client, &hint, None)
        }
    }
}

/// After sign-in: consent if needed, then the code.
fn after_sign_in(
    idp: &Idp,
    ready: &Ready,
    tenant: &str,
    params: Vec<(String, String)>,
    user: &User,
) -> Response {
    let client = match param(&params, "client_id").and_then(|c| grants::app(ready, c).ok()) {
        Some(c) => c,
        None => return error_page(&AadError::missing("client_id")),
    };
    let scope = param(&params, "scope").unwrap_or("").to_string();
    let scopes = match resolve_scopes(ready, &scope) {
        Ok(s) => s,
        Err(e) => return redirect_error(&params, &e),
    };
    let needs_consent = match scopes.resource {
        Some(r) => grants::consented(idp, user, client, r, &scopes.names).is_none(),
        None => false,
    } || param(&params, "prompt") == Some("consent");
    if needs_consent {
        if param(&params, "prompt") == Some("none") {
            return redirect_error(
                &params,
                &AadError::new("consent_required", 65001, format!(
                    "The user or administrator has not consented to use the application with ID '{}'. Send an interactive authorization request for this user and resource.",
                    client.reg.client_id
                )),
            );
        }
        let names = scopes.names.clone();
        let resource = scopes.resource;
        let mut params = params;
        params.push(("_user".into(), user.upn.clone()));
        let id = remember(idp, params);
        return consent_page(&id, tenant, user, client, resource, &names);
    }
    finish_code(idp, &params, user, client)
}

fn finish_code(idp: &Idp, params: &[(String, String)], user: &User, client: &App) -> Response {
    let code = issue_code(
        idp,
        AuthCode {
            client_id: client.reg.client_id.clone(),
            redirect_uri: param(params, "redirect_uri")
                .unwrap_or_default()
                .to_string(),
            code_challenge: param(params, "code_challenge").map(str::to_string),
            user: user.upn.clone(),
            scopes: param(params, "scope")
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            nonce: param(params, "nonce").map(str::to_string),
            expires: idp.clock.now_secs() + CODE_LIFETIME,
            redeemed: false,
        },
    );
    respond_to_client(
        params,
        vec![
            ("code", code),
            ("session_state", uuid::Uuid::new_v4().to_string()),
        ],
    )
}

fn set_cookie(response: &mut Response, idp: &Idp, user: &User) {
    let value = uuid::Uuid::new_v4().simple().to_string();
    idp.store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .browser
        .insert(value.clone(), user.upn.clone());
    if let Ok(v) =
        HeaderValue::from_str(&format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax"))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `POST /{tenant}/oauth2/v2.0/login`: the sign-in form.
pub async fn login(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let (idp, ready) = match idp(&state).and_then(|i| Ok((i, i.ready()?))) {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let Some(id) = form.get("request") else {
        return error_page(&AadError::missing("request"));
    };
    let Some(params) = recall(idp, id) else {
        return error_page(&AadError::invalid_request(
            50059,
            "This sign-in request has expired or is unknown; start again.",
        ));
    };
    let client = match param(&params, "client_id").and_then(|c| grants::app(ready, c).ok()) {
        Some(c) => c,
        None => return error_page(&AadError::missing("client_id")),
    };
    let login = form.get("login").unwrap_or("");
    let password = form.get("passwd").unwrap_or("");
    let user = ready.users.get(&login.to_ascii_lowercase()).filter(|u| {
        PasswordHash::new(&u.password_hash)
            .map(|h| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    });
    let Some(user) = user else {
        return sign_in_page(
            id,
            &tenant,
            client,
            login,
            Some("AADSTS50126: Error validating credentials due to invalid username or password."),
        );
    };
    let mut response = if param(&params, "_device").is_some() {
        device_approval(idp, ready, &tenant, params, user)
    } else {
        after_sign_in(idp, ready, &tenant, params, user)
    };
    set_cookie(&mut response, idp, user);
    response
}

/// `POST /{tenant}/oauth2/v2.0/consent`: Accept or Cancel.
pub async fn consent(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let _ = tenant;
    let form = Form::parse(&body);
    let (idp, ready) = match idp(&state).and_then(|i| Ok((i, i.ready()?))) {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let Some(params) = form.get("request").and_then(|id| recall(idp, id)) else {
        return error_page(&AadError::invalid_request(
            50059,
            "This consent request has expired or is unknown; start again.",
        ));
    };
    let (Some(user), Some(client)) = (
        param(&params, "_user").and_then(|u| ready.users.get(&u.to_ascii_lowercase())),
        param(&params, "client_id").and_then(|c| grants::app(ready, c).ok()),
    ) else {
        return error_page(&AadError::invalid_request(
            50059,
            "This consent request is incomplete; start again.",
        ));
    };
    let accepted = form.get("decision") == Some("accept");
    if let Some(device_code) = param(&params, "_device") {
        let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = store.devices.get_mut(device_code) {
            g.state = if accepted {
                DeviceState::Approved {
                    user: user.upn.clone(),
                }
            } else {
                DeviceState::Declined
            };
        }
        drop(store);
        if accepted {
            if let Ok(scopes) = resolve_scopes(ready, param(&params, "scope").unwrap_or("")) {
                if let Some(r) = scopes.resource {
                    grants::grant_consent(idp, user, client, r, &scopes.names);
                }
            }
        }
        let text = if accepted {
            format!(
                "You have signed in to {} on your device. You may now close this window.",
                client.reg.name
            )
        } else {
            "You cancelled the sign-in. You may now close this window.".to_string()
        };
        return Html(page(
            "Device sign-in",
            &format!("<p id=\"result\">{}</p>", esc(&text)),
        ))
        .into_response();
    }
    if !accepted {
        return redirect_error(
            &params,
            &AadError::new(
                "access_denied",
                65004,
                "User declined to consent to access the app.",
            ),
        );
    }
    if let Ok(scopes) = resolve_scopes(ready, param(&params, "scope").unwrap_or("")) {
        if let Some(r) = scopes.resource {
            grants::grant_consent(idp, user, client, r, &scopes.names);
        }
    }
    finish_code(idp, &params, user, client)
}

/// `GET /{tenant}/oauth2/v2.0/devicelogin`: enter the code.
pub async fn device_page(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    if let Err(e) = idp(&state).and_then(|i| check_tenant(i, &tenant)) {
        return error_page(&e);
    }
    Html(code_form(&tenant, None)).into_response()
}

fn code_form(tenant: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Enter code",
        &format!(
            "<p>Enter the code displayed on your app or device.</p>{err}\
             <form method=\"post\" action=\"/{}/oauth2/v2.0/devicelogin\" id=\"code\">\
             <label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" autocomplete=\"off\">\
             <button type=\"submit\" id=\"idSIButton9\">Next</button></form>",
            esc(tenant)
        ),
    )
}

/// `POST /{tenant}/oauth2/v2.0/devicelogin`: the code was entered.
pub async fn device_post(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let (idp, ready) = match idp(&state).and_then(|i| Ok((i, i.ready()?))) {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let entered = form
        .get("otc")
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase()
        .replace('-', "");
    let now = idp.clock.now_secs();
    let found = {
        let store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .devices
            .iter()
            .find(|(_, g)| {
                g.user_code == entered && g.state == DeviceState::Pending && g.expires > now
            })
            .map(|(code, g)| (code.clone(), g.client_id.clone(), g.scopes.join(" ")))
    };
    let Some((device_code, client_id, scope)) = found else {
        return (
            StatusCode::OK,
            Html(code_form(
                &tenant,
                Some("AADSTS70000: That code is not valid or has expired. Check it and try again."),
            )),
        )
            .into_response();
    };
    let params = vec![
        ("client_id".to_string(), client_id),
        ("scope".to_string(), scope),
        ("_device".to_string(), device_code),
    ];
    match cookie_user(idp, ready, &headers) {
        Some(user) => device_approval(idp, ready, &tenant, params, user),
        None => {
            let client = match param(&params, "client_id").and_then(|c| grants::app(ready, c).ok())
            {
                Some(c) => c,
                None => return error_page(&AadError::missing("client_id")),
            };
            let id = remember(idp, params);
            sign_in_page(&id, &tenant, client, "", None)
        }
    }
}

/// The device flow always asks the signed-in user to approve the device.
fn device_approval(
    idp: &Idp,
    ready: &Ready,
    tenant: &str,
    mut params: Vec<(String, String)>,
    user: &User,
) -> Response {
    let Some(client) = param(&params, "client_id").and_then(|c| grants::app(ready, c).ok()) else {
        return error_page(&AadError::missing("client_id"));
    };
    let scopes = resolve_scopes(ready, param(&params, "scope").unwrap_or("")).ok();
    let names = scopes.as_ref().map(|s| s.names.clone()).unwrap_or_default();
    let resource = scopes.and_then(|s| s.resource);
    params.push(("_user".into(), user.upn.clone()));
    let id = remember(idp, params);
    consent_page(&id, tenant, user, client, resource, &names)
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the browser session.
pub async fn logout(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let _ = tenant;
    if let Ok(idp) = idp(&state) {
        if let Some(cookies) = headers.get(header::COOKIE).and_then(|c| c.to_str().ok()) {
            let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
            for (k, v) in cookies.split(';').filter_map(|c| c.trim().split_once('=')) {
                if k == COOKIE {
                    store.browser.remove(v);
                }
            }
        }
    }
    let params = grants::parse_pairs(q.as_deref().unwrap_or(""));
    let mut response = match param(&params, "post_logout_redirect_uri") {
        Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
            let mut r = StatusCode::FOUND.into_response();
            let location = match param(&params, "state") {
                Some(s) => format!(
                    "{uri}{}state={}",
                    if uri.contains('?') { '&' } else { '?' },
                    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                ),
                None => uri.to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        _ => Html(page(
            "Signed out",
            "<p id=\"result\">You have signed out.</p>",
        ))
        .into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
