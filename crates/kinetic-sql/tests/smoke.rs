//! First light: a query, pushdown visible, against the emulator in process.

use datafusion::arrow::util::pretty::pretty_format_batches;
use epicor_kinetic::{Connection, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_sql::SqlSession;

async fn emulator() -> RunningEmulator {
    epicor_kinetic_emulator::spawn(
        EmulatorConfig {
            scale: 500,
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap_or_else(|e| panic!("emulator: {e}"))
}

async fn session(emu: &RunningEmulator, which: &str) -> SqlSession {
    let text = emu.startup_info()["connection_strings"][which]
        .as_str()
        .unwrap()
        .to_owned();
    let conn = Connection::open(Settings::parse(&text).unwrap())
        .await
        .unwrap();
    SqlSession::new(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_query_runs() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let sql = "SELECT CustNum, Name, State FROM Customers WHERE State = 'MN' AND CustNum < 50 ORDER BY CustNum LIMIT 5";
    let batches = s
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .collect()
        .await
        .unwrap();
    println!("{}", pretty_format_batches(&batches).unwrap());
    println!("{:?}", s.requests_of(sql).await.unwrap());
    let plan = s
        .query(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    println!("{}", pretty_format_batches(&plan).unwrap());
}

#[tokio::test]
async fn explain_shows_order_and_limit_pushed() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    for sql in [
        "SELECT OrderNum, OrderLine, DocExtPriceDtl FROM OrderDtls ORDER BY OrderNum DESC LIMIT 3",
        "SELECT OrderNum, PartNum FROM OrderDtls WHERE PartNum LIKE 'A%' ORDER BY OrderNum DESC LIMIT 3",
        "SELECT Name FROM Customers ORDER BY Name LIMIT 3",
    ] {
        let plan = s.query(&format!("EXPLAIN {sql}")).await.unwrap().collect().await.unwrap();
        println!("{}", pretty_format_batches(&plan).unwrap());
        s.transfer().reset();
        let batches = s.query(sql).await.unwrap().collect().await.unwrap();
        println!("{}\ntransferred {}", pretty_format_batches(&batches).unwrap(), s.transfer().rows());
    }
}
