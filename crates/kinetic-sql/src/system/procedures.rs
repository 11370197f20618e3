//! `sys_procedures` and `sys_procedureparameters`: the OAuth procedures and the company's
//! Epicor Functions.

use super::scan::Narrowing;
use super::shape::{optional_text_cell, text_cell, Cell, Direction, Rows, SqlType, SysTable};
use super::EFX;
use crate::names::{CATALOG, DEFAULT_SCHEMA};
use crate::procedures::OAUTH_PROCEDURES;
use crate::server::{external, ServerModel};
use datafusion::error::Result;
use epicor_kinetic::ErrorKind;
use serde_json::Value;

/// The type of an output column of an OAuth procedure (as `crate::procedures` answers them:
/// `ExpiresIn` a 64-bit count of seconds, the rest text).
pub(super) fn oauth_output_type(column: &str) -> SqlType {
    if column.eq_ignore_ascii_case("ExpiresIn") {
        SqlType::BigInt
    } else {
        SqlType::Varchar
    }
}

pub(super) fn oauth_output_description(column: &str) -> &'static str {
    match column {
        "URL" => "The authorization address to open in a browser.",
        "OAuthAccessToken" => "The access token.",
        "ExpiresIn" => "Seconds the access token stays valid (NULL when the issuer did not say).",
        _ => "",
    }
}

/// The `ProcedureType` of every procedure listed.
pub(super) const PROCEDURE_TYPE: &str = "STORED PROCEDURE";

/// An Epicor Function as the server lists it.
pub(super) struct FunctionInfo {
    library: String,
    id: String,
    description: Option<String>,
    /// (name, type, direction).
    parameters: Vec<(String, SqlType, Direction)>,
}

pub(super) fn text_of<'a>(
    row: &'a serde_json::Map<String, Value>,
    keys: &[&str],
) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| row.get(*k).and_then(Value::as_str))
}

/// The published Epicor Functions of the company; none when the server refuses the list
/// (v1 servers without Functions, no API key, no licence): only a network failure is an error.
pub(super) async fn functions(server: &ServerModel) -> Result<Vec<FunctionInfo>> {
    let libraries = match server.conn.function_libraries(false).await {
        Ok(l) => l,
        Err(e) if e.kind() == ErrorKind::Transport => return Err(external(e)),
        Err(e) => {
            tracing::debug!(error = %e, "Epicor Functions left out of sys_procedures: the server does not list them");
            return Ok(Vec::new());
        }
    };
    let mut out = Vec::new();
    for library in &libraries {
        let Some(library_id) = text_of(library, &["LibraryID", "LibraryId", "Id"]) else {
            continue;
        };
        let functions = library
            .get("Functions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for f in functions.iter().filter_map(Value::as_object) {
            let Some(id) = text_of(f, &["FunctionID", "FunctionId", "Id"]) else {
                continue;
            };
            let mut parameters = Vec::new();
            for (key, direction) in [("Inputs", Direction::Input), ("Outputs", Direction::Output)] {
                for arg in f
                    .get(key)
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_object)
                {
                    let Some(name) = text_of(arg, &["Name", "name"]) else {
                        continue;
                    };
                    let ty = SqlType::of_dotnet(text_of(arg, &["Type", "type"]).unwrap_or(""));
                    parameters.push((name.to_owned(), ty, direction));
                }
            }
            out.push(FunctionInfo {
                library: library_id.to_owned(),
                id: id.to_owned(),
                description: text_of(f, &["Description"])
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned),
                parameters,
            });
        }
    }
    Ok(out)
}

/// One row of `sys_procedureparameters`.
#[allow(clippy::too_many_arguments)]
pub(super) fn parameter_row(
    schema: &str,
    procedure: &str,
    name: &str,
    direction: Direction,
    t: SqlType,
    required: bool,
    description: Option<&str>,
    ordinal: usize,
) -> Vec<Cell> {
    let (length, _, precision, scale) = t.shape(None, None, None);
    vec![
        text_cell(CATALOG),
        text_cell(schema),
        text_cell(procedure),
        text_cell(name),
        Cell::Int(Some(direction.code())),
        text_cell(t.name()),
        Cell::Int(Some(t.code())),
        Cell::Int(length),
        Cell::Int(precision),
        Cell::Int(scale),
        Cell::Bool(Some(!required)),
        Cell::Bool(Some(required)),
        optional_text_cell(description),
        Cell::Int(Some(i32::try_from(ordinal).unwrap_or(i32::MAX))),
    ]
}

pub(super) async fn procedures(
    which: SysTable,
    server: &ServerModel,
    n: &Narrowing,
    rows: &mut Rows,
) -> Result<()> {
    if !n.catalog_ok() {
        return Ok(());
    }
    if n.schema_ok(DEFAULT_SCHEMA) {
        for p in OAUTH_PROCEDURES.iter().filter(|p| n.object_ok(p.name)) {
            let parameters = p
                .parameters
                .iter()
                .map(|a| {
                    (
                        a.name,
                        Direction::Input,
                        SqlType::Varchar,
                        a.required,
                        a.description,
                    )
                })
                .chain(p.columns.iter().map(|c| {
                    (
                        *c,
                        Direction::Output,
                        oauth_output_type(c),
                        false,
                        oauth_output_description(c),
                    )
                }));
            if which == SysTable::Procedures {
                rows.0.push(vec![
                    text_cell(CATALOG),
                    text_cell(DEFAULT_SCHEMA),
                    text_cell(p.name),
                    text_cell(p.description),
                    text_cell(PROCEDURE_TYPE),
                ]);
                continue;
            }
            for (i, (name, direction, t, required, description)) in parameters.enumerate() {
                rows.0.push(parameter_row(
                    DEFAULT_SCHEMA,
                    p.name,
                    name,
                    direction,
                    t,
                    required,
                    Some(description),
                    i + 1,
                ));
            }
        }
    }
    // Epicor Functions: schema `efx.{library}`, name the function, as they are called
    // (`CALL efx.CustomerTools.GetCreditStatus(CustID => '...')`, see `crate::procedures`).
    // The list is read only when the filters may want one.
    let wants_functions = n
        .schema
        .as_ref()
        .is_none_or(|s| s.iter().any(|x| !x.eq_ignore_ascii_case(DEFAULT_SCHEMA)))
        && n.object.as_ref().is_none_or(|o| {
            o.iter().any(|x| {
                !OAUTH_PROCEDURES
                    .iter()
                    .any(|p| p.name.eq_ignore_ascii_case(x))
            })
        });
    if !wants_functions {
        return Ok(());
    }
    for f in functions(server).await? {
        let schema = format!("{EFX}.{}", f.library);
        if !n.schema_ok(&schema) || !n.object_ok(&f.id) {
            continue;
        }
        if which == SysTable::Procedures {
            rows.0.push(vec![
                text_cell(CATALOG),
                text_cell(&schema),
                text_cell(&f.id),
                Cell::Text(Some(match &f.description {
                    Some(d) => format!("Epicor Function {}/{}: {d}", f.library, f.id),
                    None => format!("Epicor Function {}/{}", f.library, f.id),
                })),
                text_cell(PROCEDURE_TYPE),
            ]);
            continue;
        }
        for (i, (name, t, direction)) in f.parameters.iter().enumerate() {
            rows.0.push(parameter_row(
                &schema,
                &f.id,
                name,
                *direction,
                *t,
                false,
                None,
                i + 1,
            ));
        }
    }
    Ok(())
}
