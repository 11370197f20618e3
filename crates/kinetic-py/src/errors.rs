//! PEP 249's exceptions, and the one mapping from the core's error kinds onto them.
//!
//! | fault                                                        | exception           |
//! |--------------------------------------------------------------|---------------------|
//! | the connection string (a property, its value)                | `InterfaceError`    |
//! | the statement: syntax, unknown table or column, a parameter, | `ProgrammingError`  |
//! | a cast its values cannot make (`WHERE CustNum = 'abc'`)      |                     |
//! | Epicor refused the data: a business rule, a conflict         | `IntegrityError`    |
//! | the value: a division by zero, an overflow, a NaN parameter  | `DataError`         |
//! | sign-in, permission, the server, the network, throttling     | `OperationalError`  |
//! | a bug in the connector or the server breaking the protocol   | `InternalError`     |
//! | what the module does not do (a parameter type, transactions) | `NotSupportedError` |
//!
//! A write that stopped part way raises the class of its cause; its message says which rows were
//! written. Every exception carries `kind` (the core's error kind, e.g. `"rejected"`), `status`
//! (the HTTP status, when there was one) and `oauth_error` (`"invalid_grant"`, ...).

use epicor_kinetic::ErrorKind;
use epicor_kinetic_sql::{SqlError, SqlErrorKind};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    epicor_kinetic,
    Warning,
    PyException,
    "Important warnings (PEP 249)."
);
pyo3::create_exception!(
    epicor_kinetic,
    Error,
    PyException,
    "The base class of every error of the module (PEP 249)."
);
pyo3::create_exception!(
    epicor_kinetic,
    InterfaceError,
    Error,
    "The interface, not the database: a bad connection string, a closed cursor."
);
pyo3::create_exception!(
    epicor_kinetic,
    DatabaseError,
    Error,
    "Errors of the database (Epicor) and of the statement."
);
pyo3::create_exception!(
    epicor_kinetic,
    DataError,
    DatabaseError,
    "A value could not be processed: a cast, an overflow, a division by zero."
);
pyo3::create_exception!(
    epicor_kinetic,
    OperationalError,
    DatabaseError,
    "Sign-in, permissions, the server or the network failed (not the statement's fault)."
);
pyo3::create_exception!(
    epicor_kinetic,
    IntegrityError,
    DatabaseError,
    "Epicor refused the data: a business rule, a duplicate, a row changed by someone else."
);
pyo3::create_exception!(
    epicor_kinetic,
    InternalError,
    DatabaseError,
    "A bug in the connector, or the server broke the protocol."
);
pyo3::create_exception!(
    epicor_kinetic,
    ProgrammingError,
    DatabaseError,
    "The statement is wrong: syntax, an unknown table or column, the number of parameters."
);
pyo3::create_exception!(
    epicor_kinetic,
    NotSupportedError,
    DatabaseError,
    "Something the module does not do (a parameter type, transactions)."
);

/// The name of a core error kind, as exceptions carry it.
pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSettings => "invalid_settings",
        ErrorKind::ConfigFile => "config_file",
        ErrorKind::Unauthorized => "unauthorized",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::NotFound => "not_found",
        ErrorKind::SessionExpired => "session_expired",
        ErrorKind::Rejected => "rejected",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Throttled => "throttled",
        ErrorKind::Server => "server",
        ErrorKind::Transport => "transport",
        ErrorKind::Protocol => "protocol",
        ErrorKind::Internal => "internal",
        _ => "other",
    }
}

/// Which PEP 249 class an error raises: decided from its kind alone, never from its message
/// (messages are for people, and change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Interface,
    Database,
    Data,
    Operational,
    Integrity,
    Internal,
    Programming,
}

