//! One client's session: its sign-in as its own Epicor user, and the statements it sends.

use crate::local::{first_word, session_statement};
use crate::options::Shared;
use crate::prepare::Parser;
use crate::statement::{cancel_requested, cancelled, StatementLog, Watched};
use crate::{encode, pg, sqlstate};
use async_trait::async_trait;
use epicor_kinetic::{Connection, Secret};
use epicor_kinetic_sql::Param;
use epicor_kinetic_sql::{QueryResult, SqlError, SqlLimits, SqlSession};
use futures_util::{stream, Sink, SinkExt, TryStreamExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
    DefaultServerParameterProvider, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, QueryResponse, Response, Tag};
use pgwire::api::{ClientInfo, PgWireConnectionState, PgWireServerHandlers, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::Authentication;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::sync::OwnedSemaphorePermit;

/// The pause before a refused sign-in is answered: this much per failure for that user in a
/// row, at most [`MAX_PAUSE`]. PostgreSQL's `auth_delay` does the same.
const PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// One client's session: its SQL session once signed in, and its place among the sessions.
pub(crate) struct Session {
    shared: Arc<Shared>,
    sql: Arc<OnceLock<SqlSession>>,
    pub(crate) parser: Arc<Parser>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    peer: SocketAddr,
    /// The signed-in user's name.
    user: OnceLock<String>,
    /// Bumped by a cancel request for this session; each statement watches it.
    cancel: watch::Sender<u64>,
    /// The key a cancel request names this session by, once signed in.
    key: Mutex<Option<(i32, i32)>>,
}

/// The sessions' numbers (PostgreSQL's backend process ids), one per sign-in.
static SESSIONS: AtomicI32 = AtomicI32::new(1);

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, peer: SocketAddr) -> Session {
        shared.metrics.sessions_open.fetch_add(1, Ordering::Relaxed);
        let sql = Arc::new(OnceLock::new());
        Session {
            shared,
            parser: Arc::new(Parser(sql.clone())),
            sql,
            permit: Mutex::new(None),
            peer,
            user: OnceLock::new(),
            cancel: watch::Sender::new(0),
            key: Mutex::new(None),
        }
    }

    /// Runs one statement of the SQL layer with `params`, its log line written and a cancel
    /// request heard until its last row is sent (see [`crate::statement`]).
    pub(crate) async fn run(
        &self,
        query: &str,
        params: &[Param],
        format: impl Fn(usize) -> FieldFormat,
    ) -> PgWireResult<Response> {
        let sql = self.sql()?;
        let user = self.user.get().map_or("", String::as_str);
        let mut log = StatementLog::start(
            self.shared.metrics.clone(),
            self.peer,
            user,
            first_word(query),
            sql.transfer(),
        );
        let cancel = self.cancel.subscribe();
        let result = tokio::select! {
            result = sql.query_with(query, params) => result.map_err(sqlstate::error),
            () = cancel_requested(cancel.clone()) => Err(cancelled()),
        };
        match result {
            Ok(result) => Ok(answer(result, query, format, cancel, log)),
            Err(e) => {
                log.failed(&e);
                Err(e)
            }
        }
    }

    /// The SQL session, once signed in.
    pub(crate) fn sql(&self) -> PgWireResult<&SqlSession> {
        self.sql
            .get()
            .ok_or_else(|| fatal("28000", "not signed in"))
    }

    /// Gives the session's place and its Epicor session back.
    pub(crate) async fn close(&self) {
        self.shared
            .metrics
            .sessions_open
            .fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.key.lock().ok().and_then(|mut k| k.take()) {
            self.shared.cancels.remove(key);
        }
        if let Some(sql) = self.sql.get() {
            let _ = sql.connection().close().await;
        }
        if let Ok(mut permit) = self.permit.lock() {
            permit.take();
        }
    }

    /// Signs in as `user`: the upstream settings with the client's credentials, checked by
    /// asking the server for its services with them.
    async fn sign_in(
        &self,
        user: &str,
        password: String,
        metadata: &std::collections::HashMap<String, String>,
        pid: i32,
    ) -> Result<SqlSession, SqlError> {
        let options = &self.shared.options;
        let conn = match &self.shared.entra {
            // The password is an Entra ID access token to this server: checked, then exchanged
            // on behalf of its user for an Epicor token.
            Some(entra) => {
                let caller = entra.verifier.verify(&password).await?;
                if !caller.is_named(user) {
                    return Err(SqlError::from(epicor_kinetic::Error::Unauthorized {
                        status: None,
                        message: format!(
                            "the access token is not {user:?}'s: sign in with the user name the token names"
                        ),
                        correlation_id: None,
                        error_type: None,
                    }));
                }
                entra.client.on_behalf_of(&Secret::new(password)).await?
            }
            None => {
                let mut settings = options.upstream.clone();
                settings.auth.user = Some(user.to_owned());
                settings.auth.password = Some(Secret::new(password));
                Connection::open(settings).await?
            }
        };
        let mut limits = SqlLimits::for_server(conn.settings());
        limits.read_only = !options.allow_writes;
        // An authenticated call, never answered from a cache: the sign-in is the server's to
        // accept (opening a connection, or a session whose catalog another session already
        // read, asks the server nothing).
        conn.services().await?;
        let session = SqlSession::with_limits(conn, limits).await?;
        let who = pg::Identity {
            user: user.to_owned(),
            database: metadata
                .get("database")
                .cloned()
                .unwrap_or_else(|| user.to_owned()),
            application: metadata
                .get("application_name")
                .cloned()
                .unwrap_or_default(),
            pid,
            read_only: !options.allow_writes,
            server_version: server_version(),
        };
        pg::install(session, who).await
    }
}

