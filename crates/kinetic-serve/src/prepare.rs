//! What a client's `Parse` makes of a statement: planned without running
//! (`SqlSession::describe`), its parameters' types (the client's where it names one, else what
//! the statement gives them, else text) and its columns, which `Describe` answers.

use crate::encode;
use crate::local::session_statement;
use crate::sqlstate;
use async_trait::async_trait;
use epicor_kinetic_sql::datafusion::arrow::datatypes::SchemaRef;
use epicor_kinetic_sql::SqlSession;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use std::sync::{Arc, OnceLock};

/// A statement a client prepared.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) sql: String,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A statement about the session (`SET`, `BEGIN`, ...), answered by the server itself.
    Local,
    /// A statement for the SQL layer.
    Sql {
        /// Each parameter's type, `$1` first.
        parameters: Vec<Type>,
        /// The result's columns (`None` for a write, which answers a count).
        columns: Option<SchemaRef>,
    },
}

/// Plans what clients prepare, in their session.
pub(crate) struct Parser(pub(crate) Arc<OnceLock<SqlSession>>);

pub(crate) fn protocol(message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "08P01".into(),
        message.into(),
    )))
}

/// A column's or parameter's format; an error for a list of formats of the wrong length
/// (pgwire's own lookup would panic on one).
pub(crate) fn format_of(
    format: &Format,
    i: usize,
    count: usize,
    what: &str,
) -> PgWireResult<FieldFormat> {
    match format {
        Format::Individual(codes) if codes.len() != count => Err(protocol(format!(
            "bind message has {} {what} formats but the statement has {count} {what}s",
            codes.len()
        ))),
        Format::Individual(codes) => Ok(codes
            .get(i)
            .map_or(FieldFormat::Text, |c| FieldFormat::from(*c))),
        other => Ok(other.format_for(i)),
    }
}

fn signed_in(sql: &OnceLock<SqlSession>) -> PgWireResult<&SqlSession> {
    sql.get().ok_or_else(|| {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "FATAL".into(),
            "28000".into(),
            "not signed in".into(),
        )))
    })
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if session_statement(sql).is_some() {
            return Ok(Some(Prepared {
                sql: sql.to_owned(),
                kind: Kind::Local,
            }));
        }
        let described = signed_in(&self.0)?
            .describe(sql)
            .await
            .map_err(sqlstate::error)?;
        let count = described.parameters.len().max(types.len());
        let parameters = (0..count)
            .map(|i| {
                types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .or_else(|| {
                        described
                            .parameters
                            .get(i)
                            .cloned()
                            .flatten()
                            .map(|d| encode::pg_type(&d).0)
                    })
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        Ok(Some(Prepared {
            sql: sql.to_owned(),
            kind: Kind::Sql {
                parameters,
                columns: described.columns,
            },
        }))
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(match &statement.kind {
            Kind::Sql { parameters, .. } => parameters.clone(),
            Kind::Local => Vec::new(),
        })
    }

    fn get_result_schema(
        &self,
        statement: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let Kind::Sql {
            columns: Some(columns),
            ..
        } = &statement.kind
        else {
            return Ok(Vec::new());
        };
        let count = columns.fields().len();
        let formats = (0..count)
            .map(|i| format.map_or(Ok(FieldFormat::Text), |f| format_of(f, i, count, "result")))
            .collect::<PgWireResult<Vec<_>>>()?;
        Ok(encode::fields_as(columns, |i| formats[i]))
    }
}
