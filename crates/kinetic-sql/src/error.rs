//! Errors of the SQL layer: the statement's fault (bad SQL, an unknown table or column, a type
//! error), the server's or the connection's (the connector's error, kind kept), or a write that
//! stopped part way (what was done is said).

use datafusion::error::DataFusionError;
use epicor_kinetic::ErrorKind;
use std::fmt;

/// What kind of failure a [`SqlError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// The statement is wrong: syntax, an unknown table, column or procedure, a type error, a
    /// missing BAQ parameter. Fix the SQL.
    Invalid,
    /// The connector failed (sign-in, the server, the network): its kind says which.
    Connector(ErrorKind),
    /// A write stopped part way: the message says which rows were written.
    Partial,
    /// The engine failed while running the statement (out of memory, an internal error).
    Execution,
    /// Writing the result failed (a full disk, a closed pipe).
    Io,
    /// A bound stopped the statement (`MemoryLimit`, `StatementTimeout`, `MaxRecursion`): the
    /// message names the property. See [`crate::limits`].
    Limit,
    /// The session is read-only ([`SqlLimits::read_only`](crate::limits::SqlLimits::read_only),
    /// a server's default) and the statement writes or calls a procedure: nothing was sent.
    /// (PostgreSQL's SQLSTATE 25006, "read only SQL transaction".)
    ReadOnly,
}

/// An error of the SQL layer.
#[derive(Debug, Clone)]
pub struct SqlError {
    kind: SqlErrorKind,
    message: String,
    /// Boxed: the connector's error is large, and `SqlError` travels in every `Result`.
    connector: Option<Box<epicor_kinetic::Error>>,
}

impl SqlError {
    /// An error that is the statement's fault (its message says what is wrong).
    pub fn invalid(message: impl Into<String>) -> SqlError {
        SqlError {
            kind: SqlErrorKind::Invalid,
            message: message.into(),
            connector: None,
        }
    }

    #[allow(dead_code)] // Writes (dml.rs) report with it.
    pub(crate) fn partial(
        message: impl Into<String>,
        cause: Option<epicor_kinetic::Error>,
    ) -> SqlError {
        SqlError {
            kind: SqlErrorKind::Partial,
            message: message.into(),
            connector: cause.map(Box::new),
        }
    }

    /// The connector's error `e` (its kind kept), with what was being done: `context: e`.
    pub(crate) fn connector_in(context: impl fmt::Display, e: epicor_kinetic::Error) -> SqlError {
        SqlError {
            kind: SqlErrorKind::Connector(e.kind()),
            message: format!("{context}: {e}"),
            connector: Some(Box::new(e)),
        }
    }

    /// A statement stopped by a bound (see [`crate::limits`]).
    pub(crate) fn limit(message: impl Into<String>) -> SqlError {
        SqlError {
            kind: SqlErrorKind::Limit,
            message: message.into(),
            connector: None,
        }
    }

    /// A write or a procedure call in a read-only session: `what` is the statement's kind
    /// (`UPDATE`, `EXEC`), as parsed.
    pub(crate) fn read_only(what: &str) -> SqlError {
        SqlError {
            kind: SqlErrorKind::ReadOnly,
            message: format!(
                "cannot execute {what} in a read-only session: only queries run here (nothing \
                 was sent to the server)"
            ),
            connector: None,
        }
    }

    pub(crate) fn io(message: impl Into<String>) -> SqlError {
        SqlError {
            kind: SqlErrorKind::Io,
            message: message.into(),
            connector: None,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> SqlErrorKind {
        self.kind
    }

    /// The connector's error underneath, when there is one (its kind, Epicor's `ErrorType`).
    pub fn connector(&self) -> Option<&epicor_kinetic::Error> {
        self.connector.as_deref()
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.connector
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<epicor_kinetic::Error> for SqlError {
    fn from(e: epicor_kinetic::Error) -> SqlError {
        SqlError {
            kind: SqlErrorKind::Connector(e.kind()),
            message: e.to_string(),
            connector: Some(Box::new(e)),
        }
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> SqlError {
        of_datafusion(e)
    }
}

fn of_datafusion(e: DataFusionError) -> SqlError {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<epicor_kinetic::Error>() {
            Ok(k) => SqlError::from(*k),
            Err(inner) => match inner.downcast::<SqlError>() {
                Ok(s) => *s,
                Err(other) => SqlError {
                    kind: SqlErrorKind::Execution,
                    message: other.to_string(),
                    connector: None,
                },
            },
        },
        DataFusionError::Context(context, inner) => {
            let mut e = of_datafusion(*inner);
            e.message = format!("{context}: {}", e.message);
            e
        }
        DataFusionError::Shared(shared) => {
            // Rebuild what can be: the connector's error is `Clone`.
            match shared.as_ref() {
                DataFusionError::External(inner) => {
                    if let Some(k) = inner.downcast_ref::<epicor_kinetic::Error>() {
                        return SqlError::from(k.clone());
                    }
                    if let Some(s) = inner.downcast_ref::<SqlError>() {
                        return s.clone();
                    }
                    SqlError {
                        kind: SqlErrorKind::Execution,
                        message: shared.to_string(),
                        connector: None,
                    }
                }
                DataFusionError::ResourcesExhausted(message) => out_of_memory(message),
                other => SqlError {
                    kind: kind_of(other),
                    message: strip(other.to_string()),
                    connector: None,
                },
            }
        }
        DataFusionError::Diagnostic(_, inner) => of_datafusion(*inner),
        DataFusionError::Collection(mut errors) if !errors.is_empty() => {
            of_datafusion(errors.remove(0))
        }
        DataFusionError::ResourcesExhausted(message) => out_of_memory(&message),
        other => SqlError {
            kind: kind_of(&other),
            message: strip(other.to_string()),
            connector: None,
        },
    }
}

/// DataFusion's memory pool refused a reservation: only a `MemoryLimit` makes it do so.
fn out_of_memory(message: &str) -> SqlError {
    SqlError::limit(format!(
        "the statement needs more memory than MemoryLimit allows and was stopped ({message}): raise MemoryLimit, or read less (a WHERE the server can answer, fewer columns, a LIMIT)"
    ))
}

fn kind_of(e: &DataFusionError) -> SqlErrorKind {
    match e {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => SqlErrorKind::Invalid,
        // A value of the wrong type (`WHERE CustNum = 'abc'`), found while planning or running:
        // the statement's fault.
        DataFusionError::ArrowError(e, _)
            if matches!(
                e.as_ref(),
                datafusion::arrow::error::ArrowError::CastError(_)
            ) =>
        {
            SqlErrorKind::Invalid
        }
        _ => SqlErrorKind::Execution,
    }
}

/// DataFusion's messages begin with its own category (`Error during planning: `); the kind
/// says that already. A column that is not there, written in double quotes, is most often
/// text meant as a literal (`State = "MN"`): said so.
fn strip(message: String) -> String {
    let message = strip_category(message);
    match message
        .strip_prefix("No field named \"")
        .and_then(|rest| rest.split_once("\"."))
    {
        Some((name, _)) => format!(
            "{message}\nIf \"{name}\" is text, write it in single quotes: '{}' (double quotes name columns)",
            name.replace('\'', "''")
        ),
        None => message,
    }
}

fn strip_category(message: String) -> String {
    for prefix in [
        "Error during planning: ",
        "SQL error: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "Execution error: ",
        "Invalid or Unsupported Configuration: ",
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    message
}
