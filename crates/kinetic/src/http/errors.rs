//! Error answers, parsed into [`ServerError`] and then into the crate's [`Error`].
//!
//! Servers in front of and behind Epicor answer errors in several shapes; all are read:
//!
//! - Epicor's JSON: `{"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "ErrorDetails":
//!   [{"Message","Type","Table"}], "CorrelationId"}`;
//! - the same fields as XML (`<ErrorResponse><ErrorMessage>...`), when JSON was not accepted;
//! - OData: `{"error": {"code", "message"}}` (v4, `message` a string) or
//!   `{"odata.error": {"code", "message": {"lang", "value"}}}` (v3), and its XML form;
//! - Microsoft Entra ID: `{"error", "error_description", "error_codes", "correlation_id"}`;
//! - anything else (a gateway's HTML page, plain text): the status's reason and a short excerpt.
//!
//! The raw body is kept, truncated, in [`ServerError::body`] for diagnostics.

use std::time::Duration;

use ::http::header::HeaderMap;
use ::http::StatusCode;
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;

use crate::error::{Error, ErrorDetail, OAuthError, OAuthErrorCode};

/// How much of an error body is kept for diagnostics.
pub const MAX_KEPT_BODY: usize = 2048;

/// How much of an unparsed (text or HTML) body goes into an error message.
const MAX_MESSAGE_EXCERPT: usize = 300;

/// Response headers that carry a server-side request or correlation id, in order of preference.
const CORRELATION_HEADERS: [&str; 5] = [
    "x-correlation-id",
    "x-ms-correlation-id",
    "x-request-id",
    "request-id",
    "x-ms-request-id",
];

/// What an error answer said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerError {
    /// The HTTP status.
    pub status: u16,
    /// The message for people: Epicor's `ErrorMessage`, OData's `message`, Entra's
    /// `error_description` (its first line), or the status's reason.
    pub message: String,
    /// Epicor's `ReasonPhrase`.
    pub reason: Option<String>,
    /// What kind of error: Epicor's `ErrorType`, OData's `code`, or Entra's `error`.
    pub error_type: Option<String>,
    /// Epicor's `ErrorDetails` (message, table, field, ...), or OData's `details` messages.
    pub details: Vec<ErrorDetail>,
    /// Entra's `error_codes` (`AADSTS` numbers).
    pub error_codes: Vec<i64>,
    /// The server's correlation id (body first, then headers).
    pub correlation_id: Option<String>,
    /// The OAuth error, when the body is an OAuth error answer (`{"error": "invalid_grant", ...}`).
    pub oauth: Option<OAuthError>,
    /// The body as received, cut at [`MAX_KEPT_BODY`] bytes.
    pub body: String,
}

/// Reads an error body of any known shape. Never fails: an unknown shape gives the status's
/// reason and an excerpt of the text.
///
/// ```
/// use epicor_kinetic::http::parse_error_body;
///
/// let e = parse_error_body(404, br#"{"HttpStatus":404,"ReasonPhrase":"BusinessObject Exception",
///     "ErrorMessage":"Customer not found","ErrorType":"Ice.Common.RecordNotFoundException",
///     "ErrorDetails":[],"CorrelationId":"c0ffee"}"#);
/// assert_eq!(e.message, "Customer not found");
/// assert_eq!(e.correlation_id.as_deref(), Some("c0ffee"));
/// ```
pub fn parse_error_body(status: u16, body: &[u8]) -> ServerError {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    let mut parsed = if trimmed.starts_with('{') {
        serde_json::from_str::<Value>(trimmed)
            .ok()
            .map(|v| from_json(&v))
            .unwrap_or_default()
    } else if trimmed.starts_with('<') && !looks_like_html(trimmed) {
        from_xml(trimmed)
    } else {
        ServerError::default()
    };
    parsed.status = status;
    if parsed.message.trim().is_empty() {
        parsed.message = parsed
            .reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| fallback_message(status, trimmed));
    }
    parsed.body = truncate(&text, MAX_KEPT_BODY).to_owned();
    parsed
}

