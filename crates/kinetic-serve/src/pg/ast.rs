//! Small pieces of the PostgreSQL rewrite that `rewrite.rs` and `queries.rs` both use: the
//! parts of a name, a plain function call, and the catalog's table names.

use super::catalog::pg_catalog_names;
use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, ObjectNamePart,
    Value, ValueWithSpan,
};
use epicor_kinetic_sql::datafusion::sql::sqlparser::dialect::GenericDialect;
use epicor_kinetic_sql::datafusion::sql::sqlparser::parser::Parser;
use std::sync::OnceLock;

/// The last part of a name, in lower case (`pg_catalog.pg_class`: `pg_class`).
pub(super) fn last_part(name: &ObjectName) -> Option<String> {
    name.0.last().and_then(|p| match p {
        ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        _ => None,
    })
}

/// The first part of a name, in lower case (`pg_catalog.pg_class`: `pg_catalog`).
pub(super) fn first_part(name: &ObjectName) -> Option<String> {
    name.0.first().and_then(|p| match p {
        ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        _ => None,
    })
}

/// A call of `name(args...)`, every argument plain.
pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    let template = format!(
        "{name}({})",
        (0..args.len())
            .map(|_| "NULL")
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut f = Parser::new(&GenericDialect {})
        .try_with_sql(&template)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| Expr::Value(ValueWithSpan::from(Value::Null)));
    if let Expr::Function(Function {
        args: FunctionArguments::List(list),
        ..
    }) = &mut f
    {
        for (slot, arg) in list.args.iter_mut().zip(args) {
            *slot = FunctionArg::Unnamed(FunctionArgExpr::Expr(arg));
        }
    }
    f
}

/// Every `pg_catalog` table's name (computed once).
pub(super) fn catalog_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(pg_catalog_names)
}
