//! What every data command shares: where the connection comes from, exit codes, error reports,
//! the output format, and the parsing of addresses (`Service/EntitySet(keys)`) and bodies.

use clap::{Args, ValueEnum};
use epicor_kinetic::http::KeyValue;
use epicor_kinetic::{Connection, Settings};
use epicor_kinetic_odata::{parse_key_predicate, Literal};
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

/// Exit codes scripts can rely on (also in `kinetic --help` and the README).
pub mod exit {
    /// The server or the network failed (server error, timeout, throttling that outlasted the
    /// retries, an answer that is not what the protocol says).
    pub const FAILED: u8 = 1;
    /// Bad usage or settings: a flag, the connection string, a filter, a key, a JSON body, a
    /// query the server cannot take.
    pub const USAGE: u8 = 2;
    /// Not found: the service, entity set, row, BAQ or function does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// Not signed in or not allowed: credentials refused, a sign-in needed (`kinetic login`),
    /// the identity provider's refusal, a permission missing.
    pub const AUTH: u8 = 4;
    /// The data was refused: a business rule, a duplicate, a row changed since it was read.
    pub const REJECTED: u8 = 5;
    /// Hung up (SIGHUP: the terminal closed) during an export; nothing was left under the
    /// output's name.
    pub const HANGUP: u8 = 129;
    /// Interrupted (Ctrl-C); nothing was left under the output's name.
    pub const INTERRUPTED: u8 = 130;
    /// The reader of standard output (or of a FIFO) closed it before the end, as `| head` does:
    /// the command stops quietly, with the status of a process ended by SIGPIPE.
    pub const CLOSED_PIPE: u8 = 141;
    /// Terminated (SIGTERM: `kill`, a service manager) during an export; nothing was left under
    /// the output's name.
    pub const TERMINATED: u8 = 143;
}

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    the server or the network failed (server error, timeout, throttled, a broken answer)
  2    bad usage or settings (a flag, the connection string, a filter, a key, a JSON body)
  3    not found (service, entity set, row, BAQ, function)
  4    not signed in or not allowed (credentials refused, sign-in needed, permission missing)
  5    the data was refused (a business rule, a duplicate, a row changed since it was read)
  129  hung up (SIGHUP), during an export; it leaves no partial file
  130  interrupted (Ctrl-C); an export leaves no partial file under its name
  141  the reader closed the output early (e.g. `| head`); nothing more is printed
  143  terminated (SIGTERM), during an export; it leaves no partial file";

/// A command's failure: a connector error, or a usage mistake found by the command line itself.
#[derive(Debug)]
pub enum Failure {
    /// From the connector.
    Kinetic(epicor_kinetic::Error),
    /// Bad usage: what is wrong and what to do.
    Usage { message: String, hint: String },
    /// A local I/O failure (the output file).
    Io {
        what: String,
        source: std::io::Error,
    },
    /// Stopped by a signal (SIGINT, SIGTERM or SIGHUP) with a partial file to remove: its
    /// exit code (128 + the signal) and what happened ("interrupted").
    Interrupted { code: u8, what: &'static str },
    /// Standard output (or a FIFO) closed by its reader: a quiet exit.
    ClosedPipe,
    /// Any other failure with its own exit code (a SQL statement that stopped part way, the
    /// engine's failure): what failed, what to do.
    Other {
        message: String,
        hint: Option<String>,
        code: u8,
    },
}

impl From<epicor_kinetic::Error> for Failure {
    fn from(e: epicor_kinetic::Error) -> Self {
        Failure::Kinetic(e)
    }
}

/// A usage failure.
pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Failure {
    Failure::Usage {
        message: message.into(),
        hint: hint.into(),
    }
}

/// Prints the failure (one line, then its causes, each on a line) and returns its exit code.
pub fn report(failure: &Failure) -> ExitCode {
    ExitCode::from(report_code(failure))
}

/// As [`report`], with the exit code as a number (the SQL shell keeps it for its own exit).
pub fn report_code(failure: &Failure) -> u8 {
    use std::error::Error as _;
    match failure {
        Failure::Usage { message, hint } => {
            eprintln!("error: {message}; {hint}");
            exit::USAGE
        }
        Failure::Io { what, source } => {
            eprintln!("error: {what}: {source}; check the path and its permissions");
            exit::FAILED
        }
        Failure::Interrupted { code, what } => {
            // After SIGHUP the terminal may be gone: a failed write is no reason to panic.
            let _ = writeln!(std::io::stderr(), "{what}");
            *code
        }
        Failure::ClosedPipe => exit::CLOSED_PIPE,
        Failure::Other {
            message,
            hint,
            code,
        } => {
            match hint {
                Some(h) => eprintln!("error: {message}; {h}"),
                None => eprintln!("error: {message}"),
            }
            *code
        }
        Failure::Kinetic(e) => {
            match hint(e) {
                Some(h) => eprintln!("error: {e}; {h}"),
                None => eprintln!("error: {e}"),
            }
            // A cause the message already quotes is not printed again.
            let shown = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                let text = s.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                source = s.source();
            }
            if let Some(id) = e.correlation_id() {
                eprintln!("  correlation id: {id} (quote it to the server's administrator)");
            }
            code(e)
        }
    }
}