/// The status's reason, plus an excerpt of a text or HTML body.
fn fallback_message(status: u16, body: &str) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    let excerpt = if looks_like_html(body) {
        html_title(body).unwrap_or_default()
    } else if body.starts_with('{') || body.starts_with('<') {
        // Structured but not understood: the body stays in `ServerError::body`.
        String::new()
    } else {
        collapse_whitespace(body)
    };
    let excerpt = truncate(&excerpt, MAX_MESSAGE_EXCERPT);
    if excerpt.is_empty() || excerpt.eq_ignore_ascii_case(reason) {
        reason.to_owned()
    } else {
        format!("{reason}: {excerpt}")
    }
}

/// A field by name in any letter case (Epicor writes PascalCase, some proxies camelCase).
fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    let map = object.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A field as text: strings as they are, numbers and booleans printed, others `None`.
fn text_field(object: &Value, name: &str) -> Option<String> {
    match field(object, name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An OData `message`: a string (v4) or `{"lang","value"}` (v3).
fn odata_message(error: &Value) -> Option<String> {
    match field(error, "message")? {
        Value::String(s) => Some(s.clone()),
        v @ Value::Object(_) => text_field(v, "value"),
        _ => None,
    }
}

fn from_json(v: &Value) -> ServerError {
    let mut e = ServerError::default();
    // OData v4 `error` object, or v3 `odata.error`.
    let odata = field(v, "odata.error").or_else(|| field(v, "error").filter(|e| e.is_object()));
    if let Some(error) = odata {
        e.message = odata_message(error).unwrap_or_default();
        e.error_type = text_field(error, "code").filter(|c| !c.is_empty());
        if let Some(Value::Array(details)) = field(error, "details") {
            e.details = details
                .iter()
                .filter_map(odata_message)
                .map(ErrorDetail::new)
                .collect();
        }
        if let Some(inner) = field(error, "innererror") {
            e.correlation_id = text_field(inner, "correlation_id")
                .or_else(|| text_field(inner, "request-id"))
                .or_else(|| text_field(inner, "client-request-id"));
        }
        return e;
    }
    if let Some(code) = text_field(v, "error").filter(|_| field(v, "ErrorMessage").is_none()) {
        // Entra ID (and OAuth servers in general). Entra's description ends with trace and
        // correlation ids on their own lines; the first line is the message.
        let description = text_field(v, "error_description").unwrap_or_default();
        e.message = description
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if e.message.is_empty() {
            e.message = code.clone();
        }
        if let Some(Value::Array(codes)) = field(v, "error_codes") {
            e.error_codes = codes.iter().filter_map(Value::as_i64).collect();
        }
        e.correlation_id = text_field(v, "correlation_id");
        e.oauth = Some(OAuthError {
            code: OAuthErrorCode::parse(&code),
            description: e.message.clone(),
            aadsts: e.error_codes.clone(),
            suberror: text_field(v, "suberror").filter(|s| !s.is_empty()),
            claims: text_field(v, "claims").filter(|s| !s.is_empty()),
            correlation_id: e.correlation_id.clone(),
        });
        e.error_type = Some(code);
        return e;
    }
    // Epicor (and ASP.NET's `{"Message": ...}`).
    e.message = text_field(v, "ErrorMessage")
        .or_else(|| text_field(v, "Message"))
        .unwrap_or_default();
    e.reason = text_field(v, "ReasonPhrase");
    e.error_type = text_field(v, "ErrorType").filter(|t| !t.is_empty());
    e.correlation_id = text_field(v, "CorrelationId");
    if let Some(Value::Array(details)) = field(v, "ErrorDetails") {
        e.details = details.iter().filter_map(epicor_detail).collect();
    }
    e
}

fn epicor_detail(d: &Value) -> Option<ErrorDetail> {
    let message = text_field(d, "Message").filter(|m| !m.is_empty())?;
    let opt = |name: &str| text_field(d, name).filter(|t| !t.trim().is_empty());
    Some(ErrorDetail {
        message,
        kind: opt("Type"),
        table: opt("Table"),
        field: opt("Field"),
        program: opt("Program"),
        method: opt("Method"),
    })
}

/// Reads the Epicor XML shape and OData's XML error; element names are matched without their
/// namespace prefix. A malformed document gives what was read before the fault.
fn from_xml(text: &str) -> ServerError {
    let mut e = ServerError::default();
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut current = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                path.push(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
                current.clear();
            }
            Ok(Event::Text(t)) => {
                if let Ok(s) = t.decode() {
                    current.push_str(&s);
                }
            }
            Ok(Event::CData(t)) => {
                if let Ok(s) = t.decode() {
                    current.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    current.push(c);
                } else if let Ok(name) = r.decode() {
                    if let Some(c) = predefined_entity(&name) {
                        current.push(c);
                    }
                }
            }
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or_default();
                let value = std::mem::take(&mut current).trim().to_owned();
                xml_field(&mut e, parent, &name, value);
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    e
}

fn xml_field(e: &mut ServerError, parent: &str, name: &str, value: String) {
    if value.is_empty() {
        return;
    }
    let in_detail = parent.eq_ignore_ascii_case("ErrorDetail");
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "errormessage" => e.message = value,
        // OData's `<m:error><m:message>`; Epicor's detail `<Message>` is inside `ErrorDetail`
        // and starts a detail, whose other fields follow it.
        "message" if in_detail => e.details.push(ErrorDetail::new(value)),
        "type" | "table" | "field" | "program" | "method" if in_detail => {
            if let Some(d) = e.details.last_mut() {
                let slot = match name.as_str() {
                    "type" => &mut d.kind,
                    "table" => &mut d.table,
                    "field" => &mut d.field,
                    "program" => &mut d.program,
                    _ => &mut d.method,
                };
                *slot = Some(value);
            }
        }
        "message" if e.message.is_empty() => e.message = value,
        "reasonphrase" => e.reason = Some(value),
        "errortype" | "code" => e.error_type = Some(value),
        "correlationid" => e.correlation_id = Some(value),
        _ => {}
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(100)
        .collect::<String>()
        .to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<html")
}

/// The `<title>` of an HTML page, if any.
fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower.get(start..)?.find('>')? + 1;
    let close = open_end + lower.get(open_end..)?.find("</title")?;
    Some(collapse_whitespace(html.get(open_end..close)?))
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// The correlation id a response's headers carry, if any.
pub(crate) fn header_correlation_id(headers: &HeaderMap) -> Option<String> {
    CORRELATION_HEADERS.iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

impl ServerError {
    /// The message with Epicor's details appended when they add something.
    fn full_message(&self) -> String {
        let mut message = self.message.clone();
        for detail in &self.details {
            let text = detail.to_string();
            if message.contains(text.as_str()) {
                continue;
            }
            if !detail.message.is_empty() && message.contains(detail.message.as_str()) {
                // The main message is the detail's: say where it applies, once.
                message = message.replacen(detail.message.as_str(), &text, 1);
            } else {
                message.push_str("; ");
                message.push_str(&text);
            }
        }
        if !self.error_codes.is_empty() && !message.contains("AADSTS") {
            let codes: Vec<String> = self.error_codes.iter().map(|c| c.to_string()).collect();
            message.push_str(&format!(" (AADSTS{})", codes.join(", AADSTS")));
        }
        message
    }

    /// The crate's error for this answer. `retry_after` is the answer's `Retry-After`, if any.
    ///
    /// 429 and a 503 that asks to come back later or has no licence free are
    /// [`Error::Throttled`], other 5xx [`Error::Server`]; an identity provider's OAuth error
    /// answer (any other status) is [`Error::OAuth`]; 400 and 422 are [`Error::Rejected`] (Epicor's
    /// business rules, a query the server cannot take), 409 and 412 [`Error::Conflict`], 401
    /// [`Error::Unauthorized`], 403 [`Error::Forbidden`], 404 [`Error::NotFound`], 410
    /// [`Error::SessionExpired`] (Epicor's "session is invalid or has been deleted"), anything
    /// else [`Error::Protocol`].
    pub fn into_error(self, retry_after: Option<Duration>) -> Error {
        let status = Some(self.status);
        let message = self.full_message();
        let correlation_id = self.correlation_id;
        // An identity provider's error answer has its code in `error_type` too; kept as is.
        if let Some(oauth) = self.oauth {
            if self.status != 429 && self.status < 500 {
                return Error::OAuth {
                    status,
                    error: Box::new(oauth),
                };
            }
        }
        match self.status {
            400 | 422 => Error::Rejected {
                status,
                message,
                correlation_id,
                error_type: self.error_type,
                details: self.details,
            },
            409 | 412 => Error::Conflict {
                status,
                message,
                correlation_id,
                error_type: self.error_type,
                details: self.details,
            },
            401 => Error::Unauthorized {
                status,
                message,
                correlation_id,
                error_type: self.error_type,
            },
            403 => Error::Forbidden {
                status,
                message,
                correlation_id,
                error_type: self.error_type,
            },
            404 => Error::NotFound {
                status,
                message,
                correlation_id,
                error_type: self.error_type,
            },
            410 => Error::SessionExpired {
                status,
                message,
                correlation_id,
                error_type: self.error_type,
            },
            429 => Error::Throttled {
                status,
                message,
                correlation_id,
                retry_after,
                error_type: self.error_type,
            },
            503 if retry_after.is_some() || message.to_ascii_lowercase().contains("licen") => {
                Error::Throttled {
                    status,
                    message,
                    correlation_id,
                    retry_after,
                    error_type: self.error_type,
                }
            }
            500..=599 => Error::Server {
                status,
                message,
                correlation_id,
                error_type: self.error_type,
            },
            _ => Error::Protocol {
                status,
                message,
                correlation_id,
                source: None,
            },
        }
    }
}

/// The crate's error for an error answer: its body parsed, its headers' correlation id used when
/// the body has none, and every value in `secrets` blanked out of the message (a proxy's error page
/// may echo request headers).
pub(crate) fn error_from_answer(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    retry_after: Option<Duration>,
    secrets: &[&str],
) -> Error {
    let mut parsed = parse_error_body(status, body);
    if parsed.correlation_id.is_none() {
        parsed.correlation_id = header_correlation_id(headers);
    }
    parsed.message = scrub(&parsed.message, secrets);
    for d in &mut parsed.details {
        d.message = scrub(&d.message, secrets);
    }
    parsed.into_error(retry_after)
}

/// `text` with every occurrence of each (non-trivial) secret replaced by `[redacted]`.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, crate::secret::REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epicor_json() {
        let e = parse_error_body(
            400,
            br#"{"HttpStatus":400,"ReasonPhrase":"BusinessObject Exception","ErrorMessage":"Customer ID is required.",
                "ErrorType":"Ice.Common.BusinessObjectException",
                "ErrorDetails":[{"Message":"Customer ID is required.","Type":"Error","Table":"Customer","Field":"CustID","Program":"Erp.Services.BO.Customer.dll","Method":"Update"},
                                {"Message":"Name is too long.","Type":"Error","Table":"Customer"}],
                "CorrelationId":"7d3c"}"#,
        );
        assert_eq!(e.message, "Customer ID is required.");
        assert_eq!(e.reason.as_deref(), Some("BusinessObject Exception"));
        assert_eq!(
            e.error_type.as_deref(),
            Some("Ice.Common.BusinessObjectException")
        );
        assert_eq!(e.correlation_id.as_deref(), Some("7d3c"));
        assert_eq!(e.details.len(), 2);
        assert_eq!(e.details[0].field.as_deref(), Some("CustID"));
        assert_eq!(e.details[0].method.as_deref(), Some("Update"));
        assert_eq!(e.details[1].field, None);
        let err = e.into_error(None);
        assert!(matches!(
            err,
            Error::Rejected {
                status: Some(400),
                ..
            }
        ));
        assert_eq!(
            err.details()[0].location().as_deref(),
            Some("Customer.CustID")
        );
        assert_eq!(
            err.to_string(),
            "rejected (HTTP 400): Customer ID is required. (Customer.CustID); Name is too long. (Customer)"
        );
        assert_eq!(err.correlation_id(), Some("7d3c"));
        // Another 400 (an OData syntax error) is a refusal too, with its own type.
        let odata = parse_error_body(
            400,
            br#"{"HttpStatus":400,"ErrorMessage":"$filter: expected ')'","ErrorType":"ODataException","ErrorDetails":[]}"#,
        );
        let err = odata.into_error(None);
        assert!(
            matches!(&err, Error::Rejected { error_type: Some(t), .. } if t == "ODataException")
        );
        assert_eq!(err.kind(), crate::ErrorKind::Rejected);
    }

    #[test]
    fn epicor_xml() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?><ErrorResponse><HttpStatus>404</HttpStatus>
            <ReasonPhrase>BusinessObject Exception</ReasonPhrase><ErrorMessage>Record not found: O&apos;Brien &amp; Co &#169;</ErrorMessage>
            <ErrorType>Ice.Common.RecordNotFoundException</ErrorType><ErrorDetails><ErrorDetail><Message>No Customer 45</Message>
            <Type>Error</Type><Table>Customer</Table></ErrorDetail></ErrorDetails><CorrelationId>abc-123</CorrelationId></ErrorResponse>"#;
        let e = parse_error_body(404, xml);
        assert_eq!(e.message, "Record not found: O'Brien & Co \u{a9}");
        assert_eq!(
            e.error_type.as_deref(),
            Some("Ice.Common.RecordNotFoundException")
        );
        assert_eq!(e.details[0].message, "No Customer 45");
        assert_eq!(e.details[0].table.as_deref(), Some("Customer"));
        assert_eq!(e.details[0].kind.as_deref(), Some("Error"));
        assert_eq!(e.correlation_id.as_deref(), Some("abc-123"));
        let err = e.into_error(None);
        assert!(matches!(
            err,
            Error::NotFound {
                status: Some(404),
                ..
            }
        ));
        assert_eq!(err.correlation_id(), Some("abc-123"));
        // The server's type is kept on every kind, for code that tells "no such row" from "no
        // such route".
        assert_eq!(err.error_type(), Some("Ice.Common.RecordNotFoundException"));
    }

    #[test]
    fn odata_v4_v3_and_xml() {
        let v4 = parse_error_body(
            400,
            br#"{"error":{"code":"","message":"$filter: expected ')' at 17","details":[{"code":"x","message":"near Name"}]}}"#,
        );
        assert_eq!(v4.message, "$filter: expected ')' at 17");
        assert_eq!(v4.error_type, None);
        assert_eq!(v4.details, vec![ErrorDetail::new("near Name")]);
        let v3 = parse_error_body(
            400,
            br#"{"odata.error":{"code":"BadRequest","message":{"lang":"en-US","value":"Bad $top"}}}"#,
        );
        assert_eq!(v3.message, "Bad $top");
        assert_eq!(v3.error_type.as_deref(), Some("BadRequest"));
        let xml = parse_error_body(
            400,
            br#"<m:error xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><m:code>E1</m:code><m:message xml:lang="en-US">Bad filter</m:message></m:error>"#,
        );
        assert_eq!(xml.message, "Bad filter");
        assert_eq!(xml.error_type.as_deref(), Some("E1"));
    }

    #[test]
    fn entra() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t-1\r\nCorrelation ID: c-9\r\nTimestamp: 2025-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2025-01-01 00:00:00Z","trace_id":"t-1","correlation_id":"c-9"}"#;
        let e = parse_error_body(401, body);
        assert_eq!(e.message, "AADSTS7000215: Invalid client secret provided.");
        assert_eq!(e.error_type.as_deref(), Some("invalid_client"));
        assert_eq!(e.error_codes, vec![7000215]);
        assert_eq!(e.correlation_id.as_deref(), Some("c-9"));
        let err = e.into_error(None);
        let oauth = err.oauth().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(oauth.code, OAuthErrorCode::InvalidClient);
        assert_eq!(oauth.aadsts, vec![7000215]);
        assert_eq!(err.status(), Some(401));
        assert_eq!(err.kind(), crate::ErrorKind::Unauthorized);
        assert!(!oauth.needs_sign_in());
        assert_eq!(err.correlation_id(), Some("c-9"));
        // Without a description the code is the message, and codes are listed.
        let e = parse_error_body(400, br#"{"error":"invalid_grant","error_codes":[70008]}"#);
        assert_eq!(
            e.into_error(None).to_string(),
            "the identity provider refused: invalid_grant (AADSTS70008) (HTTP 400)"
        );
        // Conditional access: the claims challenge and the sub-error are kept for the sign-in.
        let e = parse_error_body(
            400,
            br#"{"error":"interaction_required","error_description":"AADSTS50076: MFA needed.\r\nTrace ID: x","error_codes":[50076],"suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"p1\"]}}}"}"#,
        )
        .into_error(None);
        let o = e.oauth().unwrap_or_else(|| panic!("{e:?}"));
        assert_eq!(o.code, OAuthErrorCode::InteractionRequired);
        assert!(o.needs_sign_in());
        assert_eq!(o.suberror.as_deref(), Some("basic_action"));
        assert!(o.claims.as_deref().is_some_and(|c| c.contains("capolids")));
        assert_eq!(o.description, "AADSTS50076: MFA needed.");
        // A provider's 5xx stays a server failure (retried), its 429 a throttle.
        assert!(matches!(
            parse_error_body(503, br#"{"error":"temporarily_unavailable"}"#).into_error(None),
            Error::Server { .. }
        ));
    }

    #[test]
    fn statuses_map_to_meaning() {
        let e = |status, body: &[u8], retry: Option<u64>| {
            parse_error_body(status, body).into_error(retry.map(Duration::from_secs))
        };
        assert!(matches!(e(403, b"", None), Error::Forbidden { .. }));
        assert!(matches!(e(410, b"", None), Error::SessionExpired { .. }));
        assert!(matches!(
            e(429, b"", Some(2)),
            Error::Throttled {
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(2)
        ));
        assert!(matches!(e(503, b"", Some(1)), Error::Throttled { .. }));
        assert!(matches!(
            e(
                503,
                br#"{"ErrorMessage":"All WebService licences are in use"}"#,
                None
            ),
            Error::Throttled { .. }
        ));
        assert!(matches!(e(503, b"", None), Error::Server { .. }));
        assert!(matches!(e(502, b"", None), Error::Server { .. }));
        // A conflict (a duplicate record, a row changed since it was read).
        assert!(matches!(e(409, b"", None), Error::Conflict { .. }));
        assert!(matches!(e(412, b"", None), Error::Conflict { .. }));
        assert!(matches!(e(422, b"", None), Error::Rejected { .. }));
        assert!(matches!(e(400, b"", None), Error::Rejected { .. }));
        // A status with no meaning here is the server breaking the protocol.
        assert!(matches!(e(418, b"", None), Error::Protocol { .. }));
    }

    #[test]
    fn unknown_shapes_give_the_reason_and_an_excerpt() {
        let html = parse_error_body(
            502,
            b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>",
        );
        assert_eq!(html.message, "Bad Gateway: 502 Bad Gateway");
        let text = parse_error_body(500, b"  upstream\n   went away  ");
        assert_eq!(text.message, "Internal Server Error: upstream went away");
        let empty = parse_error_body(504, b"");
        assert_eq!(empty.message, "Gateway Timeout");
        let odd_json = parse_error_body(500, br#"{"nothing":"useful"}"#);
        assert_eq!(odd_json.message, "Internal Server Error");
        assert_eq!(odd_json.body, r#"{"nothing":"useful"}"#);
        let weird = parse_error_body(999, b"\xff\xfe<<<");
        assert!(!weird.message.is_empty());
    }

    #[test]
    fn never_panics_on_garbage() {
        let samples: [&[u8]; 10] = [
            b"{",
            b"<",
            b"<a><b></a>",
            b"<ErrorMessage>&bogus;&#xFFFFFFFF;</ErrorMessage>",
            b"{\"error\":[1,2]}",
            b"{\"error\":{\"message\":{\"value\":7}}}",
            b"{\"ErrorDetails\":\"x\"}",
            b"<html><title>",
            b"\xef\xbb\xbf{\"ErrorMessage\":\"bom\"}",
            b"<title></title><html>",
        ];
        for s in samples {
            let e = parse_error_body(400, s);
            assert!(!e.message.is_empty(), "{s:?}");
        }
        assert_eq!(
            parse_error_body(400, b"\xef\xbb\xbf{\"ErrorMessage\":\"bom\"}").message,
            "bom"
        );
    }

    #[test]
    fn bodies_are_truncated_and_secrets_scrubbed() {
        let long = "é".repeat(MAX_KEPT_BODY);
        let e = parse_error_body(500, long.as_bytes());
        assert!(e.body.len() <= MAX_KEPT_BODY);
        assert!(e.message.len() < 400);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-request-id",
            ::http::header::HeaderValue::from_static("rid-1"),
        );
        let err = error_from_answer(
            400,
            &headers,
            br#"{"ErrorMessage":"bad header Basic c2VjcmV0 and key k-123456"}"#,
            None,
            &["Basic c2VjcmV0", "k-123456", ""],
        );
        let shown = err.to_string();
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("k-123456"),
            "{shown}"
        );
        assert_eq!(err.correlation_id(), Some("rid-1"));
    }
}
