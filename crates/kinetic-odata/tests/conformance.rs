//! The OASIS OData TC's own ABNF test cases (shared/conformance/odata-abnf), for every rule this crate
//! covers: cases without `FailAt` must be accepted, cases with it rejected.

use std::path::PathBuf;

use epicor_kinetic_odata::{parse_filter, parse_rule, print_expr, QueryOptions};

/// The rules this crate's parsers cover.
const RULES: &[&str] = &[
    "filter",
    "boolCommonExpr",
    "commonExpr",
    "orderby",
    "select",
    "expand",
    "firstMemberExpr",
    "propertyPathExpr",
    "anyExpr",
    "isofExpr",
    "stringLiteral",
    "date",
    "dateTimeOffsetValue",
    "decimalValue",
    "doubleValue",
    "guid",
    "boolean",
    "durationValue",
    "timeOfDayValue",
    "primitiveLiteral",
    "enumLiteral",
    "binaryLiteral",
];

/// Cases for features deliberately left out: (Name, Input, reason).
const SKIPPED: &[(&str, &str, &str)] = &[
    (
        "4.12 Filter Path Segment followed by key predicate",
        "Products/$filter(Age gt 3)(ID='Sugar')",
        "$filter path segments and key predicates in paths are not supported (Epicor does not use them)",
    ),
    (
        "4.12 Filter expression in query",
        "$filter=Addresses/$filter(endswith(Street,'St'))/$count lt 10",
        "$filter path segments are not supported (Epicor does not use them)",
    ),
    (
        "5.1.1.11.3 geo.length",
        "geo.length(geography'SRID=0;LineString(142.1 64.1,3.14 2.78)')",
        "geography/geometry literals are not supported (Epicor has no spatial types)",
    ),
    (
        "$filter with geometry",
        "$filter=geo.intersects(geometry'SRID=0;Point(142.1 64.1)',geometry'SRID=0;Polygon((1 1,1 1),(1 1,2 2,3 3,1 1))')",
        "geography/geometry literals are not supported (Epicor has no spatial types)",
    ),
    (
        "5.1.1.14.5 $root with entity set",
        "$root/SalesOrganizations",
        "$root paths are not supported (they need entity-set key predicates; Epicor does not use them)",
    ),
    (
        "Functions in commonExpr - singleNavigation with any",
        "Products/Model.BestProduct()/EmailAddresses/any()",
        "any/all over a bound function's result: Expr::Lambda ranges over a MemberPath (Epicor has no bound functions)",
    ),
    (
        "Functions in commonExpr - singleNavigation with all",
        "Products/Model.BestProduct()/EmailAddresses/all(lambda:true)",
        "any/all over a bound function's result: Expr::Lambda ranges over a MemberPath (Epicor has no bound functions)",
    ),
    (
        "Functions in commonExpr - collectionNavigation with all",
        "Products/Model.ProductsByColor()/all(lambda:true)",
        "any/all over a bound function's result: Expr::Lambda ranges over a MemberPath (Epicor has no bound functions)",
    ),
];

fn cases_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/odata-abnf/odata-abnf-testcases.json")
}

#[test]
fn odata_abnf_conformance() {
    let path = cases_file();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "conformance cases not found at {} ({e}): the checkout needs shared/ beside it",
            path.display()
        )
    });
    let doc: serde_json::Value = serde_json::from_str(&text).expect("conformance file is JSON");
    let cases = doc["TestCases"].as_array().expect("TestCases array");

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut used_skips = vec![false; SKIPPED.len()];
    for case in cases {
        let rule = case["Rule"].as_str().unwrap_or_default();
        if !RULES.contains(&rule) {
            continue;
        }
        let name = case["Name"].as_str().unwrap_or_default();
        let input = case["Input"].as_str().unwrap_or_default();
        let fail_at = case.get("FailAt").and_then(|v| v.as_u64());
        if let Some(i) = SKIPPED
            .iter()
            .position(|(n, inp, _)| *n == name && *inp == input)
        {
            used_skips[i] = true;
            skipped += 1;
            continue;
        }
        let result = parse_rule(rule, input);
        let ok = fail_at.is_some() == result.is_err();
        if ok {
            passed += 1;
        } else {
            failed += 1;
            failures.push(format!(
                "  [{rule}] {name}: {input:?} (FailAt {fail_at:?}) -> {result:?}"
            ));
        }
        // Whatever the URL rules accept must survive the printer.
        if fail_at.is_none() && matches!(rule, "commonExpr" | "boolCommonExpr") {
            if let Ok(decoded) = percent_encoding::percent_decode_str(input).decode_utf8() {
                if let Ok(e) = parse_filter(&decoded) {
                    let printed = print_expr(&e);
                    assert_eq!(
                        parse_filter(&printed).as_ref(),
                        Ok(&e),
                        "round trip of {input:?} via {printed:?}"
                    );
                }
            }
        }
        if fail_at.is_none() && matches!(rule, "filter" | "orderby" | "select" | "expand") {
            if let Ok(q) = QueryOptions::from_query(input) {
                let printed = q.to_query_string();
                assert_eq!(
                    QueryOptions::from_query(&printed).as_ref(),
                    Ok(&q),
                    "round trip of {input:?} via {printed:?}"
                );
            }
        }
    }
    for f in &failures {
        println!("{f}");
    }
    for (i, used) in used_skips.iter().enumerate() {
        assert!(*used, "skip list entry matches no case: {:?}", SKIPPED[i]);
    }
    println!("conformance: {passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(failed, 0, "conformance failures:\n{}", failures.join("\n"));
}
