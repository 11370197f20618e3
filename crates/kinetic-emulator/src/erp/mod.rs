//! The Epicor REST API: addresses as in EPICOR.md, dispatched from the raw request path (so that
//! percent-encoded key values such as `'A%2FB'` are split correctly before they are decoded).

pub mod baq;
pub mod efx;
pub mod entity;
pub mod guard;
pub mod methods;
pub mod openapi;
pub mod options;
pub mod paging;
pub mod query;
pub mod rows;
pub mod rules;
mod seek;
pub mod whereclause;

use crate::api_error::{self, ApiError};
use crate::model::{self, SERVICES};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rows::ApiVersion;

/// What every handler needs to know about the call.
pub struct Ctx {
    pub state: AppState,
    pub version: ApiVersion,
    /// The company the call works in (v2 path, CallSettings, `?Company=`, or the default).
    pub company: String,
    /// `http://host:port/{instance}/`
    pub base: String,
    /// The request URL without its query, for `nextLink`.
    pub request_url: String,
    pub headers: HeaderMap,
    /// The authenticated caller (set by admission).
    pub principal: Option<crate::auth::Principal>,
    /// The caller's session, when the call names one.
    pub session: Option<crate::auth::license::Session>,
    pub call_settings: guard::CallSettings,
    /// Where the call came from (for slowing down password guessing).
    pub addr: crate::throttle::ClientAddr,
}

impl Ctx {
    /// The root of a service's addresses, ending in `/`.
    pub fn service_root(&self, service: &str) -> String {
        match self.version {
            ApiVersion::V1 => format!("{}api/v1/{service}/", self.base),
            ApiVersion::V2 => format!("{}api/v2/odata/{}/{service}/", self.base, self.company),
        }
    }

    /// How rows of `kind` are written in this call (version, realism switches).
    pub fn wire(&self, rows: rows::RowKind) -> rows::Wire {
        let config = &self.state.config;
        rows::Wire {
            version: self.version,
            rows,
            tidy: config.tidy,
            // Checked by EmulatorConfig::validate at start.
            date_offset: crate::config::DateOffset::parse(&config.v2_date_offset)
                .unwrap_or(crate::config::DateOffset::None),
        }
    }
}

/// Does the client accept JSON? (No Accept header, `*/*` and `application/json` do.)
pub(crate) fn accepts_json(headers: &HeaderMap) -> bool {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(a) => {
            let a = a.to_ascii_lowercase();
            a.contains("json")
                || a.contains("*/*")
                || a.contains("application/*")
                || a.trim().is_empty()
        }
    }
}

fn decode(seg: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "the path segment `{seg}` is not valid UTF-8 once decoded"
            ))
        })
}

/// The one handler behind every REST route.
pub async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let xml = !accepts_json(&headers);
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let limit = state.config.security.max_body_bytes;
            let err = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    api_error::kind::API,
                    format!("The request body is larger than this server takes ({limit} bytes; [security] max_body_bytes)"),
                )
            } else {
                ApiError::bad_request(format!("The request body could not be read: {e}"))
            };
            return err.with_xml(xml).into_response();
        }
    };
    let addr = crate::throttle::ClientAddr::from_extensions(&ext);
    match route(state, method, &uri, headers, addr, &body).await {
        Ok(r) => r,
        Err(e) => e.with_xml(xml).into_response(),
    }
}

