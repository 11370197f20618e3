//! The BAQ service: saved queries with `Table_Field` / `Calculated_X` columns, parameters, OData query
//! options, and one updatable BAQ. v1 `api/v1/BaqSvc/{BaqID}/?Param=V`, v2
//! `api/v2/odata/{Company}/BaqSvc/{BaqID}/Data?Param=V&$filter=...`.

use super::entity::{self, json_response, Fixed};
use super::paging;
use super::query::Relation;
use super::rows::{self, ApiVersion, RowKind};
use super::Ctx;
use crate::api_error::ApiError;
use crate::collation::Collation;
use crate::model::{ColType, Column, Table, CUSTOMER};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use epicor_kinetic_odata::csdl;
use rusqlite::types::Value;
use serde_json::{Map, Value as J};

/// A BAQ parameter.
#[derive(Debug)]
pub struct BaqParam {
    pub name: &'static str,
    pub column: Column,
    pub required: bool,
}

/// An updatable BAQ writes some of its columns back to one table.
#[derive(Debug)]
pub struct BaqUpdate {
    pub table: &'static Table,
    /// `(BAQ column, table column)`; the key columns come first, in the table's key order.
    pub key: &'static [(&'static str, &'static str)],
    pub writable: &'static [(&'static str, &'static str)],
}

/// A saved query.
#[derive(Debug)]
pub struct Baq {
    pub id: &'static str,
    pub description: &'static str,
    /// The SELECT; `{company}` and `{Param}` placeholders are replaced by bound parameters.
    pub sql: &'static str,
    pub columns: &'static [Column],
    pub key: &'static [&'static str],
    pub params: &'static [BaqParam],
    pub update: Option<BaqUpdate>,
}

const fn c(name: &'static str, ty: ColType) -> Column {
    Column::new(name, ty)
}
const S50: ColType = ColType::String { max_len: 50 };

pub static BAQS: &[Baq] = &[
    Baq {
        id: "zCustomerList",
        description: "Customers with credit settings (updatable: name, city, state, credit hold and limit)",
        sql: "SELECT c.Company AS Customer_Company, c.CustNum AS Customer_CustNum, c.CustID AS Customer_CustID, \
              c.Name AS Customer_Name, c.City AS Customer_City, c.State AS Customer_State, \
              c.CreditHold AS Customer_CreditHold, c.CreditLimit AS Customer_CreditLimit, c.SysRevID AS Customer_SysRevID \
              FROM Customer AS c WHERE c.Company = {company}",
        columns: &[
            c("Customer_Company", ColType::String { max_len: 8 }),
            c("Customer_CustNum", ColType::Int32),
            c("Customer_CustID", ColType::String { max_len: 10 }),
            c("Customer_Name", S50),
            c("Customer_City", S50),
            c("Customer_State", S50),
            c("Customer_CreditHold", ColType::Boolean),
            c("Customer_CreditLimit", ColType::Decimal { precision: 17, scale: 3 }),
            c("Customer_SysRevID", ColType::Int64),
        ],
        key: &["Customer_Company", "Customer_CustNum"],
        params: &[],
        update: Some(BaqUpdate {
            table: &CUSTOMER,
            key: &[("Customer_Company", "Company"), ("Customer_CustNum", "CustNum")],
            writable: &[
                ("Customer_Name", "Name"),
                ("Customer_City", "City"),
                ("Customer_State", "State"),
                ("Customer_CreditHold", "CreditHold"),
                ("Customer_CreditLimit", "CreditLimit"),
                ("Customer_SysRevID", "SysRevID"),
            ],
        }),
    },
    Baq {
        id: "zOrdersByCustomer",
        description: "Sales orders of one customer (parameter CustID), with line count and total",
        sql: "SELECT h.OrderNum AS OrderHed_OrderNum, h.OrderDate AS OrderHed_OrderDate, h.PONum AS OrderHed_PONum, \
              h.OpenOrder AS OrderHed_OpenOrder, cu.CustID AS Customer_CustID, cu.Name AS Customer_Name, \
              (SELECT count(*) FROM OrderDtl AS d WHERE d.Company = h.Company AND d.OrderNum = h.OrderNum) AS Calculated_LineCount, \
              h.OrderAmt AS Calculated_OrderTotal \
              FROM OrderHed AS h JOIN Customer AS cu ON cu.Company = h.Company AND cu.CustNum = h.CustNum \
              WHERE h.Company = {company} AND cu.CustID = {CustID}",
        columns: &[
            c("OrderHed_OrderNum", ColType::Int32),
            c("OrderHed_OrderDate", ColType::Date),
            Column {
                nullable: true,
                ..c("OrderHed_PONum", S50)
            },
            c("OrderHed_OpenOrder", ColType::Boolean),
            c("Customer_CustID", ColType::String { max_len: 10 }),
            c("Customer_Name", S50),
            c("Calculated_LineCount", ColType::Int32),
            c("Calculated_OrderTotal", ColType::Decimal { precision: 17, scale: 3 }),
        ],
        key: &["OrderHed_OrderNum"],
        params: &[BaqParam {
            name: "CustID",
            column: c("CustID", ColType::String { max_len: 10 }),
            required: true,
        }],
        update: None,
    },
    Baq {
        id: "zPartSales",
        description: "Quantity sold and revenue per part, from sales order lines (optional parameter MinQty)",
        sql: "SELECT p.PartNum AS Part_PartNum, p.PartDescription AS Part_PartDescription, \
              count(d.OrderLine) AS Calculated_Lines, coalesce(sum(d.OrderQty), 0) AS Calculated_QtySold, \
              coalesce(sum(d.DocExtPriceDtl), 0) AS Calculated_Revenue \
              FROM Part AS p LEFT JOIN OrderDtl AS d ON d.Company = p.Company AND d.PartNum = p.PartNum \
              WHERE p.Company = {company} GROUP BY p.PartNum, p.PartDescription \
              HAVING coalesce(sum(d.OrderQty), 0) >= {MinQty}",
        columns: &[
            c("Part_PartNum", S50),
            c("Part_PartDescription", ColType::String { max_len: 100 }),
            c("Calculated_Lines", ColType::Int32),
            c("Calculated_QtySold", ColType::Decimal { precision: 22, scale: 8 }),
            c("Calculated_Revenue", ColType::Decimal { precision: 17, scale: 3 }),
        ],
        key: &["Part_PartNum"],
        params: &[BaqParam {
            name: "MinQty",
            column: c("MinQty", ColType::Decimal { precision: 22, scale: 8 }),
            required: false,
        }],
        update: None,
    },
];

