//! PostgreSQL's own spellings, rewritten into what the SQL layer plans, on the parsed
//! statement (never on its text):
//!
//! - `x OPERATOR(pg_catalog.~) 'pattern'` (psql's `\d name`) becomes a regular-expression
//!   match **without regard to case**: psql folds an unquoted name to lower case
//!   (`\d customers` asks for `^(customers)$`) while Epicor's names are CamelCase and match in
//!   any case, as the SQL layer's names do. `~` written plainly keeps its meaning.
//! - `COLLATE pg_catalog.default` is dropped (one collation here).
//! - `pg_catalog.f(...)` calls `f(...)`; `x::regclass` is `kinetic_regclass(x)` (a name
//!   becomes its table's object id, a number stays itself), `::oid` and the other object-id
//!   types become unsigned 32-bit integers, `::pg_catalog.text` and `::name` text.
//! - `x::regtype::text` is `format_type(x, NULL)` (the type's name, as psycopg reads it).
//! - `x = ANY (ARRAY[a, b])` is `x IN (a, b)` and `x <> ALL (ARRAY[a, b])` `x NOT IN (a, b)`
//!   (SQLAlchemy's reflection filters `relkind` so), before other array literals go.
//! - `LIKE pattern ESCAPE '/'` (SQLAlchemy's) is `LIKE kinetic_like_escape(pattern, '/')`: the
//!   same pattern with the backslash as its escape, the only one the SQL layer knows.
//! - `pg_get_constraintdef(oid)` is the `kinetic_definition` of that `pg_constraint` row (a
//!   scalar subquery), which SQLAlchemy parses for a foreign key's columns.
//! - Set-returning calls in a select list, as the SQL layer's `unnest` spreads them:
//!   `generate_subscripts(a, 1)` is `unnest(kinetic_subscripts(a))` and
//!   `information_schema._pg_expandarray(a)` `unnest(kinetic_expandarray(a))` (pgJDBC's
//!   primary keys), and a composite's field `(x).n` is `get_field(x, 'n')`.
//! - A scalar subquery over the catalog alone whose one item is not an aggregate
//!   (SQLAlchemy's columns: `(SELECT pg_get_expr(...) FROM pg_attrdef WHERE ...)`) takes
//!   `max` of it: the SQL layer plans a correlated scalar subquery only when it is aggregated,
//!   and a catalog subquery a client writes so has one row at most.
//! - `array_to_string(...)` (psql's `\d` reads `reloptions` through it) is NULL: no table
//!   here has options.
//! - `pg_class`, `pg_type`, ... without a schema are `pg_catalog`'s (PostgreSQL's search
//!   path always starts there).
//! - In a statement that reads the catalog alone, names not in double quotes are folded to
//!   lower case, as PostgreSQL folds them (the SQL layer keeps Epicor's case): pgJDBC writes
//!   `AS TABLE_NAME` and then `ORDER BY result.table_name`.
//! - `generate_series(a, b)` in `FROM`, with constant bounds, is a derived table of
//!   `unnest(kinetic_series(a, b))` (the SQL layer has no table functions); `a[i]` is
//!   `kinetic_element(a, i)` (from 1, NULL outside).
//! - `SHOW name` is `SELECT current_setting('name') AS name` (`SHOW TRANSACTION ISOLATION
//!   LEVEL`, SQLAlchemy's first question, `transaction_isolation`); `SHOW ALL` reads
//!   `pg_settings`.

use super::ast::{call, catalog_names, first_part, last_part};
use super::queries::{
    aggregate_catalog_subquery, reads_empty_catalog_table, statement_reads_catalog_only, FoldCase,
    TableFunctions,
};
use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, visit_relations_mut, BinaryOperator, DataType, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectNamePart, Statement, Value,
    ValueWithSpan,
};
use epicor_kinetic_sql::datafusion::sql::sqlparser::dialect::GenericDialect;
use epicor_kinetic_sql::datafusion::sql::sqlparser::parser::Parser;
use epicor_kinetic_sql::SqlError;
use std::ops::ControlFlow;

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
        "oid" | "regtype" | "regproc" | "regprocedure" | "regnamespace" | "regrole" | "regoper"
        | "regoperator" | "regconfig" | "xid" | "cid" => DataType::IntUnsigned(None),
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

/// Whether `data_type` is `regclass` (however it is spelled: `regclass`,
/// `pg_catalog.regclass`).
fn is_regclass(data_type: &DataType) -> bool {
    match data_type {
        DataType::Regclass => true,
        DataType::Custom(name, _) => {
            last_part(name).as_deref() == Some("regclass")
                && (name.0.len() == 1 || first_part(name).as_deref() == Some("pg_catalog"))
        }
        _ => false,
    }
}

