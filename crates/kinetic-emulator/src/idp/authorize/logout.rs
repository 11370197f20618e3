//! Logout: ends the browser session and goes back only to a registered redirect.

use super::pages::page;
use super::session::{browser_cookie, clear_cookie};
use super::{idp_arc, redirect_allowed, MAX_REQUEST};
use crate::idp::grants::{self, Form};
use crate::idp::{App, Idp, Ready};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The client a logout names: `client_id`, or the audience of an `id_token_hint` we signed.
pub(super) fn logout_client<'a>(idp: &Idp, ready: &'a Ready, params: &Form) -> Option<&'a App> {
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
