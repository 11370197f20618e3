//! Errors in Entra's shape: `{error, error_description: "AADSTS<code>: ...", error_codes, timestamp,
//! trace_id, correlation_id}`, 400 (401 for `invalid_client`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An OAuth error answer.
#[derive(Debug, Clone)]
pub struct AadError {
    pub error: &'static str,
    pub code: u32,
    pub description: String,
    pub status: StatusCode,
    /// Entra's `suberror` (`consent_required`, `basic_action`, ...), for clients that tell the user
    /// what to do.
    pub suberror: Option<&'static str>,
    /// A claims challenge (`interaction_required`): JSON the client sends back as the `claims`
    /// parameter of its next authorization request.
    pub claims: Option<String>,
}

impl AadError {
    pub fn new(error: &'static str, code: u32, description: impl Into<String>) -> AadError {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        AadError {
            error,
            code,
            description: description.into(),
            status,
            suberror: None,
            claims: None,
        }
    }
    /// AADSTS900144: a required parameter is missing.
    pub fn missing(param: &str) -> AadError {
        Self::new(
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }
    pub fn invalid_request(code: u32, description: impl Into<String>) -> AadError {
        Self::new("invalid_request", code, description)
    }
    pub fn invalid_grant(code: u32, description: impl Into<String>) -> AadError {
        Self::new("invalid_grant", code, description)
    }
    pub fn invalid_client(code: u32, description: impl Into<String>) -> AadError {
        Self::new("invalid_client", code, description)
    }
    pub fn invalid_scope(description: impl Into<String>) -> AadError {
        Self::new("invalid_scope", 70011, description)
    }
    pub fn server(description: impl Into<String>) -> AadError {
        let mut e = Self::new("server_error", 90033, description);
        e.status = StatusCode::INTERNAL_SERVER_ERROR;
        e
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let trace = uuid::Uuid::new_v4();
        let correlation = uuid::Uuid::new_v4();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let mut body = serde_json::json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        if let Some(sub) = self.suberror {
            body["suberror"] = serde_json::json!(sub);
        }
        if let Some(claims) = &self.claims {
            body["claims"] = serde_json::json!(claims);
        }
        body
    }
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        r.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        r
    }
}
