//! The data commands: get, call, efx, create, update, delete, services, describe (`baq` in
//! [`crate::baq`], on the query options here).

use crate::common::{
    ordered_keys, parse_target, read_body, usage, ConnectionArgs, Failure, Format, Target,
};
use crate::output::{self, outln};
use clap::Args;
use epicor_kinetic::api::{EntitySetQuery, Record};
use epicor_kinetic::Connection;
use futures_util::TryStreamExt;
use serde_json::Value;
use std::io::Write as _;

/// Which rows, which columns, in what order, how many: the query options of `get`, `export` and
/// `baq` (which words their help for a BAQ's columns, see [`crate::baq::BaqArgs`]).
#[derive(Args, Clone, Default)]
pub struct RowArgs {
    /// Rows to read, as an OData filter: "State eq 'MN' and CreditLimit ge 1000".
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Columns to read, comma-separated: CustNum,CustID,Name.
    #[arg(long, value_name = "COLUMNS")]
    pub select: Option<String>,
    /// Order, comma-separated, each optionally `desc`: "Name desc,CustNum". The key is added
    /// after it so paging is exact.
    #[arg(long, value_name = "ORDER")]
    pub orderby: Option<String>,
    /// Read at most N rows.
    #[arg(long, value_name = "N")]
    pub top: Option<u64>,
}

impl RowArgs {
    /// `q` with these options (the filter and order parsed before anything is sent).
    pub fn apply(&self, mut q: EntitySetQuery) -> Result<EntitySetQuery, Failure> {
        if let Some(f) = &self.filter {
            q = q.filter_str(f)?;
        }
        if let Some(s) = &self.select {
            let columns: Vec<&str> = s
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            if columns.is_empty() {
                return Err(usage(
                    "--select names no column",
                    "give column names separated by commas, e.g. --select CustNum,Name",
                ));
            }
            q = q.select(columns);
        }
        if let Some(o) = &self.orderby {
            q = q.order_by_str(o)?;
        }
        if let Some(t) = self.top {
            q = q.top(t);
        }
        Ok(q)
    }
}

