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

/// A page of one form, posted to `/{tenant}/oauth2/v2.0/{action}`: the intro, the error if any, then
/// the form with its hidden request id and CSRF token.
pub(super) struct FormPage<'a> {
    pub(super) title: &'a str,
    /// Markup before the form (its text already escaped).
    pub(super) intro: &'a str,
    pub(super) error: Option<&'a str>,
    pub(super) tenant: &'a str,
    pub(super) action: &'a str,
    /// The form's `id`.
    pub(super) id: &'a str,
    /// The step (interaction) the form answers, if any.
    pub(super) request: Option<&'a str>,
    pub(super) csrf: &'a str,
    /// The form's inputs and buttons.
    pub(super) fields: &'a str,
}

impl FormPage<'_> {
    pub(super) fn html(&self) -> String {
        let err = self
            .error
            .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)))
            .unwrap_or_default();
        let body = format!(
            "{intro}{err}<form method=\"post\" action=\"/{tenant}/oauth2/v2.0/{action}\" id=\"{id}\">{hidden}{fields}</form>",
            intro = self.intro,
            tenant = esc(self.tenant),
            action = self.action,
            id = self.id,
            hidden = hidden_fields(self.request, self.csrf),
            fields = self.fields,
        );
        page(self.title, &body)
    }
}

pub(super) fn verify_page(
    interaction: &str,
    csrf: &str,
    tenant: &str,
    user: &User,
    error: Option<&str>,
) -> Response {
    let intro = format!(
        "<p>Signed in as <strong>{}</strong>.</p><p>Your organisation needs more information to keep your account secure: \
         enter the code from your authenticator app.</p>",
        esc(&user.upn)
    );
    let html = FormPage {
        title: "Verify your identity",
        intro: &intro,
        error,
        tenant,
        action: "verify",
        id: "verify",
        request: Some(interaction),
        csrf,
        fields: "<label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" inputmode=\"numeric\" autocomplete=\"one-time-code\">\
                 <button type=\"submit\" id=\"idSubmit_SAOTCC_Continue\">Verify</button>",
    }
    .html();
    Html(html).into_response()
}

pub(super) fn sign_in_page(
    interaction: &str,
    csrf: &str,
    tenant: &str,
    app: &App,
    hint: &str,
    error: Option<&str>,
) -> Response {
    let intro = format!(
        "<p>Sign in to continue to <strong>{}</strong>.</p>",
        esc(&app.reg.name)
    );
    let fields = format!(
        "<label for=\"login\">Email or username</label><input id=\"login\" name=\"login\" value=\"{}\" autocomplete=\"username\">\
         <label for=\"passwd\">Password</label><input id=\"passwd\" name=\"passwd\" type=\"password\" autocomplete=\"current-password\">\
         <button type=\"submit\" id=\"idSIButton9\">Sign in</button>",
        esc(hint)
    );
    let html = FormPage {
        title: "Sign in",
        intro: &intro,
        error,
        tenant,
        action: "login",
        id: "signin",
        request: Some(interaction),
        csrf,
        fields: &fields,
    }
    .html();
    Html(html).into_response()
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
    let intro = format!(
        "<p>Signed in as <strong>{user}</strong>.</p><p><strong>{client}</strong> wants to use <strong>{resource}</strong> on your behalf:</p>\
         <ul id=\"scopes\">{items}</ul>",
        user = esc(&user.upn),
        client = esc(&client.reg.name),
        resource = esc(resource.map(|r| r.reg.name.as_str()).unwrap_or("your profile")),
    );
    let html = FormPage {
        title: "Permissions requested",
        intro: &intro,
        error: None,
        tenant,
        action: "consent",
        id: "consent",
        request: Some(interaction),
        csrf,
        fields: "<button type=\"submit\" name=\"decision\" value=\"accept\" id=\"accept\">Accept</button>\
                 <button type=\"submit\" name=\"decision\" value=\"decline\" id=\"decline\">Cancel</button>",
    }
    .html();
    Html(html).into_response()
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
