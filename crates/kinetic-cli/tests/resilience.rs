//! The resilience suite: the `kinetic` binary and the connector against the failures real networks
//! and servers produce, each check with a verdict and its figures on standard error.
//!
//! - faults soak: 10% 503, 5% 429 with Retry-After, 2% connections dropped mid-answer and random
//!   latency; the export has exactly the bytes (so the rows, their count and checksum) of a
//!   fault-free run, serially and with four connections;
//! - tokens that expire every few seconds during a long export (Epicor's token service and Azure
//!   AD): the export completes with the renewals the lifetime implies, and no call is refused;
//! - 1,000 concurrent calls across a token's expiry: one token request;
//! - the emulator killed and restarted (its database kept) in the middle of an export: the export
//!   resumes and is complete, or, told not to retry, fails with a clear error and leaves no file;
//! - 1,000 creates with ambiguous failures injected: no row is written twice, and every failure is
//!   reported.
//!
//! Sizes are short by default (CI); `KINETIC_PROOF=long` runs the sizes (a 200,000-row
//! soak, a 60-second expiry run), e.g.
//! `KINETIC_PROOF=long cargo test --release -p epicor-kinetic-cli --test resilience -- --nocapture`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use epicor_kinetic::clock::{unix_seconds, Clock, ManualClock};
use epicor_kinetic::http::Request;
use epicor_kinetic::{Client, Connection, Settings};
use epicor_kinetic_emulator::config::CompanyConfig;
use epicor_kinetic_emulator::{faults, EmulatorConfig, LoggedRequest};
use sha2::{Digest, Sha256};

mod common;
use common::{ok, Served};

const LINES: &str = "Erp.BO.SalesOrderSvc/OrderDtls";

/// The sizes (`KINETIC_PROOF=long`) or CI's.
fn long() -> bool {
    std::env::var("KINETIC_PROOF").is_ok_and(|v| v == "long")
}

fn kinetic(config_dir: &Path) -> Command {
    let mut c = common::kinetic_command(config_dir, &[], &[]);
    common::default_signals(&mut c);
    c
}

/// One company, so that every one of `lines` order lines is in the v1 collection.
fn one_company(lines: u64, db: Option<PathBuf>) -> EmulatorConfig {
    EmulatorConfig {
        scale: lines,
        db,
        companies: vec![CompanyConfig {
            id: "EPIC06".into(),
            name: "Epicor Education".into(),
        }],
        request_log: 200_000,
        ..Default::default()
    }
}

/// Runs `kinetic export LINES -o FILE` with `conn` and `extra` arguments.
fn export(config_dir: &Path, conn: &str, file: &Path, extra: &[&str]) -> Output {
    kinetic(config_dir)
        .args(["export", LINES, "-o"])
        .arg(file)
        .args(extra)
        .args(["-c", conn])
        .output()
        .unwrap()
}

/// Data rows, SHA-256, duplicate keys and the keys in file order (Company|OrderNum|OrderLine) of
/// an exported CSV file.
struct Digest1 {
    rows: usize,
    sha256: String,
    duplicates: usize,
    keys: Vec<String>,
}

fn digest(file: &Path) -> Digest1 {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    assert!(
        header.starts_with("Company,OrderNum,OrderLine,"),
        "{header}"
    );
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    let mut duplicates = 0;
    for line in lines {
        let key: String = line.splitn(4, ',').take(3).collect::<Vec<_>>().join("|");
        if !seen.insert(key.clone()) {
            duplicates += 1;
        }
        keys.push(key);
    }
    Digest1 {
        rows: keys.len(),
        sha256: format!("{:x}", Sha256::digest(&bytes)),
        duplicates,
        keys,
    }
}

