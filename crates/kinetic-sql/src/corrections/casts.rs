//! `CAST(CreditLimit AS INT) = 5` made right.
//!
//! DataFusion 55's simplifier "unwraps" a cast compared with a literal, comparing the column
//! with the literal cast to the column's type instead: `CreditLimit = 5.000`. That is exact
//! only when the cast keeps every value apart; a cast from a decimal to an integer truncates
//! (5.125 becomes 5) and one to a decimal of smaller scale rounds (5.96 becomes 6.0), so the
//! rows whose value has more digits were lost, silently. This rule makes such a cast's input
//! already integral (`trunc(x)`) or already at the target scale (`round(x, s)`): the cast then
//! changes no value, and the unwrapped comparison means what the statement says.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::{lit, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

/// See the [module](self).
#[derive(Debug, Default)]
pub struct NarrowingCasts;

impl AnalyzerRule for NarrowingCasts {
    fn name(&self) -> &str {
        "narrowing_casts_keep_their_values"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, &narrowing)
    }
}

fn narrowing(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (inner, target, try_cast) = match &e {
        Expr::Cast(Cast { expr, field }) => (expr, field.data_type().clone(), false),
        Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type().clone(), true),
        _ => return Ok(Transformed::no(e)),
    };
    let Ok(DataType::Decimal128(_, scale)) = inner.get_type(schema) else {
        return Ok(Transformed::no(e));
    };
    let exact_input = match target {
        t if t.is_integer() && scale > 0 => {
            // Casting a decimal to an integer truncates: truncate first.
            datafusion::functions::math::trunc().call(vec![inner.as_ref().clone()])
        }
        DataType::Decimal128(_, to) if to < scale => {
            // Casting to a smaller scale rounds half away from zero, as round() does.
            datafusion::functions::math::round()
                .call(vec![inner.as_ref().clone(), lit(i64::from(to))])
        }
        _ => return Ok(Transformed::no(e)),
    };
    let field = match &e {
        Expr::Cast(c) => c.field.clone(),
        Expr::TryCast(c) => c.field.clone(),
        _ => unreachable!("matched above"),
    };
    let out = if try_cast {
        Expr::TryCast(TryCast {
            expr: Box::new(exact_input),
            field,
        })
    } else {
        Expr::Cast(Cast {
            expr: Box::new(exact_input),
            field,
        })
    };
    Ok(Transformed::yes(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{cast, col};

    fn schema() -> DFSchema {
        DFSchema::try_from(Schema::new(vec![
            Field::new("price", DataType::Decimal128(17, 3), true),
            Field::new("n", DataType::Int32, true),
        ]))
        .unwrap()
    }

    #[test]
    fn a_decimal_cast_to_an_integer_is_truncated_first() {
        let out = narrowing(cast(col("price"), DataType::Int32), &schema()).unwrap();
        assert!(out.transformed);
        assert_eq!(
            out.data.to_string(),
            "CAST(trunc(price) AS Int32)",
            "{}",
            out.data
        );
    }

    #[test]
    fn a_decimal_cast_to_a_smaller_scale_is_rounded_first() {
        let out = narrowing(cast(col("price"), DataType::Decimal128(17, 1)), &schema()).unwrap();
        assert!(out.transformed);
        assert!(
            out.data.to_string().contains("round(price, Int64(1))"),
            "{}",
            out.data
        );
    }

    #[test]
    fn widening_and_other_casts_are_left_alone() {
        for e in [
            cast(col("price"), DataType::Decimal128(20, 3)),
            cast(col("price"), DataType::Float64),
            cast(col("n"), DataType::Int64),
        ] {
            assert!(!narrowing(e, &schema()).unwrap().transformed);
        }
    }
}
