//! Business-object methods: `POST .../{Service}/{Method}` with named parameters, answered as
//! `{"returnObj": ..., "parameters": {...}}`. GetByID, GetList and GetRows also answer GET.

use super::entity::{self, json_response, Fixed};
use super::query::Relation;
use super::rows::{self, RowKind, Wire};
use super::whereclause;
use super::Ctx;
use crate::api_error::ApiError;
use crate::model::{Column, EntitySet, Service, Table};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use epicor_kinetic_odata::QueryOptions;
use rusqlite::types::Value;
use rusqlite::Connection;
use serde_json::{Map, Value as J};

/// Method parameters, from a JSON body or a query string.
struct Params(Map<String, J>);

impl Params {
    fn get(&self, name: &str) -> Option<&J> {
        self.0.get(name).or_else(|| {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }
    fn string(&self, name: &str) -> Result<String, ApiError> {
        match self.get(name) {
            None | Some(J::Null) => Ok(String::new()),
            Some(J::String(s)) => Ok(s.clone()),
            Some(other) => Err(ApiError::bad_request(format!(
                "parameter {name} must be a string, not {other}"
            ))),
        }
    }
    fn int(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some(J::Null) => Ok(default),
            Some(J::Number(n)) => n.as_i64().ok_or_else(|| {
                ApiError::bad_request(format!("parameter {name} must be an integer, not {n}"))
            }),
            Some(J::String(s)) => s.trim().parse().map_err(|_| {
                ApiError::bad_request(format!("parameter {name} must be an integer, not \"{s}\""))
            }),
            Some(other) => Err(ApiError::bad_request(format!(
                "parameter {name} must be an integer, not {other}"
            ))),
        }
    }
    fn bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some(J::Null) => Ok(false),
            Some(J::Bool(b)) => Ok(*b),
            Some(J::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(J::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "parameter {name} must be true or false, not {other}"
            ))),
        }
    }
}

fn params_of(method: &Method, query: &str, body: &[u8]) -> Result<Params, ApiError> {
    if method == Method::GET || method == Method::HEAD {
        let mut m = Map::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_encoding::percent_decode_str(k)
                .decode_utf8_lossy()
                .into_owned();
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned();
            m.insert(k, J::String(v));
        }
        return Ok(Params(m));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params(Map::new()));
    }
    rows::json_object(body, "method parameters by name, e.g. {\"custNum\": 12}").map(Params)
}

/// The read-only methods that also take GET, their parameters in the query string (scalar ones
/// only: GetBySysRowIDs's array of ids cannot ride in a query, so it is POST only). The OpenAPI
/// documents list GET for exactly these.
pub const READ_ON_GET: &[&str] = &["GetByID", "GetList", "GetRows", "GetBySysRowID"];

/// Dispatches a BO method call.
pub async fn call(
    ctx: &Ctx,
    svc: &'static Service,
    name: &str,
    method: Method,
    query: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let readonly = READ_ON_GET.contains(&name);
    if method != Method::POST && !(readonly && (method == Method::GET || method == Method::HEAD)) {
        return Err(ApiError::method_not_allowed(
            format!(
                "{}/{name} is called with POST{}",
                svc.name,
                if readonly { " or GET" } else { "" }
            ),
            if readonly { "GET, HEAD, POST" } else { "POST" },
        ));
    }
    let p = params_of(&method, query, body)?;
    let body = match name {
        "GetByID" => get_by_id(ctx, svc, &p).await?,
        "GetList" => get_rows(ctx, svc, &p, true).await?,
        "GetRows" => get_rows(ctx, svc, &p, false).await?,
        "Update" => update(ctx, svc, &p, false).await?,
        "UpdateExt" => update(ctx, svc, &p, true).await?,
        "DeleteByID" => delete_by_id(ctx, svc, &p).await?,
        "GetBySysRowID" => get_by_sys_row_ids(ctx, svc, &p, false).await?,
        "GetBySysRowIDs" => get_by_sys_row_ids(ctx, svc, &p, true).await?,
        n if n.starts_with("GetNew") => get_new(ctx, svc, &n["GetNew".len()..], &p)?,
        other => {
            return Err(ApiError::route_not_found(format!(
                "{} has no method {other}",
                svc.name
            )))
        }
    };
    Ok(json_response(StatusCode::OK, body, ctx.version))
}

