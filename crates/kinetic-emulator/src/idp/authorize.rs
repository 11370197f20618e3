//! The browser side: discovery, JWKS, the authorize endpoint with its HTML sign-in and consent pages,
//! the device-code pages, logout, and the emulator's key-rotation admin route.
//!
//! Server state never comes from a client's parameters: an authorization request is checked once
//! into a typed [`AuthRequest`], and each step after it (sign-in, consent, device approval) is an
//! [`Interaction`] bound to the browser that started it (its cookie) and to the signed-in user. Every
//! form carries a CSRF token derived from that cookie, and every POST checks both.
//!
//! A Conditional Access policy (or a claims challenge in the request) asks for a second factor
//! after the password: the verification step, whose success starts a new browser session marked
//! as having passed it; tokens then carry `amr: ["pwd", "mfa"]`.

use super::grants::{self, check_tenant, idp, issue_code, resolve_scopes, Form};
use super::{
    AadError, App, AuthCode, AuthRequest, BrowserSession, DeviceState, Flow, Idp, Interaction,
    Ready, ResponseMode, User, INTERACTION_LIFETIME, SESSION_LIFETIME,
};
use crate::markup::xml_escape as esc;
use crate::throttle::{self, ClientAddr, Refusal};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The browser's cookie: a random id, nothing else. What it is signed in as stays on the server.
const COOKIE: &str = "kinetic_idp_browser";
/// Authorization codes live ten minutes, as Entra's do.
const CODE_LIFETIME: i64 = 600;
/// The longest authorization request taken (query or form), in bytes.
const MAX_REQUEST: usize = 16 * 1024;
/// The longest value of one parameter kept (state, nonce, scope, redirect URI, login hint).
const MAX_PARAM: usize = 2048;

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

/// The provider with its users, apps and keys made, or the error page to show.
async fn provider(state: &AppState) -> Result<Arc<Idp>, Response> {
    let idp = idp_arc(state).map_err(|e| error_page(&e))?;
    idp.prepared().await.map_err(|e| error_page(&e))?;
    Ok(idp)
}

fn idp_arc(state: &AppState) -> Result<Arc<Idp>, AadError> {
    state.idp.clone().ok_or_else(|| {
        AadError::server("the identity provider is turned off ([idp] enabled = false)")
    })
}

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
async fn administrator(
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
    let status = if e.status.is_server_error() {
        e.status
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Html(page("Sign-in error", &body))).into_response()
}

/// The form's hidden request id and CSRF token.
fn hidden_fields(request: Option<&str>, csrf: &str) -> String {
    let mut out = String::new();
    if let Some(r) = request {
        out.push_str(&format!(
            "<input type=\"hidden\" name=\"request\" value=\"{}\">",
            esc(r)
        ));
    }
    out.push_str(&format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    ));
    out
}

/// Whether a URL is a loopback redirect in RFC 8252's sense: plain http to localhost, 127.0.0.1 or
/// [::1], with no credentials.
fn loopback(u: &url::Url) -> bool {
    use url::Host;
    u.scheme() == "http"
        && u.username().is_empty()
        && u.password().is_none()
        && match u.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
            None => false,
        }
}

/// Whether a redirect URI is registered for `app`. The URI is parsed, never prefix-matched: no
/// credentials or fragment; a registered loopback URI allows any port on the same loopback host with
/// the same path and query (RFC 8252 §7.3); any other must equal a registered one exactly.
pub fn redirect_allowed(app: &App, uri: &str) -> bool {
    let Ok(asked) = url::Url::parse(uri) else {
        return false;
    };
    if !asked.username().is_empty() || asked.password().is_some() || asked.fragment().is_some() {
        return false;
    }
    app.reg.redirect_uris.iter().any(|r| {
        let Ok(reg) = url::Url::parse(r) else {
            return false;
        };
        if loopback(&reg) {
            loopback(&asked)
                && asked.host() == reg.host()
                && asked.path() == reg.path()
                && asked.query() == reg.query()
        } else {
            asked == reg
        }
    })
}

