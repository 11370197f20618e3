//! `kinetic serve`: Epicor as a PostgreSQL server for BI tools and PostgreSQL clients, each
//! session signed in as its client's own Epicor user (see `epicor_kinetic_serve`).

use crate::common::{usage, ConnectionArgs, Failure};
use clap::Args;
use epicor_kinetic::settings::{AuthScheme, Origin, Settings};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on, host:port (port 0 picks a free one). Without TLS, loopback
    /// addresses only (127.0.0.1, ::1): clients send their Epicor passwords in clear inside
    /// the PostgreSQL protocol. With TLS (--tls, --tls-cert) any address, 0.0.0.0:5432 for
    /// every interface; then a client of another machine that does not use TLS is refused
    /// before it sends its password (sslmode=verify-full is what clients should ask for).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5432")]
    pub listen: String,
    /// Serve TLS with a local CA made at start, which signs a certificate for localhost,
    /// 127.0.0.1 and ::1. Its certificate is written to --tls-cert-out (or a temporary file
    /// removed when the server stops), named in the start-up line as tls_cert for clients'
    /// sslrootcert. For trying TLS on this machine: a new CA is made at each start, and other
    /// machines reach the server by a name that certificate lacks; for them, use --tls-cert
    /// and --tls-key.
    #[arg(long)]
    pub tls: bool,
    /// Serve TLS with your own certificate: a PEM chain (the server's certificate first, then
    /// its intermediates) for the name clients connect to, issued by a CA they trust (your
    /// organisation's, or a public one). Give its key with --tls-key. Use this when clients
    /// connect from other machines.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Where --tls writes the generated CA's certificate (readable by every user: clients
    /// trust it), its folder made if need be. Implies --tls. Keep it where clients' sslrootcert
    /// points; it is replaced at each start.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_out: Option<PathBuf>,
    /// Let clients write (INSERT, UPDATE, DELETE) and call methods and functions (EXEC).
    /// Without it every session is read-only: a write is refused with SQLSTATE 25006 before
    /// anything reaches Epicor.
    #[arg(long)]
    pub allow_writes: bool,
    /// The most sessions at once (each holds its own Epicor connection); one more is refused
    /// with SQLSTATE 53300.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_sessions: usize,
    /// What clients give as their password. basic: their Epicor password (the upstream
    /// connection names the server only). azuread: a Microsoft Entra ID access token for this
    /// server's app registration, as Azure Database for PostgreSQL takes them (psql's
    /// PGPASSWORD=$(kinetic token ...)); the upstream connection is that app registration
    /// (AuthScheme=AzureAD, AzureTenant, OAuthClientId, OAuthClientSecret or OAuthJWTCert) and
    /// the Epicor API's Scope: each token is checked (signature, issuer, audience, lifetime,
    /// tenant) and exchanged on behalf of its user for an Epicor token, cached per user
    /// (shared through Redis with OAuthSettingsLocation=redis://...). The user name must be the
    /// token's user.
    #[arg(long, value_enum, default_value = "basic")]
    pub auth: ServeAuth,
    /// Serve Prometheus metrics on this address (host:port; port 0 picks one), at GET /metrics:
    /// sessions, sign-ins and refusals, statements by outcome (SQLSTATE), rows, Epicor requests,
    /// and with --auth azuread the token exchanges. They name no user and no statement.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// What the upstream settings carry in place of a user until a client signs in.
const NO_USER: &str = "kinetic-serve (each client signs in as itself)";

/// What clients give as their password (see `ServeArgs::auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServeAuth {
    Basic,
    Azuread,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => crate::common::report(&f),
    }
}