pub(crate) struct Handlers(pub(crate) Arc<Session>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.0.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.0.clone()
    }
}

#[async_trait]
impl CancelHandler for Session {
    async fn on_cancel_request(&self, request: CancelRequest) {
        // The key arrives as 4 bytes or a number, as the cancelling client's protocol reads it.
        let found = request
            .secret_key
            .as_i32()
            .is_some_and(|secret| self.shared.cancels.cancel((request.pid, secret)));
        tracing::info!(
            target: "kinetic::serve",
            "{}: cancel request for session {} ({})",
            self.peer,
            request.pid,
            if found { "sent" } else { "no such session" }
        );
    }
}

fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message.into(),
    )))
}

#[async_trait]
impl StartupHandler for Session {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                let permit = self
                    .shared
                    .sessions
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| {
                        fatal(
                            "53300",
                            format!(
                            "sorry, too many clients already (this server takes {} sessions at \
                             once: --max-sessions)",
                            self.shared.options.max_sessions
                        ),
                        )
                    })?;
                if let Ok(mut p) = self.permit.lock() {
                    *p = Some(permit);
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let password = message.into_password()?.password;
                let user = client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .unwrap_or_default();
                let metadata = client.metadata().clone();
                let pid = SESSIONS.fetch_add(1, Ordering::Relaxed);
                let session = match self.sign_in(&user, password, &metadata, pid).await {
                    Ok(session) => session,
                    Err(e) => return Err(self.refused(&user, &e).await),
                };
                if let Ok(mut failures) = self.shared.failures.lock() {
                    failures.remove(&user);
                }
                tracing::info!(target: "kinetic::serve", "{}: {user} signed in", self.peer);
                let _ = self.sql.set(session);
                let _ = self.user.set(user.clone());
                self.shared.metrics.sign_ins.fetch_add(1, Ordering::Relaxed);
                // The key a cancel request names this session by (sent in BackendKeyData).
                let secret: i32 = rand::random();
                client.set_pid_and_secret_key(pid, SecretKey::I32(secret));
                self.shared
                    .cancels
                    .register((pid, secret), self.cancel.clone());
                if let Ok(mut key) = self.key.lock() {
                    *key = Some((pid, secret));
                }
                let mut parameters = DefaultServerParameterProvider::default();
                parameters.server_version = server_version();
                parameters.default_transaction_read_only = !self.shared.options.allow_writes;
                finish_authentication(client, &parameters).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Session {
    /// The error for a sign-in that failed, after the pause its user's failures call for.
    async fn refused(&self, user: &str, e: &SqlError) -> PgWireError {
        if !sqlstate::is_refused_sign_in(e) {
            // Not the password: the server could not be asked. Say why (it names no secret).
            return fatal(
                "08006",
                format!("cannot sign in to Epicor as {user:?}: {e}"),
            );
        }
        self.shared
            .metrics
            .sign_ins_refused
            .fetch_add(1, Ordering::Relaxed);
        let failures = match self.shared.failures.lock() {
            Ok(mut failures) => {
                let n = failures.entry(user.to_owned()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        tracing::warn!(target: "kinetic::serve", "{}: sign-in refused for {user:?}", self.peer);
        tokio::time::sleep((PAUSE * failures).min(MAX_PAUSE)).await;
        // PostgreSQL's own words, so that clients and people recognise it; why, in the detail
        // (an expired token, another audience: what the user can act on; never the secret).
        let mut info = ErrorInfo::new(
            "FATAL".into(),
            "28P01".into(),
            format!("password authentication failed for user \"{user}\""),
        );
        info.detail = Some(e.to_string());
        PgWireError::UserError(Box::new(info))
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(local) = session_statement(query) {
            return Ok(vec![local]);
        }
        Ok(vec![self.run(query, &[], |_| FieldFormat::Text).await?])
    }
}

/// The response to a statement the SQL layer ran: a count for a write (`UPDATE 3`), else its
/// rows streamed batch by batch, each column in the format `format` gives it.
fn answer(
    result: QueryResult,
    query: &str,
    format: impl Fn(usize) -> FieldFormat,
    cancel: watch::Receiver<u64>,
    mut log: StatementLog,
) -> Response {
    if let Some(n) = result.rows_affected() {
        log.rows(n);
        let verb = first_word(query).to_ascii_uppercase();
        let tag = match verb.as_str() {
            "INSERT" => Tag::new("INSERT 0"),
            _ => Tag::new(&verb),
        };
        return Response::Execution(tag.with_rows(usize::try_from(n).unwrap_or(usize::MAX)));
    }
    let fields = Arc::new(encode::fields_as(result.schema(), format));
    let row_fields = fields.clone();
    let rows = result
        .stream()
        .map_err(|e| sqlstate::error(SqlError::from(e)))
        .and_then(move |batch| {
            let rows = encode::rows(&batch, &row_fields);
            futures_util::future::ready(rows.map(|r| stream::iter(r.into_iter().map(Ok))))
        })
        .try_flatten();
    let rows = Watched::new(Box::pin(rows), cancel, log);
    Response::Query(QueryResponse::new(fields, rows))
}

/// The version this server reports (PostgreSQL's protocol and catalog as of 16).
fn server_version() -> String {
    format!("16.0 (kinetic {})", env!("CARGO_PKG_VERSION"))
}