/// The exit code of a connector error, by its kind.
pub fn code(e: &epicor_kinetic::Error) -> u8 {
    use epicor_kinetic::ErrorKind as K;
    match e.kind() {
        K::InvalidSettings | K::ConfigFile => exit::USAGE,
        K::Rejected if !business_rule(e) => exit::USAGE,
        K::Rejected | K::Conflict => exit::REJECTED,
        K::NotFound => exit::NOT_FOUND,
        K::Unauthorized | K::Forbidden | K::SessionExpired => exit::AUTH,
        _ => exit::FAILED,
    }
}

/// Whether a refusal names a query option (`$filter`, `$select`, ...) or a column.
fn names_query_option(e: &epicor_kinetic::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    [
        "$filter", "$select", "$orderby", "$expand", "column", "property",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// Whether a not-found is about a row (Epicor's `RecordNotFoundException`, "record not found").
fn about_a_row(e: &epicor_kinetic::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    e.error_type().is_some_and(|t| t.contains("RecordNotFound"))
        || text.contains("record not found")
        || text.contains("no row")
        || text.contains("not found for key")
}

/// Whether a refusal is Epicor's business rules (rather than a request the server cannot parse).
fn business_rule(e: &epicor_kinetic::Error) -> bool {
    match e {
        epicor_kinetic::Error::Rejected {
            error_type,
            details,
            ..
        } => {
            !details.is_empty()
                || error_type
                    .as_deref()
                    .is_some_and(|t| t.contains("BusinessObjectException"))
        }
        _ => false,
    }
}

/// What to do about an error, when the error's own text does not say it.
fn hint(e: &epicor_kinetic::Error) -> Option<&'static str> {
    use epicor_kinetic::{ErrorKind as K, OAuthErrorCode as O};
    if let Some(o) = e.oauth() {
        return Some(match o.code {
            _ if o.needs_sign_in() => {
                "the sign-in is no longer valid or needs you: run `kinetic login` (with the same connection) to sign in again"
            }
            O::InvalidClient | O::UnauthorizedClient => {
                "the identity provider refused the application: check OAuthClientId and its credential (OAuthClientSecret or OAuthJWTCert) against the app registration"
            }
            O::InvalidScope => "check Scope against the API's app registration (e.g. api://{app id}/.default)",
            O::AccessDenied => "the sign-in was declined; run `kinetic login` again to retry",
            _ => "check the OAuth settings (`kinetic props oauth` lists them) against the identity provider",
        });
    }
    Some(match e.kind() {
        // Settings errors carry their own hint.
        K::InvalidSettings | K::ConfigFile => return None,
        K::Rejected if business_rule(e) => {
            "the server's business rules refused the data: fix the field(s) named above and resend"
        }
        K::Rejected if names_query_option(e) => {
            "the server refused the query: `kinetic describe <Service>/<EntitySet>` lists the columns a filter, order or selection may name"
        }
        K::Rejected => return None,
        K::Conflict => {
            "the row was changed or already exists: read it again (`kinetic get`) and resend your change"
        }
        // The server's message says what to check already.
        K::Unauthorized if e.to_string().contains("check ") => return None,
        K::Unauthorized => {
            "check User/Password or the AuthScheme's settings (`kinetic props` lists them); for a sign-in that expired run `kinetic login`"
        }
        K::Forbidden => {
            "the user or the API key may not do this: check the API key's access scope and the user's security"
        }
        K::NotFound if about_a_row(e) => {
            "no row has that key: check the key values, or search with `kinetic get <Service>/<EntitySet> --filter ...`"
        }
        K::NotFound if e.to_string().to_ascii_lowercase().contains("function") => {
            "check the library and function names (their case too) and that the library is published (or use --staging)"
        }
        K::NotFound => {
            "check the name's spelling and case: `kinetic services` lists the services, `kinetic describe <Service>` their entity sets, `kinetic baq --list` the BAQs"
        }
        K::SessionExpired => "run the command again for a new session",
        K::Throttled => "the server asks to slow down: wait, lower Parallelism, or raise MaxRetries",
        K::Server => "the server failed; retry later or ask its administrator with the correlation id",
        K::Transport => {
            "check URL and that the server is reachable (proxy, firewall, TLS trust: SSLServerCert)"
        }
        _ => return None,
    })
}

/// Where the connection's settings come from.
#[derive(Args, Clone, Default)]
pub struct ConnectionArgs {
    /// A connection string: Name=Value pairs separated by ';' (`kinetic props` lists the names).
    #[arg(short = 'c', long = "connection", value_name = "STRING")]
    pub connection: Option<String>,
    /// A named profile from the configuration directory (`kinetic profile list`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

impl ConnectionArgs {
    /// The settings: `-c`, then `KINETIC_<PROPERTY>` variables, `KINETIC_CONNECTION` (unless `-c`
    /// or `--profile` names the connection), the profile. Notes about environment values that
    /// hid a profile's go to standard error.
    pub fn settings(&self) -> Result<Settings, Failure> {
        self.settings_implying(&[], "")
    }

    /// As [`ConnectionArgs::settings`], with what the command implies where nothing says
    /// otherwise (`login`: `InitiateOAuth=GETANDREFRESH`).
    pub fn settings_implying(
        &self,
        implied: &[(&str, &str)],
        why: &str,
    ) -> Result<Settings, Failure> {
        let settings = Settings::load_implying(
            self.connection.as_deref(),
            self.profile.as_deref(),
            implied,
            why,
        )
        .map_err(|e| {
            if self.connection.is_none() && self.profile.is_none() {
                no_connection_hint(e)
            } else {
                Failure::Kinetic(e)
            }
        })?;
        for note in settings.notes() {
            eprintln!("note: {note}");
        }
        Ok(settings)
    }

    /// An open connection.
    pub async fn open(&self) -> Result<Connection, Failure> {
        Ok(Connection::open(self.settings()?).await?)
    }
}

/// A settings error that means no connection was given at all gets the ways to give one.
fn no_connection_hint(e: epicor_kinetic::Error) -> Failure {
    match &e {
        epicor_kinetic::Error::InvalidSettings { property, .. } if property == "URL" => {
            let no_source = ["KINETIC_CONNECTION", "KINETIC_URL", "KINETIC_PROFILE"]
                .iter()
                .all(|v| std::env::var_os(v).is_none_or(|x| x.is_empty()));
            if no_source {
                return usage(
                    "no connection is given (`URL` is required)",
                    "pass one with -c \"URL=...;...\", --profile NAME (`kinetic profile list`), or the KINETIC_CONNECTION environment variable; `kinetic emulator` starts a local server and prints ready connection strings",
                );
            }
            Failure::Kinetic(e)
        }
        _ => Failure::Kinetic(e),
    }
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// A table on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// A readable table.
    Table,
    /// JSON (one document).
    Json,
}

impl Format {
    /// Whether to print a table.
    pub fn table(self) -> bool {
        match self {
            Format::Auto => std::io::stdout().is_terminal(),
            Format::Table => true,
            Format::Json => false,
        }
    }
}

/// Runs `job` on a fresh runtime and maps its outcome to an exit code.
pub fn run<F>(job: F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    // One thread: the connector's page tasks overlap the network wait, not CPU work, and a
    // single thread saves the cross-thread wake-ups (measured: less CPU, shorter exports).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(&f),
    }
}

/// An address on the command line: `Service/Name[(keys)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `Erp.BO.CustomerSvc`.
    pub service: String,
    /// The entity set, method, or function after the `/`.
    pub name: String,
    /// The key predicate, when given: positional values, or `Name=value` pairs.
    pub keys: Option<Vec<(Option<String>, KeyValue)>>,
    /// A navigation after the key (`SalesOrders('EPIC06',5001)/OrderDtls`): the related rows.
    pub navigation: Option<String>,
}

