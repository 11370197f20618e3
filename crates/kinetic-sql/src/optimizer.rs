//! Physical rules that hand work to the server: `ORDER BY` (and its `LIMIT`), `OFFSET`, and
//! `COUNT(*)`. Each applies only where the server's answer is exactly SQL's.
//!
//! [`PUSH_SORT_INTO_SCAN`]: DataFusion keeps a `SortExec` above a scan, with a round-robin repartition, a filter (a
//! predicate the server answered only approximately) or a projection between them. When the
//! scan can order as SQL does ([`ODataScanExec::try_pushdown_sort`]: non-null numbers, dates,
//! booleans), this rule sends the order as `$orderby` and removes the sort and the repartition
//! (the rows then stay in the server's order); with nothing but order-preserving nodes between,
//! the sort's `LIMIT` becomes the server's `$top` as well. Runs last, after DataFusion's rules.

use crate::table::ODataScanExec;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::ExecutionPlan;
use std::fmt;
use std::sync::Arc;

/// What a rule answers for a node: its replacement, if any.
type Replacement = Result<Option<Arc<dyn ExecutionPlan>>>;

/// A physical rule of this module: each node of type `T`, top down, replaced by what `rewrite`
/// answers for it (left as it is where it answers `None`).
pub(crate) struct Replace<T> {
    name: &'static str,
    /// Whether DataFusion checks that a replacement keeps the node's schema.
    schema_check: bool,
    rewrite: fn(&T) -> Replacement,
}

