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
//!
//! In this folder: [`metadata`], [`admin`], the [`pages`], the browser [`session`], the [`sign_in`]
//! steps, the [`device`] pages and [`logout`]; here, the authorization request itself.

mod admin;
mod device;
mod logout;
mod metadata;
mod pages;
mod session;
mod sign_in;

pub use admin::{rotate_keys, stats};
pub use device::{device_page, device_post};
pub use logout::logout;
pub use metadata::{discovery, jwks};
pub use pages::page_headers;
pub use sign_in::{consent, login, verify};

use super::grants::{self, check_tenant, issue_code, resolve_scopes, Form};
use super::{
    AadError, App, AuthCode, AuthRequest, Flow, Idp, Interaction, Ready, ResponseMode, User,
};
use crate::markup::xml_escape as esc;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use pages::{error_page, page, sign_in_page};
use session::{consent_step, verify_step};
use session::{remember, signed_in, Browser, Signed};
use std::sync::Arc;

/// The browser's cookie: a random id, nothing else. What it is signed in as stays on the server.
const COOKIE: &str = "kinetic_idp_browser";
/// Authorization codes live ten minutes, as Entra's do.
const CODE_LIFETIME: i64 = 600;
/// The longest authorization request taken (query or form), in bytes.
const MAX_REQUEST: usize = 16 * 1024;
/// The longest value of one parameter kept (state, nonce, scope, redirect URI, login hint).
const MAX_PARAM: usize = 2048;

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
    let Signed { user, mfa, .. } = who;
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
        return consent_step(
            idp,
            tenant,
            who,
            Flow::Authorize(req),
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
