use super::*;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ident, lit, Expr};
use datafusion::prelude::{character_length, date_part, lower, starts_with, upper};
use epicor_kinetic::api::Column;
use epicor_kinetic_odata::print_expr;
use std::ops::Not;

fn column(name: &str, edm: EdmType, nullable: bool) -> Column {
    let mut c = Column::untyped(name);
    c.edm_type = edm;
    c.nullable = nullable;
    c
}

fn columns() -> Vec<Column> {
    vec![
        column("CustNum", EdmType::Int32, false),
        column("Name", EdmType::String, false),
        column("PhoneNum", EdmType::String, true),
        column("CreditLimit", EdmType::Decimal, false),
        column("CreditHold", EdmType::Boolean, false),
        column("EstDate", EdmType::DateTimeOffset, false),
        column("NeedByDate", EdmType::DateTimeOffset, true),
        column("Discount", EdmType::Int32, true),
    ]
}

/// The OData text and exactness of `e`, or `None`.
fn t(e: Expr) -> Option<(String, Exactness)> {
    let cols = columns();
    translate(&e, &cols).map(|t| (print_expr(&t.filter), t.exactness))
}

use Exactness::{Exact, Inexact};

#[test]
fn numbers_dates_and_booleans_are_exact() {
    assert_eq!(
        t(ident("CustNum").eq(lit(5))),
        Some(("CustNum eq 5".into(), Exact))
    );
    assert_eq!(
        t(lit(5).lt(ident("CustNum"))),
        Some(("CustNum gt 5".into(), Exact))
    );
    assert_eq!(
        t(ident("CreditLimit").gt_eq(lit(ScalarValue::Decimal128(Some(150050), 17, 2)))),
        Some(("CreditLimit ge 1500.50".into(), Exact))
    );
    assert_eq!(
        t(ident("CreditHold").eq(lit(true))),
        Some(("CreditHold eq true".into(), Exact))
    );
    assert_eq!(
        t(ident("CreditHold")),
        Some(("CreditHold eq true".into(), Exact))
    );
    assert_eq!(
        t(ident("EstDate").lt(lit(ScalarValue::TimestampMicrosecond(
            Some(1_735_689_600_000_000),
            Some("UTC".into())
        )))),
        Some(("EstDate lt 2025-01-01T00:00:00Z".into(), Exact))
    );
}

#[test]
fn not_equal_over_a_nullable_column_is_a_superset() {
    // OData's `null ne 5` is true; SQL's is unknown.
    assert_eq!(
        t(ident("Discount").not_eq(lit(5))),
        Some(("Discount ne 5".into(), Inexact))
    );
    assert_eq!(
        t(ident("CustNum").not_eq(lit(5))),
        Some(("CustNum ne 5".into(), Exact))
    );
}

#[test]
fn text_equality_is_inexact_and_text_order_is_not_pushed() {
    assert_eq!(
        t(ident("Name").eq(lit("Addison"))),
        Some(("Name eq 'Addison'".into(), Inexact))
    );
    // No letter, no trailing space: collations agree.
    assert_eq!(
        t(ident("Name").eq(lit("1234"))),
        Some(("Name eq '1234'".into(), Exact))
    );
    assert_eq!(t(ident("Name").lt(lit("B"))), None);
    assert_eq!(t(ident("Name").not_eq(lit("Addison"))), None);
    assert_eq!(
        t(ident("Name").eq(lit("O'Neil"))),
        Some(("Name eq 'O''Neil'".into(), Inexact))
    );
}

#[test]
fn null_tests_are_exact_and_comparisons_with_null_are_left_alone() {
    assert_eq!(
        t(ident("PhoneNum").is_null()),
        Some(("PhoneNum eq null".into(), Exact))
    );
    assert_eq!(
        t(ident("PhoneNum").is_not_null()),
        Some(("PhoneNum ne null".into(), Exact))
    );
    assert_eq!(t(ident("CustNum").eq(lit(ScalarValue::Int32(None)))), None);
}

