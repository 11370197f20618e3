//! A server that breaks its own `$metadata` (a decimal column holding `"n/a"` in one row): the
//! SQL scan, which reads each cell from the server's JSON text straight into its Arrow column,
//! must fail the statement naming the row, its key, the column, the type and the value, never
//! answer with the cell dropped, nulled or read as something else. Cells that do read (padded
//! text, decimals as strings and as numbers) come typed. Nothing leaves 127.0.0.1.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Decimal128Type;
use epicor_kinetic_odata::csdl::{
    EdmType, EntityContainer, EntitySet, EntityType, Metadata, ODataVersion, Property, Schema,
};
use serde_json::{json, Value};

/// `Erp.BO.TestSvc/Items` (key `Id`; `Amount` `Edm.Decimal` with scale 2), 10 rows in pages of
/// at most 4 by `$top`/`$skip`; when `lie`, row 6 (`Id` 7) holds `"n/a"` in `Amount`.
async fn server(lie: bool) -> u16 {
    use axum::extract::Request;
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;

    let metadata = Metadata {
        schemas: vec![Schema {
            namespace: "Test".into(),
            entity_types: vec![EntityType {
                name: "Item".into(),
                key: vec!["Id".into()],
                properties: vec![
                    Property::new("Id", EdmType::Int32),
                    Property::new("Name", EdmType::String),
                    Property {
                        precision: Some(18),
                        scale: Some(2),
                        ..Property::new("Amount", EdmType::Decimal)
                    },
                ],
                navigation: vec![],
            }],
            entity_container: Some(EntityContainer {
                name: "Container".into(),
                entity_sets: vec![EntitySet {
                    name: "Items".into(),
                    entity_type: "Test.Item".into(),
                    navigation_bindings: vec![],
                }],
            }),
        }],
    }
    .to_xml(ODataVersion::V3);
    let rows: Vec<Value> = (0..10)
        .map(|i| {
            let amount = match i {
                6 if lie => json!("n/a"),
                // v1 sends decimals as strings; some servers as numbers.
                i if i % 2 == 0 => json!(format!("{i}.25")),
                i => json!(f64::from(i) + 0.5),
            };
            // Padded as SQL Server's CHAR columns come.
            json!({"Id": i + 1, "Name": format!("item {i}   "), "Amount": amount})
        })
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(move |req: Request| {
        let (metadata, rows) = (metadata.clone(), rows.clone());
        async move {
            let query = req.uri().query().unwrap_or("").to_owned();
            let get = |name: &str| {
                query
                    .split('&')
                    .find_map(|p| p.strip_prefix(name))
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let (kind, body) = match req.uri().path() {
                "/Kinetic/api/v1/" => (
                    "application/json",
                    json!({"value": [{"name": "Erp.BO.TestSvc", "url": "Erp.BO.TestSvc"}]})
                        .to_string(),
                ),
                "/Kinetic/api/v1/Erp.BO.TestSvc/$metadata" => ("application/xml", metadata),
                "/Kinetic/api/v1/Erp.BO.TestSvc/Items" => {
                    let skip = get("$skip=").unwrap_or(0);
                    let top = get("$top=").unwrap_or(usize::MAX).min(4);
                    let value: Vec<Value> = rows.into_iter().skip(skip).take(top).collect();
                    (
                        "application/json",
                        json!({"odata.metadata": "x", "value": value}).to_string(),
                    )
                }
                _ => return (StatusCode::NOT_FOUND, "no such resource").into_response(),
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, kind)], body).into_response()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

fn connection(port: u16) -> String {
    format!("URL=http://127.0.0.1:{port};ERPInstance=Kinetic;User=u;Password=p;AuthScheme=Basic")
}

#[tokio::test]
async fn a_cell_that_breaks_its_type_fails_the_statement_naming_it() {
    let honest = super::common::session_with(&connection(server(false).await)).await;
    let batches = honest
        .query("SELECT Id, Name, Amount FROM Items ORDER BY Id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 10);
    let b = &batches[0];
    assert_eq!(b.column(1).as_string::<i32>().value(0), "item 0", "trimmed");
    let amounts = b.column(2).as_primitive::<Decimal128Type>();
    assert_eq!(
        (amounts.value(0), amounts.value(1)),
        (25, 150),
        "0.25 and 1.5 at scale 2"
    );

    let lying = super::common::session_with(&connection(server(true).await)).await;
    for sql in [
        "SELECT SUM(Amount) FROM Items",
        "SELECT Id, Amount FROM Items ORDER BY Id",
    ] {
        let e = match lying.query(sql).await {
            Ok(result) => result.collect().await.expect_err(sql),
            Err(e) => e,
        };
        let text = e.to_string();
        for part in [
            "row 6 (counting from 0)",
            "with key Id=7",
            "column Amount",
            "Edm.Decimal",
            "\"n/a\"",
            "/Kinetic/api/v1/Erp.BO.TestSvc/Items",
        ] {
            assert!(text.contains(part), "{sql}: {part:?} in {text}");
        }
    }
    // A statement that does not read the column is not concerned (the server sends it anyway).
    let names = lying
        .query("SELECT COUNT(Name) FROM Items")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        names[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0),
        10
    );
    assert!(!names[0].column(0).is_null(0));
}
