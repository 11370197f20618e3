//! Business-object methods: GetByID, GetList, GetRows (whereClause, paging, morePages), GetNew,
//! Update / UpdateExt by RowMod, DeleteByID.

use super::*;
use serde_json::json;

const SO: &str = "api/v1/Erp.BO.SalesOrderSvc";
const CUST: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc";

#[tokio::test]
async fn get_by_id_returns_the_tableset() {
    let r = shared();
    let j = post(&r, &format!("{SO}/GetByID"), json!({"orderNum": 5001}))
        .await
        .expect(StatusCode::OK)
        .json();
    let ds = &j["returnObj"];
    assert_eq!(ds["OrderHed"].as_array().unwrap().len(), 1);
    assert_eq!(ds["OrderHed"][0]["OrderNum"], 5001);
    assert_eq!(ds["OrderHed"][0]["RowMod"], "");
    let lines = ds["OrderDtl"].as_array().unwrap();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["OrderNum"] == 5001));
    let rels = ds["OrderRel"].as_array().unwrap();
    assert!(rels.len() >= lines.len());
    // The same by GET with a query parameter.
    let g = get(&r, &format!("{SO}/GetByID?orderNum=5001"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(g, j);
    post(&r, &format!("{SO}/GetByID"), json!({"orderNum": 99999999}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "Record not found");
    post(&r, &format!("{SO}/GetByID"), json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "parameter orderNum is required");
    post(&r, &format!("{SO}/GetByID"), json!({"orderNum": "five"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "orderNum");
    send(
        &r,
        Method::PUT,
        &format!("{SO}/GetByID"),
        &[],
        Some(json!({})),
    )
    .await
    .expect_error(StatusCode::METHOD_NOT_ALLOWED, "POST or GET");
}

#[tokio::test]
async fn get_list_and_get_rows_page_with_where_clauses() {
    let r = shared();
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let j = post(
            &r,
            &format!("{CUST}/GetList"),
            json!({"whereClause": "State = 'MN' BY Name", "pageSize": 7, "absolutePage": page}),
        )
        .await
        .expect(StatusCode::OK)
        .json();
        let rows = j["returnObj"]["CustomerList"].as_array().unwrap().clone();
        assert!(rows.len() <= 7);
        assert!(rows.iter().all(|c| c["State"] == "MN"));
        all.extend(rows);
        if j["parameters"]["morePages"] == false {
            break;
        }
        page += 1;
        assert!(page < 100);
    }
    let expected = get(
        &r,
        &format!("{CUST}/Customers/$count?$filter={}", enc("State eq 'MN'")),
    )
    .await
    .text
    .parse::<usize>()
    .unwrap();
    assert_eq!(all.len(), expected, "pages cover every row exactly once");
    let names: Vec<&str> = all.iter().map(|c| c["Name"].as_str().unwrap()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "BY Name");
    // GetRows returns whole tablesets: customers and their ship-tos.
    let j = post(
        &r,
        &format!("{CUST}/GetRows"),
        json!({"whereClauseCustomer": "CustNum <= 5", "pageSize": 0, "absolutePage": 0}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let custs = j["returnObj"]["Customer"].as_array().unwrap();
    assert_eq!(custs.len(), 5);
    assert!(j["returnObj"]["ShipTo"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["CustNum"].as_i64().unwrap() <= 5));
    assert_eq!(j["parameters"]["morePages"], false);
    let g = get(
        &r,
        &format!(
            "{CUST}/GetRows?whereClause={}&pageSize=2&absolutePage=1",
            enc("CustNum <= 5")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(g["returnObj"]["Customer"].as_array().unwrap().len(), 2);
    assert_eq!(g["parameters"]["morePages"], true);
    post(
        &r,
        &format!("{CUST}/GetList"),
        json!({"whereClause": "Name = 'unterminated"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "Invalid whereClause");
    post(
        &r,
        &format!("{CUST}/GetList"),
        json!({"whereClause": "Nope = 1"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "Nope");
    // Values are bound, never spliced: a quote in a value is just a character.
    let j = post(
        &r,
        &format!("{CUST}/GetList"),
        json!({"whereClause": "Name = 'x'' OR 1=1 --'"}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert!(j["returnObj"]["CustomerList"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn get_new_update_and_delete_by_rowmod() {
    let r = fresh(|c| c.scale = 200);
    let j = post(&r, &format!("{CUST}/GetNewCustomer"), json!({"ds": {}}))
        .await
        .expect(StatusCode::OK)
        .json();
    let mut ds = j["parameters"]["ds"].clone();
    let new = &mut ds["Customer"][0];
    assert_eq!(new["RowMod"], "A");
    assert_eq!(new["Company"], "EPIC06");
    new["CustID"] = json!("ROWMOD");
    new["Name"] = json!("RowMod Ltd");
    let j = post(&r, &format!("{CUST}/Update"), json!({"ds": ds}))
        .await
        .expect(StatusCode::OK)
        .json();
    let saved = &j["parameters"]["ds"]["Customer"][0];
    let num = saved["CustNum"].as_i64().unwrap();
    assert!(num > 0);
    assert_eq!(saved["Name"], "RowMod Ltd");
    // GetNewShipTo takes the parent key.
    let j = post(
        &r,
        &format!("{CUST}/GetNewShipTo"),
        json!({"ds": {}, "custNum": num}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let mut st = j["parameters"]["ds"]["ShipTo"][0].clone();
    assert_eq!(st["CustNum"], num);
    st["ShipToNum"] = json!("S1");
    st["Name"] = json!("Side door");
    // One Update: change the customer ("U") and add a ship-to ("A") together.
    let ds = json!({"Customer": [{"Company": "EPIC06", "CustNum": num, "City": "Bemidji", "RowMod": "U"}], "ShipTo": [st]});
    let j = post(&r, &format!("{CUST}/Update"), json!({"ds": ds}))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(j["parameters"]["ds"]["Customer"][0]["City"], "Bemidji");
    assert_eq!(j["parameters"]["ds"]["ShipTo"].as_array().unwrap().len(), 1);
    // Update is all or nothing: a bad row rolls back the good one.
    let ds = json!({"Customer": [{"Company": "EPIC06", "CustNum": num, "City": "Nowhere", "RowMod": "U"},
                                 {"Company": "EPIC06", "CustNum": 424242, "City": "x", "RowMod": "U"}]});
    post(&r, &format!("{CUST}/Update"), json!({"ds": ds}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "record not found");
    let row = get(&r, &format!("{CUST}/Customers('EPIC06',{num})"))
        .await
        .json();
    assert_eq!(row["City"], "Bemidji", "rolled back");
    // UpdateExt with continueProcessingOnError keeps the good rows and reports the bad ones.
    let ds = json!({"Customer": [{"Company": "EPIC06", "CustNum": num, "City": "Hibbing"},
                                 {"Company": "EPIC06", "CustID": "BADLIMIT", "Name": "x", "CreditLimit": "many"}]});
    let j = post(
        &r,
        &format!("{CUST}/UpdateExt"),
        json!({"ds": ds, "continueProcessingOnError": true, "rollbackParentOnChildError": false}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(j["parameters"]["errorsOccurred"], true);
    let errs = j["returnObj"]["BOUpdError"].as_array().unwrap();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]["ErrorText"]
            .as_str()
            .unwrap()
            .contains("CreditLimit"),
        "{errs:?}"
    );
    assert_eq!(
        get(&r, &format!("{CUST}/Customers('EPIC06',{num})"))
            .await
            .json()["City"],
        "Hibbing"
    );
    // RowMod "D" deletes; DeleteByID too.
    let ds = json!({"ShipTo": [{"Company": "EPIC06", "CustNum": num, "ShipToNum": "S1", "RowMod": "D"}]});
    post(&r, &format!("{CUST}/Update"), json!({"ds": ds}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        get(
            &r,
            &format!("{CUST}/Customers('EPIC06',{num})/ShipTos/$count")
        )
        .await
        .text,
        "0"
    );
    post(&r, &format!("{CUST}/DeleteByID"), json!({"custNum": num}))
        .await
        .expect(StatusCode::OK);
    get(&r, &format!("{CUST}/Customers('EPIC06',{num})"))
        .await
        .expect(StatusCode::NOT_FOUND);
    // Bad shapes.
    post(&r, &format!("{CUST}/Update"), json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "parameter ds is required");
    post(&r, &format!("{CUST}/Update"), json!({"ds": {"Part": [{}]}}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "has no table Part");
    post(
        &r,
        &format!("{CUST}/Update"),
        json!({"ds": {"Customer": [{"CustNum": 1, "RowMod": "X"}]}}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "RowMod \"X\"");
    let raw = send(
        &r,
        Method::POST,
        &format!("{CUST}/GetByID"),
        &[("content-type", "application/json")],
        None,
    )
    .await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    let _ = raw;
}

#[tokio::test]
async fn other_services_answer_their_methods() {
    let r = shared();
    let part = get(&r, "api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts?$top=1")
        .await
        .rows()[0]["PartNum"]
        .clone();
    let j = post(
        &r,
        "api/v2/odata/EPIC06/Erp.BO.PartSvc/GetByID",
        json!({"partNum": part}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(j["returnObj"]["Part"][0]["PartNum"], part);
    let j = post(
        &r,
        "api/v2/odata/EPIC06/Erp.BO.VendorSvc/GetByID",
        json!({"vendorNum": 3}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(j["returnObj"]["Vendor"][0]["VendorNum"], 3);
    post(
        &r,
        "api/v2/odata/EPIC06/Erp.BO.VendorSvc/Frobnicate",
        json!({}),
    )
    .await
    .expect_error(
        StatusCode::NOT_FOUND,
        "no entity set or method named 'Frobnicate'",
    );
}

/// Every 405 names, in `Allow`, the methods the resource does take (RFC 9110 15.5.6), and each
/// of those is indeed not refused with 405; GetBySysRowIDs (an array parameter) is POST only.
#[tokio::test]
async fn method_not_allowed_says_which_methods_are() {
    // Its own database: the methods in Allow are tried, DELETE among them.
    let r = fresh(|_| {});
    for (method, uri, allow) in [
        (
            Method::TRACE,
            "api/v1/Erp.BO.CustomerSvc/Customers",
            "GET, HEAD, POST",
        ),
        (
            Method::POST,
            "api/v1/Erp.BO.CustomerSvc/Customers('EPIC06',1)",
            "GET, HEAD, PATCH, PUT, DELETE",
        ),
        (
            Method::DELETE,
            "api/v1/Erp.BO.CustomerSvc/GetByID",
            "GET, HEAD, POST",
        ),
        (
            Method::GET,
            "api/v1/Erp.BO.CustomerSvc/GetBySysRowIDs",
            "POST",
        ),
        (Method::GET, "api/v1/Erp.BO.CustomerSvc/Update", "POST"),
        (
            Method::POST,
            "api/v1/Erp.BO.CustomerSvc/$metadata",
            "GET, HEAD",
        ),
        (Method::GET, "TokenResource.svc/", "POST"),
    ] {
        let reply = send(&r, method.clone(), uri, &[], None).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        assert_eq!(
            reply.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {uri}"
        );
        for allowed in allow.split(", ") {
            let m = Method::from_bytes(allowed.as_bytes()).unwrap();
            let body = (m != Method::GET && m != Method::HEAD).then(|| json!({}));
            let reply = send(&r, m.clone(), uri, &[], body).await;
            assert_ne!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{m} {uri} is in Allow"
            );
        }
    }
}
