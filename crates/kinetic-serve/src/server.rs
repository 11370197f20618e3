//! The listening socket: TLS set up once, sessions accepted, each on its own task, bounded by
//! `--max-sessions`. Clients send their Epicor password in clear inside the PostgreSQL protocol
//! (cleartext password authentication), so the channel must protect it: without TLS the server
//! listens on loopback addresses only; with TLS it may listen anywhere, and a client of another
//! machine that did not ask for TLS is refused before it is asked for its password.

use crate::options::{Auth, Entra, Options, Shared};
use crate::session::{Handlers, Session};
use async_trait::async_trait;
use epicor_kinetic::auth::inbound::InboundVerifier;
use epicor_kinetic::Client;
use epicor_kinetic_tls::server_tls;
use futures_util::Sink;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use std::fmt::Debug;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The generated CA's name, as a user finds it in a trust store.
const CA_COMMON_NAME: &str = "kinetic serve local CA";

/// The protocol announced in TLS's ALPN: PostgreSQL's own name, which libpq 17 requires of a
/// server it talks TLS to directly (`sslnegotiation=direct`).
const POSTGRESQL_ALPN: &[u8] = b"postgresql";

/// A PostgreSQL server bound to its address, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    /// `--metrics`: the listener of `GET /metrics`.
    metrics: Option<TcpListener>,
    shared: Arc<Shared>,
    /// The TLS acceptor (the configuration built once) and the certificate to trust.
    tls: Option<(TlsAcceptor, PathBuf)>,
}

impl Server {
    /// Binds `addr` (`127.0.0.1:0` picks a port). With TLS ([`Options::tls`]) any address
    /// (`0.0.0.0:5432`); without it, loopback addresses only: passwords would cross the network
    /// in clear. A certificate or key that cannot be used is an error naming the file, before
    /// anything listens.
    pub async fn bind(addr: &str, options: Options) -> Result<Server, String> {
        let entra = match options.auth {
            Auth::Basic => None,
            Auth::AzureAd => {
                let client = Client::new(&options.upstream).map_err(|e| e.to_string())?;
                let verifier = InboundVerifier::new(&client)
                    .await
                    .map_err(|e| format!("--auth azuread: {e}"))?;
                Some(Entra { client, verifier })
            }
        };
        let tls = match &options.tls {
            Some(source) => {
                let tls = server_tls(source, &[POSTGRESQL_ALPN], CA_COMMON_NAME)
                    .map_err(|e| e.to_string())?;
                Some((TlsAcceptor::from(tls.config), tls.trust_path))
            }
            None => None,
        };
        // Resolved and checked before binding: a refused address never listens, not even for
        // an instant.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("cannot listen on {addr}: it names no address"));
        }
        if tls.is_none() {
            if let Some(outside) = addrs.iter().find(|a| !is_loopback(a.ip())) {
                let resolved = if outside.to_string() == addr {
                    String::new()
                } else {
                    format!(" ({})", outside.ip())
                };
                return Err(format!(
                    "--listen {addr}{resolved} is not a loopback address and TLS is off: \
                     clients' passwords would cross the network in clear; listen on 127.0.0.1 \
                     or ::1, or serve TLS (--tls, or --tls-cert and --tls-key)"
                ));
            }
        }
        let listener = TcpListener::bind(&addrs[..])
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(Server {
            listener,
            metrics: None,
            shared: Arc::new(Shared::new(options, entra)),
            tls,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves Prometheus metrics on `addr` (`GET /metrics`) while the server runs. They name no
    /// user and no statement; keep the address on a network the monitoring reaches.
    pub async fn with_metrics(mut self, addr: &str) -> Result<Server, String> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
        self.metrics = Some(listener);
        Ok(self)
    }

    /// Where the metrics are served (`--metrics`), if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The certificate clients should trust (libpq's `sslrootcert`): the generated CA's file,
    /// or the operator's certificate file; `None` without TLS.
    pub fn tls_cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|(_, path)| path.as_path())
    }

    /// Serves clients until the process ends: each connection on its own task.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// Serves clients until `shutdown` resolves, then shuts down as PostgreSQL's fast shutdown
    /// does: no new connection is accepted, every session ends (a statement running is
    /// stopped, its client's connection closed) and gives its Epicor session back (with
    /// `UseSession`, a sign-out). Returns when every session has ended, or after
    /// [`SHUTDOWN_WAIT`] at most.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        let acceptor = self.tls.map(|(acceptor, _)| acceptor);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let metrics_task = self.metrics.map(|listener| {
            let shared = self.shared.clone();
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let shared = shared.clone();
                    async move {
                        (
                            [("content-type", "text/plain; version=0.0.4")],
                            shared.metrics.render(shared.token_stats().await),
                        )
                    }
                }),
            );
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::warn!(target: "kinetic::serve", "metrics: {e}");
                }
            })
        });
        let mut tasks = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => break,
                // Reap the ended sessions' tasks as they end.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(target: "kinetic::serve", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let conn = Arc::new(Session::new(self.shared.clone(), peer));
            let acceptor = acceptor.clone();
            let mut stopping = stopping.clone();
            tasks.spawn(async move {
                let handlers = PlainRefused(Handlers(conn.clone()));
                tokio::select! {
                    served = pgwire::tokio::process_socket(socket, acceptor, handlers) => {
                        if let Err(e) = served {
                            tracing::debug!(target: "kinetic::serve", "{peer}: {e}");
                        }
                    }
                    _ = stopping.wait_for(|stop| *stop) => {
                        tracing::info!(target: "kinetic::serve", "{peer}: session ended: the server is shutting down");
                    }
                }
                conn.close().await;
            });
        }
        drop(self.listener);
        if let Some(task) = metrics_task {
            task.abort();
        }
        let _ = stop.send(true);
        let open = tasks.len();
        if open > 0 {
            tracing::info!(target: "kinetic::serve", "shutting down: ending {open} session(s)");
        }
        let drained = tokio::time::timeout(SHUTDOWN_WAIT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(target: "kinetic::serve", "shutting down: {} session(s) did not end within {SHUTDOWN_WAIT:?}", tasks.len());
        }
    }
}