async fn run(args: ServeArgs) -> Result<(), Failure> {
    if args.max_sessions == 0 {
        return Err(usage(
            "--max-sessions 0 would refuse every client",
            "give at least 1",
        ));
    }
    let upstream = match args.auth {
        ServeAuth::Basic => basic_upstream(&args)?,
        ServeAuth::Azuread => entra_upstream(&args)?,
    };
    let tls = tls_choice(&args)?;
    let options = epicor_kinetic_serve::Options {
        upstream,
        allow_writes: args.allow_writes,
        max_sessions: args.max_sessions,
        tls: None,
        auth: match args.auth {
            ServeAuth::Basic => epicor_kinetic_serve::Auth::Basic,
            ServeAuth::Azuread => epicor_kinetic_serve::Auth::AzureAd,
        },
    };
    // `_scratch` holds a generated CA's temporary folder (no --tls-cert-out) while the server
    // runs; it is removed when the server stops.
    let (options, _scratch) = match tls {
        TlsChoice::Off => (options, None),
        TlsChoice::Files { cert, key } => (options.with_tls_files(cert, key), None),
        TlsChoice::LocalCa { out: Some(out) } => (options.with_local_ca(out), None),
        TlsChoice::LocalCa { out: None } => {
            let dir = scratch_folder()?;
            let out = dir.path().join("kinetic-serve-ca.pem");
            (options.with_local_ca(out), Some(dir))
        }
    };
    let server = epicor_kinetic_serve::Server::bind(&args.listen, options)
        .await
        .map_err(|e| {
            let hint = if e.starts_with("cannot listen on") {
                "--listen 127.0.0.1:0 picks a free port; the first line printed names it"
            } else {
                "kinetic serve --help says when to use --listen, --tls and --tls-cert"
            };
            usage(e, hint)
        })?;
    let server = match &args.metrics {
        Some(addr) => server.with_metrics(addr).await.map_err(|e| {
            usage(
                e,
                "--metrics 127.0.0.1:0 picks a free port; the first line names it",
            )
        })?,
        None => server,
    };
    let listen = server.local_addr();
    let tls_cert = server.tls_cert().map(Path::to_path_buf);
    let line = serde_json::json!({
        "listen": listen.to_string(),
        "tls_cert": tls_cert.as_ref().map(|p| p.to_string_lossy().into_owned()),
        "auth": match args.auth {
            ServeAuth::Basic => "basic",
            ServeAuth::Azuread => "azuread",
        },
        "database": "kinetic",
        "read_only": !args.allow_writes,
        "metrics": server.metrics_addr().map(|a| format!("http://{a}/metrics")),
        "psql": psql_hint(listen, tls_cert.as_deref(), args.tls_cert.is_some()),
    });
    {
        // The start-up line, flushed at once: whoever started the server reads it to connect.
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| {
                usage(
                    format!("cannot write the start-up line: {e}"),
                    "keep stdout open",
                )
            })?;
    }
    eprintln!(
        "kinetic serve: PostgreSQL protocol on {listen} ({}, {}); clients sign in with their \
         Epicor user and password; Ctrl-C stops",
        match &tls_cert {
            Some(cert) => format!("TLS, clients trust {}", cert.display()),
            None => "no TLS, this machine only".to_owned(),
        },
        if args.allow_writes {
            "writes allowed"
        } else {
            "read-only"
        }
    );
    // Ctrl-C or SIGTERM: no new client; every session ends and gives its Epicor session back.
    server.run_until(stopped()).await;
    Ok(())
}

/// The upstream settings of `--auth basic`: the operator's connection names the server (URL,
/// instance, company, API key); each session's user and password are its client's.
fn basic_upstream(args: &ServeArgs) -> Result<Settings, Failure> {
    let upstream = args.connection.settings_implying(
        &[("User", NO_USER), ("Password", NO_USER)],
        "kinetic serve: each client signs in as its own Epicor user",
    )?;
    for property in ["User", "Password"] {
        if !matches!(upstream.origin(property), Some(Origin::Implied(_))) {
            return Err(usage(
                format!("the upstream connection sets {property}"),
                "remove User and Password from it: each PostgreSQL client signs in as its own \
                 Epicor user, with the user name and password it connects with",
            ));
        }
    }
    if !matches!(upstream.auth.scheme, AuthScheme::Basic | AuthScheme::Token) {
        return Err(usage(
            format!(
                "AuthScheme={} cannot take a client's user name and password",
                upstream.auth.scheme
            ),
            "use AuthScheme=Basic or AuthScheme=Token for the upstream connection",
        ));
    }
    Ok(upstream)
}

