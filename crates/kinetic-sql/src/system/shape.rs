//! The system tables' shapes: which tables there are, their columns and types, and the rows
//! they are built from (cells of text, integers and booleans) into Arrow batches.

use super::NAMES;
use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int32Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use std::sync::Arc;

// Procedures: types and directions (the OAuth procedures are described once, in
// `crate::procedures::OAUTH_PROCEDURES`, which runs them)

/// A SQL type as the system tables show it: a name (`DataTypeName`) and the JDBC/ODBC type code
/// the reference gives (`DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// Text (`varchar`, 12).
    Varchar,
    /// A 32-bit integer (`int`, 4).
    Int,
    /// A 64-bit integer (`bigint`, -5).
    BigInt,
    /// An exact decimal (`decimal`, 3).
    Decimal,
    /// A boolean (`bool`, 16).
    Bool,
    /// A date (`date`, 91).
    Date,
    /// A date and time (`datetime`, 93).
    Datetime,
    /// A double-precision float (`double`, 8).
    Double,
    /// A single-precision float (`real`, 7).
    Real,
}

impl SqlType {
    /// The `DataTypeName`.
    pub fn name(self) -> &'static str {
        match self {
            SqlType::Varchar => "varchar",
            SqlType::Int => "int",
            SqlType::BigInt => "bigint",
            SqlType::Decimal => "decimal",
            SqlType::Bool => "bool",
            SqlType::Date => "date",
            SqlType::Datetime => "datetime",
            SqlType::Double => "double",
            SqlType::Real => "real",
        }
    }

    /// The `DataType`: the JDBC (and ODBC) type code.
    pub fn code(self) -> i32 {
        match self {
            SqlType::Varchar => 12,
            SqlType::Int => 4,
            SqlType::BigInt => -5,
            SqlType::Decimal => 3,
            SqlType::Bool => 16,
            SqlType::Date => 91,
            SqlType::Datetime => 93,
            SqlType::Double => 8,
            SqlType::Real => 7,
        }
    }

    /// The type of an Arrow column (as [`crate::arrow::data_type`] makes them).
    pub fn of_arrow(data_type: &DataType) -> SqlType {
        match data_type {
            DataType::Int8 | DataType::Int16 | DataType::Int32 => SqlType::Int,
            DataType::Int64 => SqlType::BigInt,
            DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => SqlType::Decimal,
            DataType::Boolean => SqlType::Bool,
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Timestamp(..) => SqlType::Datetime,
            DataType::Float64 => SqlType::Double,
            DataType::Float32 | DataType::Float16 => SqlType::Real,
            _ => SqlType::Varchar,
        }
    }

    /// The type of an Epicor Function argument as the server lists it (`System.String`, ...).
    pub fn of_dotnet(name: &str) -> SqlType {
        match name.trim().trim_start_matches("System.") {
            "Int32" | "Int16" | "Byte" | "int" => SqlType::Int,
            "Int64" | "long" => SqlType::BigInt,
            "Decimal" | "decimal" => SqlType::Decimal,
            "Boolean" | "bool" => SqlType::Bool,
            "DateTime" | "DateTimeOffset" => SqlType::Datetime,
            "Double" | "double" => SqlType::Double,
            "Single" | "float" => SqlType::Real,
            _ => SqlType::Varchar,
        }
    }

    /// `(Length, DisplaySize, NumericPrecision, NumericScale)` of a column of this type;
    /// `length` is a text column's declared `MaxLength`, `precision`/`scale` a decimal's.
    pub(super) fn shape(
        self,
        length: Option<u32>,
        precision: Option<i32>,
        scale: Option<i32>,
    ) -> (Option<i32>, Option<i32>, Option<i32>, Option<i32>) {
        match self {
            SqlType::Varchar => {
                let n = length.and_then(|n| i32::try_from(n).ok());
                (n, n, None, None)
            }
            SqlType::Int => (Some(10), Some(11), Some(10), Some(0)),
            SqlType::BigInt => (Some(19), Some(20), Some(19), Some(0)),
            SqlType::Decimal => (precision, precision.map(|p| p + 2), precision, scale),
            SqlType::Bool => (Some(1), Some(5), None, None),
            SqlType::Date => (Some(10), Some(10), None, None),
            SqlType::Datetime => (Some(26), Some(26), None, None),
            SqlType::Double => (Some(15), Some(24), Some(15), None),
            SqlType::Real => (Some(7), Some(14), Some(7), None),
        }
    }
}

