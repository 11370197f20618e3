//! Strict server-driven paging (`strict_paging`): links with an opaque `$skiptoken`, `$skip`
//! refused where the server pages with links, ties in an order that changes from page to page;
//! and the request log tests use to see what a client sent.

use super::*;
use std::collections::HashSet;

const HOST: &str = "http://emulator.test/Kinetic/";

fn strict(cap: usize) -> Router {
    fresh(|c| {
        c.page_cap = cap;
        c.strict_paging = true;
    })
}

/// Follows the links from `url`; every page's rows and every link.
async fn follow(r: &Router, url: &str, link_key: &str) -> (Vec<Value>, Vec<String>) {
    let mut url = url.to_string();
    let mut rows = Vec::new();
    let mut links = Vec::new();
    for _ in 0..1_000 {
        let j = get(r, &url).await.expect(StatusCode::OK).json();
        rows.extend(j["value"].as_array().unwrap().iter().cloned());
        match j[link_key].as_str() {
            Some(next) => {
                links.push(next.to_string());
                url = next.strip_prefix(HOST).unwrap().to_string();
            }
            None => return (rows, links),
        }
    }
    panic!("more than 1,000 links from {url}");
}

fn keys(rows: &[Value]) -> Vec<(i64, i64)> {
    rows.iter()
        .map(|r| {
            (
                r["OrderNum"].as_i64().unwrap(),
                r["OrderLine"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn strict_links_carry_a_skiptoken_and_reach_every_row_once() {
    let r = strict(40);
    let total: usize = get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers/$count"))
        .await
        .text
        .parse()
        .unwrap();
    // No $orderby: the store's own order, the same on every page.
    let (rows, links) = follow(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$select=CustNum"),
        "@odata.nextLink",
    )
    .await;
    let nums: Vec<i64> = rows
        .iter()
        .map(|r| r["CustNum"].as_i64().unwrap())
        .collect();
    assert_eq!(nums.len(), total);
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "in key order, no repeats"
    );
    assert_eq!(links.len(), total.div_ceil(40) - 1);
    for l in &links {
        assert!(l.contains("$select=CustNum&$skiptoken="), "{l}");
        assert!(!l.contains("$skip="), "no $skip in a strict link: {l}");
    }
    // $top above the cap: the link carries what is left of it.
    let j = get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers?$top=50"))
        .await
        .json();
    let next = j["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$top=10&$skiptoken="), "{next}");
    let j = get(&r, next.strip_prefix(HOST).unwrap()).await.json();
    assert_eq!(j["value"].as_array().unwrap().len(), 10);
    assert!(j["@odata.nextLink"].is_null(), "{j}");
    // v1 says odata.nextLink, with a token too.
    let j = get(&r, "api/v1/Erp.BO.CustomerSvc/Customers").await.json();
    assert!(
        j["odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken="),
        "{j}"
    );
}

#[tokio::test]
async fn strict_refuses_skip_where_it_pages_with_links() {
    let r = strict(40);
    for q in ["$skip=40", "$top=500&$skip=40", "$orderby=Name&$skip=1"] {
        get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers?{q}"))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "follow that link");
        get(&r, &format!("api/v1/Erp.BO.CustomerSvc/Customers?{q}"))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "@odata.nextLink");
    }
    // Pages the server does not cut may still be asked for by $skip.
    let rows = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$top=10&$skip=40"),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert_eq!(rows.len(), 10);
    // A token is good only for its own query, and only as written.
    let j = get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$filter=CustNum%20gt%200"),
    )
    .await
    .json();
    let token = j["@odata.nextLink"]
        .as_str()
        .unwrap()
        .split("$skiptoken=")
        .nth(1)
        .unwrap()
        .to_string();
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$skiptoken={token}"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "belongs to another query");
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$skiptoken=40"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "not written by this server");
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$filter=CustNum%20gt%200&$skiptoken={token}&$top=40&$skip=0"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "cannot be used together");
    // The default mode keeps accepting $skip everywhere.
    get(
        &fresh(|c| c.page_cap = 40),
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$skip=40"),
    )
    .await
    .expect(StatusCode::OK);
}

/// Strict mode sorts only as asked: an order that leaves rows tied (lines of one order) loses
/// and repeats rows across pages; the order with the whole key reads each row once.
#[tokio::test]
async fn strict_sorts_only_as_asked() {
    let r = strict(40);
    let set = format!("{V2}/Erp.BO.SalesOrderSvc/OrderDtls");
    let total: usize = get(&r, &format!("{set}/$count"))
        .await
        .text
        .parse()
        .unwrap();
    let select = "$select=OrderNum,OrderLine";
    let (partial, _) = follow(
        &r,
        &format!("{set}?{select}&$orderby=OrderNum"),
        "@odata.nextLink",
    )
    .await;
    let distinct: HashSet<(i64, i64)> = keys(&partial).into_iter().collect();
    assert_eq!(partial.len(), total, "one row per position");
    assert!(
        distinct.len() < total,
        "ties come in another order on the next page: {} distinct of {total}",
        distinct.len()
    );
    let (whole, _) = follow(
        &r,
        &format!("{set}?{select}&$orderby=OrderNum,Company,OrderLine"),
        "@odata.nextLink",
    )
    .await;
    let ks = keys(&whole);
    assert_eq!(ks.iter().collect::<HashSet<_>>().len(), total);
    assert!(ks.windows(2).all(|w| w[0] < w[1]), "{:?}", &ks[..5]);
    // Descending orders of the key are sorted as asked too.
    let (desc, _) = follow(
        &r,
        &format!("{set}?{select}&$orderby=OrderNum%20desc,Company,OrderLine%20desc"),
        "@odata.nextLink",
    )
    .await;
    let ks = keys(&desc);
    assert_eq!(ks.len(), total);
    assert!(ks.windows(2).all(|w| w[0] > w[1]));
}

#[tokio::test]
async fn strict_baq_pages_link_with_a_token() {
    let r = fresh(|c| {
        c.scale = 200;
        c.baq_page_cap = 10;
        c.strict_paging = true;
    });
    let j = get(&r, &format!("{V2}/BaqSvc/zPartSales/Data"))
        .await
        .expect(StatusCode::OK)
        .json();
    let next = j["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$skiptoken=") && !next.contains("$skip="),
        "{j}"
    );
    get(&r, next.strip_prefix(HOST).unwrap())
        .await
        .expect(StatusCode::OK);
    get(&r, &format!("{V2}/BaqSvc/zPartSales/Data?$skip=10"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "follow that link");
}

#[tokio::test]
async fn the_request_log_keeps_the_last_requests_as_sent() {
    let emulator = Emulator::new(EmulatorConfig {
        scale: 200,
        request_log: 2,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let r = emulator.router();
    let log = emulator.requests();
    get(&r, &format!("{V2}/Erp.BO.CustomerSvc/Customers?$top=1")).await;
    get(
        &r,
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$filter=Name%20eq%20'A'"),
    )
    .await;
    send(
        &r,
        Method::GET,
        "api/v1/Nope",
        &[("authorization", "")],
        None,
    )
    .await;
    let seen = log.entries();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0].uri,
        "/Kinetic/api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers?$filter=Name%20eq%20'A'"
    );
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].status, 200);
    assert_eq!(seen[1].path(), "/Kinetic/api/v1/Nope");
    assert_eq!(seen[1].status, 401);
    // Off by default.
    let quiet = Emulator::new(EmulatorConfig {
        scale: 200,
        ..EmulatorConfig::default()
    })
    .unwrap();
    get(
        &quiet.router(),
        &format!("{V2}/Erp.BO.CustomerSvc/Customers?$top=1"),
    )
    .await;
    assert!(quiet.requests().entries().is_empty());
}
