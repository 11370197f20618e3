//! `kinetic serve` against the emulator in process, through tokio-postgres (the Rust
//! ecosystem's own PostgreSQL client, an implementation independent of this server): each
//! session signs in as its client's Epicor user, answers match the emulator's SQLite file,
//! writes are refused with SQLSTATE 25006, a wrong password with 28P01, one session too many
//! with 53300. Nothing leaves 127.0.0.1.

use epicor_kinetic::settings::Settings;
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_serve::{Options, Server};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

async fn emulator() -> RunningEmulator {
    epicor_kinetic_emulator::spawn(
        EmulatorConfig {
            scale: 300,
            request_log: 10_000,
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap_or_else(|e| panic!("emulator: {e}"))
}

/// The options of a server in front of `emu`: its Basic connection (whose user and password
/// each session replaces by its client's), no TLS.
fn options(emu: &RunningEmulator, allow_writes: bool, max_sessions: usize) -> Options {
    let text = emu.startup_info()["connection_strings"]["basic"]
        .as_str()
        .unwrap()
        .to_owned();
    Options {
        upstream: Settings::parse(&text).unwrap(),
        allow_writes,
        max_sessions,
        tls: None,
        auth: Default::default(),
    }
}

/// The server in front of `emu`, its upstream settings the emulator's Basic connection (whose
/// user and password each session replaces by its client's).
async fn serve(emu: &RunningEmulator, allow_writes: bool, max_sessions: usize) -> u16 {
    let server = Server::bind("127.0.0.1:0", options(emu, allow_writes, max_sessions))
        .await
        .unwrap();
    let port = server.local_addr().port();
    tokio::spawn(server.run());
    port
}

async fn connect(port: u16, user: &str, password: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={user} password={password} dbname=kinetic"),
        NoTls,
    )
    .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The rows of a simple query, each value as the text the server sent (`None` for null).
async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect()
}

fn code(e: &tokio_postgres::Error) -> Option<&SqlState> {
    e.as_db_error().map(|d| d.code())
}

/// The server's message of an error.
fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_sign_in_as_their_users_and_answer_as_sqlite_does() {
    let emu = emulator().await;
    let port = serve(&emu, false, 2).await;
    let db = rusqlite::Connection::open(&emu.report().path).unwrap();
    epicor_kinetic_emulator::collation::register(&db).unwrap();

    let client = connect(port, "manager", "Epicor123!").await.unwrap();
    // What drivers send on their own is answered.
    for statement in ["SET application_name = 'test'", "BEGIN", "COMMIT", ""] {
        client
            .simple_query(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement:?}: {e}"));
    }
    // A count and exact decimals, as the emulator's database holds them.
    let (count, total): (i64, String) = db
        .query_row(
            "SELECT COUNT(*), printf('%.2f', SUM(CreditLimit)) FROM Customer WHERE Company = 'EPIC06'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let got = rows(
        &client,
        "SELECT COUNT(*) AS n, SUM(CreditLimit) AS total FROM Customers",
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][0].as_deref(), Some(count.to_string().as_str()));
    let sum: f64 = got[0][1].as_deref().unwrap().parse().unwrap();
    assert_eq!(format!("{sum:.2}"), total, "the sum, to the cent");
    // Text as PostgreSQL writes it (booleans as t/f, padding trimmed as the SQL layer reads it).
    let first = rows(
        &client,
        "SELECT CustNum, CustID, CreditHold FROM Customers ORDER BY CustNum LIMIT 2",
    )
    .await;
    let (num, id, hold): (i64, String, bool) = db
        .query_row(
            "SELECT CustNum, CustID, CreditHold FROM Customer WHERE Company = 'EPIC06' ORDER BY CustNum LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        first[0],
        [
            Some(num.to_string()),
            Some(id.trim_end().to_owned()),
            Some(if hold { "t" } else { "f" }.to_owned())
        ]
    );

    // Read-only by default: a write is refused before anything reaches the server.
    emu.clear_requests();
    let e = client
        .simple_query("UPDATE Customers SET City = 'X' WHERE CustNum = 1")
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        "{e:?}"
    );
    assert!(
        message(&e).contains("cannot execute UPDATE in a read-only session"),
        "{e:?}"
    );
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    // A bad statement is an error of its own, and the session goes on.
    let e = client.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(code(&e), Some(&SqlState::SYNTAX_ERROR), "{e:?}");
    assert_eq!(
        rows(&client, "SELECT 1 AS one").await,
        [[Some("1".to_owned())]]
    );

    // A wrong password: 28P01, naming the user.
    let Err(e) = connect(port, "manager", "wrong").await else {
        panic!("a wrong password was accepted");
    };
    assert_eq!(code(&e), Some(&SqlState::INVALID_PASSWORD), "{e:?}");
    assert!(message(&e).contains("\"manager\""), "{e:?}");

    // Another user signs in as itself, beside the first.
    let other = connect(port, "integration", "Integration123!")
        .await
        .unwrap();
    assert_eq!(
        rows(&other, "SELECT 2 AS two").await,
        [[Some("2".to_owned())]]
    );
    // Two sessions at once at most.
    let Err(e) = connect(port, "manager", "Epicor123!").await else {
        panic!("a third session was accepted with --max-sessions 2");
    };
    assert_eq!(code(&e), Some(&SqlState::TOO_MANY_CONNECTIONS), "{e:?}");
    drop(other);
    // Its place comes back when a session closes.
    let mut again = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if let Ok(c) = connect(port, "manager", "Epicor123!").await {
            again = Some(c);
            break;
        }
    }
    assert!(again.is_some(), "a closed session gives its place back");
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_run_when_the_operator_allows_them() {
    let emu = emulator().await;
    let port = serve(&emu, true, 4).await;
    let client = connect(port, "manager", "Epicor123!").await.unwrap();
    let done = client
        .simple_query("UPDATE Customers SET City = 'Served' WHERE CustNum = 1")
        .await
        .unwrap();
    let affected = done.iter().find_map(|m| match m {
        SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    });
    assert_eq!(affected, Some(1));
    let db = rusqlite::Connection::open(&emu.report().path).unwrap();
    epicor_kinetic_emulator::collation::register(&db).unwrap();
    let city: String = db
        .query_row(
            "SELECT City FROM Customer WHERE Company = 'EPIC06' AND CustNum = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(city.trim_end(), "Served");
}

#[tokio::test]
async fn only_loopback_addresses_without_tls() {
    let options = Options {
        upstream: Settings::parse(
            "URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p",
        )
        .unwrap(),
        allow_writes: false,
        max_sessions: 1,
        tls: None,
        auth: Default::default(),
    };
    let Err(e) = Server::bind("0.0.0.0:0", options).await else {
        panic!("a non-loopback address was accepted");
    };
    assert!(e.contains("not a loopback address"), "{e}");
}

/// The extended protocol as tokio-postgres speaks it: every statement prepared (`Parse`,
/// `Describe`), parameters and results in binary. Parameter types come from the statement
/// (`CustNum = $1`: integer), numerics arrive exact (read by rust_decimal, not by this
/// server's code), a named statement runs again with other values, a portal read in pieces
/// gives every row once, a bad value is 22P02 and a write is refused at `Parse`.
#[tokio::test(flavor = "multi_thread")]
async fn prepared_statements_bind_typed_parameters_and_answer_in_binary() {
    use rust_decimal::Decimal;
    use tokio_postgres::types::Type;
    let emu = emulator().await;
    let port = serve(&emu, false, 4).await;
    let db = rusqlite::Connection::open(&emu.report().path).unwrap();
    epicor_kinetic_emulator::collation::register(&db).unwrap();
    let mut client = connect(port, "manager", "Epicor123!").await.unwrap();

    let statement = client
        .prepare(
            "SELECT CustNum, CustID, CreditLimit, CreditHold FROM Customers WHERE CustNum = $1",
        )
        .await
        .unwrap();
    assert_eq!(statement.params(), [Type::INT4], "the column's type");
    let types: Vec<_> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(types, [Type::INT4, Type::TEXT, Type::NUMERIC, Type::BOOL]);
    for num in [1i32, 7, 20] {
        let row = client.query_one(&statement, &[&num]).await.unwrap();
        let (id, limit, hold): (String, String, bool) = db
            .query_row(
                "SELECT CustID, printf('%.2f', CreditLimit), CreditHold FROM Customer \
                 WHERE Company = 'EPIC06' AND CustNum = ?1",
                [num],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), num);
        assert_eq!(row.get::<_, String>(1), id.trim_end());
        let got: Decimal = row.get(2);
        assert_eq!(got.round_dp(2).to_string(), limit, "CustNum {num}: exact");
        assert_eq!(row.get::<_, bool>(3), hold);
    }

    // A sum over a range: the decimal exactly as SQLite adds the cents.
    let (count, total): (i64, String) = db
        .query_row(
            "SELECT COUNT(*), printf('%.2f', SUM(CreditLimit)) FROM Customer \
             WHERE Company = 'EPIC06' AND CustNum BETWEEN 5 AND 60",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let row = client
        .query_one(
            "SELECT COUNT(*), SUM(CreditLimit) FROM Customers WHERE CustNum BETWEEN $1 AND $2",
            &[&5i32, &60i32],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), count);
    assert_eq!(row.get::<_, Decimal>(1).round_dp(2).to_string(), total);

    // Text parameters of any kind stay one value each.
    let evil = "x' OR '1'='1";
    let rows = client
        .query("SELECT CustID FROM Customers WHERE CustID = $1", &[&evil])
        .await
        .unwrap();
    assert!(rows.is_empty());

    // A portal read 7 rows at a time gives every row once.
    let all: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM Customer WHERE Company = 'EPIC06' AND CustNum <= 40",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let transaction = client.transaction().await.unwrap();
    let portal = transaction
        .bind(
            "SELECT CustNum FROM Customers WHERE CustNum <= $1 ORDER BY CustNum",
            &[&40i32],
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let piece = transaction.query_portal(&portal, 7).await.unwrap();
        assert!(piece.len() <= 7);
        if piece.is_empty() {
            break;
        }
        seen.extend(piece.iter().map(|r| r.get::<_, i32>(0)));
    }
    transaction.commit().await.unwrap();
    assert_eq!(seen.len() as i64, all);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "every row once, in order"
    );

    // Dates and timestamps in binary, read by tokio-postgres's chrono support.
    let row = client
        .query_one(
            "SELECT CAST('2025-01-31' AS DATE), CAST('2025-01-31T10:20:30.5' AS TIMESTAMP), \
             CAST($1 AS DATE)",
            &[&chrono::NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, chrono::NaiveDate>(0),
        chrono::NaiveDate::from_ymd_opt(2025, 1, 31).unwrap()
    );
    assert_eq!(
        row.get::<_, chrono::NaiveDateTime>(1),
        chrono::NaiveDate::from_ymd_opt(2025, 1, 31)
            .unwrap()
            .and_hms_milli_opt(10, 20, 30, 500)
            .unwrap()
    );
    assert_eq!(
        row.get::<_, chrono::NaiveDate>(2),
        chrono::NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()
    );

    // A write is refused when prepared: nothing reaches Epicor.
    emu.clear_requests();
    let e = client
        .prepare("UPDATE Customers SET City = $1 WHERE CustNum = $2")
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        "{e:?}"
    );
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
    // The client's type for a parameter wins over the statement's.
    let typed = client
        .prepare_typed(
            "SELECT CustID FROM Customers WHERE CustNum = $1",
            &[Type::INT8],
        )
        .await
        .unwrap();
    assert_eq!(typed.params(), [Type::INT8]);
    let row = client.query_one(&typed, &[&3i64]).await.unwrap();
    assert!(!row.get::<_, String>(0).is_empty());
}

