//! The oracle: SQL over Epicor gives the answers SQLite gives over the same data.
//!
//! Each case is a question asked twice: of our engine (through the emulator's REST API, in
//! process, comparing text as Epicor's SQL Server does) and of SQLite over a copy of the
//! emulator's data with the SQL layer's declared semantics (text without trailing spaces,
//! compared byte for byte: see `common::oracle`). The two result sets are compared as
//! normalized text rows:
//!
//! - decimals at the scale our engine declares (`Decimal128(p, s)`), never through a float
//!   tolerance: a SQLite REAL that holds a stored value (≤ 15 significant digits, exact) is
//!   printed at that scale; a computed money sum is asked of SQLite as an exact INTEGER of units
//!   of the last place (`SUM(CAST(ROUND(x * 1000) AS INTEGER))`), which the comparison reads as
//!   the mantissa at our scale;
//! - dates as `YYYY-MM-DD` (our `Timestamp(µs, UTC)` at midnight; SQLite's TEXT);
//! - booleans as `true`/`false` (SQLite's 0/1);
//! - rows compared as sorted multisets unless the case's `ORDER BY` fully determines the order.
//!
//! SQLite sees views named as the entity sets (`Customers`, `SalesOrders`, ...) over the model's
//! tables (`Customer`, `OrderHed`, ...), restricted to the connection's company: the REST API
//! shows only that company's rows.
//!
//! A case must return rows unless it says it expects none (`.none()`): two empty answers agree
//! and prove nothing. Literals that name generated data (a customer, an amount, a date) are read
//! from the oracle's database, not written as constants.
//!
//! Where a case is fully pushed down (one table, every predicate translated exactly), the rows
//! the server sent must equal the rows returned; where a predicate is pushed as a superset
//! (text comparisons: the server ignores case), the server must still have narrowed the rows.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use epicor_kinetic::{Connection, Settings};
use epicor_kinetic_emulator::{EmulatorConfig, RunningEmulator};
use epicor_kinetic_sql::{SqlErrorKind, SqlSession};
use rusqlite::types::Value;

use crate::common;

/// The data set's size: order lines in all (three quarters in the connection's company).
const SCALE: u64 = 1500;

/// The emulator, a session on it, and its database.
struct Oracle {
    emu: RunningEmulator,
    session: SqlSession,
    sqlite: rusqlite::Connection,
    company: String,
}

impl Oracle {
    /// A fresh emulator and a session through the connection string `which` (`basic`: v1,
    /// `basic_v2`: v2 with an API key).
    async fn start(which: &str) -> Oracle {
        let emu = epicor_kinetic_emulator::spawn(
            EmulatorConfig {
                scale: SCALE,
                ..Default::default()
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap_or_else(|e| panic!("emulator: {e}"));
        let info = emu.startup_info();
        let company = info["company"].as_str().expect("company").to_owned();
        let text = info["connection_strings"][which]
            .as_str()
            .unwrap_or_else(|| panic!("no connection string {which}"))
            .to_owned();
        let conn = Connection::open(Settings::parse(&text).expect("settings"))
            .await
            .expect("connection");
        let session = SqlSession::new(conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let sqlite = common::oracle(&emu, &company);
        Oracle {
            emu,
            session,
            sqlite,
            company,
        }
    }

    /// Rows of a SQLite query, each value as SQLite gives it.
    fn sqlite_rows(&self, sql: &str) -> Result<Vec<Vec<Value>>, String> {
        let mut stmt = self
            .sqlite
            .prepare(sql)
            .map_err(|e| format!("SQLite: {e}"))?;
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .map_err(|e| format!("SQLite: {e}"))?
            .collect::<Result<Vec<Vec<Value>>, _>>()
            .map_err(|e| format!("SQLite: {e}"))?;
        Ok(rows)
    }

    /// One value from the oracle's data as literal text (see `common::literal`).
    fn literal(&self, sql: &str) -> String {
        common::literal(&self.sqlite, sql)
    }

    /// One number from SQLite.
    fn sqlite_count(&self, sql: &str) -> u64 {
        self.sqlite
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}")) as u64
    }

    /// Runs `case`; `Err` says how it went wrong.
    async fn check(&self, case: &Case) -> Result<usize, String> {
        self.session.transfer().reset();
        let result = self
            .session
            .query(&case.ours)
            .await
            .map_err(|e| format!("ours failed ({:?}): {e}", e.kind()))?;
        let schema = result.schema().clone();
        let batches = result
            .collect()
            .await
            .map_err(|e| format!("ours failed while running ({:?}): {e}", e.kind()))?;
        let transferred = self.session.transfer().rows();
        let types: Vec<DataType> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let ours = normalize_batches(&batches);
        let theirs = self.sqlite_rows(&case.sqlite)?;
        if theirs.is_empty() && !case.none {
            return Err(format!(
                "SQLite has no rows for this case ({} ours): an empty answer proves nothing; \
                 choose data that exists, or mark the case .none() if emptiness is its point",
                ours.len()
            ));
        }
        if let Some(row) = theirs.first() {
            if row.len() != types.len() {
                return Err(format!(
                    "ours has {} columns, SQLite {}",
                    types.len(),
                    row.len()
                ));
            }
        }
        let theirs: Vec<Vec<String>> = theirs
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&types)
                    .map(|(v, t)| normalize_sqlite(v, t))
                    .collect()
            })
            .collect();
        let (mut ours, mut theirs) = (ours, theirs);
        if !case.ordered {
            ours.sort();
            theirs.sort();
        }
        if ours != theirs {
            return Err(format!(
                "answers differ\n  ours   ({} rows): {}\n  SQLite ({} rows): {}{}",
                ours.len(),
                preview(&ours),
                theirs.len(),
                preview(&theirs),
                first_difference(&ours, &theirs)
            ));
        }
        let returned = ours.len() as u64;
        match case.transfer {
            Xfer::Any => {}
            Xfer::Equal => {
                if transferred != returned {
                    return Err(format!(
                        "fully pushed down, yet the server sent {transferred} rows for {returned} returned"
                    ));
                }
            }
            Xfer::Rows(n) => {
                if transferred != n {
                    return Err(format!("the server sent {transferred} rows, not {n}"));
                }
            }
            Xfer::Narrowed(set) => {
                let all = self.sqlite_count(&format!("SELECT count(*) FROM \"{set}\""));
                if transferred < returned || transferred >= all {
                    return Err(format!(
                        "the filter was to narrow the rows on the server: {transferred} sent, {returned} returned, {all} in {set}"
                    ));
                }
            }
        }
        if let Some(want) = &case.request_has {
            let requests = self
                .session
                .requests_of(&case.ours)
                .await
                .map_err(|e| format!("requests_of: {e}"))?;
            let decoded: Vec<String> = requests.iter().map(|r| decode(r)).collect();
            if !decoded.iter().any(|r| r.contains(want.as_str())) {
                return Err(format!("no request has {want:?}: {decoded:?}"));
            }
        }
        Ok(ours.len())
    }

    /// Runs every case; panics listing each that failed (all of them, not the first).
    async fn check_all(&self, cases: &[Case]) {
        let mut failed = Vec::new();
        for case in cases {
            match self.check(case).await {
                Ok(rows) => eprintln!("ok   {} ({rows} rows)", case.name),
                Err(e) => {
                    eprintln!("FAIL {}: {e}", case.name);
                    failed.push(format!(
                        "{}\n  ours:   {}\n  SQLite: {}\n  {e}",
                        case.name, case.ours, case.sqlite
                    ));
                }
            }
        }
        assert!(
            failed.is_empty(),
            "{} of {} cases failed:\n\n{}",
            failed.len(),
            cases.len(),
            failed.join("\n\n")
        );
    }

    /// The error of a statement that must fail.
    async fn error_of(&self, sql: &str) -> epicor_kinetic_sql::SqlError {
        common::error_of(&self.session, sql).await
    }
}

/// How the rows the server sent must compare with the rows returned.
#[derive(Debug, Clone, Copy)]
enum Xfer {
    /// Not asserted (joins, aggregates, local filters).
    Any,
    /// Fully pushed down: every row sent is a row returned.
    Equal,
    /// Pushed as a superset of the entity set named: the server sent fewer rows than the set
    /// has, and at least the rows returned.
    Narrowed(&'static str),
    /// Exactly this many rows sent (a `LIMIT` the server answered with `$top`).
    Rows(u64),
}

/// One question, in our SQL and in SQLite's.
#[derive(Debug, Clone)]
struct Case {
    name: &'static str,
    ours: String,
    sqlite: String,
    ordered: bool,
    transfer: Xfer,
    request_has: Option<String>,
    /// The answer is empty on purpose.
    none: bool,
}

fn case(name: &'static str, ours: impl Into<String>, sqlite: impl Into<String>) -> Case {
    Case {
        name,
        ours: ours.into(),
        sqlite: sqlite.into(),
        ordered: false,
        transfer: Xfer::Any,
        request_has: None,
        none: false,
    }
}

impl Case {
    /// The answer is empty on purpose (else an empty answer fails the case).
    fn none(mut self) -> Self {
        self.none = true;
        self
    }
    /// The query's ORDER BY fully determines the order: compare in order.
    fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }
    /// Fully pushed down: rows transferred equal rows returned.
    fn pushed(mut self) -> Self {
        self.transfer = Xfer::Equal;
        self
    }
    /// Pushed as a superset: the server narrows `set`'s rows.
    fn narrowed(mut self, set: &'static str) -> Self {
        self.transfer = Xfer::Narrowed(set);
        self
    }
    /// The server sends exactly `n` rows.
    fn sent(mut self, n: u64) -> Self {
        self.transfer = Xfer::Rows(n);
        self
    }
    /// The first request of some scan contains `text` (percent-decoded).
    fn request(mut self, text: impl Into<String>) -> Self {
        self.request_has = Some(text.into());
        self
    }
}