/// How a data command shows its answer (`--format`), and its connection: what `get`, `create`,
/// `update`, `delete`, `services`, `describe` and `baq` take.
#[derive(Args)]
pub struct ShowArgs {
    /// Output: table on a terminal, JSON when piped.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Query options shared by `get` and `export`.
#[derive(Args, Clone, Default)]
pub struct QueryArgs {
    #[command(flatten)]
    pub rows: RowArgs,
    /// Skip the first N rows.
    #[arg(long, value_name = "N")]
    pub skip: Option<u64>,
    /// Related rows to read with each row, in single quotes (the shell expands `$` in double
    /// quotes): 'OrderDtls($select=OrderLine,PartNum)'.
    #[arg(long, value_name = "NAVIGATION")]
    pub expand: Option<String>,
    /// Pages fetched at once, fixed (overrides the Parallelism property; unset, each query
    /// chooses, up to MaxParallelism, by how fast the server answers); rows stay in order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallelism: Option<u32>,
}

impl QueryArgs {
    /// Refuses what a shell leaves of an option whose `$name` it expanded (see
    /// [`shell_leftover`]), before the OData parser's less telling message.
    pub fn check_shell_leftovers(&self) -> Result<(), Failure> {
        let options = [
            ("--filter", &self.rows.filter, false),
            ("--select", &self.rows.select, true),
            ("--orderby", &self.rows.orderby, false),
            ("--expand", &self.expand, true),
        ];
        for (flag, value, navigation) in options {
            if let Some(value) = value {
                if let Some(left) = shell_leftover(value, navigation) {
                    return Err(usage(
                        format!("{flag} `{value}` has `{left}`, an option without its name"),
                        format!(
                            "the shell may have expanded `$...`: put the value in single quotes, e.g. {flag} '{}'",
                            if navigation {
                                "OrderDtls($select=PartNum)"
                            } else {
                                "State eq 'MN'"
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The query on `target`'s entity set with these options (validated before sending).
    pub fn query(
        &self,
        connection: &Connection,
        target: &Target,
    ) -> Result<EntitySetQuery, Failure> {
        self.check_shell_leftovers()?;
        let mut q = self
            .rows
            .apply(connection.entity_set(&target.service, &target.name))?;
        if let Some(s) = self.skip {
            q = q.skip(s);
        }
        if let Some(e) = &self.expand {
            q = q.expand(e)?;
        }
        if let Some(p) = self.parallelism {
            q = q.parallelism(p as usize);
        }
        Ok(q)
    }
}

/// What a shell leaves of a query option whose `$name` it expanded to nothing (in double quotes or
/// none, `"OrderDtls($select=PartNum)"` arrives as `OrderDtls(=PartNum)`): an option without its
/// name (`(=`, `;=`, `,=`, or `=` first) or, in an expansion or selection (`navigation`), empty
/// parentheses. Text in OData string literals (`'...'`) is not looked at. The leftover found.
fn shell_leftover(value: &str, navigation: bool) -> Option<&'static str> {
    // The value without its string literals, spaces dropped.
    let mut outside = String::new();
    let mut in_literal = false;
    for ch in value.chars() {
        if ch == '\'' {
            // A doubled quote in a literal closes and reopens it: the same as staying inside.
            in_literal = !in_literal;
        } else if !in_literal && !ch.is_whitespace() {
            outside.push(ch);
        }
    }
    if outside.starts_with('=') {
        return Some("=");
    }
    for left in ["(=", ";=", ",="] {
        if outside.contains(left) {
            return Some(left);
        }
    }
    (navigation && outside.contains("()")).then_some("()")
}

/// `kinetic get`.
#[derive(Args)]
pub struct GetArgs {
    /// Service/EntitySet, or Service/EntitySet(keys) for one row: Erp.BO.CustomerSvc/Customers('EPIC06',45)
    #[arg(value_name = "SERVICE/SET[(KEYS)]")]
    pub target: String,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Print only how many rows match --filter (the server's $count), not the rows.
    #[arg(long)]
    pub count: bool,
    #[command(flatten)]
    pub show: ShowArgs,
}

/// Rows a table shows when no --top is given (a table must be held whole to be laid out).
const TABLE_ROWS: u64 = 50;

pub async fn get(args: GetArgs) -> Result<(), Failure> {
    let target = parse_target(
        &args.target,
        "entity set",
        "Erp.BO.CustomerSvc/Customers or Erp.BO.CustomerSvc/Customers('EPIC06',45)",
    )?;
    args.query.check_shell_leftovers()?;
    let connection = args.show.connection.open().await?;
    let as_table = args.show.format.table();
    if target.keys.is_some() && target.navigation.is_none() {
        if args.count {
            return Err(usage(
                "--count counts the rows of an entity set, not one row",
                "drop the key, e.g. kinetic get Erp.BO.CustomerSvc/Customers --count",
            ));
        }
        let q = &args.query;
        let set_only = [
            ("--filter", q.rows.filter.is_some()),
            ("--orderby", q.rows.orderby.is_some()),
            ("--top", q.rows.top.is_some()),
            ("--skip", q.skip.is_some()),
            ("--parallelism", q.parallelism.is_some()),
        ];
        if let Some((flag, _)) = set_only.iter().find(|(_, given)| *given) {
            return Err(usage(
                format!("{flag} applies to the rows of an entity set, not to one row by its key"),
                "drop the key to query the set, e.g. kinetic get Erp.BO.CustomerSvc/Customers --filter \"State eq 'MN'\"",
            ));
        }
    }
    if let Some(keys) = &target.keys {
        let keys = ordered_keys(&connection, &target, keys).await?;
        if let Some(navigation) = &target.navigation {
            return print_navigation(&connection, &target, &keys, navigation, as_table).await;
        }
        let mut record = connection
            .get_record(
                &target.service,
                &target.name,
                &keys,
                args.query.expand.as_deref(),
            )
            .await?;
        if let Some(select) = &args.query.rows.select {
            let names: Vec<&str> = select
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            record = record.select(&names).map_err(|missing| {
                let columns: Vec<&str> = record.columns().iter().map(|c| c.name.as_str()).collect();
                let guess =
                    epicor_kinetic::did_you_mean::closest(&missing, columns.iter().copied())
                        .map(|g| format!("did you mean {g}? "))
                        .unwrap_or_default();
                usage(
                    format!("--select names no column `{missing}` of {}", target.name),
                    format!("{guess}its columns are: {}", columns.join(", ")),
                )
            })?;
        }
        print_record(&record, as_table)?;
        return Ok(());
    }
    let query = args.query.query(&connection, &target)?;
    if args.count {
        // The rows a listing would show: `$count` of the filter, less --skip, at most --top.
        let total = query.count().await?;
        let shown = total.saturating_sub(args.query.skip.unwrap_or(0));
        outln!("{}", args.query.rows.top.map_or(shown, |t| shown.min(t)))?;
        return Ok(());
    }
    if as_table {
        let shown = args.query.rows.top.unwrap_or(TABLE_ROWS);
        // One row more than shown tells whether there are more, when --top did not say.
        let ask = if args.query.rows.top.is_some() {
            shown
        } else {
            shown + 1
        };
        let records: Vec<Record> = query.clone().top(ask).records().try_collect().await?;
        let more = records.len() as u64 > shown;
        let records = &records[..records.len().min(shown as usize)];
        let columns = match records.first() {
            Some(r) => r.columns().clone(),
            None => query.columns().await?,
        };
        output::records_table(&columns, records)?;
        if more {
            eprintln!(
                "(the first {shown} rows; --top N for more, --format json for all, or `kinetic export`)"
            );
        }
    } else {
        // Streamed: one page in memory whatever the size.
        let mut stream = Box::pin(query.records());
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let io = output::stdout_error;
        // Nothing is printed before the first row arrives, so a query the server refuses leaves
        // standard output empty.
        let mut first = true;
        while let Some(record) = stream.try_next().await? {
            out.write_all(if first { b"[\n" } else { b",\n" })
                .map_err(io)?;
            first = false;
            out.write_all(record.to_json_text().as_bytes())
                .map_err(io)?;
        }
        out.write_all(if first { b"[]\n" } else { b"\n]\n" })
            .map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(())
}

/// `Set(keys)/Navigation`: the related rows of one row (read with the row, `$expand`).
async fn print_navigation(
    connection: &Connection,
    target: &Target,
    keys: &[epicor_kinetic::http::KeyValue],
    navigation: &str,
    as_table: bool,
) -> Result<(), Failure> {
    let record = connection
        .get_record(&target.service, &target.name, keys, Some(navigation))
        .await?;
    use epicor_kinetic::api::TypedValue;
    let related: Vec<Record> = match record.get(navigation) {
        Some(TypedValue::Records(rows)) => rows.clone(),
        Some(TypedValue::Record(row)) => vec![(**row).clone()],
        Some(TypedValue::Null) => Vec::new(),
        _ => {
            return Err(usage(
                format!("{} has no navigation `{navigation}`", target.name),
                format!(
                    "`kinetic describe {}/{}` lists its navigations",
                    target.service, target.name
                ),
            ))
        }
    };
    if as_table {
        match related.first() {
            Some(first) => output::records_table(&first.columns().clone(), &related),
            None => output::records_table(&[], &related),
        }?;
    } else {
        let text: Vec<String> = related.iter().map(Record::to_json_text).collect();
        if text.is_empty() {
            outln!("[]")?;
        } else {
            outln!("[\n{}\n]", text.join(",\n"))?;
        }
    }
    Ok(())
}

/// Prints one typed row: a two-column table, or a JSON object (decimals exact).
fn print_record(record: &Record, as_table: bool) -> Result<(), Failure> {
    if as_table {
        output::record_table(record)
    } else {
        outln!("{}", record.to_json_text())
    }
}

/// `kinetic call` and `kinetic efx`.
#[derive(Args)]
pub struct CallArgs {
    /// Service/Method (call) or Library/Function (efx).
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// The parameters: JSON text, @FILE, or - for standard input.
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub body: Option<String>,
    /// Output: a table on a terminal (the answer's rows, or its fields), JSON otherwise.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `kinetic efx`: a function call, or the list of libraries.
#[derive(Args)]
pub struct EfxArgs {
    /// Library/Function.
    #[arg(value_name = "LIBRARY/FUNCTION", required_unless_present = "list")]
    pub target: Option<String>,
    /// The inputs: JSON text, @FILE, or - for standard input.
    #[arg(long, value_name = "JSON|@FILE|-", conflicts_with = "list")]
    pub body: Option<String>,
    /// List the company's Function libraries with their functions, inputs and outputs.
    #[arg(long)]
    pub list: bool,
    /// Use the libraries' staging (unpublished) versions.
    #[arg(long)]
    pub staging: bool,
    /// Output: a table on a terminal, JSON otherwise.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

pub async fn call(args: CallArgs) -> Result<(), Failure> {
    let target = parse_target(
        &args.target,
        "method",
        "Erp.BO.CustomerSvc/GetByID --body '{\"custNum\": 12}'",
    )?;
    if target.keys.is_some() {
        return Err(usage(
            "a method takes no key",
            "pass its parameters with --body",
        ));
    }
    let body = read_body(args.body.as_deref(), "--body")?;
    let connection = args.connection.open().await?;
    let answer = connection
        .call_text(&target.service, &target.name, &body)
        .await?;
    output::answer(&exact_answer(&answer)?, args.format.table())?;
    Ok(())
}

pub async fn efx(args: EfxArgs) -> Result<(), Failure> {
    let staging = args.staging;
    if args.list {
        let settings = args.connection.settings()?;
        let connection = epicor_kinetic::Connection::open(settings).await?;
        let libraries = connection.function_libraries(staging).await?;
        if args.format.table() {
            let rows: Vec<Vec<String>> = libraries
                .iter()
                .flat_map(|l| {
                    let library = l.get("LibraryID").map(output::cell).unwrap_or_default();
                    let functions = l
                        .get("Functions")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    functions.into_iter().map(move |f| {
                        let names = |k: &str| {
                            f.get(k)
                                .and_then(Value::as_array)
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x.get("Name").and_then(Value::as_str))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                })
                                .unwrap_or_default()
                        };
                        vec![
                            library.clone(),
                            f.get("FunctionID").map(output::cell).unwrap_or_default(),
                            names("Inputs"),
                            names("Outputs"),
                        ]
                    })
                })
                .collect();
            if rows.is_empty() {
                outln!("no functions")?;
            } else {
                output::table(
                    &[
                        "library".into(),
                        "function".into(),
                        "inputs".into(),
                        "outputs".into(),
                    ],
                    &rows,
                )?;
            }
        } else {
            output::json(&Value::Array(
                libraries.into_iter().map(Value::Object).collect(),
            ))?;
        }
        return Ok(());
    }
    let target_text = args.target.clone().unwrap_or_default();
    let target = parse_target(
        &target_text,
        "function",
        "CustomerTools/GetCreditStatus --body '{\"CustID\": \"KEYST0045\"}'",
    )?;
    let body = read_body(args.body.as_deref(), "--body")?;
    let settings = args.connection.settings()?;
    if settings.auth.api_key.is_none() {
        return Err(usage(
            "Epicor Functions are served by the v2 API, which needs an API key",
            "set ApiKey (and Company) in the connection, e.g. -c \"...;ApiVersion=v2;Company=EPIC06;ApiKey=...\"",
        ));
    }
    let connection = epicor_kinetic::Connection::open(settings).await?;
    let answer = connection
        .function_text(&target.service, &target.name, &body, staging)
        .await?;
    output::answer(&exact_answer(&answer)?, args.format.table())?;
    Ok(())
}

/// An answer's JSON text (numbers as written); null when there is none.
pub(crate) fn exact_answer(text: &str) -> Result<crate::exact::Json, Failure> {
    if text.trim().is_empty() {
        return Ok(crate::exact::Json::Null);
    }
    crate::exact::Json::parse(text).map_err(|e| {
        Failure::from(epicor_kinetic::Error::Protocol {
            status: None,
            message: format!("the answer is not JSON: {e}"),
            correlation_id: None,
            source: None,
        })
    })
}

/// `kinetic create`, `update`, `delete`.
#[derive(Args)]
pub struct WriteArgs {
    /// Service/EntitySet for create; Service/EntitySet(keys) for update and delete.
    #[arg(value_name = "SERVICE/SET[(KEYS)]")]
    pub target: String,
    /// The row (create) or the columns to change (update): JSON text, @FILE, or -.
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub body: Option<String>,
    #[command(flatten)]
    pub show: ShowArgs,
}

/// `kinetic delete`: an address, no body.
#[derive(Args)]
pub struct DeleteArgs {
    /// Service/EntitySet(keys).
    #[arg(value_name = "SERVICE/SET(KEYS)")]
    pub target: String,
    #[command(flatten)]
    pub show: ShowArgs,
}

impl From<DeleteArgs> for WriteArgs {
    fn from(d: DeleteArgs) -> WriteArgs {
        WriteArgs {
            target: d.target,
            body: None,
            show: d.show,
        }
    }
}

/// Which write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
    Delete,
}

pub async fn write(args: WriteArgs, kind: Write) -> Result<(), Failure> {
    let example = match kind {
        Write::Create => {
            "Erp.BO.CustomerSvc/Customers --body '{\"CustID\":\"NEW01\",\"Name\":\"New\"}'"
        }
        Write::Update => "Erp.BO.CustomerSvc/Customers('EPIC06',45) --body '{\"City\":\"Duluth\"}'",
        Write::Delete => "Erp.BO.CustomerSvc/Customers('EPIC06',45)",
    };
    let target = parse_target(&args.target, "entity set", example)?;
    let body = read_body(args.body.as_deref(), "--body")?;
    match (kind, &target.keys) {
        (Write::Create, Some(_)) => {
            return Err(usage(
                "create takes the entity set without a key",
                format!("e.g. kinetic create {example}"),
            ))
        }
        (Write::Update | Write::Delete, None) => {
            return Err(usage(
                "which row? the address has no key",
                format!(
                    "e.g. kinetic {} {example}",
                    if kind == Write::Update {
                        "update"
                    } else {
                        "delete"
                    }
                ),
            ))
        }
        _ => {}
    }
    if kind != Write::Delete && !body.is_object() {
        return Err(usage(
            "--body must be a JSON object of columns",
            format!(
                "e.g. kinetic {} {example}",
                if kind == Write::Create {
                    "create"
                } else {
                    "update"
                }
            ),
        ));
    }
    let connection = args.show.connection.open().await?;
    match kind {
        Write::Create => {
            match connection
                .create_record(&target.service, &target.name, &body)
                .await?
            {
                Some(record) => print_record(&record, args.show.format.table())?,
                None => eprintln!("created"),
            }
        }
        Write::Update => {
            let keys =
                ordered_keys(&connection, &target, target.keys.as_deref().unwrap_or(&[])).await?;
            connection
                .update(&target.service, &target.name, &keys, &body)
                .await?;
            eprintln!("updated {}", args.target);
        }
        Write::Delete => {
            let keys =
                ordered_keys(&connection, &target, target.keys.as_deref().unwrap_or(&[])).await?;
            let deleted = connection
                .delete(&target.service, &target.name, &keys)
                .await?;
            match deleted {
                epicor_kinetic::api::Deleted::Now => eprintln!("deleted {}", args.target),
                epicor_kinetic::api::Deleted::AnswerLost => eprintln!(
                    "deleted {} (the server's first answer was lost on the way back; repeated, the row was already gone)",
                    args.target
                ),
            }
        }
    }
    Ok(())
}

/// `kinetic services`.
#[derive(Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    pub show: ShowArgs,
}

pub async fn services(args: ServicesArgs) -> Result<(), Failure> {
    let connection = args.show.connection.open().await?;
    let services = connection.services().await?;
    if args.show.format.table() {
        let rows: Vec<Vec<String>> = services
            .iter()
            .map(|s| vec![s.name.clone(), s.url.clone()])
            .collect();
        output::table(&["service".into(), "url".into()], &rows)?;
    } else {
        output::json(&Value::Array(
            services
                .iter()
                .map(|s| serde_json::json!({"name": s.name, "url": s.url}))
                .collect(),
        ))?;
    }
    Ok(())
}

/// `kinetic describe`.
#[derive(Args)]
pub struct DescribeArgs {
    /// A service (its entity sets) or Service/EntitySet (its columns, types and key).
    #[arg(value_name = "SERVICE[/SET]")]
    pub target: String,
    #[command(flatten)]
    pub show: ShowArgs,
}

fn column_json(c: &epicor_kinetic::api::Column) -> Value {
    serde_json::json!({
        "name": c.name,
        "type": c.edm_type.as_str(),
        "key": c.key,
        "nullable": c.nullable,
        "precision": c.precision,
        "scale": c.scale,
    })
}

fn type_text(c: &epicor_kinetic::api::Column) -> String {
    match (c.precision, c.scale) {
        (Some(p), Some(s)) => format!("{}({p},{s})", c.edm_type.as_str()),
        (Some(p), None) => format!("{}({p})", c.edm_type.as_str()),
        _ => c.edm_type.as_str().to_owned(),
    }
}

/// `kinetic describe BaqSvc/ID`: a BAQ's parameters (from the server's list) and its columns
/// (from its own `$metadata`).
async fn describe_baq(connection: &Connection, id: &str, as_table: bool) -> Result<(), Failure> {
    let listed = connection.baq_list().await?;
    let entry = listed.iter().find(|r| {
        r.get("QueryID")
            .and_then(Value::as_str)
            .is_some_and(|q| q.eq_ignore_ascii_case(id))
    });
    let Some(entry) = entry else {
        let ids: Vec<&str> = listed
            .iter()
            .filter_map(|r| r.get("QueryID").and_then(Value::as_str))
            .collect();
        return Err(usage(
            format!("the server has no BAQ `{id}`"),
            format!("its BAQs are: {}", ids.join(", ")),
        ));
    };
    let columns = connection.baq_query(id).columns().await?;
    let parameters = entry
        .get("Parameters")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    if as_table {
        let rows: Vec<Vec<String>> = columns
            .iter()
            .map(|c| vec![c.name.clone(), type_text(c)])
            .collect();
        output::table(&["column".into(), "type".into()], &rows)?;
        let params: Vec<String> = parameters
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let name = p.get("Name").and_then(Value::as_str)?;
                let required = p.get("Required").and_then(Value::as_bool).unwrap_or(false);
                Some(if required {
                    format!("{name} (required)")
                } else {
                    name.to_owned()
                })
            })
            .collect();
        if !params.is_empty() {
            outln!("parameters (--param NAME=VALUE): {}", params.join(", "))?;
        }
    } else {
        output::json(&serde_json::json!({
            "baq": id,
            "description": entry.get("Description"),
            "parameters": parameters,
            "columns": columns.iter().map(column_json).collect::<Vec<_>>(),
        }))?;
    }
    Ok(())
}

pub async fn describe(args: DescribeArgs) -> Result<(), Failure> {
    let (service, set) = match args.target.split_once('/') {
        Some((s, e)) if !s.is_empty() && !e.is_empty() && !e.contains(['/', '(']) => {
            (s.to_owned(), Some(e.to_owned()))
        }
        Some(_) => {
            return Err(usage(
                format!("`{}` is not a service or Service/EntitySet", args.target),
                "e.g. kinetic describe Erp.BO.CustomerSvc/Customers",
            ))
        }
        None => (args.target.clone(), None),
    };
    let connection = args.show.connection.open().await?;
    let as_table = args.show.format.table();
    match set {
        Some(baq) if service.eq_ignore_ascii_case("BaqSvc") => {
            describe_baq(&connection, &baq, as_table).await?;
        }
        Some(set) => {
            let info = connection.entity_set_info(&service, &set).await?;
            if as_table {
                let rows: Vec<Vec<String>> = info
                    .columns
                    .iter()
                    .map(|c| {
                        vec![
                            c.name.clone(),
                            type_text(c),
                            if c.key { "key".into() } else { String::new() },
                            if c.nullable {
                                "yes".into()
                            } else {
                                "no".into()
                            },
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "column".into(),
                        "type".into(),
                        "key".into(),
                        "nullable".into(),
                    ],
                    &rows,
                )?;
                outln!("key: ({})", info.key.join(", "))?;
                if !info.navigation.is_empty() {
                    outln!("navigation ($expand): {}", info.navigation.join(", "))?;
                }
            } else {
                output::json(&serde_json::json!({
                    "service": service,
                    "entity_set": info.name,
                    "entity_type": info.entity_type,
                    "key": info.key,
                    "columns": info.columns.iter().map(column_json).collect::<Vec<_>>(),
                    "navigation": info.navigation,
                }))?;
            }
        }
        None => {
            let sets = connection.entity_sets(&service).await?;
            if as_table {
                let rows: Vec<Vec<String>> = sets
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.key.join(", "),
                            s.columns.len().to_string(),
                            s.navigation.join(", "),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "entity set".into(),
                        "key".into(),
                        "columns".into(),
                        "navigation".into(),
                    ],
                    &rows,
                )?;
            } else {
                output::json(&Value::Array(
                    sets.iter()
                        .map(|s| {
                            serde_json::json!({
                                "name": s.name,
                                "entity_type": s.entity_type,
                                "key": s.key,
                                "columns": s.columns.iter().map(column_json).collect::<Vec<_>>(),
                                "navigation": s.navigation,
                            })
                        })
                        .collect(),
                ))?;
            }
        }
    }
    Ok(())
}