/// The primary key of the service's main table from the `GetByID` parameters.
fn id_key(ctx: &Ctx, svc: &Service, p: &Params) -> Result<Vec<Value>, ApiError> {
    let table = svc.primary().table;
    let mut key = vec![Value::Text(ctx.company.clone())];
    for (param, col) in svc.id_params.iter().zip(table.key_columns().skip(1)) {
        let v = p.get(param).ok_or_else(|| {
            ApiError::bad_request(format!(
                "parameter {param} is required, e.g. {{\"{param}\": {}}}",
                if matches!(col.ty, crate::model::ColType::String { .. }) {
                    "\"ABC\""
                } else {
                    "1"
                }
            ))
        })?;
        key.push(
            rows::json_to_sql(col, v)
                .map_err(|m| ApiError::bad_request(format!("parameter {param}: {m}")))?,
        );
    }
    Ok(key)
}

/// The row-state members after a tableset row's columns: `"BitFlag":0,"RowMod":""` as real servers
/// send them (`"RowMod":""` alone when tidy).
fn row_state(wire: Wire) -> &'static [u8] {
    if wire.real() {
        b",\"BitFlag\":0,\"RowMod\":\"\"}"
    } else {
        b",\"RowMod\":\"\"}"
    }
}

/// Closes a tableset object: real tablesets carry `ExtensionTables: []` beside the row tables.
fn end_tableset(out: &mut Vec<u8>, wire: Wire) {
    if wire.real() {
        out.extend_from_slice(b",\"ExtensionTables\":[]");
    }
    out.push(b'}');
}

/// Writes `[{...,"RowMod":""},...]` for the rows of `table` matching `cond` (SQL over alias t).
fn write_table(
    conn: &Connection,
    table: &Table,
    cols: &[&'static Column],
    cond: &str,
    params: &[Value],
    wire: Wire,
    out: &mut Vec<u8>,
) -> Result<u64, ApiError> {
    let list: Vec<String> = cols.iter().map(|c| format!("t.\"{}\"", c.name)).collect();
    let order: Vec<String> = table.key.iter().map(|k| format!("t.\"{k}\"")).collect();
    let sql = format!(
        "SELECT {} FROM \"{}\" AS t WHERE {cond} ORDER BY {}",
        list.join(", "),
        table.name,
        order.join(", ")
    );
    let mut st = conn.prepare_cached(&sql)?;
    let mut rs = st.query(rusqlite::params_from_iter(params.iter()))?;
    let mut n = 0;
    out.push(b'[');
    while let Some(row) = rs.next()? {
        if n > 0 {
            out.push(b',');
        }
        n += 1;
        out.push(b'{');
        rows::write_members(out, cols, row, wire)?;
        out.extend_from_slice(row_state(wire));
    }
    out.push(b']');
    Ok(n)
}

fn all_columns(table: &Table) -> Vec<&'static Column> {
    let cols: &'static [Column] = table.columns;
    cols.iter().collect()
}