/// The route families of the REST API and whether each needs credentials: one list, read by the
/// router's tests so that no family is left out of the "401 without credentials" check.
pub const ROUTE_FAMILIES: &[(&str, &str, bool)] = &[
    ("POST", "TokenResource.svc", true),
    ("GET", "admin/sessions", true),
    ("DELETE", "admin/sessions/x", true),
    ("GET", "api/v1/", true),
    ("GET", "api/v1/Erp.BO.CustomerSvc/Customers", true),
    ("POST", "api/v1/Erp.BO.CustomerSvc/GetByID", true),
    ("GET", "api/v1/BaqSvc/zCustomerList/", true),
    ("POST", "api/v1/Ice.Lib.SessionModSvc/Login", true),
    ("GET", "api/v2/odata/EPIC06/", true),
    (
        "GET",
        "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/$metadata",
        true,
    ),
    (
        "GET",
        "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers",
        true,
    ),
    ("GET", "api/v2/odata/EPIC06/BaqSvc/zCustomerList/Data", true),
    (
        "POST",
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        true,
    ),
    ("GET", "api/swagger/v1/methods/Erp.BO.CustomerSvc", true),
    ("GET", "api/swagger/v2/odata/Erp.BO.CustomerSvc", true),
    ("GET", "api/help/v2/index.html", true),
    ("GET", "api/v1/Erp.BO.CustomerSvc/List", true),
    ("GET", "api/v1/BaqSvc/zCustomerList(EPIC06)", true),
    (
        "GET",
        "api/v2/odata/EPIC06/BaqSvc/zCustomerList/GetNew",
        true,
    ),
];

/// The part of the path after the instance, split and decoded; trailing empty segments dropped.
fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    let mut segs: Vec<String> = path
        .split('/')
        .skip(1)
        .map(decode)
        .collect::<Result<_, _>>()?;
    while segs.last().is_some_and(|s| s.is_empty()) {
        segs.pop();
    }
    Ok(segs)
}

