//! How the emulator compares text: as Epicor's SQL Server does by default, or byte for byte.
//!
//! Every Epicor Kinetic database runs on Microsoft SQL Server with the default collation
//! `SQL_Latin1_General_CP1_CI_AS` (shared/EPICOR.md, "The database underneath"):
//!
//! - comparisons (`eq`, `ne`, `lt`, ..., `in`, keys, joins, `$orderby`) ignore case;
//! - they ignore trailing spaces too: SQL Server pads the shorter side with spaces before it
//!   compares (ANSI/ISO SQL-92, whatever the collation), so `'N30 ' = 'N30'`;
//! - `LEN` does not count trailing spaces;
//! - `LIKE` (what `startswith`, `endswith` and `contains` become) and `CHARINDEX` (`indexof`)
//!   ignore case, and on Unicode (`nvarchar`) columns trailing spaces are significant there.
//!
//! [`Collation::Ci`] plays that (the default); [`Collation::Binary`] compares bytes, for tests
//! that want a strict server. The choice is baked into the schema (each text column is declared
//! `COLLATE EPICOR_CI` or `COLLATE BINARY`, so keys and indexes follow it and stay useful) and
//! into the `$filter` compiler (comparisons of computed text name the collation explicitly).

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The SQLite name of the case- and trailing-space-insensitive collation.
pub const CI_NAME: &str = "EPICOR_CI";

/// How text compares (`collation` in the configuration, `--collation` on the command line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Collation {
    /// SQL Server's `SQL_Latin1_General_CP1_CI_AS`, as every Epicor server: case and trailing
    /// spaces ignored by comparisons, `length` without trailing spaces.
    #[default]
    Ci,
    /// Byte for byte: case and trailing spaces count. No Epicor server does this; it is for
    /// tests that must not depend on the server's collation.
    Binary,
}

impl Collation {
    /// The SQLite collation name.
    pub fn sql_name(self) -> &'static str {
        match self {
            Collation::Ci => CI_NAME,
            Collation::Binary => "BINARY",
        }
    }

    /// The configuration's spelling (`ci`, `binary`).
    pub fn as_str(self) -> &'static str {
        match self {
            Collation::Ci => "ci",
            Collation::Binary => "binary",
        }
    }

    /// Parses the configuration's spelling.
    pub fn parse(text: &str) -> Option<Collation> {
        match text.to_ascii_lowercase().as_str() {
            "ci" => Some(Collation::Ci),
            "binary" => Some(Collation::Binary),
            _ => None,
        }
    }
}

/// `a` against `b` as [`Collation::Ci`] orders them: trailing spaces dropped, then character by
/// character in lower case. A total order (SQLite's indexes need one).
pub fn compare_ci(a: &str, b: &str) -> Ordering {
    // Called for every comparison in a key's B-tree (`Company` leads every key): the common
    // cases first, without iterator adaptors (tests run the emulator unoptimised).
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (a, b) = (trim_spaces(a), trim_spaces(b));
    if a.is_ascii() && b.is_ascii() {
        let n = a.len().min(b.len());
        let mut i = 0;
        while i < n {
            let (x, y) = (a[i].to_ascii_lowercase(), b[i].to_ascii_lowercase());
            if x != y {
                return x.cmp(&y);
            }
            i += 1;
        }
        return a.len().cmp(&b.len());
    }
    // Not ASCII: character by character in lower case (both are valid UTF-8, trimmed of ASCII
    // spaces only).
    let (a, b) = (
        std::str::from_utf8(a).unwrap_or_default(),
        std::str::from_utf8(b).unwrap_or_default(),
    );
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// Bytes without their trailing spaces.
fn trim_spaces(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b' '] = bytes {
        bytes = rest;
    }
    bytes
}

/// Text in lower case, as the case-insensitive text functions compare it.
pub fn fold(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(text.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    } else {
        std::borrow::Cow::Owned(text.to_lowercase())
    }
}

/// Registers [`CI_NAME`] and the case-insensitive text functions on a connection (every
/// connection that reads the schema needs them, whichever collation it uses).
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_collation(CI_NAME, compare_ci)?;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // `contains`, `startswith`, `endswith` ignoring case (SQL Server's LIKE under a CI
    // collation); null when either side is null, as SQL functions are.
    for (name, test) in [
        (
            "odata_ci_contains",
            (|a: &str, b: &str| a.contains(b)) as fn(&str, &str) -> bool,
        ),
        ("odata_ci_startswith", |a: &str, b: &str| a.starts_with(b)),
        ("odata_ci_endswith", |a: &str, b: &str| a.ends_with(b)),
    ] {
        conn.create_scalar_function(name, 2, flags, move |ctx| {
            let a = ctx.get::<Option<String>>(0)?;
            let b = ctx.get::<Option<String>>(1)?;
            Ok(match (a, b) {
                (Some(a), Some(b)) => Some(test(&fold(&a), &fold(&b))),
                _ => None,
            })
        })?;
    }
    // `indexof` ignoring case (CHARINDEX): the 0-based character position, -1 when absent.
    conn.create_scalar_function("odata_ci_indexof", 2, flags, |ctx| {
        let a = ctx.get::<Option<String>>(0)?;
        let b = ctx.get::<Option<String>>(1)?;
        Ok(match (a, b) {
            (Some(a), Some(b)) => {
                let (a, b) = (fold(&a), fold(&b));
                Some(match a.find(b.as_ref()) {
                    Some(byte) => a[..byte].chars().count() as i64,
                    None => -1,
                })
            }
            _ => None,
        })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_trailing_spaces_are_ignored() {
        assert_eq!(compare_ci("N30", "n30  "), Ordering::Equal);
        assert_eq!(compare_ci("abc", "ABC"), Ordering::Equal);
        assert_eq!(compare_ci("Ärger", "ärger "), Ordering::Equal);
        // Leading spaces count.
        assert_ne!(compare_ci(" abc", "abc"), Ordering::Equal);
        assert_eq!(compare_ci("a", "B"), Ordering::Less);
        assert_eq!(compare_ci("B", "a"), Ordering::Greater);
        assert_eq!(compare_ci("ab", "ab c"), Ordering::Less);
        assert_eq!(compare_ci("", "   "), Ordering::Equal);
    }

    #[test]
    fn functions_ignore_case_and_propagate_null() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let one = |sql: &str| -> Option<i64> { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            one("SELECT odata_ci_contains('Precision Machine', 'MACHINE')"),
            Some(1)
        );
        assert_eq!(
            one("SELECT odata_ci_startswith('Precision', 'prec')"),
            Some(1)
        );
        assert_eq!(one("SELECT odata_ci_endswith('abc ', 'C')"), Some(0));
        assert_eq!(one("SELECT odata_ci_indexof('xxAbc', 'aB')"), Some(2));
        assert_eq!(one("SELECT odata_ci_indexof('xx', 'aB')"), Some(-1));
        assert_eq!(one("SELECT odata_ci_contains(NULL, 'a')"), None);
        assert_eq!(
            one("SELECT 'ABC  ' = 'abc' COLLATE EPICOR_CI").map(|v| v == 1),
            Some(true)
        );
    }
}
