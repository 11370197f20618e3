//! The device-code pages: enter the code, sign in, approve the device.

use super::pages::{busy, error_page, sign_in_page, FormPage};
use super::session::{consent_step, verify_step};
use super::session::{refused, remember, signed_in, Browser, CodeForm, Posted, Signed};
use crate::idp::grants::{self, check_tenant, idp, resolve_scopes};
use crate::idp::{AadError, DeviceState, Flow, Idp, Interaction, Ready};
use crate::throttle::Refusal;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

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

pub(super) fn code_form(tenant: &str, csrf: &str, error: Option<&str>) -> String {
    FormPage {
        title: "Enter code",
        intro: "<p>Enter the code displayed on your app or device.</p>",
        error,
        tenant,
        action: "devicelogin",
        id: "code",
        request: None,
        csrf,
        fields:
            "<label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" autocomplete=\"off\">\
                 <button type=\"submit\" id=\"idSIButton9\">Next</button>",
    }
    .html()
}

/// `POST /{tenant}/oauth2/v2.0/devicelogin`: the code was entered.
pub async fn device_post(p: Posted<CodeForm>) -> Response {
    let Ok(ready) = p.idp.ready() else {
        return busy();
    };
    let csrf = p.idp.csrf_token(&p.browser);
    // Guessing user codes counts as failed sign-ins of this browser and address.
    let guesser = format!("device-code-entry:{}", p.browser);
    let addr = p.addr;
    if let Err(Refusal::Throttled { retry_after }) = p.state.throttle.check(&guesser, addr) {
        let html = code_form(
            &p.tenant,
            &csrf,
            Some(&format!(
                "AADSTS50053: Too many wrong codes. Wait {retry_after} seconds and try again."
            )),
        );
        return (StatusCode::TOO_MANY_REQUESTS, Html(html)).into_response();
    }
    let entered: String = p
        .form
        .get("otc")
        .unwrap_or("")
        .trim()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_uppercase()
        .replace('-', "");
    let now = p.idp.clock.now_secs();
    let found = {
        let store = p.idp.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .user_codes
            .get(now, &entered)
            .and_then(|code| store.devices.get(now, code).map(|g| (code.clone(), g)))
            .filter(|(_, g)| g.state == DeviceState::Pending && g.expires > now)
            .map(|(code, g)| (code, g.client_id.clone()))
    };
    let Some((device_code, client_id)) = found else {
        p.state.throttle.failed(&guesser, addr);
        return Html(code_form(
            &p.tenant,
            &csrf,
            Some("AADSTS70000: That code is not valid or has expired. Check it and try again."),
        ))
        .into_response();
    };
    match signed_in(&p.idp, ready, &p.browser) {
        Some(who) => device_approval(&p.idp, ready, &p.tenant, who, device_code),
        None => {
            let Ok(client) = grants::app(ready, &client_id) else {
                return error_page(&AadError::missing("client_id"));
            };
            let id = remember(
                &p.idp,
                Interaction {
                    browser: p.browser.clone(),
                    flow: Flow::Device { device_code },
                    user: None,
                    verify: false,
                },
            );
            sign_in_page(&id, &csrf, &p.tenant, client, "", None)
        }
    }
}

/// The device flow always asks the signed-in user to approve the device.
pub(super) fn device_approval(
    idp: &Idp,
    ready: &Ready,
    tenant: &str,
    who: Signed<'_>,
    device_code: String,
) -> Response {
    let Signed { user, mfa, .. } = who;
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
    consent_step(
        idp,
        tenant,
        who,
        Flow::Device { device_code },
        client,
        resource,
        &names,
    )
}