async fn route(
    state: AppState,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    addr: crate::throttle::ClientAddr,
    body: &[u8],
) -> Result<Response, ApiError> {
    let segs = segments(uri.path())?;
    let instance = &state.config.instance;
    let Some((first, rest)) = segs.split_first() else {
        return Err(ApiError::route_not_found(format!(
            "nothing is served at /; the REST API is under /{instance}/api/v1/ and /{instance}/api/v2/odata/{{Company}}/"
        )));
    };
    if !first.eq_ignore_ascii_case(instance) {
        return Err(ApiError::route_not_found(format!(
            "unknown ERP instance `{first}`; this server's instance is `{instance}` (URL=http://host:port, ERPInstance={instance})"
        )));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let scheme = if state.tls { "https" } else { "http" };
    let base = format!("{scheme}://{host}/{first}/");
    let request_url = format!("{scheme}://{host}{}", uri.path());
    // IIS decodes `+` in a query string as a space (application/x-www-form-urlencoded), in OData
    // options, whereClause and BAQ parameters alike; a literal plus is sent as %2B.
    let query = uri.query().unwrap_or("").replace('+', "%20");
    let query = query.as_str();
    let rest: Vec<String> = rest.to_vec();
    let mut ctx = Ctx {
        company: state.config.default_company().to_string(),
        state,
        version: ApiVersion::V1,
        base,
        request_url,
        headers,
        principal: None,
        session: None,
        call_settings: guard::CallSettings::default(),
        addr,
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["TokenResource.svc"] => token_resource(&ctx, method).await,
        ["admin", tail @ ..] => admin(&mut ctx, method, tail).await,
        ["api", "v1", tail @ ..] => {
            let target = guard::api_target(tail);
            let admitted =
                guard::admit(&mut ctx, query, &target, false, !is_session_call(tail)).await?;
            ctx.company = v1_company(&ctx, query)?;
            user_may_use(&ctx, &ctx.company)?;
            let response = api(&ctx, method, tail, query, body, &admitted).await?;
            Ok(admitted.finish(response))
        }
        ["api", "v2", "odata"] => Err(ApiError::route_not_found(
            "v2 addresses name the company: api/v2/odata/{Company}/{Service}/...",
        )),
        ["api", "v2", "odata", company, tail @ ..] => {
            ctx.version = ApiVersion::V2;
            let target = guard::api_target(tail);
            let admitted =
                guard::admit(&mut ctx, query, &target, true, !is_session_call(tail)).await?;
            ctx.company = valid_company(&ctx, company)?;
            user_may_use(&ctx, &ctx.company)?;
            let response = api(&ctx, method, tail, query, body, &admitted).await?;
            Ok(admitted.finish(response))
        }
        ["api", "v2", "efx", tail @ ..] => {
            ctx.version = ApiVersion::V2;
            let admitted =
                guard::admit(&mut ctx, query, &guard::efx_target(tail), true, true).await?;
            let response = efx::route(&mut ctx, method, tail, body).await?;
            Ok(admitted.finish(response))
        }
        ["api", "help", tail @ ..] => {
            // The help UI sits behind the same sign-in as the API it describes.
            ctx.state.auth.authenticate(&ctx.headers, ctx.addr).await?;
            help_page(&ctx, tail)
        }
        ["api", "swagger", tail @ ..] => {
            // Epicor's help pages sit behind the same sign-in as the API they describe.
            ctx.state.auth.authenticate(&ctx.headers, ctx.addr).await?;
            openapi::route(&ctx, tail)
        }
        _ => Err(ApiError::route_not_found(format!(
            "no REST resource at {}; try {}api/v1/ (services) or {}api/v2/odata/{}/",
            uri.path(),
            ctx.base,
            ctx.base,
            ctx.company
        ))),
    }
}

/// Login and Logout manage their own seat.
fn is_session_call(tail: &[&str]) -> bool {
    matches!(tail, [svc, m] if svc.eq_ignore_ascii_case("Ice.Lib.SessionModSvc")
        && (m.eq_ignore_ascii_case("Login") || m.eq_ignore_ascii_case("Logout")))
}

/// `POST {base}TokenResource.svc/`: credentials as `username`/`password` headers or Basic auth; the
/// token as JSON when JSON is asked for, XML otherwise.
async fn token_resource(ctx: &Ctx, method: Method) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(
            "TokenResource.svc issues tokens on POST (credentials as username/password headers or Basic auth)",
            "POST",
        ));
    }
    let auth = &ctx.state.auth;
    let header = |k: &str| {
        ctx.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let principal = match (header("username"), header("password")) {
        (Some(u), Some(p)) => auth.check_password(&u, &p, ctx.addr).await?,
        _ => match header("authorization") {
            Some(a) if a.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("basic ")) => {
                let (u, p) = crate::auth::decode_basic(a[6..].trim())?;
                auth.check_password(&u, &p, ctx.addr).await?
            }
            _ => return Err(crate::auth::unauthorized(
                "TokenResource.svc needs credentials: username and password headers, or Basic auth",
            )),
        },
    };
    let (token, expires_in) = auth.issue_token(&principal);
    let wants_json = ctx
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.to_ascii_lowercase().contains("json"));
    Ok(if wants_json {
        axum::Json(serde_json::json!({"AccessToken": token, "ExpiresIn": expires_in, "TokenType": "Bearer"})).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Token><AccessToken>{token}</AccessToken><ExpiresIn>{expires_in}</ExpiresIn><TokenType>Bearer</TokenType></Token>"
            ),
        )
            .into_response()
    })
}

/// The emulator's own admin routes (not Epicor's): `GET admin/sessions` lists seats in use and sessions;
/// `DELETE admin/sessions/{id}` deletes a session as an administrator would. Administrators only.
async fn admin(ctx: &mut Ctx, method: Method, tail: &[&str]) -> Result<Response, ApiError> {
    let principal = ctx.state.auth.authenticate(&ctx.headers, ctx.addr).await?;
    crate::auth::require_admin(&principal)?;
    let licensing = &ctx.state.licensing;
    match (method, tail) {
        (Method::GET, ["sessions"]) => Ok(axum::Json(licensing.report()).into_response()),
        (Method::DELETE, ["sessions", id]) => {
            licensing.logout(id, None)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::route_not_found(
            "admin routes: GET admin/sessions, DELETE admin/sessions/{id}",
        )),
    }
}

