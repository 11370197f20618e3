//! `kinetic`: the command line of the kinetic connector for Epicor Kinetic.
// Standard output goes through `output::print` (`outln!`), which ends quietly with 141 when the
// reader has gone; `println!` would panic.
#![warn(clippy::print_stdout)]

mod admin;
mod baq;
mod common;
mod data;
mod demo;
mod exact;
mod export;
mod output;
mod serve;
mod sink;
mod sql;

use clap::{Args, Parser, Subcommand};
use common::{ConnectionArgs, EXIT_CODES_HELP};
use epicor_kinetic_emulator::EmulatorConfig;
use std::path::PathBuf;
use std::process::ExitCode;

/// Query Epicor Kinetic (Epicor ERP) over its REST API, and run an emulator of it.
///
/// Every command that talks to a server takes its connection from -c/--connection (a connection
/// string with CData's property names), --profile NAME, or the KINETIC_CONNECTION and
/// KINETIC_<PROPERTY> environment variables. Start with `kinetic demo`.
#[derive(Parser)]
#[command(name = "kinetic", version, about, long_about, after_help = EXIT_CODES_HELP)]
struct Cli {
    /// Log what the connector does to standard error: -v one line per call, -vv authentication,
    /// paging and attempts, -vvv bodies, -vvvv the transport. Secrets never appear. RUST_LOG
    /// (e.g. `epicor_kinetic=debug`) overrides; the Logfile and Verbosity properties write a file.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the emulator in process and show the connector against it: every authentication
    /// scheme, a query, an export with its progress bar, a BAQ and a Function.
    Demo(demo::DemoArgs),
    /// Read an entity set (paged underneath, rows in order) or one row by its key.
    ///
    /// A table shows the first 50 rows unless --top says otherwise; JSON (when piped, or with
    /// --format json) streams every row. Put values with `$` in single quotes, or the shell
    /// expands `$select`.
    ///
    /// Examples:
    ///   kinetic get Erp.BO.CustomerSvc/Customers --filter \
    ///     "State eq 'MN'" --select CustNum,Name --top 10
    ///   kinetic get "Erp.BO.CustomerSvc/Customers('EPIC06',45)"
    ///   kinetic get --format json \
    ///     "Erp.BO.CustomerSvc/Customers(Company='EPIC06',CustNum=45)"
    ///   kinetic get Erp.BO.SalesOrderSvc/SalesOrders --top 3 \
    ///     --expand 'OrderDtls($select=PartNum)'
    ///   kinetic get Erp.BO.CustomerSvc/Customers --count \
    ///     --filter "CreditHold eq true"
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Get(data::GetArgs),
    /// Export an entity set to CSV, NDJSON, JSON or Parquet, streamed page by page (memory stays bounded),
    /// with a progress bar on a terminal. The file appears under its name only when complete;
    /// Ctrl-C, SIGTERM or SIGHUP leave nothing under it (see -o for links, devices and FIFOs).
    ///
    /// Examples:
    ///   kinetic export Erp.BO.SalesOrderSvc/OrderDtls -o lines.csv
    ///   kinetic export Erp.BO.SalesOrderSvc/OrderDtls \
    ///     --format ndjson --parallelism 4 -o lines.ndjson
    ///   kinetic export Erp.BO.CustomerSvc/Customers \
    ///     --filter "CreditHold eq true" --format json > held.json
    ///   kinetic export Erp.BO.SalesOrderSvc/OrderDtls \
    ///     --format parquet -o lines.parquet
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Export(export::ExportArgs),
    /// Run SQL over the connection: every service a schema, its entity sets tables, BAQs in
    /// schema BaqSvc; filters, columns, LIMIT and ORDER BY become the OData request, the rest
    /// (joins, aggregates) runs here. One statement, a file of them (-f), or, with none, an
    /// interactive shell (history, multi-line statements ended by `;`, \d lists the tables,
    /// \d TABLE a table's columns, \q or Ctrl-D quits, Ctrl-C cancels the running statement).
    ///
    /// Output: a table on a terminal, CSV when piped; --format csv|json|ndjson|parquet|table,
    /// or -o FILE (format from its extension), written as `kinetic export -o` writes: complete
    /// or not at all. A statement's mistake (bad SQL, an unknown table or column, a type error)
    /// exits 2.
    ///
    /// Text compares byte for byte over values without their trailing spaces, whatever the
    /// server's collation: = and LIKE are case-sensitive, ILIKE, lower() and upper() are not.
    ///
    /// Examples:
    ///   kinetic sql "SELECT CustID, Name FROM Customers \
    ///     WHERE State = 'MN' LIMIT 5"
    ///   kinetic sql "SELECT CustID, Name FROM Customers \
    ///     WHERE Name ILIKE '%machine%'"
    ///   kinetic sql --format csv > states.csv \
    ///     "SELECT State, COUNT(*) AS n FROM Customers \
    ///     GROUP BY State ORDER BY n DESC"
    ///   kinetic sql -o lines.parquet "SELECT OrderNum, \
    ///     OrderLine, PartNum, DocExtPriceDtl FROM OrderDtls"
    ///   kinetic sql --explain \
    ///     "SELECT Name FROM Customers WHERE CreditHold = true"
    ///   kinetic sql    # the shell
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Sql(sql::SqlArgs),
    /// Call a business-object method: POST Service/Method with named parameters.
    ///
    /// The parameters are a JSON object: --body '{...}' (in single quotes, where a quote is
    /// written '\''), --body @FILE to read it from a file, --body - from standard input.
    ///
    /// Examples:
    ///   kinetic call Erp.BO.CustomerSvc/GetByID \
    ///     --body '{"custNum": 12}'
    ///   kinetic call Erp.BO.CustomerSvc/GetList --body '{
    ///     "whereClause": "State = '\''MN'\''",
    ///     "pageSize": 10, "absolutePage": 1}'
    ///   kinetic call Erp.BO.CustomerSvc/GetByID \
    ///     --body '{"custNum": 12}' --format json > customer.json
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Call(data::CallArgs),
    /// Run an Epicor Function (REST v2): POST efx/{Company}/Library/Function, or list the
    /// company's libraries and their functions (--list).
    ///
    /// The connection must be a v2 one: ApiVersion=v2, Company and ApiKey.
    ///
    /// Examples:
    ///   kinetic efx --list
    ///   kinetic efx CustomerTools/GetCreditStatus \
    ///     --body '{"CustID": "KEYST0045"}'
    ///   kinetic efx CustomerTools/OrderSummary --staging \
    ///     --body '{"OrderNum": 5001}'
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Efx(data::EfxArgs),
    /// Run a BAQ (Business Activity Query) with its parameters.
    ///
    /// Examples:
    ///   kinetic baq zCustomerList
    ///   kinetic baq zOrdersByCustomer --param CustID=KEYST0045
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Baq(baq::BaqArgs),
    /// Create a row: POST to the entity set; prints the row the server made.
    ///
    /// Example:
    ///   kinetic create Erp.BO.CustomerSvc/Customers \
    ///     --body '{"CustID": "NEW01", "Name": "New Co"}'
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Create(data::WriteArgs),
    /// Update a row: PATCH with only the columns to change.
    ///
    /// Example:
    ///   kinetic update --body '{"City": "Duluth"}' \
    ///     "Erp.BO.CustomerSvc/Customers('EPIC06',45)"
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Update(data::WriteArgs),
    /// Delete a row by its key.
    ///
    /// Example:
    ///   kinetic delete "Erp.BO.CustomerSvc/Customers('EPIC06',45)"
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Delete(data::DeleteArgs),
    /// List the server's services.
    #[command(after_help = EXIT_CODES_HELP)]
    Services(data::ServicesArgs),
    /// Describe a service (its entity sets) or an entity set (columns, types, key, navigation),
    /// from the service's $metadata.
    ///
    /// Examples:
    ///   kinetic describe Erp.BO.SalesOrderSvc
    ///   kinetic describe Erp.BO.SalesOrderSvc/OrderDtls
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Describe(data::DescribeArgs),
    /// CData's OAuth procedures: GetOAuthAuthorizationURL, GetOAuthAccessToken and a refresh.
    ///
    /// For a web app or a script that drives the sign-in itself: a connection (here in
    /// KINETIC_CONNECTION) with AuthScheme=AzureAD or OAuth, a CallbackURL and an
    /// OAuthSettingsLocation. They imply OAuthGrantType=CODE and InitiateOAuth=REFRESH (the
    /// application owns the browser; these never open one).
    ///
    /// Examples:
    ///   kinetic oauth authorization-url    # send the user there
    ///   kinetic oauth access-token --verifier "$CODE"
    ///   kinetic oauth refresh
    #[command(subcommand, verbatim_doc_comment)]
    Oauth(admin::OauthCommand),
    /// The connection properties: names, types, defaults and what each is for.
    ///
    /// Examples:
    ///   kinetic props               # all of them
    ///   kinetic props oauth         # those about OAuth
    ///   kinetic props --markdown    # as PROPERTIES.md
    #[command(verbatim_doc_comment)]
    Props(admin::PropsArgs),
    /// Named connection strings in the configuration directory (profiles.toml).
    #[command(subcommand)]
    Profile(admin::ProfileCommand),
    /// The effective connection: each property, its value (secrets redacted) and where it came
    /// from; with --whoami, who the connection signs in as.
    #[command(subcommand)]
    Config(admin::ConfigCommand),
    /// Serve Epicor as a PostgreSQL database, for BI tools and PostgreSQL clients (psql,
    /// pgJDBC, psqlODBC, psycopg, Npgsql).
    ///
    /// Each client connects with its own Epicor user name and password, and its session signs
    /// in to Epicor as that user: Epicor's own security decides what each one sees. The
    /// connection (-c, --profile, environment) names the Epicor server, never a user. Every
    /// session is read-only unless --allow-writes; statements run as in `kinetic sql`, with a
    /// server's bounds (MemoryLimit 512 MiB and StatementTimeout 300 s unless the connection
    /// sets them). The first line on stdout is one JSON object: "listen" (host:port),
    /// "tls_cert" (the certificate clients trust, or null), "auth", "database", "read_only"
    /// and "psql" (a command that connects). Both query protocols (prepared statements, binary
    /// values, streamed results) and enough of pg_catalog and information_schema for psql's
    /// \dt and \d TABLE, drivers and BI tools. Without TLS, loopback addresses only (passwords
    /// arrive in clear); --tls, or --tls-cert with --tls-key, to listen beyond this machine.
    ///
    /// Examples:
    ///   kinetic serve -c \
    ///     "URL=https://erp.example.com;ERPInstance=Kinetic;Company=EPIC06"
    ///   kinetic serve --listen 127.0.0.1:0 --tls --profile prod
    ///   kinetic serve --listen 0.0.0.0:5432 \
    ///     --tls-cert server.pem --tls-key server.key \
    ///     --profile prod
    ///   kinetic serve --auth azuread --tls --profile gateway-app
    ///   psql "host=127.0.0.1 port=5432 user=manager" \
    ///     -c "SELECT Name FROM Customers LIMIT 5"
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),
    /// Run the embedded Epicor emulator: a REST server with demo data on this machine.
    ///
    /// The first line on stdout is one JSON object with the server's URL, instance, company, API key,
    /// demo users and ready connection strings; then it serves until interrupted (Ctrl-C).
    ///
    /// It also serves an identity provider that speaks Microsoft Entra ID (Azure AD) v2 under
    /// /{tenant}/ (authority in the start-up line's "idp"); use --tls for clients such as MSAL
    /// that insist on https.
    ///
    /// It is a development server, not a production identity provider or ERP: its demo users,
    /// secrets and API key are public, so keep it on loopback or a network you trust. It defends
    /// itself as a server should (CSRF-bound sign-in pages, parsed redirect URIs, bounded stores,
    /// throttled password guessing, request and query limits); tune [security] and [limits] in
    /// --config. Admin routes (sessions, key rotation) need a user with admin = true (manager).
    ///
    /// Examples:
    ///   kinetic emulator --port 0
    ///   kinetic emulator --scale 1000000 --db erp.db
    ///   kinetic emulator --tls --tls-cert-out emulator-ca.pem \
    ///     --faults 503:0.05
    ///   curl -u 'manager:Epicor123!' \
    ///     http://127.0.0.1:8040/Kinetic/api/v1/
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
    ///   kinetic token    # for KINETIC_CONNECTION
    ///   kinetic token -c \
    ///     "URL=https://erp.example.com;ERPInstance=Kinetic;AuthScheme=Token;User=u;Password=p"
    ///   TOKEN=$(kinetic token --profile prod)
    ///   curl -H "Authorization: Bearer $TOKEN" \
    ///     https://erp.example.com/Kinetic/api/v1/
    #[command(verbatim_doc_comment, after_help = EXIT_CODES_HELP)]
    Token(ConnectionArgs),
    /// Sign in: run the interactive flow (browser or device code) now and keep the tokens in the
    /// encrypted settings store (OAuthSettingsLocation, or a file under the config directory), so
    /// later commands refresh silently. Implies InitiateOAuth=GETANDREFRESH unless the connection
    /// sets it.
    ///
    /// On a machine without a browser, use OAuthGrantType=DEVICE: the message says where to enter
    /// the code.
    ///
    /// Examples:
    ///   kinetic login --profile prod
    ///   kinetic login --profile prod-device
    #[command(verbatim_doc_comment)]
    Login(ConnectionArgs),
    /// Sign out: delete the tokens the settings store keeps for the connection.
    Logout(ConnectionArgs),
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
    /// Strict server-driven paging, to test that a client follows next links and orders by the
    /// whole key: capped pages link to the next with an opaque $skiptoken; a $skip where the
    /// server pages with links (no $top, or one above the cap) is refused with 400; rows are
    /// sorted only as $orderby asks (ties in another order on each page). Epicor itself does
    /// not page this way.
    #[arg(long)]
    strict_paging: bool,
    /// Answer in the emulator's old tidy shapes (no ExtensionTables, BitFlag or RowIdent, v1
    /// SysRevID as a string, no CHAR padding or null strings, numeric TokenResource exp/iat)
    /// instead of what real Epicor servers send. Business rules, names and routes stay real.
    #[arg(long)]
    tidy: bool,
    /// Most rows per page of a BAQ's results (0: no cap). Unsettled on real servers; capped
    /// pages carry a next link only with --next-link or --strict-paging.
    #[arg(long, value_name = "ROWS")]
    baq_page_cap: Option<usize>,
    /// Accept an updatable-BAQ PATCH that leaves columns out (by default the full row as read
    /// is required, as on real servers).
    #[arg(long)]
    baq_partial_rows: bool,
    /// UTC offset written after v2 dates: "Z", "+hh:mm" or "-hh:mm" (default: none, as
    /// 2025-01-31T00:00:00). Unsettled on real servers.
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true)]
    v2_date_offset: Option<String>,
    /// Seed of the data generator (same seed and scale, same data).
    #[arg(long)]
    seed: Option<u64>,
    /// How text compares in $filter, $orderby and keys: "ci" (the default), as Epicor's SQL
    /// Server (SQL_Latin1_General_CP1_CI_AS): case and trailing spaces ignored, length()
    /// without trailing spaces; or "binary": byte for byte, a strict server for tests. A --db
    /// file keeps the collation it was made with.
    #[arg(long, value_name = "ci|binary", value_parser = ["ci", "binary"])]
    collation: Option<String>,
    /// Inject faults for resilience tests, e.g. "503:0.05,latency:0.2:50-200ms". See --help.
    #[arg(long, value_name = "SPEC", long_help = epicor_kinetic_emulator::faults::SPEC_HELP)]
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
    if cli.verbose > 0 || std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty()) {
        epicor_kinetic::logging::install_stderr(cli.verbose.max(1));
    }
    let result = match cli.command {
        Command::Emulator(args) => run_emulator(*args),
        Command::Token(args) => return common::run(token(args, TokenMode::Print)),
        Command::Login(args) => return common::run(token(args, TokenMode::Login)),
        Command::Logout(args) => {
            return logout(args).map_or_else(|f| common::report(&f), |()| ExitCode::SUCCESS)
        }
        Command::Demo(args) => return common::run(demo::demo(args)),
        Command::Get(args) => return common::run(data::get(args)),
        Command::Export(args) => return common::run(export::export(args)),
        Command::Sql(args) => return common::run(sql::sql(args)),
        Command::Serve(args) => return serve::serve(args),
        Command::Call(args) => return common::run(data::call(args)),
        Command::Efx(args) => return common::run(data::efx(args)),
        Command::Baq(args) => return common::run(baq::baq(args)),
        Command::Create(args) => return common::run(data::write(args, data::Write::Create)),
        Command::Update(args) => return common::run(data::write(args, data::Write::Update)),
        Command::Delete(args) => return common::run(data::write(args.into(), data::Write::Delete)),
        Command::Services(args) => return common::run(data::services(args)),
        Command::Describe(args) => return common::run(data::describe(args)),
        Command::Oauth(command) => return common::run(admin::oauth(command)),
        Command::Config(command) => return common::run(admin::config(command)),
        Command::Props(args) => {
            return admin::props(args).map_or_else(|f| common::report(&f), |()| ExitCode::SUCCESS)
        }
        Command::Profile(command) => {
            return admin::profile(command)
                .map_or_else(|f| common::report(&f), |()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The start-up line's reader has gone: as every command, quietly.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::from(common::exit::CLOSED_PIPE)
        }
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
    if args.strict_paging {
        config.strict_paging = true;
    }
    if args.tidy {
        config.tidy = true;
    }
    if let Some(cap) = args.baq_page_cap {
        config.baq_page_cap = cap;
    }
    if args.baq_partial_rows {
        config.baq_partial_rows = true;
    }
    if let Some(offset) = args.v2_date_offset.clone() {
        config.v2_date_offset = offset;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(c) = args.collation.as_deref() {
        config.collation = epicor_kinetic_emulator::collation::Collation::parse(c)
            .ok_or("--collation: ci or binary")?;
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
        config.faults = epicor_kinetic_emulator::faults::parse_spec(spec)
            .map_err(|e| format!("--faults: {e}"))?;
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
        let running = epicor_kinetic_emulator::spawn(config, &addr).await?;
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
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", running.startup_line()).and_then(|()| out.flush())?;
        }
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

/// What `token` does with the token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TokenMode {
    Print,
    Login,
}

/// `kinetic token` and `kinetic login`.
async fn token(args: ConnectionArgs, mode: TokenMode) -> Result<(), common::Failure> {
    use epicor_kinetic::settings::{AuthScheme, OAuthGrantType};
    // `login` asks to sign in: unless the connection says otherwise, it may start a sign-in.
    let settings = match mode {
        TokenMode::Login => args.settings_implying(
            &[("InitiateOAuth", "GETANDREFRESH")],
            "implied by `kinetic login`",
        )?,
        TokenMode::Print => args.settings()?,
    };
    let interactive = matches!(
        settings.auth.scheme,
        AuthScheme::AzureAd | AuthScheme::OAuth
    ) && matches!(
        settings.oauth.grant_type,
        OAuthGrantType::Code | OAuthGrantType::Device
    );
    let connection = epicor_kinetic::Connection::open(settings).await?;
    let token = connection.access_token().await?;
    match mode {
        TokenMode::Print => output::outln!("{}", token.expose())?,
        TokenMode::Login if interactive => {
            eprintln!("signed in; the tokens are kept, encrypted, in the settings store")
        }
        TokenMode::Login => eprintln!(
            "the credentials work; this scheme signs in on every run (no sign-in to keep): `kinetic login` is for AuthScheme=AzureAD or OAuth with OAuthGrantType=CODE or DEVICE"
        ),
    }
    let _ = connection.close().await;
    Ok(())
}

/// `kinetic logout`.
fn logout(args: ConnectionArgs) -> Result<(), common::Failure> {
    let settings = args.settings()?;
    let env = epicor_kinetic::settings::ProcessEnv;
    let config = epicor_kinetic::settings::ConfigDir::locate(&env);
    let store = epicor_kinetic::store::open(&settings, &env, &config)?;
    let mut had = false;
    store.update(&mut |current| {
        had = current.is_some_and(|c| c.token.is_some() || c.pending.is_some());
        Ok(epicor_kinetic::store::Change::Remove)
    })?;
    if had {
        eprintln!("signed out; the stored tokens are deleted");
    } else {
        eprintln!("nothing to sign out of: the settings store keeps no token for this connection");
    }
    Ok(())
}
