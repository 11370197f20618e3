//! The ONE translator from DataFusion expressions to the OData filter AST.
//!
//! [`translate`] both answers DataFusion's `supports_filters_pushdown` (from the exactness it
//! reports) and builds the `$filter` a scan sends, so the two can never disagree.
//!
//! Exactness is decided against what Epicor's database (SQL Server, case-insensitive collation,
//! trailing spaces ignored) answers for the OData text, compared with SQL's own semantics here:
//!
//! - **Exact**: the server returns exactly the rows SQL keeps. Comparisons of numbers, dates,
//!   times and booleans; `IS [NOT] NULL`; `AND`/`OR` of exact parts; `NOT` of an exact part over
//!   columns that cannot be null (two-valued logic); date parts of dates; `length`.
//! - **Inexact**: the server returns a superset, and DataFusion filters again. Text equality (the
//!   server ignores case and trailing spaces), `LIKE` prefix/suffix/contains, `upper`/`lower`
//!   comparisons, `<>` over a nullable column (OData's `null ne 5` is true, SQL's is unknown), a
//!   `NOT` over nullable columns, a conjunction with a part that is not pushed.
//! - **Unsupported**: anything whose server answer could miss a row SQL keeps: text ordering
//!   (`<`, `>`: collation order differs), text `<>` (case), `NOT` over an inexact part,
//!   arithmetic (float storage), `LIKE` with `_` or escapes, casts that change values.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    expr::ScalarFunction, Between, BinaryExpr, Expr, Like, Operator, TableProviderFilterPushDown,
};
use epicor_kinetic::api::Column;
use epicor_kinetic_odata::csdl::EdmType;
use epicor_kinetic_odata::{BinaryOp, Expr as OData, Function, Literal, UnaryOp};

/// How much of a predicate the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exactness {
    /// The server's rows are a superset: filter again locally.
    Inexact,
    /// The server's rows are exactly SQL's.
    Exact,
}

/// A predicate in OData, and how exactly it stands for the SQL one.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    pub filter: OData,
    pub exactness: Exactness,
}

/// The columns a predicate may name: the table's, typed from `$metadata`.
pub trait Columns {
    fn column(&self, name: &str) -> Option<&Column>;
}

impl Columns for Vec<Column> {
    fn column(&self, name: &str) -> Option<&Column> {
        self.iter().find(|c| c.name == name)
    }
}

/// The largest `IN` list pushed (as `eq ... or eq ...`): URLs have limits.
const MAX_IN_LIST: usize = 100;

/// What DataFusion is told for a predicate.
pub fn pushdown_of(expr: &Expr, columns: &dyn Columns) -> TableProviderFilterPushDown {
    match translate(expr, columns) {
        Some(Translated {
            exactness: Exactness::Exact,
            ..
        }) => TableProviderFilterPushDown::Exact,
        Some(_) => TableProviderFilterPushDown::Inexact,
        None => TableProviderFilterPushDown::Unsupported,
    }
}

/// The conjunction of the predicates that translate (each as exactly as it does), or `None`.
pub fn conjunction(filters: &[Expr], columns: &dyn Columns) -> Option<OData> {
    filters
        .iter()
        .filter_map(|f| translate(f, columns))
        .map(|t| t.filter)
        .reduce(|a, b| a.and(b))
}

/// A column as the OData side sees it: its name, type and whether it may be null.
struct Col<'a> {
    column: &'a Column,
}

impl Col<'_> {
    fn kind(&self) -> Kind {
        kind_of(&self.column.edm_type)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    Temporal,
    /// Not comparable on the server (JSON, binary, nested).
    Opaque,
}

