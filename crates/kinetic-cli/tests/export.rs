//! `kinetic export` and `kinetic demo` end to end: the binary against an emulator started in this
//! test process on 127.0.0.1:0.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use epicor_kinetic_emulator::EmulatorConfig;

fn kinetic() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kinetic"));
    c.env_remove("KINETIC_CONNECTION").env(
        "KINETIC_CONFIG_DIR",
        std::env::temp_dir().join("kinetic-export-tests-none"),
    );
    common::default_signals(&mut c);
    c
}

mod common;
use common::ok;

/// An emulator in this process (see `common::Served`).
struct Emu(common::Served);

impl Emu {
    fn start(config: EmulatorConfig) -> Emu {
        Emu(common::Served::start(config))
    }

    fn conn(&self, which: &str) -> String {
        self.0.cs(which)
    }
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        scale: 2000,
        ..Default::default()
    }
}

fn run(args: &[&str], conn: &str) -> Output {
    kinetic().args(args).args(["-c", conn]).output().unwrap()
}

/// The (Company, OrderNum, OrderLine) of each CSV data row, checking the header.
fn csv_keys(text: &str) -> Vec<String> {
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    assert!(
        header.starts_with("Company,OrderNum,OrderLine,"),
        "{header}"
    );
    lines
        .map(|l| l.splitn(4, ',').take(3).collect::<Vec<_>>().join("|"))
        .collect()
}

fn no_leftovers(dir: &Path) {
    let left = common::partials(dir);
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

const LINES: &str = "Erp.BO.SalesOrderSvc/OrderDtls";

#[test]
fn export_formats_agree_with_the_server_and_with_each_other() {
    let emu = Emu::start(config());
    let basic = emu.conn("basic");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lines.csv");
    let out = run(
        &[
            "export",
            LINES,
            "--format",
            "csv",
            "-o",
            csv.to_str().unwrap(),
        ],
        &basic,
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exported "), "{stderr}");
    assert!(
        !stderr.contains('█'),
        "no progress bar when not on a terminal"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let keys = csv_keys(&text);
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "no key twice");

    // The row count agrees with the server's $count (through `kinetic get` of the same rows).
    let all = ok(&run(
        &["get", LINES, "--select", "OrderNum", "--format", "json"],
        &basic,
    ));
    let rows: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), keys.len());
    assert!(keys.len() > 1000, "enough rows to page: {}", keys.len());

    // NDJSON and JSON: the same rows, exact decimals as numbers.
    let nd = dir.path().join("lines.ndjson");
    ok(&run(
        &[
            "export",
            LINES,
            "--format",
            "ndjson",
            "-o",
            nd.to_str().unwrap(),
        ],
        &basic,
    ));
    let nd_rows: Vec<serde_json::Value> = std::fs::read_to_string(&nd)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(nd_rows.len(), keys.len());
    let first_csv: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    // Columns by their header's name (the entity's columns may grow).
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(
        nd_rows[0]["OrderNum"].to_string(),
        first_csv[at("OrderNum")]
    );
    let raw_nd = std::fs::read_to_string(&nd).unwrap();
    let price = raw_nd
        .lines()
        .next()
        .unwrap()
        .split("\"UnitPrice\":")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        price,
        first_csv[at("UnitPrice")],
        "the decimal's text, scale kept"
    );
    let js = dir.path().join("lines.json");
    ok(&run(
        &[
            "export",
            LINES,
            "--format",
            "json",
            "-o",
            js.to_str().unwrap(),
        ],
        &basic,
    ));
    let js_rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&js).unwrap()).unwrap();
    assert_eq!(js_rows, nd_rows);

    // Parallelism=4 (flag, and the property) writes the very same bytes.
    let par = dir.path().join("par.csv");
    ok(&run(
        &[
            "export",
            LINES,
            "--parallelism",
            "4",
            "-o",
            par.to_str().unwrap(),
        ],
        &basic,
    ));
    assert_eq!(std::fs::read_to_string(&par).unwrap(), text);
    let par2 = dir.path().join("par2.csv");
    ok(&run(
        &["export", LINES, "-o", par2.to_str().unwrap()],
        &format!("{basic};Parallelism=3;Pagesize=40"),
    ));
    assert_eq!(std::fs::read_to_string(&par2).unwrap(), text);

    // Standard output, with query options.
    let some = ok(&run(
        &[
            "export",
            LINES,
            "--select",
            "OrderNum,OrderLine",
            "--filter",
            "OrderLine eq 1",
            "--top",
            "5",
        ],
        &basic,
    ));
    let lines: Vec<&str> = some.lines().collect();
    assert_eq!(lines[0], "OrderNum,OrderLine");
    assert_eq!(lines.len(), 6);
    assert!(lines[1..].iter().all(|l| l.ends_with(",1")), "{some}");
    no_leftovers(dir.path());
}

