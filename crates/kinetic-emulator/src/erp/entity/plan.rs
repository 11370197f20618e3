//! Query plans: OData query options compiled against one relation (`$select`, `$expand` with its
//! caps, the fixed equalities a plan starts from), and the row count of a plan.

use crate::api_error::ApiError;
use crate::erp::query::{Compiler, Relation, Ties};
use crate::erp::seek::{self, Keyset};
use crate::model::Navigation;
use epicor_kinetic_odata::{ExpandItem, QueryOptions, SelectItem};
use rusqlite::types::Value;
use rusqlite::Connection;

/// How many expansion levels a request may nest.
pub(super) const MAX_EXPAND_DEPTH: usize = 4;

/// A query compiled against one relation, ready to run (possibly once per parent row, for `$expand`).
#[derive(Debug, Clone)]
pub struct Plan {
    pub rel: Relation,
    /// Columns written to the output (all, or the `$select`ed ones), as indexes into `rel.columns`.
    pub output: Vec<usize>,
    /// `SELECT ... FROM ... WHERE ... ORDER BY ...` without LIMIT.
    pub sql: String,
    pub count_sql: String,
    /// Parameters; for an expansion the first `join_params` are the parent's values, set per row.
    pub params: Vec<Value>,
    pub join_params: usize,
    pub top: Option<u64>,
    pub skip: u64,
    pub expand: Vec<ExpandPlan>,
    /// Set when the rows are in key order and can be sought by key (for the seek cache).
    pub keyset: Option<Keyset>,
}

/// One `$expand`ed navigation.
#[derive(Debug, Clone)]
pub struct ExpandPlan {
    pub nav: &'static Navigation,
    /// Most rows this expansion may return under one parent when the client gave no nested `$top`
    /// (`[limits] max_expand_rows`); more is a 400, never a silent cut. `None`: no cap.
    pub row_cap: Option<u64>,
    /// Indexes (into the parent's columns) of the parent columns the join needs, in `nav.on` order.
    pub parent_columns: Vec<usize>,
    pub plan: Plan,
}

