//! Hostile input against the REST API: every answer is a 4xx (or a 503 for a limit of the server's
//! own) in Epicor's error shape that names the limit, nothing crashes the process, and the server
//! keeps serving afterwards.

use super::*;
use serde_json::json;

const CUST_V1: &str = "api/v1/Erp.BO.CustomerSvc";
const CUSTOMERS: &str = "api/v2/odata/EPIC06/Erp.BO.CustomerSvc/Customers";
const ORDER_DTLS: &str = "api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/OrderDtls";

/// The server still answers an ordinary query.
async fn still_serving(r: &Router) {
    let rows = get(r, &format!("{CUSTOMERS}?$top=2&$select=CustNum"))
        .await
        .expect(StatusCode::OK)
        .rows();
    assert_eq!(rows.len(), 2);
}

async fn get_list(r: &Router, clause: &str) -> Reply {
    post(
        r,
        &format!("{CUST_V1}/GetList"),
        json!({"whereClause": clause, "pageSize": 0, "absolutePage": 0}),
    )
    .await
}

/// `t1 or t2 or ...` with `n` terms `CustNum eq 1`, `CustNum eq 2`, ...
fn or_chain(n: usize, eq: &str) -> String {
    (1..=n)
        .map(|i| format!("CustNum {eq} {i}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[tokio::test]
async fn deeply_nested_not_in_a_where_clause_is_refused_and_the_server_keeps_serving() {
    let r = fresh(|_| {});
    // ~800 KB: used to overflow the stack and abort the whole process.
    let huge = format!("{}CustNum = 1", "not ".repeat(200_000));
    let reply = get_list(&r, &huge).await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    reply.expect_error(StatusCode::BAD_REQUEST, "at most");
    // Short enough for the length limit: the nesting limit answers, by name.
    let deep = format!("{}CustNum = 1", "not ".repeat(2_000));
    get_list(&r, &deep)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "at most 64 levels");
    let parens = format!("{}CustNum = 1{}", "(".repeat(5_000), ")".repeat(5_000));
    get_list(&r, &parens)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "at most 64 levels");
    still_serving(&r).await;
}

#[tokio::test]
async fn where_clause_chains_are_bounded_by_a_condition_count_not_the_stack() {
    let r = fresh(|_| {});
    // 100,000 terms: refused by length (~1.9 MB) instead of building a 100,000-deep tree.
    get_list(&r, &or_chain(100_000, "="))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "max_expression_bytes");
    // Under the length limit but over the condition count.
    get_list(&r, &or_chain(2_000, "="))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "more than 1000 conditions");
    // A long but legitimate chain works: customers 1..=900.
    let j = get_list(&r, &or_chain(900, "="))
        .await
        .expect(StatusCode::OK)
        .json();
    let n = j["returnObj"]["CustomerList"].as_array().unwrap().len();
    assert!(n > 20, "{n} customers");
    still_serving(&r).await;
}

