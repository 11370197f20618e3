//! Typed pages (`EntitySetQuery::pages`) of entity sets and BAQs against the emulator started in
//! process, and strict typing against a tiny server on 127.0.0.1:0 that lies about a cell.
//! Nothing leaves 127.0.0.1.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use epicor_kinetic::api::{Cell, JsonPage, Page, TypedValue};
use epicor_kinetic::{Connection, Error, ErrorKind, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use futures_util::{StreamExt, TryStreamExt};

const SALES: &str = "Erp.BO.SalesOrderSvc";

async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"))
}

async fn open(text: &str) -> Connection {
    let settings = Settings::parse(text).unwrap_or_else(|e| panic!("{e}"));
    Connection::open(settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn connect(emu: &RunningEmulator, which: &str) -> Connection {
    let text = emu.startup_info()["connection_strings"][which]
        .as_str()
        .unwrap_or_else(|| panic!("no {which} connection string"))
        .to_owned();
    open(&text).await
}

/// Whether `v` is a date: a date, or a date-time at midnight (the emulator declares dates
/// `Edm.DateTimeOffset`, as Epicor does).
fn is_date(v: &TypedValue) -> bool {
    use chrono::Timelike as _;
    match v {
        TypedValue::Date(_) => true,
        TypedValue::DateTime(d) => d.time().num_seconds_from_midnight() == 0,
        TypedValue::DateTimeOffset(d) => d.naive_local().time().num_seconds_from_midnight() == 0,
        _ => false,
    }
}

/// Checks the page boundaries: each page but the last holds `cap` rows (a `$skip` page read beside
/// others starts with the row before its position, to check that nothing moved, and hands out
/// `cap - 1`), `first_row` counts the rows before it, every page shares one `Arc` of columns;
/// returns the rows of every page.
fn check_pages(pages: &[Page], cap: usize, what: &str) -> Vec<epicor_kinetic::api::Record> {
    assert!(pages.len() > 2, "{what}: several pages ({})", pages.len());
    let mut before = 0u64;
    for (i, page) in pages.iter().enumerate() {
        assert!(!page.is_empty(), "{what}: page {i} is empty");
        if i + 1 < pages.len() {
            assert!(
                page.len() == cap || (i > 0 && page.len() == cap - 1),
                "{what}: page {i} is one server page ({} rows)",
                page.len()
            );
        } else {
            assert!(page.len() <= cap, "{what}: last page");
        }
        assert_eq!(page.first_row(), before, "{what}: page {i} first_row");
        before += page.len() as u64;
        assert!(
            Arc::ptr_eq(page.columns(), pages[0].columns()),
            "{what}: columns shared"
        );
        for r in page.records() {
            assert!(Arc::ptr_eq(r.columns(), page.columns()), "{what}");
        }
    }
    pages.iter().flat_map(|p| p.records().to_vec()).collect()
}

/// An entity set read as typed pages: server pages of 37 (the emulator's cap) arrive as pages
/// of 37, in order, each row once, as many as `$count`, with an int, a string, a date, a bool and
/// a decimal column typed as declared; a key column left out of `$select` is not handed out.
#[tokio::test]
async fn typed_pages_of_an_entity_set_v1_and_v2() {
    let emu = emulator(EmulatorConfig {
        scale: 2000,
        page_cap: 37,
        ..Default::default()
    })
    .await;
    let mut seen = Vec::new();
    for which in ["basic", "basic_v2"] {
        let conn = connect(&emu, which).await;
        let query = conn.entity_set(SALES, "SalesOrders").select([
            "OrderNum",
            "ShipToNum",
            "OrderDate",
            "OpenOrder",
            "OrderAmt",
        ]);
        let count = query.count().await.unwrap_or_else(|e| panic!("{e}"));
        let pages: Vec<Page> = query
            .clone()
            .pages()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{which}: {e}"));
        let records = check_pages(&pages, 37, which);
        assert_eq!(records.len() as u64, count, "{which}: every row");
        // 37 rows a page, or 36 for a page that started with the row before it.
        assert!(
            (count.div_ceil(37)..=count.div_ceil(36)).contains(&(pages.len() as u64)),
            "{which}: {} pages",
            pages.len()
        );
        let names: Vec<&str> = pages[0].columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "OrderNum",
                "ShipToNum",
                "OrderDate",
                "OpenOrder",
                "OrderAmt"
            ],
            "{which}: the key column Company, asked for the repeat check, is not handed out"
        );
        let mut nums = HashSet::new();
        for r in &records {
            match r.values() {
                [TypedValue::Int(n), TypedValue::Text(_), date, TypedValue::Bool(_), TypedValue::Decimal(d)] =>
                {
                    assert!(nums.insert(*n), "{which}: order {n} twice");
                    assert!(is_date(date), "{which}: {date:?}");
                    assert_eq!(d.scale(), 3, "{which}: {d}");
                }
                other => panic!("{which}: {other:?}"),
            }
        }
        // The pages' column view is the records' values.
        let amounts: Vec<&TypedValue> = pages[1].column(4).collect();
        assert_eq!(amounts.len(), pages[1].len());
        assert!(amounts.len() >= 36);
        assert_eq!(amounts[0], &pages[1].records()[0].values()[4]);
        // records() is the same rows one at a time.
        let one_by_one: Vec<_> = query.clone().records().try_collect().await.unwrap();
        assert_eq!(one_by_one, records, "{which}");
        // json_pages() is the same rows as the server's JSON text, read cell by cell into the
        // same values (the key column added for the repeat check is not handed out either).
        let json: Vec<JsonPage> = query.json_pages().try_collect().await.unwrap();
        assert_eq!(json.len(), pages.len(), "{which}: one page per answer");
        let mut i = 0;
        for page in &json {
            assert_eq!(page.columns(), pages[0].columns(), "{which}");
            assert_eq!(page.first_row(), i as u64, "{which}");
            for row in 0..page.len() {
                let values: Vec<TypedValue> = (0..5)
                    .map(|c| page.read(row, c).unwrap().into_value())
                    .collect();
                assert_eq!(values, records[i].values(), "{which}: row {i}");
                i += 1;
            }
            assert!(
                page.read(0, 5).unwrap() == Cell::Null,
                "no such column: null"
            );
        }
        assert_eq!(i, records.len(), "{which}: every row once");
        seen.push(records.iter().map(|r| r.to_json_text()).collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1], "v1 strings and v2 numbers type alike");
}

