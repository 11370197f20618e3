//! The SQL layer's errors as PostgreSQL errors: the SQLSTATE a client's driver acts on (a
//! read-only refusal is 25006, as PostgreSQL's "cannot execute UPDATE in a read-only
//! transaction"; a bound is 57014 or 53200; Epicor's refusal 42501), the message as it is.

use epicor_kinetic::ErrorKind;
use epicor_kinetic_sql::{SqlError, SqlErrorKind};
use pgwire::error::{ErrorInfo, PgWireError};

/// The SQLSTATE of `e`.
pub fn code(e: &SqlError) -> &'static str {
    match e.kind() {
        SqlErrorKind::ReadOnly => "25006",
        SqlErrorKind::Invalid => {
            let text = e.to_string();
            if text.contains("not found") || text.contains("no table") {
                "42P01"
            } else {
                "42601"
            }
        }
        SqlErrorKind::Limit if e.to_string().contains("MemoryLimit") => "53200",
        SqlErrorKind::Limit => "57014",
        SqlErrorKind::Connector(kind) => match kind {
            ErrorKind::Unauthorized => "28000",
            ErrorKind::Forbidden => "42501",
            ErrorKind::NotFound => "42P01",
            ErrorKind::Rejected | ErrorKind::Conflict => "23000",
            ErrorKind::Throttled => "53000",
            _ => "58000",
        },
        SqlErrorKind::Partial => "40003",
        SqlErrorKind::Execution => "22000",
        _ => "XX000",
    }
}

/// `e` as the error a client receives.
pub fn error(e: SqlError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code(&e).into(),
        e.to_string(),
    )))
}

/// Whether a sign-in failed because Epicor refused the user's credentials.
pub fn is_refused_sign_in(e: &SqlError) -> bool {
    matches!(
        e.kind(),
        SqlErrorKind::Connector(ErrorKind::Unauthorized | ErrorKind::Forbidden)
    )
}