/// The BAQ `id`, in any case (names are matched as IIS and SQL Server match them).
pub fn baq(id: &str) -> Option<&'static Baq> {
    BAQS.iter().find(|b| b.id.eq_ignore_ascii_case(id))
}

/// Parameters not meant for the BAQ: OData options and the connector's own.
fn is_reserved(name: &str) -> bool {
    name.starts_with('$')
        || name.eq_ignore_ascii_case("Company")
        || name.eq_ignore_ascii_case("api-key")
}

/// The BAQ's FROM item with its parameters bound (`{company}` first, then each parameter).
fn relation(
    company: &str,
    b: &'static Baq,
    query: &str,
    collation: Collation,
) -> Result<Relation, ApiError> {
    let mut given: Map<String, J> = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_encoding::percent_decode_str(k)
            .decode_utf8_lossy()
            .into_owned();
        if is_reserved(&k) {
            continue;
        }
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        if !b.params.iter().any(|p| p.name.eq_ignore_ascii_case(&k)) {
            return Err(ApiError::bad_request(format!(
                "BAQ {} has no parameter {k}; its parameters: {}",
                b.id,
                if b.params.is_empty() {
                    "none".to_string()
                } else {
                    b.params
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        given.insert(k.to_ascii_lowercase(), J::String(v));
    }
    let mut bound = vec![Value::Text(company.to_string())];
    let mut sql = b.sql.replace("{company}", "?1");
    for p in b.params {
        let v = match given.get(&p.name.to_ascii_lowercase()) {
            Some(v) => rows::json_to_sql(&p.column, v).map_err(|m| {
                ApiError::bad_request(format!("BAQ {} parameter {}: {m}", b.id, p.name))
            })?,
            None if p.required => {
                return Err(ApiError::bad_request(format!(
                    "BAQ {} needs the parameter {}, e.g. ?{}=ADDIS0001",
                    b.id, p.name, p.name
                )))
            }
            None => match p.column.ty {
                ColType::String { .. } => Value::Text(String::new()),
                _ => Value::Integer(0),
            },
        };
        bound.push(v);
        sql = sql.replace(&format!("{{{}}}", p.name), &format!("?{}", bound.len()));
    }
    Ok(Relation {
        from: format!("({sql})"),
        columns: b.columns,
        key: b.key,
        set: None,
        service: None,
        bound,
        collation,
    })
}

/// Routes under `.../BaqSvc/`.
pub async fn route(
    ctx: &Ctx,
    method: Method,
    rest: &[&str],
    query: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let root = match ctx.version {
        ApiVersion::V1 => format!("{}api/v1/BaqSvc/", ctx.base),
        ApiVersion::V2 => format!("{}api/v2/odata/{}/BaqSvc/", ctx.base, ctx.company),
    };
    let (id, tail) = match rest {
        [] => {
            let value: Vec<J> = BAQS
                .iter()
                .map(|b| {
                    serde_json::json!({"QueryID": b.id, "Description": b.description, "Updatable": b.update.is_some(),
                        "Parameters": b.params.iter().map(|p| serde_json::json!({"Name": p.name, "Required": p.required})).collect::<Vec<_>>(),
                        "url": format!("{root}{}/", b.id)})
                })
                .collect();
            let body = serde_json::json!({"value": value});
            return Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&body).expect("json"),
                ctx.version,
            ));
        }
        [id, tail @ ..] => (*id, tail),
    };
    // v1 also takes the company after the id: `BaqSvc/zCustomerList(EPIC06)`.
    let (id, company) = match id.split_once('(') {
        Some((name, inner)) if ctx.version == ApiVersion::V1 => {
            let c = inner
                .strip_suffix(')')
                .map(|c| c.trim().trim_matches('\''))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`{id}`: the company goes in parentheses after the BAQ id, e.g. {name}(EPIC06)"
                    ))
                })?;
            let c = super::valid_company(ctx, c)?;
            super::user_may_use(ctx, &c)?;
            (name, c)
        }
        Some((name, _)) => {
            return Err(ApiError::route_not_found(format!(
                "v2 BAQ addresses take the company from the path: {root}{name}/Data"
            )))
        }
        None => (id, ctx.company.clone()),
    };
    let b = baq(id).ok_or_else(|| {
        ApiError::route_not_found(format!(
            "BAQ {id} not found; BAQs on this server: {}",
            BAQS.iter().map(|b| b.id).collect::<Vec<_>>().join(", ")
        ))
    })?;
    match (ctx.version, tail) {
        (_, ["$metadata"]) => Ok((
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            metadata_xml(b, ctx.version),
        )
            .into_response()),
        (ApiVersion::V1, []) | (ApiVersion::V2, ["Data"]) => match method {
            Method::GET | Method::HEAD => data(ctx, b, &company, query, &root).await,
            Method::PATCH | Method::PUT | Method::POST => {
                update(ctx, b, &company, query, body).await
            }
            other => Err(ApiError::method_not_allowed(
                format!("{other} is not allowed on BAQ data; use GET or PATCH"),
                "GET, HEAD, PATCH, PUT, POST",
            )),
        },
        (ApiVersion::V2, [m]) if m.eq_ignore_ascii_case("GetNew") => match method {
            Method::GET | Method::HEAD | Method::POST => get_new(ctx, b, &company),
            other => Err(ApiError::method_not_allowed(
                format!("{other} is not allowed on BAQ GetNew; use GET"),
                "GET, HEAD, POST",
            )),
        },
        (ApiVersion::V2, []) => Err(ApiError::route_not_found(format!(
            "v2 BAQ results are at {root}{}/Data",
            b.id
        ))),
        _ => Err(ApiError::route_not_found(format!(
            "no BAQ resource at {}",
            tail.join("/")
        ))),
    }
}

