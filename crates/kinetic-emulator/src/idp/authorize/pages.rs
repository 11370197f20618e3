//! The HTML pages the browser is shown (sign-in, second factor, consent, errors) and the headers
//! on every answer.

use crate::idp::{AadError, App, User};
use crate::markup::xml_escape as esc;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:28em;margin:3em auto}}label,input,button{{display:block;margin:.4em 0}}.error{{color:#a00}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    )
}

/// An error the user sees (no redirect: the redirect URI itself is not trusted).
pub(super) fn error_page(e: &AadError) -> Response {
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
pub(super) fn hidden_fields(request: Option<&str>, csrf: &str) -> String {
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

pub(super) fn verify_page(
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

pub(super) fn sign_in_page(
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

pub(super) fn consent_page(
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

pub(super) fn throttled_text(retry_after: u64) -> String {
    format!("AADSTS50053: You've tried to sign in too many times with an incorrect user ID or password. Wait {retry_after} seconds and try again.")
}

pub(super) fn busy() -> Response {
    error_page(&AadError::server(
        "The sign-in service is busy; try again in a few seconds.",
    ))
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
