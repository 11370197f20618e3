//! The parser's member paths and calls: first segments, navigation and casts in a path,
//! `$count` with its options, function calls (positional and named parameters), `$search`
//! values and lambdas (`any`, `all`).

use super::{is_ident_start, is_pathable, is_reserved_word, PResult, Parser};
use crate::ast::*;

impl<'a> Parser<'a> {
    /// Everything that starts with a name: keywords, typed literals, function calls, member paths.
    pub(super) fn word_expr(&mut self) -> PResult<Expr> {
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

    pub(super) fn first_segment(&self, name: &str) -> MemberPath {
        if self.scopes.iter().any(|v| v == name) {
            MemberPath {
                root: PathRoot::Variable(name.to_string()),
                segments: Vec::new(),
            }
        } else {
            MemberPath::property([name])
        }
    }

    /// Looks ahead from `(` for `name =`: a call with named parameters.
    pub(super) fn named_params_ahead(&mut self) -> bool {
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
    pub(super) fn call(&mut self, start: usize, name: &str) -> PResult<Expr> {
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

    pub(super) fn positional_args(&mut self) -> PResult<Vec<Expr>> {
        self.delimited(')', Self::parse_expr)
    }

    /// `cast` / `isof` arguments: `(Type)` or `(expr, Type)`.
    pub(super) fn cast_args(&mut self) -> PResult<Vec<Expr>> {
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
    pub(super) fn named_params(&mut self) -> PResult<Vec<(String, Expr)>> {
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
    pub(super) fn parse_path_tail(&mut self, mut e: Expr) -> PResult<Expr> {
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

    pub(super) fn push_segment(
        &mut self,
        e: Expr,
        name: String,
        wraps: &mut usize,
    ) -> PResult<Expr> {
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
    pub(super) fn count_options(&mut self) -> PResult<(Option<Box<Expr>>, Option<String>)> {
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
    pub(super) fn lambda(&mut self, collection: MemberPath, kind: LambdaKind) -> PResult<Expr> {
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
