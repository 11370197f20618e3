//! A system table as DataFusion sees it: the provider, the equality filters that narrow what
//! is read, and the scan that computes the rows when it runs.

use super::shape::{Rows, SysTable};
use super::Unreadable;
use crate::names::CATALOG;
use crate::server::ServerModel;
use crate::table::{leaf_plan, one_batch};
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use std::fmt;
use std::sync::Arc;

/// One system table.
#[derive(Debug)]
pub(super) struct SystemTable {
    pub(super) which: SysTable,
    pub(super) server: Arc<ServerModel>,
    pub(super) unreadable: Arc<Unreadable>,
    pub(super) schema: SchemaRef,
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
            server: self.server.clone(),
            unreadable: self.unreadable.clone(),
            narrowing,
            projection: projection.cloned(),
            limit,
            properties,
        }))
    }
}

/// `column = 'text'`, `'text' = column` or `column IN ('a', 'b')`: the column and the texts.
pub(super) fn equality(e: &Expr) -> Option<(&str, Vec<String>)> {
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
pub(super) struct Narrowing {
    pub(super) catalog: Option<Vec<String>>,
    pub(super) schema: Option<Vec<String>>,
    /// A table's or a procedure's name.
    pub(super) object: Option<Vec<String>>,
}

pub(super) fn allows(set: &Option<Vec<String>>, name: &str) -> bool {
    set.as_ref()
        .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

impl Narrowing {
    pub(super) fn catalog_ok(&self) -> bool {
        allows(&self.catalog, CATALOG)
    }

    pub(super) fn schema_ok(&self, schema: &str) -> bool {
        allows(&self.schema, schema)
    }

    pub(super) fn object_ok(&self, name: &str) -> bool {
        allows(&self.object, name)
    }

    pub(super) fn describe(&self) -> String {
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
pub(super) struct SystemScanExec {
    which: SysTable,
    server: Arc<ServerModel>,
    unreadable: Arc<Unreadable>,
    narrowing: Narrowing,
    projection: Option<Vec<usize>>,
    limit: Option<usize>,
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
    leaf_plan!("SystemScanExec");

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let which = self.which;
        let server = self.server.clone();
        let unreadable = self.unreadable.clone();
        let narrowing = self.narrowing.clone();
        let projection = self.projection.clone();
        let limit = self.limit;
        one_batch(self, partition, async move {
            let rows = Rows::compute(which, &server, &unreadable, &narrowing).await?;
            let mut batch = rows.batch(which)?;
            if let Some(p) = &projection {
                batch = batch.project(p)?;
            }
            if let Some(l) = limit {
                batch = batch.slice(0, l.min(batch.num_rows()));
            }
            Ok(batch)
        })
    }
}

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
}
