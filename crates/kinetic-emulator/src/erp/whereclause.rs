//! Epicor's `whereClause` (the ABL-like condition of GetRows / GetList, e.g.
//! `Customer.State = 'MN' and CreditHold = false BY Name`) parsed into the shared OData AST, so it is
//! compiled to parameterised SQL by the same compiler as `$filter`.

use epicor_kinetic_odata::{BinaryOp, Expr, Function, Literal, MemberPath, OrderBy};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
}

/// A whereClause that cannot be parsed: message and byte position.
#[derive(Debug, Clone, PartialEq)]
pub struct WhereError(pub String);

impl std::fmt::Display for WhereError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn lex(s: &str) -> Result<Vec<(Tok, usize)>, WhereError> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push((Tok::LParen, start));
            i += 1;
        } else if c == ')' {
            out.push((Tok::RParen, start));
            i += 1;
        } else if c == '\'' || c == '"' {
            let q = c;
            i += 1;
            let mut text = String::new();
            loop {
                match b.get(i) {
                    None => {
                        return Err(WhereError(format!(
                            "unterminated string starting at {start}"
                        )))
                    }
                    Some(&ch) if ch == q => {
                        if b.get(i + 1) == Some(&q) {
                            text.push(q);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            out.push((Tok::Str(text), start));
        } else if c.is_ascii_digit()
            || (c == '-' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                i += 1;
            }
            out.push((Tok::Num(b[start..i].iter().collect()), start));
        } else if c.is_alphabetic() || c == '_' {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                i += 1;
            }
            out.push((Tok::Ident(b[start..i].iter().collect()), start));
        } else {
            let two: String = b[i..(i + 2).min(b.len())].iter().collect();
            let op = match two.as_str() {
                "<>" | "!=" => Some(("<>", 2)),
                "<=" => Some(("<=", 2)),
                ">=" => Some((">=", 2)),
                _ => match c {
                    '=' => Some(("=", 1)),
                    '<' => Some(("<", 1)),
                    '>' => Some((">", 1)),
                    _ => None,
                },
            };
            match op {
                Some((o, n)) => {
                    out.push((Tok::Op(o), start));
                    i += n;
                }
                None => return Err(WhereError(format!("unexpected character '{c}' at {start}"))),
            }
        }
    }
    Ok(out)
}

/// Deepest nesting of parentheses and NOT a whereClause may have: the parser and every walker of the
/// tree recurse once per level.
pub const MAX_NESTING: usize = 64;
/// Most conditions (comparisons) in one whereClause. AND / OR chains build trees as deep as they are
/// long, and dropping or printing a tree recurses through it, so the length is bounded too.
pub const MAX_CONDITIONS: usize = 1_000;

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    table: &'a str,
    len: usize,
    conditions: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(self.len)
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn nest(&self, depth: usize) -> Result<(), WhereError> {
        if depth > MAX_NESTING {
            return Err(WhereError(format!(
                "whereClause is nested too deeply at {}: at most {MAX_NESTING} levels of \
                 parentheses and NOT are allowed",
                self.at()
            )));
        }
        Ok(())
    }
    fn or(&mut self, depth: usize) -> Result<Expr, WhereError> {
        self.nest(depth)?;
        let mut e = self.and(depth)?;
        while self.keyword("or") {
            self.pos += 1;
            e = e.or(self.and(depth)?);
        }
        Ok(e)
    }
    fn and(&mut self, depth: usize) -> Result<Expr, WhereError> {
        let mut e = self.not(depth)?;
        while self.keyword("and") {
            self.pos += 1;
            e = e.and(self.not(depth)?);
        }
        Ok(e)
    }
    fn not(&mut self, depth: usize) -> Result<Expr, WhereError> {
        if self.keyword("not") {
            self.pos += 1;
            self.nest(depth + 1)?;
            return Ok(self.not(depth + 1)?.not());
        }
        self.comparison(depth)
    }
    fn comparison(&mut self, depth: usize) -> Result<Expr, WhereError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(WhereError(format!(
                "whereClause has more than {MAX_CONDITIONS} conditions (at {}); split the query",
                self.at()
            )));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or(depth + 1)?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(WhereError(format!("expected ')' at {}", self.at())));
            }
            self.pos += 1;
            return Ok(e);
        }
        let left = self.operand()?;
        let at = self.at();
        let op = match self.peek().cloned() {
            Some(Tok::Op(o)) => o.to_string(),
            Some(Tok::Ident(w)) => w.to_ascii_lowercase(),
            _ => {
                // A bare logical field: `CreditHold`.
                return Ok(left.eq(Expr::Literal(Literal::Boolean(true))));
            }
        };
        let bin = match op.as_str() {
            "=" | "eq" => Some(BinaryOp::Eq),
            "<>" | "ne" => Some(BinaryOp::Ne),
            "<" | "lt" => Some(BinaryOp::Lt),
            "<=" | "le" => Some(BinaryOp::Le),
            ">" | "gt" => Some(BinaryOp::Gt),
            ">=" | "ge" => Some(BinaryOp::Ge),
            "begins" | "matches" => None,
            "and" | "or" | "by" => return Ok(left.eq(Expr::Literal(Literal::Boolean(true)))),
            other => return Err(WhereError(format!("unknown operator '{other}' at {at}"))),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(match bin {
            Some(op) => Expr::binary(op, left, right),
            None if op == "begins" => Expr::Call {
                function: Function::StartsWith,
                args: vec![left, right],
            },
            None => {
                // MATCHES with `*` wildcards only at the ends maps to contains/startswith/endswith.
                let Expr::Literal(Literal::String(p)) = &right else {
                    return Err(WhereError(format!(
                        "MATCHES needs a string pattern at {at}"
                    )));
                };
                let (lead, trail) = (p.starts_with('*'), p.ends_with('*') && p.len() > 1);
                let core = p.trim_matches('*').to_string();
                if core.contains(['*', '.']) {
                    return Err(WhereError(format!(
                        "MATCHES supports '*' only at the start or end of the pattern (at {at})"
                    )));
                }
                let arg = Expr::Literal(Literal::String(core));
                let function = match (lead, trail) {
                    (true, true) => Function::Contains,
                    (false, true) => Function::StartsWith,
                    (true, false) => Function::EndsWith,
                    (false, false) => return Ok(left.eq(arg)),
                };
                Expr::Call {
                    function,
                    args: vec![left, arg],
                }
            }
        })
    }
    fn operand(&mut self) -> Result<Expr, WhereError> {
        let at = self.at();
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| WhereError(format!("expected a field or value at {at}")))?;
        self.pos += 1;
        Ok(match tok {
            Tok::Str(s) => Expr::Literal(Literal::String(s)),
            Tok::Num(n) => match n.parse::<i64>() {
                Ok(i) => Expr::Literal(Literal::Int(i)),
                Err(_) => Expr::Literal(Literal::Decimal(n)),
            },
            Tok::Ident(w) => match w.to_ascii_lowercase().as_str() {
                "true" | "yes" => Expr::Literal(Literal::Boolean(true)),
                "false" | "no" => Expr::Literal(Literal::Boolean(false)),
                _ => {
                    // `Customer.Name` or `Name`: the table prefix is optional.
                    let field = match w.split_once('.') {
                        Some((t, f)) if t.eq_ignore_ascii_case(self.table) => f.to_string(),
                        Some(_) => {
                            return Err(WhereError(format!(
                                "`{w}` names another table; this whereClause applies to {}",
                                self.table
                            )))
                        }
                        None => w,
                    };
                    Expr::Member(MemberPath::property([field]))
                }
            },
            other => {
                return Err(WhereError(format!(
                    "expected a field or value at {at}, found {other:?}"
                )))
            }
        })
    }
}

