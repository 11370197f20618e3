//! Reads: service lists, metadata, entity sets with every query option, keys, navigation, paging,
//! companies, and the errors around them.

use super::*;
use epicor_kinetic_odata::csdl::{EdmType, Metadata};
use serde_json::json;

#[tokio::test]
async fn service_lists_v1_and_v2() {
    let r = shared();
    let v1 = get(&r, "api/v1/").await.expect(StatusCode::OK).json();
    assert_eq!(
        v1["odata.metadata"],
        "http://emulator.test/Kinetic/api/v1/$metadata"
    );
    let names: Vec<&str> = v1["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for s in [
        "Erp.BO.CustomerSvc",
        "Erp.BO.PartSvc",
        "Erp.BO.SalesOrderSvc",
        "Erp.BO.VendorSvc",
        "BaqSvc",
    ] {
        assert!(names.contains(&s), "{names:?}");
    }
    let v2 = get(&r, "api/v2/odata/EPIC06/")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        v2["value"][0]["url"],
        "http://emulator.test/Kinetic/api/v2/odata/EPIC06/Erp.BO.CustomerSvc/"
    );
    let doc = get(&r, "api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/")
        .await
        .expect(StatusCode::OK)
        .json();
    let sets: Vec<&str> = doc["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(sets, ["SalesOrders", "OrderDtls", "OrderRels"]);
}