#[tokio::test]
async fn filter_length_nesting_and_long_chains_are_handled() {
    // A URI cannot carry 64 KiB of escaped filter through `http`, so the length limit is tried small.
    let small = fresh(|c| c.limits.max_expression_bytes = 1_000);
    let long = or_chain(100, "eq");
    get(&small, &format!("{CUSTOMERS}?$filter={}", enc(&long)))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "at most 1000 bytes");
    get(&small, &format!("{CUSTOMERS}?$orderby={}", enc(&long)))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "max_expression_bytes");
    let r = shared();
    // 900 terms compile (no recursion per term in the compiler nor in SQLite's parser).
    let chain = or_chain(900, "eq");
    let rows = get(
        &r,
        &format!(
            "{CUSTOMERS}?$select=CustNum&$top=5000&$filter={}",
            enc(&chain)
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|c| c["CustNum"].as_i64().unwrap() <= 900));
    let and_chain = (0..900)
        .map(|i| format!("CustNum ne {}", 100_000 + i))
        .collect::<Vec<_>>()
        .join(" and ");
    get(
        &r,
        &format!("{CUSTOMERS}?$select=CustNum&$filter={}", enc(&and_chain)),
    )
    .await
    .expect(StatusCode::OK);
    // Deep nesting is a 400 from the parser or the compiler, never a crash.
    for deep in [
        format!("{}CustNum eq 1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("{}CustNum eq 1", "not ".repeat(5_000)),
        format!("{}CustNum eq 1", "not ".repeat(200)),
        format!("CustNum eq {}1", "-".repeat(200)),
    ] {
        let reply = get(&r, &format!("{CUSTOMERS}?$filter={}", enc(&deep))).await;
        reply.expect_error(StatusCode::BAD_REQUEST, "");
    }
    // Nested orderings whose operands are themselves orderings: the SQL must grow with the
    // filter, not double per level (60 levels would be 2^60 bytes).
    let mut nested = "CustNum gt 1".to_string();
    for _ in 0..60 {
        nested = format!("({nested}) gt false");
    }
    let rows = get(
        &r,
        &format!("{CUSTOMERS}?$select=CustNum&$filter={}", enc(&nested)),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!rows.is_empty());
    let mut nested = "CustNum in (1, null)".to_string();
    for _ in 0..60 {
        nested = format!("({nested}) in (true, null)");
    }
    get(
        &r,
        &format!("{CUSTOMERS}?$select=CustNum&$filter={}", enc(&nested)),
    )
    .await
    .expect(StatusCode::OK);
    // Many parentheses around one condition are no nesting of the tree.
    let parens = format!("{}CustNum eq 1{}", "(".repeat(100), ")".repeat(100));
    get(&r, &format!("{CUSTOMERS}?$filter={}", enc(&parens)))
        .await
        .expect(StatusCode::OK);
    still_serving(&r).await;
}

#[tokio::test]
async fn huge_in_lists_are_refused_naming_the_limit() {
    let r = shared();
    let list = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    get(
        &r,
        &format!(
            "{CUSTOMERS}?$filter={}",
            enc(&format!("CustNum in ({})", list(5_000)))
        ),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "at most 1000");
    let rows = get(
        &r,
        &format!(
            "{CUSTOMERS}?$select=CustNum&$filter={}",
            enc(&format!("CustNum in ({})", list(1_000)))
        ),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(!rows.is_empty());
}

#[tokio::test]
async fn top_and_skip_outside_their_range_are_400_naming_the_range() {
    let r = shared();
    for q in [
        "$skip=18446744073709551615",
        "$skip=2147483648",
        "$skip=-1",
        "$skip=abc",
        "$top=18446744073709551615",
        "$top=-5",
        "$top=1e3",
    ] {
        let option = &q[..q.find('=').unwrap()];
        let j = get(&r, &format!("{CUSTOMERS}?{q}"))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "from 0 to 2147483647");
        let msg = j["ErrorMessage"].as_str().unwrap();
        assert!(msg.contains(option), "{q}: {msg}");
    }
    // The largest allowed skip is fine: an empty page.
    let rows = get(&r, &format!("{CUSTOMERS}?$skip=2147483647"))
        .await
        .expect(StatusCode::OK)
        .rows();
    assert!(rows.is_empty());
    // Nested in $expand, and on BAQs.
    get(
        &r,
        &format!("{CUSTOMERS}?$expand={}", enc("ShipTos($skip=99999999999)")),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "$skip must be a whole number");
    get(
        &r,
        &format!("{V2}/BaqSvc/zCustomerList/Data?$top=99999999999"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "$top must be a whole number");
    get(
        &r,
        "api/v1/BaqSvc/zCustomerList/?$skip=18446744073709551615",
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "$skip must be a whole number");
}

#[tokio::test]
async fn get_rows_paging_that_overflows_is_400() {
    let r = shared();
    for (size, page) in [
        (json!(1000), json!(i64::MAX)),
        (json!(i64::MAX), json!(3)),
        (json!(3_000_000_000u64), json!(1)),
        (json!(100), json!(30_000_000)),
    ] {
        post(
            &r,
            &format!("{CUST_V1}/GetRows"),
            json!({"whereClause": "", "pageSize": size, "absolutePage": page}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "max_top_skip");
    }
    still_serving(&r).await;
}

#[tokio::test]
async fn internal_errors_answer_epicors_generic_text_with_the_correlation_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("erp.db");
    let r = fresh(|c| c.db = Some(path.clone()));
    // Break the store behind the server's back: every Customer query now fails inside SQLite.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE Customer;")
        .unwrap();
    let j = get(&r, &format!("{CUSTOMERS}?$top=1")).await.expect_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "We apologize, but an unexpected internal problem occurred.",
    );
    let msg = j["ErrorMessage"].as_str().unwrap();
    let id = j["CorrelationId"].as_str().unwrap();
    assert_eq!(
        msg,
        format!(
            "We apologize, but an unexpected internal problem occurred. Please provide your \
             system administrator with this Correlation Id, to help them identify the problem. \
             Correlation Id: {id}"
        )
    );
    assert!(!j.to_string().contains("Customer"), "internals leak: {j}");
    assert_eq!(j["ErrorDetails"], json!([]));
}

