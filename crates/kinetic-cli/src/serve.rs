//! `kinetic serve`: Epicor as a PostgreSQL server for BI tools and PostgreSQL clients, each
//! session signed in as its client's own Epicor user (see `epicor_kinetic_serve`).

use crate::common::{usage, ConnectionArgs, Failure};
use clap::Args;
use epicor_kinetic::settings::{AuthScheme, Origin};
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on, host:port (port 0 picks a free one). Loopback addresses only for
    /// now: clients send their passwords in clear until the server speaks TLS.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5432")]
    pub listen: String,
    /// Let clients write (INSERT, UPDATE, DELETE) and call methods and functions (EXEC).
    /// Without it every session is read-only: a write is refused with SQLSTATE 25006 before
    /// anything reaches Epicor.
    #[arg(long)]
    pub allow_writes: bool,
    /// The most sessions at once (each holds its own Epicor connection); one more is refused
    /// with SQLSTATE 53300.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_sessions: usize,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// What the upstream settings carry in place of a user until a client signs in.
const NO_USER: &str = "kinetic-serve (each client signs in as itself)";

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
    // The operator's connection names the server (URL, instance, company, API key); each
    // session's user and password are its client's.
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
    let options = epicor_kinetic_serve::Options {
        upstream,
        allow_writes: args.allow_writes,
        max_sessions: args.max_sessions,
    };
    let server = epicor_kinetic_serve::Server::bind(&args.listen, options)
        .await
        .map_err(|e| {
            usage(
                e,
                "--listen 127.0.0.1:0 picks a free port; the first line printed names it",
            )
        })?;
    let listen = server.local_addr();
    let line = serde_json::json!({
        "listen": listen.to_string(),
        "tls_cert": null,
        "auth": "basic",
        "database": "kinetic",
        "read_only": !args.allow_writes,
        "psql": format!("psql \"host={} port={} dbname=kinetic user=YOUR_EPICOR_USER\"", listen.ip(), listen.port()),
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
        "kinetic serve: PostgreSQL protocol on {listen} ({}); clients sign in with their Epicor \
         user and password; Ctrl-C stops",
        if args.allow_writes {
            "writes allowed"
        } else {
            "read-only"
        }
    );
    tokio::select! {
        () = server.run() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