/// Parses `Service/Name[(keys)]`; `what` names the second part in errors ("entity set").
pub fn parse_target(text: &str, what: &str, example: &str) -> Result<Target, Failure> {
    let bad = |why: &str| {
        usage(
            format!(
                "`{text}` is not {} {what} address: {why}",
                if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            ),
            format!("write Service/{}, e.g. {example}", capitalised(what)),
        )
    };
    let (service, rest) = text
        .split_once('/')
        .ok_or_else(|| bad("there is no `/` between the service and the name"))?;
    if service.is_empty() || rest.is_empty() {
        return Err(bad("the service or the name is empty"));
    }
    let (name, keys, navigation) = match rest.find('(') {
        None => (rest.to_owned(), None, None),
        Some(open) => {
            // `Set(keys)` or `Set(keys)/Navigation`: the key ends at the last `)` before a `/`
            // that follows it (a quoted key may hold `/` or `)`).
            let after = &rest[open + 1..];
            let (inner, navigation) = match after.rfind(")/") {
                Some(close) if !after[close + 2..].contains(['(', ')', '\'', '/']) => {
                    (&after[..close], Some(after[close + 2..].to_owned()))
                }
                _ => (
                    after
                        .strip_suffix(')')
                        .ok_or_else(|| bad("the key has no closing `)`"))?,
                    None,
                ),
            };
            if navigation.as_deref() == Some("") {
                return Err(bad("the navigation after the key is empty"));
            }
            (
                rest[..open].to_owned(),
                Some(parse_keys(inner).map_err(|why| bad(&why))?),
                navigation,
            )
        }
    };
    if name.contains('/') || name.is_empty() {
        return Err(bad("only one name may follow the service"));
    }
    Ok(Target {
        service: service.to_owned(),
        name,
        keys,
        navigation,
    })
}