/// Whether a procedure parameter goes in or comes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// An input (`Direction` 1 in `sys_procedureparameters`).
    Input,
    /// An output: a column of the procedure's result (`Direction` 4).
    Output,
}

impl Direction {
    /// The reference's code: 1 input, 4 output.
    pub fn code(self) -> i32 {
        match self {
            Direction::Input => 1,
            Direction::Output => 4,
        }
    }
}

// -------------------------------------------------------------------------------------------------
// The tables

/// The type of a system table's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnType {
    Text,
    Int,
    Bool,
}

/// SysTable system table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SysTable {
    Catalogs,
    Schemas,
    Tables,
    TableColumns,
    PrimaryKeys,
    ForeignKeys,
    Procedures,
    ProcedureParameters,
    ConnectionProps,
    SqlInfo,
}

impl SysTable {
    pub(super) fn of(name: &str) -> Option<SysTable> {
        let i = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name))?;
        Some(
            [
                SysTable::Catalogs,
                SysTable::Schemas,
                SysTable::Tables,
                SysTable::TableColumns,
                SysTable::PrimaryKeys,
                SysTable::ForeignKeys,
                SysTable::Procedures,
                SysTable::ProcedureParameters,
                SysTable::ConnectionProps,
                SysTable::SqlInfo,
            ][i],
        )
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            SysTable::Catalogs => "sys_catalogs",
            SysTable::Schemas => "sys_schemas",
            SysTable::Tables => "sys_tables",
            SysTable::TableColumns => "sys_tablecolumns",
            SysTable::PrimaryKeys => "sys_primarykeys",
            SysTable::ForeignKeys => "sys_foreignkeys",
            SysTable::Procedures => "sys_procedures",
            SysTable::ProcedureParameters => "sys_procedureparameters",
            SysTable::ConnectionProps => "sys_connection_props",
            SysTable::SqlInfo => "sys_sqlinfo",
        }
    }

    pub(super) fn description(self) -> &'static str {
        match self {
            SysTable::Catalogs => "The catalogs (one: kinetic).",
            SysTable::Schemas => "The schemas: one per service, BaqSvc, and default (system tables).",
            SysTable::Tables => "The tables: every entity set of every service, the BAQs (views of BaqSvc), the system tables.",
            SysTable::TableColumns => "The columns of every table, typed from $metadata.",
            SysTable::PrimaryKeys => "The key columns of every entity set.",
            SysTable::ForeignKeys => "The relationships between entity sets, from their navigation properties.",
            SysTable::Procedures => "The procedures: the OAuth ones and the company's Epicor Functions.",
            SysTable::ProcedureParameters => "The inputs and outputs of every procedure.",
            SysTable::ConnectionProps => "The connection properties, with this connection's values (secrets masked).",
            SysTable::SqlInfo => "What the SQL engine supports.",
        }
    }

    pub(super) fn columns(self) -> &'static [(&'static str, ColumnType)] {
        use ColumnType::*;
        match self {
            SysTable::Catalogs => &[("CatalogName", Text)],
            SysTable::Schemas => &[("CatalogName", Text), ("SchemaName", Text)],
            SysTable::Tables => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("TableName", Text),
                ("TableType", Text),
                ("Description", Text),
                ("IsUpdateable", Bool),
            ],
            SysTable::TableColumns => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("TableName", Text),
                ("ColumnName", Text),
                ("DataTypeName", Text),
                ("DataType", Int),
                ("Length", Int),
                ("DisplaySize", Int),
                ("NumericPrecision", Int),
                ("NumericScale", Int),
                ("IsNullable", Bool),
                ("Description", Text),
                ("Ordinal", Int),
                ("IsAutoIncrement", Bool),
                ("IsGeneratedColumn", Bool),
                ("IsKey", Bool),
            ],
            SysTable::PrimaryKeys => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("TableName", Text),
                ("ColumnName", Text),
                ("KeySeq", Int),
                ("KeyName", Text),
            ],
            SysTable::ForeignKeys => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("TableName", Text),
                ("ColumnName", Text),
                ("PrimaryKeyName", Text),
                ("ForeignKeyName", Text),
                ("ReferencedCatalogName", Text),
                ("ReferencedSchemaName", Text),
                ("ReferencedTableName", Text),
                ("ReferencedColumnName", Text),
                ("ForeignKeyType", Text),
            ],
            SysTable::Procedures => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("ProcedureName", Text),
                ("Description", Text),
                ("ProcedureType", Text),
            ],
            SysTable::ProcedureParameters => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("ProcedureName", Text),
                ("ColumnName", Text),
                ("Direction", Int),
                ("DataTypeName", Text),
                ("DataType", Int),
                ("Length", Int),
                ("NumericPrecision", Int),
                ("NumericScale", Int),
                ("IsNullable", Bool),
                ("IsRequired", Bool),
                ("Description", Text),
                ("Ordinal", Int),
            ],
            SysTable::ConnectionProps => &[
                ("Name", Text),
                ("ShortDescription", Text),
                ("Type", Text),
                ("Default", Text),
                ("Values", Text),
                ("Value", Text),
                ("Required", Bool),
                ("Category", Text),
            ],
            SysTable::SqlInfo => &[("NAME", Text), ("VALUE", Text)],
        }
    }

    pub(super) fn schema(self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns()
                .iter()
                .map(|(name, k)| {
                    let t = match k {
                        ColumnType::Text => DataType::Utf8,
                        ColumnType::Int => DataType::Int32,
                        ColumnType::Bool => DataType::Boolean,
                    };
                    Field::new(*name, t, true)
                })
                .collect::<Vec<_>>(),
        ))
    }

    /// The columns whose equality filters narrow what is read: (catalog, schema, object).
    pub(super) fn narrowing_columns(self) -> Option<[&'static str; 3]> {
        match self {
            SysTable::Tables
            | SysTable::TableColumns
            | SysTable::PrimaryKeys
            | SysTable::ForeignKeys => Some(["CatalogName", "SchemaName", "TableName"]),
            SysTable::Procedures | SysTable::ProcedureParameters => {
                Some(["CatalogName", "SchemaName", "ProcedureName"])
            }
            _ => None,
        }
    }
}

