//! `kinetic sql` and `kinetic export --format parquet` end to end: the binary against an emulator
//! started in this test process, its answers checked against the emulator's SQLite database.

mod common;
use common::ok;

use epicor_kinetic_emulator::EmulatorConfig;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn emulator() -> common::Served {
    common::Served::start(EmulatorConfig {
        scale: 600,
        ..Default::default()
    })
}

/// An emulator with enough order lines that a statement reading them all is still running when a
/// test interrupts it (its request log says how far it got).
fn slow_enough_to_interrupt() -> common::Served {
    common::Served::start(EmulatorConfig {
        scale: 20_000,
        request_log: 10_000,
        ..Default::default()
    })
}

/// The binary with the umask 022 (what the file modes below expect) and default signals.
fn kinetic(config: &Path, args: &[&str], conn: &str) -> Command {
    let mut c = common::kinetic_command(config, args, &[]);
    c.args(["-c", conn]);
    common::default_signals(&mut c);
    use std::os::unix::process::CommandExt;
    // SAFETY: umask(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    c
}

fn run(config: &Path, args: &[&str], conn: &str) -> Output {
    kinetic(config, args, conn)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn run_with_stdin(config: &Path, args: &[&str], conn: &str, input: &str) -> Output {
    let mut child = kinetic(config, args, conn)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The company of the emulator's ready connection strings.
fn company(emu: &common::Served) -> String {
    emu.info["company"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let cs = emu.cs("basic");
            cs.split(';')
                .find_map(|p| p.strip_prefix("Company="))
                .expect("a company")
                .to_owned()
        })
}

/// (CustNum, CustID, Name) of the company's customers in Minnesota, from SQLite.
fn minnesota(emu: &common::Served) -> Vec<(i64, String, String)> {
    let db = emu.db();
    let mut st = db
        .prepare(
            "SELECT CustNum, CustID, Name FROM Customer WHERE Company = ?1 AND State = 'MN' ORDER BY CustNum",
        )
        .unwrap();
    let rows = st
        .query_map([company(emu)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?.trim_end().to_owned(),
                r.get::<_, String>(2)?.trim_end().to_owned(),
            ))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(rows.len() > 2, "enough customers in MN: {}", rows.len());
    rows
}

const MN: &str =
    "SELECT CustNum, CustID, Name, CreditLimit FROM Customers WHERE State = 'MN' ORDER BY CustNum";

/// A JSON value as the text a CSV cell holds.
fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn each_format_gives_the_rows_sqlite_has() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let want = minnesota(&emu);
    let keys = |rows: &[Vec<String>]| -> Vec<(i64, String, String)> {
        rows.iter()
            .map(|r| (r[0].parse().unwrap(), r[1].clone(), r[2].clone()))
            .collect()
    };

    // CSV (the default when standard output is not a terminal).
    let text = ok(&run(dir.path(), &["sql", MN], &conn));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["CustNum", "CustID", "Name", "CreditLimit"]
    );
    let csv_rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(keys(&csv_rows), want);

    // JSON and NDJSON: the same rows, the same values as CSV cells.
    let json: serde_json::Value = serde_json::from_str(&ok(&run(
        dir.path(),
        &["sql", MN, "--format", "json"],
        &conn,
    )))
    .unwrap();
    let from_objects = |objs: Vec<serde_json::Value>| -> Vec<Vec<String>> {
        objs.iter()
            .map(|o| {
                ["CustNum", "CustID", "Name", "CreditLimit"]
                    .iter()
                    .map(|c| text_of(&o[c]))
                    .collect()
            })
            .collect()
    };
    let json_rows = from_objects(json.as_array().unwrap().clone());
    let nd = ok(&run(dir.path(), &["sql", MN, "--format", "ndjson"], &conn));
    let nd_rows = from_objects(
        nd.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    );
    assert_eq!(keys(&json_rows), want);
    assert_eq!(nd_rows, json_rows);
    for (c, j) in csv_rows.iter().zip(&json_rows) {
        assert_eq!(
            c[3].parse::<f64>().ok(),
            j[3].parse::<f64>().ok(),
            "CreditLimit"
        );
    }

    // Table: every customer, and the count.
    let table = ok(&run(dir.path(), &["sql", MN, "--format", "table"], &conn));
    for (_, id, _) in &want {
        assert!(table.contains(id.as_str()), "{id} in\n{table}");
    }
    assert!(table.contains(&format!("({} rows)", want.len())), "{table}");

    // Parquet, by the file's extension: read back, typed.
    let pq = dir.path().join("mn.parquet");
    let out = run(dir.path(), &["sql", MN, "-o", pq.to_str().unwrap()], &conn);
    ok(&out);
    assert!(
        stderr(&out).contains(&format!("wrote {} rows to", want.len())),
        "{}",
        stderr(&out)
    );
    let (types, csv_again) = parquet_as_csv(&emu, &pq);
    assert_eq!(types[0], "Int32", "CustNum: {types:?}");
    assert!(
        types[3].starts_with("Decimal128("),
        "CreditLimit: {types:?}"
    );
    assert_eq!(csv_again, text, "the Parquet file holds what the CSV shows");
}

