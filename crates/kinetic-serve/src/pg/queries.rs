//! The parts of the rewrite that the catalog queries of drivers and toolkits need (pgJDBC's
//! `DatabaseMetaData`, SQLAlchemy's inspector): PostgreSQL's folding of names to lower case,
//! `generate_series` in `FROM`, and scalar subqueries over the catalog as the SQL layer plans
//! them. See `rewrite.rs` for the whole list.

use super::ast::{call, catalog_names, first_part, last_part};
use super::catalog::empty_names;
use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, Ident, Statement, Value,
    ValueWithSpan,
};
use epicor_kinetic_sql::datafusion::sql::sqlparser::dialect::GenericDialect;
use epicor_kinetic_sql::datafusion::sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// Whether `statement` reads catalog tables and nothing else.
pub(super) fn statement_reads_catalog_only(statement: &Statement) -> bool {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::visit_relations;
    let (mut catalog, mut other) = (false, false);
    let names = catalog_names();
    let _ = visit_relations(statement, |r| {
        let schema = (r.0.len() == 2).then(|| first_part(r)).flatten();
        let name = last_part(r).unwrap_or_default();
        match schema.as_deref() {
            Some("pg_catalog" | "information_schema") => catalog = true,
            None if names.contains(&name.as_str()) || name == "generate_series" => catalog = true,
            _ => other = true,
        }
        ControlFlow::<()>::Continue(())
    });
    catalog && !other
}

/// Folds the names of a statement that are not in double quotes to lower case (see the
/// module's documentation).
pub(super) struct FoldCase;

fn fold(ident: &mut Ident) {
    if ident.quote_style.is_none() {
        ident.value = ident.value.to_ascii_lowercase();
    }
}

impl epicor_kinetic_sql::datafusion::sql::sqlparser::ast::VisitorMut for FoldCase {
    type Break = ();

    fn pre_visit_query(
        &mut self,
        query: &mut epicor_kinetic_sql::datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<()> {
        use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
        fn items(body: &mut SetExpr) {
            match body {
                SetExpr::Select(select) => {
                    for item in &mut select.projection {
                        if let SelectItem::ExprWithAlias { alias, .. } = item {
                            fold(alias);
                        }
                    }
                }
                SetExpr::SetOperation { left, right, .. } => {
                    items(left);
                    items(right);
                }
                _ => {}
            }
        }
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                fold(&mut cte.alias.name);
                for column in &mut cte.alias.columns {
                    fold(&mut column.name);
                }
            }
        }
        items(&mut query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(
        &mut self,
        factor: &mut epicor_kinetic_sql::datafusion::sql::sqlparser::ast::TableFactor,
    ) -> ControlFlow<()> {
        use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::TableFactor;
        if let TableFactor::Table {
            alias: Some(alias), ..
        }
        | TableFactor::Derived {
            alias: Some(alias), ..
        } = factor
        {
            fold(&mut alias.name);
            for column in &mut alias.columns {
                fold(&mut column.name);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(i) => fold(i),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(fold),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `generate_series(a, b) [AS] alias(column)` with constant bounds as a derived table the SQL
/// layer plans (see the module's documentation).
pub(super) struct TableFunctions;

impl epicor_kinetic_sql::datafusion::sql::sqlparser::ast::VisitorMut for TableFunctions {
    type Break = ();

    fn pre_visit_table_factor(
        &mut self,
        factor: &mut epicor_kinetic_sql::datafusion::sql::sqlparser::ast::TableFactor,
    ) -> ControlFlow<()> {
        use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{TableAlias, TableFactor};
        let TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let schema = (name.0.len() == 2).then(|| first_part(name)).flatten();
        if last_part(name).as_deref() != Some("generate_series")
            || !matches!(schema.as_deref(), None | Some("pg_catalog"))
        {
            return ControlFlow::Continue(());
        }
        let bounds: Option<Vec<Expr>> = args
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e @ Expr::Value(_))) => Some(e.clone()),
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::UnaryOp { .. })) => None,
                _ => None,
            })
            .collect();
        let Some(bounds) = bounds.filter(|b| (2..=3).contains(&b.len())) else {
            return ControlFlow::Continue(());
        };
        let column = alias
            .as_ref()
            .and_then(|a| a.columns.first())
            .map_or_else(|| Ident::new("generate_series"), |c| c.name.clone());
        let table = alias
            .as_ref()
            .map_or_else(|| Ident::new("generate_series"), |a| a.name.clone());
        let Ok(mut parsed) = Parser::parse_sql(
            &GenericDialect {},
            "SELECT unnest(kinetic_series(NULL, NULL)) AS kinetic_series_value",
        ) else {
            return ControlFlow::Continue(());
        };
        let Some(Statement::Query(mut subquery)) = parsed.pop() else {
            return ControlFlow::Continue(());
        };
        let _ = visit_expressions_mut(&mut subquery, |e| {
            if let Expr::Function(f) = e {
                if last_part(&f.name).as_deref() == Some("kinetic_series") {
                    *e = call("kinetic_series", bounds.clone());
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if let epicor_kinetic_sql::datafusion::sql::sqlparser::ast::SetExpr::Select(select) =
            subquery.body.as_mut()
        {
            if let Some(
                epicor_kinetic_sql::datafusion::sql::sqlparser::ast::SelectItem::ExprWithAlias {
                    alias,
                    ..
                },
            ) = select.projection.first_mut()
            {
                *alias = column;
            }
        }
        *factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(TableAlias {
                explicit: true,
                name: table,
                columns: Vec::new(),
                at: None,
            }),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}

/// Whether `query` is a plain `SELECT item FROM ...` (no aggregate, grouping or set
/// operation) one of whose tables, joined by an inner join, is a catalog table that is always
/// empty here (`pg_attrdef`, `pg_sequence`, `pg_collation`, ...): its answer is no row, so as
/// a scalar subquery NULL. SQLAlchemy's columns ask for defaults, identity and collations so,
/// in correlated subqueries that the SQL layer could not plan.
pub(super) fn reads_empty_catalog_table(
    query: &epicor_kinetic_sql::datafusion::sql::sqlparser::ast::Query,
) -> bool {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{
        GroupByExpr, JoinOperator, SelectItem, SetExpr, TableFactor,
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let grouped = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(e, _) => !e.is_empty(),
    };
    let aggregate = select.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(Expr::Function(f))
        | SelectItem::ExprWithAlias {
            expr: Expr::Function(f),
            ..
        } => last_part(&f.name).is_some_and(|n| AGGREGATES.contains(&n.as_str())),
        _ => false,
    });
    if grouped || aggregate || select.having.is_some() {
        return false;
    }
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table {
            name, args: None, ..
        } => {
            let schema = (name.0.len() == 2).then(|| first_part(name)).flatten();
            matches!(schema.as_deref(), None | Some("pg_catalog"))
                && last_part(name).is_some_and(|n| empty_names().contains(&n.as_str()))
        }
        _ => false,
    };
    select.from.iter().any(|from| {
        empty(&from.relation)
            || from.joins.iter().any(|j| {
                matches!(
                    j.join_operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_)
                ) && empty(&j.relation)
            })
    })
}