fn kind_of(edm: &EdmType) -> Kind {
    match edm {
        EdmType::String | EdmType::Guid => Kind::Text,
        EdmType::Byte
        | EdmType::Int16
        | EdmType::Int32
        | EdmType::Int64
        | EdmType::Decimal
        | EdmType::Double
        | EdmType::Single => Kind::Number,
        EdmType::Boolean => Kind::Bool,
        EdmType::Date | EdmType::DateTime | EdmType::DateTimeOffset => Kind::Temporal,
        _ => Kind::Opaque,
    }
}

/// A pushable operand: a column, or a function of one column, as OData; its kind; whether it
/// may be null; whether it stands exactly for the SQL value.
struct Operand {
    odata: OData,
    kind: Kind,
    nullable: bool,
    exact: bool,
}

/// Translates one predicate, or `None` when no OData predicate is a superset of it.
pub fn translate(expr: &Expr, columns: &dyn Columns) -> Option<Translated> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                let l = translate(left, columns);
                let r = translate(right, columns);
                match (l, r) {
                    (Some(l), Some(r)) => Some(Translated {
                        exactness: l.exactness.min(r.exactness),
                        filter: l.filter.and(r.filter),
                    }),
                    // Half of a conjunction still narrows the rows: a superset.
                    (Some(one), None) | (None, Some(one)) => Some(Translated {
                        filter: one.filter,
                        exactness: Exactness::Inexact,
                    }),
                    (None, None) => None,
                }
            }
            Operator::Or => {
                let l = translate(left, columns)?;
                let r = translate(right, columns)?;
                Some(Translated {
                    exactness: l.exactness.min(r.exactness),
                    filter: l.filter.or(r.filter),
                })
            }
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq => comparison(left, *op, right, columns),
            _ => None,
        },
        Expr::Not(inner) => negation(inner, columns),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
            let operand = operand(inner, columns)?;
            if operand.kind == Kind::Opaque || !operand.exact {
                return None;
            }
            let op = if matches!(expr, Expr::IsNull(_)) {
                BinaryOp::Eq
            } else {
                BinaryOp::Ne
            };
            Some(Translated {
                filter: OData::binary(op, operand.odata, OData::Literal(Literal::Null)),
                exactness: Exactness::Exact,
            })
        }
        Expr::Between(Between {
            expr: e,
            negated,
            low,
            high,
        }) => {
            let low = Expr::BinaryExpr(BinaryExpr::new(e.clone(), Operator::GtEq, low.clone()));
            let high = Expr::BinaryExpr(BinaryExpr::new(e.clone(), Operator::LtEq, high.clone()));
            let both = Expr::BinaryExpr(BinaryExpr::new(
                Box::new(low),
                Operator::And,
                Box::new(high),
            ));
            if *negated {
                negation(&both, columns)
            } else {
                // Both halves must translate: half a BETWEEN is still a superset, but a clearer
                // plan keeps the whole.
                let t = translate(&both, columns)?;
                matches!(
                    t.filter,
                    OData::Binary {
                        op: BinaryOp::And,
                        ..
                    }
                )
                .then_some(t)
            }
        }
        Expr::InList(list) => {
            if list.list.is_empty() || list.list.len() > MAX_IN_LIST {
                return None;
            }
            let mut any: Option<Translated> = None;
            for item in &list.list {
                let eq = comparison(&list.expr, Operator::Eq, item, columns)?;
                any = Some(match any {
                    None => eq,
                    Some(a) => Translated {
                        exactness: a.exactness.min(eq.exactness),
                        filter: a.filter.or(eq.filter),
                    },
                });
            }
            let any = any?;
            if list.negated {
                negate(any, &list.expr, columns)
            } else {
                Some(any)
            }
        }
        Expr::Like(like) => like_of(like, columns),
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == "starts_with" => {
            let [text, prefix] = args.as_slice() else {
                return None;
            };
            let operand = operand(text, columns)?;
            let prefix = string_literal(prefix)?;
            (operand.kind == Kind::Text && !prefix.is_empty()).then(|| Translated {
                filter: call(Function::StartsWith, operand.odata, prefix),
                exactness: Exactness::Inexact,
            })
        }
        Expr::Column(_) => {
            // A boolean column used as a predicate: `WHERE CreditHold`.
            let operand = operand(expr, columns)?;
            (operand.kind == Kind::Bool && operand.exact).then(|| Translated {
                filter: OData::binary(
                    BinaryOp::Eq,
                    operand.odata,
                    OData::Literal(Literal::Boolean(true)),
                ),
                exactness: Exactness::Exact,
            })
        }
        _ => None,
    }
}

