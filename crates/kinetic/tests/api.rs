//! The typed API (`epicor_kinetic::api`) against the emulator started in process. Nothing leaves
//! 127.0.0.1.

use std::collections::HashSet;

use epicor_kinetic::api::Row;
use epicor_kinetic::http::KeyValue;
use epicor_kinetic::{Connection, Error, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_odata::{Expr, Literal, OrderBy};
use futures_util::TryStreamExt;
use serde_json::{json, Value};

const SALES: &str = "Erp.BO.SalesOrderSvc";
const CUSTOMERS: &str = "Erp.BO.CustomerSvc";

async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"))
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        scale: 2000,
        ..Default::default()
    }
}

async fn connect(emu: &RunningEmulator, which: &str) -> Connection {
    let text = emu.startup_info()["connection_strings"][which]
        .as_str()
        .unwrap_or_else(|| panic!("no {which} connection string"))
        .to_owned();
    let settings = Settings::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    Connection::open(settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn key_of(row: &Row, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| row.get(*c).map(Value::to_string).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|")
}

/// Reads every OrderDtls row and checks it against `/$count`, with no key twice.
async fn all_lines_exact(conn: &Connection) {
    let query = conn.entity_set(SALES, "OrderDtls");
    let count = query.count().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(count > 300, "enough lines to page: {count}");
    let rows: Vec<Row> = query
        .clone()
        .select(["Company", "OrderNum", "OrderLine", "PartNum"])
        .rows()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len() as u64, count);
    let keys: HashSet<String> = rows
        .iter()
        .map(|r| key_of(r, &["Company", "OrderNum", "OrderLine"]))
        .collect();
    assert_eq!(keys.len(), rows.len(), "no row twice");
}

#[tokio::test]
async fn paging_by_skip_is_exact_v1_and_v2() {
    let emu = emulator(config()).await;
    for which in ["basic", "basic_v2"] {
        let conn = connect(&emu, which).await;
        all_lines_exact(&conn).await;
    }
}

#[tokio::test]
async fn paging_by_next_link_is_exact_v1_and_v2() {
    let mut config = config();
    config.next_link = true;
    config.page_cap = 37;
    let emu = emulator(config).await;
    for which in ["basic", "basic_v2"] {
        let conn = connect(&emu, which).await;
        all_lines_exact(&conn).await;
    }
}

#[tokio::test]
async fn page_size_smaller_than_the_cap_and_user_order() {
    let emu = emulator(config()).await;
    let conn = connect(&emu, "basic_v2").await;
    let all: Vec<Row> = conn
        .entity_set(CUSTOMERS, "Customers")
        .order_by([OrderBy {
            expr: Expr::property("Name"),
            descending: true,
        }])
        .page_size(7)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let count = conn
        .entity_set(CUSTOMERS, "Customers")
        .count()
        .await
        .unwrap();
    assert_eq!(all.len() as u64, count);
    let names: Vec<&str> = all.iter().filter_map(|r| r["Name"].as_str()).collect();
    assert!(
        names.windows(2).all(|w| w[0] >= w[1]),
        "ordered by Name desc"
    );
}

#[tokio::test]
async fn filter_select_top_skip_and_max_rows() {
    let emu = emulator(config()).await;
    let conn = connect(&emu, "basic").await;
    let lines = || conn.entity_set(SALES, "OrderDtls");

    // filter (text and expression) and select
    let rows: Vec<Row> = lines()
        .filter_str("OrderLine eq 1")
        .unwrap()
        .select(["OrderNum", "OrderLine"])
        .rows()
        .try_collect()
        .await
        .unwrap();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["OrderLine"] == json!(1) && r.len() == 2));
    let expr = Expr::property("OrderLine").eq(Expr::Literal(Literal::Int(1)));
    let n = lines().filter(&expr).count().await.unwrap();
    assert_eq!(n, rows.len() as u64);

    // top above the server's cap
    let top: Vec<Row> = lines().top(250).rows().try_collect().await.unwrap();
    assert_eq!(top.len(), 250);
    // skip continues where top stopped, in the same stable order
    let next: Vec<Row> = lines()
        .skip(250)
        .top(10)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let all: Vec<Row> = lines().top(260).rows().try_collect().await.unwrap();
    assert_eq!(&all[250..], &next[..]);

    // max_rows, and the smaller of the two wins
    let max: Vec<Row> = lines()
        .max_rows(Some(123))
        .rows()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(max.len(), 123);
    let both: Vec<Row> = lines()
        .max_rows(Some(5))
        .top(50)
        .rows()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(both.len(), 5);
}

#[tokio::test]
async fn a_bad_filter_is_refused_before_sending() {
    let emu = emulator(EmulatorConfig {
        scale: 200,
        ..Default::default()
    })
    .await;
    let conn = connect(&emu, "basic").await;
    // `filter_str` is synchronous: the filter is refused before any request exists.
    let err = conn
        .entity_set(SALES, "OrderDtls")
        .filter_str("OrderLine eqq 1")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSettings { .. }), "{err:?}");
    assert_eq!(err.property(), Some("$filter"));
    assert!(err.to_string().contains(" at "), "{err}");
    let err = conn
        .entity_set(SALES, "OrderDtls")
        .order_by_str("OrderLine sideways")
        .unwrap_err();
    assert_eq!(err.property(), Some("$orderby"), "{err}");
}