/// A BAQ read as typed pages, typed from its own `$metadata`: the server's BAQ cap (4) makes the
/// pages; every row once, as many as the BAQ's inline count, each column of its type.
#[tokio::test]
async fn typed_pages_of_a_baq_v1_and_v2() {
    let emu = emulator(EmulatorConfig {
        scale: 2000,
        baq_page_cap: 4,
        ..Default::default()
    })
    .await;
    let mut seen = Vec::new();
    for which in ["basic", "basic_v2"] {
        let conn = connect(&emu, which).await;
        // The customer with the most orders among the first ones.
        let customers: Vec<_> = conn
            .entity_set("Erp.BO.CustomerSvc", "Customers")
            .select(["CustID"])
            .top(30)
            .rows()
            .try_collect()
            .await
            .unwrap();
        let mut best = (0, String::new());
        for c in &customers {
            let id = c["CustID"].as_str().unwrap().to_owned();
            let n = conn
                .baq_query("zOrdersByCustomer")
                .parameter("CustID", &id)
                .count()
                .await
                .unwrap_or_else(|e| panic!("{which}: {e}"));
            if n > best.0 {
                best = (n, id);
            }
        }
        let (count, cust_id) = best;
        assert!(
            count > 8,
            "{which}: a customer with orders to page: {count}"
        );
        let query = conn
            .baq_query("zOrdersByCustomer")
            .parameter("CustID", &cust_id);
        let pages: Vec<Page> = query
            .clone()
            .pages()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("{which}: {e}"));
        let records = check_pages(&pages, 4, which);
        assert_eq!(records.len() as u64, count, "{which}: every row");
        let names: Vec<&str> = pages[0].columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "OrderHed_OrderNum",
                "OrderHed_OrderDate",
                "OrderHed_PONum",
                "OrderHed_OpenOrder",
                "Customer_CustID",
                "Customer_Name",
                "Calculated_LineCount",
                "Calculated_OrderTotal"
            ],
            "{which}"
        );
        let mut nums = HashSet::new();
        for r in &records {
            let v = r.values();
            let TypedValue::Int(n) = v[0] else {
                panic!("{which}: {r:?}")
            };
            assert!(nums.insert(n), "{which}: order {n} twice");
            assert!(is_date(&v[1]), "{which}: {r:?}");
            assert!(matches!(v[3], TypedValue::Bool(_)), "{which}: {r:?}");
            assert_eq!(v[4], TypedValue::Text(cust_id.clone()), "{which}");
            assert!(matches!(v[6], TypedValue::Int(_)), "{which}: {r:?}");
            assert!(matches!(v[7], TypedValue::Decimal(_)), "{which}: {r:?}");
        }
        // The JSON rows of the same BAQ are the same rows, in the same order.
        let rows = conn
            .baq("zOrdersByCustomer", &[("CustID", &cust_id)])
            .await
            .unwrap();
        let json_nums: Vec<i64> = rows
            .iter()
            .map(|r| r["OrderHed_OrderNum"].as_i64().unwrap())
            .collect();
        let typed_nums: Vec<i64> = records
            .iter()
            .map(|r| match r.values()[0] {
                TypedValue::Int(n) => n,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(json_nums, typed_nums, "{which}");
        seen.push(records.iter().map(|r| r.to_json_text()).collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1], "v1 and v2 BAQs type alike");
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A v1 server that lies: `Erp.BO.TestSvc/Items` (key `Id`) declares `Amount` `Edm.Decimal`
/// and sends `"n/a"` in row 6; BAQ `zNoKey` declares no key and sends equal rows; BAQ `zBad`
/// has a 300-character text in a decimal column. Pages of at most 4 rows by `$top`/`$skip`.
/// Returns the port and the requests seen (path and query).
async fn lying_server() -> (u16, Seen) {
    use axum::extract::{Request, State};
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use epicor_kinetic_odata::csdl::{
        EdmType, EntityContainer, EntitySet, EntityType, Metadata, ODataVersion, Property, Schema,
    };
    use serde_json::{json, Value};

    fn metadata(key: &[&str], columns: &[(&str, EdmType)]) -> String {
        Metadata {
            schemas: vec![Schema {
                namespace: "Test".into(),
                entity_types: vec![EntityType {
                    name: "Row".into(),
                    key: key.iter().map(|k| (*k).to_owned()).collect(),
                    properties: columns
                        .iter()
                        .map(|(n, t)| Property::new(*n, t.clone()))
                        .collect(),
                    navigation: vec![],
                }],
                entity_container: Some(EntityContainer {
                    name: "Container".into(),
                    entity_sets: vec![EntitySet {
                        name: "Items".into(),
                        entity_type: "Test.Row".into(),
                        navigation_bindings: vec![],
                    }],
                }),
            }],
        }
        .to_xml(ODataVersion::V3)
    }
    fn page(rows: Vec<Value>, query: &str) -> String {
        let get = |name: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(name))
                .and_then(|v| v.parse::<usize>().ok())
        };
        let skip = get("$skip=").unwrap_or(0);
        let top = get("$top=").unwrap_or(usize::MAX).min(4);
        let value: Vec<Value> = rows.into_iter().skip(skip).take(top).collect();
        json!({ "odata.metadata": "x", "value": value }).to_string()
    }
    fn items() -> Vec<Value> {
        (0..10)
            .map(|i| {
                let amount = if i == 6 {
                    "n/a".to_owned()
                } else {
                    format!("{i}.50")
                };
                json!({"Id": i + 1, "Name": format!("item {i}"), "Amount": amount})
            })
            .collect()
    }
    fn no_key() -> Vec<Value> {
        ["A", "B", "B", "B", "C", "C", "D"]
            .iter()
            .map(|p| json!({"Part_PartNum": p, "Calculated_Qty": "2.00", "RowIdent": "x"}))
            .collect()
    }
    fn bad() -> Vec<Value> {
        let mut rows = no_key();
        rows[5]["Calculated_Qty"] = json!("y".repeat(300));
        rows
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(move |State(seen): State<Seen>, req: Request| async move {
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or("").to_owned();
            if let Ok(mut s) = seen.lock() {
                s.push(format!("{path}?{query}"));
            }
            let baq = [
                ("Part_PartNum", EdmType::String),
                ("Calculated_Qty", EdmType::Decimal),
            ];
            let (xml, body) = match path.as_str() {
                "/Kinetic/api/v1/Erp.BO.TestSvc/$metadata" => (
                    true,
                    metadata(
                        &["Id"],
                        &[
                            ("Id", EdmType::Int32),
                            ("Name", EdmType::String),
                            ("Amount", EdmType::Decimal),
                        ],
                    ),
                ),
                "/Kinetic/api/v1/BaqSvc/zNoKey/$metadata"
                | "/Kinetic/api/v1/BaqSvc/zBad/$metadata"
                | "/Kinetic/api/v1/BaqSvc/zNoSkip/$metadata"
                | "/Kinetic/api/v1/BaqSvc/zNoTop/$metadata" => (true, metadata(&[], &baq)),
                // Ignores `$skip`: every page is the first.
                "/Kinetic/api/v1/BaqSvc/zNoSkip/" => {
                    let top: String = query
                        .split('&')
                        .filter(|p| !p.starts_with("$skip="))
                        .collect::<Vec<_>>()
                        .join("&");
                    (false, page(no_key(), &top))
                }
                // Ignores `$top`: everything at once, no link.
                "/Kinetic/api/v1/BaqSvc/zNoTop/" => (
                    false,
                    json!({ "odata.metadata": "x", "value": no_key() }).to_string(),
                ),
                "/Kinetic/api/v1/Erp.BO.TestSvc/Items" => (false, page(items(), &query)),
                "/Kinetic/api/v1/BaqSvc/zNoKey/" => (false, page(no_key(), &query)),
                "/Kinetic/api/v1/BaqSvc/zBad/" => (false, page(bad(), &query)),
                _ => return (StatusCode::NOT_FOUND, "no such resource").into_response(),
            };
            let kind = if xml {
                "application/xml"
            } else {
                "application/json"
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, kind)], body).into_response()
        })
        .with_state(seen.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, seen)
}

