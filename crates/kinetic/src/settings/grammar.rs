//! The connection-string grammar.
//!
//! ```text
//! string  = [pair] *( ";" [pair] )
//! pair    = key "=" value
//! key     = any text without "=" or ";"        (trimmed, any case)
//! value   = quoted / bare
//! quoted  = '"' *( not-'"' / '""' ) '"'        (and the same with ' ... ' and { ... }, where "}}" is a "}")
//! bare    = any text without ";"               (trimmed)
//! ```
//!
//! Inside quotes `;` and `=` are literal and whitespace is kept; a doubled closing quote (or brace)
//! stands for one. Empty pairs (`;;`, a trailing `;`) are ignored. The scanner walks bytes: every
//! delimiter is ASCII, and ASCII bytes never occur inside a multi-byte UTF-8 character, so slicing
//! at them is always on a character boundary.

use zeroize::Zeroizing;

use super::registry::{lookup, Property};
use super::Origin;
use crate::error::{Error, Result};

/// One `key=value` pair as written.
pub(crate) struct Pair {
    /// The key, trimmed, as written (not yet resolved against the registry).
    pub key: String,
    /// 1-based character position of the key in the input, for error messages.
    pub position: usize,
    /// The value, unquoted; wiped on drop because it may be a secret.
    pub value: Zeroizing<String>,
    /// Set when the previous pair was a secret property with a bare value: if this pair turns out
    /// to be nonsense, it is most likely the rest of that secret after an unquoted `;`, so errors
    /// must not echo it.
    pub after_bare_secret: Option<&'static Property>,
}

/// Splits a connection string into pairs, in order. Duplicates are not checked here.
pub(crate) fn parse_pairs(input: &str, origin: &Origin) -> Result<Vec<Pair>> {
    let bytes = input.as_bytes();
    let n = bytes.len();
    let mut pairs: Vec<Pair> = Vec::new();
    let mut previous_bare_secret: Option<&'static Property> = None;
    let mut i = 0;
    while i < n {
        // The key runs to the first `=` or `;`.
        let key_end = find(bytes, i, |b| b == b'=' || b == b';');
        let raw_key = &input[i..key_end];
        let key = raw_key.trim();
        let key_start = i + (raw_key.len() - raw_key.trim_start().len());
        if key_end == n || bytes[key_end] == b';' {
            if !key.is_empty() {
                return Err(no_equals(
                    input,
                    key_start,
                    key,
                    previous_bare_secret,
                    origin,
                ));
            }
            i = key_end + 1; // an empty pair
            continue;
        }
        if key.is_empty() {
            return Err(grammar_error(
                format!(
                    "{origin} has a value with no property name at character {}",
                    char_position(input, key_start)
                ),
                "write each setting as Name=Value",
            ));
        }

        // The value: skip leading whitespace, then quoted or bare.
        let mut k = key_end + 1;
        while k < n && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        let close = match bytes.get(k) {
            Some(b'"') => Some(b'"'),
            Some(b'\'') => Some(b'\''),
            Some(b'{') => Some(b'}'),
            _ => None,
        };
        let property = lookup(key);
        let (value, next, bare) = match close {
            Some(close) => {
                let (value, after) = quoted(input, k, close).ok_or_else(|| {
                    grammar_error(format!(
                            "{origin}: the value of `{}` opens `{}` at character {} and never closes it",
                            shown_key(key),
                            char::from(bytes[k]),
                            char_position(input, k)
                        ),
                        format!(
                            "close the value with `{}`; to put `{}` inside it, double it",
                            char::from(close),
                            char::from(close)
                        ),
                    )
                })?;
                let end = find(bytes, after, |b| b == b';');
                if !input[after..end].trim().is_empty() {
                    return Err(grammar_error(format!(
                            "{origin}: unexpected text after the quoted value of `{}` at character {}",
                            shown_key(key),
                            char_position(input, after)
                        ),
                        format!(
                            "end the pair with `;` after the closing `{}`, or double a `{}` that belongs to the value",
                            char::from(close),
                            char::from(close)
                        ),
                    ));
                }
                (value, end + 1, false)
            }
            None => {
                let end = find(bytes, k, |b| b == b';');
                (
                    Zeroizing::new(input[k..end].trim().to_owned()),
                    end + 1,
                    true,
                )
            }
        };
        pairs.push(Pair {
            key: key.to_owned(),
            position: char_position(input, key_start),
            value,
            after_bare_secret: previous_bare_secret,
        });
        previous_bare_secret = property.filter(|p| p.secret && bare);
        i = next;
    }
    Ok(pairs)
}

/// The value quoted from `bytes[start]` (the opening quote) to its `close`, with doubled closing
/// quotes undoubled, and the index just past the closing quote; `None` when it never closes.
fn quoted(input: &str, start: usize, close: u8) -> Option<(Zeroizing<String>, usize)> {
    let bytes = input.as_bytes();
    let mut value = Zeroizing::new(String::new());
    let mut segment = start + 1;
    let mut m = start + 1;
    while m < bytes.len() {
        if bytes[m] == close {
            if bytes.get(m + 1) == Some(&close) {
                value.push_str(&input[segment..=m]);
                m += 2;
                segment = m;
                continue;
            }
            value.push_str(&input[segment..m]);
            return Some((value, m + 1));
        }
        m += 1;
    }
    None
}

