//! The browser session: its cookie, who is signed in on it, the steps remembered for it, and the
//! check that a posted form came from a page this browser was shown (cookie, CSRF token, step).

use super::pages::{consent_page, error_page, verify_page};
use super::{provider, redirect_error, COOKIE};
use crate::encoding::b64url;
use crate::idp::grants::Form;
use crate::idp::{
    AadError, App, BrowserSession, Flow, Idp, Interaction, Ready, User, INTERACTION_LIFETIME,
    SESSION_LIFETIME,
};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use std::sync::Arc;

/// The browser's cookie value, when it sends one that could be ours.
pub(super) fn browser_cookie(headers: &HeaderMap) -> Option<String> {
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

pub(super) fn new_browser_id() -> String {
    b64url(&rand::random::<[u8; 32]>())
}

/// The browser a page is shown to: its cookie, or a new one set on the answer.
pub(super) struct Browser {
    pub(super) id: String,
    pub(super) fresh: bool,
}

impl Browser {
    pub(super) fn of(headers: &HeaderMap) -> Browser {
        match browser_cookie(headers) {
            Some(id) => Browser { id, fresh: false },
            None => Browser {
                id: new_browser_id(),
                fresh: true,
            },
        }
    }

    /// Sets the cookie on `response` when the browser had none.
    pub(super) fn finish(&self, mut response: Response, tls: bool) -> Response {
        if self.fresh {
            set_cookie(&mut response, &self.id, tls);
        }
        response
    }
}

pub(super) fn set_cookie(response: &mut Response, value: &str, tls: bool) {
    let secure = if tls { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(super) fn clear_cookie(response: &mut Response, tls: bool) {
    let secure = if tls { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A browser and the user signed in on it: read once from its session, then passed along.
#[derive(Clone, Copy)]
pub(super) struct Signed<'a> {
    /// The browser's cookie value.
    pub(super) browser: &'a str,
    pub(super) user: &'a User,
    /// The sign-in passed a second factor.
    pub(super) mfa: bool,
}

/// Who is signed in on `browser`, if anyone.
pub(super) fn signed_in<'a>(idp: &Idp, ready: &'a Ready, browser: &'a str) -> Option<Signed<'a>> {
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

/// Remembers a step for its browser; returns its id.
pub(super) fn remember(idp: &Idp, interaction: Interaction) -> String {
    let id = b64url(&rand::random::<[u8; 24]>());
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
pub(super) struct Posted {
    pub(super) form: Form,
    pub(super) idp: Arc<Idp>,
    pub(super) browser: String,
    pub(super) step: Option<(String, Interaction)>,
}

impl Posted {
    pub(super) async fn read(
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
pub(super) fn refused(code: u32, text: &str) -> Response {
    error_page(&AadError::invalid_request(code, text))
}

// The refusal is the page to show: built once per request, never on a hot path.
#[allow(clippy::result_large_err)]
/// Checks a posted form came from a page this browser was shown: its cookie, the form's CSRF token
/// for that cookie, and (when named) a step of that same browser. Returns the browser id and the step.
pub(super) fn posted_step(
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

/// Signs `user` in on this browser: a new cookie value (so a value planted before sign-in is
/// worth nothing after it), the old session ended.
pub(super) fn begin_session(idp: &Idp, old: &str, user: &User, mfa: bool) -> String {
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

/// The second-factor step of `flow` for the user signed in on the browser; a user with no second
/// factor cannot pass it (Entra would ask them to enrol).
pub(super) fn verify_step(idp: &Idp, tenant: &str, who: Signed<'_>, flow: Flow) -> Response {
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
    let id = user_step(idp, who, flow, true);
    verify_page(&id, &idp.csrf_token(browser), tenant, user, None)
}

/// The consent step of `flow` (an authorization request's consent, or a device's approval) for the
/// user signed in on the browser.
pub(super) fn consent_step(
    idp: &Idp,
    tenant: &str,
    who: Signed<'_>,
    flow: Flow,
    client: &App,
    resource: Option<&App>,
    names: &[String],
) -> Response {
    let id = user_step(idp, who, flow, false);
    let csrf = idp.csrf_token(who.browser);
    consent_page(&id, &csrf, tenant, who.user, client, resource, names)
}

/// Remembers the next step of `flow` for the user signed in on the browser (`verify`: the second
/// factor, else consent); returns the step's id.
fn user_step(idp: &Idp, who: Signed<'_>, flow: Flow, verify: bool) -> String {
    remember(
        idp,
        Interaction {
            browser: who.browser.to_string(),
            flow,
            user: Some(who.user.upn.to_ascii_lowercase()),
            verify,
        },
    )
}
