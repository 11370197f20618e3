//! Company limits (issue 26, finding 1): a user limited to some companies (Epicor's user-company
//! list) may name no other company anywhere a request can name one: the address, an entity key,
//! the JSON body, the rows of a tableset, a BAQ address or row, an Epicor Function's address. Each
//! such call gets the refusal of the address check (403, `UnauthorizedAccessException`) and reads or
//! writes nothing of the other company; users with no list keep every company.

use super::*;
use serde_json::json;

/// The refusal's message (`User manager does not have access to company 'EPIC03'.`).
const REFUSED: &str = "does not have access to company";
const CUST_V1: &str = "api/v1/Erp.BO.CustomerSvc";
const CUST_V2: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc";

/// `manager` (the user [`send`] signs in as) limited to EPIC06; `integration` keeps every company.
/// No page cap, so that a snapshot reads every row.
fn limited() -> Router {
    fresh(|c| {
        c.scale = 120;
        c.page_cap = 0;
        let manager = c.users.iter_mut().find(|u| u.id == "manager").unwrap();
        manager.companies = vec!["EPIC06".into()];
    })
}

/// Credentials of the user with no company list.
fn unlimited() -> String {
    basic("integration", "Integration123!")
}

/// A GET as the unlimited user.
async fn read_all(r: &Router, uri: &str) -> Reply {
    send(
        r,
        Method::GET,
        uri,
        &[("authorization", unlimited().as_str())],
        None,
    )
    .await
    .expect(StatusCode::OK)
}

/// Every row of `company` in every entity set, as the unlimited user reads them: what a refused
/// call must leave as it was.
async fn snapshot(r: &Router, company: &str) -> String {
    let mut all = String::new();
    for (svc, set) in [
        ("Erp.BO.CustomerSvc", "Customers"),
        ("Erp.BO.CustomerSvc", "ShipTos"),
        ("Erp.BO.PartSvc", "Parts"),
        ("Erp.BO.SalesOrderSvc", "SalesOrders"),
        ("Erp.BO.SalesOrderSvc", "OrderDtls"),
        ("Erp.BO.SalesOrderSvc", "OrderRels"),
        ("Erp.BO.VendorSvc", "Vendors"),
    ] {
        let reply = read_all(r, &format!("api/v2/odata/{company}/{svc}/{set}")).await;
        assert!(!reply.rows().is_empty(), "{set} of {company} has rows");
        all.push_str(&reply.text);
    }
    all
}

/// Asserts the refusal a user gets for a company they may not use.
#[track_caller]
fn assert_refused(reply: Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "{what} was not refused: {}",
        reply.text
    );
    let j = reply.json();
    assert_eq!(j["HttpStatus"], 403, "{what}: {j}");
    assert_eq!(j["ErrorType"], "UnauthorizedAccessException", "{what}: {j}");
    let msg = j["ErrorMessage"].as_str().unwrap_or_default();
    assert!(
        msg.contains(REFUSED) && msg.to_ascii_uppercase().contains("'EPIC03'"),
        "{what}: {msg}"
    );
}

/// Rows of EPIC03 the attacks aim at: a customer with a ship-to, an order, the customer's BAQ row.
struct Targets {
    cust: i64,
    ship_to: String,
    order: i64,
    baq_row: serde_json::Value,
    sys_row_id: String,
}

