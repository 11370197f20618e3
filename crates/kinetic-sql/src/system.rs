//! The reference connector's system tables: `sys_catalogs`, `sys_schemas`, `sys_tables`,
//! `sys_tablecolumns`, `sys_primarykeys`, `sys_foreignkeys`, `sys_procedures`,
//! `sys_procedureparameters`, `sys_connection_props`, `sys_sqlinfo`, in the default schema
//! (`SELECT * FROM sys_tables` needs no qualifier), with the reference's column names.
//!
//! They are computed when a query reads them, never at planning (`EXPLAIN` sends nothing):
//! the tables describing entity sets read each service's `$metadata` (cached by the
//! connection), at most [`CONCURRENCY`] at a time. A service whose `$metadata` fails for reasons
//! of its own (not found, forbidden, a document that does not parse) is left out with a warning
//! in the log; sign-in and network failures end the query.
//!
//! Equality filters on `CatalogName`, `SchemaName` and `TableName` (`ProcedureName` for the
//! procedure tables), `=` or `IN`, narrow what is read: `WHERE SchemaName =
//! 'Erp.BO.CustomerSvc'` reads that service's `$metadata` only, `WHERE TableName = 'Customers'`
//! reads no BAQ's. Names there match in any case; the filter itself is then applied as written.
//! Without a `SchemaName` filter, the connection's `Service` limits the services listed, as the
//! reference does; and on a server listing more than 64 services a `TableName` filter alone
//! searches the services whose name contains the table's (as unqualified table names resolve).

use crate::catalog::{external, Epicor, BAQ_SCHEMA, CATALOG, DEFAULT_SCHEMA};
use crate::procedures::OAUTH_PROCEDURES;
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int32Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use epicor_kinetic::api::{Column, EntitySetInfo};
use epicor_kinetic::settings::{Kind, Origin, Settings, PROPERTIES};
use epicor_kinetic::ErrorKind;
use epicor_kinetic_odata::csdl::Metadata;
use futures_util::{FutureExt, StreamExt};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// The system tables' names.
pub const NAMES: &[&str] = &[
    "sys_catalogs",
    "sys_schemas",
    "sys_tables",
    "sys_tablecolumns",
    "sys_primarykeys",
    "sys_foreignkeys",
    "sys_procedures",
    "sys_procedureparameters",
    "sys_connection_props",
    "sys_sqlinfo",
];

/// How many `$metadata` documents (services' or BAQs') are read at once.
pub const CONCURRENCY: usize = 8;

/// What a secret's value is shown as in `sys_connection_props` when it is set.
pub const MASK: &str = "********";

/// The first part of an Epicor Function's schema (`efx.CustomerTools`).
pub const EFX: &str = "efx";

/// The type of an output column of an OAuth procedure (as `crate::procedures` answers them:
/// `ExpiresIn` a 64-bit count of seconds, the rest text).
fn oauth_output_type(column: &str) -> SqlType {
    if column.eq_ignore_ascii_case("ExpiresIn") {
        SqlType::BigInt
    } else {
        SqlType::Varchar
    }
}

fn oauth_output_description(column: &str) -> &'static str {
    match column {
        "URL" => "The authorization address to open in a browser.",
        "OAuthAccessToken" => "The access token.",
        "ExpiresIn" => "Seconds the access token stays valid (NULL when the issuer did not say).",
        _ => "",
    }
}

/// The `ProcedureType` of every procedure listed.
const PROCEDURE_TYPE: &str = "STORED PROCEDURE";

// -------------------------------------------------------------------------------------------------
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
    fn shape(
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
// The tables' shapes

/// The type of a system table's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum K {
    Text,
    Int,
    Bool,
}

/// Which system table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
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