/// Writes the whole tableset for the given primary keys: the primary rows and every child table's rows.
fn write_tableset(
    conn: &Connection,
    svc: &Service,
    keys: &[Vec<Value>],
    wire: Wire,
    out: &mut Vec<u8>,
) -> Result<(), ApiError> {
    out.push(b'{');
    for (i, es) in svc.entity_sets.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        rows::write_json_str(out, es.table.name);
        out.push(b':');
        let prefix_len = svc.primary().table.key.len();
        let cond: Vec<String> = es.table.key[..prefix_len]
            .iter()
            .enumerate()
            .map(|(j, k)| format!("t.\"{k}\" = ?{}", j + 1))
            .collect();
        let cond = cond.join(" AND ");
        // Concatenate the per-parent arrays into one.
        out.push(b'[');
        let mut first = true;
        for key in keys {
            let mut buf = Vec::new();
            let n = write_table(
                conn,
                es.table,
                &all_columns(es.table),
                &cond,
                key,
                wire,
                &mut buf,
            )?;
            if n > 0 {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(&buf[1..buf.len() - 1]);
            }
        }
        out.push(b']');
    }
    end_tableset(out, wire);
    Ok(())
}

async fn get_by_id(ctx: &Ctx, svc: &'static Service, p: &Params) -> Result<Vec<u8>, ApiError> {
    let key = id_key(ctx, svc, p)?;
    let wire = ctx.wire(RowKind::Tableset);
    ctx.state
        .db
        .read(move |conn| {
            let table = svc.primary().table;
            if !rows::row_exists(conn, table, &key)? {
                return Err(ApiError::not_found(format!(
                    "Record not found. {}: {}",
                    table.name,
                    rows::describe_key(table, &key)
                )));
            }
            let mut out = b"{\"returnObj\":".to_vec();
            write_tableset(conn, svc, &[key], wire, &mut out)?;
            out.push(b'}');
            Ok(out)
        })
        .await
}

/// GetList (list columns of the primary table) and GetRows (the whole tableset), paged.
async fn get_rows(
    ctx: &Ctx,
    svc: &'static Service,
    p: &Params,
    list: bool,
) -> Result<Vec<u8>, ApiError> {
    let primary = svc.primary();
    let table = primary.table;
    let mut clause = p.string(&format!("whereClause{}", table.name))?;
    if clause.is_empty() {
        clause = p.string("whereClause")?;
    }
    let limits = &ctx.state.config.limits;
    if clause.len() > limits.max_expression_bytes {
        return Err(ApiError::business(
            format!(
                "Invalid whereClause: it is {} bytes long; this server accepts at most {} bytes \
                 ([limits] max_expression_bytes)",
                clause.len(),
                limits.max_expression_bytes
            ),
            table.name,
        ));
    }
    let (filter, orderby) = whereclause::parse(&clause, table.name)
        .map_err(|e| ApiError::business(format!("Invalid whereClause: {e}"), table.name))?;
    let page_size = p.int("pageSize", 0)?;
    let page = p.int("absolutePage", 0)?;
    let max = limits.max_top_skip;
    if page_size < 0 || page < 0 || page_size as u64 > max {
        return Err(ApiError::bad_request(format!(
            "pageSize must be from 0 to {max} and absolutePage at least 0 ([limits] \
             max_top_skip); got pageSize {page_size}, absolutePage {page}"
        )));
    }
    // absolutePage counts from 1; 0 is taken as the first page too. Checked: both are client's.
    let skipped = (page.max(1) as u64 - 1).checked_mul(page_size as u64);
    let (top, skip) = match skipped {
        _ if page_size == 0 => (None, None),
        Some(skip) if skip <= max => (Some(page_size as u64 + 1), Some(skip)),
        _ => {
            return Err(ApiError::bad_request(format!(
                "absolutePage {page} of pageSize {page_size} starts past row {max}, the most \
                 this server skips ([limits] max_top_skip); use a smaller absolutePage"
            )))
        }
    };
    let opts = QueryOptions {
        filter,
        orderby,
        top,
        skip,
        ..QueryOptions::default()
    };
    let fixed = Fixed(vec![("Company", Value::Text(ctx.company.clone()))]);
    let plan = entity::plan(
        Relation::entity_set(primary, svc, ctx.state.db.collation()),
        &opts,
        &fixed,
        &[],
        0,
    )
    .map_err(|e| ApiError::business(format!("Invalid whereClause: {}", e.message), table.name))?;
    let wire = ctx.wire(RowKind::Tableset);
    ctx.state
        .db
        .read(move |conn| {
            let mut sql = plan.sql.clone();
            if let Some(t) = plan.top {
                sql.push_str(&format!(" LIMIT {t} OFFSET {}", plan.skip));
            }
            let mut st = conn.prepare_cached(&sql)?;
            let mut rs = st.query(rusqlite::params_from_iter(plan.params.iter()))?;
            let mut keys: Vec<Vec<Value>> = Vec::new();
            let list_cols: Vec<(usize, &Column)> = table
                .list_columns
                .iter()
                .map(|n| {
                    let i = table
                        .columns
                        .iter()
                        .position(|c| c.name == *n)
                        .expect("list column");
                    (i, &table.columns[i])
                })
                .collect();
            let key_idx: Vec<usize> = table
                .key
                .iter()
                .map(|k| {
                    table
                        .columns
                        .iter()
                        .position(|c| c.name == *k)
                        .expect("key")
                })
                .collect();
            let mut list_out = Vec::new();
            let mut more = false;
            while let Some(row) = rs.next()? {
                if page_size > 0 && keys.len() as i64 == page_size {
                    more = true;
                    break;
                }
                keys.push(
                    key_idx
                        .iter()
                        .map(|i| row.get::<_, Value>(*i))
                        .collect::<Result<_, _>>()?,
                );
                if list {
                    list_out.push(if keys.len() > 1 { b',' } else { b'[' });
                    list_out.push(b'{');
                    for (j, (i, c)) in list_cols.iter().enumerate() {
                        if j > 0 {
                            list_out.push(b',');
                        }
                        rows::write_json_str(&mut list_out, c.name);
                        list_out.push(b':');
                        rows::write_cell(&mut list_out, c, row.get_ref(*i)?, wire);
                    }
                    list_out.extend_from_slice(row_state(wire));
                }
            }
            let mut out = b"{\"returnObj\":".to_vec();
            if list {
                out.extend_from_slice(format!("{{\"{}List\":", table.name).as_bytes());
                if keys.is_empty() {
                    out.extend_from_slice(b"[]");
                } else {
                    out.extend_from_slice(&list_out);
                    out.push(b']');
                }
                end_tableset(&mut out, wire);
            } else {
                write_tableset(conn, svc, &keys, wire, &mut out)?;
            }
            out.extend_from_slice(format!(",\"parameters\":{{\"morePages\":{more}}}}}").as_bytes());
            Ok(out)
        })
        .await
}

