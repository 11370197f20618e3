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
fn text_equality_is_a_superset_on_any_collation_and_text_order_is_not_pushed() {
    // `eq` finds case variants (filtered again here); `startswith(..,'v ')` finds a stored
    // `'v  '` on a server that compares bytes.
    assert_eq!(
        t(ident("Name").eq(lit("Addison"))),
        Some((
            "Name eq 'Addison' or startswith(Name,'Addison ')".into(),
            Inexact
        ))
    );
    // Digits too: a stored '1234 ' reads as '1234' here.
    assert_eq!(
        t(ident("Name").eq(lit("1234"))),
        Some(("Name eq '1234' or startswith(Name,'1234 ')".into(), Inexact))
    );
    // No value read here ends in a space: nothing worth sending.
    assert_eq!(t(ident("Name").eq(lit("1234 "))), None);
    assert_eq!(t(ident("Name").lt(lit("B"))), None);
    assert_eq!(t(ident("Name").not_eq(lit("Addison"))), None);
    // A case-insensitive server would drop '1234' rows stored as full-width digits.
    assert_eq!(t(ident("Name").not_eq(lit("1234"))), None);
    assert_eq!(
        t(ident("Name").eq(lit("O'Neil"))),
        Some((
            "Name eq 'O''Neil' or startswith(Name,'O''Neil ')".into(),
            Inexact
        ))
    );
}

#[test]
fn guids_compare_as_guids() {
    let cols = vec![column("SysRowID", EdmType::Guid, false)];
    let g = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    let got = translate(&ident("SysRowID").eq(lit(g)), &cols)
        .map(|t| (print_expr(&t.filter), t.exactness));
    assert_eq!(
        got,
        Some((
            "SysRowID eq 6f9619ff-8b86-d011-b42d-00c04fc964ff".into(),
            Inexact
        ))
    );
    assert_eq!(
        translate(&ident("SysRowID").eq(lit("not a guid")), &cols).map(|t| t.exactness),
        None
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
        Some((
            "CustNum eq 1 or (Name eq 'X' or startswith(Name,'X '))".into(),
            Inexact
        ))
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
        t(ident("Name").in_list(vec![lit("A"), lit("B")], false)),
        Some((
            "Name eq 'A' or startswith(Name,'A ') or (Name eq 'B' or startswith(Name,'B '))".into(),
            Inexact
        ))
    );
    assert_eq!(
        t(ident("CustNum").between(lit(1), lit(9))),
        Some(("CustNum ge 1 and CustNum le 9".into(), Exact))
    );
    assert_eq!(
        t(ident("Name").like(lit("Add%"))),
        Some(("startswith(Name,'Add')".into(), Inexact))
    );
    // Never endswith: a stored value may end in spaces that the value read here has not.
    assert_eq!(
        t(ident("Name").like(lit("%son"))),
        Some(("contains(Name,'son')".into(), Inexact))
    );
    assert_eq!(
        t(ident("Name").like(lit("%dis%"))),
        Some(("contains(Name,'dis')".into(), Inexact))
    );
    // `_` and inner `%` split the pattern into pieces, each a term (longest first).
    assert_eq!(
        t(ident("Name").like(lit("A_d%"))),
        Some((
            "startswith(Name,'A') and contains(Name,'d')".into(),
            Inexact
        ))
    );
    assert_eq!(
        t(ident("Name").like(lit("%a%bcd%ef"))),
        Some((
            "contains(Name,'bcd') and contains(Name,'ef') and contains(Name,'a')".into(),
            Inexact
        ))
    );
    // Escapes are literal characters.
    assert_eq!(
        t(ident("Name").like(lit("100\\%%"))),
        Some(("startswith(Name,'100%')".into(), Inexact))
    );
    // No wildcard: equality.
    assert_eq!(
        t(ident("Name").like(lit("Acme"))),
        Some(("Name eq 'Acme' or startswith(Name,'Acme ')".into(), Inexact))
    );
    // Nothing literal to look for.
    assert_eq!(t(ident("Name").like(lit("%"))), None);
    assert_eq!(t(ident("Name").like(lit("_%_"))), None);
    assert_eq!(t(ident("Name").not_like(lit("A%"))), None);
    assert_eq!(t(ident("Name").ilike(lit("A%")).not()), None);
    assert_eq!(
        t(starts_with(ident("Name"), lit("Ad"))),
        Some(("startswith(Name,'Ad')".into(), Inexact))
    );
}

#[test]
fn ilike_compares_the_lowered_text_with_lowered_pieces() {
    assert_eq!(
        t(ident("Name").ilike(lit("%Machine%"))),
        Some(("contains(tolower(Name),'machine')".into(), Inexact))
    );
    assert_eq!(
        t(ident("Name").ilike(lit("ACME"))),
        Some((
            "tolower(Name) eq 'acme' or startswith(tolower(Name),'acme ')".into(),
            Inexact
        ))
    );
    // Only ASCII pieces: case folding of other letters differs between engines.
    assert_eq!(t(ident("Name").ilike(lit("%Ärger%"))), None);
}

#[test]
fn only_widening_casts_are_crossed() {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::cast;
    // Int32 to Int64 or a wide decimal keeps the value.
    assert_eq!(
        t(cast(ident("CustNum"), DataType::Int64).eq(lit(5i64))),
        Some(("CustNum eq 5".into(), Exact))
    );
    // Decimal to integer truncates: `CAST(price AS INT) = 5` is true for 5.5.
    let cols = vec![{
        let mut c = column("Price", EdmType::Decimal, false);
        c.precision = Some(17);
        c.scale = Some(5);
        c
    }];
    let narrowing = cast(ident("Price"), DataType::Int32).eq(lit(5));
    assert_eq!(translate(&narrowing, &cols), None);
    let widening = cast(ident("Price"), DataType::Decimal128(20, 5))
        .eq(lit(ScalarValue::Decimal128(Some(550_000), 20, 5)));
    assert_eq!(
        translate(&widening, &cols).map(|t| (print_expr(&t.filter), t.exactness)),
        Some(("Price eq 5.50000".into(), Exact))
    );
    // Text to a number compares differently.
    assert_eq!(t(cast(ident("Name"), DataType::Int64).eq(lit(5i64))), None);
}

#[test]
fn functions_odata_has() {
    assert_eq!(
        t(date_part(lit("year"), ident("EstDate")).eq(lit(2025))),
        Some(("year(EstDate) eq 2025".into(), Exact))
    );
    assert_eq!(
        t(upper(ident("Name")).eq(lit("ADDISON"))),
        Some((
            "toupper(Name) eq 'ADDISON' or startswith(toupper(Name),'ADDISON ')".into(),
            Inexact
        ))
    );
    assert_eq!(t(lower(ident("Name")).lt(lit("b"))), None);
    // A server that counts trailing spaces sees a longer text: only lower bounds are pushed.
    assert_eq!(
        t(character_length(ident("Name")).gt(lit(10))),
        Some(("length(Name) gt 10".into(), Inexact))
    );
    assert_eq!(
        t(character_length(ident("Name")).eq(lit(10))),
        Some(("length(Name) ge 10".into(), Inexact))
    );
    assert_eq!(t(character_length(ident("Name")).lt(lit(10))), None);
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