/// `GetNew` of an updatable BAQ: `{"value":[row]}` with one blank row (defaults, the company, a new
/// RowIdent, RowMod "A"), as real servers answer it.
fn get_new(ctx: &Ctx, b: &'static Baq, company: &str) -> Result<Response, ApiError> {
    let Some(u) = &b.update else {
        return Err(ApiError::business(
            format!(
                "BAQ {} is not updatable; GetNew makes rows of updatable BAQs only",
                b.id
            ),
            "",
        ));
    };
    let wire = ctx.wire(RowKind::Baq);
    let mut row = Map::new();
    for c in b.columns {
        let company_column = u
            .key
            .iter()
            .any(|(bc, tc)| *bc == c.name && *tc == "Company");
        let v = if company_column {
            J::String(company.to_string())
        } else {
            rows::cell_json(c, &rows::default_value(c), wire)
        };
        row.insert(c.name.to_string(), v);
    }
    if wire.real() {
        row.insert(
            "RowIdent".into(),
            J::String(uuid::Uuid::new_v4().hyphenated().to_string()),
        );
    }
    row.insert("RowMod".into(), J::String("A".into()));
    let body = serde_json::json!({"value": [row]});
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).expect("json"),
        ctx.version,
    ))
}

async fn data(
    ctx: &Ctx,
    b: &'static Baq,
    company: &str,
    query: &str,
    root: &str,
) -> Result<Response, ApiError> {
    let opts = super::options::checked_options(&ctx.state.config.limits, query)?;
    if !opts.expand.is_empty() {
        return Err(ApiError::odata(
            "BAQ results have no navigation properties to $expand",
        ));
    }
    let rel = relation(company, b, query, ctx.state.db.collation())?;
    // `baq_page_cap` [?]: no source says whether BAQ results are capped; capped pages answer
    // nextLink only when `next_link` (or `strict_paging`) is on, as entity sets do.
    let cap = ctx.state.config.baq_page_cap as u64;
    let strict = ctx.state.config.strict_paging;
    let next_link_mode = ctx.state.config.next_link || strict;
    let start = paging::start(strict, cap, &opts, &ctx.request_url, query)?;
    let mut plan = entity::plan_with_ties(rel, &opts, &Fixed::default(), &[], 0, start.ties)?;
    plan.skip = start.offset;
    let version = ctx.version;
    let wire = ctx.wire(RowKind::Baq);
    let count = opts.count == Some(true) || opts.inlinecount.is_some();
    let context = match version {
        ApiVersion::V1 => format!("{root}{}/$metadata#Results", b.id),
        ApiVersion::V2 => format!("{root}{}/$metadata#Data", b.id),
    };
    let cut = entity::PageCut::new(plan.top, plan.skip, cap, next_link_mode, strict);
    let self_url = ctx.request_url.clone();
    let raw_query = query.to_string();
    let body = ctx
        .state
        .db
        .read(move |conn| {
            let mut out = Vec::with_capacity(8 * 1024);
            let n = if count {
                Some(entity::count_rows(conn, &plan)?)
            } else {
                None
            };
            entity::start_collection(&mut out, version, &context, n);
            let mut page = Vec::with_capacity(8 * 1024);
            let rows = entity::write_rows(conn, &plan, &plan.params, cut.probe(), wire, &mut page)?;
            cut.finish(&mut out, page, rows, version, &self_url, &raw_query);
            Ok::<_, ApiError>(out)
        })
        .await?;
    Ok(json_response(StatusCode::OK, body, version))
}