fn find(bytes: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| pred(b))
        .map_or(bytes.len(), |p| from + p)
}

/// 1-based character position of byte offset `byte`, for messages people read.
pub(crate) fn char_position(input: &str, byte: usize) -> usize {
    input.get(..byte).map_or(byte, |s| s.chars().count()) + 1
}

/// A key as it may be echoed in a message: short and printable, or not at all.
pub(crate) fn shown_key(key: &str) -> String {
    if key.chars().count() <= 40 && !key.chars().any(char::is_control) {
        key.to_owned()
    } else {
        "(a long or unprintable name)".to_owned()
    }
}

fn no_equals(
    input: &str,
    at: usize,
    key: &str,
    previous_bare_secret: Option<&'static Property>,
    origin: &Origin,
) -> Error {
    let position = char_position(input, at);
    match previous_bare_secret {
        // Most likely the tail of a secret that contains `;`: never echo it.
        Some(secret) => grammar_error(format!(
                "{origin}: the text at character {position}, after `{name}`, has no `=` (not shown: it may be part of the {name} value)",
                name = secret.name
            ),
            format!(
                "if the value of `{name}` contains `;`, quote it: {name}={{...}}",
                name = secret.name
            ),
        ),
        None => grammar_error(format!(
                "{origin}: `{}` at character {position} has no `=`",
                shown_key(key)
            ),
            "write each setting as Name=Value, separated by `;`; quote values that contain `;` with \"...\", '...' or {...}",
        ),
    }
}

/// A grammar error names the string as a whole; the message already says which source it was.
fn grammar_error(message: String, hint: impl Into<String>) -> Error {
    Error::invalid_settings(super::CONNECTION_STRING, message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        match parse_pairs(s, &Origin::ConnectionString) {
            Ok(p) => p
                .into_iter()
                .map(|p| (p.key, p.value.as_str().to_owned()))
                .collect(),
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn error(s: &str) -> String {
        match parse_pairs(s, &Origin::ConnectionString) {
            Ok(_) => panic!("{s:?} parsed"),
            Err(e) => e.to_string(),
        }
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn bare_pairs_are_trimmed() {
        assert_eq!(
            pairs("  URL = https://h ; User=u;"),
            vec![kv("URL", "https://h"), kv("User", "u")]
        );
    }

    #[test]
    fn empty_pairs_and_empty_strings_are_ignored() {
        assert!(pairs("").is_empty());
        assert!(pairs(" ; ;; ").is_empty());
        assert_eq!(pairs(";;A=1;;"), vec![kv("A", "1")]);
    }

    #[test]
    fn empty_values_are_kept() {
        assert_eq!(pairs("A=;B= "), vec![kv("A", ""), kv("B", "")]);
    }

    #[test]
    fn bare_values_may_hold_equals_and_quotes() {
        assert_eq!(
            pairs("K=abc==;L=a\"b"),
            vec![kv("K", "abc=="), kv("L", "a\"b")]
        );
    }

    #[test]
    fn each_quote_kind_makes_semicolons_and_equals_literal() {
        assert_eq!(
            pairs(r#"A="x;y=z";B='p;q';C={r;s=t}"#),
            vec![kv("A", "x;y=z"), kv("B", "p;q"), kv("C", "r;s=t")]
        );
    }

    #[test]
    fn doubled_closing_quotes_escape() {
        assert_eq!(
            pairs(r#"A="say ""hi""";B='it''s';C={a}}b}"#),
            vec![kv("A", r#"say "hi""#), kv("B", "it's"), kv("C", "a}b")]
        );
    }

    #[test]
    fn quoted_values_keep_inner_whitespace_and_other_quotes() {
        assert_eq!(
            pairs(r#"A = " x " ; B='"';C={'"{}"#),
            vec![kv("A", " x "), kv("B", "\""), kv("C", "'\"{")]
        );
    }

    #[test]
    fn multibyte_text_is_safe() {
        assert_eq!(pairs("Ü=ñ;Ä='€;'"), vec![kv("Ü", "ñ"), kv("Ä", "€;")]);
        assert!(error("é;Ü").contains("character 1"));
    }

    #[test]
    fn a_key_without_equals_names_its_position() {
        let e = error("URL=https://h;Bogus;User=u");
        assert!(e.contains("`Bogus` at character 15 has no `=`"), "{e}");
    }

    #[test]
    fn a_value_without_a_key_is_an_error() {
        assert!(error("URL=h;=x").contains("no property name at character 7"));
    }

    #[test]
    fn unclosed_quotes_are_errors() {
        let e = error("A=\"abc");
        assert!(e.contains("opens `\"` at character 3"), "{e}");
        assert!(error("A={abc").contains("never closes"));
        assert!(error("A='abc").contains("never closes"));
    }

    #[test]
    fn text_after_a_closing_quote_is_an_error() {
        let e = error("A=\"abc\"def;B=1");
        assert!(
            e.contains("unexpected text after the quoted value of `A` at character 8"),
            "{e}"
        );
        assert_eq!(pairs("A=\"abc\"  ;B=1"), vec![kv("A", "abc"), kv("B", "1")]);
    }

    #[test]
    fn the_tail_of_an_unquoted_secret_is_never_echoed() {
        let e = error("User=u;Password=abc;s3cr3t-tail;URL=h");
        assert!(!e.contains("s3cr3t-tail"), "{e}");
        assert!(e.contains("Password={...}"), "{e}");
    }
}