/// `NOT e`: pushed only when `e` is exact (the complement of a superset is a subset); exact
/// again only when no column involved can be null (OData's `not` of a comparison with null is
/// true where SQL's is unknown).
fn negation(inner: &Expr, columns: &dyn Columns) -> Option<Translated> {
    let t = translate(inner, columns)?;
    negate(t, inner, columns)
}

fn negate(t: Translated, inner: &Expr, columns: &dyn Columns) -> Option<Translated> {
    if t.exactness != Exactness::Exact {
        return None;
    }
    let exactness = if mentions_nullable(inner, columns) {
        Exactness::Inexact
    } else {
        Exactness::Exact
    };
    Some(Translated {
        filter: OData::Unary {
            op: UnaryOp::Not,
            operand: Box::new(t.filter),
        },
        exactness,
    })
}

fn mentions_nullable(expr: &Expr, columns: &dyn Columns) -> bool {
    expr.column_refs()
        .iter()
        .any(|c| columns.column(&c.name).is_none_or(|c| c.nullable))
}

/// `a op b` with a column (or a function of one) on one side and a literal on the other.
fn comparison(
    left: &Expr,
    op: Operator,
    right: &Expr,
    columns: &dyn Columns,
) -> Option<Translated> {
    let (operand, literal, op) = match (operand(left, columns), operand(right, columns)) {
        (Some(o), None) => (o, right, op),
        (None, Some(o)) => (o, left, op.swap()?),
        _ => return None,
    };
    let literal = literal_of(literal)?;
    if matches!(literal, Literal::Null) {
        // `x = NULL` is never true in SQL; leave it to DataFusion.
        return None;
    }
    let bop = match op {
        Operator::Eq => BinaryOp::Eq,
        Operator::NotEq => BinaryOp::Ne,
        Operator::Lt => BinaryOp::Lt,
        Operator::LtEq => BinaryOp::Le,
        Operator::Gt => BinaryOp::Gt,
        Operator::GtEq => BinaryOp::Ge,
        _ => return None,
    };
    let exactness = match operand.kind {
        Kind::Opaque => return None,
        Kind::Text => {
            let Literal::String(text) = &literal else {
                return None;
            };
            // Collations agree on equality up to case and trailing spaces; on nothing else.
            let neutral = !text.ends_with(' ') && !text.chars().any(|c| c.is_alphabetic());
            match bop {
                BinaryOp::Eq if neutral && operand.exact => Exactness::Exact,
                BinaryOp::Eq => Exactness::Inexact,
                BinaryOp::Ne if neutral && operand.exact => {
                    if operand.nullable {
                        Exactness::Inexact
                    } else {
                        Exactness::Exact
                    }
                }
                _ => return None,
            }
        }
        Kind::Number | Kind::Bool | Kind::Temporal => {
            if !operand.exact {
                // Only upper/lower are inexact operands, and they are text.
                return None;
            }
            if !literal_fits(operand.kind, &literal) {
                return None;
            }
            if bop == BinaryOp::Ne && operand.nullable {
                Exactness::Inexact
            } else {
                Exactness::Exact
            }
        }
    };
    Some(Translated {
        filter: OData::binary(bop, operand.odata, OData::Literal(literal)),
        exactness,
    })
}

