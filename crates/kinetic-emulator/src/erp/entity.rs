//! OData entity sets: collections with query options, entities by key, navigation, `$count`, and writes.

use super::paging;
use super::query::{Compiler, Relation, Ties};
use super::rows::{self, ApiVersion, KeyValues, RowKind, Wire};
use super::seek::{self, Keyset, Shape};
use super::Ctx;
use crate::api_error::ApiError;
use crate::db::Db;
use crate::model::{ColType, Column, EntitySet, Navigation, Service, Table};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use epicor_kinetic_odata::{ExpandItem, Expr, Literal, QueryOptions, SelectItem};
use rusqlite::types::Value;
use rusqlite::Connection;

/// How many expansion levels a request may nest.
const MAX_EXPAND_DEPTH: usize = 4;

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

fn select_columns(rel: &Relation, items: &[SelectItem]) -> Result<Vec<usize>, ApiError> {
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

fn expand_plan(rel: &Relation, item: &ExpandItem, depth: usize) -> Result<ExpandPlan, ApiError> {
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

/// Runs `plan` with `limit` rows at most and writes the rows as a JSON array body (`[...]`).
pub fn write_rows(
    conn: &Connection,
    plan: &Plan,
    params: &[Value],
    limit: Option<u64>,
    wire: Wire,
    out: &mut Vec<u8>,
) -> Result<u64, ApiError> {
    let sql = paged(&plan.sql, limit, plan.skip);
    Ok(run_rows(conn, plan, &sql, params, &[], 0, wire, out)?.0)
}

/// `sql` with `limit` rows at most after skipping `skip`.
fn paged(sql: &str, limit: Option<u64>, skip: u64) -> String {
    match (limit, skip) {
        (Some(l), s) => format!("{sql} LIMIT {l} OFFSET {s}"),
        (None, 0) => sql.to_string(),
        (None, s) => format!("{sql} LIMIT -1 OFFSET {s}"),
    }
}

/// Runs `sql` (rows of `plan`) and writes the rows as a JSON array; returns how many, and the values
/// of the columns `key` (indexes into the relation's columns) in the last one, or in the `upto`th
/// when there are more.
#[allow(clippy::too_many_arguments)]
fn run_rows(
    conn: &Connection,
    plan: &Plan,
    sql: &str,
    params: &[Value],
    key: &[usize],
    upto: u64,
    wire: Wire,
    out: &mut Vec<u8>,
) -> Result<(u64, Option<Vec<Value>>), ApiError> {
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
    let cols: Vec<&Column> = plan.output.iter().map(|i| &plan.rel.columns[*i]).collect();
    let mut n = 0u64;
    let mut last = Vec::with_capacity(key.len());
    out.push(b'[');
    while let Some(row) = rows.next()? {
        if n > 0 {
            out.push(b',');
        }
        n += 1;
        write_object(conn, plan, &cols, row, wire, out)?;
        if n <= upto {
            last.clear();
            for i in key {
                last.push(row.get::<_, Value>(*i)?);
            }
        }
    }
    out.push(b']');
    Ok((n, (n > 0 && !key.is_empty()).then_some(last)))
}

/// Writes one page of a collection as [`write_rows`] does. A plan in key order starts at the
/// nearest position the seek cache remembers at or before `$skip` (an index seek, then a short
/// OFFSET) and remembers where the rows served end (`served` at most: a probe row for nextLink is
/// not served), both for the database's current write generation.
fn write_page(
    conn: &Connection,
    db: &Db,
    plan: &Plan,
    limit: Option<u64>,
    served: Option<u64>,
    wire: Wire,
    out: &mut Vec<u8>,
) -> Result<u64, ApiError> {
    let generation = db.generation();
    let Some(keyset) = plan.keyset.as_ref().filter(|_| generation != 0) else {
        return write_rows(conn, plan, &plan.params, limit, wire, out);
    };
    let shape = Shape::new(generation, &plan.sql, &plan.params);
    let start = if plan.skip > 0 {
        seek::cache().nearest(&shape, plan.skip)
    } else {
        None
    };
    let mark = out.len();
    let upto = served.unwrap_or(u64::MAX);
    let (n, last) = match &start {
        None => {
            let sql = paged(&plan.sql, limit, plan.skip);
            run_rows(
                conn,
                plan,
                &sql,
                &plan.params,
                &keyset.columns,
                upto,
                wire,
                out,
            )?
        }
        Some((position, key)) => {
            let sql = paged(&keyset.sql, limit, plan.skip - position);
            let mut params = plan.params.clone();
            params.extend(key.iter().cloned());
            run_rows(conn, plan, &sql, &params, &keyset.columns, upto, wire, out)?
        }
    };
    if db.generation() != generation {
        // A write committed meanwhile: the rows may be of the new data, the remembered key of the old.
        if start.is_some() {
            out.truncate(mark);
            return write_rows(conn, plan, &plan.params, limit, wire, out);
        }
        return Ok(n);
    }
    if let Some(key) = last {
        seek::cache().record(shape, plan.skip + n.min(upto), key);
    }
    Ok(n)
}

fn write_object(
    conn: &Connection,
    plan: &Plan,
    cols: &[&Column],
    row: &rusqlite::Row<'_>,
    wire: Wire,
    out: &mut Vec<u8>,
) -> Result<(), ApiError> {
    out.push(b'{');
    for (i, (idx, c)) in plan.output.iter().zip(cols).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        rows::write_json_str(out, c.name);
        out.push(b':');
        rows::write_cell(out, c, row.get_ref(*idx)?, wire);
    }
    // Real BAQ rows end with RowIdent; a `$select`ed row holds only what was selected.
    if wire.rows == RowKind::Baq && wire.real() && plan.output.len() == plan.rel.columns.len() {
        out.push(b',');
        rows::write_json_str(out, "RowIdent");
        out.push(b':');
        rows::write_json_str(out, &row_ident(&plan.rel, row)?);
    }
    for (i, e) in plan.expand.iter().enumerate() {
        if i > 0 || !plan.output.is_empty() {
            out.push(b',');
        }
        rows::write_json_str(out, e.nav.name);
        out.push(b':');
        let mut params = e.plan.params.clone();
        let offset = e.plan.rel.bound.len();
        for (k, idx) in e.parent_columns.iter().enumerate() {
            params[offset + k] = row.get::<_, Value>(*idx)?;
        }
        // One row past the cap tells a full expansion from one that would be cut.
        let limit = e.plan.top.or(e.row_cap.map(|c| c + 1));
        let n = write_rows(conn, &e.plan, &params, limit, wire, out)?;
        if let Some(cap) = e.row_cap.filter(|c| n > *c) {
            return Err(ApiError::odata(format!(
                "$expand of {} gives more than {cap} rows under one {} ([limits] \
                 max_expand_rows); add $top (at most {cap}) and $skip inside the $expand, or \
                 filter the parents",
                e.nav.name,
                plan.rel.type_name()
            )));
        }
    }
    out.push(b'}');
    Ok(())
}

/// A BAQ row's `RowIdent`: a GUID that stays the same for the same row (name-based, from the
/// query, its bound company and parameters, and the row's key), so a client may use it to find the
/// row again, as on a real server.
pub fn row_ident(rel: &Relation, row: &rusqlite::Row<'_>) -> rusqlite::Result<String> {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(rel.from.as_bytes());
    for v in &rel.bound {
        h.update([2u8]);
        h.update(rows::show_value(v).as_bytes());
    }
    for k in rel.key {
        let Some(i) = rel.columns.iter().position(|c| c.name == *k) else {
            continue;
        };
        h.update([0u8]);
        match row.get::<_, Value>(i)? {
            Value::Text(s) => h.update(s.as_bytes()),
            Value::Integer(n) => h.update(n.to_le_bytes()),
            Value::Real(f) => h.update(f.to_le_bytes()),
            _ => h.update([1u8]),
        }
    }
    let digest: [u8; 20] = h.finalize().into();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ok(uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}

/// A parsed entity path: `Customers`, `Customers('EPIC06',45)`, `Customers('EPIC06',45)/ShipTos`,
/// `Customers('EPIC06',45)/ShipTos('EPIC06',45,'')`, optionally ending in `/$count`.
#[derive(Debug)]
pub struct EntityPath {
    pub set: &'static EntitySet,
    pub key: Option<KeyValues>,
    /// Set when the path navigates from `set(key)` to a child collection.
    pub nav: Option<(&'static Navigation, &'static EntitySet, Option<KeyValues>)>,
    pub count: bool,
}

/// The methods an entity (one row, by its key) takes, for `Allow`.
pub const ENTITY_METHODS: &str = "GET, HEAD, PATCH, PUT, DELETE";
/// The methods a collection (an entity set, a navigation from a row) takes, for `Allow`.
pub const COLLECTION_METHODS: &str = "GET, HEAD, POST";

impl EntityPath {
    /// The methods this path takes: those of one row when it names one by its key, else those of
    /// a collection.
    pub fn allowed_methods(&self) -> &'static str {
        let one = match &self.nav {
            None => self.key.is_some(),
            Some((_, _, child_key)) => child_key.is_some(),
        };
        if self.count {
            "GET, HEAD"
        } else if one {
            ENTITY_METHODS
        } else {
            COLLECTION_METHODS
        }
    }
}

/// Splits `Name(keys)` into the name and the key text inside the parentheses.
pub fn split_key(segment: &str) -> Result<(&str, Option<&str>), ApiError> {
    match segment.find('(') {
        None => Ok((segment, None)),
        Some(i) => {
            let inner = segment[i + 1..].strip_suffix(')').ok_or_else(|| {
                ApiError::odata(format!("the key in `{segment}` is missing its closing ')'"))
            })?;
            Ok((&segment[..i], Some(inner)))
        }
    }
}

/// Parses a key predicate (`'EPIC06',45` or `Company='EPIC06',CustNum=45`) for `table`.
pub fn parse_key(table: &Table, text: &str) -> Result<KeyValues, ApiError> {
    let parts = split_top_level(text);
    let usage = || {
        format!(
            "the key of {} has {} values ({}), e.g. {}({})",
            table.name,
            table.key.len(),
            table.key.join(", "),
            table.name,
            table
                .key_columns()
                .map(|c| match c.ty {
                    ColType::String { .. } => "'...'".to_string(),
                    _ => "1".to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    if parts.len() != table.key.len() {
        return Err(ApiError::odata(format!(
            "{} values given: {}",
            parts.len(),
            usage()
        )));
    }
    let named = parts.iter().all(|p| key_name(p).is_some());
    let mut values: Vec<Option<Value>> = vec![None; table.key.len()];
    for (i, part) in parts.iter().enumerate() {
        let (pos, lit) = if named {
            let (name, lit) = key_name(part).expect("checked");
            let pos = table.key.iter().position(|k| *k == name).ok_or_else(|| {
                ApiError::odata(format!(
                    "`{name}` is not a key property of {}: {}",
                    table.name,
                    usage()
                ))
            })?;
            (pos, lit)
        } else {
            (i, part.as_str())
        };
        let col = table.column(table.key[pos]).expect("key column");
        let expr = epicor_kinetic_odata::parse_filter(lit.trim()).map_err(|e| {
            ApiError::odata(format!("invalid key value `{lit}` for {}: {e}", col.name))
        })?;
        let v = match (&expr, col.ty) {
            (Expr::Literal(Literal::String(s)), ColType::String { .. }) => Value::Text(s.clone()),
            (Expr::Literal(Literal::Int(n)), ColType::Int32 | ColType::Int64) => Value::Integer(*n),
            (Expr::Literal(Literal::Guid(g)), ColType::Guid) => Value::Text(g.to_lowercase()),
            _ => {
                return Err(ApiError::odata(format!(
                    "key value `{lit}` does not fit {} ({}): {}",
                    col.name,
                    col.ty.describe(),
                    usage()
                )))
            }
        };
        values[pos] = Some(v);
    }
    values
        .into_iter()
        .map(|v| v.ok_or_else(|| ApiError::odata(usage())))
        .collect()
}

fn key_name(part: &str) -> Option<(&str, &str)> {
    let eq = part.find('=')?;
    let name = part[..eq].trim();
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Some((name, &part[eq + 1..]))
    } else {
        None
    }
}

/// Splits on commas outside single-quoted strings.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    for ch in text.chars() {
        match ch {
            '\'' => {
                in_str = !in_str;
                cur.push(ch);
            }
            ',' if !in_str => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !parts.is_empty() {
        parts.push(cur);
    }
    parts
}

/// Parses the path segments after the service name.
pub fn parse_entity_path(
    svc: &'static Service,
    segs: &[String],
) -> Result<Option<EntityPath>, ApiError> {
    let Some(first) = segs.first() else {
        return Ok(None);
    };
    let (name, key_text) = split_key(first)?;
    let Some(set) = svc.entity_set(name) else {
        return Ok(None);
    };
    let key = key_text.map(|k| parse_key(set.table, k)).transpose()?;
    let mut rest = &segs[1..];
    let mut count = false;
    if rest.last().map(String::as_str) == Some("$count") {
        count = true;
        rest = &rest[..rest.len() - 1];
    }
    let nav = match rest {
        [] => None,
        [seg] => {
            if key.is_none() {
                return Err(ApiError::odata(format!(
                    "navigate from one entity: {name}(<key>)/{seg}, not from the whole set"
                )));
            }
            let (nav_name, child_key) = split_key(seg)?;
            let nav = set
                .navigations
                .iter()
                .find(|n| n.name.eq_ignore_ascii_case(nav_name))
                .ok_or_else(|| {
                    ApiError::route_not_found(format!(
                        "{} has no navigation property named '{nav_name}'{}",
                        set.name,
                        if set.navigations.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; it has: {}",
                                set.navigations
                                    .iter()
                                    .map(|n| n.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ))
                })?;
            let target = svc.entity_set(nav.target).expect("navigation target");
            let child_key = child_key.map(|k| parse_key(target.table, k)).transpose()?;
            Some((nav, target, child_key))
        }
        more => {
            return Err(ApiError::odata(format!(
                "the path `{}` is deeper than this server supports (one navigation step)",
                more.join("/")
            )))
        }
    };
    if count && (key.is_some() && nav.is_none() || nav.as_ref().is_some_and(|n| n.2.is_some())) {
        return Err(ApiError::odata(
            "$count applies to collections, not to a single entity",
        ));
    }
    Ok(Some(EntityPath {
        set,
        key,
        nav,
        count,
    }))
}

fn key_fixed(table: &Table, key: &[Value]) -> Fixed {
    Fixed(table.key.iter().copied().zip(key.iter().cloned()).collect())
}

/// The child columns a navigation fixes, with the parent key's values.
fn parent_join(parent: &EntitySet, pk: &[Value], nav: &Navigation) -> Vec<(&'static str, Value)> {
    nav.on
        .iter()
        .map(|(p, c)| {
            let pos = parent
                .table
                .key
                .iter()
                .position(|k| k == p)
                .expect("join on parent key");
            (*c, pk[pos].clone())
        })
        .collect()
}

/// Refuses a child key that is not under the parent it is addressed through
/// (`Customers('EPIC06',1)/ShipTos('EPIC06',2,'')`), for reads and writes alike.
fn child_under_parent(
    parent: &EntitySet,
    pk: &[Value],
    nav: &Navigation,
    target: &EntitySet,
    ck: &[Value],
) -> Result<(), ApiError> {
    let join = parent_join(parent, pk, nav);
    for (k, v) in target.table.key.iter().zip(ck) {
        if join.iter().any(|(c, fixed)| c == k && fixed != v) {
            return Err(ApiError::not_found(format!(
                "{} {} is not under {} {}",
                target.table.name,
                rows::describe_key(target.table, ck),
                parent.table.name,
                rows::describe_key(parent.table, pk)
            )));
        }
    }
    Ok(())
}

/// GET on an entity path.
pub async fn get(
    ctx: &Ctx,
    svc: &'static Service,
    path: EntityPath,
    raw_query: &str,
) -> Result<Response, ApiError> {
    let limits = &ctx.state.config.limits;
    let opts = super::query::checked_options(limits, raw_query)?;
    let version = ctx.version;
    let wire = ctx.wire(RowKind::Entity);
    let root = ctx.service_root(svc.name);
    // The target collection or entity and the equalities that select it.
    let (target, fixed, single, parent) = match (&path.key, &path.nav) {
        (None, None) => (
            path.set,
            Fixed(vec![("Company", Value::Text(ctx.company.clone()))]),
            None,
            None,
        ),
        (Some(k), None) => (path.set, key_fixed(path.set.table, k), Some(path.set), None),
        (Some(pk), Some((nav, target, child_key))) => {
            let mut f = parent_join(path.set, pk, nav);
            let single = match child_key {
                Some(ck) => {
                    child_under_parent(path.set, pk, nav, target, ck)?;
                    f = key_fixed(target.table, ck).0;
                    Some(*target)
                }
                None => None,
            };
            (*target, Fixed(f), single, Some((path.set, pk.clone())))
        }
        (None, Some(_)) => unreachable!("parse_entity_path requires a key before navigation"),
    };
    let page_cap = ctx.state.config.page_cap as u64;
    let strict = ctx.state.config.strict_paging;
    let next_link_mode = ctx.state.config.next_link || strict;
    // Only collections are paged.
    let start = if single.is_none() && !path.count {
        paging::start(strict, page_cap, &opts, &ctx.request_url, raw_query)?
    } else {
        paging::start(false, page_cap, &opts, &ctx.request_url, raw_query)?
    };
    let mut plan = plan_with_ties(
        Relation::entity_set(target, svc, ctx.state.db.collation()),
        &opts,
        &fixed,
        &[],
        0,
        start.ties,
    )?;
    plan.skip = start.offset;
    cap_expansions(&mut plan, limits.max_expand_rows)?;
    let count_wanted = opts.count == Some(true) || opts.inlinecount.is_some();
    let count_only = path.count;
    let set_name = target.name;
    let raw_query = raw_query.to_string();
    let self_url = ctx.request_url.clone();
    let db = ctx.state.db.clone();

    let body = ctx
        .state
        .db
        .read(move |conn| -> Result<Vec<u8>, ApiError> {
            if let Some((pset, pk)) = &parent {
                ensure_exists(conn, pset.table, pk)?;
            }
            if count_only {
                return Ok(count_rows(conn, &plan)?.to_string().into_bytes());
            }
            let mut out = Vec::with_capacity(16 * 1024);
            if let Some(set) = single {
                let mut rows_buf = Vec::new();
                let n = write_rows(conn, &plan, &plan.params, Some(1), wire, &mut rows_buf)?;
                if n == 0 {
                    let key: Vec<Value> = fixed.0.iter().map(|(_, v)| v.clone()).collect();
                    return Err(ApiError::not_found(format!(
                        "{} record not found: {}",
                        set.table.name,
                        rows::describe_key(set.table, &key)
                    )));
                }
                // Turn `[{...}]` into `{"@odata.context":...,...}`.
                let inner = &rows_buf[2..rows_buf.len() - 2];
                out.push(b'{');
                match version {
                    ApiVersion::V2 => {
                        out.extend_from_slice(b"\"@odata.context\":");
                        rows::write_json_str(
                            &mut out,
                            &format!("{root}$metadata#{}/$entity", set.name),
                        );
                    }
                    ApiVersion::V1 => {
                        out.extend_from_slice(b"\"odata.metadata\":");
                        rows::write_json_str(
                            &mut out,
                            &format!("{root}$metadata#{}/@Element", set.name),
                        );
                    }
                }
                if !inner.is_empty() {
                    out.push(b',');
                    out.extend_from_slice(inner);
                }
                out.push(b'}');
                return Ok(out);
            }
            // A collection page: the client's $top, capped by the server.
            let requested = plan.top;
            let limit = match (requested, page_cap) {
                (Some(t), 0) => Some(t),
                (None, 0) => None,
                (Some(t), cap) => Some(t.min(cap)),
                (None, cap) => Some(cap),
            };
            let capped = paging::capped(page_cap, requested);
            let count = if count_wanted {
                Some(count_rows(conn, &plan)?)
            } else {
                None
            };
            let link_key = match version {
                ApiVersion::V2 => "@odata.nextLink",
                ApiVersion::V1 => "odata.nextLink",
            };
            start_collection(
                &mut out,
                version,
                &format!("{root}$metadata#{set_name}"),
                count,
            );

            // In nextLink mode, read one row more than the page to know whether another page exists.
            let probe = if capped && next_link_mode {
                limit.map(|l| l + 1)
            } else {
                limit
            };
            let mut page = Vec::with_capacity(16 * 1024);
            let n = write_page(conn, &db, &plan, probe, limit, wire, &mut page)?;
            let more = capped && next_link_mode && limit.is_some_and(|l| n > l);
            if more {
                // Drop the probe row: find the start of the last top-level object.
                let cut = last_top_level_object(&page);
                page.truncate(cut);
                page.push(b']');
            }
            out.extend_from_slice(&page);
            if more {
                let l = limit.expect("capped page has a limit");
                let next = paging::next_link(
                    strict,
                    &self_url,
                    &raw_query,
                    plan.skip + l,
                    requested.map(|t| t - l),
                );
                out.push(b',');
                rows::write_json_str(&mut out, link_key);
                out.push(b':');
                rows::write_json_str(&mut out, &next);
            }
            out.push(b'}');
            Ok(out)
        })
        .await?;
    if count_only {
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    Ok(json_response(StatusCode::OK, body, version))
}

/// The number of rows a plan selects (ignoring paging).
pub fn count_rows(conn: &Connection, plan: &Plan) -> Result<i64, ApiError> {
    Ok(conn
        .prepare_cached(&plan.count_sql)?
        .query_row(rusqlite::params_from_iter(plan.params.iter()), |r| r.get(0))?)
}

/// Writes the start of an OData collection, up to and including `"value":`: the context URL and,
/// when asked for, the count (`@odata.count` as a number in v2, `odata.count` as a string in v1).
pub fn start_collection(out: &mut Vec<u8>, version: ApiVersion, context: &str, count: Option<i64>) {
    let (ctx_key, count_key) = match version {
        ApiVersion::V2 => ("@odata.context", "@odata.count"),
        ApiVersion::V1 => ("odata.metadata", "odata.count"),
    };
    out.push(b'{');
    rows::write_json_str(out, ctx_key);
    out.push(b':');
    rows::write_json_str(out, context);
    if let Some(n) = count {
        out.push(b',');
        rows::write_json_str(out, count_key);
        out.push(b':');
        match version {
            ApiVersion::V2 => out.extend_from_slice(n.to_string().as_bytes()),
            ApiVersion::V1 => rows::write_json_str(out, &n.to_string()),
        }
    }
    out.extend_from_slice(b",\"value\":");
}

/// The byte offset of the comma (or `[`) before the last top-level object of a JSON array of objects.
pub(crate) fn last_top_level_object(page: &[u8]) -> usize {
    // Walk the array tracking depth and strings; remember where each top-level element starts.
    let mut depth = 0i32;
    let mut in_str = false;
    let mut escaped = false;
    let mut last_sep = 1;
    for (i, b) in page.iter().enumerate() {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth -= 1,
            b',' if depth == 1 => last_sep = i,
            _ => {}
        }
    }
    last_sep
}

fn ensure_exists(conn: &Connection, table: &Table, key: &[Value]) -> Result<(), ApiError> {
    let cond: Vec<String> = table
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("\"{k}\" = ?{}", i + 1))
        .collect();
    let sql = format!(
        "SELECT 1 FROM \"{}\" WHERE {}",
        table.name,
        cond.join(" AND ")
    );
    let found = conn
        .prepare_cached(&sql)?
        .exists(rusqlite::params_from_iter(key.iter()))?;
    if found {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "{} record not found: {}",
            table.name,
            rows::describe_key(table, key)
        )))
    }
}

/// A JSON body with the OData version header of the API version.
pub fn json_response(status: StatusCode, body: Vec<u8>, version: ApiVersion) -> Response {
    let (ct, v) = match version {
        ApiVersion::V2 => (
            "application/json; odata.metadata=minimal; charset=utf-8",
            "4.0",
        ),
        ApiVersion::V1 => (
            "application/json; odata=minimalmetadata; charset=utf-8",
            "3.0",
        ),
    };
    let vh = if version == ApiVersion::V2 {
        "OData-Version"
    } else {
        "DataServiceVersion"
    };
    (
        status,
        [
            (header::CONTENT_TYPE, ct),
            (
                header::HeaderName::from_static(if vh == "OData-Version" {
                    "odata-version"
                } else {
                    "dataserviceversion"
                }),
                v,
            ),
        ],
        body,
    )
        .into_response()
}

/// Tables whose key extends `table`'s key within the service: the rows that hang under a row.
pub fn child_tables(svc: &Service, table: &Table) -> Vec<&'static Table> {
    svc.entity_sets
        .iter()
        .map(|e| e.table)
        .filter(|t| {
            t.name != table.name && t.key.len() > table.key.len() && t.key.starts_with(table.key)
        })
        .collect()
}