impl Which {
    fn of(name: &str) -> Option<Which> {
        let i = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name))?;
        Some(
            [
                Which::Catalogs,
                Which::Schemas,
                Which::Tables,
                Which::TableColumns,
                Which::PrimaryKeys,
                Which::ForeignKeys,
                Which::Procedures,
                Which::ProcedureParameters,
                Which::ConnectionProps,
                Which::SqlInfo,
            ][i],
        )
    }

    fn name(self) -> &'static str {
        match self {
            Which::Catalogs => "sys_catalogs",
            Which::Schemas => "sys_schemas",
            Which::Tables => "sys_tables",
            Which::TableColumns => "sys_tablecolumns",
            Which::PrimaryKeys => "sys_primarykeys",
            Which::ForeignKeys => "sys_foreignkeys",
            Which::Procedures => "sys_procedures",
            Which::ProcedureParameters => "sys_procedureparameters",
            Which::ConnectionProps => "sys_connection_props",
            Which::SqlInfo => "sys_sqlinfo",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Which::Catalogs => "The catalogs (one: kinetic).",
            Which::Schemas => "The schemas: one per service, BaqSvc, and default (system tables).",
            Which::Tables => "The tables: every entity set of every service, the BAQs (views of BaqSvc), the system tables.",
            Which::TableColumns => "The columns of every table, typed from $metadata.",
            Which::PrimaryKeys => "The key columns of every entity set.",
            Which::ForeignKeys => "The relationships between entity sets, from their navigation properties.",
            Which::Procedures => "The procedures: the OAuth ones and the company's Epicor Functions.",
            Which::ProcedureParameters => "The inputs and outputs of every procedure.",
            Which::ConnectionProps => "The connection properties, with this connection's values (secrets masked).",
            Which::SqlInfo => "What the SQL engine supports.",
        }
    }

    fn columns(self) -> &'static [(&'static str, K)] {
        use K::*;
        match self {
            Which::Catalogs => &[("CatalogName", Text)],
            Which::Schemas => &[("CatalogName", Text), ("SchemaName", Text)],
            Which::Tables => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("TableName", Text),
                ("TableType", Text),
                ("Description", Text),
                ("IsUpdateable", Bool),
            ],
            Which::TableColumns => &[
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
            Which::PrimaryKeys => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("TableName", Text),
                ("ColumnName", Text),
                ("KeySeq", Int),
                ("KeyName", Text),
            ],
            Which::ForeignKeys => &[
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
            Which::Procedures => &[
                ("CatalogName", Text),
                ("SchemaName", Text),
                ("ProcedureName", Text),
                ("Description", Text),
                ("ProcedureType", Text),
            ],
            Which::ProcedureParameters => &[
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
            Which::ConnectionProps => &[
                ("Name", Text),
                ("ShortDescription", Text),
                ("Type", Text),
                ("Default", Text),
                ("Values", Text),
                ("Value", Text),
                ("Required", Bool),
                ("Category", Text),
            ],
            Which::SqlInfo => &[("NAME", Text), ("VALUE", Text)],
        }
    }

    fn schema(self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns()
                .iter()
                .map(|(name, k)| {
                    let t = match k {
                        K::Text => DataType::Utf8,
                        K::Int => DataType::Int32,
                        K::Bool => DataType::Boolean,
                    };
                    Field::new(*name, t, true)
                })
                .collect::<Vec<_>>(),
        ))
    }

    /// The columns whose equality filters narrow what is read: (catalog, schema, object).
    fn narrowing_columns(self) -> Option<[&'static str; 3]> {
        match self {
            Which::Tables | Which::TableColumns | Which::PrimaryKeys | Which::ForeignKeys => {
                Some(["CatalogName", "SchemaName", "TableName"])
            }
            Which::Procedures | Which::ProcedureParameters => {
                Some(["CatalogName", "SchemaName", "ProcedureName"])
            }
            _ => None,
        }
    }
}

// -------------------------------------------------------------------------------------------------
// The provider

/// The system tables of a session.
#[derive(Debug)]
pub struct SystemTables {
    epicor: Arc<Epicor>,
    unreadable: Arc<Unreadable>,
}

/// The services whose `$metadata` failed for good (not found, forbidden, not a document) in
/// this session: not asked again. A server error is not remembered (it may pass).
#[derive(Debug, Default)]
struct Unreadable(std::sync::Mutex<std::collections::BTreeMap<String, String>>);

impl Unreadable {
    fn get(&self, service: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
            .cloned()
    }

    fn remember(&self, service: &str, e: &epicor_kinetic::Error) {
        if matches!(
            e.kind(),
            ErrorKind::NotFound | ErrorKind::Forbidden | ErrorKind::Protocol | ErrorKind::Rejected
        ) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(service.to_owned(), e.to_string());
        }
    }
}

impl SystemTables {
    /// The system tables over what `epicor` knows of the server.
    pub fn new(epicor: Arc<Epicor>) -> Self {
        SystemTables {
            epicor,
            unreadable: Arc::default(),
        }
    }

    /// The system table `name` (any case); `None` for a name that is not one (an entity set);
    /// an error naming the system tables for an unknown name that starts with `sys_`.
    pub async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(which) = Which::of(name) {
            return Ok(Some(Arc::new(SystemTable {
                which,
                epicor: self.epicor.clone(),
                unreadable: self.unreadable.clone(),
                schema: which.schema(),
            })));
        }
        if name
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("sys_"))
        {
            let hint = epicor_kinetic::settings::registry::closest(name, NAMES.iter().copied())
                .map(|n| format!("did you mean {n}? "))
                .unwrap_or_default();
            return Err(DataFusionError::Plan(format!(
                "there is no system table {name}; {hint}the system tables are {}",
                NAMES.join(", ")
            )));
        }
        Ok(None)
    }
}

/// One system table.
#[derive(Debug)]
struct SystemTable {
    which: Which,
    epicor: Arc<Epicor>,
    unreadable: Arc<Unreadable>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let columns = self.which.narrowing_columns();
        Ok(filters
            .iter()
            .map(|f| match (columns, equality(f)) {
                (Some(cs), Some((c, _))) if cs.contains(&c) => TableProviderFilterPushDown::Inexact,
                _ => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut narrowing = Narrowing::default();
        if let Some([catalog, schema, object]) = self.which.narrowing_columns() {
            for f in filters {
                let Some((column, values)) = equality(f) else {
                    continue;
                };
                let slot = if column == catalog {
                    &mut narrowing.catalog
                } else if column == schema {
                    &mut narrowing.schema
                } else if column == object {
                    &mut narrowing.object
                } else {
                    continue;
                };
                *slot = Some(match slot.take() {
                    None => values,
                    Some(before) => before
                        .into_iter()
                        .filter(|b| values.iter().any(|v| v.eq_ignore_ascii_case(b)))
                        .collect(),
                });
            }
        }
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Arc::new(SystemScanExec {
            which: self.which,
            epicor: self.epicor.clone(),
            unreadable: self.unreadable.clone(),
            narrowing,
            projection: projection.cloned(),
            limit,
            schema,
            properties,
        }))
    }
}

/// `column = 'text'`, `'text' = column` or `column IN ('a', 'b')`: the column and the texts.
fn equality(e: &Expr) -> Option<(&str, Vec<String>)> {
    fn text(e: &Expr) -> Option<String> {
        match e {
            Expr::Literal(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)),
                _,
            ) => Some(s.clone()),
            _ => None,
        }
    }
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), other) | (other, Expr::Column(c)) => {
                Some((c.name.as_str(), vec![text(other)?]))
            }
            _ => None,
        },
        Expr::InList(list) if !list.negated => {
            let Expr::Column(c) = list.expr.as_ref() else {
                return None;
            };
            let values = list.list.iter().map(text).collect::<Option<Vec<_>>>()?;
            Some((c.name.as_str(), values))
        }
        _ => None,
    }
}

