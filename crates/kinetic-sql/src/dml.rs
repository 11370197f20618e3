//! INSERT, UPDATE and DELETE on entity sets.

use crate::table::ODataTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

pub(crate) fn insert(
    _table: &ODataTable,
    _input: Arc<dyn ExecutionPlan>,
    _op: InsertOp,
) -> Result<Arc<dyn ExecutionPlan>> {
    Err(DataFusionError::NotImplemented("INSERT".into()))
}

pub(crate) fn delete(_table: &ODataTable, _filters: Vec<Expr>) -> Result<Arc<dyn ExecutionPlan>> {
    Err(DataFusionError::NotImplemented("DELETE".into()))
}

pub(crate) fn update(
    _table: &ODataTable,
    _assignments: Vec<(String, Expr)>,
    _filters: Vec<Expr>,
) -> Result<Arc<dyn ExecutionPlan>> {
    Err(DataFusionError::NotImplemented("UPDATE".into()))
}
