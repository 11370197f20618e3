//! The differential suite: the same statement gives the same rows whether its predicate is
//! pushed to the server or kept local, whatever the server's collation.
//!
//! Each predicate runs four ways: as written (pushed where the translator can) and forced
//! local (every column read through `unpushed(...)`, a volatile identity function no filter
//! crosses; the test checks that no `$filter` is sent), against an emulator that compares text
//! as Epicor's SQL Server does (case-insensitive, trailing spaces ignored) and one that compares
//! bytes (`--collation binary`). The four answers must be equal, and equal to SQLite's over the
//! same data with the SQL layer's declared semantics (text without trailing spaces, compared
//! byte for byte; `common::oracle`) wherever SQLite can say. Every predicate must select rows
//! (unless it says it expects none): two empty answers agree and prove nothing.
//!
//! The data is the demo set plus rows made for the traps: names that differ only in case or in
//! trailing spaces, a key with a trailing space, `%` and `_` inside text, a leading space.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use epicor_kinetic_emulator::collation::Collation;
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_sql::SqlSession;
use std::collections::BTreeSet;

use crate::common;

/// Rows made for the traps, inserted on both emulators alike.
const TRAPS: &str =
    "INSERT INTO Customers (CustID, Name, City, State, CreditLimit, PhoneNum) VALUES \
    ('DIFFA', 'Acme Tools', 'Duluth', 'MN', 1000.5, '555-0101'), \
    ('DIFFB', 'ACME TOOLS', 'DULUTH', 'mn', 1000.50, NULL), \
    ('DIFFC ', 'acme tools   ', 'Duluth  ', 'Mn', 2000, '555-0103 '), \
    ('diffd', '50% Off_Sale Co', 'Ely', 'MN', 0, NULL), \
    ('DIFFE', '50 Percent Off Co', 'Ely', 'WI', 5.125, '555-0105'), \
    ('DIFFF', '  Leading Space Co', 'ely', 'WI', 5.125, '555-0106')";

/// An identity function DataFusion may not see through: volatile, so no filter is pushed below
/// it, and not simplified away.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Unpushed {
    signature: Signature,
}

impl ScalarUDFImpl for Unpushed {
    fn name(&self) -> &str {
        "unpushed"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types[0].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(args.args[0].clone())
    }
}

/// One emulator and a session on it, with the trap rows and `unpushed`.
struct Side {
    _emu: RunningEmulator,
    session: SqlSession,
    collation: Collation,
}

async fn side(collation: Collation) -> Side {
    let emu = common::emulator_with(EmulatorConfig {
        scale: 1_000,
        collation,
        ..Default::default()
    })
    .await;
    let session = common::session(&emu, "basic").await;
    session
        .context()
        .register_udf(ScalarUDF::new_from_impl(Unpushed {
            signature: Signature::any(1, Volatility::Volatile),
        }));
    common::run(&session, TRAPS)
        .await
        .unwrap_or_else(|e| panic!("{collation:?}: the trap rows: {e}"));
    Side {
        _emu: emu,
        session,
        collation,
    }
}

/// A predicate on a table: ours, SQLite's (where it can say), and whether it selects nothing
/// on purpose.
struct Pred {
    table: &'static str,
    ours: String,
    sqlite: Option<String>,
    none: bool,
}

/// The same text for both.
fn p(table: &'static str, predicate: impl Into<String>) -> Pred {
    let text = predicate.into();
    Pred {
        table,
        sqlite: Some(text.clone()),
        ours: text,
        none: false,
    }
}

/// Ours, and SQLite's own spelling (`None`: SQLite cannot say).
fn q(table: &'static str, ours: impl Into<String>, sqlite: Option<&str>) -> Pred {
    Pred {
        table,
        ours: ours.into(),
        sqlite: sqlite.map(str::to_owned),
        none: false,
    }
}

impl Pred {
    fn none(mut self) -> Self {
        self.none = true;
        self
    }
}

fn key(table: &str) -> &'static str {
    match table {
        "Customers" => "CustNum",
        "SalesOrders" => "OrderNum",
        other => panic!("no key for {other}"),
    }
}

/// The keys a statement answers (its first column, an Int32).
async fn keys(session: &SqlSession, sql: &str) -> Result<BTreeSet<i32>, String> {
    let batches = common::run(session, sql)
        .await
        .map_err(|e| format!("{sql}: {e}"))?;
    let mut out = BTreeSet::new();
    for b in &batches {
        let a = b.column(0).as_primitive::<Int32Type>();
        for i in 0..a.len() {
            if !a.is_null(i) {
                out.insert(a.value(i));
            }
        }
    }
    Ok(out)
}