#[tokio::test]
async fn metadata_in_both_versions_reads_back_with_the_model() {
    let r = shared();
    for (uri, marker) in [
        ("api/v1/Erp.BO.CustomerSvc/$metadata", "DataServiceVersion"),
        (
            &*format!("{V2}/Erp.BO.CustomerSvc/$metadata"),
            "Version=\"4.0\"",
        ),
    ] {
        let reply = get(&r, uri).await.expect(StatusCode::OK);
        assert!(reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml"));
        assert!(reply.text.contains(marker), "{}", reply.text);
        let md = Metadata::from_xml(&reply.text).expect("metadata parses");
        let (set, ty) = md.entity_set("Customers").expect("Customers set");
        assert_eq!(set.entity_type, "Erp.Tablesets.CustomerRow");
        assert_eq!(ty.key, ["Company", "CustNum"]);
        let limit = ty
            .properties
            .iter()
            .find(|p| p.name == "CreditLimit")
            .unwrap();
        assert_eq!(limit.edm_type, EdmType::Decimal);
        assert_eq!((limit.precision, limit.scale), (Some(17), Some(3)));
        let name = ty.properties.iter().find(|p| p.name == "Name").unwrap();
        assert_eq!(name.max_length, Some(50));
        let nav = ty.navigation.iter().find(|n| n.name == "ShipTos").unwrap();
        assert!(nav.collection);
        assert_eq!(nav.target_type, "Erp.Tablesets.ShipToRow");
    }
}

#[tokio::test]
async fn v1_and_v2_envelopes_and_number_formats() {
    let r = shared();
    let v1 = get(
        &r,
        "api/v1/Erp.BO.CustomerSvc/Customers?$top=2&$inlinecount=allpages",
    )
    .await
    .expect(StatusCode::OK);
    let j = v1.json();
    assert_eq!(
        j["odata.metadata"],
        "http://emulator.test/Kinetic/api/v1/Erp.BO.CustomerSvc/$metadata#Customers"
    );
    assert!(j["odata.count"].as_str().unwrap().parse::<u64>().unwrap() > 2);
    let row = &j["value"][0];
    // v1 (OData v3 JSON) sends decimals and Int64 as strings; dates as Epicor does.
    assert!(
        row["CreditLimit"].as_str().unwrap().ends_with(".000")
            || row["CreditLimit"].as_str().unwrap().contains('.')
    );
    assert!(row["SysRevID"].is_string());
    assert!(row["EstDate"].as_str().unwrap().ends_with("T00:00:00"));
    assert_eq!(row["Company"], "EPIC06");
    let v2 = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$top=2&$count=true"),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(v2.headers["odata-version"], "4.0");
    let j = v2.json();
    assert_eq!(
        j["@odata.context"],
        "http://emulator.test/Kinetic/api/v2/odata/EPIC06/Erp.BO.CustomerSvc/$metadata#Customers"
    );
    assert!(j["@odata.count"].as_u64().unwrap() > 2);
    assert!(j["value"][0]["CreditLimit"].is_number());
    assert!(j["value"][0]["SysRevID"].is_number());
    assert!(j["value"][0]["CreditHold"].is_boolean());
    // Decimals are printed at their scale: exact text, not a float's.
    assert!(
        v2.text.contains("\"CreditLimit\":")
            && v2
                .text
                .split("\"CreditLimit\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .ends_with(".000")
    );
}

#[tokio::test]
async fn filter_select_orderby_top_skip() {
    let r = shared();
    let q = format!(
        "{V2}/Erp.BO.CustomerSvc/Customers?$filter={}&$select=CustNum,Name,State&$orderby={}&$top=5&$skip=1",
        enc("State eq 'MN' and CreditLimit ge 1000"),
        enc("Name desc")
    );
    let rows = get(&r, &q).await.expect(StatusCode::OK).rows();
    assert!(!rows.is_empty());
    for row in &rows {
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["CustNum", "Name", "State"]);
        assert_eq!(row["State"], "MN");
    }
    let names: Vec<&str> = rows.iter().map(|r| r["Name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(names, sorted, "ordered by Name desc");
    // $skip=1 drops exactly the first row of the unskipped answer.
    let all = get(&r, &q.replace("&$skip=1", "")).await.rows();
    assert_eq!(all[1..].first(), rows.first());
}

#[tokio::test]
async fn functions_and_quotes_in_filters() {
    let r = shared();
    let rows = get(
        &r,
        &format!(
            "{V2}/Erp.BO.CustomerSvc/Customers?$filter={}",
            enc("startswith(Name,'O''Brien')")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!rows.is_empty(), "the demo data has O'Brien customers");
    assert!(rows
        .iter()
        .all(|r| r["Name"].as_str().unwrap().starts_with("O'Brien")));
    let rows = get(
        &r,
        &format!(
            "{V2}/Erp.BO.SalesOrderSvc/SalesOrders?$filter={}",
            enc("year(OrderDate) eq 2024 and month(OrderDate) le 3")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["OrderDate"].as_str().unwrap() >= "2024-01-01"
            && r["OrderDate"].as_str().unwrap() < "2024-04"));
    let rows = get(
        &r,
        &format!(
            "{V2}/Erp.BO.SalesOrderSvc/SalesOrders?$filter={}",
            enc("OrderDate ge 2025-06-01T00:00:00Z and NeedByDate eq null")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(rows
        .iter()
        .all(|r| r["NeedByDate"].is_null() && r["OrderDate"].as_str().unwrap() >= "2025-06-01"));
    let rows = get(
        &r,
        &format!(
            "{V2}/Erp.BO.CustomerSvc/Customers?$filter={}",
            enc("ShipTos/any(s: s/State eq 'TX') and not ShipTos/all(s: s/State eq 'TX')")
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!rows.is_empty());
}

#[tokio::test]
async fn expand_with_nested_options() {
    let r = shared();
    let q = format!(
        "{V2}/Erp.BO.SalesOrderSvc/SalesOrders?$top=3&$select=OrderNum&$expand={}",
        enc("OrderDtls($select=OrderLine,PartNum;$orderby=OrderLine desc;$expand=OrderRels($select=OrderRelNum))")
    );
    let rows = get(&r, &q).await.expect(StatusCode::OK).rows();
    assert_eq!(rows.len(), 3);
    for order in &rows {
        let lines = order["OrderDtls"].as_array().unwrap();
        assert!(!lines.is_empty());
        let nums: Vec<i64> = lines
            .iter()
            .map(|l| l["OrderLine"].as_i64().unwrap())
            .collect();
        let mut sorted = nums.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(nums, sorted);
        for l in lines {
            assert_eq!(l.as_object().unwrap().len(), 3, "{l}");
            assert!(!l["OrderRels"].as_array().unwrap().is_empty());
        }
        // The expansion matches navigation.
        let nav = get(
            &r,
            &format!(
                "{V2}/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',{})/OrderDtls/$count",
                order["OrderNum"]
            ),
        )
        .await
        .expect(StatusCode::OK);
        assert_eq!(nav.text, lines.len().to_string());
    }
}

#[tokio::test]
async fn keys_and_navigation() {
    let r = shared();
    let c = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',1)"),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(c["@odata.context"], "http://emulator.test/Kinetic/api/v2/odata/EPIC06/Erp.BO.CustomerSvc/$metadata#Customers/$entity");
    assert_eq!(c["CustNum"], 1);
    let named = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers(CustNum=1,Company='EPIC06')"),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(named["CustID"], c["CustID"]);
    let v1 = get(&r, "api/v1/Erp.BO.CustomerSvc/Customers('EPIC06',1)")
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(v1["odata.metadata"]
        .as_str()
        .unwrap()
        .ends_with("#Customers/@Element"));
    let part = get(&r, &format!("{V2}/Erp.BO.PartSvc/Parts?$top=1"))
        .await
        .rows()[0]
        .clone();
    let pn = part["PartNum"].as_str().unwrap();
    get(
        &r,
        &format!("{V2}/Erp.BO.PartSvc/Parts('EPIC06','{}')", enc(pn)),
    )
    .await
    .expect(StatusCode::OK);
    // Navigation from an order to its lines and to one line.
    let lines = get(
        &r,
        &format!("{V2}/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',5001)/OrderDtls"),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["OrderNum"] == 5001));
    get(
        &r,
        &format!("{V2}/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',5001)/OrderDtls('EPIC06',5001,1)"),
    )
    .await
    .expect(StatusCode::OK);
    get(
        &r,
        &format!("{V2}/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',5001)/OrderDtls('EPIC06',5002,1)"),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "is not under");
    let count: u64 = get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers/$count"))
        .await
        .expect(StatusCode::OK)
        .text
        .parse()
        .unwrap();
    assert!(count >= 60);
    // Errors around keys.
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',999999)"),
    )
    .await
    .expect_error(
        StatusCode::NOT_FOUND,
        "Customer record not found: Company='EPIC06', CustNum=999999",
    );
    get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers(1)"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "has 2 values (Company, CustNum)");
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06','x')"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "does not fit CustNum");
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers('EPIC06',1)/Orders"),
    )
    .await
    .expect_error(
        StatusCode::NOT_FOUND,
        "no navigation property named 'Orders'",
    );
    get(
        &r,
        &format!("{V2}/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',999999)/OrderDtls"),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "OrderHed record not found");
}

#[tokio::test]
async fn server_page_cap_and_next_link_paging() {
    let r = shared();
    assert_eq!(
        get(&r, &format!("{V2}/Erp.BO.SalesOrderSvc/OrderDtls"))
            .await
            .rows()
            .len(),
        100
    );
    assert_eq!(
        get(&r, &format!("{V2}/Erp.BO.SalesOrderSvc/OrderDtls?$top=500"))
            .await
            .rows()
            .len(),
        100
    );
    assert_eq!(
        get(&r, &format!("{V2}/Erp.BO.SalesOrderSvc/OrderDtls?$top=7"))
            .await
            .rows()
            .len(),
        7
    );
    let capped = fresh(|c| c.page_cap = 25);
    assert_eq!(
        get(&capped, &format!("{V2}/Erp.BO.CustomerSvc/Customers"))
            .await
            .rows()
            .len(),
        25
    );
    // nextLink mode: following the links yields every row exactly once, in key order.
    let linked = fresh(|c| {
        c.page_cap = 40;
        c.next_link = true;
    });
    let total: usize = get(
        &linked,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers/$count"),
    )
    .await
    .text
    .parse()
    .unwrap();
    let mut url = format!(
        "{V2}/Erp.BO.CustomerSvc/Customers?$select=CustNum&$filter={}",
        enc("CustNum gt 0")
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let j = get(&linked, &url).await.expect(StatusCode::OK).json();
        pages += 1;
        seen.extend(
            j["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["CustNum"].as_i64().unwrap()),
        );
        match j["@odata.nextLink"].as_str() {
            Some(next) => {
                url = next
                    .strip_prefix("http://emulator.test/Kinetic/")
                    .unwrap()
                    .to_string()
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert_eq!(pages, total.div_ceil(40));
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in key order, no repeats"
    );
    // A $top larger than the cap is honoured across pages.
    let j = get(
        &linked,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$top=50"),
    )
    .await
    .json();
    let next = j["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$top=10") && next.contains("$skip=40"),
        "{next}"
    );
    // v1 says odata.nextLink.
    let j = get(&linked, "api/v1/Erp.BO.CustomerSvc/Customers")
        .await
        .json();
    assert!(j["odata.nextLink"].is_string());
}

/// `$skip` pages of a key-ordered collection (which the server seeks by key from the positions it
/// remembers) equal slices of one unpaged read: in order, out of order, several at once.
#[tokio::test]
async fn skip_pages_in_key_order_equal_one_unpaged_read() {
    let r = fresh(|c| c.page_cap = 0);
    let set = format!("{V2}/Erp.BO.SalesOrderSvc/OrderDtls");
    for query in [
        String::new(),
        format!(
            "$orderby=Company,OrderNum,OrderLine&$select=PartNum,LineDesc&$filter={}",
            enc("OrderLine le 2 and PartNum ne 'X'")
        ),
        // Company is fixed by the path's company: ordering by OrderNum is still the key order.
        format!(
            "$orderby=OrderNum&$select=OrderLine&$count=true&$filter={}",
            enc("OrderNum gt 20")
        ),
        // Other orders page by OFFSET alone.
        "$orderby=OrderNum%20desc,OrderLine&$select=OrderNum,OrderLine".to_string(),
        "$orderby=PartNum&$select=PartNum".to_string(),
    ] {
        let all = get(&r, &format!("{set}?{query}"))
            .await
            .expect(StatusCode::OK)
            .rows();
        assert!(all.len() > 300, "{query}: {}", all.len());
        let page = |skip: usize, top: usize| {
            let uri = format!("{set}?{query}&$top={top}&$skip={skip}");
            let r = r.clone();
            async move { get(&r, &uri).await.expect(StatusCode::OK).rows() }
        };
        let slice = |skip: usize, top: usize| {
            all[skip.min(all.len())..(skip + top).min(all.len())].to_vec()
        };
        // Out of order first, while little is remembered.
        let mut skips: Vec<usize> = (0..=all.len() / 53).map(|i| i * 53).collect();
        skips.sort_by_key(|s| (s * 7919 + 1) % 1013);
        assert!(skips.windows(2).any(|w| w[0] > w[1]));
        for &skip in &skips {
            assert_eq!(
                page(skip, 53).await,
                slice(skip, 53),
                "{query} $skip={skip}"
            );
        }
        // In order, 37 at a time: each start lies between remembered positions.
        let mut walked = Vec::new();
        loop {
            let rows = page(walked.len(), 37).await;
            if rows.is_empty() {
                break;
            }
            walked.extend(rows);
        }
        assert_eq!(walked, all, "{query}");
        // Four pages at once, as a parallel client asks for them.
        for first in [100, 1000] {
            let skips: Vec<usize> = (0..4).map(|i| first + i * 41).collect();
            let pages = futures_util::future::join_all(skips.iter().map(|s| page(*s, 41))).await;
            for (skip, rows) in skips.iter().zip(pages) {
                assert_eq!(rows, slice(*skip, 41), "{query} $skip={skip}");
            }
        }
    }
}

/// After any write through the API, a page equals the plain `$skip` answer over the new data: the
/// positions remembered before the write are never sought from.
#[tokio::test]
async fn skip_pages_after_writes_follow_the_new_data() {
    let r = fresh(|c| c.page_cap = 0);
    let svc = format!("{V2}/Erp.BO.CustomerSvc");
    let set = format!("{svc}/Customers");
    let query = "$select=CustNum,Name&$orderby=CustNum";
    let page = |skip: usize| {
        let uri = format!("{set}?{query}&$top=5&$skip={skip}");
        let r = r.clone();
        async move { get(&r, &uri).await.expect(StatusCode::OK).rows() }
    };
    // The plain answer: one read from the start, which never seeks.
    let all = || {
        let uri = format!("{set}?{query}");
        let r = r.clone();
        async move { get(&r, &uri).await.expect(StatusCode::OK).rows() }
    };
    let before = all().await;
    for skip in [0, 5, 10, 15] {
        assert_eq!(page(skip).await, before[skip..skip + 5]);
    }
    // Each write removes or adds a row before the last position remembered, then the next page
    // starts exactly there: sought from the old key it would be off by one row.
    send(&r, Method::DELETE, &format!("{set}('EPIC06',3)"), &[], None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let now = all().await;
    assert_eq!(now.len(), before.len() - 1);
    assert_eq!(page(20).await, now[20..25]);
    post(
        &r,
        &set,
        json!({"CustNum": 3, "CustID": "SEEK3", "Name": "Sought"}),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(page(25).await, all().await[25..30]);
    post(&r, &format!("{svc}/DeleteByID"), json!({"custNum": 4}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(page(30).await, all().await[30..35]);
    let ds = json!({"Customer": [{"Company": "EPIC06", "CustNum": 2, "RowMod": "D"}]});
    post(&r, &format!("{svc}/Update"), json!({"ds": ds}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(page(35).await, all().await[35..40]);
}

/// The seek is really used: a row deleted behind the server's back (not through its API, so no new
/// write generation) does not shift a page sought from a remembered key, while any write through
/// the API makes pages follow the data again.
#[tokio::test]
async fn skip_pages_are_sought_from_remembered_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("erp.db");
    let r = fresh(|c| {
        c.page_cap = 0;
        c.db = Some(path.clone());
    });
    let set = format!("{V2}/Erp.BO.CustomerSvc/Customers");
    let page = |skip: usize| {
        let uri = format!("{set}?$select=Name&$top=5&$skip={skip}");
        let r = r.clone();
        async move { get(&r, &uri).await.expect(StatusCode::OK).rows() }
    };
    let all = || {
        let uri = format!("{set}?$select=Name&$orderby=CustNum");
        let r = r.clone();
        async move { get(&r, &uri).await.expect(StatusCode::OK).rows() }
    };
    let before = all().await;
    for skip in [0, 5, 10] {
        assert_eq!(page(skip).await, before[skip..skip + 5]);
    }
    let behind = rusqlite::Connection::open(&path).unwrap();
    // The schema's text columns compare with the emulator's collation.
    epicor_kinetic_emulator::collation::register(&behind).unwrap();
    behind
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let gone = behind
        .execute(
            "DELETE FROM Customer WHERE Company = 'EPIC06' AND CustNum = 2",
            [],
        )
        .unwrap();
    assert_eq!(gone, 1);
    let now = all().await;
    assert_eq!(now.len(), before.len() - 1);
    // Sought from the key of row 15 (which is still there), not counted from the start.
    assert_eq!(page(15).await, before[15..20]);
    assert_ne!(now[15..20], before[15..20]);
    send(
        &r,
        Method::PATCH,
        &format!("{set}('EPIC06',1)"),
        &[],
        Some(json!({"City": "Duluth"})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(page(15).await, now[15..20]);
}

#[tokio::test]
async fn companies_from_path_callsettings_and_query() {
    let r = shared();
    let v2 = get(
        &r,
        "api/v2/odata/EPIC03/Erp.BO.CustomerSvc/Customers?$top=3",
    )
    .await
    .rows();
    assert!(v2.iter().all(|c| c["Company"] == "EPIC03"));
    let cs = send(
        &r,
        Method::GET,
        "api/v1/Erp.BO.CustomerSvc/Customers?$top=3",
        &[("CallSettings", r#"{"Company":"EPIC03","Plant":"MfgSys"}"#)],
        None,
    )
    .await
    .rows();
    assert!(cs.iter().all(|c| c["Company"] == "EPIC03"));
    let q = get(
        &r,
        "api/v1/Erp.BO.CustomerSvc/Customers?$top=3&Company=EPIC03",
    )
    .await
    .rows();
    assert!(q.iter().all(|c| c["Company"] == "EPIC03"));
    let default = get(&r, "api/v1/Erp.BO.CustomerSvc/Customers?$top=3")
        .await
        .rows();
    assert!(default.iter().all(|c| c["Company"] == "EPIC06"));
    get(&r, "api/v2/odata/NOPE/Erp.BO.CustomerSvc/Customers")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "Company 'NOPE' is not valid");
    send(
        &r,
        Method::GET,
        "api/v1/Erp.BO.CustomerSvc/Customers",
        &[("CallSettings", "{not json")],
        None,
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "CallSettings");
}

#[tokio::test]
async fn errors_are_epicor_shaped_never_500() {
    let r = shared();
    let j = get(&r, "api/v1/Erp.BO.NopeSvc/Things")
        .await
        .expect_error(StatusCode::NOT_FOUND, "Service Erp.BO.NopeSvc not found");
    assert_eq!(j["ErrorType"], "Epicor.RESTApi.ErrorHandling.ApiException");
    get(&r, "api/v1/Erp.BO.CustomerSvc/Custmers")
        .await
        .expect_error(
            StatusCode::NOT_FOUND,
            "no entity set or method named 'Custmers'",
        );
    let j = get(
        &r,
        &format!(
            "{V2}/Erp.BO.CustomerSvc/Customers?$filter={}",
            enc("Name eq 'x' and (CustNum gt 1")
        ),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "$filter");
    assert_eq!(j["ErrorType"], "ODataException");
    assert!(j["ErrorMessage"].as_str().unwrap().contains(" at "), "{j}");
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$select=Nope"),
    )
    .await
    .expect_error(
        StatusCode::BAD_REQUEST,
        "Could not find a property named 'Nope'",
    );
    get(
        &r,
        &format!(
            "{V2}/Erp.BO.CustomerSvc/Customers?$filter={}",
            enc("Nope eq 1")
        ),
    )
    .await
    .expect_error(
        StatusCode::BAD_REQUEST,
        "Could not find a property named 'Nope'",
    );
    get(
        &r,
        &format!(
            "{V2}/Erp.BO.CustomerSvc/Customers?$filter={}",
            enc("CustNum eq 'x'")
        ),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "cannot compare");
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$expand=Nope"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "navigation property named 'Nope'");
    get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers?$top=-1"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "$top");
    get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers?$bogus=1"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "$bogus");
    let other = send(&r, Method::GET, "api/v1/x", &[], None).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let wrong_instance = r
        .clone()
        .oneshot(Request::get("/Other/api/v1/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(wrong_instance.status(), StatusCode::NOT_FOUND);
    // XML when the client does not accept JSON.
    let x = send(
        &r,
        Method::GET,
        "api/v1/Erp.BO.NopeSvc/",
        &[("accept", "application/xml")],
        None,
    )
    .await;
    assert_eq!(x.status, StatusCode::NOT_FOUND);
    assert!(x.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    for tag in [
        "<HttpStatus>404</HttpStatus>",
        "<ErrorMessage>",
        "<ErrorType>",
        "<CorrelationId>",
        "<ReasonPhrase>",
    ] {
        assert!(x.text.contains(tag), "{}", x.text);
    }
    send(&r, Method::DELETE, "api/v1/", &[], None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "use GET");
}

#[tokio::test]
async fn openapi_documents_follow_the_model() {
    let r = shared();
    let doc = get(&r, "api/swagger/v2/odata/Erp.BO.CustomerSvc.json")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/Customers"]["get"].is_object());
    assert!(doc["paths"]["/Customers('{Company}',{CustNum})"]["patch"].is_object());
    let props = doc["components"]["schemas"]["CustomerRow"]["properties"]
        .as_object()
        .unwrap();
    assert_eq!(props["Name"]["maxLength"], 50);
    assert_eq!(props["CustNum"]["format"], "int32");
    assert_eq!(
        props.len(),
        epicor_kinetic_emulator::model::CUSTOMER.columns.len()
    );
    assert!(doc["components"]["securitySchemes"]["apiKey"].is_object());
    let m = get(&r, "api/swagger/v2/methods/Erp.BO.SalesOrderSvc.json")
        .await
        .expect(StatusCode::OK)
        .json();
    for p in [
        "/GetByID",
        "/GetList",
        "/GetRows",
        "/Update",
        "/UpdateExt",
        "/GetNewOrderHed",
        "/GetNewOrderDtl",
    ] {
        assert!(m["paths"][p]["post"].is_object(), "{p}");
    }
    // Every $ref resolves.
    for d in [&doc, &m] {
        let text = d.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                d["components"]["schemas"][name].is_object(),
                "dangling $ref {name}"
            );
        }
    }
    get(&r, "api/swagger/v2/odata/Erp.BO.Nope.json")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not found");
}

#[tokio::test]
async fn serves_over_a_real_socket() {
    let running = epicor_kinetic_emulator::spawn(
        EmulatorConfig {
            scale: 300,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let info = running.startup_info();
    assert!(info["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert_eq!(info["instance"], "Kinetic");
    assert_eq!(info["company"], "EPIC06");
    assert!(info["connection_strings"]["basic"]
        .as_str()
        .unwrap()
        .contains("ERPInstance=Kinetic"));
    assert!(info["users"][0]["password"].is_string());
    assert!(!running.startup_line().contains('\n'));
    // A raw HTTP/1.1 exchange, no client library.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    s.write_all(b"GET /Kinetic/api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts?$top=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic bWFuYWdlcjpFcGljb3IxMjMh\r\nx-api-key: kinetic-demo-api-key-0000000000000000\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("HTTP/1.1 200"), "{buf}");
    assert!(buf.contains("\"PartNum\""));
    running.shutdown().await;
}
