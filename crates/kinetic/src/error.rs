//! The one error type of the library.
//!
//! Every variant says what went wrong in Epicor's or the connector's own terms, so callers can match
//! on meaning (retry a [`Error::Throttled`], re-authenticate on [`Error::Unauthorized`]) instead of
//! parsing text; [`Error::kind`] folds them into an [`ErrorKind`] for code that only needs the
//! class (a Python exception type, a CLI exit code, a web app's "sign in again"). There is no
//! catch-all variant that would drop a cause. Errors are `Clone` (causes are shared), so one
//! failure can be handed to every caller that waited on it.
//!
//! No message ever contains a secret value: settings errors name the property, not its value, when
//! the property is secret, and server messages are kept as the server sent them (servers do not echo
//! credentials).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A shared cause, for errors from layers this crate does not name in its API.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the connector.
#[derive(Debug, Clone, thiserror::Error)]
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
        source: Option<Arc<std::io::Error>>,
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
        /// The server's error type (Epicor's `ErrorType`, OData's `code`), when it gave one.
        error_type: Option<String>,
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
        /// The server's error type (Epicor's `ErrorType`, OData's `code`), when it gave one.
        error_type: Option<String>,
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
        /// The server's error type (Epicor's `ErrorType`, OData's `code`), when it gave one.
        error_type: Option<String>,
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
        /// The server's error type (Epicor's `ErrorType`, OData's `code`), when it gave one.
        error_type: Option<String>,
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
        /// The server's error type (Epicor's `ErrorType`, OData's `code`), when it gave one.
        error_type: Option<String>,
        /// How long the server asked to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },

    /// The server refused the request as it stands (HTTP 400 or 422): Epicor's business rules
    /// (`Ice.Common.BusinessObjectException`: a required field left empty, a code that does not
    /// exist, a duplicate id) or a query or body it cannot take (a column it does not have). The
    /// [`ErrorDetail`]s say which table and field; fix the data and resend.
    #[error("rejected{}: {message}", status_suffix(*status))]
    Rejected {
        /// The HTTP status (400 or 422).
        status: Option<u16>,
        /// The server's message, with its details.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
        /// Epicor's `ErrorType` (`Ice.Common.BusinessObjectException`, ...) or OData's `code`.
        error_type: Option<String>,
        /// Epicor's `ErrorDetails`: each refusal with its table and field.
        details: Vec<ErrorDetail>,
    },

    /// The row changed since it was read, or already exists (HTTP 409 or 412: a stale
    /// `SysRevID`, a duplicate key). Read the row again and resend the change.
    #[error("conflict{}: {message}", status_suffix(*status))]
    Conflict {
        /// The HTTP status (409 or 412).
        status: Option<u16>,
        /// The server's message, with its details.
        message: String,
        /// The server's correlation id.
        correlation_id: Option<String>,
        /// Epicor's `ErrorType`.
        error_type: Option<String>,
        /// Epicor's `ErrorDetails`.
        details: Vec<ErrorDetail>,
    },

    /// The identity provider (Azure AD or another OpenID provider) refused a token request or a
    /// sign-in, with an OAuth error code ([`OAuthError`]): a refresh token revoked or expired
    /// (`invalid_grant`), a sign-in needed (`interaction_required`, with Entra's claims
    /// challenge), a wrong client secret (`invalid_client`).
    #[error("{error}{}", status_suffix(*status))]
    OAuth {
        /// The HTTP status, when the refusal came in an HTTP answer (not a redirect).
        status: Option<u16>,
        /// What the provider said.
        error: Box<OAuthError>,
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
        /// The server's error type (Epicor's `ErrorType`, OData's `code`), when it gave one.
        error_type: Option<String>,
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
        source: Option<Cause>,
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
        source: Option<Cause>,
    },

    /// A bug in the connector: a state it should never reach. Please report it with the log.
    #[error("internal error (a bug in the connector, please report it): {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// What class of failure an [`Error`] is, for code that acts on the class rather than the
