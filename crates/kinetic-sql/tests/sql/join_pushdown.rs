//! Joins read only the rows they need (issue 28): the probe side's scan asks the server for the
//! keys the build side found. Every answer is compared with the same statement run with
//! `JoinPushdownKeys=0` (both sides read whole, the behaviour before), and the rows the server
//! sent are counted; the SQLite oracle's `joins` cases run with the pushdown on too.

use super::common;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use epicor_kinetic_sql::SqlSession;

/// Every row of `batches` as text, sorted (joins promise no order).
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, r).unwrap_or_else(|e| panic!("{e}")))
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

/// The answer of `sql` and the rows and requests it cost.
async fn run(s: &SqlSession, sql: &str) -> (Vec<String>, u64, u64) {
    s.transfer().reset();
    let batches = common::run(s, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    (rows(&batches), s.transfer().rows(), s.transfer().requests())
}

fn decoded(uri: &str) -> String {
    percent_encoding::percent_decode_str(uri)
        .decode_utf8_lossy()
        .into_owned()
}

const FLAGSHIP: &str = "SELECT c.Name, SUM(d.DocExtPriceDtl) FROM Customers c \
     JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum \
     WHERE c.State = 'MN' GROUP BY c.Name";

#[tokio::test]
async fn a_join_reads_only_the_rows_of_the_keys_it_found() {
    let emu = common::emulator(3000).await;
    let text = common::connection_string(&emu, "basic");
    let on = common::session_with(&text).await;
    let off = common::session_with(&format!("{text};JoinPushdownKeys=0")).await;

    // What the flagship needs: the Minnesota customers and their order lines.
    let (needed_lines, _, _) = run(
        &off,
        "SELECT d.OrderLine FROM Customers c JOIN OrderDtls d ON d.Company = c.Company \
         AND d.CustNum = c.CustNum WHERE c.State = 'MN'",
    )
    .await;
    let (customers, _, _) = run(&off, "SELECT CustNum FROM Customers WHERE State = 'MN'").await;
    assert!(
        !needed_lines.is_empty() && !customers.is_empty(),
        "the data has Minnesota orders"
    );
    let needed = (needed_lines.len() + customers.len()) as u64;

    let (want, rows_off, requests_off) = run(&off, FLAGSHIP).await;
    let (got, rows_on, requests_on) = run(&on, FLAGSHIP).await;
    assert_eq!(got, want, "the same answer with the keys sent");
    assert!(
        rows_on as f64 <= 1.5 * needed as f64,
        "{rows_on} rows sent for an answer that needs {needed} (without the keys: {rows_off})"
    );
    assert!(
        requests_on < requests_off,
        "{requests_on} requests (without the keys: {requests_off})"
    );

    // One customer: its lines, and the customer, and nothing more than a few extra.
    let one = "SELECT d.OrderNum, d.OrderLine, d.DocExtPriceDtl FROM Customers c \
               JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum \
               WHERE c.CustNum = 3";
    let (want, _, _) = run(&off, one).await;
    let (got, rows_on, _) = run(&on, one).await;
    assert_eq!(got, want);
    assert!(!got.is_empty(), "customer 3 has order lines");
    assert!(
        rows_on <= got.len() as u64 + 10,
        "{rows_on} rows sent for {} lines",
        got.len()
    );

    // EXPLAIN names the scan that takes the keys.
    let plan = rows(
        &common::run(&on, &format!("EXPLAIN {FLAGSHIP}"))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .join("\n");
    assert!(plan.contains("join keys"), "{plan}");
}

#[tokio::test]
async fn many_keys_go_in_several_requests_each_within_the_query_string_limit() {
    let emu = common::emulator(3000).await;
    let text = common::connection_string(&emu, "basic");
    let on = common::session_with(&text).await;
    let off = common::session_with(&format!("{text};JoinPushdownKeys=0")).await;
    // Text keys (each sent as `PartNum eq 'X' or startswith(PartNum,'X ')`, SQL's trailing
    // spaces): more of them than one request holds.
    let sql = "SELECT p.PartNum, d.OrderNum, d.OrderLine FROM Parts p \
               JOIN OrderDtls d ON d.Company = p.Company AND d.PartNum = p.PartNum \
               WHERE p.ClassID <> 'no such class'";
    let (want, _, _) = run(&off, sql).await;
    let before = emu.requests().len();
    let (got, _, _) = run(&on, sql).await;
    assert_eq!(got, want);
    let keyed: Vec<String> = emu.requests()[before..]
        .iter()
        .filter(|r| r.uri.contains("/OrderDtls") && r.uri.contains("$filter"))
        .map(|r| r.uri.clone())
        .collect();
    let firsts = keyed.iter().filter(|u| !u.contains("$skip")).count();
    assert!(
        firsts > 1,
        "the keys went in {firsts} request sequence(s), {} requests",
        keyed.len()
    );
    for uri in &keyed {
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        assert!(
            query.len() <= 2_000,
            "a query string of {} bytes: {}",
            query.len(),
            decoded(uri)
        );
        assert!(
            decoded(uri).contains("PartNum eq '"),
            "the keys, as equalities: {}",
            decoded(uri)
        );
    }
}

#[tokio::test]
async fn keys_of_several_columns_subqueries_and_outer_joins_give_the_same_answers() {
    let emu = common::emulator(2000).await;
    let text = common::connection_string(&emu, "basic");
    let on = common::session_with(&text).await;
    let off = common::session_with(&format!("{text};JoinPushdownKeys=0")).await;
    for sql in [
        // A key of two columns besides the company (OrderDtls x OrderRels).
        "SELECT d.OrderNum, d.OrderLine, r.OrderRelNum FROM OrderDtls d JOIN OrderRels r \
         ON r.Company = d.Company AND r.OrderNum = d.OrderNum AND r.OrderLine = d.OrderLine \
         WHERE d.OrderNum < 5020",
        "SELECT h.OrderNum, SUM(d.DocExtPriceDtl) FROM SalesOrders h JOIN OrderDtls d \
         ON d.Company = h.Company AND d.OrderNum = h.OrderNum WHERE h.OrderNum < 5060 \
         GROUP BY h.OrderNum",
        "SELECT CustNum, Name FROM Customers WHERE CustNum IN \
         (SELECT CustNum FROM SalesOrders WHERE OrderAmt > 400000)",
        "SELECT d.OrderNum, d.OrderLine FROM OrderDtls d WHERE EXISTS \
         (SELECT 1 FROM Customers c WHERE c.Company = d.Company AND c.CustNum = d.CustNum \
         AND c.State = 'MN')",
        "SELECT p.PartNum FROM Parts p WHERE NOT EXISTS \
         (SELECT 1 FROM OrderDtls d WHERE d.PartNum = p.PartNum AND d.OrderNum < 5100)",
        "SELECT c.CustNum, h.OrderNum FROM Customers c LEFT JOIN SalesOrders h \
         ON h.Company = c.Company AND h.CustNum = c.CustNum WHERE c.State = 'MN'",
        // No build row: nothing to read on the other side.
        "SELECT d.OrderLine FROM Customers c JOIN OrderDtls d ON d.Company = c.Company \
         AND d.CustNum = c.CustNum WHERE c.State = 'no such state'",
    ] {
        let (want, rows_off, _) = run(&off, sql).await;
        let (got, rows_on, _) = run(&on, sql).await;
        assert_eq!(got, want, "{sql}");
        assert!(
            rows_on <= rows_off,
            "{sql}: {rows_on} rows sent with the keys, {rows_off} without"
        );
    }
}
