//! Epicor's error shape: `{HttpStatus, ReasonPhrase, ErrorMessage, ErrorType, ErrorDetails, CorrelationId}`,
//! as JSON, or as XML when the client does not accept JSON. A helper below every other layer: any
//! module may answer with it.

use crate::markup::xml_escape;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Epicor's `ErrorType` values.
pub mod kind {
    pub const API: &str = "Epicor.RESTApi.ErrorHandling.ApiException";
    pub const BUSINESS: &str = "Ice.Common.BusinessObjectException";
    pub const ODATA: &str = "ODataException";
    pub const NOT_FOUND: &str = "Ice.Common.RecordNotFoundException";
    pub const DUPLICATE: &str = "Ice.Common.DuplicateRecordException";
    pub const UNAUTHORIZED: &str = "UnauthorizedAccessException";
    pub const SERVER: &str = "System.Exception";
}

/// One entry of `ErrorDetails`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDetail {
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Table")]
    pub table: String,
    /// The column the rule is about ("" when the message is about the row).
    #[serde(rename = "Field")]
    pub field: String,
    /// The program that raised it (`Erp.Services.BO.Customer.dll`).
    #[serde(rename = "Program")]
    pub program: String,
    /// The BO method that raised it (`Update`).
    #[serde(rename = "Method")]
    pub method: String,
}

/// An error answer of the REST API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
    pub details: Vec<ErrorDetail>,
    /// Extra headers, e.g. `WWW-Authenticate`.
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// Render as XML (the client did not accept JSON).
    pub xml: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_type,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
            xml: false,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind::API, message)
    }
    pub fn odata(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind::ODATA, message)
    }
    pub fn business(message: impl Into<String>, table: &str) -> Self {
        let message = message.into();
        let mut e = Self::new(StatusCode::BAD_REQUEST, kind::BUSINESS, message.clone());
        e.details.push(ErrorDetail {
            message,
            kind: "Error".into(),
            table: table.into(),
            field: String::new(),
            program: crate::model::service_of_table(table)
                .map(|s| s.program())
                .unwrap_or_default(),
            method: String::new(),
        });
        e
    }
    /// A business rule of `table` refused the row in `method`, naming the column (`field`), as
    /// Epicor's BO does: 400 `Ice.Common.BusinessObjectException`.
    pub fn rule(message: impl Into<String>, table: &str, field: &str, method: &str) -> Self {
        let mut e = Self::business(message, table);
        for d in &mut e.details {
            d.field = field.into();
            d.method = method.into();
        }
        e
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind::NOT_FOUND, message)
    }
    pub fn route_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, kind::API, message)
    }
    /// 405 with the `Allow` header RFC 9110 requires: the methods the resource does take.
    pub fn method_not_allowed(message: impl Into<String>, allow: &'static str) -> Self {
        let mut e = Self::new(StatusCode::METHOD_NOT_ALLOWED, kind::API, message);
        e.headers
            .push((header::ALLOW, HeaderValue::from_static(allow)));
        e
    }
    pub fn conflict(message: impl Into<String>, table: &str) -> Self {
        let mut e = Self::business(message, table);
        e.status = StatusCode::CONFLICT;
        e.error_type = kind::DUPLICATE;
        e
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, kind::SERVER, message)
    }
    pub fn with_xml(mut self, xml: bool) -> Self {
        self.xml = xml;
        self
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        match &e {
            // A key that already exists is the client's conflict, not the server's fault.
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                ApiError::conflict(
                    "A record with the same key already exists; read it and update it, \
                     or choose another key",
                    "",
                )
            }
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                ApiError::business(
                    "The record breaks a rule of its table (a required value is missing or a \
                     related record does not exist); correct the values and retry",
                    "",
                )
            }
            _ => ApiError::internal(format!("database error: {e}")),
        }
    }
}

/// The only text a 500 shows (Epicor's own): internals go to the server's log, under the same id.
const INTERNAL_MESSAGE: &str = "We apologize, but an unexpected internal problem occurred. \
Please provide your system administrator with this Correlation Id, to help them identify the problem. \
Correlation Id: ";

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "HttpStatus")]
    http_status: u16,
    #[serde(rename = "ReasonPhrase")]
    reason_phrase: &'a str,
    #[serde(rename = "ErrorMessage")]
    error_message: &'a str,
    #[serde(rename = "ErrorType")]
    error_type: &'a str,
    #[serde(rename = "ErrorDetails")]
    error_details: &'a [ErrorDetail],
    #[serde(rename = "CorrelationId")]
    correlation_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        let correlation_id = uuid::Uuid::new_v4().to_string();
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            eprintln!(
                "kinetic-emulator: internal error, correlation id {correlation_id}: {}",
                self.message
            );
            self.message = format!("{INTERNAL_MESSAGE}{correlation_id}");
            self.details.clear();
        }
        let reason = match self.error_type {
            kind::ODATA => "OData Exception",
            kind::BUSINESS | kind::NOT_FOUND | kind::DUPLICATE => "BusinessObject Exception",
            _ => "REST API Exception",
        };
        let mut response = if self.xml {
            let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><ErrorResponse>");
            x.push_str(&format!(
                "<HttpStatus>{}</HttpStatus><ReasonPhrase>{}</ReasonPhrase><ErrorMessage>{}</ErrorMessage><ErrorType>{}</ErrorType><ErrorDetails>",
                self.status.as_u16(),
                xml_escape(reason),
                xml_escape(&self.message),
                xml_escape(self.error_type)
            ));
            for d in &self.details {
                x.push_str(&format!(
                    "<ErrorDetail><Message>{}</Message><Type>{}</Type><Table>{}</Table><Field>{}</Field><Program>{}</Program><Method>{}</Method></ErrorDetail>",
                    xml_escape(&d.message),
                    xml_escape(&d.kind),
                    xml_escape(&d.table),
                    xml_escape(&d.field),
                    xml_escape(&d.program),
                    xml_escape(&d.method)
                ));
            }
            x.push_str(&format!(
                "</ErrorDetails><CorrelationId>{correlation_id}</CorrelationId></ErrorResponse>"
            ));
            (
                self.status,
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                x,
            )
                .into_response()
        } else {
            let body = Body {
                http_status: self.status.as_u16(),
                reason_phrase: reason,
                error_message: &self.message,
                error_type: self.error_type,
                error_details: &self.details,
                correlation_id,
            };
            (self.status, axum::Json(body)).into_response()
        };
        for (k, v) in self.headers {
            response.headers_mut().insert(k, v);
        }
        response
    }
}