/// `GetNew{Table}`: returns the given tableset with a new row (defaults, RowMod "A") appended.
fn get_new(
    ctx: &Ctx,
    svc: &'static Service,
    table_name: &str,
    p: &Params,
) -> Result<Vec<u8>, ApiError> {
    let es: &EntitySet = svc.entity_set_for_table(table_name).ok_or_else(|| {
        ApiError::route_not_found(format!("{} has no method GetNew{table_name}", svc.name))
    })?;
    let table = es.table;
    let mut ds = match p.get("ds") {
        None | Some(J::Null) => Map::new(),
        Some(J::Object(m)) => m.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "parameter ds must be a tableset object, not {other}"
            )))
        }
    };
    // The tableset is only echoed back, but its rows name companies as Update's do.
    super::tableset_companies_allowed(ctx, &ds)?;
    let wire = ctx.wire(RowKind::Tableset);
    let mut row = Map::new();
    for c in table.columns {
        let v = match c.name {
            "Company" => J::String(ctx.company.clone()),
            "SysRowID" => J::String(uuid::Uuid::new_v4().hyphenated().to_string()),
            // Real servers write a new row with the same types as a read one (v1 decimals as
            // strings, SysRevID a number); the tidy shapes had plain JSON numbers here.
            _ if wire.real() => rows::cell_json(c, &rows::default_value(c), wire),
            _ => default_json(c),
        };
        row.insert(c.name.to_string(), v);
    }
    // Parent keys of a child row come as parameters (GetNewShipTo(ds, custNum), GetNewOrderDtl(ds, orderNum)).
    for (param, col) in svc
        .id_params
        .iter()
        .zip(svc.primary().table.key.iter().skip(1))
    {
        if table.name != svc.primary().table.name {
            let v = p.get(param).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "parameter {param} is required to create a {table_name} row"
                ))
            })?;
            row.insert(col.to_string(), v.clone());
        }
    }
    if wire.real() {
        row.insert("BitFlag".into(), J::from(0));
    }
    row.insert("RowMod".into(), J::String("A".into()));
    match ds
        .entry(table.name.to_string())
        .or_insert_with(|| J::Array(Vec::new()))
    {
        J::Array(a) => a.push(J::Object(row)),
        _ => {
            return Err(ApiError::bad_request(format!(
                "ds.{} must be an array of rows",
                table.name
            )))
        }
    }
    if wire.real() {
        // The whole tableset comes back, as from GetByID: every row table and ExtensionTables.
        let mut full = Map::new();
        for es in svc.entity_sets {
            let rows = ds.remove(es.table.name).unwrap_or(J::Array(Vec::new()));
            full.insert(es.table.name.to_string(), rows);
        }
        full.extend(ds);
        full.entry("ExtensionTables")
            .or_insert_with(|| J::Array(Vec::new()));
        ds = full;
    }
    Ok(serde_json::to_vec(&serde_json::json!({"parameters": {"ds": ds}})).expect("json"))
}

