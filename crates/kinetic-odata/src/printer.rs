//! Canonical OData text for the expression tree: the inverse of [`crate::parse_filter`].
//!
//! The printer writes parentheses only where precedence or left-associativity needs them, so that
//! `parse_filter(&print_expr(&e)) == Ok(e)` for every tree the parser produces.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;
use crate::literal::encode_base64;

/// Precedence of the top node of `e`; primaries bind tightest.
fn expr_precedence(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => op.precedence(),
        Expr::In { .. } => BinaryOp::In.precedence(),
        Expr::Unary { .. } => 7,
        _ => 8,
    }
}

fn write_parenthesized(f: &mut Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

fn write_list<T>(
    f: &mut Formatter<'_>,
    items: &[T],
    mut each: impl FnMut(&mut Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        each(f, item)?;
    }
    Ok(())
}

/// Writes `s` as a JSON string (member names of JSON objects).
fn write_json_string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Writes `'text'` with embedded quotes doubled.
pub(crate) fn write_quoted(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for part in s.split('\'').enumerate() {
        if part.0 > 0 {
            f.write_str("''")?;
        }
        f.write_str(part.1)?;
    }
    f.write_char('\'')
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Boolean(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Decimal(d) => f.write_str(d),
            Literal::Double(d) => {
                if d.is_nan() {
                    f.write_str("NaN")
                } else if d.is_infinite() {
                    f.write_str(if *d > 0.0 { "INF" } else { "-INF" })
                } else {
                    // Always with an exponent, so it parses back as a Double (not a Decimal); `{:e}`
                    // is the shortest text that round-trips.
                    write!(f, "{d:e}")
                }
            }
            Literal::String(s) => write_quoted(f, s),
            Literal::Date(s) | Literal::DateTimeOffset(s) | Literal::TimeOfDay(s) => f.write_str(s),
            Literal::Guid(s) => f.write_str(s),
            Literal::Duration(s) => {
                f.write_str("duration")?;
                write_quoted(f, s)
            }
            Literal::Binary(bytes) => write!(f, "binary'{}'", encode_base64(bytes)),
            Literal::Enum { type_name, value } => {
                f.write_str(type_name)?;
                write_quoted(f, value)
            }
        }
    }
}

impl Display for MemberPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut first = true;
        match &self.root {
            PathRoot::Implicit => {}
            PathRoot::It => {
                f.write_str("$it")?;
                first = false;
            }
            PathRoot::This => {
                f.write_str("$this")?;
                first = false;
            }
            PathRoot::Variable(v) => {
                f.write_str(v)?;
                first = false;
            }
        }
        if first && self.segments.is_empty() {
            // An implicit root with no members is the current instance.
            return f.write_str("$it");
        }
        for s in &self.segments {
            if !first {
                f.write_char('/')?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(l) => write!(f, "{l}"),
            Expr::Member(m) => write!(f, "{m}"),
            Expr::Unary { op, operand } => {
                let parens = expr_precedence(operand) < 7;
                match op {
                    UnaryOp::Not => {
                        f.write_str("not ")?;
                        write_parenthesized(f, operand, parens)
                    }
                    UnaryOp::Negate => {
                        f.write_char('-')?;
                        // `-5` would parse back as the literal -5, not as negation of 5.
                        let literal = matches!(**operand, Expr::Literal(_));
                        write_parenthesized(f, operand, parens || literal)
                    }
                }
            }
            Expr::Binary {
                op: BinaryOp::In,
                left,
                right,
            } => {
                write_parenthesized(f, left, expr_precedence(left) < BinaryOp::In.precedence())?;
                f.write_str(" in ")?;
                // Parenthesised so that it cannot read as a list; a literal in parentheses would be
                // a one-item list, so it stays bare.
                let parens = !matches!(**right, Expr::Literal(_));
                write_parenthesized(f, right, parens)
            }
            Expr::Binary { op, left, right } => {
                let p = op.precedence();
                write_parenthesized(f, left, expr_precedence(left) < p)?;
                write!(f, " {} ", op.keyword())?;
                write_parenthesized(f, right, expr_precedence(right) <= p)
            }
            Expr::In { operand, list } => {
                let p = BinaryOp::In.precedence();
                write_parenthesized(f, operand, expr_precedence(operand) < p)?;
                f.write_str(" in ")?;
                // A parenthesised list may hold only literals; anything else is a JSON array.
                let (open, close) = if list.iter().all(|e| matches!(e, Expr::Literal(_))) {
                    ('(', ')')
                } else {
                    ('[', ']')
                };
                f.write_char(open)?;
                write_list(f, list, |f, e| write!(f, "{e}"))?;
                f.write_char(close)
            }
            Expr::Call { function, args } => {
                write!(f, "{}(", function.name())?;
                write_list(f, args, |f, e| write!(f, "{e}"))?;
                f.write_char(')')
            }
            Expr::Lambda {
                collection,
                kind,
                variable,
                predicate,
            } => {
                let name = match kind {
                    LambdaKind::Any => "any",
                    LambdaKind::All => "all",
                };
                write!(f, "{collection}/{name}(")?;
                if let (Some(v), Some(p)) = (variable, predicate) {
                    write!(f, "{v}:{p}")?;
                }
                f.write_char(')')
            }
            Expr::Count {
                collection,
                filter,
                search,
            } => {
                write!(f, "{collection}/$count")?;
                if filter.is_some() || search.is_some() {
                    f.write_char('(')?;
                    if let Some(e) = filter {
                        write!(f, "$filter={e}")?;
                    }
                    if let Some(s) = search {
                        if filter.is_some() {
                            f.write_char(';')?;
                        }
                        write!(f, "$search={s}")?;
                    }
                    f.write_char(')')?;
                }
                Ok(())
            }
            Expr::FunctionCall {
                target,
                function,
                params,
            } => {
                if let Some(t) = target {
                    write!(f, "{t}/")?;
                }
                write!(f, "{function}(")?;
                write_list(f, params, |f, (k, v)| write!(f, "{k}={v}"))?;
                f.write_char(')')
            }
            Expr::Navigate { base, segments } => {
                write!(f, "{base}")?;
                for s in segments {
                    write!(f, "/{s}")?;
                }
                Ok(())
            }
            Expr::Array(items) => {
                f.write_char('[')?;
                write_list(f, items, |f, e| write!(f, "{e}"))?;
                f.write_char(']')
            }
            Expr::Object(members) => {
                f.write_char('{')?;
                write_list(f, members, |f, (k, v)| {
                    write_json_string(f, k)?;
                    write!(f, ":{v}")
                })?;
                f.write_char('}')
            }
            Expr::Alias(name) => write!(f, "@{name}"),
            Expr::TypeName(name) => f.write_str(name),
        }
    }
}

/// The canonical OData text of an expression (same as `expr.to_string()`).
///
/// ```
/// use epicor_kinetic_odata::{parse_filter, print_expr};
/// let e = parse_filter("(Name EQ 'O''Neil') AND (Price lt 2.55)").unwrap();
/// assert_eq!(print_expr(&e), "Name eq 'O''Neil' and Price lt 2.55");
/// ```
pub fn print_expr(expr: &Expr) -> String {
    expr.to_string()
}

impl Display for OrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if self.descending {
            f.write_str(" desc")?;
        }
        Ok(())
    }
}

/// A `$orderby` value: items joined by commas (`Name,Price desc`).
pub fn print_orderby(items: &[OrderBy]) -> String {
    join(items)
}

pub(crate) fn join<T: Display>(items: &[T]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{item}");
    }
    out
}