/// The Parquet file's column types, and its rows written as CSV by the SQL layer's writer (the
/// one the binary's CSV comes from).
fn parquet_as_csv(emu: &common::Served, path: &Path) -> (Vec<String>, String) {
    use epicor_kinetic_sql::{format, QueryResult};
    let file = std::fs::File::open(path).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema().clone();
    let reader = builder.build().unwrap();
    let types = schema
        .fields()
        .iter()
        .map(|f| format!("{:?}", f.data_type()))
        .collect();
    let batches: Vec<_> = reader
        .map(|b| Ok::<_, epicor_kinetic_sql::SqlError>(b.unwrap()))
        .collect();
    let result = QueryResult::from_batches(schema, futures_util::stream::iter(batches));
    let (csv, _) = emu
        .rt
        .block_on(format::write(
            result,
            format::Format::Csv,
            Vec::new(),
            |_| {},
        ))
        .unwrap();
    (types, String::from_utf8(csv).unwrap())
}

#[test]
fn mistakes_in_the_statement_exit_2_and_name_what_is_wrong() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    for (statement, named) in [
        ("SELECT * FROM NoSuchTable", "NoSuchTable"),
        ("SELECT NoSuchColumn FROM Customers", "NoSuchColumn"),
        ("SELEC Name FROM Customers", "SELEC"),
        (
            "SELECT Name FROM Customers WHERE CustNum = 'abc' + 1",
            "Utf8 + Int64",
        ),
    ] {
        let out = run(dir.path(), &["sql", statement], &conn);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{statement}: {err}");
        assert!(err.starts_with("error: "), "{statement}: {err}");
        assert!(err.contains(named), "{statement}: names {named}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "{statement}: nothing on stdout");
    }
    // Signed in with a wrong password: 4, as every command.
    let wrong = conn.replace("Password=", "Password=wrong");
    let out = run(
        dir.path(),
        &["sql", "SELECT Name FROM Customers LIMIT 1"],
        &wrong,
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn a_statement_stopped_by_a_bound_exits_1_naming_the_property() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    for (statement, extra, property) in [
        (
            "SELECT length(repeat('a', 2000000000))",
            ";MemoryLimit=64",
            "MemoryLimit",
        ),
        (
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
            "",
            "MaxRecursion",
        ),
        (
            // Four ways: 300^4 rows, minutes of work on any machine (three ways finished
            // within the second on a fast one).
            "SELECT sum(a.OrderLine * b.OrderLine * c.OrderLine * d.OrderLine) \
             FROM OrderDtls a CROSS JOIN OrderDtls b CROSS JOIN OrderDtls c CROSS JOIN OrderDtls d",
            ";StatementTimeout=1",
            "StatementTimeout",
        ),
        (
            "EXEC RefreshOAuthAccessToken",
            ";CredentialProcedures=false",
            "CredentialProcedures=false",
        ),
    ] {
        let out = run(dir.path(), &["sql", statement], &format!("{conn}{extra}"));
        let err = stderr(&out);
        // A refused procedure is the statement's fault (2); a bound that stopped one, 1.
        let code = if property.starts_with("Credential") { 2 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{statement}: {err}");
        assert!(err.starts_with("error: "), "{statement}: {err}");
        assert!(err.contains(property), "{statement}: names {property}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "{statement}: nothing on stdout");
    }
    // The same bound from the environment, as every property.
    let mut c = kinetic(
        dir.path(),
        &["sql", "SELECT length(repeat('a', 2000000000))"],
        &conn,
    );
    let out = c
        .env("KINETIC_MEMORYLIMIT", "64")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MemoryLimit"), "{}", stderr(&out));
}

#[test]
fn output_files_appear_complete_with_the_usual_modes() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    // A new file: 0666 less the umask (022).
    let new = dir.path().join("new.csv");
    ok(&run(
        dir.path(),
        &["sql", MN, "-o", new.to_str().unwrap()],
        &conn,
    ));
    assert_eq!(mode(&new), 0o644);
    assert!(std::fs::read_to_string(&new)
        .unwrap()
        .starts_with("CustNum,CustID,Name,CreditLimit\n"));

    // A file replaced keeps its mode; a failing statement leaves it as it was, and nothing else.
    let kept = dir.path().join("kept.json");
    std::fs::write(&kept, "old").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(
        dir.path(),
        &[
            "sql",
            "SELECT Nope FROM Customers",
            "-o",
            kept.to_str().unwrap(),
        ],
        &conn,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "old");
    ok(&run(
        dir.path(),
        &["sql", MN, "-o", kept.to_str().unwrap()],
        &conn,
    ));
    assert_eq!(mode(&kept), 0o640);
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(
        rows.as_array().unwrap().len(),
        minnesota(&emu).len(),
        "JSON by extension"
    );

    // A symbolic link is followed: its target is replaced, the link stays.
    let target = dir.path().join("target.csv");
    let link = dir.path().join("link.csv");
    std::fs::write(&target, "old").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    ok(&run(
        dir.path(),
        &["sql", "SELECT 1 AS one", "-o", link.to_str().unwrap()],
        &conn,
    ));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "one\n1\n");

    // A device is written through, never replaced (Parquet included: it needs no seek).
    ok(&run(
        dir.path(),
        &["sql", MN, "--format", "parquet", "-o", "/dev/null"],
        &conn,
    ));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());

    // -o with several statements is refused before anything is written.
    let two = dir.path().join("two.csv");
    let out = run(
        dir.path(),
        &["sql", "SELECT 1; SELECT 2", "-o", two.to_str().unwrap()],
        &conn,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("2 statements"), "{}", stderr(&out));
    assert!(!two.exists());

    let left = common::partials(dir.path());
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn statements_come_from_standard_input_and_files() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();

    let out = run_with_stdin(
        dir.path(),
        &["sql", "-"],
        &conn,
        "-- a comment; not a statement\nSELECT 'a;b' AS s;\n",
    );
    assert_eq!(ok(&out), "s\na;b\n");

    let file = dir.path().join("report.sql");
    std::fs::write(
        &file,
        "SELECT COUNT(*) AS n FROM Customers WHERE State = 'MN';\n/* next */\nSELECT 2 AS two\n",
    )
    .unwrap();
    let text = ok(&run(
        dir.path(),
        &["sql", "-f", file.to_str().unwrap()],
        &conn,
    ));
    assert_eq!(text, format!("n\n{}\ntwo\n2\n", minnesota(&emu).len()));

    // A file stops at its first failing statement, with that statement's exit code.
    std::fs::write(
        &file,
        "SELECT 1 AS one;\nSELECT * FROM Nope;\nSELECT 3 AS three;\n",
    )
    .unwrap();
    let out = run(dir.path(), &["sql", "-f", file.to_str().unwrap()], &conn);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n1\n");
    assert!(stderr(&out).contains("Nope"), "{}", stderr(&out));

    let missing = run(dir.path(), &["sql", "-f", "missing.sql"], &conn);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("missing.sql"));
}

