//! What a PostgreSQL client expects of a PostgreSQL server besides the data: its catalog
//! (`pg_catalog`, `information_schema`), its functions (`version()`, `current_schema()`,
//! `format_type`, ...), its settings (`SHOW`, `current_setting`) and its spellings
//! (`OPERATOR(pg_catalog.~)`, `::regclass`), enough for psql's `\dt`, `\d TABLE` and `\dn`,
//! drivers' metadata calls and BI tools' start-up queries. Installed in each session's SQL
//! context when it signs in.

mod ast;
mod catalog;
mod functions;
mod queries;
mod rewrite;

use epicor_kinetic_sql::{SqlError, SqlSession};
use std::sync::Arc;

/// The schema `current_schema()` names: the SQL layer's default schema, where unqualified
/// names resolve (every table is visible without a schema).
pub const SCHEMA: &str = epicor_kinetic_sql::catalog::DEFAULT_SCHEMA;

/// Who a session is, as its settings and functions answer.
#[derive(Debug)]
pub struct Identity {
    /// The client's user name (its Epicor user).
    pub user: String,
    /// The database name the client asked for (any is accepted).
    pub database: String,
    /// The client's `application_name`.
    pub application: String,
    /// The session's number (`pg_backend_pid()`).
    pub pid: i32,
    /// Whether the session is read-only.
    pub read_only: bool,
    /// The server version reported at sign-in.
    pub server_version: String,
}

impl Identity {
    /// The value of the setting `name` (any case), as `SHOW` and `current_setting` answer.
    pub fn setting(&self, name: &str) -> Option<String> {
        let on = |b: bool| if b { "on" } else { "off" }.to_owned();
        Some(match name.to_ascii_lowercase().as_str() {
            "server_version" => self.server_version.clone(),
            "server_version_num" => "160000".into(),
            "server_encoding" | "client_encoding" => "UTF8".into(),
            "datestyle" => "ISO, MDY".into(),
            "timezone" | "log_timezone" => "UTC".into(),
            "intervalstyle" => "postgres".into(),
            "integer_datetimes" | "standard_conforming_strings" => "on".into(),
            "search_path" => format!("pg_catalog, \"{SCHEMA}\""),
            "transaction_isolation" | "default_transaction_isolation" => "read committed".into(),
            "transaction_read_only" | "default_transaction_read_only" => on(self.read_only),
            "max_identifier_length" => "63".into(),
            "max_index_keys" => "32".into(),
            "application_name" => self.application.clone(),
            "is_superuser" => "off".into(),
            "session_authorization" => self.user.clone(),
            "lc_collate" | "lc_ctype" | "lc_messages" | "lc_monetary" | "lc_numeric"
            | "lc_time" => "C".into(),
            "extra_float_digits" => "1".into(),
            "bytea_output" => "hex".into(),
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
                "0".into()
            }
            _ => return None,
        })
    }
}

/// `session` made ready for PostgreSQL clients: the functions, the catalog and the rewrite.
pub async fn install(session: SqlSession, who: Identity) -> Result<SqlSession, SqlError> {
    let who = Arc::new(who);
    functions::install(session.context(), &who);
    catalog::install(session.context())
        .await
        .map_err(SqlError::from)?;
    Ok(session.with_rewrite(Arc::new(rewrite::rewrite)))
}