/// details (each variant maps to one kind; an OAuth refusal maps by its code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setting is wrong or missing (fix the connection string).
    InvalidSettings,
    /// A configuration file cannot be read or written.
    ConfigFile,
    /// The credentials were refused, or a sign-in is needed.
    Unauthorized,
    /// Not allowed.
    Forbidden,
    /// It does not exist.
    NotFound,
    /// The Epicor session ended.
    SessionExpired,
    /// The server refused the request as it stands (business rule, bad query).
    Rejected,
    /// The row changed or already exists.
    Conflict,
    /// Too many requests; wait.
    Throttled,
    /// The server failed.
    Server,
    /// No answer (network, TLS, timeout).
    Transport,
    /// The server broke the protocol.
    Protocol,
    /// A bug in the connector.
    Internal,
}

/// An OAuth 2.0 error code (RFC 6749 5.2, OpenID Connect Core 3.1.2.6, RFC 8628 3.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`.
    #[default]
    InvalidRequest,
    /// `invalid_client`: the client id, secret or certificate was refused.
    InvalidClient,
    /// `invalid_grant`: the code, refresh token or assertion is invalid, expired or revoked.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `access_denied`: the user or an administrator declined.
    AccessDenied,
    /// `interaction_required`: the user must sign in (MFA, conditional access).
    InteractionRequired,
    /// `login_required`.
    LoginRequired,
    /// `consent_required`.
    ConsentRequired,
    /// `account_selection_required`.
    AccountSelectionRequired,
    /// `authorization_pending` (device flow: not approved yet).
    AuthorizationPending,
    /// `slow_down` (device flow: poll less often).
    SlowDown,
    /// `expired_token` (device flow: the code expired).
    ExpiredToken,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// Any other code, as sent.
    Other(String),
}

