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

/// The emulator's SQLite database.
pub fn sqlite(emu: &RunningEmulator) -> rusqlite::Connection {
    rusqlite::Connection::open(&emu.report().path).unwrap_or_else(|e| panic!("{e}"))
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
