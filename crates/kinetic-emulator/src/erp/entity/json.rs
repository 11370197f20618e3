//! The JSON writer: rows of a plan as OData JSON (pages, expansions, BAQ row idents), the start of
//! a collection, and the JSON response with its OData version header.

use super::plan::Plan;
use crate::api_error::ApiError;
use crate::db::Db;
use crate::erp::paging;
use crate::erp::query::Relation;
use crate::erp::rows::{self, ApiVersion, RowKind, Wire};
use crate::erp::seek::{self, Shape};
use crate::model::Column;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::types::Value;
use rusqlite::Connection;

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
pub(super) fn paged(sql: &str, limit: Option<u64>, skip: u64) -> String {
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
pub(super) fn run_rows(
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
pub(super) fn write_page(
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

pub(super) fn write_object(
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
        h.update(crate::erp::rules::show_value(v).as_bytes());
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

/// How a collection page is cut: the client's `$top` capped by the server's page size (`cap`, 0:
/// none) and, where the server pages with next links, one probe row more, read to know whether
/// another page follows.
pub struct PageCut {
    /// The client's `$top`.
    requested: Option<u64>,
    /// Rows the page holds at most.
    limit: Option<u64>,
    /// Where the page starts.
    skip: u64,
    /// A next link is written when more rows follow.
    links: bool,
    strict: bool,
}

impl PageCut {
    pub fn new(requested: Option<u64>, skip: u64, cap: u64, links: bool, strict: bool) -> PageCut {
        let limit = match (requested, cap) {
            (t, 0) => t,
            (Some(t), c) => Some(t.min(c)),
            (None, c) => Some(c),
        };
        PageCut {
            requested,
            limit,
            skip,
            links: links && paging::capped(cap, requested),
            strict,
        }
    }

    /// Rows the page holds at most.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Rows to read: the page, and the probe row where a next link may follow.
    pub fn probe(&self) -> Option<u64> {
        if self.links {
            self.limit.map(|l| l + 1)
        } else {
            self.limit
        }
    }

    /// Ends the collection `out`: the rows of `page` (`read` of them were read, the probe row
    /// dropped), the next link when more rows follow (built from the request's `self_url` and
    /// `raw_query`), and the closing brace.
    pub fn finish(
        &self,
        out: &mut Vec<u8>,
        mut page: Vec<u8>,
        read: u64,
        version: ApiVersion,
        self_url: &str,
        raw_query: &str,
    ) {
        let more = match self.limit {
            Some(l) if self.links && read > l => Some(l),
            _ => None,
        };
        if more.is_some() {
            // Drop the probe row: find the start of the last top-level object.
            page.truncate(last_top_level_object(&page));
            page.push(b']');
        }
        out.extend_from_slice(&page);
        if let Some(l) = more {
            let next = paging::next_link(
                self.strict,
                self_url,
                raw_query,
                self.skip + l,
                self.requested.map(|t| t - l),
            );
            out.push(b',');
            rows::write_json_str(
                out,
                match version {
                    ApiVersion::V2 => "@odata.nextLink",
                    ApiVersion::V1 => "odata.nextLink",
                },
            );
            out.push(b':');
            rows::write_json_str(out, &next);
        }
        out.push(b'}');
    }
}

/// The byte offset of the comma (or `[`) before the last top-level object of a JSON array of objects.
fn last_top_level_object(page: &[u8]) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_row_is_cut_at_the_last_top_level_comma() {
        let page = br#"[{"a":"x,}"},{"b":[{"c":1},{"d":2}]},{"e":3}]"#;
        let cut = last_top_level_object(page);
        assert_eq!(&page[..cut], br#"[{"a":"x,}"},{"b":[{"c":1},{"d":2}]}"#);
    }
}
