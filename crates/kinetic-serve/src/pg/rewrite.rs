//! PostgreSQL's own spellings, rewritten into what the SQL layer plans, on the parsed
//! statement (never on its text):
//!
//! - `x OPERATOR(pg_catalog.~) 'pattern'` (psql's `\d name`) becomes a regular-expression
//!   match **without regard to case**: psql folds an unquoted name to lower case
//!   (`\d customers` asks for `^(customers)$`) while Epicor's names are CamelCase and match in
//!   any case, as the SQL layer's names do. `~` written plainly keeps its meaning.
//! - `COLLATE pg_catalog.default` is dropped (one collation here).
//! - `pg_catalog.f(...)` calls `f(...)`; `x::regclass`, `::oid` and the other object-id types
//!   become unsigned 32-bit integers, `::pg_catalog.text` and `::name` text.
//! - `array_to_string(...)` (psql's `\d` reads `reloptions` through it) is NULL: no table
//!   here has options.
//! - `pg_class`, `pg_type`, ... without a schema are `pg_catalog`'s (PostgreSQL's search
//!   path always starts there).
//! - `SHOW name` is `SELECT current_setting('name') AS name`; `SHOW ALL` reads `pg_settings`.

use super::catalog::pg_catalog_names;
use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, visit_relations_mut, BinaryOperator, DataType, Expr, Ident, ObjectName,
    ObjectNamePart, Statement, Value, ValueWithSpan,
};
use epicor_kinetic_sql::datafusion::sql::sqlparser::dialect::GenericDialect;
use epicor_kinetic_sql::datafusion::sql::sqlparser::parser::Parser;
use epicor_kinetic_sql::SqlError;
use std::ops::ControlFlow;
use std::sync::OnceLock;

fn last_part(name: &ObjectName) -> Option<String> {
    name.0.last().and_then(|p| match p {
        ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        _ => None,
    })
}

fn first_part(name: &ObjectName) -> Option<String> {
    name.0.first().and_then(|p| match p {
        ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        _ => None,
    })
}

/// The operator `OPERATOR(pg_catalog.op)` stands for.
fn operator(parts: &[String]) -> Option<BinaryOperator> {
    Some(match parts.last()?.as_str() {
        "~" | "~*" => BinaryOperator::PGRegexIMatch,
        "!~" | "!~*" => BinaryOperator::PGRegexNotIMatch,
        "=" => BinaryOperator::Eq,
        "<>" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "~~" => BinaryOperator::PGLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        _ => return None,
    })
}

/// The type a PostgreSQL-only type name is read as, if it is one.
fn type_for(data_type: &DataType) -> Option<DataType> {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    if let DataType::Array(ArrayElemTypeDef::SquareBracket(inner, size)) = data_type {
        return type_for(inner)
            .map(|t| DataType::Array(ArrayElemTypeDef::SquareBracket(Box::new(t), *size)));
    }
    let DataType::Custom(name, _) = data_type else {
        return None;
    };
    let qualified_elsewhere =
        name.0.len() > 1 && first_part(name).is_some_and(|s| s != "pg_catalog");
    if qualified_elsewhere {
        return None;
    }
    Some(match last_part(name)?.as_str() {
        "oid" | "regclass" | "regtype" | "regproc" | "regprocedure" | "regnamespace"
        | "regrole" | "regoper" | "regoperator" | "regconfig" | "xid" | "cid" => {
            DataType::IntUnsigned(None)
        }
        "text" | "name" | "char" | "bpchar" | "int2vector" | "oidvector" | "varchar" => {
            DataType::Text
        }
        "int2" => DataType::SmallInt(None),
        "int4" => DataType::Int(None),
        "int8" => DataType::BigInt(None),
        "bool" => DataType::Boolean,
        "float4" => DataType::Real,
        "float8" => DataType::DoublePrecision,
        "numeric" => DataType::Numeric(
            epicor_kinetic_sql::datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
        ),
        _ => return None,
    })
}

fn null_text() -> Expr {
    Expr::Cast {
        kind: epicor_kinetic_sql::datafusion::sql::sqlparser::ast::CastKind::Cast,
        expr: Box::new(Expr::Value(ValueWithSpan::from(Value::Null))),
        data_type: DataType::Text,
        array: false,
        format: None,
    }
}