fn capitalised(what: &str) -> String {
    what.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Parses a key predicate's inside, `'EPIC06',45` or `Company='EPIC06',CustNum=45`, with
/// kinetic-odata's parser; keeps the values a key can hold.
fn parse_keys(text: &str) -> Result<Vec<(Option<String>, KeyValue)>, String> {
    let parts = parse_key_predicate(text).map_err(|e| e.to_string())?;
    parts
        .into_iter()
        .map(|part| {
            let value = match part.value {
                Literal::String(s) => KeyValue::Str(s),
                Literal::Int(n) => KeyValue::Int(n),
                Literal::Guid(g) => KeyValue::Guid(g),
                _ => {
                    return Err(format!(
                        "`{}` is neither a quoted string ('EPIC06'), a whole number nor a GUID",
                        part.text
                    ))
                }
            };
            Ok((part.name, value))
        })
        .collect()
}

/// The keys in the entity's key order: positional keys as given, named keys ordered by
/// `$metadata` (every key column must be named once).
pub async fn ordered_keys(
    connection: &Connection,
    target: &Target,
    keys: &[(Option<String>, KeyValue)],
) -> Result<Vec<KeyValue>, Failure> {
    if keys.iter().all(|(n, _)| n.is_none()) {
        return Ok(keys.iter().map(|(_, v)| v.clone()).collect());
    }
    if keys.iter().any(|(n, _)| n.is_none()) {
        return Err(usage(
            "the key mixes named and positional values",
            "name every key column (Company='EPIC06',CustNum=45) or none ('EPIC06',45)",
        ));
    }
    let info = connection
        .entity_set_info(&target.service, &target.name)
        .await?;
    let mut ordered = Vec::new();
    for column in &info.key {
        let value = keys
            .iter()
            .find(|(n, _)| n.as_deref() == Some(column.as_str()))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                usage(
                    format!("the key does not name {column}"),
                    format!("the key of {} is ({})", info.name, info.key.join(", ")),
                )
            })?;
        ordered.push(value);
    }
    if keys.len() != info.key.len() {
        return Err(usage(
            "the key names a column that is not part of the key",
            format!("the key of {} is ({})", info.name, info.key.join(", ")),
        ));
    }
    Ok(ordered)
}

