//! Admission of a REST call, in Epicor's order: the API key (v2), the caller's credentials, the key's
//! scope, the `CallSettings` / `ContextHeader` headers, then a licence seat or the caller's session.
//! Nothing reaches data before all of these pass.

use super::Ctx;
use crate::api_error::ApiError;
use crate::auth::apikey::{ApiKeys, Target};
use crate::auth::license::{self, Admission, LicenseHeader};
use crate::auth::Principal;
use crate::model;
use axum::http::HeaderValue;
use axum::response::Response;

/// `CallSettings`: per-call overrides of the session's values; unknown keys are accepted silently.
#[derive(Debug, Clone, Default)]
pub struct CallSettings {
    pub company: Option<String>,
    pub plant: Option<String>,
    pub language: Option<String>,
    pub format_culture: Option<String>,
}

/// A call that passed admission. Holds the licence seat until dropped.
pub struct Admitted {
    pub principal: Principal,
    pub license: LicenseHeader,
    pub admission: Option<Admission>,
    context_header: Option<HeaderValue>,
}

fn parse_call_settings(ctx: &Ctx) -> Result<CallSettings, ApiError> {
    let Some(raw) = ctx.headers.get("CallSettings") else {
        return Ok(CallSettings::default());
    };
    let text = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("the CallSettings header is not text"))?;
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(format!("the CallSettings header is not valid JSON: {e}"))
    })?;
    let obj = v.as_object().ok_or_else(|| {
        ApiError::bad_request(
            "the CallSettings header must be a JSON object, e.g. {\"Company\":\"EPIC06\"}",
        )
    })?;
    let field = |k: &str| -> Result<Option<String>, ApiError> {
        match obj.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::bad_request(format!(
                "CallSettings.{k} must be a string, not {other}"
            ))),
        }
    };
    Ok(CallSettings {
        company: field("Company")?,
        plant: field("Plant")?,
        language: field("Language")?,
        format_culture: field("FormatCulture")?,
    })
}

/// What a call under `api/v1/` or `api/v2/odata/{Company}/` reaches, for API key scopes.
pub fn api_target(tail: &[&str]) -> Target {
    // Names in any case reach the same thing, so the scope sees the canonical names.
    let baq_svc = |s: &str| s.eq_ignore_ascii_case("BaqSvc");
    match tail {
        [] => Target::Listing,
        [svc] if baq_svc(svc) => Target::Listing,
        [svc, id, ..] if baq_svc(svc) => {
            // `zCustomerList(EPIC06)`: the v1 form with the company after the id.
            let id = id.split('(').next().unwrap_or(id);
            let id = super::baq::baq(id).map_or(id, |b| b.id);
            Target::Baq(id.to_string())
        }
        [svc] | [svc, "$metadata"] => {
            let _ = svc;
            Target::Listing
        }
        [svc, first, ..] => {
            let name = first.split('(').next().unwrap_or(first);
            let service = model::service(svc);
            let svc_name = service.map_or(svc.to_string(), |s| s.name.to_string());
            let method = service.and_then(|s| {
                if name.eq_ignore_ascii_case("List") {
                    Some("GetList".to_string())
                } else {
                    s.method(name)
                }
            });
            if let Some(method) = method {
                Target::Method {
                    service: svc_name,
                    method,
                }
            } else if svc.eq_ignore_ascii_case("Ice.Lib.SessionModSvc") {
                Target::Method {
                    service: "Ice.Lib.SessionModSvc".into(),
                    method: name.to_string(),
                }
            } else {
                Target::Service(svc_name)
            }
        }
    }
}

/// What a call under `api/v2/efx/` reaches.
pub fn efx_target(tail: &[&str]) -> Target {
    let tail = match tail {
        ["staging", rest @ ..] => rest,
        rest => rest,
    };
    match tail {
        [_company, library, function, ..] => Target::Function {
            library: library.to_string(),
            function: function.to_string(),
        },
        _ => Target::Listing,
    }
}

/// Admits a call. `v2` calls need an API key (unless the server turns that off); `licensed` calls take
/// a seat or use their session (Login and Logout manage seats themselves).
pub async fn admit(
    ctx: &mut Ctx,
    query: &str,
    target: &Target,
    v2: bool,
    licensed: bool,
) -> Result<Admitted, ApiError> {
    let state = ctx.state.clone();
    let auth = &state.auth;
    let grant = if v2 && state.config.require_api_key {
        let presented = ApiKeys::presented(&ctx.headers, query);
        Some(
            auth.api_keys
                .check(presented.as_deref(), auth.clock.now_secs())?,
        )
    } else {
        None
    };
    let principal = auth.authenticate(&ctx.headers, ctx.addr).await?;
    if let Some(g) = &grant {
        g.authorize(target)?;
    }
    let context_header = match ctx.headers.get("ContextHeader") {
        None => None,
        Some(v) => {
            let text = v
                .to_str()
                .map_err(|_| ApiError::bad_request("the ContextHeader header is not text"))?;
            let parsed: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                ApiError::bad_request(format!("the ContextHeader header is not valid JSON: {e}"))
            })?;
            if !parsed.get("Context").is_some_and(|c| c.is_object()) {
                return Err(ApiError::bad_request(
                    "the ContextHeader header must look like {\"Context\":{\"BPMData\":[{...}]}}",
                ));
            }
            Some(v.clone())
        }
    };
    ctx.call_settings = parse_call_settings(ctx)?;
    let license = license::parse_header(&ctx.headers)?;
    let admission = if licensed {
        let a = state.licensing.admit(&principal.user, &license)?;
        if let Some(d) = a.delay(state.licensing.config()) {
            // WebServiceShared: Epicor slows every call down.
            tokio::time::sleep(d).await;
        }
        Some(a)
    } else {
        None
    };
    ctx.principal = Some(principal.clone());
    ctx.session = admission.as_ref().and_then(|a| a.session.clone());
    Ok(Admitted {
        principal,
        license,
        admission,
        context_header,
    })
}

impl Admitted {
    /// Adds the call's echo headers to the answer; the seat is released when `self` drops.
    pub fn finish(self, mut response: Response) -> Response {
        if let Some(ch) = self.context_header {
            response.headers_mut().insert("ContextHeader", ch);
        }
        if let Some(a) = &self.admission {
            if let Ok(v) = HeaderValue::from_str(&format!("{:?}", a.license)) {
                response.headers_mut().insert("x-kinetic-license", v);
            }
        }
        response
    }
}