async fn targets(r: &Router) -> Targets {
    let st = read_all(
        r,
        &format!(
            "api/v2/odata/EPIC03/Erp.BO.CustomerSvc/ShipTos?$top=1&$filter={}",
            enc("ShipToNum ne ''")
        ),
    )
    .await
    .rows()[0]
        .clone();
    let cust = st["CustNum"].as_i64().unwrap();
    let order = read_all(
        r,
        "api/v2/odata/EPIC03/Erp.BO.SalesOrderSvc/SalesOrders?$top=1",
    )
    .await
    .rows()[0]["OrderNum"]
        .as_i64()
        .unwrap();
    let baq_row = read_all(
        r,
        &format!(
            "api/v2/odata/EPIC03/BaqSvc/zCustomerList/Data?$filter={}",
            enc(&format!("Customer_CustNum eq {cust}"))
        ),
    )
    .await
    .rows()[0]
        .clone();
    let sys_row_id = read_all(
        r,
        &format!("api/v2/odata/EPIC03/Erp.BO.CustomerSvc/Customers('EPIC03',{cust})"),
    )
    .await
    .json()["SysRowID"]
        .as_str()
        .unwrap()
        .to_string();
    Targets {
        cust,
        ship_to: st["ShipToNum"].as_str().unwrap().to_string(),
        order,
        baq_row,
        sys_row_id,
    }
}

/// The finding's first attack: `api/v2/efx/{Company}/...` checked only that the company exists.
#[tokio::test]
async fn efx_refuses_a_company_the_user_may_not_use() {
    let r = limited();
    let t = targets(&r).await;
    let cust_id = read_all(
        &r,
        &format!(
            "api/v2/odata/EPIC03/Erp.BO.CustomerSvc/Customers('EPIC03',{})",
            t.cust
        ),
    )
    .await
    .json()["CustID"]
        .as_str()
        .unwrap()
        .to_string();
    let before = snapshot(&r, "EPIC03").await;
    // Read.
    let reply = post(
        &r,
        "api/v2/efx/EPIC03/CustomerTools/GetCreditStatus",
        json!({"CustID": cust_id}),
    )
    .await;
    assert_refused(reply, "efx read");
    // Write.
    let reply = post(
        &r,
        "api/v2/efx/EPIC03/CustomerTools/SetCreditHold",
        json!({"CustID": cust_id, "Hold": true}),
    )
    .await;
    assert_refused(reply, "efx write");
    // Staging, and the library list.
    let reply = post(
        &r,
        "api/v2/efx/staging/EPIC03/CustomerTools/OrderSummary",
        json!({"OrderNum": t.order}),
    )
    .await;
    assert_refused(reply, "efx staging");
    assert_refused(get(&r, "api/v2/efx/EPIC03").await, "efx library list");
    assert_eq!(
        snapshot(&r, "EPIC03").await,
        before,
        "nothing of EPIC03 was written"
    );
    // The user's own company still answers.
    post(
        &r,
        "api/v2/efx/EPIC06/CustomerTools/GetCreditStatus",
        json!({"CustID": "x"}),
    )
    .await
    .expect(StatusCode::OK);
}

/// The finding's second attack: a create whose body says `"Company": "EPIC03"` on an EPIC06
/// address (v1 and v2), in any case, also through a navigation collection.
#[tokio::test]
async fn a_create_naming_another_company_in_its_body_is_refused() {
    let r = limited();
    let before = snapshot(&r, "EPIC03").await;
    let before_own = snapshot(&r, "EPIC06").await;
    for company in ["EPIC03", "epic03"] {
        let row = json!({"Company": company, "CustID": "TAKEN", "Name": "Taken over"});
        for uri in [
            format!("{CUST_V1}/Customers"),
            format!("{CUST_V2}/Customers"),
        ] {
            let reply = send(&r, Method::POST, &uri, &[], Some(row.clone())).await;
            assert_refused(reply, &format!("POST {uri} with Company {company}"));
        }
        // Through a navigation from an own row: the body still names the other company.
        let reply = post(
            &r,
            &format!("{CUST_V2}/Customers('EPIC06',1)/ShipTos"),
            json!({"Company": company, "ShipToNum": "ZZ", "Name": "Taken"}),
        )
        .await;
        assert_refused(reply, "POST through a navigation");
    }
    assert_eq!(
        snapshot(&r, "EPIC03").await,
        before,
        "no EPIC03 row created"
    );
    assert_eq!(
        snapshot(&r, "EPIC06").await,
        before_own,
        "nor an EPIC06 one"
    );
    // A body without Company creates in the address's company; naming it is fine too.
    for row in [
        json!({"CustID": "MINE1", "Name": "Mine"}),
        json!({"Company": "EPIC06", "CustID": "MINE2", "Name": "Mine"}),
    ] {
        let created = post(&r, &format!("{CUST_V2}/Customers"), row)
            .await
            .expect(StatusCode::CREATED)
            .json();
        assert_eq!(created["Company"], "EPIC06");
    }
}