fn literal_fits(kind: Kind, literal: &Literal) -> bool {
    match kind {
        Kind::Number => matches!(
            literal,
            Literal::Int(_) | Literal::Decimal(_) | Literal::Double(_)
        ),
        Kind::Bool => matches!(literal, Literal::Boolean(_)),
        Kind::Temporal => matches!(literal, Literal::Date(_) | Literal::DateTimeOffset(_)),
        _ => false,
    }
}

/// A column, or a function of one that OData has, as an operand.
fn operand(expr: &Expr, columns: &dyn Columns) -> Option<Operand> {
    match expr {
        Expr::Column(c) => {
            let column = columns.column(&c.name)?;
            if column.nested.is_some() {
                return None;
            }
            let col = Col { column };
            Some(Operand {
                odata: OData::property(&column.name),
                kind: col.kind(),
                nullable: column.nullable,
                exact: true,
            })
        }
        // Widening casts DataFusion adds to compare a column with a literal of a wider type.
        Expr::Cast(cast) => {
            let inner = operand(&cast.expr, columns)?;
            let to = cast.field.data_type();
            let widening = match inner.kind {
                Kind::Number => to.is_numeric(),
                Kind::Temporal => to.is_temporal(),
                Kind::Text => to.is_string(),
                _ => false,
            };
            widening.then_some(inner)
        }
        Expr::ScalarFunction(ScalarFunction { func, args }) => {
            let name = func.name();
            match name {
                "date_part" | "datepart" | "extract" => {
                    let [part, value] = args.as_slice() else {
                        return None;
                    };
                    let part = string_literal(part)?.to_ascii_lowercase();
                    let f = match part.as_str() {
                        "year" => Function::Year,
                        "month" => Function::Month,
                        "day" => Function::Day,
                        "hour" => Function::Hour,
                        "minute" => Function::Minute,
                        "second" => Function::Second,
                        _ => return None,
                    };
                    let inner = operand(value, columns)?;
                    (inner.kind == Kind::Temporal && inner.exact).then(|| Operand {
                        odata: OData::Call {
                            function: f,
                            args: vec![inner.odata],
                        },
                        kind: Kind::Number,
                        nullable: inner.nullable,
                        exact: true,
                    })
                }
                "upper" | "lower" => {
                    let [value] = args.as_slice() else {
                        return None;
                    };
                    let inner = operand(value, columns)?;
                    (inner.kind == Kind::Text).then(|| Operand {
                        odata: OData::Call {
                            function: if name == "upper" {
                                Function::ToUpper
                            } else {
                                Function::ToLower
                            },
                            args: vec![inner.odata],
                        },
                        kind: Kind::Text,
                        nullable: inner.nullable,
                        // The server compares the result without regard to case.
                        exact: false,
                    })
                }
                "character_length" | "char_length" | "length" => {
                    let [value] = args.as_slice() else {
                        return None;
                    };
                    let inner = operand(value, columns)?;
                    (inner.kind == Kind::Text && inner.exact).then(|| Operand {
                        odata: OData::Call {
                            function: Function::Length,
                            args: vec![inner.odata],
                        },
                        kind: Kind::Number,
                        nullable: inner.nullable,
                        exact: true,
                    })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// `LIKE 'abc%'`, `'%abc'`, `'%abc%'`, `'abc'`: inexact (the server ignores case).
fn like_of(like: &Like, columns: &dyn Columns) -> Option<Translated> {
    if like.negated || like.escape_char.is_some() {
        return None;
    }
    let operand = operand(&like.expr, columns)?;
    if operand.kind != Kind::Text {
        return None;
    }
    let pattern = string_literal(&like.pattern)?;
    if pattern.contains('_') || pattern.contains('\\') {
        return None;
    }
    let starts = pattern.starts_with('%');
    let ends = pattern.ends_with('%') && pattern.len() > 1;
    let core = pattern.trim_start_matches('%').trim_end_matches('%');
    if core.contains('%') {
        return None;
    }
    let filter = match (starts, ends) {
        (_, _) if core.is_empty() => return None,
        (false, false) => OData::binary(
            BinaryOp::Eq,
            operand.odata,
            OData::Literal(Literal::String(core.to_owned())),
        ),
        (false, true) => call(Function::StartsWith, operand.odata, core),
        (true, false) => call(Function::EndsWith, operand.odata, core),
        (true, true) => call(Function::Contains, operand.odata, core),
    };
    Some(Translated {
        filter,
        exactness: Exactness::Inexact,
    })
}

fn call(function: Function, operand: OData, text: &str) -> OData {
    OData::Call {
        function,
        args: vec![operand, OData::Literal(Literal::String(text.to_owned()))],
    }
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

/// A SQL literal as an OData literal, exactly (decimals as text, timestamps in UTC).
pub fn literal_of(expr: &Expr) -> Option<Literal> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    scalar_literal(value)
}

/// A scalar value as an OData literal, exactly.
pub fn scalar_literal(value: &ScalarValue) -> Option<Literal> {
    use ScalarValue as S;
    if value.is_null() {
        return Some(Literal::Null);
    }
    Some(match value {
        S::Boolean(Some(b)) => Literal::Boolean(*b),
        S::Int8(Some(v)) => Literal::Int(i64::from(*v)),
        S::Int16(Some(v)) => Literal::Int(i64::from(*v)),
        S::Int32(Some(v)) => Literal::Int(i64::from(*v)),
        S::Int64(Some(v)) => Literal::Int(*v),
        S::UInt8(Some(v)) => Literal::Int(i64::from(*v)),
        S::UInt16(Some(v)) => Literal::Int(i64::from(*v)),
        S::UInt32(Some(v)) => Literal::Int(i64::from(*v)),
        S::UInt64(Some(v)) => Literal::Int(i64::try_from(*v).ok()?),
        S::Float64(Some(v)) if v.is_finite() => Literal::Double(*v),
        S::Float32(Some(v)) if v.is_finite() => Literal::Double(f64::from(*v)),
        S::Decimal128(Some(m), _, s) => Literal::Decimal(decimal_text(*m, *s)?),
        S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => {
            Literal::String(s.clone())
        }
        S::Date32(Some(days)) => {
            let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::TimeDelta::try_days(i64::from(*days))?)?;
            Literal::Date(d.format("%Y-%m-%d").to_string())
        }
        S::TimestampSecond(Some(v), tz) => timestamp(v.checked_mul(1_000_000)?, tz.is_some())?,
        S::TimestampMillisecond(Some(v), tz) => timestamp(v.checked_mul(1_000)?, tz.is_some())?,
        S::TimestampMicrosecond(Some(v), tz) => timestamp(*v, tz.is_some())?,
        S::TimestampNanosecond(Some(v), tz) => {
            if v % 1_000 != 0 {
                return None;
            }
            timestamp(v / 1_000, tz.is_some())?
        }
        _ => return None,
    })
}

/// A timestamp as an OData `DateTimeOffset` literal in UTC. A timestamp without a zone is read
/// as UTC too (as the columns' values are).
fn timestamp(micros: i64, _zoned: bool) -> Option<Literal> {
    let t = chrono::DateTime::from_timestamp_micros(micros)?;
    let text = if micros % 1_000_000 == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    };
    Some(Literal::DateTimeOffset(text))
}

/// The canonical text of a decimal mantissa at a scale: `31415, 4` is `3.1415`.
fn decimal_text(mantissa: i128, scale: i8) -> Option<String> {
    if scale < 0 {
        return Some(
            (mantissa.checked_mul(10i128.checked_pow(u32::from(scale.unsigned_abs()))?)?)
                .to_string(),
        );
    }
    let scale = scale as usize;
    let negative = mantissa < 0;
    let digits = mantissa.unsigned_abs().to_string();
    let text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    Some(if negative { format!("-{text}") } else { text })
}

#[cfg(test)]
mod tests;