#[tokio::test]
async fn entity_round_trip_and_bo_get_by_id() {
    let emu = emulator(config()).await;
    for (which, num) in [("basic", 990_001), ("basic_v2", 990_002)] {
        let conn = connect(&emu, which).await;
        let company = emu.startup_info()["company"].as_str().unwrap().to_owned();
        let key = [KeyValue::from(company.as_str()), KeyValue::from(num)];
        let created = conn
            .create(
                CUSTOMERS,
                "Customers",
                &json!({"CustNum": num, "CustID": format!("T{num}"), "Name": "O'Brien Ltd"}),
            )
            .await
            .unwrap();
        if let Some(row) = created {
            assert_eq!(row["Name"], json!("O'Brien Ltd"));
        }
        let row = conn.get_by_key(CUSTOMERS, "Customers", &key).await.unwrap();
        assert_eq!(row["CustID"], json!(format!("T{num}")));
        assert!(!row.keys().any(|k| k.contains("odata.")));

        conn.update(CUSTOMERS, "Customers", &key, &json!({"Name": "Renamed"}))
            .await
            .unwrap();
        let row = conn.get_by_key(CUSTOMERS, "Customers", &key).await.unwrap();
        assert_eq!(row["Name"], json!("Renamed"));
        assert_eq!(row["CustID"], json!(format!("T{num}")), "PATCH is partial");

        let by_id = conn
            .call(CUSTOMERS, "GetByID", &json!({"custNum": num}))
            .await
            .unwrap();
        let text = by_id["returnObj"].to_string();
        assert!(text.contains("Renamed"), "{text}");

        conn.delete(CUSTOMERS, "Customers", &key).await.unwrap();
        let err = conn
            .get_by_key(CUSTOMERS, "Customers", &key)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn baq_with_a_parameter_v1_and_v2() {
    let emu = emulator(config()).await;
    for which in ["basic", "basic_v2"] {
        let conn = connect(&emu, which).await;
        let customers: Vec<Row> = conn
            .entity_set(CUSTOMERS, "Customers")
            .select(["CustID"])
            .top(20)
            .rows()
            .try_collect()
            .await
            .unwrap();
        let mut found = 0;
        for customer in &customers {
            let cust_id = customer["CustID"].as_str().unwrap();
            let rows = conn
                .baq("zOrdersByCustomer", &[("CustID", cust_id)])
                .await
                .unwrap();
            assert!(rows.iter().all(|r| r["Customer_CustID"] == json!(cust_id)));
            found += rows.len();
        }
        assert!(found > 0, "some of the first customers have orders");
    }
}

#[tokio::test]
async fn epicor_functions_published_and_staging() {
    let emu = emulator(config()).await;
    let conn = connect(&emu, "basic_v2").await;
    let customer: Vec<Row> = conn
        .entity_set(CUSTOMERS, "Customers")
        .top(1)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let cust_id = customer[0]["CustID"].as_str().unwrap();
    let out = conn
        .function(
            "CustomerTools",
            "GetCreditStatus",
            &json!({ "CustID": cust_id }),
            false,
        )
        .await
        .unwrap();
    assert_eq!(out["Found"], json!(true), "{out}");

    let line: Vec<Row> = conn
        .entity_set(SALES, "OrderDtls")
        .top(1)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let order = line[0]["OrderNum"].clone();
    let out = conn
        .function(
            "CustomerTools",
            "OrderSummary",
            &json!({ "OrderNum": order }),
            true,
        )
        .await
        .unwrap();
    assert_eq!(out["Found"], json!(true), "{out}");
    // Unpublished: not under the published address.
    let err = conn
        .function(
            "CustomerTools",
            "OrderSummary",
            &json!({ "OrderNum": order }),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// Every OrderDtls key, in the order read.
async fn line_keys(conn: &Connection, parallelism: usize, page_size: u32) -> Vec<String> {
    let rows: Vec<Row> = conn
        .entity_set(SALES, "OrderDtls")
        .select(["Company", "OrderNum", "OrderLine"])
        .parallelism(parallelism)
        .page_size(page_size)
        .rows()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rows.iter()
        .map(|r| key_of(r, &["Company", "OrderNum", "OrderLine"]))
        .collect()
}

#[tokio::test]
async fn parallel_paging_gives_the_serial_rows_in_order() {
    // A cap of 37: asking 100 per page, the first page shows the cap; asking 20, it does not.
    let emu = emulator(EmulatorConfig {
        page_cap: 37,
        ..config()
    })
    .await;
    let conn = connect(&emu, "basic").await;
    let serial = line_keys(&conn, 1, 100).await;
    let count = conn.entity_set(SALES, "OrderDtls").count().await.unwrap();
    assert_eq!(serial.len() as u64, count);
    for (parallelism, page) in [(4, 100), (4, 20), (3, 37), (8, 1000)] {
        let parallel = line_keys(&conn, parallelism, page).await;
        assert_eq!(
            parallel, serial,
            "Parallelism={parallelism}, page {page}: the same rows in the same order"
        );
    }
    // With a limit that ends mid-page.
    let limited: Vec<Row> = conn
        .entity_set(SALES, "OrderDtls")
        .select(["Company", "OrderNum", "OrderLine"])
        .parallelism(4)
        .top(250)
        .skip(10)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let limited: Vec<String> = limited
        .iter()
        .map(|r| key_of(r, &["Company", "OrderNum", "OrderLine"]))
        .collect();
    assert_eq!(limited, serial[10..260]);
}

#[tokio::test]
async fn paging_through_faults_gives_the_fault_free_rows() {
    let clean = emulator(config()).await;
    let expected = line_keys(&connect(&clean, "basic").await, 1, 100).await;
    let mut faulty = config();
    faulty.faults =
        epicor_kinetic_emulator::faults::parse_spec("502:0.1,504:0.05,close:0.05,seed=11").unwrap();
    let emu = emulator(faulty).await;
    let text = format!(
        "{};MaxRetries=10",
        emu.startup_info()["connection_strings"]["basic"]
            .as_str()
            .unwrap()
    );
    let conn = Connection::open(Settings::parse(&text).unwrap())
        .await
        .unwrap();
    for parallelism in [1, 4] {
        let got = line_keys(&conn, parallelism, 100).await;
        assert_eq!(got, expected, "Parallelism={parallelism}");
    }
}

#[tokio::test]
async fn rows_inserted_before_the_reading_position_are_not_read_twice() {
    let emu = emulator(config()).await;
    let conn = connect(&emu, "basic").await;
    // With the whole key selected, with part of it (the pager asks for the rest, for the repeat
    // check, and drops it before handing rows out), as JSON rows and as typed records.
    let cases: [(&[&str], bool); 4] = [
        (&["Company", "OrderNum", "OrderLine"], false),
        (&["OrderNum", "OrderLine"], false),
        (&["OrderLine", "OrderNum"], true),
        (&["OrderNum", "OrderLine", "PartNum"], true),
    ];
    for (round, (select, typed)) in cases.into_iter().enumerate() {
        read_while_inserting(&conn, select, typed, 1000 * (round as i64 + 1)).await;
    }
}

/// Reads OrderDtls by pages of 50 while inserting lines before the reading position; checks no
/// row comes twice, none that existed throughout is lost, and only the selected columns come.
async fn read_while_inserting(conn: &Connection, select: &[&str], typed: bool, lines_from: i64) {
    let before = line_keys(conn, 1, 100).await;
    let first: Vec<Row> = conn
        .entity_set(SALES, "OrderDtls")
        .top(1)
        .rows()
        .try_collect()
        .await
        .unwrap();
    let template = &first[0];
    let order = template["OrderNum"].clone();
    let query = conn
        .entity_set(SALES, "OrderDtls")
        .select(select.iter().copied())
        .page_size(50);
    let mut rows: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = epicor_kinetic::Result<Row>> + '_>,
    > = if typed {
        Box::pin(query.records().map_ok(|r| {
            let names: Vec<&str> = r.columns().iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, select, "only the selected columns, in order");
            match serde_json::from_str::<Value>(&r.to_json_text()) {
                Ok(Value::Object(row)) => row,
                other => panic!("{other:?}"),
            }
        }))
    } else {
        Box::pin(query.rows())
    };
    let mut keys = Vec::new();
    let mut inserted = 0;
    while let Some(row) = rows.try_next().await.unwrap() {
        let names: Vec<&str> = row.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = select.to_vec();
        want.sort_unstable();
        let mut got = names.clone();
        got.sort_unstable();
        assert_eq!(got, want, "{select:?}: only the selected columns");
        keys.push(key_of(&row, &["OrderNum", "OrderLine"]));
        // Between pages, new lines of the first order: before the reading position, they
        // shift every later row forward.
        if keys.len() % 50 == 0 && inserted < 60 {
            for _ in 0..15 {
                inserted += 1;
                conn.create(
                    SALES,
                    "OrderDtls",
                    &json!({
                        "OrderNum": order,
                        "OrderLine": lines_from + inserted,
                        "PartNum": template["PartNum"],
                        "OrderQty": 1,
                        "UnitPrice": 2.5,
                    }),
                )
                .await
                .unwrap_or_else(|e| panic!("insert: {e}"));
            }
        }
    }
    assert_eq!(inserted, 60);
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{select:?}: no key twice");
    let before: HashSet<String> = before
        .iter()
        .map(|k| k.split_once('|').map_or(k.as_str(), |x| x.1).to_string())
        .collect();
    assert!(
        before.iter().all(|k| unique.contains(k)),
        "{select:?}: every row that existed throughout was read"
    );
}

#[tokio::test]
async fn records_are_typed_exactly_from_metadata_v1_and_v2() {
    use epicor_kinetic::api::TypedValue;
    let emu = emulator(config()).await;
    let mut seen = Vec::new();
    for which in ["basic", "basic_v2"] {
        let conn = connect(&emu, which).await;
        let records: Vec<epicor_kinetic::api::Record> = conn
            .entity_set(CUSTOMERS, "Customers")
            .select([
                "CustNum",
                "CustID",
                "CreditLimit",
                "EstDate",
                "SysRowID",
                "CreditHold",
            ])
            .top(30)
            .records()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(records.len(), 30);
        let names: Vec<&str> = records[0]
            .columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "CustNum",
                "CustID",
                "CreditLimit",
                "EstDate",
                "SysRowID",
                "CreditHold"
            ]
        );
        for r in &records {
            assert!(
                matches!(r.get("CustNum"), Some(TypedValue::Int(_))),
                "{r:?}"
            );
            assert!(
                matches!(r.get("CreditLimit"), Some(TypedValue::Decimal(_))),
                "{r:?}"
            );
            assert!(
                matches!(r.get("SysRowID"), Some(TypedValue::Guid(_))),
                "{r:?}"
            );
            assert!(
                matches!(r.get("CreditHold"), Some(TypedValue::Bool(_))),
                "{r:?}"
            );
            assert!(
                matches!(
                    r.get("EstDate"),
                    Some(TypedValue::Date(_) | TypedValue::DateTime(_) | TypedValue::Null)
                ),
                "{r:?}"
            );
            // Decimals keep the scale the server sent (v1 strings, v2 numbers alike).
            let limit = r.get("CreditLimit").unwrap().to_string();
            assert_eq!(limit.split('.').nth(1).map(str::len), Some(3), "{limit}");
        }
        seen.push(
            records
                .iter()
                .map(epicor_kinetic::api::Record::to_json_text)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(seen[0], seen[1], "v1 strings and v2 numbers read the same");
}

#[tokio::test]
async fn expand_services_and_descriptions() {
    let emu = emulator(config()).await;
    for which in ["basic", "basic_v2"] {
        let conn = connect(&emu, which).await;
        let orders: Vec<Row> = conn
            .entity_set(SALES, "SalesOrders")
            .select(["OrderNum"])
            .expand("OrderDtls($select=OrderLine,PartNum)")
            .unwrap()
            .top(3)
            .rows()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(orders.len(), 3);
        for o in &orders {
            let lines = o["OrderDtls"].as_array().unwrap_or_else(|| panic!("{o:?}"));
            assert!(!lines.is_empty(), "{o:?}");
            assert!(lines[0].get("PartNum").is_some());
        }
        let bad = conn.entity_set(SALES, "SalesOrders").expand("OrderDtls(");
        assert!(matches!(bad, Err(Error::InvalidSettings { .. })));

        let services = conn.services().await.unwrap();
        assert!(services.iter().any(|s| s.name == CUSTOMERS), "{services:?}");
        let sets = conn.entity_sets(SALES).await.unwrap();
        let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"OrderDtls") && names.contains(&"SalesOrders"));
        let lines = conn.entity_set_info(SALES, "OrderDtls").await.unwrap();
        assert_eq!(lines.key, ["Company", "OrderNum", "OrderLine"]);
        assert!(lines.columns.iter().filter(|c| c.key).count() == 3);
        let err = conn.entity_set_info(SALES, "OrderLines").await.unwrap_err();
        assert!(
            matches!(&err, Error::NotFound { message, .. } if message.contains("OrderDtls")),
            "names the sets there are: {err}"
        );
        let err = conn
            .entity_set(CUSTOMERS, "Customers")
            .select(["Nmae"])
            .columns()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Name"), "{err}");
    }
}

// ---- what real servers send (EPICOR.md, "What clients that talk to real servers show") ----

/// A connection string of the emulator with extra properties.
async fn connect_with(emu: &RunningEmulator, which: &str, extra: &str) -> Connection {
    let text = format!(
        "{};{extra}",
        emu.startup_info()["connection_strings"][which]
            .as_str()
            .unwrap_or_else(|| panic!("no {which} connection string"))
    );
    Connection::open(Settings::parse(&text).unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// GetByID → change one column → Update sends every other value back as the server sent it, in
/// v1 and v2, and the change is stored.
#[tokio::test]
async fn a_tableset_round_trips_through_get_by_id_and_update() {
    // Realistic (v1 SysRevID a number, ExtensionTables, BitFlag) and tidy (SysRevID a string).
    for tidy in [false, true] {
        let emu = emulator(EmulatorConfig { tidy, ..config() }).await;
        round_trip(&emu, tidy).await;
    }
}

async fn round_trip(emu: &RunningEmulator, tidy: bool) {
    for (which, city) in [("basic", "Duluth"), ("basic_v2", "Rochester")] {
        let conn = connect(emu, which).await;
        let mut ds = conn
            .get_by_id(CUSTOMERS, &json!({"custNum": 12}))
            .await
            .unwrap_or_else(|e| panic!("{which}: {e}"));
        // The server's own encoding of SysRevID is what goes back.
        let rev = &ds.rows("Customer").unwrap()[0]["SysRevID"];
        if which == "basic" {
            assert_eq!(rev.is_string(), tidy, "v1 SysRevID: {rev}");
        }
        assert_eq!(ds.as_value().get("ExtensionTables").is_some(), !tidy);
        assert!(
            ds.table_names().contains(&"Customer"),
            "{which}: {:?}",
            ds.table_names()
        );
        assert!(!ds.table_names().contains(&"ExtensionTables"));
        let before = ds.rows("Customer").unwrap()[0].clone();
        ds.set("Customer", 0, "City", json!(city)).unwrap();
        let after = conn
            .update_tableset(CUSTOMERS, &ds)
            .await
            .unwrap_or_else(|e| panic!("{which}: {e}"));
        let row = after.rows("Customer").unwrap()[0].clone();
        assert_eq!(row["City"], city);
        assert_ne!(row["SysRevID"], before["SysRevID"], "a new revision");
        // Stored: read again.
        let again = conn
            .get_by_id(CUSTOMERS, &json!({"custNum": 12}))
            .await
            .unwrap();
        assert_eq!(again.rows("Customer").unwrap()[0]["City"], city);
        // A second Update with the old tableset is refused as stale (the row changed since).
        let stale = conn.update_tableset(CUSTOMERS, &ds).await.unwrap_err();
        assert!(
            matches!(
                stale,
                Error::Conflict {
                    status: Some(409),
                    ..
                }
            ),
            "{which}: {stale}"
        );
        assert_eq!(stale.kind(), epicor_kinetic::ErrorKind::Conflict);
    }
}

/// Refusals by business rules are `Error::Rejected`, naming table and field where the server does.
#[tokio::test]
async fn business_rule_refusals_are_rejected() {
    let emu = emulator(config()).await;
    let conn = connect(&emu, "basic_v2").await;
    let row = conn
        .get_by_key(CUSTOMERS, "Customers", &["EPIC06".into(), 12.into()])
        .await
        .unwrap();
    // A new customer with the CustID of customer 12.
    let duplicate =
        json!({"Company": "EPIC06", "CustNum": 999_001, "CustID": row["CustID"], "Name": "Copy"});
    let e = conn
        .create(CUSTOMERS, "Customers", &duplicate)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Rejected {
                status: Some(400),
                ..
            }
        ),
        "{e}"
    );
    let d = &e.details()[0];
    assert_eq!(d.table.as_deref(), Some("Customer"), "{e}");
    assert_eq!(d.field.as_deref(), Some("CustID"), "{e}");
    assert!(e.to_string().contains("(Customer.CustID)"), "{e}");
    // A required field left empty, a terms code that does not exist, one too long.
    for (body, field) in [
        (
            json!({"Company": "EPIC06", "CustNum": 999_002, "CustID": "  ", "Name": "Blank"}),
            "CustID",
        ),
        (
            json!({"Company": "EPIC06", "CustNum": 999_003, "CustID": "NEW999", "Name": "X", "TermsCode": "ZZZ"}),
            "TermsCode",
        ),
        // Longer than the column: the field is named too.
        (
            json!({"Company": "EPIC06", "CustNum": 999_004, "CustID": "NEW998", "Name": "X", "TermsCode": "BOGUS"}),
            "TermsCode",
        ),
    ] {
        let e = conn
            .create(CUSTOMERS, "Customers", &body)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Rejected { .. }), "{e}");
        assert_eq!(e.details()[0].field.as_deref(), Some(field), "{e}");
    }
}

