//! Parameters: values bound to the markers of a statement: `?` (the DB-API's `qmark` style)
//! or PostgreSQL's `$1`, `$2`, ... (what PostgreSQL clients send through `kinetic serve`).
//!
//! A parameter becomes a literal node of the parsed statement, never text spliced into the SQL:
//! `WHERE Name = ?` bound to `O'Brien'; DROP TABLE x --` compares `Name` with that string, and
//! nothing of it is ever read as SQL. `?` markers are numbered in the order they appear in
//! the text (`SELECT ? ... WHERE a = ? LIMIT ?`: first, second, third), whatever the
//! statement's shape; `$n` takes the n-th value wherever it stands. `EXEC`/`CALL` arguments take markers too (`EXEC GetOAuthAccessToken @Verifier = ?`).
//!
//! Epicor's numbers are SQL Server decimals and integers: a float parameter that is NaN or an
//! infinity has no value there, and compared locally it would order as Arrow orders floats (NaN
//! above every number: `CustNum < NaN` true for every row). Binding one is an error, never a
//! value. A timestamp without a time zone ([`Param::LocalTimestamp`]) is compared with Epicor's
//! instants (`Edm.DateTimeOffset`, read as UTC) as a UTC time, and sent in filters as one
//! (`EstDate ge 2020-01-01T12:00:00Z`).

use crate::literal::Literal;
use crate::SqlError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, ExactNumberInfo, Expr, TimezoneInfo, Value, ValueWithSpan,
};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// A value for a `?` marker.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL `NULL`.
    Null,
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A binary floating-point number (a `DOUBLE`); finite: NaN and the infinities are refused
    /// when bound.
    Float(f64),
    /// An exact decimal number, as text: an optional `-`, digits, an optional `.` and digits
    /// (no exponent): `1234.50`. Checked when bound.
    Decimal(String),
    /// Text.
    Text(String),
    /// A calendar date.
    Date(NaiveDate),
    /// An instant (a time-zone aware timestamp), in UTC.
    Timestamp(DateTime<Utc>),
    /// A timestamp without a time zone: against Epicor's instants, a UTC time.
    LocalTimestamp(NaiveDateTime),
    /// A time of day (a `TIME`), to the microsecond.
    Time(NaiveTime),
}

impl Param {
    /// The literal expression the marker becomes.
    fn expr(&self) -> Result<Expr, SqlError> {
        Ok(match self {
            Param::Null => value(Value::Null),
            Param::Bool(b) => value(Value::Boolean(*b)),
            Param::Int(i) => value(Value::Number(i.to_string(), false)),
            Param::Float(f) => cast(float_text(*f)?, DataType::Double(ExactNumberInfo::None)),
            Param::Decimal(d) => value(Value::Number(decimal_text(d)?, false)),
            Param::Text(s) => value(Value::SingleQuotedString(s.clone())),
            Param::Date(d) => cast(d.format("%Y-%m-%d").to_string(), DataType::Date),
            Param::Timestamp(t) => cast(
                t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                DataType::Timestamp(None, TimezoneInfo::None),
            ),
            Param::LocalTimestamp(t) => cast(
                t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                DataType::Timestamp(None, TimezoneInfo::None),
            ),
            Param::Time(t) => cast(
                t.format("%H:%M:%S%.6f").to_string(),
                DataType::Time(None, TimezoneInfo::None),
            ),
        })
    }