/// Whether a value sent for a column equals the stored one (decimals numerically, CHAR text
/// without its padding).
fn same_value(stored: &Value, sent: &Value) -> bool {
    match (stored, sent) {
        (Value::Real(a), Value::Real(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        (Value::Integer(a), Value::Real(b)) | (Value::Real(b), Value::Integer(a)) => {
            (*a as f64 - b).abs() <= 1e-9
        }
        (Value::Text(a), Value::Text(b)) => a.trim_end() == b.trim_end(),
        _ => stored == sent,
    }
}

/// PATCH of one row of an updatable BAQ, as real clients send it: the full row as read (keys and
/// non-updatable columns included, unchanged). The updatable columns are written back to the table;
/// a changed non-updatable column is refused, naming it. A row that leaves columns out is refused
/// unless `baq_partial_rows` is on ([?]: no source says what Epicor does with one).
async fn update(
    ctx: &Ctx,
    b: &'static Baq,
    company: &str,
    query: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let Some(u) = &b.update else {
        return Err(ApiError::bad_request(format!(
            "BAQ {} is not updatable",
            b.id
        )));
    };
    let row = match serde_json::from_slice::<J>(body) {
        Ok(J::Object(m)) => m,
        Ok(J::Array(a)) if a.len() == 1 && a[0].is_object() => {
            a[0].as_object().cloned().expect("object")
        }
        Ok(_) => {
            return Err(ApiError::bad_request(
                "an updatable BAQ takes one row: a JSON object",
            ))
        }
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "the request body is not valid JSON: {e}"
            )))
        }
    };
    // The row's company column (`Customer_Company`) names a company too.
    for (baq_column, _) in u.key.iter().filter(|(_, column)| *column == "Company") {
        super::row_company_allowed(ctx, &row, baq_column)?;
    }
    let table = u.table;
    let mut table_row = Map::new();
    // Non-updatable columns the row sends, to compare with the stored row.
    let mut unchanged: Vec<(usize, Value)> = Vec::new();
    for (k, v) in &row {
        if rows::is_meta_member(k) {
            continue;
        }
        let Some(pos) = b.columns.iter().position(|c| c.name == k) else {
            return Err(ApiError::bad_request(format!(
                "BAQ {} has no column {k}",
                b.id
            )));
        };
        if let Some((_, col)) = u.key.iter().chain(u.writable).find(|(bc, _)| bc == k) {
            table_row.insert(col.to_string(), v.clone());
        } else {
            let c = &b.columns[pos];
            let value = rows::json_to_sql(c, v)
                .map_err(|m| ApiError::business(format!("BAQ {}: {m}", b.id), table.name))?;
            unchanged.push((pos, value));
        }
    }
    if !ctx.state.config.baq_partial_rows {
        let missing: Vec<&str> = b
            .columns
            .iter()
            .map(|c| c.name)
            .filter(|n| !row.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::business(
                format!(
                    "the row of BAQ {} leaves out {}; PATCH the full row as read (keys and \
                     unchanged columns included)",
                    b.id,
                    missing.join(", ")
                ),
                table.name,
            ));
        }
    }
    table_row
        .entry("Company")
        .or_insert_with(|| J::String(company.to_string()));
    let key = rows::key_of(table, &table_row).map_err(|e| {
        ApiError::business(
            format!(
                "{}; send the row's key columns {}",
                e.message,
                u.key.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ),
            table.name,
        )
    })?;
    // The stored row of the BAQ, by the BAQ's key as the table's key gives it.
    let rel = relation(company, b, query, ctx.state.db.collation())?;
    let mut params = rel.bound.clone();
    let mut conds = Vec::new();
    for (bc, tc) in u.key {
        let pos = table.key.iter().position(|k| k == tc).expect("key column");
        params.push(key[pos].clone());
        conds.push(format!("t.\"{bc}\" = ?{}", params.len()));
    }
    let cols: Vec<String> = b
        .columns
        .iter()
        .map(|c| format!("t.\"{}\"", c.name))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} AS t WHERE {}",
        cols.join(", "),
        rel.from,
        conds.join(" AND ")
    );
    let baq_id = b.id;
    let columns = b.columns;
    ctx.state
        .db
        .write(move |tx| {
            let stored: Option<Vec<Value>> = {
                let mut st = tx.prepare(&sql)?;
                let mut rs = st.query(rusqlite::params_from_iter(params.iter()))?;
                match rs.next()? {
                    Some(r) => Some(
                        (0..columns.len())
                            .map(|i| r.get::<_, Value>(i))
                            .collect::<Result<_, _>>()?,
                    ),
                    None => None,
                }
            };
            let Some(stored) = stored else {
                return Err(ApiError::not_found(format!(
                    "BAQ {baq_id} has no row {}",
                    rows::describe_key(table, &key)
                )));
            };
            for (pos, sent) in &unchanged {
                if !same_value(&stored[*pos], sent) {
                    return Err(ApiError::business(
                        format!(
                            "column {} of BAQ {baq_id} is not updatable: it is {}, the row \
                             sends {}; send it unchanged",
                            columns[*pos].name,
                            super::rules::show_value(&stored[*pos]),
                            super::rules::show_value(sent)
                        ),
                        table.name,
                    ));
                }
            }
            rows::update_row(tx, table, &key, &table_row)
        })
        .await?;
    let body = serde_json::json!({"value": [row]});
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).expect("json"),
        ctx.version,
    ))
}

/// The BAQ's `$metadata`: one entity type, one entity set (`Data` in v2, `Results` in v1).
pub fn metadata_xml(b: &Baq, version: ApiVersion) -> String {
    let ns = format!("Ice.BO.BaqSvc.{}", b.id);
    let md = csdl::Metadata {
        schemas: vec![csdl::Schema {
            namespace: ns.clone(),
            entity_types: vec![csdl::EntityType {
                name: format!("{}Row", b.id),
                key: b.key.iter().map(|k| k.to_string()).collect(),
                properties: b.columns.iter().map(crate::model::property).collect(),
                navigation: vec![],
            }],
            entity_container: Some(csdl::EntityContainer {
                name: "Container".into(),
                entity_sets: vec![csdl::EntitySet {
                    name: if version == ApiVersion::V2 {
                        "Data"
                    } else {
                        "Results"
                    }
                    .into(),
                    entity_type: format!("{ns}.{}Row", b.id),
                    navigation_bindings: vec![],
                }],
            }),
        }],
    };
    md.to_xml(match version {
        ApiVersion::V1 => csdl::ODataVersion::V3,
        ApiVersion::V2 => csdl::ODataVersion::V4,
    })
}
