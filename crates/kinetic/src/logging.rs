//! What the connector writes about its work, through [`tracing`].
//!
//! Events, by target:
//! - `epicor_kinetic::http`: one line per call at `info` (method, address, status, time, attempts),
//!   each retry at `warn` (why, and the wait), each attempt at `debug` with the header names sent,
//!   request and answer bodies at `trace` (never those of calls that carry or return
//!   credentials: the token service, session login, the identity provider);
//! - `epicor_kinetic::auth`: tokens obtained, refreshed, read from and written to the store (with
//!   their expiry, never their value), discovery, sign-ins started, at `info`/`debug`;
//! - `epicor_kinetic::paging`: each page (number, rows, how the next one is found) at `debug`.
//!
//! An application with its own `tracing` subscriber sees them all. Without one, the
//! `Logfile` and `Verbosity` properties (CData's) install one writing to the file:
//!
//! | Verbosity | what is written |
//! |---|---|
//! | 1 | errors, and one line per call (the default) |
//! | 2 | + authentication, paging, each attempt and the header names sent |
//! | 3 | + request and answer bodies |
//! | 4 | + the HTTP transport (connections, TLS, pooling) |
//! | 5 | everything the connector and its transport log |
//!
//! `RUST_LOG` (an `EnvFilter` directive such as `epicor_kinetic=debug`) overrides the level when
//! set. Secrets never appear at any level: addresses are written without secret query values,
//! header values are never written, bodies are scrubbed of the call's credentials, and tokens
//! are written as their expiry only.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::EnvFilter;

/// The `tracing` directives for a `Verbosity`.
pub fn directives(verbosity: u8) -> &'static str {
    match verbosity {
        0 | 1 => "epicor_kinetic=info",
        2 => "epicor_kinetic=debug",
        3 => "epicor_kinetic=trace",
        4 => "epicor_kinetic=trace,reqwest=debug,hyper_util=debug,rustls=debug",
        _ => "debug,epicor_kinetic=trace",
    }
}

fn filter(verbosity: u8) -> EnvFilter {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(directives(verbosity)))
        }
        _ => EnvFilter::new(directives(verbosity)),
    }
}

/// Installs the process's subscriber writing to `writer` at `verbosity`, unless one is installed.
fn install<W>(writer: W, verbosity: u8) -> bool
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter(verbosity))
        .with_writer(writer)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

/// The log file installed in this process, if any.
static INSTALLED: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Appends the log to `path` (created 0600 when new) at `verbosity`, unless a subscriber is
/// already installed in the process (the application's, or an earlier `Logfile`'s): `Ok(false)`
/// then, and the events go there.
pub fn install_file(path: &Path, verbosity: u8) -> Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|e| Error::ConfigFile {
        path: path.to_owned(),
        message: format!("cannot open the log file (Logfile): {e}"),
        source: Some(std::sync::Arc::new(e)),
    })?;
    let installed = install(Mutex::new(file), verbosity);
    if installed {
        let _ = INSTALLED.set(Some(path.to_owned()));
    } else if INSTALLED
        .get()
        .and_then(Option::as_ref)
        .map(PathBuf::as_path)
        != Some(path)
    {
        tracing::warn!(
            target: "epicor_kinetic::auth",
            logfile = %path.display(),
            "Logfile ignored: this process already logs elsewhere (one log per process)"
        );
    }
    Ok(installed)
}

/// Writes the log to standard error at `verbosity` (the command line's `-v`), unless a
/// subscriber is already installed. Returns whether it was installed.
pub fn install_stderr(verbosity: u8) -> bool {
    let installed = install(std::io::stderr, verbosity);
    if installed {
        let _ = INSTALLED.set(None);
    }
    installed
}

/// Query parameters whose values are never written: credentials some servers take in the
/// address, and OAuth's codes and tokens.
const SECRET_QUERY: [&str; 10] = [
    "api-key",
    "apikey",
    "x-api-key",
    "access_token",
    "id_token",
    "refresh_token",
    "code",
    "client_secret",
    "password",
    "token",
];

/// `url` as it may be written to a log: secret query values replaced by `[redacted]`, no user
/// information.
pub(crate) fn loggable_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let secret = |k: &str| SECRET_QUERY.iter().any(|s| k.eq_ignore_ascii_case(s));
    if url.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    crate::secret::REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_their_secrets() {
        let u = url::Url::parse(
            "https://u:p@h.example/api/v1/Erp.BO.CustomerSvc/Customers?$filter=Name%20eq%20'x'&api-key=k3y&code=c0de",
        )
        .unwrap();
        let shown = loggable_url(&u);
        assert!(!shown.contains("k3y") && !shown.contains("c0de"), "{shown}");
        assert!(!shown.contains("u:p@"), "{shown}");
        assert!(shown.contains("api-key=%5Bredacted%5D"), "{shown}");
        assert!(shown.contains("Name+eq+%27x%27"), "{shown}");
    }

    #[test]
    fn verbosity_grows() {
        assert_eq!(directives(1), "epicor_kinetic=info");
        assert!(directives(3).contains("trace"));
        assert!(directives(4).contains("rustls"));
    }
}