/// Sends the result of an authorization request back to the client: query redirect or form post.
fn respond_to_client(req: &AuthRequest, fields: Vec<(&str, String)>) -> Response {
    let mut fields = fields;
    if let Some(s) = &req.state {
        fields.push(("state", s.clone()));
    }
    if req.response_mode == ResponseMode::FormPost {
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
            esc(&req.redirect_uri)
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
    let sep = if req.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{sep}{}", req.redirect_uri, query.join("&"));
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn redirect_error(req: &AuthRequest, e: &AadError) -> Response {
    respond_to_client(
        req,
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

/// The browser's cookie value, when it sends one that could be ours.
fn browser_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| {
            *k == COOKIE
                && (16..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(|(_, v)| v.to_string())
}

fn new_browser_id() -> String {
    grants::b64url(&rand::random::<[u8; 32]>())
}

/// The browser a page is shown to: its cookie, or a new one set on the answer.
struct Browser {
    id: String,
    fresh: bool,
}

impl Browser {
    fn of(headers: &HeaderMap) -> Browser {
        match browser_cookie(headers) {
            Some(id) => Browser { id, fresh: false },
            None => Browser {
                id: new_browser_id(),
                fresh: true,
            },
        }
    }

    /// Sets the cookie on `response` when the browser had none.
    fn finish(&self, mut response: Response, tls: bool) -> Response {
        if self.fresh {
            set_cookie(&mut response, &self.id, tls);
        }
        response
    }
}

fn set_cookie(response: &mut Response, value: &str, tls: bool) {
    let secure = if tls { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn clear_cookie(response: &mut Response, tls: bool) {
    let secure = if tls { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A browser and the user signed in on it: read once from its session, then passed along.
#[derive(Clone, Copy)]
struct Signed<'a> {
    /// The browser's cookie value.
    browser: &'a str,
    user: &'a User,
    /// The sign-in passed a second factor.
    mfa: bool,
}

/// Who is signed in on `browser`, if anyone.
fn signed_in<'a>(idp: &Idp, ready: &'a Ready, browser: &'a str) -> Option<Signed<'a>> {
    let now = idp.clock.now_secs();
    let session = idp
        .store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sessions
        .get(now, &browser.to_string())?
        .clone();
    ready.users.get(&session.user).map(|user| Signed {
        browser,
        user,
        mfa: session.mfa,
    })
}

fn verify_page(
    interaction: &str,
    csrf: &str,
    tenant: &str,
    user: &User,
    error: Option<&str>,
) -> Response {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<p>Signed in as <strong>{user}</strong>.</p><p>Your organisation needs more information to keep your account secure: \
         enter the code from your authenticator app.</p>{err}\
         <form method=\"post\" action=\"/{tenant}/oauth2/v2.0/verify\" id=\"verify\">{hidden}\
         <label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" inputmode=\"numeric\" autocomplete=\"one-time-code\">\
         <button type=\"submit\" id=\"idSubmit_SAOTCC_Continue\">Verify</button></form>",
        user = esc(&user.upn),
        tenant = esc(tenant),
        hidden = hidden_fields(Some(interaction), csrf),
    );
    Html(page("Verify your identity", &body)).into_response()
}

/// The second-factor step of `flow` for the user signed in on the browser; a user with no second
/// factor cannot pass it (Entra would ask them to enrol).
fn verify_step(idp: &Idp, tenant: &str, who: Signed<'_>, flow: Flow) -> Response {
    let Signed { browser, user, .. } = who;
    if user.mfa_code.is_none() {
        let e = AadError::new(
            "interaction_required",
            50079,
            format!(
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication. The user {} has no second factor (the emulator: give it mfa_code).",
                user.upn
            ),
        );
        return match &flow {
            Flow::Authorize(req) => redirect_error(req, &e),
            Flow::Device { .. } => error_page(&e),
        };
    }
    let id = remember(
        idp,
        Interaction {
            browser: browser.to_string(),
            flow,
            user: Some(user.upn.to_ascii_lowercase()),
            verify: true,
        },
    );
    verify_page(&id, &idp.csrf_token(browser), tenant, user, None)
}

fn sign_in_page(
    interaction: &str,
    csrf: &str,
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
         <form method=\"post\" action=\"/{tenant}/oauth2/v2.0/login\" id=\"signin\">{hidden}\
         <label for=\"login\">Email or username</label><input id=\"login\" name=\"login\" value=\"{hint}\" autocomplete=\"username\">\
         <label for=\"passwd\">Password</label><input id=\"passwd\" name=\"passwd\" type=\"password\" autocomplete=\"current-password\">\
         <button type=\"submit\" id=\"idSIButton9\">Sign in</button></form>",
        app = esc(&app.reg.name),
        tenant = esc(tenant),
        hidden = hidden_fields(Some(interaction), csrf),
        hint = esc(hint)
    );
    Html(page("Sign in", &body)).into_response()
}

fn consent_page(
    interaction: &str,
    csrf: &str,
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
         <form method=\"post\" action=\"/{tenant}/oauth2/v2.0/consent\" id=\"consent\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"accept\" id=\"accept\">Accept</button>\
         <button type=\"submit\" name=\"decision\" value=\"decline\" id=\"decline\">Cancel</button></form>",
        user = esc(&user.upn),
        client = esc(&client.reg.name),
        resource = esc(resource.map(|r| r.reg.name.as_str()).unwrap_or("your profile")),
        tenant = esc(tenant),
        hidden = hidden_fields(Some(interaction), csrf),
    );
    Html(page("Permissions requested", &body)).into_response()
}

/// Remembers a step for its browser; returns its id.
fn remember(idp: &Idp, interaction: Interaction) -> String {
    let id = grants::b64url(&rand::random::<[u8; 24]>());
    let now = idp.clock.now_secs();
    let weight = interaction.weight() + id.len();
    idp.store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .interactions
        .insert(
            now,
            id.clone(),
            interaction,
            now + INTERACTION_LIFETIME,
            weight,
        );
    id
}

/// A posted form that passed [`posted_step`], with the provider ready.
struct Posted {
    form: Form,
    idp: Arc<Idp>,
    browser: String,
    step: Option<(String, Interaction)>,
}

impl Posted {
    async fn read(
        state: &AppState,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
        what: &str,
        want_step: bool,
    ) -> Result<Posted, Response> {
        let body = body.map_err(|_| refused(90015, &format!("The {what} form is too large.")))?;
        let form = Form::parse(&body);
        let idp = provider(state).await?;
        let (browser, step) = posted_step(&idp, headers, &form, want_step)?;
        Ok(Posted {
            form,
            idp,
            browser,
            step,
        })
    }
}

/// Why a posted form is not taken.
fn refused(code: u32, text: &str) -> Response {
    error_page(&AadError::invalid_request(code, text))
}

// The refusal is the page to show: built once per request, never on a hot path.
#[allow(clippy::result_large_err)]
/// Checks a posted form came from a page this browser was shown: its cookie, the form's CSRF token
/// for that cookie, and (when named) a step of that same browser. Returns the browser id and the step.
fn posted_step(
    idp: &Idp,
    headers: &HeaderMap,
    form: &Form,
    want_step: bool,
) -> Result<(String, Option<(String, Interaction)>), Response> {
    let Some(browser) = browser_cookie(headers) else {
        return Err(refused(
            50058,
            "Your browser sent no session cookie with this form. Allow cookies for this site and start the sign-in again.",
        ));
    };
    if !idp.csrf_ok(&browser, form.get("csrf").unwrap_or("")) {
        return Err(refused(
            90015,
            "This form was not sent from a page this server showed to your browser (missing or wrong CSRF token). Start the sign-in again.",
        ));
    }
    if !want_step {
        return Ok((browser, None));
    }
    let now = idp.clock.now_secs();
    let id = form.get("request").unwrap_or("").to_string();
    let step = idp
        .store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .interactions
        .get(now, &id)
        .cloned();
    match step {
        Some(s) if s.browser == browser => Ok((browser, Some((id, s)))),
        _ => Err(refused(
            50059,
            "This sign-in request has expired or is unknown to this browser; start again.",
        )),
    }
}

fn too_long(what: &str) -> AadError {
    AadError::invalid_request(
        90015,
        format!("The parameter '{what}' is too long (at most {MAX_PARAM} bytes)."),
    )
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = q.unwrap_or_default();
    if q.len() > MAX_REQUEST {
        return error_page(&AadError::invalid_request(
            90015,
            format!("The authorization request is too long (at most {MAX_REQUEST} bytes)."),
        ));
    }
    start(&state, &tenant, Form(grants::parse_pairs(&q)), &headers).await
}

/// `POST /{tenant}/oauth2/v2.0/authorize` (form-encoded parameters).
pub async fn authorize_post(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(b) if b.len() <= MAX_REQUEST => start(&state, &tenant, Form::parse(&b), &headers).await,
        _ => error_page(&AadError::invalid_request(
            90015,
            format!("The authorization request is too long (at most {MAX_REQUEST} bytes)."),
        )),
    }
}

#[allow(clippy::result_large_err)]
/// Checks an authorization request into an [`AuthRequest`]. Errors before the client and its
/// redirect URI are known go to an error page; after, back to the redirect URI.
fn check_request<'a>(
    ready: &'a Ready,
    params: &Form,
) -> Result<(AuthRequest, &'a App), (Option<AuthRequest>, AadError)> {
    let page = |e| (None, e);
    params.refuse_duplicates().map_err(page)?;
    let client = grants::app(ready, params.require("client_id").map_err(page)?).map_err(page)?;
    let redirect = params.require("redirect_uri").map_err(page)?;
    if redirect.len() > MAX_PARAM {
        return Err(page(too_long("redirect_uri")));
    }
    if !redirect_allowed(client, redirect) {
        return Err(page(AadError::invalid_request(
            50011,
            format!(
                "The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                client.reg.client_id
            ),
        )));
    }
    let response_mode = match params.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(page(AadError::invalid_request(
                900144,
                format!("response_mode '{other}' is not supported; use query or form_post."),
            )))
        }
    };
    let state = params.get("state").map(str::to_string);
    let mut req = AuthRequest {
        client_id: client.reg.client_id.clone(),
        redirect_uri: redirect.to_string(),
        scope: String::new(),
        state: state.filter(|s| s.len() <= MAX_PARAM),
        nonce: None,
        code_challenge: None,
        response_mode,
        force_consent: params.get("prompt") == Some("consent"),
        step_up: false,
    };
    // From here on, errors go back to the client's redirect URI.
    let back = |req: &AuthRequest, e| Err((Some(req.clone()), e));
    for name in [
        "state",
        "nonce",
        "scope",
        "login_hint",
        "code_challenge",
        "claims",
    ] {
        if params.get(name).is_some_and(|v| v.len() > MAX_PARAM) {
            return back(&req, too_long(name));
        }
    }
    if params.get("response_type") != Some("code") {
        return back(&req, AadError::new("unsupported_response_type", 70005, "The provided value for the input parameter 'response_type' is not allowed for this request. Expected: code."));
    }
    let scope = params.get("scope").unwrap_or("");
    if scope.is_empty() {
        return back(&req, AadError::missing("scope"));
    }
    if let Err(e) = resolve_scopes(ready, scope) {
        return back(&req, e);
    }
    req.scope = scope.to_string();
    req.nonce = params.get("nonce").map(str::to_string);
    if let Some(claims) = params.get("claims") {
        match step_up_requested(claims) {
            Some(step_up) => req.step_up = step_up,
            None => {
                return back(
                    &req,
                    AadError::invalid_request(
                        90015,
                        "The 'claims' parameter is not a JSON object (OpenID Connect Core 5.5).",
                    ),
                )
            }
        }
    }
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) if client.reg.public_client => {
            return back(&req, AadError::invalid_request(9002325, "Proof Key for Code Exchange is required for public clients: send code_challenge and code_challenge_method=S256."))
        }
        (Some(_), m) if m != Some("S256") => {
            return back(
                &req,
                AadError::invalid_request(9002326, "code_challenge_method must be S256."),
            )
        }
        (Some(c), _)
            if c.len() != 43
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            return back(&req, AadError::invalid_request(9002326, "code_challenge must be the 43-character base64url SHA-256 of the code verifier (RFC 7636)."))
        }
        (c, _) => req.code_challenge = c.map(str::to_string),
    }
    Ok((req, client))
}

