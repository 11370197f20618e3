//! `kinetic baq`: a BAQ's rows (its parameters checked against the server's list) and the list
//! of BAQs (`kinetic describe BaqSvc/ID` is with `describe`, in [`crate::data`]).

use crate::common::{usage, Failure};
use crate::data::{RowArgs, ShowArgs};
use crate::output::{self, outln};
use clap::Args;
use epicor_kinetic::api::Record;
use epicor_kinetic::Connection;
use futures_util::TryStreamExt;
use serde_json::Value;

/// `kinetic baq`. The row options are `get`'s, their help worded for a BAQ.
#[derive(Args)]
#[command(
    mut_arg("filter", |a| a.help("Rows to read, as an OData filter on the BAQ's columns")),
    mut_arg("select", |a| a.help("Columns to read, comma separated")),
    mut_arg("orderby", |a| a.help("The order, e.g. 'Customer_Name desc'")),
    mut_arg("top", |a| a.help("At most N rows")),
)]
pub struct BaqArgs {
    /// The BAQ's id: zCustomerList (none with --list).
    #[arg(value_name = "BAQ_ID", required_unless_present = "list")]
    pub baq: Option<String>,
    /// List the BAQs the server has (id, description, parameters).
    #[arg(long, conflicts_with_all = ["params", "filter", "select", "top", "orderby"])]
    pub list: bool,
    /// A parameter, repeatable: --param CustID=KEYST0045. The name is one the BAQ lists
    /// (`kinetic describe BaqSvc/ID`), in any case.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub rows: RowArgs,
    #[command(flatten)]
    pub show: ShowArgs,
}

pub async fn baq(args: BaqArgs) -> Result<(), Failure> {
    if args.list {
        let connection = args.show.connection.open().await?;
        let rows = connection.baq_list().await?;
        if args.show.format.table() {
            output::rows_table(&rows)?;
        } else {
            output::json(&Value::Array(rows.into_iter().map(Value::Object).collect()))?;
        }
        return Ok(());
    }
    let id = args.baq.clone().unwrap_or_default();
    if id.is_empty() || id.contains('/') {
        return Err(usage(
            format!("`{id}` is not a BAQ id"),
            "give the BAQ's id alone, e.g. kinetic baq zCustomerList (kinetic baq --list lists them)",
        ));
    }
    let mut params: Vec<(&str, &str)> = Vec::new();
    for p in &args.params {
        let (name, value) = p.split_once('=').ok_or_else(|| {
            usage(
                format!("--param {p} has no `=`"),
                "write --param NAME=VALUE, e.g. --param CustID=KEYST0045",
            )
        })?;
        if name.is_empty() {
            return Err(usage(
                format!("--param {p} has no name"),
                "write --param NAME=VALUE",
            ));
        }
        if let Some(why) = epicor_kinetic::http::custom_option_error(name) {
            return Err(usage(
                format!("--param {name}: {why}"),
                "filter, order and limit the rows with --filter, --orderby and --top",
            ));
        }
        params.push((name, value));
    }
    let connection = args.show.connection.open().await?;
    let mut query = connection.baq_query(&id);
    for (name, value) in baq_parameters(&connection, &id, params).await? {
        query = query.parameter(&name, value);
    }
    let query = args.rows.apply(query)?;
    // Typed from the BAQ's $metadata, as `kinetic get` reads entity sets: decimals exact.
    let records: Vec<Record> = query.clone().records().try_collect().await?;
    if args.show.format.table() {
        let columns = match records.first() {
            Some(r) => r.columns().clone(),
            None => query.columns().await?,
        };
        output::records_table(&columns, &records)?;
    } else {
        let text: Vec<String> = records.iter().map(Record::to_json_text).collect();
        outln!("[{}]", text.join(","))?;
    }
    Ok(())
}

/// The `--param`s of the BAQ `id`, each under the name the server lists (given in any case, as
/// Epicor reads names); a name the server's list of the BAQ's parameters does not hold is a
/// usage error, and so is a name given twice. When the server does not list the BAQ's
/// parameters, a name must be spelt as parameters are (letters, digits, `_`). The list is read
/// only when parameters are given.
async fn baq_parameters<'a>(
    connection: &Connection,
    id: &str,
    given: Vec<(&str, &'a str)>,
) -> Result<Vec<(String, &'a str)>, Failure> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    let listed = connection.baq_list().await?;
    let listed: Option<Vec<&str>> = listed
        .iter()
        .find(|r| {
            r.get("QueryID")
                .and_then(Value::as_str)
                .is_some_and(|q| q.eq_ignore_ascii_case(id))
        })
        .and_then(|r| r.get("Parameters"))
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("Name").and_then(Value::as_str))
                .collect()
        });
    let mut out: Vec<(String, &str)> = Vec::with_capacity(given.len());
    for (name, value) in given {
        let name = match &listed {
            Some(names) => match names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
                Some(n) => (*n).to_owned(),
                None => {
                    return Err(usage(
                        format!(
                            "BAQ {id} has no parameter {name}; its parameters: {}",
                            if names.is_empty() {
                                "none".to_owned()
                            } else {
                                names.join(", ")
                            }
                        ),
                        format!("`kinetic describe BaqSvc/{id}` lists them"),
                    ))
                }
            },
            None if epicor_kinetic::api::is_baq_parameter_name(name) => name.to_owned(),
            None => {
                return Err(usage(
                    format!("--param {name}: not a parameter name"),
                    "BAQ parameters are named with letters, digits and _",
                ))
            }
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(usage(
                format!("--param {name} is given twice"),
                "give each parameter once",
            ));
        }
        out.push((name, value));
    }
    Ok(out)
}