/// The catalog as psql and drivers read it: psql's own `\dt` and `\d` queries (verbatim, its
/// `OPERATOR(pg_catalog.~)` and `COLLATE` included) list Epicor's services as schemas and entity
/// sets as tables, find `customers` as well as `Customers`, and describe its columns with
/// PostgreSQL's types, as `sys_tablecolumns` (the SQL layer's one description) has them;
/// `information_schema`, `SHOW`, `version()` and `current_database()` answer as drivers expect.
#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_answers_psql_and_drivers() {
    let emu = emulator().await;
    let port = serve(&emu, false, 4).await;
    let client = connect(port, "manager", "Epicor123!").await.unwrap();
    let tables = rows(
        &client,
        "SELECT n.nspname as \"Schema\",
  c.relname as \"Name\",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as \"Type\",
  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;",
    )
    .await;
    let customers = [
        Some("Erp.BO.CustomerSvc".to_owned()),
        Some("Customers".to_owned()),
        Some("table".to_owned()),
        Some("manager".to_owned()),
    ];
    assert!(tables.contains(&customers.to_vec()), "{tables:?}");

    // psql folds `\d customers` to lower case; `\d "Customers"` keeps the case: both find it.
    let mut oid = None;
    for pattern in ["customers", "Customers"] {
        let found = rows(
            &client,
            &format!(
                "SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^({pattern})$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;"
            ),
        )
        .await;
        assert_eq!(found.len(), 1, "{pattern}: {found:?}");
        assert_eq!(found[0][2].as_deref(), Some("Customers"));
        oid = found[0][0].clone();
    }
    let oid = oid.unwrap();
    let columns = rows(
        &client,
        &format!(
            "SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '{oid}' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;"
        ),
    )
    .await;
    let described = rows(
        &client,
        "SELECT ColumnName, DataTypeName, NumericPrecision, NumericScale FROM sys_tablecolumns \
         WHERE TableName = 'Customers' ORDER BY Ordinal",
    )
    .await;
    assert_eq!(columns.len(), described.len(), "{columns:?}");
    for (column, sys) in columns.iter().zip(&described) {
        assert_eq!(column[0], sys[0]);
        let want = match sys[1].as_deref() {
            Some("int") => "integer".to_owned(),
            Some("bigint") => "bigint".to_owned(),
            Some("bool") => "boolean".to_owned(),
            Some("datetime") => "timestamp with time zone".to_owned(),
            Some("decimal") => format!(
                "numeric({},{})",
                sys[2].as_deref().unwrap(),
                sys[3].as_deref().unwrap()
            ),
            Some("varchar") => "character varying".to_owned(),
            other => panic!("a type the test does not know: {other:?}"),
        };
        let got = column[1].as_deref().unwrap();
        assert!(
            got.starts_with(&want),
            "{:?}: {got} is not {want}",
            column[0]
        );
    }
    assert!(columns
        .iter()
        .any(|c| c[0].as_deref() == Some("CustNum") && c[3].as_deref() == Some("t")));

    let info = rows(
        &client,
        "SELECT column_name, data_type, ordinal_position FROM information_schema.columns \
         WHERE table_name = 'Customers' AND column_name = 'CustNum'",
    )
    .await;
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0][1].as_deref(), Some("integer"));
    let keys = rows(
        &client,
        "SELECT column_name FROM information_schema.key_column_usage k \
         JOIN information_schema.table_constraints t ON t.constraint_name = k.constraint_name \
         AND t.table_name = k.table_name \
         WHERE k.table_name = 'Customers' AND t.constraint_type = 'PRIMARY KEY' \
         ORDER BY k.ordinal_position",
    )
    .await;
    assert_eq!(
        keys,
        [[Some("Company".to_owned())], [Some("CustNum".to_owned())]]
    );

    // What drivers ask at connect.
    let settings = client
        .simple_query("SHOW TimeZone")
        .await
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((
                r.columns()[0].name().to_owned(),
                r.get(0).map(str::to_owned),
            )),
            _ => None,
        });
    assert_eq!(
        settings,
        Some(("timezone".to_owned(), Some("UTC".to_owned())))
    );
    let who = client
        .query_one(
            "SELECT version(), current_database(), current_schema(), current_user",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(who.columns()[0].name(), "version");
    assert!(who.get::<_, String>(0).starts_with("PostgreSQL 16"));
    assert_eq!(who.get::<_, String>(1), "kinetic", "the database asked for");
    assert_eq!(who.get::<_, String>(3), "manager");
    // Unqualified catalog names are pg_catalog's, and a prepared catalog query binds.
    let found = client
        .query(
            "SELECT relname FROM pg_class WHERE relname = $1",
            &[&"Customers"],
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

/// A writer the test's log lines go to.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A cancel request (tokio-postgres's `CancelToken`, as psql's Ctrl-C) stops a statement that
/// waits on Epicor: 57014 long before Epicor would have answered, and the session goes on.
/// Each statement leaves one log line (user, rows, Epicor requests, outcome) without its text.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_stops_the_statement_and_each_statement_is_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("kinetic::serve=info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init();
    let mut config = EmulatorConfig {
        scale: 300,
        ..Default::default()
    };
    config
        .faults
        .rules
        .push(epicor_kinetic_emulator::config::FaultRule {
            kind: "latency".into(),
            rate: 1.0,
            path: Some("/api/v1/Erp.BO.SalesOrderSvc/SalesOrders".into()),
            min_ms: 8_000,
            max_ms: 8_000,
            retry_after_secs: None,
        });
    let emu = epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap();
    let port = serve(&emu, false, 4).await;
    let client = connect(port, "manager", "Epicor123!").await.unwrap();
    let token = client.cancel_token();
    let started = std::time::Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        token.cancel_query(NoTls).await
    });
    let e = match client
        .simple_query("SELECT OrderNum FROM SalesOrders WHERE OrderNum < 100")
        .await
    {
        Err(e) => e,
        Ok(r) => panic!(
            "{r:?} {}",
            String::from_utf8_lossy(&captured.0.lock().unwrap())
        ),
    };
    canceller.await.unwrap().unwrap();
    assert_eq!(code(&e), Some(&SqlState::QUERY_CANCELED), "{e:?}");
    assert!(message(&e).contains("canceling statement due to user request"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "stopped before Epicor answered: {:?}",
        started.elapsed()
    );
    assert_eq!(
        rows(&client, "SELECT 3 AS three").await,
        [[Some("3".to_owned())]],
        "the session goes on"
    );
    // The next statement is not cancelled by the earlier request.
    let n = rows(
        &client,
        "SELECT COUNT(*) AS n FROM Customers WHERE CustNum <= 12",
    )
    .await;
    assert_eq!(n, [[Some("12".to_owned())]]);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("user=manager")).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("statement=SELECT") && l.contains("outcome=57014")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("rows=1")
            && l.contains("outcome=ok")
            && l.contains("epicor_requests=")),
        "{log}"
    );
    assert!(
        !log.contains("Epicor123!") && !log.contains("CustNum <= 12"),
        "no secret, no statement text: {log}"
    );
}

