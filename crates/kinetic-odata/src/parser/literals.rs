//! The parser's literals: strings, GUIDs, numbers, dates and times, durations, typed literals
//! (`duration'P1D'`, `binary'...'`) and JSON arrays and objects.

use super::{is_ident_char, PResult, Parser};
use crate::ast::*;
use crate::literal;

impl<'a> Parser<'a> {
    pub(super) fn guid(&mut self) -> Expr {
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
    pub(super) fn json_string(&mut self) -> PResult<String> {
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

    pub(super) fn hex4(&mut self, esc_pos: usize) -> PResult<u32> {
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
    pub(super) fn json_value(&mut self) -> PResult<Expr> {
        if self.peek() == Some('"') {
            Ok(Expr::Literal(Literal::String(self.json_string()?)))
        } else {
            self.parse_expr()
        }
    }

    /// Items separated by commas after an opening bracket (at `self.pos`), up to `close`.
    pub(super) fn delimited(
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

    pub(super) fn parse_array(&mut self) -> PResult<Expr> {
        let items = self.delimited(']', Self::json_value)?;
        Ok(Expr::Array(items))
    }

    pub(super) fn parse_object(&mut self) -> PResult<Expr> {
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
    pub(super) fn number_or_temporal(&mut self) -> PResult<Expr> {
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

    /// `binary'..'`, `duration'..'`, `Ns.EnumType'..'`; the cursor is on the quote.
    pub(super) fn typed_literal(&mut self, start: usize, prefix: &str) -> PResult<Expr> {
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
}

/// Classifies validated number text (no leading `+`): exponent → Double, point → Decimal, else Int
/// (or Decimal text when it does not fit an `i64`).
fn number_literal(text: &str) -> Literal {
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
