//! Entry points for single grammar rules: one literal ([`parse_literal`]) and, for the conformance
//! test, any rule of the OData ABNF that this crate covers ([`parse_rule`]).

use percent_encoding::percent_decode_str;

use crate::ast::{Expr, Function, LambdaKind, Literal};
use crate::error::ParseError;
use crate::literal;
use crate::parser::Parser;
use crate::query::QueryOptions;

/// Parses one primitive literal as written in a URL (already percent-decoded): `'text'`, `42`,
/// `3.14`, `1e5`, `true`, `null`, `2025-01-31`, `2025-01-31T10:00:00Z`, `13:20:00`, a GUID,
/// `duration'P1D'`, `binary'Zm9v'`, `Ns.Enum'Member'`. Handy for key predicates such as
/// `Customers('EPIC06',45)`.
pub fn parse_literal(input: &str) -> Result<Literal, ParseError> {
    match crate::parse_filter(input)? {
        Expr::Literal(l) => Ok(l),
        _ => Err(ParseError::new(0, "expected a literal")),
    }
}

fn url_decode(input: &str) -> Result<String, ParseError> {
    percent_decode_str(input)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ParseError::new(0, "not valid UTF-8 after percent-decoding"))
}

fn check(ok: bool, what: &str) -> Result<(), ParseError> {
    if ok {
        Ok(())
    } else {
        Err(ParseError::new(0, format!("not a {what}")))
    }
}

fn value(result: Result<(), usize>, what: &str) -> Result<(), ParseError> {
    result.map_err(|at| ParseError::new(at, format!("invalid {what}")))
}

/// Parses `input` as the OData ABNF rule `rule` and answers whether it is accepted (the conformance
/// test's entry point). URL rules get percent-encoded URL text and decode it first; the payload rules
/// (`...Value`) take the text as is, where `%` is never valid.
#[doc(hidden)]
pub fn parse_rule(rule: &str, input: &str) -> Result<(), ParseError> {
    match rule {
        "filter" | "orderby" | "select" | "expand" => {
            let key = input.split('=').next().unwrap_or("");
            let key = key.strip_prefix('$').unwrap_or(key);
            if !key.eq_ignore_ascii_case(rule) {
                return Err(ParseError::new(0, format!("expected ${rule}=")));
            }
            QueryOptions::from_query(input)
                .map(|_| ())
                .map_err(|e| ParseError::new(0, e.to_string()))
        }
        "boolCommonExpr" | "commonExpr" => crate::parse_filter(&url_decode(input)?).map(|_| ()),
        "firstMemberExpr" => {
            let e = crate::parse_filter(&url_decode(input)?)?;
            check(
                matches!(
                    e,
                    Expr::Member(_)
                        | Expr::Navigate { .. }
                        | Expr::Count { .. }
                        | Expr::FunctionCall {
                            target: Some(_),
                            ..
                        }
                ),
                "member expression",
            )
        }
        "propertyPathExpr" => {
            let e = crate::parse_filter(&url_decode(input)?)?;
            check(matches!(e, Expr::Member(_)), "property path")
        }
        "anyExpr" => {
            // The rule is the part after `Collection/`; give it a collection to range over.
            let e = crate::parse_filter(&format!("$it/{}", url_decode(input)?))?;
            check(
                matches!(
                    e,
                    Expr::Lambda {
                        kind: LambdaKind::Any,
                        ..
                    }
                ),
                "any expression",
            )
        }
        "isofExpr" => {
            let e = crate::parse_filter(&url_decode(input)?)?;
            check(
                matches!(
                    e,
                    Expr::Call {
                        function: Function::IsOf,
                        ..
                    }
                ),
                "isof expression",
            )
        }
        "primitiveLiteral" => parse_literal(&url_decode(input)?).map(|_| ()),
        "stringLiteral" => {
            let decoded = url_decode(input)?;
            let mut p = Parser::new(&decoded);
            if p.peek() != Some('\'') {
                return Err(ParseError::new(0, "expected '"));
            }
            p.string_literal()?;
            p.expect_end()
        }
        "enumLiteral" => match parse_literal(&url_decode(input)?)? {
            Literal::Enum { .. } => Ok(()),
            // Without the type prefix an enum literal looks like a string.
            Literal::String(s) => value(literal::validate_enum_value(&s), "enum value"),
            _ => check(false, "enum literal"),
        },
        "binaryLiteral" => {
            let l = parse_literal(&url_decode(input)?)?;
            check(matches!(l, Literal::Binary(_)), "binary literal")
        }
        "guid" => value(literal::validate_guid(input), "GUID"),
        "boolean" => check(
            input.eq_ignore_ascii_case("true") || input.eq_ignore_ascii_case("false"),
            "boolean",
        ),
        "date" => value(literal::validate_date(input), "date"),
        "dateTimeOffsetValue" => value(literal::validate_date_time_offset(input), "date-time"),
        "timeOfDayValue" => value(literal::validate_time_of_day(input), "time of day"),
        "durationValue" => value(literal::validate_duration(input), "duration"),
        "decimalValue" | "doubleValue" => value(literal::validate_number(input), "number"),
        _ => Err(ParseError::new(
            0,
            format!("rule '{rule}' is not supported"),
        )),
    }
}