fn expression(e: &mut Expr) {
    match e {
        Expr::BinaryOp { op, .. } => {
            if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                if let Some(plain) = operator(parts) {
                    *op = plain;
                }
            }
        }
        Expr::Collate { expr, .. } => {
            let inner =
                std::mem::replace(expr.as_mut(), Expr::Value(ValueWithSpan::from(Value::Null)));
            *e = inner;
            expression(e);
        }
        Expr::Function(f) => {
            if f.name.0.len() == 2 && first_part(&f.name).as_deref() == Some("pg_catalog") {
                f.name.0.remove(0);
            }
            if last_part(&f.name).as_deref() == Some("array_to_string") {
                *e = null_text();
            }
        }
        Expr::Cast { data_type, .. } => {
            if let Some(t) = type_for(data_type) {
                *data_type = t;
            }
        }
        Expr::Array(_) => *e = null_text(),
        Expr::Subquery(q) if unplannable_catalog_read(q) => *e = null_text(),
        _ => {}
    }
}

/// Whether `query` reads the catalog through a table function given columns (psql's `\d`
/// lists a publication's columns with `generate_series(0, array_upper(pr.prattrs, 1))`): a
/// lateral call the SQL layer cannot plan. Every catalog table such a query could draw rows
/// from is empty here (there are no publications), so its answer is NULL.
fn unplannable_catalog_read(
    query: &epicor_kinetic_sql::datafusion::sql::sqlparser::ast::Query,
) -> bool {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{
        visit_relations, FunctionArg, FunctionArgExpr, TableFactor, Visit, Visitor,
    };
    struct Lateral(bool);
    impl Visitor for Lateral {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                args: Some(args), ..
            } = factor
            {
                let literal = |a: &FunctionArg| {
                    matches!(
                        a,
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(_)))
                    )
                };
                if !args.args.iter().all(literal) {
                    self.0 = true;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut lateral = Lateral(false);
    let _ = query.visit(&mut lateral);
    let mut catalog = false;
    let _ = visit_relations(query, |r| {
        catalog |= r.0.len() == 2 && first_part(r).as_deref() == Some("pg_catalog");
        ControlFlow::<()>::Continue(())
    });
    lateral.0 && catalog
}

fn catalog_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(pg_catalog_names)
}

/// The statement `SHOW name` stands for.
fn show(variable: &[Ident]) -> Result<Statement, SqlError> {
    let name = variable
        .iter()
        .map(|i| i.value.as_str())
        .collect::<Vec<_>>()
        .join(".");
    let sql = if name.eq_ignore_ascii_case("all") {
        "SELECT name, setting, short_desc AS description FROM pg_catalog.pg_settings".to_owned()
    } else {
        format!(
            "SELECT current_setting('{}') AS \"{}\"",
            name.replace('\'', "''"),
            name.to_ascii_lowercase().replace('"', "\"\"")
        )
    };
    let mut parsed = Parser::parse_sql(&GenericDialect {}, &sql)
        .map_err(|e| SqlError::invalid(format!("SHOW {name}: {e}")))?;
    parsed
        .pop()
        .ok_or_else(|| SqlError::invalid(format!("SHOW {name}: nothing to show")))
}

/// The name PostgreSQL gives an unnamed select-list item that is not a column reference
/// (`version()`: `version`; `x::text`: `x`; anything else `?column?`); `None` for a column.
fn pg_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => None,
        Expr::Function(f) => Some(last_part(&f.name).unwrap_or_else(|| "?column?".into())),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => match expr.as_ref() {
            Expr::Identifier(i) => Some(i.value.clone()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
            inner => pg_name(inner),
        },
        _ => Some("?column?".into()),
    }
}

