//! The bounds of issue 26's attack review: `MemoryLimit`, `StatementTimeout`, `MaxRecursion`
//! and `CredentialProcedures`. Each attack the review ran is here, against a bounded session,
//! and fails with [`SqlErrorKind::Limit`] naming the property; the same statements within the
//! bounds still answer.

use crate::common::{connection_string, emulator, emulator_with, error_of, run, session_with};
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use epicor_kinetic::{Connection, Settings};
use epicor_kinetic_emulator::EmulatorConfig;
use epicor_kinetic_sql::{SqlErrorKind, SqlLimits, SqlSession};
use std::time::{Duration, Instant};

fn first_i64(batches: &[RecordBatch]) -> i64 {
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    let column = datafusion::arrow::compute::cast(
        batch.column(0),
        &datafusion::arrow::datatypes::DataType::Int64,
    )
    .expect("an integer");
    column.as_primitive::<Int64Type>().value(0)
}

/// Asserts that `sql` fails on `s` with a `Limit` error naming `property`, and returns how long
/// it took.
async fn refused(s: &SqlSession, sql: &str, property: &str) -> Duration {
    let started = Instant::now();
    let e = error_of(s, sql).await;
    let took = started.elapsed();
    assert_eq!(e.kind(), SqlErrorKind::Limit, "{sql}: {e}");
    assert!(e.to_string().contains(property), "{sql}: {e}");
    took
}

#[tokio::test]
async fn memory_limit_bounds_what_functions_and_operators_build() {
    let emu = emulator(200).await;
    let base = connection_string(&emu, "basic");
    let s = session_with(&format!("{base};MemoryLimit=64")).await;
    // The review's statement: folded while planning, refused before anything is built.
    refused(&s, "SELECT length(repeat('a', 2000000000))", "MemoryLimit").await;
    // The same with a column: refused per batch, before the batch is built.
    refused(
        &s,
        "SELECT length(repeat(Name, 100000000)) FROM Customers",
        "MemoryLimit",
    )
    .await;
    refused(
        &s,
        "SELECT length(lpad(Name, 2000000000)) FROM Customers",
        "MemoryLimit",
    )
    .await;
    refused(
        &s,
        "SELECT length(rpad('x', 2000000000, 'ab'))",
        "MemoryLimit",
    )
    .await;
    refused(
        &s,
        "SELECT length(replace(repeat('a', 1000000), 'a', repeat('b', 1000)))",
        "MemoryLimit",
    )
    .await;
    refused(
        &s,
        "SELECT length(regexp_replace(repeat('a', 1000000), 'a', repeat('b', 100), 'g'))",
        "MemoryLimit",
    )
    .await;
    refused(
        &s,
        "SELECT length(concat(repeat('a', 40000000), repeat('b', 40000000)))",
        "MemoryLimit",
    )
    .await;
    // `||` is an operator: each doubling is a projection of its own, whose batch is checked.
    refused(
        &s,
        "WITH a AS (SELECT repeat(Name, 20000) AS s FROM Customers), \
              b AS (SELECT s || s || s || s AS s FROM a), \
              c AS (SELECT s || s || s || s AS s FROM b), \
              d AS (SELECT s || s || s || s AS s FROM c) \
         SELECT sum(length(s)) FROM d",
        "MemoryLimit",
    )
    .await;
    // The memory pool: a sort that cannot fit, with nothing spilled to disk instead.
    let small = session_with(&format!("{base};MemoryLimit=1")).await;
    let e = error_of(
        &small,
        "SELECT concat(repeat('x', 40), a.OrderNum, '-', b.OrderNum) AS t \
         FROM OrderDtls a CROSS JOIN OrderDtls b ORDER BY t",
    )
    .await;
    assert_eq!(e.kind(), SqlErrorKind::Limit, "{e}");
    // The pool's refusal (the sort's reservation), not a batch's.
    assert!(
        e.to_string()
            .contains("needs more memory than MemoryLimit allows"),
        "{e}"
    );
    // Within the bound, the same functions answer.
    let ok = run(&s, "SELECT length(repeat('a', 1000000))")
        .await
        .unwrap();
    assert_eq!(first_i64(&ok), 1_000_000);
    let ok = run(
        &s,
        "SELECT count(*) FROM Customers WHERE length(lpad(Name, 50)) = 50",
    )
    .await
    .unwrap();
    assert!(first_i64(&ok) > 0);

    // Without MemoryLimit (the command line's default) nothing is refused.
    let free = session_with(&base).await;
    let ok = run(&free, "SELECT length(repeat('a', 100000000))")
        .await
        .unwrap();
    assert_eq!(first_i64(&ok), 100_000_000);
}

