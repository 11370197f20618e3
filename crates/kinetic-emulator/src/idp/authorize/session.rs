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
use crate::throttle::ClientAddr;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::marker::PhantomData;
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

/// What a posted form is called in its refusals ("The sign-in form is too large.").
pub(crate) trait FormKind {
    const WHAT: &'static str;
}

/// The kinds of posted forms: sign-in, consent, second factor, device code.
pub(crate) struct SignInForm;
pub(crate) struct ConsentForm;
pub(crate) struct VerifyForm;
pub(crate) struct CodeForm;

impl FormKind for SignInForm {
    const WHAT: &'static str = "sign-in";
}
impl FormKind for ConsentForm {
    const WHAT: &'static str = "consent";
}
impl FormKind for VerifyForm {
    const WHAT: &'static str = "verification";
}
impl FormKind for CodeForm {
    const WHAT: &'static str = "code";
}

/// A posted form from a page this browser was shown, read as an extractor in this order: the
/// tenant of the path, the body within its limit, the provider on and prepared, then the browser's
/// cookie and the form's CSRF token for it (`posted_browser`).
pub(crate) struct Posted<K> {
    pub(super) state: AppState,
    pub(super) tenant: String,
    pub(super) addr: ClientAddr,
    pub(super) form: Form,
    pub(super) idp: Arc<Idp>,
    /// The browser's cookie value.
    pub(super) browser: String,
    kind: PhantomData<K>,
}

/// A [`Posted`] form that answers a step remembered for the same browser: the form, the step's id
/// and the step (`posted_step`).
pub(crate) struct PostedStep<K>(
    pub(super) Posted<K>,
    pub(super) String,
    pub(super) Interaction,
);

impl<K: FormKind + Send> FromRequest<AppState> for Posted<K> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Path(tenant) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let addr = ClientAddr::from_extensions(&parts.extensions);
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| refused(90015, &format!("The {} form is too large.", K::WHAT)))?;
        let form = Form::parse(&body);
        let idp = provider(state).await?;
        let browser = posted_browser(&idp, &headers, &form)?;
        Ok(Posted {
            state: state.clone(),
            tenant,
            addr,
            form,
            idp,
            browser,
            kind: PhantomData,
        })
    }
}

impl<K: FormKind + Send> FromRequest<AppState> for PostedStep<K> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let posted = Posted::<K>::from_request(req, state).await?;
        let (id, step) = posted_step(&posted.idp, &posted.browser, &posted.form)?;
        Ok(PostedStep(posted, id, step))
    }
}

/// Why a posted form is not taken.
pub(super) fn refused(code: u32, text: &str) -> Response {
    error_page(&AadError::invalid_request(code, text))
}

// The refusal is the page to show: built once per request, never on a hot path.
#[allow(clippy::result_large_err)]
/// Checks a posted form came from a page this browser was shown: its cookie, and the form's CSRF
/// token for that cookie. Returns the browser id.
fn posted_browser(idp: &Idp, headers: &HeaderMap, form: &Form) -> Result<String, Response> {
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
    Ok(browser)
}

#[allow(clippy::result_large_err)]
/// The step a posted form names, when it is one remembered for this same browser. Returns the
/// step's id and the step.
fn posted_step(idp: &Idp, browser: &str, form: &Form) -> Result<(String, Interaction), Response> {
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
        Some(s) if s.browser == browser => Ok((id, s)),
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
