//! BAQ parameters are values under the BAQ's own names (issue 26, finding 5): no name can add a
//! query option to the request (`"$filter" => ...`, or a quoted table name written by hand,
//! `BaqSvc."zCustomerList($filter=...)"`), and no value can leave its parameter. A refused name
//! is the statement's fault, found before any request for the BAQ's rows; what the emulator
//! received proves it, read as a server reads a query (names percent-decoded: `%24filter` is
//! `$filter` to it).

use crate::common;
use epicor_kinetic_emulator::{LoggedRequest, RunningEmulator};
use epicor_kinetic_sql::SqlErrorKind;
use percent_encoding::percent_decode_str;

/// The query options of a request, as the server reads them.
fn options(r: &LoggedRequest) -> Vec<(String, String)> {
    let decode = |t: &str| percent_decode_str(t).decode_utf8_lossy().into_owned();
    r.query()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect()
}

/// The requests for a BAQ's rows (not its `$metadata`, not the BAQ list).
fn rows_requests(emu: &RunningEmulator, id: &str) -> Vec<LoggedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path().contains(&format!("/BaqSvc/{id}")) && !r.path().contains("$metadata"))
        .collect()
}

#[tokio::test]
async fn baq_parameter_names_cannot_add_query_options() {
    let emu = common::emulator(200).await;
    for which in ["basic", "basic_v2"] {
        let s = common::session(&emu, which).await;
        for (sql, names) in [
            // The review's attacks: a `$` name in the call, and in a quoted name by hand.
            (
                r#"SELECT * FROM BaqSvc.zCustomerList("$filter" => 'Customer_CustNum eq 1')"#,
                "$filter",
            ),
            (
                r#"SELECT * FROM BaqSvc."zCustomerList($filter=Customer_CustNum eq 1)""#,
                "$filter",
            ),
            // Encoded by hand: decoded before it is checked.
            (
                r#"SELECT * FROM BaqSvc."zCustomerList(%24filter=Customer_CustNum eq 1)""#,
                "$filter",
            ),
            (
                r#"SELECT * FROM BaqSvc.zCustomerList("$FILTER" => 'Customer_CustNum eq 1')"#,
                "$FILTER",
            ),
            (
                r#"SELECT * FROM BaqSvc.zCustomerList(" $top" => '1')"#,
                "$top",
            ),
            (r#"SELECT * FROM BaqSvc.zCustomerList("@p" => '1')"#, "@p"),
            // Names zCustomerList does not list (it lists none).
            (
                r#"SELECT * FROM BaqSvc.zCustomerList(CustID => 'x')"#,
                "takes none",
            ),
            (
                r#"SELECT * FROM BaqSvc.zCustomerList("x&$filter" => 'Customer_CustNum eq 1')"#,
                "x&$filter",
            ),
            // A BAQ that lists a parameter: the list decides, by call or by hand.
            (
                r#"SELECT * FROM BaqSvc.zOrdersByCustomer(CustID => 'x', "$filter" => 'OrderHed_OrderNum eq 1')"#,
                "$filter",
            ),
            (
                r#"SELECT * FROM BaqSvc."zOrdersByCustomer(CustID=x,$filter=OrderHed_OrderNum eq 1)""#,
                "$filter",
            ),
            (
                r#"SELECT * FROM BaqSvc."zOrdersByCustomer(CustID=x,Nope=1)""#,
                "CustID (required)",
            ),
            (
                r#"SELECT * FROM BaqSvc."zOrdersByCustomer(CustID=x,custid=y)""#,
                "twice",
            ),
            // Not a BAQ's name at all.
            (
                r#"SELECT * FROM BaqSvc."zCustomerList(CustID=x)($filter=1)""#,
                "not a BAQ's name",
            ),
        ] {
            emu.clear_requests();
            let e = common::error_of(&s, sql).await;
            assert_eq!(e.kind(), SqlErrorKind::Invalid, "{which} {sql}: {e}");
            assert!(e.to_string().contains(names), "{which} {sql}: {e}");
            for r in emu.requests() {
                assert!(
                    !options(&r)
                        .iter()
                        .any(|(n, _)| n.trim_start().starts_with(['$', '@'])
                            && r.path().contains("/BaqSvc/")),
                    "{which} {sql}: the server received {}",
                    r.uri
                );
            }
            for id in ["zCustomerList", "zOrdersByCustomer"] {
                let sent = rows_requests(&emu, id);
                assert!(sent.is_empty(), "{which} {sql}: sent {sent:?}");
            }
        }
    }
}

/// Names are matched as Epicor matches them (any case) and sent as the BAQ lists them.
#[tokio::test]
async fn baq_parameter_names_in_any_case_are_sent_as_listed() {
    let emu = common::emulator(200).await;
    let company = emu.startup_info()["company"]
        .as_str()
        .expect("company")
        .to_owned();
    let cust_id = common::literal(
        &common::sqlite(&emu),
        &format!("SELECT c.CustID FROM Customer c WHERE c.Company = '{company}' AND EXISTS (SELECT 1 FROM OrderHed h WHERE h.Company = c.Company AND h.CustNum = c.CustNum) ORDER BY c.CustNum LIMIT 1"),
    );
    let s = common::session(&emu, "basic").await;
    emu.clear_requests();
    let rows: usize = common::run(
        &s,
        &format!("SELECT * FROM BaqSvc.zOrdersByCustomer(custid => '{cust_id}')"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .iter()
    .map(|b| b.num_rows())
    .sum();
    assert!(rows > 0, "{cust_id} has orders");
    let sent = rows_requests(&emu, "zOrdersByCustomer");
    assert!(!sent.is_empty());
    for r in sent {
        let custom: Vec<(String, String)> = options(&r)
            .into_iter()
            .filter(|(n, _)| !n.starts_with('$'))
            .collect();
        assert_eq!(
            custom,
            [("CustID".to_owned(), cust_id.clone())],
            "{}",
            r.uri
        );
    }
}

/// Values are values: quotes, `%`, `&`, `#`, `?`, `;`, `+`, `=` and `/..%2F` reach the server
/// as the one parameter's text, in the one path they were meant for, adding no option.
#[tokio::test]
async fn baq_parameter_values_cannot_leave_their_parameter() {
    let emu = common::emulator(200).await;
    for which in ["basic", "basic_v2"] {
        let s = common::session(&emu, which).await;
        for value in [
            "O'Brien",
            "50%",
            "%2525",
            "a&b=c",
            "a#b",
            "a?b",
            "/..%2F",
            "../x",
            "$filter=x",
            "a;b",
            "a+b c",
            "é€",
        ] {
            emu.clear_requests();
            let sql = format!(
                "SELECT * FROM BaqSvc.zOrdersByCustomer(CustID => '{}')",
                value.replace('\'', "''")
            );
            let batches = common::run(&s, &sql)
                .await
                .unwrap_or_else(|e| panic!("{which} {sql}: {e}"));
            assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
            let sent = rows_requests(&emu, "zOrdersByCustomer");
            assert!(!sent.is_empty(), "{which} {sql}");
            for r in sent {
                assert!(
                    r.path().ends_with("/BaqSvc/zOrdersByCustomer/")
                        || r.path().ends_with("/BaqSvc/zOrdersByCustomer/Data"),
                    "{which} {sql}: {}",
                    r.uri
                );
                let options = options(&r);
                let custom: Vec<&(String, String)> = options
                    .iter()
                    .filter(|(n, _)| !n.starts_with('$'))
                    .collect();
                assert_eq!(
                    custom,
                    [&("CustID".to_owned(), value.to_owned())],
                    "{which} {sql}: {}",
                    r.uri
                );
                assert!(
                    !options.iter().any(|(n, _)| n == "$filter"),
                    "{which} {sql}: {}",
                    r.uri
                );
            }
        }
    }
}
