//! The emulator answers like a real Epicor server (EPICOR.md, "What clients that talk to real servers
//! show"): one test per fact, then the `tidy` switch and the variant keys for the facts no source settles.

use super::*;
use base64::Engine;
use serde_json::json;

const CUST_V1: &str = "api/v1/Erp.BO.CustomerSvc";
const CUST_V2: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc";

fn is_guid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

/// Every row table of a tableset (every member but `ExtensionTables`).
fn row_tables(ds: &Value) -> Vec<(&String, &Vec<Value>)> {
    ds.as_object()
        .unwrap_or_else(|| panic!("tableset is not an object: {ds}"))
        .iter()
        .filter(|(k, _)| *k != "ExtensionTables")
        .map(|(k, v)| (k, v.as_array().unwrap_or_else(|| panic!("{k}: {v}"))))
        .collect()
}

#[track_caller]
fn assert_real_tableset(ds: &Value) {
    assert_eq!(ds["ExtensionTables"], json!([]), "{ds}");
    for (name, rows) in row_tables(ds) {
        for row in rows {
            assert_eq!(row["BitFlag"], 0, "{name} row without BitFlag: {row}");
            assert!(row["RowMod"].is_string(), "{name}: {row}");
            assert!(is_guid(&row["SysRowID"]), "{name}: {row}");
            assert!(row["SysRevID"].is_number(), "{name}: SysRevID {row}");
        }
    }
}