/// An updatable BAQ takes the full row as read (keys and unchanged columns included).
#[tokio::test]
async fn a_baq_row_is_updated_with_the_full_row() {
    // Whether a server takes partial rows is unsettled (EPICOR.md [?]); the full row works on both.
    for partial in [false, true] {
        let emu = emulator(EmulatorConfig {
            baq_partial_rows: partial,
            ..config()
        })
        .await;
        full_row_update(&emu).await;
    }
}

async fn full_row_update(emu: &RunningEmulator) {
    let conn = connect(emu, "basic_v2").await;
    let rows = conn.baq("zCustomerList", &[]).await.unwrap();
    let mut row = rows
        .iter()
        .find(|r| r["Customer_CustNum"] == json!(7))
        .cloned()
        .expect("customer 7");
    row.insert("Customer_City".into(), json!("Winona"));
    conn.baq_update("zCustomerList", &row)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = conn.baq("zCustomerList", &[]).await.unwrap();
    let stored = after
        .iter()
        .find(|r| r["Customer_CustNum"] == json!(7))
        .unwrap();
    assert_eq!(stored["Customer_City"], "Winona");
    assert_eq!(stored["Customer_Name"], row["Customer_Name"]);
}

/// BAQs are read whole whatever the page size asked: pages of 7 give the rows one page of
/// 100,000 gives, in the same order.
#[tokio::test]
async fn baqs_are_paged_and_complete() {
    let emu = emulator(config()).await;
    for which in ["basic", "basic_v2"] {
        let whole = connect_with(&emu, which, "Pagesize=100000")
            .await
            .baq("zCustomerList", &[])
            .await
            .unwrap();
        assert!(whole.len() > 30, "{which}: {} rows", whole.len());
        let paged = connect_with(&emu, which, "Pagesize=7")
            .await
            .baq("zCustomerList", &[])
            .await
            .unwrap();
        assert_eq!(paged, whole, "{which}");
        let limited = connect_with(&emu, which, "Pagesize=7;MaxRows=10")
            .await
            .baq("zCustomerList", &[])
            .await
            .unwrap();
        assert_eq!(limited.as_slice(), &whole[..10], "{which}");
    }
}