    /// The procedure argument the marker becomes.
    pub(crate) fn literal(&self) -> Result<Literal, SqlError> {
        Ok(match self {
            Param::Null => Literal::Null,
            Param::Bool(b) => Literal::Bool(*b),
            Param::Int(i) => Literal::Number(i.to_string()),
            Param::Float(f) => Literal::Number(float_text(*f)?),
            Param::Decimal(d) => Literal::Number(decimal_text(d)?),
            Param::Text(s) => Literal::Text(s.clone()),
            Param::Date(d) => Literal::Text(d.format("%Y-%m-%d").to_string()),
            Param::Timestamp(t) => Literal::Text(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
            Param::LocalTimestamp(t) => {
                Literal::Text(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
            }
            Param::Time(t) => Literal::Text(t.format("%H:%M:%S%.6f").to_string()),
        })
    }
}

fn value(v: Value) -> Expr {
    Expr::Value(ValueWithSpan::from(v))
}

fn cast(text: String, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(value(Value::SingleQuotedString(text))),
        data_type,
        array: false,
        format: None,
    }
}

/// A float as text that reads back as the same float; an error for NaN and the infinities
/// (see the module's documentation).
fn float_text(f: f64) -> Result<String, SqlError> {
    if !f.is_finite() {
        return Err(SqlError::invalid(format!(
            "{f} is not a number Epicor can store or compare (its numbers are SQL Server decimals \
             and integers, without NaN or infinities); bind NULL for no value"
        )));
    }
    Ok(format!("{f:?}"))
}

/// `d` when it is a plain decimal number (what [`Param::Decimal`] promises).
fn decimal_text(d: &str) -> Result<String, SqlError> {
    let digits = d.strip_prefix('-').unwrap_or(d);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !plain(whole) || !plain(fraction) {
        return Err(SqlError::invalid(format!(
            "{d:?} is not a decimal number a parameter can carry (digits, an optional point: 1234.50)"
        )));
    }
    Ok(d.to_owned())
}

/// A parameter marker of the statement: where it starts (line, column).
type Position = (u64, u64);

/// The markers of a statement: `?`, numbered in the order they appear in the text (the
/// DB-API's `qmark`), or PostgreSQL's `$1`, `$2`, ... (numbered as written; `$2` may come
/// first, and one number may be used twice). One statement uses one style.
enum Markers {
    /// `?` markers, where each starts, in text order.
    Question(Vec<Position>),
    /// `$n` markers: the highest `n` (the statement takes that many parameters).
    Numbered(usize),
}

impl Markers {
    /// How many parameters the statement takes.
    fn count(&self) -> usize {
        match self {
            Markers::Question(found) => found.len(),
            Markers::Numbered(n) => *n,
        }
    }
}

/// The number of a `$n` marker (`None` for anything else).
fn number(p: &str) -> Option<usize> {
    let digits = p.strip_prefix('$')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n >= 1)
}

/// The most parameters a statement takes (PostgreSQL's own bound).
const MAX_PARAMETERS: usize = 65_535;

/// The markers of `statement`; an error for markers of another kind, for `?` and `$n` mixed,
/// and for a `$n` past [`MAX_PARAMETERS`].
fn markers(statement: &mut DFStatement) -> Result<Markers, SqlError> {
    let mut questions = Vec::new();
    let mut highest = 0usize;
    let mut other = None;
    visit(statement, &mut |e| {
        if let Expr::Value(ValueWithSpan {
            value: Value::Placeholder(p),
            span,
        }) = e
        {
            if p == "?" {
                questions.push((span.start.line, span.start.column));
            } else if let Some(n) = number(p) {
                highest = highest.max(n);
            } else if other.is_none() {
                other = Some(p.clone());
            }
        }
    })?;
    if let Some(p) = other {
        return Err(SqlError::invalid(format!(
            "parameter marker {p}: markers are ? (the DB-API's qmark, one value each, in order) \
             or $1, $2, ... (PostgreSQL's)"
        )));
    }
    if highest > MAX_PARAMETERS {
        return Err(SqlError::invalid(format!(
            "parameter marker ${highest}: a statement takes at most {MAX_PARAMETERS} parameters"
        )));
    }
    match (questions.is_empty(), highest) {
        (_, 0) => {
            questions.sort_unstable();
            Ok(Markers::Question(questions))
        }
        (true, n) => Ok(Markers::Numbered(n)),
        (false, _) => Err(SqlError::invalid(
            "the statement mixes ? and $n parameter markers: use one style",
        )),
    }
}