/// The finding's third attack: a BO `Update` whose `ds` rows name EPIC03 (update, add, delete; a
/// mixed tableset; UpdateExt; GetNew's tableset), on v1 and v2. Nothing is written, not even the
/// rows of the user's own company.
#[tokio::test]
async fn bo_update_rows_naming_another_company_are_refused() {
    let r = limited();
    let t = targets(&r).await;
    let before = snapshot(&r, "EPIC03").await;
    let before_own = snapshot(&r, "EPIC06").await;
    let cust = t.cust;
    let cases = [
        (
            "Update",
            json!({"ds": {"Customer": [{"Company": "EPIC03", "CustNum": cust, "Name": "Taken", "RowMod": "U"}]}}),
        ),
        (
            "Update",
            json!({"ds": {"Customer": [{"Company": "epic03", "CustNum": cust, "Name": "Taken", "RowMod": "U"}]}}),
        ),
        (
            "Update",
            json!({"ds": {"ShipTo": [{"Company": "EPIC03", "CustNum": cust, "ShipToNum": "ZZ", "Name": "Taken", "RowMod": "A"}]}}),
        ),
        (
            "Update",
            json!({"ds": {"Customer": [{"Company": "EPIC03", "CustNum": cust, "RowMod": "D"}]}}),
        ),
        (
            "Update",
            json!({"ds": {"Customer": [
                {"Company": "EPIC06", "CustNum": 1, "Name": "Mine", "RowMod": "U"},
                {"Company": "EPIC03", "CustNum": cust, "Name": "Taken", "RowMod": "U"}]}}),
        ),
        (
            "UpdateExt",
            json!({"ds": {"Customer": [{"Company": "EPIC03", "CustNum": cust, "Name": "Taken"}]},
                   "continueProcessingOnError": true}),
        ),
        (
            "UpdateExt",
            json!({"ds": {"Customer": [{"Company": "EPIC03", "CustID": "NEWONE", "Name": "New"}]}}),
        ),
        (
            "GetNewShipTo",
            json!({"ds": {"Customer": [{"Company": "EPIC03", "CustNum": cust}]}, "custNum": cust}),
        ),
    ];
    for (method, body) in cases {
        for root in [CUST_V1, CUST_V2] {
            let reply = post(&r, &format!("{root}/{method}"), body.clone()).await;
            assert_refused(reply, &format!("{root}/{method} {body}"));
        }
    }
    assert_eq!(
        snapshot(&r, "EPIC03").await,
        before,
        "nothing of EPIC03 written"
    );
    assert_eq!(
        snapshot(&r, "EPIC06").await,
        before_own,
        "the refused tableset wrote none of its own rows either"
    );
    // Rows without Company take the address's company; the user's own rows are written.
    post(
        &r,
        &format!("{CUST_V2}/UpdateExt"),
        json!({"ds": {"Customer": [{"CustNum": 1, "Name": "Mine"}]}}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        get(&r, &format!("{CUST_V2}/Customers('EPIC06',1)"))
            .await
            .json()["Name"],
        "Mine"
    );
}

/// The finding's fourth attack: v1 `BaqSvc/{id}(EPIC03)` read and PATCH, and a BAQ row naming
/// EPIC03 PATCHed through an EPIC06 address.
#[tokio::test]
async fn a_baq_naming_another_company_is_refused() {
    let r = limited();
    let t = targets(&r).await;
    let before = snapshot(&r, "EPIC03").await;
    assert_refused(
        get(&r, "api/v1/BaqSvc/zCustomerList(EPIC03)").await,
        "v1 BAQ read",
    );
    assert_refused(
        get(&r, "api/v1/BaqSvc/zCustomerList('EPIC03')").await,
        "v1 BAQ read, quoted",
    );
    let mut row = t.baq_row.clone();
    row["Customer_Name"] = json!("Taken over");
    for uri in [
        "api/v1/BaqSvc/zCustomerList(EPIC03)",
        "api/v1/BaqSvc/zCustomerList/",
        "api/v2/odata/EPIC06/BaqSvc/zCustomerList/Data",
    ] {
        let reply = send(&r, Method::PATCH, uri, &[], Some(row.clone())).await;
        assert_refused(reply, &format!("PATCH {uri}"));
    }
    assert_eq!(
        snapshot(&r, "EPIC03").await,
        before,
        "nothing of EPIC03 written"
    );
    // The user's own BAQ rows still read and write.
    let own = get(&r, "api/v1/BaqSvc/zCustomerList(EPIC06)")
        .await
        .expect(StatusCode::OK)
        .rows();
    assert!(own.iter().all(|row| row["Customer_Company"] == "EPIC06"));
}

/// A key naming another company anywhere in the path: the parent's or a navigation's child key,
/// read or written, positional or by name, in any case.
#[tokio::test]
async fn a_key_naming_another_company_is_refused() {
    let r = limited();
    let t = targets(&r).await;
    let before = snapshot(&r, "EPIC03").await;
    let (c, s) = (t.cust, &t.ship_to);
    let child = format!("{CUST_V2}/Customers('EPIC06',1)/ShipTos('EPIC03',{c},'{s}')");
    for (method, uri, body) in [
        (Method::GET, child.clone(), None),
        (Method::PATCH, child.clone(), Some(json!({"Name": "Taken"}))),
        (Method::DELETE, child.clone(), None),
        (
            Method::GET,
            format!("{CUST_V2}/Customers(CustNum={c},Company='epic03')"),
            None,
        ),
        (
            Method::PATCH,
            format!("{CUST_V1}/Customers(CustNum={c},Company='epic03')"),
            Some(json!({"Name": "Taken"})),
        ),
        (
            Method::GET,
            format!("{CUST_V2}/Customers('EPIC03',{c})/ShipTos"),
            None,
        ),
        (
            Method::POST,
            format!("{CUST_V2}/Customers('EPIC03',{c})/ShipTos"),
            Some(json!({"ShipToNum": "ZZ", "Name": "Taken"})),
        ),
        (
            Method::DELETE,
            format!("{CUST_V1}/Customers('EPIC03',{c})"),
            None,
        ),
        // A key of the user's own company with a body moving it to the other.
        (
            Method::PATCH,
            format!("{CUST_V2}/Customers('EPIC06',1)"),
            Some(json!({"Company": "EPIC03"})),
        ),
    ] {
        let what = format!("{method} {uri}");
        assert_refused(send(&r, method, &uri, &[], body).await, &what);
    }
    assert_eq!(
        snapshot(&r, "EPIC03").await,
        before,
        "nothing of EPIC03 written"
    );
    // Any user: a child is written only through its own parent, as it is read (404 otherwise).
    let everyone = unlimited();
    for (method, body) in [
        (Method::PATCH, Some(json!({"Name": "Taken"}))),
        (Method::DELETE, None),
    ] {
        send(
            &r,
            method,
            &child,
            &[("authorization", everyone.as_str())],
            body,
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "is not under Customer");
    }
    assert_eq!(
        snapshot(&r, "EPIC03").await,
        before,
        "nothing of EPIC03 written"
    );
}

/// Filters, whereClauses, BAQ filters and SysRowIDs of a limited user's own address reach none
/// of another company's rows (the address's company is always ANDed in). Passed before the fix too.
#[tokio::test]
async fn filters_cannot_reach_another_companys_rows() {
    let r = limited();
    let t = targets(&r).await;
    let f = |expr: &str| enc(expr);
    for expr in [
        "Company eq 'EPIC03'",
        "Company eq 'epic03'",
        "Company ne 'EPIC06'",
        "Company eq 'EPIC03' or CustNum gt 0",
    ] {
        for root in [CUST_V1, CUST_V2] {
            let rows = get(&r, &format!("{root}/Customers?$filter={}", f(expr)))
                .await
                .expect(StatusCode::OK)
                .rows();
            assert!(
                rows.iter().all(|row| row["Company"] == "EPIC06"),
                "{root} $filter={expr}: {rows:?}"
            );
        }
    }
    let expanded = get(&r, &format!("{CUST_V2}/Customers?$expand=ShipTos"))
        .await
        .rows();
    for row in &expanded {
        for st in row["ShipTos"].as_array().unwrap() {
            assert_eq!(st["Company"], "EPIC06");
        }
    }
    let j = post(
        &r,
        &format!("{CUST_V2}/GetRows"),
        json!({"whereClause": "Company = 'EPIC03' OR CustNum > 0"}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    for row in j["returnObj"]["Customer"].as_array().unwrap() {
        assert_eq!(row["Company"], "EPIC06", "GetRows");
    }
    let rows = get(
        &r,
        &format!(
            "api/v2/odata/EPIC06/BaqSvc/zCustomerList/Data?$filter={}",
            f("Customer_Company eq 'EPIC03'")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(rows.is_empty(), "BAQ filter: {rows:?}");
    // Another company's SysRowID is not found through the user's company.
    get(&r, &format!("{CUST_V2}/GetBySysRowID?id={}", t.sys_row_id))
        .await
        .expect(StatusCode::NOT_FOUND);
    let j = post(
        &r,
        &format!("{CUST_V2}/GetBySysRowIDs"),
        json!({"ids": [t.sys_row_id]}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(j["returnObj"]["Customer"], json!([]), "{j}");
}

/// One attempt to reach another company through a route family.
struct Attempt {
    /// The `ROUTE_FAMILIES` path of the family it goes through.
    family: &'static str,
    method: Method,
    uri: String,
    headers: Vec<(&'static str, &'static str)>,
    body: Option<serde_json::Value>,
}

fn attempt(
    family: &'static str,
    method: Method,
    uri: impl Into<String>,
    body: Option<serde_json::Value>,
) -> Attempt {
    Attempt {
        family,
        method,
        uri: uri.into(),
        headers: Vec::new(),
        body,
    }
}

/// Route families that name no company: the token service, the emulator's admin routes, the help
/// and the OpenAPI documents (no rows of any company).
const COMPANY_FREE: &[&str] = &[
    "TokenResource.svc",
    "admin/sessions",
    "admin/sessions/x",
    "api/swagger/v1/methods/Erp.BO.CustomerSvc",
    "api/swagger/v2/odata/Erp.BO.CustomerSvc",
    "api/help/v2/index.html",
];

/// Every route family, with a user limited to EPIC06, reading and writing EPIC03 through every
/// place a request can name a company: refused every time, nothing of EPIC03 (or EPIC06) changed.
/// The same calls from a user with no company list are not refused. Families are those of
/// `ROUTE_FAMILIES`, so a new family fails this test until it is walked here (or said to name no
/// company).
#[tokio::test]
async fn every_route_family_keeps_a_limited_user_in_their_companies() {
    use epicor_kinetic_emulator::erp::ROUTE_FAMILIES;
    let r = limited();
    let t = targets(&r).await;
    let (c, s, o) = (t.cust, t.ship_to.clone(), t.order);
    let mut baq_row = t.baq_row.clone();
    baq_row["Customer_Name"] = json!("Taken over");
    let family = |path: &str| -> &'static str {
        ROUTE_FAMILIES
            .iter()
            .find(|(_, p, _)| *p == path)
            .map(|(_, p, _)| *p)
            .unwrap_or_else(|| panic!("{path} is not in ROUTE_FAMILIES"))
    };
    let v1_list = family("api/v1/");
    let v1_set = family("api/v1/Erp.BO.CustomerSvc/Customers");
    let v1_method = family("api/v1/Erp.BO.CustomerSvc/GetByID");
    let v1_baq = family("api/v1/BaqSvc/zCustomerList/");
    let login = family("api/v1/Ice.Lib.SessionModSvc/Login");
    let v2_list = family("api/v2/odata/EPIC06/");
    let v2_meta = family("api/v2/odata/EPIC06/Erp.BO.CustomerSvc/$metadata");
    let v2_set = family("api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers");
    let v2_baq = family("api/v2/odata/EPIC06/BaqSvc/zCustomerList/Data");
    let efx = family("api/v2/efx/EPIC06/CustomerTools/GetCreditStatus");
    let v1_list_method = family("api/v1/Erp.BO.CustomerSvc/List");
    let v1_baq_company = family("api/v1/BaqSvc/zCustomerList(EPIC06)");
    let v2_baq_new = family("api/v2/odata/EPIC06/BaqSvc/zCustomerList/GetNew");
    let call_settings = ("CallSettings", r#"{"Company":"EPIC03"}"#);
    let new_customer = json!({"Company": "EPIC03", "CustID": "TAKEN", "Name": "Taken over"});
    let ds_update = json!({"ds": {"Customer": [{"Company": "EPIC03", "CustNum": c, "Name": "Taken", "RowMod": "U"}]}});
    let attempts = vec![
        // The v1 company: query, CallSettings.
        attempt(v1_list, Method::GET, "api/v1/?Company=EPIC03", None),
        Attempt {
            headers: vec![call_settings],
            ..attempt(v1_list, Method::GET, "api/v1/", None)
        },
        attempt(
            v1_set,
            Method::GET,
            format!("{CUST_V1}/Customers?Company=EPIC03"),
            None,
        ),
        Attempt {
            headers: vec![call_settings],
            ..attempt(
                v1_set,
                Method::POST,
                format!("{CUST_V1}/Customers"),
                Some(json!({"CustID": "TAKEN", "Name": "Taken"})),
            )
        },
        // v1 keys and bodies.
        attempt(
            v1_set,
            Method::GET,
            format!("{CUST_V1}/Customers('EPIC03',{c})"),
            None,
        ),
        attempt(
            v1_set,
            Method::PATCH,
            format!("{CUST_V1}/Customers('EPIC03',{c})"),
            Some(json!({"Name": "Taken"})),
        ),
        attempt(
            v1_set,
            Method::DELETE,
            format!("{CUST_V1}/Customers('EPIC03',{c})"),
            None,
        ),
        attempt(
            v1_set,
            Method::POST,
            format!("{CUST_V1}/Customers"),
            Some(new_customer.clone()),
        ),
        attempt(
            v1_set,
            Method::PATCH,
            format!("{CUST_V1}/Customers('EPIC06',1)/ShipTos('EPIC03',{c},'{s}')"),
            Some(json!({"Name": "Taken"})),
        ),
        // v1 methods: the company, tableset rows.
        attempt(
            v1_method,
            Method::POST,
            format!("{CUST_V1}/GetByID?Company=EPIC03"),
            Some(json!({"custNum": c})),
        ),
        Attempt {
            headers: vec![call_settings],
            ..attempt(
                v1_method,
                Method::POST,
                format!("{CUST_V1}/DeleteByID"),
                Some(json!({"custNum": c})),
            )
        },
        attempt(
            v1_method,
            Method::GET,
            format!("{CUST_V1}/GetRows?Company=EPIC03"),
            None,
        ),
        attempt(
            v1_method,
            Method::POST,
            format!("{CUST_V1}/Update"),
            Some(ds_update.clone()),
        ),
        attempt(
            v1_method,
            Method::POST,
            format!("{CUST_V1}/UpdateExt"),
            Some(
                json!({"ds": {"ShipTo": [{"Company": "EPIC03", "CustNum": c, "ShipToNum": "ZZ", "Name": "Taken"}]}}),
            ),
        ),
        attempt(
            v1_method,
            Method::POST,
            format!("{CUST_V1}/GetNewCustomer"),
            Some(json!({"ds": {"Customer": [{"Company": "EPIC03", "CustNum": c}]}})),
        ),
        attempt(
            v1_list_method,
            Method::GET,
            format!("{CUST_V1}/List?Company=EPIC03"),
            None,
        ),
        // v1 BAQs.
        attempt(
            v1_baq,
            Method::GET,
            "api/v1/BaqSvc/zCustomerList/?Company=EPIC03",
            None,
        ),
        attempt(
            v1_baq,
            Method::PATCH,
            "api/v1/BaqSvc/zCustomerList/",
            Some(baq_row.clone()),
        ),
        attempt(
            v1_baq_company,
            Method::GET,
            "api/v1/BaqSvc/zCustomerList(EPIC03)",
            None,
        ),
        attempt(
            v1_baq_company,
            Method::PATCH,
            "api/v1/BaqSvc/zCustomerList(EPIC03)",
            Some(baq_row.clone()),
        ),
        attempt(
            v1_baq_company,
            Method::GET,
            "api/v1/BaqSvc/zOrdersByCustomer(EPIC03)?CustID=X",
            None,
        ),
        // Sessions.
        attempt(
            login,
            Method::POST,
            "api/v1/Ice.Lib.SessionModSvc/Login?Company=EPIC03",
            Some(json!({})),
        ),
        Attempt {
            headers: vec![call_settings],
            ..attempt(
                login,
                Method::POST,
                "api/v1/Ice.Lib.SessionModSvc/Login",
                Some(json!({})),
            )
        },
        // v2: the address.
        attempt(v2_list, Method::GET, "api/v2/odata/EPIC03/", None),
        attempt(
            v2_meta,
            Method::GET,
            "api/v2/odata/EPIC03/Erp.BO.CustomerSvc/$metadata",
            None,
        ),
        attempt(
            v2_set,
            Method::GET,
            "api/v2/odata/EPIC03/Erp.BO.CustomerSvc/Customers",
            None,
        ),
        attempt(
            v2_set,
            Method::POST,
            "api/v2/odata/EPIC03/Erp.BO.CustomerSvc/Customers",
            Some(json!({"CustID": "TAKEN", "Name": "Taken"})),
        ),
        attempt(
            v2_set,
            Method::POST,
            "api/v2/odata/EPIC03/Erp.BO.CustomerSvc/Update",
            Some(ds_update.clone()),
        ),
        attempt(
            v2_set,
            Method::POST,
            "api/v2/odata/EPIC03/Ice.Lib.SessionModSvc/Login",
            Some(json!({})),
        ),
        // v2: keys, bodies and rows on the user's own address.
        attempt(
            v2_set,
            Method::GET,
            format!("{CUST_V2}/Customers('EPIC03',{c})"),
            None,
        ),
        attempt(
            v2_set,
            Method::GET,
            format!("{CUST_V2}/Customers(Company='epic03',CustNum={c})?$expand=ShipTos"),
            None,
        ),
        attempt(
            v2_set,
            Method::PATCH,
            format!("{CUST_V2}/Customers('EPIC03',{c})"),
            Some(json!({"Name": "Taken"})),
        ),
        attempt(
            v2_set,
            Method::DELETE,
            format!("{CUST_V2}/Customers('EPIC06',1)/ShipTos('EPIC03',{c},'{s}')"),
            None,
        ),
        attempt(
            v2_set,
            Method::POST,
            format!("{CUST_V2}/Customers"),
            Some(new_customer.clone()),
        ),
        attempt(
            v2_set,
            Method::POST,
            format!("{CUST_V2}/Customers('EPIC03',{c})/ShipTos"),
            Some(json!({"ShipToNum": "ZZ", "Name": "Taken"})),
        ),
        attempt(
            v2_set,
            Method::POST,
            "api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/Update",
            Some(
                json!({"ds": {"OrderHed": [{"Company": "EPIC03", "OrderNum": o, "PONum": "Taken", "RowMod": "U"}]}}),
            ),
        ),
        attempt(
            v2_set,
            Method::GET,
            format!("api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/SalesOrders('EPIC03',{o})/OrderDtls"),
            None,
        ),
        attempt(
            v2_set,
            Method::POST,
            "api/v2/odata/EPIC06/Erp.BO.VendorSvc/Vendors",
            Some(json!({"Company": "Epic03", "VendorID": "TAKEN", "Name": "Taken"})),
        ),
        attempt(
            v2_set,
            Method::GET,
            "api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts('EPIC03','X')",
            None,
        ),
        // v2 BAQs.
        attempt(
            v2_baq,
            Method::GET,
            "api/v2/odata/EPIC03/BaqSvc/zCustomerList/Data",
            None,
        ),
        attempt(
            v2_baq,
            Method::PATCH,
            "api/v2/odata/EPIC03/BaqSvc/zCustomerList/Data",
            Some(baq_row.clone()),
        ),
        attempt(
            v2_baq,
            Method::PATCH,
            "api/v2/odata/EPIC06/BaqSvc/zCustomerList/Data",
            Some(baq_row.clone()),
        ),
        attempt(
            v2_baq_new,
            Method::GET,
            "api/v2/odata/EPIC03/BaqSvc/zCustomerList/GetNew",
            None,
        ),
        // Epicor Functions.
        attempt(efx, Method::GET, "api/v2/efx/EPIC03", None),
        attempt(
            efx,
            Method::POST,
            "api/v2/efx/EPIC03/CustomerTools/GetCreditStatus",
            Some(json!({"CustID": "X"})),
        ),
        attempt(
            efx,
            Method::POST,
            "api/v2/efx/EPIC03/CustomerTools/SetCreditHold",
            Some(json!({"CustID": "X", "Hold": true})),
        ),
        attempt(
            efx,
            Method::POST,
            "api/v2/efx/staging/EPIC03/CustomerTools/OrderSummary",
            Some(json!({"OrderNum": o})),
        ),
    ];
    // Every family that can name a company is walked.
    for (_, path, _) in ROUTE_FAMILIES {
        assert!(
            COMPANY_FREE.contains(path) || attempts.iter().any(|a| a.family == *path),
            "route family {path} is not walked with a limited user: add attempts naming another \
             company through it, or list it in COMPANY_FREE"
        );
    }

    let before = snapshot(&r, "EPIC03").await;
    let before_own = snapshot(&r, "EPIC06").await;
    for a in &attempts {
        let reply = send(&r, a.method.clone(), &a.uri, &a.headers, a.body.clone()).await;
        assert_refused(reply, &format!("{} {} {:?}", a.method, a.uri, a.headers));
    }
    assert_eq!(
        snapshot(&r, "EPIC03").await,
        before,
        "nothing of EPIC03 written"
    );
    assert_eq!(snapshot(&r, "EPIC06").await, before_own, "nor of EPIC06");

    // A user with no company list is not refused by any of them (as before the limits).
    let everyone = unlimited();
    for a in &attempts {
        let mut headers: Vec<(&str, &str)> = a.headers.clone();
        headers.push(("authorization", everyone.as_str()));
        let reply = send(&r, a.method.clone(), &a.uri, &headers, a.body.clone()).await;
        assert_ne!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{} {} refused an unlimited user: {}",
            a.method,
            a.uri,
            reply.text
        );
    }
}
