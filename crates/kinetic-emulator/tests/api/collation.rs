//! Text compares as Epicor's SQL Server compares it (`SQL_Latin1_General_CP1_CI_AS`, see
//! shared/EPICOR.md): case ignored, trailing spaces ignored by comparisons and by `length`; and
//! byte for byte with `collation = "binary"`. Each expectation is written from that rule over
//! rows this test creates, not read back from the server.

use super::*;
use epicor_kinetic_emulator::collation::Collation;
use serde_json::json;
use std::collections::BTreeSet;

const CUSTOMERS: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers";

/// A fresh emulator with four customers whose IDs differ in case and trailing spaces.
async fn world(collation: Collation) -> Router {
    let r = fresh(|c| {
        c.scale = 200;
        c.collation = collation;
    });
    for id in ["ZQ123", "zq124", "Zq125", "ZQ126 "] {
        let row = send(
            &r,
            Method::POST,
            CUSTOMERS,
            &[],
            Some(json!({"CustID": id, "Name": format!("Collation {id}")})),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
        assert_eq!(row["CustID"], id, "stored as sent");
    }
    r
}

/// The CustIDs (as stored) of the customers `filter` selects among those this test made.
async fn ids(r: &Router, filter: &str) -> BTreeSet<String> {
    let filter = format!("startswith(Name,'Collation ') and ({filter})");
    get(
        r,
        &format!("{CUSTOMERS}?$select=CustID&$filter={}", enc(&filter)),
    )
    .await
    .expect(StatusCode::OK)
    .rows()
    .iter()
    .map(|row| row["CustID"].as_str().unwrap().to_owned())
    .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn create(r: &Router, id: &str) -> Reply {
    send(
        r,
        Method::POST,
        CUSTOMERS,
        &[],
        Some(json!({"CustID": id, "Name": "Collation again"})),
    )
    .await
}

#[tokio::test]
async fn text_compares_as_sql_server_does_by_default() {
    let r = world(Collation::Ci).await;
    // A key that differs only in case or trailing spaces is the same key.
    create(&r, "zq123  ")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "already exists");
    // Equality ignores case and trailing spaces (the shorter side is padded).
    assert_eq!(ids(&r, "CustID eq 'zq123'").await, set(&["ZQ123"]));
    assert_eq!(ids(&r, "CustID eq 'ZQ123   '").await, set(&["ZQ123"]));
    assert_eq!(ids(&r, "CustID eq 'zq126'").await, set(&["ZQ126 "]));
    assert_eq!(
        ids(&r, "CustID ne 'zq123'").await,
        set(&["zq124", "Zq125", "ZQ126 "])
    );
    assert_eq!(
        ids(&r, "CustID in ('zQ124','ZQ125 ')").await,
        set(&["zq124", "Zq125"])
    );
    // Orderings ignore case too.
    assert_eq!(
        ids(&r, "CustID gt 'ZQ123'").await,
        set(&["zq124", "Zq125", "ZQ126 "])
    );
    assert_eq!(ids(&r, "CustID le 'zq124'").await, set(&["ZQ123", "zq124"]));
    // LIKE-like functions ignore case (on nvarchar, trailing spaces of the value count); LEN
    // leaves trailing spaces out.
    assert_eq!(ids(&r, "startswith(CustID,'zq12')").await.len(), 4);
    assert_eq!(ids(&r, "contains(CustID,'Q124')").await, set(&["zq124"]));
    assert_eq!(ids(&r, "endswith(CustID,'q125')").await, set(&["Zq125"]));
    assert_eq!(ids(&r, "endswith(CustID,'126')").await, set(&[]));
    assert_eq!(ids(&r, "length(CustID) eq 5").await.len(), 4);
    assert_eq!(ids(&r, "indexof(CustID,'q12') eq 1").await.len(), 4);
    // Computed text compares as columns do.
    assert_eq!(ids(&r, "toupper(CustID) eq 'zq125'").await, set(&["Zq125"]));
    // $orderby on text ignores case.
    let ordered: Vec<String> = get(
        &r,
        &format!(
            "{CUSTOMERS}?$select=CustID&$orderby={}&$filter={}",
            enc("CustID desc"),
            enc("startswith(Name,'Collation ')")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows()
    .iter()
    .map(|row| row["CustID"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(ordered, ["ZQ126 ", "Zq125", "zq124", "ZQ123"]);
    // Company and key lookups ignore case as well.
    let found = get(
        &r,
        &format!(
            "{CUSTOMERS}?$select=CustID&$filter={}",
            enc("Company eq 'epic06' and CustID eq 'ZQ124'")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn binary_collation_compares_bytes() {
    let r = world(Collation::Binary).await;
    assert_eq!(ids(&r, "CustID eq 'zq123'").await, set(&[]));
    assert_eq!(ids(&r, "CustID eq 'ZQ123'").await, set(&["ZQ123"]));
    assert_eq!(ids(&r, "CustID eq 'ZQ126'").await, set(&[]));
    assert_eq!(
        ids(&r, "CustID ne 'ZQ123'").await,
        set(&["zq124", "Zq125", "ZQ126 "])
    );
    assert_eq!(ids(&r, "startswith(CustID,'zq12')").await, set(&["zq124"]));
    assert_eq!(
        ids(&r, "contains(CustID,'Q12')").await,
        set(&["ZQ123", "ZQ126 "])
    );
    assert_eq!(ids(&r, "endswith(CustID,'123')").await, set(&["ZQ123"]));
    assert_eq!(ids(&r, "length(CustID) eq 6").await, set(&["ZQ126 "]));
    assert_eq!(
        ids(&r, "indexof(CustID,'q12') eq 1").await,
        set(&["zq124", "Zq125"])
    );
    // Byte order: upper case before lower case, a longer text after its prefix.
    assert_eq!(
        ids(&r, "CustID gt 'ZQ126'").await,
        set(&["zq124", "Zq125", "ZQ126 "])
    );
    // Keys differing in case are different keys.
    create(&r, "zq123").await.expect(StatusCode::CREATED);
}

#[tokio::test]
async fn a_kept_database_keeps_its_collation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("erp.db");
    let config = |collation| EmulatorConfig {
        scale: 100,
        db: Some(path.clone()),
        collation,
        ..EmulatorConfig::default()
    };
    drop(Emulator::new(config(Collation::Binary)).expect("generated"));
    let err = Emulator::new(config(Collation::Ci))
        .err()
        .expect("another collation is refused")
        .to_string();
    assert!(
        err.contains("--collation binary") && err.contains("--collation ci"),
        "{err}"
    );
    Emulator::new(config(Collation::Binary)).expect("the same collation reuses it");
}
