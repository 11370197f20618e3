//! Procedures: `EXEC name @p = v, ...` / `EXECUTE ...` / `CALL name(p => v, ...)`.

use crate::{QueryResult, SqlError, SqlSession};
use datafusion::sql::sqlparser::ast::Function;

/// A procedure call, parsed: its name and its arguments (name, value text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub name: String,
    pub arguments: Vec<(Option<String>, String)>,
}

impl Call {
    pub(crate) fn from_function(_f: &Function) -> Result<Call, SqlError> {
        Err(SqlError::invalid("CALL is not supported yet"))
    }
}

/// `EXEC ...`/`EXECUTE ...`, or `None` for any other statement.
pub(crate) fn parse_exec(_sql: &str) -> Result<Option<Call>, SqlError> {
    Ok(None)
}

pub(crate) async fn call(_session: &SqlSession, call: Call) -> Result<QueryResult, SqlError> {
    Err(SqlError::invalid(format!("no procedure {}", call.name)))
}