/// Names a select list's unnamed items as PostgreSQL does (see [`pg_name`]); where two would
/// share a name (which PostgreSQL allows and the SQL layer does not), the later ones are
/// numbered (`?column?_2`).
fn name_items(select: &mut epicor_kinetic_sql::datafusion::sql::sqlparser::ast::Select) {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::SelectItem;
    let mut taken = std::collections::HashSet::new();
    for item in &select.projection {
        match item {
            SelectItem::ExprWithAlias { alias, .. } => {
                taken.insert(alias.value.to_ascii_lowercase());
            }
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => {
                taken.insert(i.value.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    for item in &mut select.projection {
        let SelectItem::UnnamedExpr(e) = item else {
            continue;
        };
        let Some(name) = pg_name(e) else {
            continue;
        };
        let mut unique = name.clone();
        let mut n = 1;
        while !taken.insert(unique.to_ascii_lowercase()) {
            n += 1;
            unique = format!("{name}_{n}");
        }
        let expr = std::mem::replace(e, Expr::Value(ValueWithSpan::from(Value::Null)));
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('"', unique),
        };
    }
}

fn name_query(query: &mut epicor_kinetic_sql::datafusion::sql::sqlparser::ast::Query) {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            name_query(&mut cte.query);
        }
    }
    name_set(&mut query.body);
}

fn name_set(body: &mut epicor_kinetic_sql::datafusion::sql::sqlparser::ast::SetExpr) {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{SetExpr, TableFactor};
    match body {
        SetExpr::Select(select) => {
            name_items(select);
            let derived = |f: &mut TableFactor| {
                if let TableFactor::Derived { subquery, .. } = f {
                    name_query(subquery);
                }
            };
            for from in &mut select.from {
                derived(&mut from.relation);
                for join in &mut from.joins {
                    derived(&mut join.relation);
                }
            }
        }
        SetExpr::Query(q) => name_query(q),
        SetExpr::SetOperation { left, right, .. } => {
            name_set(left);
            name_set(right);
        }
        _ => {}
    }
}

/// Names the unnamed items of every select list of `statement`, subqueries included.
fn name_columns(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |e| {
        match e {
            Expr::Subquery(q)
            | Expr::Exists { subquery: q, .. }
            | Expr::InSubquery { subquery: q, .. } => name_query(q),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    if let Statement::Query(query) = statement {
        name_query(query);
    }
}

/// Rewrites one parsed statement (see the module's documentation).
pub fn rewrite(statement: &mut Statement) -> Result<(), SqlError> {
    if let Statement::ShowVariable { variable } = statement {
        *statement = show(variable)?;
    }
    name_columns(statement);
    let _ = visit_expressions_mut(statement, |e| {
        expression(e);
        ControlFlow::<()>::Continue(())
    });
    let names = catalog_names();
    let _ = visit_relations_mut(statement, |relation| {
        // `pg_catalog.generate_series(...)`: the function, whose name needs no schema.
        if relation.0.len() == 2
            && first_part(relation).as_deref() == Some("pg_catalog")
            && last_part(relation).is_some_and(|n| !names.contains(&n.as_str()))
        {
            relation.0.remove(0);
        } else if relation.0.len() == 1 {
            if let Some(name) = last_part(relation) {
                if names.contains(&name.as_str()) {
                    relation
                        .0
                        .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut s = Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite(&mut s).unwrap();
        s.to_string()
    }

    #[test]
    fn psql_spellings_become_plain_sql() {
        assert_eq!(
            rewritten(
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname \
                 OPERATOR(pg_catalog.~) '^(customers)$' COLLATE pg_catalog.default \
                 AND pg_catalog.pg_table_is_visible(c.oid)"
            ),
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname ~* '^(customers)$' \
             AND pg_table_is_visible(c.oid)"
        );
        assert_eq!(
            rewritten("SELECT '16385'::pg_catalog.regclass, x::name FROM pg_type"),
            "SELECT '16385'::INT UNSIGNED AS \"?column?\", x::TEXT AS \"x\" FROM pg_catalog.pg_type"
        );
        assert_eq!(
            rewritten("SELECT a ~ 'x' AS m FROM Customers"),
            "SELECT a ~ 'x' AS m FROM Customers",
            "a plain ~ and an Epicor table stay"
        );
        assert_eq!(
            rewritten("SELECT 1 + 1, NULL, count(*), count(*) FROM t"),
            "SELECT 1 + 1 AS \"?column?\", NULL AS \"?column?_2\", count(*) AS \"count\", \
             count(*) AS \"count_2\" FROM t",
            "PostgreSQL's names, made unique"
        );
        assert_eq!(
            rewritten("SHOW TimeZone"),
            "SELECT current_setting('TimeZone') AS \"timezone\""
        );
        assert_eq!(
            rewritten("SHOW \"a'b\"\"c\""),
            "SELECT current_setting('a''b\"c') AS \"a'b\"\"c\""
        );
    }
}
