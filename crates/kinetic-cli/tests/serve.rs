//! `kinetic serve` as a user runs it, with PostgreSQL's own client: `psql` connects with an
//! Epicor user's name and password, its answers equal the emulator's database, a write is
//! refused with PostgreSQL's read-only SQLSTATE (25006) and a wrong password with 28P01. The
//! first stdout line names the address. Needs `psql` (scripts/system-packages.sh installs it).

mod common;

use common::{kinetic_command, Served};
use epicor_kinetic_emulator::EmulatorConfig;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The server's child process, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// psql with `args` against `port` as `user`/`password`: (exit status, stdout, stderr).
fn psql(port: u16, user: &str, password: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} dbname=kinetic user={user}"
        ))
        .args([
            "--no-psqlrc",
            "--set",
            "ON_ERROR_STOP=1",
            "--set",
            "VERBOSITY=verbose",
        ])
        .args(args)
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "20")
        .env_remove("PGSERVICE")
        .stdin(Stdio::null())
        .output()
        .expect("psql runs (scripts/system-packages.sh installs postgresql-client)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn psql_queries_epicor_as_its_user_and_cannot_write() {
    let served = Served::start(EmulatorConfig {
        scale: 300,
        ..Default::default()
    });
    let url = served.info["url"].as_str().unwrap().to_owned();
    let config = tempfile::tempdir().unwrap();
    // The operator's connection names the server and the company, never a user.
    let mut child = kinetic_command(
        config.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "-c",
            &format!("URL={url};ERPInstance=Kinetic;Company=EPIC06"),
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let child = Child(child);
    let line: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(line["read_only"], true, "{line}");
    let port: u16 = line["listen"]
        .as_str()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));

    let db = served.db();
    let (n, name, limit): (i64, String, String) = db
        .query_row(
            "SELECT (SELECT COUNT(*) FROM Customer WHERE Company = 'EPIC06'), Name, \
             printf('%.3f', CreditLimit) FROM Customer WHERE Company = 'EPIC06' ORDER BY CustNum LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let (code, out, err) = psql(
        port,
        "manager",
        "Epicor123!",
        &[
            "--tuples-only",
            "--no-align",
            "--field-separator=|",
            "-c",
            "SELECT COUNT(*) FROM Customers",
            "-c",
            "SELECT Name, CreditLimit FROM Customers ORDER BY CustNum LIMIT 1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [n.to_string(), format!("{}|{limit}", name.trim_end())],
        "{err}"
    );

    // psql's own catalog commands: \dt lists the entity sets under their services, \d finds
    // a table by the lower-case name psql folds it to, with PostgreSQL's types.
    let (code, out, err) = psql(
        port,
        "manager",
        "Epicor123!",
        &[
            "--no-align",
            "--field-separator=|",
            "-c",
            "\\dt",
            "-c",
            "\\d customers",
            "-c",
            "\\dn",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for want in [
        "Erp.BO.CustomerSvc|Customers|table|manager",
        "Erp.BO.SalesOrderSvc|OrderDtls|table|manager",
        "Table \"Erp.BO.CustomerSvc.Customers\"",
        "CustNum|integer||not null|",
        "CreditLimit|numeric(",
        "EstDate|timestamp with time zone|",
        "BaqSvc|manager",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }

    let (code, _, err) = psql(
        port,
        "manager",
        "Epicor123!",
        &["-c", "UPDATE Customers SET City = 'X' WHERE CustNum = 1"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("25006"), "{err}");
    assert!(err.contains("read-only"), "{err}");

    let (code, _, err) = psql(port, "manager", "wrong", &["-c", "SELECT 1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("password authentication failed for user \"manager\""),
        "{err}"
    );
    drop(child);
}

/// `kinetic serve --tls` as a user runs it: the first line names the generated CA's certificate
/// (readable by clients) and a psql command that verifies the server with it; psql, run as that
/// line says (`sslmode=verify-full sslrootcert=...`), signs in over TLS and answers as the
/// emulator's database does.
#[test]
fn psql_verifies_the_server_over_tls_with_the_generated_ca() {
    let served = Served::start(EmulatorConfig {
        scale: 300,
        ..Default::default()
    });
    let url = served.info["url"].as_str().unwrap().to_owned();
    let config = tempfile::tempdir().unwrap();
    // The generated CA goes to a temporary folder of its own (no --tls-cert-out): here, so that
    // the killed server leaves nothing in the system's.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = kinetic_command(
        config.path(),
        &[
            "serve",
            "--tls",
            "--listen",
            "127.0.0.1:0",
            "-c",
            &format!("URL={url};ERPInstance=Kinetic;Company=EPIC06"),
        ],
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let child = Child(child);
    let line: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    let cert = line["tls_cert"]
        .as_str()
        .unwrap_or_else(|| panic!("a certificate to trust: {line}"))
        .to_owned();
    assert!(
        std::path::Path::new(&cert).starts_with(tmp.path()),
        "{cert} in a temporary folder"
    );
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(!pem.contains("PRIVATE KEY"), "{pem}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&cert).unwrap().permissions().mode();
        assert_eq!(mode & 0o444, 0o444, "clients may read it: {mode:o}");
    }
    // The hint's connection string, as printed, with a user of the emulator.
    let hint = line["psql"].as_str().unwrap_or_else(|| panic!("{line}"));
    let conninfo = hint
        .strip_prefix("psql \"")
        .and_then(|h| h.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{hint}"))
        .replace("YOUR_EPICOR_USER", "manager");
    assert!(
        conninfo.contains(&format!("sslmode=verify-full sslrootcert={cert}")),
        "{conninfo}"
    );

    let expected: i64 = served
        .db()
        .query_row(
            "SELECT COUNT(*) FROM Customer WHERE Company = 'EPIC06'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let out = Command::new("psql")
        .arg(&conninfo)
        .args([
            "--no-psqlrc",
            "--set",
            "ON_ERROR_STOP=1",
            "--tuples-only",
            "--no-align",
            "-c",
            "SELECT COUNT(*) FROM Customers",
            "-c",
            "\\conninfo",
        ])
        .env("PGPASSWORD", "Epicor123!")
        .env("PGCONNECT_TIMEOUT", "20")
        .env_remove("PGSERVICE")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .stdin(Stdio::null())
        .output()
        .expect("psql runs (scripts/system-packages.sh installs postgresql-client)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(expected.to_string().as_str()),
        "{stdout}"
    );
    assert!(stdout.contains("SSL connection"), "over TLS: {stdout}");

    // Stopped as a service manager stops it (SIGTERM), it removes the generated certificate.
    let mut child = child;
    let stopped = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut exited = None;
    for _ in 0..200 {
        exited = child.0.try_wait().unwrap();
        if exited.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(exited.is_some_and(|s| s.success()), "{exited:?}");
    assert!(!std::path::Path::new(&cert).exists(), "{cert} removed");
}