/// No source settles whether servers cap BAQ answers (EPICOR.md [?]): capped with or without a
/// next link, or not at all, a BAQ reads whole and in the same order.
#[tokio::test]
async fn baqs_are_complete_whatever_cap_the_server_plays() {
    let base = emulator(config()).await;
    let whole = connect(&base, "basic_v2")
        .await
        .baq("zCustomerList", &[])
        .await
        .unwrap();
    for (cap, next_link) in [(25, false), (25, true), (1, false)] {
        let emu = emulator(EmulatorConfig {
            baq_page_cap: cap,
            next_link,
            ..config()
        })
        .await;
        for which in ["basic", "basic_v2"] {
            let rows = connect(&emu, which)
                .await
                .baq("zCustomerList", &[])
                .await
                .unwrap_or_else(|e| panic!("cap {cap}, link {next_link}, {which}: {e}"));
            let keys = |rows: &[Row]| -> Vec<String> {
                rows.iter()
                    .map(|r| key_of(r, &["Customer_Company", "Customer_CustNum"]))
                    .collect()
            };
            assert_eq!(
                keys(&rows),
                keys(&whole),
                "cap {cap}, link {next_link}, {which}"
            );
        }
    }
}

/// Whether v2 dates carry an offset is unsettled (EPICOR.md [?]): typed records read the same
/// wall-clock date-times either way, and v1 (never an offset) agrees.
#[tokio::test]
async fn v2_dates_read_with_and_without_an_offset() {
    use epicor_kinetic::api::TypedValue;
    let mut seen = Vec::new();
    for offset in ["", "Z", "-05:00"] {
        let emu = emulator(EmulatorConfig {
            v2_date_offset: offset.into(),
            ..config()
        })
        .await;
        let records: Vec<epicor_kinetic::api::Record> = connect(&emu, "basic_v2")
            .await
            .entity_set(SALES, "SalesOrders")
            .select(["OrderNum", "OrderDate"])
            .top(50)
            .records()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("offset {offset:?}: {e}"));
        let wall: Vec<String> = records
            .iter()
            .map(|r| match r.get("OrderDate") {
                Some(TypedValue::DateTime(d)) => d.to_string(),
                Some(TypedValue::DateTimeOffset(d)) => d.naive_local().to_string(),
                Some(TypedValue::Date(d)) => d.and_hms_opt(0, 0, 0).unwrap().to_string(),
                other => panic!("offset {offset:?}: OrderDate {other:?}"),
            })
            .collect();
        assert_eq!(wall.len(), 50);
        seen.push(wall);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "the same wall-clock times"
    );
}