/// The upstream settings of `--auth azuread`: this server's app registration and the Epicor
/// API's scope, never a user.
fn entra_upstream(args: &ServeArgs) -> Result<Settings, Failure> {
    let upstream = args.connection.settings_implying(
        &[("OAuthGrantType", "OBO")],
        "kinetic serve --auth azuread: each client's token is exchanged on its behalf",
    )?;
    if upstream.auth.user.is_some() || upstream.auth.password.is_some() {
        return Err(usage(
            "the upstream connection sets User or Password",
            "remove them: with --auth azuread each client signs in with its own Entra ID token",
        ));
    }
    if !matches!(
        upstream.auth.scheme,
        AuthScheme::AzureAd | AuthScheme::OAuth
    ) {
        return Err(usage(
            format!(
                "--auth azuread needs this server's app registration, not AuthScheme={}",
                upstream.auth.scheme
            ),
            "use AuthScheme=AzureAD;AzureTenant=...;OAuthClientId=...;OAuthClientSecret=...;Scope=...",
        ));
    }
    if upstream.oauth.scope.is_none() {
        return Err(usage(
            "--auth azuread exchanges each client's token for an Epicor token and needs its scope",
            "set Scope to the Epicor API's delegated scope, e.g. api://{epicor app id}/user_impersonation",
        ));
    }
    Ok(upstream)
}

/// Waits for Ctrl-C, or SIGTERM as a service manager stops a server: either way the server
/// shuts down (see `Server::run_until`) and what it holds is dropped (a generated CA's
/// temporary folder is removed).
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Where the server's certificate comes from, as the flags say.
#[derive(Debug, PartialEq)]
enum TlsChoice {
    Off,
    /// The operator's certificate and key (--tls-cert, --tls-key).
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// A local CA (--tls), written to --tls-cert-out or a temporary folder.
    LocalCa {
        out: Option<PathBuf>,
    },
}

/// Reads the TLS flags: both of --tls-cert and --tls-key or neither, and --tls-cert-out only
/// where a CA is generated.
fn tls_choice(args: &ServeArgs) -> Result<TlsChoice, Failure> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            if args.tls_cert_out.is_some() {
                return Err(usage(
                    "--tls-cert-out names where a generated CA goes, and --tls-cert serves your \
                     own certificate: nothing is generated",
                    "drop --tls-cert-out; clients trust your certificate's issuer",
                ));
            }
            Ok(TlsChoice::Files {
                cert: cert.clone(),
                key: key.clone(),
            })
        }
        (Some(_), None) => Err(usage(
            "--tls-cert needs --tls-key",
            "give the certificate's PEM private key with --tls-key FILE (or use --tls alone \
             for a local CA)",
        )),
        (None, Some(_)) => Err(usage(
            "--tls-key needs --tls-cert",
            "give the key's PEM certificate chain with --tls-cert FILE",
        )),
        (None, None) if args.tls || args.tls_cert_out.is_some() => Ok(TlsChoice::LocalCa {
            out: args.tls_cert_out.clone(),
        }),
        (None, None) => Ok(TlsChoice::Off),
    }
}

/// A temporary folder for the generated CA's certificate, which every local user may enter:
/// clients running as another user (a BI service) read the certificate from it.
fn scratch_folder() -> Result<tempfile::TempDir, Failure> {
    let dir = tempfile::Builder::new()
        .prefix("kinetic-serve-tls-")
        .tempdir()
        .map_err(|source| Failure::Io {
            what: "cannot make a temporary folder for the TLS certificate (or give \
                   --tls-cert-out FILE)"
                .to_owned(),
            source,
        })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).map_err(
            |source| Failure::Io {
                what: format!("cannot let clients read {}", dir.path().display()),
                source,
            },
        )?;
    }
    Ok(dir)
}