/// `GetBySysRowID(id)` (one row, 404 when none) and `GetBySysRowIDs(ids)` (the rows found): the
/// tableset of the primary rows with those SysRowIDs.
async fn get_by_sys_row_ids(
    ctx: &Ctx,
    svc: &'static Service,
    p: &Params,
    many: bool,
) -> Result<Vec<u8>, ApiError> {
    let table = svc.primary().table;
    let guid = |v: &J| -> Result<String, ApiError> {
        v.as_str()
            .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
            .map(|g| g.hyphenated().to_string())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "a SysRowID is a GUID such as \"{}\", not {v}",
                    uuid::Uuid::nil()
                ))
            })
    };
    let ids: Vec<String> =
        if many {
            match p.get("ids") {
                Some(J::Array(a)) => a.iter().map(guid).collect::<Result<_, _>>()?,
                // GET: ids=a,b (or one id).
                Some(J::String(s)) => s
                    .split(',')
                    .filter(|x| !x.trim().is_empty())
                    .map(|x| guid(&J::String(x.to_string())))
                    .collect::<Result<_, _>>()?,
                _ => return Err(ApiError::bad_request(
                    "parameter ids is required: an array of SysRowIDs, e.g. {\"ids\": [\"...\"]}",
                )),
            }
        } else {
            let id = p.get("id").ok_or_else(|| {
                ApiError::bad_request(
                    "parameter id is required: the row's SysRowID, e.g. {\"id\": \"...\"}",
                )
            })?;
            vec![guid(id)?]
        };
    if ids.len() > 1_000 {
        return Err(ApiError::bad_request(format!(
            "GetBySysRowIDs takes at most 1000 ids; {} were given",
            ids.len()
        )));
    }
    let company = ctx.company.clone();
    let wire = ctx.wire(RowKind::Tableset);
    ctx.state
        .db
        .read(move |conn| {
            let key_list: Vec<String> = table.key.iter().map(|k| format!("\"{k}\"")).collect();
            let sql = format!(
                "SELECT {} FROM \"{}\" WHERE \"Company\" = ?1 AND \"SysRowID\" = ?2",
                key_list.join(", "),
                table.name
            );
            let mut keys: Vec<Vec<Value>> = Vec::new();
            for id in &ids {
                let mut st = conn.prepare_cached(&sql)?;
                let mut rs = st.query(rusqlite::params![company, id])?;
                if let Some(r) = rs.next()? {
                    let key: Vec<Value> = (0..table.key.len())
                        .map(|i| r.get::<_, Value>(i))
                        .collect::<Result<_, _>>()?;
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                } else if !many {
                    return Err(ApiError::not_found(format!(
                        "Record not found. {}: SysRowID='{id}' in company {company}",
                        table.name
                    )));
                }
            }
            let mut out = b"{\"returnObj\":".to_vec();
            write_tableset(conn, svc, &keys, wire, &mut out)?;
            out.push(b'}');
            Ok(out)
        })
        .await
}