/// The aggregate functions a select item may already be.
const AGGREGATES: &[&str] = &[
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
];

/// `(SELECT x FROM catalog ...)` as `(SELECT max(x) FROM catalog ...)` (see the module's
/// documentation); any other subquery stays as it is.
pub(super) fn aggregate_catalog_subquery(
    query: &mut epicor_kinetic_sql::datafusion::sql::sqlparser::ast::Query,
) {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr};
    if query.limit_clause.is_some() || !reads_catalog_only(query) {
        return;
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let grouped = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(e, _) => !e.is_empty(),
    };
    if grouped || select.having.is_some() || select.distinct.is_some() {
        return;
    }
    let [item] = select.projection.as_mut_slice() else {
        return;
    };
    let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else {
        return;
    };
    if let Expr::Function(f) = expr {
        if last_part(&f.name).is_some_and(|n| AGGREGATES.contains(&n.as_str())) {
            return;
        }
    }
    let inner = std::mem::replace(expr, Expr::Value(ValueWithSpan::from(Value::Null)));
    *expr = call("max", vec![inner]);
}

/// Whether every table `query` reads is a catalog table (`pg_catalog.*`, as the rewrite names
/// them, or `information_schema.*`), and it reads one at least.
fn reads_catalog_only(query: &epicor_kinetic_sql::datafusion::sql::sqlparser::ast::Query) -> bool {
    use epicor_kinetic_sql::datafusion::sql::sqlparser::ast::visit_relations;
    let (mut catalog, mut other) = (false, false);
    let names = catalog_names();
    let _ = visit_relations(query, |r| {
        let schema = (r.0.len() == 2).then(|| first_part(r)).flatten();
        let name = last_part(r).unwrap_or_default();
        match schema.as_deref() {
            Some("pg_catalog" | "information_schema") => catalog = true,
            None if names.contains(&name.as_str()) => catalog = true,
            _ => other = true,
        }
        ControlFlow::<()>::Continue(())
    });
    catalog && !other
}
