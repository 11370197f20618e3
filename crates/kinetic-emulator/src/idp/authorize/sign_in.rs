//! The sign-in steps a browser posts: password, second factor, consent.

use super::device::device_approval;
use super::pages::{busy, error_page, page, sign_in_page, throttled_text, verify_page};
use super::session::{begin_session, refused, set_cookie, signed_in, Posted, Signed};
use super::{after_sign_in, finish_code, redirect_error};
use crate::idp::grants::{self, resolve_scopes};
use crate::idp::{AadError, DeviceState, Flow, Idp, Ready};
use crate::markup::xml_escape as esc;
use crate::throttle::{self, ClientAddr, Refusal};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use subtle::ConstantTimeEq;

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
pub(super) fn passed(
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