#[test]
fn export_is_the_same_with_next_links_and_through_faults() {
    let reference = {
        let emu = Emu::start(config());
        ok(&run(&["export", LINES], &emu.conn("basic")))
    };
    assert!(reference.lines().count() > 1000);
    let linked = Emu::start(EmulatorConfig {
        next_link: true,
        page_cap: 37,
        ..config()
    });
    assert_eq!(
        ok(&run(&["export", LINES], &linked.conn("basic"))),
        reference
    );
    let faulty = Emu::start(EmulatorConfig {
        faults: epicor_kinetic_emulator::faults::parse_spec("502:0.1,504:0.05,close:0.05,seed=5")
            .unwrap(),
        ..config()
    });
    let conn = format!("{};MaxRetries=10", faulty.conn("basic"));
    assert_eq!(ok(&run(&["export", LINES], &conn)), reference);
    assert_eq!(
        ok(&run(&["export", LINES, "--parallelism", "4"], &conn)),
        reference
    );
}

/// The decoded value of query option `name` in the raw `query`, if present (no spaces around
/// commas).
fn option(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|piece| {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        (decode(k) == name).then(|| {
            decode(v)
                .split(',')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(",")
        })
    })
}

/// Percent-decoding, enough for query options.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Under strict server-driven paging (links only, `$skip` refused where the server pages with
/// links, rows sorted only as asked) an export follows the links: the first request asks the whole
/// key in `$orderby`, each later one is exactly the link the page before answered (asked again
/// here), none carries `$skip`, and the file is the same as from a default server. It fails if
/// the export ignores links (the `$skip` after the first page is refused) or leaves the key out.
#[test]
fn export_follows_next_links_under_strict_paging() {
    let reference = Emu::start(config());
    let strict = Emu::start(EmulatorConfig {
        page_cap: 37,
        strict_paging: true,
        request_log: 10_000,
        ..config()
    });
    let http = reqwest::Client::new();
    let api_key = strict.0.info["api_key"].as_str().unwrap().to_owned();
    let url = strict.0.info["url"].as_str().unwrap().to_owned();
    for which in ["basic", "basic_v2"] {
        let expected = ok(&run(&["export", LINES], &reference.conn(which)));
        assert!(expected.lines().count() > 1000);
        // Pages larger than the whole set: one chain of links covers the export.
        let conn = format!("{};Pagesize=10000", strict.conn(which));
        for extra in [&[][..], &["--parallelism", "4"][..]] {
            let before = strict.0.requests().len();
            let mut args = vec!["export", LINES];
            args.extend_from_slice(extra);
            let got = ok(&run(&args, &conn));
            let differs = got.lines().zip(expected.lines()).position(|(a, b)| a != b);
            assert!(
                got == expected,
                "{which} {extra:?}: {} lines, {} expected; first difference at line {differs:?}",
                got.lines().count(),
                expected.lines().count()
            );
            let pages: Vec<_> = strict.0.requests()[before..]
                .iter()
                .filter(|r| r.path().ends_with("/OrderDtls"))
                .cloned()
                .collect();
            assert_eq!(
                pages.len(),
                1500usize.div_ceil(37),
                "{which}: {:?}",
                pages.iter().take(3).map(|p| &p.uri).collect::<Vec<_>>()
            );
            let first = pages[0].query();
            assert_eq!(
                option(first, "$orderby").as_deref(),
                Some("Company,OrderNum,OrderLine"),
                "{first}"
            );
            assert_eq!(option(first, "$skip"), None, "{first}");
            for (i, page) in pages.iter().enumerate() {
                assert_eq!(page.status, 200, "{page:?}");
                let body = strict.0.rt.block_on(async {
                    http.get(format!("{url}{}", page.uri))
                        .basic_auth("manager", Some("Epicor123!"))
                        .header("x-api-key", &api_key)
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap()
                });
                let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
                let link = answer["@odata.nextLink"]
                    .as_str()
                    .or(answer["odata.nextLink"].as_str());
                match (link, pages.get(i + 1)) {
                    (Some(link), Some(next)) => {
                        assert_eq!(format!("{url}{}", next.uri), link, "request {}", i + 1);
                        assert_eq!(option(next.query(), "$skip"), None, "{next:?}");
                    }
                    (None, None) => {}
                    (link, next) => panic!("page {i}: link {link:?}, next request {next:?}"),
                }
            }
        }
    }
}