impl OAuthErrorCode {
    /// The code from its wire name.
    pub fn parse(code: &str) -> OAuthErrorCode {
        use OAuthErrorCode::*;
        match code {
            "invalid_request" => InvalidRequest,
            "invalid_client" => InvalidClient,
            "invalid_grant" => InvalidGrant,
            "unauthorized_client" => UnauthorizedClient,
            "unsupported_grant_type" => UnsupportedGrantType,
            "invalid_scope" => InvalidScope,
            "access_denied" => AccessDenied,
            "interaction_required" => InteractionRequired,
            "login_required" => LoginRequired,
            "consent_required" => ConsentRequired,
            "account_selection_required" => AccountSelectionRequired,
            "authorization_pending" => AuthorizationPending,
            "slow_down" => SlowDown,
            "expired_token" => ExpiredToken,
            "server_error" => ServerError,
            "temporarily_unavailable" => TemporarilyUnavailable,
            other => Other(other.to_owned()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        use OAuthErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            InvalidScope => "invalid_scope",
            AccessDenied => "access_denied",
            InteractionRequired => "interaction_required",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            AccountSelectionRequired => "account_selection_required",
            AuthorizationPending => "authorization_pending",
            SlowDown => "slow_down",
            ExpiredToken => "expired_token",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            Other(s) => s,
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an identity provider said when it refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// The code (`error`).
    pub code: OAuthErrorCode,
    /// `error_description`, its first line (Entra appends trace ids on later lines).
    pub description: String,
    /// Entra's `error_codes` (the numbers of `AADSTS50076`, ...).
    pub aadsts: Vec<i64>,
    /// Entra's `suberror` (`basic_action`, `consent_required`, `bad_token`, ...).
    pub suberror: Option<String>,
    /// The claims challenge (`claims`), to send back in the next sign-in as the `claims`
    /// parameter (conditional access, MFA step-up).
    pub claims: Option<String>,
    /// The provider's correlation id (`correlation_id`).
    pub correlation_id: Option<String>,
}

impl OAuthError {
    /// An error with this code and description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            ..OAuthError::default()
        }
    }

    /// Whether a person must sign in again for this to succeed (a web app redirects to the
    /// sign-in, with [`OAuthError::claims`] when given).
    pub fn needs_sign_in(&self) -> bool {
        use OAuthErrorCode::*;
        matches!(
            self.code,
            InvalidGrant
                | InteractionRequired
                | LoginRequired
                | ConsentRequired
                | AccountSelectionRequired
        )
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the identity provider refused: {}", self.code)?;
        if !self.aadsts.is_empty() {
            let codes: Vec<String> = self.aadsts.iter().map(|c| format!("AADSTS{c}")).collect();
            write!(f, " ({})", codes.join(", "))?;
        }
        if !self.description.is_empty() && self.description != self.code.as_str() {
            write!(f, ": {}", self.description)?;
        }
        Ok(())
    }
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

    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidSettings { .. } => ErrorKind::InvalidSettings,
            Error::ConfigFile { .. } => ErrorKind::ConfigFile,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::SessionExpired { .. } => ErrorKind::SessionExpired,
            Error::Throttled { .. } => ErrorKind::Throttled,
            Error::Rejected { .. } => ErrorKind::Rejected,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Server { .. } => ErrorKind::Server,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::Internal { .. } => ErrorKind::Internal,
            Error::OAuth { error, .. } => {
                use OAuthErrorCode::*;
                match error.code {
                    SlowDown => ErrorKind::Throttled,
                    ServerError | TemporarilyUnavailable => ErrorKind::Server,
                    InvalidScope | UnsupportedGrantType => ErrorKind::InvalidSettings,
                    _ => ErrorKind::Unauthorized,
                }
            }
        }
    }

    /// What the identity provider said, when this is its refusal.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            Error::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A bug: a state the connector should never reach.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// The server's correlation id, when the error came from a server that gave one.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::OAuth { error, .. } => error.correlation_id.as_deref(),
            Error::Conflict { correlation_id, .. }
            | Error::Unauthorized { correlation_id, .. }
            | Error::Forbidden { correlation_id, .. }
            | Error::NotFound { correlation_id, .. }
            | Error::SessionExpired { correlation_id, .. }
            | Error::Throttled { correlation_id, .. }
            | Error::Rejected { correlation_id, .. }
            | Error::Server { correlation_id, .. }
            | Error::Transport { correlation_id, .. }
            | Error::Protocol { correlation_id, .. } => correlation_id.as_deref(),
            Error::InvalidSettings { .. } | Error::ConfigFile { .. } | Error::Internal { .. } => {
                None
            }
        }
    }

    /// The server's error type (Epicor's `ErrorType` such as
    /// `Ice.Common.RecordNotFoundException`, OData's `code`, the OAuth `error`), when it gave one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { error_type, .. }
            | Error::Forbidden { error_type, .. }
            | Error::NotFound { error_type, .. }
            | Error::SessionExpired { error_type, .. }
            | Error::Throttled { error_type, .. }
            | Error::Server { error_type, .. }
            | Error::Rejected { error_type, .. }
            | Error::Conflict { error_type, .. } => error_type.as_deref(),
            Error::OAuth { error, .. } => Some(error.code.as_str()),
            _ => None,
        }
    }

    /// The business-rule details of an [`Error::Rejected`] or [`Error::Conflict`] (empty for
    /// any other error).
    pub fn details(&self) -> &[ErrorDetail] {
        match self {
            Error::Rejected { details, .. } | Error::Conflict { details, .. } => details,
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
            | Error::Conflict { status, .. }
            | Error::OAuth { status, .. }
            | Error::Protocol { status, .. } => *status,
            Error::InvalidSettings { .. } | Error::ConfigFile { .. } | Error::Internal { .. } => {
                None
            }
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
            error_type: None,
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
            source: Some(Arc::new(io)),
        };
        assert!(e.source().is_some_and(|s| s.to_string() == "refused"));
    }
}
