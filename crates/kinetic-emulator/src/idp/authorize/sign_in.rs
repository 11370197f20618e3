//! The sign-in steps a browser posts: password, second factor, consent.

use super::device::device_approval;
use super::pages::{busy, error_page, page, sign_in_page, throttled_text, verify_page};
use super::session::{
    begin_session, refused, set_cookie, signed_in, ConsentForm, Posted, PostedStep, SignInForm,
    Signed, VerifyForm,
};
use super::{after_sign_in, finish_code, redirect_error};
use crate::idp::grants::{self, resolve_scopes};
use crate::idp::{AadError, DeviceState, Flow, Ready, User};
use crate::markup::xml_escape as esc;
use crate::throttle::{self, Refusal};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use subtle::ConstantTimeEq;

/// `POST /{tenant}/oauth2/v2.0/login`: the sign-in form.
pub async fn login(PostedStep(p, step_id, step): PostedStep<SignInForm>) -> Response {
    let Ok(ready) = p.idp.ready() else {
        return busy();
    };
    if step.user.is_some() {
        return refused(50059, "This request is past its sign-in step; start again.");
    }
    let client_id = match &step.flow {
        Flow::Authorize(r) => r.client_id.clone(),
        Flow::Device { device_code } => {
            let now = p.idp.clock.now_secs();
            match p
                .idp
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
    let csrf = p.idp.csrf_token(&p.browser);
    let login: String = p
        .form
        .get("login")
        .unwrap_or("")
        .chars()
        .take(256)
        .collect();
    let password = p.form.get("passwd").unwrap_or("").to_string();
    let addr = p.addr;
    let again = |error: &str, status: StatusCode| {
        let mut r = sign_in_page(&step_id, &csrf, &p.tenant, client, &login, Some(error));
        *r.status_mut() = status;
        r
    };
    if let Err(Refusal::Throttled { retry_after }) = p.state.throttle.check(&login, addr) {
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
        p.state.throttle.failed(&login, addr);
        return again(
            "AADSTS50126: Error validating credentials due to invalid username or password.",
            StatusCode::OK,
        );
    };
    passed(&p, ready, &login, &step_id, step.flow, user, false)
}

/// A sign-in step passed (the password, or the second factor when `mfa`): the failures counted
/// against `throttle_key` are forgotten, the step is spent, the browser gets a new session in place
/// of its old cookie value (a value known before is worth nothing after), and the flow goes on (the
/// second factor or consent when needed, then the code or the device's approval).
fn passed<K>(
    p: &Posted<K>,
    ready: &Ready,
    throttle_key: &str,
    step_id: &str,
    flow: Flow,
    user: &User,
    mfa: bool,
) -> Response {
    let (state, idp, tenant) = (&p.state, &*p.idp, p.tenant.as_str());
    state.throttle.succeeded(throttle_key);
    let who = Signed {
        browser: &p.browser,
        user,
        mfa,
    };
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
pub async fn consent(PostedStep(p, step_id, step): PostedStep<ConsentForm>) -> Response {
    let Ok(ready) = p.idp.ready() else {
        return busy();
    };
    // The consent step belongs to the user signed in on this very browser, now.
    let (user, mfa) = match (&step.user, signed_in(&p.idp, ready, &p.browser)) {
        (Some(u), Some(s)) if !step.verify && s.user.upn.eq_ignore_ascii_case(u) => (s.user, s.mfa),
        _ => {
            return refused(
                50059,
                "This consent request is not for the user signed in on this browser; start again.",
            )
        }
    };
    // Single use.
    p.idp
        .store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .interactions
        .remove(&step_id);
    let accepted = p.form.get("decision") == Some("accept");
    match step.flow {
        Flow::Device { device_code } => {
            let now = p.idp.clock.now_secs();
            let client_id = {
                let mut store = p.idp.store.lock().unwrap_or_else(|p| p.into_inner());
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
                        grants::grant_consent(&p.idp, user, client, r, &scopes.names);
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
                    grants::grant_consent(&p.idp, user, client, r, &scopes.names);
                }
            }
            finish_code(&p.idp, &req, user, client, mfa)
        }
    }
}

/// `POST /{tenant}/oauth2/v2.0/verify`: the second factor's code. Its success starts a new browser
/// session that has passed it, then the flow goes on (consent, the code, the device's approval).
pub async fn verify(PostedStep(p, step_id, step): PostedStep<VerifyForm>) -> Response {
    let Ok(ready) = p.idp.ready() else {
        return busy();
    };
    // The verification step belongs to the user signed in on this very browser, now.
    let user = match (&step.user, signed_in(&p.idp, ready, &p.browser)) {
        (Some(u), Some(s)) if step.verify && s.user.upn.eq_ignore_ascii_case(u) => s.user,
        _ => {
            return refused(
                50059,
                "This verification is not for the user signed in on this browser; start again.",
            )
        }
    };
    let throttle_key = format!("mfa:{}", user.upn.to_ascii_lowercase());
    let addr = p.addr;
    let csrf = p.idp.csrf_token(&p.browser);
    let again = |error: &str, status: StatusCode| {
        let mut r = verify_page(&step_id, &csrf, &p.tenant, user, Some(error));
        *r.status_mut() = status;
        r
    };
    if let Err(Refusal::Throttled { retry_after }) = p.state.throttle.check(&throttle_key, addr) {
        return again(&throttled_text(retry_after), StatusCode::TOO_MANY_REQUESTS);
    }
    let entered = p.form.get("otc").unwrap_or("").trim();
    let expected = user.mfa_code.as_deref().unwrap_or("");
    if expected.is_empty() || !bool::from(entered.as_bytes().ct_eq(expected.as_bytes())) {
        p.state.throttle.failed(&throttle_key, addr);
        return again(
            "AADSTS50181: The code you entered is not valid. Check it and try again.",
            StatusCode::OK,
        );
    }
    passed(&p, ready, &throttle_key, &step_id, step.flow, user, true)
}