fn visit(statement: &mut DFStatement, f: &mut dyn FnMut(&mut Expr)) -> Result<(), SqlError> {
    match statement {
        DFStatement::Statement(s) => {
            let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(s.as_mut(), |e| {
                f(e);
                ControlFlow::<()>::Continue(())
            });
            Ok(())
        }
        DFStatement::Explain(explain) => visit(&mut explain.statement, f),
        _ => Ok(()),
    }
}

/// Binds `params` to the markers of `statement` (`?` in text order, `$n` by number): an error
/// unless there is exactly one value per parameter.
pub(crate) fn bind(statement: &mut DFStatement, params: &[Param]) -> Result<(), SqlError> {
    let found = markers(statement)?;
    check_count(&found, params.len())?;
    if params.is_empty() {
        return Ok(());
    }
    let exprs = params
        .iter()
        .map(Param::expr)
        .collect::<Result<Vec<_>, _>>()?;
    match found {
        Markers::Question(found) => {
            let order: HashMap<Position, usize> = found.into_iter().zip(0..).collect();
            visit(statement, &mut |e| {
                if let Expr::Value(ValueWithSpan {
                    value: Value::Placeholder(_),
                    span,
                }) = e
                {
                    if let Some(i) = order.get(&(span.start.line, span.start.column)) {
                        *e = exprs[*i].clone();
                    }
                }
            })
        }
        Markers::Numbered(_) => visit(statement, &mut |e| {
            if let Expr::Value(ValueWithSpan {
                value: Value::Placeholder(p),
                ..
            }) = e
            {
                if let Some(n) = number(p) {
                    *e = exprs[n - 1].clone();
                }
            }
        }),
    }
}

/// Numbers the `?` markers of `statement` `$1`, `$2`, ... in text order (`$n` markers stay as
/// they are), so that it can be planned with its parameters open: the number of parameters
/// it takes.
pub(crate) fn number_markers(statement: &mut DFStatement) -> Result<usize, SqlError> {
    let found = markers(statement)?;
    let count = found.count();
    if let Markers::Question(found) = found {
        let order: HashMap<Position, usize> = found.into_iter().zip(1..).collect();
        visit(statement, &mut |e| {
            if let Expr::Value(ValueWithSpan {
                value: Value::Placeholder(p),
                span,
            }) = e
            {
                if let Some(n) = order.get(&(span.start.line, span.start.column)) {
                    *p = format!("${n}");
                }
            }
        })?;
    }
    Ok(count)
}

/// An error unless a statement with `markers` was given as many parameters.
fn check_count(markers: &Markers, given: usize) -> Result<(), SqlError> {
    let count = markers.count();
    if count == given {
        return Ok(());
    }
    let s = |n: usize| if n == 1 { "" } else { "s" };
    let was = if given == 1 { "was" } else { "were" };
    Err(SqlError::invalid(match markers {
        Markers::Question(_) => format!(
            "the statement has {count} parameter marker{} (?) but {given} parameter{} {was} given",
            s(count),
            s(given),
        ),
        Markers::Numbered(_) => format!(
            "the statement takes {count} parameter{} ($1 to ${count}) but {given} {was} given",
            s(count),
        ),
    }))
}