// -------------------------------------------------------------------------------------------------
// Rows

/// A cell.
#[derive(Debug, Clone)]
pub(super) enum Cell {
    Text(Option<String>),
    Int(Option<i32>),
    Bool(Option<bool>),
}

/// A text cell.
pub(super) fn text_cell(text: impl Into<String>) -> Cell {
    Cell::Text(Some(text.into()))
}

/// A text cell, NULL for `None`.
pub(super) fn optional_text_cell(text: Option<impl Into<String>>) -> Cell {
    Cell::Text(text.map(Into::into))
}

/// The rows of a system table.
#[derive(Debug, Default)]
pub(super) struct Rows(pub(super) Vec<Vec<Cell>>);

impl Rows {
    pub(super) fn batch(self, which: SysTable) -> Result<RecordBatch> {
        let columns = which.columns();
        let n = self.0.len();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for (i, (name, k)) in columns.iter().enumerate() {
            let bad = || {
                DataFusionError::Internal(format!(
                    "{} column {name}: a cell of the wrong type",
                    which.name()
                ))
            };
            match k {
                ColumnType::Text => {
                    let mut b = StringBuilder::with_capacity(n, n * 16);
                    for row in &self.0 {
                        match row.get(i) {
                            Some(Cell::Text(v)) => b.append_option(v.as_deref()),
                            _ => return Err(bad()),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
                ColumnType::Int => {
                    let mut b = Int32Builder::with_capacity(n);
                    for row in &self.0 {
                        match row.get(i) {
                            Some(Cell::Int(v)) => b.append_option(*v),
                            _ => return Err(bad()),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
                ColumnType::Bool => {
                    let mut b = BooleanBuilder::with_capacity(n);
                    for row in &self.0 {
                        match row.get(i) {
                            Some(Cell::Bool(v)) => b.append_option(*v),
                            _ => return Err(bad()),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
            }
        }
        RecordBatch::try_new(which.schema(), arrays).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_shape() {
        for name in NAMES {
            let which = SysTable::of(name).expect("a system table");
            assert_eq!(which.name(), *name);
            assert!(!which.columns().is_empty());
            assert_eq!(SysTable::of(&name.to_ascii_uppercase()), Some(which));
        }
    }
}