/// The psql command of the start-up line. With TLS it verifies the server
/// (`sslmode=verify-full` against the certificate to trust); a server listening on every
/// interface is reached on this machine's loopback, which a generated certificate names, or by
/// the name in the operator's certificate.
fn psql_hint(listen: SocketAddr, tls_cert: Option<&Path>, own_certificate: bool) -> String {
    let host = match listen.ip() {
        ip if !ip.is_unspecified() => ip.to_string(),
        _ if own_certificate => "YOUR_SERVER_NAME".to_owned(),
        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.to_string(),
        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.to_string(),
    };
    let mut conninfo = format!(
        "host={host} port={} dbname=kinetic user=YOUR_EPICOR_USER",
        listen.port()
    );
    if let Some(cert) = tls_cert {
        conninfo.push_str(" sslmode=verify-full sslrootcert=");
        conninfo.push_str(&conninfo_value(&cert.to_string_lossy()));
    }
    format!("psql \"{conninfo}\"")
}

/// A value of a libpq connection string, quoted where it must be (spaces, quotes, backslashes).
fn conninfo_value(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn choice(flags: &[&str]) -> Result<TlsChoice, String> {
        let parsed = Serve::try_parse_from(std::iter::once("serve").chain(flags.iter().copied()))
            .map_err(|e| e.to_string())?;
        tls_choice(&parsed.args).map_err(|f| match f {
            Failure::Usage { message, hint } => format!("{message}; {hint}"),
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn tls_flags_go_together_or_say_what_is_missing() {
        assert_eq!(choice(&[]), Ok(TlsChoice::Off));
        assert_eq!(choice(&["--tls"]), Ok(TlsChoice::LocalCa { out: None }));
        let out = Some(PathBuf::from("ca.pem"));
        for flags in [
            &["--tls", "--tls-cert-out", "ca.pem"][..],
            &["--tls-cert-out", "ca.pem"],
        ] {
            assert_eq!(choice(flags), Ok(TlsChoice::LocalCa { out: out.clone() }));
        }
        let files = TlsChoice::Files {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        };
        for flags in [
            &["--tls-cert", "c.pem", "--tls-key", "k.pem"][..],
            &["--tls", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
        ] {
            assert_eq!(choice(flags).as_ref(), Ok(&files));
        }
        let e = choice(&["--tls-cert", "c.pem"]).unwrap_err();
        assert!(e.contains("--tls-cert needs --tls-key"), "{e}");
        let e = choice(&["--tls", "--tls-key", "k.pem"]).unwrap_err();
        assert!(e.contains("--tls-key needs --tls-cert"), "{e}");
        let e = choice(&["--tls-cert", "c", "--tls-key", "k", "--tls-cert-out", "o"]).unwrap_err();
        assert!(e.contains("nothing is generated"), "{e}");
    }

    #[test]
    fn the_psql_hint_verifies_the_server_with_tls() {
        let local: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        assert_eq!(
            psql_hint(local, None, false),
            "psql \"host=127.0.0.1 port=5432 dbname=kinetic user=YOUR_EPICOR_USER\""
        );
        assert_eq!(
            psql_hint(local, Some(Path::new("/tmp/ca.pem")), false),
            "psql \"host=127.0.0.1 port=5432 dbname=kinetic user=YOUR_EPICOR_USER \
             sslmode=verify-full sslrootcert=/tmp/ca.pem\""
        );
        let every: SocketAddr = "0.0.0.0:5432".parse().unwrap();
        assert!(psql_hint(every, Some(Path::new("/c")), false).contains("host=127.0.0.1 "));
        assert!(psql_hint(every, Some(Path::new("/c")), true).contains("host=YOUR_SERVER_NAME "));
        let every6: SocketAddr = "[::]:5432".parse().unwrap();
        assert!(psql_hint(every6, Some(Path::new("/c")), false).contains("host=::1 "));
        assert_eq!(
            conninfo_value("/a b/it's\\ca.pem"),
            "'/a b/it\\'s\\\\ca.pem'"
        );
    }
}