/// Refuses an entity path whose keys name a company the user may not use: the key of the row
/// addressed (`Customers('EPIC03',12)` for a user of EPIC06 only) and the child key of a
/// navigation (`Customers('EPIC06',1)/ShipTos('EPIC03',12,'')`).
fn path_companies_allowed(ctx: &Ctx, path: &entity::EntityPath) -> Result<(), ApiError> {
    if let Some(key) = &path.key {
        key_company_allowed(ctx, path.set.table, key)?;
    }
    if let Some((_, target, Some(child_key))) = &path.nav {
        key_company_allowed(ctx, target.table, child_key)?;
    }
    Ok(())
}

/// Refuses key values of `table` whose `Company` the user may not use.
fn key_company_allowed(
    ctx: &Ctx,
    table: &model::Table,
    key: &[rusqlite::types::Value],
) -> Result<(), ApiError> {
    let Some(pos) = table.key.iter().position(|k| *k == "Company") else {
        return Ok(());
    };
    match key.get(pos) {
        Some(rusqlite::types::Value::Text(company)) => user_may_use(ctx, company),
        _ => Ok(()),
    }
}

/// Refuses a JSON row (an entity body, a tableset row, a BAQ row) whose `member` names a company
/// the user may not use. A row without it takes the call's company, checked with the address.
/// A value that is not text is checked as its JSON text, so a limited user cannot slip `null`
/// or a number past the check (the writer refuses those anyway).
pub(crate) fn row_company_allowed(
    ctx: &Ctx,
    row: &serde_json::Map<String, serde_json::Value>,
    member: &str,
) -> Result<(), ApiError> {
    match row.get(member) {
        None => Ok(()),
        Some(serde_json::Value::String(company)) => user_may_use(ctx, company),
        Some(other) => user_may_use(ctx, &other.to_string()),
    }
}

/// Refuses a tableset (`{"Customer": [{...}], "ShipTo": [...]}`) any of whose rows names a company
/// the user may not use, before any of it is read or written (a mixed tableset is refused whole).
pub(crate) fn tableset_companies_allowed(
    ctx: &Ctx,
    ds: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    for rows in ds.values() {
        for row in rows.as_array().into_iter().flatten() {
            if let Some(row) = row.as_object() {
                row_company_allowed(ctx, row, "Company")?;
            }
        }
    }
    Ok(())
}

/// May the signed-in user use `company`? The one check of Epicor's user-company list: a user with
/// a list may use only those companies, compared without regard to ASCII case (never looser than
/// the database, which also ignores trailing spaces under `ci`: those are refused here); any other
/// is refused as Epicor refuses it, 403 `UnauthorizedAccessException`. Users with no list may use every company. Every place a
/// request names a company calls it: the v1 company (CallSettings, `?Company=`, session,
/// default), the v2 and Function addresses, entity keys, JSON rows and tablesets, BAQ addresses
/// and rows.
pub(crate) fn user_may_use(ctx: &Ctx, company: &str) -> Result<(), ApiError> {
    match &ctx.principal {
        Some(p)
            if !p.companies.is_empty()
                && !p.companies.iter().any(|c| c.eq_ignore_ascii_case(company)) =>
        {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                api_error::kind::UNAUTHORIZED,
                format!(
                    "User {} does not have access to company '{company}'.",
                    p.user
                ),
            ))
        }
        _ => Ok(()),
    }
}

pub(crate) fn valid_company(ctx: &Ctx, company: &str) -> Result<String, ApiError> {
    if ctx.state.config.has_company(company) {
        Ok(company.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "Company '{company}' is not valid on this server; set Company to one of: {}",
            ctx.state.config.company_ids().join(", ")
        )))
    }
}

/// v1 takes the company from `CallSettings`, then `?Company=`, then the session's, then the user's
/// default, then the server's.
fn v1_company(ctx: &Ctx, query: &str) -> Result<String, ApiError> {
    if let Some(c) = &ctx.call_settings.company {
        return valid_company(ctx, c);
    }
    for pair in query.split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            if k.eq_ignore_ascii_case("Company") {
                return valid_company(ctx, &decode(v)?);
            }
        }
    }
    if let Some(s) = &ctx.session {
        return Ok(s.company.clone());
    }
    if let Some(c) = ctx
        .principal
        .as_ref()
        .and_then(|p| p.default_company.clone())
    {
        return Ok(c);
    }
    Ok(ctx.state.config.default_company().to_string())
}

