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

use crate::local::session_statement;
use crate::prepare::{format_of, protocol, Kind, Parser, Prepared};
use crate::session::Session;
use crate::values;
use async_trait::async_trait;
use epicor_kinetic_sql::Param;
use futures_util::Sink;
use pgwire::api::portal::{Portal, PortalExecutionState};
use pgwire::api::query::{send_execution_response, send_query_response, ExtendedQueryHandler};
use pgwire::api::results::{FieldFormat, Response};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type, DEFAULT_NAME};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;
use std::sync::Arc;

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