/// Our result as text rows.
fn normalize_batches(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<Vec<String>> = batch.columns().iter().map(|a| texts(a)).collect();
        for i in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c[i].clone()).collect());
        }
    }
    rows
}

/// Each value of an array as text.
fn texts(array: &dyn Array) -> Vec<String> {
    let n = array.len();
    let micros = |i: usize| -> i64 {
        match array.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => {
                array.as_primitive::<TimestampSecondType>().value(i) * 1_000_000
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                array.as_primitive::<TimestampMillisecondType>().value(i) * 1_000
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                array.as_primitive::<TimestampMicrosecondType>().value(i)
            }
            _ => array.as_primitive::<TimestampNanosecondType>().value(i) / 1_000,
        }
    };
    match array.data_type() {
        DataType::Timestamp(..) => (0..n)
            .map(|i| {
                if array.is_null(i) {
                    return "NULL".to_owned();
                }
                let t = chrono::DateTime::from_timestamp_micros(micros(i)).expect("in range");
                if t.timestamp_micros() % 86_400_000_000 == 0 {
                    t.format("%Y-%m-%d").to_string()
                } else {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                }
            })
            .collect(),
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        "NULL".to_owned()
                    } else {
                        float(a.value(i))
                    }
                })
                .collect()
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        "NULL".to_owned()
                    } else {
                        float(f64::from(a.value(i)))
                    }
                })
                .collect()
        }
        _ => {
            let options = FormatOptions::default().with_null("NULL");
            let f = ArrayFormatter::try_new(array, &options).expect("displayable");
            (0..n).map(|i| f.value(i).to_string()).collect()
        }
    }
}

/// Floats (averages of integers, ratios) to six decimals.
fn float(f: f64) -> String {
    format!("{f:.6}")
}

/// A SQLite value as text, read as the type our engine gave the column.
fn normalize_sqlite(v: &Value, ty: &DataType) -> String {
    match (v, ty) {
        (Value::Null, _) => "NULL".to_owned(),
        (Value::Integer(m), DataType::Decimal128(_, s)) => mantissa(i128::from(*m), *s),
        (Value::Real(f), DataType::Decimal128(_, s)) => {
            format!("{f:.prec$}", prec = usize::try_from(*s).unwrap_or(0))
        }
        (Value::Integer(i), DataType::Boolean) => (*i != 0).to_string(),
        (Value::Integer(i), DataType::Float64 | DataType::Float32) => float(*i as f64),
        (Value::Real(f), DataType::Float64 | DataType::Float32) => float(*f),
        (Value::Real(f), _) if f.fract() == 0.0 => format!("{}", *f as i64),
        (Value::Real(f), _) => f.to_string(),
        (Value::Integer(i), _) => i.to_string(),
        (Value::Text(t), _) => t.clone(),
        (Value::Blob(b), _) => format!("{b:?}"),
    }
}

/// An integer number of units of the last place as a decimal at `scale`: `123456, 3` is
/// `123.456`.
fn mantissa(m: i128, scale: i8) -> String {
    let scale = usize::try_from(scale).unwrap_or(0);
    let digits = m.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    let sign = if m < 0 { "-" } else { "" };
    if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

fn preview(rows: &[Vec<String>]) -> String {
    let shown: Vec<String> = rows.iter().take(5).map(|r| r.join(" | ")).collect();
    format!(
        "[{}]{}",
        shown.join("; "),
        if rows.len() > 5 { " ..." } else { "" }
    )
}

fn first_difference(ours: &[Vec<String>], theirs: &[Vec<String>]) -> String {
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if a != b {
            return format!("\n  first difference at row {i}: ours {a:?}, SQLite {b:?}");
        }
    }
    String::new()
}