#[tokio::test]
async fn max_recursion_stops_a_runaway_recursive_query() {
    let emu = emulator(50).await;
    let base = connection_string(&emu, "basic");
    // The default cap: 100 iterations, as SQL Server's MAXRECURSION.
    let s = session_with(&base).await;
    let took = refused(
        &s,
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
        "MaxRecursion",
    )
    .await;
    assert!(took < Duration::from_secs(20), "{took:?}");
    // Exactly 100 recursive steps are allowed (1..=101), one more is not.
    let ok = run(
        &s,
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 101) SELECT count(*) FROM t",
    )
    .await
    .unwrap();
    assert_eq!(first_i64(&ok), 101);
    refused(
        &s,
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 102) SELECT count(*) FROM t",
        "MaxRecursion",
    )
    .await;
    // A statement runs again after a refusal, and the count starts anew.
    let ok = run(
        &s,
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 60) SELECT count(*) FROM t",
    )
    .await
    .unwrap();
    assert_eq!(first_i64(&ok), 60);
    // MaxRecursion=0 lifts the cap; another value sets it.
    let open = session_with(&format!("{base};MaxRecursion=0")).await;
    let ok = run(
        &open,
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 500) SELECT count(*) FROM t",
    )
    .await
    .unwrap();
    assert_eq!(first_i64(&ok), 500);
    let tight = session_with(&format!("{base};MaxRecursion=5")).await;
    refused(
        &tight,
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT count(*) FROM t",
        "MaxRecursion",
    )
    .await;
}

#[tokio::test]
async fn statement_timeout_stops_cpu_work_and_slow_servers() {
    // A server that takes 200 ms per request, and a query that needs many pages.
    let mut config = EmulatorConfig {
        scale: 2_000,
        ..Default::default()
    };
    config.faults = epicor_kinetic_emulator::faults::parse_spec("latency:1:200ms")
        .unwrap_or_else(|e| panic!("{e}"));
    let slow = emulator_with(config).await;
    let base = connection_string(&slow, "basic");
    let s = session_with(&format!("{base};StatementTimeout=1;Pagesize=10")).await;
    let took = refused(
        &s,
        "SELECT sum(OrderQty) FROM OrderDtls",
        "StatementTimeout",
    )
    .await;
    assert!(
        took < Duration::from_secs(4),
        "a 1 s timeout stopped the statement after {took:?}"
    );
    // The review's triple cross join, computed here (on a server without latency): stopped at
    // its deadline.
    let fast = emulator(2_000).await;
    let f = session_with(&format!(
        "{};StatementTimeout=1",
        connection_string(&fast, "basic")
    ))
    .await;
    let took = refused(
        &f,
        "SELECT sum(a.OrderLine * b.OrderLine * c.OrderLine * d.OrderLine) \
         FROM OrderDtls a CROSS JOIN OrderDtls b CROSS JOIN OrderDtls c CROSS JOIN OrderDtls d",
        "StatementTimeout",
    )
    .await;
    assert!(
        took < Duration::from_secs(5),
        "a 1 s timeout stopped the cross join after {took:?}"
    );
    // A result read slowly: the deadline holds for the stream too.
    let result = s.query("SELECT OrderNum FROM OrderDtls").await;
    match result {
        Err(e) => assert_eq!(e.kind(), SqlErrorKind::Limit, "{e}"),
        Ok(result) => {
            let started = Instant::now();
            let e = result.collect().await.expect_err("stopped at the deadline");
            assert_eq!(e.kind(), SqlErrorKind::Limit, "{e}");
            assert!(started.elapsed() < Duration::from_secs(4));
        }
    }
    // Within the bound, the same session answers.
    let ok = run(&s, "SELECT length(repeat('a', 99))").await.unwrap();
    assert_eq!(first_i64(&ok), 99);
}