async fn lying_connection(port: u16) -> Connection {
    open(&format!(
        "URL=http://127.0.0.1:{port};ERPInstance=Kinetic;User=u;Password=p;AuthScheme=Basic;Pagesize=4"
    ))
    .await
}

fn protocol_text(e: &Error) -> String {
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}");
    e.to_string()
}

/// A cell that does not read as its declared type ends the typed stream with a protocol error
/// naming the row (index and key), the column, the type and the value; the pages before it
/// arrive whole. `records()` is as strict; `rows()` (JSON, untyped) is not concerned.
#[tokio::test]
async fn a_cell_that_breaks_its_type_is_an_error_naming_row_column_type_and_value() {
    let (port, _) = lying_server().await;
    let conn = lying_connection(port).await;
    let query = conn.entity_set("Erp.BO.TestSvc", "Items");
    let mut pages = Box::pin(query.clone().pages());
    let first = pages
        .next()
        .await
        .expect("a page")
        .expect("the first page is fine");
    assert_eq!(first.len(), 4);
    assert_eq!(first.records()[3].values()[2].to_string(), "3.50");
    let e = pages
        .next()
        .await
        .expect("an answer")
        .expect_err("row 6 lies");
    let text = protocol_text(&e);
    for part in [
        "row 6 (counting from 0)",
        "with key Id=7",
        "column Amount",
        "Edm.Decimal",
        "\"n/a\"",
        "/Kinetic/api/v1/Erp.BO.TestSvc/Items",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert!(pages.next().await.is_none(), "the error ends the stream");

    let e = query
        .clone()
        .records()
        .try_collect::<Vec<_>>()
        .await
        .expect_err("records are strict too");
    assert!(protocol_text(&e).contains("row 6"), "{e}");

    // JSON pages hand the page out; the lying cell is an error when it is read, as precise.
    let json: Vec<JsonPage> = query.clone().json_pages().try_collect().await.unwrap();
    assert_eq!(json.iter().map(JsonPage::len).sum::<usize>(), 10);
    let (page, row) = (&json[1], 6 - json[0].len());
    assert_eq!(page.text(row, 2), Some("\"n/a\""));
    let e = page.read(row, 2).expect_err("row 6 lies");
    let text = protocol_text(&e);
    for part in [
        "row 6 (counting from 0)",
        "with key Id=7",
        "column Amount",
        "Edm.Decimal",
        "/Kinetic/api/v1/Erp.BO.TestSvc/Items",
    ] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    assert!(page.read(row, 1).is_ok(), "the row's other cells read");

    let rows: Vec<_> = query.rows().try_collect().await.unwrap();
    assert_eq!(rows.len(), 10, "JSON rows are not typed");

    // A BAQ's cell is checked against the BAQ's own $metadata; a long value is cut.
    let e = conn
        .baq_query("zBad")
        .pages()
        .try_collect::<Vec<_>>()
        .await
        .expect_err("row 5 lies");
    let text = protocol_text(&e);
    assert!(
        text.contains("row 5 (counting from 0): column Calculated_Qty is declared Edm.Decimal but holds \"yyyy"),
        "{text}"
    );
    assert!(text.contains("(302 bytes)") && text.len() < 400, "{text}");
}

/// A BAQ whose `$metadata` gives no key: its rows come in its own order (no `$orderby` sent),
/// equal rows included (nothing tells a repeat from an equal row), paged by `$top`/`$skip`.
#[tokio::test]
async fn a_baq_without_a_key_is_read_whole_in_its_own_order() {
    let (port, seen) = lying_server().await;
    let conn = lying_connection(port).await;
    let pages: Vec<Page> = conn
        .baq_query("zNoKey")
        .pages()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pages.iter().map(Page::len).collect::<Vec<_>>(),
        [4, 3],
        "server pages of 4"
    );
    let parts: Vec<String> = pages
        .iter()
        .flat_map(|p| p.column(0).map(ToString::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(parts, ["A", "B", "B", "B", "C", "C", "D"]);
    let requests = seen.lock().unwrap().clone();
    let data: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("/Kinetic/api/v1/BaqSvc/zNoKey/?"))
        .collect();
    assert!(data.len() >= 2, "{requests:?}");
    assert!(
        data.iter().all(|r| !r.contains("orderby")),
        "the BAQ's own order: {requests:?}"
    );
    assert!(data[1].contains("$skip=4"), "{requests:?}");
    let rows = conn.baq("zNoKey", &[]).await.unwrap();
    assert_eq!(rows.len(), 7, "JSON rows too");
}

/// Servers that ignore paging: one that ignores `$top` sends everything at once, which is read
/// whole and not asked again; one that ignores `$skip` sends its first page for every offset,
/// which ends the read with an error rather than a loop (a BAQ without a key has no repeat check
/// to stop it).
#[tokio::test]
async fn servers_that_ignore_top_or_skip_neither_loop_nor_repeat() {
    let (port, seen) = lying_server().await;
    let conn = lying_connection(port).await;
    let rows = conn
        .baq_query("zNoTop")
        .rows()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 7, "every row once");
    let asked: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("zNoTop/?"))
        .cloned()
        .collect();
    assert_eq!(asked.len(), 1, "no second page asked: {asked:?}");

    let e = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        conn.baq_query("zNoSkip").rows().try_collect::<Vec<_>>(),
    )
    .await
    .expect("the read ends")
    .unwrap_err();
    assert_eq!(e.kind(), epicor_kinetic::ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("$skip"), "{e}");
}