#[tokio::test]
async fn tablesets_carry_extension_tables_and_rows_carry_bitflag() {
    let r = shared();
    for root in [CUST_V1, CUST_V2] {
        let j = post(&r, &format!("{root}/GetByID"), json!({"custNum": 1}))
            .await
            .expect(StatusCode::OK)
            .json();
        assert_real_tableset(&j["returnObj"]);
        let rows = post(&r, &format!("{root}/GetRows"), json!({"pageSize": 3}))
            .await
            .expect(StatusCode::OK)
            .json();
        assert_real_tableset(&rows["returnObj"]);
        let new = post(&r, &format!("{root}/GetNewCustomer"), json!({"ds": {}}))
            .await
            .expect(StatusCode::OK)
            .json();
        assert_real_tableset(&new["parameters"]["ds"]);
    }
    // OData rows are entities, not tableset rows: no BitFlag or RowMod there.
    let e = get(&r, &format!("{CUST_V2}/Customers('EPIC06',1)"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(
        e.get("BitFlag").is_none() && e.get("RowMod").is_none(),
        "{e}"
    );
}

#[tokio::test]
async fn baq_rows_end_with_a_stable_row_ident() {
    let r = shared();
    for uri in [
        "api/v1/BaqSvc/zCustomerList/".to_string(),
        format!("{V2}/BaqSvc/zCustomerList/Data?$top=5"),
    ] {
        let a = get(&r, &uri).await.expect(StatusCode::OK);
        let rows = a.rows();
        assert!(!rows.is_empty());
        for row in &rows {
            let last = row.as_object().unwrap().keys().next_back().unwrap();
            assert_eq!(last, "RowIdent", "{row}");
            assert!(is_guid(&row["RowIdent"]), "{row}");
        }
        let again = get(&r, &uri).await.expect(StatusCode::OK).rows();
        assert_eq!(rows[0]["RowIdent"], again[0]["RowIdent"], "stable per row");
        assert_ne!(rows[0]["RowIdent"], rows[1]["RowIdent"], "distinct rows");
    }
}

#[tokio::test]
async fn char_columns_are_space_padded_and_some_strings_are_null() {
    let r = shared();
    // TermsCode is CHAR(4): served padded, and compared as SQL Server compares CHAR (padding ignored).
    let rows = get(
        &r,
        &format!(
            "{CUST_V2}/Customers?$filter={}&$select=CustNum,TermsCode&$top=5",
            enc("TermsCode eq 'N30'")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["TermsCode"] == "N30 "), "{rows:?}");
    // Some e-mail addresses are null, a fixed fraction: every 7th customer.
    let count = |f: &str| {
        let r = r.clone();
        let uri = format!("{CUST_V2}/Customers/$count?$filter={}", enc(f));
        async move { get(&r, &uri).await.expect(StatusCode::OK).text }
    };
    let nulls: u64 = count("EMailAddress eq null").await.parse().unwrap();
    let all: u64 = count("CustNum gt 0").await.parse().unwrap();
    assert_eq!(nulls, all / 7, "every 7th of {all} customers");
    let row = get(&r, &format!("{CUST_V2}/Customers('EPIC06',7)"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(row["EMailAddress"].is_null(), "{row}");
    // The metadata says so (no Nullable="false": nullable is the CSDL default).
    let md = get(&r, &format!("{CUST_V2}/$metadata")).await.text;
    assert!(
        md.contains(r#"<Property Name="EMailAddress" Type="Edm.String" MaxLength="50"/>"#),
        "{md}"
    );
}

#[tokio::test]
async fn v1_tablesets_have_numeric_sysrevid_and_baq_decimals_at_scale() {
    let r = fresh(|c| c.scale = 200);
    let by_id = post(&r, &format!("{CUST_V1}/GetByID"), json!({"custNum": 1}))
        .await
        .expect(StatusCode::OK)
        .json();
    let row = &by_id["returnObj"]["Customer"][0];
    assert!(row["SysRevID"].is_i64(), "{row}");
    assert!(row["CreditLimit"].is_string(), "{row}");
    // GetNew answers the same types as GetByID.
    let new = post(&r, &format!("{CUST_V1}/GetNewCustomer"), json!({"ds": {}}))
        .await
        .expect(StatusCode::OK)
        .json();
    let new_row = &new["parameters"]["ds"]["Customer"][0];
    assert_eq!(new_row["CreditLimit"], "0.000", "{new_row}");
    assert!(new_row["SysRevID"].is_i64(), "{new_row}");
    // Update answers the same too.
    let mut changed = row.clone();
    changed["City"] = json!("Duluth");
    changed["RowMod"] = json!("U");
    let up = post(
        &r,
        &format!("{CUST_V1}/Update"),
        json!({"ds": {"Customer": [changed], "ExtensionTables": []}}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let saved = &up["parameters"]["ds"]["Customer"][0];
    assert_eq!(saved["SysRevID"], row["SysRevID"].as_i64().unwrap() + 1);
    // v1 BAQ: decimals strings at the column's scale, integers numbers.
    let baq = get(&r, "api/v1/BaqSvc/zCustomerList/")
        .await
        .expect(StatusCode::OK)
        .rows();
    let b = &baq[0];
    let limit = b["Customer_CreditLimit"]
        .as_str()
        .unwrap_or_else(|| panic!("{b}"));
    assert_eq!(limit.split('.').nth(1).map(str::len), Some(3), "{b}");
    assert!(
        b["Customer_CustNum"].is_i64() && b["Customer_SysRevID"].is_i64(),
        "{b}"
    );
}

/// The customer a test may write: a fresh emulator's first one.
async fn customer_1(r: &Router) -> Value {
    get(r, &format!("{CUST_V2}/Customers('EPIC06',1)"))
        .await
        .expect(StatusCode::OK)
        .json()
}

#[track_caller]
fn assert_rule(j: &Value, table: &str, field: &str) {
    assert_eq!(j["ErrorType"], "Ice.Common.BusinessObjectException", "{j}");
    let d = &j["ErrorDetails"][0];
    assert_eq!(d["Table"], table, "{j}");
    assert_eq!(d["Field"], field, "{j}");
    assert_eq!(d["Type"], "Error", "{j}");
    assert_eq!(d["Method"], "Update", "{j}");
    assert!(
        d["Program"]
            .as_str()
            .is_some_and(|p| p.starts_with("Erp.Services.BO.")),
        "{j}"
    );
}

#[tokio::test]
async fn business_rules_refuse_bad_customers_with_400() {
    let r = fresh(|c| c.scale = 200);
    let existing = customer_1(&r).await;
    let set = format!("{CUST_V2}/Customers");
    let cases = [
        (
            json!({"CustID": "", "Name": "No Id"}),
            "CustID",
            "Customer ID",
        ),
        (json!({"CustID": "NONAME", "Name": "   "}), "Name", "Name"),
        (
            json!({"CustID": "BADTERMS", "Name": "Bad Terms", "TermsCode": "X99"}),
            "TermsCode",
            "X99",
        ),
        (
            json!({"CustID": "NEGCRED", "Name": "Neg", "CreditLimit": -5}),
            "CreditLimit",
            "CreditLimit",
        ),
        (
            json!({"CustID": existing["CustID"], "Name": "Twin"}),
            "CustID",
            "already",
        ),
    ];
    for (body, field, needle) in cases {
        let j = post(&r, &set, body.clone())
            .await
            .expect_error(StatusCode::BAD_REQUEST, needle);
        assert_rule(&j, "Customer", field);
        // The same rule through the BO method.
        let mut row = body;
        row["RowMod"] = json!("A");
        let j = post(
            &r,
            &format!("{CUST_V1}/Update"),
            json!({"ds": {"Customer": [row]}}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, needle);
        assert_rule(&j, "Customer", field);
    }
    // PATCH: the rules hold for the row as it would be after the change.
    send(
        &r,
        Method::PATCH,
        &format!("{set}('EPIC06',1)"),
        &[],
        Some(json!({"TermsCode": "NOPE"})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "NOPE");
    // A padded code as read is accepted back (CHAR semantics).
    send(
        &r,
        Method::PATCH,
        &format!("{set}('EPIC06',1)"),
        &[],
        Some(json!({"TermsCode": "N60 "})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // Another table: an order for a customer that does not exist.
    let j = post(
        &r,
        &format!("{V2}/Erp.BO.SalesOrderSvc/SalesOrders"),
        json!({"CustNum": 999999, "TermsCode": "N30"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "999999");
    assert_rule(&j, "OrderHed", "CustNum");
    // A duplicate primary key stays a 409 DuplicateRecordException.
    post(
        &r,
        &set,
        json!({"CustNum": 1, "CustID": "OTHER1", "Name": "Dup"}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "already exists");
}

#[tokio::test]
async fn error_details_name_field_program_and_method_in_json_and_xml() {
    let r = fresh(|c| c.scale = 200);
    let x = send(
        &r,
        Method::POST,
        &format!("{CUST_V2}/Customers"),
        &[("accept", "application/xml")],
        Some(json!({"CustID": "", "Name": "x"})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    for tag in [
        "<Table>Customer</Table>",
        "<Field>CustID</Field>",
        "<Program>Erp.Services.BO.Customer.dll</Program>",
        "<Method>Update</Method>",
    ] {
        assert!(x.text.contains(tag), "{tag} missing: {}", x.text);
    }
}

#[tokio::test]
async fn names_are_case_insensitive_and_plus_is_a_space() {
    let r = shared();
    let j = get(
        &r,
        "api/v2/odata/EPIC06/Erp.Bo.CustomerSvc/customers?$top=1",
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert!(
        j["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/Erp.BO.CustomerSvc/$metadata#Customers"),
        "canonical names in answers: {j}"
    );
    post(
        &r,
        "api/v1/ERP.BO.CUSTOMERSVC/getbyid",
        json!({"custNum": 1}),
    )
    .await
    .expect(StatusCode::OK);
    // IIS decodes `+` in a query string as a space.
    let plus = get(
        &r,
        &format!("{CUST_V2}/Customers?$filter=State+eq+'TX'&$top=3"),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!plus.is_empty() && plus.iter().all(|c| c["State"] == "TX"));
    let list = get(
        &r,
        &format!("{CUST_V1}/GetList?whereClause=State+%3D+'TX'&pageSize=3"),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert!(!list["returnObj"]["CustomerList"]
        .as_array()
        .unwrap()
        .is_empty());
    // A literal plus is %2B, and stays a plus (OData has no `+` operator: the parser names it).
    get(
        &r,
        &format!("{CUST_V2}/Customers?$filter=CustNum%20eq%201%2B1"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "'+'");
}

#[tokio::test]
async fn list_sysrowid_baq_company_getnew_and_help_routes() {
    let r = shared();
    let list = get(
        &r,
        &format!(
            "{CUST_V1}/List?whereClause={}&pageSize=2",
            enc("State = 'TX'")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let rows = list["returnObj"]["CustomerList"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|c| c["State"] == "TX"), "{list}");
    let c1 = get(&r, &format!("{CUST_V2}/Customers('EPIC06',1)"))
        .await
        .json();
    let c2 = get(&r, &format!("{CUST_V2}/Customers('EPIC06',2)"))
        .await
        .json();
    let id1 = c1["SysRowID"].as_str().unwrap();
    let id2 = c2["SysRowID"].as_str().unwrap();
    for reply in [
        post(&r, &format!("{CUST_V1}/GetBySysRowID"), json!({"id": id1})).await,
        get(&r, &format!("{CUST_V2}/GetBySysRowID?id={id1}")).await,
    ] {
        let j = reply.expect(StatusCode::OK).json();
        assert_eq!(j["returnObj"]["Customer"][0]["CustNum"], 1, "{j}");
    }
    let j = post(
        &r,
        &format!("{CUST_V2}/GetBySysRowIDs"),
        json!({"ids": [id1, id2]}),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(
        j["returnObj"]["Customer"].as_array().unwrap().len(),
        2,
        "{j}"
    );
    post(
        &r,
        &format!("{CUST_V2}/GetBySysRowID"),
        json!({"id": uuid::Uuid::nil().to_string()}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "SysRowID");
    // v1 BAQ with the company in parentheses, and query options.
    let rows = get(
        &r,
        "api/v1/BaqSvc/zCustomerList(EPIC03)/?$top=3&$filter=Customer_CustNum%20gt%201",
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r["Customer_Company"] == "EPIC03"),
        "{rows:?}"
    );
    // v2 BAQ GetNew: one blank row.
    let j = get(&r, &format!("{V2}/BaqSvc/zCustomerList/GetNew"))
        .await
        .expect(StatusCode::OK)
        .json();
    let new = j["value"].as_array().unwrap();
    assert_eq!(new.len(), 1, "{j}");
    assert_eq!(new[0]["Customer_Company"], "EPIC06");
    assert_eq!(new[0]["Customer_Name"], "");
    // The help page, behind credentials like everything.
    let help = get(&r, "api/help/v2/index.html")
        .await
        .expect(StatusCode::OK);
    assert!(help.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(help.text.contains("Erp.BO.CustomerSvc"), "{}", help.text);
    raw(&r, Method::GET, "api/help/v2/index.html", &[], None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

async fn baq_row(r: &Router, num: i64) -> Value {
    let rows = get(
        r,
        &format!(
            "{V2}/BaqSvc/zCustomerList/Data?$filter={}",
            enc(&format!("Customer_CustNum eq {num}"))
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    rows.into_iter().next().expect("row")
}

#[tokio::test]
async fn updatable_baqs_take_the_full_row() {
    let r = fresh(|c| c.scale = 200);
    let uri = format!("{V2}/BaqSvc/zCustomerList/Data");
    let mut row = baq_row(&r, 3).await;
    row["Customer_City"] = json!("Fargo");
    send(&r, Method::PATCH, &uri, &[], Some(row.clone()))
        .await
        .expect(StatusCode::OK);
    let saved = baq_row(&r, 3).await;
    assert_eq!(saved["Customer_City"], "Fargo");
    // A changed non-updatable column is refused, naming it.
    let mut bad = saved.clone();
    bad["Customer_CustID"] = json!("CHANGED");
    send(&r, Method::PATCH, &uri, &[], Some(bad))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "Customer_CustID");
    // A partial row is refused by default (baq_partial_rows = false).
    let partial = json!({"Customer_Company": "EPIC06", "Customer_CustNum": 3,
        "Customer_City": "Minot", "Customer_SysRevID": saved["Customer_SysRevID"]});
    send(&r, Method::PATCH, &uri, &[], Some(partial.clone()))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "Customer_CustID");
    let lenient = fresh(|c| {
        c.scale = 200;
        c.baq_partial_rows = true;
    });
    let mut partial = partial;
    partial["Customer_SysRevID"] = baq_row(&lenient, 3).await["Customer_SysRevID"].clone();
    send(&lenient, Method::PATCH, &uri, &[], Some(partial))
        .await
        .expect(StatusCode::OK);
    assert_eq!(baq_row(&lenient, 3).await["Customer_City"], "Minot");
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn epicor_token(r: &Router) -> String {
    epicor_token_answer(r).await["AccessToken"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn token_resource_jwts_carry_exp_and_iat_as_strings() {
    let r = fresh(|c| {
        c.scale = 200;
        c.token_lifetime_secs = 1800;
    });
    let token = epicor_token(&r).await;
    let c = claims_of(&token);
    let exp: i64 = c["exp"]
        .as_str()
        .unwrap_or_else(|| panic!("{c}"))
        .parse()
        .unwrap();
    let iat: i64 = c["iat"].as_str().unwrap().parse().unwrap();
    assert_eq!(exp - iat, 1800);
    assert!(c.get("jti").is_none(), "{c}");
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str()),
        (Some("epicor"), Some("epicor"))
    );
    assert_eq!(c["username"], "manager");
    let bearer = format!("Bearer {token}");
    send(
        &r,
        Method::GET,
        &format!("{CUST_V2}/Customers?$top=1"),
        &[("authorization", &bearer)],
        None,
    )
    .await
    .expect(StatusCode::OK);
}

#[tokio::test]
async fn tidy_gives_back_the_old_shapes() {
    let r = fresh(|c| {
        c.scale = 200;
        c.tidy = true;
    });
    let j = post(&r, &format!("{CUST_V1}/GetByID"), json!({"custNum": 7}))
        .await
        .expect(StatusCode::OK)
        .json();
    let ds = &j["returnObj"];
    assert!(ds.get("ExtensionTables").is_none(), "{ds}");
    let row = &ds["Customer"][0];
    assert!(row.get("BitFlag").is_none(), "{row}");
    assert!(row["SysRevID"].is_string(), "{row}");
    assert!(row["EMailAddress"].is_string(), "no nulls: {row}");
    assert_eq!(
        row["TermsCode"].as_str().map(|t| t.ends_with(' ')),
        Some(false),
        "{row}"
    );
    let baq = get(&r, "api/v1/BaqSvc/zCustomerList/").await.rows();
    assert!(baq[0].get("RowIdent").is_none());
    let c = claims_of(&epicor_token(&r).await);
    assert!(c["exp"].is_i64() && c["jti"].is_string(), "{c}");
    // Rules, names and routes stay on.
    post(
        &r,
        &format!("{CUST_V2}/Customers"),
        json!({"CustID": "", "Name": "x"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "Customer ID");
    get(
        &r,
        "api/v2/odata/EPIC06/erp.bo.customersvc/Customers?$top=1",
    )
    .await
    .expect(StatusCode::OK);
}

#[tokio::test]
async fn baq_page_cap_variant() {
    // Default: BAQs are not capped (zPartSales has more rows than the entity page cap of 100).
    let r = shared();
    let all = get(&r, &format!("{V2}/BaqSvc/zPartSales/Data"))
        .await
        .rows();
    let capped = fresh(|c| {
        c.scale = 200;
        c.baq_page_cap = 10;
    });
    let rows = get(&capped, &format!("{V2}/BaqSvc/zPartSales/Data"))
        .await
        .expect(StatusCode::OK)
        .rows();
    assert_eq!(rows.len(), 10);
    assert!(all.len() > 10);
    let rows = get(
        &capped,
        &format!("{V2}/BaqSvc/zPartSales/Data?$top=4&$skip=2"),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert_eq!(rows.len(), 4);
    // With next_link on, a capped BAQ page says where the next one is.
    let linked = fresh(|c| {
        c.scale = 200;
        c.baq_page_cap = 10;
        c.next_link = true;
    });
    let j = get(&linked, &format!("{V2}/BaqSvc/zPartSales/Data"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(
        j["@odata.nextLink"]
            .as_str()
            .is_some_and(|l| l.contains("$skip=10")),
        "{j}"
    );
}

#[tokio::test]
async fn v2_date_offset_variant() {
    let r = fresh(|c| {
        c.scale = 200;
        c.v2_date_offset = "Z".into();
    });
    let v2 = get(&r, &format!("{CUST_V2}/Customers('EPIC06',1)"))
        .await
        .json();
    assert!(
        v2["EstDate"].as_str().unwrap().ends_with("T00:00:00Z"),
        "{v2}"
    );
    let v1 = get(&r, &format!("{CUST_V1}/Customers('EPIC06',1)"))
        .await
        .json();
    assert!(
        v1["EstDate"].as_str().unwrap().ends_with("T00:00:00"),
        "{v1}"
    );
    let minus5 = fresh(|c| {
        c.scale = 200;
        c.v2_date_offset = "-05:00".into();
    });
    let v2 = get(&minus5, &format!("{CUST_V2}/Customers('EPIC06',1)"))
        .await
        .json();
    assert!(
        v2["EstDate"].as_str().unwrap().ends_with("T00:00:00-05:00"),
        "{v2}"
    );
    // Dates sent back with an offset are read as dates.
    send(
        &minus5,
        Method::PATCH,
        &format!("{CUST_V2}/Customers('EPIC06',1)"),
        &[],
        Some(json!({"EstDate": "2024-05-06T00:00:00-05:00"})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // The default: no offset.
    let plain = get(&shared(), &format!("{CUST_V2}/Customers('EPIC06',1)"))
        .await
        .json();
    assert!(
        plain["EstDate"].as_str().unwrap().ends_with("T00:00:00"),
        "{plain}"
    );
    // A bad offset is a configuration error naming the key.
    let bad = EmulatorConfig {
        v2_date_offset: "five".into(),
        ..EmulatorConfig::default()
    };
    assert!(bad.validate().unwrap_err().contains("v2_date_offset"));
}