/// A filter over every order line that SQLite must evaluate term by term and that matches nothing:
/// about 20 ms at the test scale, 20 times the 1 ms limit tried below.
fn expensive_order_filter() -> String {
    let terms: Vec<String> = (0..300)
        .map(|i| format!("contains(LineDesc,'q{i}')"))
        .collect();
    format!(
        "{ORDER_DTLS}?$select=OrderNum&$filter={}",
        enc(&terms.join(" or "))
    )
}

#[tokio::test]
async fn the_statement_time_limit_stops_expensive_queries() {
    let r = fresh(|c| c.limits.statement_timeout_ms = 1);
    get(&r, &expensive_order_filter())
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "statement_timeout_ms");
    // The default limit lets the same query finish.
    let r = fresh(|_| {});
    get(&r, &expensive_order_filter())
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn readers_are_bounded_and_a_request_that_cannot_get_one_is_503() {
    let r = fresh(|c| {
        c.limits.max_readers = 1;
        c.limits.reader_wait_ms = 0;
    });
    // One call first, so the password check is cached: from then on nothing before the database
    // read yields, and the two calls below reach it in the order they are polled.
    still_serving(&r).await;
    // Both are polled in the same turn: the first takes the only reader (its work runs on a blocking
    // thread for milliseconds), the second finds none free and may not wait.
    let (slow_uri, quick_uri) = (expensive_order_filter(), format!("{CUSTOMERS}?$top=1"));
    let (slow, second) = tokio::join!(get(&r, &slow_uri), get(&r, &quick_uri));
    slow.expect(StatusCode::OK);
    second.expect_error(StatusCode::SERVICE_UNAVAILABLE, "max_readers");
    // The reader is back: the next request is served.
    still_serving(&r).await;
}

#[tokio::test]
async fn expanded_rows_per_parent_are_capped_without_cutting_silently() {
    let r = fresh(|c| c.limits.max_expand_rows = 2);
    let so = "api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/SalesOrders";
    get(&r, &format!("{so}?$top=50&$expand=OrderDtls"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "max_expand_rows");
    get(
        &r,
        &format!("{so}?$top=50&$expand={}", enc("OrderDtls($top=3)")),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "max_expand_rows");
    let rows = get(
        &r,
        &format!("{so}?$top=50&$expand={}", enc("OrderDtls($top=2)")),
    )
    .await
    .expect(StatusCode::OK)
    .rows();
    assert!(rows
        .iter()
        .all(|o| o["OrderDtls"].as_array().unwrap().len() <= 2));
    // Breadth multiplies like depth: at most 16 expansions per request.
    let many = vec!["OrderDtls"; 17].join(",");
    get(&r, &format!("{so}?$top=1&$expand={many}"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "at most 16");
}