impl<T> fmt::Debug for Replace<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl<T: ExecutionPlan> PhysicalOptimizerRule for Replace<T> {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(found) = node.downcast_ref::<T>() else {
                return Ok(Transformed::no(node));
            };
            Ok(match (self.rewrite)(found)? {
                Some(replacement) => Transformed::yes(replacement),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        self.name
    }

    fn schema_check(&self) -> bool {
        self.schema_check
    }
}

/// See the [module](self).
pub(crate) const PUSH_SORT_INTO_SCAN: Replace<SortExec> = Replace {
    name: "push_sort_into_odata_scan",
    schema_check: true,
    rewrite: sort_into_scan,
};

/// `LIMIT n OFFSET m` directly over an exact scan (through projections) becomes `$skip=m&$top=n`;
/// anywhere else the limit node stays above the scan, its `OFFSET` with it. Runs after
/// [`PUSH_SORT_INTO_SCAN`], so an ordered scan's `$top` is known.
pub(crate) const PUSH_OFFSET_INTO_SCAN: Replace<GlobalLimitExec> = Replace {
    name: "push_offset_into_odata_scan",
    schema_check: true,
    rewrite: offset_into_scan,
};

/// `SELECT COUNT(*) FROM t [WHERE ...]` over an exact scan becomes one `$count` request
/// (`{set}/$count?$filter=...`) instead of reading every row: an aggregate with no `GROUP BY`
/// whose every expression is `COUNT(*)`/`COUNT(1)` (no `DISTINCT`, no `FILTER`), over nodes that
/// keep one row per row.
pub(crate) const COUNT_ON_SERVER: Replace<AggregateExec> = Replace {
    name: "count_on_the_odata_server",
    // The count's column is not nullable where the aggregate's was declared so.
    schema_check: false,
    rewrite: count_on_server,
};

/// The limit's scan reading from its `OFFSET` (see [`PUSH_OFFSET_INTO_SCAN`]).
fn offset_into_scan(limit: &GlobalLimitExec) -> Replacement {
    if limit.skip() == 0 {
        return Ok(None);
    }
    let skip = limit.skip() as u64;
    let fetch = limit.fetch().map(|f| f as u64);
    offset(limit.input(), skip, fetch)
}

/// `node` with its scan reading from `skip` (and at most `fetch` rows), through projections
/// only (they keep one row per row, in order).
fn offset(node: &Arc<dyn ExecutionPlan>, skip: u64, fetch: Option<u64>) -> Replacement {
    if let Some(scan) = node.downcast_ref::<ODataScanExec>() {
        return Ok(scan
            .with_offset(skip, fetch)
            .map(|s| Arc::new(s) as Arc<dyn ExecutionPlan>));
    }
    let crossable = node.is::<ProjectionExec>() || node.is::<CooperativeExec>();
    if !crossable {
        return Ok(None);
    }
    let children = node.children();
    let [child] = children.as_slice() else {
        return Ok(None);
    };
    match offset(child, skip, fetch)? {
        Some(inner) => Ok(Some(replace_children_if_necessary(
            Arc::clone(node),
            vec![inner],
        )?)),
        None => Ok(None),
    }
}

/// The server's count in place of the aggregate (see [`COUNT_ON_SERVER`]). The count is a
/// leaf: nothing under it is left to rewrite.
fn count_on_server(agg: &AggregateExec) -> Replacement {
    Ok(counted_scan(agg)
        .and_then(|scan| scan.count_plan(agg.schema()))
        .map(|count| Arc::new(count) as Arc<dyn ExecutionPlan>))
}

/// The scan whose rows `agg` only counts, if it does nothing else.
fn counted_scan(agg: &AggregateExec) -> Option<ODataScanExec> {
    let counts_rows = |a: &AggregateExec| {
        a.group_expr().is_empty()
            && a.filter_expr().iter().all(Option::is_none)
            && !a.aggr_expr().is_empty()
            && a.aggr_expr().iter().all(|e| {
                e.fun().name() == "count"
                    && !e.is_distinct()
                    && matches!(
                        e.expressions().as_slice(),
                        [arg] if arg
                            .downcast_ref::<Literal>()
                            .is_some_and(|l| !l.value().is_null())
                    )
            })
    };
    if !counts_rows(agg) {
        return None;
    }
    let rows = match agg.mode() {
        AggregateMode::Single | AggregateMode::SinglePartitioned => Arc::clone(agg.input()),
        AggregateMode::Final | AggregateMode::FinalPartitioned => {
            // Down to the partial aggregate, which must count the same way.
            let below = down_through(agg.input(), |n| {
                n.is::<CoalescePartitionsExec>()
                    || n.is::<RepartitionExec>()
                    || n.is::<CooperativeExec>()
            });
            let partial = below.downcast_ref::<AggregateExec>()?;
            if partial.mode() != &AggregateMode::Partial || !counts_rows(partial) {
                return None;
            }
            Arc::clone(partial.input())
        }
        _ => return None,
    };
    // Under the aggregate: only nodes that keep every row.
    let leaf = down_through(&rows, |n| {
        n.is::<ProjectionExec>()
            || n.is::<RepartitionExec>()
            || n.is::<CoalescePartitionsExec>()
            || n.is::<CooperativeExec>()
    });
    leaf.downcast_ref::<ODataScanExec>().cloned()
}

/// The first node at or under `node` that `crossable` does not accept, going down through
/// nodes with one child.
fn down_through(
    node: &Arc<dyn ExecutionPlan>,
    crossable: impl Fn(&Arc<dyn ExecutionPlan>) -> bool,
) -> Arc<dyn ExecutionPlan> {
    let mut node = Arc::clone(node);
    while crossable(&node) {
        match node.children().as_slice() {
            [one] => {
                let next = Arc::clone(one);
                node = next;
            }
            _ => break,
        }
    }
    node
}

/// The sort's scan ordered by the server, the sort's `LIMIT` with it where nothing between
/// drops rows (see [`PUSH_SORT_INTO_SCAN`]).
fn sort_into_scan(sort: &SortExec) -> Replacement {
    let order: Vec<PhysicalSortExpr> = sort.expr().iter().cloned().collect();
    let Some((inner, fetch_pushed)) = push(sort.input(), &order, sort.fetch())? else {
        return Ok(None);
    };
    Ok(Some(match sort.fetch() {
        Some(f) if !fetch_pushed => Arc::new(GlobalLimitExec::new(inner, 0, Some(f))),
        _ => inner,
    }))
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
