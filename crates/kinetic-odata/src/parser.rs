//! A hand-written recursive-descent parser for OData 4.01 common expressions (`$filter`, `$orderby`
//! items and the expressions nested in `$expand` / `$select` options).
//!
//! Input is already percent-decoded. Positions in errors are byte offsets into that input.
//! Precedence, highest first: primary and paths, unary `not` / `-`, `mul div divby mod`, `add sub`,
//! `gt ge lt le`, `eq ne has in`, `and`, `or`; all binary operators are left-associative.

use crate::ast::*;
use crate::error::ParseError;
use crate::literal;

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

/// Binding strength of a binary operator (higher binds tighter).
pub(crate) fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Has | BinaryOp::In => 3,
        BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => 4,
        BinaryOp::Add | BinaryOp::Sub => 5,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::DivBy | BinaryOp::Mod => 6,
    }
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
            let prec = precedence(op);
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
                let right = self.parse_binary(precedence(BinaryOp::In) + 1)?;
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

    fn guid(&mut self) -> Expr {
        let text = &self.rest()[..36];
        self.pos += 36;
        Expr::Literal(Literal::Guid(text.to_string()))
    }

    /// `'...'` with `''` standing for one quote; the cursor is on the opening quote.
    pub(crate) fn string_literal(&mut self) -> PResult<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = self.rest();
            let Some(q) = rest.find('\'') else {
                return self.error(start, "unterminated string literal");
            };
            out.push_str(&rest[..q]);
            self.pos += q + 1;
            if self.peek() == Some('\'') {
                out.push('\'');
                self.pos += 1;
            } else {
                return Ok(out);
            }
        }
    }

    /// `"..."` with JSON escapes; the cursor is on the opening quote.
    fn json_string(&mut self) -> PResult<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.error(start, "unterminated JSON string");
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let esc_pos = self.pos - 1;
                    let Some(e) = self.peek() else {
                        return self.error(start, "unterminated JSON string");
                    };
                    self.pos += e.len_utf8();
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hi = self.hex4(esc_pos)?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair spells one character beyond the BMP.
                                if !self.rest().starts_with("\\u") {
                                    return self.error(esc_pos, "unpaired surrogate in \\u escape");
                                }
                                self.pos += 2;
                                let lo = self.hex4(esc_pos)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.error(esc_pos, "unpaired surrogate in \\u escape");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(ch) => out.push(ch),
                                None => {
                                    return self.error(esc_pos, "unpaired surrogate in \\u escape")
                                }
                            }
                        }
                        _ => return self.error(esc_pos, format!("invalid JSON escape '\\{e}'")),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self, esc_pos: usize) -> PResult<u32> {
        let Some(hex) = self.rest().get(..4) else {
            return self.error(esc_pos, "expected 4 hex digits after \\u");
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return self.error(esc_pos, "expected 4 hex digits after \\u");
        }
        self.pos += 4;
        u32::from_str_radix(hex, 16).or_else(|_| self.error(esc_pos, "invalid \\u escape"))
    }

    /// An array item or object member value: a JSON string or any expression.
    fn json_value(&mut self) -> PResult<Expr> {
        if self.peek() == Some('"') {
            Ok(Expr::Literal(Literal::String(self.json_string()?)))
        } else {
            self.parse_expr()
        }
    }

    /// Items separated by commas after an opening bracket (at `self.pos`), up to `close`.
    fn delimited(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Self) -> PResult<Expr>,
    ) -> PResult<Vec<Expr>> {
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        let mut items = Vec::new();
        if !self.eat(close) {
            loop {
                items.push(item(self)?);
                self.skip_ws();
                if self.eat(',') {
                    self.skip_ws();
                    continue;
                }
                self.expect(close)?;
                break;
            }
        }
        self.leave();
        Ok(items)
    }

    fn parse_array(&mut self) -> PResult<Expr> {
        let items = self.delimited(']', Self::json_value)?;
        Ok(Expr::Array(items))
    }

    fn parse_object(&mut self) -> PResult<Expr> {
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        let mut members = Vec::new();
        if !self.eat('}') {
            loop {
                if self.peek() != Some('"') {
                    return self.error(self.pos, "expected a member name in double quotes");
                }
                let name = self.json_string()?;
                self.skip_ws();
                self.expect(':')?;
                self.skip_ws();
                members.push((name, self.json_value()?));
                self.skip_ws();
                if self.eat(',') {
                    self.skip_ws();
                    continue;
                }
                self.expect('}')?;
                break;
            }
        }
        self.leave();
        Ok(Expr::Object(members))
    }

    /// Numbers, dates, date-times with offset and times of day (they all start with a digit or sign).
    fn number_or_temporal(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let rest = self.rest();
        let b = rest.as_bytes();
        let signed = matches!(b.first(), Some(b'-' | b'+'));
        let unsigned = &rest[usize::from(signed)..];
        if unsigned.starts_with("INF") && b[0] == b'-' {
            self.pos += 4;
            return Ok(Expr::Literal(Literal::Double(f64::NEG_INFINITY)));
        }
        let digit_count = unsigned.bytes().take_while(u8::is_ascii_digit).count();
        let after = unsigned.as_bytes().get(digit_count).copied();
        // The longest run of characters that can belong to a temporal literal.
        let temporal_len = |from: usize| {
            rest[from..]
                .bytes()
                .take_while(|c| c.is_ascii_digit() || b"-:.TtZz+".contains(c))
                .count()
                + from
        };
        if after == Some(b'-') && digit_count >= 4 && b[0] != b'+' {
            let len = temporal_len(usize::from(signed));
            let text = &rest[..len];
            self.pos += len;
            if text.contains(['T', 't']) {
                if literal::validate_date_time_offset(text).is_err() {
                    return self.error(start, format!("invalid date-time '{text}'"));
                }
                return Ok(Expr::Literal(Literal::DateTimeOffset(text.to_string())));
            }
            if literal::validate_date(text).is_err() {
                return self.error(start, format!("invalid date '{text}'"));
            }
            return Ok(Expr::Literal(Literal::Date(text.to_string())));
        }
        if after == Some(b':') && digit_count == 2 && !signed {
            let len = rest
                .bytes()
                .take_while(|c| c.is_ascii_digit() || b":.".contains(c))
                .count();
            let text = &rest[..len];
            self.pos += len;
            if literal::validate_time_of_day(text).is_err() {
                return self.error(start, format!("invalid time of day '{text}'"));
            }
            return Ok(Expr::Literal(Literal::TimeOfDay(text.to_string())));
        }
        let end = match literal::number_prefix(b) {
            Ok(end) => end,
            Err(at) => return self.error(start + at, "invalid number: expected a digit"),
        };
        if rest[end..].starts_with(|c: char| is_ident_char(c) || c == '.') {
            return self.error(start + end, "invalid number");
        }
        self.pos += end;
        let text = rest[..end].strip_prefix('+').unwrap_or(&rest[..end]);
        Ok(Expr::Literal(number_literal(text)))
    }

    /// Everything that starts with a name: keywords, typed literals, function calls, member paths.
    fn word_expr(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let Some(name) = self.qualified_name() else {
            return self.error(start, "expected an expression");
        };
        let qualified = name.contains('.');
        if !qualified {
            if name.eq_ignore_ascii_case("true") {
                return Ok(Expr::Literal(Literal::Boolean(true)));
            }
            if name.eq_ignore_ascii_case("false") {
                return Ok(Expr::Literal(Literal::Boolean(false)));
            }
            if name.eq_ignore_ascii_case("null") {
                return Ok(Expr::Literal(Literal::Null));
            }
            if name == "INF" {
                return Ok(Expr::Literal(Literal::Double(f64::INFINITY)));
            }
            if name == "NaN" {
                return Ok(Expr::Literal(Literal::Double(f64::NAN)));
            }
            if name.eq_ignore_ascii_case("not") {
                return self.error(self.pos, "expected an expression after 'not'");
            }
        }
        match self.peek() {
            Some('\'') => self.typed_literal(start, name),
            Some('(') => self.call(start, name),
            Some('/') => Ok(Expr::Member(self.first_segment(name))),
            _ if qualified => self.error(
                self.pos,
                format!(
                    "'{name}' must be followed by '(' (a function call), '/' (a type cast) \
                     or a quoted value (an enum literal)"
                ),
            ),
            _ => Ok(Expr::Member(self.first_segment(name))),
        }
    }

    fn first_segment(&self, name: &str) -> MemberPath {
        if self.scopes.iter().any(|v| v == name) {
            MemberPath {
                root: PathRoot::Variable(name.to_string()),
                segments: Vec::new(),
            }
        } else {
            MemberPath::property([name])
        }
    }

    /// `binary'..'`, `duration'..'`, `Ns.EnumType'..'`; the cursor is on the quote.
    fn typed_literal(&mut self, start: usize, prefix: &str) -> PResult<Expr> {
        let quote = self.pos;
        let value = self.string_literal()?;
        let lit = if prefix.eq_ignore_ascii_case("binary") {
            match literal::decode_base64(&value) {
                Ok(bytes) => Literal::Binary(bytes),
                Err(_) => return self.error(quote, format!("invalid base64 in binary'{value}'")),
            }
        } else if prefix.eq_ignore_ascii_case("duration") {
            if literal::validate_duration(&value).is_err() {
                return self.error(quote, format!("invalid duration '{value}'"));
            }
            Literal::Duration(value)
        } else if prefix.eq_ignore_ascii_case("geography")
            || prefix.eq_ignore_ascii_case("geometry")
        {
            return self.error(start, "geography and geometry literals are not supported");
        } else if prefix.contains('.') {
            if literal::validate_enum_value(&value).is_err() {
                return self.error(quote, format!("invalid enum value '{value}'"));
            }
            Literal::Enum {
                type_name: prefix.to_string(),
                value,
            }
        } else {
            return self.error(start, format!("unknown literal prefix '{prefix}'"));
        };
        Ok(Expr::Literal(lit))
    }

    /// Looks ahead from `(` for `name =`: a call with named parameters.
    fn named_params_ahead(&mut self) -> bool {
        let save = self.pos;
        self.pos += 1;
        self.skip_ws();
        let named = self.identifier().is_some() && {
            self.skip_ws();
            self.peek() == Some('=')
        };
        self.pos = save;
        named
    }

    /// A call at the start of an expression; the cursor is on `(`.
    fn call(&mut self, start: usize, name: &str) -> PResult<Expr> {
        if name.eq_ignore_ascii_case("any") || name.eq_ignore_ascii_case("all") {
            return self.error(
                self.pos,
                format!("'{name}' needs a collection before it, e.g. Items/{name}(x: ...)"),
            );
        }
        let builtin = if name.contains('.') {
            None
        } else {
            Function::builtin(name)
        };
        if let Some(function) = builtin {
            let args = if matches!(function, Function::Cast | Function::IsOf) {
                self.cast_args()?
            } else {
                self.positional_args()?
            };
            if let Some((min, max)) = function.arity() {
                if args.len() < min || args.len() > max {
                    let expected = if min == max {
                        format!("{min}")
                    } else {
                        format!("{min} or {max}")
                    };
                    return self.error(
                        start,
                        format!(
                            "'{}' takes {expected} argument{}, found {}",
                            function.name(),
                            if max == 1 { "" } else { "s" },
                            args.len()
                        ),
                    );
                }
            }
            return Ok(Expr::Call { function, args });
        }
        if self.named_params_ahead() {
            let params = self.named_params()?;
            return Ok(Expr::FunctionCall {
                target: None,
                function: name.to_string(),
                params,
            });
        }
        let args = self.positional_args()?;
        Ok(Expr::Call {
            function: Function::Other(name.to_string()),
            args,
        })
    }

    fn positional_args(&mut self) -> PResult<Vec<Expr>> {
        self.delimited(')', Self::parse_expr)
    }

    /// `cast` / `isof` arguments: `(Type)` or `(expr, Type)`.
    fn cast_args(&mut self) -> PResult<Vec<Expr>> {
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        let save = self.pos;
        if let Some(t) = self.qualified_name() {
            self.skip_ws();
            if self.eat(')') {
                self.leave();
                return Ok(vec![Expr::TypeName(t.to_string())]);
            }
        }
        self.pos = save;
        let first = self.parse_expr()?;
        self.skip_ws();
        self.expect(',')?;
        self.skip_ws();
        let Some(t) = self.qualified_name() else {
            return self.error(self.pos, "expected a type name such as Edm.String");
        };
        let t = t.to_string();
        self.skip_ws();
        self.expect(')')?;
        self.leave();
        Ok(vec![first, Expr::TypeName(t)])
    }

    /// `(name=value, ...)`; the cursor is on `(`.
    fn named_params(&mut self) -> PResult<Vec<(String, Expr)>> {
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        let mut params = Vec::new();
        if !self.eat(')') {
            loop {
                let Some(name) = self.identifier() else {
                    return self.error(self.pos, "expected a parameter name");
                };
                self.skip_ws();
                self.expect('=')?;
                self.skip_ws();
                let value = self.parse_expr()?;
                params.push((name.to_string(), value));
                self.skip_ws();
                if self.eat(',') {
                    self.skip_ws();
                    continue;
                }
                self.expect(')')?;
                break;
            }
        }
        self.leave();
        Ok(params)
    }

    /// `/segment`, `/$count`, `/any(...)`, `/Ns.Function(...)` after a path.
    fn parse_path_tail(&mut self, mut e: Expr) -> PResult<Expr> {
        let mut wraps = 0;
        while self.peek() == Some('/') {
            if !is_pathable(&e) {
                return self.error(
                    self.pos,
                    "only a path or function result can be followed by '/'",
                );
            }
            self.pos += 1;
            let seg_start = self.pos;
            match self.peek() {
                Some('$') => {
                    if self.eat_word("$count") {
                        let (filter, search) = self.count_options()?;
                        e = Expr::Count {
                            collection: Box::new(e),
                            filter,
                            search,
                        };
                        wraps += 1;
                        self.deepen(1)?;
                        // `$count` ends a path: a `/` after it is reported by the next round.
                    } else if self.rest().starts_with("$filter(") {
                        return self.error(seg_start, "$filter path segments are not supported");
                    } else {
                        return self.error(seg_start, "expected $count or a member name after '/'");
                    }
                }
                Some('@') => {
                    let name = self.annotation()?.to_string();
                    e = self.push_segment(e, name, &mut wraps)?;
                }
                Some(c) if is_ident_start(c) => {
                    let Some(name) = self.qualified_name() else {
                        return self.error(seg_start, "expected a member name after '/'");
                    };
                    if self.peek() == Some('(') {
                        let lambda = if name.eq_ignore_ascii_case("any") {
                            Some(LambdaKind::Any)
                        } else if name.eq_ignore_ascii_case("all") {
                            Some(LambdaKind::All)
                        } else {
                            None
                        };
                        if let Some(kind) = lambda {
                            let Expr::Member(collection) = e else {
                                return self.error(
                                    seg_start,
                                    "any/all over a function result is not supported",
                                );
                            };
                            e = self.lambda(collection, kind)?;
                        } else {
                            let params = self.named_params()?;
                            e = Expr::FunctionCall {
                                target: Some(Box::new(e)),
                                function: name.to_string(),
                                params,
                            };
                        }
                        wraps += 1;
                        self.deepen(1)?;
                    } else {
                        e = self.push_segment(e, name.to_string(), &mut wraps)?;
                    }
                }
                _ => return self.error(seg_start, "expected a member name after '/'"),
            }
        }
        self.depth -= wraps;
        Ok(e)
    }

    fn push_segment(&mut self, e: Expr, name: String, wraps: &mut usize) -> PResult<Expr> {
        Ok(match e {
            Expr::Member(mut path) => {
                path.segments.push(name);
                Expr::Member(path)
            }
            Expr::Navigate { base, mut segments } => {
                segments.push(name);
                Expr::Navigate { base, segments }
            }
            other => {
                *wraps += 1;
                self.deepen(1)?;
                Expr::Navigate {
                    base: Box::new(other),
                    segments: vec![name],
                }
            }
        })
    }

    /// `(...)` after `$count`: `$filter=` and `$search=` options separated by `;`.
    fn count_options(&mut self) -> PResult<(Option<Box<Expr>>, Option<String>)> {
        let (mut filter, mut search) = (None, None);
        if self.peek() != Some('(') {
            return Ok((filter, search));
        }
        self.enter()?;
        self.pos += 1;
        loop {
            let opt_start = self.pos;
            self.eat('$');
            let name = self.identifier().unwrap_or("");
            if !self.eat('=') {
                return self.error(self.pos, "expected '=' after the query option name");
            }
            if name.eq_ignore_ascii_case("filter") && filter.is_none() {
                filter = Some(Box::new(self.parse_expr()?));
            } else if name.eq_ignore_ascii_case("search") && search.is_none() {
                search = Some(self.search_value()?);
            } else {
                return self.error(
                    opt_start,
                    "only $filter and $search are allowed (once each) after $count",
                );
            }
            if self.eat(';') {
                continue;
            }
            self.expect(')')?;
            break;
        }
        self.leave();
        Ok((filter, search))
    }

    /// A `$search` value inside parentheses: up to `;` or the unbalanced `)`, kept as written.
    pub(crate) fn search_value(&mut self) -> PResult<String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut in_phrase = false;
        while let Some(c) = self.peek() {
            match c {
                '"' => in_phrase = !in_phrase,
                '\\' if in_phrase => {
                    self.pos += 1;
                    if self.peek().is_none() {
                        break;
                    }
                }
                '(' if !in_phrase => depth += 1,
                ')' if !in_phrase && depth == 0 => break,
                ')' if !in_phrase => depth -= 1,
                ';' | '&' if !in_phrase && depth == 0 => break,
                _ => {}
            }
            self.pos += self.peek().map_or(0, char::len_utf8);
        }
        if in_phrase {
            return self.error(start, "unterminated search phrase");
        }
        if depth != 0 {
            return self.error(self.pos, "expected ')' in search expression");
        }
        if self.pos == start {
            return self.error(start, "empty $search");
        }
        Ok(self.src[start..self.pos].to_string())
    }

    /// `(var: predicate)` or `()`; the cursor is on `(`.
    fn lambda(&mut self, collection: MemberPath, kind: LambdaKind) -> PResult<Expr> {
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(')') {
            if kind == LambdaKind::All {
                return self.error(
                    self.pos,
                    "all() requires a lambda expression, e.g. all(x: x/Price gt 5)",
                );
            }
            self.pos += 1;
            self.leave();
            return Ok(Expr::Lambda {
                collection,
                kind,
                variable: None,
                predicate: None,
            });
        }
        let var_start = self.pos;
        let Some(var) = self.identifier() else {
            return self.error(var_start, "expected a lambda variable name");
        };
        if is_reserved_word(var) {
            return self.error(var_start, format!("'{var}' cannot be a lambda variable"));
        }
        self.skip_ws();
        self.expect(':')?;
        self.skip_ws();
        self.scopes.push(var.to_string());
        let predicate = self.parse_expr();
        self.scopes.pop();
        let predicate = predicate?;
        self.skip_ws();
        self.expect(')')?;
        self.leave();
        Ok(Expr::Lambda {
            collection,
            kind,
            variable: Some(var.to_string()),
            predicate: Some(Box::new(predicate)),
        })
    }
}

/// Classifies validated number text (no leading `+`): exponent → Double, point → Decimal, else Int
/// (or Decimal text when it does not fit an `i64`).
pub(crate) fn number_literal(text: &str) -> Literal {
    if text.contains(['e', 'E']) {
        // The text is validated, so parsing succeeds; out-of-range values become infinities.
        Literal::Double(text.parse().unwrap_or(f64::NAN))
    } else if text.contains('.') {
        Literal::Decimal(text.to_string())
    } else {
        match text.parse::<i64>() {
            Ok(v) => Literal::Int(v),
            Err(_) => Literal::Decimal(text.to_string()),
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
