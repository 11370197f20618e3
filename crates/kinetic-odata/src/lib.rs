//! OData pieces shared by the kinetic connector and its emulator:
//!
//! - [`ast`]: the `$filter` / `$orderby` expression tree;
//! - [`parse_filter`], [`parse_orderby`], [`parse_select`], [`parse_expand`]: parsers for the OData 4.01
//!   URL grammar (input already percent-decoded), with [`ParseError`]s that say where and why;
//! - [`parse_key_predicate`]: the key in `Customers('EPIC06',45)`, positional or named;
//! - [`print_expr`] and the `Display` impls: canonical OData text, the inverse of the parsers;
//! - [`QueryOptions`]: a whole query string, parsed ([`QueryOptions::from_query`]) and built
//!   ([`QueryOptions::to_query_string`]);
//! - [`csdl`]: the `$metadata` model, written and read in OData v3 (Epicor's v1 API) and v4 (v2 API).
//!
//! ```
//! use epicor_kinetic_odata::{parse_filter, print_expr, QueryOptions};
//! let e = parse_filter("ShipTos/any(s: s/State eq 'MN') and not startswith(Name,'A')").unwrap();
//! assert_eq!(parse_filter(&print_expr(&e)).unwrap(), e);
//! let q = QueryOptions::from_query("$select=CustNum,Name&$top=10").unwrap();
//! assert_eq!(QueryOptions::from_query(&q.to_query_string()).unwrap(), q);
//! ```
#![forbid(unsafe_code)]

pub mod ast;
pub mod csdl;
mod error;
mod literal;
mod parser;
mod printer;
mod query;
mod rules;

pub use ast::*;
pub use error::ParseError;
pub use parser::{parse_filter, parse_key_predicate, KeyPart};
pub use printer::{print_expr, print_orderby};
pub use query::{
    parse_expand, parse_orderby, parse_select, print_expand, print_select, ExpandItem, InlineCount,
    Levels, QueryError, QueryOptions, SelectItem,
};
pub use rules::parse_literal;
#[doc(hidden)]
pub use rules::parse_rule;

#[cfg(test)]
mod tests;
