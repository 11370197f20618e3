//! A hand-written recursive-descent parser for OData 4.01 common expressions (`$filter`, `$orderby`
//! items and the expressions nested in `$expand` / `$select` options).
//!
//! Input is already percent-decoded. Positions in errors are byte offsets into that input.
//! Precedence, highest first: primary and paths, unary `not` / `-`, `mul div divby mod`, `add sub`,
//! `gt ge lt le`, `eq ne has in`, `and`, `or`; all binary operators are left-associative.

use crate::ast::*;
use crate::error::ParseError;
use crate::literal;

mod keys;
mod literals;
mod paths;

pub use keys::{parse_key_predicate, KeyPart};

/// Deepest recursion the parser allows (parentheses, calls, lambdas, arrays, unary operators, nested
/// query options). Beyond it the input is rejected instead of overflowing the stack.
pub(crate) const MAX_NESTING: usize = 256;
/// Deepest expression tree the parser builds, counting chains such as `a or b or c ...` (a chain of
/// N operators is N deep). Bounds the recursion of whoever walks the tree (printer, SQL compiler).
pub(crate) const MAX_TREE_DEPTH: usize = 1000;

/// The message for either limit, naming both.
const TOO_DEEP: &str = "expression nested too deeply (this parser allows 256 levels of \
parentheses, calls and not, and 1000 operators in a chain such as a or b or ...)";

pub(crate) type PResult<T> = Result<T, ParseError>;

/// The parser state: the input, a cursor and the lambda variables in scope.
pub(crate) struct Parser<'a> {
    pub(crate) src: &'a str,
    pub(crate) pos: usize,
    /// Current recursion depth, guarded by [`MAX_NESTING`].
    nesting: usize,
    /// Current depth of the tree under construction, guarded by [`MAX_TREE_DEPTH`].
    depth: usize,
    /// Lambda range variables in scope, innermost last.
    scopes: Vec<String>,
    /// In `$orderby`, `asc` / `desc` end an expression instead of being an unknown operator.
    pub(crate) orderby_mode: bool,
}

fn operator(word: &str) -> Option<BinaryOp> {
    const OPS: [BinaryOp; 16] = [
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Has,
        BinaryOp::In,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::DivBy,
        BinaryOp::Mod,
    ];
    OPS.into_iter()
        .find(|op| op.keyword().eq_ignore_ascii_case(word))
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Words that are always literals or operators where an expression starts, so they cannot be the first
/// segment of a member path nor a lambda variable.
pub(crate) fn is_reserved_word(word: &str) -> bool {
    ["true", "false", "null", "not"]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(word))
        || word == "INF"
        || word == "NaN"
}