#[tokio::test]
async fn credential_procedures_can_be_turned_off() {
    let emu = emulator(10).await;
    let base = connection_string(&emu, "basic");
    let off = session_with(&format!("{base};CredentialProcedures=false")).await;
    for exec in [
        "EXEC GetOAuthAccessToken @Verifier = 'abc'",
        "EXEC RefreshOAuthAccessToken",
        "CALL RefreshOAuthAccessToken()",
    ] {
        let e = error_of(&off, exec).await;
        assert_eq!(e.kind(), SqlErrorKind::Invalid, "{exec}: {e}");
        assert!(
            e.to_string().contains("CredentialProcedures=false"),
            "{exec}: {e}"
        );
    }
    // On by default (the command line, the DB-API): the procedure runs (and fails here for
    // its own reason: a Basic connection has no OAuth settings).
    let on = session_with(&base).await;
    let e = error_of(&on, "EXEC RefreshOAuthAccessToken").await;
    assert!(!e.to_string().contains("CredentialProcedures"), "{e}");

    // A server's bounds: the connection's, with the server defaults where it sets none, and
    // the credential procedures always off.
    let settings = Settings::parse(&format!("{base};StatementTimeout=30")).unwrap();
    let limits = SqlLimits::for_server(&settings);
    assert_eq!(limits.timeout, Some(Duration::from_secs(30)));
    assert_eq!(limits.memory, Some(SqlLimits::SERVER_MEMORY));
    assert_eq!(limits.max_recursion, Some(100));
    assert!(!limits.credential_procedures);
    let settings = Settings::parse(&format!("{base};CredentialProcedures=true")).unwrap();
    // (Read-only would refuse every EXEC first: this server allows writes, so the refusal
    // seen is the credential procedures'.)
    let mut limits = SqlLimits::for_server(&settings);
    limits.read_only = false;
    let server = SqlSession::with_limits(Connection::open(settings.clone()).await.unwrap(), limits)
        .await
        .unwrap();
    let e = error_of(&server, "EXEC GetOAuthAccessToken @Verifier = 'abc'").await;
    assert!(e.to_string().contains("CredentialProcedures=false"), "{e}");
    refused(
        &server,
        "SELECT length(repeat('a', 2000000000))",
        "MemoryLimit",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_timeout_stops_a_write_between_rows_and_says_what_it_wrote() {
    // Every request takes 100 ms: the keys are read in one page, then each row is a PATCH.
    let mut config = EmulatorConfig {
        scale: 500,
        ..Default::default()
    };
    config.faults = epicor_kinetic_emulator::faults::parse_spec("latency:1:100ms")
        .unwrap_or_else(|e| panic!("{e}"));
    let emu = emulator_with(config).await;
    let base = connection_string(&emu, "basic");
    let db = crate::common::sqlite(&emu);
    let customers: i64 = db
        .query_row(
            "SELECT count(*) FROM Customer WHERE Company = 'EPIC06'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        customers > 40,
        "{customers} customers: too few for the test"
    );
    let s = session_with(&format!("{base};StatementTimeout=2;Pagesize=1000")).await;
    let e = error_of(&s, "UPDATE Customers SET City = 'Timed' WHERE CustNum > 0").await;
    let text = e.to_string();
    assert_eq!(e.kind(), SqlErrorKind::Partial, "{text}");
    assert!(text.contains("StatementTimeout"), "{text}");
    // "UPDATE ... stopped part way: N of T rows written (...)": N rows, and only they, changed.
    let written: i64 = text
        .split("stopped part way: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in: {text}"));
    assert!(written > 0 && written < customers, "{written}: {text}");
    assert!(
        text.contains(&format!("{written} of {customers} rows written")),
        "{text}"
    );
    let timed: i64 = db
        .query_row(
            "SELECT count(*) FROM Customer WHERE Company = 'EPIC06' AND City = 'Timed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(timed, written, "{text}");
}

/// A read-only session (a server's default) refuses every write and every procedure call with
/// `ReadOnly` before anything reaches the server, however the statement is written (a comment
/// first, lower case, under `WITH`, under `EXPLAIN ANALYZE`), and still answers queries; the
/// same statements run in a session that allows writes.
#[tokio::test]
async fn a_read_only_session_refuses_writes_and_procedures_and_sends_nothing() {
    let emu = emulator(300).await;
    let base = connection_string(&emu, "basic");
    let settings = Settings::parse(&base).unwrap();
    let limits = SqlLimits::for_server(&settings);
    assert!(limits.read_only, "a server is read-only by default");
    assert!(
        !SqlLimits::of(&settings).read_only,
        "the command line is not"
    );
    let server = SqlSession::with_limits(Connection::open(settings.clone()).await.unwrap(), limits)
        .await
        .unwrap();
    let writes = [
        ("UPDATE Customers SET City = 'X' WHERE CustNum = 1", "UPDATE"),
        ("/* a comment first */ delete from Customers WHERE CustNum = 1", "DELETE"),
        (
            "INSERT INTO Customers (CustNum, CustID, Name) VALUES (99999, 'RO', 'Read only')",
            "INSERT",
        ),
        (
            "WITH c AS (SELECT CustNum FROM Customers) DELETE FROM Customers WHERE CustNum IN (SELECT CustNum FROM c)",
            "DELETE",
        ),
        (
            "EXPLAIN ANALYZE UPDATE Customers SET City = 'X' WHERE CustNum = 1",
            "UPDATE",
        ),
        ("EXEC RefreshOAuthAccessToken", "EXEC"),
        ("CALL Erp.BO.CustomerSvc.GetNewCustomer()", "EXEC"),
    ];
    emu.clear_requests();
    for (sql, what) in writes {
        let e = error_of(&server, sql).await;
        assert_eq!(e.kind(), SqlErrorKind::ReadOnly, "{sql}: {e}");
        assert!(
            e.to_string()
                .contains(&format!("cannot execute {what} in a read-only session")),
            "{sql}: {e}"
        );
    }
    assert!(
        emu.requests().is_empty(),
        "nothing reached the server: {:?}",
        emu.requests()
    );
    // Queries run.
    let n = first_i64(
        &run(&server, "SELECT COUNT(*) FROM Customers WHERE CustNum > 0")
            .await
            .unwrap(),
    );
    assert!(n > 0);
    // With writes allowed, the same UPDATE runs (and touches no row here).
    let mut allowed = SqlLimits::for_server(&settings);
    allowed.read_only = false;
    let writer = SqlSession::with_limits(Connection::open(settings).await.unwrap(), allowed)
        .await
        .unwrap();
    let done = writer
        .query("UPDATE Customers SET City = 'X' WHERE CustNum < 0")
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), Some(0));
}

