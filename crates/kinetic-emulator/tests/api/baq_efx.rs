//! BAQs (v1 and v2, parameters, query options, the updatable one) and Epicor Functions.

use super::*;
use serde_json::json;

#[tokio::test]
async fn baq_list_and_data_in_both_versions() {
    let r = shared();
    let list = get(&r, "api/v1/BaqSvc/")
        .await
        .expect(StatusCode::OK)
        .rows();
    let ids: Vec<&str> = list
        .iter()
        .map(|b| b["QueryID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["zCustomerList", "zOrdersByCustomer", "zPartSales"]);
    let v1 = get(&r, "api/v1/BaqSvc/zCustomerList/")
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(v1["odata.metadata"].is_string());
    let rows = v1["value"].as_array().unwrap();
    assert!(rows.len() >= 60);
    assert!(rows[0]["Customer_CustID"].is_string());
    assert!(rows.iter().all(|r| r["Customer_Company"] == "EPIC06"));
    let v2 = get(
        &r,
        &format!(
            "{V2}/BaqSvc/zCustomerList/Data?$filter={}&$select=Customer_CustNum,Customer_State&$top=4&$orderby={}",
            enc("Customer_State eq 'TX'"),
            enc("Customer_CustNum desc")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert!(v2["@odata.context"].as_str().unwrap().ends_with("#Data"));
    let rows = v2["value"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows
        .iter()
        .all(|r| r["Customer_State"] == "TX" && r.as_object().unwrap().len() == 2));
    assert!(rows[0]["Customer_CustNum"].as_i64() > rows[1]["Customer_CustNum"].as_i64());
    let md = get(&r, &format!("{V2}/BaqSvc/zCustomerList/$metadata"))
        .await
        .expect(StatusCode::OK)
        .text;
    let md = epicor_kinetic_odata::csdl::Metadata::from_xml(&md).unwrap();
    assert!(md.entity_set("Data").is_some());
    get(&r, &format!("{V2}/BaqSvc/zNope/Data"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "BAQ zNope not found");
    get(&r, &format!("{V2}/BaqSvc/zCustomerList"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "/Data");
    get(
        &r,
        &format!(
            "{V2}/BaqSvc/zCustomerList/Data?$filter={}",
            enc("Nope eq 1")
        ),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "Nope");
}

#[tokio::test]
async fn baq_parameters() {
    let r = shared();
    let cust = get(
        &r,
        &format!("{V2}/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',5001)"),
    )
    .await
    .json()["CustNum"]
        .clone();
    let cust_id = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',{cust})"),
    )
    .await
    .json()["CustID"]
        .as_str()
        .unwrap()
        .to_string();
    let v1 = get(
        &r,
        &format!("api/v1/BaqSvc/zOrdersByCustomer/?CustID={cust_id}"),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(v1.iter().any(|o| o["OrderHed_OrderNum"] == 5001));
    assert!(v1.iter().all(|o| o["Customer_CustID"] == cust_id.as_str()));
    assert!(v1[0]["Calculated_LineCount"].as_i64().unwrap() >= 1);
    let v2 = get(
        &r,
        &format!(
            "{V2}/BaqSvc/zOrdersByCustomer/Data?CustID={cust_id}&$filter={}",
            enc("Calculated_LineCount ge 3")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(v2
        .iter()
        .all(|o| o["Calculated_LineCount"].as_i64().unwrap() >= 3));
    assert!(v2.len() <= v1.len());
    get(&r, &format!("{V2}/BaqSvc/zOrdersByCustomer/Data"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "needs the parameter CustID");
    get(
        &r,
        &format!("{V2}/BaqSvc/zOrdersByCustomer/Data?CustID=X&Colour=red"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "has no parameter Colour");
    let sales = get(
        &r,
        &format!(
            "{V2}/BaqSvc/zPartSales/Data?MinQty=1&$orderby={}&$top=3",
            enc("Calculated_Revenue desc")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert_eq!(sales.len(), 3);
    assert!(sales[0]["Calculated_Revenue"].as_f64() >= sales[1]["Calculated_Revenue"].as_f64());
    get(&r, &format!("{V2}/BaqSvc/zPartSales/Data?MinQty=lots"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "MinQty");
}

#[tokio::test]
async fn updatable_baq_writes_back() {
    // Partial rows, the lenient variant of an unsettled fact (baq_partial_rows); the default, the
    // full row as read, is tested in realism.rs.
    let r = fresh(|c| {
        c.scale = 200;
        c.baq_partial_rows = true;
    });
    let row = json!({"Customer_Company": "EPIC06", "Customer_CustNum": 2, "Customer_Name": "Renamed By BAQ", "Customer_CreditLimit": 777});
    send(
        &r,
        Method::PATCH,
        &format!("{V2}/BaqSvc/zCustomerList/Data"),
        &[],
        Some(row),
    )
    .await
    .expect(StatusCode::OK);
    let reply = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',2)"),
    )
    .await;
    assert!(
        reply.text.contains("\"CreditLimit\":777.000,"),
        "{}",
        reply.text
    );
    assert_eq!(reply.json()["Name"], "Renamed By BAQ");
    send(
        &r,
        Method::PATCH,
        &format!("{V2}/BaqSvc/zCustomerList/Data"),
        &[],
        Some(json!({"Customer_Company": "EPIC06", "Customer_CustNum": 2, "Customer_CustID": "NO"})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "not updatable");
    send(
        &r,
        Method::PATCH,
        &format!("{V2}/BaqSvc/zCustomerList/Data"),
        &[],
        Some(json!({"Customer_Name": "no key"})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "Customer_CustNum");
    send(
        &r,
        Method::PATCH,
        &format!("{V2}/BaqSvc/zPartSales/Data"),
        &[],
        Some(json!({"Part_PartNum": "x"})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "BAQ zPartSales is not updatable");
    send(
        &r,
        Method::PATCH,
        "api/v1/BaqSvc/zCustomerList/",
        &[],
        Some(json!({"Customer_CustNum": 3, "Customer_City": "Fargo"})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        get(
            &r,
            &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',3)")
        )
        .await
        .json()["City"],
        "Fargo"
    );
}

#[tokio::test]
async fn epicor_functions_published_and_staging() {
    let r = fresh(|c| c.scale = 200);
    let libs = get(&r, "api/v2/efx/EPIC06")
        .await
        .expect(StatusCode::OK)
        .rows();
    let funcs: Vec<&str> = libs[0]["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionID"].as_str().unwrap())
        .collect();
    assert_eq!(
        funcs,
        ["GetCreditStatus", "SetCreditHold"],
        "unpublished functions are hidden outside staging"
    );
    let staged = get(&r, "api/v2/efx/staging/EPIC06").await.rows();
    assert_eq!(staged[0]["Functions"].as_array().unwrap().len(), 3);

    let cust_id = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',1)"),
    )
    .await
    .json()["CustID"]
        .as_str()
        .unwrap()
        .to_string();
    let out = post(
        &r,
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        json!({"CustID": cust_id}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(out["Found"], true);
    assert!(out["OpenOrders"].is_number());
    let out = post(
        &r,
        "api/v2/efx/EPIC06/CustomerTools/SetCreditHold",
        json!({"CustID": cust_id, "Hold": true}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(out["Success"], true);
    assert_eq!(
        get(
            &r,
            &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',1)")
        )
        .await
        .json()["CreditHold"],
        true
    );
    // A function whose own logic fails still answers 200.
    let out = post(
        &r,
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        json!({"CustID": "NOBODY"}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(out["Found"], false);
    assert!(out["Message"].as_str().unwrap().contains("not found"));
    // Staging only.
    post(
        &r,
        "api/v2/efx/EPIC06/CustomerTools/OrderSummary",
        json!({"OrderNum": 5001}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not published");
    let out = post(
        &r,
        "api/v2/efx/staging/EPIC06/CustomerTools/OrderSummary",
        json!({"OrderNum": 5001}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(out["Found"], true);
    assert!(out["LineCount"].as_i64().unwrap() >= 1);
    // Errors.
    post(&r, "api/v2/efx/EPIC06/NoSuchLib/F", json!({}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "Library NoSuchLib");
    post(
        &r,
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        json!({"Cust": "x"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "has no input Cust");
    post(
        &r,
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        json!({"CustID": 5}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "must be a string");
    post(
        &r,
        "api/v2/efx/NOPE/CustomerTools/GetCreditStatus",
        json!({}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "Company 'NOPE'");
    get(&r, "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus")
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "POST");
    // An empty body means no inputs.
    let empty = send(
        &r,
        Method::POST,
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        &[],
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(empty["Found"], false);
}
