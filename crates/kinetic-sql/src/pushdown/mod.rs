//! The ONE translator from DataFusion expressions to the OData filter AST.
//!
//! [`translate`] both answers DataFusion's `supports_filters_pushdown` (from the exactness it
//! reports) and builds the `$filter` a scan sends, so the two can never disagree.
//!
//! **The rule: a pushed filter never loses a row SQL keeps, whatever the server's collation.**
//! SQL here means DataFusion's semantics over the values as read: text is compared byte for byte
//! (case counts; `ILIKE`, `lower` and `upper` ignore it), and text values are read without their
//! trailing spaces (see [`crate::arrow`]). The server may be Epicor's SQL Server (case ignored,
//! trailing spaces ignored by `=`, `LEN` without them: shared/EPICOR.md) or a server that
//! compares bytes (the emulator's `--collation binary`), and a value it holds may carry trailing
//! spaces the SQL value lacks. So:
//!
//! - **Exact** (the server returns exactly the rows SQL keeps): comparisons of numbers, dates,
//!   times and booleans; `IS [NOT] NULL`; `AND`/`OR` of exact parts; `NOT` of an exact part over
//!   columns that cannot be null (two-valued logic); date parts of dates.
//! - **Inexact** (a superset; DataFusion filters again): every text predicate. Text `=` goes as
//!   `x eq 'v' or startswith(x,'v ')` (the second term finds `'v  '` on a byte-comparing server);
//!   `LIKE` as `startswith` of its leading literal and `contains` of each other literal piece
//!   (never `endswith`: a stored value may end in spaces); `ILIKE` the same over `tolower(x)`;
//!   `length(x) = n` as `length(x) ge n` (a byte-comparing server counts trailing spaces);
//!   `<>` over a nullable column (OData's `null ne 5` is true); a conjunction with a part that
//!   is not pushed.
//! - **Unsupported** (nothing sent): anything whose server answer could miss a row SQL keeps:
//!   text ordering (`<`, `>`: collation orders differ), text `<>` and `NOT LIKE` (a
//!   case-insensitive server drops `'ABC'` for `<> 'abc'`), `NOT` over an inexact part,
//!   arithmetic (float storage), casts that are not widening, functions OData lacks.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    expr::ScalarFunction, Between, BinaryExpr, Expr, Like, Operator, TableProviderFilterPushDown,
};
use epicor_kinetic::api::Column;
use epicor_kinetic_odata::csdl::{EdmFamily, EdmType};
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
    match edm.family() {
        EdmFamily::Text | EdmFamily::Guid => Kind::Text,
        f if f.is_numeric() => Kind::Number,
        EdmFamily::Boolean => Kind::Bool,
        EdmFamily::Temporal => Kind::Temporal,
        _ => Kind::Opaque,
    }
}

/// How the server's value of an operand relates to the SQL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// The same value (text: the same up to trailing spaces, which every text rule allows for).
    Same,
    /// At least the SQL value: `length` on a server that counts trailing spaces.
    AtLeast,
}