/// Whether a `claims` request (a claims challenge sent back) asks for a stronger sign-in: a
/// Conditional Access policy (`polids`, `capolids`), an authentication context (`acrs`) or a method
/// (`amr`). `None` when it is not a JSON object.
fn step_up_requested(claims: &str) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_str(claims).ok()?;
    let object = v.as_object()?;
    Some(["access_token", "id_token"].iter().any(|t| {
        object.get(*t).and_then(|c| c.as_object()).is_some_and(|c| {
            ["polids", "capolids", "acrs", "amr"]
                .iter()
                .any(|k| c.contains_key(*k))
        })
    }))
}

async fn start(state: &AppState, tenant: &str, params: Form, headers: &HeaderMap) -> Response {
    let prepared = async {
        let idp = idp_arc(state)?;
        check_tenant(&idp, tenant)?;
        idp.prepared().await?;
        Ok::<_, AadError>(idp)
    }
    .await;
    let idp = match prepared {
        Ok(i) => i,
        Err(e) => return error_page(&e),
    };
    let ready = match idp.ready() {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    let (req, client) = match check_request(ready, &params) {
        Ok(x) => x,
        Err((None, e)) => return error_page(&e),
        Err((Some(req), e)) => return redirect_error(&req, &e),
    };
    let prompt = params.get("prompt").unwrap_or("");
    let browser = Browser::of(headers);
    let signed = signed_in(&idp, ready, &browser.id)
        .filter(|_| !matches!(prompt, "login" | "select_account"));
    let response = match signed {
        Some(who) => after_sign_in(&idp, ready, tenant, who, req, prompt == "none"),
        None if prompt == "none" => redirect_error(
            &req,
            &AadError::new(
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            ),
        ),
        None => {
            let hint: String = params
                .get("login_hint")
                .unwrap_or("")
                .chars()
                .take(256)
                .collect();
            let id = remember(
                &idp,
                Interaction {
                    browser: browser.id.clone(),
                    flow: Flow::Authorize(req),
                    user: None,
                    verify: false,
                },
            );
            sign_in_page(
                &id,
                &idp.csrf_token(&browser.id),
                tenant,
                client,
                &hint,
                None,
            )
        }
    };
    browser.finish(response, state.tls)
}

/// After sign-in: consent if needed, then the code.
fn after_sign_in(
    idp: &Idp,
    ready: &Ready,
    tenant: &str,
    who: Signed<'_>,
    req: AuthRequest,
    silent: bool,
) -> Response {
    let Signed { browser, user, mfa } = who;
    let client = match grants::app(ready, &req.client_id) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let scopes = match resolve_scopes(ready, &req.scope) {
        Ok(s) => s,
        Err(e) => return redirect_error(&req, &e),
    };
    if !mfa && (req.step_up || grants::mfa_policy(idp, user, scopes.resource).is_some()) {
        if silent {
            return redirect_error(
                &req,
                &AadError::new(
                    "interaction_required",
                    50076,
                    "A silent sign-in request was sent but the user must use multi-factor authentication.",
                ),
            );
        }
        return verify_step(idp, tenant, who, Flow::Authorize(req));
    }
    let needs_consent = match scopes.resource {
        Some(r) => grants::consented(idp, user, client, r, &scopes.names).is_none(),
        None => false,
    } || req.force_consent;
    if needs_consent {
        if silent {
            return redirect_error(
                &req,
                &AadError::new("consent_required", 65001, format!(
                    "The user or administrator has not consented to use the application with ID '{}'. Send an interactive authorization request for this user and resource.",
                    client.reg.client_id
                )),
            );
        }
        let names = scopes.names.clone();
        let resource = scopes.resource;
        let id = remember(
            idp,
            Interaction {
                browser: browser.to_string(),
                flow: Flow::Authorize(req),
                user: Some(user.upn.to_ascii_lowercase()),
                verify: false,
            },
        );
        return consent_page(
            &id,
            &idp.csrf_token(browser),
            tenant,
            user,
            client,
            resource,
            &names,
        );
    }
    finish_code(idp, &req, user, client, mfa)
}

fn finish_code(idp: &Idp, req: &AuthRequest, user: &User, client: &App, mfa: bool) -> Response {
    let code = issue_code(
        idp,
        AuthCode {
            client_id: client.reg.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            user: user.upn.clone(),
            scopes: req.scope.split_whitespace().map(str::to_string).collect(),
            nonce: req.nonce.clone(),
            mfa,
            expires: idp.clock.now_secs() + CODE_LIFETIME,
            redeemed: false,
            issued: Default::default(),
        },
    );
    respond_to_client(
        req,
        vec![
            ("code", code),
            ("session_state", uuid::Uuid::new_v4().to_string()),
        ],
    )
}

/// Signs `user` in on this browser: a new cookie value (so a value planted before sign-in is
/// worth nothing after it), the old session ended.
fn begin_session(idp: &Idp, old: &str, user: &User, mfa: bool) -> String {
    let id = new_browser_id();
    let now = idp.clock.now_secs();
    let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
    store.sessions.remove(&old.to_string());
    let weight = id.len() + user.upn.len() + 64;
    store.sessions.insert(
        now,
        id.clone(),
        BrowserSession {
            user: user.upn.to_ascii_lowercase(),
            mfa,
        },
        now + SESSION_LIFETIME,
        weight,
    );
    id
}

fn throttled_text(retry_after: u64) -> String {
    format!("AADSTS50053: You've tried to sign in too many times with an incorrect user ID or password. Wait {retry_after} seconds and try again.")
}

fn busy() -> Response {
    error_page(&AadError::server(
        "The sign-in service is busy; try again in a few seconds.",
    ))
}

/// `POST /{tenant}/oauth2/v2.0/login`: the sign-in form.
pub async fn login(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let posted = match Posted::read(&state, &headers, body, "sign-in", true).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (form, idp, browser, step) = (posted.form, posted.idp, posted.browser, posted.step);
    let Ok(ready) = idp.ready() else {
        return busy();
    };
    let (step_id, step) = step.expect("asked for the step");
    if step.user.is_some() {
        return refused(50059, "This request is past its sign-in step; start again.");
    }
    let client_id = match &step.flow {
        Flow::Authorize(r) => r.client_id.clone(),
        Flow::Device { device_code } => {
            let now = idp.clock.now_secs();
            match idp
                .store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .devices
                .get(now, device_code)
            {
                Some(g) => g.client_id.clone(),
                None => return refused(70000, "The device code has expired; start again."),
            }
        }
    };
    let Ok(client) = grants::app(ready, &client_id) else {
        return error_page(&AadError::missing("client_id"));
    };
    let csrf = idp.csrf_token(&browser);
    let login: String = form.get("login").unwrap_or("").chars().take(256).collect();
    let password = form.get("passwd").unwrap_or("").to_string();
    let addr = ClientAddr::from_extensions(&ext);
    let again = |error: &str, status: StatusCode| {
        let mut r = sign_in_page(&step_id, &csrf, &tenant, client, &login, Some(error));
        *r.status_mut() = status;
        r
    };
    if let Err(Refusal::Throttled { retry_after }) = state.throttle.check(&login, addr) {
        return again(&throttled_text(retry_after), StatusCode::TOO_MANY_REQUESTS);
    }
    if password.len() > 1024 {
        return again(
            "AADSTS50126: Error validating credentials due to invalid username or password.",
            StatusCode::OK,
        );
    }
    let known = ready.users.get(&login.to_ascii_lowercase());
    // An unknown user costs a hash all the same: the answer time does not tell who exists.
    let ok = match throttle::verify_password(known.map(|u| u.password_hash.clone()), password).await
    {
        Ok(ok) => ok && known.is_some(),
        Err(_) => return busy(),
    };
    let Some(user) = known.filter(|_| ok) else {
        state.throttle.failed(&login, addr);
        return again(
            "AADSTS50126: Error validating credentials due to invalid username or password.",
            StatusCode::OK,
        );
    };
    state.throttle.succeeded(&login);
    let who = Signed {
        browser: &browser,
        user,
        mfa: false,
    };
    passed(&state, &idp, ready, &tenant, &step_id, step.flow, who)
}

/// A sign-in step passed (the password, or the second factor when `who.mfa`): the step is spent,
/// the browser gets a new session in place of `who.browser` (a cookie value known before is worth
/// nothing after), and the flow goes on (the second factor or consent when needed, then the code
/// or the device's approval).
fn passed(
    state: &AppState,
    idp: &Idp,
    ready: &Ready,
    tenant: &str,
    step_id: &str,
    flow: Flow,
    who: Signed<'_>,
) -> Response {
    idp.store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .interactions
        .remove(&step_id.to_string());
    let new_browser = begin_session(idp, who.browser, who.user, who.mfa);
    let who = Signed {
        browser: &new_browser,
        ..who
    };
    let mut response = match flow {
        Flow::Device { device_code } => device_approval(idp, ready, tenant, who, device_code),
        Flow::Authorize(req) => after_sign_in(idp, ready, tenant, who, req, false),
    };
    set_cookie(&mut response, &new_browser, state.tls);
    response
}

/// `POST /{tenant}/oauth2/v2.0/consent`: Accept or Cancel.
pub async fn consent(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let _ = tenant;
    let posted = match Posted::read(&state, &headers, body, "consent", true).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (form, idp, browser, step) = (posted.form, posted.idp, posted.browser, posted.step);
    let Ok(ready) = idp.ready() else {
        return busy();
    };
    let (step_id, step) = step.expect("asked for the step");
    // The consent step belongs to the user signed in on this very browser, now.
    let (user, mfa) = match (&step.user, signed_in(&idp, ready, &browser)) {
        (Some(u), Some(s)) if !step.verify && s.user.upn.eq_ignore_ascii_case(u) => (s.user, s.mfa),
        _ => {
            return refused(
                50059,
                "This consent request is not for the user signed in on this browser; start again.",
            )
        }
    };
    // Single use.
    idp.store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .interactions
        .remove(&step_id);
    let accepted = form.get("decision") == Some("accept");
    match step.flow {
        Flow::Device { device_code } => {
            let now = idp.clock.now_secs();
            let client_id = {
                let mut store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
                match store.devices.get_mut(now, &device_code) {
                    Some(g) if g.state == DeviceState::Pending && g.expires > now => {
                        g.state = if accepted {
                            DeviceState::Approved {
                                user: user.upn.clone(),
                                mfa,
                            }
                        } else {
                            DeviceState::Declined
                        };
                        Some((g.client_id.clone(), g.scopes.join(" ")))
                    }
                    _ => None,
                }
            };
            let Some((client_id, scope)) = client_id else {
                return refused(70000, "The device code has expired or was already used.");
            };
            let Ok(client) = grants::app(ready, &client_id) else {
                return error_page(&AadError::missing("client_id"));
            };
            if accepted {
                if let Ok(scopes) = resolve_scopes(ready, &scope) {
                    if let Some(r) = scopes.resource {
                        grants::grant_consent(&idp, user, client, r, &scopes.names);
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
            Html(page(
                "Device sign-in",
                &format!("<p id=\"result\">{}</p>", esc(&text)),
            ))
            .into_response()
        }
        Flow::Authorize(req) => {
            let Ok(client) = grants::app(ready, &req.client_id) else {
                return error_page(&AadError::missing("client_id"));
            };
            if !accepted {
                return redirect_error(
                    &req,
                    &AadError::new(
                        "access_denied",
                        65004,
                        "User declined to consent to access the app.",
                    ),
                );
            }
            if let Ok(scopes) = resolve_scopes(ready, &req.scope) {
                if let Some(r) = scopes.resource {
                    grants::grant_consent(&idp, user, client, r, &scopes.names);
                }
            }
            finish_code(&idp, &req, user, client, mfa)
        }
    }
}

/// `POST /{tenant}/oauth2/v2.0/verify`: the second factor's code. Its success starts a new browser
/// session that has passed it, then the flow goes on (consent, the code, the device's approval).
pub async fn verify(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let posted = match Posted::read(&state, &headers, body, "verification", true).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (form, idp, browser, step) = (posted.form, posted.idp, posted.browser, posted.step);
    let Ok(ready) = idp.ready() else {
        return busy();
    };
    let (step_id, step) = step.expect("asked for the step");
    // The verification step belongs to the user signed in on this very browser, now.
    let user = match (&step.user, signed_in(&idp, ready, &browser)) {
        (Some(u), Some(s)) if step.verify && s.user.upn.eq_ignore_ascii_case(u) => s.user,
        _ => {
            return refused(
                50059,
                "This verification is not for the user signed in on this browser; start again.",
            )
        }
    };
    let throttle_key = format!("mfa:{}", user.upn.to_ascii_lowercase());
    let addr = ClientAddr::from_extensions(&ext);
    let csrf = idp.csrf_token(&browser);
    let again = |error: &str, status: StatusCode| {
        let mut r = verify_page(&step_id, &csrf, &tenant, user, Some(error));
        *r.status_mut() = status;
        r
    };
    if let Err(Refusal::Throttled { retry_after }) = state.throttle.check(&throttle_key, addr) {
        return again(&throttled_text(retry_after), StatusCode::TOO_MANY_REQUESTS);
    }
    let entered = form.get("otc").unwrap_or("").trim();
    let expected = user.mfa_code.as_deref().unwrap_or("");
    if expected.is_empty() || !bool::from(entered.as_bytes().ct_eq(expected.as_bytes())) {
        state.throttle.failed(&throttle_key, addr);
        return again(
            "AADSTS50181: The code you entered is not valid. Check it and try again.",
            StatusCode::OK,
        );
    }
    state.throttle.succeeded(&throttle_key);
    let who = Signed {
        browser: &browser,
        user,
        mfa: true,
    };
    passed(&state, &idp, ready, &tenant, &step_id, step.flow, who)
}

/// `GET /{tenant}/oauth2/v2.0/devicelogin`: enter the code.
pub async fn device_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let idp = match idp(&state).and_then(|i| check_tenant(i, &tenant).map(|_| i)) {
        Ok(i) => i,
        Err(e) => return error_page(&e),
    };
    let browser = Browser::of(&headers);
    let html = code_form(&tenant, &idp.csrf_token(&browser.id), None);
    browser.finish(Html(html).into_response(), state.tls)
}

fn code_form(tenant: &str, csrf: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Enter code",
        &format!(
            "<p>Enter the code displayed on your app or device.</p>{err}\
             <form method=\"post\" action=\"/{}/oauth2/v2.0/devicelogin\" id=\"code\">{}\
             <label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" autocomplete=\"off\">\
             <button type=\"submit\" id=\"idSIButton9\">Next</button></form>",
            esc(tenant),
            hidden_fields(None, csrf)
        ),
    )
}

/// `POST /{tenant}/oauth2/v2.0/devicelogin`: the code was entered.
pub async fn device_post(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let posted = match Posted::read(&state, &headers, body, "code", false).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (form, idp, browser, _step) = (posted.form, posted.idp, posted.browser, posted.step);
    let Ok(ready) = idp.ready() else {
        return busy();
    };
    let csrf = idp.csrf_token(&browser);
    // Guessing user codes counts as failed sign-ins of this browser and address.
    let guesser = format!("device-code-entry:{browser}");
    let addr = ClientAddr::from_extensions(&ext);
    if let Err(Refusal::Throttled { retry_after }) = state.throttle.check(&guesser, addr) {
        let html = code_form(
            &tenant,
            &csrf,
            Some(&format!(
                "AADSTS50053: Too many wrong codes. Wait {retry_after} seconds and try again."
            )),
        );
        return (StatusCode::TOO_MANY_REQUESTS, Html(html)).into_response();
    }
    let entered: String = form
        .get("otc")
        .unwrap_or("")
        .trim()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_uppercase()
        .replace('-', "");
    let now = idp.clock.now_secs();
    let found = {
        let store = idp.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .user_codes
            .get(now, &entered)
            .and_then(|code| store.devices.get(now, code).map(|g| (code.clone(), g)))
            .filter(|(_, g)| g.state == DeviceState::Pending && g.expires > now)
            .map(|(code, g)| (code, g.client_id.clone()))
    };
    let Some((device_code, client_id)) = found else {
        state.throttle.failed(&guesser, addr);
        return Html(code_form(
            &tenant,
            &csrf,
            Some("AADSTS70000: That code is not valid or has expired. Check it and try again."),
        ))
        .into_response();
    };
    match signed_in(&idp, ready, &browser) {
        Some(who) => device_approval(&idp, ready, &tenant, who, device_code),
        None => {
            let Ok(client) = grants::app(ready, &client_id) else {
                return error_page(&AadError::missing("client_id"));
            };
            let id = remember(
                &idp,
                Interaction {
                    browser: browser.clone(),
                    flow: Flow::Device { device_code },
                    user: None,
                    verify: false,
                },
            );
            sign_in_page(&id, &csrf, &tenant, client, "", None)
        }
    }
}

/// The device flow always asks the signed-in user to approve the device.
fn device_approval(
    idp: &Idp,
    ready: &Ready,
    tenant: &str,
    who: Signed<'_>,
    device_code: String,
) -> Response {
    let Signed { browser, user, mfa } = who;
    let now = idp.clock.now_secs();
    let grant = idp
        .store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .devices
        .get(now, &device_code)
        .map(|g| (g.client_id.clone(), g.scopes.join(" ")));
    let Some((client_id, scope)) = grant else {
        return refused(70000, "The device code has expired; start again.");
    };
    let Ok(client) = grants::app(ready, &client_id) else {
        return error_page(&AadError::missing("client_id"));
    };
    let scopes = resolve_scopes(ready, &scope).ok();
    let names = scopes.as_ref().map(|s| s.names.clone()).unwrap_or_default();
    let resource = scopes.and_then(|s| s.resource);
    if !mfa && grants::mfa_policy(idp, user, resource).is_some() {
        return verify_step(idp, tenant, who, Flow::Device { device_code });
    }
    let id = remember(
        idp,
        Interaction {
            browser: browser.to_string(),
            flow: Flow::Device { device_code },
            user: Some(user.upn.to_ascii_lowercase()),
            verify: false,
        },
    );
    consent_page(
        &id,
        &idp.csrf_token(browser),
        tenant,
        user,
        client,
        resource,
        &names,
    )
}

/// The client a logout names: `client_id`, or the audience of an `id_token_hint` we signed.
fn logout_client<'a>(idp: &Idp, ready: &'a Ready, params: &Form) -> Option<&'a App> {
    if let Some(id) = params.get("client_id") {
        return grants::app(ready, id).ok();
    }
    let hint = params.get("id_token_hint")?;
    let claims = ready
        .keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .verify(hint, &idp.issuer())
        .ok()?;
    let aud = claims.get("aud")?.as_str()?;
    grants::app(ready, aud).ok()
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the browser session. Goes back only to a
/// `post_logout_redirect_uri` registered for the client the request names; anything else shows
/// the signed-out page (no open redirect).
pub async fn logout(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let _ = tenant;
    let q = q.unwrap_or_default();
    let params = Form(if q.len() <= MAX_REQUEST {
        grants::parse_pairs(&q)
    } else {
        Vec::new()
    });
    let mut target = None;
    if let Ok(idp) = idp_arc(&state) {
        if let Some(browser) = browser_cookie(&headers) {
            idp.store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .sessions
                .remove(&browser);
        }
        if let (Some(uri), Ok(ready)) =
            (params.get("post_logout_redirect_uri"), idp.prepared().await)
        {
            if logout_client(&idp, ready, &params).is_some_and(|c| redirect_allowed(c, uri)) {
                target = Some(uri.to_string());
            }
        }
    }
    let mut response = match target {
        Some(uri) => {
            let mut r = StatusCode::FOUND.into_response();
            let location = match params.get("state") {
                Some(s) => format!(
                    "{uri}{}state={}",
                    if uri.contains('?') { '&' } else { '?' },
                    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                ),
                None => uri,
            };
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => Html(page(
            "Signed out",
            "<p id=\"result\">You have signed out.</p>",
        ))
        .into_response(),
    };
    clear_cookie(&mut response, state.tls);
    response
}

/// Headers on every answer of the identity provider: its pages may not be framed (clickjacking),
/// sniffed, cached, or leak their URL (which may carry a code) in a Referer.
pub async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
