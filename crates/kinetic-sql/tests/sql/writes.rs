//! INSERT, UPDATE and DELETE against the emulator, each checked in its SQLite database.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::arrow::util::pretty::pretty_format_batches;
use epicor_kinetic::ErrorKind;
use epicor_kinetic_emulator::collation::Collation;
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_sql::{SqlErrorKind, SqlSession};

/// CustNum, CustID, Name, State, CreditLimit, EstDate, CreditHold, PhoneNum.
type CustomerRow = (
    i64,
    String,
    String,
    String,
    f64,
    String,
    bool,
    Option<String>,
);

use crate::common;
use common::run;

async fn emulator() -> RunningEmulator {
    common::emulator(300).await
}

async fn session(emu: &RunningEmulator, which: &str) -> SqlSession {
    common::session(emu, which).await
}

fn db(emu: &RunningEmulator) -> rusqlite::Connection {
    common::sqlite(emu)
}

fn company(s: &SqlSession) -> String {
    s.connection().settings().company.clone().unwrap()
}

/// The `count` of a write.
async fn count(s: &SqlSession, sql: &str) -> u64 {
    let batches = run(s, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(
        batches.len(),
        1,
        "{}",
        pretty_format_batches(&batches).unwrap()
    );
    let b = &batches[0];
    assert_eq!(b.num_rows(), 1);
    assert_eq!(b.schema().field(0).name(), "count");
    b.column(0).as_primitive::<UInt64Type>().value(0)
}

fn sqlite_count(db: &rusqlite::Connection, sql: &str, company: &str) -> u64 {
    db.query_row(sql, [company], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

fn requests(emu: &RunningEmulator, method: &str) -> Vec<String> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == method)
        .map(|r| r.uri)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn insert_values_and_select_then_read_back_from_sqlite() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let co = company(&s);
    let n = count(
        &s,
        "INSERT INTO Customers (CustNum, CustID, Name, State, CreditLimit, EstDate, CreditHold, PhoneNum) \
         VALUES (90001, 'SQLINS01', 'Insert One', 'MN', 12345678901.239, DATE '2025-01-31', true, NULL), \
                (90002, 'SQLINS02', 'Insert O''Two', 'WI', 0.1, DATE '2024-02-29', false, '555-0102')",
    )
    .await;
    assert_eq!(n, 2);
    let db = db(&emu);
    let mut stmt = db
        .prepare("SELECT CustNum, CustID, Name, State, CreditLimit, EstDate, CreditHold, PhoneNum FROM Customer WHERE Company = ?1 AND CustNum IN (90001, 90002) ORDER BY CustNum")
        .unwrap();
    let rows: Vec<CustomerRow> = stmt
        .query_map([&co], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                90001,
                "SQLINS01".into(),
                "Insert One".into(),
                "MN".into(),
                12345678901.239,
                "2025-01-31".into(),
                true,
                None
            ),
            (
                90002,
                "SQLINS02".into(),
                "Insert O'Two".into(),
                "WI".into(),
                0.1,
                "2024-02-29".into(),
                false,
                Some("555-0102".into())
            ),
        ]
    );
    // One POST per row.
    assert_eq!(requests(&emu, "POST").len(), 2);

    // INSERT ... SELECT: the rows of a query, computed before the first POST.
    let before = sqlite_count(
        &db,
        "SELECT count(*) FROM Customer WHERE Company = ?1 AND CustNum <= 5",
        &co,
    );
    assert!(before > 0);
    let n = count(
        &s,
        "INSERT INTO Customers (CustNum, CustID, Name, CreditLimit) \
         SELECT CustNum + 80000, concat('SEL', CAST(CustNum AS VARCHAR)), upper(Name), CreditLimit * 2 FROM Customers WHERE CustNum <= 5",
    )
    .await;
    assert_eq!(n, before);
    let copied = sqlite_count(
        &db,
        "SELECT count(*) FROM Customer c JOIN Customer o ON o.Company = c.Company AND o.CustNum = c.CustNum - 80000 \
         WHERE c.Company = ?1 AND c.CustNum > 80000 AND c.CustNum <= 80005 AND c.CustID = 'SEL' || o.CustNum \
         AND c.Name = upper(o.Name) AND abs(c.CreditLimit - 2 * o.CreditLimit) < 0.0005",
        &co,
    );
    assert_eq!(copied, before);

    // Read back through SQL too.
    let batches = run(&s, "SELECT Name FROM Customers WHERE CustNum = 90002")
        .await
        .unwrap();
    assert_eq!(
        batches[0].column(0).as_string::<i32>().value(0),
        "Insert O'Two"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_with_pushed_and_local_where_matches_sqlite() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let co = company(&s);
    let db = db(&emu);

    // Pushed (text equality: inexact, filtered again here).
    let expected = sqlite_count(
        &db,
        "SELECT count(*) FROM Customer WHERE Company = ?1 AND State = 'MN'",
        &co,
    );
    assert!(expected > 0, "the seed has customers in MN");
    let limits_before: Vec<(i64, f64)> = db
        .prepare("SELECT CustNum, CreditLimit FROM Customer WHERE Company = ?1 AND State = 'MN' ORDER BY CustNum")
        .unwrap()
        .query_map([&co], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    emu.clear_requests();
    let n = count(
        &s,
        "UPDATE Customers SET CreditLimit = CreditLimit + 1.5, Zip = 'MN-UP' WHERE State = 'MN'",
    )
    .await;
    assert_eq!(n, expected);
    let gets = requests(&emu, "GET");
    assert!(
        gets.iter()
            .any(|u| u.contains("$filter=State%20eq%20%27MN%27")),
        "the WHERE is pushed: {gets:?}"
    );
    assert_eq!(requests(&emu, "PATCH").len() as u64, expected);
    for (num, before) in &limits_before {
        let (limit, zip): (f64, String) = db
            .query_row(
                "SELECT CreditLimit, Zip FROM Customer WHERE Company = ?1 AND CustNum = ?2",
                rusqlite::params![co, num],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(
            (limit - (before + 1.5)).abs() < 1e-6,
            "{num}: {limit} vs {before}"
        );
        assert_eq!(zip, "MN-UP");
    }
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT count(*) FROM Customer WHERE Company = ?1 AND Zip = 'MN-UP'",
            &co
        ),
        expected,
        "no other row changed"
    );

    // Not pushed (arithmetic): the server sends every row, the WHERE runs here.
    let expected = sqlite_count(
        &db,
        "SELECT count(*) FROM Customer WHERE Company = ?1 AND CustNum % 7 = 3",
        &co,
    );
    emu.clear_requests();
    let n = count(
        &s,
        "UPDATE Customers SET City = 'Sevens' WHERE CustNum % 7 = 3",
    )
    .await;
    assert_eq!(n, expected);
    assert_eq!(requests(&emu, "PATCH").len() as u64, expected);
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT count(*) FROM Customer WHERE Company = ?1 AND City = 'Sevens'",
            &co
        ),
        expected
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT count(*) FROM Customer WHERE Company = ?1 AND City = 'Sevens' AND CustNum % 7 <> 3",
            &co
        ),
        0
    );

    // A WHERE that matches nothing writes nothing (even one DataFusion folds to false).
    emu.clear_requests();
    assert_eq!(
        count(&s, "UPDATE Customers SET City = 'Never' WHERE 1 = 0").await,
        0
    );
    assert_eq!(
        count(&s, "UPDATE Customers SET City = 'Never' WHERE CustNum < 0").await,
        0
    );
    assert!(requests(&emu, "PATCH").is_empty());

    // A subquery in WHERE.
    let expected = sqlite_count(
        &db,
        "SELECT count(*) FROM Customer WHERE Company = ?1 AND CustNum IN (SELECT CustNum FROM OrderHed WHERE Company = ?1 AND OpenOrder = 0)",
        &co,
    );
    assert!(expected > 0);
    let n = count(
        &s,
        "UPDATE Customers SET ResaleID = 'ORDERED' WHERE CustNum IN (SELECT CustNum FROM SalesOrderSvc.SalesOrders WHERE OpenOrder = false)",
    )
    .await;
    assert_eq!(n, expected);
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT count(*) FROM Customer WHERE Company = ?1 AND ResaleID = 'ORDERED'",
            &co
        ),
        expected
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_counts_what_sqlite_lost() {
    let emu = emulator().await;
    let s = session(&emu, "basic_v2").await;
    let co = company(&s);
    let db = db(&emu);
    assert_eq!(
        count(
            &s,
            "INSERT INTO Customers (CustNum, CustID, Name) VALUES (91001, 'DEL1', 'd1'), (91002, 'DEL2', 'd2'), (91003, 'DEL3', 'd3')"
        )
        .await,
        3
    );
    let total = sqlite_count(&db, "SELECT count(*) FROM Customer WHERE Company = ?1", &co);
    assert_eq!(count(&s, "DELETE FROM Customers WHERE 1 = 0").await, 0);
    assert_eq!(
        count(
            &s,
            "DELETE FROM Customers WHERE CustNum >= 91001 AND Name <> 'd2'"
        )
        .await,
        2
    );
    assert_eq!(
        sqlite_count(&db, "SELECT count(*) FROM Customer WHERE Company = ?1", &co),
        total - 2
    );
    let left: Vec<i64> = db
        .prepare("SELECT CustNum FROM Customer WHERE Company = ?1 AND CustNum >= 91001")
        .unwrap()
        .query_map([&co], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(left, vec![91002]);
    // With an alias.
    assert_eq!(
        count(
            &s,
            "DELETE FROM CustomerSvc.Customers c WHERE c.CustNum = 91002"
        )
        .await,
        1
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT count(*) FROM Customer WHERE Company = ?1 AND CustNum >= 91001",
            &co
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rejections_keep_the_servers_message_and_kind() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let co = company(&s);
    let db = db(&emu);
    let limit = |num: i64| -> f64 {
        db.query_row(
            "SELECT CreditLimit FROM Customer WHERE Company = ?1 AND CustNum = ?2",
            rusqlite::params![co, num],
            |r| r.get(0),
        )
        .unwrap()
    };
    let before = limit(1);

    // A business rule.
    let e = run(
        &s,
        "UPDATE Customers SET CreditLimit = -1 WHERE CustNum = 1",
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.kind(),
        SqlErrorKind::Connector(ErrorKind::Rejected),
        "{e}"
    );
    assert!(e.to_string().contains("cannot be negative"), "{e}");
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert!(e.connector().is_some());
    assert_eq!(limit(1), before);

    // A duplicate key.
    let e = run(
        &s,
        "INSERT INTO Customers (CustNum, CustID, Name) VALUES (1, 'DUPKEY', 'dup')",
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.kind(),
        SqlErrorKind::Connector(ErrorKind::Conflict),
        "{e}"
    );
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT count(*) FROM Customer WHERE Company = ?1 AND CustID = 'DUPKEY'",
            &co
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_part_way_says_what_was_written() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let co = company(&s);
    let db = db(&emu);
    let ids: Vec<(i64, String)> = db
        .prepare("SELECT CustNum, CustID FROM Customer WHERE Company = ?1 AND CustNum IN (1, 2, 3) ORDER BY CustNum")
        .unwrap()
        .query_map([&co], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids.len(), 3);
    // CustID is unique per company: the first row takes it, the second is refused.
    let e = run(
        &s,
        "UPDATE Customers SET CustID = 'SAMEID' WHERE CustNum IN (1, 2, 3)",
    )
    .await
    .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.kind(), SqlErrorKind::Partial, "{text}");
    let written: Vec<i64> = db
        .prepare("SELECT CustNum FROM Customer WHERE Company = ?1 AND CustID = 'SAMEID'")
        .unwrap()
        .query_map([&co], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(written.len(), 1, "{text}");
    assert!(text.contains("1 of 3 rows written"), "{text}");
    assert!(text.contains(&format!("CustNum={}", written[0])), "{text}");
    assert!(
        text.contains("already exists"),
        "the server's message: {text}"
    );
    assert!(text.contains("1 row after it was not attempted"), "{text}");
    assert_eq!(
        e.connector().map(|c| c.kind()),
        Some(ErrorKind::Rejected),
        "{text}"
    );
    // The rows not written are as they were.
    for (num, id) in &ids {
        if *num != written[0] {
            let now: String = db
                .query_row(
                    "SELECT CustID FROM Customer WHERE Company = ?1 AND CustNum = ?2",
                    rusqlite::params![co, num],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(&now, id);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_be_written_is_refused_clearly() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let co = company(&s);
    let db = db(&emu);
    let e = run(&s, "UPDATE Customers SET CustNum = 5 WHERE CustNum = 4")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid);
    assert!(e.to_string().contains("CustNum is part of the key"), "{e}");
    let e = run(&s, "DELETE FROM BaqSvc.zCustomerList WHERE CustNum = 4")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid);
    assert!(e.to_string().contains("BAQs are read-only"), "{e}");
    let e = run(&s, "UPDATE Customers SET NoSuchColumn = 1")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid);
    assert!(e.to_string().contains("no column NoSuchColumn"), "{e}");
    let e = run(&s, "INSERT INTO Customers (CustNum, Name) VALUES (1)")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid, "{e}");
    let e = run(&s, "INSERT INTO Customers (CustNum, CustID, Name, EstDate) VALUES (93001, 'BADDATE', 'x', 'not a date')")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid, "{e}");
    assert!(e.to_string().contains("EstDate"), "{e}");
    assert!(
        emu.requests().iter().all(|r| r.method == "GET"),
        "nothing was sent"
    );
    assert_eq!(
        sqlite_count(
            &db,
            "SELECT count(*) FROM Customer WHERE Company = ?1 AND CustNum = 93001",
            &co
        ),
        0
    );
}