/// The key (Company|OrderNum|OrderLine) of every order line in the emulator's database `db`, in
/// key order: what a complete export holds, read from the server's store rather than through the
/// connector under test (its text columns compare with the emulator's own collation).
fn keys_in_db(db: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    epicor_kinetic_emulator::collation::register(&db).unwrap();
    let mut q = db
        .prepare("SELECT Company, OrderNum, OrderLine FROM OrderDtl ORDER BY Company, OrderNum, OrderLine")
        .unwrap();
    let rows = q
        .query_map([], |r| {
            Ok(format!(
                "{}|{}|{}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Checks that `reference` (an export of `db` with no fault) holds every order line of `db`, each
/// once, in key order: a reference short of rows (or with extra ones) would let a faulty export
/// with the same loss pass.
fn assert_complete(reference: &Digest1, db: &Path) {
    let want = keys_in_db(db);
    assert!(!want.is_empty(), "no order lines in {}", db.display());
    assert_eq!(reference.duplicates, 0, "the reference repeats rows");
    if reference.keys != want {
        let first = reference.keys.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "the reference export is not the database's {} order lines: it has {} rows, first \
             difference at row {first:?}",
            want.len(),
            reference.rows
        );
    }
}

/// How many requests of `log` were answered with each status.
fn statuses(log: &[LoggedRequest]) -> HashMap<u16, usize> {
    let mut by = HashMap::new();
    for r in log {
        *by.entry(r.status).or_default() += 1;
    }
    by
}

#[test]
fn an_export_through_faults_has_exactly_the_rows_of_a_fault_free_one() {
    let (lines, page) = if long() {
        (200_000, 1000)
    } else {
        (20_000, 500)
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("erp.db");
    let reference = dir.path().join("reference.csv");
    {
        let served = Served::start(one_company(lines, Some(db.clone())));
        let conn = format!("{};Pagesize={page}", served.cs("basic"));
        ok(&export(dir.path(), &conn, &reference, &[]));
    }
    let want = digest(&reference);
    assert_complete(&want, &db);
    // The same database behind faults: latency first (it lets the others still fire), then 10%
    // 503, 5% 429 (both with Retry-After: 1), 2% connections cut after the head.
    let spec = "latency:0.3:1-40ms,503:0.10,429:0.05:retry=1,close:0.02,seed=17";
    // Unset: adaptive (the default: it meets push-backs and Retry-After, and must still lose
    // and repeat nothing); then serial, and four pages at once.
    for parallelism in ["adaptive", "1", "4"] {
        let served = Served::start(EmulatorConfig {
            faults: faults::parse_spec(spec).unwrap(),
            ..one_company(lines, Some(db.clone()))
        });
        let conn = format!("{};Pagesize={page};MaxRetries=12", served.cs("basic"));
        let file = dir.path().join(format!("faulty-{parallelism}.csv"));
        let started = Instant::now();
        let flags: &[&str] = match parallelism {
            "adaptive" => &[],
            n => &["--parallelism", n],
        };
        ok(&export(dir.path(), &conn, &file, flags));
        let wall = started.elapsed();
        let got = digest(&file);
        let log = served.requests();
        let by = statuses(&log);
        let faults_met = by.get(&503).copied().unwrap_or(0) + by.get(&429).copied().unwrap_or(0);
        let dropped = log.iter().filter(|r| r.dropped).count();
        eprintln!(
            "faults soak (P={parallelism}): {} rows, sha256 {}..., {} duplicates, {:.1} s; the \
             server answered {} requests: {} 503, {} 429, {} connections dropped (statuses {:?})",
            got.rows,
            &got.sha256[..16],
            got.duplicates,
            wall.as_secs_f64(),
            by.values().sum::<usize>(),
            by.get(&503).unwrap_or(&0),
            by.get(&429).unwrap_or(&0),
            dropped,
            by
        );
        // The dice are seeded and fall by order of arrival, so these counts are the same on every
        // run of a size: each kind of fault must be met, or the soak proves nothing about it.
        assert!(faults_met > 0, "no fault was met: the soak proves nothing");
        for status in [503, 429] {
            assert!(
                by.get(&status).is_some_and(|n| *n > 0),
                "no {status} was met"
            );
        }
        assert!(dropped > 0, "no connection was dropped");
        assert_eq!(got.duplicates, 0);
        assert_eq!(got.rows, want.rows, "the row count");
        assert_eq!(got.sha256, want.sha256, "the bytes");
    }
}

/// Whether `r` asked a token endpoint (Epicor's token service, the identity provider's).
fn is_token_request(r: &LoggedRequest) -> bool {
    r.path().contains("TokenResource.svc") || r.path().ends_with("/token")
}

/// Requests to a token endpoint in `served`'s log.
fn token_requests(served: &Served) -> usize {
    served
        .requests()
        .iter()
        .filter(|r| is_token_request(r))
        .count()
}

/// The emulator's clock read from the connector's manual one: one time for both, moved by the test.
#[derive(Debug)]
struct SharedTime(ManualClock);

impl epicor_kinetic_emulator::clock::Clock for SharedTime {
    fn now_secs(&self) -> i64 {
        i64::try_from(unix_seconds(self.0.now())).unwrap()
    }
}

#[test]
fn tokens_that_expire_every_few_seconds_are_renewed_during_a_long_export() {
    // Each page waits 60-100 ms, so that the export lasts many token lifetimes.
    let (lines, lifetime) = if long() { (60_000, 5) } else { (10_000, 3) };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("erp.db");
    let mut reference = HashMap::new();
    {
        let served = Served::start(one_company(lines, Some(db.clone())));
        for (which, base) in [("v1", "basic"), ("v2", "basic_v2")] {
            let file = dir.path().join(format!("reference-{which}.csv"));
            ok(&export(dir.path(), &served.cs(base), &file, &[]));
            reference.insert(which, digest(&file));
        }
    }
    for want in reference.values() {
        assert_complete(want, &db);
    }
    let mut config = EmulatorConfig {
        token_lifetime_secs: lifetime,
        faults: faults::parse_spec("latency:1:60-100ms@/api/").unwrap(),
        ..one_company(lines, Some(db.clone()))
    };
    config.idp.token_lifetime_secs = lifetime;
    let served = Served::start(config);
    for (scheme, which) in [("token", "v1"), ("azuread_client_secret", "v2")] {
        let before = token_requests(&served);
        let refused_before = statuses(&served.requests()).get(&401).copied().unwrap_or(0);
        let file = dir.path().join(format!("{scheme}.csv"));
        let started = Instant::now();
        // One page at a time: the export must last many token lifetimes (fetching pages at once,
        // as the default does at this latency, would finish within two).
        let serial = format!("{};Parallelism=1", served.cs(scheme));
        ok(&export(dir.path(), &serial, &file, &[]));
        let wall = started.elapsed().as_secs_f64();
        let tokens = token_requests(&served) - before;
        let refused = statuses(&served.requests()).get(&401).copied().unwrap_or(0) - refused_before;
        let got = digest(&file);
        let want = &reference[which];
        // At least one token per lifetime the export lasted; at most one per quarter of it (the
        // connector renews at half the lifetime): renewals, and no storm.
        let (least, most) = (
            (wall / lifetime as f64).floor() as usize,
            (wall / (lifetime as f64 / 4.0)).ceil() as usize + 2,
        );
        eprintln!(
            "token expiry ({scheme}, {lifetime} s tokens): {} rows in {wall:.1} s, {tokens} token \
             requests (expected {least}..={most}), {refused} calls refused",
            got.rows
        );
        assert!(wall > 2.0 * lifetime as f64, "too short to prove renewal");
        assert!((least..=most).contains(&tokens), "{tokens} token requests");
        assert_eq!(refused, 0, "a call went out with an expired token");
        assert_eq!((got.rows, &got.sha256), (want.rows, &want.sha256));
    }
}

#[test]
fn a_thousand_concurrent_calls_across_an_expiry_make_one_token_request() {
    const CALLS: usize = 1000;
    // Entra's hour-long tokens on one manual clock for the emulator and the connector: the calls go
    // out once the clock is moved into the token's renewal window (5 minutes before expiry), and
    // the clock stays there, so one renewal covers them all however long a loaded machine takes to
    // send them (on the real clock, 8 s tokens and a 5 s sleep left them about 3 s before the new
    // token's own renewal). A seat for every call: a seat shortage's 503 would wait out its
    // Retry-After on the manual clock.
    const LIFETIME: u64 = 3600;
    let time = ManualClock::new();
    let mut config = EmulatorConfig {
        scale: 200,
        token_lifetime_secs: LIFETIME,
        request_log: 10_000,
        ..Default::default()
    };
    config.idp.token_lifetime_secs = LIFETIME;
    config.licenses.default = CALLS as u32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server_time = std::sync::Arc::new(SharedTime(time.clone()));
    let running = rt.block_on(async {
        let emulator = tokio::task::spawn_blocking(move || {
            epicor_kinetic_emulator::Emulator::with_clock(config, server_time)
        })
        .await
        .unwrap()
        .unwrap();
        epicor_kinetic_emulator::serve(emulator, "127.0.0.1:0")
            .await
            .unwrap()
    });
    let info = running.startup_info();
    for scheme in ["token", "azuread_client_secret"] {
        let settings =
            Settings::parse(info["connection_strings"][scheme].as_str().unwrap()).unwrap();
        let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(time.clone());
        let start = running.requests().len();
        let (before, during, wall) = rt.block_on(async {
            let c = Client::with_clock(&settings, clock)
                .unwrap()
                .connect(settings)
                .await
                .unwrap();
            let endpoint = c
                .pipeline()
                .endpoints()
                .service("Erp.BO.PartSvc")
                .unwrap()
                .segment("Parts")
                .query("$top", "1");
            let first = c
                .pipeline()
                .send(Request::get(&endpoint).unwrap())
                .await
                .unwrap();
            assert_eq!(first.status().as_u16(), 200);
            let before = running.requests()[start..].to_vec();
            // A second into the renewal window, far from expiry.
            time.advance(Duration::from_secs(LIFETIME - 300 + 1));
            let started = Instant::now();
            let calls: Vec<_> = (0..CALLS)
                .map(|_| {
                    let p = c.pipeline().clone();
                    let ep = endpoint.clone();
                    tokio::spawn(async move {
                        p.send(Request::get(&ep).unwrap())
                            .await
                            .map(|r| r.status().as_u16())
                    })
                })
                .collect();
            // A call waiting on the manual clock (a retry) would wait for ever: a minute on the
            // real clock is the most this may take.
            let outcomes = tokio::time::timeout(
                Duration::from_secs(60),
                futures_util::future::join_all(calls),
            )
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{scheme}: calls still waiting after a minute ({} on the manual clock)",
                    time.sleepers()
                )
            });
            for outcome in outcomes {
                match outcome.unwrap() {
                    Ok(200) => {}
                    other => panic!("{scheme}: {other:?}"),
                }
            }
            let wall = started.elapsed();
            let during = running.requests()[start + before.len()..].to_vec();
            (before, during, wall)
        });
        let tokens = during.iter().filter(|r| is_token_request(r)).count();
        let by = statuses(&during);
        eprintln!(
            "single flight ({scheme}): {CALLS} concurrent calls in the token's renewal window, \
             {tokens} token request, {} calls answered 200 (statuses {by:?}) in {:.2} s",
            during.len() - tokens,
            wall.as_secs_f64()
        );
        assert_eq!(
            before.iter().filter(|r| is_token_request(r)).count(),
            1,
            "{scheme}: one token for the first call"
        );
        assert_eq!(
            during.len(),
            CALLS + 1,
            "{scheme}: each call sent once, and one token request"
        );
        assert_eq!(tokens, 1, "{scheme}: one token request for {CALLS} callers");
    }
    rt.block_on(running.shutdown());
}

/// A port free on 127.0.0.1 now (the emulator binds it again after each restart).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `kinetic emulator` on `port` with `db`, each page of the API slowed down; waits for its start-up
/// line. Its scratch files go into `tmp` (a killed process cannot remove them).
fn emulator_process(config_dir: &Path, tmp: &Path, port: u16, db: &Path) -> Child {
    let mut child = kinetic(config_dir)
        .args(["emulator", "--port", &port.to_string(), "--db"])
        .arg(db)
        .args(["--faults", "latency:1:15-25ms@/api/"])
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(
        line.contains("connection_strings"),
        "the start-up line: {line}"
    );
    // Keep reading its standard output, so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

/// `kinetic export LINES -o file -c conn` in the background, its log read as it goes: the
/// connector's pages and retries (`RUST_LOG`) and the command's own error, line by line on
/// standard error, so the test acts on what the export did rather than on how long it ran.
struct Exporting {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// What it printed so far.
    log: Vec<String>,
}

impl Exporting {
    fn spawn(config_dir: &Path, file: &Path, conn: &str) -> Exporting {
        let mut child = kinetic(config_dir)
            .args(["export", LINES, "-o"])
            .arg(file)
            .args(["-c", conn])
            .env(
                "RUST_LOG",
                "epicor_kinetic::paging=debug,epicor_kinetic::http=warn",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Exporting {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Reads the log until a line satisfies `want` (a minute at most); fails if the export ends
    /// first. Returns the line's index in [`Exporting::log`].
    fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = want(&line);
                    self.log.push(line);
                    if hit {
                        return self.log.len() - 1;
                    }
                }
                Err(e) => panic!(
                    "the export's log never showed {what} ({e:?}); it printed:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Sends the export `signal`.
    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid, which has not been reaped (we hold the Child).
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
    }

    /// Freezes the export after `page` pages (of many more), kills `emulator` while it cannot
    /// move, then lets it go on: the kill lands in the middle of the export whatever the
    /// machine's load, never before its first page nor after its last.
    fn kill_server_after_page(&mut self, page: usize, emulator: &mut Child) {
        let marker = format!(": page {page} with ");
        self.wait_for(&format!("page {page}"), |l| l.contains(&marker));
        self.signal(libc::SIGSTOP);
        let still_running = self.child.try_wait().unwrap().is_none();
        kill_9(emulator);
        self.signal(libc::SIGCONT);
        assert!(
            still_running,
            "the export ended before the server was killed"
        );
    }

    /// Waits for the end; its exit status and everything it printed.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        // The reader ends at the end of the pipe, once the process is gone.
        self.log.extend(self.lines.iter());
        (status, self.log)
    }
}

fn kill_9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Pages the export logged in `log`.
fn pages_logged(log: &[String]) -> usize {
    log.iter().filter(|l| l.contains(": page ")).count()
}

#[test]
fn the_emulator_restarted_mid_export_means_a_complete_file_or_a_clear_error() {
    let lines = if long() { 40_000 } else { 6_000 };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("erp.db");
    let reference = dir.path().join("reference.csv");
    let conn_for = |port: u16| {
        format!(
            "URL=http://127.0.0.1:{port};ERPInstance=Kinetic;User=manager;Password=Epicor123!;\
             Company=EPIC06;AuthScheme=Basic"
        )
    };
    {
        let served = Served::start(one_company(lines, Some(db.clone())));
        ok(&export(dir.path(), &served.cs("basic"), &reference, &[]));
    }
    let want = digest(&reference);
    assert_complete(&want, &db);
    // Pages of 100 rows (the default Pagesize), each slowed 15-25 ms by the emulator: the kill
    // after the third leaves dozens to go.
    let pages = want.rows.div_ceil(100);
    assert!(
        pages >= 30,
        "{pages} pages: too few to kill the server between two"
    );
    let port = free_port();
    let mut emulator = emulator_process(dir.path(), dir.path(), port, &db);

    // Retries on: the export waits out the restart and completes. (Twenty retries, their waits
    // growing to 10 s each: together far longer than the emulator takes to start again, even on
    // a loaded machine; ten could add up to under 3 s about once in 25 runs.)
    let file = dir.path().join("resumed.csv");
    let started = Instant::now();
    let mut exporting = Exporting::spawn(
        dir.path(),
        &file,
        &format!("{};MaxRetries=20", conn_for(port)),
    );
    exporting.kill_server_after_page(3, &mut emulator);
    let down = Instant::now();
    // The export meets the outage (a call that got no answer, retried) before the server is back.
    let met = exporting.wait_for("a retry after the kill", |l| l.contains("got no answer"));
    emulator = emulator_process(dir.path(), dir.path(), port, &db);
    let downtime = down.elapsed();
    let (status, log) = exporting.finish();
    let wall = started.elapsed();
    assert!(
        status.success(),
        "the export did not survive the restart: {}",
        log.join("\n")
    );
    let (before, after) = (pages_logged(&log[..met]), pages_logged(&log[met..]));
    let got = digest(&file);
    eprintln!(
        "emulator restart (retries on): killed after page {before} of {pages}, down {:.1} s; \
         {after} pages from the restarted server; {} rows in {:.1} s, the same bytes as the \
         reference: {}",
        downtime.as_secs_f64(),
        got.rows,
        wall.as_secs_f64(),
        got.sha256 == want.sha256
    );
    assert!(
        before >= 3 && after >= 1,
        "killed after {before} pages, {after} after"
    );
    assert_eq!((got.rows, got.sha256), (want.rows, want.sha256.clone()));

    // Retries off: the export stops with an error that says what failed, and leaves no file.
    let file = dir.path().join("stopped.csv");
    let mut exporting = Exporting::spawn(
        dir.path(),
        &file,
        &format!("{};MaxRetries=0", conn_for(port)),
    );
    exporting.kill_server_after_page(3, &mut emulator);
    let (status, log) = exporting.finish();
    // The command's own message (the connector's log lines name the address too).
    let error: Vec<&String> = log.iter().filter(|l| l.starts_with("error:")).collect();
    eprintln!(
        "emulator killed (retries off) after page {} of {pages}: exit {:?}: {error:?}",
        pages_logged(&log),
        status.code(),
    );
    assert!(!status.success(), "an export cut short must fail");
    assert!(pages_logged(&log) < pages, "{}", log.join("\n"));
    assert!(
        error.len() == 1
            && (error[0].contains(&format!("127.0.0.1:{port}")) || error[0].contains("connect")),
        "the error names what failed: {}",
        log.join("\n")
    );
    assert!(!file.exists(), "no short file is left behind");
    assert!(common::partials(dir.path()).is_empty());
}

#[test]
fn creates_through_ambiguous_failures_are_never_written_twice() {
    const CREATES: usize = 1000;
    const SALES: &str = "Erp.BO.SalesOrderSvc";
    // Only the creates meet faults: 5% refused before they run (503 and 429: safe to retry), 5%
    // cut after they ran (the client cannot know whether the order exists).
    let spec = "503:0.05:retry=0@/api/v1/Erp.BO.SalesOrderSvc/SalesOrders,\
                429:0.05:retry=0@/api/v1/Erp.BO.SalesOrderSvc/SalesOrders,\
                close:0.05@/api/v1/Erp.BO.SalesOrderSvc/SalesOrders,seed=23";
    let served = Served::start(EmulatorConfig {
        scale: 500,
        request_log: 10_000,
        faults: faults::parse_spec(spec).unwrap(),
        ..Default::default()
    });
    let settings = Settings::parse(&format!("{};MaxRetries=5", served.cs("basic"))).unwrap();
    let customer: i64 = {
        let db = rusqlite::Connection::open_with_flags(
            served.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        epicor_kinetic_emulator::collation::register(&db).unwrap();
        db.query_row(
            "SELECT CustNum FROM Customer WHERE Company = 'EPIC06' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let started = Instant::now();
    let outcomes: Vec<Result<(), String>> = served.rt.block_on(async {
        let c = Connection::open(settings).await.unwrap();
        let mut outcomes = Vec::with_capacity(CREATES);
        for i in 0..CREATES {
            let row = serde_json::json!({
                "Company": "EPIC06", "OrderNum": 0, "CustNum": customer, "PONum": format!("RES-{i}"),
            });
            outcomes.push(
                c.create(SALES, "SalesOrders", &row)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        }
        outcomes
    });
    let wall = started.elapsed();
    let written: HashMap<String, i64> = {
        let db = rusqlite::Connection::open_with_flags(
            served.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        epicor_kinetic_emulator::collation::register(&db).unwrap();
        let mut q = db
            .prepare("SELECT PONum, COUNT(*) FROM OrderHed WHERE PONum LIKE 'RES-%' GROUP BY PONum")
            .unwrap();
        let rows = q
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    let log = served.requests();
    let creates: Vec<_> = log
        .iter()
        .filter(|r| r.method == "POST" && r.path().ends_with("/SalesOrders"))
        .collect();
    let dropped = creates.iter().filter(|r| r.dropped).count();
    let refused = creates
        .iter()
        .filter(|r| r.status == 503 || r.status == 429)
        .count();
    let failures: Vec<(usize, &String)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.as_ref().err().map(|e| (i, e)))
        .collect();
    let written_unanswered = failures
        .iter()
        .filter(|(i, _)| written.contains_key(&format!("RES-{i}")))
        .count();
    eprintln!(
        "creates under faults: {CREATES} creates in {:.1} s, {} requests ({refused} refused and \
         retried, {dropped} cut after the write); {} succeeded, {} reported failed ({} of them \
         written before the cut); {} orders written, 0 twice",
        wall.as_secs_f64(),
        creates.len(),
        CREATES - failures.len(),
        failures.len(),
        written_unanswered,
        written.len(),
    );
    let twice: Vec<_> = written.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "written twice: {twice:?}");
    assert!(refused > 0 && dropped > 0, "the faults did not fire");
    // Each cut create is a reported failure (never retried, never reported as done).
    assert_eq!(failures.len(), dropped, "{failures:?}");
    for (i, message) in &failures {
        assert!(
            message.contains("not retried") && message.contains("may have reached the server"),
            "create {i}: {message}"
        );
    }
    // Every create reported done is written exactly once.
    for (i, o) in outcomes.iter().enumerate() {
        if o.is_ok() {
            assert_eq!(written.get(&format!("RES-{i}")), Some(&1), "create {i}");
        }
    }
    assert_eq!(
        creates.len(),
        CREATES + refused,
        "only the refused were retried"
    );
}