#[test]
fn and_or_not_follow_their_parts() {
    assert_eq!(
        t(ident("CustNum")
            .gt(lit(1))
            .and(ident("CreditHold").eq(lit(false)))),
        Some(("CustNum gt 1 and CreditHold eq false".into(), Exact))
    );
    // Half a conjunction narrows: a superset.
    assert_eq!(
        t(ident("CustNum").gt(lit(1)).and(ident("Name").lt(lit("B")))),
        Some(("CustNum gt 1".into(), Inexact))
    );
    // An OR needs both sides.
    assert_eq!(
        t(ident("CustNum").gt(lit(1)).or(ident("Name").lt(lit("B")))),
        None
    );
    assert_eq!(
        t(ident("CustNum").eq(lit(1)).or(ident("Name").eq(lit("X")))),
        Some(("CustNum eq 1 or Name eq 'X'".into(), Inexact))
    );
    assert_eq!(
        t(ident("CustNum").eq(lit(1)).not()),
        Some(("not (CustNum eq 1)".into(), Exact))
    );
    // NOT over a nullable column: OData's not(null eq 1) is true.
    assert_eq!(
        t(ident("Discount").eq(lit(1)).not()),
        Some(("not (Discount eq 1)".into(), Inexact))
    );
    // NOT over a superset would be a subset: never pushed.
    assert_eq!(t(ident("Name").eq(lit("X")).not()), None);
}

#[test]
fn in_between_and_like() {
    assert_eq!(
        t(ident("CustNum").in_list(vec![lit(1), lit(2)], false)),
        Some(("CustNum eq 1 or CustNum eq 2".into(), Exact))
    );
    assert_eq!(
        t(ident("CustNum").in_list(vec![lit(1), lit(2)], true)),
        Some(("not (CustNum eq 1 or CustNum eq 2)".into(), Exact))
    );
    assert_eq!(t(ident("Name").in_list(vec![lit("A")], true)), None);
    assert_eq!(
        t(ident("CustNum").between(lit(1), lit(9))),
        Some(("CustNum ge 1 and CustNum le 9".into(), Exact))
    );
    assert_eq!(
        t(ident("Name").like(lit("Add%"))),
        Some(("startswith(Name,'Add')".into(), Inexact))
    );
    assert_eq!(
        t(ident("Name").like(lit("%son"))),
        Some(("endswith(Name,'son')".into(), Inexact))
    );
    assert_eq!(
        t(ident("Name").like(lit("%dis%"))),
        Some(("contains(Name,'dis')".into(), Inexact))
    );
    assert_eq!(t(ident("Name").like(lit("A_d%"))), None);
    assert_eq!(t(ident("Name").like(lit("A%d%"))), None);
    assert_eq!(t(ident("Name").not_like(lit("A%"))), None);
    assert_eq!(
        t(starts_with(ident("Name"), lit("Ad"))),
        Some(("startswith(Name,'Ad')".into(), Inexact))
    );
}

#[test]
fn functions_odata_has() {
    assert_eq!(
        t(date_part(lit("year"), ident("EstDate")).eq(lit(2025))),
        Some(("year(EstDate) eq 2025".into(), Exact))
    );
    assert_eq!(
        t(upper(ident("Name")).eq(lit("ADDISON"))),
        Some(("toupper(Name) eq 'ADDISON'".into(), Inexact))
    );
    assert_eq!(t(lower(ident("Name")).lt(lit("b"))), None);
    assert_eq!(
        t(character_length(ident("Name")).gt(lit(10))),
        Some(("length(Name) gt 10".into(), Exact))
    );
    // Arithmetic stays local.
    assert_eq!(t((ident("CustNum") + lit(1)).gt(lit(5))), None);
}

#[test]
fn pushdown_answers_come_from_the_same_translation() {
    let cols = columns();
    assert_eq!(
        pushdown_of(&ident("CustNum").eq(lit(1)), &cols),
        TableProviderFilterPushDown::Exact
    );
    assert_eq!(
        pushdown_of(&ident("Name").eq(lit("a")), &cols),
        TableProviderFilterPushDown::Inexact
    );
    assert_eq!(
        pushdown_of(&ident("Name").gt(lit("a")), &cols),
        TableProviderFilterPushDown::Unsupported
    );
}