/// How long a shutdown waits for the sessions to end (each signs out of Epicor).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Whether `ip` is this machine's loopback, IPv4-mapped IPv6 included (`::ffff:127.0.0.1`, as a
/// dual-stack `[::]` listener sees IPv4 clients).
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Why a client at `peer` must not go on to sign in, if it must not: a client of another
/// machine on a connection without TLS (`secure` false), which would send its password in
/// clear. Loopback clients may connect without TLS (nothing crosses a network).
pub(crate) fn refuse_plain(peer: SocketAddr, secure: bool) -> Option<String> {
    if secure || is_loopback(peer.ip()) {
        return None;
    }
    Some(format!(
        "the connection from {} is not encrypted: this server takes clients of other machines \
         over TLS only, so that their passwords never cross the network in clear; connect with \
         sslmode=verify-full and sslrootcert naming the certificate the server's operator gives",
        peer.ip()
    ))
}

/// A session's handlers, whose sign-in first asks [`refuse_plain`]: a client refused there
/// ends with SQLSTATE 28000 before the server asks for its password (PostgreSQL's
/// `hostssl`-only `pg_hba.conf` does the same). Every other handler is the session's own.
struct PlainRefused<H>(H);

impl<H: PgWireServerHandlers> PgWireServerHandlers for PlainRefused<H> {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.simple_query_handler()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.extended_query_handler()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(PlainRefusedStartup(self.0.startup_handler()))
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        self.0.copy_handler()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        self.0.error_handler()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.0.cancel_handler()
    }
}

/// The sign-in of [`PlainRefused`].
struct PlainRefusedStartup<S>(Arc<S>);

#[async_trait]
impl<S: StartupHandler> StartupHandler for PlainRefusedStartup<S> {
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
        // Every message of the sign-in, not only the first: nothing of it is answered.
        if let Some(reason) = refuse_plain(client.socket_addr(), client.is_secure()) {
            tracing::warn!(
                target: "kinetic::serve",
                "{}: refused, no TLS from another machine",
                client.socket_addr()
            );
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                reason,
            ))));
        }
        self.0.on_startup(client, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::api::DefaultClient;
    use pgwire::messages::startup::Startup;
    use pgwire::tokio::server::PgWireMessageServerCodec;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio_util::codec::Framed;

    #[test]
    fn clients_of_other_machines_need_tls() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for local in [
            "127.0.0.1:50000",
            "127.8.9.10:1",
            "[::1]:50000",
            "[::ffff:127.0.0.1]:5",
        ] {
            assert_eq!(refuse_plain(addr(local), false), None, "{local}");
            assert_eq!(refuse_plain(addr(local), true), None, "{local}");
        }
        for outside in [
            "192.0.2.7:50000",
            "[2001:db8::7]:50000",
            "[::ffff:192.0.2.7]:5",
        ] {
            let reason = refuse_plain(addr(outside), false).unwrap_or_else(|| panic!("{outside}"));
            assert!(reason.contains("not encrypted"), "{reason}");
            assert!(reason.contains("sslmode=verify-full"), "{reason}");
            assert_eq!(refuse_plain(addr(outside), true), None, "{outside}");
        }
    }

    /// A sign-in that records whether it was reached.
    struct Reached(AtomicBool);

    #[async_trait]
    impl StartupHandler for Reached {
        async fn on_startup<C>(&self, _: &mut C, _: PgWireFrontendMessage) -> PgWireResult<()>
        where
            C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
            C::Error: Debug,
            PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
        {
            self.0.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    /// The guard's answer to a startup from `peer`, and whether the session's sign-in ran.
    async fn startup_from(peer: &str, secure: bool) -> (PgWireResult<()>, bool) {
        let (ours, _theirs) = tokio::io::duplex(4096);
        let client = DefaultClient::new(peer.parse().unwrap(), secure);
        let mut framed = Framed::new(ours, PgWireMessageServerCodec::<()>::new(client));
        let guard = PlainRefusedStartup(Arc::new(Reached(AtomicBool::new(false))));
        let result = guard
            .on_startup(&mut framed, PgWireFrontendMessage::Startup(Startup::new()))
            .await;
        (result, guard.0 .0.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn the_guard_stops_a_plain_sign_in_from_another_machine() {
        let (result, reached) = startup_from("192.0.2.7:50000", false).await;
        assert!(!reached, "the password must not be asked for");
        match result {
            Err(PgWireError::UserError(info)) => {
                assert_eq!(info.severity, "FATAL");
                assert_eq!(info.code, "28000");
                assert!(info.message.contains("192.0.2.7"), "{}", info.message);
            }
            other => panic!("not refused: {other:?}"),
        }
        for (peer, secure) in [("192.0.2.7:50000", true), ("127.0.0.1:50000", false)] {
            let (result, reached) = startup_from(peer, secure).await;
            assert!(
                result.is_ok() && reached,
                "{peer} secure={secure}: {result:?}"
            );
        }
    }
}