#[test]
fn the_shell_reads_piped_lines() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let input = "\\d\n\\d Customers\n\
                 SELECT CustID\n  FROM Customers\n  WHERE CustNum = 1;\n\
                 SELECT * FROM Nope;\n\
                 \\nonsense\n\
                 SELECT 'x;y' AS two; SELECT 3 AS three;\n\
                 \\q\n\
                 SELECT 4 AS four;\n";
    let out = run_with_stdin(dir.path(), &["sql"], &conn, input);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = stderr(&out);
    // \d: the tables (from sys_tables) or, before it exists, the services (each a schema).
    assert!(text.contains("Erp.BO.SalesOrderSvc"), "{text}");
    // \d TABLE: the columns, types and key.
    assert!(text.contains("CustNum"), "{text}");
    assert!(text.contains("key"), "{text}");
    assert!(text.contains("Decimal128"), "{text}");
    // The statement over three lines ran; the failing one printed its error and the shell went on.
    assert!(text.contains("CustID\n"), "{text}");
    assert!(err.contains("Nope"), "{err}");
    assert!(err.contains("\\nonsense"), "{err}");
    assert!(text.contains("two\nx;y\n"), "{text}");
    assert!(text.contains("three\n3\n"), "{text}");
    // \q quit before the last statement.
    assert!(!text.contains("four"), "{text}");
    // Piped, the exit code is the last failure's (the unknown command: 2).
    assert_eq!(out.status.code(), Some(2), "{err}");

    // Without a failure: 0; a last statement without `;` runs at the end of the input.
    let out = run_with_stdin(dir.path(), &["sql"], &conn, "SELECT 5 AS five");
    assert_eq!(ok(&out), "five\n5\n");
}