/// Routes under `api/v1/` or `api/v2/odata/{Company}/`.
async fn api(
    ctx: &Ctx,
    method: Method,
    tail: &[&str],
    query: &str,
    body: &[u8],
    admitted: &guard::Admitted,
) -> Result<Response, ApiError> {
    match tail {
        [] => {
            only_get(&method)?;
            Ok(service_list(ctx))
        }
        // Names are matched without regard to case, as IIS does.
        [svc, rest @ ..] if svc.eq_ignore_ascii_case("BaqSvc") => {
            baq::route(ctx, method, rest, query, body).await
        }
        [svc, name] if svc.eq_ignore_ascii_case("Ice.Lib.SessionModSvc") => {
            session_method(ctx, method, name, admitted)
        }
        [service, rest @ ..] => {
            let svc = model::service(service).ok_or_else(|| {
                ApiError::route_not_found(format!(
                    "Service {service} not found. Services on this server: {}, BaqSvc",
                    SERVICES
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            service_route(ctx, svc, method, &rest, query, body).await
        }
    }
}

/// `Ice.Lib.SessionModSvc`: Login claims a seat for a new session (returned in `returnObj`); Logout
/// ends the session named by the `License` header's `SessionID`.
fn session_method(
    ctx: &Ctx,
    method: Method,
    name: &str,
    admitted: &guard::Admitted,
) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(
            format!("Ice.Lib.SessionModSvc/{name} is called with POST"),
            "POST",
        ));
    }
    let licensing = &ctx.state.licensing;
    let body = match name.to_ascii_lowercase().as_str() {
        "login" => {
            let s = licensing.login(
                &admitted.principal.user,
                &ctx.company,
                admitted.license.claimed,
            )?;
            serde_json::json!({"returnObj": s.id, "parameters": {"licenseType": format!("{:?}", s.license)}})
        }
        "logout" => {
            let id = admitted.license.session_id.as_deref().ok_or_else(|| {
                ApiError::bad_request(
                    "Logout ends the session named by the License header: {\"SessionID\":\"<id>\"}",
                )
            })?;
            licensing.logout(id, Some(&admitted.principal.user))?;
            serde_json::json!({})
        }
        other => {
            return Err(ApiError::route_not_found(format!(
                "Ice.Lib.SessionModSvc has no method {other}; it has Login and Logout"
            )))
        }
    };
    Ok(entity::json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).expect("json"),
        ctx.version,
    ))
}

fn only_get(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(
            format!("{method} is not allowed here; use GET"),
            "GET, HEAD",
        ))
    }
}

async fn service_route(
    ctx: &Ctx,
    svc: &'static model::Service,
    method: Method,
    rest: &[String],
    query: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    match rest.first().map(String::as_str) {
        None => {
            only_get(&method)?;
            return Ok(service_document(ctx, svc));
        }
        Some("$metadata") => {
            only_get(&method)?;
            let version = match ctx.version {
                ApiVersion::V1 => epicor_kinetic_odata::csdl::ODataVersion::V3,
                ApiVersion::V2 => epicor_kinetic_odata::csdl::ODataVersion::V4,
            };
            let xml = model::service_metadata(svc).to_xml(version);
            return Ok((
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                xml,
            )
                .into_response());
        }
        _ => {}
    }
    if let Some(path) = entity::parse_entity_path(svc, rest)? {
        path_companies_allowed(ctx, &path)?;
        return match method {
            Method::GET | Method::HEAD => entity::get(ctx, svc, path, query).await,
            Method::POST => entity::create(ctx, svc, path, body).await,
            Method::PATCH | Method::PUT => entity::update(ctx, path, body).await,
            Method::DELETE => entity::delete(ctx, svc, path).await,
            other => Err(ApiError::method_not_allowed(
                format!("{other} is not allowed on an entity set"),
                path.allowed_methods(),
            )),
        };
    }
    let name = &rest[0];
    if rest.len() == 1 {
        // `GET {Service}/List` runs GetList with its parameters from the query string.
        if name.eq_ignore_ascii_case("List") {
            only_get(&method)?;
            return methods::call(ctx, svc, "GetList", method, query, body).await;
        }
        if let Some(canonical) = svc.method(name) {
            return methods::call(ctx, svc, &canonical, method, query, body).await;
        }
    }
    Err(ApiError::route_not_found(format!(
        "{} has no entity set or method named '{name}'. Entity sets: {}. Methods: {}",
        svc.name,
        svc.entity_sets
            .iter()
            .map(|e| e.name)
            .collect::<Vec<_>>()
            .join(", "),
        svc.methods().join(", ")
    )))
}