/// Expressions a `/` may follow: paths and function results.
fn is_pathable(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Member(_)
            | Expr::Navigate { .. }
            | Expr::FunctionCall { .. }
            | Expr::Call {
                function: Function::Other(_),
                ..
            }
    )
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            nesting: 0,
            depth: 0,
            scopes: Vec::new(),
            orderby_mode: false,
        }
    }

    pub(crate) fn error<T>(&self, position: usize, message: impl Into<String>) -> PResult<T> {
        Err(ParseError::new(position, message))
    }

    pub(crate) fn rest(&self) -> &'a str {
        // `pos` only ever moves by whole characters, so this never splits one.
        self.src.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn eat_str_ignore_case(&mut self, s: &str) -> bool {
        match self.rest().get(..s.len()) {
            Some(head) if head.eq_ignore_ascii_case(s) => {
                self.pos += s.len();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn expect(&mut self, c: char) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.error(self.pos, format!("expected '{c}'"))
        }
    }

    /// Skips spaces and tabs (the ABNF's BWS / RWS once `%20` / `%09` are decoded); true if any.
    pub(crate) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Describes what is at the cursor, for error messages.
    pub(crate) fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) => format!("'{c}'"),
        }
    }

    /// Fails unless the whole input was consumed.
    pub(crate) fn expect_end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            self.error(self.pos, format!("unexpected {}", self.found()))
        }
    }

    pub(crate) fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        self.depth += 1;
        if self.nesting > MAX_NESTING || self.depth > MAX_TREE_DEPTH {
            return self.error(self.pos, TOO_DEEP);
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.nesting -= 1;
        self.depth -= 1;
    }

    /// Accounts for `n` more tree levels built by a loop (operator chains, path steps).
    fn deepen(&mut self, n: usize) -> PResult<()> {
        self.depth += n;
        if self.depth > MAX_TREE_DEPTH {
            return self.error(self.pos, TOO_DEEP);
        }
        Ok(())
    }

    /// An identifier (`odataIdentifier`), or `None` without moving.
    pub(crate) fn identifier(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if is_ident_start(c) => {}
            _ => return None,
        }
        let end = chars
            .find(|&(_, c)| !is_ident_char(c))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += end;
        Some(&rest[..end])
    }

    /// A possibly namespace-qualified name: `Name`, `Model.Customer`, `geo.distance`.
    pub(crate) fn qualified_name(&mut self) -> Option<&'a str> {
        let start = self.pos;
        self.identifier()?;
        while self.peek() == Some('.') && self.peek_at(1).is_some_and(is_ident_start) {
            self.pos += 1;
            self.identifier();
        }
        Some(&self.src[start..self.pos])
    }

    /// An annotation term `@Ns.Term[#Qualifier]` at the cursor (which is on `@`); answers it with `@`.
    pub(crate) fn annotation(&mut self) -> PResult<&'a str> {
        let start = self.pos;
        self.pos += 1;
        if self.qualified_name().is_none() {
            return self.error(self.pos, "expected an annotation name after '@'");
        }
        if self.eat('#') && self.identifier().is_none() {
            return self.error(self.pos, "expected a qualifier after '#'");
        }
        Ok(&self.src[start..self.pos])
    }

    // ---------------------------------------------------------------------------------------------
    // Expressions

    /// A full common expression.
    pub(crate) fn parse_expr(&mut self) -> PResult<Expr> {
        self.parse_binary(0)
    }

    /// Precedence climbing over binary operators with at least `min_prec` binding strength.
    fn parse_binary(&mut self, min_prec: u8) -> PResult<Expr> {
        self.enter()?;
        let mut left = self.parse_unary()?;
        let mut chain = 0;
        loop {
            let save = self.pos;
            let had_ws = self.skip_ws();
            // Characters that close an enclosing construct end the expression here; whitespace
            // before them belongs to that construct (or is an error at the top level).
            match self.peek() {
                None | Some(')' | ',' | ';' | ']' | '}' | ':' | '&') => {
                    self.pos = save;
                    break;
                }
                _ => {}
            }
            let word_start = self.pos;
            let word = match self.identifier() {
                Some(w) => w,
                None => {
                    return self.error(
                        word_start,
                        format!(
                            "expected an operator or the end of the expression, found {}",
                            self.found()
                        ),
                    )
                }
            };
            if self.orderby_mode
                && (word.eq_ignore_ascii_case("asc") || word.eq_ignore_ascii_case("desc"))
            {
                self.pos = save;
                break;
            }
            let Some(op) = operator(word) else {
                return self.error(word_start, format!("unknown operator '{word}'"));
            };
            if !had_ws {
                return self.error(word_start, format!("expected whitespace before '{word}'"));
            }
            let prec = op.precedence();
            if prec < min_prec {
                self.pos = save;
                break;
            }
            if !self.skip_ws() {
                return self.error(self.pos, format!("expected whitespace after '{word}'"));
            }
            left = if op == BinaryOp::In {
                self.parse_in_rhs(left)?
            } else {
                let right = self.parse_binary(prec + 1)?;
                Expr::binary(op, left, right)
            };
            chain += 1;
            self.deepen(1)?;
        }
        self.depth -= chain;
        self.leave();
        Ok(left)
    }

    /// The right side of `in`: a literal list `( ... )`, a JSON array, or another expression.
    fn parse_in_rhs(&mut self, operand: Expr) -> PResult<Expr> {
        let operand = Box::new(operand);
        match self.peek() {
            Some('(') => {
                self.enter()?;
                self.pos += 1;
                self.skip_ws();
                let mut list = Vec::new();
                if !self.eat(')') {
                    let first = self.parse_expr()?;
                    self.skip_ws();
                    if self.eat(')') {
                        self.leave();
                        // `x in (y)` with a non-literal `y` is just a parenthesised expression.
                        if !matches!(first, Expr::Literal(_)) {
                            return Ok(Expr::Binary {
                                op: BinaryOp::In,
                                left: operand,
                                right: Box::new(first),
                            });
                        }
                        return Ok(Expr::In {
                            operand,
                            list: vec![first],
                        });
                    }
                    if self.peek() == Some(',') && !matches!(first, Expr::Literal(_)) {
                        return self.error(
                            self.pos,
                            "a list in parentheses can only contain primitive literals; \
                             use a JSON array [...] for other expressions",
                        );
                    }
                    list.push(first);
                    while self.eat(',') {
                        self.skip_ws();
                        let start = self.pos;
                        let item = self.parse_expr()?;
                        if !matches!(item, Expr::Literal(_)) {
                            return self.error(
                                start,
                                "a list in parentheses can only contain primitive literals; \
                                 use a JSON array [...] for other expressions",
                            );
                        }
                        list.push(item);
                        self.skip_ws();
                    }
                    self.expect(')')?;
                }
                self.leave();
                Ok(Expr::In { operand, list })
            }
            Some('[') => match self.parse_array()? {
                Expr::Array(list) => Ok(Expr::In { operand, list }),
                other => Ok(Expr::Binary {
                    op: BinaryOp::In,
                    left: operand,
                    right: Box::new(other),
                }),
            },
            _ => {
                let right = self.parse_binary(BinaryOp::In.precedence() + 1)?;
                Ok(Expr::Binary {
                    op: BinaryOp::In,
                    left: operand,
                    right: Box::new(right),
                })
            }
        }
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let rest = self.rest();
        if rest.len() >= 3 && rest.is_char_boundary(3) && rest[..3].eq_ignore_ascii_case("not") {
            let next = rest[3..].chars().next();
            match next {
                Some(' ' | '\t' | '(') => {
                    self.pos += 3;
                    self.skip_ws();
                    self.enter()?;
                    let operand = self.parse_unary()?;
                    self.leave();
                    return Ok(Expr::Unary {
                        op: UnaryOp::Not,
                        operand: Box::new(operand),
                    });
                }
                Some(c) if is_ident_char(c) => {}
                _ => return self.error(start + 3, "expected an expression after 'not'"),
            }
        }
        if let Some(after) = rest.strip_prefix('-') {
            let literal = after.starts_with(|c: char| c.is_ascii_digit())
                || (after.starts_with("INF")
                    && !after[3..].starts_with(|c: char| is_ident_char(c)));
            if !literal {
                self.pos += 1;
                self.skip_ws();
                self.enter()?;
                let operand = self.parse_unary()?;
                self.leave();
                return Ok(Expr::Unary {
                    op: UnaryOp::Negate,
                    operand: Box::new(operand),
                });
            }
        }
        let primary = self.parse_primary()?;
        self.parse_path_tail(primary)
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return self.error(start, "expected an expression, found end of input");
        };
        match c {
            '\'' => {
                let s = self.string_literal()?;
                Ok(Expr::Literal(Literal::String(s)))
            }
            '(' => {
                self.enter()?;
                self.pos += 1;
                self.skip_ws();
                let e = self.parse_expr()?;
                self.skip_ws();
                self.expect(')')?;
                self.leave();
                Ok(e)
            }
            '[' => self.parse_array(),
            '{' => self.parse_object(),
            '"' => self.error(
                start,
                "double-quoted strings are only allowed inside JSON arrays and objects; use 'text'",
            ),
            '$' => {
                if self.eat_word("$it") {
                    Ok(Expr::Member(MemberPath {
                        root: PathRoot::It,
                        segments: Vec::new(),
                    }))
                } else if self.eat_word("$this") {
                    Ok(Expr::Member(MemberPath {
                        root: PathRoot::This,
                        segments: Vec::new(),
                    }))
                } else if self.rest().starts_with("$root") {
                    self.error(start, "$root paths are not supported")
                } else {
                    self.error(start, "expected $it or $this")
                }
            }
            '@' => {
                let name = self.annotation()?;
                if self.peek() == Some('/') || name.contains('.') || name.contains('#') {
                    Ok(Expr::Member(MemberPath::property([name])))
                } else {
                    Ok(Expr::Alias(name[1..].to_string()))
                }
            }
            '-' | '+' | '0'..='9' => {
                if c.is_ascii_digit() && literal::starts_with_guid(self.rest()) {
                    return Ok(self.guid());
                }
                self.number_or_temporal()
            }
            c if is_ident_start(c) => {
                if c.is_ascii_hexdigit() && literal::starts_with_guid(self.rest()) {
                    return Ok(self.guid());
                }
                self.word_expr()
            }
            _ => self.error(
                start,
                format!("expected an expression, found {}", self.found()),
            ),
        }
    }

    /// Consumes `word` when it is not followed by more identifier characters.
    fn eat_word(&mut self, word: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(word) && !rest[word.len()..].starts_with(is_ident_char) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }
}

/// Parses an already percent-decoded `$filter` (or any common expression) into an [`Expr`].
///
/// ```
/// use epicor_kinetic_odata::{parse_filter, Expr, BinaryOp};
/// let e = parse_filter("Name eq 'O''Neil' and Price lt 2.55").unwrap();
/// assert!(matches!(e, Expr::Binary { op: BinaryOp::And, .. }));
/// assert_eq!(parse_filter("Name eqq 'x'").unwrap_err().to_string(), "unknown operator 'eqq' at 5");
/// ```
pub fn parse_filter(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input);
    let e = p.parse_expr()?;
    p.expect_end()?;
    Ok(e)
}
