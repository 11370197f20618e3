//! The listening socket: sessions accepted, each on its own task, bounded by `--max-sessions`.

use crate::session::{Handlers, Session};
use epicor_kinetic::settings::Settings;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// What the server is told by its operator.
#[derive(Debug, Clone)]
pub struct Options {
    /// The upstream Epicor connection: everything but a user's credentials, which each
    /// session's client gives (its `User` and `Password` are replaced by the client's).
    pub upstream: Settings,
    /// Whether writes and procedure calls may run (read-only otherwise).
    pub allow_writes: bool,
    /// The most sessions at once; one more is refused with SQLSTATE 53300.
    pub max_sessions: usize,
}

/// A PostgreSQL server bound to its address, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) sessions: Arc<Semaphore>,
    /// Refused sign-ins in a row, by user name (reset by a good one).
    pub(crate) failures: Mutex<HashMap<String, u32>>,
}

impl Server {
    /// Binds `addr` (`127.0.0.1:0` picks a port). Only loopback addresses: passwords arrive in
    /// clear until the server speaks TLS.
    pub async fn bind(addr: &str, options: Options) -> Result<Server, String> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        if !local.ip().is_loopback() {
            return Err(format!(
                "--listen {addr} is not a loopback address: clients' passwords would cross the \
                 network in clear (TLS is not built yet); listen on 127.0.0.1 or ::1"
            ));
        }
        let sessions = Arc::new(Semaphore::new(options.max_sessions.max(1)));
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                options,
                sessions,
                failures: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves clients until the process ends: each connection on its own task.
    pub async fn run(self) {
        loop {
            let (socket, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(target: "kinetic::serve", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let conn = Arc::new(Session::new(self.shared.clone(), peer));
            tokio::spawn(async move {
                let handlers = Handlers(conn.clone());
                if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                    tracing::debug!(target: "kinetic::serve", "{peer}: {e}");
                }
                conn.close().await;
            });
        }
    }
}
