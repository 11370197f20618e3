//! First light: a query, pushdown visible, against the emulator in process.

use datafusion::arrow::util::pretty::pretty_format_batches;
use epicor_kinetic_emulator::RunningEmulator;
use epicor_kinetic_sql::SqlSession;

use crate::common;

async fn emulator() -> RunningEmulator {
    common::emulator(500).await
}

async fn session(emu: &RunningEmulator, which: &str) -> SqlSession {
    common::session(emu, which).await
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

/// With `Parallelism=3` a scan splits into `$skip` ranges read at once; the answer is the same.
#[tokio::test]
async fn a_parallel_scan_reads_every_row_once() {
    let emu = emulator().await;
    let text = common::connection_string(&emu, "basic");
    let s = common::session_with(&format!("{text};Parallelism=3;Pagesize=40")).await;
    let sql = "SELECT COUNT(*) AS n, COUNT(DISTINCT OrderNum * 1000 + OrderLine) AS k, SUM(DocExtPriceDtl) AS total FROM OrderDtls";
    let plan = s
        .query(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let plan = pretty_format_batches(&plan).unwrap().to_string();
    assert!(plan.contains("partitions=3 ($skip ranges)"), "{plan}");
    let got = s.query(sql).await.unwrap().collect().await.unwrap();
    let got = pretty_format_batches(&got).unwrap().to_string();
    let db = common::sqlite(&emu);
    let (n, total): (i64, f64) = db
        .query_row(
            "SELECT COUNT(*), SUM(DocExtPriceDtl) FROM OrderDtl WHERE Company = 'EPIC06'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(got.contains(&format!("| {n} | {n} |")), "{got} vs {n}");
    assert!(got.contains(&format!("{total:.3}")), "{got} vs {total:.3}");
}

/// `MaxRows` limits what a query returns, never what its scans read.
#[tokio::test]
async fn max_rows_limits_the_answer_not_the_scans() {
    let emu = emulator().await;
    let text = common::connection_string(&emu, "basic");
    let s = common::session_with(&format!("{text};MaxRows=5")).await;
    let rows: usize = s
        .query("SELECT OrderNum FROM OrderDtls")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 5);
    let got = s
        .query("SELECT COUNT(*) AS n FROM OrderDtls")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let got = pretty_format_batches(&got).unwrap().to_string();
    let db = common::sqlite(&emu);
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM OrderDtl WHERE Company = 'EPIC06'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(n > 5 && got.contains(&format!("| {n} |")), "{got} vs {n}");
}

/// SQL may come from a web form: nothing reaches beyond the Epicor server. DataFusion's own
/// file tables, `COPY ... TO` and `SET` are refused as the statement's fault.
#[tokio::test]
async fn local_files_and_settings_are_out_of_reach() {
    let emu = emulator().await;
    let s = session(&emu, "basic").await;
    let dir = std::env::temp_dir().join(format!("kinetic-sql-reach-{}", std::process::id()));
    let target = dir.join("out.csv");
    for sql in [
        "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'".to_owned(),
        format!(
            "COPY (SELECT CustNum FROM Customers) TO '{}' STORED AS CSV",
            target.display()
        ),
        "SET datafusion.sql_parser.enable_ident_normalization = true".to_owned(),
        "CREATE VIEW v AS SELECT 1".to_owned(),
        "DROP TABLE Customers".to_owned(),
    ] {
        let e = common::error_of(&s, &sql).await;
        assert_eq!(
            e.kind(),
            epicor_kinetic_sql::SqlErrorKind::Invalid,
            "{sql}: {e}"
        );
    }
    assert!(!target.exists(), "COPY wrote {}", target.display());
}
