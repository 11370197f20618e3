//! Business rules of the seeded tables, checked on every write path (OData POST/PATCH, BO Update and
//! UpdateExt, updatable BAQs) against the row as it will be stored. A broken rule is what Epicor's
//! business objects answer: 400 `Ice.Common.BusinessObjectException` whose `ErrorDetails` name the
//! table, the field, the program and the method (OData writes run the BO's Update on Epicor too).

use crate::api_error::ApiError;
use crate::model::{ColType, Table};
use rusqlite::types::Value;
use rusqlite::Connection;

/// The method named in `ErrorDetails`: every write reaches the business object through Update.
const METHOD: &str = "Update";

/// A stored value as a message shows it: `'text'`, `45`, `12.5`, `null`.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Null => "null".into(),
        Value::Blob(_) => "(binary)".into(),
    }
}

/// Terms codes that exist (the seeded Terms table has these rows in every company).
pub use crate::data::TERMS;

/// Checks the rules of `table` on `row` (every column, in the table's column order, as stored).
pub fn check(conn: &Connection, table: &Table, row: &[Value]) -> Result<(), ApiError> {
    let get = |name: &str| -> &Value {
        let i = table
            .columns
            .iter()
            .position(|c| c.name == name)
            .expect("rule names a column of its table");
        &row[i]
    };
    let text = |name: &str| match get(name) {
        Value::Text(s) => s.trim().to_string(),
        _ => String::new(),
    };
    let fail =
        |field: &str, message: String| Err(ApiError::rule(message, table.name, field, METHOD));
    let required = |field: &str, what: &str| -> Result<(), ApiError> {
        if text(field).is_empty() {
            return fail(
                field,
                format!(
                    "{what} is required: {} needs a non-blank {field}",
                    table.name
                ),
            );
        }
        Ok(())
    };
    let non_negative = |field: &str| -> Result<(), ApiError> {
        let v = match get(field) {
            Value::Real(f) => *f,
            Value::Integer(i) => *i as f64,
            _ => 0.0,
        };
        if v < 0.0 {
            let scale = match table.column(field).map(|c| c.ty) {
                Some(ColType::Decimal { scale, .. }) => scale as usize,
                _ => 0,
            };
            return fail(
                field,
                format!("{field} cannot be negative ({v:.scale$}); use 0 or more"),
            );
        }
        Ok(())
    };
    let terms = |field: &str| -> Result<(), ApiError> {
        let code = text(field);
        if !code.is_empty() && !TERMS.iter().any(|t| t.eq_ignore_ascii_case(&code)) {
            return fail(
                field,
                format!(
                    "Terms code '{code}' is not valid; use one of {} (or leave {field} empty)",
                    TERMS.join(", ")
                ),
            );
        }
        Ok(())
    };
    // A second row of the company with the same value of an alternate key (CustID, VendorID).
    let unique = |field: &str, what: &str, num: &str| -> Result<(), ApiError> {
        let sql = format!(
            "SELECT \"{num}\" FROM \"{}\" WHERE \"Company\" = ?1 AND \"{field}\" = ?2 AND \"{num}\" <> ?3 LIMIT 1",
            table.name
        );
        let other: Option<i64> = conn
            .prepare_cached(&sql)?
            .query_row(
                rusqlite::params_from_iter([get("Company"), get(field), get(num)]),
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        if let Some(other) = other {
            return fail(
                field,
                format!(
                    "{what} '{}' already exists in company {} ({num} {other}); choose another {field}",
                    text(field),
                    text("Company")
                ),
            );
        }
        Ok(())
    };
    match table.name {
        "Customer" => {
            required("CustID", "Customer ID")?;
            required("Name", "Name")?;
            terms("TermsCode")?;
            non_negative("CreditLimit")?;
            unique("CustID", "Customer ID", "CustNum")?;
        }
        "Vendor" => {
            required("VendorID", "Supplier ID")?;
            required("Name", "Name")?;
            terms("TermsCode")?;
            unique("VendorID", "Supplier ID", "VendorNum")?;
        }
        "OrderHed" => {
            let exists = conn
                .prepare_cached("SELECT 1 FROM Customer WHERE Company = ?1 AND CustNum = ?2")?
                .exists([get("Company"), get("CustNum")])?;
            if !exists {
                let num = show_value(get("CustNum"));
                return fail(
                    "CustNum",
                    format!(
                        "Customer {num} does not exist in company {}; CustNum must name an existing customer",
                        text("Company")
                    ),
                );
            }
            terms("TermsCode")?;
            non_negative("OrderAmt")?;
        }
        "OrderDtl" => {
            non_negative("OrderQty")?;
            non_negative("UnitPrice")?;
        }
        "Part" => {
            required("PartNum", "Part number")?;
            non_negative("UnitPrice")?;
        }
        _ => {}
    }
    Ok(())
}
