//! OData entity sets: collections with query options, entities by key, navigation, `$count`, and writes.
//! Here the handlers; the [`plan`]s, the [`keys`] of entity paths and the [`json`] writer beside.

mod json;
mod keys;
mod plan;

pub use json::{json_response, row_ident, start_collection, write_rows, PageCut};
pub use keys::{
    key_literal, parse_entity_path, parse_key, split_key, EntityPath, COLLECTION_METHODS,
    ENTITY_METHODS,
};
pub use plan::{cap_expansions, count_rows, plan, plan_with_ties, ExpandPlan, Fixed, Plan};

use super::paging;
use super::query::Relation;
use super::rows::{self, ApiVersion, RowKind};
use super::Ctx;
use crate::api_error::ApiError;
use crate::model::{Service, Table};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use json::write_page;
use keys::{addressed, child_under_parent, key_fixed, parent_join};
use rusqlite::types::Value;
use rusqlite::Connection;

/// GET on an entity path.
pub async fn get(
    ctx: &Ctx,
    svc: &'static Service,
    path: EntityPath,
    raw_query: &str,
) -> Result<Response, ApiError> {
    let limits = &ctx.state.config.limits;
    let opts = super::options::checked_options(limits, raw_query)?;
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
            let cut = PageCut::new(plan.top, plan.skip, page_cap, next_link_mode, strict);
            let count = if count_wanted {
                Some(count_rows(conn, &plan)?)
            } else {
                None
            };
            start_collection(
                &mut out,
                version,
                &format!("{root}$metadata#{set_name}"),
                count,
            );
            let mut page = Vec::with_capacity(16 * 1024);
            let n = write_page(conn, &db, &plan, cut.probe(), cut.limit(), wire, &mut page)?;
            cut.finish(&mut out, page, n, version, &self_url, &raw_query);
            Ok(out)
        })
        .await?;
    if count_only {
        return Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response());
    }
    Ok(json_response(StatusCode::OK, body, version))
}

fn ensure_exists(conn: &Connection, table: &Table, key: &[Value]) -> Result<(), ApiError> {
    if rows::row_exists(conn, table, key)? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "{} record not found: {}",
            table.name,
            rows::describe_key(table, key)
        )))
    }
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