/// A written row's JSON object, refused when its `Company` is one the user may not use.
fn parse_row(
    ctx: &Ctx,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let row = rows::json_object(body, "the row's properties, e.g. {\"Name\": \"Acme\"}")?;
    super::row_company_allowed(ctx, &row, "Company")?;
    Ok(row)
}

/// POST to an entity set: creates a row; 201 with the row.
pub async fn create(
    ctx: &Ctx,
    svc: &'static Service,
    path: EntityPath,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (table, mut obj) = match (&path.key, &path.nav) {
        (None, None) => (path.set.table, parse_row(ctx, body)?),
        (Some(pk), Some((nav, target, None))) => {
            // POST to a navigation collection: the parent's key fills the join columns.
            let mut obj = parse_row(ctx, body)?;
            for (p, c) in nav.on {
                let pos = path
                    .set
                    .table
                    .key
                    .iter()
                    .position(|k| k == p)
                    .expect("join on key");
                let v = match &pk[pos] {
                    Value::Text(s) => serde_json::Value::String(s.clone()),
                    Value::Integer(i) => serde_json::Value::from(*i),
                    _ => serde_json::Value::Null,
                };
                obj.insert(c.to_string(), v);
            }
            (target.table, obj)
        }
        _ => {
            return Err(ApiError::method_not_allowed(
                "POST creates rows in an entity set or a navigation collection",
                ENTITY_METHODS,
            ))
        }
    };
    let company = ctx.company.clone();
    obj.entry("Company")
        .or_insert_with(|| serde_json::Value::String(company.clone()));
    let key = ctx
        .state
        .db
        .write(move |tx| rows::insert_row(tx, table, &obj, &company))
        .await?;
    let set = svc
        .entity_set_for_table(table.name)
        .expect("table in service");
    let key_text = key_literal(&key);
    let location = format!("{}{}({key_text})", ctx.service_root(svc.name), set.name);
    let path = EntityPath {
        set,
        key: Some(key),
        nav: None,
        count: false,
    };
    let mut resp = get(ctx, svc, path, "").await?;
    *resp.status_mut() = StatusCode::CREATED;
    if let Ok(v) = location.parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// A key as it is written in a URL: `'EPIC06',45`.
pub fn key_literal(key: &[Value]) -> String {
    key.iter()
        .map(|v| match v {
            Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Value::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The table and key an entity path addresses, for PATCH and DELETE.
fn addressed(path: &EntityPath) -> Result<(&'static Table, KeyValues), ApiError> {
    match (&path.key, &path.nav) {
        (Some(k), None) => Ok((path.set.table, k.clone())),
        (Some(pk), Some((nav, target, Some(ck)))) => {
            child_under_parent(path.set, pk, nav, target, ck)?;
            Ok((target.table, ck.clone()))
        }
        _ => Err(ApiError::method_not_allowed(
            "PATCH and DELETE address one entity by its key, e.g. Customers('EPIC06',45)",
            COLLECTION_METHODS,
        )),
    }
}

/// PATCH (or PUT/MERGE): partial update; 204.
pub async fn update(ctx: &Ctx, path: EntityPath, body: &[u8]) -> Result<Response, ApiError> {
    let (table, key) = addressed(&path)?;
    let obj = parse_row(ctx, body)?;
    ctx.state
        .db
        .write(move |tx| rows::update_row(tx, table, &key, &obj))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DELETE: removes the row and the rows under it; 204.
pub async fn delete(
    ctx: &Ctx,
    svc: &'static Service,
    path: EntityPath,
) -> Result<Response, ApiError> {
    let (table, key) = addressed(&path)?;
    let children = child_tables(svc, table);
    ctx.state
        .db
        .write(move |tx| rows::delete_row(tx, table, &key, &children))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_row_is_cut_at_the_last_top_level_comma() {
        let page = br#"[{"a":"x,}"},{"b":[{"c":1},{"d":2}]},{"e":3}]"#;
        let cut = last_top_level_object(page);
        assert_eq!(&page[..cut], br#"[{"a":"x,}"},{"b":[{"c":1},{"d":2}]}"#);
    }

    #[test]
    fn keys_parse_positionally_and_by_name() {
        let t = &crate::model::CUSTOMER;
        assert_eq!(
            parse_key(t, "'EPIC06',45").unwrap(),
            vec![Value::Text("EPIC06".into()), Value::Integer(45)]
        );
        assert_eq!(
            parse_key(t, "CustNum=45,Company='EPIC,06'").unwrap(),
            vec![Value::Text("EPIC,06".into()), Value::Integer(45)]
        );
        assert!(parse_key(t, "45")
            .unwrap_err()
            .message
            .contains("has 2 values"));
        assert!(parse_key(t, "'EPIC06','x'")
            .unwrap_err()
            .message
            .contains("does not fit CustNum"));
    }
}