#[test]
fn concurrent_inserts_during_an_export_repeat_no_key() {
    let emu = Emu::start(config());
    let basic = emu.conn("basic");
    // The default (pages fetched at once as the server allows, each checked to start where the
    // page before it ended) and a fixed window of four.
    for (round, setting) in ["", ";Parallelism=4"].into_iter().enumerate() {
        let before = csv_keys(&ok(&run(&["export", LINES], &basic)));
        let first_order: String = before[0].split('|').nth(1).unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("during.csv");
        // Small pages and some latency so the inserts land while the export pages.
        let mut child = kinetic()
            .args(["export", LINES, "-o", path.to_str().unwrap(), "-c"])
            .arg(format!("{basic};Pagesize=20{setting}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut inserted = 0;
        while child.try_wait().unwrap().is_none() && inserted < 200 {
            inserted += 1;
            // New lines of the first order sort before the export's position: every later row
            // shifts forward by one.
            let body = format!(
                "{{\"OrderNum\": {first_order}, \"OrderLine\": {}, \"PartNum\": \"SPR-0001\", \"OrderQty\": 1, \"UnitPrice\": 1}}",
                500 + 300 * round + inserted
            );
            ok(&run(
                &["create", LINES, "--body", &body, "--format", "json"],
                &basic,
            ));
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "{setting}");
        assert!(
            inserted >= 3,
            "{setting}: inserts happened during the export: {inserted}"
        );
        let keys = csv_keys(&std::fs::read_to_string(&path).unwrap());
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{setting}: no key twice");
        assert!(
            before.iter().all(|k| unique.contains(k)),
            "{setting}: every row present throughout was exported"
        );
    }
}

#[test]
fn a_failed_or_interrupted_export_leaves_nothing_under_the_name() {
    let emu = Emu::start(EmulatorConfig {
        faults: epicor_kinetic_emulator::faults::parse_spec("502:0.3,seed=2").unwrap(),
        ..config()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    std::fs::write(&path, "an older export\n").unwrap();
    // No retries: one of the many pages fails.
    let out = run(
        &["export", LINES, "-o", path.to_str().unwrap()],
        &format!("{};MaxRetries=0", emu.conn("basic")),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: server error (HTTP 502)"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "an older export\n");
    no_leftovers(dir.path());

    // Interrupted: slow pages, then SIGINT.
    let slow = Emu::start(EmulatorConfig {
        faults: epicor_kinetic_emulator::faults::parse_spec("latency:1:100ms").unwrap(),
        request_log: 1_000,
        ..config()
    });
    let mut child = kinetic()
        .args(["export", LINES, "-o", path.to_str().unwrap(), "-c"])
        .arg(slow.conn("basic"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Caught mid-export: two pages served (recorded once answered, after their 100 ms), of the
    // 15 the export needs; the Ctrl-C handler is set up before the first page is asked for.
    common::signal_after_pages(&slow.0, &mut child, "/OrderDtls", 2, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "an older export\n");
    no_leftovers(dir.path());
}

#[test]
fn progress_bar_on_a_terminal() {
    let emu = Emu::start(EmulatorConfig {
        faults: epicor_kinetic_emulator::faults::parse_spec("latency:1:30ms").unwrap(),
        ..config()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tty.csv");
    // `script` runs the command on a pseudo-terminal, as a user's shell would.
    let command = format!(
        "{} export {LINES} -o {} -c '{}'",
        env!("CARGO_BIN_EXE_kinetic"),
        path.display(),
        emu.conn("basic")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("KINETIC_CONFIG_DIR", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let total = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
    assert_eq!(total, 1500, "the scale's share of EPIC06");
    assert!(
        text.contains("/1,500 rows"),
        "a bar with the total from $count: {text}"
    );
    assert!(text.contains(" rows/s"), "a rate: {text}");
    assert!(text.contains("left"), "an estimate: {text}");
}

#[test]
fn demo_shows_every_scheme_a_query_an_export_and_a_baq() {
    let out = kinetic()
        .args(["demo", "--scale", "3000"])
        .output()
        .unwrap();
    let text = ok(&out);
    for label in [
        "Basic, REST v1",
        "Basic + API key, REST v2",
        "UseSession",
        "TokenResource.svc",
        "client secret",
        "client certificate",
        "OpenID discovery",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label} in {text}"));
        assert!(line.contains("ok:"), "{line}");
    }
    assert!(!text.contains("FAILED"), "{text}");
    assert!(text.contains("CreditLimit"), "the query's table: {text}");
    assert!(
        text.contains("Company,OrderNum,OrderLine"),
        "the export's lines: {text}"
    );
    assert!(text.contains("Customer_CustID"), "the BAQ's table: {text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exported "), "{err}");
    assert!(!text.contains("Epicor123!"), "no password printed");
}