/// A request address percent-decoded (`$filter=State eq 'MN'`), `+` as a space.
fn decode(url: &str) -> String {
    let mut out = Vec::new();
    let bytes = url.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every filter OData can answer, one table at a time: the server's rows are the answer.
#[tokio::test]
async fn pushable_filters() {
    let o = Oracle::start("basic").await;
    // An amount with cents (no double holds it exactly), and the same at the column's scale.
    let amount = o.literal(
        "SELECT DocExtPriceDtl FROM OrderDtls WHERE DocExtPriceDtl * 100 <> ROUND(DocExtPriceDtl * 10) * 10 ORDER BY OrderNum, OrderLine LIMIT 1 OFFSET 7",
    );
    let at_scale = o.literal(&format!("SELECT printf('%.3f', {amount})"));
    let zip = o.literal(
        "SELECT Zip FROM Customers WHERE Zip NOT GLOB '*[A-Za-z]*' ORDER BY CustNum LIMIT 1",
    );
    let day = o.literal(
        "SELECT substr(OrderDate, 1, 10) FROM SalesOrders ORDER BY OrderNum LIMIT 1 OFFSET 11",
    );
    o.check_all(&[
        case(
            "int =",
            "SELECT CustNum, CustID, Name FROM Customers WHERE CustNum = 7",
            "SELECT CustNum, CustID, Name FROM Customers WHERE CustNum = 7",
        )
        .pushed()
        .request("CustNum eq 7"),
        case(
            "int <>",
            "SELECT CustNum FROM Customers WHERE CustNum <> 5",
            "SELECT CustNum FROM Customers WHERE CustNum <> 5",
        )
        .pushed()
        .request("CustNum ne 5"),
        case(
            "decimal <",
            "SELECT CustNum, CreditLimit FROM Customers WHERE CreditLimit < 20000",
            "SELECT CustNum, CreditLimit FROM Customers WHERE CreditLimit < 20000",
        )
        .pushed()
        .request("CreditLimit lt 20000"),
        case(
            "decimal <= with a fraction",
            "SELECT OrderNum, OrderAmt FROM SalesOrders WHERE OrderAmt <= 25000.5",
            "SELECT OrderNum, OrderAmt FROM SalesOrders WHERE OrderAmt <= 25000.5",
        )
        .pushed(),
        case(
            "decimal > on lines",
            "SELECT OrderNum, OrderLine, DocExtPriceDtl FROM OrderDtls WHERE DocExtPriceDtl > 150000.25",
            "SELECT OrderNum, OrderLine, DocExtPriceDtl FROM OrderDtls WHERE DocExtPriceDtl > 150000.25",
        )
        .pushed()
        .request("DocExtPriceDtl gt 150000.25"),
        case(
            "decimal = a literal with a binary-inexact fraction (sent exactly)",
            format!("SELECT OrderNum, OrderLine FROM OrderDtls WHERE DocExtPriceDtl = {amount}"),
            format!("SELECT OrderNum, OrderLine FROM OrderDtls WHERE DocExtPriceDtl = {amount}"),
        )
        .pushed()
        .request(format!("DocExtPriceDtl eq {amount}")),
        case(
            "decimal between literals finer than the column's scale",
            format!("SELECT OrderNum, OrderLine FROM OrderDtls WHERE DocExtPriceDtl >= {at_scale}0 AND DocExtPriceDtl < {at_scale}1"),
            format!("SELECT OrderNum, OrderLine FROM OrderDtls WHERE DocExtPriceDtl >= {at_scale}0 AND DocExtPriceDtl < {at_scale}1"),
        )
        .pushed(),
        case(
            "int >=",
            "SELECT OrderNum, CustNum FROM SalesOrders WHERE OrderNum >= 5250",
            "SELECT OrderNum, CustNum FROM SalesOrders WHERE OrderNum >= 5250",
        )
        .pushed(),
        case(
            "IN of ints",
            "SELECT CustNum, Name FROM Customers WHERE CustNum IN (3, 14, 15, 92, 65)",
            "SELECT CustNum, Name FROM Customers WHERE CustNum IN (3, 14, 15, 92, 65)",
        )
        .pushed()
        .request("CustNum eq 3 or CustNum eq 14"),
        case(
            "NOT IN of ints (not nullable)",
            "SELECT CustNum FROM Customers WHERE CustNum NOT IN (1, 2, 3, 4, 5)",
            "SELECT CustNum FROM Customers WHERE CustNum NOT IN (1, 2, 3, 4, 5)",
        )
        .pushed(),
        case(
            "BETWEEN ints",
            "SELECT OrderNum, OrderLine, PartNum FROM OrderDtls WHERE OrderNum BETWEEN 5010 AND 5030",
            "SELECT OrderNum, OrderLine, PartNum FROM OrderDtls WHERE OrderNum BETWEEN 5010 AND 5030",
        )
        .pushed()
        .request("OrderNum ge 5010 and OrderNum le 5030"),
        case(
            "BETWEEN decimals",
            "SELECT PartNum, UnitPrice FROM Parts WHERE UnitPrice BETWEEN 100 AND 999.99",
            "SELECT PartNum, UnitPrice FROM Parts WHERE UnitPrice BETWEEN 100 AND 999.99",
        )
        .pushed(),
        case(
            "IS NULL",
            "SELECT CustNum, PhoneNum FROM Customers WHERE PhoneNum IS NULL",
            "SELECT CustNum, PhoneNum FROM Customers WHERE PhoneNum IS NULL",
        )
        .pushed()
        .request("PhoneNum eq null"),
        case(
            "IS NOT NULL",
            "SELECT CustNum, EMailAddress FROM Customers WHERE EMailAddress IS NOT NULL",
            "SELECT CustNum, EMailAddress FROM Customers WHERE EMailAddress IS NOT NULL",
        )
        .pushed()
        .request("EMailAddress ne null"),
        case(
            "AND",
            "SELECT OrderNum FROM SalesOrders WHERE CustNum > 10 AND CustNum < 20 AND OpenOrder = true",
            "SELECT OrderNum FROM SalesOrders WHERE CustNum > 10 AND CustNum < 20 AND OpenOrder = 1",
        )
        .pushed(),
        case(
            "OR",
            "SELECT CustNum FROM Customers WHERE CustNum < 5 OR CustNum > 55 OR CreditLimit = 0",
            "SELECT CustNum FROM Customers WHERE CustNum < 5 OR CustNum > 55 OR CreditLimit = 0",
        )
        .pushed(),
        case(
            "NOT over a non-nullable boolean",
            "SELECT CustNum FROM Customers WHERE NOT CreditHold",
            "SELECT CustNum FROM Customers WHERE NOT CreditHold",
        )
        .pushed(),
        case(
            "NOT BETWEEN",
            "SELECT CustNum FROM Customers WHERE CustNum NOT BETWEEN 5 AND 50",
            "SELECT CustNum FROM Customers WHERE CustNum NOT BETWEEN 5 AND 50",
        )
        .pushed(),
        case(
            "a boolean column as the predicate",
            "SELECT OrderNum FROM SalesOrders WHERE OpenOrder",
            "SELECT OrderNum FROM SalesOrders WHERE OpenOrder",
        )
        .pushed(),
        case(
            "EXTRACT(YEAR)",
            "SELECT OrderNum, OrderDate FROM SalesOrders WHERE EXTRACT(YEAR FROM OrderDate) = 2024",
            "SELECT OrderNum, OrderDate FROM SalesOrders WHERE strftime('%Y', OrderDate) = '2024'",
        )
        .pushed()
        .request("OrderDate ge 2024-01-01T00:00:00Z and OrderDate lt 2025-01-01T00:00:00Z"),
        case(
            "date_part month and day",
            "SELECT OrderNum FROM SalesOrders WHERE date_part('month', OrderDate) = 3 AND date_part('day', OrderDate) <= 10",
            "SELECT OrderNum FROM SalesOrders WHERE CAST(strftime('%m', OrderDate) AS INTEGER) = 3 AND CAST(strftime('%d', OrderDate) AS INTEGER) <= 10",
        )
        .pushed(),
        case(
            "length (a lower bound on the server: one that counts trailing spaces sees more)",
            "SELECT CustNum, Name FROM Customers WHERE length(Name) > 24",
            "SELECT CustNum, Name FROM Customers WHERE length(Name) > 24",
        )
        .narrowed("Customers")
        .request("length(Name) gt 24"),
        case(
            "= a date of the data",
            format!("SELECT OrderNum FROM SalesOrders WHERE OrderDate = DATE '{day}'"),
            format!("SELECT OrderNum FROM SalesOrders WHERE OrderDate = '{day}'"),
        )
        .pushed(),
        case(
            "date >= a date string",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= '2026-01-01'",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= '2026-01-01'",
        )
        .pushed(),
        case(
            "nullable date < a DATE literal (nulls are not less)",
            "SELECT OrderNum, NeedByDate FROM SalesOrders WHERE NeedByDate < DATE '2023-06-01'",
            "SELECT OrderNum, NeedByDate FROM SalesOrders WHERE NeedByDate < '2023-06-01'",
        )
        .pushed(),
        case(
            "text = with no letters: the server sends just those rows",
            format!("SELECT CustNum, Zip FROM Customers WHERE Zip = '{zip}'"),
            format!("SELECT CustNum, Zip FROM Customers WHERE Zip = '{zip}'"),
        )
        .pushed()
        .request(format!("Zip eq '{zip}' or startswith(Zip,'{zip} ')")),
        case(
            "text = (case: the server ignores it, we filter again)",
            "SELECT CustNum, Name FROM Customers WHERE State = 'MN'",
            "SELECT CustNum, Name FROM Customers WHERE State = 'MN'",
        )
        .narrowed("Customers")
        .request("State eq 'MN'"),
        case(
            "text = in the wrong case finds nothing (SQL compares bytes; the server sends MN)",
            "SELECT CustNum FROM Customers WHERE State = 'mn'",
            "SELECT CustNum FROM Customers WHERE State = 'mn'",
        )
        .none(),
        case(
            "ILIKE ignores case (pushed over tolower)",
            "SELECT CustNum, Name FROM Customers WHERE Name ILIKE '%MACHINE%'",
            "SELECT CustNum, Name FROM Customers WHERE lower(Name) LIKE '%machine%'",
        )
        .narrowed("Customers")
        .request("contains(tolower(Name),'machine')"),
        case(
            "ILIKE with a prefix and _",
            "SELECT CustNum, Name FROM Customers WHERE Name ILIKE 'g_anite%'",
            "SELECT CustNum, Name FROM Customers WHERE lower(Name) LIKE 'g_anite%'",
        )
        .narrowed("Customers")
        .request("startswith(tolower(Name),'g') and contains(tolower(Name),'anite')"),
        case(
            "LIKE prefix",
            "SELECT CustNum, Name FROM Customers WHERE Name LIKE 'Granite%'",
            "SELECT CustNum, Name FROM Customers WHERE Name LIKE 'Granite%'",
        )
        .narrowed("Customers")
        .request("startswith(Name,'Granite')"),
        case(
            "LIKE suffix",
            "SELECT CustNum, Name FROM Customers WHERE Name LIKE '%Inc'",
            "SELECT CustNum, Name FROM Customers WHERE Name LIKE '%Inc'",
        )
        .narrowed("Customers")
        .request("contains(Name,'Inc')"),
        case(
            "LIKE contains",
            "SELECT PartNum, PartDescription FROM Parts WHERE PartDescription LIKE '%Steel%'",
            "SELECT PartNum, PartDescription FROM Parts WHERE PartDescription LIKE '%Steel%'",
        )
        .narrowed("Parts")
        .request("contains(PartDescription,'Steel')"),
        case(
            "LIKE in the wrong case finds nothing",
            "SELECT CustNum FROM Customers WHERE Name LIKE 'summit%'",
            "SELECT CustNum FROM Customers WHERE Name LIKE 'summit%'",
        )
        .none(),
        case(
            "upper",
            "SELECT CustNum, City FROM Customers WHERE upper(City) = 'CHICAGO'",
            "SELECT CustNum, City FROM Customers WHERE upper(City) = 'CHICAGO'",
        )
        .narrowed("Customers"),
        case(
            "lower",
            "SELECT CustNum, City FROM Customers WHERE lower(City) = 'st. paul'",
            "SELECT CustNum, City FROM Customers WHERE lower(City) = 'st. paul'",
        )
        .narrowed("Customers"),
        case(
            "a CHAR-padded code compared trimmed",
            "SELECT CustNum, TermsCode FROM Customers WHERE TermsCode = 'N30'",
            "SELECT CustNum, TermsCode FROM Customers WHERE TermsCode = 'N30'",
        )
        .narrowed("Customers"),
        case(
            "CHAR-padded codes come back trimmed",
            "SELECT OrderNum, TermsCode, CurrencyCode FROM SalesOrders WHERE OrderNum < 5040",
            "SELECT OrderNum, TermsCode, CurrencyCode FROM SalesOrders WHERE OrderNum < 5040",
        )
        .pushed(),
    ])
    .await;
}

/// Filters OData cannot answer exactly (or at all): DataFusion filters, the answer is the same.
#[tokio::test]
async fn filters_kept_local() {
    let o = Oracle::start("basic").await;
    let one_unknown = o.literal(
        "SELECT substr(CustID, 1, 7) || '_' || substr(CustID, 9) FROM Customers ORDER BY CustNum LIMIT 1 OFFSET 19",
    );
    let digits =
        o.literal("SELECT substr(CustID, 6, 4) FROM Customers ORDER BY CustNum LIMIT 1 OFFSET 19");
    o.check_all(&[
        case(
            "LIKE with _ (its pieces pushed as a superset)",
            format!("SELECT CustNum, CustID FROM Customers WHERE CustID LIKE '{one_unknown}'"),
            format!("SELECT CustNum, CustID FROM Customers WHERE CustID LIKE '{one_unknown}'"),
        )
        .narrowed("Customers"),
        case(
            "NOT LIKE",
            "SELECT CustNum FROM Customers WHERE Name NOT LIKE '%Inc'",
            "SELECT CustNum FROM Customers WHERE Name NOT LIKE '%Inc'",
        ),
        case(
            "arithmetic on an int",
            "SELECT CustNum FROM Customers WHERE CustNum * 2 + 1 > 101",
            "SELECT CustNum FROM Customers WHERE CustNum * 2 + 1 > 101",
        ),
        case(
            "arithmetic on decimals, compared exactly (every line's amount is its quantity times its price)",
            "SELECT OrderNum, OrderLine FROM OrderDtls WHERE OrderQty * UnitPrice = DocExtPriceDtl",
            "SELECT OrderNum, OrderLine FROM OrderDtls WHERE CAST(ROUND(OrderQty * 100000) AS INTEGER) * CAST(ROUND(UnitPrice * 100000) AS INTEGER) = CAST(ROUND(DocExtPriceDtl * 1000) AS INTEGER) * 10000000",
        ),
        case(
            "text range",
            "SELECT CustNum, Name FROM Customers WHERE Name < 'Cedar'",
            "SELECT CustNum, Name FROM Customers WHERE Name < 'Cedar'",
        ),
        case(
            "text range on a code",
            "SELECT CustNum, State FROM Customers WHERE State >= 'NL' AND State <= 'OR'",
            "SELECT CustNum, State FROM Customers WHERE State >= 'NL' AND State <= 'OR'",
        ),
        case(
            "text <> with letters",
            "SELECT CustNum FROM Customers WHERE State <> 'MN'",
            "SELECT CustNum FROM Customers WHERE State <> 'MN'",
        ),
        case(
            "a function OData lacks (substr)",
            format!("SELECT CustNum, CustID FROM Customers WHERE substr(CustID, 6, 4) = '{digits}'"),
            format!("SELECT CustNum, CustID FROM Customers WHERE substr(CustID, 6, 4) = '{digits}'"),
        ),
        case(
            "a function OData lacks (concat)",
            "SELECT CustNum FROM Customers WHERE concat(City, ', ', State) = 'Chicago, IL'",
            "SELECT CustNum FROM Customers WHERE City || ', ' || State = 'Chicago, IL'",
        ),
        case(
            "two columns compared",
            "SELECT OrderNum FROM SalesOrders WHERE NeedByDate > RequestDate",
            "SELECT OrderNum FROM SalesOrders WHERE NeedByDate > RequestDate",
        ),
        case(
            "half pushed: a pushable and a local conjunct",
            "SELECT CustNum, Name FROM Customers WHERE CustNum < 30 AND Name LIKE 'G_anite%'",
            "SELECT CustNum, Name FROM Customers WHERE CustNum < 30 AND Name LIKE 'G_anite%'",
        )
        .narrowed("Customers")
        .request("CustNum lt 30"),
    ])
    .await;
}

/// NULLs: three-valued logic, counts, COALESCE, ordering.
#[tokio::test]
async fn null_handling() {
    let o = Oracle::start("basic").await;
    let po = o.literal(
        "SELECT PONum FROM SalesOrders WHERE PONum IS NOT NULL ORDER BY OrderNum LIMIT 1 OFFSET 3",
    );
    let phone = o.literal("SELECT PhoneNum FROM Customers WHERE PhoneNum IS NOT NULL ORDER BY CustNum LIMIT 1 OFFSET 3");
    let need_by = o.literal("SELECT NeedByDate FROM SalesOrders WHERE NeedByDate IS NOT NULL ORDER BY OrderNum LIMIT 1 OFFSET 3");
    o.check_all(&[
        case(
            "COUNT(column) skips nulls",
            "SELECT COUNT(*), COUNT(PhoneNum), COUNT(EMailAddress), COUNT(ResaleID) FROM Customers",
            "SELECT COUNT(*), COUNT(PhoneNum), COUNT(EMailAddress), COUNT(ResaleID) FROM Customers",
        ),
        case(
            "COALESCE",
            "SELECT CustNum, COALESCE(EMailAddress, 'none') FROM Customers",
            "SELECT CustNum, COALESCE(EMailAddress, 'none') FROM Customers",
        ),
        case(
            "<> over a nullable column keeps no nulls",
            format!("SELECT OrderNum FROM SalesOrders WHERE PONum <> '{po}'"),
            format!("SELECT OrderNum FROM SalesOrders WHERE PONum <> '{po}'"),
        ),
        case(
            "NOT over a nullable comparison keeps no nulls",
            format!("SELECT CustNum FROM Customers WHERE NOT (PhoneNum = '{phone}')"),
            format!("SELECT CustNum FROM Customers WHERE NOT (PhoneNum = '{phone}')"),
        ),
        case(
            "NOT IN over a nullable column keeps no nulls",
            format!("SELECT OrderNum FROM SalesOrders WHERE NeedByDate NOT IN (DATE '{need_by}', DATE '2025-02-01')"),
            format!("SELECT OrderNum FROM SalesOrders WHERE NeedByDate NOT IN ('{need_by}', '2025-02-01')"),
        ),
        case(
            "nullable date: > and IS NULL together",
            "SELECT OrderNum FROM SalesOrders WHERE NeedByDate > DATE '2025-06-30' OR NeedByDate IS NULL",
            "SELECT OrderNum FROM SalesOrders WHERE NeedByDate > '2025-06-30' OR NeedByDate IS NULL",
        )
        .pushed(),
        case(
            "ORDER BY a nullable column NULLS FIRST",
            "SELECT OrderNum, NeedByDate FROM SalesOrders ORDER BY NeedByDate NULLS FIRST, OrderNum LIMIT 40",
            "SELECT OrderNum, NeedByDate FROM SalesOrders ORDER BY NeedByDate NULLS FIRST, OrderNum LIMIT 40",
        )
        .ordered(),
        case(
            "ORDER BY a nullable column DESC NULLS LAST",
            "SELECT OrderNum, PONum FROM SalesOrders ORDER BY PONum DESC NULLS LAST, OrderNum LIMIT 300",
            "SELECT OrderNum, PONum FROM SalesOrders ORDER BY PONum DESC NULLS LAST, OrderNum LIMIT 300",
        )
        .ordered(),
        case(
            "GROUP BY a nullable column has a NULL group",
            "SELECT PhoneNum IS NULL, COUNT(*) FROM Customers GROUP BY PhoneNum IS NULL",
            "SELECT PhoneNum IS NULL, COUNT(*) FROM Customers GROUP BY PhoneNum IS NULL",
        ),
    ])
    .await;
}

/// Joins within a service and across services.
#[tokio::test]
async fn joins() {
    let o = Oracle::start("basic").await;
    o.check_all(&[
        case(
            "the flagship: sum of line amounts per Minnesota customer, to the cent",
            "SELECT c.Name, SUM(d.DocExtPriceDtl) FROM Customers c JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum WHERE c.State = 'MN' GROUP BY c.Name",
            "SELECT c.Name, SUM(CAST(ROUND(d.DocExtPriceDtl * 1000) AS INTEGER)) FROM Customers c JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum WHERE c.State = 'MN' GROUP BY c.Name",
        ),
        case(
            "orders per state (Customers × SalesOrders, two services)",
            "SELECT c.State, COUNT(*) FROM Customers c JOIN SalesOrders h ON h.Company = c.Company AND h.CustNum = c.CustNum GROUP BY c.State",
            "SELECT c.State, COUNT(*) FROM Customers c JOIN SalesOrders h ON h.Company = c.Company AND h.CustNum = c.CustNum GROUP BY c.State",
        ),
        case(
            "lines agree with their header's amount (SalesOrders × OrderDtls)",
            "SELECT h.OrderNum, h.OrderAmt, SUM(d.DocExtPriceDtl) FROM SalesOrders h JOIN OrderDtls d ON d.Company = h.Company AND d.OrderNum = h.OrderNum WHERE h.OrderNum < 5060 GROUP BY h.OrderNum, h.OrderAmt",
            "SELECT h.OrderNum, h.OrderAmt, SUM(CAST(ROUND(d.DocExtPriceDtl * 1000) AS INTEGER)) FROM SalesOrders h JOIN OrderDtls d ON d.Company = h.Company AND d.OrderNum = h.OrderNum WHERE h.OrderNum < 5060 GROUP BY h.OrderNum, h.OrderAmt",
        ),
        case(
            "revenue per part class (Parts × OrderDtls, two services)",
            "SELECT p.ClassID, COUNT(*), SUM(d.DocExtPriceDtl), SUM(d.OrderQty) FROM Parts p JOIN OrderDtls d ON d.Company = p.Company AND d.PartNum = p.PartNum GROUP BY p.ClassID",
            "SELECT p.ClassID, COUNT(*), SUM(CAST(ROUND(d.DocExtPriceDtl * 1000) AS INTEGER)), SUM(CAST(ROUND(d.OrderQty * 100000000) AS INTEGER)) FROM Parts p JOIN OrderDtls d ON d.Company = p.Company AND d.PartNum = p.PartNum GROUP BY p.ClassID",
        ),
        case(
            "three tables: customers × orders × lines, filtered on each",
            "SELECT c.CustID, h.OrderNum, d.OrderLine, d.PartNum FROM Customers c JOIN SalesOrders h ON h.Company = c.Company AND h.CustNum = c.CustNum JOIN OrderDtls d ON d.Company = h.Company AND d.OrderNum = h.OrderNum WHERE c.State IN ('TX', 'CO') AND h.OpenOrder AND d.OrderQty >= 50",
            "SELECT c.CustID, h.OrderNum, d.OrderLine, d.PartNum FROM Customers c JOIN SalesOrders h ON h.Company = c.Company AND h.CustNum = c.CustNum JOIN OrderDtls d ON d.Company = h.Company AND d.OrderNum = h.OrderNum WHERE c.State IN ('TX', 'CO') AND h.OpenOrder AND d.OrderQty >= 50",
        ),
        case(
            "LEFT JOIN: customers without orders",
            "SELECT c.CustNum FROM Customers c LEFT JOIN SalesOrders h ON h.Company = c.Company AND h.CustNum = c.CustNum WHERE h.OrderNum IS NULL",
            "SELECT c.CustNum FROM Customers c LEFT JOIN SalesOrders h ON h.Company = c.Company AND h.CustNum = c.CustNum WHERE h.OrderNum IS NULL",
        ),
        case(
            "ship-tos per customer (same service), qualified by service names",
            "SELECT c.CustNum, COUNT(s.ShipToNum) FROM CustomerSvc.Customers c LEFT JOIN \"Erp.BO.CustomerSvc\".ShipTos s ON s.Company = c.Company AND s.CustNum = c.CustNum GROUP BY c.CustNum",
            "SELECT c.CustNum, COUNT(s.ShipToNum) FROM Customers c LEFT JOIN ShipTos s ON s.Company = c.Company AND s.CustNum = c.CustNum GROUP BY c.CustNum",
        ),
        case(
            "a join on a non-key text column across services (Vendors × Customers)",
            "SELECT v.VendorID, c.CustID FROM Vendors v JOIN Customers c ON c.State = v.State WHERE v.VendorNum <= 5",
            "SELECT v.VendorID, c.CustID FROM Vendors v JOIN Customers c ON c.State = v.State WHERE v.VendorNum <= 5",
        ),
        case(
            "IN (subquery)",
            "SELECT CustNum, Name FROM Customers WHERE CustNum IN (SELECT CustNum FROM SalesOrders WHERE OrderAmt > 400000)",
            "SELECT CustNum, Name FROM Customers WHERE CustNum IN (SELECT CustNum FROM SalesOrders WHERE OrderAmt > 400000)",
        ),
        case(
            "NOT EXISTS",
            "SELECT p.PartNum FROM Parts p WHERE NOT EXISTS (SELECT 1 FROM OrderDtls d WHERE d.PartNum = p.PartNum AND d.OrderNum < 5100)",
            "SELECT p.PartNum FROM Parts p WHERE NOT EXISTS (SELECT 1 FROM OrderDtls d WHERE d.PartNum = p.PartNum AND d.OrderNum < 5100)",
        ),
        case(
            "releases sum to their line's quantity (OrderDtls × OrderRels)",
            "SELECT COUNT(*) FROM (SELECT d.OrderNum, d.OrderLine FROM OrderDtls d JOIN OrderRels r ON r.Company = d.Company AND r.OrderNum = d.OrderNum AND r.OrderLine = d.OrderLine GROUP BY d.OrderNum, d.OrderLine, d.OrderQty HAVING SUM(r.OurReqQty) <> d.OrderQty)",
            "SELECT COUNT(*) FROM (SELECT d.OrderNum, d.OrderLine FROM OrderDtls d JOIN OrderRels r ON r.Company = d.Company AND r.OrderNum = d.OrderNum AND r.OrderLine = d.OrderLine GROUP BY d.OrderNum, d.OrderLine, d.OrderQty HAVING SUM(r.OurReqQty) <> d.OrderQty)",
        ),
    ])
    .await;
}

/// Aggregates: decimal sums exact to the cent, averages, extremes, groups.
#[tokio::test]
async fn aggregates() {
    let o = Oracle::start("basic").await;
    o.check_all(&[
        case(
            "COUNT(*) is the server's $count: no row read",
            "SELECT COUNT(*) FROM OrderDtls",
            "SELECT COUNT(*) FROM OrderDtls",
        )
        .sent(0)
        .request("OrderDtls/$count"),
        case(
            "COUNT(*) with an exact WHERE is a $count with its filter",
            "SELECT COUNT(*) AS n FROM OrderDtls WHERE OrderNum > 5100 AND OpenLine",
            "SELECT COUNT(*) FROM OrderDtls WHERE OrderNum > 5100 AND OpenLine",
        )
        .sent(0)
        .request("$count?$filter=OrderNum gt 5100 and OpenLine eq true"),
        case(
            "COUNT(*) with a text WHERE reads the rows (the server's count could differ)",
            "SELECT COUNT(*) FROM Customers WHERE State = 'MN'",
            "SELECT COUNT(*) FROM Customers WHERE State = 'MN'",
        )
        .narrowed("Customers"),
        case(
            "SUM of every line amount, to the cent",
            "SELECT SUM(DocExtPriceDtl) FROM OrderDtls",
            "SELECT SUM(CAST(ROUND(DocExtPriceDtl * 1000) AS INTEGER)) FROM OrderDtls",
        ),
        case(
            "SUM of quantities at scale 8",
            "SELECT SUM(OrderQty), SUM(UnitPrice) FROM OrderDtls",
            "SELECT SUM(CAST(ROUND(OrderQty * 100000000) AS INTEGER)), SUM(CAST(ROUND(UnitPrice * 100000) AS INTEGER)) FROM OrderDtls",
        ),
        case(
            "SUM per padded code (GROUP BY TermsCode, CurrencyCode)",
            "SELECT TermsCode, CurrencyCode, COUNT(*), SUM(OrderAmt) FROM SalesOrders GROUP BY TermsCode, CurrencyCode",
            "SELECT TermsCode, CurrencyCode, COUNT(*), SUM(CAST(ROUND(OrderAmt * 1000) AS INTEGER)) FROM SalesOrders GROUP BY TermsCode, CurrencyCode",
        ),
        case(
            "AVG of a decimal (exact, at scale + 4, truncated as DataFusion divides decimals)",
            "SELECT State, AVG(CreditLimit) FROM Customers GROUP BY State",
            "SELECT State, SUM(CAST(ROUND(CreditLimit * 1000) AS INTEGER)) * 10000 / COUNT(*) FROM Customers GROUP BY State",
        ),
        case(
            "AVG of an int",
            "SELECT AVG(CustNum) FROM SalesOrders",
            "SELECT AVG(CustNum) FROM SalesOrders",
        ),
        case(
            "MIN / MAX of decimals and dates",
            "SELECT MIN(UnitPrice), MAX(UnitPrice), MIN(RequestDate), MAX(RequestDate) FROM OrderDtls",
            "SELECT MIN(UnitPrice), MAX(UnitPrice), MIN(RequestDate), MAX(RequestDate) FROM OrderDtls",
        ),
        case(
            "GROUP BY with HAVING",
            "SELECT CustNum, COUNT(*), SUM(OrderAmt) FROM SalesOrders GROUP BY CustNum HAVING COUNT(*) >= 6",
            "SELECT CustNum, COUNT(*), SUM(CAST(ROUND(OrderAmt * 1000) AS INTEGER)) FROM SalesOrders GROUP BY CustNum HAVING COUNT(*) >= 6",
        ),
        case(
            "COUNT(DISTINCT)",
            "SELECT COUNT(DISTINCT PartNum), COUNT(DISTINCT OrderNum) FROM OrderDtls",
            "SELECT COUNT(DISTINCT PartNum), COUNT(DISTINCT OrderNum) FROM OrderDtls",
        ),
        case(
            "GROUP BY year and month of a date",
            "SELECT EXTRACT(YEAR FROM OrderDate), EXTRACT(MONTH FROM OrderDate), COUNT(*), SUM(OrderAmt) FROM SalesOrders GROUP BY 1, 2",
            "SELECT CAST(strftime('%Y', OrderDate) AS INTEGER), CAST(strftime('%m', OrderDate) AS INTEGER), COUNT(*), SUM(CAST(ROUND(OrderAmt * 1000) AS INTEGER)) FROM SalesOrders GROUP BY 1, 2",
        ),
        case(
            "filtered aggregate of a pushed filter",
            "SELECT COUNT(*), SUM(CreditLimit) FROM Customers WHERE CreditHold = false AND CreditLimit >= 50000",
            "SELECT COUNT(*), SUM(CAST(ROUND(CreditLimit * 1000) AS INTEGER)) FROM Customers WHERE CreditHold = 0 AND CreditLimit >= 50000",
        ),
        case(
            "booleans aggregated",
            "SELECT OpenLine, COUNT(*) FROM OrderDtls GROUP BY OpenLine",
            "SELECT OpenLine, COUNT(*) FROM OrderDtls GROUP BY OpenLine",
        ),
    ])
    .await;
}

/// Window functions.
#[tokio::test]
async fn window_functions() {
    let o = Oracle::start("basic").await;
    o.check_all(&[
        case(
            "ROW_NUMBER per state",
            "SELECT CustNum, State, ROW_NUMBER() OVER (PARTITION BY State ORDER BY CustNum) FROM Customers",
            "SELECT CustNum, State, ROW_NUMBER() OVER (PARTITION BY State ORDER BY CustNum) FROM Customers",
        ),
        case(
            "RANK by credit limit (ties)",
            "SELECT CustNum, CreditLimit, RANK() OVER (ORDER BY CreditLimit DESC) FROM Customers",
            "SELECT CustNum, CreditLimit, RANK() OVER (ORDER BY CreditLimit DESC) FROM Customers",
        ),
        case(
            "SUM OVER PARTITION (order totals on each line), to the cent",
            "SELECT OrderNum, OrderLine, SUM(DocExtPriceDtl) OVER (PARTITION BY OrderNum) FROM OrderDtls WHERE OrderNum < 5100",
            "SELECT OrderNum, OrderLine, SUM(CAST(ROUND(DocExtPriceDtl * 1000) AS INTEGER)) OVER (PARTITION BY OrderNum) FROM OrderDtls WHERE OrderNum < 5100",
        ),
        case(
            "running total by line",
            "SELECT OrderNum, OrderLine, SUM(DocExtPriceDtl) OVER (PARTITION BY OrderNum ORDER BY OrderLine ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM OrderDtls WHERE OrderNum BETWEEN 5100 AND 5150",
            "SELECT OrderNum, OrderLine, SUM(CAST(ROUND(DocExtPriceDtl * 1000) AS INTEGER)) OVER (PARTITION BY OrderNum ORDER BY OrderLine ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM OrderDtls WHERE OrderNum BETWEEN 5100 AND 5150",
        ),
        case(
            "LAG of the previous order's date per customer",
            "SELECT OrderNum, LAG(OrderDate) OVER (PARTITION BY CustNum ORDER BY OrderDate, OrderNum) FROM SalesOrders",
            "SELECT OrderNum, LAG(OrderDate) OVER (PARTITION BY CustNum ORDER BY OrderDate, OrderNum) FROM SalesOrders",
        ),
        case(
            "top line per order by amount (ROW_NUMBER in a subquery)",
            "SELECT OrderNum, OrderLine FROM (SELECT OrderNum, OrderLine, ROW_NUMBER() OVER (PARTITION BY OrderNum ORDER BY DocExtPriceDtl DESC, OrderLine) AS n FROM OrderDtls) WHERE n = 1",
            "SELECT OrderNum, OrderLine FROM (SELECT OrderNum, OrderLine, ROW_NUMBER() OVER (PARTITION BY OrderNum ORDER BY DocExtPriceDtl DESC, OrderLine) AS n FROM OrderDtls) WHERE n = 1",
        ),
    ])
    .await;
}

/// ORDER BY, LIMIT and OFFSET.
#[tokio::test]
async fn order_limit_offset() {
    let o = Oracle::start("basic").await;
    o.check_all(&[
        case(
            "ORDER BY a key DESC LIMIT (pushed: $orderby and $top)",
            "SELECT CustNum, Name FROM Customers ORDER BY CustNum DESC LIMIT 10",
            "SELECT CustNum, Name FROM Customers ORDER BY CustNum DESC LIMIT 10",
        )
        .ordered()
        .sent(10)
        .request("$orderby=CustNum desc"),
        case(
            "ORDER BY a decimal with a filter, LIMIT (pushed)",
            "SELECT OrderNum, OrderAmt FROM SalesOrders WHERE OpenOrder ORDER BY OrderAmt DESC, OrderNum LIMIT 5",
            "SELECT OrderNum, OrderAmt FROM SalesOrders WHERE OpenOrder ORDER BY OrderAmt DESC, OrderNum LIMIT 5",
        )
        .ordered()
        .sent(5),
        case(
            "ORDER BY text then int, LIMIT OFFSET",
            "SELECT Name, CustNum FROM Customers ORDER BY Name, CustNum LIMIT 10 OFFSET 5",
            "SELECT Name, CustNum FROM Customers ORDER BY Name, CustNum LIMIT 10 OFFSET 5",
        )
        .ordered(),
        case(
            "ORDER BY a decimal DESC with a tie-breaker",
            "SELECT OrderNum, OrderAmt FROM SalesOrders ORDER BY OrderAmt DESC, OrderNum LIMIT 7",
            "SELECT OrderNum, OrderAmt FROM SalesOrders ORDER BY OrderAmt DESC, OrderNum LIMIT 7",
        )
        .ordered(),
        case(
            "ORDER BY an aggregate",
            "SELECT PartNum, SUM(DocExtPriceDtl) AS revenue FROM OrderDtls GROUP BY PartNum ORDER BY revenue DESC, PartNum LIMIT 10",
            "SELECT PartNum, SUM(CAST(ROUND(DocExtPriceDtl * 1000) AS INTEGER)) AS revenue FROM OrderDtls GROUP BY PartNum ORDER BY revenue DESC, PartNum LIMIT 10",
        )
        .ordered(),
        case(
            "LIMIT over an exact filter is the server's $top",
            "SELECT COUNT(*) FROM (SELECT CustNum FROM Customers WHERE CreditHold = false LIMIT 5)",
            "SELECT COUNT(*) FROM (SELECT 1 FROM Customers WHERE CreditHold = 0 LIMIT 5)",
        )
        .sent(5)
        .request("$top=5"),
        case(
            "OFFSET past the end",
            "SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 10 OFFSET 1000",
            "SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 10 OFFSET 1000",
        )
        .ordered()
        .none(),
        case(
            "LIMIT OFFSET without ORDER BY returns LIMIT rows (the OFFSET is not dropped)",
            "SELECT COUNT(*) FROM (SELECT CustID FROM Customers LIMIT 2 OFFSET 5)",
            "SELECT COUNT(*) FROM (SELECT CustID FROM Customers LIMIT 2 OFFSET 5)",
        )
        .sent(2)
        .request("$top=2&$skip=5"),
        case(
            "LIMIT OFFSET over an exact filter, ordered by the key: $skip and $top",
            "SELECT CustNum, CustID FROM Customers WHERE CustNum > 3 ORDER BY CustNum LIMIT 2 OFFSET 5",
            "SELECT CustNum, CustID FROM Customers WHERE CustNum > 3 ORDER BY CustNum LIMIT 2 OFFSET 5",
        )
        .ordered()
        .sent(2)
        .request("$skip=5"),
        case(
            "LIMIT OFFSET over a text filter: the OFFSET stays here",
            "SELECT CustNum FROM Customers WHERE State = 'MN' ORDER BY CustNum LIMIT 2 OFFSET 1",
            "SELECT CustNum FROM Customers WHERE State = 'MN' ORDER BY CustNum LIMIT 2 OFFSET 1",
        )
        .ordered(),
        case(
            "OFFSET alone",
            "SELECT CustNum FROM Customers ORDER BY CustNum OFFSET 3",
            "SELECT CustNum FROM Customers ORDER BY CustNum LIMIT -1 OFFSET 3",
        )
        .ordered(),
    ])
    .await;
}

/// Dates and time zones: the emulator's dates are midnight UTC.
#[tokio::test]
async fn dates_and_time_zones() {
    let o = Oracle::start("basic").await;
    let day = o.literal(
        "SELECT substr(OrderDate, 1, 10) FROM SalesOrders ORDER BY OrderNum LIMIT 1 OFFSET 23",
    );
    o.check_all(&[
        case(
            "= a DATE literal",
            format!("SELECT OrderNum FROM SalesOrders WHERE OrderDate = DATE '{day}'"),
            format!("SELECT OrderNum FROM SalesOrders WHERE OrderDate = '{day}'"),
        )
        .pushed(),
        case(
            "a timestamp with an offset east of UTC",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= TIMESTAMP '2025-01-01T00:00:00+02:00' AND OrderDate < TIMESTAMP '2025-02-01T00:00:00+02:00'",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= '2025-01-01' AND OrderDate < '2025-02-01'",
        )
        .pushed()
        .request("OrderDate ge 2024-12-31T22:00:00Z"),
        case(
            "a timestamp with an offset west of UTC excludes that midnight",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= TIMESTAMP '2025-01-01T00:00:00-05:00' AND OrderDate <= TIMESTAMP '2025-01-31T00:00:00Z'",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= '2025-01-02' AND OrderDate <= '2025-01-31'",
        )
        .pushed()
        .request("OrderDate ge 2025-01-01T05:00:00Z"),
        case(
            "a date plus an interval compared with a date",
            "SELECT OrderNum FROM SalesOrders WHERE RequestDate > OrderDate + INTERVAL '45 days'",
            "SELECT OrderNum FROM SalesOrders WHERE julianday(RequestDate) - julianday(OrderDate) > 45",
        ),
        case(
            "days between two dates as a difference of timestamps (DataFusion 55 alone: never true)",
            "SELECT OrderNum FROM SalesOrders WHERE (RequestDate - OrderDate) > INTERVAL '45 days'",
            "SELECT OrderNum FROM SalesOrders WHERE julianday(RequestDate) - julianday(OrderDate) > 45",
        ),
        case(
            "a difference of timestamps against days and hours, either way round",
            "SELECT OrderNum FROM SalesOrders WHERE INTERVAL '30 days 12 hours' <= RequestDate - OrderDate",
            "SELECT OrderNum FROM SalesOrders WHERE julianday(RequestDate) - julianday(OrderDate) >= 30.5",
        ),
        case(
            "a difference of timestamps in the answer, compared in a CASE",
            "SELECT OrderNum, CASE WHEN RequestDate - OrderDate >= INTERVAL '60 days' THEN 'late' ELSE 'ok' END FROM SalesOrders",
            "SELECT OrderNum, CASE WHEN julianday(RequestDate) - julianday(OrderDate) >= 60 THEN 'late' ELSE 'ok' END FROM SalesOrders",
        ),
        case(
            "date_trunc to months",
            "SELECT date_trunc('month', OrderDate), COUNT(*) FROM SalesOrders WHERE OrderDate >= '2025-01-01' GROUP BY 1",
            "SELECT strftime('%Y-%m-01', OrderDate), COUNT(*) FROM SalesOrders WHERE OrderDate >= '2025-01-01' GROUP BY 1",
        ),
        case(
            "CAST to DATE",
            "SELECT OrderNum, CAST(OrderDate AS DATE) FROM SalesOrders WHERE OrderNum < 5020",
            "SELECT OrderNum, OrderDate FROM SalesOrders WHERE OrderNum < 5020",
        ),
        case(
            "the date of an estimate in another zone (midnight UTC is the previous day in Chicago)",
            "SELECT CustNum, EXTRACT(DAY FROM EstDate AT TIME ZONE 'America/Chicago') FROM Customers WHERE CustNum <= 10",
            "SELECT CustNum, CAST(strftime('%d', EstDate, '-1 day') AS INTEGER) FROM Customers WHERE CustNum <= 10",
        ),
    ])
    .await;
}

/// BAQs, with and without parameters, against the BAQ's own SQL run on SQLite.
#[tokio::test]
async fn baqs() {
    let o = Oracle::start("basic").await;
    let baq = |id: &str, params: &[(&str, &str)]| -> String {
        let b = epicor_kinetic_emulator::erp::baq::baq(id).expect("a BAQ of the emulator");
        let mut sql = b.sql.replace("{company}", &format!("'{}'", o.company));
        for (name, value) in params {
            sql = sql.replace(&format!("{{{name}}}"), value);
        }
        sql
    };
    // Customers that have orders, from the data.
    let with_orders = |n: usize| {
        o.literal(&format!(
            "SELECT c.CustID FROM Customers c WHERE EXISTS (SELECT 1 FROM SalesOrders h WHERE h.CustNum = c.CustNum) ORDER BY c.CustNum LIMIT 1 OFFSET {n}"
        ))
    };
    let (first, second) = (with_orders(19), with_orders(14));
    o.check_all(&[
        case(
            "a BAQ without parameters",
            "SELECT * FROM BaqSvc.zCustomerList",
            baq("zCustomerList", &[]),
        ),
        case(
            "COUNT(*) of a BAQ is the server's inline count",
            "SELECT COUNT(*) FROM BaqSvc.zCustomerList",
            format!("SELECT COUNT(*) FROM ({})", baq("zCustomerList", &[])),
        )
        .sent(0),
        case(
            "a BAQ with a filter on top",
            "SELECT Customer_CustID, Customer_CreditLimit FROM BaqSvc.zCustomerList WHERE Customer_CreditLimit >= 75000",
            format!(
                "SELECT Customer_CustID, Customer_CreditLimit FROM ({}) WHERE Customer_CreditLimit >= 75000",
                baq("zCustomerList", &[])
            ),
        ),
        case(
            "a BAQ with a positional parameter",
            format!("SELECT * FROM BaqSvc.zOrdersByCustomer('{first}')"),
            baq("zOrdersByCustomer", &[("CustID", &format!("'{first}'"))]),
        ),
        case(
            "a BAQ with a named parameter, aggregated",
            format!("SELECT COUNT(*), SUM(Calculated_LineCount), SUM(Calculated_OrderTotal) FROM BaqSvc.zOrdersByCustomer(CustID => '{second}')"),
            format!(
                "SELECT COUNT(*), SUM(Calculated_LineCount), SUM(CAST(ROUND(Calculated_OrderTotal * 1000) AS INTEGER)) FROM ({})",
                baq("zOrdersByCustomer", &[("CustID", &format!("'{second}'"))])
            ),
        ),
        case(
            "a BAQ with a decimal parameter",
            "SELECT Part_PartNum, Calculated_Lines, Calculated_QtySold, Calculated_Revenue FROM BaqSvc.zPartSales(MinQty => 100)",
            format!(
                "SELECT Part_PartNum, Calculated_Lines, CAST(ROUND(Calculated_QtySold * 100000000) AS INTEGER), CAST(ROUND(Calculated_Revenue * 1000) AS INTEGER) FROM ({})",
                baq("zPartSales", &[("MinQty", "100")])
            ),
        ),
        case(
            "a BAQ joined with an entity set",
            "SELECT b.Customer_CustID, COUNT(h.OrderNum) FROM BaqSvc.zCustomerList b JOIN SalesOrders h ON h.CustNum = b.Customer_CustNum WHERE b.Customer_State = 'MI' GROUP BY b.Customer_CustID",
            format!(
                "SELECT b.Customer_CustID, COUNT(h.OrderNum) FROM ({}) b JOIN SalesOrders h ON h.CustNum = b.Customer_CustNum WHERE b.Customer_State = 'MI' GROUP BY b.Customer_CustID",
                baq("zCustomerList", &[])
            ),
        ),
    ])
    .await;
}

/// The same questions through API v2 (OData v4 JSON, an API key): a subset of each kind.
#[tokio::test]
async fn a_subset_on_api_v2() {
    let o = Oracle::start("basic_v2").await;
    let customer = o.literal(
        "SELECT c.CustID FROM Customers c WHERE EXISTS (SELECT 1 FROM SalesOrders h WHERE h.CustNum = c.CustNum) ORDER BY c.CustNum LIMIT 1 OFFSET 19",
    );
    o.check_all(&[
        case(
            "v2: the flagship",
            "SELECT c.Name, SUM(d.DocExtPriceDtl) FROM Customers c JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum WHERE c.State = 'MN' GROUP BY c.Name",
            "SELECT c.Name, SUM(CAST(ROUND(d.DocExtPriceDtl * 1000) AS INTEGER)) FROM Customers c JOIN OrderDtls d ON d.Company = c.Company AND d.CustNum = c.CustNum WHERE c.State = 'MN' GROUP BY c.Name",
        ),
        case(
            "v2: IS NULL",
            "SELECT OrderNum, PONum FROM SalesOrders WHERE PONum IS NULL",
            "SELECT OrderNum, PONum FROM SalesOrders WHERE PONum IS NULL",
        )
        .pushed(),
        case(
            "v2: dates and decimals read back",
            "SELECT OrderNum, OrderDate, NeedByDate, OrderAmt, OpenOrder, TermsCode FROM SalesOrders WHERE OrderNum BETWEEN 5100 AND 5140",
            "SELECT OrderNum, OrderDate, NeedByDate, OrderAmt, OpenOrder, TermsCode FROM SalesOrders WHERE OrderNum BETWEEN 5100 AND 5140",
        )
        .pushed(),
        case(
            "v2: a timestamp with an offset",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= TIMESTAMP '2025-01-01T00:00:00-05:00' AND OrderDate <= TIMESTAMP '2025-01-31T00:00:00Z'",
            "SELECT OrderNum FROM SalesOrders WHERE OrderDate >= '2025-01-02' AND OrderDate <= '2025-01-31'",
        )
        .pushed(),
        case(
            "v2: LIKE contains",
            "SELECT PartNum FROM Parts WHERE PartDescription LIKE '%Brass%'",
            "SELECT PartNum FROM Parts WHERE PartDescription LIKE '%Brass%'",
        )
        .narrowed("Parts"),
        case(
            "v2: sums to the cent",
            "SELECT SUM(DocExtPriceDtl), SUM(OrderQty), COUNT(*) FROM OrderDtls",
            "SELECT SUM(CAST(ROUND(DocExtPriceDtl * 1000) AS INTEGER)), SUM(CAST(ROUND(OrderQty * 100000000) AS INTEGER)), COUNT(*) FROM OrderDtls",
        ),
        case(
            "v2: a window",
            "SELECT CustNum, RANK() OVER (ORDER BY CreditLimit DESC) FROM Customers",
            "SELECT CustNum, RANK() OVER (ORDER BY CreditLimit DESC) FROM Customers",
        ),
        case(
            "v2: a BAQ with a parameter",
            format!("SELECT OrderHed_OrderNum, Calculated_OrderTotal FROM BaqSvc.zOrdersByCustomer('{customer}')"),
            format!("SELECT h.OrderNum, h.OrderAmt FROM SalesOrders h JOIN Customers c ON c.Company = h.Company AND c.CustNum = h.CustNum WHERE c.CustID = '{customer}'"),
        ),
        case(
            "v2: LIMIT OFFSET ordered by the key",
            "SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 2 OFFSET 5",
            "SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 2 OFFSET 5",
        )
        .ordered()
        .sent(2),
        case(
            "v2: COUNT(*) is a $count",
            "SELECT COUNT(*) FROM OrderDtls WHERE OpenLine",
            "SELECT COUNT(*) FROM OrderDtls WHERE OpenLine",
        )
        .sent(0),
    ])
    .await;
}

/// Bad SQL: the statement's fault, said clearly.
#[tokio::test]
async fn bad_sql_is_invalid_and_names_the_culprit() {
    let o = Oracle::start("basic").await;
    for (sql, names) in [
        ("SELEC CustNum FROM Customers", "SELEC"),
        ("SELECT CustNum FROM Customers WHERE", "EOF"),
        ("SELECT * FROM Customerz", "Customerz"),
        ("SELECT * FROM CustomerSvc.Customerz", "Customerz"),
        ("SELECT * FROM NoSuchSvc.Customers", "NoSuchSvc"),
        ("SELECT CustNumber FROM Customers", "CustNumber"),
        ("SELECT c.Nam FROM Customers c", "Nam"),
        ("SELECT CustNum FROM Customers WHERE CustNum = 'abc'", "abc"),
        ("SELECT * FROM BaqSvc.zNoSuchBaq", "zNoSuchBaq"),
        (
            "SELECT * FROM BaqSvc.zOrdersByCustomer(Nope => 'x')",
            "CustID",
        ),
    ] {
        let e = o.error_of(sql).await;
        assert_eq!(
            e.kind(),
            SqlErrorKind::Invalid,
            "{sql}: {e} ({:?})",
            e.kind()
        );
        assert!(
            e.to_string().contains(names),
            "{sql}: {e} does not name {names}"
        );
    }
    // An unqualified name that more than one service has: the emulator has none (OrderDtls
    // is SalesOrderSvc's only), so a name every service shares can only be a column.
    let e = o
        .error_of("SELECT CustNum FROM Customers, SalesOrders")
        .await;
    assert_eq!(e.kind(), SqlErrorKind::Invalid, "{e}");
    assert!(e.to_string().contains("CustNum"), "{e}");
    drop(o.emu);
}

/// An unknown named BAQ parameter is the statement's fault, named, before any request.
#[tokio::test]
async fn an_unknown_baq_parameter_is_invalid() {
    let o = Oracle::start("basic").await;
    let sql = "SELECT * FROM BaqSvc.zOrdersByCustomer(CustID => 'ATLAS0020', Nope => 'x')";
    let e = o.error_of(sql).await;
    assert_eq!(e.kind(), SqlErrorKind::Invalid, "{sql}: {e}");
    assert!(
        e.to_string().contains("Nope") && e.to_string().contains("CustID"),
        "{sql}: {e}"
    );
}

/// Statement errors DataFusion 55 reports as its own faults (an internal error naming only a
/// type), or would answer wrongly: the statement's fault here, naming the culprit.
#[tokio::test]
async fn statement_errors_datafusion_misreports_are_invalid() {
    let o = Oracle::start("basic").await;
    for (sql, names) in [
        ("SELECT SUM(Name) FROM Customers", "SUM(Name)"),
        ("SELECT AVG(City), COUNT(*) FROM Customers", "AVG(City)"),
        (
            "SELECT OrderNum FROM SalesOrders WHERE RequestDate - OrderDate > INTERVAL '1 month'",
            "OrderDate + INTERVAL '1 month'",
        ),
        (
            "SELECT * FROM Customers WHERE State = \"MN\"",
            "single quotes: 'MN'",
        ),
    ] {
        let e = o.error_of(sql).await;
        assert_eq!(e.kind(), SqlErrorKind::Invalid, "{sql}: {e}");
        assert!(
            e.to_string().contains(names),
            "{sql}: {e} does not say {names}"
        );
    }
}

/// The reference connector's system tables, checked against the emulator's model.
#[tokio::test]
async fn system_tables() {
    let o = Oracle::start("basic").await;
    use epicor_kinetic_emulator::model;
    let set = |name: &str| {
        model::SERVICES
            .iter()
            .flat_map(|s| s.entity_sets.iter())
            .find(|e| e.name == name)
            .expect("an entity set of the model")
    };
    let values = |rows: Vec<String>| {
        rows.iter()
            .map(|r| format!("SELECT '{r}'"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    };
    let dtl = set("OrderDtls").table;
    let columns = values(dtl.columns.iter().map(|c| c.name.to_owned()).collect());
    let key = dtl
        .key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("SELECT '{k}', {}", i + 1))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let services = values(model::SERVICES.iter().map(|s| s.name.to_owned()).collect());
    let sales_sets = values(
        model::service("Erp.BO.SalesOrderSvc")
            .expect("SalesOrderSvc")
            .entity_sets
            .iter()
            .map(|e| e.name.to_owned())
            .collect(),
    );
    o.check_all(&[
        case(
            "sys_schemas lists every service",
            "SELECT SchemaName FROM sys_schemas WHERE SchemaName LIKE 'Erp.BO.%'",
            services,
        ),
        case(
            "sys_tables lists a service's entity sets",
            "SELECT TableName FROM sys_tables WHERE SchemaName = 'Erp.BO.SalesOrderSvc'",
            sales_sets,
        ),
        case(
            "sys_tablecolumns lists OrderDtls' columns, CustNum among them",
            "SELECT ColumnName FROM sys_tablecolumns WHERE SchemaName = 'Erp.BO.SalesOrderSvc' AND TableName = 'OrderDtls'",
            columns,
        ),
        case(
            "sys_primarykeys gives OrderDtls' key in order",
            "SELECT ColumnName, KeySeq FROM sys_primarykeys WHERE SchemaName = 'Erp.BO.SalesOrderSvc' AND TableName = 'OrderDtls'",
            key,
        ),
        case(
            "a decimal column's precision and scale",
            "SELECT NumericPrecision, NumericScale, IsNullable FROM sys_tablecolumns WHERE TableName = 'OrderDtls' AND ColumnName = 'DocExtPriceDtl'",
            "SELECT 17, 3, 0",
        ),
    ])
    .await;
}

/// INSERT, UPDATE and DELETE through the entity sets, checked in the database.
#[tokio::test]
async fn writes() {
    let o = Oracle::start("basic").await;
    // The oracle is a snapshot taken before the writes: every expectation after a write is
    // the snapshot with that write applied by hand, never the server's database read back.
    let changed = o.sqlite_count(
        "SELECT COUNT(*) FROM Customers WHERE State = 'MN' AND CreditLimit < 10000 AND CreditHold = 0",
    );
    assert!(
        changed > 0,
        "the UPDATE below must change rows to prove anything"
    );
    o.check_all(&[
        case(
            "INSERT reports one row",
            "INSERT INTO Customers (CustID, Name, City, State, CreditLimit) VALUES ('ORACLE1', 'Oracle Test Co', 'Duluth', 'MN', 1234.56)",
            "SELECT 1",
        ),
        case(
            "the row inserted reads back, decimals exact",
            "SELECT CustID, Name, City, State, CreditLimit FROM Customers WHERE CustID = 'ORACLE1'",
            "SELECT 'ORACLE1', 'Oracle Test Co', 'Duluth', 'MN', 1234.56",
        ),
        case(
            "UPDATE ... WHERE reports the rows it changed (the snapshot's, and the row inserted above)",
            "UPDATE Customers SET CreditHold = true WHERE State = 'MN' AND CreditLimit < 10000",
            "SELECT COUNT(*) + 1 FROM Customers WHERE State = 'MN' AND CreditLimit < 10000",
        ),
        case(
            "the update reads back: the snapshot with the update applied",
            "SELECT CustNum, CreditHold FROM Customers WHERE State = 'MN' AND CustID <> 'ORACLE1'",
            "SELECT CustNum, CASE WHEN CreditLimit < 10000 THEN 1 ELSE CreditHold END FROM Customers WHERE State = 'MN'",
        ),
        case(
            "DELETE ... WHERE reports the rows it deleted",
            "DELETE FROM Customers WHERE CustID = 'ORACLE1'",
            "SELECT 1",
        ),
        case(
            "the row deleted is gone",
            "SELECT COUNT(*) FROM Customers WHERE CustID = 'ORACLE1'",
            "SELECT 0",
        ),
    ])
    .await;
    // A business-rule rejection comes back with Epicor's message.
    let e = o
        .error_of("UPDATE Customers SET CreditLimit = -1 WHERE CustNum = 1")
        .await;
    assert!(e.to_string().contains("CreditLimit"), "{e}");
}
