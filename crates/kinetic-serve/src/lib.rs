//! Epicor Kinetic as a PostgreSQL server (`kinetic serve`): BI tools and PostgreSQL clients
//! (psql, pgJDBC, psqlODBC, psycopg, Npgsql) connect with a user name and password, and each
//! session signs in to Epicor as that user, so Epicor's own security decides what each one sees.
//!
//! - **Who is asking.** A client's user and password become its session's Epicor `User` and
//!   `Password` on the operator's upstream settings (URL, instance, company, API key: never a
//!   user's credentials); the sign-in is checked against the server before the session is
//!   ready, and a refused one is SQLSTATE 28P01 `password authentication failed for user
//!   "..."`, answered after a pause that grows with each failure for that user (guessing is
//!   throttled). The password travels in PostgreSQL's cleartext password message: without
//!   TLS the server listens on loopback addresses only; with TLS ([`Options::tls`]) anywhere,
//!   and a client of another machine without TLS is refused (SQLSTATE 28000) before it is
//!   asked for its password. Each session holds its
//!   own [`SqlSession`] and connection; nothing is shared between sessions; a closed session's
//!   Epicor session (with `UseSession`) is logged out.
//! - **What runs.** One statement per query (`;` at the end is fine), through the SQL layer with
//!   a server's bounds ([`SqlLimits::for_server`]): read-only unless the operator allows writes
//!   (a write or `EXEC` is SQLSTATE 25006, decided on the parsed statement), memory and time
//!   bounded. Session statements clients send on their own (`SET`, `RESET`, `BEGIN`,
//!   `COMMIT`, `ROLLBACK`, `DISCARD`) are answered here: there are no transactions (each
//!   statement stands alone, as Epicor's REST calls do); `SHOW` reads the session's settings.
//! - **What clients expect of PostgreSQL** (`pg`): `pg_catalog` and `information_schema`
//!   over the SQL layer's system tables, PostgreSQL's functions and settings, its spellings
//!   rewritten on the parsed statement (psql's `\dt`, `\d TABLE` and `\dn` work).
//! - **The protocol.** PostgreSQL protocol 3 through the `pgwire` crate: the simple query
//!   protocol, and the extended one (`extended`: prepared statements, typed parameters, text
//!   and binary values, portals read in pieces, results streamed).

mod encode;
mod extended;
mod local;
mod metrics;
mod options;
mod pg;
mod prepare;
mod server;
mod session;
mod sqlstate;
mod statement;
mod values;

pub use epicor_kinetic_tls::CertificateSource;
pub use options::{Auth, Options};
pub use server::{Server, SHUTDOWN_WAIT};
