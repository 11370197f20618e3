//! The extended query protocol (`Parse`, `Bind`, `Describe`, `Execute`), which drivers use for
//! every statement with parameters (psycopg, pgJDBC, node-postgres, Npgsql, tokio-postgres):
//!
//! - `Parse` plans the statement without running it (`SqlSession::describe`): its parameters'
//!   types (the client's where it names one, else what the statement compares them with, else
//!   text) and its columns, so `Describe` answers before anything is read. A write in a
//!   read-only session is refused here already (25006).
//! - `Bind` gives the values, in text or binary: each read as its parameter's type (see
//!   [`crate::values`]) and bound as a literal of the statement, never as SQL text.
//! - `Execute` streams: without a row limit the rows go to the client batch by batch as they
//!   come from Epicor (pgwire's own `Execute` would gather every row first); with one (a
//!   portal fetched in pieces, as JDBC's `setFetchSize` does) each `Execute` reads that many
//!   more and the portal stays open, so a result of any size passes in bounded memory.

use crate::session::{session_statement, Session};
use crate::{encode, sqlstate, values};
use async_trait::async_trait;
use epicor_kinetic_sql::datafusion::arrow::datatypes::SchemaRef;
use epicor_kinetic_sql::{Param, SqlSession};
use futures_util::Sink;
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{send_execution_response, send_query_response, ExtendedQueryHandler};
use pgwire::api::results::{FieldFormat, FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type, DEFAULT_NAME};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

/// A statement a client prepared.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    sql: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
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

fn protocol(message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "08P01".into(),
        message.into(),
    )))
}

/// A column's or parameter's format; an error for a list of formats of the wrong length
/// (pgwire's own lookup would panic on one).
fn format_of(format: &Format, i: usize, count: usize, what: &str) -> PgWireResult<FieldFormat> {
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

/// The values of `portal`'s parameters, each read as its type.
fn parameters(portal: &Portal<Prepared>, types: &[Type]) -> PgWireResult<Vec<Param>> {
    let given = portal.parameters.len();
    if given != types.len() {
        return Err(protocol(format!(
            "bind message supplies {given} parameters, but prepared statement requires {}",
            types.len()
        )));
    }
    portal
        .parameters
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (bytes, ty))| {
            let binary =
                format_of(&portal.parameter_format, i, given, "parameter")? == FieldFormat::Binary;
            values::param(bytes.as_deref(), binary, ty).map_err(|e| {
                PgWireError::UserError(Box::new(ErrorInfo::new(
                    "ERROR".into(),
                    e.code.into(),
                    format!("{} (parameter ${})", e.message, i + 1),
                )))
            })
        })
        .collect()
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = &portal.statement.statement;
        let Kind::Sql {
            parameters: types,
            columns,
        } = &statement.kind
        else {
            return Ok(session_statement(&statement.sql).unwrap_or(Response::EmptyQuery));
        };
        let values = parameters(portal, types)?;
        let count = columns.as_ref().map_or(0, |c| c.fields().len());
        let formats = (0..count)
            .map(|i| format_of(&portal.result_column_format, i, count, "result"))
            .collect::<PgWireResult<Vec<_>>>()?;
        self.run(&statement.sql, &values, |i| {
            formats.get(i).copied().unwrap_or(FieldFormat::Text)
        })
        .await
    }

    /// Streams a portal run without a row limit (pgwire's own gathers every row in memory
    /// first); a row limit goes to pgwire's, which reads that many rows at a time.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal))
                if message.max_rows <= 0
                    && matches!(portal.statement.statement.kind, Kind::Sql { .. })
                    && matches!(client.state(), PgWireConnectionState::ReadyForQuery) =>
            {
                portal
            }
            _ => return self._on_execute(client, message).await,
        };
        let state = portal.state();
        let mut state = state.lock().await;
        client.set_state(PgWireConnectionState::QueryInProgress);
        let outcome = match std::mem::replace(&mut *state, PortalExecutionState::Finished) {
            PortalExecutionState::Initial => {
                match self.do_query(client, portal.as_ref(), 0).await {
                    Ok(Response::Query(rows)) => send_query_response(client, rows, false).await,
                    Ok(Response::Execution(tag)) => send_execution_response(client, tag).await,
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            PortalExecutionState::Suspended(rows) => send_query_response(client, rows, false).await,
            PortalExecutionState::Finished => {
                send_query_response(
                    client,
                    pgwire::api::results::QueryResponse::new(
                        Arc::new(Vec::new()),
                        futures_util::stream::empty(),
                    ),
                    false,
                )
                .await
            }
        };
        client.set_state(PgWireConnectionState::ReadyForQuery);
        outcome
    }
}