fn default_json(c: &Column) -> J {
    match rows::default_value(c) {
        Value::Null => J::Null,
        Value::Integer(i) if c.ty == crate::model::ColType::Boolean => J::Bool(i != 0),
        Value::Integer(i) => J::from(i),
        Value::Real(f) => J::from(f),
        Value::Text(s) if c.ty == crate::model::ColType::Date => J::String(format!("{s}T00:00:00")),
        Value::Text(s) => J::String(s),
        Value::Blob(_) => J::Null,
    }
}

async fn delete_by_id(ctx: &Ctx, svc: &'static Service, p: &Params) -> Result<Vec<u8>, ApiError> {
    let key = id_key(ctx, svc, p)?;
    let table = svc.primary().table;
    let children = entity::child_tables(svc, table);
    ctx.state
        .db
        .write(move |tx| rows::delete_row(tx, table, &key, &children))
        .await?;
    Ok(b"{}".to_vec())
}

/// `Update(ds)` applies rows by RowMod ("A" add, "U" update, "D" delete, "" unchanged) in one
/// transaction: all or nothing. `UpdateExt(ds, continueProcessingOnError, rollbackParentOnChildError)`
/// adds or updates each row by whether it exists, and with continueProcessingOnError reports failing
/// rows in `BOUpdError` while keeping the others.
async fn update(
    ctx: &Ctx,
    svc: &'static Service,
    p: &Params,
    ext: bool,
) -> Result<Vec<u8>, ApiError> {
    let ds = match p.get("ds") {
        Some(J::Object(m)) => m.clone(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "parameter ds is required: the tableset, e.g. {{\"ds\": {{\"{}\": [{{...,\"RowMod\":\"U\"}}]}}}}",
                svc.primary().table.name
            )))
        }
    };
    super::tableset_companies_allowed(ctx, &ds)?;
    let continue_on_error = ext && p.bool("continueProcessingOnError")?;
    // Validate the shape before touching the database.
    let mut work: Vec<(&'static Table, Map<String, J>)> = Vec::new();
    for (name, rows_v) in &ds {
        let Some(es) = svc.entity_set_for_table(name) else {
            if matches!(rows_v, J::Array(a) if a.is_empty()) || name.starts_with("Extension") {
                continue;
            }
            return Err(ApiError::business(
                format!(
                    "{} has no table {name}; its tables are {}",
                    svc.tableset,
                    svc.entity_sets
                        .iter()
                        .map(|e| e.table.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                name,
            ));
        };
        let J::Array(items) = rows_v else {
            return Err(ApiError::bad_request(format!(
                "ds.{name} must be an array of rows"
            )));
        };
        for item in items {
            let J::Object(row) = item else {
                return Err(ApiError::bad_request(format!(
                    "each row of ds.{name} must be an object"
                )));
            };
            work.push((es.table, row.clone()));
        }
    }
    // Parents before children for adds; children before parents for deletes.
    work.sort_by_key(|(t, row)| {
        let depth = t.key.len() as i64;
        if row.get("RowMod").and_then(J::as_str) == Some("D") {
            -depth
        } else {
            depth
        }
    });
    let company = ctx.company.clone();
    let services_children: Vec<(&'static str, Vec<&'static Table>)> = svc
        .entity_sets
        .iter()
        .map(|e| (e.table.name, entity::child_tables(svc, e.table)))
        .collect();
    let wire = ctx.wire(RowKind::Tableset);
    let result = ctx
        .state
        .db
        .write(move |tx| -> Result<(Vec<J>, Vec<Vec<Value>>), ApiError> {
            let mut errors = Vec::new();
            let mut touched: Vec<Vec<Value>> = Vec::new();
            let primary_key_len = svc.primary().table.key.len();
            for (table, row) in &work {
                let row_mod = row.get("RowMod").and_then(J::as_str).unwrap_or("");
                let children = &services_children
                    .iter()
                    .find(|(n, _)| *n == table.name)
                    .expect("table listed")
                    .1;
                let outcome: Result<Option<Vec<Value>>, ApiError> = (|| {
                    tx.execute_batch("SAVEPOINT row")?;
                    let r = match (row_mod, ext) {
                        ("", false) => Ok(None),
                        ("A", false) => rows::insert_row(tx, table, row, &company).map(Some),
                        ("U", false) => {
                            let key = rows::key_of(table, row)?;
                            rows::update_row(tx, table, &key, row).map(|_| Some(key))
                        }
                        ("D", _) => {
                            let key = rows::key_of(table, row)?;
                            rows::delete_row(tx, table, &key, children).map(|_| None)
                        }
                        (_, true) => {
                            let mut row = row.clone();
                            row.entry("Company")
                                .or_insert_with(|| J::String(company.clone()));
                            let exists = match rows::key_of(table, &row) {
                                Ok(key) => rows::current_rev(tx, table, &key)?.map(|_| key),
                                Err(_) => None,
                            };
                            match exists {
                                Some(key) => {
                                    rows::update_row(tx, table, &key, &row).map(|_| Some(key))
                                }
                                None => rows::insert_row(tx, table, &row, &company).map(Some),
                            }
                        }
                        (other, false) => Err(ApiError::business(
                            format!("RowMod \"{other}\" is not one of \"A\", \"U\", \"D\" or \"\""),
                            table.name,
                        )),
                    };
                    match &r {
                        Ok(_) => tx.execute_batch("RELEASE row")?,
                        Err(_) => tx.execute_batch("ROLLBACK TO row; RELEASE row")?,
                    }
                    r
                })();
                match outcome {
                    Ok(Some(key)) => {
                        let pk: Vec<Value> = key[..primary_key_len].to_vec();
                        if !touched.contains(&pk) {
                            touched.push(pk);
                        }
                    }
                    Ok(None) => {}
                    Err(e) if continue_on_error => errors.push(serde_json::json!({
                        "TableName": table.name,
                        "ErrorLevel": "Error",
                        "ErrorType": e.error_type,
                        "ErrorText": e.message,
                        "ErrorSysRowID": row.get("SysRowID").cloned().unwrap_or(J::Null),
                        "RowMod": row_mod,
                    })),
                    Err(e) => return Err(e),
                }
            }
            Ok((errors, touched))
        })
        .await?;
    let (errors, touched) = result;
    // Answer with the saved rows re-read (new SysRevID, auto-numbered keys).
    let body = ctx
        .state
        .db
        .read(move |conn| {
            let mut ds = Vec::new();
            write_tableset(conn, svc, &touched, wire, &mut ds)?;
            Ok::<_, ApiError>(ds)
        })
        .await?;
    let mut out = Vec::new();
    if ext {
        out.extend_from_slice(b"{\"returnObj\":{\"BOUpdError\":");
        out.extend_from_slice(&serde_json::to_vec(&errors).expect("json"));
        out.extend_from_slice(b"},\"parameters\":{\"ds\":");
        out.extend_from_slice(&body);
        out.extend_from_slice(format!(",\"errorsOccurred\":{}}}}}", !errors.is_empty()).as_bytes());
    } else {
        out.extend_from_slice(b"{\"parameters\":{\"ds\":");
        out.extend_from_slice(&body);
        out.extend_from_slice(b"}}");
    }
    Ok(out)
}