/// `x::regtype::text` (a type's name, as psycopg's `TypeInfo` reads it) as
/// `format_type(x, NULL)`; any other expression stays.
fn regtype_as_text(e: &mut Expr) {
    let Expr::Cast {
        data_type, expr, ..
    } = e
    else {
        return;
    };
    if !matches!(data_type, DataType::Text) && type_for(data_type) != Some(DataType::Text) {
        return;
    }
    let Expr::Cast {
        data_type: DataType::Custom(name, _),
        expr: inner,
        ..
    } = expr.as_mut()
    else {
        return;
    };
    if last_part(name).as_deref() != Some("regtype") {
        return;
    }
    let oid = std::mem::replace(
        inner.as_mut(),
        Expr::Value(ValueWithSpan::from(Value::Null)),
    );
    *e = call(
        "format_type",
        vec![oid, Expr::Value(ValueWithSpan::from(Value::Null))],
    );
}

/// The plain arguments of a call (`None` if any is named, a wildcard or a subquery).
fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(list) = &f.args else {
        return (matches!(f.args, FunctionArguments::None)).then(Vec::new);
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// `(SELECT max(kinetic_c.kinetic_definition) FROM pg_catalog.pg_constraint kinetic_c WHERE
/// kinetic_c.oid = oid)`: what `pg_get_constraintdef(oid)` answers.
fn constraint_definition(oid: Expr) -> Expr {
    let mut e = Parser::new(&GenericDialect {})
        .try_with_sql(
            "(SELECT max(kinetic_c.kinetic_definition) FROM pg_catalog.pg_constraint AS \
             kinetic_c WHERE kinetic_c.oid = kinetic_constraint_oid)",
        )
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| null_text());
    let mut oid = Some(oid);
    let _ = visit_expressions_mut(&mut e, |inner| {
        if matches!(inner, Expr::Identifier(i) if i.value == "kinetic_constraint_oid") {
            if let Some(o) = oid.take() {
                *inner = o;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

/// What a call of a PostgreSQL function the SQL layer does not have stands for, if it is one
/// the rewrite knows (see the module's documentation).
fn function(f: &Function) -> Option<Expr> {
    let name = last_part(&f.name)?;
    let schema = (f.name.0.len() == 2).then(|| first_part(&f.name)).flatten();
    let args = plain_args(f)?;
    match (schema.as_deref(), name.as_str(), args.as_slice()) {
        (None, "pg_get_constraintdef", [oid, ..]) => Some(constraint_definition(oid.clone())),
        (None, "generate_subscripts", [array, _]) => Some(call(
            "unnest",
            vec![call("kinetic_subscripts", vec![array.clone()])],
        )),
        (Some("information_schema"), "_pg_expandarray", [array]) => Some(call(
            "unnest",
            vec![call("kinetic_expandarray", vec![array.clone()])],
        )),
        _ => None,
    }
}

/// `x = ANY (ARRAY[a, b])` as `x IN (a, b)`, `x <> ALL (ARRAY[a, b])` as `x NOT IN (a, b)`.
fn array_comparison(e: &mut Expr) {
    fn elements(right: &Expr) -> Option<Vec<Expr>> {
        match right {
            Expr::Nested(inner) => elements(inner),
            Expr::Array(array) => Some(array.elem.clone()),
            _ => None,
        }
    }
    let (left, list, negated) = match e {
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => match elements(right) {
            Some(list) => (left, list, false),
            None => return,
        },
        Expr::AllOp {
            left,
            compare_op: BinaryOperator::NotEq,
            right,
        } => match elements(right) {
            Some(list) => (left, list, true),
            None => return,
        },
        _ => return,
    };
    let expr = std::mem::replace(left.as_mut(), Expr::Value(ValueWithSpan::from(Value::Null)));
    *e = Expr::InList {
        expr: Box::new(expr),
        list,
        negated,
    };
}

/// A `LIKE` or `ILIKE` with an escape character other than the backslash, its pattern
/// rewritten to use the backslash.
fn like_escape(pattern: &mut Box<Expr>, escape_char: &mut Option<ValueWithSpan>) {
    let escape = match escape_char.as_ref().map(|v| &v.value) {
        Some(Value::SingleQuotedString(c)) if c != "\\" => c.clone(),
        _ => return,
    };
    let inner = std::mem::replace(
        pattern.as_mut(),
        Expr::Value(ValueWithSpan::from(Value::Null)),
    );
    **pattern = call(
        "kinetic_like_escape",
        vec![
            inner,
            Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(escape))),
        ],
    );
    *escape_char = None;
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
        Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } => like_escape(pattern, escape_char),
        Expr::Function(f) => {
            if let Some(instead) = function(f) {
                *e = instead;
                return;
            }
            if f.name.0.len() == 2 && first_part(&f.name).as_deref() == Some("pg_catalog") {
                f.name.0.remove(0);
                if let Some(instead) = function(f) {
                    *e = instead;
                    return;
                }
            }
            if last_part(&f.name).as_deref() == Some("array_to_string") {
                *e = null_text();
            }
        }
        Expr::Cast {
            data_type, expr, ..
        } => {
            if is_regclass(data_type) {
                let inner =
                    std::mem::replace(expr.as_mut(), Expr::Value(ValueWithSpan::from(Value::Null)));
                *e = call("kinetic_regclass", vec![inner]);
            } else if let Some(t) = type_for(data_type) {
                *data_type = t;
            }
        }
        Expr::CompoundFieldAccess { root, access_chain } => {
            use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{AccessExpr, Subscript};
            // `a.b[i]` parses as `a` with `.b` and `[i]`: the array is the name before `[i]`.
            let dotted = |chain: &[AccessExpr]| -> Option<Vec<Ident>> {
                let mut names = match root.as_ref() {
                    Expr::Identifier(i) => vec![i.clone()],
                    Expr::CompoundIdentifier(parts) => parts.clone(),
                    _ if chain.is_empty() => return Some(Vec::new()),
                    _ => return None,
                };
                for access in chain {
                    match access {
                        AccessExpr::Dot(Expr::Identifier(i)) => names.push(i.clone()),
                        _ => return None,
                    }
                }
                Some(names)
            };
            if let Some((AccessExpr::Subscript(Subscript::Index { index }), before)) =
                access_chain.split_last()
            {
                if let Some(names) = dotted(before) {
                    let index = index.clone();
                    let array = match names.len() {
                        0 => std::mem::replace(
                            root.as_mut(),
                            Expr::Value(ValueWithSpan::from(Value::Null)),
                        ),
                        1 => Expr::Identifier(names[0].clone()),
                        _ => Expr::CompoundIdentifier(names),
                    };
                    *e = call("kinetic_element", vec![array, index]);
                }
            } else if let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() {
                let field = Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(
                    field.value.clone(),
                )));
                let mut composite =
                    std::mem::replace(root.as_mut(), Expr::Value(ValueWithSpan::from(Value::Null)));
                while let Expr::Nested(inner) = composite {
                    composite = *inner;
                }
                *e = call("get_field", vec![composite, field]);
            }
        }
        Expr::Array(_) => *e = null_text(),
        Expr::Subquery(q) if unplannable_catalog_read(q) => *e = null_text(),
        Expr::Subquery(q) if reads_empty_catalog_table(q) => *e = null_text(),
        Expr::Subquery(q) => aggregate_catalog_subquery(q),
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

/// The statement `SHOW name` stands for.
fn show(variable: &[Ident]) -> Result<Statement, SqlError> {
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    // PostgreSQL's SHOW names of more than one word, and the settings they show.
    let name = match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["time", "zone"] => "timezone".to_owned(),
        ["transaction", "isolation", "level"] => "transaction_isolation".to_owned(),
        ["session", "authorization"] => "session_authorization".to_owned(),
        _ => variable
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join("."),
    };
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
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::VisitMut;
    if let Statement::ShowVariable { variable } = statement {
        *statement = show(variable)?;
    }
    if statement_reads_catalog_only(statement) {
        let _ = statement.visit(&mut FoldCase);
    }
    let _ = statement.visit(&mut TableFunctions);
    name_columns(statement);
    // Before array literals go (the pass below visits an expression's parts first).
    let _ = visit_expressions_mut(statement, |e| {
        array_comparison(e);
        regtype_as_text(e);
        ControlFlow::<()>::Continue(())
    });
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
            "SELECT kinetic_regclass('16385') AS \"?column?\", x::TEXT AS \"x\" FROM pg_catalog.pg_type"
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
    #[test]
    fn sqlalchemy_spellings_become_plain_sql() {
        assert_eq!(
            rewritten(
                "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class \
                 WHERE pg_catalog.pg_class.relkind = ANY (ARRAY[$1::VARCHAR, $2::VARCHAR]) \
                 AND relkind <> ALL (ARRAY['i'])"
            ),
            "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class \
             WHERE pg_catalog.pg_class.relkind IN ($1::VARCHAR, $2::VARCHAR) \
             AND relkind NOT IN ('i')"
        );
        assert_eq!(
            rewritten(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE $1 || '%' ESCAPE '/'"
            ),
            "SELECT nspname FROM pg_catalog.pg_namespace \
             WHERE nspname NOT LIKE kinetic_like_escape($1 || '%', '/')"
        );
        assert_eq!(
            rewritten(
                "SELECT d.objoid FROM pg_description d \
                 WHERE d.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) \
                 AND d.objoid = 'pg_class'::regclass"
            ),
            "SELECT d.objoid FROM pg_catalog.pg_description d \
             WHERE d.classoid = kinetic_regclass('pg_catalog.pg_constraint') \
             AND d.objoid = kinetic_regclass('pg_class')"
        );
        assert_eq!(
            rewritten("SELECT oid::regtype::text AS regtype, oid::oid::text AS n FROM pg_type t WHERE t.oid = to_regtype($1)"),
            "SELECT format_type(oid, NULL) AS regtype, oid::INT UNSIGNED::TEXT AS n \
             FROM pg_catalog.pg_type t WHERE t.oid = to_regtype($1)"
        );
        assert_eq!(
            rewritten("SHOW TRANSACTION ISOLATION LEVEL"),
            "SELECT current_setting('transaction_isolation') AS \"transaction_isolation\""
        );
        // A definition is read from the constraint's row.
        assert_eq!(
            rewritten(
                "SELECT pg_catalog.pg_get_constraintdef(c.oid, true) AS d FROM pg_constraint c"
            ),
            "SELECT (SELECT max(kinetic_c.kinetic_definition) FROM pg_catalog.pg_constraint AS \
             kinetic_c WHERE kinetic_c.oid = c.oid) AS d FROM pg_catalog.pg_constraint c"
        );
        // Set-returning calls in a select list, spread by unnest.
        assert_eq!(
            rewritten("SELECT unnest(i.indkey) AS a, generate_subscripts(i.indkey, 1) AS o FROM pg_index i"),
            "SELECT unnest(i.indkey) AS a, unnest(kinetic_subscripts(i.indkey)) AS o \
             FROM pg_catalog.pg_index i"
        );
        // A scalar subquery over an always empty catalog table is NULL; over another, one row.
        assert_eq!(
            rewritten(
                "SELECT (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d \
                 WHERE d.adrelid = a.attrelid) AS x, \
                 (SELECT t.typcollation FROM pg_type t WHERE t.oid = a.atttypid) AS y \
                 FROM pg_attribute a"
            ),
            "SELECT CAST(NULL AS TEXT) AS x, (SELECT max(t.typcollation) FROM \
             pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS y \
             FROM pg_catalog.pg_attribute a"
        );
    }

    #[test]
    fn pgjdbc_spellings_become_plain_sql() {
        // Names fold to lower case in a statement that reads the catalog alone...
        assert_eq!(
            rewritten(
                "SELECT result.TABLE_NAME FROM (SELECT c.relname AS TABLE_NAME, \
                 information_schema._pg_expandarray(i.indkey) AS KEYS FROM pg_catalog.pg_class c, \
                 pg_catalog.pg_index i) result WHERE (result.KEYS).x = 1 ORDER BY result.table_name"
            ),
            "SELECT result.table_name FROM (SELECT c.relname AS table_name, \
             unnest(kinetic_expandarray(i.indkey)) AS keys FROM pg_catalog.pg_class c, \
             pg_catalog.pg_index i) result WHERE get_field(result.keys, 'x') = 1 \
             ORDER BY result.table_name"
        );
        // ... and keep Epicor's case elsewhere.
        assert_eq!(
            rewritten("SELECT CustNum AS Num FROM Customers"),
            "SELECT CustNum AS Num FROM Customers"
        );
        assert_eq!(
            rewritten(
                "SELECT pos.n FROM pg_catalog.pg_constraint con, \
                 pg_catalog.generate_series(1, 32) pos(n) WHERE con.conkey[pos.n] = 1 \
                 AND (pg_catalog.current_schemas(true))[1] = 'x'"
            ),
            "SELECT pos.n FROM pg_catalog.pg_constraint con, \
             (SELECT unnest(kinetic_series(1, 32)) AS n) AS pos \
             WHERE kinetic_element(con.conkey, pos.n) = 1 \
             AND kinetic_element((current_schemas(true)), 1) = 'x'"
        );
    }
}
