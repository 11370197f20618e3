//! What happens around each statement a session runs: one log line when it is done (who,
//! what kind of statement, rows, Epicor requests, time, outcome: never the statement's text,
//! which may hold a value a user would not want in a log), and PostgreSQL's cancel request
//! (`pg_cancel_backend`, psql's Ctrl-C, JDBC's `Statement.cancel`), which stops the statement
//! wherever it is, its Epicor reads included: its rows stop and the client gets SQLSTATE 57014,
//! as PostgreSQL's "canceling statement due to user request".
//!
//! A cancel names a session by the key it was given at sign-in (`BackendKeyData`: a number
//! and a random secret); a key that names no session is ignored, as PostgreSQL ignores it.

use crate::metrics::Metrics;
use epicor_kinetic_sql::Transfer;
use futures_util::Stream;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::watch;

/// The sessions a cancel request can reach, by their key.
#[derive(Default)]
pub(crate) struct Cancels(Mutex<HashMap<(i32, i32), watch::Sender<u64>>>);

impl Cancels {
    /// Makes `key` cancel what `sender` watches.
    pub(crate) fn register(&self, key: (i32, i32), sender: watch::Sender<u64>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, sender);
    }

    pub(crate) fn remove(&self, key: (i32, i32)) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// Cancels the statement running in the session of `key`, if there is one.
    pub(crate) fn cancel(&self, key: (i32, i32)) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(sender) => {
                sender.send_modify(|generation| *generation = generation.wrapping_add(1));
                true
            }
            None => false,
        }
    }
}

/// The error of a cancelled statement, in PostgreSQL's words.
pub(crate) fn cancelled() -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "57014".into(),
        "canceling statement due to user request".into(),
    )))
}

/// Resolves when a cancel request comes for the statement that subscribed `rx` (never, once
/// its session is gone).
pub(crate) async fn cancel_requested(mut rx: watch::Receiver<u64>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One statement's record, written as one log line when it is dropped: when its answer has
/// been sent, or it failed, or its client went away.
pub(crate) struct StatementLog {
    metrics: Arc<Metrics>,
    peer: SocketAddr,
    user: String,
    verb: String,
    started: Instant,
    transfer: Transfer,
    requests_before: u64,
    rows: u64,
    outcome: Option<String>,
}

impl StatementLog {
    pub(crate) fn start(
        metrics: Arc<Metrics>,
        peer: SocketAddr,
        user: &str,
        verb: &str,
        transfer: &Transfer,
    ) -> Self {
        StatementLog {
            metrics,
            peer,
            user: user.to_owned(),
            verb: verb.to_ascii_uppercase(),
            started: Instant::now(),
            transfer: transfer.clone(),
            requests_before: transfer.requests(),
            rows: 0,
            outcome: None,
        }
    }

    /// Records the statement's failure (its SQLSTATE).
    pub(crate) fn failed(&mut self, e: &PgWireError) {
        let code = match e {
            PgWireError::UserError(info) => info.code.clone(),
            _ => "XX000".into(),
        };
        self.outcome.get_or_insert(code);
    }

    /// Records rows written (a write's count).
    pub(crate) fn rows(&mut self, n: u64) {
        self.rows = self.rows.saturating_add(n);
    }
}

impl Drop for StatementLog {
    fn drop(&mut self) {
        let requests = self
            .transfer
            .requests()
            .saturating_sub(self.requests_before);
        self.metrics
            .statement(self.outcome.as_deref().unwrap_or("ok"), self.rows, requests);
        tracing::info!(
            target: "kinetic::serve::statement",
            peer = %self.peer,
            user = %self.user,
            statement = %self.verb,
            rows = self.rows,
            epicor_requests = requests,
            ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome = %self.outcome.as_deref().unwrap_or("ok"),
            "statement"
        );
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// A statement's rows, counted for its log line and stopped by a cancel request.
pub(crate) struct Watched<T> {
    rows: BoxStream<PgWireResult<T>>,
    cancel: Pin<Box<dyn Future<Output = ()> + Send>>,
    log: StatementLog,
    done: bool,
}

impl<T> Watched<T> {
    pub(crate) fn new(
        rows: BoxStream<PgWireResult<T>>,
        cancel: watch::Receiver<u64>,
        log: StatementLog,
    ) -> Self {
        Watched {
            rows,
            cancel: Box::pin(cancel_requested(cancel)),
            log,
            done: false,
        }
    }
}

impl<T: Send + 'static> Stream for Watched<T> {
    type Item = PgWireResult<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.cancel.as_mut().poll(cx).is_ready() {
            this.done = true;
            let e = cancelled();
            this.log.failed(&e);
            // The rows' stream is dropped here: its Epicor reads stop.
            this.rows = Box::pin(futures_util::stream::empty());
            return Poll::Ready(Some(Err(e)));
        }
        match this.rows.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(row))) => {
                this.log.rows += 1;
                Poll::Ready(Some(Ok(row)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                this.log.failed(&e);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