/// A JSON body from the command line: the text itself, `@FILE`, or `-` for standard input.
pub fn read_body(text: Option<&str>, flag: &str) -> Result<serde_json::Value, Failure> {
    let Some(text) = text else {
        return Ok(serde_json::Value::Null);
    };
    let (content, from) = if text == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Failure::Io {
            what: "reading the body from standard input".into(),
            source: e,
        })?;
        (s, "standard input".to_owned())
    } else if let Some(path) = text.strip_prefix('@') {
        let s = std::fs::read_to_string(path).map_err(|e| {
            usage(
                format!("cannot read the body from {path}: {e}"),
                format!("{flag} @FILE names a JSON file that exists and can be read"),
            )
        })?;
        (s, path.to_owned())
    } else {
        (text.to_owned(), flag.to_owned())
    };
    serde_json::from_str(&content).map_err(|e| {
        usage(
            format!("{from} is not JSON: {e}"),
            format!(
                "give a JSON object, e.g. {flag} '{{\"CustNum\": 12}}', or {flag} @file.json, or {flag} - to read standard input"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_positional_and_named_keys() {
        let t = parse_target(
            "Erp.BO.CustomerSvc/Customers('EPIC06',45)",
            "entity set",
            "",
        )
        .unwrap();
        assert_eq!(t.service, "Erp.BO.CustomerSvc");
        assert_eq!(t.name, "Customers");
        assert_eq!(
            t.keys.unwrap(),
            vec![
                (None, KeyValue::Str("EPIC06".into())),
                (None, KeyValue::Int(45))
            ]
        );
        let t = parse_target("S/Set(Name='O''Brien, Co',N=1)", "entity set", "").unwrap();
        assert_eq!(
            t.keys.unwrap(),
            vec![
                (Some("Name".into()), KeyValue::Str("O'Brien, Co".into())),
                (Some("N".into()), KeyValue::Int(1))
            ]
        );
        for bad in [
            "Customers",
            "S/",
            "/Set",
            "S/Set('x",
            "S/Set(abc)",
            "S/a/b",
            "S/Set(1",
        ] {
            assert!(
                parse_target(bad, "entity set", "S/Set").is_err(),
                "{bad} is refused"
            );
        }
    }
}
