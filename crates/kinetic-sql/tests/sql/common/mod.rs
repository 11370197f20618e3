//! What the SQL tests share: an emulator in process on 127.0.0.1:0, sessions on its connection
//! strings, and its SQLite database (the oracle).
#![allow(dead_code)] // Each test file uses its own part.

use datafusion::arrow::record_batch::RecordBatch;
use epicor_kinetic::{Connection, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_sql::{SqlError, SqlSession};

/// An emulator with `scale` order lines and a request log (for tests that count requests).
pub async fn emulator(scale: u64) -> RunningEmulator {
    emulator_with(EmulatorConfig {
        scale,
        request_log: 10_000,
        ..Default::default()
    })
    .await
}

/// An emulator with `config`.
pub async fn emulator_with(config: EmulatorConfig) -> RunningEmulator {
    epicor_kinetic_emulator::spawn(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"))
}

/// The emulator's ready connection string `which` (`basic`, `basic_v2`, ...).
pub fn connection_string(emu: &RunningEmulator, which: &str) -> String {
    emu.startup_info()["connection_strings"][which]
        .as_str()
        .unwrap_or_else(|| panic!("no {which} connection string"))
        .to_owned()
}

/// A session on the connection string `text`.
pub async fn session_with(text: &str) -> SqlSession {
    let conn = Connection::open(Settings::parse(text).unwrap_or_else(|e| panic!("{e}")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    SqlSession::new(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A session on the emulator's connection string `which`.
pub async fn session(emu: &RunningEmulator, which: &str) -> SqlSession {
    session_with(&connection_string(emu, which)).await
}

/// The emulator's SQLite database, as the server holds it (for what a write left there). Its
/// text columns are declared with the emulator's collation, which SQLite must know to use them.
pub fn sqlite(emu: &RunningEmulator) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&emu.report().path).unwrap_or_else(|e| panic!("{e}"));
    epicor_kinetic_emulator::collation::register(&conn).expect("the emulator's collation");
    conn
}

/// Entity sets as the oracle's views over the model's tables.
pub const VIEWS: &[(&str, &str)] = &[
    ("Customers", "Customer"),
    ("ShipTos", "ShipTo"),
    ("Parts", "Part"),
    ("SalesOrders", "OrderHed"),
    ("OrderDtls", "OrderDtl"),
    ("OrderRels", "OrderRel"),
    ("Vendors", "Vendor"),
];

/// The oracle: a copy of the emulator's data in a database of its own, in memory, that answers
/// with the SQL layer's declared text semantics (not the server's): text without its trailing
/// spaces (as the SQL layer reads it), compared byte for byte (SQLite's BINARY collation, and
/// `PRAGMA case_sensitive_like`). Entity sets are views over the tables, restricted to
/// `company` (the REST API shows only the connection's company). A snapshot: writes made later
/// through the server are not in it.
pub fn oracle(emu: &RunningEmulator, company: &str) -> rusqlite::Connection {
    let oracle = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    // Reading the emulator's file needs its collation (its text columns declare it); every
    // comparison the oracle makes is on its own copy, whose columns are plain BINARY.
    epicor_kinetic_emulator::collation::register(&oracle).expect("the emulator's collation");
    let path = emu.report().path.display().to_string().replace('\'', "''");
    oracle
        .execute_batch(&format!("ATTACH DATABASE 'file:{path}?mode=ro' AS emu"))
        .or_else(|_| oracle.execute_batch(&format!("ATTACH DATABASE '{path}' AS emu")))
        .expect("the emulator's database");
    for (_, table) in VIEWS {
        let columns: Vec<(String, String)> = oracle
            .prepare(&format!("PRAGMA emu.table_info(\"{table}\")"))
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
                    .collect()
            })
            .expect("the table's columns");
        let select: Vec<String> = columns
            .iter()
            .map(|(name, ty)| {
                if ty.eq_ignore_ascii_case("TEXT") {
                    format!("rtrim(\"{name}\", ' ') AS \"{name}\"")
                } else {
                    format!("\"{name}\"")
                }
            })
            .collect();
        oracle
            .execute_batch(&format!(
                "CREATE TABLE main.\"{table}\" AS SELECT {} FROM emu.\"{table}\";",
                select.join(", ")
            ))
            .expect("the oracle's copy");
    }
    oracle
        .execute_batch("DETACH DATABASE emu;")
        .expect("detach");
    let mut ddl = String::from("PRAGMA case_sensitive_like = ON;\n");
    for (set, table) in VIEWS {
        ddl.push_str(&format!(
            "CREATE VIEW \"{set}\" AS SELECT * FROM \"{table}\" WHERE Company = '{company}';\n"
        ));
    }
    oracle.execute_batch(&ddl).expect("views");
    oracle
}

/// Every batch `sql` answers, or its error (met while planning or while running).
pub async fn run(s: &SqlSession, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    s.query(sql).await?.collect().await
}

/// The error of a statement that must fail, met while planning or while running.
pub async fn error_of(s: &SqlSession, sql: &str) -> SqlError {
    match run(s, sql).await {
        Ok(b) => panic!("{sql} should fail; it returned {} batches", b.len()),
        Err(e) => e,
    }
}

/// One value of `db` as SQL literal text (`'ATLAS0020'` without its quotes, `127435.55`), for
/// test cases whose literals name generated data.
pub fn literal(db: &rusqlite::Connection, sql: &str) -> String {
    use rusqlite::types::Value;
    let v: Value = db
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => {
            // Stored decimals have at most 15 significant digits: the shortest text that reads
            // back as the same double is the decimal itself.
            let text = format!("{f}");
            if text.contains('.') || text.contains('e') {
                text
            } else {
                format!("{text}.0")
            }
        }
        Value::Text(t) => t.replace('\'', "''"),
        other => panic!("{sql}: not a literal: {other:?}"),
    }
}
