//! Writes: POST / PATCH / DELETE, validation, optimistic concurrency, and concurrent writers.

use super::*;
use serde_json::json;

const CUSTOMERS: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers";

#[tokio::test]
async fn create_read_update_delete() {
    let r = fresh(|c| c.scale = 200);
    let created = post(&r, CUSTOMERS, json!({"CustID": "NEWCO", "Name": "New Co", "CreditLimit": 1234.5, "EstDate": "2025-02-03T00:00:00"}))
        .await
        .expect(StatusCode::CREATED);
    assert!(
        created.text.contains("\"CreditLimit\":1234.500,"),
        "decimals at their scale: {}",
        created.text
    );
    let row = created.json();
    let num = row["CustNum"].as_i64().unwrap();
    assert!(num > 1, "auto-numbered CustNum");
    assert_eq!(row["Company"], "EPIC06");
    assert_eq!(row["SysRevID"], 1);
    assert_eq!(row["EstDate"], "2025-02-03T00:00:00");
    assert!(uuid::Uuid::parse_str(row["SysRowID"].as_str().unwrap()).is_ok());
    let location = created.headers["location"].to_str().unwrap().to_string();
    assert!(
        location.ends_with(&format!("Customers('EPIC06',{num})")),
        "{location}"
    );

    let key = format!("{CUSTOMERS}('EPIC06',{num})");
    send(
        &r,
        Method::PATCH,
        &key,
        &[],
        Some(json!({"City": "Duluth", "CreditHold": true})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let row = get(&r, &key).await.expect(StatusCode::OK).json();
    assert_eq!(row["City"], "Duluth");
    assert_eq!(row["CreditHold"], true);
    assert_eq!(
        row["Name"], "New Co",
        "a partial update keeps other columns"
    );
    assert_eq!(row["SysRevID"], 2, "each write bumps SysRevID");

    // A stale SysRevID is refused: someone else changed the row.
    send(
        &r,
        Method::PATCH,
        &key,
        &[],
        Some(json!({"City": "Ely", "SysRevID": 1})),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "modified by another user");
    send(
        &r,
        Method::PATCH,
        &key,
        &[],
        Some(json!({"City": "Ely", "SysRevID": 2})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);

    // Duplicate keys conflict.
    post(
        &r,
        CUSTOMERS,
        json!({"CustNum": num, "CustID": "DUP", "Name": "Dup"}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "already exists");

    // Child rows through navigation.
    let st = post(
        &r,
        &format!("{key}/ShipTos"),
        json!({"ShipToNum": "DOCK1", "Name": "Dock"}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    assert_eq!(st["CustNum"], num);
    send(&r, Method::DELETE, &key, &[], None)
        .await
        .expect(StatusCode::NO_CONTENT);
    get(&r, &key)
        .await
        .expect_error(StatusCode::NOT_FOUND, "record not found");
    // Its ship-tos went with it.
    let left = get(
        &r,
        &format!("api/v2/odata/EPIC06/Erp.BO.CustomerSvc/ShipTos?$filter=CustNum%20eq%20{num}"),
    )
    .await
    .rows();
    assert!(left.is_empty());
    send(&r, Method::DELETE, &key, &[], None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "record not found");
}

#[tokio::test]
async fn bad_writes_are_refused_with_the_reason() {
    let r = fresh(|c| c.scale = 200);
    post(&r, CUSTOMERS, json!({"CustID": "X", "Nmae": "typo"}))
        .await
        .expect_error(
            StatusCode::BAD_REQUEST,
            "Could not find a property named 'Nmae'",
        );
    post(&r, CUSTOMERS, json!({"CustID": "X", "CreditLimit": "lots"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "CreditLimit must be Edm.Decimal");
    post(
        &r,
        CUSTOMERS,
        json!({"CustID": "X", "CreditLimit": 12345678901234567.0}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "does not fit Edm.Decimal(17,3)");
    post(
        &r,
        CUSTOMERS,
        json!({"CustID": "X", "Name": "x".repeat(51)}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "limited to 50 characters");
    post(&r, CUSTOMERS, json!({"CustID": "X", "CustNum": "abc"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "CustNum must be Edm.Int32");
    post(
        &r,
        CUSTOMERS,
        json!({"CustID": "X", "EstDate": "31/01/2025"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "EstDate must be");
    post(&r, CUSTOMERS, json!({"CustID": "X", "Name": null}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "Name cannot be null");
    let bad_json = send(&r, Method::POST, CUSTOMERS, &[], None).await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    post(&r, CUSTOMERS, json!([1, 2]))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "JSON object");
    send(
        &r,
        Method::PATCH,
        &format!("{CUSTOMERS}('EPIC06',1)"),
        &[],
        Some(json!({"CustNum": 2})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "part of the key");
    send(
        &r,
        Method::PATCH,
        CUSTOMERS,
        &[],
        Some(json!({"City": "x"})),
    )
    .await
    .expect_error(StatusCode::METHOD_NOT_ALLOWED, "by its key");
    send(
        &r,
        Method::PATCH,
        &format!("{CUSTOMERS}('EPIC06',987654)"),
        &[],
        Some(json!({"City": "x"})),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "record not found");
    // Numbers sent as strings are accepted, as Epicor clients do.
    let reply = post(
        &r,
        CUSTOMERS,
        json!({"CustID": "STR", "Name": "Strings", "CreditLimit": "10.5", "CreditHold": "true"}),
    )
    .await
    .expect(StatusCode::CREATED);
    assert!(
        reply.text.contains("\"CreditLimit\":10.500,"),
        "{}",
        reply.text
    );
    let row = reply.json();
    assert_eq!(row["CreditHold"], true);
}

#[tokio::test]
async fn concurrent_writers_never_lose_an_update() {
    let r = fresh(|c| c.scale = 200);
    let key = format!("{CUSTOMERS}('EPIC06',1)");
    let before = get(&r, &key).await.json()["SysRevID"].as_i64().unwrap();
    // 24 writers at once: 12 PATCH different columns of one row, 12 call UpdateExt on it.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let r = r.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let col = ["Address1", "City", "State", "Zip", "Country", "PhoneNum"][i / 2 % 6];
                let body = json!({ col: format!("v{i}") });
                send(&r, Method::PATCH, &key, &[], Some(body)).await.expect(StatusCode::NO_CONTENT);
            } else {
                let body = json!({"ds": {"Customer": [{"Company": "EPIC06", "CustNum": 1, "EMailAddress": format!("w{i}@x.example")}]}, "continueProcessingOnError": false});
                let j = post(&r, "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/UpdateExt", body).await.expect(StatusCode::OK).json();
                assert_eq!(j["parameters"]["errorsOccurred"], false);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = get(&r, &key).await.json();
    assert_eq!(
        after["SysRevID"].as_i64().unwrap(),
        before + 24,
        "every write counted"
    );
    // The last PATCH of each column is one of the values written to it.
    for (k, col) in ["Address1", "City", "State", "Zip", "Country", "PhoneNum"]
        .iter()
        .enumerate()
    {
        let v = after[col].as_str().unwrap();
        assert!(
            v == format!("v{}", 2 * k) || v == format!("v{}", 2 * (k + 6)),
            "{col}={v}"
        );
    }
}

#[tokio::test]
async fn a_kept_database_is_reused_and_a_foreign_file_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("erp.db");
    let config = EmulatorConfig {
        scale: 150,
        db: Some(path.clone()),
        ..EmulatorConfig::default()
    };
    let first = Emulator::new(config.clone()).unwrap();
    assert!(first.report().generated.is_some());
    let r = first.router();
    send(
        &r,
        Method::PATCH,
        &format!("{CUSTOMERS}('EPIC06',1)"),
        &[],
        Some(json!({"City": "Kept"})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    drop(r);
    drop(first);
    // The same file again, even with another scale: reused as it is, the write still there.
    let second = Emulator::new(EmulatorConfig {
        scale: 999,
        ..config.clone()
    })
    .unwrap();
    assert!(second.report().generated.is_none());
    assert_eq!(second.report().scale, 150);
    assert_eq!(
        get(&second.router(), &format!("{CUSTOMERS}('EPIC06',1)"))
            .await
            .json()["City"],
        "Kept"
    );
    drop(second);
    // A file that is not ours is refused and left alone.
    let foreign = dir.path().join("notes.db");
    std::fs::write(&foreign, b"precious data").unwrap();
    let err = Emulator::new(EmulatorConfig {
        db: Some(foreign.clone()),
        ..config
    })
    .err()
    .expect("refused");
    assert!(
        err.to_string()
            .contains("is not a kinetic emulator database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&foreign).unwrap(), b"precious data");
}

/// An order line's `CustNum` is its order's, as Epicor keeps it: in the generated data, on a new
/// line (whatever is sent), and after the order moves to another customer.
#[tokio::test]
async fn order_lines_carry_their_orders_customer() {
    const ORDERS: &str = "api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/SalesOrders";
    const LINES: &str = "api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/OrderDtls";
    let r = fresh(|c| c.scale = 200);
    let orders = get(&r, &format!("{ORDERS}?$top=20&$select=OrderNum,CustNum&$expand=OrderDtls($select=OrderLine,CustNum)"))
        .await
        .expect(StatusCode::OK)
        .rows();
    assert_eq!(orders.len(), 20);
    for o in &orders {
        let lines = o["OrderDtls"].as_array().unwrap();
        assert!(!lines.is_empty(), "{o}");
        assert!(lines.iter().all(|l| l["CustNum"] == o["CustNum"]), "{o}");
    }
    let order = &orders[0];
    let num = order["OrderNum"].as_i64().unwrap();
    let cust = order["CustNum"].as_i64().unwrap();
    let line = post(
        &r,
        LINES,
        json!({"OrderNum": num, "CustNum": cust + 1, "PartNum": "X", "OrderQty": 1, "UnitPrice": 2}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    assert_eq!(
        line["CustNum"], cust,
        "the header's customer, not the one sent"
    );

    let other = if cust == 1 { 2 } else { 1 };
    send(
        &r,
        Method::PATCH,
        &format!("{ORDERS}('EPIC06',{num})"),
        &[],
        Some(json!({"CustNum": other})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let lines = get(
        &r,
        &format!("{LINES}?$filter=OrderNum%20eq%20{num}&$select=CustNum"),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(lines.len() >= 2);
    assert!(lines.iter().all(|l| l["CustNum"] == other), "{lines:?}");
}