/// DataFusion's own write plans (through `context()`, or `EXPLAIN` of a write) are refused,
/// never run: they would rebuild the WHERE from what the optimizer left.
#[tokio::test(flavor = "multi_thread")]
async fn datafusions_own_write_plans_are_refused() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let e = run(
        &s,
        "EXPLAIN UPDATE Customers SET City = 'x' WHERE CustNum = 7",
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), SqlErrorKind::Invalid, "{e}");
    for sql in [
        "UPDATE Customers SET City = 'ViaDF' WHERE 1 = 0",
        "DELETE FROM Customers WHERE 1 = 0",
        "INSERT INTO Customers (CustNum, CustID, Name) VALUES (94001, 'VIADF', 'via df')",
    ] {
        let refused = match s.context().sql(sql).await {
            Err(_) => true,
            Ok(frame) => frame.collect().await.is_err(),
        };
        assert!(refused, "{sql} ran through DataFusion's own plan");
    }
    for method in ["PATCH", "DELETE", "POST"] {
        assert!(requests(&emu, method).is_empty(), "a {method} was sent");
    }
}

/// A key stored with a trailing space (`'123 '`) reads as `123`, and every statement agrees with
/// that, whatever the server's collation: `=`, `LIKE`, `length`, `<>`, and an `UPDATE` whose
/// `WHERE` says the row does not match leaves it alone.
#[tokio::test]
async fn a_trailing_space_means_the_same_to_every_statement() {
    for collation in [Collation::Ci, Collation::Binary] {
        let emu = common::emulator_with(EmulatorConfig {
            scale: 200,
            collation,
            ..Default::default()
        })
        .await;
        let s = session(&emu, "basic").await;
        assert_eq!(
            count(
                &s,
                "INSERT INTO Customers (CustID, Name, City) VALUES ('123 ', 'Trailing Co', 'Ely')"
            )
            .await,
            1
        );
        let one = |sql: &'static str| {
            let s = s.clone();
            async move {
                let batches = run(&s, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                batches.iter().map(|b| b.num_rows()).sum::<usize>()
            }
        };
        assert_eq!(
            one("SELECT CustID FROM Customers WHERE Name = 'Trailing Co' AND CustID = '123'").await,
            1,
            "{collation:?}: ="
        );
        assert_eq!(
            one("SELECT CustID FROM Customers WHERE Name = 'Trailing Co' AND CustID LIKE '%3'")
                .await,
            1,
            "{collation:?}: LIKE"
        );
        assert_eq!(
            one("SELECT CustID FROM Customers WHERE Name = 'Trailing Co' AND length(CustID) = 3")
                .await,
            1,
            "{collation:?}: length"
        );
        assert_eq!(
            one("SELECT CustID FROM Customers WHERE Name = 'Trailing Co' AND CustID <> '123'")
                .await,
            0,
            "{collation:?}: <>"
        );
        let batches = run(
            &s,
            "SELECT CustID FROM Customers WHERE Name = 'Trailing Co'",
        )
        .await
        .unwrap();
        let id = batches[0].column(0).as_string::<i32>().value(0).to_owned();
        assert_eq!(id, "123", "{collation:?}: read without the trailing space");
        // The UPDATE reads its keys with the same WHERE: nothing matches, nothing is written.
        assert_eq!(
            count(&s, "UPDATE Customers SET City = 'Changed' WHERE Name = 'Trailing Co' AND CustID <> '123'").await,
            0,
            "{collation:?}: UPDATE"
        );
        let db = db(&emu);
        let city: String = db
            .query_row(
                "SELECT City FROM Customer WHERE Name = 'Trailing Co'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(city, "Ely", "{collation:?}: the row was left alone");
        assert_eq!(
            count(&s, "UPDATE Customers SET City = 'Changed' WHERE Name = 'Trailing Co' AND CustID = '123'").await,
            1,
            "{collation:?}: UPDATE of the row that matches"
        );
    }
}