/// An OData collection answer (context URL and `value`) in the call's version.
fn collection(ctx: &Ctx, context: &str, value: Vec<serde_json::Value>) -> Response {
    let mut out = Vec::new();
    entity::start_collection(&mut out, ctx.version, context, None);
    out.extend_from_slice(&serde_json::to_vec(&value).expect("json"));
    out.push(b'}');
    entity::json_response(StatusCode::OK, out, ctx.version)
}

fn service_list(ctx: &Ctx) -> Response {
    let root = match ctx.version {
        ApiVersion::V1 => format!("{}api/v1/", ctx.base),
        ApiVersion::V2 => format!("{}api/v2/odata/{}/", ctx.base, ctx.company),
    };
    let mut value: Vec<serde_json::Value> = SERVICES
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "kind": "Service", "url": format!("{root}{}/", s.name)}))
        .collect();
    for extra in ["BaqSvc", "Ice.Lib.SessionModSvc"] {
        value.push(
            serde_json::json!({"name": extra, "kind": "Service", "url": format!("{root}{extra}/")}),
        );
    }
    collection(ctx, &format!("{root}$metadata"), value)
}

/// `{instance}/api/help/v2/index.html`: a small page listing the services, their methods and the
/// BAQs, linking each to its OpenAPI document (the real help UI is a Swagger page over those).
fn help_page(ctx: &Ctx, tail: &[&str]) -> Result<Response, ApiError> {
    let page = tail.join("/");
    if !matches!(
        page.to_ascii_lowercase().as_str(),
        "v2" | "v2/index.html" | "v1" | "v1/index.html"
    ) {
        return Err(ApiError::route_not_found(format!(
            "no help page at api/help/{page}; the help is at {}api/help/v2/index.html",
            ctx.base
        )));
    }
    let esc = crate::markup::xml_escape;
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Epicor Kinetic REST API help</title></head><body><h1>REST API help</h1><h2>Services</h2><ul>",
    );
    for s in SERVICES {
        html.push_str(&format!(
            "<li><b>{name}</b>: <a href=\"{base}api/swagger/v2/odata/{name}.json\">OData</a>, <a href=\"{base}api/swagger/v2/methods/{name}.json\">methods</a> ({methods})</li>",
            name = esc(s.name),
            base = esc(&ctx.base),
            methods = esc(&s.methods().join(", "))
        ));
    }
    html.push_str("</ul><h2>BAQs (BaqSvc)</h2><ul>");
    for b in baq::BAQS {
        html.push_str(&format!(
            "<li><b>{}</b>: {}</li>",
            esc(b.id),
            esc(b.description)
        ));
    }
    html.push_str("</ul></body></html>");
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

fn service_document(ctx: &Ctx, svc: &model::Service) -> Response {
    let root = ctx.service_root(svc.name);
    let value: Vec<serde_json::Value> = svc
        .entity_sets
        .iter()
        .map(|e| serde_json::json!({"name": e.name, "kind": "EntitySet", "url": e.name}))
        .collect();
    collection(ctx, &format!("{root}$metadata"), value)
}