/// A DELETE whose answer is lost (the connection cut after the server deleted the row) is
/// repeated and finds the row gone: that is the first attempt's success, not "not found".
#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_a_success() {
    let mut config = config();
    // Cuts half of the v1 answers on customer rows after the server acted (seeded: the same
    // requests are cut on every run); rows are made through v2, untouched by it.
    config.faults = epicor_kinetic_emulator::faults::parse_spec(
        "close:0.5@/api/v1/Erp.BO.CustomerSvc/Customers,seed=11",
    )
    .unwrap();
    let emu = emulator(config).await;
    let v2 = connect(&emu, "basic_v2").await;
    let ids: Vec<i64> = (880_000..880_006).collect();
    for n in &ids {
        v2.create(
            CUSTOMERS,
            "Customers",
            &json!({"Company": "EPIC06", "CustNum": n, "CustID": format!("LOST{n}"), "Name": "Lost answer"}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let v1 = connect_with(&emu, "basic", "MaxRetries=10").await;
    let mut lost = 0;
    for n in &ids {
        match v1
            .delete(CUSTOMERS, "Customers", &["EPIC06".into(), (*n).into()])
            .await
        {
            Ok(epicor_kinetic::api::Deleted::AnswerLost) => lost += 1,
            Ok(epicor_kinetic::api::Deleted::Now) => {}
            Err(e) => panic!("customer {n}: {e}"),
        }
    }
    assert!(lost > 0, "no answer was lost: the test proves nothing");
    for n in &ids {
        let gone = v2
            .get_by_key(CUSTOMERS, "Customers", &["EPIC06".into(), (*n).into()])
            .await;
        assert!(
            matches!(gone, Err(Error::NotFound { .. })),
            "customer {n}: {gone:?}"
        );
    }
}

fn static_send<T: Send + 'static>(value: T) -> T {
    value
}

/// A query's stream owns what it needs: it outlives the connection handle and the call that
/// made it, and is consumed on another task (as DataFusion's `execute()` and a Python cursor do).
#[tokio::test]
async fn streams_outlive_their_call_and_run_on_another_task() {
    let emu = emulator(config()).await;
    let (rows, records, count) = {
        let conn = connect(&emu, "basic").await;
        let query = conn
            .entity_set(SALES, "OrderDtls")
            .select(["OrderNum", "OrderLine"]);
        let count = query.count().await.unwrap_or_else(|e| panic!("{e}"));
        (
            static_send(query.clone().rows()),
            static_send(query.records()),
            count,
        )
        // `conn` and `query` are dropped here.
    };
    let rows = tokio::spawn(async move { rows.try_collect::<Vec<Row>>().await });
    let records = tokio::spawn(async move { records.try_collect::<Vec<_>>().await });
    let rows = rows.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    let records = records.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len() as u64, count);
    assert_eq!(records.len() as u64, count);
    let keys: HashSet<String> = rows
        .iter()
        .map(|r| key_of(r, &["OrderNum", "OrderLine"]))
        .collect();
    assert_eq!(keys.len() as u64, count, "every row once");
}