/// What the filters allow: `None` for anything, else the names (any case).
#[derive(Debug, Clone, Default)]
struct Narrowing {
    catalog: Option<Vec<String>>,
    schema: Option<Vec<String>>,
    /// A table's or a procedure's name.
    object: Option<Vec<String>>,
}

fn allows(set: &Option<Vec<String>>, name: &str) -> bool {
    set.as_ref()
        .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

impl Narrowing {
    fn catalog_ok(&self) -> bool {
        allows(&self.catalog, CATALOG)
    }

    fn schema_ok(&self, schema: &str) -> bool {
        allows(&self.schema, schema)
    }

    fn object_ok(&self, name: &str) -> bool {
        allows(&self.object, name)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (name, set) in [
            ("catalog", &self.catalog),
            ("schema", &self.schema),
            ("name", &self.object),
        ] {
            if let Some(values) = set {
                parts.push(format!("{name} in [{}]", values.join(", ")));
            }
        }
        parts.join(", ")
    }
}

/// The scan of a system table: its rows are computed when it runs.
#[derive(Debug)]
struct SystemScanExec {
    which: Which,
    epicor: Arc<Epicor>,
    unreadable: Arc<Unreadable>,
    narrowing: Narrowing,
    projection: Option<Vec<usize>>,
    limit: Option<usize>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for SystemScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let narrowing = self.narrowing.describe();
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "SystemScanExec: {}", self.which.name())?;
                if !narrowing.is_empty() {
                    write!(f, ", reads only {narrowing}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => write!(f, "{}", self.which.name()),
        }
    }
}

impl ExecutionPlan for SystemScanExec {
    fn name(&self) -> &str {
        "SystemScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::table::leaf(self, &children)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "SystemScanExec has no partition {partition}"
            )));
        }
        let which = self.which;
        let epicor = self.epicor.clone();
        let unreadable = self.unreadable.clone();
        let narrowing = self.narrowing.clone();
        let projection = self.projection.clone();
        let limit = self.limit;
        let stream = futures_util::stream::once(async move {
            let rows = Rows::compute(which, &epicor, &unreadable, &narrowing).await?;
            let mut batch = rows.batch(which)?;
            if let Some(p) = &projection {
                batch = batch.project(p)?;
            }
            if let Some(l) = limit {
                batch = batch.slice(0, l.min(batch.num_rows()));
            }
            Ok(batch)
        })
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

// -------------------------------------------------------------------------------------------------
// Rows

/// A cell.
#[derive(Debug, Clone)]
enum V {
    S(Option<String>),
    I(Option<i32>),
    B(Option<bool>),
}

fn s(text: impl Into<String>) -> V {
    V::S(Some(text.into()))
}

fn so(text: Option<impl Into<String>>) -> V {
    V::S(text.map(Into::into))
}

/// The rows of a system table.
#[derive(Debug, Default)]
struct Rows(Vec<Vec<V>>);

impl Rows {
    async fn compute(
        which: Which,
        epicor: &Epicor,
        unreadable: &Unreadable,
        n: &Narrowing,
    ) -> Result<Rows> {
        let mut rows = Rows::default();
        match which {
            Which::Catalogs => rows.0.push(vec![s(CATALOG)]),
            Which::Schemas => {
                for schema in schemas(epicor).await? {
                    rows.0.push(vec![s(CATALOG), s(schema)]);
                }
            }
            Which::Tables => tables(epicor, unreadable, n, &mut rows).await?,
            Which::TableColumns => table_columns(epicor, unreadable, n, &mut rows).await?,
            Which::PrimaryKeys => primary_keys(epicor, unreadable, n, &mut rows).await?,
            Which::ForeignKeys => foreign_keys(epicor, unreadable, n, &mut rows).await?,
            Which::Procedures | Which::ProcedureParameters => {
                procedures(which, epicor, n, &mut rows).await?
            }
            Which::ConnectionProps => connection_props(epicor.conn.settings(), &mut rows),
            Which::SqlInfo => {
                for (name, value) in SQL_INFO {
                    rows.0.push(vec![s(*name), s(*value)]);
                }
            }
        }
        Ok(rows)
    }

