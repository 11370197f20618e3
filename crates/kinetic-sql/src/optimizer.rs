//! `ORDER BY` (and its `LIMIT`) into the OData request.
//!
//! DataFusion keeps a `SortExec` above a scan, with a round-robin repartition, a filter (a
//! predicate the server answered only approximately) or a projection between them. When the
//! scan can order as SQL does ([`ODataScanExec::try_pushdown_sort`]: non-null numbers, dates,
//! booleans), this rule sends the order as `$orderby` and removes the sort and the repartition
//! (the rows then stay in the server's order); with nothing but order-preserving nodes between,
//! the sort's `LIMIT` becomes the server's `$top` as well. Runs last, after DataFusion's rules.

use crate::table::ODataScanExec;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// See the [module](self).
#[derive(Debug, Default)]
pub struct PushSortIntoScan;

impl PhysicalOptimizerRule for PushSortIntoScan {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            let order: Vec<PhysicalSortExpr> = sort.expr().iter().cloned().collect();
            match push(sort.input(), &order, sort.fetch())? {
                Some((inner, fetch_pushed)) => {
                    let out: Arc<dyn ExecutionPlan> = match sort.fetch() {
                        Some(f) if !fetch_pushed => {
                            Arc::new(GlobalLimitExec::new(inner, 0, Some(f)))
                        }
                        _ => inner,
                    };
                    Ok(Transformed::yes(out))
                }
                None => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "push_sort_into_odata_scan"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` with the scan under it ordered by `order`: `(plan, whether fetch went to the scan)`;
/// `None` when the order cannot be pushed. Only nodes that keep one row per row and the
/// order of their input are crossed; repartitions are dropped.
fn push(
    node: &Arc<dyn ExecutionPlan>,
    order: &[PhysicalSortExpr],
    fetch: Option<usize>,
) -> Result<Option<(Arc<dyn ExecutionPlan>, bool)>> {
    if let Some(scan) = node.downcast_ref::<ODataScanExec>() {
        let SortOrderPushdownResult::Exact { inner } = scan.try_pushdown_sort(order)? else {
            return Ok(None);
        };
        if let Some(f) = fetch {
            if let Some(with) = inner.with_fetch(Some(f)) {
                return Ok(Some((with, true)));
            }
        }
        return Ok(Some((inner, false)));
    }
    if let Some(r) = node.downcast_ref::<RepartitionExec>() {
        return push(r.input(), order, fetch);
    }
    if let Some(f) = node.downcast_ref::<FilterExec>() {
        if f.projection().is_some() {
            return Ok(None);
        }
        // A filter drops rows: the limit stays above it.
        let Some((inner, _)) = push(f.input(), order, None)? else {
            return Ok(None);
        };
        return Ok(Some((
            replace_children_if_necessary(Arc::clone(node), vec![inner])?,
            false,
        )));
    }
    if let Some(p) = node.downcast_ref::<ProjectionExec>() {
        // The order's columns, as the projection's input names them.
        let mut mapped = Vec::with_capacity(order.len());
        for s in order {
            let Some(col) = s.expr.downcast_ref::<Column>() else {
                return Ok(None);
            };
            let Some(pe) = p.expr().get(col.index()) else {
                return Ok(None);
            };
            let Some(source) = pe.expr.downcast_ref::<Column>() else {
                return Ok(None);
            };
            mapped.push(PhysicalSortExpr {
                expr: Arc::new(source.clone()),
                options: s.options,
            });
        }
        let Some((inner, pushed)) = push(p.input(), &mapped, fetch)? else {
            return Ok(None);
        };
        return Ok(Some((
            replace_children_if_necessary(Arc::clone(node), vec![inner])?,
            pushed,
        )));
    }
    Ok(None)
}