/// Adaptive paging overlaps `$skip` pages (each starts one row early, to check that nothing
/// moved between pages fetched at different moments) because it may have several under way; with
/// `UseSession` its one Epicor session holds one licence seat, so it keeps one page under way:
/// no page starts early, and every row still comes once.
#[tokio::test]
async fn a_connection_holding_one_epicor_session_pages_one_at_a_time() {
    let emu = emulator(EmulatorConfig {
        scale: 2000,
        page_cap: 37,
        request_log: 10_000,
        ..Default::default()
    })
    .await;
    let skips = |emu: &RunningEmulator| -> Vec<u64> {
        emu.requests()
            .iter()
            .filter(|r| r.path().ends_with("/SalesOrders") && r.method == "GET")
            .filter_map(|r| {
                r.query()
                    .split('&')
                    .find_map(|p| p.strip_prefix("$skip=").or(p.strip_prefix("%24skip=")))
                    .and_then(|v| v.parse().ok())
            })
            .collect()
    };
    let mut counts = Vec::new();
    for which in ["basic", "basic_session"] {
        emu.clear_requests();
        let conn = connect(&emu, which).await;
        let query = conn.entity_set(SALES, "SalesOrders").select(["OrderNum"]);
        let records: Vec<_> = query.clone().records().try_collect().await.unwrap();
        let count = query.count().await.unwrap();
        assert_eq!(records.len() as u64, count, "{which}: every row");
        let distinct: HashSet<String> = records.iter().map(|r| r.to_json_text()).collect();
        assert_eq!(distinct.len(), records.len(), "{which}: no row twice");
        let skips = skips(&emu);
        assert!(skips.len() > 3, "{which}: paged by $skip ({skips:?})");
        // A page started one row early sits at a multiple of the cap (37), less one.
        let early = skips.iter().filter(|s| (*s + 1) % 37 == 0).count();
        if which == "basic" {
            assert!(early > 0, "adaptive paging overlaps its pages: {skips:?}");
        } else {
            assert_eq!(early, 0, "one page under way on a session: {skips:?}");
        }
        counts.push(count);
        conn.close().await.unwrap();
    }
    assert_eq!(counts[0], counts[1]);
}
