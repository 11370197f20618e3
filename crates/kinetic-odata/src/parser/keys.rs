//! Key predicates: the `('EPIC06',45)` or `(Company='EPIC06',CustNum=45)` after an entity set's
//! name, parsed once for the connector's command line and the emulator alike.

use super::{PResult, Parser};
use crate::ast::{Expr, Literal};
use crate::error::ParseError;

/// One value of a key predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPart {
    /// The key property's name when written `Name=value`; `None` for a positional value.
    pub name: Option<String>,
    /// The value, a primitive literal (`'EPIC06'`, `45`, a GUID, ...).
    pub value: Literal,
    /// The value as written (trimmed), for error messages.
    pub text: String,
}

/// Parses the inside of a key predicate (already percent-decoded, without the parentheses):
/// `'EPIC06'`, `'EPIC06',45` (positional, as Epicor accepts for compound keys) or
/// `Company='EPIC06',CustNum=45` (the OData `compoundKey`). Every value must be a literal; commas
/// and `=` inside quoted strings are part of the string. Whether the names and the count fit the
/// entity's key is the caller's to check: this knows no model.
///
/// ```
/// use epicor_kinetic_odata::{parse_key_predicate, Literal};
/// let parts = parse_key_predicate("Company='EPIC,06', CustNum=45").unwrap();
/// assert_eq!(parts[0].name.as_deref(), Some("Company"));
/// assert_eq!(parts[0].value, Literal::String("EPIC,06".into()));
/// assert_eq!(parts[1].value, Literal::Int(45));
/// assert!(parse_key_predicate("'EPIC06',CustNum").is_err());
/// ```
pub fn parse_key_predicate(input: &str) -> Result<Vec<KeyPart>, ParseError> {
    let mut p = Parser::new(input);
    let mut parts = Vec::new();
    loop {
        p.skip_ws();
        parts.push(p.key_part()?);
        p.skip_ws();
        if p.at_end() {
            return Ok(parts);
        }
        p.expect(',')?;
    }
}

impl Parser<'_> {
    fn key_part(&mut self) -> PResult<KeyPart> {
        let start = self.pos;
        let name = match self.identifier() {
            Some(name) => {
                self.skip_ws();
                if self.eat('=') {
                    self.skip_ws();
                    Some(name.to_owned())
                } else {
                    // A literal that starts like a name (`true`, `null`, a GUID): read it again.
                    self.pos = start;
                    None
                }
            }
            None => None,
        };
        let value_start = self.pos;
        if self.at_end() || self.peek() == Some(',') {
            return self.error(value_start, "a key value is empty");
        }
        let value = self.parse_expr()?;
        let text = self.src[value_start..self.pos].trim().to_owned();
        let Expr::Literal(value) = value else {
            return self.error(
                value_start,
                format!(
                    "`{text}` is not a literal: a key value is a quoted string ('EPIC06'), \
                     a number or a GUID"
                ),
            );
        };
        Ok(KeyPart { name, value, text })
    }
}