/// Connections are handles: a clone is the same connection, and `close` (through any clone,
/// any number of times) ends the one session once.
#[tokio::test]
async fn connections_clone_and_close_through_a_shared_handle() {
    let emu = emulator(config()).await;
    let conn = connect(&emu, "basic_session").await;
    let session = conn.pipeline().session_id();
    assert!(session.is_some(), "UseSession opened a session");
    let shared = std::sync::Arc::new(conn.clone());
    let got = shared
        .get_by_key(CUSTOMERS, "Customers", &["EPIC06".into(), 3.into()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got["CustNum"], 3);
    shared.close().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(conn.pipeline().session_id().is_none(), "the clone saw it");
    conn.close().await.unwrap_or_else(|e| panic!("{e}"));
    shared.close().await.unwrap_or_else(|e| panic!("{e}"));
}

// ---- strict server-driven paging: the emulator refuses `$skip` where it pages with links and
// sorts only as asked, so these fail if the connector ignores a next link or leaves the key out
// of `$orderby`. ----

/// An emulator that pages by links only (`strict_paging`), 37 rows a page, remembering requests.
async fn strict_emulator() -> RunningEmulator {
    emulator(EmulatorConfig {
        page_cap: 37,
        strict_paging: true,
        request_log: 10_000,
        ..config()
    })
    .await
}

/// The decoded value of query option `name` in `query` (raw), if present.
fn option(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|piece| {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let k = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
        (k == name).then(|| {
            let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
            v.split(',').map(str::trim).collect::<Vec<_>>().join(",")
        })
    })
}