impl Class {
    fn get(self, py: Python<'_>) -> Bound<'_, pyo3::types::PyType> {
        match self {
            Class::Interface => py.get_type::<InterfaceError>(),
            Class::Database => py.get_type::<DatabaseError>(),
            Class::Data => py.get_type::<DataError>(),
            Class::Operational => py.get_type::<OperationalError>(),
            Class::Integrity => py.get_type::<IntegrityError>(),
            Class::Internal => py.get_type::<InternalError>(),
            Class::Programming => py.get_type::<ProgrammingError>(),
        }
    }
}

/// The class of a core error kind.
fn core_class(kind: ErrorKind) -> Class {
    match kind {
        ErrorKind::InvalidSettings | ErrorKind::ConfigFile => Class::Interface,
        ErrorKind::NotFound => Class::Programming,
        ErrorKind::Rejected | ErrorKind::Conflict => Class::Integrity,
        ErrorKind::Internal | ErrorKind::Protocol => Class::Internal,
        _ => Class::Operational,
    }
}

/// The class of a SQL error and the `kind` its exception carries.
fn sql_class(e: &SqlError) -> (Class, &'static str) {
    match e.kind() {
        SqlErrorKind::Invalid => (Class::Programming, "invalid"),
        SqlErrorKind::Connector(kind) => (core_class(kind), kind_name(kind)),
        // A write that stopped part way raises its cause's class.
        SqlErrorKind::Partial => match e.connector() {
            Some(c) => (core_class(c.kind()), kind_name(c.kind())),
            None => (Class::Database, "partial"),
        },
        // The engine failed on a value (a division by zero, an overflow). Running out of memory
        // is not this kind: DataFusion's memory pool refuses only under `MemoryLimit`, a `Limit`.
        SqlErrorKind::Execution => (Class::Data, "execution"),
        SqlErrorKind::Io => (Class::Operational, "io"),
        // A bound of the connection's (MemoryLimit, StatementTimeout, MaxRecursion) stopped it,
        // as psycopg's QueryCanceled is an OperationalError.
        SqlErrorKind::Limit => (Class::Operational, "limit"),
        // A write in a read-only session, as psycopg's ReadOnlySqlTransaction (SQLSTATE 25006)
        // is an InternalError.
        SqlErrorKind::ReadOnly => (Class::Internal, "read_only"),
        _ => (Class::Database, "other"),
    }
}

fn build(
    class: Bound<'_, pyo3::types::PyType>,
    message: String,
    kind: &str,
    connector: Option<&epicor_kinetic::Error>,
) -> PyErr {
    let made = class.call1((message,));
    let value = match made {
        Ok(v) => v,
        Err(e) => return e,
    };
    let _ = value.setattr("kind", kind);
    let _ = value.setattr("status", connector.and_then(|c| c.status()));
    let _ = value.setattr(
        "oauth_error",
        connector
            .and_then(|c| c.oauth())
            .map(|o| o.code.as_str().to_owned()),
    );
    PyErr::from_value(value)
}

/// The exception for a core error.
pub fn core_error(py: Python<'_>, e: &epicor_kinetic::Error) -> PyErr {
    build(
        core_class(e.kind()).get(py),
        e.to_string(),
        kind_name(e.kind()),
        Some(e),
    )
}

/// The exception for a SQL error.
pub fn sql_error(py: Python<'_>, e: &SqlError) -> PyErr {
    let (class, kind) = sql_class(e);
    let err = build(class.get(py), e.to_string(), kind, e.connector());
    if e.kind() == SqlErrorKind::Partial {
        let _ = err.value(py).setattr("partial", true);
    }
    err
}

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Warning", py.get_type::<Warning>())?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("InterfaceError", py.get_type::<InterfaceError>())?;
    m.add("DatabaseError", py.get_type::<DatabaseError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("OperationalError", py.get_type::<OperationalError>())?;
    m.add("IntegrityError", py.get_type::<IntegrityError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("ProgrammingError", py.get_type::<ProgrammingError>())?;
    m.add("NotSupportedError", py.get_type::<NotSupportedError>())?;
    Ok(())
}
