//! The one error type of the library.
//!
//! Every variant says what went wrong in Epicor's or the connector's own terms, so callers can match
//! on meaning (retry a [`Error::Throttled`], re-authenticate on [`Error::Unauthorized`]) instead of
//! parsing text. There is no catch-all variant that would drop a cause.
//!
//! No message ever contains a secret value: settings errors name the property, not its value, when
//! the property is secret, and server messages are kept as the server sent them (servers do not echo
//! credentials).

use std::path::PathBuf;
use std::time::Duration;

/// A boxed cause, for errors from layers this crate does not name in its API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the connector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is unknown, has a bad value, is missing, or cannot work with another setting.
    /// Raised before any network call.
    #[error("{message}; {hint}")]
    InvalidSettings {
        /// The property at fault, by its registry name (e.g. `Password`), or the connection string
        /// itself (`ConnectionString`) for a grammar error.
        property: String,
        /// What is wrong, naming where the value came from (connection string, environment
        /// variable, profile). Never contains a secret value.
        message: String,
        /// What to set to fix it.
        hint: String,
    },

    /// A configuration file (the profiles file) cannot be read, parsed or written, or does not
    /// hold the named profile.
    #[error("{}: {message}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and, where it helps, what to do.
        message: String,
        /// The I/O error, when there was one. Parse errors are not kept as a source: their text
        /// quotes the offending line, which may hold a secret.
        #[source]
        source: Option<std::io::Error>,
    },

    /// The server refused the credentials (HTTP 401), or the identity provider refused to issue a
    /// token.
    #[error("unauthorized{}: {message}", status_suffix(*status))]
    Unauthorized {
        /// The HTTP status, when an HTTP answer carried the refusal.
        status: Option<u16>,
        /// The server's message.
        message: String,
        /// The server's correlation id, to quote to its administrator.
        correlation_id: Option<String>,
    },

    /// The credentials are valid but not allowed to do this (HTTP 403).
    #[error("forbidden{}: {message}", status_suffix(*status))]
    Forbidden {
        /// The HTTP status.
        status: Option<u16>,
        /// The server's message.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
    },

    /// The service, entity set, row, BAQ or function does not exist (HTTP 404).
    #[error("not found{}: {message}", status_suffix(*status))]
    NotFound {
        /// The HTTP status.
        status: Option<u16>,
        /// The server's message.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
    },

    /// The Epicor session named in the `License` header is no longer valid (HTTP 410: logged
    /// out, idle too long, or deleted by an administrator). Log in again for a new session.
    #[error("session expired{}: {message}", status_suffix(*status))]
    SessionExpired {
        /// The HTTP status.
        status: Option<u16>,
        /// The server's message.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
    },

    /// The server asked the client to slow down (HTTP 429, or 503 with no licence seat free), and
    /// the retries ran out.
    #[error("throttled{}: {message}", status_suffix(*status))]
    Throttled {
        /// The HTTP status.
        status: Option<u16>,
        /// The server's message.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
        /// How long the server asked to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },

    /// The server's business rules refused the request: Epicor's 400
    /// `Ice.Common.BusinessObjectException` (a required field left empty, a code that does not
    /// exist, a duplicate id) or a 409 (a duplicate record, a row changed since it was read). The
    /// [`ErrorDetail`]s say which table and field; fix the data (or read the row again) and resend.
    #[error("rejected{}: {message}", status_suffix(*status))]
    Rejected {
        /// The HTTP status (400 or 409).
        status: Option<u16>,
        /// The server's message, with its details.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
        /// Epicor's `ErrorType` (`Ice.Common.BusinessObjectException`, ...).
        error_type: Option<String>,
        /// Epicor's `ErrorDetails`: each refusal with its table and field.
        details: Vec<ErrorDetail>,
    },

    /// The server failed (HTTP 5xx) and the retries, if any, ran out.
    #[error("server error{}: {message}", status_suffix(*status))]
    Server {
        /// The HTTP status.
        status: Option<u16>,
        /// The server's message.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
    },

    /// The request did not get an answer: connection refused or dropped, TLS failure, timeout.
    #[error("transport error: {message}")]
    Transport {
        /// The HTTP status, when a partial answer had one.
        status: Option<u16>,
        /// What failed.
        message: String,
        /// The server's correlation id, when known.
        correlation_id: Option<String>,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The server answered something the connector cannot understand (malformed JSON, an
    /// unexpected status, a missing field).
    #[error("protocol error{}: {message}", status_suffix(*status))]
    Protocol {
        /// The HTTP status.
        status: Option<u16>,
        /// What was unexpected.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
        /// The underlying parse error, when there was one.
        #[source]
        source: Option<BoxError>,
    },
}

/// One entry of Epicor's `ErrorDetails`: a refusal and where it applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// What is wrong (`Customer ID is required.`).
    pub message: String,
    /// `Error`, `Warning`, ...
    pub kind: Option<String>,
    /// The table (`Customer`).
    pub table: Option<String>,
    /// The field (`CustID`).
    pub field: Option<String>,
    /// The server program that refused (`Erp.Services.BO.Customer.dll`).
    pub program: Option<String>,
    /// The method that refused (`Update`).
    pub method: Option<String>,
}

impl ErrorDetail {
    /// A detail with this message and nothing else.
    pub fn new(message: impl Into<String>) -> ErrorDetail {
        ErrorDetail {
            message: message.into(),
            ..ErrorDetail::default()
        }
    }

    /// Where the detail applies: `Customer.CustID`, `Customer`, or nothing.
    pub fn location(&self) -> Option<String> {
        match (&self.table, &self.field) {
            (Some(t), Some(f)) => Some(format!("{t}.{f}")),
            (Some(t), None) => Some(t.clone()),
            (None, Some(f)) => Some(f.clone()),
            (None, None) => None,
        }
    }
}

impl std::fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location() {
            Some(at) => write!(f, "{} ({at})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn status_suffix(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

impl Error {
    /// A settings error naming `property`, saying what is wrong and what to set.
    pub fn invalid_settings(
        property: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::InvalidSettings {
            property: property.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The property named by an [`Error::InvalidSettings`], if this is one.
    pub fn property(&self) -> Option<&str> {
        match self {
            Error::InvalidSettings { property, .. } => Some(property),
            _ => None,
        }
    }

    /// The server's correlation id, when the error came from a server that gave one.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { correlation_id, .. }
            | Error::Forbidden { correlation_id, .. }
            | Error::NotFound { correlation_id, .. }
            | Error::SessionExpired { correlation_id, .. }
            | Error::Throttled { correlation_id, .. }
            | Error::Rejected { correlation_id, .. }
            | Error::Server { correlation_id, .. }
            | Error::Transport { correlation_id, .. }
            | Error::Protocol { correlation_id, .. } => correlation_id.as_deref(),
            Error::InvalidSettings { .. } | Error::ConfigFile { .. } => None,
        }
    }

    /// The business-rule details of an [`Error::Rejected`] (empty for any other error).
    pub fn details(&self) -> &[ErrorDetail] {
        match self {
            Error::Rejected { details, .. } => details,
            _ => &[],
        }
    }

    /// The HTTP status, when the error came from an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { status, .. }
            | Error::Forbidden { status, .. }
            | Error::NotFound { status, .. }
            | Error::SessionExpired { status, .. }
            | Error::Throttled { status, .. }
            | Error::Rejected { status, .. }
            | Error::Server { status, .. }
            | Error::Transport { status, .. }
            | Error::Protocol { status, .. } => *status,
            Error::InvalidSettings { .. } | Error::ConfigFile { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_reads_as_message_then_hint() {
        let e = Error::invalid_settings("Company", "`Company` is missing", "set Company=EPIC06");
        assert_eq!(e.to_string(), "`Company` is missing; set Company=EPIC06");
        assert_eq!(e.property(), Some("Company"));
        assert_eq!(e.status(), None);
    }

    #[test]
    fn server_errors_carry_status_and_correlation_id() {
        let e = Error::NotFound {
            status: Some(404),
            message: "no such service".into(),
            correlation_id: Some("abc".into()),
        };
        assert_eq!(e.to_string(), "not found (HTTP 404): no such service");
        assert_eq!(e.correlation_id(), Some("abc"));
        assert_eq!(e.status(), Some(404));
    }

    #[test]
    fn transport_keeps_its_source() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::Transport {
            status: None,
            message: "cannot connect".into(),
            correlation_id: None,
            source: Some(Box::new(io)),
        };
        assert!(e.source().is_some_and(|s| s.to_string() == "refused"));
    }
}