/// The requests for the collection `path_end` (not its `$count` or `$metadata`) since the log was
/// last cleared, checked as a read by links: all answered 200; the first carries `$orderby`
/// `order` (no spaces around commas) and neither `$skip` nor `$skiptoken`; each later one is exactly the
/// next link the server answered the one before with (asked again here), so none carries `$skip`;
/// the last page has no link. Returns how many pages were read.
async fn assert_read_by_links(emu: &RunningEmulator, path_end: &str, order: &str) -> usize {
    let pages: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with(path_end))
        .collect();
    assert!(pages.len() > 2, "several pages: {pages:?}");
    for p in &pages {
        assert_eq!(p.status, 200, "{p:?}");
    }
    let first = pages[0].query();
    assert_eq!(option(first, "$orderby").as_deref(), Some(order), "{first}");
    assert_eq!(option(first, "$skip"), None, "{first}");
    assert_eq!(option(first, "$skiptoken"), None, "{first}");
    let http = reqwest::Client::new();
    let api_key = emu.startup_info()["api_key"].as_str().unwrap().to_owned();
    for (i, page) in pages.iter().enumerate() {
        let answer: Value = http
            .get(format!("{}{}", emu.url(), page.uri))
            .basic_auth("manager", Some("Epicor123!"))
            .header("x-api-key", &api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let link = answer["@odata.nextLink"]
            .as_str()
            .or(answer["odata.nextLink"].as_str());
        match (link, pages.get(i + 1)) {
            (Some(link), Some(next)) => {
                assert_eq!(
                    format!("{}{}", emu.url(), next.uri),
                    link,
                    "request {} is the link of page {i}",
                    i + 1
                );
                assert_eq!(option(next.query(), "$skip"), None, "{next:?}");
            }
            (None, None) => {}
            (link, next) => panic!("page {i}: link {link:?}, next request {next:?}"),
        }
    }
    pages.len()
}

#[tokio::test]
async fn strict_paging_follows_next_links_with_the_whole_key_in_orderby() {
    let emu = strict_emulator().await;
    for which in ["basic", "basic_v2"] {
        for parallelism in [1, 4] {
            let conn = connect(&emu, which).await;
            let query = conn
                .entity_set(SALES, "OrderDtls")
                // More than every row, so one chain of links covers the read.
                .page_size(10_000)
                .parallelism(parallelism);
            let count = query.count().await.unwrap();
            emu.clear_requests();
            let rows: Vec<Row> = query
                .clone()
                .select(["OrderNum", "OrderLine", "PartNum"])
                .rows()
                .try_collect()
                .await
                .unwrap_or_else(|e| panic!("{which}: {e}"));
            assert_eq!(rows.len() as u64, count, "{which}");
            let keys: HashSet<String> = rows
                .iter()
                .map(|r| key_of(r, &["OrderNum", "OrderLine"]))
                .collect();
            assert_eq!(keys.len(), rows.len(), "{which}: no row twice");
            assert!(
                rows.iter().all(|r| r.len() == 3),
                "the key columns asked for the check are dropped"
            );
            let pages =
                assert_read_by_links(&emu, "/OrderDtls", "Company,OrderNum,OrderLine").await;
            assert_eq!(pages as u64, count.div_ceil(37), "{which}");

            // Typed records page the same way.
            emu.clear_requests();
            let records: Vec<epicor_kinetic::api::Record> = query
                .clone()
                .records()
                .try_collect()
                .await
                .unwrap_or_else(|e| panic!("{which}: {e}"));
            assert_eq!(records.len() as u64, count);
            assert_read_by_links(&emu, "/OrderDtls", "Company,OrderNum,OrderLine").await;
        }
    }
}