/// Parses a whereClause for `table` into a filter and a sort order (`BY field [DESCENDING]`).
pub fn parse(clause: &str, table: &str) -> Result<(Option<Expr>, Vec<OrderBy>), WhereError> {
    let toks = lex(clause)?;
    let mut p = Parser {
        toks,
        pos: 0,
        table,
        len: clause.len(),
        conditions: 0,
    };
    let filter = if p.peek().is_none() || p.keyword("by") {
        None
    } else {
        Some(p.or(0)?)
    };
    let mut order = Vec::new();
    while p.keyword("by") {
        p.pos += 1;
        let Expr::Member(m) = p.operand()? else {
            return Err(WhereError(format!("BY needs a field name at {}", p.at())));
        };
        let descending = p.keyword("descending") || p.keyword("desc");
        if descending {
            p.pos += 1;
        }
        order.push(OrderBy {
            expr: Expr::Member(m),
            descending,
        });
    }
    if p.peek().is_some() {
        return Err(WhereError(format!("unexpected text at {}", p.at())));
    }
    Ok((filter, order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_epicor_style_clauses() {
        let (f, o) = parse(
            "Customer.State = 'MN' and CreditHold = false BY Name DESCENDING",
            "Customer",
        )
        .unwrap();
        assert_eq!(
            f.unwrap().to_string(),
            "State eq 'MN' and CreditHold eq false"
        );
        assert_eq!(o.len(), 1);
        assert!(o[0].descending);
        let (f, _) = parse(
            "Name begins 'Add' or (CustNum >= 10 and not CreditHold)",
            "Customer",
        )
        .unwrap();
        assert_eq!(
            f.unwrap().to_string(),
            "startswith(Name,'Add') or CustNum ge 10 and not (CreditHold eq true)"
        );
        let (f, _) = parse("Name matches '*Tool*'", "Customer").unwrap();
        assert_eq!(f.unwrap().to_string(), "contains(Name,'Tool')");
        assert_eq!(parse("", "Customer").unwrap(), (None, vec![]));
    }

    #[test]
    fn reports_errors_with_positions() {
        assert_eq!(
            parse("Name = 'x", "Customer").unwrap_err().0,
            "unterminated string starting at 7"
        );
        assert!(parse("Name ~ 1", "Customer")
            .unwrap_err()
            .0
            .contains("unexpected character '~' at 5"));
        assert!(parse("Part.PartNum = 'x'", "Customer")
            .unwrap_err()
            .0
            .contains("another table"));
        assert!(parse("(Name = 'x'", "Customer")
            .unwrap_err()
            .0
            .contains("expected ')'"));
    }
}