/// A pushable operand: a column, or a function of one, as OData; its kind; whether it may be
/// null; how its server value relates to the SQL one; its SQL type where known (casts over it
/// are pushed only when they widen it); whether it is a GUID column.
struct Operand {
    odata: OData,
    kind: Kind,
    nullable: bool,
    bound: Bound,
    sql_type: Option<DataType>,
    guid: bool,
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
            if operand.kind == Kind::Opaque {
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
            (operand.kind == Kind::Text && !operand.guid && !prefix.is_empty()).then(|| {
                Translated {
                    filter: call(Function::StartsWith, operand.odata, prefix),
                    exactness: Exactness::Inexact,
                }
            })
        }
        Expr::Column(_) => {
            // A boolean column used as a predicate: `WHERE CreditHold`.
            let operand = operand(expr, columns)?;
            (operand.kind == Kind::Bool).then(|| Translated {
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
    match operand.kind {
        Kind::Opaque => None,
        Kind::Text => {
            let Literal::String(text) = literal else {
                return None;
            };
            // Collations agree on nothing but equality up to case, trailing spaces (and width,
            // accents under some): equality is pushed as a superset, the rest not at all.
            if bop != BinaryOp::Eq {
                return None;
            }
            if operand.guid {
                // GUIDs compare as GUIDs on the server (in any case) and have no padding.
                let parsed = uuid::Uuid::try_parse(&text).ok()?;
                return Some(Translated {
                    filter: OData::binary(
                        BinaryOp::Eq,
                        operand.odata,
                        OData::Literal(Literal::Guid(parsed.hyphenated().to_string())),
                    ),
                    exactness: Exactness::Inexact,
                });
            }
            text_equals(operand.odata, &text)
        }
        Kind::Number | Kind::Bool | Kind::Temporal => {
            if !literal_fits(operand.kind, &literal) {
                return None;
            }
            if operand.bound == Bound::AtLeast {
                // The server's value is at least ours: only lower bounds stay supersets.
                let bop = match bop {
                    BinaryOp::Eq | BinaryOp::Ge => BinaryOp::Ge,
                    BinaryOp::Gt => BinaryOp::Gt,
                    _ => return None,
                };
                return Some(Translated {
                    filter: OData::binary(bop, operand.odata, OData::Literal(literal)),
                    exactness: Exactness::Inexact,
                });
            }
            let exactness = if bop == BinaryOp::Ne && operand.nullable {
                Exactness::Inexact
            } else {
                Exactness::Exact
            };
            Some(Translated {
                filter: OData::binary(bop, operand.odata, OData::Literal(literal)),
                exactness,
            })
        }
    }
}

/// Text `operand = 'text'` as a superset on any server: `eq` (a case-insensitive server ignores
/// trailing spaces), or a stored value that is the text followed by spaces (which a server that
/// compares bytes would not call equal). `None` when the text ends in a space: no value read
/// here does, so SQL keeps no row, and nothing is worth sending.
fn text_equals(operand: OData, text: &str) -> Option<Translated> {
    if text.ends_with(' ') {
        return None;
    }
    let eq = OData::binary(
        BinaryOp::Eq,
        operand.clone(),
        OData::Literal(Literal::String(text.to_owned())),
    );
    let padded = call(Function::StartsWith, operand, &format!("{text} "));
    Some(Translated {
        filter: eq.or(padded),
        exactness: Exactness::Inexact,
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

/// Whether a value of type `from` keeps its value as `to` (so a comparison of the cast
/// compares the original): the casts DataFusion adds to compare a column with a wider literal.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    /// Decimal digits left of the point that an integer type needs.
    fn int_digits(t: &DataType) -> Option<i16> {
        Some(match t {
            T::Int8 | T::UInt8 => 3,
            T::Int16 | T::UInt16 => 5,
            T::Int32 | T::UInt32 => 10,
            T::Int64 | T::UInt64 => 20,
            _ => return None,
        })
    }
    fn int_bits(t: &DataType) -> Option<u32> {
        Some(match t {
            T::Int8 => 8,
            T::Int16 => 16,
            T::Int32 => 32,
            T::Int64 => 64,
            _ => return None,
        })
    }
    fn unit_rank(u: &TimeUnit) -> u8 {
        match u {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 2,
            TimeUnit::Nanosecond => 3,
        }
    }
    if from == to {
        return true;
    }
    match (from, to) {
        (f, t) if int_bits(f).is_some() && int_bits(t).is_some() => int_bits(f) <= int_bits(t),
        // Integers of 32 bits or fewer are exact as doubles; 64-bit ones are not.
        (T::Int8 | T::Int16 | T::Int32, T::Float64) => true,
        (T::Float32, T::Float64) => true,
        (f, T::Decimal128(p, s)) if int_digits(f).is_some() => {
            i16::from(*p) - i16::from(*s) >= int_digits(f).unwrap_or(i16::MAX)
        }
        (T::Decimal128(p1, s1), T::Decimal128(p2, s2)) => {
            s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
        }
        (T::Date32, T::Timestamp(..)) => true,
        (T::Timestamp(u1, _), T::Timestamp(u2, _)) => unit_rank(u2) >= unit_rank(u1),
        (T::Utf8, T::LargeUtf8 | T::Utf8View) => true,
        (T::Utf8View, T::Utf8 | T::LargeUtf8) => true,
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
            Some(Operand {
                odata: OData::property(&column.name),
                kind: kind_of(&column.edm_type),
                nullable: column.nullable,
                bound: Bound::Same,
                sql_type: Some(crate::arrow::data_type(
                    &column.edm_type,
                    column.precision,
                    column.scale,
                )),
                guid: column.edm_type == EdmType::Guid,
            })
        }
        // Widening casts DataFusion adds to compare a column with a literal of a wider type;
        // a narrowing one (`CAST(price AS INT) = 5`) changes values and is not pushed.
        Expr::Cast(cast) => {
            let mut inner = operand(&cast.expr, columns)?;
            let to = cast.field.data_type();
            if !widens(inner.sql_type.as_ref()?, to) {
                return None;
            }
            inner.sql_type = Some(to.clone());
            Some(inner)
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
                    (inner.kind == Kind::Temporal).then(|| Operand {
                        odata: OData::Call {
                            function: f,
                            args: vec![inner.odata],
                        },
                        kind: Kind::Number,
                        nullable: inner.nullable,
                        bound: Bound::Same,
                        // DataFusion's date_part of these parts is an Int32 (whole seconds).
                        sql_type: Some(DataType::Int32),
                        guid: false,
                    })
                }
                "upper" | "lower" => {
                    let [value] = args.as_slice() else {
                        return None;
                    };
                    let inner = operand(value, columns)?;
                    (inner.kind == Kind::Text && !inner.guid).then(|| Operand {
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
                        bound: Bound::Same,
                        sql_type: Some(DataType::Utf8),
                        guid: false,
                    })
                }
                "character_length" | "char_length" | "length" => {
                    let [value] = args.as_slice() else {
                        return None;
                    };
                    let inner = operand(value, columns)?;
                    (inner.kind == Kind::Text && !inner.guid).then(|| Operand {
                        odata: OData::Call {
                            function: Function::Length,
                            args: vec![inner.odata],
                        },
                        kind: Kind::Number,
                        nullable: inner.nullable,
                        // SQL Server's LEN leaves trailing spaces out, as the values read here
                        // do; a server that counts them gives more.
                        bound: Bound::AtLeast,
                        sql_type: Some(DataType::Int32),
                        guid: false,
                    })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The most `startswith`/`contains` terms one `LIKE` is sent as (the longest pieces are the
/// most selective; fewer terms is still a superset).
const MAX_LIKE_TERMS: usize = 4;

/// `LIKE` / `ILIKE` as a superset: the pattern's leading literal as `startswith`, each other
/// literal piece as `contains` (`ILIKE` over `tolower(x)`, its pieces in lower case: ASCII
/// only, where every side folds case alike); a pattern without wildcards as text equality.
fn like_of(like: &Like, columns: &dyn Columns) -> Option<Translated> {
    if like.negated {
        return None;
    }
    let operand = operand(&like.expr, columns)?;
    if operand.kind != Kind::Text || operand.guid {
        return None;
    }
    let pattern = string_literal(&like.pattern)?;
    let pattern = LikePattern::parse(pattern, like.escape_char)?;
    let (subject, pieces) = if like.case_insensitive {
        if pattern.pieces.iter().any(|p| !p.is_ascii()) {
            return None;
        }
        let lowered = OData::Call {
            function: Function::ToLower,
            args: vec![operand.odata],
        };
        let pieces = pattern
            .pieces
            .iter()
            .map(|p| p.to_ascii_lowercase())
            .collect::<Vec<_>>();
        (lowered, pieces)
    } else {
        (operand.odata, pattern.pieces.clone())
    };
    if !pattern.wildcards {
        // No wildcard: equality (with `ILIKE`, of the lowered text).
        return text_equals(subject, pieces.first().map_or("", String::as_str));
    }
    let mut terms: Vec<OData> = Vec::new();
    let mut rest: &[String] = &pieces;
    if pattern.anchored_start {
        let (first, others) = pieces.split_first()?;
        terms.push(call(Function::StartsWith, subject.clone(), first));
        rest = others;
    }
    let mut others: Vec<&String> = rest.iter().filter(|p| !p.is_empty()).collect();
    others.sort_by_key(|p| std::cmp::Reverse(p.chars().count()));
    for piece in others {
        if terms.len() >= MAX_LIKE_TERMS {
            break;
        }
        terms.push(call(Function::Contains, subject.clone(), piece));
    }
    let filter = terms.into_iter().reduce(|a, b| a.and(b))?;
    Some(Translated {
        filter,
        exactness: Exactness::Inexact,
    })
}

/// A `LIKE` pattern's literal pieces, between its wildcards (`%`, `_`).
#[derive(Debug, PartialEq)]
struct LikePattern {
    pieces: Vec<String>,
    /// The pattern starts with a literal character (the first piece is a prefix).
    anchored_start: bool,
    /// It has a wildcard at all.
    wildcards: bool,
}

impl LikePattern {
    /// `None` for a pattern whose escapes this translator does not read (an escape at its end).
    /// Without an `ESCAPE` clause a backslash escapes, as in DataFusion's `LIKE`.
    fn parse(pattern: &str, escape: Option<char>) -> Option<LikePattern> {
        let escape = escape.unwrap_or('\\');
        let mut pieces = vec![String::new()];
        let mut wildcards = false;
        let mut anchored_start = None;
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c == escape {
                let literal = chars.next()?;
                anchored_start.get_or_insert(true);
                pieces.last_mut()?.push(literal);
            } else if c == '%' || c == '_' {
                wildcards = true;
                anchored_start.get_or_insert(false);
                if !pieces.last()?.is_empty() {
                    pieces.push(String::new());
                }
            } else {
                anchored_start.get_or_insert(true);
                pieces.last_mut()?.push(c);
            }
        }
        if pieces.len() > 1 && pieces.last().is_some_and(String::is_empty) {
            pieces.pop();
        }
        Some(LikePattern {
            pieces,
            anchored_start: anchored_start.unwrap_or(false),
            wildcards,
        })
    }
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

/// The canonical text of a decimal mantissa at a scale (`31415, 4` is `3.1415`); `None` when a
/// negative scale makes a whole number beyond `i128`.
fn decimal_text(mantissa: i128, scale: i8) -> Option<String> {
    if scale < 0 {
        mantissa.checked_mul(10i128.checked_pow(u32::from(scale.unsigned_abs()))?)?;
    }
    Some(crate::literal::decimal_text(mantissa, scale))
}

#[cfg(test)]
mod tests;