/// Fixed column equalities a plan starts from: the company, a parent key for navigation.
#[derive(Debug, Clone, Default)]
pub struct Fixed(pub Vec<(&'static str, Value)>);

/// Compiles query options for `rel`. `join` names child columns bound per parent row (for `$expand`);
/// `fixed` adds equalities with known values.
pub fn plan(
    rel: Relation,
    opts: &QueryOptions,
    fixed: &Fixed,
    join: &[&'static str],
    depth: usize,
) -> Result<Plan, ApiError> {
    plan_with_ties(rel, opts, fixed, join, depth, Ties::KeyAscending)
}

/// As [`plan`], with rows that `$orderby` leaves tied ordered as `ties` says (expansions keep
/// ascending ties: they are not paged by links).
pub fn plan_with_ties(
    rel: Relation,
    opts: &QueryOptions,
    fixed: &Fixed,
    join: &[&'static str],
    depth: usize,
    ties: Ties,
) -> Result<Plan, ApiError> {
    let mut c = Compiler::new(rel.clone(), "t");
    let mut conds: Vec<String> = Vec::new();
    for col in join {
        let p = c.param(Value::Null);
        conds.push(format!("t.\"{col}\" = {p}"));
    }
    for (col, v) in &fixed.0 {
        let p = c.param(v.clone());
        conds.push(format!("t.\"{col}\" = {p}"));
    }
    if let Some(f) = &opts.filter {
        conds.push(c.filter(f)?);
    }
    let order = c.order_by(&opts.orderby, ties)?;
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let cols: Vec<String> = rel
        .columns
        .iter()
        .map(|col| format!("t.\"{}\"", col.name))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} AS t{where_sql} ORDER BY {order}",
        cols.join(", "),
        rel.from
    );
    let count_sql = format!("SELECT count(*) FROM {} AS t{where_sql}", rel.from);
    let params = c.into_params();
    // The seek cache knows key order only as ascending.
    let keyset = if join.is_empty() && rel.set.is_some() && ties == Ties::KeyAscending {
        let fixed_columns: Vec<&str> = fixed.0.iter().map(|(col, _)| *col).collect();
        seek::key_order(&rel, &opts.orderby, &fixed_columns).map(|columns| {
            let names: Vec<String> = columns
                .iter()
                .map(|i| format!("t.\"{}\"", rel.columns[*i].name))
                .collect();
            let marks: Vec<String> = (1..=columns.len())
                .map(|i| format!("?{}", params.len() + i))
                .collect();
            // After the equalities, before the filter: SQLite then seeks by it even when the filter
            // bounds a key column too.
            let mut conds = conds.clone();
            conds.insert(
                fixed.0.len(),
                format!("({}) > ({})", names.join(", "), marks.join(", ")),
            );
            // The same order, without the constant columns SQLite would sort by again.
            let order: Vec<String> = names.iter().map(|n| format!("{n} ASC")).collect();
            Keyset {
                sql: format!(
                    "SELECT {} FROM {} AS t WHERE {} ORDER BY {}",
                    cols.join(", "),
                    rel.from,
                    conds.join(" AND "),
                    order.join(", ")
                ),
                columns,
            }
        })
    } else {
        None
    };

    let output = match &opts.select {
        None => (0..rel.columns.len()).collect(),
        Some(items) => select_columns(&rel, items)?,
    };
    let mut expand = Vec::new();
    for item in &opts.expand {
        expand.push(expand_plan(&rel, item, depth)?);
    }
    Ok(Plan {
        output,
        sql,
        count_sql,
        params,
        join_params: join.len(),
        top: opts.top,
        skip: opts.skip.unwrap_or(0),
        expand,
        keyset,
        rel,
    })
}

pub(super) fn select_columns(rel: &Relation, items: &[SelectItem]) -> Result<Vec<usize>, ApiError> {
    let mut out: Vec<usize> = Vec::new();
    for item in items {
        match item {
            SelectItem::Star => return Ok((0..rel.columns.len()).collect()),
            SelectItem::Path(path) => {
                let [name] = path.as_slice() else {
                    return Err(ApiError::odata(format!(
                        "$select path `{}` is not supported: properties of {} are primitive",
                        path.join("/"),
                        rel.type_name()
                    )));
                };
                let idx = rel
                    .columns
                    .iter()
                    .position(|c| c.name == name)
                    .ok_or_else(|| {
                        ApiError::odata(format!(
                            "Could not find a property named '{name}' on type '{}'",
                            rel.type_name()
                        ))
                    })?;
                if !out.contains(&idx) {
                    out.push(idx);
                }
            }
            #[allow(unreachable_patterns)]
            other => {
                return Err(ApiError::odata(format!(
                    "this server does not support the $select item {other:?}"
                )))
            }
        }
    }
    Ok(out)
}

pub(super) fn expand_plan(
    rel: &Relation,
    item: &ExpandItem,
    depth: usize,
) -> Result<ExpandPlan, ApiError> {
    if depth >= MAX_EXPAND_DEPTH {
        return Err(ApiError::odata(format!(
            "$expand may nest at most {MAX_EXPAND_DEPTH} levels"
        )));
    }
    let (Some(set), Some(service)) = (rel.set, rel.service) else {
        return Err(ApiError::odata(
            "$expand needs navigation properties; this query has none",
        ));
    };
    let [name] = item.path.as_slice() else {
        return Err(ApiError::odata(format!(
            "$expand path `{}` is not supported; expand one navigation property at a time, nesting with ($expand=...)",
            item.path.join("/")
        )));
    };
    if item.is_ref || item.is_count {
        return Err(ApiError::odata(
            "$expand with /$ref or /$count is not supported by this server",
        ));
    }
    let nav = set
        .navigations
        .iter()
        .find(|n| n.name == name)
        .ok_or_else(|| {
            ApiError::odata(format!(
                "Could not find a navigation property named '{name}' on type '{}'",
                rel.type_name()
            ))
        })?;
    let target = service
        .entity_set(nav.target)
        .ok_or_else(|| ApiError::internal("navigation target missing from the model"))?;
    let parent_columns = nav
        .on
        .iter()
        .map(|(p, _)| {
            rel.columns
                .iter()
                .position(|c| c.name == *p)
                .expect("join column")
        })
        .collect();
    let join: Vec<&'static str> = nav.on.iter().map(|(_, c)| *c).collect();
    let plan = plan(
        Relation::entity_set(target, service, rel.collation),
        &item.options,
        &Fixed::default(),
        &join,
        depth + 1,
    )?;
    Ok(ExpandPlan {
        nav,
        row_cap: None,
        parent_columns,
        plan,
    })
}

/// Caps the rows of every expansion of `plan` (at all levels) under one parent at `max`: a nested
/// `$top` above it is refused now, no `$top` is checked while writing (see [`ExpandPlan::row_cap`]).
/// Nested expansions multiply (parents x children x grandchildren), so each level is capped.
pub fn cap_expansions(plan: &mut Plan, max: u64) -> Result<(), ApiError> {
    for e in &mut plan.expand {
        match e.plan.top {
            Some(t) if t > max => {
                return Err(ApiError::odata(format!(
                    "$top={t} inside $expand of {} is above this server's limit of {max} rows \
                     per parent ([limits] max_expand_rows)",
                    e.nav.name
                )))
            }
            Some(_) => e.row_cap = None,
            None => e.row_cap = Some(max),
        }
        cap_expansions(&mut e.plan, max)?;
    }
    Ok(())
}

/// The number of rows a plan selects (ignoring paging).
pub fn count_rows(conn: &Connection, plan: &Plan) -> Result<i64, ApiError> {
    Ok(conn
        .prepare_cached(&plan.count_sql)?
        .query_row(rusqlite::params_from_iter(plan.params.iter()), |r| r.get(0))?)
}