    fn batch(self, which: Which) -> Result<RecordBatch> {
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
                K::Text => {
                    let mut b = StringBuilder::with_capacity(n, n * 16);
                    for row in &self.0 {
                        match row.get(i) {
                            Some(V::S(v)) => b.append_option(v.as_deref()),
                            _ => return Err(bad()),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
                K::Int => {
                    let mut b = Int32Builder::with_capacity(n);
                    for row in &self.0 {
                        match row.get(i) {
                            Some(V::I(v)) => b.append_option(*v),
                            _ => return Err(bad()),
                        }
                    }
                    arrays.push(Arc::new(b.finish()));
                }
                K::Bool => {
                    let mut b = BooleanBuilder::with_capacity(n);
                    for row in &self.0 {
                        match row.get(i) {
                            Some(V::B(v)) => b.append_option(*v),
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

/// Whether a failure to read one service's (or BAQ's) `$metadata` is that service's own (it
/// is left out) rather than the connection's (sign-in, network: the query fails).
fn own_failure(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::NotFound
            | ErrorKind::Forbidden
            | ErrorKind::Protocol
            | ErrorKind::Rejected
            | ErrorKind::Server
    )
}

/// The schemas: `default`, every service the server lists, `BaqSvc`.
async fn schemas(epicor: &Epicor) -> Result<Vec<String>> {
    let services = epicor.load_services().await.map_err(external)?;
    let mut out = vec![DEFAULT_SCHEMA.to_owned()];
    out.extend(
        services
            .iter()
            .filter(|s| !s.name.eq_ignore_ascii_case(BAQ_SCHEMA))
            .map(|s| s.name.clone()),
    );
    out.push(BAQ_SCHEMA.to_owned());
    Ok(out)
}

/// The services whose entity sets the narrowing asks for.
async fn services_for(epicor: &Epicor, n: &Narrowing) -> Result<Vec<String>> {
    if !n.catalog_ok() {
        return Ok(Vec::new());
    }
    let listed = epicor.load_services().await.map_err(external)?;
    let all: Vec<&str> = listed
        .iter()
        .map(|s| s.name.as_str())
        .filter(|s| !s.eq_ignore_ascii_case(BAQ_SCHEMA))
        .collect();
    if n.schema.is_some() {
        return Ok(all
            .into_iter()
            .filter(|s| n.schema_ok(s))
            .map(str::to_owned)
            .collect());
    }
    if let Some(service) = &epicor.conn.settings().service {
        let service = epicor.service(service).unwrap_or(service);
        if service.eq_ignore_ascii_case(BAQ_SCHEMA) {
            return Ok(Vec::new());
        }
        return Ok(vec![service.to_owned()]);
    }
    if let Some(names) = &n.object {
        if all.len() > crate::catalog::SEARCH_ALL_UP_TO {
            let stems: Vec<String> = names
                .iter()
                .map(|t| t.trim_end_matches(['s', 'S']).to_ascii_lowercase())
                .collect();
            return Ok(all
                .into_iter()
                .filter(|s| {
                    let lower = s.to_ascii_lowercase();
                    stems.iter().any(|stem| lower.contains(stem.as_str()))
                })
                .map(str::to_owned)
                .collect());
        }
    }
    Ok(all.into_iter().map(str::to_owned).collect())
}

/// A service's entity sets and its `$metadata`.
struct ServiceModel {
    service: String,
    sets: Vec<EntitySetInfo>,
    metadata: Arc<Metadata>,
}

/// The entity sets of the services the narrowing asks for, [`CONCURRENCY`] services at a time;
/// a service failing for reasons of its own is left out.
async fn models(
    epicor: &Epicor,
    unreadable: &Unreadable,
    n: &Narrowing,
) -> Result<Vec<ServiceModel>> {
    let services: Vec<String> = services_for(epicor, n)
        .await?
        .into_iter()
        .filter(|s| match unreadable.get(s) {
            Some(why) => {
                tracing::debug!(service = %s, %why, "left out of the system tables (its $metadata failed before)");
                false
            }
            None => true,
        })
        .collect();
    let loads = services.into_iter().map(|service| {
        let conn = epicor.conn.clone();
        async move {
            let loaded = async {
                let metadata = conn.metadata(&service).await?;
                let sets = conn.entity_sets(&service).await?;
                Ok::<_, epicor_kinetic::Error>((metadata, sets))
            }
            .await;
            (service, loaded)
        }
        .boxed()
    });
    let results: Vec<_> = futures_util::stream::iter(loads)
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::new();
    for (service, loaded) in results {
        match loaded {
            Ok((metadata, sets)) => out.push(ServiceModel {
                service,
                sets: sets.into_iter().filter(|s| n.object_ok(&s.name)).collect(),
                metadata,
            }),
            Err(e) if own_failure(e.kind()) => {
                tracing::warn!(%service, error = %e, "left out of the system tables: its $metadata cannot be read");
                unreadable.remember(&service, &e);
            }
            Err(e) => return Err(external(e)),
        }
    }
    Ok(out)
}

/// The BAQs the narrowing asks for (none when the server's list cannot be read for reasons
/// of its own).
async fn baqs<'a>(epicor: &'a Epicor, n: &Narrowing) -> Result<Vec<&'a crate::catalog::BaqInfo>> {
    if !n.catalog_ok() || !n.schema_ok(BAQ_SCHEMA) {
        return Ok(Vec::new());
    }
    match epicor.baqs().await {
        Ok(list) => Ok(list.iter().filter(|b| n.object_ok(&b.id)).collect()),
        Err(e) if own_failure(e.kind()) => {
            tracing::warn!(error = %e, "BAQs left out of the system tables: the BAQ list cannot be read");
            Ok(Vec::new())
        }
        Err(e) => Err(external(e)),
    }
}

/// The system tables the narrowing asks for.
fn system_tables(n: &Narrowing) -> Vec<Which> {
    if !n.catalog_ok() || !n.schema_ok(DEFAULT_SCHEMA) {
        return Vec::new();
    }
    NAMES
        .iter()
        .filter(|name| n.object_ok(name))
        .filter_map(|name| Which::of(name))
        .collect()
}

async fn tables(
    epicor: &Epicor,
    unreadable: &Unreadable,
    n: &Narrowing,
    rows: &mut Rows,
) -> Result<()> {
    for model in models(epicor, unreadable, n).await? {
        for set in &model.sets {
            rows.0.push(vec![
                s(CATALOG),
                s(&model.service),
                s(&set.name),
                s("TABLE"),
                V::S(None),
                V::B(Some(true)),
            ]);
        }
    }
    for baq in baqs(epicor, n).await? {
        rows.0.push(vec![
            s(CATALOG),
            s(BAQ_SCHEMA),
            s(&baq.id),
            s("VIEW"),
            so(Some(&baq.description).filter(|d| !d.is_empty())),
            V::B(Some(baq.updatable)),
        ]);
    }
    for which in system_tables(n) {
        rows.0.push(vec![
            s(CATALOG),
            s(DEFAULT_SCHEMA),
            s(which.name()),
            s("SYSTEM"),
            s(which.description()),
            V::B(Some(false)),
        ]);
    }
    Ok(())
}

/// One row of `sys_tablecolumns`.
#[allow(clippy::too_many_arguments)]
fn column_row(
    schema: &str,
    table: &str,
    name: &str,
    data_type: &DataType,
    max_length: Option<u32>,
    nullable: bool,
    ordinal: usize,
    key: bool,
) -> Vec<V> {
    let t = SqlType::of_arrow(data_type);
    let (precision, scale) = match data_type {
        DataType::Decimal128(p, s) => (Some(i32::from(*p)), Some(i32::from(*s))),
        _ => (None, None),
    };
    let (length, display, precision, scale) = t.shape(max_length, precision, scale);
    vec![
        s(CATALOG),
        s(schema),
        s(table),
        s(name),
        s(t.name()),
        V::I(Some(t.code())),
        V::I(length),
        V::I(display),
        V::I(precision),
        V::I(scale),
        V::B(Some(nullable)),
        V::S(None),
        V::I(Some(i32::try_from(ordinal).unwrap_or(i32::MAX))),
        V::B(Some(false)),
        V::B(Some(false)),
        V::B(Some(key)),
    ]
}

async fn table_columns(
    epicor: &Epicor,
    unreadable: &Unreadable,
    n: &Narrowing,
    rows: &mut Rows,
) -> Result<()> {
    for model in models(epicor, unreadable, n).await? {
        for set in &model.sets {
            let properties = model
                .metadata
                .entity_type(&set.entity_type)
                .map(|t| t.properties.as_slice())
                .unwrap_or_default();
            for (i, column) in set.columns.iter().enumerate() {
                let max_length = properties
                    .iter()
                    .find(|p| p.name == column.name)
                    .and_then(|p| p.max_length);
                let field = crate::arrow::field_of(column);
                rows.0.push(column_row(
                    &model.service,
                    &set.name,
                    &column.name,
                    field.data_type(),
                    max_length,
                    column.nullable,
                    i + 1,
                    column.key,
                ));
            }
        }
    }
    // The BAQs' columns: one `$metadata` each, read only for the BAQs asked for.
    let ids: Vec<String> = baqs(epicor, n)
        .await?
        .into_iter()
        .map(|b| b.id.clone())
        .collect();
    let loads = ids.into_iter().map(|id| {
        let query = epicor.conn.baq_query(&id);
        async move { (id, query.columns().await) }.boxed()
    });
    let results: Vec<_> = futures_util::stream::iter(loads)
        .buffered(CONCURRENCY)
        .collect()
        .await;
    for (id, columns) in results {
        let columns: Arc<Vec<Column>> = match columns {
            Ok(c) => c,
            Err(e) if own_failure(e.kind()) => {
                tracing::warn!(baq = %id, error = %e, "BAQ left out of sys_tablecolumns: its $metadata cannot be read");
                continue;
            }
            Err(e) => return Err(external(e)),
        };
        for (i, column) in columns.iter().enumerate() {
            let field = crate::arrow::field_of(column);
            rows.0.push(column_row(
                BAQ_SCHEMA,
                &id,
                &column.name,
                field.data_type(),
                None,
                column.nullable,
                i + 1,
                column.key,
            ));
        }
    }
    for which in system_tables(n) {
        for (i, field) in which.schema().fields().iter().enumerate() {
            rows.0.push(column_row(
                DEFAULT_SCHEMA,
                which.name(),
                field.name(),
                field.data_type(),
                None,
                true,
                i + 1,
                false,
            ));
        }
    }
    Ok(())
}

fn primary_key_name(table: &str) -> String {
    format!("PK_{table}")
}

async fn primary_keys(
    epicor: &Epicor,
    unreadable: &Unreadable,
    n: &Narrowing,
    rows: &mut Rows,
) -> Result<()> {
    for model in models(epicor, unreadable, n).await? {
        for set in &model.sets {
            for (i, key) in set.key.iter().enumerate() {
                rows.0.push(vec![
                    s(CATALOG),
                    s(&model.service),
                    s(&set.name),
                    s(key),
                    V::I(Some(i32::try_from(i + 1).unwrap_or(i32::MAX))),
                    s(primary_key_name(&set.name)),
                ]);
            }
        }
    }
    Ok(())
}

/// A relationship between two entity sets of a service: `dependent`'s columns refer to
/// `principal`'s.
#[derive(Debug, PartialEq, Eq)]
struct Relationship {
    principal: String,
    dependent: String,
    /// (principal column, dependent column) pairs.
    columns: Vec<(String, String)>,
}

/// The relationships a service's navigation properties declare: a collection navigation
/// `Customers.ShipTos` makes `ShipTos` the dependent, a single one (`OrderDtl.Customer`) the
/// declaring set. Pairs come from the referential constraint, or, when the document has none
/// (v3 associations often have none), from the principal's key columns that the dependent has
/// under the same names.
fn relationships(metadata: &Metadata) -> Vec<Relationship> {
    let sets: Vec<&epicor_kinetic_odata::csdl::EntitySet> = metadata
        .schemas
        .iter()
        .filter_map(|s| s.entity_container.as_ref())
        .flat_map(|c| &c.entity_sets)
        .collect();
    let mut out: Vec<Relationship> = Vec::new();
    for set in &sets {
        let Some(ty) = metadata.entity_type(&set.entity_type) else {
            continue;
        };
        for nav in &ty.navigation {
            let bound = set
                .navigation_bindings
                .iter()
                .find(|(path, _)| path == &nav.name)
                .and_then(|(_, target)| sets.iter().find(|s| &s.name == target));
            let target = bound.or_else(|| {
                let mut of_type = sets.iter().filter(|s| s.entity_type == nav.target_type);
                match (of_type.next(), of_type.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            });
            let Some(target) = target else {
                continue;
            };
            let Some(target_ty) = metadata.entity_type(&target.entity_type) else {
                continue;
            };
            // (this set's column, target's column) pairs.
            let pairs: Vec<(String, String)> = if !nav.referential.is_empty() {
                nav.referential.clone()
            } else {
                let (principal_ty, other_ty) = if nav.collection {
                    (ty, target_ty)
                } else {
                    (target_ty, ty)
                };
                let shared = principal_ty
                    .key
                    .iter()
                    .all(|k| other_ty.properties.iter().any(|p| &p.name == k));
                if !shared || principal_ty.key.is_empty() {
                    continue;
                }
                principal_ty
                    .key
                    .iter()
                    .map(|k| (k.clone(), k.clone()))
                    .collect()
            };
            let relationship = if nav.collection {
                Relationship {
                    principal: set.name.clone(),
                    dependent: target.name.clone(),
                    columns: pairs,
                }
            } else {
                Relationship {
                    principal: target.name.clone(),
                    dependent: set.name.clone(),
                    columns: pairs.into_iter().map(|(this, t)| (t, this)).collect(),
                }
            };
            if !out.contains(&relationship) {
                out.push(relationship);
            }
        }
    }
    out
}

async fn foreign_keys(
    epicor: &Epicor,
    unreadable: &Unreadable,
    n: &Narrowing,
    rows: &mut Rows,
) -> Result<()> {
    // Both ends of a relationship are in one service; a table-name narrowing keeps the
    // relationships either end of which is asked for (the filter keeps the rows it names).
    let unnarrowed_objects = Narrowing {
        object: None,
        ..n.clone()
    };
    for model in models(epicor, unreadable, &unnarrowed_objects).await? {
        for r in relationships(&model.metadata) {
            if !n.object_ok(&r.dependent) && !n.object_ok(&r.principal) {
                continue;
            }
            let fk_name = format!("FK_{}_{}", r.dependent, r.principal);
            let pk_name = primary_key_name(&r.principal);
            for (principal_column, dependent_column) in &r.columns {
                rows.0.push(vec![
                    s(CATALOG),
                    s(&model.service),
                    s(&r.dependent),
                    s(dependent_column),
                    s(&pk_name),
                    s(&fk_name),
                    s(CATALOG),
                    s(&model.service),
                    s(&r.principal),
                    s(principal_column),
                    s("FOREIGNKEY_TYPE_IMPORT"),
                ]);
                rows.0.push(vec![
                    s(CATALOG),
                    s(&model.service),
                    s(&r.principal),
                    s(principal_column),
                    s(&pk_name),
                    s(&fk_name),
                    s(CATALOG),
                    s(&model.service),
                    s(&r.dependent),
                    s(dependent_column),
                    s("FOREIGNKEY_TYPE_EXPORT"),
                ]);
            }
        }
    }
    Ok(())
}

/// An Epicor Function as the server lists it.
struct FunctionInfo {
    library: String,
    id: String,
    description: Option<String>,
    /// (name, type, direction).
    parameters: Vec<(String, SqlType, Direction)>,
}

fn text_of<'a>(row: &'a serde_json::Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| row.get(*k).and_then(Value::as_str))
}

/// The published Epicor Functions of the company; none when the server refuses the list
/// (v1 servers without Functions, no API key, no licence): only a network failure is an error.
async fn functions(epicor: &Epicor) -> Result<Vec<FunctionInfo>> {
    let libraries = match epicor.conn.function_libraries(false).await {
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
fn parameter_row(
    schema: &str,
    procedure: &str,
    name: &str,
    direction: Direction,
    t: SqlType,
    required: bool,
    description: Option<&str>,
    ordinal: usize,
) -> Vec<V> {
    let (length, _, precision, scale) = t.shape(None, None, None);
    vec![
        s(CATALOG),
        s(schema),
        s(procedure),
        s(name),
        V::I(Some(direction.code())),
        s(t.name()),
        V::I(Some(t.code())),
        V::I(length),
        V::I(precision),
        V::I(scale),
        V::B(Some(!required)),
        V::B(Some(required)),
        so(description),
        V::I(Some(i32::try_from(ordinal).unwrap_or(i32::MAX))),
    ]
}

async fn procedures(which: Which, epicor: &Epicor, n: &Narrowing, rows: &mut Rows) -> Result<()> {
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
            if which == Which::Procedures {
                rows.0.push(vec![
                    s(CATALOG),
                    s(DEFAULT_SCHEMA),
                    s(p.name),
                    s(p.description),
                    s(PROCEDURE_TYPE),
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
    for f in functions(epicor).await? {
        let schema = format!("{EFX}.{}", f.library);
        if !n.schema_ok(&schema) || !n.object_ok(&f.id) {
            continue;
        }
        if which == Which::Procedures {
            rows.0.push(vec![
                s(CATALOG),
                s(&schema),
                s(&f.id),
                V::S(Some(match &f.description {
                    Some(d) => format!("Epicor Function {}/{}: {d}", f.library, f.id),
                    None => format!("Epicor Function {}/{}", f.library, f.id),
                })),
                s(PROCEDURE_TYPE),
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

// -------------------------------------------------------------------------------------------------
// Connection properties

/// The value of property `name` in `settings` as a connection string would write it; secrets
/// as [`MASK`] when set. `None` when unset.
fn property_value(settings: &Settings, name: &str) -> Option<String> {
    let mask = |v: &Option<epicor_kinetic::Secret>| v.as_ref().map(|_| MASK.to_owned());
    let text = |v: &Option<String>| v.clone();
    let a = &settings.auth;
    let o = &settings.oauth;
    let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    match name {
        "URL" => nonempty(&settings.url),
        "ERPInstance" => nonempty(&settings.erp_instance),
        "ApiVersion" => Some(settings.api_version.name().to_owned()),
        "Company" => text(&settings.company),
        "Plant" => text(&settings.plant),
        "Language" => text(&settings.language),
        "Service" => text(&settings.service),
        "AuthScheme" => Some(a.scheme.name().to_owned()),
        "User" => text(&a.user),
        "Password" => mask(&a.password),
        "ApiKey" => mask(&a.api_key),
        "LicenseType" => Some(a.license_type.to_string()),
        "UseSession" => Some(a.use_session.to_string()),
        "InitiateOAuth" => Some(o.initiate.name().to_owned()),
        "OAuthGrantType" => Some(o.grant_type.name().to_owned()),
        "AzureTenant" => text(&o.azure_tenant),
        "OAuthAuthority" => nonempty(&o.authority),
        "OAuthIssuer" => text(&o.issuer),
        "Scope" => text(&o.scope),
        "OAuthClientId" => text(&o.client_id),
        "OAuthClientSecret" => mask(&o.client_secret),
        "OAuthJWTCert" => mask(&o.jwt_cert),
        "OAuthJWTCertType" => Some(o.jwt_cert_type.name().to_owned()),
        "OAuthJWTCertPassword" => mask(&o.jwt_cert_password),
        "OAuthJWTCertThumbprint" => o.jwt_cert_thumbprint.as_ref().map(ToString::to_string),
        "CallbackURL" => nonempty(&o.callback_url),
        "Prompt" => nonempty(&o.prompt),
        "OAuthAccessToken" => mask(&o.access_token),
        "OAuthRefreshToken" => mask(&o.refresh_token),
        "OAuthVerifier" => mask(&o.verifier),
        "OAuthUserAssertion" => mask(&o.user_assertion),
        "OAuthExpiresIn" => o.expires_in.map(|e| match e {
            epicor_kinetic::settings::TokenExpiry::Never => "-1".to_owned(),
            epicor_kinetic::settings::TokenExpiry::After(d) => d.as_secs().to_string(),
        }),
        "OAuthTokenTimestamp" => o.token_timestamp.and_then(|t| {
            t.duration_since(std::time::SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis().to_string())
        }),
        "OAuthSettingsLocation" => o
            .settings_location
            .as_ref()
            .map(|p| p.display().to_string()),
        "OAuthSettingsKey" => mask(&o.settings_key),
        "SSLServerCert" => settings.ssl_server_cert.as_ref().map(|c| match c {
            epicor_kinetic::settings::ServerCert::AnyCertificate => "*".to_owned(),
            epicor_kinetic::settings::ServerCert::PemFile(p) => p.display().to_string(),
            // Inline PEM is long; it is not secret, but say what it is.
            epicor_kinetic::settings::ServerCert::Pem(_) => "(PEM text)".to_owned(),
            epicor_kinetic::settings::ServerCert::Thumbprint(t) => t.to_string(),
        }),
        "ProxyServer" => settings.proxy.as_ref().map(|p| p.host.clone()),
        "ProxyPort" => settings.proxy.as_ref().map(|p| p.port.to_string()),
        "ProxyUser" => settings.proxy.as_ref().and_then(|p| p.user.clone()),
        "ProxyPassword" => settings.proxy.as_ref().and_then(|p| mask(&p.password)),
        "Timeout" => Some(settings.timeout.map_or(0, |d| d.as_secs()).to_string()),
        "MaxRetries" => Some(settings.max_retries.to_string()),
        "Pagesize" => Some(settings.page_size.to_string()),
        "MaxRows" => Some(settings.max_rows.map_or(-1, |n| n as i64).to_string()),
        "Parallelism" => Some(settings.parallelism.to_string()),
        "Verbosity" => Some(settings.verbosity.to_string()),
        "Logfile" => settings.log_file.as_ref().map(|p| p.display().to_string()),
        _ => None,
    }
}

/// The properties a connection cannot be made without.
const REQUIRED: &[&str] = &["URL", "ERPInstance"];

fn connection_props(settings: &Settings, rows: &mut Rows) {
    for p in PROPERTIES {
        let (ty, values) = match p.kind {
            Kind::Bool => ("bool", Some("true,false".to_owned())),
            Kind::Int { .. } => ("int", None),
            Kind::Enum(v) => ("string", Some(v.join(","))),
            Kind::EnumOrGuid(v) => ("string", Some(v.join(","))),
            _ => ("string", None),
        };
        let value = if p.secret {
            // Never a secret's text: whether it is set, at most.
            settings.origin(p.name).map(|_| MASK.to_owned())
        } else {
            // A property the settings do not keep (InsecureHttpForLab): its default when no
            // source set it, else unknown.
            property_value(settings, p.name).or_else(|| match settings.origin(p.name) {
                None | Some(Origin::Default) => p.default.map(str::to_owned),
                Some(_) => None,
            })
        };
        rows.0.push(vec![
            s(p.name),
            s(p.help),
            s(ty),
            so(p.default),
            so(values),
            so(value),
            V::B(Some(REQUIRED.contains(&p.name))),
            s(p.category.title()),
        ]);
    }
}

// -------------------------------------------------------------------------------------------------
// SQL capabilities

/// What the engine does, as the reference's `sys_sqlinfo` says it.
const SQL_INFO: &[(&str, &str)] = &[
    ("DIALECT", "Apache DataFusion (PostgreSQL-like)"),
    ("IDENTIFIER_QUOTE_OPEN_CHAR", "\""),
    ("IDENTIFIER_QUOTE_CLOSE_CHAR", "\""),
    ("SUPPORTS_JOIN", "YES"),
    ("OUTER_JOINS", "YES"),
    ("OJ_CAPABILITIES", "LEFT,RIGHT,FULL,INNER,NESTED,ALL_COMPARISON_OPS"),
    ("SUBQUERIES", "CORRELATED,EXISTS,IN,COMPARISON,SCALAR"),
    ("GROUP_BY", "YES"),
    ("AGGREGATE_FUNCTIONS", "AVG,COUNT,MAX,MIN,SUM,DISTINCT"),
    ("COUNT", "YES"),
    ("WINDOW_FUNCTIONS", "YES"),
    (
        "SUPPORTED_OPERATORS",
        "=,<>,!=,<,<=,>,>=,AND,OR,NOT,IN,NOT IN,BETWEEN,LIKE,NOT LIKE,IS NULL,IS NOT NULL",
    ),
    (
        "PUSHED_DOWN",
        "comparisons,AND,OR,NOT,IN,BETWEEN,LIKE prefix/suffix/contains,IS NULL,projection,LIMIT,ORDER BY",
    ),
    ("SUPPORTS_INSERT", "YES"),
    ("SUPPORTS_UPDATE", "YES"),
    ("SUPPORTS_DELETE", "YES"),
    ("SUPPORT_TRANSACTION", "NO"),
    ("SUPPORTS_BATCH_OPERATIONS", "NO"),
    ("SUPPORTS_MULTIPLE_SCHEMAS", "YES"),
    ("SUPPORTS_MULTIPLE_CATALOGS", "NO"),
    ("STORED_PROCEDURES", "YES"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{ident, lit};

    #[test]
    fn equalities_are_recognised() {
        let e = ident("TableName").eq(lit("Customers"));
        assert_eq!(
            equality(&e),
            Some(("TableName", vec!["Customers".to_owned()]))
        );
        let e = lit("X").eq(ident("SchemaName"));
        assert_eq!(equality(&e), Some(("SchemaName", vec!["X".to_owned()])));
        let e = ident("TableName").in_list(vec![lit("A"), lit("B")], false);
        assert_eq!(
            equality(&e),
            Some(("TableName", vec!["A".to_owned(), "B".to_owned()]))
        );
        assert_eq!(
            equality(&ident("TableName").in_list(vec![lit("A")], true)),
            None
        );
        assert_eq!(equality(&ident("TableName").like(lit("A%"))), None);
        assert_eq!(equality(&ident("Ordinal").eq(lit(3))), None);
    }

    #[test]
    fn every_table_has_a_shape() {
        for name in NAMES {
            let which = Which::of(name).expect("a system table");
            assert_eq!(which.name(), *name);
            assert!(!which.columns().is_empty());
            assert_eq!(Which::of(&name.to_ascii_uppercase()), Some(which));
        }
    }

    #[test]
    fn every_property_has_a_value_mapping_or_is_secret() {
        let settings = Settings::parse(
            "URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p4ss-w0rd",
        )
        .expect("settings");
        let mut rows = Rows::default();
        connection_props(&settings, &mut rows);
        assert_eq!(rows.0.len(), PROPERTIES.len());
        let shown = format!("{:?}", rows.0);
        assert!(!shown.contains("p4ss-w0rd"));
        assert_eq!(
            property_value(&settings, "Pagesize").as_deref(),
            Some("100")
        );
        assert_eq!(property_value(&settings, "Password").as_deref(), Some(MASK));
    }
}