#[test]
fn explain_shows_the_odata_request() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let text = ok(&run(
        dir.path(),
        &[
            "sql",
            "--explain",
            "SELECT Name FROM Customers WHERE State = 'MN'",
        ],
        &conn,
    ));
    assert!(text.contains("OData requests"), "{text}");
    let request = text
        .lines()
        .skip_while(|l| !l.starts_with("OData requests"))
        .nth(1)
        .unwrap_or_default();
    assert!(request.contains("Customers"), "{text}");
    assert!(request.contains("State"), "the filter is pushed: {text}");
    // EXPLAIN in a table prints the same.
    let table = ok(&run(
        dir.path(),
        &[
            "sql",
            "EXPLAIN SELECT Name FROM Customers WHERE State = 'MN'",
            "--format",
            "table",
        ],
        &conn,
    ));
    assert!(table.contains(request), "{table}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::BufRead;
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let mut child = kinetic(
        dir.path(),
        &["sql", "SELECT * FROM OrderDtls", "--format", "csv"],
        &conn,
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("Company,"), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn export_writes_parquet_through_the_arrow_path() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("lines.parquet");
    let out = run(
        dir.path(),
        &[
            "export",
            "Erp.BO.SalesOrderSvc/OrderDtls",
            "--select",
            "OrderNum,OrderLine,PartNum,DocExtPriceDtl",
            "--format",
            "parquet",
            "-o",
            pq.to_str().unwrap(),
        ],
        &conn,
    );
    ok(&out);
    let (types, csv) = parquet_as_csv(&emu, &pq);
    assert!(types[3].starts_with("Decimal128("), "{types:?}");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("OrderNum,OrderLine,PartNum,DocExtPriceDtl"),
        "{}",
        lines[0]
    );

    // The same rows SQLite has, with their prices to the cent.
    let db = emu.db();
    let mut st = db
        .prepare(
            "SELECT OrderNum, OrderLine, CAST(DocExtPriceDtl AS TEXT) FROM OrderDtl WHERE Company = ?1 ORDER BY OrderNum, OrderLine",
        )
        .unwrap();
    let want: Vec<(i64, i64, String)> = st
        .query_map([company(&emu)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(want.len() > 100, "{}", want.len());
    let mut got: Vec<(i64, i64, String)> = lines[1..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (
                cells[0].parse().unwrap(),
                cells[1].parse().unwrap(),
                cells[cells.len() - 1].to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.0, g.1), (w.0, w.1));
        assert_eq!(cents(&g.2), cents(&w.2), "price of {:?}", (g.0, g.1));
    }

    // Nested rows cannot go into Parquet: refused before anything is read.
    let out = run(
        dir.path(),
        &[
            "export",
            "Erp.BO.SalesOrderSvc/SalesOrders",
            "--expand",
            "OrderDtls",
            "--format",
            "parquet",
            "-o",
            "x.parquet",
        ],
        &conn,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--expand"), "{}", stderr(&out));
}

/// A decimal's text as a whole number of hundredths (exactly, no float).
fn cents(text: &str) -> i128 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let whole: i128 = whole.trim_start_matches('-').parse().unwrap();
    let mut frac: String = frac.chars().collect();
    assert!(
        frac.len() <= 2 || frac[2..].chars().all(|c| c == '0'),
        "{text} has no fraction of a cent"
    );
    frac.truncate(2);
    while frac.len() < 2 {
        frac.push('0');
    }
    let v = whole * 100 + frac.parse::<i128>().unwrap();
    if negative {
        -v
    } else {
        v
    }
}

/// The binary on a new pseudo-terminal (its session's controlling terminal: standard input,
/// output and error), and the terminal's other end, read by a thread into the returned text.
struct OnTerminal {
    child: std::process::Child,
    master: std::fs::File,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl OnTerminal {
    fn start(mut cmd: Command) -> OnTerminal {
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        // SAFETY: plain libc calls on a descriptor this function owns; ptsname_r writes at most
        // the buffer's length.
        let (master, slave) = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(fd >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(fd), 0);
            assert_eq!(libc::unlockpt(fd), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
            let path = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_str()
                .unwrap()
                .to_owned();
            (
                std::fs::File::from_raw_fd(fd),
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .unwrap(),
            )
        };
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: setsid(2) and ioctl(2) are async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut reader = master.try_clone().unwrap();
        let into = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        OnTerminal {
            child,
            master,
            seen,
        }
    }

    fn type_in(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
    }

    /// Waits until the terminal has shown `text` `times` times in all.
    fn wait_for(&self, text: &str, times: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if seen.matches(text).count() >= times {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited 60 s for {text:?} ×{times}; the terminal shows:\n{seen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn wait(mut self) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(std::time::Instant::now() < deadline, "still running");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let seen = self.seen.lock().unwrap().clone();
        (status.code(), seen)
    }
}

#[test]
fn the_shell_on_a_terminal_keeps_history_and_ctrl_c_cancels_a_statement() {
    use std::os::unix::fs::PermissionsExt;
    let emu = slow_enough_to_interrupt();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();

    let mut t = OnTerminal::start(kinetic(dir.path(), &["sql"], &conn));
    t.wait_for("kinetic> ", 1);
    // A table on a terminal; a statement over two lines.
    t.type_in("SELECT 1 AS one\r");
    t.wait_for("..> ", 1);
    t.type_in(";\r");
    t.wait_for("(1 row)", 1);
    // Ctrl-C while a long scan runs: the statement stops, the shell stays.
    let before = emu.requests().len();
    t.type_in("SELECT COUNT(*) AS n FROM OrderDtls WHERE PartNum <> 'none';\r");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !emu.requests()[before.min(emu.requests().len())..]
        .iter()
        .any(|r| r.path().ends_with("OrderDtls"))
    {
        assert!(std::time::Instant::now() < deadline, "the scan never began");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    t.type_in("\x03");
    t.wait_for("cancelled", 1);
    t.type_in("SELECT 2 AS two;\r");
    t.wait_for("(1 row)", 2);
    // A mistake prints its error and the shell goes on; Ctrl-D quits with 0.
    t.type_in("SELECT * FROM Nope;\r");
    t.wait_for("Nope", 2);
    t.type_in("\x04");
    let (code, seen) = t.wait();
    assert_eq!(code, Some(0), "{seen}");
    assert!(!seen.contains("panicked"), "{seen}");
    assert!(
        !seen.contains("\nn\n") && !seen.contains("| n"),
        "the cancelled count printed nothing: {seen}"
    );

    // The history: in the configuration directory, the owner's only.
    let history = dir.path().join("sql_history");
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text.contains("SELECT 1 AS one;"), "{text}");
    assert!(text.contains("SELECT 2 AS two;"), "{text}");
    assert_eq!(
        std::fs::metadata(&history).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Parquet is not written to a terminal.
    let t = OnTerminal::start(kinetic(
        dir.path(),
        &["sql", "SELECT 1 AS one", "--format", "parquet"],
        &conn,
    ));
    let (code, seen) = t.wait();
    assert_eq!(code, Some(2), "{seen}");
    assert!(seen.contains("not written to a terminal"), "{seen}");
}

#[test]
fn an_interrupted_output_leaves_nothing_under_its_name() {
    let emu = slow_enough_to_interrupt();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lines.csv");
    std::fs::write(&out, "old\n").unwrap();
    let mut child = kinetic(
        dir.path(),
        &[
            "sql",
            "SELECT * FROM OrderDtls",
            "-o",
            out.to_str().unwrap(),
        ],
        &conn,
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    common::signal_after_pages(&emu, &mut child, "OrderDtls", 3, "TERM");
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(143), "{}", stderr(&result));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    let left = common::partials(dir.path());
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// `--stats` says how much the server did: a query whose filter is pushed whole transfers the
/// rows it returns, no more.
/// `--stats` says how much the server did: rows returned, rows it sent, and every request the
/// statement made (the emulator's request log counts them too: the two must agree), empty pages,
/// `$metadata` and `$count` included.
#[test]
fn stats_show_rows_transferred_against_rows_returned() {
    let emu = common::Served::start(EmulatorConfig {
        scale: 600,
        request_log: 1_000,
        ..Default::default()
    });
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let stats = |sql: &str| -> (String, usize) {
        let before = emu.requests().len();
        let out = run(dir.path(), &["sql", sql, "--stats"], &conn);
        ok(&out);
        let line = stderr(&out)
            .lines()
            .find(|l| l.starts_with("sql: "))
            .unwrap_or_else(|| panic!("no stats line: {}", stderr(&out)))
            .to_owned();
        (line, emu.requests().len() - before)
    };
    let served_requests = |line: &str| -> usize {
        let (_, rest) = line.split_once(" in ").expect("`in R request(s)`");
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    let want = minnesota(&emu).len();
    let (line, served) = stats("SELECT CustNum FROM Customers WHERE State = 'MN' AND CustNum > 0");
    assert!(
        line.starts_with(&format!(
            "sql: {want} rows returned, {want} rows transferred in "
        )),
        "{line}"
    );
    // The pager asks for a page ahead; one it abandons (the previous page was the last) may have
    // reached the server, and is not counted: at most the server's count.
    let counted = served_requests(&line);
    assert!(
        counted >= 6 && counted <= served,
        "{line}: the server saw {served}"
    );
    // Nothing found: the empty page, the list of services and the $metadata read are requests.
    let (line, served) = stats("SELECT CustNum FROM Customers WHERE CustNum = -1");
    assert!(
        line.starts_with("sql: 0 rows returned, 0 rows transferred in "),
        "{line}"
    );
    assert!(served >= 3, "services, $metadata and a page: {served}");
    assert_eq!(
        served_requests(&line),
        served,
        "{line}: the server saw {served}"
    );
    // COUNT(*) is the server's $count: one row, none transferred, one request after $metadata.
    let (line, served) = stats("SELECT COUNT(*) FROM Customers");
    assert!(
        line.starts_with("sql: 1 row returned, 0 rows transferred in "),
        "{line}"
    );
    assert_eq!(
        served_requests(&line),
        served,
        "{line}: the server saw {served}"
    );
    assert_eq!(
        emu.requests().last().map(|r| r
            .uri
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with("/Customers/$count")),
        Some(true),
        "{:?}",
        emu.requests().last()
    );
}

/// An empty result still writes its header as CSV (a script reads the columns); `-o x.txt`
/// writes CSV, as the help says of an unknown extension.
#[test]
fn an_empty_result_keeps_its_header_and_txt_is_csv() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&run(
        dir.path(),
        &[
            "sql",
            "SELECT CustID, Name FROM Customers WHERE CustNum = -1",
            "--format",
            "csv",
        ],
        &conn,
    ));
    assert_eq!(out, "CustID,Name\n");
    let file = dir.path().join("out.txt");
    ok(&run(
        dir.path(),
        &[
            "sql",
            "SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 2",
            "-o",
            file.to_str().unwrap(),
        ],
        &conn,
    ));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "CustNum\n1\n2\n");
}

/// A misspelt table gets "did you mean", and the server's own services without tables (BaqSvc,
/// SessionModSvc) are neither searched nor reported as faults, with -v or without.
#[test]
fn a_misspelt_table_is_suggested_and_no_service_is_a_false_fault() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["sql", "SELECT * FROM Custmers"], &conn);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("did you mean Customers (Erp.BO.CustomerSvc)"),
        "{err}"
    );
    assert!(
        !err.contains("BaqSvc") && !err.contains("SessionModSvc"),
        "{err}"
    );
    let out = run(
        dir.path(),
        &["sql", "SELECT * FROM CustomerSvc.Custmers"],
        &conn,
    );
    assert!(
        stderr(&out).contains("did you mean Customers?"),
        "{}",
        stderr(&out)
    );
    let out = run(
        dir.path(),
        &["sql", "-v", "SELECT CustNum FROM Customers LIMIT 1"],
        &conn,
    );
    ok(&out);
    let err = stderr(&out);
    assert!(
        !err.contains("WARN") && !err.contains("BaqSvc") && !err.contains("SessionModSvc"),
        "{err}"
    );
}

/// `--explain` and `\d` of a BAQ that takes parameters, without them: the plan with the
/// parameter's place, the columns with the parameters listed.
#[test]
fn a_baq_with_parameters_is_explained_and_described_without_them() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let text = ok(&run(
        dir.path(),
        &["sql", "--explain", "SELECT * FROM BaqSvc.zOrdersByCustomer"],
        &conn,
    ));
    assert!(
        text.contains("zOrdersByCustomer/?CustID={CustID}"),
        "{text}"
    );
    let out = run_with_stdin(
        dir.path(),
        &["sql"],
        &conn,
        "\\d BaqSvc.zOrdersByCustomer\n",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("Calculated_OrderTotal"), "{text}");
    assert!(text.contains("parameters: CustID (required)"), "{text}");
    // Run, it still needs the value.
    let out = run(
        dir.path(),
        &["sql", "SELECT * FROM BaqSvc.zOrdersByCustomer"],
        &conn,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs the parameter CustID"),
        "{}",
        stderr(&out)
    );
}

/// Double quotes around text get a hint about single quotes.
#[test]
fn double_quoted_text_gets_a_hint() {
    let emu = emulator();
    let conn = emu.cs("basic");
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["sql", "SELECT * FROM Customers WHERE State = \"ZZ\""],
        &conn,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("write it in single quotes: 'ZZ'"),
        "{}",
        stderr(&out)
    );
}
