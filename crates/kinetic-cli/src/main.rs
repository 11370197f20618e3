//! `kinetic`: the command line of the kinetic connector for Epicor Kinetic.

use clap::{Args, Parser, Subcommand};
use kinetic_emulator::EmulatorConfig;
use std::path::PathBuf;
use std::process::ExitCode;

/// Query Epicor Kinetic (Epicor ERP) over its REST API, and run an emulator of it.
#[derive(Parser)]
#[command(name = "kinetic", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded Epicor emulator: a REST server with demo data on this machine.
    ///
    /// The first line on stdout is one JSON object with the server's URL, instance, company, API key,
    /// demo users and ready connection strings; then it serves until interrupted (Ctrl-C).
    ///
    /// It also serves an identity provider that speaks Microsoft Entra ID (Azure AD) v2 under
    /// /{tenant}/ (authority in the start-up line's "idp"); use --tls for clients such as MSAL
    /// that insist on https.
    ///
    /// Examples:
    ///   kinetic emulator --port 0
    ///   kinetic emulator --scale 1000000 --db erp.db
    ///   kinetic emulator --tls --tls-cert-out emulator-ca.pem --faults "503:0.05"
    ///   curl -u manager:Epicor123! http://127.0.0.1:8040/Kinetic/api/v1/
    #[command(verbatim_doc_comment)]
    Emulator(Box<EmulatorArgs>),
    /// Print a valid access token for the connection, for use with curl and other tools.
    ///
    /// The connection comes from -c/--connection, --profile, or the KINETIC_CONNECTION and
    /// KINETIC_<PROPERTY> environment variables. Works for AuthScheme=Token (Epicor's token
    /// service), AzureAD and OAuth (OAuthGrantType=CLIENT or OBO, or a given OAuthAccessToken).
    /// Secrets never appear in errors.
    ///
    /// Examples:
    ///   kinetic token -c "URL=https://erp.example.com;ERPInstance=Kinetic;AuthScheme=Token;User=u;Password=p"
    ///   curl -H "Authorization: Bearer $(kinetic token --profile prod)" https://erp.example.com/Kinetic/api/v1/
    ///
    /// Exit codes: 0 success, 1 the server or the network refused, 2 bad settings or usage.
    #[command(verbatim_doc_comment)]
    Token(ConnectionArgs),
    /// Sign in: run the interactive flow (browser or device code) now and keep the tokens in the
    /// encrypted settings store (OAuthSettingsLocation, or a file under the config directory), so
    /// later commands refresh silently.
    ///
    /// Examples:
    ///   kinetic login --profile prod
    ///   kinetic login -c "...;AuthScheme=AzureAD;OAuthGrantType=DEVICE;..."   (machines without a browser)
    #[command(verbatim_doc_comment)]
    Login(ConnectionArgs),
    /// Sign out: delete the tokens the settings store keeps for the connection.
    Logout(ConnectionArgs),
}

/// Where the connection's settings come from.
#[derive(Args)]
struct ConnectionArgs {
    /// A connection string: Name=Value pairs separated by ';' (see crates/kinetic/PROPERTIES.md).
    #[arg(short = 'c', long = "connection", value_name = "STRING")]
    connection: Option<String>,
    /// A named profile from the configuration directory (profiles.toml).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
}

