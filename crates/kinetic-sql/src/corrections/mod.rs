//! Where DataFusion 55 would answer a statement wrongly, and silently: rewrites of the analyzed
//! plan (after type coercion, before any optimization) that make the answer right, each with
//! the case that proves it (the oracle and differential suites run them). We stay on
//! DataFusion 55: delta-rs, which the sync command builds on, pins the same release.
//!
//! - [`intervals`]: a difference of timestamps compared with an `INTERVAL` (never true).
//! - [`casts`]: a narrowing numeric cast compared with a literal (`CAST(price AS INT) = 5`
//!   lost the rows whose price has a fraction).

pub mod casts;
pub mod intervals;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Rewrites every expression of `plan` (subqueries included) bottom up with `f`, which sees
/// the schema the expression reads; the columns of a projection keep their names.
pub(crate) fn rewrite_expressions(
    plan: LogicalPlan,
    f: &dyn Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        // The expressions of a node read its inputs' columns.
        let mut schema = DFSchema::empty();
        for input in node.inputs() {
            schema.merge(input.schema());
        }
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let name = names.save(&e);
            let out = e.transform_up(|e| f(e, &schema))?;
            Ok(out.update_data(|e| name.restore(e)))
        })
    })
    .data()
}