#[tokio::test]
async fn strict_paging_puts_the_callers_order_before_the_key() {
    let emu = strict_emulator().await;
    let conn = connect(&emu, "basic_v2").await;
    let query = conn
        .entity_set(SALES, "OrderDtls")
        .order_by_str("PartNum desc, OrderQty")
        .unwrap()
        .page_size(10_000);
    let count = query.count().await.unwrap();
    emu.clear_requests();
    let rows: Vec<Row> = query.rows().try_collect().await.unwrap();
    assert_eq!(rows.len() as u64, count);
    let keys: HashSet<String> = rows
        .iter()
        .map(|r| key_of(r, &["Company", "OrderNum", "OrderLine"]))
        .collect();
    // PartNum leaves many lines tied, and the strict server orders ties differently on each page:
    // only the key after the caller's order reads each row once.
    assert_eq!(keys.len(), rows.len(), "no row twice");
    let parts: Vec<&str> = rows.iter().filter_map(|r| r["PartNum"].as_str()).collect();
    assert!(parts.windows(2).all(|w| w[0] >= w[1]), "PartNum desc");
    assert_read_by_links(
        &emu,
        "/OrderDtls",
        "PartNum desc,OrderQty,Company,OrderNum,OrderLine",
    )
    .await;
}

/// Pages smaller than the set: the first chain of links covers the page size asked, then the
/// connector pages by `$skip` at the cap it learnt (pages the server does not cut, which even
/// the strict server accepts). Every row once, no request refused.
#[tokio::test]
async fn strict_paging_with_pages_smaller_than_the_set() {
    let emu = strict_emulator().await;
    let conn = connect(&emu, "basic_v2").await;
    emu.clear_requests();
    all_lines_exact(&conn).await;
    let requests = emu.requests();
    let refused: Vec<_> = requests.iter().filter(|r| r.status != 200).collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert!(
        requests
            .iter()
            .any(|r| option(r.query(), "$skiptoken").is_some()),
        "links were followed: {:?}",
        requests.iter().map(|r| &r.uri).take(5).collect::<Vec<_>>()
    );
}

/// Connections made from one `Client` share its pool and caches: eight connections opened and
/// used at once (client credentials, so discovery is needed) cost one discovery document and one
/// `$metadata`, counted at the server.
#[tokio::test]
async fn connections_from_one_client_share_discovery_and_metadata() {
    let emu = emulator(EmulatorConfig {
        request_log: 10_000,
        ..config()
    })
    .await;
    let text = format!(
        "{};OAuthSettingsLocation=memory://shared-client-test",
        emu.startup_info()["connection_strings"]["azuread_client_secret"]
            .as_str()
            .unwrap()
    );
    let settings = Settings::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let client = epicor_kinetic::Client::new(&settings).unwrap_or_else(|e| panic!("{e}"));
    emu.clear_requests();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let settings = settings.clone();
            tokio::spawn(async move {
                let conn = client.connect(settings).await?;
                conn.entity_set(SALES, "OrderDtls")
                    .top(5)
                    .rows()
                    .try_collect::<Vec<Row>>()
                    .await
            })
        })
        .collect();
    for t in tasks {
        let rows = t.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), 5);
    }
    let requests = emu.requests();
    let count = |part: &str| requests.iter().filter(|r| r.uri.contains(part)).count();
    assert_eq!(
        count("/.well-known/openid-configuration"),
        1,
        "{requests:?}"
    );
    assert_eq!(count("/$metadata"), 1, "{requests:?}");
    assert_eq!(count("/OrderDtls?"), 8, "{requests:?}");
    // Another client has caches of its own.
    let other = epicor_kinetic::Client::new(&settings).unwrap();
    let conn = other.connect(settings.clone()).await.unwrap();
    conn.metadata(SALES).await.unwrap();
    let requests = emu.requests();
    let count = |part: &str| requests.iter().filter(|r| r.uri.contains(part)).count();
    assert_eq!(count("/$metadata"), 2);
    // A connection whose transport differs is refused by the client, naming the property.
    let mut slow = settings.clone();
    slow.timeout = Some(std::time::Duration::from_secs(1));
    let err = client.connect(slow).await.unwrap_err();
    assert_eq!(err.property(), Some("Timeout"), "{err}");
}