/// `describe` (what a PostgreSQL client's Parse and Describe ask) plans a statement with its
/// parameters open: their types come from what they are compared with, the columns from the
/// plan, and no row is read; a write in a read-only session is refused there too. The same
/// statement then runs with `$n` values bound by number.
#[tokio::test]
async fn describe_types_parameters_and_columns_without_reading_rows() {
    use datafusion::arrow::datatypes::DataType;
    use epicor_kinetic_sql::Param;
    let emu = emulator(300).await;
    let settings = Settings::parse(&connection_string(&emu, "basic")).unwrap();
    let server = SqlSession::with_limits(
        Connection::open(settings.clone()).await.unwrap(),
        SqlLimits::for_server(&settings),
    )
    .await
    .unwrap();
    emu.clear_requests();
    let sql = "SELECT CustID, Name FROM Customers WHERE CustNum = $2 OR CustID = $1";
    let described = server.describe(sql).await.unwrap();
    let columns = described.columns.expect("a query has columns");
    let names: Vec<_> = columns.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["CustID", "Name"]);
    assert_eq!(
        described.parameters,
        vec![Some(DataType::Utf8), Some(DataType::Int32)]
    );
    let described = server
        .describe("SELECT ?, Name FROM Customers WHERE CustNum > ?")
        .await
        .unwrap();
    assert_eq!(described.parameters.len(), 2);
    assert_eq!(described.parameters[1], Some(DataType::Int32));
    let described = server
        .describe("SELECT CAST($1 AS DATE), $2")
        .await
        .unwrap();
    assert_eq!(described.parameters, vec![Some(DataType::Date32), None]);
    let data: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.uri.contains("/Customers"))
        .map(|r| r.uri)
        .collect();
    assert!(data.is_empty(), "no row was read: {data:?}");
    for (sql, what) in [
        (
            "UPDATE Customers SET City = $1 WHERE CustNum = $2",
            "UPDATE",
        ),
        ("EXEC RefreshOAuthAccessToken", "EXEC"),
    ] {
        let e = server.describe(sql).await.unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ReadOnly, "{sql}: {e}");
        assert!(e.to_string().contains(what), "{e}");
    }
    let batches = server
        .query_with(sql, &[Param::Text("nobody".into()), Param::Int(1)])
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 1, "CustNum 1 and no CustID 'nobody'");
}