/// A shutdown (Ctrl-C, SIGTERM) ends every session, a signed-in client's included, takes no
/// new one, and returns once the sessions have ended.
#[tokio::test(flavor = "multi_thread")]
async fn a_shutdown_ends_the_sessions_and_takes_no_new_one() {
    let emu = emulator().await;
    let options = options(&emu, false, 4);
    let server = Server::bind("127.0.0.1:0", options).await.unwrap();
    let port = server.local_addr().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let client = connect(port, "manager", "Epicor123!").await.unwrap();
    assert_eq!(
        rows(&client, "SELECT 1 AS one").await,
        [[Some("1".to_owned())]]
    );
    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(15), running)
        .await
        .expect("the server returns once its sessions have ended")
        .unwrap();
    assert!(started.elapsed() < epicor_kinetic_serve::SHUTDOWN_WAIT);
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "the session ended"
    );
    assert!(
        connect(port, "manager", "Epicor123!").await.is_err(),
        "no new session"
    );
}

/// `--metrics`: Prometheus' text format, counting what the log lines count.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_sessions_statements_and_refusals() {
    let emu = emulator().await;
    let options = options(&emu, false, 4);
    let server = Server::bind("127.0.0.1:0", options)
        .await
        .unwrap()
        .with_metrics("127.0.0.1:0")
        .await
        .unwrap();
    let port = server.local_addr().port();
    let metrics = format!("http://{}/metrics", server.metrics_addr().unwrap());
    tokio::spawn(server.run());
    let client = connect(port, "manager", "Epicor123!").await.unwrap();
    for _ in 0..3 {
        rows(&client, "SELECT CustNum FROM Customers WHERE CustNum <= 4").await;
    }
    let _ = client
        .simple_query("DELETE FROM Customers WHERE CustNum = 1")
        .await
        .unwrap_err();
    assert!(connect(port, "manager", "wrong").await.is_err());
    let body = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    let value = |line: &str| -> u64 {
        body.lines()
            .find_map(|l| l.strip_prefix(line).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("no {line} in {body}"))
    };
    assert_eq!(
        value("kinetic_serve_statements_total{outcome=\"ok\"}"),
        3,
        "{body}"
    );
    assert_eq!(
        value("kinetic_serve_statements_total{outcome=\"25006\"}"),
        1
    );
    assert_eq!(value("kinetic_serve_rows_total"), 12);
    assert!(value("kinetic_serve_epicor_requests_total") >= 3);
    assert_eq!(value("kinetic_serve_sign_ins_total"), 1);
    assert_eq!(value("kinetic_serve_sign_ins_refused_total"), 1);
    assert_eq!(value("kinetic_serve_sessions_open"), 1, "{body}");
    assert!(!body.contains("manager") && !body.contains("Customers"));
}
