//! `RequestDate - OrderDate > INTERVAL '45 days'` made right.
//!
//! The difference of two timestamps is a `Duration`; DataFusion 55 compares it with an
//! `INTERVAL` by casting the duration to `Interval(MonthDayNano)`, which puts the whole
//! difference in the nanoseconds field (0 days), and then compares the fields one by one:
//! `{0 days, 3,974,400 s}` is less than `{45 days, 0 s}`, so the comparison is never true, a
//! silent wrong answer. This rule, run after type coercion, compares such a difference with the
//! interval as a duration instead (`45 days` is exactly 3,888,000 s). An interval with months
//! has no fixed length (28 to 31 days), so a duration compared with one is refused, with the
//! form that is right (`RequestDate > OrderDate + INTERVAL '1 month'`).

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

/// See the [module](self). An analyzer rule, run once after DataFusion's type coercion and
/// before any optimization (filter pushdown among them) sees the expressions.
#[derive(Debug, Default)]
pub struct DurationComparisons;

impl AnalyzerRule for DurationComparisons {
    fn name(&self) -> &str {
        "compare_durations_with_intervals"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, &comparison)
    }
}

/// `CAST(d AS Interval) op INTERVAL` (either way round), `d` a duration: `d op DURATION`.
fn comparison(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    if !matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    ) {
        return Ok(Transformed::no(e));
    }
    let (duration, interval, op) = match (duration_of(left, schema), interval_of(right)) {
        (Some(d), Some(i)) => (d, i, *op),
        _ => match (interval_of(left), duration_of(right, schema)) {
            (Some(i), Some(d)) => match op.swap() {
                Some(swapped) => (d, i, swapped),
                None => return Ok(Transformed::no(e)),
            },
            _ => return Ok(Transformed::no(e)),
        },
    };
    let (expr, unit) = duration;
    let (months, nanos) = interval;
    if months != 0 {
        return Err(DataFusionError::Plan(
            "a difference of timestamps is compared with an INTERVAL of months, and a month has \
             no fixed length (28 to 31 days); compare the timestamps instead, e.g. RequestDate > \
             OrderDate + INTERVAL '1 month'"
                .to_owned(),
        ));
    }
    let per = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    // In the duration's own unit when the interval is a whole number of it, else both in
    // nanoseconds (an exact comparison either way).
    let (expr, literal) = if nanos % per == 0 {
        (expr, duration_literal(&unit, (nanos / per) as i64))
    } else {
        let as_nanos = Expr::Cast(Cast::new(
            Box::new(expr),
            DataType::Duration(TimeUnit::Nanosecond),
        ));
        let nanos = i64::try_from(nanos).map_err(|_| {
            DataFusionError::Plan(format!("the interval of `{e}` is too long to compare"))
        })?;
        (as_nanos, ScalarValue::DurationNanosecond(Some(nanos)))
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(expr),
        op,
        Box::new(Expr::Literal(literal, None)),
    ))))
}

/// The duration under `CAST(d AS Interval(...))`, and its unit.
fn duration_of(e: &Expr, schema: &DFSchema) -> Option<(Expr, TimeUnit)> {
    let (Expr::Cast(Cast { expr, field })
    | Expr::TryCast(datafusion::logical_expr::TryCast { expr, field })) = e
    else {
        return None;
    };
    if !matches!(field.data_type(), DataType::Interval(_)) {
        return None;
    }
    match expr.get_type(schema).ok()? {
        DataType::Duration(unit) => Some((expr.as_ref().clone(), unit)),
        _ => None,
    }
}

/// An interval literal as (months, nanoseconds of its days and time); days are 24 hours, as
/// in SQL and in DataFusion's own timestamp arithmetic.
fn interval_of(e: &Expr) -> Option<(i64, i128)> {
    let Expr::Literal(value, _) = e else {
        return None;
    };
    const DAY: i128 = 86_400_000_000_000;
    match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) => Some((
            i64::from(v.months),
            i128::from(v.days) * DAY + i128::from(v.nanoseconds),
        )),
        ScalarValue::IntervalDayTime(Some(v)) => Some((
            0,
            i128::from(v.days) * DAY + i128::from(v.milliseconds) * 1_000_000,
        )),
        ScalarValue::IntervalYearMonth(Some(m)) => Some((i64::from(*m), 0)),
        _ => None,
    }
}

fn duration_literal(unit: &TimeUnit, value: i64) -> ScalarValue {
    match unit {
        TimeUnit::Second => ScalarValue::DurationSecond(Some(value)),
        TimeUnit::Millisecond => ScalarValue::DurationMillisecond(Some(value)),
        TimeUnit::Microsecond => ScalarValue::DurationMicrosecond(Some(value)),
        TimeUnit::Nanosecond => ScalarValue::DurationNanosecond(Some(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, IntervalUnit, Schema};
    use datafusion::logical_expr::{cast, col, lit};

    fn schema() -> DFSchema {
        DFSchema::try_from(Schema::new(vec![Field::new(
            "d",
            DataType::Duration(TimeUnit::Microsecond),
            true,
        )]))
        .unwrap()
    }

    fn days(n: i32) -> Expr {
        lit(ScalarValue::IntervalMonthDayNano(Some(
            datafusion::arrow::datatypes::IntervalMonthDayNano::new(0, n, 0),
        )))
    }

    #[test]
    fn a_duration_compared_with_days_compares_durations() {
        let e = cast(col("d"), DataType::Interval(IntervalUnit::MonthDayNano)).gt(days(45));
        let out = comparison(e, &schema()).unwrap();
        assert!(out.transformed);
        assert_eq!(
            out.data,
            col("d").gt(lit(ScalarValue::DurationMicrosecond(Some(
                45 * 86_400_000_000
            ))))
        );
        // The other way round, the operator turned.
        let e = days(45).lt(cast(
            col("d"),
            DataType::Interval(IntervalUnit::MonthDayNano),
        ));
        let out = comparison(e, &schema()).unwrap();
        assert_eq!(
            out.data,
            col("d").gt(lit(ScalarValue::DurationMicrosecond(Some(
                45 * 86_400_000_000
            ))))
        );
    }

    #[test]
    fn months_are_refused_with_the_right_form() {
        let month = lit(ScalarValue::IntervalMonthDayNano(Some(
            datafusion::arrow::datatypes::IntervalMonthDayNano::new(1, 0, 0),
        )));
        let e = cast(col("d"), DataType::Interval(IntervalUnit::MonthDayNano)).gt(month);
        let err = comparison(e, &schema()).unwrap_err().to_string();
        assert!(err.contains("OrderDate + INTERVAL '1 month'"), "{err}");
    }

    #[test]
    fn other_comparisons_are_left_alone() {
        let e = col("d").gt(lit(ScalarValue::DurationMicrosecond(Some(1))));
        assert!(!comparison(e, &schema()).unwrap().transformed);
    }
}