#[derive(Args)]
struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one (read it from the start-up line).
    #[arg(long, default_value_t = 8040)]
    port: u16,
    /// Number of sales order lines to generate (customers, parts and orders scale with it).
    #[arg(long)]
    scale: Option<u64>,
    /// Keep the database in FILE: generated when missing, reused as it is when present.
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Most rows per page of an entity set (0: no cap). Epicor caps pages at about 100.
    #[arg(long, value_name = "ROWS")]
    page_cap: Option<usize>,
    /// Answer capped pages with @odata.nextLink (Epicor itself does not).
    #[arg(long)]
    next_link: bool,
    /// Seed of the data generator (same seed and scale, same data).
    #[arg(long)]
    seed: Option<u64>,
    /// Inject faults for resilience tests, e.g. "503:0.05,latency:0.2:50-200ms". See --help.
    #[arg(long, value_name = "SPEC", long_help = kinetic_emulator::faults::SPEC_HELP)]
    faults: Option<String>,
    /// Serve HTTPS. Without --tls-cert/--tls-key, a local CA and a certificate for localhost and
    /// 127.0.0.1 are made at start; the CA is written to --tls-cert-out (or a temporary file) and
    /// named in the start-up line as tls_cert.
    #[arg(long)]
    tls: bool,
    /// PEM certificate (chain) to serve with --tls.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Where to write the generated certificate clients should trust.
    #[arg(long, value_name = "FILE")]
    tls_cert_out: Option<PathBuf>,
    /// Lifetime of TokenResource.svc tokens, in seconds.
    #[arg(long, value_name = "SECS")]
    token_lifetime: Option<u64>,
    /// Lifetime of the identity provider's (Azure AD) access and id tokens, in seconds.
    #[arg(long, value_name = "SECS")]
    aad_token_lifetime: Option<u64>,
    /// Seconds a device-code client must wait between polls (Entra: 5).
    #[arg(long, value_name = "SECS")]
    device_interval: Option<u64>,
    /// Turn off the built-in identity provider (and the REST API's trust in it).
    #[arg(long)]
    no_idp: bool,
    /// TOML file with users, API keys, companies, instance, page_cap, ...
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Emulator(args) => run_emulator(*args),
        Command::Token(args) => return run_token(args, TokenMode::Print),
        Command::Login(args) => return run_token(args, TokenMode::Login),
        Command::Logout(args) => return run_logout(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run_emulator(args: EmulatorArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_file(path)?,
        None => EmulatorConfig::default(),
    };
    if let Some(s) = args.scale {
        config.scale = s;
    }
    if let Some(db) = args.db {
        config.db = Some(db);
    }
    if let Some(cap) = args.page_cap {
        config.page_cap = cap;
    }
    if args.next_link {
        config.next_link = true;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if args.tls || args.tls_cert.is_some() || args.tls_cert_out.is_some() {
        config.tls.enabled = true;
    }
    if args.tls_cert.is_some() {
        config.tls.cert = args.tls_cert.clone();
        config.tls.key = args.tls_key.clone();
    }
    if args.tls_cert_out.is_some() {
        config.tls.cert_out = args.tls_cert_out.clone();
    }
    if let Some(secs) = args.token_lifetime {
        config.token_lifetime_secs = secs;
    }
    if let Some(secs) = args.aad_token_lifetime {
        config.idp.token_lifetime_secs = secs;
    }
    if let Some(secs) = args.device_interval {
        config.idp.device_interval_secs = secs;
    }
    if args.no_idp {
        config.idp.enabled = false;
    }
    if let Some(spec) = &args.faults {
        config.faults =
            kinetic_emulator::faults::parse_spec(spec).map_err(|e| format!("--faults: {e}"))?;
    }
    config
        .validate()
        .map_err(|e| format!("invalid emulator configuration: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        eprintln!("kinetic emulator: preparing data (scale {})...", config.scale);
        let addr = format!("{}:{}", args.host, args.port);
        let running = kinetic_emulator::spawn(config, &addr).await?;
        let report = running.report();
        match report.generated {
            Some(sum) => eprintln!(
                "kinetic emulator: generated {} order lines, {} orders, {} customers in {:.1} s ({:.1} MiB at {})",
                sum.order_lines,
                sum.orders,
                sum.customers,
                report.elapsed.as_secs_f64(),
                report.size_bytes as f64 / 1_048_576.0,
                report.path.display()
            ),
            None => eprintln!(
                "kinetic emulator: reusing {} (scale {}; --scale is ignored for an existing file)",
                report.path.display(),
                report.scale
            ),
        }
        println!("{}", running.startup_line());
        eprintln!(
            "kinetic emulator: serving {} (Ctrl-C to stop)",
            running.base_url()
        );
        shutdown_signal().await?;
        eprintln!("kinetic emulator: stopping");
        running.shutdown().await;
        Ok(())
    })
}

/// Ctrl-C, or SIGTERM (how service managers and `kill` stop a process): either stops the server
/// cleanly, so a temporary database is removed.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Prints the error with its causes and a hint; exit 2 for settings, 1 for everything else.
fn fail(e: &kinetic::Error) -> ExitCode {
    use std::error::Error as _;
    eprintln!("error: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
    match e {
        kinetic::Error::InvalidSettings { .. } | kinetic::Error::ConfigFile { .. } => {
            ExitCode::from(2)
        }
        _ => ExitCode::from(1),
    }
}

/// What `run_token` does with the token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenMode {
    Print,
    Login,
}

fn run_token(args: ConnectionArgs, mode: TokenMode) -> ExitCode {
    let settings =
        match kinetic::Settings::load(args.connection.as_deref(), args.profile.as_deref()) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let connection = match kinetic::Connection::open(settings).await {
            Ok(c) => c,
            Err(e) => return fail(&e),
        };
        match connection.access_token().await {
            Ok(token) => {
                match mode {
                    TokenMode::Print => println!("{}", token.expose()),
                    TokenMode::Login => eprintln!(
                        "signed in; the tokens are kept, encrypted, in the settings store"
                    ),
                }
                let _ = connection.close().await;
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        }
    })
}

fn run_logout(args: ConnectionArgs) -> ExitCode {
    let settings =
        match kinetic::Settings::load(args.connection.as_deref(), args.profile.as_deref()) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
    let env = kinetic::settings::ProcessEnv;
    let config = kinetic::settings::ConfigDir::locate(&env);
    let store = match kinetic::store::open(&settings, &env, &config) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    match store.update(&mut |_| Ok(kinetic::store::Change::Remove)) {
        Ok(_) => {
            eprintln!("signed out; the stored tokens are deleted");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