/// An error unless a procedure call with `markers` `?` markers was given as many parameters.
pub(crate) fn check_question_count(markers: usize, given: usize) -> Result<(), SqlError> {
    check_count(&Markers::Question(vec![(0, 0); markers]), given)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(sql: &str, params: &[Param]) -> Result<String, SqlError> {
        let mut s = crate::parse_single(sql)?;
        bind(&mut s, params)?;
        Ok(s.to_string())
    }

    #[test]
    fn markers_take_values_in_text_order() {
        let sql = bound(
            "SELECT ?, a FROM t WHERE b = ? AND c BETWEEN ? AND ? LIMIT ?",
            &[
                Param::Text("x".into()),
                Param::Int(2),
                Param::Decimal("1.50".into()),
                Param::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                Param::Int(10),
            ],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT 'x', a FROM t WHERE b = 2 AND c BETWEEN 1.50 AND CAST('2024-02-29' AS DATE) LIMIT 10"
        );
    }

    #[test]
    fn numbered_markers_take_values_by_number() {
        let sql = bound(
            "SELECT $2, a FROM t WHERE b = $1 OR c = $2",
            &[Param::Int(7), Param::Text("x".into())],
        )
        .unwrap();
        assert_eq!(sql, "SELECT 'x', a FROM t WHERE b = 7 OR c = 'x'");
        let mut s = crate::parse_single("SELECT ? FROM t WHERE b = ?").unwrap();
        assert_eq!(number_markers(&mut s).unwrap(), 2);
        assert_eq!(s.to_string(), "SELECT $1 FROM t WHERE b = $2");
    }

    #[test]
    fn a_hostile_string_stays_one_value() {
        let evil = "x' OR '1'='1'; DROP TABLE t; --";
        let mut s = crate::parse_single("SELECT a FROM t WHERE b = ?").unwrap();
        bind(&mut s, &[Param::Text(evil.into())]).unwrap();
        let mut literals = Vec::new();
        visit(&mut s, &mut |e| {
            if let Expr::Value(v) = e {
                literals.push(v.value.clone());
            }
        })
        .unwrap();
        assert_eq!(literals, vec![Value::SingleQuotedString(evil.into())]);
    }

    #[test]
    fn counts_and_styles_are_checked() {
        let e = bound("SELECT ? , ?", &[Param::Int(1)]).unwrap_err();
        assert!(
            e.to_string()
                .contains("2 parameter markers (?) but 1 parameter was given"),
            "{e}"
        );
        let e = bound("SELECT 1", &[Param::Int(1)]).unwrap_err();
        assert!(e.to_string().contains("0 parameter markers"), "{e}");
        let e = bound("SELECT :a", &[Param::Int(1)]).unwrap_err();
        assert!(e.to_string().contains("markers are ?"), "{e}");
        let e = bound("SELECT ?, $1", &[Param::Int(1)]).unwrap_err();
        assert!(e.to_string().contains("mixes ? and $n"), "{e}");
        let e = bound("SELECT $3", &[Param::Int(1)]).unwrap_err();
        assert!(
            e.to_string()
                .contains("takes 3 parameters ($1 to $3) but 1 was given"),
            "{e}"
        );
        let e = bound("SELECT $70000", &[]).unwrap_err();
        assert!(e.to_string().contains("at most 65535"), "{e}");
        // A ? inside a string is text, not a marker.
        assert_eq!(bound("SELECT 'a?'", &[]).unwrap(), "SELECT 'a?'");
        let e = bound("SELECT ?", &[Param::Decimal("1e5".into())]).unwrap_err();
        assert!(e.to_string().contains("not a decimal number"), "{e}");
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = bound("SELECT ?", &[Param::Float(f)]).unwrap_err();
            assert!(
                e.to_string().contains("not a number Epicor can store"),
                "{e}"
            );
            let e = Param::Float(f).literal().unwrap_err();
            assert!(e.to_string().contains("without NaN or infinities"), "{e}");
        }
        assert_eq!(
            bound("SELECT ?", &[Param::Float(-0.5)]).unwrap(),
            "SELECT CAST('-0.5' AS DOUBLE)"
        );
    }

    #[test]
    fn times_and_timestamps_are_typed_literals() {
        let day = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let time = chrono::NaiveTime::from_hms_micro_opt(3, 4, 5, 600).unwrap();
        assert_eq!(
            bound(
                "SELECT ?, ?, ?",
                &[
                    Param::Time(time),
                    Param::LocalTimestamp(day.and_time(time)),
                    Param::Timestamp(day.and_time(time).and_utc()),
                ]
            )
            .unwrap(),
            "SELECT CAST('03:04:05.000600' AS TIME), CAST('2024-01-02T03:04:05.000600' AS TIMESTAMP), \
             CAST('2024-01-02T03:04:05.000600Z' AS TIMESTAMP)"
        );
        assert_eq!(
            Param::Time(time).literal().unwrap(),
            Literal::Text("03:04:05.000600".into())
        );
    }
}
