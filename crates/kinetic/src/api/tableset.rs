//! Tablesets: what BO methods take and give (`GetByID`'s `returnObj`, `Update`'s `ds`), a JSON
//! object of row tables (`{"Customer": [{...}], "CustomerAttch": [], "ExtensionTables": []}`).
//!
//! Real servers put more than row tables in a tableset: `ExtensionTables` (user-defined extension
//! tables, usually empty) beside them, and rows carry bookkeeping columns (`RowMod`, `BitFlag`,
//! `SysRowID`, `SysRevID`). A [`Tableset`] keeps the whole object exactly as the server sent it (so
//! `GetByID` → change → `Update` sends back every value in the server's own encoding: `SysRevID` a
//! number or a string, padded `CHAR` text, nulls), and tells the row tables apart from the rest.

use crate::api::Row;
use crate::{Error, Result};
use serde_json::{Map, Value};

/// Members of a tableset that are never row tables, whatever they hold.
const NOT_ROW_TABLES: &[&str] = &["ExtensionTables"];

/// A BO tableset, kept as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Tableset(Map<String, Value>);

impl Tableset {
    /// A tableset from a JSON object; anything else is [`Error::Protocol`].
    pub fn from_value(value: Value) -> Result<Tableset> {
        match value {
            Value::Object(map) => Ok(Tableset(map)),
            other => Err(Error::Protocol {
                status: None,
                message: format!(
                    "a tableset must be a JSON object of row tables, not {}",
                    kind(&other)
                ),
                correlation_id: None,
                source: None,
            }),
        }
    }

    /// The row tables, in the server's order: members whose value is an array of JSON objects
    /// (an empty array is a table with no rows), except `ExtensionTables`. Anything else (a
    /// scalar, an array of scalars) is not a row table and is skipped.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &[Value])> {
        self.0.iter().filter_map(|(name, v)| {
            let rows = v.as_array()?;
            let is_rows =
                !NOT_ROW_TABLES.contains(&name.as_str()) && rows.iter().all(Value::is_object);
            is_rows.then_some((name.as_str(), rows.as_slice()))
        })
    }

    /// The names of the row tables (see [`Tableset::tables`]).
    pub fn table_names(&self) -> Vec<&str> {
        self.tables().map(|(n, _)| n).collect()
    }

    /// The rows of `table`, when it is a row table of this tableset.
    pub fn rows(&self, table: &str) -> Option<Vec<&Row>> {
        self.tables()
            .find(|(n, _)| *n == table)
            .map(|(_, rows)| rows.iter().filter_map(Value::as_object).collect())
    }

    /// The rows of `table`, to change in place (every other value stays as sent).
    pub fn rows_mut(&mut self, table: &str) -> Option<Vec<&mut Row>> {
        if !self.table_names().contains(&table) {
            return None;
        }
        let rows = self.0.get_mut(table)?.as_array_mut()?;
        Some(rows.iter_mut().filter_map(Value::as_object_mut).collect())
    }

    /// Sets `column` of row `index` of `table` and marks the row updated (`RowMod = "U"`), as
    /// Epicor's `Update` expects. Every other value of the row stays as the server sent it.
    pub fn set(&mut self, table: &str, index: usize, column: &str, value: Value) -> Result<()> {
        let names: Vec<String> = self.table_names().iter().map(|s| s.to_string()).collect();
        let mut rows = self.rows_mut(table).ok_or_else(|| {
            Error::invalid_settings(
                "tableset",
                format!("the tableset has no row table {table}"),
                format!("use one of: {}", names.join(", ")),
            )
        })?;
        let count = rows.len();
        let row = rows.get_mut(index).ok_or_else(|| {
            Error::invalid_settings(
                "tableset",
                format!("table {table} has {count} rows; there is no row {index}"),
                "pick a row the tableset has",
            )
        })?;
        row.insert(column.to_owned(), value);
        row.insert("RowMod".to_owned(), Value::String("U".into()));
        Ok(())
    }

    /// The tableset as JSON, exactly as read (plus the changes made).
    pub fn as_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn real() -> Tableset {
        // The shape real servers send (EPICOR.md): row tables, ExtensionTables, bookkeeping columns.
        Tableset::from_value(json!({
            "Customer": [{"Company": "EPIC06", "CustNum": 12, "CustID": "ADDIS0001", "State": "MN  ",
                          "SysRevID": 123456, "SysRowID": "1f0e...", "BitFlag": 0, "RowMod": ""}],
            "CustomerAttch": [],
            "ExtensionTables": [],
            "CustomerNotes": "not a table",
            "Codes": [1, 2]
        }))
        .unwrap()
    }

    #[test]
    fn extension_tables_and_other_members_are_not_row_tables() {
        let t = real();
        assert_eq!(t.table_names(), ["Customer", "CustomerAttch"]);
        assert_eq!(t.rows("Customer").unwrap().len(), 1);
        assert_eq!(t.rows("CustomerAttch").unwrap().len(), 0);
        assert!(t.rows("ExtensionTables").is_none());
        assert!(t.rows("Codes").is_none());
        assert!(Tableset::from_value(json!([1])).is_err());
    }

    #[test]
    fn a_change_keeps_every_other_value_in_the_servers_encoding() {
        let mut t = real();
        t.set("Customer", 0, "City", json!("Minneapolis")).unwrap();
        let v = t.as_value();
        let row = &v["Customer"][0];
        assert_eq!(row["RowMod"], "U");
        assert_eq!(row["City"], "Minneapolis");
        assert_eq!(row["SysRevID"], json!(123456), "a number stays a number");
        assert_eq!(row["State"], "MN  ", "padding stays");
        assert_eq!(v["ExtensionTables"], json!([]));
        assert_eq!(v["CustomerNotes"], "not a table");
        let e = t.set("Nope", 0, "X", json!(1)).unwrap_err().to_string();
        assert!(e.contains("use one of: Customer, CustomerAttch"), "{e}");
        let e = t.set("Customer", 3, "X", json!(1)).unwrap_err().to_string();
        assert!(e.contains("has 1 rows"), "{e}");
    }
}