/// `SELECT key FROM (every column through unpushed) WHERE predicate`.
async fn local_sql(session: &SqlSession, table: &str, predicate: &str) -> String {
    let schema = session
        .schema_of(&format!("SELECT * FROM {table}"))
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("unpushed(\"{0}\") AS \"{0}\"", f.name()))
        .collect();
    format!(
        "SELECT {} FROM (SELECT {} FROM {table}) AS t WHERE {predicate}",
        key(table),
        columns.join(", ")
    )
}

async fn has_filter(session: &SqlSession, sql: &str) -> Result<bool, String> {
    Ok(session
        .requests_of(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"))?
        .iter()
        .any(|r| r.contains("%24filter=") || r.contains("$filter=")))
}

#[tokio::test]
async fn pushed_or_local_the_same_rows_on_either_collation() {
    let (ci, binary) = tokio::join!(side(Collation::Ci), side(Collation::Binary));
    let sides = [ci, binary];
    let oracle_emu = &sides[0]._emu;
    let company = oracle_emu.startup_info()["company"]
        .as_str()
        .expect("company")
        .to_owned();
    let oracle = common::oracle(oracle_emu, &company);
    let literal = |sql: &str| common::literal(&oracle, sql);
    let amount = literal(
        "SELECT CreditLimit FROM Customers WHERE CreditLimit * 100 <> ROUND(CreditLimit) * 100 ORDER BY CustNum LIMIT 1",
    );
    let est = literal("SELECT EstDate FROM Customers ORDER BY CustNum LIMIT 1 OFFSET 9");
    let guid = literal("SELECT SysRowID FROM Customers ORDER BY CustNum LIMIT 1 OFFSET 4");
    let zip = literal("SELECT Zip FROM Customers WHERE Zip GLOB '[0-9]*' ORDER BY CustNum LIMIT 1");
    let po = literal(
        "SELECT PONum FROM SalesOrders WHERE PONum IS NOT NULL ORDER BY OrderNum LIMIT 1 OFFSET 5",
    );
    let order_day =
        literal("SELECT OrderDate FROM SalesOrders ORDER BY OrderNum LIMIT 1 OFFSET 17");
    let amt = literal("SELECT OrderAmt FROM SalesOrders ORDER BY OrderNum LIMIT 1 OFFSET 3");
    let need = literal(
        "SELECT NeedByDate FROM SalesOrders WHERE NeedByDate IS NOT NULL ORDER BY NeedByDate LIMIT 1 OFFSET 20",
    );
    let year = est[..4].to_owned();
    let name = literal(
        "SELECT Name FROM Customers WHERE Name GLOB '[A-Z]* [A-Z]* [A-Z]*' ORDER BY CustNum LIMIT 1 OFFSET 5",
    );
    let words: Vec<&str> = name.split_whitespace().collect();
    let inner_pieces = format!("%{}%{}", words[1], words[2]);
    let c = "Customers";
    let h = "SalesOrders";
    let preds: Vec<Pred> = vec![
        // Text equality: case, trailing spaces, padding of the literal and of the value.
        p(c, "Name = 'Acme Tools'"),
        p(c, "Name = 'ACME TOOLS'"),
        p(c, "Name = 'acme tools'"),
        p(c, "Name = 'acme tools   '").none(),
        p(c, "CustID = 'DIFFC'"),
        p(c, "CustID = 'DIFFC '").none(),
        p(c, "CustID = 'diffc'").none(),
        p(c, "City = 'Duluth'"),
        p(c, "State = 'MN'"),
        p(c, "State = 'mn'"),
        p(c, "State IN ('MN', 'Mn', 'WI')"),
        p(c, "State IN ('mn', 'TX ')"),
        p(c, "TermsCode = 'N30'"),
        p(c, "TermsCode IN ('N30', 'COD')"),
        p(c, format!("Zip = '{zip}'")),
        p(c, "Name = '  Leading Space Co'"),
        p(c, "Name = 'Leading Space Co'").none(),
        p(c, "PhoneNum = '555-0103'"),
        // Text inequality and order: kept local, the same answer.
        p(c, "Name <> 'Acme Tools'"),
        p(c, "State <> 'MN'"),
        p(c, "State NOT IN ('MN', 'TX')"),
        p(c, "Name < 'B'"),
        p(c, "City >= 'Duluth' AND City < 'F'"),
        p(c, "PhoneNum <> '555-0101'"),
        // LIKE: prefix, suffix, inner pieces, _ and escaped wildcards, case.
        p(c, "Name LIKE 'Acme%'"),
        p(c, "Name LIKE 'acme%'"),
        p(c, "Name LIKE '%Tools'"),
        p(c, "Name LIKE '%tools'"),
        p(c, "Name LIKE '%cme T%'"),
        p(c, "Name LIKE 'A_me%'"),
        p(c, format!("Name LIKE '{inner_pieces}'")),
        p(c, "CustID LIKE 'DIFF_'"),
        p(c, "CustID LIKE '%C'"),
        q(
            c,
            "Name LIKE '50\\% Off%'",
            Some("Name LIKE '50\\% Off%' ESCAPE '\\'"),
        ),
        q(
            c,
            "Name LIKE '50\\_%'",
            Some("Name LIKE '50\\_%' ESCAPE '\\'"),
        )
        .none(),
        q(
            c,
            "Name LIKE '%\\_Sale%'",
            Some("Name LIKE '%\\_Sale%' ESCAPE '\\'"),
        ),
        p(c, "Name LIKE '% Co'"),
        p(c, "Name LIKE 'Acme Tools'"),
        p(c, "Name NOT LIKE '%Inc'"),
        p(c, "CustID LIKE '%'"),
        // ILIKE: case ignored, pushed over tolower.
        q(c, "Name ILIKE '%acme%'", Some("lower(Name) LIKE '%acme%'")),
        q(
            c,
            "Name ILIKE 'ACME TOOLS'",
            Some("lower(Name) = 'acme tools'"),
        ),
        q(c, "City ILIKE 'dul%'", Some("lower(City) LIKE 'dul%'")),
        q(
            c,
            "Name ILIKE '%MACHINE%'",
            Some("lower(Name) LIKE '%machine%'"),
        ),
        q(
            c,
            "Name NOT ILIKE '%acme%'",
            Some("lower(Name) NOT LIKE '%acme%'"),
        ),
        // Functions of text.
        p(c, "upper(Name) = 'ACME TOOLS'"),
        p(c, "lower(City) = 'duluth'"),
        p(c, "length(CustID) = 5"),
        p(c, "length(Name) > 24"),
        p(c, "length(City) <= 5"),
        q(c, "starts_with(Name, 'Acme')", Some("Name LIKE 'Acme%'")),
        // Numbers and decimals.
        p(c, "CustNum = 7"),
        p(c, "CustNum <> 7"),
        p(c, "CustNum BETWEEN 10 AND 20"),
        p(c, "CustNum NOT BETWEEN 10 AND 60"),
        p(c, "CustNum IN (1, 2, 3, 500)"),
        p(c, "CustNum NOT IN (1, 2, 3)"),
        p(c, "CreditLimit = 1000.5"),
        p(c, "CreditLimit = 5.125"),
        p(c, format!("CreditLimit = {amount}")),
        p(c, "CreditLimit > 50000 AND CreditLimit <= 90000.5"),
        q(
            c,
            "CAST(CreditLimit AS INT) = 5",
            Some("CAST(CreditLimit AS INTEGER) = 5"),
        ),
        q(
            c,
            "CAST(CreditLimit AS DECIMAL(17, 1)) = 5.1",
            Some("ROUND(CreditLimit, 1) = 5.1"),
        ),
        q(
            c,
            "TRY_CAST(CreditLimit AS BIGINT) IN (5, 1000)",
            Some("CAST(CreditLimit AS INTEGER) IN (5, 1000)"),
        ),
        p(c, "CustNum * 2 > 100"),
        p(h, format!("OrderAmt = {amt}")),
        p(h, "OrderAmt >= 100000"),
        // Booleans.
        q(c, "CreditHold", Some("CreditHold = 1")),
        q(c, "NOT CreditHold", Some("CreditHold = 0")),
        q(
            c,
            "CreditHold = false AND State = 'MN'",
            Some("CreditHold = 0 AND State = 'MN'"),
        ),
        // Dates and times.
        q(
            c,
            format!("EstDate = DATE '{est}'"),
            Some(&format!("EstDate = '{est}'")),
        ),
        q(
            c,
            format!("EstDate >= DATE '{est}'"),
            Some(&format!("EstDate >= '{est}'")),
        ),
        q(
            c,
            format!("EXTRACT(YEAR FROM EstDate) = {year}"),
            Some(&format!("strftime('%Y', EstDate) = '{year}'")),
        ),
        q(
            h,
            format!("OrderDate = DATE '{order_day}'"),
            Some(&format!("OrderDate = '{order_day}'")),
        ),
        q(
            h,
            "RequestDate - OrderDate > INTERVAL '45 days'",
            Some("julianday(RequestDate) - julianday(OrderDate) > 45"),
        ),
        q(
            h,
            format!("NeedByDate < DATE '{need}'"),
            Some(&format!("NeedByDate < '{need}'")),
        ),
        // NULLs.
        p(c, "PhoneNum IS NULL"),
        p(c, "PhoneNum IS NOT NULL AND State = 'WI'"),
        p(c, "NOT (PhoneNum = '555-0101')"),
        p(h, "PONum IS NULL OR PONum = 'X'"),
        p(h, format!("PONum <> '{po}'")),
        q(
            h,
            format!("NeedByDate NOT IN (DATE '{need}')"),
            Some(&format!("NeedByDate NOT IN ('{need}')")),
        ),
        p(c, "coalesce(PhoneNum, 'none') = 'none'"),
        // GUIDs.
        q(
            c,
            format!("SysRowID = '{guid}'"),
            Some(&format!("SysRowID = '{guid}'")),
        ),
        q(
            c,
            format!("SysRowID = '{}'", guid.to_uppercase()),
            Some(&format!("SysRowID = '{}'", guid.to_uppercase())),
        )
        .none(),
        // NOT, AND, OR over mixes.
        p(c, "NOT (State = 'MN' OR State = 'TX')"),
        p(c, "State = 'MN' OR CustNum < 3"),
        p(
            c,
            "(Name LIKE 'Acme%' OR City = 'Ely') AND CreditLimit < 5000",
        ),
        p(c, "NOT (CustNum > 5 AND CustNum < 50)"),
        p(c, "CustNum > 5 AND NOT (Name LIKE '%Inc')"),
    ];
    assert!(preds.len() >= 60, "{} predicates", preds.len());

    let (mut pushed, mut local, mut agreed, mut by_sqlite) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for pred in &preds {
        let k = key(pred.table);
        let direct = format!("SELECT {k} FROM {} WHERE {}", pred.table, pred.ours);
        let mut answers: Vec<(String, BTreeSet<i32>)> = Vec::new();
        let mut sent_filter = false;
        let mut failed = None;
        for side in &sides {
            let forced = local_sql(&side.session, pred.table, &pred.ours).await;
            match has_filter(&side.session, &forced).await {
                Ok(false) => {}
                Ok(true) => {
                    failed = Some(format!("the forced-local form sends a $filter: {forced}"))
                }
                Err(e) => failed = Some(e),
            }
            match has_filter(&side.session, &direct).await {
                Ok(sent) => sent_filter |= sent,
                Err(e) => failed = Some(e),
            }
            for (how, sql) in [("pushed", &direct), ("local", &forced)] {
                match keys(&side.session, sql).await {
                    Ok(rows) => answers.push((format!("{how} on {:?}", side.collation), rows)),
                    Err(e) => failed = Some(e),
                }
            }
        }
        if sent_filter {
            pushed += 1;
        } else {
            local += 1;
        }
        if let Some(sql) = &pred.sqlite {
            let mut stmt = oracle
                .prepare(&format!("SELECT {k} FROM {} WHERE {sql}", pred.table))
                .unwrap_or_else(|e| panic!("SQLite: {sql}: {e}"));
            let rows: BTreeSet<i32> = stmt
                .query_map([], |r| r.get::<_, i32>(0))
                .and_then(|r| r.collect())
                .unwrap_or_else(|e| panic!("SQLite: {sql}: {e}"));
            answers.push(("SQLite".into(), rows));
            by_sqlite += 1;
        }
        let first = &answers[0].1;
        if let Some((how, rows)) = answers.iter().find(|(_, rows)| rows != first) {
            failed.get_or_insert(format!(
                "{} gives {} rows {:?}..., {how} gives {} rows {:?}...",
                answers[0].0,
                first.len(),
                first.iter().take(8).collect::<Vec<_>>(),
                rows.len(),
                rows.iter().take(8).collect::<Vec<_>>()
            ));
        }
        if first.is_empty() && !pred.none {
            failed.get_or_insert("no rows: the predicate proves nothing".into());
        }
        if !first.is_empty() && pred.none {
            failed.get_or_insert(format!("{} rows, where none were expected", first.len()));
        }
        match failed {
            Some(f) => failures.push(format!("{}: {}", pred.ours, f)),
            None => agreed += 1,
        }
    }
    eprintln!(
        "differential: {} predicates, {pushed} pushed (a $filter sent), {local} kept local, \
         {agreed} agreeing pushed and local on both collations, {by_sqlite} of them checked \
         against SQLite",
        preds.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} predicates disagree:\n{}",
        failures.len(),
        preds.len(),
        failures.join("\n")
    );
    // Both kinds are exercised.
    assert!(
        pushed >= 40 && local >= 10,
        "{pushed} pushed, {local} local"
    );
}
